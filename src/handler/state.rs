//! What requests use: the per-server slot httpd stores for us, and the process-wide
//! runtime of one configuration generation (connection pools, shared memory, lock).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};

use parking_lot::RwLock;

use crate::backend;
use crate::config::directives::{LogLevel, ServerConf};
use crate::config::workers::{AjpParams, LbLock, LbParams, WorkerKind, WorkersConfig};
use crate::httpd::{self, Server};
use crate::lb::Balancer;
use crate::log::Logger;
use crate::mapping::{self, UriMap};
use crate::site;

use super::now_ms;

/// What httpd stores as our per-server configuration.
pub struct ServerSlot {
    pub conf: ServerConf,
    /// Set in post_config (parent, before fork), read-only afterwards.
    pub(super) runtime: Option<Arc<Runtime>>,
    pub(super) log: Option<Arc<Logger>>,
    /// The URI map requests use: the configured one, replaced when a JkMountFile
    /// changes on disk (each child checks on its own, as mod_jk does). Shared with
    /// [`Runtime::servers`] so the status worker lists every server's current map.
    pub(super) map: SharedMap,
    pub(super) mount_reload: Option<MountReload>,
}

/// A server's URI map as requests use it.
pub(super) type SharedMap = Arc<RwLock<Arc<UriMap>>>;

pub(super) struct MountReload {
    pub(super) path: String,
    pub(super) every_secs: u64,
    pub(super) last_check: AtomicU64,
    pub(super) mtime: AtomicU64,
}

/// The segment file is kept across restarts but removed when httpd exits, as mod_jk
/// does; registered once per path on the process pool, so restarts add nothing.
pub(super) fn remove_at_exit(main: &Server, path: &str) {
    // Children inherit the process pool and destroy it when they exit: only the parent
    // that created the file removes it.
    struct RemoveOnDrop(String, u32);
    impl Drop for RemoveOnDrop {
        fn drop(&mut self) {
            if std::process::id() == self.1 {
                let _ = std::fs::remove_file(&self.0);
            }
        }
    }
    static REGISTERED: parking_lot::Mutex<Vec<String>> = parking_lot::Mutex::new(Vec::new());
    let mut done = REGISTERED.lock();
    if !done.iter().any(|p| p == path) {
        done.push(path.to_string());
        main.process_pool()
            .adopt(RemoveOnDrop(path.to_string(), std::process::id()));
    }
}

/// 128 random bits as hex, from the kernel's generator.
pub(super) fn random_token() -> String {
    use std::io::Read;
    let mut b = [0u8; 16];
    if std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut b))
        .is_err()
    {
        // No /dev/urandom: fall back to time and pid, still unknown to a remote page.
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        b[..8].copy_from_slice(&(t.as_nanos() as u64).to_le_bytes());
        b[8..12].copy_from_slice(&std::process::id().to_le_bytes());
    }
    b.iter().map(|x| format!("{x:02x}")).collect()
}

pub(super) fn now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

pub(super) fn mtime_of(path: &str) -> u64 {
    std::fs::metadata(path)
        .and_then(|m| m.modified())
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_nanos() as u64)
}

/// Process-wide state built once per configuration generation.
pub struct Runtime {
    pub workers: Arc<WorkersConfig>,
    /// Connection pools of this child process, created on first use after fork.
    pub(super) pools: OnceLock<HashMap<String, (backend::Pool, AjpParams)>>,
    /// The balancer state shared by every child (JkShmFile), mapped before fork.
    pub(super) shm: Option<httpd::SharedMemory>,
    /// The lock `lock=Pessimistic` balancers take around member choice and counters.
    pub(super) lb_lock: Option<httpd::GlobalLock>,
    /// Random per-generation token the status manager's forms must carry (CSRF).
    pub(super) csrf_token: String,
    /// Seconds between maintenance runs (worker.maintain); 0 disables them.
    pub(super) maintain_secs: u64,
    pub(super) last_maintain: AtomicU64,
    /// Every server (main first, then the virtual hosts in httpd's order) with its name as
    /// mod_jk's status worker shows it and its URI map.
    pub(super) servers: Vec<(String, SharedMap)>,
}

impl Runtime {
    /// Request-driven maintenance (without JkWatchdogInterval): at most one request per
    /// interval and child does it.
    pub(super) fn maybe_maintain(&self) {
        if self.maintain_secs == 0 {
            return;
        }
        let now = now_secs();
        let last = self.last_maintain.load(Ordering::Relaxed);
        if now >= last + self.maintain_secs
            && self
                .last_maintain
                .compare_exchange(last, now, Ordering::AcqRel, Ordering::Relaxed)
                .is_ok()
        {
            self.maintain();
        }
    }

    pub(super) fn maintain(&self) {
        if let Some(shm) = &self.shm {
            let seg = shm.segment();
            for i in 0..seg.lb_count() {
                Balancer::new(seg, i).maintain(now_ms(), self.maintain_secs * 1000);
            }
        }
        if let Some(pools) = self.pools.get() {
            let now = std::time::Instant::now();
            for (name, (p, _)) in pools {
                p.maintain(now);
                self.publish_connections(name, p);
            }
        }
    }

    /// Child exit: closes this child's pooled backend connections, as mod_jk does, and
    /// takes them out of the shared `connected` counts.
    pub(super) fn close_pools(&self) {
        let Some(pools) = self.pools.get() else {
            return;
        };
        for (name, (p, _)) in pools {
            let delta = p.close_at_exit();
            if let Some(slot) = self.ajp_slot(name).filter(|_| delta != 0) {
                slot.connections_changed(delta);
            }
        }
    }

    /// The shared slot of ajp13 worker `name`.
    pub(super) fn ajp_slot(&self, name: &str) -> Option<&crate::shm::AjpSlot> {
        self.shm.as_ref().and_then(|m| m.segment().ajp(name))
    }

    /// Reports this child's opened and closed connections to the shared count.
    pub(super) fn publish_connections(&self, name: &str, pool: &backend::Pool) {
        if let Some(slot) = self.ajp_slot(name) {
            let delta = pool.open_delta();
            if delta != 0 {
                slot.connections_changed(delta);
            }
        }
    }

    /// After an exchange on `name`: the shared connection count, and no-reuse mode when the
    /// backend was caught writing outside an exchange. The message to log, once for all
    /// children, when this call turned the mode on.
    pub(super) fn after_exchange(
        &self,
        name: &str,
        pool: &backend::Pool,
        p: &AjpParams,
    ) -> Option<String> {
        self.publish_connections(name, pool);
        if !pool.take_stray() || p.stray_no_reuse_secs == 0 {
            return None;
        }
        let now = backend::wall_ms();
        let until = now + u64::from(p.stray_no_reuse_secs) * 1000;
        pool.set_no_reuse_until(until);
        let first = self
            .ajp_slot(name)
            .is_none_or(|slot| slot.start_no_reuse(now, until));
        first.then(|| {
            format!(
                "worker {name}: the backend sent bytes outside a request exchange (a stray \
                 reply); for {} s every request gets a fresh connection, CPinged, and none is \
                 reused (stray_no_reuse_time)",
                p.stray_no_reuse_secs
            )
        })
    }

    /// The global lock for an lb with `lock=Pessimistic`; nothing for Optimistic.
    pub(super) fn lb_lock(&self, lbp: &LbParams) -> Option<httpd::GlobalLockGuard<'_>> {
        (lbp.lock == LbLock::Pessimistic)
            .then(|| self.lb_lock.as_ref()?.lock())
            .flatten()
    }

    /// The pool of `name`, with the settings the status worker last gave it applied and
    /// the worker's shared no-reuse mode.
    pub(super) fn pool(&self, name: &str) -> Option<&(backend::Pool, AjpParams)> {
        let entry = self.pool_entry(name)?;
        if let Some(slot) = self.ajp_slot(name) {
            entry.0.sync(slot.sequence(), || {
                let mut p = entry.1.clone();
                slot.settings().apply_to(&mut p);
                backend::Target::from_params(name, &p, httpd::mpm_threads_per_child())
            });
            entry.0.set_no_reuse_until(slot.no_reuse_until());
        }
        // Re-resolution (src/health/resolve.rs): nothing without resolve_interval.
        if let (false, Some(shm)) = (self.workers.health.resolve.is_empty(), &self.shm) {
            crate::health::resolve::follow(&self.workers.health, shm.segment(), name, &entry.0);
        }
        Some(entry)
    }

    pub(super) fn pool_entry(&self, name: &str) -> Option<&(backend::Pool, AjpParams)> {
        self.pools
            .get_or_init(|| {
                let threads = httpd::mpm_threads_per_child();
                self.workers
                    .workers
                    .iter()
                    .filter_map(|(n, w)| match &w.kind {
                        WorkerKind::Ajp13(p) => Some((
                            n.clone(),
                            (
                                backend::Pool::new(backend::Target::from_params(n, p, threads)),
                                p.clone(),
                            ),
                        )),
                        _ => None,
                    })
                    .collect()
            })
            .get(name)
    }
}

impl ServerSlot {
    pub fn new(is_vhost: bool) -> ServerSlot {
        ServerSlot {
            conf: ServerConf::new(is_vhost),
            runtime: None,
            log: None,
            map: Arc::new(RwLock::new(Arc::new(UriMap::default()))),
            mount_reload: None,
        }
    }

    pub(super) fn uri_map(&self) -> Arc<UriMap> {
        self.map.read().clone()
    }

    /// JkMountFileReload: at most every N seconds, re-read the JkMountFile if its mtime
    /// changed. A file with errors is reported and the rules in use are kept.
    pub(super) fn maybe_reload_mounts(&self, rid: Option<&str>) {
        let Some(r) = &self.mount_reload else { return };
        let now = now_secs();
        let last = r.last_check.load(Ordering::Relaxed);
        if now < last + r.every_secs
            || r.last_check
                .compare_exchange(last, now, Ordering::AcqRel, Ordering::Relaxed)
                .is_err()
        {
            return;
        }
        let mtime = mtime_of(&r.path);
        if mtime == r.mtime.load(Ordering::Relaxed) {
            return;
        }
        r.mtime.store(mtime, Ordering::Relaxed);
        let parsed = std::fs::read_to_string(&r.path)
            .map_err(|e| e.to_string())
            .and_then(|text| {
                mapping::parse_uriworkermap(&r.path, &text, &httpd::getenv)
                    .map_err(|e| e.to_string())
            });
        match parsed {
            Ok((lines, warnings)) => {
                let mut map = (*self.uri_map()).clone();
                map.replace_uriworkermap(&lines);
                *self.map.write() = Arc::new(map);
                for w in warnings {
                    self.log(LogLevel::Warn, rid, site!("reload_mounts"), &w);
                }
                self.log(
                    LogLevel::Info,
                    rid,
                    site!("reload_mounts"),
                    &format!("reloaded {} ({} rules)", r.path, lines.len()),
                );
            }
            Err(e) => self.log(
                LogLevel::Error,
                rid,
                site!("reload_mounts"),
                &format!("not reloading {}: {e}; keeping the rules in use", r.path),
            ),
        }
    }

    pub fn merge(base: &ServerSlot, add: &ServerSlot) -> ServerSlot {
        let mut merged = ServerSlot::new(true);
        merged.conf = ServerConf::merge(&base.conf, &add.conf);
        // Warnings stay with the vhost that produced them.
        merged.conf.warnings = add.conf.warnings.clone();
        merged
    }

    pub(super) fn log(
        &self,
        level: LogLevel,
        request_id: Option<&str>,
        site: crate::log::Site,
        msg: &str,
    ) {
        if let Some(l) = &self.log {
            l.log(level, request_id, site, msg);
        }
    }

    /// Whether a line at `level` would be written: debug messages are only built then,
    /// off the hot path of every request.
    pub(super) fn logs(&self, level: LogLevel) -> bool {
        self.log.as_ref().is_some_and(|l| l.enabled(level))
    }
}
