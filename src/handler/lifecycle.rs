//! The lifecycle steps that prepare what requests use: check_config (every
//! configuration error surfaces here, also for `apache2 -t`), post_config (shared memory,
//! lock, logs, the runtime) and child_init (pools closed at exit, the watchdog).

use std::collections::HashMap;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use crate::config::directives::LogLevel;
use crate::config::workers::{LbLock, WorkerKind, WorkersConfig};
use crate::httpd::{self, Level, Pool, Server};
use crate::log::Logger;
use crate::site;

use super::state::{
    MountReload, Runtime, ServerSlot, mtime_of, now_secs, random_token, remove_at_exit,
};

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
    let mut startup_notes = Vec::new();
    let (shm, lb_lock) = match open_shared_state(pool, &main, &workers, &mut startup_notes) {
        Ok(s) => s,
        Err(status) => return status,
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
    if let Err(status) = open_logs(pool, &main, &runtime) {
        return status;
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

/// The balancer state lives in a file mapped before fork. Its name carries the parent's
/// pid like mod_jk's, and the parent keeps it across graceful and normal restarts, so
/// admin changes survive them (mod_jk loses them). Every ajp13 worker keeps its
/// statistics and runtime settings there too, so the segment exists whenever a worker
/// does (mod_jk always has one). Also the lock of `lock=Pessimistic` balancers.
fn open_shared_state(
    pool: &Pool,
    main: &Server,
    workers: &Arc<WorkersConfig>,
    notes: &mut Vec<String>,
) -> Result<(Option<httpd::SharedMemory>, Option<httpd::GlobalLock>), i32> {
    let needs_shm = workers
        .workers
        .values()
        .any(|w| matches!(w.kind, WorkerKind::Lb(_) | WorkerKind::Ajp13(_)));
    if !needs_shm {
        return Ok((None, None));
    }
    let main_conf = &main.config::<ServerSlot>().conf;
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
            && !crate::shm::adoptable(m.segment(), workers)
        {
            drop(m);
            std::fs::remove_file(&path).map_err(|e| format!("cannot replace {path}: {e}"))?;
            let fresh = httpd::SharedMemory::open(&path, file_len)?;
            crate::shm::init_from_config(fresh.segment(), workers)?;
            return Ok((fresh, crate::shm::Adoption::Initialised));
        }
        let adoption = crate::shm::adopt_or_init(m.segment(), workers)?;
        Ok((m, adoption))
    });
    let mut lb_lock = None;
    let pessimistic = workers
        .workers
        .values()
        .any(|w| matches!(&w.kind, WorkerKind::Lb(l) if l.lock == LbLock::Pessimistic));
    if pessimistic {
        let lock_path = format!("{path}.lock");
        match httpd::GlobalLock::open(&lock_path) {
            Ok(l) => {
                remove_at_exit(main, &lock_path);
                lb_lock = Some(l);
            }
            Err(e) => {
                let msg = format!("mod_rjk: lock=Pessimistic needs the lock file: {e}");
                httpd::log_error(Some(main), Level::Emerg, &msg);
                return Err(httpd::HTTP_INTERNAL_SERVER_ERROR);
            }
        }
    }
    match opened {
        Ok((m, adoption)) => {
            remove_at_exit(main, &path);
            notes.push(match adoption {
                crate::shm::Adoption::Adopted => {
                    format!("kept the balancer state of the previous generation in {path}")
                }
                crate::shm::Adoption::Initialised => {
                    format!("balancer state initialised in {path}")
                }
            });
            Ok((Some(m), lb_lock))
        }
        Err(e) => {
            httpd::log_error(
                Some(main),
                Level::Emerg,
                &format!("mod_rjk: JkShmFile: {e}"),
            );
            Err(httpd::HTTP_INTERNAL_SERVER_ERROR)
        }
    }
}

/// Every server's JK log (one logger per file and level), its runtime, its JkMountFile
/// reload, and the startup warnings.
fn open_logs(pool: &Pool, main: &Server, runtime: &Arc<Runtime>) -> Result<(), i32> {
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
                        return Err(httpd::HTTP_INTERNAL_SERVER_ERROR);
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
    Ok(())
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
        // Active health checks (src/health): a thread of this child when a worker is checked.
        start_health_checks(rt, sl.log.clone(), &main);
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

/// What the health check thread reads: the shared segment and the JK log.
struct HealthHost {
    rt: Arc<Runtime>,
    log: Option<Arc<Logger>>,
}

impl crate::health::Host for HealthHost {
    fn segment(&self) -> Option<&crate::shm::Segment> {
        self.rt.shm.as_ref().map(|s| s.segment())
    }

    fn log(&self, level: LogLevel, msg: &str) {
        if let Some(l) = &self.log {
            l.log(level, None, site!("health_check"), msg);
        }
    }
}

fn start_health_checks(rt: &Arc<Runtime>, log: Option<Arc<Logger>>, main: &Server) {
    let host = Arc::new(HealthHost {
        rt: rt.clone(),
        log,
    });
    if let Err(e) = crate::health::start(host, rt.workers.clone()) {
        httpd::log_error(
            Some(main),
            Level::Err,
            &format!("mod_rjk: cannot start the health check thread: {e}"),
        );
    }
}
