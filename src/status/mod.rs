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

use std::fmt;

use crate::config::properties::parse_bool;
use crate::config::workers::{
    Activation, AjpParams, LbLock, LbMethod, LbParams, StatusParams, WorkerKind, WorkersConfig,
};
use crate::lb::{Balancer, LbSettings, MemberSnapshot, MemberState};
use crate::mapping::{MatchKind, Rule, RuleExtensions};
use crate::shm::{AjpSettings, AjpSlot, AjpStats, MAX_STR_LEN, Segment};

/// `write!` into a `String`, which cannot fail.
macro_rules! out {
    ($dst:expr, $($arg:tt)*) => {{
        use std::fmt::Write as _;
        let _ = write!($dst, $($arg)*);
    }};
}

mod formats;
mod html;

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
// Commands, formats, parameters
// ---------------------------------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Cmd {
    List,
    Show,
    Edit,
    Update,
    Reset,
    Recover,
    Version,
    Dump,
}

impl Cmd {
    fn parse(s: &str) -> Option<Cmd> {
        Some(match s {
            "list" => Cmd::List,
            "show" => Cmd::Show,
            "edit" => Cmd::Edit,
            "update" => Cmd::Update,
            "reset" => Cmd::Reset,
            "recover" => Cmd::Recover,
            "version" => Cmd::Version,
            "dump" => Cmd::Dump,
            _ => return None,
        })
    }

    fn changes_state(self) -> bool {
        matches!(self, Cmd::Update | Cmd::Reset | Cmd::Recover)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mime {
    Html,
    Xml,
    Txt,
    Prop,
    Json,
    Prometheus,
}

impl Mime {
    fn parse(s: &str) -> Option<Mime> {
        Some(match s {
            "html" => Mime::Html,
            "xml" => Mime::Xml,
            "txt" => Mime::Txt,
            "prop" => Mime::Prop,
            "json" => Mime::Json,
            "prometheus" => Mime::Prometheus,
            _ => return None,
        })
    }

    fn content_type(self) -> &'static str {
        match self {
            Mime::Html => "text/html; charset=utf-8",
            Mime::Xml => "text/xml; charset=utf-8",
            Mime::Txt | Mime::Prop => "text/plain; charset=utf-8",
            Mime::Json => "application/json",
            Mime::Prometheus => "text/plain; version=0.0.4; charset=utf-8",
        }
    }
}

/// The action a redirected-to page reports (`ok=` parameter): a fixed text, never echoed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Done {
    Update,
    Reset,
    Recover,
}

impl Done {
    fn parse(s: &str) -> Option<Done> {
        Some(match s {
            "update" => Done::Update,
            "reset" => Done::Reset,
            "recover" => Done::Recover,
            _ => return None,
        })
    }

    fn from_cmd(cmd: Cmd) -> Option<Done> {
        Some(match cmd {
            Cmd::Update => Done::Update,
            Cmd::Reset => Done::Reset,
            Cmd::Recover => Done::Recover,
            _ => return None,
        })
    }

    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Done::Update => "update",
            Done::Reset => "reset",
            Done::Recover => "recover",
        }
    }

    pub(crate) fn message(self) -> &'static str {
        match self {
            Done::Update => "Changes applied.",
            Done::Reset => "Statistics reset.",
            Done::Recover => "Member marked for recovery.",
        }
    }
}

/// Decoded request parameters; a later duplicate wins, as in mod_jk.
#[derive(Debug, Default, Clone)]
pub(crate) struct Params {
    pairs: Vec<(String, String)>,
}

impl Params {
    fn parse(raw: &[u8]) -> Result<Params, String> {
        let mut params = Params::default();
        params.add(raw)?;
        Ok(params)
    }

    fn add(&mut self, raw: &[u8]) -> Result<(), String> {
        for piece in raw.split(|&b| b == b'&') {
            if piece.is_empty() {
                continue;
            }
            if self.pairs.len() >= MAX_PARAMS {
                return Err("Too many parameters.".into());
            }
            let (k, v) = match piece.iter().position(|&b| b == b'=') {
                Some(i) => (&piece[..i], &piece[i + 1..]),
                None => (piece, &b""[..]),
            };
            let key = decode(k)?;
            let value = decode(v)?;
            if key.is_empty() {
                continue;
            }
            self.pairs.push((key, value));
        }
        Ok(())
    }

    pub(crate) fn get(&self, key: &str) -> Option<&str> {
        self.pairs
            .iter()
            .rev()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// Present and not empty.
    fn get_nonempty(&self, key: &str) -> Option<&str> {
        self.get(key).filter(|v| !v.is_empty())
    }
}

/// `application/x-www-form-urlencoded` decoding: `+` is a space, `%XX` a byte. Invalid
/// escapes, invalid UTF-8 and control characters are errors.
fn decode(raw: &[u8]) -> Result<String, String> {
    let mut bytes = Vec::with_capacity(raw.len());
    let mut i = 0;
    while i < raw.len() {
        match raw[i] {
            b'+' => bytes.push(b' '),
            b'%' => {
                let hex = |b: u8| (b as char).to_digit(16);
                let hi = raw.get(i + 1).copied().and_then(hex);
                let lo = raw.get(i + 2).copied().and_then(hex);
                match (hi, lo) {
                    (Some(h), Some(l)) => bytes.push((h * 16 + l) as u8),
                    _ => return Err("Malformed percent-encoding in the parameters.".into()),
                }
                i += 2;
            }
            b => bytes.push(b),
        }
        i += 1;
    }
    let s = String::from_utf8(bytes).map_err(|_| "Parameters must be UTF-8.".to_owned())?;
    if s.chars().any(char::is_control) {
        return Err("Control characters are not allowed in parameters.".into());
    }
    Ok(s)
}

/// Percent-encodes a query component.
pub(crate) fn encode_component(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~' | b'*') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Percent-encodes a path for use in a URL (slashes stay).
fn encode_path(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    for b in path.bytes() {
        if b.is_ascii_alphanumeric()
            || matches!(
                b,
                b'-' | b'_'
                    | b'.'
                    | b'~'
                    | b'/'
                    | b'!'
                    | b'$'
                    | b'('
                    | b')'
                    | b'*'
                    | b'+'
                    | b','
                    | b';'
                    | b'='
                    | b':'
                    | b'@'
            )
        {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// A URL of the manager with query parameters (raw: escape it for the output format).
pub(crate) fn manager_url(path: &str, pairs: &[(&str, &str)]) -> String {
    let mut url = if path.starts_with('/') {
        encode_path(path)
    } else {
        String::new()
    };
    let mut first = true;
    for (k, v) in pairs {
        url.push(if first { '?' } else { '&' });
        first = false;
        url.push_str(&encode_component(k));
        url.push('=');
        url.push_str(&encode_component(v));
    }
    if url.is_empty() {
        url.push('?');
    }
    url
}

/// Integer within `min..=max`, decimal only (no sign for non-negative ranges).
fn parse_ranged(value: &str, min: i64, max: i64, what: &str) -> Result<i64, String> {
    let v = value.trim();
    let ok = !v.is_empty()
        && v.len() <= 19
        && v.strip_prefix('-')
            .unwrap_or(v)
            .bytes()
            .all(|b| b.is_ascii_digit())
        && !v.strip_prefix('-').unwrap_or(v).is_empty();
    let n = if ok { v.parse::<i64>().ok() } else { None };
    match n {
        Some(n) if (min..=max).contains(&n) => Ok(n),
        _ => Err(format!(
            "Invalid value {} for {what}: expected a number from {min} to {max}.",
            quote_short(value)
        )),
    }
}

/// `'value'`, cut to 64 characters (for messages; escaped by the output format).
fn quote_short(value: &str) -> String {
    let cut: String = value.chars().take(64).collect();
    if cut.len() < value.len() {
        format!("'{cut}…'")
    } else {
        format!("'{cut}'")
    }
}

/// `opt`: decimal or `0x` hex, masked to the known bits.
fn parse_opt(value: &str) -> Option<u32> {
    let v = value.trim();
    let n = match v.strip_prefix("0x").or_else(|| v.strip_prefix("0X")) {
        Some(hex) => u32::from_str_radix(hex, 16).ok()?,
        None => v.parse::<u32>().ok()?,
    };
    Some(n & OPT_ALL)
}

/// Route, redirect and domain values: at most [`MAX_STR_LEN`] bytes of printable ASCII
/// without blanks and without characters that are special in markup or shells.
fn check_name_value(value: &str, what: &str, allow_empty: bool) -> Result<String, String> {
    let v = value.trim();
    if v.is_empty() {
        return if allow_empty {
            Ok(String::new())
        } else {
            Err(format!("The {what} must not be empty."))
        };
    }
    if v.len() > MAX_STR_LEN {
        return Err(format!(
            "The {what} is longer than {MAX_STR_LEN} bytes: {}.",
            quote_short(v)
        ));
    }
    let bad =
        |c: char| !c.is_ascii_graphic() || matches!(c, '<' | '>' | '"' | '\'' | '&' | '\\' | '`');
    if v.chars().any(bad) {
        return Err(format!(
            "Invalid {what} {}: use letters, digits and punctuation other than <>\"'&\\`.",
            quote_short(v)
        ));
    }
    Ok(v.to_owned())
}

/// `*` any run, `?` one byte; whole-string match (member names are short).
fn glob(pattern: &[u8], text: &[u8]) -> bool {
    let (mut p, mut t) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        match pattern.get(p) {
            Some(b'*') => {
                p += 1;
                star = Some((p, t));
            }
            Some(&c) if c == b'?' || c == text[t] => {
                p += 1;
                t += 1;
            }
            _ => match star {
                Some((sp, st)) => {
                    p = sp;
                    t = st + 1;
                    star = Some((sp, t));
                }
                None => return false,
            },
        }
    }
    pattern[p..].iter().all(|&c| c == b'*')
}

fn is_wildcard(s: &str) -> bool {
    s.contains(['*', '?'])
}

// ---------------------------------------------------------------------------------------
// Access and request-origin checks
// ---------------------------------------------------------------------------------------

fn user_allowed(params: &StatusParams, remote_user: Option<&str>) -> bool {
    if params.user.is_empty() {
        return true;
    }
    let Some(user) = remote_user.filter(|u| !u.is_empty()) else {
        return false;
    };
    params.user.iter().any(|u| {
        if params.user_case_insensitive {
            u.eq_ignore_ascii_case(user)
        } else {
            u == user
        }
    })
}

/// Constant-time comparison (the token length is not secret).
fn token_eq(given: &str, expected: &str) -> bool {
    let (a, b) = (given.as_bytes(), expected.as_bytes());
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// `host:port` (lower-case, default port of `scheme` removed) of an absolute http(s) URL.
fn url_authority(url: &str) -> Option<(String, &'static str)> {
    let (scheme, rest) = url.split_once("://")?;
    let scheme = if scheme.eq_ignore_ascii_case("http") {
        "http"
    } else if scheme.eq_ignore_ascii_case("https") {
        "https"
    } else {
        return None;
    };
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let authority = &rest[..end];
    // No user info in an Origin; in a Referer it would be odd enough to refuse.
    if authority.is_empty() || authority.contains('@') {
        return None;
    }
    Some((normalize_authority(authority, scheme), scheme))
}

fn normalize_authority(authority: &str, scheme: &str) -> String {
    let a = authority.trim().to_ascii_lowercase();
    let default = if scheme == "https" { ":443" } else { ":80" };
    match a.strip_suffix(default) {
        Some(stripped) if !stripped.is_empty() => stripped.to_owned(),
        _ => a,
    }
}

/// Whether a web browser sent the request: its User-Agent, or a header only browsers send.
/// A state change from a browser needs the form token even as a GET, because a browser
/// on a plain-http origin sends no `Sec-Fetch-*`, and `referrerpolicy=no-referrer` drops
/// the Referer: the cross-site markers alone cannot tell a foreign page's `<img>`.
fn from_browser(req: &StatusRequest) -> bool {
    req.user_agent.is_some_and(|ua| ua.contains("Mozilla/"))
        || req.browser_headers
        || req.origin.is_some()
        || req.referer.is_some()
}

/// The host name of a `Host` header value (no port, no brackets, no trailing dot,
/// lower-case).
fn host_name(host: &str) -> String {
    let host = host.trim();
    let name = match host.strip_prefix('[') {
        Some(rest) => rest.split(']').next().unwrap_or(""),
        None => host.rsplit_once(':').map_or(host, |(n, _)| n),
    };
    name.trim_end_matches('.').to_ascii_lowercase()
}

/// DNS rebinding: a page on an attacker's name that resolves to this server must not get
/// an answer it can read. The page answers for the server's names and aliases, localhost,
/// IP literals, the status worker's `allowed_hosts` (`*`: any), and requests without Host.
fn host_allowed(req: &StatusRequest, ctx: &StatusContext) -> bool {
    let name = host_name(req.host);
    name.is_empty()
        || name == "localhost"
        || name.parse::<std::net::IpAddr>().is_ok()
        || ctx
            .server_names
            .iter()
            .chain(&ctx.params.allowed_hosts)
            .any(|n| glob_match(&n.to_ascii_lowercase(), &name))
}

/// `*` (any run) and `?` (one character) globs, as ServerAlias takes them.
fn glob_match(pattern: &str, text: &str) -> bool {
    let (p, t) = (pattern.as_bytes(), text.as_bytes());
    let (mut pi, mut ti, mut star, mut mark) = (0, 0, None, 0);
    while ti < t.len() {
        if pi < p.len() && (p[pi] == b'?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == b'*' {
            star = Some(pi);
            mark = ti;
            pi += 1;
        } else if let Some(sp) = star {
            pi = sp + 1;
            mark += 1;
            ti = mark;
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&c| c == b'*')
}

/// Why the request looks like it came from another site, if it does.
fn cross_site(req: &StatusRequest) -> Option<&'static str> {
    if let Some(site) = req.sec_fetch_site {
        let site = site.trim();
        if site.eq_ignore_ascii_case("cross-site") || site.eq_ignore_ascii_case("same-site") {
            return Some("Sec-Fetch-Site");
        }
    }
    let same = |url: &str| match url_authority(url.trim()) {
        Some((authority, scheme)) => authority == normalize_authority(req.host, scheme),
        None => false,
    };
    if let Some(origin) = req.origin {
        return (!same(origin)).then_some("Origin");
    }
    if let Some(referer) = req.referer.filter(|r| !r.trim().is_empty()) {
        return (!same(referer)).then_some("Referer");
    }
    None
}

// ---------------------------------------------------------------------------------------
// The view model every format renders
// ---------------------------------------------------------------------------------------

/// Member rating for the lb summary (status worker keys `good` and `bad`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Rating {
    Good,
    Degraded,
    Bad,
}

impl Rating {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Rating::Good => "good",
            Rating::Degraded => "degraded",
            Rating::Bad => "bad",
        }
    }
}

/// A set of (activation, state class) pairs: bit `activation * 5 + class` with
/// activations A, D, S and classes ok, idle, busy, recovering (REC, FRC, PRB), error.
fn rating_letter(c: char) -> u16 {
    const ALL_ACT: u16 = 0b00001_00001_00001;
    match c.to_ascii_lowercase() {
        'a' => 0b11111,
        'd' => 0b11111 << 5,
        's' => 0b11111 << 10,
        'o' => ALL_ACT,
        'i' | 'n' => ALL_ACT << 1,
        'b' => ALL_ACT << 2,
        'r' => ALL_ACT << 3,
        'e' => ALL_ACT << 4,
        _ => 0,
    }
}

/// One rule such as `a.o` (AND of its letters); unknown letters match nothing.
fn rating_rule(rule: &str) -> u16 {
    let mut mask = None;
    for part in rule.split('.').map(str::trim).filter(|p| !p.is_empty()) {
        let m = part.chars().next().map_or(0, rating_letter);
        mask = Some(mask.unwrap_or(u16::MAX) & m);
    }
    mask.unwrap_or(0)
}

fn rating_mask(rules: &[String]) -> u16 {
    rules.iter().fold(0, |acc, r| acc | rating_rule(r))
}

fn member_bit(activation: Activation, state: MemberState) -> u16 {
    let a = match activation {
        Activation::Active => 0,
        Activation::Disabled => 1,
        Activation::Stopped => 2,
    };
    let class = match state {
        MemberState::Ok => 0,
        MemberState::Idle => 1,
        MemberState::Busy => 2,
        MemberState::Recover | MemberState::Force | MemberState::Probe => 3,
        MemberState::Error => 4,
    };
    1 << (a * 5 + class)
}

pub(crate) fn rate(params: &StatusParams, activation: Activation, state: MemberState) -> Rating {
    let bit = member_bit(activation, state);
    if rating_mask(&params.bad) & bit != 0 {
        Rating::Bad
    } else if rating_mask(&params.good) & bit != 0 {
        Rating::Good
    } else {
        Rating::Degraded
    }
}

pub(crate) struct MemberView {
    pub snap: MemberSnapshot,
    /// The member's ajp13 values in force (runtime edits applied).
    pub ajp: Option<AjpParams>,
    /// Backend connections open now (all children) and their peak.
    pub connected: u64,
    pub max_connected: u64,
    /// The member's no-reuse mode (stray reply) ends then (ms since the epoch).
    pub no_reuse_until_ms: u64,
    pub rating: Rating,
    pub recover_min: u64,
    pub recover_max: u64,
}

impl MemberView {
    /// Takes new requests by the shared state.
    pub(crate) fn up(&self) -> bool {
        self.snap.activation == Activation::Active
            && matches!(
                self.snap.state,
                MemberState::Idle | MemberState::Ok | MemberState::Recover | MemberState::Force
            )
    }

    pub(crate) fn error_secs(&self) -> Option<u64> {
        (self.snap.last_error_ms > 0
            && matches!(
                self.snap.state,
                MemberState::Error | MemberState::Recover | MemberState::Force | MemberState::Probe
            ))
        .then_some(self.snap.last_error_ms / 1000)
    }
}

pub(crate) struct LbView<'a> {
    pub name: &'a str,
    pub params: &'a LbParams,
    pub settings: LbSettings,
    /// False when the lb has no slot in the segment (values from the configuration).
    pub runtime: bool,
    pub busy: u64,
    pub max_busy: u64,
    pub last_reset_ms: u64,
    pub members: Vec<MemberView>,
    pub good: usize,
    pub degraded: usize,
    pub bad: usize,
    pub map_count: usize,
    pub maintain_min: u64,
    pub maintain_max: u64,
}

impl LbView<'_> {
    pub(crate) fn overall(&self) -> Rating {
        if self.members.is_empty() || self.bad == self.members.len() {
            Rating::Bad
        } else if self.bad > 0 || self.degraded > 0 {
            Rating::Degraded
        } else {
            Rating::Good
        }
    }

    pub(crate) fn member(&self, name: &str) -> Option<&MemberView> {
        self.members.iter().find(|m| m.snap.name == name)
    }
}

pub(crate) struct AjpView<'a> {
    pub name: &'a str,
    /// The values in force (runtime edits applied).
    pub params: AjpParams,
    /// Runtime statistics; `None` without shared memory.
    pub stats: Option<AjpStats>,
    pub map_count: usize,
}

/// The configured ajp13 values of `name` with the runtime edits of the shared slot.
fn effective_ajp(ctx: &StatusContext, name: &str) -> Option<AjpParams> {
    let mut p = ctx.workers.get(name).and_then(|d| d.ajp())?.clone();
    if let Some(slot) = ctx.segment.and_then(|seg| seg.ajp(name)) {
        slot.settings().apply_to(&mut p);
    }
    Some(p)
}

/// A map row with its server and running number (1-based, as mod_jk's `id`).
pub(crate) struct MapRef<'a> {
    pub id: usize,
    pub server: &'a str,
    pub row: &'a MapRow,
}

/// What the renderers need: the request's view settings and the data.
pub(crate) struct Page<'a> {
    pub ctx: &'a StatusContext<'a>,
    pub path: &'a str,
    pub cmd: Cmd,
    /// The worker of `show`.
    pub show: Option<&'a str>,
    pub opt: u32,
    pub refresh: u32,
    /// Config `read_only` or the view's `opt` 0x20.
    pub read_only: bool,
    pub notice: Option<Done>,
    pub server_name: String,
    pub server_port: u16,
    pub now_secs: u64,
    pub lbs: Vec<LbView<'a>>,
    pub ajps: Vec<AjpView<'a>>,
}

impl<'a> Page<'a> {
    pub(crate) fn hidden(&self, bit: u32) -> bool {
        self.opt & bit != 0
    }

    pub(crate) fn version(&self) -> String {
        format!("mod_rjk/{}", crate::VERSION)
    }

    /// Map rows for `worker` (or every row with `None`), numbered across all servers.
    pub(crate) fn maps(&self, worker: Option<&str>) -> Vec<MapRef<'a>> {
        let mut rows = Vec::new();
        let mut id = 0;
        for (server, map) in self.ctx.maps {
            for row in map {
                if worker.is_none_or(|w| row.worker == w || row.worker == "*") {
                    id += 1;
                    rows.push(MapRef {
                        id,
                        server: server.as_str(),
                        row,
                    });
                }
            }
        }
        rows
    }

    /// The manager URL with the view settings (`opt`, `re`) kept.
    pub(crate) fn url(&self, pairs: &[(&str, &str)]) -> String {
        let opt = format!("{}", self.opt);
        let re = format!("{}", self.refresh);
        let mut all: Vec<(&str, &str)> = pairs.to_vec();
        if self.opt != 0 && !pairs.iter().any(|(k, _)| *k == "opt") {
            all.push(("opt", &opt));
        }
        if self.refresh != 0 && !pairs.iter().any(|(k, _)| *k == "re") {
            all.push(("re", &re));
        }
        manager_url(self.path, &all)
    }

    fn build(
        ctx: &'a StatusContext<'a>,
        path: &'a str,
        cmd: Cmd,
        show: Option<&'a str>,
        opt: u32,
        refresh: u32,
    ) -> Page<'a> {
        let (server_name, server_port) = split_server(ctx.server);
        let mut page = Page {
            ctx,
            path,
            cmd,
            show,
            opt,
            refresh,
            read_only: ctx.params.read_only || opt & OPT_READ_ONLY != 0,
            notice: None,
            server_name,
            server_port,
            now_secs: ctx.now_ms / 1000,
            lbs: Vec::new(),
            ajps: Vec::new(),
        };
        if cmd == Cmd::Version {
            return page;
        }
        let names: Vec<&'a str> = match show {
            Some(w) => vec![w],
            None => ctx.workers.list.iter().map(String::as_str).collect(),
        };
        for name in names {
            let Some(def) = ctx.workers.get(name) else {
                continue;
            };
            match &def.kind {
                WorkerKind::Lb(params) => {
                    let lb = lb_view(ctx, &page, name, params);
                    page.lbs.push(lb);
                }
                WorkerKind::Ajp13(params) => {
                    let map_count = page.maps(Some(name)).len();
                    let slot = ctx.segment.and_then(|seg| seg.ajp(name));
                    page.ajps.push(AjpView {
                        name,
                        params: effective_ajp(ctx, name).unwrap_or_else(|| params.clone()),
                        stats: slot.map(|s| s.stats()),
                        map_count,
                    });
                }
                WorkerKind::Status(_) => {}
            }
        }
        page
    }
}

/// `host:port` → (host, port); IPv6 literals keep their brackets.
fn split_server(server: &str) -> (String, u16) {
    match server.rsplit_once(':') {
        Some((host, port)) if !host.is_empty() && !port.contains(']') => {
            (host.to_owned(), port.parse().unwrap_or(0))
        }
        _ => (server.to_owned(), 0),
    }
}

fn lb_view<'a>(
    ctx: &'a StatusContext<'a>,
    page: &Page<'a>,
    name: &'a str,
    params: &'a LbParams,
) -> LbView<'a> {
    let interval_secs = u64::try_from(ctx.workers.maintain_secs.max(0)).unwrap_or(0);
    let now_ms = ctx.now_ms;
    let balancer = ctx.segment.and_then(|seg| Balancer::find(seg, name));
    let (snaps, settings, busy, max_busy, last_reset_ms, last_maintain_ms) = match &balancer {
        Some(b) => {
            let s = b.snapshot();
            (
                b.members().collect::<Vec<_>>(),
                s.settings,
                s.busy,
                s.max_busy,
                s.last_reset_ms,
                s.last_maintain_ms,
            )
        }
        None => (
            params
                .balance_workers
                .iter()
                .enumerate()
                .map(|(i, m)| config_member(ctx.workers, i, m))
                .collect(),
            LbSettings {
                method: params.method,
                sticky_session: params.sticky_session,
                sticky_session_force: params.sticky_session_force,
                retries: params.retries,
                lb_retries: params.lb_retries,
                retry_interval_ms: params.retry_interval_ms,
                recover_time_secs: params.recover_time_secs,
                error_escalation_time_secs: params.error_escalation_time_secs,
                max_reply_timeouts: params.max_reply_timeouts,
            },
            0,
            0,
            0,
            0,
        ),
    };
    let (maintain_min, maintain_max) = if interval_secs == 0 {
        (0, 0)
    } else {
        let next_ms = last_maintain_ms.saturating_add(interval_secs.saturating_mul(1000));
        let min = next_ms.saturating_sub(now_ms) / 1000;
        (min, min.saturating_add(interval_secs))
    };
    let mut view = LbView {
        name,
        params,
        settings,
        runtime: balancer.is_some(),
        busy,
        max_busy,
        last_reset_ms,
        members: Vec::new(),
        good: 0,
        degraded: 0,
        bad: 0,
        map_count: page.maps(Some(name)).len(),
        maintain_min,
        maintain_max,
    };
    for snap in snaps {
        let rating = rate(ctx.params, snap.activation, snap.state);
        match rating {
            Rating::Good => view.good += 1,
            Rating::Degraded => view.degraded += 1,
            Rating::Bad => view.bad += 1,
        }
        let (recover_min, recover_max) = if snap.state == MemberState::Error {
            let waited = now_ms.saturating_sub(snap.last_error_ms) / 1000;
            let left = u64::from(settings.recover_time_secs).saturating_sub(waited);
            let min = left.max(maintain_min);
            (min, min.saturating_add(interval_secs))
        } else {
            (0, 0)
        };
        let ajp = effective_ajp(ctx, &snap.name);
        let conns = ctx
            .segment
            .and_then(|seg| seg.ajp(&snap.name))
            .map(|s| s.stats());
        view.members.push(MemberView {
            snap,
            ajp,
            connected: conns.as_ref().map_or(0, |c| c.connected),
            max_connected: conns.as_ref().map_or(0, |c| c.max_connected),
            no_reuse_until_ms: conns.as_ref().map_or(0, |c| c.no_reuse_until_ms),
            rating,
            recover_min,
            recover_max,
        });
    }
    view
}

/// A member as configured, for an lb without shared state.
fn config_member(workers: &WorkersConfig, index: usize, name: &str) -> MemberSnapshot {
    let ajp = workers.get(name).and_then(|d| d.ajp());
    MemberSnapshot {
        index,
        name: name.to_owned(),
        route: ajp.map_or_else(|| name.to_owned(), |p| p.route.clone()),
        redirect: ajp.map(|p| p.redirect.clone()).unwrap_or_default(),
        domain: ajp.map(|p| p.domain.clone()).unwrap_or_default(),
        activation: ajp.map_or(Activation::Active, |p| p.activation),
        state: MemberState::Idle,
        lbfactor: ajp.map_or(1, |p| p.lbfactor),
        lb_mult: 1,
        lb_value: 0,
        distance: ajp.map_or(0, |p| i64::from(p.distance)),
        elected: 0,
        sessions: 0,
        errors: 0,
        client_errors: 0,
        reply_timeouts: 0,
        interval_errors: 0,
        busy: 0,
        max_busy: 0,
        bytes_read: 0,
        bytes_written: 0,
        first_error_ms: 0,
        last_error_ms: 0,
        last_used_ms: 0,
        last_success_ms: 0,
        last_reset_ms: 0,
        sequence: 0,
    }
}

// ---------------------------------------------------------------------------------------
// Time formatting (UTC, no dependencies)
// ---------------------------------------------------------------------------------------

/// (year, month, day, hour, minute, second, weekday 0=Sunday) of unix seconds, UTC.
pub(crate) fn civil(secs: u64) -> (i64, u32, u32, u32, u32, u32, u32) {
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    // Howard Hinnant's days-to-civil.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    let weekday = ((days + 4).rem_euclid(7)) as u32;
    (
        year,
        month,
        day,
        (rem / 3600) as u32,
        (rem % 3600 / 60) as u32,
        (rem % 60) as u32,
        weekday,
    )
}

/// mod_jk's text time format `%Y%m%d%H%M%S`.
pub(crate) fn time_text(secs: u64) -> String {
    let (y, mo, d, h, mi, s, _) = civil(secs);
    format!("{y:04}{mo:02}{d:02}{h:02}{mi:02}{s:02}")
}

/// `Tue, 14 May 2026 12:00:00 UTC`.
pub(crate) fn time_human(secs: u64) -> String {
    const DAYS: [&str; 7] = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let (y, mo, d, h, mi, s, wd) = civil(secs);
    format!(
        "{}, {d:02} {} {y:04} {h:02}:{mi:02}:{s:02} UTC",
        DAYS[wd as usize % 7],
        MONTHS[(mo as usize + 11) % 12]
    )
}

// ---------------------------------------------------------------------------------------
// Escaping (Display adapters)
// ---------------------------------------------------------------------------------------

/// HTML text and double- or single-quoted attribute values.
pub(crate) struct Html<'a>(pub &'a str);

impl fmt::Display for Html<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for c in self.0.chars() {
            match c {
                '&' => f.write_str("&amp;")?,
                '<' => f.write_str("&lt;")?,
                '>' => f.write_str("&gt;")?,
                '"' => f.write_str("&quot;")?,
                '\'' => f.write_str("&#39;")?,
                '\n' | '\t' => fmt::Write::write_char(f, c)?,
                c if c.is_control() => f.write_str("\u{FFFD}")?,
                c => fmt::Write::write_char(f, c)?,
            }
        }
        Ok(())
    }
}

/// XML attribute values (XML 1.0: other control characters cannot appear at all).
pub(crate) struct Xml<'a>(pub &'a str);

impl fmt::Display for Xml<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for c in self.0.chars() {
            match c {
                '&' => f.write_str("&amp;")?,
                '<' => f.write_str("&lt;")?,
                '>' => f.write_str("&gt;")?,
                '"' => f.write_str("&quot;")?,
                '\'' => f.write_str("&apos;")?,
                '\n' => f.write_str("&#10;")?,
                '\r' => f.write_str("&#13;")?,
                '\t' => f.write_str("&#9;")?,
                c if c.is_control() || c == '\u{FFFE}' || c == '\u{FFFF}' => {
                    f.write_str("\u{FFFD}")?
                }
                c => fmt::Write::write_char(f, c)?,
            }
        }
        Ok(())
    }
}

/// JSON string contents (also safe inside HTML `<script>`, which is never used).
pub(crate) struct Json<'a>(pub &'a str);

impl fmt::Display for Json<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for c in self.0.chars() {
            match c {
                '"' => f.write_str("\\\"")?,
                '\\' => f.write_str("\\\\")?,
                '\n' => f.write_str("\\n")?,
                '\r' => f.write_str("\\r")?,
                '\t' => f.write_str("\\t")?,
                '<' | '>' | '&' | '\u{2028}' | '\u{2029}' => write!(f, "\\u{:04x}", c as u32)?,
                c if c.is_control() => write!(f, "\\u{:04x}", c as u32)?,
                c => fmt::Write::write_char(f, c)?,
            }
        }
        Ok(())
    }
}

/// Prometheus label values: `\`, `"` and newlines escaped.
pub(crate) struct Label<'a>(pub &'a str);

impl fmt::Display for Label<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for c in self.0.chars() {
            match c {
                '\\' => f.write_str("\\\\")?,
                '"' => f.write_str("\\\"")?,
                '\n' => f.write_str("\\n")?,
                c if c.is_control() => f.write_str("\u{FFFD}")?,
                c => fmt::Write::write_char(f, c)?,
            }
        }
        Ok(())
    }
}

/// txt values: one object per line, tokens split at blanks. Backslash, quote and control
/// characters are escaped; with `.1 == true` (unquoted tokens) blanks as well.
pub(crate) struct Txt<'a>(pub &'a str, pub bool);

impl fmt::Display for Txt<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for c in self.0.chars() {
            match c {
                '\\' => f.write_str("\\\\")?,
                '"' => f.write_str("\\\"")?,
                '\n' => f.write_str("\\n")?,
                '\r' => f.write_str("\\r")?,
                ' ' if self.1 => f.write_str("\\x20")?,
                c if c.is_control() => write!(f, "\\x{:02x}", c as u32 & 0xff)?,
                c => fmt::Write::write_char(f, c)?,
            }
        }
        Ok(())
    }
}

/// Java properties: a value (`.1 == false`) or a key component (`.1 == true`, which also
/// escapes `=`, `:`, blanks, `#` and `!`).
pub(crate) struct Prop<'a>(pub &'a str, pub bool);

impl fmt::Display for Prop<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, c) in self.0.chars().enumerate() {
            match c {
                '\\' => f.write_str("\\\\")?,
                '\n' => f.write_str("\\n")?,
                '\r' => f.write_str("\\r")?,
                '\t' => f.write_str("\\t")?,
                c if c.is_control() => write!(f, "\\u{:04x}", c as u32)?,
                '=' | ':' | '#' | '!' if self.1 => write!(f, "\\{c}")?,
                ' ' if self.1 || i == 0 => f.write_str("\\ ")?,
                c => fmt::Write::write_char(f, c)?,
            }
        }
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------
// Secrets
// ---------------------------------------------------------------------------------------

/// Every configured secret value (workers and lbs), for scrubbing the dump.
fn secrets(workers: &WorkersConfig) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for def in workers.workers.values() {
        let s = match &def.kind {
            WorkerKind::Ajp13(p) => p.secret.as_deref(),
            WorkerKind::Lb(p) => p.secret.as_deref(),
            WorkerKind::Status(_) => None,
        };
        if let Some(s) = s.filter(|s| !s.is_empty()) {
            out.push(s.to_owned());
        }
    }
    for (k, v) in workers.properties.iter() {
        if secret_key(k) && !v.is_empty() {
            out.push(v.to_owned());
        }
    }
    out.sort();
    out.dedup();
    out
}

fn secret_key(key: &str) -> bool {
    let k = key.to_ascii_lowercase();
    k == "secret" || k.ends_with(".secret") || k.ends_with("secretkey")
}

/// The workers.properties entries `dump` shows: secret keys left out, values that contain
/// a secret replaced.
pub(crate) fn dump_entries(workers: &WorkersConfig) -> Vec<(String, String)> {
    let secrets = secrets(workers);
    workers
        .properties
        .iter()
        .filter(|(k, _)| !secret_key(k))
        .map(|(k, v)| {
            let leaks = secrets
                .iter()
                .any(|s| v == s || (s.len() >= 4 && v.contains(s.as_str())));
            let v = if leaks { "(hidden)" } else { v };
            (k.to_owned(), v.to_owned())
        })
        .collect()
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
    let post = match req.method {
        "GET" | "HEAD" => false,
        "POST" => true,
        _ => {
            let mut r = plain_error(405, "Method not allowed: use GET, HEAD or POST.");
            r.headers
                .push(("Allow".to_owned(), "GET, HEAD, POST".to_owned()));
            return r;
        }
    };
    if req.query.len() > MAX_QUERY_LEN {
        return plain_error(414, "Query string too long.");
    }
    if req.form.len() > MAX_FORM_LEN {
        return plain_error(413, "Form too large.");
    }
    let mut params = match Params::parse(req.query.as_bytes()) {
        Ok(p) => p,
        Err(e) => return plain_error(400, &e),
    };
    if post {
        if let Err(e) = params.add(req.form) {
            return plain_error(400, &e);
        }
    }
    let mime = match params.get_nonempty("mime") {
        None => Mime::Html,
        Some(m) => match Mime::parse(m) {
            Some(m) => m,
            None => {
                return plain_error(
                    400,
                    "Invalid mime type: use html, xml, txt, prop, json or prometheus.",
                );
            }
        },
    };
    let fail = |status: u16, message: &str| error_response(ctx, req, mime, status, message);

    if !host_allowed(req, ctx) {
        return fail(
            403,
            "Refused: the Host of this request is not a name of this server. Use the server's \
             name or IP address, or list the name in the status worker's allowed_hosts.",
        );
    }
    if !user_allowed(ctx.params, req.remote_user) {
        return fail(403, "Access denied.");
    }
    let cmd = match params.get_nonempty("cmd") {
        None => Cmd::List,
        Some(c) => match Cmd::parse(c) {
            Some(c) => c,
            None => return fail(400, "Invalid command."),
        },
    };
    let opt = match params.get_nonempty("opt") {
        None => 0,
        Some(v) => match parse_opt(v) {
            Some(o) => o,
            None => return fail(400, "Invalid value for opt."),
        },
    };
    let refresh = match params.get_nonempty("re") {
        None => 0,
        Some(v) => match v.trim().parse::<u64>() {
            Ok(n) => n.min(u64::from(MAX_REFRESH)) as u32,
            Err(_) => return fail(400, "Invalid refresh interval (re)."),
        },
    };
    let token_ok = {
        let token = ctx.csrf_token;
        token.len() >= MIN_TOKEN_LEN && token_eq(params.get("csrf").unwrap_or(""), token)
    };
    if post && !token_ok {
        return fail(
            403,
            "Missing or wrong form token (csrf): reload the status page and try again.",
        );
    }
    if req.method == "HEAD" && cmd.changes_state() {
        let mut r = error_response(ctx, req, mime, 405, "State changes need GET or POST.");
        r.headers.push(("Allow".to_owned(), "GET, POST".to_owned()));
        return r;
    }
    let read_only = ctx.params.read_only || opt & OPT_READ_ONLY != 0;
    if read_only && (cmd.changes_state() || cmd == Cmd::Edit) {
        return fail(403, "This command is not allowed in read only mode.");
    }
    if post || cmd.changes_state() {
        if let Some(marker) = cross_site(req) {
            return fail(
                403,
                &format!("Refused: the request comes from another site ({marker})."),
            );
        }
    }
    if cmd.changes_state() && !token_ok && from_browser(req) {
        return fail(
            403,
            "Refused: a change from a web browser needs this page's form token. In a browser, \
             use the page's Edit, Reset and Recover forms. Scripts send the GET without \
             browser headers (no Mozilla User-Agent, Origin, Referer or Sec-Fetch-*), for \
             example: curl 'http://HOST/jkmanager/?cmd=update&w=LB&sw=MEMBER&vwa=D'.",
        );
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
        Mime::Prometheus => format!("# error: {}\n", Txt(message, false)),
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

// ---------------------------------------------------------------------------------------
// update / reset / recover
// ---------------------------------------------------------------------------------------

/// A member attribute that `att` may name, with its label.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct AttrSpec {
    pub param: &'static str,
    pub label: &'static str,
}

pub(crate) const MEMBER_ATTRS: [AttrSpec; 6] = [
    AttrSpec {
        param: "vwa",
        label: "Activation",
    },
    AttrSpec {
        param: "vwf",
        label: "LB Factor",
    },
    AttrSpec {
        param: "vwn",
        label: "Route",
    },
    AttrSpec {
        param: "vwr",
        label: "Redirect Route",
    },
    AttrSpec {
        param: "vwc",
        label: "Cluster Domain",
    },
    AttrSpec {
        param: "vwd",
        label: "Distance",
    },
];

fn member_attr(param: &str) -> Option<AttrSpec> {
    MEMBER_ATTRS.iter().copied().find(|a| a.param == param)
}

/// The ajp13 parameters mod_jk can edit and mod_rjk cannot: (param, key, configured value).
pub(crate) fn ajp_attrs(p: &AjpParams) -> [(&'static str, &'static str, String); 13] {
    [
        ("vahst", "host", p.host.clone()),
        ("vaprt", "port", p.port.to_string()),
        (
            "vacpt",
            "connection_pool_timeout",
            p.connection_pool_timeout_secs.to_string(),
        ),
        ("vapng", "ping_timeout", p.ping_timeout_ms.to_string()),
        ("vact", "connect_timeout", p.connect_timeout_ms.to_string()),
        ("vapt", "prepost_timeout", p.prepost_timeout_ms.to_string()),
        ("vart", "reply_timeout", p.reply_timeout_ms.to_string()),
        ("var", "retries", p.retries.to_string()),
        ("vari", "retry_interval", p.retry_interval_ms.to_string()),
        (
            "vacpi",
            "connection_ping_interval",
            p.connection_ping_interval_secs.to_string(),
        ),
        ("varo", "recovery_options", p.recovery_options.to_string()),
        ("vabl", "busy_limit", p.busy_limit.to_string()),
        ("vamps", "max_packet_size", p.max_packet_size.to_string()),
    ]
}

fn not_editable(key: &str, worker: &str) -> Failure {
    (
        400,
        format!(
            "'{key}' of worker '{worker}' is not editable at runtime in mod_rjk: change \
             workers.properties and restart httpd (graceful)."
        ),
    )
}

/// A planned edit of a worker's ajp13 values: the slot, the new values, and for the log
/// (key, old, new) of each change.
struct AjpEdit<'s> {
    worker: String,
    slot: &'s AjpSlot,
    new: AjpSettings,
    changes: Vec<(&'static str, String, String)>,
}

/// Validates one ajp13 value. A value equal to the current one is always accepted (mod_jk's
/// form sends every value back); others must be in mod_jk's range.
fn parse_ajp_value(param: &str, key: &str, value: &str, current: u32) -> Result<u32, String> {
    let v = value.trim();
    if v.parse::<i64>().ok() == Some(i64::from(current)) {
        return Ok(current);
    }
    let (min, max) = match param {
        "vaprt" => (0, i64::from(u16::MAX)),
        "var" | "vari" | "vacpi" => (1, i64::from(i32::MAX)),
        "vamps" => (8192, 65536),
        _ => (0, i64::from(i32::MAX)),
    };
    let n = parse_ranged(v, min, max, key)?;
    if param == "vamps" && n % 1024 != 0 {
        return Err(format!(
            "Invalid max_packet_size {n}: use a multiple of 1024."
        ));
    }
    Ok(n as u32)
}

/// Plans the ajp13 edits (`vahst`, `vaprt`, `vacpt`, ...) of worker `name`; `None` when the
/// request carries none of them.
fn plan_ajp<'s>(
    get: &dyn Fn(&str) -> Option<String>,
    ctx: &StatusContext<'s>,
    name: &str,
) -> Result<Option<AjpEdit<'s>>, Failure> {
    let (Some(p), Some(mut params)) = (
        ctx.segment.and_then(|seg| seg.ajp(name)),
        ctx.workers.get(name).and_then(|d| d.ajp()).cloned(),
    ) else {
        return Ok(None);
    };
    let old = p.settings();
    let mut new = old.clone();
    let mut changes = Vec::new();
    let mut any = false;
    old.apply_to(&mut params);
    for (param, key, current) in ajp_attrs(&params) {
        let Some(value) = get(param) else { continue };
        any = true;
        if param == "vahst" {
            let host = check_name_value(&value, "host", false).map_err(|e| (400, e))?;
            if host != old.host {
                changes.push((key, old.host.clone(), host.clone()));
                new.host = host;
            }
            continue;
        }
        let cur: u32 = current.parse().unwrap_or(0);
        let v = parse_ajp_value(param, key, &value, cur).map_err(|e| (400, e))?;
        if v != cur {
            changes.push((key, current, v.to_string()));
            set_ajp_value(&mut new, param, v);
        }
    }
    if new.host != old.host || new.port != old.port {
        resolvable(&new.host, new.port, name)?;
    }
    Ok(any.then(|| AjpEdit {
        worker: name.to_owned(),
        slot: p,
        new,
        changes,
    }))
}

fn set_ajp_value(s: &mut AjpSettings, param: &str, v: u32) {
    let field = match param {
        "vaprt" => &mut s.port,
        "vacpt" => &mut s.connection_pool_timeout,
        "vapng" => &mut s.ping_timeout,
        "vact" => &mut s.connect_timeout,
        "vapt" => &mut s.prepost_timeout,
        "vart" => &mut s.reply_timeout,
        "var" => &mut s.retries,
        "vari" => &mut s.retry_interval,
        "vacpi" => &mut s.connection_ping_interval,
        "varo" => &mut s.recovery_options,
        "vabl" => &mut s.busy_limit,
        "vamps" => &mut s.max_packet_size,
        _ => return,
    };
    *field = v;
}

/// mod_jk refuses a host and port it cannot resolve.
fn resolvable(host: &str, port: u32, worker: &str) -> Result<(), Failure> {
    use std::net::ToSocketAddrs;
    if crate::endpoint::check_host(host).is_ok() && crate::endpoint::is_unix(host) {
        return Ok(());
    }
    let ok = u16::try_from(port)
        .ok()
        .and_then(|port| (host, port).to_socket_addrs().ok())
        .is_some_and(|mut a| a.next().is_some());
    if ok {
        Ok(())
    } else {
        Err((
            400,
            format!(
                "Could not resolve address {}:{port} for worker {}.",
                quote_short(host),
                quote_short(worker)
            ),
        ))
    }
}

/// Applies planned ajp13 edits; log lines in mod_jk's wording.
fn apply_ajp(edits: &[AjpEdit], sw_name: &str, lb: Option<&str>, log: &mut Vec<String>) {
    for e in edits {
        if e.changes.is_empty() {
            continue;
        }
        e.slot.set_settings(&e.new);
        for (key, from, to) in &e.changes {
            log.push(match lb {
                Some(lb) => format!(
                    "Status worker '{sw_name}' changing '{key}' for sub worker '{}' of lb worker \
                     '{lb}' from '{from}' to '{to}'",
                    e.worker
                ),
                None => format!(
                    "Status worker '{sw_name}' changing '{key}' for ajp worker '{}' from '{from}' \
                     to '{to}'",
                    e.worker
                ),
            });
        }
    }
}

#[derive(Debug, Default)]
struct MemberEdit {
    activation: Option<Activation>,
    lbfactor: Option<u32>,
    route: Option<String>,
    redirect: Option<String>,
    domain: Option<String>,
    distance: Option<i32>,
}

fn parse_member_edit(get: &dyn Fn(&str) -> Option<String>) -> Result<MemberEdit, String> {
    let mut e = MemberEdit::default();
    if let Some(v) = get("vwa") {
        e.activation = Some(Activation::parse(&v).ok_or_else(|| {
            format!(
                "Invalid activation {}: use Active, Disabled or Stopped.",
                quote_short(&v)
            )
        })?);
    }
    if let Some(v) = get("vwf") {
        e.lbfactor = Some(parse_ranged(&v, 1, i64::from(i32::MAX), "lbfactor")? as u32);
    }
    if let Some(v) = get("vwn") {
        e.route = Some(check_name_value(&v, "route", false)?);
    }
    if let Some(v) = get("vwr") {
        e.redirect = Some(check_name_value(&v, "redirect", true)?);
    }
    if let Some(v) = get("vwc") {
        e.domain = Some(check_name_value(&v, "domain", true)?);
    }
    if let Some(v) = get("vwd") {
        e.distance = Some(parse_ranged(&v, 0, i64::from(i32::MAX), "distance")? as i32);
    }
    Ok(e)
}

/// The shared slot of `w` when it is an ajp13 worker (`None` for other kinds).
fn standalone<'s>(ctx: &StatusContext<'s>, w: &str) -> Result<Option<&'s AjpSlot>, Failure> {
    match ctx.workers.get(w).map(|d| &d.kind) {
        Some(WorkerKind::Ajp13(_)) => ctx.segment.and_then(|seg| seg.ajp(w)).map(Some).ok_or((
            409,
            format!("Worker {} has no shared runtime state.", quote_short(w)),
        )),
        _ => Ok(None),
    }
}

/// The lb of `w`, or the right 4xx.
fn balancer<'s>(ctx: &StatusContext<'s>, w: &str) -> Result<(Balancer<'s>, &'s LbParams), Failure> {
    let def = ctx
        .workers
        .get(w)
        .ok_or_else(|| (404, format!("Unknown worker {}.", quote_short(w))))?;
    let Some(params) = def.lb() else {
        return Err((
            400,
            format!(
                "Worker {} is not a load balancer; mod_rjk keeps runtime state for lb members only.",
                quote_short(w)
            ),
        ));
    };
    let bal = ctx
        .segment
        .and_then(|seg| Balancer::find(seg, w))
        .ok_or_else(|| {
            (
                409,
                format!(
                    "Load balancer {} has no shared runtime state.",
                    quote_short(w)
                ),
            )
        })?;
    Ok((bal, params))
}

/// Members whose name matches `sw` (wildcards allowed); 404 when none does.
fn matching_members(bal: &Balancer, sw: &str) -> Result<Vec<MemberSnapshot>, Failure> {
    let found: Vec<MemberSnapshot> = if is_wildcard(sw) {
        bal.members()
            .filter(|m| glob(sw.as_bytes(), m.name.as_bytes()))
            .collect()
    } else {
        bal.members().filter(|m| m.name == sw).collect()
    };
    if found.is_empty() {
        return Err((
            404,
            format!(
                "No member of load balancer '{}' matches {}.",
                bal.name(),
                quote_short(sw)
            ),
        ));
    }
    Ok(found)
}

fn update(ctx: &StatusContext, params: &Params) -> Result<Vec<String>, Failure> {
    let w = params.get_nonempty("w").ok_or((
        400,
        "Missing parameter w (the worker to update).".to_owned(),
    ))?;
    let def = ctx
        .workers
        .get(w)
        .ok_or_else(|| (404, format!("Unknown worker {}.", quote_short(w))))?;
    match &def.kind {
        WorkerKind::Lb(_) => {}
        WorkerKind::Ajp13(_) => {
            let get = |k: &str| params.get(k).map(str::to_owned);
            let edits: Vec<AjpEdit> = plan_ajp(&get, ctx, w)?.into_iter().collect();
            let mut log = Vec::new();
            apply_ajp(&edits, ctx.worker, None, &mut log);
            return Ok(log);
        }
        WorkerKind::Status(_) => {
            return Err((
                400,
                format!("Worker {} is a status worker.", quote_short(w)),
            ));
        }
    }
    let (bal, lb_params) = balancer(ctx, w)?;
    let lb_name = def.name.as_str();
    let members: Vec<MemberSnapshot> = bal.members().collect();

    // Plan: validate everything, change nothing yet.
    let mut plan: Vec<(MemberSnapshot, MemberEdit)> = Vec::new();
    let mut ajp_plan: Vec<AjpEdit> = Vec::new();
    let mut lb_plan: Option<LbSettings> = None;
    if let Some(sw) = params.get_nonempty("sw") {
        for m in matching_members(&bal, sw)? {
            let get = |k: &str| params.get(k).map(str::to_owned);
            ajp_plan.extend(plan_ajp(&get, ctx, &m.name)?);
            let edit = parse_member_edit(&get).map_err(|e| (400, e))?;
            plan.push((m, edit));
        }
    } else if let Some(att) = params.get_nonempty("att") {
        let ajp_param = members
            .first()
            .and_then(|m| ctx.workers.get(&m.name))
            .and_then(|d| d.ajp())
            .map(|p| ajp_attrs(p).iter().any(|(param, ..)| *param == att))
            .unwrap_or(false);
        if member_attr(att).is_none() && !ajp_param {
            return Err((400, format!("Unknown attribute {}.", quote_short(att))));
        }
        for (i, m) in members.iter().enumerate() {
            let key = format!("val{i}");
            let Some(value) = params.get(&key).map(str::to_owned) else {
                continue;
            };
            let get = |k: &str| (k == att).then(|| value.clone());
            ajp_plan.extend(plan_ajp(&get, ctx, &m.name)?);
            let edit = parse_member_edit(&get).map_err(|e| (400, e))?;
            plan.push((m.clone(), edit));
        }
    } else {
        lb_plan = Some(parse_lb_edit(params, bal.settings(), lb_params, lb_name)?);
    }
    check_routes(&members, &plan)?;

    // Apply.
    let sw_name = ctx.worker;
    let mut log = Vec::new();
    apply_ajp(&ajp_plan, sw_name, Some(lb_name), &mut log);
    let member_log = |log: &mut Vec<String>, attr: &str, m: &str, from: &str, to: &str| {
        log.push(format!(
            "Status worker '{sw_name}' changing '{attr}' for sub worker '{m}' of lb worker \
             '{lb_name}' from '{from}' to '{to}'"
        ));
    };
    for (m, e) in &plan {
        let g = m.index;
        if let Some(a) = e.activation.filter(|a| *a != m.activation) {
            bal.set_activation(g, a);
            member_log(
                &mut log,
                "activation",
                &m.name,
                m.activation.as_str(),
                a.as_str(),
            );
        }
        if let Some(f) = e.lbfactor.filter(|f| *f != m.lbfactor) {
            bal.set_lbfactor(g, f);
            member_log(
                &mut log,
                "lbfactor",
                &m.name,
                &m.lbfactor.to_string(),
                &f.to_string(),
            );
        }
        if let Some(r) = e.route.as_ref().filter(|r| **r != m.route) {
            bal.set_route(g, r).map_err(|e| (400, e))?;
            member_log(&mut log, "route", &m.name, &m.route, r);
        }
        if let Some(r) = e.redirect.as_ref().filter(|r| **r != m.redirect) {
            bal.set_redirect(g, r).map_err(|e| (400, e))?;
            member_log(&mut log, "redirect", &m.name, &m.redirect, r);
        }
        if let Some(d) = e.domain.as_ref().filter(|d| **d != m.domain) {
            bal.set_domain(g, d).map_err(|e| (400, e))?;
            member_log(&mut log, "domain", &m.name, &m.domain, d);
        }
        if let Some(d) = e.distance.filter(|d| i64::from(*d) != m.distance) {
            bal.set_distance(g, d);
            member_log(
                &mut log,
                "distance",
                &m.name,
                &m.distance.to_string(),
                &d.to_string(),
            );
        }
    }
    if let Some(new) = lb_plan {
        let old = bal.settings();
        if new != old {
            bal.set_settings(&new);
            let b = |v: bool| if v { "True" } else { "False" }.to_owned();
            let changes = [
                ("retries", old.retries.to_string(), new.retries.to_string()),
                (
                    "retry_interval",
                    old.retry_interval_ms.to_string(),
                    new.retry_interval_ms.to_string(),
                ),
                (
                    "recover_time",
                    old.recover_time_secs.to_string(),
                    new.recover_time_secs.to_string(),
                ),
                (
                    "error_escalation_time",
                    old.error_escalation_time_secs.to_string(),
                    new.error_escalation_time_secs.to_string(),
                ),
                (
                    "max_reply_timeouts",
                    old.max_reply_timeouts.to_string(),
                    new.max_reply_timeouts.to_string(),
                ),
                (
                    "sticky_session",
                    b(old.sticky_session),
                    b(new.sticky_session),
                ),
                (
                    "sticky_session_force",
                    b(old.sticky_session_force),
                    b(new.sticky_session_force),
                ),
                (
                    "method",
                    old.method.as_str().to_owned(),
                    new.method.as_str().to_owned(),
                ),
            ];
            for (attr, from, to) in changes {
                if from != to {
                    log.push(format!(
                        "Status worker '{sw_name}' changing '{attr}' for lb worker '{lb_name}' \
                         from '{from}' to '{to}'"
                    ));
                }
            }
        }
    }
    Ok(log)
}

/// No two members of the lb may end up with the same route.
fn check_routes(
    members: &[MemberSnapshot],
    plan: &[(MemberSnapshot, MemberEdit)],
) -> Result<(), Failure> {
    let routes: Vec<(&str, &str)> = members
        .iter()
        .map(|m| {
            let new = plan
                .iter()
                .find(|(p, _)| p.index == m.index)
                .and_then(|(_, e)| e.route.as_deref());
            (m.name.as_str(), new.unwrap_or(m.route.as_str()))
        })
        .collect();
    for (i, (name, route)) in routes.iter().enumerate() {
        if let Some((other, _)) = routes[i + 1..].iter().find(|(_, r)| r == route) {
            return Err((
                400,
                format!("Members '{name}' and '{other}' would both have route '{route}'."),
            ));
        }
    }
    Ok(())
}

fn parse_lb_edit(
    params: &Params,
    current: LbSettings,
    lb: &LbParams,
    lb_name: &str,
) -> Result<LbSettings, Failure> {
    let bad = |e: String| (400, e);
    let mut s = current;
    let num = |key: &str, min: i64, max: i64, what: &str| -> Result<Option<u32>, Failure> {
        match params.get(key) {
            None => Ok(None),
            Some(v) => parse_ranged(v, min, max, what)
                .map(|n| Some(n as u32))
                .map_err(bad),
        }
    };
    let flag = |key: &str, what: &str| -> Result<Option<bool>, Failure> {
        match params.get(key) {
            None => Ok(None),
            Some(v) => parse_bool(v).map(Some).ok_or_else(|| {
                bad(format!(
                    "Invalid value {} for {what}: use True or False.",
                    quote_short(v)
                ))
            }),
        }
    };
    if let Some(n) = num("vlr", 1, 100, "retries")? {
        s.retries = n;
    }
    if let Some(n) = num("vlri", 1, 3_600_000, "retry_interval")? {
        s.retry_interval_ms = n;
    }
    if let Some(n) = num("vlt", 1, 604_800, "recover_time")? {
        s.recover_time_secs = n;
    }
    if let Some(n) = num("vlee", 0, 604_800, "error_escalation_time")? {
        s.error_escalation_time_secs = n;
    }
    if let Some(n) = num("vlx", 0, 1_000_000, "max_reply_timeouts")? {
        s.max_reply_timeouts = n;
    }
    if let Some(b) = flag("vls", "sticky_session")? {
        s.sticky_session = b;
    }
    if let Some(b) = flag("vlf", "sticky_session_force")? {
        s.sticky_session_force = b;
    }
    if let Some(v) = params.get("vlm") {
        s.method = LbMethod::parse(v).ok_or_else(|| {
            bad(format!(
                "Invalid method {}: use Request, Traffic, Busyness, Sessions or Next.",
                quote_short(v)
            ))
        })?;
    }
    if let Some(v) = params.get("vll") {
        let lock = LbLock::parse(v).ok_or_else(|| {
            bad(format!(
                "Invalid lock {}: use Optimistic or Pessimistic.",
                quote_short(v)
            ))
        })?;
        if lock != lb.lock {
            return Err(not_editable("lock", lb_name));
        }
    }
    Ok(s)
}

fn reset(ctx: &StatusContext, params: &Params) -> Result<Vec<String>, Failure> {
    let w = params
        .get_nonempty("w")
        .ok_or((400, "Missing parameter w (the worker to reset).".to_owned()))?;
    if let Some(slot) = standalone(ctx, w)? {
        slot.reset(ctx.now_ms);
        return Ok(vec![format!(
            "Status worker '{}' resetting statistics of ajp worker '{w}'",
            ctx.worker
        )]);
    }
    let (bal, _) = balancer(ctx, w)?;
    let lb_name = bal.name();
    let sw_name = ctx.worker;
    let mut log = Vec::new();
    // A member's connection counts live in its ajp13 slot, which mod_jk resets too.
    let reset_ajp = |name: &str| {
        if let Some(a) = ctx.segment.and_then(|seg| seg.ajp(name)) {
            a.reset(ctx.now_ms);
        }
    };
    match params.get_nonempty("sw") {
        None => {
            bal.reset_stats(None, ctx.now_ms);
            bal.members().for_each(|m| reset_ajp(&m.name));
            log.push(format!(
                "Status worker '{sw_name}' resetting statistics of lb worker '{lb_name}'"
            ));
        }
        Some(sw) => {
            for m in matching_members(&bal, sw)? {
                bal.reset_stats(Some(m.index), ctx.now_ms);
                reset_ajp(&m.name);
                log.push(format!(
                    "Status worker '{sw_name}' resetting statistics of sub worker '{}' of lb \
                     worker '{lb_name}'",
                    m.name
                ));
            }
        }
    }
    Ok(log)
}

fn recover(ctx: &StatusContext, params: &Params) -> Result<Vec<String>, Failure> {
    let w = params
        .get_nonempty("w")
        .ok_or((400, "Missing parameter w (the load balancer).".to_owned()))?;
    if let Some(slot) = standalone(ctx, w)? {
        slot.recover();
        return Ok(vec![format!(
            "Status worker '{}' marking ajp worker '{w}' for recovery",
            ctx.worker
        )]);
    }
    let sw = params.get_nonempty("sw").ok_or((
        400,
        "Missing parameter sw (the member to recover).".to_owned(),
    ))?;
    let (bal, _) = balancer(ctx, w)?;
    let lb_name = bal.name();
    let sw_name = ctx.worker;
    let mut log = Vec::new();
    let matched = matching_members(&bal, sw)?;
    for m in &matched {
        if bal.recover(m.index) {
            log.push(format!(
                "Status worker '{sw_name}' marking worker '{}' of lb worker '{lb_name}' for \
                 recovery",
                m.name
            ));
        }
    }
    if log.is_empty() {
        let states: Vec<String> = matched
            .iter()
            .map(|m| format!("{} is {}", m.name, m.state.as_str()))
            .collect();
        return Err((
            409,
            format!(
                "Nothing to recover: only members in ERR or ERR/FRC can be recovered ({}).",
                states.join(", ")
            ),
        ));
    }
    Ok(log)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::properties::Source;
    use crate::lb::FailureKind;

    const SEED: &str = "\
worker.list=load_balancer,jkstatus,solo
worker.tomcat1.type=ajp13
worker.tomcat1.host=localhost
worker.tomcat1.port=18009
worker.tomcat1.lbfactor=1
worker.tomcat2.type=ajp13
worker.tomcat2.host=localhost
worker.tomcat2.port=28009
worker.tomcat2.lbfactor=2
worker.tomcat3.type=ajp13
worker.tomcat3.host=localhost
worker.tomcat3.port=38009
worker.tomcat3.lbfactor=3
worker.load_balancer.type=lb
worker.load_balancer.balance_workers=tomcat1,tomcat2,tomcat3
worker.solo.type=ajp13
worker.solo.host=127.0.0.1
worker.solo.port=48009
worker.jkstatus.type=status
";

    const TOKEN: &str = "0123456789abcdef0123456789abcdef";
    const SECRET: &str = "Zq8-secret-VALUE-77";

    struct Fixture {
        config: WorkersConfig,
        seg: Box<Segment>,
        maps: Vec<(String, Vec<MapRow>)>,
        status: StatusParams,
        software: String,
    }

    fn config(text: &str) -> WorkersConfig {
        WorkersConfig::from_sources(
            &[Source::File {
                path: "workers.properties",
                contents: text,
            }],
            "/srv/httpd",
            &|_| None,
        )
        .unwrap_or_else(|e| panic!("{e}"))
    }

    fn fixture_with(extra: &str) -> Fixture {
        let config = config(&format!("{SEED}{extra}"));
        let seg = Segment::new_boxed();
        crate::shm::init_from_config(&seg, &config).expect("segment");
        let status = config
            .get("jkstatus")
            .and_then(|d| d.status())
            .expect("status worker")
            .clone();
        let maps = vec![(
            "127.0.0.1:8080".to_owned(),
            vec![
                MapRow {
                    pattern: "/app/*".into(),
                    worker: "load_balancer".into(),
                    kind: MatchKind::Wildchar,
                    source: "JkMount".into(),
                    extensions: RuleExtensions::default(),
                },
                MapRow {
                    pattern: "-!/app/static/*".into(),
                    worker: "load_balancer".into(),
                    kind: MatchKind::Wildchar,
                    source: "uriworkermap".into(),
                    extensions: RuleExtensions {
                        reply_timeout_ms: Some(500),
                        ..RuleExtensions::default()
                    },
                },
                MapRow {
                    pattern: "/solo".into(),
                    worker: "solo".into(),
                    kind: MatchKind::Exact,
                    source: "JkMount".into(),
                    extensions: RuleExtensions::default(),
                },
                MapRow {
                    pattern: "/jkmanager/*".into(),
                    worker: "jkstatus".into(),
                    kind: MatchKind::Wildchar,
                    source: "JkMount".into(),
                    extensions: RuleExtensions::default(),
                },
            ],
        )];
        Fixture {
            config,
            seg,
            maps,
            status,
            software: "Apache/2.4.62 (Debian) mod_rjk/0.1.0".into(),
        }
    }

    fn fixture() -> Fixture {
        fixture_with("")
    }

    fn no_latency(_: usize) -> Option<(Vec<(f64, u64)>, f64)> {
        None
    }

    fn ctx(f: &Fixture) -> StatusContext<'_> {
        StatusContext {
            worker: "jkstatus",
            params: &f.status,
            workers: &f.config,
            segment: Some(&f.seg),
            maps: &f.maps,
            server: "127.0.0.1:8080",
            software: &f.software,
            csrf_token: TOKEN,
            server_names: &[],
            now_ms: 1_778_760_000_000,
            latency: &no_latency,
        }
    }

    fn base(query: &str) -> StatusRequest<'_> {
        StatusRequest {
            method: "GET",
            query,
            form: b"",
            remote_user: None,
            sec_fetch_site: None,
            origin: None,
            referer: None,
            host: "127.0.0.1:8080",
            path: "/jkmanager/",
            user_agent: None,
            browser_headers: false,
        }
    }

    fn get(f: &Fixture, query: &str) -> StatusResponse {
        handle(&base(query), &ctx(f))
    }

    fn post(f: &Fixture, form: &str) -> StatusResponse {
        let req = StatusRequest {
            method: "POST",
            form: form.as_bytes(),
            sec_fetch_site: Some("same-origin"),
            origin: Some("http://127.0.0.1:8080"),
            ..base("")
        };
        handle(&req, &ctx(f))
    }

    fn bal(f: &Fixture) -> Balancer<'_> {
        Balancer::find(&f.seg, "load_balancer").expect("lb")
    }

    fn member(f: &Fixture, name: &str) -> MemberSnapshot {
        let b = bal(f);
        b.member(b.member_index(name).expect("member"))
            .expect("snapshot")
    }

    fn text(r: &StatusResponse) -> &str {
        r.body_text()
    }

    // ---- tiny validators -------------------------------------------------------------

    /// Well-formedness of the XML we emit: balanced elements, quoted attributes, no raw
    /// `<` or `&` outside markup except entities.
    fn xml_ok(s: &str) -> Result<(), String> {
        let mut stack: Vec<String> = Vec::new();
        let mut rest = s;
        let mut roots = 0;
        while let Some(lt) = rest.find('<') {
            let text = &rest[..lt];
            check_text(text)?;
            let gt = rest[lt..].find('>').ok_or("unclosed tag")? + lt;
            let tag = &rest[lt + 1..gt];
            rest = &rest[gt + 1..];
            if tag.starts_with('?') || tag.starts_with('!') {
                continue;
            }
            if let Some(name) = tag.strip_prefix('/') {
                let open = stack.pop().ok_or("close without open")?;
                if open != name.trim() {
                    return Err(format!("</{name}> closes <{open}>"));
                }
                continue;
            }
            let self_closing = tag.trim_end().ends_with('/');
            let body = tag.trim_end().trim_end_matches('/');
            let mut parts = body.splitn(2, char::is_whitespace);
            let name = parts.next().ok_or("empty tag")?.to_owned();
            if name.is_empty() || name.contains(['"', '=']) {
                return Err(format!("bad name {name:?}"));
            }
            let mut attrs = parts.next().unwrap_or("").trim();
            let mut seen = Vec::new();
            while !attrs.is_empty() {
                let eq = attrs
                    .find('=')
                    .ok_or(format!("attribute without = in {tag:?}"))?;
                let key = attrs[..eq].trim();
                if key.is_empty() || key.contains(char::is_whitespace) || seen.contains(&key) {
                    return Err(format!("bad attribute key {key:?}"));
                }
                seen.push(key);
                let after = attrs[eq + 1..].trim_start();
                let after = after.strip_prefix('"').ok_or("unquoted attribute")?;
                let end = after.find('"').ok_or("unterminated attribute")?;
                check_text(&after[..end])?;
                if after[..end].contains(['\n', '\r']) {
                    return Err("raw newline in attribute".into());
                }
                attrs = after[end + 1..].trim_start();
            }
            if stack.is_empty() {
                roots += 1;
            }
            if !self_closing {
                stack.push(name);
            }
        }
        check_text(rest)?;
        if !stack.is_empty() {
            return Err(format!("unclosed {stack:?}"));
        }
        if roots != 1 {
            return Err(format!("{roots} root elements"));
        }
        Ok(())
    }

    fn check_text(t: &str) -> Result<(), String> {
        if t.contains('<') || t.contains('>') {
            return Err(format!("raw markup char in {t:?}"));
        }
        let mut rest = t;
        while let Some(i) = rest.find('&') {
            let end = rest[i..].find(';').ok_or("bare &")? + i;
            let ent = &rest[i + 1..end];
            let ok = matches!(ent, "amp" | "lt" | "gt" | "quot" | "apos")
                || ent
                    .strip_prefix('#')
                    .is_some_and(|n| n.parse::<u32>().is_ok());
            if !ok {
                return Err(format!("bad entity &{ent};"));
            }
            rest = &rest[end + 1..];
        }
        Ok(())
    }

    /// A complete JSON document (RFC 8259 grammar).
    fn json_ok(s: &str) -> Result<(), String> {
        fn ws(b: &[u8], i: &mut usize) {
            while *i < b.len() && matches!(b[*i], b' ' | b'\n' | b'\r' | b'\t') {
                *i += 1;
            }
        }
        fn lit(b: &[u8], i: &mut usize, l: &[u8]) -> Result<(), String> {
            if b[*i..].starts_with(l) {
                *i += l.len();
                Ok(())
            } else {
                Err(format!("bad literal at {i}"))
            }
        }
        fn string(b: &[u8], i: &mut usize) -> Result<(), String> {
            *i += 1;
            loop {
                let c = *b.get(*i).ok_or("unterminated string")?;
                *i += 1;
                match c {
                    b'"' => return Ok(()),
                    b'\\' => {
                        let e = *b.get(*i).ok_or("bad escape")?;
                        *i += 1;
                        match e {
                            b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't' => {}
                            b'u' => {
                                let hex = b.get(*i..*i + 4).ok_or("short \\u")?;
                                if !hex.iter().all(u8::is_ascii_hexdigit) {
                                    return Err("bad \\u".into());
                                }
                                *i += 4;
                            }
                            _ => return Err("bad escape".into()),
                        }
                    }
                    c if c < 0x20 => return Err("control char in string".into()),
                    _ => {}
                }
            }
        }
        fn number(b: &[u8], i: &mut usize) -> Result<(), String> {
            let start = *i;
            if b[*i] == b'-' {
                *i += 1;
            }
            let digits = b[*i..].iter().take_while(|c| c.is_ascii_digit()).count();
            if digits == 0 || (digits > 1 && b[*i] == b'0') {
                return Err(format!("bad number at {start}"));
            }
            *i += digits;
            if b.get(*i) == Some(&b'.') {
                *i += 1;
                let d = b[*i..].iter().take_while(|c| c.is_ascii_digit()).count();
                if d == 0 {
                    return Err("bad fraction".into());
                }
                *i += d;
            }
            Ok(())
        }
        fn value(b: &[u8], i: &mut usize, depth: usize) -> Result<(), String> {
            if depth > 64 {
                return Err("too deep".into());
            }
            ws(b, i);
            match *b.get(*i).ok_or("unexpected end")? {
                b'{' => {
                    *i += 1;
                    ws(b, i);
                    if b.get(*i) == Some(&b'}') {
                        *i += 1;
                        return Ok(());
                    }
                    loop {
                        ws(b, i);
                        if b.get(*i) != Some(&b'"') {
                            return Err(format!("expected key at {i}"));
                        }
                        string(b, i)?;
                        ws(b, i);
                        if b.get(*i) != Some(&b':') {
                            return Err(format!("expected : at {i}"));
                        }
                        *i += 1;
                        value(b, i, depth + 1)?;
                        ws(b, i);
                        match b.get(*i) {
                            Some(b',') => *i += 1,
                            Some(b'}') => {
                                *i += 1;
                                return Ok(());
                            }
                            _ => return Err(format!("expected , or }} at {i}")),
                        }
                    }
                }
                b'[' => {
                    *i += 1;
                    ws(b, i);
                    if b.get(*i) == Some(&b']') {
                        *i += 1;
                        return Ok(());
                    }
                    loop {
                        value(b, i, depth + 1)?;
                        ws(b, i);
                        match b.get(*i) {
                            Some(b',') => *i += 1,
                            Some(b']') => {
                                *i += 1;
                                return Ok(());
                            }
                            _ => return Err(format!("expected , or ] at {i}")),
                        }
                    }
                }
                b'"' => string(b, i),
                b't' => lit(b, i, b"true"),
                b'f' => lit(b, i, b"false"),
                b'n' => lit(b, i, b"null"),
                b'-' | b'0'..=b'9' => number(b, i),
                c => Err(format!("unexpected {:?} at {i}", c as char)),
            }
        }
        let b = s.as_bytes();
        let mut i = 0;
        value(b, &mut i, 0)?;
        ws(b, &mut i);
        if i != b.len() {
            return Err(format!("trailing data at {i}"));
        }
        Ok(())
    }

    /// Prometheus text format 0.0.4: comments, or `name{labels} value`.
    fn prom_ok(s: &str) -> Result<usize, String> {
        let mut samples = 0;
        for line in s.lines() {
            if line.is_empty() {
                continue;
            }
            if let Some(c) = line.strip_prefix('#') {
                if c.starts_with(" HELP ") || c.starts_with(" TYPE ") {
                    let parts: Vec<&str> = c.trim().splitn(3, ' ').collect();
                    if parts.len() < 3 {
                        return Err(format!("short comment {line:?}"));
                    }
                }
                continue;
            }
            let b = line.as_bytes();
            let mut i = 0;
            let name_ok = |c: u8, first: bool| {
                c.is_ascii_alphabetic() || c == b'_' || c == b':' || (!first && c.is_ascii_digit())
            };
            while i < b.len() && name_ok(b[i], i == 0) {
                i += 1;
            }
            if i == 0 {
                return Err(format!("no metric name: {line:?}"));
            }
            if b.get(i) == Some(&b'{') {
                i += 1;
                loop {
                    let start = i;
                    while i < b.len() && name_ok(b[i], i == start) {
                        i += 1;
                    }
                    if i == start || b.get(i) != Some(&b'=') || b.get(i + 1) != Some(&b'"') {
                        return Err(format!("bad label in {line:?}"));
                    }
                    i += 2;
                    loop {
                        match b.get(i) {
                            None | Some(b'\n') => return Err(format!("open label {line:?}")),
                            Some(b'\\') => {
                                if !matches!(b.get(i + 1), Some(b'\\' | b'"' | b'n')) {
                                    return Err(format!("bad label escape {line:?}"));
                                }
                                i += 2;
                            }
                            Some(b'"') => {
                                i += 1;
                                break;
                            }
                            Some(_) => i += 1,
                        }
                    }
                    match b.get(i) {
                        Some(b',') => i += 1,
                        Some(b'}') => {
                            i += 1;
                            break;
                        }
                        _ => return Err(format!("bad label list {line:?}")),
                    }
                }
            }
            let rest = line[i..]
                .strip_prefix(' ')
                .ok_or(format!("no value {line:?}"))?;
            let value = rest.split(' ').next().unwrap_or("");
            let ok = matches!(value, "+Inf" | "-Inf" | "NaN") || value.parse::<f64>().is_ok();
            if !ok {
                return Err(format!("bad value {line:?}"));
            }
            samples += 1;
        }
        Ok(samples)
    }

    // ---- formats ---------------------------------------------------------------------

    #[test]
    fn xml_has_mod_jk_names() {
        let f = fixture();
        let r = get(&f, "mime=xml");
        assert_eq!(r.status, 200);
        assert!(r.content_type.starts_with("text/xml"));
        let x = text(&r);
        xml_ok(x).unwrap_or_else(|e| panic!("{e}\n{x}"));
        for needle in [
            "<?xml version=\"1.0\" encoding=\"UTF-8\" ?>",
            "<jk:status\n  xmlns:jk=\"http://tomcat.apache.org\">",
            "<jk:server\n  name=\"127.0.0.1\"\n  port=\"8080\"\n/>",
            "<jk:software\n",
            "jk_version=\"mod_rjk/",
            "<jk:balancers\n  count=\"1\"\n>",
            "<jk:balancer\n    name=\"load_balancer\"\n    type=\"lb\"\n    sticky_session=\"True\"",
            "member_count=\"3\"",
            "good=\"3\"",
            "<jk:member\n      name=\"tomcat1\"\n      type=\"ajp13\"\n      host=\"localhost\"\n      port=\"18009\"",
            "activation=\"ACT\"",
            "state=\"OK/IDLE\"",
            "lbfactor=\"3\"",
            "lbvalue=\"0\"",
            "elected=\"0\"",
            "transferred=\"0\"",
            "<jk:map\n",
            "uri=\"/app/*\"",
            "type=\"Disabled Unmount Wildchar\"",
            "</jk:balancer>",
            "</jk:balancers>",
            "<jk:ajp_workers\n  count=\"1\"\n>",
            "<jk:ajp\n    name=\"solo\"",
            "<jk:result\n    type=\"OK\"\n    message=\"Action finished\"\n  />",
            "</jk:status>",
        ] {
            assert!(x.contains(needle), "missing {needle:?} in\n{x}");
        }
    }

    #[test]
    fn xml_honours_ns_and_xmlns() {
        let f = fixture_with("worker.jkstatus.ns=-\nworker.jkstatus.xmlns=-\n");
        let x = get(&f, "mime=xml").body_text().to_owned();
        xml_ok(&x).unwrap();
        assert!(x.contains("<status>") && x.contains("<balancer\n") && !x.contains("jk:"));
    }

    #[test]
    fn prop_lines() {
        let f = fixture();
        let r = get(&f, "mime=prop");
        assert_eq!(r.status, 200);
        let p = text(&r);
        for line in p.lines() {
            assert!(
                line.starts_with("worker.") && line.contains('='),
                "{line:?}"
            );
        }
        for needle in [
            "worker.server_name=127.0.0.1\n",
            "worker.server_port=8080\n",
            "worker.lb_count=1\n",
            "worker.list=load_balancer\n",
            "worker.load_balancer.type=lb\n",
            "worker.load_balancer.sticky_session=True\n",
            "worker.load_balancer.method=Request\n",
            "worker.load_balancer.balance_workers=tomcat1\n",
            "worker.load_balancer.balance_workers=tomcat3\n",
            "worker.tomcat1.type=ajp13\n",
            "worker.tomcat1.host=localhost\n",
            "worker.tomcat1.port=18009\n",
            "worker.tomcat1.activation=ACT\n",
            "worker.tomcat1.state=OK/IDLE\n",
            "worker.tomcat2.lbfactor=2\n",
            "worker.tomcat1.lbvalue=0\n",
            "worker.tomcat1.elected=0\n",
            "worker.tomcat1.busy=0\n",
            "worker.load_balancer.map.1.uri=/app/*\n",
            "worker.ajp_count=1\n",
            "worker.solo.list=solo\n",
            "worker.time_tz=+0000\n",
            "worker.solo.port=48009\n",
            "worker.result.type=OK\n",
            "worker.result.message=Action finished\n",
        ] {
            assert!(p.contains(needle), "missing {needle:?} in\n{p}");
        }
        // mod_jk's key set: no keys of our own, a standalone worker is no `worker.list` entry.
        for absent in [
            "lb_retries=",
            "retry_interval=",
            "rating=",
            "worker.list=solo",
        ] {
            assert!(!p.contains(absent), "{absent:?} in\n{p}");
        }
        let f = fixture_with("worker.jkstatus.prefix=jk\n");
        assert!(
            get(&f, "mime=prop")
                .body_text()
                .contains("jk.tomcat1.state=OK/IDLE\n")
        );
    }

    #[test]
    fn txt_lines() {
        let f = fixture();
        let r = get(&f, "mime=txt");
        assert_eq!(r.status, 200);
        let t = text(&r);
        let labels = [
            "Server:",
            "Time:",
            "Software:",
            "Balancer Workers:",
            "Balancer Worker:",
            "Member:",
            "Map:",
            "AJP Workers:",
            "AJP Worker:",
            "Result:",
        ];
        for line in t.lines() {
            assert!(labels.iter().any(|l| line.starts_with(l)), "{line:?}");
        }
        assert!(t.contains(
            "Member: name=tomcat1 type=ajp13 host=localhost port=18009 address=localhost:18009 source=undefined"
        ));
        assert!(t.contains(" activation=ACT lbfactor=1 route=\"tomcat1\" redirect=\"\" domain=\"\" distance=0 state=OK/IDLE"));
        assert!(t.contains("Balancer Worker: name=load_balancer type=lb sticky_session=True"));
        assert!(t.contains("AJP Worker: name=solo type=ajp13 host=127.0.0.1 port=48009"));
        assert!(t.contains("Server: name=127.0.0.1 port=8080\n"));
        assert!(t.contains("Result: type=OK message=\"Action finished\"\n"));
    }

    #[test]
    fn json_parses() {
        let f = fixture();
        for q in [
            "mime=json",
            "mime=json&cmd=show&w=load_balancer",
            "mime=json&cmd=version",
            "mime=json&cmd=dump",
            "mime=json&cmd=show&w=solo",
            "mime=json&opt=511",
        ] {
            let r = get(&f, q);
            assert_eq!(r.status, 200, "{q}");
            assert_eq!(r.content_type, "application/json");
            json_ok(text(&r)).unwrap_or_else(|e| panic!("{q}: {e}\n{}", text(&r)));
        }
        let j = get(&f, "mime=json").body_text().to_owned();
        for needle in [
            "\"rjk_status\":1",
            "\"balancers\":[{\"name\":\"load_balancer\",\"type\":\"lb\",\"sticky_session\":true",
            "\"members\":[{\"name\":\"tomcat1\",\"type\":\"ajp13\",\"host\":\"localhost\",\"port\":18009",
            "\"activation\":\"ACT\"",
            "\"state\":\"OK/IDLE\"",
            "\"rating\":\"good\"",
            "\"status\":\"good\"",
            "\"error_time_unix_seconds\":null",
            "\"ajp_workers\":[{\"name\":\"solo\"",
            "\"result\":{\"type\":\"OK\"",
        ] {
            assert!(j.contains(needle), "missing {needle:?} in\n{j}");
        }
        // Errors are JSON too.
        let r = get(&f, "mime=json&cmd=show&w=nope");
        assert_eq!(r.status, 404);
        json_ok(text(&r)).unwrap();
        assert!(text(&r).contains("\"type\":\"ERROR\""));
    }

    #[test]
    fn json_numbers_are_typed_not_guessed() {
        let f = fixture_with("worker.list=0123\nworker.0123.type=ajp13\nworker.0123.host=007\n");
        let j = get(&f, "mime=json").body_text().to_owned();
        json_ok(&j).unwrap_or_else(|e| panic!("{e}\n{j}"));
        assert!(j.contains("{\"name\":\"0123\",\"type\":\"ajp13\",\"host\":\"007\",\"port\":8009"));
    }

    fn latency(index: usize) -> Option<(Vec<(f64, u64)>, f64)> {
        (index == 0).then(|| {
            (
                vec![(0.005, 1), (0.1, 4), (1.0, 9), (f64::INFINITY, 10)],
                2.5,
            )
        })
    }

    #[test]
    fn prometheus_parses() {
        let f = fixture();
        let b = bal(&f);
        let t1 = b.member_index("tomcat1").unwrap();
        b.on_start(t1);
        b.on_success(t1, 100, 2000, 1_778_760_000_000);
        let mut c = ctx(&f);
        c.latency = &latency;
        let r = handle(&base("mime=prometheus"), &c);
        assert_eq!(r.status, 200);
        assert_eq!(r.content_type, "text/plain; version=0.0.4; charset=utf-8");
        let p = text(&r);
        let n = prom_ok(p).unwrap_or_else(|e| panic!("{e}\n{p}"));
        assert!(n > 50);
        for needle in [
            "# TYPE rjk_member_state gauge\n",
            "rjk_member_state{lb=\"load_balancer\",member=\"tomcat1\",state=\"OK\"} 1\n",
            "rjk_member_state{lb=\"load_balancer\",member=\"tomcat1\",state=\"ERR\"} 0\n",
            "rjk_member_activation{lb=\"load_balancer\",member=\"tomcat2\",activation=\"ACT\"} 1\n",
            "rjk_member_requests_total{lb=\"load_balancer\",member=\"tomcat1\"} 0\n",
            "rjk_member_written_bytes_total{lb=\"load_balancer\",member=\"tomcat1\"} 2000\n",
            "rjk_member_read_bytes_total{lb=\"load_balancer\",member=\"tomcat1\"} 100\n",
            "# TYPE rjk_member_latency_seconds histogram\n",
            "rjk_member_latency_seconds_bucket{lb=\"load_balancer\",member=\"tomcat1\",le=\"0.005\"} 1\n",
            "rjk_member_latency_seconds_bucket{lb=\"load_balancer\",member=\"tomcat1\",le=\"+Inf\"} 10\n",
            "rjk_member_latency_seconds_count{lb=\"load_balancer\",member=\"tomcat1\"} 10\n",
            "rjk_member_latency_seconds_sum{lb=\"load_balancer\",member=\"tomcat1\"} 2.5\n",
            "rjk_lb_members{lb=\"load_balancer\",rating=\"good\"} 3\n",
        ] {
            assert!(p.contains(needle), "missing {needle:?} in\n{p}");
        }
        // Each family's TYPE appears once.
        let types: Vec<&str> = p.lines().filter(|l| l.starts_with("# TYPE ")).collect();
        let mut dedup = types.clone();
        dedup.sort();
        dedup.dedup();
        assert_eq!(types.len(), dedup.len());
        assert!(
            !p.contains("member=\"tomcat2\",le="),
            "no data, no histogram"
        );
    }

    #[test]
    fn html_list_page() {
        let f = fixture();
        let r = get(&f, "");
        assert_eq!(r.status, 200);
        assert_eq!(r.content_type, "text/html; charset=utf-8");
        let h = text(&r);
        assert!(h.starts_with("<!DOCTYPE html>"));
        for needle in [
            "<section class=\"card lb\" id=\"lb-load_balancer\" data-lb=\"load_balancer\">",
            "data-member=\"tomcat1\" data-activation=\"ACT\" data-state=\"OK/IDLE\"",
            "data-edit-member=\"tomcat1\" href=\"/jkmanager/?cmd=edit&amp;w=load_balancer&amp;sw=tomcat1\"",
            "<form class=\"inline\" method=\"post\" action=\"/jkmanager/\">",
            &format!("<input type=\"hidden\" name=\"csrf\" value=\"{TOKEN}\">"),
            "data-quick=\"disable\"",
            "data-reset-member=\"tomcat2\"",
            "id=\"maps\"",
            "id=\"legend\"",
            "id=\"ajp-workers\"",
        ] {
            assert!(h.contains(needle), "missing {needle:?}");
        }
        // No state change is ever a GET link.
        for href in h.split("href=\"").skip(1) {
            let url = &href[..href.find('"').unwrap()];
            for cmd in ["cmd=update", "cmd=reset", "cmd=recover"] {
                assert!(!url.contains(cmd), "GET link {url}");
            }
        }
        // Every POST form carries the token.
        assert_eq!(
            h.matches("method=\"post\"").count(),
            h.matches("name=\"csrf\"").count()
        );
        assert!(
            h.contains("Content-Security-Policy") || r.header("Content-Security-Policy").is_some()
        );
        assert_eq!(r.header("X-Frame-Options"), Some("DENY"));
        assert!(
            !r.header("Content-Security-Policy")
                .unwrap()
                .contains("script-src")
        );
        assert!(!h.contains("<script"));
    }

    #[test]
    fn html_read_only_view_has_no_forms() {
        let f = fixture();
        let h = get(&f, "opt=32").body_text().to_owned();
        assert!(!h.contains("method=\"post\"") && !h.contains("data-edit-member"));
        let f = fixture_with("worker.jkstatus.read_only=true\n");
        let h = get(&f, "").body_text().to_owned();
        assert!(!h.contains("method=\"post\"") && !h.contains("csrf"));
    }

    #[test]
    fn html_refresh_and_opt() {
        let f = fixture();
        let h = get(&f, "re=10").body_text().to_owned();
        assert!(h.contains("<meta http-equiv=\"refresh\" content=\"10;url=/jkmanager/?re=10\">"));
        let h = get(&f, "re=999999").body_text().to_owned();
        assert!(h.contains("content=\"3600;"));
        assert!(!get(&f, "").body_text().contains("http-equiv=\"refresh\""));
        assert_eq!(get(&f, "re=abc").status, 400);
        assert_eq!(get(&f, "re=-1").status, 400);
        assert_eq!(get(&f, "opt=zz").status, 400);
        let h = get(&f, "opt=3").body_text().to_owned();
        assert!(!h.contains("<table class=\"members\"") && !h.contains("id=\"maps\""));
        assert!(h.contains("Show balancer members"));
        let x = get(&f, "mime=xml&opt=1").body_text().to_owned();
        assert!(!x.contains("<jk:member"));
    }

    #[test]
    fn html_edit_member_form() {
        let f = fixture();
        let r = get(&f, "cmd=edit&w=load_balancer&sw=tomcat1");
        assert_eq!(r.status, 200);
        let h = text(&r);
        for needle in [
            "<form class=\"edit\" id=\"edit-member\" method=\"post\" action=\"/jkmanager/\">",
            "<input type=\"hidden\" name=\"cmd\" value=\"update\">",
            "<input type=\"hidden\" name=\"sw\" value=\"tomcat1\">",
            &format!("name=\"csrf\" value=\"{TOKEN}\""),
            "<select id=\"vwa\" name=\"vwa\"><option value=\"Active\" selected>Active</option><option value=\"Disabled\">Disabled</option>",
            "name=\"vwf\"",
            "name=\"vwn\"",
            "name=\"vwr\"",
            "name=\"vwc\"",
            "name=\"vwd\"",
            "<button type=\"submit\" id=\"save\"",
        ] {
            assert!(h.contains(needle), "missing {needle:?}");
        }
        assert_eq!(get(&f, "cmd=edit&w=load_balancer&sw=nope").status, 404);
        assert_eq!(get(&f, "cmd=edit&w=load_balancer").status, 200);
        assert!(
            get(&f, "cmd=edit&w=load_balancer&att=vwf")
                .body_text()
                .contains("name=\"val2\"")
        );
        assert_eq!(get(&f, "cmd=edit&w=load_balancer&att=vahst").status, 400);
        assert!(
            get(&f, "cmd=edit&w=solo")
                .body_text()
                .contains("name=\"vart\"")
        );
        assert_eq!(get(&f, "cmd=edit&w=load_balancer&mime=xml").status, 400);
    }

    // ---- commands and errors --------------------------------------------------------

    #[test]
    fn unknown_things_are_4xx() {
        let f = fixture();
        for (q, status) in [
            ("cmd=bogus", 400),
            ("mime=yaml", 400),
            ("cmd=show", 400),
            ("cmd=show&w=nope", 404),
            ("cmd=show&w=jkstatus", 400),
            ("cmd=update&w=nope&vwa=1", 404),
            ("cmd=update&w=load_balancer&sw=nope&vwa=1", 404),
            ("cmd=update&w=load_balancer&sw=zz*&vwa=1", 404),
            ("cmd=reset&w=jkstatus", 400),
            ("cmd=update&w=solo&vamps=9000", 400),
            ("cmd=update&w=solo&var=0", 400),
            ("cmd=recover&w=load_balancer", 400),
            ("cmd=%zz", 400),
            ("cmd=list&x=%E9", 400),
            ("cmd=list&x=a%0Ab", 400),
            ("cmd=dump&mime=prometheus", 400),
        ] {
            let r = get(&f, q);
            assert_eq!(r.status, status, "{q}: {}", text(&r));
        }
        let r = get(&f, "cmd=bogus&mime=txt");
        assert_eq!(
            text(&r).lines().last(),
            Some("Result: type=ERROR message=\"Invalid command.\"")
        );
        let r = handle(
            &StatusRequest {
                method: "PUT",
                ..base("")
            },
            &ctx(&f),
        );
        assert_eq!(r.status, 405);
        assert!(r.header("Allow").is_some());
    }

    #[test]
    fn show_and_version() {
        let f = fixture();
        let r = get(&f, "cmd=show&w=load_balancer&mime=txt");
        assert_eq!(r.status, 200);
        assert!(text(&r).contains("Balancer Worker: name=load_balancer"));
        assert!(!text(&r).contains("AJP Worker: name=solo"));
        let r = get(&f, "cmd=show&w=tomcat2&mime=txt");
        assert!(
            text(&r).contains("AJP Worker: name=tomcat2"),
            "{}",
            text(&r)
        );
        let r = get(&f, "cmd=version&mime=txt");
        assert!(text(&r).contains(
            "Software: web_server=\"Apache/2.4.62 (Debian) mod_rjk/0.1.0\" jk_version=mod_rjk/"
        ));
        assert!(!text(&r).contains("Balancer"));
        let r = get(&f, "cmd=version");
        assert_eq!(r.status, 200);
    }

    #[test]
    fn head_has_no_body_and_changes_nothing() {
        let f = fixture();
        let r = handle(
            &StatusRequest {
                method: "HEAD",
                ..base("")
            },
            &ctx(&f),
        );
        assert_eq!(r.status, 200);
        assert!(r.body.is_empty());
        let r = handle(
            &StatusRequest {
                method: "HEAD",
                ..base("cmd=update&w=load_balancer&sw=tomcat1&vwa=1")
            },
            &ctx(&f),
        );
        assert_eq!(r.status, 405);
        assert_eq!(member(&f, "tomcat1").activation, Activation::Active);
    }

    #[test]
    fn get_update_without_markers_works() {
        let f = fixture();
        let r = get(&f, "cmd=update&w=load_balancer&sw=tomcat1&vwa=1");
        assert_eq!(r.status, 200, "{}", text(&r));
        assert_eq!(member(&f, "tomcat1").activation, Activation::Disabled);
        assert_eq!(
            r.log,
            vec![
                "Status worker 'jkstatus' changing 'activation' for sub worker 'tomcat1' of lb \
                 worker 'load_balancer' from 'ACT' to 'DIS'"
                    .to_owned()
            ]
        );
        // HTML answer: result page returning to the list.
        assert!(text(&r).contains("http-equiv=\"refresh\" content=\"3;url=/jkmanager/?cmd=list\""));
        // Other formats answer in their format.
        let r = get(
            &f,
            "cmd=update&w=load_balancer&sw=tomcat1&vwa=Stopped&vwf=4&vwd=2&vwn=t1.x&vwr=tomcat2&vwc=dom&mime=txt",
        );
        assert_eq!(r.status, 200, "{}", text(&r));
        assert!(text(&r).contains("Result: type=OK"));
        let m = member(&f, "tomcat1");
        assert_eq!(
            (
                m.activation,
                m.lbfactor,
                m.distance,
                m.route.as_str(),
                m.redirect.as_str(),
                m.domain.as_str()
            ),
            (Activation::Stopped, 4, 2, "t1.x", "tomcat2", "dom")
        );
        assert_eq!(r.log.len(), 6);
        // A browser's GET update, same-origin or typed into the address bar, needs the
        // form token; with it, it is applied.
        for (site, referer) in [
            (
                Some("same-origin"),
                Some("http://127.0.0.1:8080/jkmanager/"),
            ),
            (Some("none"), None),
        ] {
            let q = "cmd=update&w=load_balancer&sw=tomcat1&vwa=A";
            let req = StatusRequest {
                sec_fetch_site: site,
                referer,
                browser_headers: true,
                ..base(q)
            };
            assert_eq!(handle(&req, &ctx(&f)).status, 403);
            assert_eq!(member(&f, "tomcat1").activation, Activation::Stopped);
            let q = format!("{q}&csrf={TOKEN}");
            let req = StatusRequest {
                sec_fetch_site: site,
                referer,
                browser_headers: true,
                ..base(&q)
            };
            assert_eq!(handle(&req, &ctx(&f)).status, 200);
            assert_eq!(member(&f, "tomcat1").activation, Activation::Active);
            let req = base("cmd=update&w=load_balancer&sw=tomcat1&vwa=S");
            assert_eq!(handle(&req, &ctx(&f)).status, 200);
        }
    }

    /// A page on another site over plain http: no Sec-Fetch-*, no Referer
    /// (`referrerpolicy=no-referrer`), only the browser's User-Agent. Refused without the
    /// token; curl and wget are not browsers.
    #[test]
    fn browser_state_changes_need_the_token() {
        let f = fixture();
        let q = "cmd=update&w=load_balancer&sw=tomcat1&vwa=S";
        let chrome =
            "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 Chrome/120.0 Safari/537.36";
        for req in [
            StatusRequest {
                user_agent: Some(chrome),
                ..base(q)
            },
            StatusRequest {
                browser_headers: true,
                ..base(q)
            },
            StatusRequest {
                origin: Some("http://127.0.0.1:8080"),
                ..base("cmd=reset&w=load_balancer")
            },
        ] {
            let r = handle(&req, &ctx(&f));
            assert_eq!(r.status, 403, "{req:?}");
            assert!(r.body_text().contains("curl"), "{}", r.body_text());
            assert_eq!(member(&f, "tomcat1").activation, Activation::Active);
        }
        // Reads from a browser need no token.
        let r = handle(
            &StatusRequest {
                user_agent: Some(chrome),
                ..base("mime=txt")
            },
            &ctx(&f),
        );
        assert_eq!(r.status, 200);
        for ua in [None, Some("curl/7.88.1"), Some("Wget/1.21.3")] {
            let req = StatusRequest {
                user_agent: ua,
                ..base("cmd=update&w=load_balancer&sw=tomcat1&vwa=A")
            };
            assert_eq!(handle(&req, &ctx(&f)).status, 200, "{ua:?}");
        }
    }

    /// DNS rebinding: the page answers only for the server's names, localhost, IP
    /// literals and `allowed_hosts`.
    #[test]
    fn worker_allowed_hosts_and_server_names_guard_against_dns_rebinding() {
        let mut f = fixture();
        let names = ["jkm.example".to_owned(), "*.corp.example".to_owned()];
        let answers = |f: &Fixture, host: &str| {
            let c = StatusContext {
                server_names: &names,
                ..ctx(f)
            };
            handle(
                &StatusRequest {
                    host,
                    ..base("mime=txt")
                },
                &c,
            )
            .status
        };
        for host in [
            "jkm.example:8080",
            "JKM.example.",
            "a.corp.example",
            "localhost:8080",
            "127.0.0.1:8080",
            "[::1]:8080",
            "",
        ] {
            assert_eq!(answers(&f, host), 200, "{host}");
        }
        for host in [
            "evil.example",
            "jkm.example.evil.example:8080",
            "corp.example",
        ] {
            assert_eq!(answers(&f, host), 403, "{host}");
        }
        f.status.allowed_hosts = vec!["evil.example".to_owned()];
        assert_eq!(answers(&f, "evil.example"), 200);
        f.status.allowed_hosts = vec!["*".to_owned()];
        assert_eq!(answers(&f, "anything.example"), 200);
    }

    #[test]
    fn cross_site_markers_are_refused() {
        let f = fixture();
        let q = "cmd=update&w=load_balancer&sw=tomcat1&vwa=1";
        let cases = [
            StatusRequest {
                sec_fetch_site: Some("cross-site"),
                ..base(q)
            },
            StatusRequest {
                sec_fetch_site: Some("same-site"),
                ..base(q)
            },
            StatusRequest {
                origin: Some("http://evil.example"),
                ..base(q)
            },
            StatusRequest {
                origin: Some("null"),
                ..base(q)
            },
            StatusRequest {
                origin: Some("http://127.0.0.1:8081"),
                ..base(q)
            },
            StatusRequest {
                origin: Some("https://127.0.0.1:8080"),
                host: "127.0.0.1",
                ..base(q)
            },
            StatusRequest {
                referer: Some("http://evil.example/x?127.0.0.1:8080"),
                ..base(q)
            },
            StatusRequest {
                referer: Some("http://127.0.0.1:8080@evil.example/"),
                ..base(q)
            },
            StatusRequest {
                referer: Some("not a url"),
                ..base(q)
            },
            StatusRequest {
                referer: Some("http://127.0.0.1:8080/"),
                origin: Some("http://evil.example"),
                ..base(q)
            },
        ];
        for req in cases {
            let r = handle(&req, &ctx(&f));
            assert_eq!(
                r.status, 403,
                "{:?} {:?} {:?}",
                req.sec_fetch_site, req.origin, req.referer
            );
            assert!(r.log.is_empty());
        }
        for q in [
            "cmd=reset&w=load_balancer",
            "cmd=recover&w=load_balancer&sw=tomcat1",
        ] {
            let r = handle(
                &StatusRequest {
                    sec_fetch_site: Some("cross-site"),
                    ..base(q)
                },
                &ctx(&f),
            );
            assert_eq!(r.status, 403);
        }
        assert_eq!(member(&f, "tomcat1").activation, Activation::Active);
        // Reads stay possible from anywhere (httpd's access control applies).
        let r = handle(
            &StatusRequest {
                sec_fetch_site: Some("cross-site"),
                ..base("mime=json")
            },
            &ctx(&f),
        );
        assert_eq!(r.status, 200);
        // Default ports are normalised.
        let names = ["example.org".to_owned()];
        let c = StatusContext {
            server_names: &names,
            ..ctx(&f)
        };
        let q = format!("{q}&csrf={TOKEN}");
        let req = StatusRequest {
            origin: Some("http://example.org"),
            host: "example.org:80",
            ..base(&q)
        };
        assert_eq!(handle(&req, &c).status, 200);
        let req = StatusRequest {
            origin: Some("https://Example.org:443"),
            host: "example.org",
            ..base(&q)
        };
        assert_eq!(handle(&req, &c).status, 200);
    }

    #[test]
    fn post_needs_the_token() {
        let f = fixture();
        let form = "cmd=update&w=load_balancer&sw=tomcat1&vwa=Disabled";
        let r = post(&f, form);
        assert_eq!(r.status, 403);
        let r = post(&f, &format!("{form}&csrf=00000000000000000000000000000000"));
        assert_eq!(r.status, 403);
        let r = post(&f, &format!("{form}&csrf={}", &TOKEN[..31]));
        assert_eq!(r.status, 403);
        assert_eq!(member(&f, "tomcat1").activation, Activation::Active);
        // Token in the query string of a cross-site POST does not help either.
        let r = handle(
            &StatusRequest {
                method: "POST",
                form: form.as_bytes(),
                sec_fetch_site: Some("cross-site"),
                ..base(&format!("csrf={TOKEN}"))
            },
            &ctx(&f),
        );
        assert_eq!(r.status, 403);
        assert_eq!(member(&f, "tomcat1").activation, Activation::Active);
        // The right token: applied, 303 back to the list.
        let r = post(&f, &format!("{form}&csrf={TOKEN}"));
        assert_eq!(r.status, 303, "{}", text(&r));
        assert_eq!(r.header("Location"), Some("/jkmanager/?cmd=list&ok=update"));
        assert_eq!(member(&f, "tomcat1").activation, Activation::Disabled);
        assert_eq!(r.log.len(), 1);
        // The list shows the notice and the new state.
        let h = get(&f, "cmd=list&ok=update").body_text().to_owned();
        assert!(h.contains("Changes applied."));
        assert!(h.contains("data-member=\"tomcat1\" data-activation=\"DIS\""));
        // View settings survive, from=show returns to the show page.
        let r = post(
            &f,
            &format!("cmd=update&w=load_balancer&sw=tomcat1&vwa=A&from=show&re=30&csrf={TOKEN}"),
        );
        assert_eq!(
            r.header("Location"),
            Some("/jkmanager/?cmd=show&w=load_balancer&ok=update&re=30")
        );
        // No token configured: every POST is refused.
        let mut c = ctx(&f);
        c.csrf_token = "";
        let req = StatusRequest {
            method: "POST",
            form: b"cmd=list&csrf=",
            ..base("")
        };
        assert_eq!(handle(&req, &c).status, 403);
    }

    #[test]
    fn css_keeps_redirect_and_csp() {
        let f = fixture_with("worker.jkstatus.css=/static/jk.css\n");
        let r = post(
            &f,
            &format!("cmd=update&w=load_balancer&sw=tomcat1&vwa=D&csrf={TOKEN}"),
        );
        assert_eq!(r.status, 303);
        assert_eq!(r.header("Location"), Some("/jkmanager/?cmd=list&ok=update"));
        let r = get(&f, "");
        assert!(
            r.body_text()
                .contains("<link rel=\"stylesheet\" href=\"/static/jk.css\">")
        );
        assert!(
            r.header("Content-Security-Policy")
                .unwrap()
                .contains("'self'")
        );
    }

    #[test]
    fn read_only_refuses_changes() {
        let f = fixture_with("worker.jkstatus.read_only=true\n");
        for q in [
            "cmd=update&w=load_balancer&sw=tomcat1&vwa=1",
            "cmd=reset&w=load_balancer",
            "cmd=recover&w=load_balancer&sw=tomcat1",
            "cmd=edit&w=load_balancer&sw=tomcat1",
        ] {
            assert_eq!(get(&f, q).status, 403, "{q}");
        }
        let r = post(
            &f,
            &format!("cmd=update&w=load_balancer&sw=tomcat1&vwa=1&csrf={TOKEN}"),
        );
        assert_eq!(r.status, 403);
        assert_eq!(member(&f, "tomcat1").activation, Activation::Active);
        assert_eq!(get(&f, "").status, 200);
        let f = fixture();
        assert_eq!(
            get(&f, "cmd=update&w=load_balancer&sw=tomcat1&vwa=1&opt=32").status,
            403
        );
        assert_eq!(member(&f, "tomcat1").activation, Activation::Active);
    }

    #[test]
    fn user_list() {
        let f = fixture_with("worker.jkstatus.user=admin,ops\n");
        let c = ctx(&f);
        let as_user = |u: Option<&'static str>| {
            handle(
                &StatusRequest {
                    remote_user: u,
                    ..base("")
                },
                &c,
            )
            .status
        };
        assert_eq!(as_user(None), 403);
        assert_eq!(as_user(Some("")), 403);
        assert_eq!(as_user(Some("mallory")), 403);
        assert_eq!(as_user(Some("Admin")), 403);
        assert_eq!(as_user(Some("admin")), 200);
        assert_eq!(as_user(Some("ops")), 200);
        let f = fixture_with(
            "worker.jkstatus.user=admin\nworker.jkstatus.user_case_insensitive=true\n",
        );
        let r = handle(
            &StatusRequest {
                remote_user: Some("ADMIN"),
                ..base("")
            },
            &ctx(&f),
        );
        assert_eq!(r.status, 200);
    }

    #[test]
    fn wildcard_members() {
        let f = fixture();
        let r = get(&f, "cmd=update&w=load_balancer&sw=tomcat*&vwf=5&mime=txt");
        assert_eq!(r.status, 200);
        assert_eq!(r.log.len(), 3);
        for m in bal(&f).members() {
            assert_eq!(m.lbfactor, 5);
        }
        get(&f, "cmd=update&w=load_balancer&sw=tomcat?&vwd=1");
        get(&f, "cmd=update&w=load_balancer&sw=*3&vwa=S");
        assert_eq!(member(&f, "tomcat3").activation, Activation::Stopped);
        assert_eq!(member(&f, "tomcat2").activation, Activation::Active);
        assert_eq!(member(&f, "tomcat2").distance, 1);
        assert!(glob(b"t*1", b"tomcat1") && !glob(b"t*1", b"tomcat2") && glob(b"*", b""));
    }

    #[test]
    fn multi_member_attribute() {
        let f = fixture();
        let r = get(&f, "cmd=update&w=load_balancer&att=vwf&val0=7&val2=9");
        assert_eq!(r.status, 200, "{}", text(&r));
        assert_eq!(
            [
                member(&f, "tomcat1").lbfactor,
                member(&f, "tomcat2").lbfactor,
                member(&f, "tomcat3").lbfactor
            ],
            [7, 2, 9]
        );
        let r = get(&f, "cmd=update&w=load_balancer&att=vwa&val1=D");
        assert_eq!(r.status, 200);
        assert_eq!(member(&f, "tomcat2").activation, Activation::Disabled);
        assert_eq!(
            get(&f, "cmd=update&w=load_balancer&att=bogus&val0=1").status,
            400
        );
        assert_eq!(
            get(&f, "cmd=update&w=load_balancer&att=vwf&val0=0").status,
            400
        );
        // mod_jk's ajp attributes: the value goes to the member's shared slot.
        assert_eq!(
            get(&f, "cmd=update&w=load_balancer&att=vaprt&val0=18009").status,
            200
        );
        assert_eq!(
            get(&f, "cmd=update&w=load_balancer&att=vaprt&val0=70000").status,
            400
        );
        let r = get(&f, "cmd=update&w=load_balancer&att=vart&val0=1500");
        assert_eq!(r.status, 200, "{}", text(&r));
        assert!(r.log[0].contains("changing 'reply_timeout' for sub worker 'tomcat1'"));
        assert_eq!(f.seg.ajp("tomcat1").unwrap().settings().reply_timeout, 1500);
        assert_eq!(f.seg.ajp("tomcat2").unwrap().settings().reply_timeout, 0);
    }

    #[test]
    fn validation_is_all_or_nothing() {
        let f = fixture();
        for q in [
            "cmd=update&w=load_balancer&sw=tomcat1&vwa=1&vahst=otherhost",
            "cmd=update&w=load_balancer&sw=tomcat1&vwa=1&vwf=0",
            "cmd=update&w=load_balancer&sw=tomcat1&vwa=1&vwf=abc",
            "cmd=update&w=load_balancer&sw=tomcat1&vwa=1&vwf=99999999999999999999999",
            "cmd=update&w=load_balancer&sw=tomcat1&vwa=1&vwd=-1",
            "cmd=update&w=load_balancer&sw=tomcat1&vwa=X",
            "cmd=update&w=load_balancer&sw=tomcat1&vwa=1&vwn=",
            "cmd=update&w=load_balancer&sw=tomcat1&vwa=1&vwn=%3Cscript%3E",
            "cmd=update&w=load_balancer&sw=tomcat1&vwa=1&vwn=a%20b",
            "cmd=update&w=load_balancer&sw=tomcat1&vwa=1&vwn=tomcat2",
            "cmd=update&w=load_balancer&sw=*&vwn=same",
            "cmd=update&w=load_balancer&sw=tomcat1&vwa=1&vwr=0123456789012345678901234567890123456789012345678901234567890123",
            "cmd=update&w=load_balancer&vlr=0",
            "cmd=update&w=load_balancer&vlr=3&vlm=Q",
            "cmd=update&w=load_balancer&vls=maybe",
            "cmd=update&w=load_balancer&vlr=3&vll=P",
        ] {
            let r = get(&f, q);
            assert_eq!(r.status, 400, "{q}: {}", text(&r));
            assert!(r.log.is_empty());
        }
        let m = member(&f, "tomcat1");
        assert_eq!(
            (m.activation, m.lbfactor, m.route.as_str()),
            (Activation::Active, 1, "tomcat1")
        );
        assert_eq!(bal(&f).settings().retries, 2);
        let r = get(
            &f,
            "cmd=update&w=load_balancer&sw=tomcat1&vahst=host.invalid&mime=txt",
        );
        assert!(text(&r).contains("Could not resolve"), "{}", text(&r));
        assert_eq!(f.seg.ajp("tomcat1").unwrap().settings().host, "localhost");
        // Repeating configured ajp values (mod_jk's full edit form) is accepted.
        let r = get(
            &f,
            "cmd=update&w=load_balancer&sw=tomcat1&vwa=1&vahst=localhost&vaprt=18009&vamps=8192&vll=O",
        );
        assert_eq!(r.status, 200, "{}", text(&r));
        assert_eq!(get(&f, "cmd=update&w=solo&vaprt=48009").status, 200);
        assert!(r.log.iter().all(|l| !l.contains("'port'")), "{:?}", r.log);
        // A standalone worker's values change in its shared slot, all or nothing.
        let r = get(&f, "cmd=update&w=solo&vaprt=1&vart=2500&var=3");
        assert_eq!(r.status, 200, "{}", text(&r));
        assert_eq!(r.log.len(), 3, "{:?}", r.log);
        assert!(r.log[0].contains("for ajp worker 'solo' from '48009' to '1'"));
        let solo = f.seg.ajp("solo").unwrap();
        let seq = solo.sequence();
        let addr = solo.addr_sequence();
        assert_eq!(
            (
                solo.settings().port,
                solo.settings().reply_timeout,
                solo.settings().retries
            ),
            (1, 2500, 3)
        );
        assert_eq!(get(&f, "cmd=update&w=solo&vart=10&vamps=100").status, 400);
        assert_eq!(solo.settings().reply_timeout, 2500);
        assert_eq!(solo.sequence(), seq);
        assert_eq!(get(&f, "cmd=update&w=solo&vart=10").status, 200);
        assert_eq!(solo.addr_sequence(), addr, "no address change");
        assert_eq!(get(&f, "cmd=update&w=solo&vaprt=2").status, 200);
        assert_eq!(solo.addr_sequence(), addr + 1);
        // The page shows the values in force.
        let r = get(&f, "cmd=show&w=solo&mime=prop");
        assert!(
            text(&r).contains("worker.solo.reply_timeout=10\n"),
            "{}",
            text(&r)
        );
        assert!(text(&r).contains("worker.solo.port=2\n"));
        assert_eq!(get(&f, "cmd=update&w=jkstatus&vwa=1").status, 400);
    }

    #[test]
    fn standalone_workers_have_statistics_reset_and_recover() {
        let f = fixture();
        let solo = f.seg.ajp("solo").unwrap();
        assert_eq!(solo.on_start(), 1);
        solo.on_end(crate::shm::AjpResult::Ok, 300, 120, Some(7));
        solo.on_start();
        solo.on_end(
            crate::shm::AjpResult::Error {
                reply_timeout: true,
            },
            4,
            90,
            None,
        );
        solo.on_start();
        solo.on_end(crate::shm::AjpResult::ClientError, 0, 0, None);
        solo.connections_changed(2);
        solo.connections_changed(-1);
        let t = text(&get(&f, "cmd=show&w=solo&mime=txt")).to_owned();
        let kv = "used=3 errors=1 client_errors=2 reply_timeouts=1 transferred=210 read=304 \
                  busy=0 max_busy=1 connected=1 max_connected=2 map_count=";
        assert!(t.contains(kv), "{t}");
        assert!(
            !t.contains("AJP Workers: count"),
            "show has no list header: {t}"
        );
        let x = text(&get(&f, "cmd=show&w=solo&mime=xml")).to_owned();
        assert!(
            !x.contains("ajp_workers") && x.contains("used=\"3\""),
            "{x}"
        );
        let (buckets, sum) = solo.latency();
        assert_eq!(buckets[1], (0.01, 1), "7 ms lands in the 10 ms bucket");
        assert!((sum - 0.007).abs() < 1e-9);
        let r = get(&f, "cmd=reset&w=solo");
        assert_eq!(r.status, 200);
        assert!(r.log[0].contains("resetting statistics of ajp worker 'solo'"));
        let s = solo.stats();
        // As mod_jk: the open connection stays counted, its peak restarts at zero.
        assert_eq!(
            (s.used, s.errors, s.read, s.connected, s.max_connected),
            (0, 0, 0, 1, 0)
        );
        assert_eq!(s.last_reset_ms, 1_778_760_000_000);
        solo.on_start();
        solo.on_end(
            crate::shm::AjpResult::Error {
                reply_timeout: true,
            },
            0,
            0,
            None,
        );
        assert_eq!(get(&f, "cmd=recover&w=solo").status, 200);
        assert_eq!(solo.stats().reply_timeouts, 0);
        // sw= shows that member only.
        let t = text(&get(&f, "cmd=show&w=load_balancer&sw=tomcat2&mime=txt")).to_owned();
        assert!(
            t.contains("Member: name=tomcat2") && !t.contains("Member: name=tomcat1"),
            "{t}"
        );
        assert!(t.contains(" connected=0 max_connected=0 "), "{t}");
        assert_eq!(get(&f, "cmd=show&w=load_balancer&sw=nope").status, 404);
    }

    #[test]
    fn lb_settings_update() {
        let f = fixture();
        let r = get(
            &f,
            "cmd=update&w=load_balancer&vlr=3&vlri=250&vlt=30&vlee=10&vlx=4&vls=0&vlf=True&vlm=B",
        );
        assert_eq!(r.status, 200, "{}", text(&r));
        let s = bal(&f).settings();
        assert_eq!(
            (
                s.retries,
                s.retry_interval_ms,
                s.recover_time_secs,
                s.error_escalation_time_secs,
                s.max_reply_timeouts
            ),
            (3, 250, 30, 10, 4)
        );
        assert!(!s.sticky_session && s.sticky_session_force);
        assert_eq!(s.method, LbMethod::Busyness);
        assert_eq!(r.log.len(), 8);
        assert!(r.log.contains(
            &"Status worker 'jkstatus' changing 'method' for lb worker 'load_balancer' from 'Request' to 'Busyness'"
                .to_owned()
        ));
        // Nothing to change: OK, no log, mod_jk's answer (JSON says nothing changed).
        let r = get(&f, "cmd=update&w=load_balancer&vlr=3&mime=txt");
        assert!(r.log.is_empty());
        assert_eq!(text(&r), "Result: type=OK message=\"Action finished\"\n");
        let r = get(&f, "cmd=update&w=load_balancer&vlr=3&mime=json");
        assert!(text(&r).contains("nothing changed"));
    }

    #[test]
    fn reset_statistics() {
        let f = fixture();
        let b = bal(&f);
        let now = 1_778_760_000_000;
        for name in ["tomcat1", "tomcat2"] {
            let m = b.member_index(name).unwrap();
            b.on_start(m);
            b.on_success(m, 10, 20, now);
        }
        let r = get(&f, "cmd=reset&w=load_balancer&sw=tomcat1");
        assert_eq!(r.status, 200);
        assert_eq!(member(&f, "tomcat1").bytes_written, 0);
        assert_eq!(member(&f, "tomcat2").bytes_written, 20);
        assert_eq!(member(&f, "tomcat1").last_reset_ms, ctx(&f).now_ms);
        let r = get(&f, "cmd=reset&w=load_balancer");
        assert_eq!(r.status, 200);
        assert_eq!(member(&f, "tomcat2").bytes_written, 0);
        assert_eq!(
            r.log,
            vec![
                "Status worker 'jkstatus' resetting statistics of lb worker 'load_balancer'"
                    .to_owned()
            ]
        );
    }

    #[test]
    fn recover_member() {
        let f = fixture();
        let b = bal(&f);
        let now = 1_778_760_000_000;
        let t2 = b.member_index("tomcat2").unwrap();
        let r = get(&f, "cmd=recover&w=load_balancer&sw=tomcat2");
        assert_eq!(r.status, 409, "not in error");
        b.on_start(t2);
        b.on_failure(t2, FailureKind::Backend, now);
        assert_eq!(member(&f, "tomcat2").state, MemberState::Error);
        // The page offers the Recover button and rates the member bad.
        let h = get(&f, "").body_text().to_owned();
        assert!(h.contains("data-recover-member=\"tomcat2\""));
        let j = get(&f, "mime=json").body_text().to_owned();
        assert!(j.contains("\"bad\":1") && j.contains("\"status\":\"degraded\""));
        let r = get(&f, "cmd=recover&w=load_balancer&sw=tomcat2");
        assert_eq!(r.status, 200);
        assert_eq!(member(&f, "tomcat2").state, MemberState::Recover);
        assert_eq!(r.log.len(), 1);
    }

    #[test]
    fn ratings() {
        let p = fixture().status;
        assert_eq!(rate(&p, Activation::Active, MemberState::Ok), Rating::Good);
        assert_eq!(
            rate(&p, Activation::Active, MemberState::Idle),
            Rating::Good
        );
        assert_eq!(
            rate(&p, Activation::Active, MemberState::Probe),
            Rating::Good
        );
        assert_eq!(
            rate(&p, Activation::Disabled, MemberState::Ok),
            Rating::Degraded
        );
        assert_eq!(rate(&p, Activation::Stopped, MemberState::Ok), Rating::Bad);
        assert_eq!(
            rate(&p, Activation::Active, MemberState::Error),
            Rating::Bad
        );
        let p = fixture_with("worker.jkstatus.good=a,d.o\nworker.jkstatus.bad=e\n").status;
        assert_eq!(
            rate(&p, Activation::Disabled, MemberState::Ok),
            Rating::Good
        );
        assert_eq!(
            rate(&p, Activation::Disabled, MemberState::Idle),
            Rating::Degraded
        );
        assert_eq!(
            rate(&p, Activation::Stopped, MemberState::Ok),
            Rating::Degraded
        );
        assert_eq!(
            rate(&p, Activation::Stopped, MemberState::Error),
            Rating::Bad
        );
    }

    #[test]
    fn time_formats() {
        assert_eq!(time_text(0), "19700101000000");
        assert_eq!(time_human(0), "Thu, 01 Jan 1970 00:00:00 UTC");
        assert_eq!(time_text(951_782_400), "20000229000000");
        assert_eq!(time_human(1_778_760_000), "Thu, 14 May 2026 12:00:00 UTC");
    }

    // ---- hostile values and secrets ------------------------------------------------

    const HOSTILE: &str = "<script>alert(\"x\")</script>'&\n\r\tX\\Y\u{7}";

    fn hostile_fixture() -> Fixture {
        let mut f = fixture_with(&format!(
            "worker.tomcat1.secret={SECRET}\nworker.load_balancer.secret={SECRET}2\n\
             worker.tomcat2.route=<b>\"r'&\nworker.jkstatus.css=/s.css\"><script>\n"
        ));
        f.software = HOSTILE.to_owned();
        f.maps[0].1.push(MapRow {
            pattern: format!("/evil{HOSTILE}"),
            worker: "load_balancer".into(),
            kind: MatchKind::Wildchar,
            source: HOSTILE.into(),
            extensions: RuleExtensions {
                session_cookie: Some(HOSTILE.into()),
                active: vec![HOSTILE.into()],
                ..RuleExtensions::default()
            },
        });
        f
    }

    fn all_outputs(f: &Fixture) -> Vec<(String, StatusResponse)> {
        let mut v = Vec::new();
        for cmd in [
            "list",
            "show&w=load_balancer",
            "show&w=tomcat1",
            "version",
            "dump",
            "bogus",
        ] {
            for mime in ["html", "xml", "txt", "prop", "json", "prometheus"] {
                let q = format!("cmd={cmd}&mime={mime}");
                v.push((q.clone(), get(f, &q)));
            }
        }
        for q in [
            "cmd=edit&w=load_balancer&sw=tomcat2",
            "cmd=edit&w=load_balancer",
            "cmd=edit&w=load_balancer&att=vwn",
            "cmd=edit&w=tomcat1",
            "cmd=update&w=load_balancer&sw=tomcat1&vwa=1",
            "cmd=update&w=load_balancer&sw=tomcat1&vwa=0&mime=json",
            "cmd=update&w=load_balancer&sw=%3Cscript%3E&vwa=0",
            "cmd=show&w=%3Cscript%3E%22",
            "cmd=show&w=%3Cscript%3E%22&mime=xml",
            "cmd=show&w=%3Cscript%3E%22&mime=json",
        ] {
            v.push((q.to_owned(), get(f, q)));
        }
        v
    }

    #[test]
    fn hostile_values_are_escaped_everywhere() {
        let f = hostile_fixture();
        assert_eq!(member(&f, "tomcat2").route, "<b>\"r'&");
        for (q, r) in all_outputs(&f) {
            let body = text(&r);
            if r.content_type.starts_with("text/html") || r.content_type.starts_with("text/xml") {
                assert!(!body.contains("<script"), "{q}: raw <script> in\n{body}");
                assert!(!body.contains("<b>\"r"), "{q}: raw hostile route");
            }
            match r.content_type.as_str() {
                ct if ct.starts_with("text/html") => {
                    assert!(!body.contains('\u{7}'), "{q}");
                }
                ct if ct.starts_with("text/xml") => {
                    xml_ok(body).unwrap_or_else(|e| panic!("{q}: {e}\n{body}"));
                }
                "application/json" => json_ok(body).unwrap_or_else(|e| panic!("{q}: {e}\n{body}")),
                ct if ct.contains("version=0.0.4") => {
                    prom_ok(body).unwrap_or_else(|e| panic!("{q}: {e}\n{body}"));
                }
                _ => {
                    // txt and prop: one record per line, no injected lines.
                    for line in body.lines() {
                        let ok = line.starts_with("worker.")
                            || line.starts_with("Server:")
                            || line.starts_with("Time:")
                            || line.starts_with("Software:")
                            || line.starts_with("Balancer Worker")
                            || line.starts_with("Member:")
                            || line.starts_with("Map:")
                            || line.starts_with("AJP Worker")
                            || line.starts_with("Result:")
                            || line.starts_with("Configuration:")
                            || line.starts_with("# ")
                            || (q.contains("dump") && line.contains('='));
                        assert!(ok, "{q}: injected line {line:?}");
                        assert!(
                            !line.contains('\r') && !line.contains('\u{7}'),
                            "{q}: {line:?}"
                        );
                    }
                }
            }
            for (k, v) in &r.headers {
                assert!(
                    !k.contains(['\r', '\n']) && !v.contains(['\r', '\n']),
                    "{q}: header {k}"
                );
            }
        }
    }

    #[test]
    fn secret_never_shown() {
        let f = hostile_fixture();
        for (q, r) in all_outputs(&f) {
            let body = text(&r);
            assert!(!body.contains(SECRET), "{q} leaks the secret");
            assert!(!body.contains("Zq8-secret"), "{q} leaks part of the secret");
        }
        let d = get(&f, "cmd=dump&mime=txt").body_text().to_owned();
        assert!(d.contains("worker.tomcat1.port=18009"));
        assert!(!d.contains(".secret"));
        // A value that merely contains a secret is hidden too.
        let f = fixture_with(&format!(
            "worker.tomcat1.secret={SECRET}\nworker.tomcat3.route=x{SECRET}\n"
        ));
        let d = get(&f, "cmd=dump&mime=prop").body_text().to_owned();
        assert!(
            !d.contains(SECRET) && d.contains("worker.tomcat3.route=(hidden)"),
            "{d}"
        );
    }

    #[test]
    fn escapers() {
        assert_eq!(
            Html("<a href=\"x\">&'").to_string(),
            "&lt;a href=&quot;x&quot;&gt;&amp;&#39;"
        );
        assert_eq!(
            Xml("a\"b\nc<\u{1}").to_string(),
            "a&quot;b&#10;c&lt;\u{FFFD}"
        );
        assert_eq!(
            Json("a\"\\\n<\u{1}").to_string(),
            "a\\\"\\\\\\n\\u003c\\u0001"
        );
        assert_eq!(Label("a\"\\\nb").to_string(), "a\\\"\\\\\\nb");
        assert_eq!(Txt("a b\"\n", true).to_string(), "a\\x20b\\\"\\n");
        assert_eq!(Prop(" a=b:c\n", true).to_string(), "\\ a\\=b\\:c\\n");
        assert_eq!(Prop(" a=b", false).to_string(), "\\ a=b");
        assert_eq!(encode_component("a b&c=d/é"), "a%20b%26c%3Dd%2F%C3%A9");
        assert_eq!(
            manager_url("/jk manager/", &[("cmd", "list")]),
            "/jk%20manager/?cmd=list"
        );
        assert_eq!(manager_url("", &[]), "?");
    }

    #[test]
    fn params_decoding() {
        let p = Params::parse(b"a=1&b=x+y%21&a=2&&=z&c").unwrap();
        assert_eq!(p.get("a"), Some("2"));
        assert_eq!(p.get("b"), Some("x y!"));
        assert_eq!(p.get("c"), Some(""));
        assert!(Params::parse(b"a=%4").is_err());
        assert!(Params::parse(b"a=%FF").is_err());
        assert!(Params::parse(b"a=%00").is_err());
        let many = "a=1&".repeat(MAX_PARAMS + 1);
        assert!(Params::parse(many.as_bytes()).is_err());
    }

    #[test]
    fn lb_without_shared_state_is_shown_from_config() {
        let f = fixture();
        let mut c = ctx(&f);
        c.segment = None;
        let r = handle(&base("mime=txt"), &c);
        assert_eq!(r.status, 200);
        assert!(text(&r).contains("Member: name=tomcat3"));
        let r = handle(&base("cmd=update&w=load_balancer&sw=tomcat1&vwa=1"), &c);
        assert_eq!(r.status, 409);
        let h = handle(&base(""), &c).body_text().to_owned();
        assert!(h.contains("no shared runtime state") && !h.contains("data-edit-member"));
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(400))]
        #[test]
        fn never_panics(
            query in "[a-z0-9=&%+*?.<>\"'_-]{0,80}",
            form in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..80),
            method in proptest::sample::select(vec!["GET", "POST", "HEAD", "DELETE"]),
            prefix in proptest::sample::select(vec!["", "cmd=update&w=load_balancer&", "cmd=edit&w=load_balancer&sw=tomcat1&", "cmd=reset&w=load_balancer&", "mime=json&", "mime=xml&cmd=show&w=load_balancer&", "mime=prometheus&", "cmd=recover&w=load_balancer&sw=t*&"]),
        ) {
            let f = fixture();
            let q = format!("{prefix}{query}");
            let req = StatusRequest { method, form: &form, ..base(&q) };
            let r = handle(&req, &ctx(&f));
            proptest::prop_assert!(matches!(r.status, 200 | 303 | 400 | 403 | 404 | 405 | 409));
            if r.content_type == "application/json" && method != "HEAD" {
                proptest::prop_assert!(json_ok(r.body_text()).is_ok());
            }
            if r.content_type.starts_with("text/xml") && method != "HEAD" {
                proptest::prop_assert!(xml_ok(r.body_text()).is_ok());
            }
        }
    }
}
