//! Request flow: map the URI, pick the worker, serve the request; plus the lifecycle
//! steps (check_config, post_config, child_init) that prepare what requests use.

use std::collections::HashMap;
use std::sync::Arc;

use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};

use parking_lot::RwLock;
use std::time::Duration;

use crate::ajp;
use crate::backend::{self, Client, ClientError, Outcome, RequestOptions};
use crate::config::directives::{Indicator, LogLevel, ServerConf, opt};
use crate::config::workers::{
    AjpParams, LbLock, LbParams, StatusParams, WorkerKind, WorkersConfig,
};
use crate::dispatch::forward::{self, Forwarded};
use crate::dispatch::{self, AnswerLog, LbEnd};
use crate::httpd::{self, Level, Pool, Request, Server};
use crate::lb::{self, Balancer, LbRequest};
use crate::log::Logger;
use crate::mapping::{self, UriMap};
use crate::shm;
use crate::site;
use crate::status;

/// The handler name mod_jk uses; `SetHandler jakarta-servlet` setups rely on it.
pub const HANDLER: &std::ffi::CStr = c"jakarta-servlet";
/// The handler httpd gives a directory request without an index file.
const DIR_MAGIC_TYPE: &std::ffi::CStr = c"httpd/unix-directory";
const NOTE_WORKER: &std::ffi::CStr = c"JK_WORKER_NAME";
const NOTE_TYPE: &std::ffi::CStr = c"JK_WORKER_TYPE";
/// The decoded URI as httpd had it before we normalised it: that is what is forwarded
/// (path parameters such as `;jsessionid` included), as mod_jk does.
const NOTE_ROUTE: &std::ffi::CStr = c"JK_WORKER_ROUTE";
/// Rule extensions of the JkMount rule that matched in translate_name.
const NOTE_EXTENSIONS: &std::ffi::CStr = c"JK_RULE_EXTENSIONS";
const NOTE_ORIG_URI: &std::ffi::CStr = c"JK_ORIGINAL_URI";
/// Time the worker took (`%T` of JkRequestLogFormat); set only on requests jk served.
const NOTE_DURATION: &std::ffi::CStr = c"JK_REQUEST_DURATION";

/// What httpd stores as our per-server configuration.
pub struct ServerSlot {
    pub conf: ServerConf,
    /// Set in post_config (parent, before fork), read-only afterwards.
    runtime: Option<Arc<Runtime>>,
    log: Option<Arc<Logger>>,
    /// The URI map requests use: the configured one, replaced when a JkMountFile
    /// changes on disk (each child checks on its own, as mod_jk does). Shared with
    /// [`Runtime::servers`] so the status worker lists every server's current map.
    map: SharedMap,
    mount_reload: Option<MountReload>,
}

/// A server's URI map as requests use it.
type SharedMap = Arc<RwLock<Arc<UriMap>>>;

struct MountReload {
    path: String,
    every_secs: u64,
    last_check: AtomicU64,
    mtime: AtomicU64,
}

/// The segment file is kept across restarts but removed when httpd exits, as mod_jk
/// does; registered once per path on the process pool, so restarts add nothing.
fn remove_at_exit(main: &Server, path: &str) {
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
fn random_token() -> String {
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

fn now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

fn mtime_of(path: &str) -> u64 {
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
    pools: OnceLock<HashMap<String, (backend::Pool, AjpParams)>>,
    /// The balancer state shared by every child (JkShmFile), mapped before fork.
    shm: Option<httpd::SharedMemory>,
    /// The lock `lock=Pessimistic` balancers take around member choice and counters.
    lb_lock: Option<httpd::GlobalLock>,
    /// Random per-generation token the status manager's forms must carry (CSRF).
    csrf_token: String,
    /// Seconds between maintenance runs (worker.maintain); 0 disables them.
    maintain_secs: u64,
    last_maintain: AtomicU64,
    /// Every server (main first, then the virtual hosts in httpd's order) with its name as
    /// mod_jk's status worker shows it and its URI map.
    servers: Vec<(String, SharedMap)>,
}

impl Runtime {
    /// Request-driven maintenance (without JkWatchdogInterval): at most one request per
    /// interval and child does it.
    fn maybe_maintain(&self) {
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

    fn maintain(&self) {
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
    fn close_pools(&self) {
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
    fn ajp_slot(&self, name: &str) -> Option<&crate::shm::AjpSlot> {
        self.shm.as_ref().and_then(|m| m.segment().ajp(name))
    }

    /// Reports this child's opened and closed connections to the shared count.
    fn publish_connections(&self, name: &str, pool: &backend::Pool) {
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
    fn after_exchange(&self, name: &str, pool: &backend::Pool, p: &AjpParams) -> Option<String> {
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
    fn lb_lock(&self, lbp: &LbParams) -> Option<httpd::GlobalLockGuard<'_>> {
        (lbp.lock == LbLock::Pessimistic)
            .then(|| self.lb_lock.as_ref()?.lock())
            .flatten()
    }

    /// The pool of `name`, with the settings the status worker last gave it applied and
    /// the worker's shared no-reuse mode.
    fn pool(&self, name: &str) -> Option<&(backend::Pool, AjpParams)> {
        let entry = self.pool_entry(name)?;
        if let Some(slot) = self.ajp_slot(name) {
            entry.0.sync(slot.sequence(), || {
                let mut p = entry.1.clone();
                slot.settings().apply_to(&mut p);
                backend::Target::from_params(name, &p, httpd::mpm_threads_per_child())
            });
            entry.0.set_no_reuse_until(slot.no_reuse_until());
        }
        Some(entry)
    }

    fn pool_entry(&self, name: &str) -> Option<&(backend::Pool, AjpParams)> {
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

    fn uri_map(&self) -> Arc<UriMap> {
        self.map.read().clone()
    }

    /// JkMountFileReload: at most every N seconds, re-read the JkMountFile if its mtime
    /// changed. A file with errors is reported and the rules in use are kept.
    fn maybe_reload_mounts(&self, rid: Option<&str>) {
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

    fn log(&self, level: LogLevel, request_id: Option<&str>, site: crate::log::Site, msg: &str) {
        if let Some(l) = &self.log {
            l.log(level, request_id, site, msg);
        }
    }

    /// Whether a line at `level` would be written: debug messages are only built then,
    /// off the hot path of every request.
    fn logs(&self, level: LogLevel) -> bool {
        self.log.as_ref().is_some_and(|l| l.enabled(level))
    }
}

pub fn check_config(_pool: &Pool, main: Server) -> i32 {
    let server_root = _pool.server_root_relative("");
    let conf = &mut main.config_mut::<ServerSlot>().conf;
    if let Err(e) = conf.finish_main(server_root.trim_end_matches('/'), &httpd::getenv) {
        httpd::log_startup(Level::Emerg, &format!("mod_rjk: {e}"));
        return httpd::HTTP_INTERNAL_SERVER_ERROR;
    }
    let workers = conf.workers.clone().expect("finish_main sets workers");
    if let Err(e) = crate::shm::check_capacity(&workers) {
        httpd::log_startup(Level::Emerg, &format!("mod_rjk: {e}"));
        return httpd::HTTP_INTERNAL_SERVER_ERROR;
    }
    for s in main.iter() {
        // mod_jk only logs this and answers 500 to every request of such a rule.
        let defined_at = s.defined_at();
        let server = if defined_at.starts_with(':') {
            "the main server".to_string()
        } else {
            format!("the virtual host defined at {defined_at}")
        };
        if let Err(e) = s
            .config::<ServerSlot>()
            .conf
            .check_mounts(&workers, &server)
        {
            httpd::log_startup(Level::Emerg, &format!("mod_rjk: {e}"));
            return httpd::HTTP_INTERNAL_SERVER_ERROR;
        }
    }
    httpd::OK
}

pub fn post_config(pool: &Pool, main: Server) -> i32 {
    httpd::add_version_component(pool, &format!("mod_rjk/{}", crate::VERSION));
    // httpd runs post_config twice at startup; only the second pass builds state.
    if httpd::is_first_config_pass() {
        return httpd::OK;
    }
    let main_conf = &main.config::<ServerSlot>().conf;
    let Some(workers) = main_conf.workers.clone() else {
        httpd::log_error(
            Some(&main),
            Level::Emerg,
            "mod_rjk: workers configuration missing",
        );
        return httpd::HTTP_INTERNAL_SERVER_ERROR;
    };
    // The balancer state lives in a file mapped before fork. Its name carries the parent's
    // pid like mod_jk's, and the parent keeps it across graceful and normal restarts, so
    // admin changes survive them (mod_jk loses them).
    let mut startup_notes = Vec::new();
    // Every ajp13 worker keeps its statistics and runtime settings there too, so the
    // segment exists whenever a worker does (mod_jk always has one).
    let needs_shm = workers
        .workers
        .values()
        .any(|w| matches!(w.kind, WorkerKind::Lb(_) | WorkerKind::Ajp13(_)));
    let mut lb_lock = None;
    let shm = if needs_shm {
        let base = main_conf
            .shm_file
            .clone()
            .unwrap_or_else(|| pool.server_root_relative("logs/jk-runtime-status"));
        let path = format!("{base}.{}", std::process::id());
        let file_len = crate::shm::file_size(main_conf.shm_size_kb);
        let opened = httpd::SharedMemory::open(&path, file_len).and_then(|m| {
            // A segment from another worker set may still be in use by children of the
            // previous generation: give it up (they keep their mapping of the unlinked
            // file) instead of re-initialising it under them.
            if crate::shm::validate(m.segment(), crate::shm::SEGMENT_SIZE).is_ok()
                && !crate::shm::adoptable(m.segment(), &workers)
            {
                drop(m);
                std::fs::remove_file(&path).map_err(|e| format!("cannot replace {path}: {e}"))?;
                let fresh = httpd::SharedMemory::open(&path, file_len)?;
                crate::shm::init_from_config(fresh.segment(), &workers)?;
                return Ok((fresh, crate::shm::Adoption::Initialised));
            }
            let adoption = crate::shm::adopt_or_init(m.segment(), &workers)?;
            Ok((m, adoption))
        });
        let pessimistic = workers
            .workers
            .values()
            .any(|w| matches!(&w.kind, WorkerKind::Lb(l) if l.lock == LbLock::Pessimistic));
        if pessimistic {
            let lock_path = format!("{path}.lock");
            match httpd::GlobalLock::open(&lock_path) {
                Ok(l) => {
                    remove_at_exit(&main, &lock_path);
                    lb_lock = Some(l);
                }
                Err(e) => {
                    let msg = format!("mod_rjk: lock=Pessimistic needs the lock file: {e}");
                    httpd::log_error(Some(&main), Level::Emerg, &msg);
                    return httpd::HTTP_INTERNAL_SERVER_ERROR;
                }
            }
        }
        match opened {
            Ok((m, adoption)) => {
                remove_at_exit(&main, &path);
                startup_notes.push(match adoption {
                    crate::shm::Adoption::Adopted => {
                        format!("kept the balancer state of the previous generation in {path}")
                    }
                    crate::shm::Adoption::Initialised => {
                        format!("balancer state initialised in {path}")
                    }
                });
                Some(m)
            }
            Err(e) => {
                httpd::log_error(
                    Some(&main),
                    Level::Emerg,
                    &format!("mod_rjk: JkShmFile: {e}"),
                );
                return httpd::HTTP_INTERNAL_SERVER_ERROR;
            }
        }
    } else {
        None
    };
    let servers = main
        .iter()
        .map(|s| {
            let sl: &mut ServerSlot = s.config_mut();
            *sl.map.write() = Arc::new(sl.conf.uri_map.clone());
            (s.label(), sl.map.clone())
        })
        .collect();
    let runtime = Arc::new(Runtime {
        servers,
        maintain_secs: workers.maintain_secs.max(0) as u64,
        last_maintain: AtomicU64::new(now_secs()),
        workers,
        pools: OnceLock::new(),
        shm,
        lb_lock,
        csrf_token: random_token(),
    });

    let default_log = pool.server_root_relative("logs/mod_jk.log");
    let mut sinks: HashMap<String, Arc<Logger>> = HashMap::new();
    for s in main.iter() {
        let sl: &mut ServerSlot = s.config_mut();
        let path = sl
            .conf
            .log_file
            .clone()
            .unwrap_or_else(|| default_log.clone());
        let level = sl.conf.log_level();
        let stamp = sl.conf.log_stamp_format().to_string();
        let logger = match sinks.get(&path) {
            Some(l) if l.level() == level => Some(l.clone()),
            Some(l) => l.with_settings(level, &stamp).ok().map(Arc::new),
            None => {
                let opened = if let Some(program) = path.strip_prefix('|') {
                    pool.open_piped_log(program)
                        .map(|fd| Logger::from_fd(fd, level, &stamp, httpd::log_clock()))
                        .ok_or_else(|| format!("cannot start the piped logger '{program}'"))
                } else {
                    Logger::open_file(&path, level, &stamp, httpd::log_clock())
                        .map_err(|e| format!("cannot open {path}: {e}"))
                };
                match opened {
                    Ok(l) => {
                        let l = Arc::new(l);
                        sinks.insert(path.clone(), l.clone());
                        Some(l)
                    }
                    Err(e) => {
                        httpd::log_error(
                            Some(&s),
                            Level::Emerg,
                            &format!("mod_rjk: JkLogFile: {e}"),
                        );
                        return httpd::HTTP_INTERNAL_SERVER_ERROR;
                    }
                }
            }
        };
        sl.log = logger;
        sl.runtime = Some(runtime.clone());
        sl.mount_reload = match (&sl.conf.mount_file, sl.conf.mount_file_reload.unwrap_or(60)) {
            (Some(path), secs) if secs > 0 => Some(MountReload {
                path: path.clone(),
                every_secs: u64::from(secs),
                last_check: AtomicU64::new(now_secs()),
                mtime: AtomicU64::new(mtime_of(path)),
            }),
            _ => None,
        };
        for w in &sl.conf.warnings {
            httpd::log_error(Some(&s), Level::Warning, &format!("mod_rjk: {w}"));
            sl.log(LogLevel::Warn, None, site!("post_config"), w);
        }
        for w in &runtime.workers.warnings {
            if !s.is_virtual() {
                httpd::log_error(Some(&s), Level::Warning, &format!("mod_rjk: {w}"));
                sl.log(LogLevel::Warn, None, site!("post_config"), w);
            }
        }
    }
    let main_slot: &ServerSlot = main.config();
    for note in &startup_notes {
        main_slot.log(LogLevel::Info, None, site!("post_config"), note);
    }
    main_slot.log(
        LogLevel::Info,
        None,
        site!("post_config"),
        &format!(
            "mod_rjk/{} initialised: workers {}",
            crate::VERSION,
            runtime.workers.list.join(",")
        ),
    );
    httpd::OK
}

pub fn child_init(pool: &Pool, main: Server) {
    // Connection pools are created lazily after fork and closed when the child's pool is
    // destroyed at its exit. With JkWatchdogInterval a thread of this child runs
    // maintenance; otherwise requests trigger it.
    let sl: &ServerSlot = main.config();
    if let Some(rt) = &sl.runtime {
        struct CloseAtExit(Arc<Runtime>);
        impl Drop for CloseAtExit {
            fn drop(&mut self) {
                let rt = &self.0;
                // Runs from a pool cleanup: nothing may unwind into httpd.
                let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| rt.close_pools()));
            }
        }
        pool.adopt(CloseAtExit(rt.clone()));
    }
    let (Some(rt), Some(secs)) = (
        sl.runtime.clone(),
        sl.conf.watchdog_interval.filter(|&s| s > 0),
    ) else {
        return;
    };
    let spawned = std::thread::Builder::new()
        .name("rjk-watchdog".into())
        .spawn(move || {
            loop {
                std::thread::sleep(Duration::from_secs(u64::from(secs)));
                // A panic must not take the child down; the next round tries again.
                let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| rt.maintain()));
            }
        });
    if let Err(e) = spawned {
        httpd::log_error(
            Some(&main),
            Level::Err,
            &format!("mod_rjk: cannot start the watchdog thread: {e}"),
        );
    }
}

fn request_id(req: &Request, conf: &ServerConf) -> Option<String> {
    let ind = conf.indicator(crate::config::directives::Indicator::RequestId);
    req.env(ind)
        .filter(|v| !v.is_empty())
        .or_else(|| req.env("UNIQUE_ID").filter(|v| !v.is_empty()))
        .or_else(|| req.log_id())
}

/// translate_name: decide whether the request belongs to a worker. On a match the
/// normalised URI replaces `r->uri`, so `<Location>` access control in later phases sees
/// exactly the path that was mapped (the CVE-2018-11759 path-parameter bypass).
pub fn translate(req: &mut Request) -> i32 {
    if req.is_proxy_request() || req.env("no-jk").is_some() {
        return httpd::DECLINED;
    }
    let server = req.server();
    let sl: &ServerSlot = server.config();
    sl.maybe_reload_mounts(None);
    let map = sl.uri_map();
    if map.is_empty() && sl.conf.auto_alias.is_none() {
        return strip_session(req, sl);
    }
    let Some(uri) = req.uri() else {
        return httpd::DECLINED;
    };
    // RejectUnsafeURI: a decoded URI still holding `%` or `\` is left to httpd.
    if sl.conf.has_option(opt::REJECT_UNSAFE_URI) && uri.contains(['%', '\\']) {
        return httpd::DECLINED;
    }
    let normalized = match mapping::normalize(&uri) {
        Ok(n) => n,
        Err(e) if !e.is_bad_request() => return httpd::DECLINED,
        Err(e) => {
            let rid = request_id(req, &sl.conf);
            sl.log(
                LogLevel::Info,
                rid.as_deref(),
                site!("translate"),
                &format!("rejecting URI that cannot be normalised ({e:?}): {uri}"),
            );
            return httpd::HTTP_BAD_REQUEST;
        }
    };
    match map.map(&normalized) {
        Some(m) => {
            if sl.logs(LogLevel::Debug) {
                let rid = request_id(req, &sl.conf);
                sl.log(
                    LogLevel::Debug,
                    rid.as_deref(),
                    site!("translate"),
                    &format!("mapped {uri} to worker {} by rule {}", m.worker, m.pattern),
                );
            }
            if normalized != uri {
                req.set_note(NOTE_ORIG_URI, &uri);
                req.set_uri(&normalized);
            }
            req.set_handler(HANDLER);
            req.set_note(NOTE_WORKER, &m.worker);
            if !m.extensions.is_empty() {
                req.set_note(NOTE_EXTENSIONS, &m.extensions.to_string());
            }
            httpd::DECLINED
        }
        None => match sl.conf.auto_alias.as_deref() {
            Some(dir) => auto_alias(req, sl, dir, &normalized),
            None => strip_session(req, sl),
        },
    }
}

/// JkAutoAlias: an unmapped URI whose first segment is a webapp directory is served by
/// httpd from there.
fn auto_alias(req: &mut Request, sl: &ServerSlot, dir: &str, uri: &str) -> i32 {
    let is_dir = |p: &str| std::fs::metadata(p).is_ok_and(|m| m.is_dir());
    match mapping::auto_alias(dir, uri, is_dir) {
        mapping::AliasDecision::Serve(file) => {
            req.set_filename(&file);
            httpd::OK
        }
        mapping::AliasDecision::NotFound => httpd::HTTP_NOT_FOUND,
        mapping::AliasDecision::Forbidden => httpd::HTTP_FORBIDDEN,
        mapping::AliasDecision::Decline => strip_session(req, sl),
    }
}

/// JkStripSession: a URI that is not forwarded loses its session path parameter, so
/// httpd can serve the static file it names.
fn strip_session(req: &mut Request, sl: &ServerSlot) -> i32 {
    let Some((true, name)) = &sl.conf.strip_session else {
        return httpd::DECLINED;
    };
    let param = format!("{name}=");
    if let Some(uri) = req
        .uri()
        .and_then(|u| mapping::strip_path_parameter(&u, &param))
    {
        req.set_uri(&uri);
    }
    if let Some(f) = req
        .filename()
        .and_then(|f| mapping::strip_path_parameter(&f, &param))
    {
        req.set_filename(&f);
    }
    httpd::DECLINED
}

/// map_to_storage: requests we mapped have no file behind them; skip httpd's
/// filesystem walk as mod_jk does.
pub fn map_to_storage(req: &Request) -> i32 {
    if req.handler_is(HANDLER) && req.note(NOTE_WORKER).is_some() {
        httpd::OK
    } else {
        httpd::DECLINED
    }
}

pub fn handle(req: &mut Request) -> i32 {
    // JkOptions +ForwardDirectories: a directory request httpd found no index file for
    // goes to the worker its URI maps to, if any.
    let directory = req.handler_is(DIR_MAGIC_TYPE);
    if !(directory || req.handler_is(HANDLER)) || req.env("no-jk").is_some() {
        return httpd::DECLINED;
    }
    let server = req.server();
    let sl: &ServerSlot = server.config();
    if directory && !sl.conf.has_option(opt::FORWARD_DIRECTORIES) {
        return httpd::DECLINED;
    }
    let rid = request_id(req, &sl.conf);
    if req.is_proxy_request() {
        sl.log(
            LogLevel::Error,
            rid.as_deref(),
            site!("handler"),
            "refusing a proxy request",
        );
        return httpd::HTTP_INTERNAL_SERVER_ERROR;
    }
    let Some(rt) = sl.runtime.clone() else {
        return httpd::HTTP_INTERNAL_SERVER_ERROR;
    };
    if sl.conf.watchdog_interval.unwrap_or(0) == 0 {
        rt.maybe_maintain();
    }
    // Worker: the URI map's choice, else the JkWorkerIndicator variable (SetHandler
    // setups), else the map once more for requests that reached us another way.
    let indicator = sl
        .conf
        .worker_indicator
        .as_deref()
        .unwrap_or("JK_WORKER_NAME");
    let spec = req
        .note(NOTE_WORKER)
        .or_else(|| req.env(indicator))
        .or_else(|| {
            let uri = req.uri()?;
            let n = mapping::normalize(&uri).ok()?;
            sl.uri_map().map(&n).map(|m| m.worker)
        });
    let Some(spec) = spec else {
        // As mod_jk: not ours after all, httpd serves it (usually a 404).
        if directory {
            return httpd::DECLINED;
        }
        sl.log(
            LogLevel::Debug,
            rid.as_deref(),
            site!("handler"),
            &format!(
                "no worker for {} (handler jakarta-servlet without a JkMount or {indicator}); declined",
                req.uri().unwrap_or_default()
            ),
        );
        return httpd::DECLINED;
    };
    let worker_name = spec.split(';').next().unwrap_or("").trim().to_string();
    // Only workers of worker.list serve requests directly (lb members do not).
    let listed = rt.workers.list.contains(&worker_name);
    let Some(worker) = rt.workers.get(&worker_name).filter(|_| listed) else {
        sl.log(
            LogLevel::Error,
            rid.as_deref(),
            site!("handler"),
            &format!("Could not find a worker for worker name={worker_name}"),
        );
        return httpd::HTTP_INTERNAL_SERVER_ERROR;
    };
    let kind = match &worker.kind {
        WorkerKind::Ajp13(_) => "ajp13",
        WorkerKind::Lb(_) => "lb",
        WorkerKind::Status(_) => "status",
    };
    req.set_note(NOTE_WORKER, &worker_name);
    req.set_note(NOTE_TYPE, kind);
    if sl.logs(LogLevel::Debug) {
        sl.log(
            LogLevel::Debug,
            rid.as_deref(),
            site!("handler"),
            &format!(
                "worker {worker_name} (type {kind}) chosen for {} {}",
                req.method(),
                req.uri().unwrap_or_default()
            ),
        );
    }
    // Rule extensions (`;reply_timeout=...`): those of the JkMount rule translate_name
    // matched, or the ones in a JK_WORKER_NAME value (SetHandler setups).
    let extensions = match req.note(NOTE_EXTENSIONS) {
        Some(text) => mapping::parse_worker_spec(&format!("{worker_name};{text}")).ok(),
        None => mapping::parse_worker_spec(&spec).ok(),
    }
    .map(|(_, ext, _)| ext);
    let extensions = extensions.unwrap_or_default();
    let started = std::time::Instant::now();
    let rc = match &worker.kind {
        WorkerKind::Ajp13(_) => serve(
            req,
            sl,
            &rt,
            Target::Worker(&worker_name),
            &extensions,
            rid.as_deref(),
        ),
        WorkerKind::Lb(lb) => serve(
            req,
            sl,
            &rt,
            Target::Lb(&worker_name, lb),
            &extensions,
            rid.as_deref(),
        ),
        WorkerKind::Status(params) => {
            serve_status(req, sl, &rt, &worker_name, params, rid.as_deref())
        }
    };
    let took = crate::reqlog::duration_text(started.elapsed());
    req.set_note(NOTE_DURATION, &took);
    rc
}

/// log_transaction: the `JkRequestLogFormat` line of a request a worker served.
pub fn log_transaction(req: &Request) -> i32 {
    let server = req.server();
    let sl: &ServerSlot = server.config();
    let (Some(format), Some(logger)) = (&sl.conf.request_log_format, &sl.log) else {
        return httpd::DECLINED;
    };
    let Some(duration) = req.note(NOTE_DURATION) else {
        return httpd::DECLINED;
    };
    let info = req.info();
    let li = req.log_info();
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    let (method, protocol, uri) = (text(info.method), text(info.protocol), text(info.uri));
    let args = info.args.map(text);
    let server_name = text(info.server_name);
    let (worker, route) = (req.note(NOTE_WORKER), req.note(NOTE_ROUTE));
    let values = crate::reqlog::RequestValues {
        method: &method,
        protocol: &protocol,
        request_line: &li.request_line,
        uri: &uri,
        args: args.as_deref(),
        status: li.status,
        sent_body: li.sent_body,
        bytes_sent: li.bytes_sent,
        virtual_host: li.virtual_host.as_deref(),
        server_name: Some(&server_name),
        port: li.port,
        worker: worker.as_deref(),
        route: route.as_deref(),
        duration: Some(&duration),
    };
    logger.log_request(&format.render(&values));
    httpd::OK
}

/// The status worker (JK status manager). Form bodies are small; anything larger is refused.
fn serve_status(
    req: &mut Request,
    sl: &ServerSlot,
    rt: &Runtime,
    name: &str,
    params: &StatusParams,
    rid: Option<&str>,
) -> i32 {
    const MAX_FORM: usize = 64 * 1024;
    let mut form = Vec::new();
    match req.setup_body() {
        Ok(Some(n)) if n as usize > MAX_FORM => return httpd::HTTP_REQUEST_ENTITY_TOO_LARGE,
        Ok(_) => {
            let mut buf = [0u8; 8192];
            loop {
                match req.read_body(&mut buf) {
                    Ok(0) => break,
                    Ok(n) if form.len() + n <= MAX_FORM => form.extend_from_slice(&buf[..n]),
                    Ok(_) => return httpd::HTTP_REQUEST_ENTITY_TOO_LARGE,
                    Err(()) => return httpd::HTTP_BAD_REQUEST,
                }
            }
        }
        Err(status) => return status,
    }
    let info = req.info();
    let header = |n: &str| {
        info.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(n.as_bytes()))
            .map(|(_, v)| String::from_utf8_lossy(v).into_owned())
    };
    let (sec_fetch_site, origin, referer, host, user_agent) = (
        header("Sec-Fetch-Site"),
        header("Origin"),
        header("Referer"),
        header("Host"),
        header("User-Agent"),
    );
    let browser_headers = info.headers.iter().any(|(k, _)| {
        k.len() > 10 && k[..10].eq_ignore_ascii_case(b"sec-fetch-")
            || k.eq_ignore_ascii_case(b"upgrade-insecure-requests")
    });
    let lossy = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    let (method, query, path) = (
        lossy(info.method),
        info.args.map(lossy).unwrap_or_default(),
        lossy(info.uri),
    );
    let user = info.user.map(lossy);
    let status_req = status::StatusRequest {
        method: &method,
        query: &query,
        form: &form,
        remote_user: user.as_deref(),
        sec_fetch_site: sec_fetch_site.as_deref(),
        origin: origin.as_deref(),
        referer: referer.as_deref(),
        host: host.as_deref().unwrap_or(""),
        path: &path,
        user_agent: user_agent.as_deref(),
        browser_headers,
    };
    let server_names = req.server().names();
    let server = format!("{}:{}", lossy(info.server_name), info.server_port);
    let maps: Vec<(String, Vec<status::MapRow>)> = rt
        .servers
        .iter()
        .map(|(label, map)| {
            let rows = map.read().rules().map(status::MapRow::from_rule).collect();
            (label.clone(), rows)
        })
        .collect();
    let segment = rt.shm.as_ref().map(|m| m.segment());
    let latency = |m: usize| {
        let seg = segment?;
        let lb = seg.member(m).map(|slot| slot.lb_index())?;
        Balancer::new(seg, lb).latency(m)
    };
    let ctx = status::StatusContext {
        worker: name,
        params,
        workers: &rt.workers,
        segment,
        maps: &maps,
        server: &server,
        software: &httpd::server_banner(),
        csrf_token: &rt.csrf_token,
        server_names: &server_names,
        now_ms: now_ms(),
        latency: &latency,
    };
    let resp = status::handle(&status_req, &ctx);
    for line in &resp.log {
        sl.log(LogLevel::Info, rid, site!("status"), line);
    }
    req.send_status_page(resp.status, &resp.content_type, &resp.headers, &resp.body)
}

/// The httpd request as the backend exchange sees it.
struct HttpdClient<'r, 'a> {
    req: &'r mut Request<'a>,
    /// Publishes the pool's open connections to the shared count.
    opened: &'r dyn Fn(),
}

impl Client for HttpdClient<'_, '_> {
    fn read_body(&mut self, buf: &mut [u8]) -> Result<usize, ClientError> {
        self.req.read_body(buf).map_err(|_| ClientError::Read)
    }
    fn start_response(
        &mut self,
        status: u16,
        reason: &[u8],
        headers: &[(&[u8], &[u8])],
    ) -> Result<(), ClientError> {
        self.req.set_response(status, reason, headers);
        Ok(())
    }
    fn write_body(&mut self, data: &[u8]) -> Result<(), ClientError> {
        self.req
            .write_parts(data, &[(0, data.len())])
            .map_err(|_| ClientError::Write)
    }
    fn write_body_parts(
        &mut self,
        buf: &[u8],
        parts: &[(usize, usize)],
    ) -> Result<(), ClientError> {
        self.req
            .write_parts(buf, parts)
            .map_err(|_| ClientError::Write)
    }
    fn flush(&mut self) -> Result<(), ClientError> {
        self.req.flush().map_err(|_| ClientError::Write)
    }
    fn connection_opened(&mut self) {
        (self.opened)();
    }
}

/// Where a request goes: one ajp13 worker, or a load balancer over several.
enum Target<'a> {
    Worker(&'a str),
    Lb(&'a str, &'a LbParams),
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// What every exchange of one request shares.
struct Exchange<'f, 'r> {
    fwd: &'f Forwarded<'r>,
    body: ajp::BodyMode,
    opts: RequestOptions,
    replay: backend::BodyReplay,
    uri: String,
}

fn serve(
    req: &mut Request,
    sl: &ServerSlot,
    rt: &Runtime,
    target: Target,
    ext: &mapping::RuleExtensions,
    rid: Option<&str>,
) -> i32 {
    let conf = &sl.conf;
    let body = match req.setup_body() {
        Ok(len) => {
            let ignore_cl = req.env(conf.indicator(Indicator::IgnoreCl)).is_some();
            ajp::body_mode(len, len.is_none() || ignore_cl)
        }
        Err(status) => return status,
    };
    let env = |name: &str| req.env(name);
    let f = forward::forwarded(req.info(), req.note(NOTE_ORIG_URI), conf, &env);
    let reply_timeout = req
        .env("JK_REPLY_TIMEOUT")
        .and_then(|v| v.trim().parse::<u64>().ok())
        .or(ext.reply_timeout_ms.map(u64::from))
        .filter(|&ms| ms > 0)
        .map(Duration::from_millis);
    let mut x = Exchange {
        fwd: &f,
        body,
        opts: RequestOptions {
            reply_timeout,
            flush_packets: conf.has_option(opt::FLUSH_PACKETS),
            flush_header: conf.has_option(opt::FLUSH_HEADER),
            disable_reuse: conf.has_option(opt::DISABLE_REUSE),
            header_only: f.info.header_only,
            use_server_errors: ext.use_server_errors.unwrap_or(0),
            fail_on_status: Vec::new(),
        },
        replay: backend::BodyReplay::default(),
        uri: String::from_utf8_lossy(f.info.uri).into_owned(),
    };
    let log = |level, msg: String| sl.log(level, rid, site!("serve"), &msg);
    match target {
        Target::Worker(name) => serve_worker(req, rt, name, ext, &mut x, &log),
        Target::Lb(lb_name, lbp) => serve_lb(req, rt, lb_name, lbp, ext, &mut x, &log),
    }
}

/// One ajp13 worker: busy_limit, the exchange (with the worker's own retries), its
/// counters.
fn serve_worker(
    req: &mut Request,
    rt: &Runtime,
    name: &str,
    ext: &mapping::RuleExtensions,
    x: &mut Exchange<'_, '_>,
    log: &dyn Fn(LogLevel, String),
) -> i32 {
    let Some((pool, params)) = rt.pool(name) else {
        return httpd::HTTP_INTERNAL_SERVER_ERROR;
    };
    x.opts.fail_on_status = dispatch::effective_fail_on_status(ext, params);
    let fwd = x
        .fwd
        .request(x.body, params.secret.as_deref(), None, b"ACT");
    let slot = rt.ajp_slot(name);
    let busy = slot.map_or(0, |s| s.on_start());
    let limit = pool.target().busy_limit;
    if dispatch::worker_over_busy_limit(busy, limit) {
        if let Some(s) = slot {
            s.on_end(
                shm::AjpResult::Error {
                    reply_timeout: false,
                },
                0,
                0,
                None,
            );
        }
        log(
            LogLevel::Info,
            format!(
                "worker {name} reached its busy_limit {limit} for {}; answering 503",
                x.uri
            ),
        );
        return httpd::HTTP_SERVICE_UNAVAILABLE;
    }
    let started = std::time::Instant::now();
    let opened = || rt.publish_connections(name, pool);
    let mut client = HttpdClient {
        req,
        opened: &opened,
    };
    let outcome = backend::service(pool, &fwd, &mut client, &x.opts, &mut x.replay);
    let (read, written) = backend::wire::take();
    if let Some(s) = slot {
        s.on_end(
            dispatch::ajp_result(&outcome),
            read,
            written,
            Some(elapsed_ms(started)),
        );
    }
    if let Some(msg) = rt.after_exchange(name, pool, params) {
        log(LogLevel::Warn, msg);
    }
    finish(req, outcome, name, &x.uri, log)
}

/// A load balancer: the failover loop of [`dispatch::failover`] over its members.
fn serve_lb(
    req: &mut Request,
    rt: &Runtime,
    lb_name: &str,
    lbp: &LbParams,
    ext: &mapping::RuleExtensions,
    x: &mut Exchange<'_, '_>,
    log: &dyn Fn(LogLevel, String),
) -> i32 {
    let Some(shm) = rt.shm.as_ref() else {
        return httpd::HTTP_INTERNAL_SERVER_ERROR;
    };
    let Some(bal) = Balancer::find(shm.segment(), lb_name) else {
        log(
            LogLevel::Error,
            format!("load balancer {lb_name} is missing from the shared memory"),
        );
        return httpd::HTTP_INTERNAL_SERVER_ERROR;
    };
    bal.maintain(now_ms(), rt.maintain_secs * 1000);
    clear_busy_members(rt, shm.segment(), &bal);
    let session_cookie = ext.session_cookie.as_deref().unwrap_or(&lbp.session_cookie);
    let session_path = ext.session_path.as_deref().unwrap_or(&lbp.session_path);
    let raw_uri = req
        .note(NOTE_ORIG_URI)
        .or_else(|| req.uri())
        .unwrap_or_default();
    let cookies: Vec<String> = x
        .fwd
        .info
        .headers
        .iter()
        .filter(|(n, _)| n.eq_ignore_ascii_case(b"cookie"))
        .map(|(_, v)| String::from_utf8_lossy(v).into_owned())
        .collect();
    let cookie_refs: Vec<&str> = cookies.iter().map(String::as_str).collect();
    let forced_route = req.env("JK_ROUTE").filter(|r| !r.is_empty());
    let (routes, has_session) = dispatch::session_routes(
        forced_route.as_deref(),
        &raw_uri,
        &cookie_refs,
        session_path,
        session_cookie,
    );
    let (sticky_ignore, stateless) = dispatch::lb_flags(&|name| req.env(name), ext);
    let lbreq = LbRequest {
        session_routes: &routes,
        has_session,
        sticky_ignore,
        stateless,
        active_override: &ext.active,
        disabled_override: &ext.disabled,
        stopped_override: &ext.stopped,
    };
    let mut shell = HttpdLb {
        req,
        rt,
        lb_name,
        lbp,
        ext,
        x,
        session_cookie,
        log,
        locked: None,
    };
    let end = dispatch::failover(&bal, &lbreq, &mut shell);
    let uri = &shell.x.uri;
    match end {
        LbEnd::Served { outcome, member } => finish(shell.req, outcome, &member, uri, log),
        LbEnd::StickyForced => {
            log(
                LogLevel::Info,
                format!(
                    "{lb_name}: {} for {uri}; answering 503",
                    lb::NoMember::StickyForced
                ),
            );
            httpd::HTTP_SERVICE_UNAVAILABLE
        }
        LbEnd::Exhausted { status } => {
            log(
                LogLevel::Error,
                format!("{lb_name}: all members failed for {uri}, no more members left"),
            );
            i32::from(status)
        }
    }
}

/// OK/BUSY (no free connection in time) lasts only while it is true: a member this child
/// has a free connection for again takes new requests (mod_jk's per-request busy check).
fn clear_busy_members(rt: &Runtime, seg: &crate::shm::Segment, bal: &Balancer<'_>) {
    for m in bal.member_range() {
        let Some(s) = seg.member(m) else { continue };
        if s.state() == lb::MemberState::Busy
            && rt.pool(&s.name()).is_some_and(|(p, _)| p.has_free_slot())
        {
            bal.clear_busy(m);
        }
    }
}

/// The httpd side of the failover loop.
struct HttpdLb<'a, 'r, 'x, 'f, 'g> {
    req: &'a mut Request<'r>,
    rt: &'a Runtime,
    lb_name: &'a str,
    lbp: &'a LbParams,
    ext: &'a mapping::RuleExtensions,
    x: &'a mut Exchange<'x, 'f>,
    session_cookie: &'a str,
    log: &'a dyn Fn(LogLevel, String),
    locked: Option<Option<httpd::GlobalLockGuard<'g>>>,
}

impl<'a: 'g, 'g> dispatch::LbShell for HttpdLb<'a, '_, '_, '_, 'g> {
    fn lock(&mut self) {
        // lock=Pessimistic: choice and counters under the global lock.
        self.locked = Some(self.rt.lb_lock(self.lbp));
    }
    fn unlock(&mut self) {
        self.locked = None;
    }
    fn now_ms(&self) -> u64 {
        now_ms()
    }
    fn sleep(&mut self, pause: Duration) {
        std::thread::sleep(pause);
    }
    fn member_limit(&mut self, name: &str) -> Option<u32> {
        self.rt.pool(name).map(|(p, _)| p.target().busy_limit)
    }
    fn exchange(&mut self, pick: &lb::Pick, name: &str) -> dispatch::Exchanged {
        let rt = self.rt;
        let (pool, params) = rt.pool(name).expect("member_limit found the pool");
        let x = &mut *self.x;
        x.opts.fail_on_status = dispatch::effective_fail_on_status(self.ext, params);
        let fwd = x.fwd.request(
            x.body,
            params.secret.as_deref(),
            Some(pick.route.as_bytes()),
            pick.activation.as_str().as_bytes(),
        );
        // set_session_cookie: a pick not made by the session names its route.
        if !pick.sticky
            && (self.ext.set_session_cookie == Some(true) || self.lbp.set_session_cookie)
        {
            let path = self.ext.session_cookie_path.as_deref();
            let path = path.unwrap_or(&self.lbp.session_cookie_path);
            let cookie = lb::route_cookie(self.session_cookie, &pick.route, path, x.fwd.is_ssl);
            self.req.set_out_header(c"Set-Cookie", cookie.as_bytes());
        }
        let started = std::time::Instant::now();
        let opened = || rt.publish_connections(name, pool);
        let mut client = HttpdClient {
            req: self.req,
            opened: &opened,
        };
        let outcome = backend::service(pool, &fwd, &mut client, &x.opts, &mut x.replay);
        let (read, written) = backend::wire::take();
        self.req.set_note(NOTE_ROUTE, &pick.route);
        dispatch::Exchanged {
            outcome,
            read,
            written,
            elapsed_ms: elapsed_ms(started),
        }
    }
    fn after_exchange(&mut self, name: &str) {
        if let Some((pool, params)) = self.rt.pool(name) {
            if let Some(msg) = self.rt.after_exchange(name, pool, params) {
                (self.log)(LogLevel::Warn, msg);
            }
        }
    }
    fn failed_over(&mut self, name: &str, outcome: &Outcome) {
        let (lb_name, uri) = (self.lb_name, &self.x.uri);
        let why = match outcome {
            Outcome::Failed { error, .. } => format!("failed for {uri}: {error}"),
            _ => format!("answered a fail_on_status code for {uri}"),
        };
        (self.log)(
            LogLevel::Info,
            format!("{lb_name}: member {name} {why}; trying another member"),
        );
    }
}

fn elapsed_ms(since: std::time::Instant) -> u64 {
    u64::try_from(since.elapsed().as_millis()).unwrap_or(u64::MAX)
}

/// Turns the outcome of the exchange into httpd's answer.
fn finish(
    req: &mut Request,
    outcome: Outcome,
    name: &str,
    uri: &str,
    log: &dyn Fn(LogLevel, String),
) -> i32 {
    let a = dispatch::answer(outcome, name, uri);
    if let Some((level, line)) = a.log {
        let level = match level {
            AnswerLog::Error => LogLevel::Error,
            AnswerLog::Warn => LogLevel::Warn,
            AnswerLog::Info => LogLevel::Info,
        };
        log(level, line);
    }
    if let Some(v) = a.www_authenticate {
        req.set_err_header(c"WWW-Authenticate", &v);
    }
    if a.abort {
        req.abort_connection();
    }
    a.status
}
