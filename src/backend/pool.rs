//! The connections of one worker in one httpd child: bounded, reused only when clean,
//! checked before reuse, and following the settings the status worker changes.

use std::io;
use std::net::{SocketAddr, ToSocketAddrs};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU32, AtomicU64, Ordering};
use std::time::Instant;

use parking_lot::{Condvar, Mutex, RwLock};

use super::connection::{Conn, Idle, Target};
use crate::ajp::relay::BackendError;

/// The connections of one worker in one httpd child. Bounded: at most `pool_size`
/// connections exist at once; a request waits up to `acquire_timeout` for a slot.
pub struct Pool {
    target: RwLock<Arc<Target>>,
    /// Resolved once per child and address, like mod_jk.
    addrs: Mutex<Option<Result<Arc<[SocketAddr]>, String>>>,
    state: Mutex<PoolState>,
    freed: Condvar,
    /// Connections of this pool open now, and the count last reported by `open_delta`.
    open: Arc<AtomicI64>,
    published: AtomicI64,
    /// Bumped when host or port change; see `Conn::addr_gen`.
    addr_gen: AtomicU32,
    /// Version of the shared settings `target` was built from (`u64::MAX`: none yet).
    applied: AtomicU64,
    /// Until then (ms since the epoch) every request gets a fresh connection, CPinged, and
    /// no connection goes back to the pool: the backend was caught writing outside an
    /// exchange.
    no_reuse_until_ms: AtomicU64,
    /// Stray bytes were seen since the last [`Pool::take_stray`].
    stray: AtomicBool,
    /// Re-resolution (`resolve_interval`, health::resolve): see [`Pool::follow_address`].
    resolve: super::resolve::PoolResolve,
}

struct PoolState {
    idle: Vec<Conn>,
    /// Connections (or slots being connected) handed out.
    leased: usize,
}

/// Milliseconds since the epoch (the no-reuse deadline is shared between children).
pub fn wall_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// A slot taken from the pool, with or without an open connection. Dropping it closes
/// the connection and frees the slot, so no error path can leak either.
pub struct Lease<'p> {
    pool: &'p Pool,
    conn: Option<Conn>,
}

impl Drop for Lease<'_> {
    fn drop(&mut self) {
        let mut st = self.pool.state.lock();
        st.leased -= 1;
        drop(st);
        self.pool.freed.notify_one();
    }
}

impl Lease<'_> {
    /// The leased connection (present once [`Pool::connection`] returned the lease).
    pub(super) fn conn_mut(&mut self) -> &mut Conn {
        self.conn.as_mut().expect("connection present")
    }

    /// Returns a connection that finished cleanly to the pool.
    pub(super) fn release(mut self) {
        if let Some(mut c) = self.conn.take() {
            if !c.park() {
                // Bytes after END_RESPONSE: they cannot belong to this exchange.
                self.pool.saw_stray();
                return;
            }
            if self.pool.no_reuse() || c.addr_gen != self.pool.addr_gen.load(Ordering::Acquire) {
                return;
            }
            c.last_used = Instant::now();
            let mut st = self.pool.state.lock();
            st.idle.push(c);
        }
    }
}

impl Pool {
    pub fn new(target: Target) -> Pool {
        Pool {
            target: RwLock::new(Arc::new(target)),
            addrs: Mutex::new(None),
            state: Mutex::new(PoolState {
                idle: Vec::new(),
                leased: 0,
            }),
            freed: Condvar::new(),
            open: Arc::new(AtomicI64::new(0)),
            published: AtomicI64::new(0),
            addr_gen: AtomicU32::new(0),
            applied: AtomicU64::new(u64::MAX),
            no_reuse_until_ms: AtomicU64::new(0),
            stray: AtomicBool::new(false),
            resolve: super::resolve::PoolResolve::default(),
        }
    }

    /// No-reuse mode until `until_ms` (ms since the epoch; 0 ends it): set from the
    /// worker's shared state, so every child follows one detection.
    /// Re-resolution hook (`resolve_interval`): `generation` is the worker's shared address
    /// generation. When it moved, the cached addresses are forgotten and the idle
    /// connections (to the old address) closed; from the first call on, a failed connect
    /// also forgets the addresses so the next attempt resolves the name again. Returns
    /// whether a connect failed since the last call.
    pub fn follow_address(&self, generation: u32) -> bool {
        if self.resolve.moved(generation) {
            self.forget_addresses();
        }
        self.resolve.take_connect_failed()
    }

    fn forget_addresses(&self) {
        *self.addrs.lock() = None;
        self.addr_gen.fetch_add(1, Ordering::AcqRel);
        let idle = std::mem::take(&mut self.state.lock().idle);
        drop(idle);
        self.freed.notify_all();
    }

    pub fn set_no_reuse_until(&self, until_ms: u64) {
        self.no_reuse_until_ms.store(until_ms, Ordering::Release);
    }

    fn no_reuse(&self) -> bool {
        let until = self.no_reuse_until_ms.load(Ordering::Acquire);
        until > 0 && until > wall_ms()
    }

    /// Whether stray bytes were seen since the last call.
    pub fn take_stray(&self) -> bool {
        self.stray.swap(false, Ordering::AcqRel)
    }

    fn saw_stray(&self) {
        self.stray.store(true, Ordering::Release);
    }

    /// The settings in force (they change when the status worker edits the worker).
    pub fn target(&self) -> Arc<Target> {
        self.target.read().clone()
    }

    /// Applies the shared settings of version `version` when this pool has not yet:
    /// `make` builds them. A new host or port drops the idle connections, and connections
    /// in use are closed instead of pooled when they come back.
    pub fn sync(&self, version: u32, make: impl FnOnce() -> Target) {
        if self.applied.load(Ordering::Acquire) == u64::from(version) {
            return;
        }
        let new = make();
        let moved = {
            let mut t = self.target.write();
            let moved =
                t.host != new.host || t.port != new.port || t.prefer_ipv6 != new.prefer_ipv6;
            *t = Arc::new(new);
            moved
        };
        if moved {
            *self.addrs.lock() = None;
            self.addr_gen.fetch_add(1, Ordering::AcqRel);
            let idle = std::mem::take(&mut self.state.lock().idle);
            drop(idle);
            self.freed.notify_all();
        }
        self.applied.store(u64::from(version), Ordering::Release);
    }

    /// Closes the idle connections at child exit and returns how much this child had added
    /// to the shared count, negated: the process is going away, so connections still
    /// leased (there are none after a clean exit) close with it.
    pub fn close_at_exit(&self) -> i64 {
        let idle = std::mem::take(&mut self.state.lock().idle);
        drop(idle);
        -self.published.swap(0, Ordering::AcqRel)
    }

    /// Connections opened minus closed since the last call (for the shared count).
    pub fn open_delta(&self) -> i64 {
        let now = self.open.load(Ordering::Acquire);
        now - self.published.swap(now, Ordering::AcqRel)
    }

    /// The backend's addresses, resolved once per child and address like mod_jk does.
    fn addrs(&self, t: &Target) -> Result<Arc<[SocketAddr]>, BackendError> {
        let mut cached = self.addrs.lock();
        let r = cached.get_or_insert_with(|| {
            if crate::endpoint::is_unix(&t.host) {
                return Ok(Arc::from([]));
            }
            let mut v: Vec<SocketAddr> = (t.host.as_str(), t.port)
                .to_socket_addrs()
                .map_err(|e| e.to_string())?
                .collect();
            // IPv4 first unless prefer_ipv6, as mod_jk picks.
            v.sort_by_key(|a| a.is_ipv6() != t.prefer_ipv6);
            Ok(v.into())
        });
        match r {
            Ok(v) => Ok(v.clone()),
            Err(e) => Err(BackendError::Resolve(io::Error::other(e.clone()))),
        }
    }

    /// Takes a slot, preferring the most recently used idle connection.
    fn acquire(&self) -> Result<Lease<'_>, BackendError> {
        let t = self.target();
        let deadline = Instant::now() + t.acquire_timeout;
        let mut st = self.state.lock();
        loop {
            if let Some(c) = st.idle.pop() {
                st.leased += 1;
                return Ok(Lease {
                    pool: self,
                    conn: Some(c),
                });
            }
            if st.leased < t.pool_size {
                st.leased += 1;
                return Ok(Lease {
                    pool: self,
                    conn: None,
                });
            }
            if self.freed.wait_until(&mut st, deadline).timed_out() {
                return Err(BackendError::PoolExhausted);
            }
        }
    }

    /// Per-child maintenance: closes idle connections unused for longer than
    /// connection_pool_timeout (keeping connection_pool_minsize of them) and CPings
    /// connections idle past connection_ping_interval, dropping those that fail.
    pub fn maintain(&self, now: Instant) {
        let t = self.target();
        // Connections being checked count as leased, so the pool never exceeds its size.
        let mut idle = {
            let mut st = self.state.lock();
            st.leased += st.idle.len();
            std::mem::take(&mut st.idle)
        };
        let checked = idle.len();
        // Oldest first, so the newest survive the minimum.
        idle.sort_by_key(|c| c.last_used);
        let mut keep = Vec::with_capacity(idle.len());
        let total = idle.len();
        for (i, mut c) in idle.into_iter().enumerate() {
            let age = now.saturating_duration_since(c.last_used);
            let above_min = total - i > t.pool_min;
            if above_min && t.idle_timeout.is_some_and(|limit| age >= limit) {
                continue;
            }
            if let Some((interval, timeout)) = t.idle_ping {
                if age >= interval {
                    match c.peek() {
                        Idle::Quiet if c.cping(&t, timeout).is_ok() => {}
                        Idle::Quiet | Idle::Closed => continue,
                        Idle::Stray => {
                            self.saw_stray();
                            continue;
                        }
                    }
                }
            }
            if !c.park() {
                continue;
            }
            keep.push(c);
        }
        let mut st = self.state.lock();
        st.leased -= checked;
        st.idle.extend(keep);
        drop(st);
        self.freed.notify_all();
    }

    /// A request could get a connection now without waiting.
    pub fn has_free_slot(&self) -> bool {
        let st = self.state.lock();
        !st.idle.is_empty() || st.leased < self.target.read().pool_size
    }

    /// Idle connections currently pooled (for status and tests).
    pub fn idle_count(&self) -> usize {
        self.state.lock().idle.len()
    }

    /// A slot with a live connection: a pooled one that passes the liveness checks
    /// (`true`), or a new one (`false`).
    pub(super) fn connection(&self) -> Result<(Lease<'_>, bool), BackendError> {
        let t = self.target();
        let mut lease = self.acquire()?;
        let no_reuse = self.no_reuse();
        while let Some(mut c) = lease.conn.take() {
            let alive = !no_reuse
                && match c.peek() {
                    Idle::Quiet => true,
                    Idle::Closed => false,
                    Idle::Stray => {
                        self.saw_stray();
                        false
                    }
                }
                && match t.prepost_ping {
                    Some(d) => match c.cping(&t, d) {
                        Ok(()) => true,
                        Err(_) => {
                            // A reply where CPONG belongs: the backend wrote outside an
                            // exchange.
                            if c.stray_seen {
                                self.saw_stray();
                            }
                            false
                        }
                    },
                    None => true,
                };
            if alive {
                lease.conn = Some(c);
                return Ok((lease, true));
            }
            // Dead pooled connection (e.g. Tomcat restarted), or no reuse: try the next.
            let mut st = self.state.lock();
            lease.conn = st.idle.pop();
        }
        let addrs = self.addrs(&t)?;
        let addr_gen = self.addr_gen.load(Ordering::Acquire);
        let mut c = Conn::connect(&t, &addrs).inspect_err(|_| {
            if self.resolve.on_connect_failed() {
                *self.addrs.lock() = None;
            }
        })?;
        self.open.fetch_add(1, Ordering::AcqRel);
        c.open = Some(self.open.clone());
        c.addr_gen = addr_gen;
        if no_reuse && t.connect_ping.is_none() {
            // ping_mode C while the worker is not trusted.
            c.cping(&t, t.ping_timeout)?;
        }
        lease.conn = Some(c);
        Ok((lease, false))
    }
}
