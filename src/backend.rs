//! One AJP13 backend over TCP: connections, the per-child connection pool and the
//! request exchange. No httpd here: the caller supplies the client side through
//! [`Client`], so the same code is driven by the handler and by tests.
//!
//! Safety rules the exchange keeps (see the security catalogue):
//! - a connection goes back to the pool only after END_RESPONSE(reuse=1), with the request
//!   body fully exchanged, every body packet sent ahead asked for (`upload_window`) and no
//!   unread byte pending; anything else closes it;
//! - a request is sent again only when the backend cannot have acted on it, or when it is
//!   idempotent and nothing reached the client yet (mod_jk replays any method by default);
//! - once response bytes reached the client, a failure aborts the client connection so
//!   the truncation is visible.

use std::io::{self, ErrorKind, Read, Write};
use std::net::{IpAddr, SocketAddr, TcpStream, ToSocketAddrs};
use std::ops::Range;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicU32, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex, RwLock};
use socket2::{Domain, Protocol, SockRef, Socket, TcpKeepalive, Type};

use crate::ajp::{self, Action, EncodeError, Exchange, ForwardRequest, ProtocolError, Reply};
use crate::config::workers::AjpParams;
use crate::endpoint::{self, Stream};
use memmap2::MmapMut;

mod upload;

/// recovery_options bits (mod_jk's meaning).
pub mod recovery {
    /// No retry once the request was sent to the backend.
    pub const NO_RETRY_AFTER_SEND: u32 = 1;
    /// No retry once headers went to the client (we never retry then anyway).
    pub const NO_RETRY_AFTER_HEADERS: u32 = 2;
    /// Retry HEAD even after it was sent.
    pub const ALWAYS_RETRY_HEAD: u32 = 8;
    /// Retry GET even after it was sent.
    pub const ALWAYS_RETRY_GET: u32 = 16;
}

/// Bytes the current thread exchanged with backends for its request (mod_jk's per-request
/// `rd`/`wr`, AJP framing included): [`service`] starts from zero, the caller takes the
/// totals after it.
pub mod wire {
    use std::cell::Cell;

    thread_local! {
        static BYTES: Cell<(u64, u64)> = const { Cell::new((0, 0)) };
    }

    pub(super) fn reset() {
        BYTES.with(|b| b.set((0, 0)));
    }

    pub(super) fn read(n: usize) {
        BYTES.with(|b| {
            let (r, w) = b.get();
            b.set((r.saturating_add(n as u64), w));
        });
    }

    pub(super) fn written(n: usize) {
        BYTES.with(|b| {
            let (r, w) = b.get();
            b.set((r, w.saturating_add(n as u64)));
        });
    }

    /// (read from the backend, written to the backend) by the last `service` call.
    pub fn take() -> (u64, u64) {
        BYTES.with(|b| b.replace((0, 0)))
    }
}

/// Everything the exchange needs from a worker's configuration, in usable units.
#[derive(Debug, Clone)]
pub struct Target {
    pub name: String,
    pub host: String,
    pub port: u16,
    pub prefer_ipv6: bool,
    pub connect_timeout: Option<Duration>,
    pub socket_timeout: Option<Duration>,
    pub keepalive: bool,
    /// CPing after connect, with its timeout.
    pub connect_ping: Option<Duration>,
    /// CPing before each request on a pooled connection.
    pub prepost_ping: Option<Duration>,
    /// `ping_timeout`: the CPing of a new connection while the worker is in no-reuse mode.
    pub ping_timeout: Duration,
    pub reply_timeout: Option<Duration>,
    pub max_packet: usize,
    pub retries: u32,
    pub retry_interval: Duration,
    pub recovery_options: u32,
    pub pool_size: usize,
    /// Idle connections kept even when older than `idle_timeout`.
    pub pool_min: usize,
    pub acquire_timeout: Duration,
    /// CPing idle pooled connections older than this during maintenance
    /// (`connection_ping_interval`, by default ping_timeout/100 s with `ping_mode` I).
    pub idle_ping: Option<(Duration, Duration)>,
    pub idle_timeout: Option<Duration>,
    pub secret: Option<String>,
    /// Requests in flight (all children) above which the worker is treated as busy.
    pub busy_limit: u32,
    /// `source`: the local addresses to bind before connecting (the one of the target's
    /// family is used); the text as configured, for error messages.
    pub source: Option<(String, Vec<IpAddr>)>,
    /// `socket_buffer`: SO_SNDBUF and SO_RCVBUF in bytes; 0 leaves the OS default.
    pub socket_buffer: usize,
    /// `upload_window`: request body packets on their way at once (0, 1: only when asked).
    pub upload_window: u32,
}

fn ms(v: u32) -> Option<Duration> {
    (v > 0).then(|| Duration::from_millis(u64::from(v)))
}

impl Target {
    pub fn from_params(name: &str, p: &AjpParams, threads_per_child: u32) -> Target {
        let (pool_size, pool_min) = p.pool_sizes(threads_per_child);
        Target {
            name: name.to_string(),
            host: p.host.clone(),
            port: p.port,
            prefer_ipv6: p.prefer_ipv6,
            connect_timeout: ms(p.socket_connect_timeout_ms),
            socket_timeout: (p.socket_timeout_secs > 0)
                .then(|| Duration::from_secs(u64::from(p.socket_timeout_secs))),
            keepalive: p.socket_keepalive,
            connect_ping: ms(p.connect_timeout_ms),
            prepost_ping: ms(p.prepost_timeout_ms),
            ping_timeout: Duration::from_millis(u64::from(p.ping_timeout_ms.max(1))),
            reply_timeout: ms(p.reply_timeout_ms),
            max_packet: ajp::clamp_packet_size(p.max_packet_size as usize),
            retries: p.retries.max(1),
            retry_interval: Duration::from_millis(u64::from(p.retry_interval_ms)),
            recovery_options: p.recovery_options,
            pool_size: pool_size.max(1) as usize,
            pool_min: pool_min as usize,
            // As mod_jk: a connection_ping_interval above zero enables interval probing
            // by itself (ping_mode I only supplies a default interval).
            idle_ping: (p.connection_ping_interval_secs > 0 && p.ping_timeout_ms > 0).then(|| {
                (
                    Duration::from_secs(u64::from(p.connection_ping_interval_secs)),
                    Duration::from_millis(u64::from(p.ping_timeout_ms.max(1))),
                )
            }),
            acquire_timeout: Duration::from_millis(u64::from(p.acquire_timeout_ms())),
            idle_timeout: (p.connection_pool_timeout_secs > 0)
                .then(|| Duration::from_secs(u64::from(p.connection_pool_timeout_secs))),
            secret: p.secret.clone(),
            busy_limit: p.busy_limit,
            source: p.source.as_deref().filter(|s| !s.is_empty()).map(|s| {
                let ips = (s, 0u16)
                    .to_socket_addrs()
                    .map(|a| a.map(|a| a.ip()).collect())
                    .unwrap_or_default();
                (s.to_string(), ips)
            }),
            socket_buffer: p.socket_buffer as usize,
            upload_window: p.upload_window,
        }
    }

    /// A TCP connection to `addr` with `source` bound and `socket_buffer` applied
    /// (both before connecting, so the window scale reflects the buffer).
    fn open(&self, addr: &SocketAddr) -> io::Result<TcpStream> {
        if self.source.is_none() && self.socket_buffer == 0 {
            return match self.connect_timeout {
                Some(d) => TcpStream::connect_timeout(addr, d),
                None => TcpStream::connect(addr),
            };
        }
        let sock = Socket::new(
            Domain::for_address(*addr),
            Type::STREAM,
            Some(Protocol::TCP),
        )?;
        if self.socket_buffer > 0 {
            sock.set_send_buffer_size(self.socket_buffer)?;
            sock.set_recv_buffer_size(self.socket_buffer)?;
        }
        if let Some((text, ips)) = &self.source {
            let Some(ip) = ips.iter().find(|ip| ip.is_ipv4() == addr.is_ipv4()) else {
                return Err(io::Error::new(
                    ErrorKind::AddrNotAvailable,
                    format!("the source address '{text}' has no address of the backend's family"),
                ));
            };
            sock.bind(&SocketAddr::new(*ip, 0).into()).map_err(|e| {
                io::Error::new(e.kind(), format!("binding the source address {ip}: {e}"))
            })?;
        }
        match self.connect_timeout {
            Some(d) => sock.connect_timeout(&(*addr).into(), d)?,
            None => sock.connect(&(*addr).into())?,
        }
        Ok(sock.into())
    }
}

/// Why an attempt failed, in words an admin can act on.
#[derive(Debug)]
pub enum BackendError {
    Resolve(io::Error),
    Connect(io::Error),
    /// No CPONG in time, or something else than a CPONG.
    Ping(String),
    Send(io::Error),
    Receive(io::Error),
    /// reply_timeout passed without a packet.
    ReplyTimeout,
    /// The backend closed the connection mid-exchange.
    Closed,
    Protocol(ProtocolError),
    /// Every pool slot stayed busy for connection_acquire_timeout.
    PoolExhausted,
}

impl std::fmt::Display for BackendError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            BackendError::Resolve(e) => write!(f, "cannot resolve the backend host: {e}"),
            BackendError::Connect(e) => write!(f, "cannot connect: {e}"),
            BackendError::Ping(e) => write!(f, "CPing/CPong failed: {e}"),
            BackendError::Send(e) => write!(f, "sending to the backend failed: {e}"),
            BackendError::Receive(e) => write!(f, "reading from the backend failed: {e}"),
            BackendError::ReplyTimeout => write!(f, "no reply within reply_timeout"),
            BackendError::Closed => write!(f, "the backend closed the connection"),
            BackendError::Protocol(e) => write!(f, "AJP protocol error: {e}"),
            BackendError::PoolExhausted => write!(f, "no free connection in the pool"),
        }
    }
}

/// One TCP connection to the backend. While in use it holds a receive buffer lent by
/// the child; a pooled connection holds none (a clean exchange leaves nothing unread),
/// so memory follows the requests in flight, not the threads or pooled connections.
pub struct Conn {
    stream: Stream,
    buf: RecvBuf,
    start: usize,
    end: usize,
    last_used: Instant,
    /// The pool's count of open connections, decremented when this one closes.
    open: Option<Arc<AtomicI64>>,
    /// The pool's address generation when connected: one from an older address is not
    /// pooled again.
    addr_gen: u32,
    /// A CPing was answered by something else than CPONG: a reply nobody asked for.
    stray_seen: bool,
}

/// A connection's receive buffer for one exchange.
enum RecvBuf {
    None,
    /// Two AJP packets, from SMALL_BUFS: enough for most replies.
    Small(Vec<u8>),
    /// READ_BUF bytes, from LARGE_BUFS, once a reply fills the small one.
    Large(MmapMut),
}

impl std::ops::Deref for RecvBuf {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        match self {
            RecvBuf::None => &[],
            RecvBuf::Small(v) => v,
            RecvBuf::Large(m) => m,
        }
    }
}

impl std::ops::DerefMut for RecvBuf {
    fn deref_mut(&mut self) -> &mut [u8] {
        match self {
            RecvBuf::None => &mut [],
            RecvBuf::Small(v) => v,
            RecvBuf::Large(m) => m,
        }
    }
}

/// Buffers shared by the child's threads and lent per request: their number follows
/// the requests in flight, not the threads or pooled connections. At most `keep` wait
/// idle; the rest are freed.
struct BufPool<T> {
    idle: Mutex<Vec<T>>,
    keep: usize,
}

impl<T> BufPool<T> {
    const fn new(keep: usize) -> BufPool<T> {
        BufPool {
            idle: Mutex::new(Vec::new()),
            keep,
        }
    }

    /// A returned buffer (contents unspecified), if one waits.
    fn take(&self) -> Option<T> {
        self.idle.lock().pop()
    }

    fn give(&self, buf: T) {
        let mut idle = self.idle.lock();
        if idle.len() < self.keep {
            idle.push(buf);
        }
    }
}

/// Receive buffers of two AJP packets (heap blocks of 16 KiB: cheap to keep).
static SMALL_BUFS: BufPool<Vec<u8>> = BufPool::new(64);

/// Buffers for packets being built and request bodies being read.
static SCRATCH: BufPool<Vec<u8>> = BufPool::new(64);

/// A byte buffer lent for one request and reused by the next instead of allocated
/// each time.
#[derive(Debug)]
pub struct Scratch(Vec<u8>);

impl Scratch {
    pub fn take() -> Scratch {
        let mut v = SCRATCH.take().unwrap_or_default();
        v.clear();
        Scratch(v)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let v = std::mem::take(&mut self.0);
        // One that grew unusually large is not kept.
        if v.capacity() <= 2 * READ_BUF {
            SCRATCH.give(v);
        }
    }
}

impl std::ops::Deref for Scratch {
    type Target = Vec<u8>;
    fn deref(&self) -> &Vec<u8> {
        &self.0
    }
}

impl std::ops::DerefMut for Scratch {
    fn deref_mut(&mut self) -> &mut Vec<u8> {
        &mut self.0
    }
}

/// READ_BUF-sized buffers of this child, shared by its threads: only exchanges whose
/// reply fills the small buffer take one. Each is a memory mapping of its own, so the
/// ones beyond the few kept go back to the system when a burst of large responses
/// ends; freed heap blocks would stay resident in the C allocator's per-thread arenas.
static LARGE_BUFS: BufPool<MmapMut> = BufPool::new(4);

impl Drop for Conn {
    fn drop(&mut self) {
        if let Some(open) = &self.open {
            open.fetch_sub(1, Ordering::AcqRel);
        }
        self.detach_buf();
    }
}

/// Largest read buffer: large reads let one syscall carry many AJP packets.
const READ_BUF: usize = 64 * 1024;

impl Conn {
    fn connect(t: &Target, addrs: &[SocketAddr]) -> Result<Conn, BackendError> {
        if let Some(path) = endpoint::unix_path(&t.host) {
            let stream = endpoint::connect_unix(path, t.connect_timeout, t.socket_buffer)
                .map_err(BackendError::Connect)?;
            return Conn::ready(t, Stream::Unix(stream));
        }
        let mut last = io::Error::new(ErrorKind::NotFound, "no address");
        for addr in addrs {
            match t.open(addr) {
                Ok(stream) => {
                    let _ = stream.set_nodelay(true);
                    if t.keepalive {
                        let _ = SockRef::from(&stream).set_tcp_keepalive(&TcpKeepalive::new());
                    }
                    return Conn::ready(t, Stream::Tcp(stream));
                }
                Err(e) => last = e,
            }
        }
        Err(BackendError::Connect(last))
    }

    /// A new connection with socket_timeout applied, CPinged when ping_mode C asks.
    fn ready(t: &Target, stream: Stream) -> Result<Conn, BackendError> {
        let _ = stream.set_read_timeout(t.socket_timeout);
        let _ = stream.set_write_timeout(t.socket_timeout);
        let mut c = Conn {
            stream,
            buf: RecvBuf::None,
            start: 0,
            end: 0,
            last_used: Instant::now(),
            open: None,
            addr_gen: 0,
            stray_seen: false,
        };
        if let Some(d) = t.connect_ping {
            c.cping(t, d)?;
        }
        Ok(c)
    }

    /// A whole reply packet is already buffered (reading it will not wait).
    fn has_complete_packet(&self, max_packet: usize) -> bool {
        let pending = &self.buf[self.start..self.end];
        matches!(ajp::reply::peek_reply_len(pending, max_packet), Ok(Some(size)) if pending.len() >= size)
    }

    /// What a pooled connection holds: nothing (a live, quiet connection), the peer's
    /// close, or bytes nobody asked for (a stray reply, never to be read as the next
    /// response).
    fn peek(&mut self) -> Idle {
        if self.start != self.end {
            return Idle::Stray;
        }
        // One non-blocking peek (no mode switch of the socket): "would block" is the
        // only answer of a live, quiet connection.
        let mut b = [std::mem::MaybeUninit::<u8>::uninit()];
        match SockRef::from(&self.stream)
            .recv_with_flags(&mut b, libc::MSG_PEEK | libc::MSG_DONTWAIT)
        {
            Err(e) if e.kind() == ErrorKind::WouldBlock => Idle::Quiet,
            Ok(n) if n > 0 => Idle::Stray,
            _ => Idle::Closed,
        }
    }

    /// Takes a receive buffer for an exchange. Small, as most responses are; a large
    /// one replaces it once a read fills it.
    fn attach_buf(&mut self, max_packet: usize) {
        if let RecvBuf::None = self.buf {
            let mut small = SMALL_BUFS.take().unwrap_or_default();
            if small.len() < 2 * max_packet {
                small.resize(2 * max_packet, 0);
            }
            self.buf = RecvBuf::Small(small);
            self.start = 0;
            self.end = 0;
        }
    }

    /// Readies the connection for the pool, giving its receive buffer back; `false`
    /// (the connection must be dropped, which closes it) when bytes after the end of a
    /// reply are unread: such a connection is never pooled.
    fn park(&mut self) -> bool {
        if self.start != self.end {
            return false;
        }
        self.detach_buf();
        true
    }

    /// Gives the receive buffer back, dropping whatever it still holds.
    fn detach_buf(&mut self) {
        match std::mem::replace(&mut self.buf, RecvBuf::None) {
            RecvBuf::None => {}
            RecvBuf::Small(v) => SMALL_BUFS.give(v),
            RecvBuf::Large(m) => LARGE_BUFS.give(m),
        }
        self.start = 0;
        self.end = 0;
    }

    /// Moves the buffered bytes into a large buffer and gives the small one back. When
    /// the system refuses the memory, the exchange simply goes on with the small one.
    fn grow_buf(&mut self) {
        let Some(mut large) = LARGE_BUFS
            .take()
            .or_else(|| MmapMut::map_anon(READ_BUF).ok())
        else {
            return;
        };
        large[..self.end - self.start].copy_from_slice(&self.buf[self.start..self.end]);
        self.end -= self.start;
        self.start = 0;
        if let RecvBuf::Small(small) = std::mem::replace(&mut self.buf, RecvBuf::Large(large)) {
            SMALL_BUFS.give(small);
        }
    }

    fn cping(&mut self, t: &Target, timeout: Duration) -> Result<(), BackendError> {
        self.stream
            .write_all(&ajp::CPING_PACKET)
            .map_err(|e| BackendError::Ping(e.to_string()))?;
        wire::written(ajp::CPING_PACKET.len());
        match self.next_reply(t.max_packet, Some(timeout)) {
            Ok((Reply::CPong, used)) => {
                self.start += used;
                Ok(())
            }
            Ok((other, _)) => {
                let code = other.code();
                self.stray_seen = true;
                Err(BackendError::Ping(format!(
                    "unexpected message type {code} instead of CPONG"
                )))
            }
            Err(e) => Err(BackendError::Ping(e.to_string())),
        }
    }

    /// Decodes the next reply, reading as much as the socket has when the buffer does
    /// not hold a whole packet. The reply borrows the buffer; advance `start` by the
    /// returned length when done with it.
    fn next_reply(
        &mut self,
        max_packet: usize,
        timeout: Option<Duration>,
    ) -> Result<(Reply<'_>, usize), BackendError> {
        self.fill(max_packet, timeout)?;
        self.decode(max_packet)
    }

    /// Decodes the whole packet `fill` made sure of.
    fn decode(&self, max_packet: usize) -> Result<(Reply<'_>, usize), BackendError> {
        ajp::decode_reply(&self.buf[self.start..self.end], max_packet)
            .map_err(BackendError::Protocol)?
            .ok_or(BackendError::Closed)
    }

    /// Reads until the buffer holds a whole packet.
    fn fill(&mut self, max_packet: usize, timeout: Option<Duration>) -> Result<(), BackendError> {
        self.attach_buf(max_packet);
        loop {
            let pending = &self.buf[self.start..self.end];
            match ajp::reply::peek_reply_len(pending, max_packet).map_err(BackendError::Protocol)? {
                Some(size) if pending.len() >= size => return Ok(()),
                _ => {}
            }
            if self.start > 0 {
                self.buf.copy_within(self.start..self.end, 0);
                self.end -= self.start;
                self.start = 0;
            }
            if timeout.is_some() {
                let _ = self.stream.set_read_timeout(timeout);
            }
            let n = self.stream.read(&mut self.buf[self.end..]);
            match n {
                Ok(0) => return Err(BackendError::Closed),
                Ok(n) => {
                    wire::read(n);
                    self.end += n;
                    // A small buffer sized for max_packet=65536 is already past READ_BUF.
                    if self.end == self.buf.len()
                        && matches!(self.buf, RecvBuf::Small(_))
                        && self.buf.len() < READ_BUF
                    {
                        self.grow_buf();
                    }
                }
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                    return Err(BackendError::ReplyTimeout);
                }
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => return Err(BackendError::Receive(e)),
            }
        }
    }
}

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
    stray: std::sync::atomic::AtomicBool,
    /// Re-resolution (`resolve_interval`, src/health/resolve.rs): see [`Pool::follow_address`].
    resolve: crate::health::resolve::PoolResolve,
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

/// What an idle connection turned out to hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Idle {
    Quiet,
    Closed,
    Stray,
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
    /// Returns a connection that finished cleanly to the pool.
    fn release(mut self) {
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
            stray: std::sync::atomic::AtomicBool::new(false),
            resolve: crate::health::resolve::PoolResolve::default(),
        }
    }

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

    /// No-reuse mode until `until_ms` (ms since the epoch; 0 ends it): set from the
    /// worker's shared state, so every child follows one detection.
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
            if endpoint::is_unix(&t.host) {
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
    fn connection(&self) -> Result<(Lease<'_>, bool), BackendError> {
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

/// Errors on the client side of the exchange: never the backend's fault.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientError {
    /// Reading the request body failed (client went away or sent less than announced).
    Read,
    /// The client connection is gone.
    Write,
}

/// The httpd side of one request.
pub trait Client {
    /// Reads request body bytes into `buf`; `Ok(0)` = end of body.
    fn read_body(&mut self, buf: &mut [u8]) -> Result<usize, ClientError>;
    /// Sets status and headers of the response (nothing is sent before body or end).
    fn start_response(
        &mut self,
        status: u16,
        reason: &[u8],
        headers: &[(&[u8], &[u8])],
    ) -> Result<(), ClientError>;
    fn write_body(&mut self, data: &[u8]) -> Result<(), ClientError>;
    /// Writes the `(offset, len)` ranges of `buf`, in order, as one body write.
    fn write_body_parts(
        &mut self,
        buf: &[u8],
        parts: &[(usize, usize)],
    ) -> Result<(), ClientError> {
        parts
            .iter()
            .try_for_each(|&(off, len)| self.write_body(&buf[off..off + len]))
    }
    fn flush(&mut self) -> Result<(), ClientError>;
    /// A new backend connection was opened for this request (counted in shared memory
    /// from then on, as mod_jk counts it when connecting).
    fn connection_opened(&mut self) {}
}

/// Per-request settings that do not come from the worker definition.
#[derive(Debug, Clone, Default)]
pub struct RequestOptions {
    pub reply_timeout: Option<Duration>,
    pub flush_packets: bool,
    pub flush_header: bool,
    pub disable_reuse: bool,
    /// HEAD: never pass a body on.
    pub header_only: bool,
    /// Status from which the backend's body is dropped and httpd's own error page used
    /// (`use_server_errors` rule extension); 0 = only bodiless errors.
    pub use_server_errors: u16,
    /// `fail_on_status`: these statuses are not relayed; the attempt fails instead
    /// (a negative code fails without blaming the backend).
    pub fail_on_status: Vec<i32>,
}

/// The first request body packet, read from the client once and kept so that another
/// connection or lb member can be sent the same bytes.
#[derive(Debug, Default)]
pub struct BodyReplay {
    first: Option<Scratch>,
}

/// How a request ended.
#[derive(Debug)]
pub enum Outcome {
    /// The response was relayed completely.
    Done {
        status: u16,
        body_sent: u64,
        body_relayed: u64,
        /// The backend sent more body than its Content-Length: the client got exactly the
        /// announced length (this value), the excess was dropped and the connection closed.
        cut_at_length: Option<u64>,
    },
    /// The backend answered a `fail_on_status` code; nothing was relayed.
    FailOnStatus {
        status: u16,
        blame: bool,
        replayable: bool,
    },
    /// The backend answered this error status without a body (or the rule asked for
    /// httpd's pages): let httpd produce its error page. `www_authenticate` keeps a 401
    /// challenge.
    ErrorPage {
        status: u16,
        www_authenticate: Option<Vec<u8>>,
    },
    /// Nothing reached the client: answer `status` (502, 503, 504).
    Failed {
        status: u16,
        error: BackendError,
        backend_fault: bool,
        replayable: bool,
    },
    /// Part of the response reached the client before the failure: abort the client
    /// connection so the truncation shows.
    Aborted { error: BackendError },
    /// The request could not be encoded (413/400): the client's fault.
    Refused { status: u16, error: EncodeError },
    /// The client went away or sent a short body: its fault, the backend is fine.
    ClientGone(ClientError),
}

/// RFC 9110 idempotent methods: safe to send again if an attempt failed after the
/// backend may have seen it.
pub fn is_idempotent(method: &[u8]) -> bool {
    matches!(
        method,
        b"GET" | b"HEAD" | b"OPTIONS" | b"TRACE" | b"PUT" | b"DELETE"
    )
}

fn may_replay_after_send(method: &[u8], recovery_options: u32) -> bool {
    if method == b"HEAD" && recovery_options & recovery::ALWAYS_RETRY_HEAD != 0 {
        return true;
    }
    if method == b"GET" && recovery_options & recovery::ALWAYS_RETRY_GET != 0 {
        return true;
    }
    recovery_options & recovery::NO_RETRY_AFTER_SEND == 0 && is_idempotent(method)
}

/// What an attempt left behind, for the retry decision.
struct AttemptFailure {
    error: BackendError,
    /// The backend received the whole FORWARD_REQUEST (it may have acted on it).
    sent: bool,
    /// The backend pulled request body beyond the first packet we keep for replay.
    upload_started: bool,
    /// A pooled connection ended before the first reply byte: most likely the backend
    /// closed it while idle just as the request went out, not a sign the backend is down.
    idle_close: bool,
}

enum Attempt {
    Finished(Outcome),
    Failed(AttemptFailure),
}

/// Serves one request on this worker: up to `retries` attempts on different
/// connections, each only when it cannot duplicate work.
pub fn service(
    pool: &Pool,
    req: &ForwardRequest<'_>,
    client: &mut dyn Client,
    opts: &RequestOptions,
    replay: &mut BodyReplay,
) -> Outcome {
    wire::reset();
    let target = pool.target();
    let t = &*target;
    let mut packet = Scratch::take();
    if let Err(error) = ajp::encode_forward_request(req, t.max_packet, &mut packet) {
        return Outcome::Refused {
            status: error.http_status(),
            error,
        };
    }
    let probe = Exchange::new(req.body, t.max_packet);
    if let (Some(n), None) = (probe.first_body_chunk(), &replay.first) {
        let mut data = Scratch::take();
        data.resize(n, 0);
        match read_full(client, &mut data) {
            Ok(got) => data.truncate(got),
            Err(e) => return Outcome::ClientGone(e),
        }
        replay.first = Some(data);
    }
    // FORWARD_REQUEST and the unsolicited first body packet leave in one write.
    let first_chunk = replay.first.as_deref().map(Vec::as_slice);
    if let Some(chunk) = first_chunk {
        // Cannot fail: the chunk was sized by the exchange.
        let _ = ajp::encode_body_chunk(chunk, t.max_packet, &mut packet);
    }
    let first_chunk = first_chunk.map(<[u8]>::len);
    let mut last: Option<AttemptFailure> = None;
    for attempt in 0..t.retries {
        if attempt > 0 {
            std::thread::sleep(t.retry_interval);
        }
        // Upload window: off when the body may have to be sent again (see upload.rs).
        let window = match may_replay_after_send(req.method, t.recovery_options) {
            true => 0,
            false => t.upload_window,
        };
        match attempt_once(pool, req, &packet, first_chunk, window, client, opts) {
            Attempt::Finished(o) => return o,
            Attempt::Failed(f) => {
                let retry = !f.upload_started
                    && (!f.sent || may_replay_after_send(req.method, t.recovery_options));
                let stop = !retry;
                last = Some(f);
                if stop {
                    break;
                }
            }
        }
    }
    let f = last.expect("at least one attempt ran");
    let status = match f.error {
        BackendError::ReplyTimeout => 504,
        BackendError::Protocol(_) => 502,
        BackendError::PoolExhausted
        | BackendError::Connect(_)
        | BackendError::Resolve(_)
        | BackendError::Ping(_) => 503,
        _ if f.sent => 502,
        _ => 503,
    };
    let backend_fault = !matches!(f.error, BackendError::PoolExhausted) && !f.idle_close;
    let replayable =
        !f.upload_started && (!f.sent || may_replay_after_send(req.method, t.recovery_options));
    Outcome::Failed {
        status,
        error: f.error,
        backend_fault,
        replayable,
    }
}

fn read_full(client: &mut dyn Client, buf: &mut [u8]) -> Result<usize, ClientError> {
    let mut got = 0;
    while got < buf.len() {
        match client.read_body(&mut buf[got..])? {
            0 => break,
            n => got += n,
        }
    }
    Ok(got)
}

/// Status codes that never carry a body.
fn bodiless(status: u16) -> bool {
    status == 204 || status == 304
}

/// Status and headers held until the body starts: one copy of every byte, with
/// ranges into it (the reply itself lives in a buffer that is read into again).
struct PendingHeaders {
    status: u16,
    bytes: Vec<u8>,
    reason: Range<usize>,
    headers: Vec<(Range<usize>, Range<usize>)>,
}

impl PendingHeaders {
    fn new(status: u16, reason: &[u8], headers: &[(&[u8], &[u8])]) -> PendingHeaders {
        let size = reason.len()
            + headers
                .iter()
                .map(|(n, v)| n.len() + v.len())
                .sum::<usize>();
        let mut bytes = Vec::with_capacity(size);
        let mut keep = |b: &[u8]| {
            let start = bytes.len();
            bytes.extend_from_slice(b);
            start..bytes.len()
        };
        let reason = keep(reason);
        let headers = headers.iter().map(|(n, v)| (keep(n), keep(v))).collect();
        PendingHeaders {
            status,
            bytes,
            reason,
            headers,
        }
    }

    fn header(&self, name: &[u8]) -> Option<&[u8]> {
        self.headers
            .iter()
            .find(|(n, _)| self.bytes[n.clone()].eq_ignore_ascii_case(name))
            .map(|(_, v)| &self.bytes[v.clone()])
    }

    fn send(&self, client: &mut dyn Client) -> Result<(), ClientError> {
        let headers: Vec<(&[u8], &[u8])> = self
            .headers
            .iter()
            .map(|(n, v)| (&self.bytes[n.clone()], &self.bytes[v.clone()]))
            .collect();
        client.start_response(self.status, &self.bytes[self.reason.clone()], &headers)
    }
}

fn attempt_once(
    pool: &Pool,
    req: &ForwardRequest<'_>,
    packet: &[u8],
    first_chunk: Option<usize>,
    window: u32,
    client: &mut dyn Client,
    opts: &RequestOptions,
) -> Attempt {
    let target = pool.target();
    let t = &*target;
    let fail = |error, sent, upload_started| {
        Attempt::Failed(AttemptFailure {
            error,
            sent,
            upload_started,
            idle_close: false,
        })
    };
    let (mut lease, reused) = match pool.connection() {
        Ok(l) => l,
        Err(e) => return fail(e, false, false),
    };
    if !reused {
        client.connection_opened();
    }
    let mut ex = Exchange::new(req.body, t.max_packet);
    // `packet` carries the first body packet too, when there is one.
    if let Some(len) = first_chunk {
        ex.body_packet_sent(len);
        if len == 0 {
            // Client announced a body and sent none: the empty packet ends it.
            ex.body_packet_sent(0);
        }
    }
    {
        let conn = lease.conn.as_mut().expect("connection present");
        if let Err(e) = conn.stream.write_all(packet) {
            return fail(BackendError::Send(e), false, false);
        }
        wire::written(packet.len());
    }
    let reply_timeout = opts.reply_timeout.or(t.reply_timeout);
    let mut pending: Option<PendingHeaders> = None;
    // Kept apart from `pending`, which is consumed when the headers go to the client.
    let mut status: u16 = 200;
    let mut announced_len: Option<u64> = None;
    let mut committed = false;
    let mut relayed: u64 = 0;
    let mut error_page = false;
    let mut up = upload::Uploader::new(window, req.body, t.max_packet, first_chunk);
    // Response body waiting to go to the client, as ranges of the receive buffer: the
    // data of every packet already received is passed on in one write without being
    // copied (AJP packets are 8 KiB; one write per packet costs httpd a filter pass and
    // a syscall each). Written before the buffer is read into again, so never held
    // across a wait.
    let mut out_body: Vec<(usize, usize)> = Vec::new();
    let mut replied = false;
    loop {
        let conn = lease.conn.as_mut().expect("connection present");
        if !out_body.is_empty() && !conn.has_complete_packet(t.max_packet) {
            let r = commit(client, &mut pending, &mut committed)
                .and_then(|_| client.write_body_parts(&conn.buf, &out_body));
            if let Err(e) = r {
                return Attempt::Finished(Outcome::ClientGone(e));
            }
            out_body.clear();
        }
        let step = conn
            .fill(t.max_packet, reply_timeout)
            .and_then(|()| conn.decode(t.max_packet));
        let (reply, used) = match step {
            Ok(r) => r,
            Err(error) => {
                if committed {
                    return Attempt::Finished(Outcome::Aborted { error });
                }
                let idle_close = reused
                    && !replied
                    && conn.start == conn.end
                    && match &error {
                        BackendError::Closed => true,
                        BackendError::Receive(e) => e.kind() == ErrorKind::ConnectionReset,
                        _ => false,
                    };
                return Attempt::Failed(AttemptFailure {
                    error,
                    sent: true,
                    upload_started: ex.upload_started() || up.consumed_ahead(),
                    idle_close,
                });
            }
        };
        replied = true;
        let requested = match reply {
            Reply::GetBodyChunk(n) => n,
            _ => 0,
        };
        let action = match ex.on_reply(reply) {
            Ok(a) => a,
            Err(e) => {
                if committed {
                    return Attempt::Finished(Outcome::Aborted {
                        error: BackendError::Protocol(e),
                    });
                }
                return fail(BackendError::Protocol(e), true, true);
            }
        };
        let mut send_body: Option<usize> = None;
        let mut done: Option<bool> = None;
        let mut client_failed: Option<ClientError> = None;
        match action {
            Action::SendHeaders {
                status: sh_status,
                reason,
                headers,
            } => {
                announced_len = headers
                    .iter()
                    .find(|(n, _)| n.eq_ignore_ascii_case(b"content-length"))
                    .and_then(|(_, v)| std::str::from_utf8(v).ok()?.trim().parse().ok());
                status = sh_status;
                if let Some(&code) = opts
                    .fail_on_status
                    .iter()
                    .find(|c| c.unsigned_abs() == u32::from(status))
                {
                    // Nothing is relayed; the connection is dropped with whatever follows.
                    return Attempt::Finished(Outcome::FailOnStatus {
                        status,
                        blame: code > 0,
                        replayable: !ex.upload_started()
                            && !up.consumed_ahead()
                            && may_replay_after_send(req.method, t.recovery_options),
                    });
                }
                error_page = opts.use_server_errors > 0 && status >= opts.use_server_errors;
                pending = Some(PendingHeaders::new(status, reason, &headers));
                if opts.flush_header && !error_page {
                    if let Err(e) =
                        commit(client, &mut pending, &mut committed).and_then(|_| client.flush())
                    {
                        client_failed = Some(e);
                    }
                }
            }
            Action::Body(data) => {
                if !error_page && !opts.header_only && !bodiless(status) {
                    // More than announced: the client gets exactly the announced length,
                    // never a body that contradicts its framing.
                    let room = announced_len.map_or(u64::MAX, |cl| cl - relayed);
                    let overflow = data.len() as u64 > room;
                    let data = if overflow {
                        &data[..room as usize]
                    } else {
                        data
                    };
                    // `data` lies inside the receive buffer: keep where, not a copy.
                    let offset = data.as_ptr() as usize - conn.buf.as_ptr() as usize;
                    if !data.is_empty() {
                        out_body.push((offset, data.len()));
                    }
                    if overflow {
                        // The rest of this reply is dropped with the connection (the lease
                        // is not released, so it is closed, never reused).
                        let r = commit(client, &mut pending, &mut committed)
                            .and_then(|_| client.write_body_parts(&conn.buf, &out_body));
                        if let Err(e) = r {
                            return Attempt::Finished(Outcome::ClientGone(e));
                        }
                        return Attempt::Finished(Outcome::Done {
                            status,
                            body_sent: ex.request_body_sent(),
                            body_relayed: relayed + data.len() as u64,
                            cut_at_length: announced_len,
                        });
                    }
                    relayed += data.len() as u64;
                    // Status and headers go to the client with the first body bytes
                    // written, not before: a reply that turns out short while all of it
                    // is still here can then become a 502.
                    if opts.flush_packets {
                        let r = commit(client, &mut pending, &mut committed)
                            .and_then(|_| client.write_body_parts(&conn.buf, &out_body))
                            .and_then(|_| client.flush());
                        out_body.clear();
                        if let Err(e) = r {
                            client_failed = Some(e);
                        }
                    }
                }
            }
            Action::Flush => {
                if committed || !out_body.is_empty() {
                    let r = if out_body.is_empty() {
                        Ok(())
                    } else {
                        commit(client, &mut pending, &mut committed)
                            .and_then(|_| client.write_body_parts(&conn.buf, &out_body))
                    };
                    out_body.clear();
                    if let Err(e) = r.and_then(|_| client.flush()) {
                        client_failed = Some(e);
                    }
                }
            }
            Action::SendBodyChunk { max } => send_body = Some(max),
            Action::Done { reuse } => done = Some(reuse),
        }
        conn.start += used;
        if let Some(e) = client_failed {
            // The client is gone: the backend connection's state is unclear, drop it.
            return Attempt::Finished(Outcome::ClientGone(e));
        }
        if let Some(max) = send_body {
            let conn = lease.conn.as_mut().expect("connection present");
            match up.answer(requested, max, conn, client, &mut ex) {
                Ok(()) => continue,
                // CVE-2008-5519: never leave a connection whose body state is unclear.
                Err(upload::Stop::Client(e)) => return Attempt::Finished(Outcome::ClientGone(e)),
                Err(upload::Stop::Send(e)) if committed => {
                    return Attempt::Finished(Outcome::Aborted {
                        error: BackendError::Send(e),
                    });
                }
                Err(upload::Stop::Send(e)) => return fail(BackendError::Send(e), true, true),
            }
        }
        if let Some(reuse) = done {
            if let Some(cl) = announced_len.filter(|&cl| cl > relayed) {
                if !error_page && !opts.header_only && !bodiless(status) {
                    let error = BackendError::Protocol(ProtocolError::ShortBody {
                        announced: cl,
                        got: relayed,
                    });
                    if committed {
                        return Attempt::Finished(Outcome::Aborted { error });
                    }
                    // Nothing reached the client: a 502 instead of a body that never comes.
                    return Attempt::Finished(Outcome::Failed {
                        status: 502,
                        error,
                        backend_fault: false,
                        replayable: false,
                    });
                }
            }
            if !out_body.is_empty() {
                let conn = lease.conn.as_ref().expect("connection present");
                let r = commit(client, &mut pending, &mut committed)
                    .and_then(|_| client.write_body_parts(&conn.buf, &out_body));
                if let Err(e) = r {
                    return Attempt::Finished(Outcome::ClientGone(e));
                }
                out_body.clear();
            }
            let p = pending.take();
            let outcome = if !committed
                && status >= 400
                && (error_page || (relayed == 0 && !opts.header_only))
            {
                let www_authenticate = p
                    .as_ref()
                    .and_then(|p| p.header(b"www-authenticate"))
                    .map(<[u8]>::to_vec);
                Outcome::ErrorPage {
                    status,
                    www_authenticate,
                }
            } else {
                let mut p = p;
                if let Err(e) = commit(client, &mut p, &mut committed) {
                    return Attempt::Finished(Outcome::ClientGone(e));
                }
                Outcome::Done {
                    status,
                    body_sent: ex.request_body_sent(),
                    body_relayed: relayed,
                    cut_at_length: None,
                }
            };
            // Body packets the backend never asked for would be read as the next request.
            if reuse && !opts.disable_reuse && ex.request_body_finished() && up.clean_at_end() {
                lease.release();
            }
            return Attempt::Finished(outcome);
        }
    }
}

/// Hands the pending status and headers to the client (once).
fn commit(
    client: &mut dyn Client,
    pending: &mut Option<PendingHeaders>,
    committed: &mut bool,
) -> Result<(), ClientError> {
    if *committed {
        return Ok(());
    }
    *committed = true;
    match pending.take() {
        Some(p) => p.send(client),
        // Body without headers cannot reach here (the exchange refuses it).
        None => client.start_response(200, b"", &[]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;

    /// `n` connections to a peer that sends each `packets` SEND_BODY_CHUNKs of `chunk`
    /// bytes, every packet filled with its own byte value; join the handle after reading.
    fn chunked_peers(
        n: usize,
        packets: usize,
        chunk: usize,
    ) -> (Vec<Conn>, std::thread::JoinHandle<()>) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let server = std::thread::spawn(move || {
            for i in 0..n {
                let (mut s, _) = listener.accept().unwrap();
                for p in 0..packets {
                    let mut packet = b"AB".to_vec();
                    packet.extend_from_slice(&((chunk + 4) as u16).to_be_bytes());
                    packet.push(3);
                    packet.extend_from_slice(&(chunk as u16).to_be_bytes());
                    packet.extend(std::iter::repeat_n((i * packets + p) as u8, chunk));
                    packet.push(0);
                    s.write_all(&packet).unwrap();
                }
            }
        });
        let conns = (0..n)
            .map(|_| Conn {
                stream: TcpStream::connect(addr).unwrap().into(),
                buf: RecvBuf::None,
                start: 0,
                end: 0,
                last_used: Instant::now(),
                open: None,
                addr_gen: 0,
                stray_seen: false,
            })
            .collect();
        (conns, server)
    }

    fn read_chunks(c: &mut Conn, i: usize, packets: usize, chunk: usize, max_packet: usize) {
        for p in 0..packets {
            let (reply, used) = c.next_reply(max_packet, None).unwrap();
            let Reply::SendBodyChunk(data) = reply else {
                panic!("connection {i} packet {p}: {reply:?}");
            };
            let fill = (i * packets + p) as u8;
            assert!(data.len() == chunk && data.iter().all(|&b| b == fill));
            c.start += used;
        }
    }

    /// A reply bigger than the small buffer moves to a mapped READ_BUF buffer without
    /// losing or reordering a byte; parked connections give their buffers back, and the
    /// pool keeps only `keep` of them.
    #[test]
    fn large_replies_grow_the_buffer_and_the_pool_stays_bounded() {
        let (mut conns, server) = chunked_peers(LARGE_BUFS.keep + 2, 6, 8000);
        // All 48 KB of each are queued (they fit the socket buffers): a read fills the
        // small buffer.
        server.join().unwrap();
        for (i, c) in conns.iter_mut().enumerate() {
            read_chunks(c, i, 6, 8000, 8192);
            assert!(
                matches!(c.buf, RecvBuf::Large(_)),
                "connection {i} kept the small buffer"
            );
        }
        for c in &mut conns {
            assert!(c.park());
            assert!(matches!(c.buf, RecvBuf::None));
        }
        assert_eq!(LARGE_BUFS.idle.lock().len(), LARGE_BUFS.keep);
    }

    /// With max_packet_size=65536 the small buffer (two packets) is already larger than
    /// READ_BUF: it must stay, not be squeezed into a large one.
    #[test]
    fn the_largest_packet_size_keeps_its_own_buffer() {
        let (mut conns, server) = chunked_peers(1, 4, 60_000);
        // Let the peer's bytes queue up so that one read fills the whole buffer.
        std::thread::sleep(Duration::from_millis(200));
        read_chunks(&mut conns[0], 0, 4, 60_000, 65_536);
        assert!(matches!(conns[0].buf, RecvBuf::Small(ref v) if v.len() == 2 * 65_536));
        server.join().unwrap();
    }

    #[test]
    fn replay_policy() {
        assert!(may_replay_after_send(b"GET", 0));
        assert!(may_replay_after_send(b"PUT", 0));
        assert!(!may_replay_after_send(b"POST", 0));
        assert!(!may_replay_after_send(b"PATCH", 0));
        assert!(!may_replay_after_send(
            b"GET",
            recovery::NO_RETRY_AFTER_SEND
        ));
        assert!(may_replay_after_send(
            b"GET",
            recovery::NO_RETRY_AFTER_SEND | recovery::ALWAYS_RETRY_GET
        ));
        assert!(may_replay_after_send(
            b"HEAD",
            recovery::NO_RETRY_AFTER_SEND | recovery::ALWAYS_RETRY_HEAD
        ));
    }
}
