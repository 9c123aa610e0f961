//! Request flow: map the URI, pick the worker, serve the request; plus the lifecycle
//! steps (check_config, post_config, child_init) that prepare what requests use.

use std::collections::HashMap;
use std::sync::Arc;

use crate::config::directives::{LogLevel, ServerConf};
use crate::config::workers::{WorkerKind, WorkersConfig};
use crate::httpd::{self, Level, Pool, Request, Server};
use crate::log::Logger;
use crate::mapping::{self, NormalizeError};
use crate::site;

/// The handler name mod_jk uses; `SetHandler jakarta-servlet` setups rely on it.
pub const HANDLER: &std::ffi::CStr = c"jakarta-servlet";
const NOTE_WORKER: &std::ffi::CStr = c"JK_WORKER_NAME";
const NOTE_TYPE: &std::ffi::CStr = c"JK_WORKER_TYPE";

/// What httpd stores as our per-server configuration.
pub struct ServerSlot {
    pub conf: ServerConf,
    /// Set in post_config (parent, before fork), read-only afterwards.
    runtime: Option<Arc<Runtime>>,
    log: Option<Arc<Logger>>,
}

/// Process-wide state built once per configuration generation.
pub struct Runtime {
    pub workers: Arc<WorkersConfig>,
}

impl ServerSlot {
    pub fn new(is_vhost: bool) -> ServerSlot {
        ServerSlot {
            conf: ServerConf::new(is_vhost),
            runtime: None,
            log: None,
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
}

/// # Safety
/// Only for servers of the current generation, whose module config is our ServerSlot.
fn slot<'a>(s: &Server<'a>) -> &'a mut ServerSlot {
    // SAFETY: create/merge_server_config store a ServerSlot for every server; httpd keeps
    // it alive in the config pool for the whole generation. Mutation happens only in the
    // single-threaded config phase; request threads only read.
    unsafe { &mut *s.module_config::<ServerSlot>() }
}

pub fn check_config(_pool: &Pool, main: Server) -> i32 {
    let server_root = _pool.server_root_relative("");
    let conf = &mut slot(&main).conf;
    if let Err(e) = conf.finish_main(server_root.trim_end_matches('/'), &httpd::getenv) {
        httpd::log_startup(Level::Emerg, &format!("mod_rjk: {e}"));
        return httpd::HTTP_INTERNAL_SERVER_ERROR;
    }
    let workers = conf.workers.clone().expect("finish_main sets workers");
    for s in main.iter() {
        let c = &slot(&s).conf;
        for w in c.uri_map.workers() {
            if w != "*" && workers.get(w).is_none() {
                // mod_jk only logs this; requests for such rules then get 500.
                httpd::log_startup(
                    Level::Warning,
                    &format!(
                        "mod_rjk: a JkMount rule of the server defined at {} names worker '{w}', which is not defined in the workers configuration",
                        s.defined_at()
                    ),
                );
            }
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
    let main_conf = &slot(&main).conf;
    let Some(workers) = main_conf.workers.clone() else {
        httpd::log_error(
            Some(&main),
            Level::Emerg,
            "mod_rjk: workers configuration missing",
        );
        return httpd::HTTP_INTERNAL_SERVER_ERROR;
    };
    let runtime = Arc::new(Runtime { workers });

    let default_log = pool.server_root_relative("logs/mod_jk.log");
    let mut sinks: HashMap<String, Arc<Logger>> = HashMap::new();
    for s in main.iter() {
        let sl = slot(&s);
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
                        .map(|fd| Logger::from_fd(fd, level, &stamp))
                        .ok_or_else(|| format!("cannot start the piped logger '{program}'"))
                } else {
                    Logger::open_file(&path, level, &stamp)
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
    let main_slot = slot(&main);
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

pub fn child_init(_pool: &Pool, _main: Server) {
    // Per-child state (connection pools) is created lazily by the workers after fork.
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
    let sl = slot(&server);
    if sl.conf.uri_map.is_empty() {
        return strip_session(req, sl);
    }
    let Some(uri) = req.uri() else {
        return httpd::DECLINED;
    };
    let normalized = match mapping::normalize(&uri) {
        Ok(n) => n,
        Err(NormalizeError::TooLong) => return httpd::DECLINED,
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
    match sl.conf.uri_map.map(&normalized) {
        Some(m) => {
            let rid = request_id(req, &sl.conf);
            sl.log(
                LogLevel::Debug,
                rid.as_deref(),
                site!("translate"),
                &format!("mapped {uri} to worker {} by rule {}", m.worker, m.pattern),
            );
            req.set_uri(&normalized);
            req.set_handler(HANDLER);
            req.set_note(NOTE_WORKER, &m.worker);
            httpd::DECLINED
        }
        None => strip_session(req, sl),
    }
}

/// JkStripSession: a URI that is not forwarded loses its session path parameter, so
/// httpd can serve the static file it names.
fn strip_session(req: &mut Request, sl: &ServerSlot) -> i32 {
    let Some((true, name)) = &sl.conf.strip_session else {
        return httpd::DECLINED;
    };
    let param = format!("{name}=");
    if let Some(uri) = req.uri().and_then(|u| strip_path_parameter(&u, &param)) {
        req.set_uri(&uri);
    }
    if let Some(f) = req
        .filename()
        .and_then(|f| strip_path_parameter(&f, &param))
    {
        req.set_filename(&f);
    }
    httpd::DECLINED
}

/// map_to_storage: requests we mapped have no file behind them; skip httpd's
/// filesystem walk as mod_jk does.
pub fn map_to_storage(req: &Request) -> i32 {
    if req.note(NOTE_WORKER).is_some() && req.handler().as_deref() == Some("jakarta-servlet") {
        httpd::OK
    } else {
        httpd::DECLINED
    }
}

pub fn handle(req: &mut Request) -> i32 {
    if req.handler().as_deref() != Some("jakarta-servlet") || req.env("no-jk").is_some() {
        return httpd::DECLINED;
    }
    let server = req.server();
    let sl = slot(&server);
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
            sl.conf.uri_map.map(&n).map(|m| m.worker)
        });
    let Some(spec) = spec else {
        sl.log(
            LogLevel::Error,
            rid.as_deref(),
            site!("handler"),
            &format!(
                "no worker for {} (handler jakarta-servlet without a JkMount or {indicator})",
                req.uri().unwrap_or_default()
            ),
        );
        return httpd::HTTP_INTERNAL_SERVER_ERROR;
    };
    let worker_name = spec.split(';').next().unwrap_or("").trim().to_string();
    let Some(worker) = rt.workers.get(&worker_name) else {
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
    sl.log(
        LogLevel::Info,
        rid.as_deref(),
        site!("handler"),
        &format!(
            "worker {worker_name} (type {kind}) chosen for {} {}; this worker type is not served yet, answering 503",
            req.method(),
            req.uri().unwrap_or_default()
        ),
    );
    httpd::HTTP_SERVICE_UNAVAILABLE
}

/// Removes every `;<name>=value` path parameter (up to the next `;`, `/` or `?`).
fn strip_path_parameter(s: &str, param: &str) -> Option<String> {
    let mut pos = s.find(param)?;
    let mut out = s.to_string();
    loop {
        let end = out[pos + param.len()..]
            .find([';', '/', '?'])
            .map_or(out.len(), |e| pos + param.len() + e);
        out.replace_range(pos..end, "");
        match out.find(param) {
            Some(p) => pos = p,
            None => return Some(out),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::strip_path_parameter;

    #[test]
    fn strips_every_session_parameter() {
        let p = ";jsessionid=";
        assert_eq!(
            strip_path_parameter("/a/b.png;jsessionid=XYZ.t1", p).as_deref(),
            Some("/a/b.png")
        );
        assert_eq!(
            strip_path_parameter("/a;jsessionid=1/b;jsessionid=2;x=y", p).as_deref(),
            Some("/a/b;x=y")
        );
        assert_eq!(strip_path_parameter("/a/b", p), None);
    }
}
