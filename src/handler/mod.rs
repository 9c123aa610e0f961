//! The request shell: map the URI, pick the worker, serve the request by moving bytes
//! between httpd, the backend connections and the request policy ([`crate::dispatch`]).
//! [`lifecycle`] prepares what requests use, [`state`] holds it.

mod lifecycle;
mod state;
mod status_page;

pub use lifecycle::{check_config, child_init, post_config};
use state::Runtime;
pub use state::ServerSlot;
use status_page::serve_status;

use std::time::Duration;

use crate::ajp;
use crate::backend::{self, Client, ClientError, Outcome, RequestOptions};
use crate::config::directives::{Indicator, LogLevel, ServerConf, opt};
use crate::config::workers::{LbParams, WorkerKind};
use crate::dispatch::forward::{self, Forwarded};
use crate::dispatch::{self, AnswerLog, LbEnd};
use crate::httpd::{self, Request};
use crate::lb::{self, Balancer, LbRequest};
use crate::mapping;
use crate::shm;
use crate::site;

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
    let spec = match worker_spec(req, sl, directory, rid.as_deref()) {
        Ok(spec) => spec,
        Err(status) => return status,
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

/// The worker spec (`name;extensions`) of a request: the URI map's choice, else the
/// JkWorkerIndicator variable (SetHandler setups), else the map once more for requests
/// that reached us another way. None: declined, httpd serves it (usually a 404), as
/// mod_jk does.
fn worker_spec(
    req: &Request,
    sl: &ServerSlot,
    directory: bool,
    rid: Option<&str>,
) -> Result<String, i32> {
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
    spec.ok_or_else(|| {
        // As mod_jk: not ours after all, httpd serves it (usually a 404).
        if !directory {
            sl.log(
                LogLevel::Debug,
                rid,
                site!("handler"),
                &format!(
                    "no worker for {} (handler jakarta-servlet without a JkMount or {indicator}); declined",
                    req.uri().unwrap_or_default()
                ),
            );
        }
        httpd::DECLINED
    })
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
struct HttpdLb<'a, 'r, 'x, 'f> {
    req: &'a mut Request<'r>,
    rt: &'a Runtime,
    lb_name: &'a str,
    lbp: &'a LbParams,
    ext: &'a mapping::RuleExtensions,
    x: &'a mut Exchange<'x, 'f>,
    session_cookie: &'a str,
    log: &'a dyn Fn(LogLevel, String),
    /// The global lock while held (lock=Pessimistic only).
    locked: Option<httpd::GlobalLockGuard<'a>>,
}

impl dispatch::LbShell for HttpdLb<'_, '_, '_, '_> {
    fn lock(&mut self) {
        // lock=Pessimistic: choice and counters under the global lock.
        self.locked = self.rt.lb_lock(self.lbp);
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
    } else if a.status == httpd::OK {
        req.end_response();
    }
    a.status
}
