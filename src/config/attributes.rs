//! The table of every `worker.*` attribute workers.properties accepts: types it applies
//! to, default, unit, how repeated definitions combine, deprecated spellings. Parsing
//! (`properties`) and building (`builder`) both consult it; it depends on neither.

/// How repeated definitions of one key combine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Multi {
    /// Last definition wins (with a "Duplicate key" warning).
    Unique,
    /// Joined with `,`.
    List,
    /// Joined with `*` (mod_jk's default for keys it does not know to be single-valued).
    Star,
    /// Joined with the OS path separator (`*_path` keys).
    PathList,
    /// Joined with a space (`cmd_line`).
    Space,
}

impl Multi {
    pub fn separator(self) -> char {
        match self {
            Multi::Unique | Multi::List => ',',
            Multi::Star => '*',
            Multi::PathList => ':',
            Multi::Space => ' ',
        }
    }
}

/// One known `worker.<name>.<attr>` attribute (or a global `worker.<attr>`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AttrSpec {
    pub name: &'static str,
    /// Worker types it is read for: "ajp13", "lb", "status", or "global". Empty for
    /// attributes of worker types that no longer exist (JNI, ajp14).
    pub applies_to: &'static [&'static str],
    pub default: &'static str,
    pub unit: &'static str,
    /// For deprecated spellings that still take effect: the attribute to use instead.
    pub deprecated_alias_of: Option<&'static str>,
    /// False for deprecated attributes that are accepted but have no effect.
    pub supported: bool,
    pub multi: Multi,
    pub doc: &'static str,
}

impl AttrSpec {
    pub fn is_deprecated(&self) -> bool {
        self.deprecated_alias_of.is_some() || !self.supported
    }

    pub fn is_global(&self) -> bool {
        self.applies_to == GLOBAL
    }

    pub fn applies_to_type(&self, worker_type: &str) -> bool {
        self.applies_to.contains(&worker_type)
    }
}

const GLOBAL: &[&str] = &["global"];
const ALL: &[&str] = &["ajp13", "lb", "status"];
const AJP: &[&str] = &["ajp13"];
const AJP_LB: &[&str] = &["ajp13", "lb"];
const LB: &[&str] = &["lb"];
const STATUS: &[&str] = &["status"];
const REMOVED: &[&str] = &[];

const fn attr(
    name: &'static str,
    applies_to: &'static [&'static str],
    default: &'static str,
    unit: &'static str,
    multi: Multi,
    doc: &'static str,
) -> AttrSpec {
    AttrSpec {
        name,
        applies_to,
        default,
        unit,
        deprecated_alias_of: None,
        supported: true,
        multi,
        doc,
    }
}

const fn alias(
    name: &'static str,
    applies_to: &'static [&'static str],
    of: &'static str,
    multi: Multi,
) -> AttrSpec {
    AttrSpec {
        name,
        applies_to,
        default: "",
        unit: "",
        deprecated_alias_of: Some(of),
        supported: true,
        multi,
        doc: "deprecated spelling",
    }
}

const fn ignored(
    name: &'static str,
    applies_to: &'static [&'static str],
    multi: Multi,
    doc: &'static str,
) -> AttrSpec {
    AttrSpec {
        name,
        applies_to,
        default: "",
        unit: "",
        deprecated_alias_of: None,
        supported: false,
        multi,
        doc,
    }
}

use Multi::{List, PathList, Space, Star, Unique};

/// Every attribute name workers.properties accepts. Unknown `worker.*` attributes are fatal
/// (as in mod_jk), so this table is the authority; documentation is generated from it.
#[rustfmt::skip]
pub static ATTRIBUTES: &[AttrSpec] = &[
    // global
    attr("list", GLOBAL, "ajp13", "list", List, "workers addressable by JkMount; repeatable"),
    attr("maintain", GLOBAL, "60", "s", Unique, "maintenance interval; <=0 disables it"),
    // every type
    attr("type", ALL, "ajp13", "", Unique, "ajp13, lb or status"),
    attr("reference", ALL, "", "worker.<name>", Unique, "template whose attributes are copied unless set here"),
    attr("mount", ALL, "", "list", List, "extra JkMount patterns for this worker (listed workers only)"),
    // ajp13 (and lb members)
    attr("host", AJP, "localhost", "", Unique, "Tomcat host, resolved at startup (and again with resolve_interval), or unix:/path of an AJP Unix socket (then port is ignored)"),
    attr("resolve_interval", AJP_LB, "0", "s", Unique, "resolve host again this often and after a failed connect; 0 = once, as mod_jk (mod_rjk)"),
    attr("port", AJP, "8009", "", Unique, "Tomcat AJP port; 0 stops the worker; ignored with host=unix:"),
    attr("source", AJP, "", "", Unique, "local address to bind before connecting (TCP only)"),
    attr("prefer_ipv6", AJP, "false", "bool", Unique, "prefer an IPv6 address of host"),
    attr("socket_timeout", AJP, "0", "s", Unique, "timeout of each socket operation; 0 = none"),
    attr("socket_connect_timeout", AJP, "socket_timeout*1000", "ms", Unique, "connect timeout (host=unix: the wait for room in the listen backlog)"),
    attr("socket_keepalive", AJP, "false", "bool", Unique, "enable SO_KEEPALIVE (TCP only)"),
    attr("socket_buffer", AJP, "0", "bytes", Unique, "SO_SNDBUF/SO_RCVBUF; 0 = OS default, else at least max_packet_size"),
    attr("upload_window", AJP, "8", "packets", Unique, "request body packets on their way before Tomcat asks for them; 0 or 1 = only when asked, as mod_jk (mod_rjk)"),
    attr("ping_mode", AJP, "", "flags", Unique, "CPing: C after connect, P before request, I idle, A all"),
    attr("ping_timeout", AJP, "10000", "ms", Unique, "CPong wait for ping_mode C and P"),
    attr("connect_timeout", AJP, "0", "ms", Unique, "CPing after connect; >0 enables it"),
    attr("prepost_timeout", AJP, "0", "ms", Unique, "CPing before each request; >0 enables it"),
    attr("stray_no_reuse_time", AJP, "60", "s", Unique, "after the backend wrote outside an exchange, a fresh CPinged connection per request for this long; 0 = off (mod_rjk)"),
    attr("connection_ping_interval", AJP, "0 (ping_timeout/100 with ping_mode I)", "s", Unique, "idle time before a pooled connection is CPinged; >0 enables it"),
    attr("connection_pool_size", AJP, "ThreadsPerChild", "connections", Unique, "connections per worker per child process"),
    attr("connection_pool_minsize", AJP, "(connection_pool_size+1)/2", "connections", Unique, "idle pool shrinking stops here"),
    attr("connection_pool_timeout", AJP, "0", "s", Unique, "close pooled connections idle this long; 0 = never"),
    attr("connection_acquire_timeout", AJP, "retries*retry_interval", "ms", Unique, "wait for a free pool slot"),
    attr("reply_timeout", AJP, "0", "ms", Unique, "max wait between two packets from Tomcat; 0 = none"),
    attr("retries", AJP_LB, "2", "", Unique, "ajp13: attempts per request; lb: passes over the members"),
    attr("retry_interval", AJP_LB, "100", "ms", Unique, "sleep before a retry"),
    attr("lb_retries", AJP_LB, "2", "", Unique, "lb: members tried per pass"),
    attr("recovery_options", AJP, "0", "bitmask", Unique, "1 no retry after send, 2 no retry after headers, 4 hard close, 8 retry HEAD, 16 retry GET"),
    attr("fail_on_status", AJP, "", "list of HTTP codes", List, "treat these statuses as failure (negative: fail over without error state)"),
    attr("busy_limit", AJP, "0", "requests", Unique, "refuse beyond this many in-flight requests; 0 = off"),
    attr("max_packet_size", AJP, "8192", "bytes", Unique, "AJP packet size, 8192..65536, multiple of 1024; must match Tomcat packetSize"),
    attr("secret", AJP_LB, "", "", Unique, "AJP secret; an lb's secret is inherited by members without one"),
    attr("lbfactor", AJP, "1", "", Unique, "member weight, at least 1"),
    attr("route", AJP, "<worker name>", "", Unique, "session route (Tomcat jvmRoute)"),
    attr("domain", AJP, "", "", Unique, "cluster domain; defaults to the route's part before its first '.'"),
    attr("redirect", AJP, "", "route", Unique, "preferred failover member for this member's sessions"),
    attr("distance", AJP, "0", "", Star, "members with lower distance are preferred"),
    attr("activation", AJP, "Active", "A/D/S", Unique, "Active, Disabled or Stopped"),
    // active health checks (src/health); on an lb: the default of its members
    attr("health_check_interval", AJP_LB, "0", "ms", Unique, "check the backend this often from one child of all; 0 = no checks (mod_rjk)"),
    attr("health_check_uri", AJP_LB, "", "URI", Unique, "GET this URI over AJP; empty = CPing/CPong (mod_rjk)"),
    attr("health_check_status", AJP_LB, "200", "HTTP code", Unique, "status of a passing check (mod_rjk)"),
    attr("health_check_drain_status", AJP_LB, "503", "HTTP code", Unique, "status that drains the member: no new sessions, sticky ones stay; 0 = none (mod_rjk)"),
    attr("health_check_passes", AJP_LB, "1", "", Unique, "consecutive passes that bring a member out of error (mod_rjk)"),
    attr("health_check_fails", AJP_LB, "1", "", Unique, "consecutive failures that put a member into error (mod_rjk)"),
    attr("health_check_timeout", AJP_LB, "2000", "ms", Unique, "limit of one check, at most the interval (mod_rjk)"),
    // lb
    attr("balance_workers", LB, "", "list", List, "members (ajp13 workers); required, repeatable"),
    attr("sticky_session", LB, "true", "bool", Unique, "route requests of a session to its member"),
    attr("sticky_session_force", LB, "false", "bool", Unique, "no failover for requests carrying a session"),
    attr("method", LB, "Request", "R/T/B/S/N", Unique, "Request, Traffic, Busyness, Sessions or Next"),
    attr("lock", LB, "Optimistic", "O/P", Unique, "Pessimistic: member choice and counters under a global lock (<JkShmFile>.<pid>.lock)"),
    attr("recover_time", LB, "60", "s", Unique, "time in error before a member is tried again, at least 1"),
    attr("error_escalation_time", LB, "recover_time/2", "s", Unique, "local errors become global after this"),
    attr("max_reply_timeouts", LB, "0", "", Unique, "reply timeouts tolerated before error state"),
    attr("session_cookie", LB, "JSESSIONID", "", Unique, "cookie carrying the session id"),
    attr("session_path", LB, ";jsessionid", "", Unique, "path parameter carrying the session id"),
    attr("set_session_cookie", LB, "false", "bool", Unique, "send <session_cookie>=.<route> when no session chose the member"),
    attr("session_cookie_path", LB, "/", "", Unique, "Path of that cookie"),
    // status
    attr("read_only", STATUS, "false", "bool", Unique, "disallow edit, update, reset and recover"),
    attr("user", STATUS, "", "list", List, "allowed REMOTE_USERs; empty = everyone"),
    attr("user_case_insensitive", STATUS, "false", "bool", Unique, "compare user names case-insensitively"),
    attr("good", STATUS, "a.o,a.i,a.b,a.r", "list", List, "member states rated good"),
    attr("bad", STATUS, "s,e", "list", List, "member states rated bad"),
    attr("css", STATUS, "", "URL", Unique, "stylesheet link for HTML output"),
    attr("prefix", STATUS, "worker", "", Unique, "key prefix of properties output"),
    attr("ns", STATUS, "jk:", "", Unique, "XML element prefix; '-' = none"),
    attr("xmlns", STATUS, "xmlns:jk=\"http://tomcat.apache.org\"", "", Unique, "XML namespace declaration; '-' = none"),
    attr("doctype", STATUS, "", "", Unique, "inserted after the XML declaration"),
    attr("allowed_hosts", STATUS, "", "list", List, "Host names the status page answers besides the server's names, aliases, localhost and IP literals; * = any (mod_rjk)"),
    // deprecated spellings that still work
    alias("cachesize", AJP, "connection_pool_size", Unique),
    alias("cache_timeout", AJP, "connection_pool_timeout", Unique),
    alias("balanced_workers", LB, "balance_workers", List),
    alias("jvm_route", AJP, "route", Unique),
    alias("disabled", AJP, "activation", Unique),
    alias("stopped", AJP, "activation", Unique),
    // deprecated and ignored (accepted so that old files still start)
    ignored("recycle_timeout", AJP, Unique, "ignored by mod_jk as well"),
    ignored("local_worker", AJP, Unique, "ignored by mod_jk as well"),
    ignored("local_worker_only", LB, Unique, "ignored by mod_jk as well"),
    ignored("secretkey", REMOVED, Star, "ajp14 worker (removed)"),
    ignored("sysprops", REMOVED, Star, "JNI worker (removed)"),
    ignored("stderr", REMOVED, Star, "JNI worker (removed)"),
    ignored("stdout", REMOVED, Star, "JNI worker (removed)"),
    ignored("mx", REMOVED, Star, "JNI worker (removed)"),
    ignored("ms", REMOVED, Star, "JNI worker (removed)"),
    ignored("class_path", REMOVED, PathList, "JNI worker (removed)"),
    ignored("bridge", REMOVED, Star, "JNI worker (removed)"),
    ignored("jvm_lib", REMOVED, Star, "JNI worker (removed)"),
    ignored("ld_path", REMOVED, PathList, "JNI worker (removed)"),
    ignored("cmd_line", REMOVED, Space, "JNI worker (removed)"),
    ignored("native_lib", REMOVED, Star, "JNI worker (removed)"),
];

pub fn find_attribute(name: &str) -> Option<&'static AttrSpec> {
    ATTRIBUTES.iter().find(|a| a.name == name)
}

/// Names worth suggesting for a typo: current, per-worker attributes only.
pub(crate) fn suggestable_attribute_names() -> impl Iterator<Item = &'static str> {
    ATTRIBUTES
        .iter()
        .filter(|a| !a.is_deprecated() && !a.is_global())
        .map(|a| a.name)
}
