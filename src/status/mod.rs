//! The status worker ("JK Status Manager"): a pure request → response core that the
//! handler calls for requests mapped to a `type=status` worker.
//!
//! # Commands (`cmd=`)
//!
//! | cmd | parameters | changes state | answer |
//! |---|---|---|---|
//! | `list` (default) | – | no | every lb (config, summary, members), every listed ajp13 worker, the URI maps |
//! | `show` | `w` | no | the same for one worker (an lb, or any ajp13 worker incl. lb members) |
//! | `edit` | `w`, optional `sw` or `att` | no (HTML form) | member form (`sw`), one attribute for all members (`att`), or the lb settings |
//! | `update` | `w`, optional `sw` (with `*`/`?`), `v…` params, or `att` + `val0..valN` | yes | result |
//! | `reset` | `w`, optional `sw` (with `*`/`?`) | yes | zero the statistics of the lb (all members) or of the matched members |
//! | `recover` | `w` `sw` | yes | matched members in ERR or ERR/FRC go to ERR/REC now; 409 when none was in error |
//! | `version` | – | no | server, time and software only |
//! | `dump` | – | no | the workers.properties map as loaded (runtime changes are not shown) |
//!
//! Other parameters: `mime` (`html` default, `xml`, `txt`, `prop`, and beyond mod_jk
//! `json` and `prometheus`), `re` (HTML auto-refresh in seconds, 0 = off, at most
//! [`MAX_REFRESH`]), `opt` (mod_jk's bitmask, decimal or `0x` hex: 0x1 hide members, 0x2
//! hide maps, 0x4 hide legend, 0x8 hide lbs, 0x10 hide ajp workers, 0x20 read-only view,
//! 0x40 hide lb configuration, 0x80 hide lb summary, 0x100 hide member ajp configuration),
//! `from` (`show` makes an HTML update return to the show page). An unknown `cmd`, `mime`
//! or malformed parameter answers 400, an unknown worker or member 404; errors are never
//! answered with 200 (mod_jk answers its errors with 200).
//!
//! # Editable values (`update`)
//!
//! mod_jk's parameter names. Member (`w`=lb, `sw`=member or wildcard): `vwa` activation
//! (`Active`/`Disabled`/`Stopped`, first letter or 0/1/2), `vwf` lbfactor 1..2147483647,
//! `vwn` route (non-empty), `vwr` redirect, `vwc` domain (these three: at most 63 bytes of
//! printable ASCII without blanks and without `<>"'&\` and backquote; a route must not be
//! used by another member of the lb), `vwd` distance 0..2147483647. Lb (`w`=lb, no `sw`, no
//! `att`): `vlr` retries 1..100, `vlri` retry_interval 1..3600000 ms, `vlt` recover_time
//! 1..604800 s, `vlee` error_escalation_time 0..604800 s, `vlx` max_reply_timeouts
//! 0..1000000, `vls` sticky_session and `vlf` sticky_session_force (mod_jk booleans),
//! `vlm` method (`R/T/B/S/N` or 0..4). Multi-member (`att`=one member parameter name,
//! `valN` = value for the N-th member, 0-based in `balance_workers` order; missing `valN`
//! leaves that member alone).
//!
//! ajp13 values, of a standalone worker (`w`=worker) or of members (`w`=lb, `sw` or `att`):
//! `vahst` host (must resolve, or be `unix:/absolute/path`), `vaprt` port 0..65535, `vacpt` connection_pool_timeout (s),
//! `vapng` ping_timeout, `vact` connect_timeout, `vapt` prepost_timeout, `vart`
//! reply_timeout (ms, 0..2147483647), `var` retries and `vari` retry_interval (ms) and
//! `vacpi` connection_ping_interval (s) 1..2147483647, `varo` recovery_options, `vabl`
//! busy_limit, `vamps` max_packet_size 8192..65536 in steps of 1024. A value equal to the
//! current one is always accepted (mod_jk's form sends them all). They live in the worker's
//! shared slot: every child applies them to its connection pool before its next request,
//! and a new host or port closes the idle pooled connections (connections in use are closed
//! when they come back). Not editable: `vll` lock (400). Every request is validated
//! completely before the first change is applied. Changed values are returned in [`StatusResponse::log`] in mod_jk's
//! wording for the JK log.
//!
//! # Security model
//!
//! (CVE-2007-6420/6421/6422 and CVE-2018-11759 class problems of status pages.)
//!
//! * Access control is httpd's (`Require`); `user=` additionally compares `REMOTE_USER`
//!   with the configured list (`user_case_insensitive`); with a list and no user: 403.
//! * `read_only` workers and views with `opt` bit 0x20 refuse `edit`, `update`, `reset` and
//!   `recover` with 403.
//! * **POST** requests (all the HTML page ever sends to change state) must carry the
//!   per-server random token in the form field `csrf`; a POST without it or with a wrong one
//!   is refused with 403, whatever the command. The page's links (list, show, edit, formats,
//!   refresh) are plain GETs that change nothing.
//! * **Any state change** (`update`, `reset`, `recover`, by GET or POST) and any POST is
//!   refused with 403 when the request carries a browser's cross-site marker:
//!   `Sec-Fetch-Site: cross-site` or `same-site`; an `Origin` header that is `null`, not
//!   parseable, or whose host:port differs from the `Host` header (default ports 80/443
//!   of the origin's scheme normalised); without `Origin`, a `Referer` whose host:port
//!   differs (or that is not an absolute http(s) URL).
//! * Therefore a plain **GET** `?cmd=update&w=lb&sw=tomcat1&vwa=1` **without** such markers
//!   (curl and scripts written for mod_jk) still works. Browsers since 2020–2023 (Chrome 76,
//!   Firefox 90, Safari 16.4) send `Sec-Fetch-Site` on every request, so a link or image on
//!   another site cannot trigger a GET update there; very old browsers that send neither
//!   `Sec-Fetch-Site` nor a `Referer` could. Use `read_only` (or `Require`) on a status
//!   worker that browsers reach if that matters. Behind a reverse proxy the `Host` seen by
//!   httpd must be the browser's (`ProxyPreserveHost On`), or same-origin POSTs are refused.
//! * HTML answers carry `Content-Security-Policy` (no scripts at all, `frame-ancestors
//!   'none'`, `form-action 'self'`), `X-Frame-Options: DENY`, `X-Content-Type-Options:
//!   nosniff`, `Referrer-Policy: same-origin` and no-cache headers.
//! * Every value is escaped for its format (HTML text and attributes, XML attributes, JSON
//!   strings, Prometheus label values, txt tokens, Java-properties keys and values).
//!   Parameters are percent-decoded once, must be UTF-8 without control characters, and are
//!   validated (numbers in range, worker and member names from the configuration) before
//!   use. Nothing here panics on any input.
//! * No secret is ever shown: `dump` omits keys ending in `secret`/`secretkey` and hides any
//!   value that contains a configured secret; the other outputs never include secrets.
//!
//! # Differences from mod_jk's output
//!
//! Counters mean mod_jk's: `transferred` counts the AJP bytes sent to the backend (request
//! and body packets), `read` the AJP bytes read from it (response packets), per request and
//! whatever its outcome; `connected`/`max_connected` the backend connections open in all
//! children and their peak since the last reset (a child closes its pooled connections
//! when it exits, as mod_jk's do). `show` answers the worker's elements
//! without the list wrappers and counts, and with `sw` only that member. The URI maps are
//! those of every server, the main one first, named as mod_jk names them (`host:port`, or
//! `host` without a configured port, and `host [address:port]` for a virtual host), in
//! every format. `time_to_recover_*` and `time_to_maintenance_*` are
//! estimates from the last maintenance and error times. `address` is `host:port` as
//! configured. Times in txt/prop/xml use mod_jk's `%Y%m%d%H%M%S`, in UTC (`tz=+0000`).
//! `lb_retries`, `retry_interval` and `rating` are shown in JSON only (mod_jk 1.2.48's
//! formats have no such keys).
//!
//! # JSON (`mime=json`)
//!
//! ```text
//! {
//!   "rjk_status": 1,                                   // schema version
//!   "server": {"name": str, "port": int},
//!   "time": {"datetime": "YYYYMMDDhhmmss", "tz": "UTC", "unix": int},
//!   "software": {"web_server": str, "jk_version": str},
//!   "read_only": bool,
//!   "balancers": [{                                    // absent with opt 0x8
//!     "name": str, "type": "lb", "sticky_session": bool, "sticky_session_force": bool,
//!     "retries": int, "lb_retries": int, "retry_interval": int (ms), "recover_time": int (s),
//!     "error_escalation_time": int (s), "max_reply_timeouts": int, "method": str,
//!     "lock": str, "member_count": int, "good": int, "degraded": int, "bad": int,
//!     "status": "good"|"degraded"|"bad", "busy": int, "max_busy": int, "map_count": int,
//!     "time_to_maintenance_min": int, "time_to_maintenance_max": int,
//!     "last_reset_at": int (unix s), "last_reset_ago": int (s),
//!     "members": [{                                    // absent with opt 0x1
//!       "name": str, "type": "ajp13", "host": str, "port": int, "address": str,
//!       "source": str, "connection_pool_timeout": int, "ping_timeout": int,
//!       "connect_timeout": int, "prepost_timeout": int, "reply_timeout": int,
//!       "retries": int, "connection_ping_interval": int, "recovery_options": int,
//!       "busy_limit": int, "max_packet_size": int,
//!       "activation": "ACT"|"DIS"|"STP", "lbfactor": int, "route": str, "redirect": str,
//!       "domain": str, "distance": int,
//!       "state": "OK/IDLE"|"OK"|"ERR/REC"|"ERR/FRC"|"OK/BUSY"|"ERR"|"ERR/PRB",
//!       "rating": "good"|"degraded"|"bad", "lbmult": int, "lbvalue": int,
//!       "elected": int, "sessions": int, "errors": int, "client_errors": int,
//!       "reply_timeouts": int, "transferred": int (AJP bytes sent to the backend),
//!       "read": int (AJP bytes read from the backend), "busy": int, "max_busy": int,
//!       "connected": int, "max_connected": int (backend connections, all children),
//!       "time_to_recover_min": int, "time_to_recover_max": int,
//!       "last_reset_at": int, "last_reset_ago": int,
//!       "error_time_unix_seconds": int|null, "error_time_ago": int|null
//!     }],
//!     "maps": [map]                                    // absent with opt 0x2
//!   }],
//!   "ajp_workers": [{ the ajp13 keys of a member (name … max_packet_size), "used": int,
//!                     "errors": int, "client_errors": int, "reply_timeouts": int,
//!                     "transferred": int, "read": int, "busy": int, "max_busy": int,
//!                     "connected": int, "max_connected": int, "map_count": int,
//!                     "last_reset_at": int, "last_reset_ago": int,
//!                     "maps": [map] }],               // absent with opt 0x10
//!   "result": {"type": "OK"|"ERROR", "message": str}
//! }
//! map = {"id": int, "server": str, "uri": str (with -/! prefixes), "worker": str,
//!        "type": "Exact"|"Wildchar" (prefixed "Disabled "/"Unmount "), "source": str,
//!        "extensions": str}
//! ```
//! `cmd=dump` answers `{"rjk_status": 1, "configuration": {key: value, …}, "result": …}`;
//! errors answer `{"rjk_status": 1, "result": {"type": "ERROR", "message": str}}` with the
//! 4xx status; a successful `update`/`reset`/`recover` adds `"changes": [str]` to `result`.
//!
//! # Prometheus (`mime=prometheus`, text exposition format 0.0.4)
//!
//! Labels `lb` and `member` on every member series, `worker` on every series of a listed
//! standalone ajp13 worker (`rjk_ajp_*`).
//!
//! | metric | type | meaning |
//! |---|---|---|
//! | `rjk_info{version,web_server}` | gauge | always 1 |
//! | `rjk_member_state{lb,member,state}` | gauge | 1 for the member's current state, 0 for the six others (state = mod_jk's text: `OK/IDLE`, `OK`, `ERR/REC`, `ERR/FRC`, `OK/BUSY`, `ERR`, `ERR/PRB`) |
//! | `rjk_member_activation{lb,member,activation}` | gauge | 1 for the current activation (`ACT`, `DIS`, `STP`), 0 otherwise |
//! | `rjk_member_up{lb,member}` | gauge | 1 when the member takes new requests (Active and OK/IDLE/OK/ERR/REC/ERR/FRC) |
//! | `rjk_member_requests_total` | counter | requests assigned to the member (mod_jk's "elected") |
//! | `rjk_member_errors_total` | counter | backend errors |
//! | `rjk_member_client_errors_total` | counter | errors caused by clients |
//! | `rjk_member_reply_timeouts` | gauge | reply timeouts (decayed at maintenance) |
//! | `rjk_member_busy` / `rjk_member_max_busy` | gauge | requests in flight now / peak since reset |
//! | `rjk_member_read_bytes_total` | counter | AJP bytes read from the member (mod_jk's `read`) |
//! | `rjk_member_written_bytes_total` | counter | AJP bytes sent to the member (mod_jk's `transferred`) |
//! | `rjk_member_sessions_total` | counter | session-less requests (mod_jk's "sessions") |
//! | `rjk_member_connected` / `rjk_member_max_connected` | gauge | backend connections open in all children now / peak since reset |
//! | `rjk_member_lbfactor`, `rjk_member_lb_value`, `rjk_member_distance` | gauge | balancing values |
//! | `rjk_member_last_error_timestamp_seconds` | gauge | unix time of the last error, 0 for none |
//! | `rjk_member_latency_seconds` | histogram | `_bucket{le}`, `_sum`, `_count` per member: time from sending the request to END_RESPONSE of each completed request |
//! | `rjk_lb_members{lb,rating}` | gauge | members rated `good`, `degraded`, `bad` by the `good`/`bad` rules |
//! | `rjk_lb_busy` / `rjk_lb_max_busy` | gauge | requests in flight on the lb |
//! | `rjk_ajp_requests_total{worker}` | counter | requests of a standalone ajp13 worker (mod_jk's `used`) |
//! | `rjk_ajp_errors_total`, `rjk_ajp_client_errors_total`, `rjk_ajp_reply_timeouts_total` | counter | its backend errors, client errors, reply timeouts |
//! | `rjk_ajp_busy` / `rjk_ajp_max_busy` | gauge | its requests in flight now / peak since reset |
//! | `rjk_ajp_read_bytes_total` / `rjk_ajp_written_bytes_total` | counter | AJP bytes read from / sent to its backend |
//! | `rjk_ajp_connected` / `rjk_ajp_max_connected` | gauge | its backend connections open in all children now / peak since reset |
//! | `rjk_ajp_latency_seconds{worker}` | histogram | as the member histogram, for the standalone worker |
//!
//! The `opt` bits do not apply to this format.

use self::actions::{member_attr, recover, reset, update};
use self::escape as esc;
use self::params::{Cmd, Done, Mime, Params, quote_short};
use self::view::{Page, dump_entries};
use crate::config::workers::{StatusParams, WorkerKind, WorkersConfig};
use crate::mapping::{MatchKind, Rule, RuleExtensions};
use crate::shm::Segment;

/// `write!` into a `String`, which cannot fail.
macro_rules! out {
    ($dst:expr, $($arg:tt)*) => {{
        use std::fmt::Write as _;
        let _ = write!($dst, $($arg)*);
    }};
}

mod access;
mod actions;
mod escape;
mod formats;
mod html;
mod params;
mod view;

/// Highest accepted `re` (seconds).
pub const MAX_REFRESH: u32 = 3600;
/// Longest query string or form body accepted.
const MAX_QUERY_LEN: usize = 16 * 1024;
const MAX_FORM_LEN: usize = 64 * 1024;
/// Parameters per request.
const MAX_PARAMS: usize = 256;
/// A CSRF token shorter than this is treated as "not configured": every POST is refused.
const MIN_TOKEN_LEN: usize = 16;
/// The HTML answer to a GET update returns to the list after this many seconds.
const RESULT_REFRESH_SECS: u32 = 3;

pub const OPT_NO_MEMBERS: u32 = 0x1;
pub const OPT_NO_MAPS: u32 = 0x2;
pub const OPT_NO_LEGEND: u32 = 0x4;
pub const OPT_NO_LB: u32 = 0x8;
pub const OPT_NO_AJP: u32 = 0x10;
pub const OPT_READ_ONLY: u32 = 0x20;
pub const OPT_NO_LB_CONF: u32 = 0x40;
pub const OPT_NO_LB_SUMMARY: u32 = 0x80;
pub const OPT_NO_AJP_CONF: u32 = 0x100;
const OPT_ALL: u32 = 0x1ff;

// ---------------------------------------------------------------------------------------
// Public interface
// ---------------------------------------------------------------------------------------

/// What the status worker needs to know about the request.
#[derive(Debug, Clone, Copy)]
pub struct StatusRequest<'a> {
    /// `GET`, `HEAD`, `POST`; anything else answers 405.
    pub method: &'a str,
    /// Raw (undecoded) query string, without `?`.
    pub query: &'a str,
    /// POST body (`application/x-www-form-urlencoded`); empty otherwise.
    pub form: &'a [u8],
    pub remote_user: Option<&'a str>,
    pub sec_fetch_site: Option<&'a str>,
    pub origin: Option<&'a str>,
    pub referer: Option<&'a str>,
    /// `Host` header value, for the same-origin checks.
    pub host: &'a str,
    pub user_agent: Option<&'a str>,
    /// Any `Sec-Fetch-*` header, or `Upgrade-Insecure-Requests`: only browsers send them.
    pub browser_headers: bool,
    /// The URI path the manager is mounted at (decoded), for links and form actions.
    pub path: &'a str,
}

/// Latency histogram of a member (global member index): cumulative `(upper bound in
/// seconds, count)` pairs in increasing bound order ending with `f64::INFINITY` (otherwise
/// the last count is taken as the total), and the sum of all observations in seconds — the
/// shape of `Balancer::latency`. `None`: no data.
pub type LatencySource<'a> = &'a dyn Fn(usize) -> Option<(Vec<(f64, u64)>, f64)>;

/// Everything the status worker reads besides the request.
pub struct StatusContext<'a> {
    /// Name of this status worker.
    pub worker: &'a str,
    pub params: &'a StatusParams,
    pub workers: &'a WorkersConfig,
    /// Live lb state; `None` when there is no lb.
    pub segment: Option<&'a Segment>,
    /// Per server (main server, virtual hosts): a display name and its URI map.
    pub maps: &'a [(String, Vec<MapRow>)],
    /// `host:port` of the server, e.g. `127.0.0.1:8080`.
    pub server: &'a str,
    /// httpd's server banner, e.g. `Apache/2.4.62 (Debian) mod_rjk/0.1.0`.
    pub software: &'a str,
    /// Per-server random token (hex) generated at startup.
    pub csrf_token: &'a str,
    /// The server's `ServerName` and `ServerAlias` names (lower-case; aliases may be
    /// globs): the `Host` names the page answers for, with localhost, IP literals and the
    /// status worker's `allowed_hosts`.
    pub server_names: &'a [String],
    /// Wall clock in milliseconds since the epoch.
    pub now_ms: u64,
    pub latency: LatencySource<'a>,
}

/// The answer. `body` is empty for HEAD.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusResponse {
    pub status: u16,
    pub content_type: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// One line per applied change, in mod_jk's wording, for the JK log at info level
    /// (e.g. `Status worker 'jkstatus' changing 'activation' for sub worker 'tomcat1' of lb
    /// worker 'load_balancer' from 'ACT' to 'DIS'`).
    pub log: Vec<String>,
}

impl StatusResponse {
    pub fn body_text(&self) -> &str {
        std::str::from_utf8(&self.body).unwrap_or("")
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// One row of a URI map as the status page shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MapRow {
    /// The pattern with mod_jk's prefixes: `-` disabled, `!` unmount.
    pub pattern: String,
    pub worker: String,
    pub kind: MatchKind,
    /// `JkMount`, `uriworkermap` or `worker definition`.
    pub source: String,
    pub extensions: RuleExtensions,
}

impl MapRow {
    pub fn from_rule(rule: &Rule) -> MapRow {
        MapRow {
            pattern: rule.display_pattern(),
            worker: rule.worker().to_owned(),
            kind: rule.kind(),
            source: rule.source().as_str().to_owned(),
            extensions: rule.extensions().clone(),
        }
    }

    /// The pattern without the `-`/`!` prefixes.
    pub fn uri(&self) -> &str {
        self.pattern.trim_start_matches('-').trim_start_matches('!')
    }

    pub fn is_disabled(&self) -> bool {
        self.pattern.starts_with('-')
    }

    pub fn is_unmount(&self) -> bool {
        self.pattern.trim_start_matches('-').starts_with('!')
    }

    /// mod_jk's match type text: `[Disabled ][Unmount ]Exact|Wildchar`.
    pub fn type_text(&self) -> String {
        let mut s = String::new();
        if self.is_disabled() {
            s.push_str("Disabled ");
        }
        if self.is_unmount() {
            s.push_str("Unmount ");
        }
        s.push_str(match self.kind {
            MatchKind::Exact => "Exact",
            MatchKind::Wildchar => "Wildchar",
        });
        s
    }

    /// The rule extensions as `key=value` pairs separated by `;` (empty when none).
    pub fn extensions_text(&self) -> String {
        self.extensions.to_string()
    }
}

/// Answers one request to the status worker.
pub fn handle(req: &StatusRequest, ctx: &StatusContext) -> StatusResponse {
    let mut resp = respond(req, ctx);
    if req.method == "HEAD" {
        resp.body.clear();
    }
    resp
}

// ---------------------------------------------------------------------------------------
// Responding
// ---------------------------------------------------------------------------------------

fn common_headers(mime: Mime, css: Option<&str>) -> Vec<(String, String)> {
    let mut h = vec![
        (
            "Cache-Control".to_owned(),
            "no-store, no-cache, must-revalidate, max-age=0".to_owned(),
        ),
        ("Pragma".to_owned(), "no-cache".to_owned()),
        ("Expires".to_owned(), "0".to_owned()),
        ("X-Content-Type-Options".to_owned(), "nosniff".to_owned()),
        ("X-Frame-Options".to_owned(), "DENY".to_owned()),
        ("Referrer-Policy".to_owned(), "same-origin".to_owned()),
    ];
    let style = if css.is_some() {
        "'unsafe-inline' 'self' https: http:"
    } else {
        "'unsafe-inline'"
    };
    let csp = if mime == Mime::Html {
        format!(
            "default-src 'none'; style-src {style}; img-src data:; form-action 'self'; \
             frame-ancestors 'none'; base-uri 'none'"
        )
    } else {
        "default-src 'none'; frame-ancestors 'none'".to_owned()
    };
    h.push(("Content-Security-Policy".to_owned(), csp));
    h
}

fn response(status: u16, mime: Mime, css: Option<&str>, body: String) -> StatusResponse {
    StatusResponse {
        status,
        content_type: mime.content_type().to_owned(),
        headers: common_headers(mime, css),
        body: body.into_bytes(),
        log: Vec::new(),
    }
}

/// An error before the output format is known.
fn plain_error(status: u16, message: &str) -> StatusResponse {
    response(status, Mime::Txt, None, format!("{message}\n"))
}

/// Parsed view settings shared by the commands.
struct Request<'a> {
    raw: &'a StatusRequest<'a>,
    params: Params,
    cmd: Cmd,
    mime: Mime,
    post: bool,
    opt: u32,
    refresh: u32,
}

fn respond(req: &StatusRequest, ctx: &StatusContext) -> StatusResponse {
    let (params, post, mime) = match read_request(req) {
        Ok(read) => read,
        Err(resp) => return resp,
    };
    let fail = |status: u16, message: &str| error_response(ctx, req, mime, status, message);
    if let Err((status, message)) = access::admit(req, ctx) {
        return fail(status, &message);
    }
    let (cmd, opt, refresh) = match params::view_settings(&params) {
        Ok(settings) => settings,
        Err(message) => return fail(400, message),
    };
    if req.method == "HEAD" && cmd.changes_state() {
        let mut r = fail(405, "State changes need GET or POST.");
        r.headers.push(("Allow".to_owned(), "GET, POST".to_owned()));
        return r;
    }
    if let Err((status, message)) = access::guard(req, ctx, &params, cmd, opt, post) {
        return fail(status, &message);
    }
    let r = Request {
        raw: req,
        params,
        cmd,
        mime,
        post,
        opt,
        refresh,
    };
    let result = match cmd {
        Cmd::List | Cmd::Version => Ok(render_page(ctx, &r, None)),
        Cmd::Show => show(ctx, &r),
        Cmd::Dump => dump(ctx, &r),
        Cmd::Edit => edit(ctx, &r),
        Cmd::Update | Cmd::Reset | Cmd::Recover => act(ctx, &r),
    };
    result.unwrap_or_else(|(status, message)| fail(status, &message))
}

/// The method, the parameters of the query (and of the form of a POST) and the output
/// format; a plain-text error when any of them is unusable.
fn read_request(req: &StatusRequest) -> Result<(Params, bool, Mime), StatusResponse> {
    let post = match req.method {
        "GET" | "HEAD" => false,
        "POST" => true,
        _ => {
            let mut r = plain_error(405, "Method not allowed: use GET, HEAD or POST.");
            r.headers
                .push(("Allow".to_owned(), "GET, HEAD, POST".to_owned()));
            return Err(r);
        }
    };
    if req.query.len() > MAX_QUERY_LEN {
        return Err(plain_error(414, "Query string too long."));
    }
    if req.form.len() > MAX_FORM_LEN {
        return Err(plain_error(413, "Form too large."));
    }
    let mut params = Params::parse(req.query.as_bytes()).map_err(|e| plain_error(400, &e))?;
    if post {
        params.add(req.form).map_err(|e| plain_error(400, &e))?;
    }
    let mime = match params.get_nonempty("mime") {
        None => Mime::Html,
        Some(m) => Mime::parse(m).ok_or_else(|| {
            plain_error(
                400,
                "Invalid mime type: use html, xml, txt, prop, json or prometheus.",
            )
        })?,
    };
    Ok((params, post, mime))
}

type Failure = (u16, String);

fn error_response(
    ctx: &StatusContext,
    req: &StatusRequest,
    mime: Mime,
    status: u16,
    message: &str,
) -> StatusResponse {
    let page = Page::build(ctx, req.path, Cmd::Version, None, 0, 0);
    let body = match mime {
        Mime::Html => html::message_page(&page, false, message, None, &[]),
        Mime::Xml => formats::xml(&page, Some((false, message))),
        Mime::Txt => formats::txt(&page, Some((false, message))),
        Mime::Prop => formats::prop(&page, Some((false, message))),
        Mime::Json => formats::json(&page, Some((false, message)), &[]),
        Mime::Prometheus => format!("# error: {}\n", esc::txt(message)),
    };
    let mime = if mime == Mime::Prometheus {
        Mime::Txt
    } else {
        mime
    };
    response(status, mime, ctx.params.css.as_deref(), body)
}

fn page_for<'a>(ctx: &'a StatusContext<'a>, r: &'a Request<'a>, show: Option<&'a str>) -> Page<'a> {
    let mut page = Page::build(ctx, r.raw.path, r.cmd, show, r.opt, r.refresh);
    page.notice = r.params.get("ok").and_then(Done::parse);
    // `show` with `sw`: that member only, as mod_jk.
    if let (Some(_), Some(sw)) = (show, r.params.get_nonempty("sw")) {
        for lb in &mut page.lbs {
            lb.members.retain(|m| m.snap.name == sw);
        }
    }
    page
}

fn render_page(ctx: &StatusContext, r: &Request, show: Option<&str>) -> StatusResponse {
    let page = page_for(ctx, r, show);
    let body = match r.mime {
        Mime::Html => html::page(&page),
        Mime::Xml => formats::xml(&page, Some((true, "Action finished"))),
        Mime::Txt => formats::txt(&page, Some((true, "Action finished"))),
        Mime::Prop => formats::prop(&page, Some((true, "Action finished"))),
        Mime::Json => formats::json(&page, Some((true, "Action finished")), &[]),
        Mime::Prometheus => formats::prometheus(&page),
    };
    response(200, r.mime, ctx.params.css.as_deref(), body)
}

fn show(ctx: &StatusContext, r: &Request) -> Result<StatusResponse, Failure> {
    let w = r
        .params
        .get_nonempty("w")
        .ok_or((400, "Missing parameter w (the worker to show).".to_owned()))?;
    let def = ctx
        .workers
        .get(w)
        .ok_or_else(|| (404, format!("Unknown worker {}.", quote_short(w))))?;
    if matches!(def.kind, WorkerKind::Status(_)) {
        return Err((
            400,
            format!("Worker {} is a status worker.", quote_short(w)),
        ));
    }
    if let (Some(lb), Some(sw)) = (def.lb(), r.params.get_nonempty("sw")) {
        if !lb.balance_workers.iter().any(|m| m == sw) {
            return Err((404, format!("Unknown member {}.", quote_short(sw))));
        }
    }
    Ok(render_page(ctx, r, Some(def.name.as_str())))
}

fn dump(ctx: &StatusContext, r: &Request) -> Result<StatusResponse, Failure> {
    let page = page_for(ctx, r, None);
    let entries = dump_entries(ctx.workers);
    let body = match r.mime {
        Mime::Html => html::dump(&page, &entries),
        Mime::Xml => formats::xml_dump(&page, &entries),
        Mime::Txt => formats::txt_dump(&page, &entries),
        Mime::Prop => formats::prop_dump(&page, &entries),
        Mime::Json => formats::json_dump(&page, &entries),
        Mime::Prometheus => {
            return Err((400, "dump is not available as prometheus.".to_owned()));
        }
    };
    Ok(response(200, r.mime, ctx.params.css.as_deref(), body))
}

fn edit(ctx: &StatusContext, r: &Request) -> Result<StatusResponse, Failure> {
    if r.mime != Mime::Html {
        return Err((400, "edit is only available as html.".to_owned()));
    }
    let w = r
        .params
        .get_nonempty("w")
        .ok_or((400, "Missing parameter w (the worker to edit).".to_owned()))?;
    let def = ctx
        .workers
        .get(w)
        .ok_or_else(|| (404, format!("Unknown worker {}.", quote_short(w))))?;
    let page = page_for(ctx, r, Some(def.name.as_str()));
    let from = r.params.get("from").filter(|f| *f == "show");
    let body = match &def.kind {
        WorkerKind::Lb(_) => {
            let lb = page
                .lbs
                .first()
                .ok_or((404, "Unknown load balancer.".to_owned()))?;
            if let Some(sw) = r.params.get_nonempty("sw") {
                let m = lb
                    .member(sw)
                    .ok_or_else(|| (404, format!("Unknown member {}.", quote_short(sw))))?;
                html::edit_member(&page, lb, m, from)
            } else if let Some(att) = r.params.get_nonempty("att") {
                let spec = member_attr(att).ok_or_else(|| {
                    (
                        400,
                        format!(
                            "Attribute {} cannot be edited for all members in mod_rjk.",
                            quote_short(att)
                        ),
                    )
                })?;
                html::edit_attribute(&page, lb, spec, from)
            } else {
                html::edit_lb(&page, lb, from)
            }
        }
        WorkerKind::Ajp13(_) => {
            let ajp = page
                .ajps
                .first()
                .ok_or((404, "Unknown worker.".to_owned()))?;
            html::edit_ajp(&page, ajp)
        }
        WorkerKind::Status(_) => {
            return Err((
                400,
                format!("Worker {} is a status worker.", quote_short(w)),
            ));
        }
    };
    Ok(response(200, Mime::Html, ctx.params.css.as_deref(), body))
}

/// update / reset / recover, then the answer for the format.
fn act(ctx: &StatusContext, r: &Request) -> Result<StatusResponse, Failure> {
    let log = match r.cmd {
        Cmd::Update => update(ctx, &r.params)?,
        Cmd::Reset => reset(ctx, &r.params)?,
        _ => recover(ctx, &r.params)?,
    };
    let done = Done::from_cmd(r.cmd).unwrap_or(Done::Update);
    let from_show = r.params.get("from") == Some("show");
    let w = r.params.get("w").unwrap_or("");
    // Where the browser goes next: the list (or the worker's show page), view kept.
    let page = page_for(ctx, r, None);
    let mut back: Vec<(&str, &str)> = if from_show {
        vec![("cmd", "show"), ("w", w)]
    } else {
        vec![("cmd", "list")]
    };
    let mut resp = if r.mime == Mime::Html && r.post {
        back.push(("ok", done.as_str()));
        let location = page.url(&back);
        let mut resp = response(
            303,
            Mime::Html,
            ctx.params.css.as_deref(),
            html::message_page(&page, true, done.message(), Some(&location), &log),
        );
        resp.headers.push(("Location".to_owned(), location));
        resp
    } else {
        let message = if log.is_empty() && r.cmd == Cmd::Update {
            "Action finished (nothing changed)"
        } else {
            "Action finished"
        };
        let body = match r.mime {
            Mime::Html => {
                let location = page.url(&back);
                html::message_page(&page, true, done.message(), Some(&location), &log)
            }
            // mod_jk's words, whatever changed.
            Mime::Xml | Mime::Txt | Mime::Prop => {
                formats::action_result(&page, r.mime, Some((true, "Action finished")))
            }
            Mime::Json => formats::json(&page, Some((true, message)), &log),
            Mime::Prometheus => format!("# {message}\n"),
        };
        let mime = if r.mime == Mime::Prometheus {
            Mime::Txt
        } else {
            r.mime
        };
        response(200, mime, ctx.params.css.as_deref(), body)
    };
    resp.log = log;
    Ok(resp)
}

#[cfg(test)]
mod tests;
