//! Typed worker definitions built from the property map, with mod_jk's defaults, clamps and
//! cross-worker validation (worker.list, lb members, routes, secrets).

use std::collections::BTreeMap;

use super::properties::{
    ConfigError, Origin, Properties, Source, diagnostic, parse_bool, parse_int, split_list,
    split_worker_key, suggest,
};

/// mod_jk keeps names, hosts and routes in 64-byte shared-memory strings.
pub const MAX_NAME_LEN: usize = 63;

pub const DEFAULT_WORKER: &str = "ajp13";
pub const DEFAULT_HOST: &str = "localhost";
pub const DEFAULT_PORT: u16 = 8009;
pub const DEFAULT_MAINTAIN_SECS: i64 = 60;
pub const DEFAULT_PING_TIMEOUT_MS: u32 = 10_000;
pub const DEFAULT_RETRIES: u32 = 2;
pub const DEFAULT_RETRY_INTERVAL_MS: u32 = 100;
pub const DEFAULT_RECOVER_TIME_SECS: u32 = 60;
/// `upload_window`: a 64 KiB body travels with two waits for the backend instead of eight.
pub const DEFAULT_UPLOAD_WINDOW: u32 = 8;
pub const MIN_PACKET_SIZE: u32 = 8192;
pub const MAX_PACKET_SIZE: u32 = 65536;
const PACKET_ALIGN: u32 = 1024;

// ---------------------------------------------------------------------------------------
// Attribute table
// ---------------------------------------------------------------------------------------

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
    attr("host", AJP, "localhost", "", Unique, "Tomcat host, resolved once at startup"),
    attr("port", AJP, "8009", "", Unique, "Tomcat AJP port; 0 stops the worker"),
    attr("source", AJP, "", "", Unique, "local address to bind before connecting"),
    attr("prefer_ipv6", AJP, "false", "bool", Unique, "prefer an IPv6 address of host"),
    attr("socket_timeout", AJP, "0", "s", Unique, "timeout of each socket operation; 0 = none"),
    attr("socket_connect_timeout", AJP, "socket_timeout*1000", "ms", Unique, "TCP connect timeout"),
    attr("socket_keepalive", AJP, "false", "bool", Unique, "enable SO_KEEPALIVE"),
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

// ---------------------------------------------------------------------------------------
// Typed definitions
// ---------------------------------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Activation {
    Active,
    Disabled,
    Stopped,
}

impl Activation {
    pub fn as_str(self) -> &'static str {
        match self {
            Activation::Active => "ACT",
            Activation::Disabled => "DIS",
            Activation::Stopped => "STP",
        }
    }

    /// First letter A/D/S (any case) or 0/1/2, so `Active`, `disabled`, `S` all work.
    pub fn parse(value: &str) -> Option<Activation> {
        match value.trim_ascii().bytes().next()?.to_ascii_lowercase() {
            b'a' | b'0' => Some(Activation::Active),
            b'd' | b'1' => Some(Activation::Disabled),
            b's' | b'2' => Some(Activation::Stopped),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LbMethod {
    Request,
    Traffic,
    Busyness,
    Sessions,
    Next,
}

impl LbMethod {
    pub fn as_str(self) -> &'static str {
        match self {
            LbMethod::Request => "Request",
            LbMethod::Traffic => "Traffic",
            LbMethod::Busyness => "Busyness",
            LbMethod::Sessions => "Sessions",
            LbMethod::Next => "Next",
        }
    }

    pub fn parse(value: &str) -> Option<LbMethod> {
        match value.trim_ascii().bytes().next()?.to_ascii_lowercase() {
            b'r' | b'0' => Some(LbMethod::Request),
            b't' | b'1' => Some(LbMethod::Traffic),
            b'b' | b'2' => Some(LbMethod::Busyness),
            b's' | b'3' => Some(LbMethod::Sessions),
            b'n' | b'4' => Some(LbMethod::Next),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LbLock {
    Optimistic,
    Pessimistic,
}

impl LbLock {
    pub fn as_str(self) -> &'static str {
        match self {
            LbLock::Optimistic => "Optimistic",
            LbLock::Pessimistic => "Pessimistic",
        }
    }

    pub fn parse(value: &str) -> Option<LbLock> {
        match value.trim_ascii().bytes().next()?.to_ascii_lowercase() {
            b'o' | b'0' => Some(LbLock::Optimistic),
            b'p' | b'1' => Some(LbLock::Pessimistic),
            _ => None,
        }
    }
}

/// CPing/CPong modes as configured by `ping_mode`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PingMode {
    /// `C`: after opening a connection.
    pub connect: bool,
    /// `P`: before each request.
    pub prepost: bool,
    /// `I`: on idle pooled connections during maintenance.
    pub interval: bool,
}

impl PingMode {
    /// Letters C, P, I and A (= all), any case, in any order. Returns the mode and the
    /// characters that were not understood.
    pub fn parse(value: &str) -> (PingMode, String) {
        let mut mode = PingMode::default();
        let mut unknown = String::new();
        for c in value.chars() {
            match c.to_ascii_uppercase() {
                'C' => mode.connect = true,
                'P' => mode.prepost = true,
                'I' => mode.interval = true,
                'A' => {
                    mode = PingMode {
                        connect: true,
                        prepost: true,
                        interval: true,
                    }
                }
                _ => unknown.push(c),
            }
        }
        (mode, unknown)
    }

    /// Canonical letters, as the status worker shows them.
    pub fn as_letters(self) -> String {
        [
            (self.connect, 'C'),
            (self.prepost, 'P'),
            (self.interval, 'I'),
        ]
        .iter()
        .filter(|(on, _)| *on)
        .map(|(_, c)| c)
        .collect()
    }
}

/// An `ajp13` worker (standalone or lb member). Timeouts are already the effective values
/// (for example `connect_timeout_ms` is `ping_timeout_ms` when `ping_mode` has C and no
/// explicit connect_timeout was given), so the runtime need not re-derive them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AjpParams {
    pub host: String,
    pub port: u16,
    pub source: Option<String>,
    pub prefer_ipv6: bool,
    pub socket_timeout_secs: u32,
    pub socket_connect_timeout_ms: u32,
    pub socket_keepalive: bool,
    /// 0 = OS default; otherwise at least `max_packet_size`.
    pub socket_buffer: u32,
    /// `upload_window` (mod_rjk): request body packets on their way at once.
    pub upload_window: u32,
    /// `stray_no_reuse_time` (mod_rjk), seconds of no-reuse mode after a stray reply.
    pub stray_no_reuse_secs: u32,
    pub ping_mode: PingMode,
    pub ping_timeout_ms: u32,
    /// CPing after connect when > 0.
    pub connect_timeout_ms: u32,
    /// CPing before each request when > 0.
    pub prepost_timeout_ms: u32,
    /// CPing idle pooled connections older than this in maintenance when > 0.
    pub connection_ping_interval_secs: u32,
    /// `None`: ThreadsPerChild of the MPM, known only at child init (see [`Self::pool_sizes`]).
    pub connection_pool_size: Option<u32>,
    pub connection_pool_minsize: Option<u32>,
    pub connection_pool_timeout_secs: u32,
    /// `None`: retries × retry_interval (see [`Self::acquire_timeout_ms`]).
    pub connection_acquire_timeout_ms: Option<u32>,
    pub reply_timeout_ms: u32,
    pub retries: u32,
    pub retry_interval_ms: u32,
    pub recovery_options: u32,
    pub fail_on_status: Vec<i32>,
    pub busy_limit: u32,
    pub max_packet_size: u32,
    pub secret: Option<String>,
    /// The lb whose `secret` filled in `secret`, if any.
    pub secret_inherited_from: Option<String>,
    pub lbfactor: u32,
    pub route: String,
    /// Empty = none.
    pub domain: String,
    /// Empty = none.
    pub redirect: String,
    pub distance: i32,
    pub activation: Activation,
    /// True when `activation` was forced to Stopped because `port` is 0 (a placeholder the
    /// status worker may later fill in).
    pub stopped_by_port_zero: bool,
    pub lb_retries: u32,
}

impl AjpParams {
    fn defaults(name: &str) -> AjpParams {
        AjpParams {
            host: DEFAULT_HOST.to_owned(),
            port: DEFAULT_PORT,
            source: None,
            prefer_ipv6: false,
            socket_timeout_secs: 0,
            socket_connect_timeout_ms: 0,
            socket_keepalive: false,
            socket_buffer: 0,
            upload_window: DEFAULT_UPLOAD_WINDOW,
            stray_no_reuse_secs: 60,
            ping_mode: PingMode::default(),
            ping_timeout_ms: DEFAULT_PING_TIMEOUT_MS,
            connect_timeout_ms: 0,
            prepost_timeout_ms: 0,
            connection_ping_interval_secs: 0,
            connection_pool_size: None,
            connection_pool_minsize: None,
            connection_pool_timeout_secs: 0,
            connection_acquire_timeout_ms: None,
            reply_timeout_ms: 0,
            retries: DEFAULT_RETRIES,
            retry_interval_ms: DEFAULT_RETRY_INTERVAL_MS,
            recovery_options: 0,
            fail_on_status: Vec::new(),
            busy_limit: 0,
            max_packet_size: MIN_PACKET_SIZE,
            secret: None,
            secret_inherited_from: None,
            lbfactor: 1,
            route: name.to_owned(),
            domain: String::new(),
            redirect: String::new(),
            distance: 0,
            activation: Activation::Active,
            stopped_by_port_zero: false,
            lb_retries: DEFAULT_RETRIES,
        }
    }

    /// Pool size and minimum for a child with `threads_per_child` threads.
    pub fn pool_sizes(&self, threads_per_child: u32) -> (u32, u32) {
        let size = self.connection_pool_size.unwrap_or(threads_per_child);
        let min = self
            .connection_pool_minsize
            .unwrap_or(size.div_ceil(2))
            .min(size);
        (size, min)
    }

    pub fn acquire_timeout_ms(&self) -> u32 {
        self.connection_acquire_timeout_ms
            .unwrap_or(self.retries.saturating_mul(self.retry_interval_ms))
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LbParams {
    pub balance_workers: Vec<String>,
    pub sticky_session: bool,
    pub sticky_session_force: bool,
    pub method: LbMethod,
    pub lock: LbLock,
    pub retries: u32,
    pub lb_retries: u32,
    pub retry_interval_ms: u32,
    pub recover_time_secs: u32,
    pub error_escalation_time_secs: u32,
    pub max_reply_timeouts: u32,
    pub session_cookie: String,
    pub session_path: String,
    pub set_session_cookie: bool,
    pub session_cookie_path: String,
    pub secret: Option<String>,
    /// Largest member `max_packet_size`: the size of the buffer that replays a request body
    /// to the next member.
    pub max_packet_size: u32,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusParams {
    pub read_only: bool,
    pub user: Vec<String>,
    pub user_case_insensitive: bool,
    pub good: Vec<String>,
    pub bad: Vec<String>,
    pub css: Option<String>,
    pub prefix: String,
    /// Empty when configured as `-`.
    pub ns: String,
    /// Empty when configured as `-`.
    pub xmlns: String,
    pub doctype: Option<String>,
    /// `allowed_hosts` (mod_rjk): further `Host` names (globs) the page answers for.
    pub allowed_hosts: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WorkerKind {
    Ajp13(AjpParams),
    Lb(LbParams),
    Status(StatusParams),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkerDef {
    pub name: String,
    pub kind: WorkerKind,
    pub mount: Vec<String>,
    /// Where the worker was first defined (its first key, or the worker.list entry naming
    /// it when it has no keys).
    pub origin: Origin,
}

impl WorkerDef {
    pub fn type_name(&self) -> &'static str {
        match self.kind {
            WorkerKind::Ajp13(_) => "ajp13",
            WorkerKind::Lb(_) => "lb",
            WorkerKind::Status(_) => "status",
        }
    }

    pub fn ajp(&self) -> Option<&AjpParams> {
        match &self.kind {
            WorkerKind::Ajp13(p) => Some(p),
            _ => None,
        }
    }

    pub fn lb(&self) -> Option<&LbParams> {
        match &self.kind {
            WorkerKind::Lb(p) => Some(p),
            _ => None,
        }
    }

    pub fn status(&self) -> Option<&StatusParams> {
        match &self.kind {
            WorkerKind::Status(p) => Some(p),
            _ => None,
        }
    }
}

/// The validated workers configuration.
#[derive(Debug, Clone)]
pub struct WorkersConfig {
    /// `worker.list`, duplicates removed, in order.
    pub list: Vec<String>,
    /// `worker.maintain`; 0 disables maintenance.
    pub maintain_secs: i64,
    /// Every instantiated worker: the listed ones and the members of listed lbs.
    pub workers: BTreeMap<String, WorkerDef>,
    pub properties: Properties,
    pub warnings: Vec<String>,
}

impl WorkersConfig {
    /// Builds and validates. Returns the first error (with origin) or the config with warnings.
    pub fn from_sources(
        sources: &[Source<'_>],
        server_root: &str,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<WorkersConfig, ConfigError> {
        let (properties, warnings) = Properties::parse(sources, server_root, env)?;
        WorkersConfig::from_properties(properties, warnings)
    }

    /// mod_jk's configuration when there is neither JkWorkersFile nor JkWorkerProperty:
    /// `worker.list=ajp13` and an ajp13 worker `ajp13` at localhost:8009.
    pub fn implicit() -> WorkersConfig {
        WorkersConfig::from_properties(Properties::default(), Vec::new())
            .expect("the built-in configuration is valid")
    }

    pub fn from_properties(
        properties: Properties,
        warnings: Vec<String>,
    ) -> Result<WorkersConfig, ConfigError> {
        let mut builder = Builder {
            props: &properties,
            warnings,
            workers: BTreeMap::new(),
        };
        let maintain_secs = builder.maintain()?;
        let list = builder.worker_list()?;
        for name in &list {
            builder.instantiate_listed(name)?;
        }
        builder.inherit_secrets(&list);
        builder.warn_unused();
        let Builder {
            warnings, workers, ..
        } = builder;
        Ok(WorkersConfig {
            list,
            maintain_secs,
            workers,
            properties,
            warnings,
        })
    }

    pub fn get(&self, name: &str) -> Option<&WorkerDef> {
        self.workers.get(name)
    }
}

// ---------------------------------------------------------------------------------------
// Building
// ---------------------------------------------------------------------------------------

struct Builder<'p> {
    props: &'p Properties,
    warnings: Vec<String>,
    workers: BTreeMap<String, WorkerDef>,
}

impl<'p> Builder<'p> {
    fn maintain(&mut self) -> Result<i64, ConfigError> {
        let key = "worker.maintain";
        let Some(entry) = self.props.entry(key) else {
            return Ok(DEFAULT_MAINTAIN_SECS);
        };
        let value = match parse_int(&entry.value) {
            Some(p) => p.value,
            None => {
                self.warn(
                    &entry.origin,
                    key,
                    &format!(
                        "'{}' is not a number; using {DEFAULT_MAINTAIN_SECS}",
                        entry.value
                    ),
                );
                DEFAULT_MAINTAIN_SECS
            }
        };
        Ok(value.max(0))
    }

    fn worker_list(&mut self) -> Result<Vec<String>, ConfigError> {
        let key = "worker.list";
        let Some(entry) = self.props.entry(key) else {
            if self.props.worker_names().is_empty() {
                return Ok(vec![DEFAULT_WORKER.to_owned()]);
            }
            let first = self.props.entries().next().map(|e| e.origin.clone());
            self.warnings.push(diagnostic(
                first.as_ref(),
                Some(key),
                "not set; defaulting to the single worker 'ajp13' as mod_jk does",
            ));
            return Ok(vec![DEFAULT_WORKER.to_owned()]);
        };
        let mut list: Vec<String> = Vec::new();
        for name in split_list(&entry.value) {
            let origin = self.item_origin(key, &name);
            if name.len() > MAX_NAME_LEN {
                return Err(too_long(&origin, key, "worker name", &name));
            }
            if list.contains(&name) {
                self.warn(&origin, key, &format!("worker '{name}' is listed twice"));
            } else {
                list.push(name);
            }
        }
        if list.is_empty() {
            return Err(ConfigError::new(
                Some(&entry.origin),
                Some(key),
                "lists no workers",
            ));
        }
        Ok(list)
    }

    fn instantiate_listed(&mut self, name: &str) -> Result<(), ConfigError> {
        if self.workers.contains_key(name) {
            return Ok(());
        }
        let origin = match self.first_origin(name) {
            Some(origin) => origin,
            None => {
                let origin = self.item_origin("worker.list", name);
                if self.props.get("worker.list").is_some() {
                    let hint = self
                        .suggest_unused(name)
                        .map(|n| format!(" (did you mean '{n}'?)"))
                        .unwrap_or_default();
                    self.warn(
                        &origin,
                        "worker.list",
                        &format!(
                            "worker '{name}' has no attributes; it is an ajp13 worker at \
                             {DEFAULT_HOST}:{DEFAULT_PORT}{hint}"
                        ),
                    );
                }
                origin
            }
        };
        let worker_type = self.worker_type(name)?;
        let kind = match worker_type {
            "ajp13" => WorkerKind::Ajp13(self.ajp(name)?),
            "lb" => WorkerKind::Lb(self.lb(name)?),
            _ => WorkerKind::Status(self.status(name)),
        };
        self.finish(name, kind, origin);
        Ok(())
    }

    fn finish(&mut self, name: &str, kind: WorkerKind, origin: Origin) {
        let mut attrs = self.attrs(name);
        let mount = attrs.list("mount").unwrap_or_default();
        let def = WorkerDef {
            name: name.to_owned(),
            kind,
            mount,
            origin,
        };
        self.warn_inapplicable(&def);
        self.workers.insert(name.to_owned(), def);
    }

    /// `type`, with ajp13 as mod_jk's default.
    fn worker_type(&mut self, name: &str) -> Result<&'static str, ConfigError> {
        let key = format!("worker.{name}.type");
        let Some(entry) = self.props.entry(&key) else {
            return Ok("ajp13");
        };
        let error = |message: String| ConfigError::new(Some(&entry.origin), Some(&key), message);
        match entry.value.as_str() {
            "ajp13" => Ok("ajp13"),
            "lb" => Ok("lb"),
            "status" => Ok("status"),
            old @ ("ajp12" | "ajp14" | "jni") => Err(error(format!(
                "worker type '{old}' is not supported (mod_jk removed it); use ajp13"
            ))),
            other => Err(error(format!("unknown worker type '{other}'"))
                .with_hint(suggest(other, ["ajp13", "lb", "status"]))),
        }
    }

    fn ajp(&mut self, name: &str) -> Result<AjpParams, ConfigError> {
        let mut a = self.attrs(name);
        let mut p = AjpParams::defaults(name);

        if let Some((host, origin, key)) = a.string("host") {
            if host.len() > MAX_NAME_LEN {
                return Err(too_long(&origin, &key, "host name", &host));
            }
            p.host = host;
        }
        let port = a.int("port", i64::from(DEFAULT_PORT));
        p.port = u16::try_from(port)
            .map_err(|_| a.error("port", &format!("port {port} is outside 0..65535")))?;
        p.source = a.string("source").map(|(v, ..)| v);
        p.prefer_ipv6 = a.boolean("prefer_ipv6", false);

        p.socket_timeout_secs = a.non_negative("socket_timeout", 0);
        p.socket_connect_timeout_ms = a.non_negative(
            "socket_connect_timeout",
            p.socket_timeout_secs.saturating_mul(1000),
        );
        p.socket_keepalive = a.boolean("socket_keepalive", false);

        if let Some((value, origin, key)) = a.string("ping_mode") {
            let (mode, unknown) = PingMode::parse(&value);
            if !unknown.is_empty() {
                a.warn_at(
                    &origin,
                    &key,
                    &format!("ignoring '{unknown}' in ping_mode; use letters C, P, I or A"),
                );
            }
            p.ping_mode = mode;
        }
        p.ping_timeout_ms = a.non_negative("ping_timeout", DEFAULT_PING_TIMEOUT_MS);
        p.connect_timeout_ms = a.non_negative("connect_timeout", 0);
        if p.ping_mode.connect && p.connect_timeout_ms == 0 {
            p.connect_timeout_ms = p.ping_timeout_ms;
        }
        p.prepost_timeout_ms = a.non_negative("prepost_timeout", 0);
        if p.ping_mode.prepost && p.prepost_timeout_ms == 0 {
            p.prepost_timeout_ms = p.ping_timeout_ms;
        }
        p.connection_ping_interval_secs = a.non_negative("connection_ping_interval", 0);
        if p.ping_mode.interval && p.connection_ping_interval_secs == 0 {
            // ping_timeout is in ms and the interval in s: mod_jk uses ten times the timeout.
            p.connection_ping_interval_secs = p.ping_timeout_ms / 100;
        }

        let pool_key = a.aliased("connection_pool_size", "cachesize");
        p.connection_pool_size = a.optional_non_negative(pool_key);
        p.connection_pool_minsize = a.optional_non_negative("connection_pool_minsize");
        let timeout_key = a.aliased("connection_pool_timeout", "cache_timeout");
        p.connection_pool_timeout_secs = a.non_negative(timeout_key, 0);
        p.connection_acquire_timeout_ms = a.optional_non_negative("connection_acquire_timeout");
        p.reply_timeout_ms = a.non_negative("reply_timeout", 0);
        p.retries = a.at_least("retries", DEFAULT_RETRIES, 1);
        p.retry_interval_ms = a.non_negative("retry_interval", DEFAULT_RETRY_INTERVAL_MS);
        p.recovery_options = a.non_negative("recovery_options", 0);
        p.fail_on_status = a.status_codes();
        p.busy_limit = a.non_negative("busy_limit", 0);

        let size = a.int("max_packet_size", i64::from(MIN_PACKET_SIZE));
        let bounded = size.clamp(i64::from(MIN_PACKET_SIZE), i64::from(MAX_PACKET_SIZE)) as u32;
        // Both bounds are multiples of the alignment, so rounding up stays within them.
        p.max_packet_size = bounded.div_ceil(PACKET_ALIGN) * PACKET_ALIGN;
        if let Some((_, origin, key)) = a
            .string("max_packet_size")
            .filter(|_| i64::from(p.max_packet_size) != size)
        {
            a.warn_at(
                &origin,
                &key,
                &format!(
                    "using {} (a multiple of 1024 within 8192..65536)",
                    p.max_packet_size
                ),
            );
        }
        p.socket_buffer = a.non_negative("socket_buffer", 0);
        p.upload_window = a.non_negative("upload_window", DEFAULT_UPLOAD_WINDOW);
        p.stray_no_reuse_secs = a.non_negative("stray_no_reuse_time", 60);
        if p.socket_buffer > 0 && p.socket_buffer < p.max_packet_size {
            p.socket_buffer = p.max_packet_size;
        }

        p.secret = a.string("secret").map(|(v, ..)| v);
        p.lbfactor = a.at_least("lbfactor", 1, 1);
        let route_key = a.aliased("route", "jvm_route");
        if let Some((route, origin, key)) = a.string(route_key) {
            if route.len() > MAX_NAME_LEN {
                return Err(too_long(&origin, &key, "route", &route));
            }
            p.route = route;
        }
        for (attr, field) in [("domain", &mut p.domain), ("redirect", &mut p.redirect)] {
            if let Some((value, origin, key)) = a.string(attr) {
                if value.len() > MAX_NAME_LEN {
                    return Err(too_long(&origin, &key, attr, &value));
                }
                *field = value;
            }
        }
        if p.domain.is_empty() {
            if let Some((domain, _)) = p.route.split_once('.') {
                p.domain = domain.to_owned();
            }
        }
        p.distance = a
            .int("distance", 0)
            .clamp(i64::from(i32::MIN), i64::from(i32::MAX)) as i32;
        p.activation = a.activation();
        p.lb_retries = a.at_least("lb_retries", DEFAULT_RETRIES, 1);

        if p.port == 0 {
            p.activation = Activation::Stopped;
            p.stopped_by_port_zero = true;
        }
        Ok(p)
    }

    fn lb(&mut self, name: &str) -> Result<LbParams, ConfigError> {
        let mut a = self.attrs(name);
        let members_key = a.aliased("balance_workers", "balanced_workers");
        let members = a.list(members_key).unwrap_or_default();
        let members_key = format!("worker.{name}.{members_key}");
        let members_origin = self
            .props
            .origin(&members_key)
            .or_else(|| self.props.origin(&format!("worker.{name}.type")))
            .cloned()
            .unwrap_or_else(Origin::builtin);
        if members.is_empty() {
            return Err(ConfigError::new(
                Some(&members_origin),
                Some(&members_key),
                format!("lb worker '{name}' has no members; set worker.{name}.balance_workers"),
            ));
        }

        let mut a = self.attrs(name);
        let recover_time_secs = a.at_least("recover_time", DEFAULT_RECOVER_TIME_SECS, 1);
        let mut lb = LbParams {
            balance_workers: Vec::new(),
            sticky_session: a.boolean("sticky_session", true),
            sticky_session_force: a.boolean("sticky_session_force", false),
            method: a.enumerated(
                "method",
                LbMethod::Request,
                LbMethod::parse,
                "R, T, B, S or N",
            ),
            lock: a.enumerated("lock", LbLock::Optimistic, LbLock::parse, "O or P"),
            retries: a.at_least("retries", DEFAULT_RETRIES, 1),
            lb_retries: a.at_least("lb_retries", DEFAULT_RETRIES, 1),
            retry_interval_ms: a.non_negative("retry_interval", DEFAULT_RETRY_INTERVAL_MS),
            recover_time_secs,
            error_escalation_time_secs: a
                .non_negative("error_escalation_time", recover_time_secs / 2),
            max_reply_timeouts: a.non_negative("max_reply_timeouts", 0),
            session_cookie: a.short_string("session_cookie", "JSESSIONID")?,
            session_path: a.short_string("session_path", ";jsessionid")?,
            set_session_cookie: a.boolean("set_session_cookie", false),
            session_cookie_path: a.short_string("session_cookie_path", "/")?,
            secret: a.string("secret").map(|(v, ..)| v),
            max_packet_size: MIN_PACKET_SIZE,
        };

        let mut routes: Vec<(String, String)> = Vec::new();
        for member in members {
            let origin = self.item_origin(&members_key, &member);
            if lb.balance_workers.contains(&member) {
                return Err(ConfigError::new(
                    Some(&origin),
                    Some(&members_key),
                    format!("member '{member}' is listed twice"),
                ));
            }
            let params = self.member(name, &member, &origin, &members_key)?;
            if let Some((other, _)) = routes.iter().find(|(_, r)| *r == params.route) {
                let route_key = format!("worker.{member}.route");
                let origin = self.props.origin(&route_key).unwrap_or(&origin);
                return Err(ConfigError::new(
                    Some(origin),
                    Some(&members_key),
                    format!(
                        "members '{other}' and '{member}' of lb '{name}' share the route '{}'; \
                         each member needs its own route (Tomcat jvmRoute)",
                        params.route
                    ),
                ));
            }
            routes.push((member.clone(), params.route.clone()));
            lb.max_packet_size = lb.max_packet_size.max(params.max_packet_size);
            lb.balance_workers.push(member);
        }
        Ok(lb)
    }

    /// Builds (or reuses) an lb member, which must be an ajp13 worker with attributes.
    fn member(
        &mut self,
        lb: &str,
        member: &str,
        origin: &Origin,
        members_key: &str,
    ) -> Result<AjpParams, ConfigError> {
        let error = |message: String| ConfigError::new(Some(origin), Some(members_key), message);
        if member.len() > MAX_NAME_LEN {
            return Err(too_long(origin, members_key, "worker name", member));
        }
        if let Some(def) = self.workers.get(member) {
            return match &def.kind {
                WorkerKind::Ajp13(p) => Ok(p.clone()),
                _ => Err(error(format!(
                    "member '{member}' of lb '{lb}' is a {} worker; only ajp13 workers can be balanced",
                    def.type_name()
                ))),
            };
        }
        let Some(first) = self.first_origin(member) else {
            let hint = self.suggest_unused(member);
            return Err(
                error(format!("member '{member}' of lb '{lb}' is not defined")).with_hint(hint),
            );
        };
        let worker_type = self.worker_type(member)?;
        if worker_type != "ajp13" {
            return Err(error(format!(
                "member '{member}' of lb '{lb}' is a {worker_type} worker; only ajp13 workers can be balanced"
            )));
        }
        let params = self.ajp(member)?;
        self.finish(member, WorkerKind::Ajp13(params.clone()), first);
        Ok(params)
    }

    fn status(&mut self, name: &str) -> StatusParams {
        let mut a = self.attrs(name);
        let dash_is_none = |v: String| if v.starts_with('-') { String::new() } else { v };
        StatusParams {
            read_only: a.boolean("read_only", false),
            user: a.list("user").unwrap_or_default(),
            user_case_insensitive: a.boolean("user_case_insensitive", false),
            good: a
                .list("good")
                .unwrap_or_else(|| split_list("a.o,a.i,a.b,a.r")),
            bad: a.list("bad").unwrap_or_else(|| split_list("s,e")),
            css: a.string("css").map(|(v, ..)| v),
            prefix: a
                .string("prefix")
                .map_or_else(|| "worker".to_owned(), |(v, ..)| v),
            ns: dash_is_none(a.string("ns").map_or_else(|| "jk:".to_owned(), |(v, ..)| v)),
            xmlns: dash_is_none(a.string("xmlns").map_or_else(
                || "xmlns:jk=\"http://tomcat.apache.org\"".to_owned(),
                |(v, ..)| v,
            )),
            doctype: a.string("doctype").map(|(v, ..)| v),
            allowed_hosts: a.list("allowed_hosts").unwrap_or_default(),
        }
    }

    /// An lb's secret goes to members that have none, as in mod_jk. A member shared by lbs
    /// with different secrets keeps the first one (mod_jk would build one copy per lb).
    fn inherit_secrets(&mut self, list: &[String]) {
        for lb_name in list {
            let Some(WorkerKind::Lb(lb)) = self.workers.get(lb_name).map(|d| d.kind.clone()) else {
                continue;
            };
            let Some(secret) = lb.secret else { continue };
            for member in &lb.balance_workers {
                let Some(WorkerKind::Ajp13(p)) = self.workers.get_mut(member).map(|d| &mut d.kind)
                else {
                    continue;
                };
                match (&p.secret, &p.secret_inherited_from) {
                    (None, _) => {
                        p.secret = Some(secret.clone());
                        p.secret_inherited_from = Some(lb_name.clone());
                    }
                    (Some(own), Some(from)) if *own != secret => {
                        let from = from.clone();
                        let key = format!("worker.{lb_name}.secret");
                        let origin = self.props.origin(&key).cloned();
                        self.warnings.push(diagnostic(
                            origin.as_ref(),
                            Some(&key),
                            &format!(
                                "member '{member}' already inherits the secret of lb '{from}'; \
                                 give it its own secret"
                            ),
                        ));
                    }
                    _ => {}
                }
            }
        }
    }

    /// A defined worker that nothing uses is usually a typo in worker.list or
    /// balance_workers; templates (targets of `reference`) are expected to be unused.
    fn warn_unused(&mut self) {
        let templates: Vec<String> = self
            .props
            .entries()
            .filter(|e| split_worker_key(&e.key).is_some_and(|(_, attr)| attr == "reference"))
            .filter_map(|e| {
                e.value
                    .strip_prefix("worker.")
                    .map(|t| t.trim_end_matches('.').to_owned())
            })
            .collect();
        for name in self.props.worker_names() {
            if self.workers.contains_key(&name) || templates.contains(&name) {
                continue;
            }
            let origin = self.first_origin(&name);
            self.warnings.push(diagnostic(
                origin.as_ref(),
                None,
                &format!(
                    "worker '{name}' is neither in worker.list nor a member of a listed lb; ignored"
                ),
            ));
        }
    }

    fn warn_inapplicable(&mut self, def: &WorkerDef) {
        let prefix = format!("worker.{}.", def.name);
        let type_name = def.type_name();
        for entry in self.props.entries() {
            let Some(attr) = entry.key.strip_prefix(&prefix) else {
                continue;
            };
            if attr.contains('.') || entry.inherited_from.is_some() {
                continue;
            }
            let Some(spec) = find_attribute(attr) else {
                continue;
            };
            if spec.supported && !spec.is_global() && !spec.applies_to_type(type_name) {
                self.warnings.push(diagnostic(
                    Some(&entry.origin),
                    Some(&entry.key),
                    &format!("'{attr}' has no effect on a {type_name} worker"),
                ));
            }
        }
    }

    /// A misspelt worker name most likely meant a defined worker nothing uses yet.
    fn suggest_unused(&self, name: &str) -> Option<String> {
        let names = self.props.worker_names();
        let unused = names
            .iter()
            .map(String::as_str)
            .filter(|n| !self.workers.contains_key(*n));
        suggest(name, unused)
    }

    /// Origin of the worker's first own key (inherited keys are appended last).
    fn first_origin(&self, name: &str) -> Option<Origin> {
        let prefix = format!("worker.{name}.");
        self.props
            .entries()
            .find(|e| {
                e.key
                    .strip_prefix(&prefix)
                    .is_some_and(|attr| !attr.contains('.'))
            })
            .map(|e| e.origin.clone())
    }

    fn item_origin(&self, key: &str, item: &str) -> Origin {
        self.props
            .origin_of_item(key, item)
            .cloned()
            .unwrap_or_else(Origin::builtin)
    }

    fn attrs(&mut self, name: &str) -> Attrs<'_, 'p> {
        Attrs {
            props: self.props,
            name: name.to_owned(),
            warnings: &mut self.warnings,
        }
    }

    fn warn(&mut self, origin: &Origin, key: &str, message: &str) {
        self.warnings
            .push(diagnostic(Some(origin), Some(key), message));
    }
}

fn too_long(origin: &Origin, key: &str, what: &str, value: &str) -> ConfigError {
    ConfigError::new(
        Some(origin),
        Some(key),
        format!(
            "{what} '{value}' is {} characters long; at most {MAX_NAME_LEN} are supported",
            value.len()
        ),
    )
}

/// Typed reads of one worker's attributes; bad values fall back to the default with a
/// warning naming the line, as mod_jk falls back silently.
struct Attrs<'b, 'p> {
    props: &'p Properties,
    name: String,
    warnings: &'b mut Vec<String>,
}

impl Attrs<'_, '_> {
    fn key(&self, attr: &str) -> String {
        format!("worker.{}.{attr}", self.name)
    }

    fn string(&self, attr: &str) -> Option<(String, Origin, String)> {
        let key = self.key(attr);
        let entry = self.props.entry(&key)?;
        Some((entry.value.clone(), entry.origin.clone(), key))
    }

    fn error(&self, attr: &str, message: &str) -> ConfigError {
        let key = self.key(attr);
        ConfigError::new(self.props.origin(&key), Some(&key), message)
    }

    fn warn_at(&mut self, origin: &Origin, key: &str, message: &str) {
        self.warnings
            .push(diagnostic(Some(origin), Some(key), message));
    }

    /// Picks the current attribute name, or its deprecated alias when only that is set.
    fn aliased(&mut self, current: &'static str, old: &'static str) -> &'static str {
        let has_current = self.props.entry(&self.key(current)).is_some();
        match self.string(old) {
            Some((_, origin, key)) if has_current => {
                self.warn_at(
                    &origin,
                    &key,
                    &format!("ignored because '{current}' is also set"),
                );
                current
            }
            Some(_) => old,
            None => current,
        }
    }

    fn int(&mut self, attr: &str, default: i64) -> i64 {
        let Some((value, origin, key)) = self.string(attr) else {
            return default;
        };
        match parse_int(&value) {
            Some(parsed) => {
                if parsed.trailing_garbage {
                    self.warn_at(
                        &origin,
                        &key,
                        &format!(
                            "using {} and ignoring what follows the number in '{value}'",
                            parsed.value
                        ),
                    );
                }
                parsed.value
            }
            None => {
                self.warn_at(
                    &origin,
                    &key,
                    &format!("'{value}' is not a number; using the default {default}"),
                );
                default
            }
        }
    }

    fn non_negative(&mut self, attr: &str, default: u32) -> u32 {
        self.at_least(attr, default, 0)
    }

    /// Values below `min` become `min`, as mod_jk clamps lbfactor, retries and recover_time.
    fn at_least(&mut self, attr: &str, default: u32, min: u32) -> u32 {
        let value = self.int(attr, i64::from(default));
        if value < i64::from(min) {
            if let Some((raw, origin, key)) = self.string(attr) {
                self.warn_at(
                    &origin,
                    &key,
                    &format!("'{raw}' is below {min}; using {min}"),
                );
            }
            return min;
        }
        u32::try_from(value).unwrap_or(u32::MAX)
    }

    /// Unset or negative means "decide later" (mod_jk treats a negative size as unset).
    fn optional_non_negative(&mut self, attr: &str) -> Option<u32> {
        self.string(attr)?;
        let value = self.int(attr, -1);
        (value >= 0).then(|| u32::try_from(value).unwrap_or(u32::MAX))
    }

    fn boolean(&mut self, attr: &str, default: bool) -> bool {
        let Some((value, origin, key)) = self.string(attr) else {
            return default;
        };
        parse_bool(&value).unwrap_or_else(|| {
            self.warn_at(
                &origin,
                &key,
                &format!("'{value}' is not a boolean (true/false, on/off, 1/0); using {default}"),
            );
            default
        })
    }

    fn enumerated<T: Copy>(
        &mut self,
        attr: &str,
        default: T,
        parse: fn(&str) -> Option<T>,
        expected: &str,
    ) -> T {
        let Some((value, origin, key)) = self.string(attr) else {
            return default;
        };
        parse(&value).unwrap_or_else(|| {
            self.warn_at(
                &origin,
                &key,
                &format!("'{value}' is not one of {expected}; using the default"),
            );
            default
        })
    }

    fn list(&mut self, attr: &str) -> Option<Vec<String>> {
        self.string(attr).map(|(v, ..)| split_list(&v))
    }

    fn short_string(&mut self, attr: &str, default: &str) -> Result<String, ConfigError> {
        match self.string(attr) {
            Some((value, origin, key)) if value.len() > MAX_NAME_LEN => {
                Err(too_long(&origin, &key, attr, &value))
            }
            Some((value, ..)) => Ok(value),
            None => Ok(default.to_owned()),
        }
    }

    fn status_codes(&mut self) -> Vec<i32> {
        let Some((value, origin, key)) = self.string("fail_on_status") else {
            return Vec::new();
        };
        let mut codes = Vec::new();
        for item in split_list(&value) {
            match item.parse::<i32>() {
                Ok(code) if (100..=999).contains(&code.unsigned_abs()) => codes.push(code),
                _ => self.warn_at(
                    &origin,
                    &key,
                    &format!("ignoring '{item}': not an HTTP status code"),
                ),
            }
        }
        codes
    }

    /// `activation` wins; otherwise the deprecated `stopped`, then `disabled` booleans.
    fn activation(&mut self) -> Activation {
        if self.string("activation").is_some() {
            for old in ["stopped", "disabled"] {
                if let Some((_, origin, key)) = self.string(old) {
                    self.warn_at(&origin, &key, "ignored because 'activation' is also set");
                }
            }
            return self.enumerated(
                "activation",
                Activation::Active,
                Activation::parse,
                "Active, Disabled or Stopped",
            );
        }
        if self.boolean("stopped", false) {
            Activation::Stopped
        } else if self.boolean("disabled", false) {
            Activation::Disabled
        } else {
            Activation::Active
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SEED: &str = "\
# The seed configuration used throughout the project's tests.
worker.list=load_balancer,jkstatus

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

worker.jkstatus.type=status
";

    fn no_env(_: &str) -> Option<String> {
        None
    }

    fn build(contents: &str) -> Result<WorkersConfig, ConfigError> {
        WorkersConfig::from_sources(
            &[Source::File {
                path: "workers.properties",
                contents,
            }],
            "/srv/httpd",
            &no_env,
        )
    }

    fn ok(contents: &str) -> WorkersConfig {
        build(contents).unwrap_or_else(|e| panic!("{e}"))
    }

    fn err(contents: &str) -> ConfigError {
        build(contents).expect_err("must fail")
    }

    fn ajp<'c>(c: &'c WorkersConfig, name: &str) -> &'c AjpParams {
        c.get(name).and_then(WorkerDef::ajp).expect("ajp13 worker")
    }

    #[test]
    fn seed_config() {
        let c = ok(SEED);
        assert_eq!(c.list, vec!["load_balancer", "jkstatus"]);
        assert_eq!(c.maintain_secs, 60);
        assert_eq!(
            c.workers.keys().collect::<Vec<_>>(),
            vec!["jkstatus", "load_balancer", "tomcat1", "tomcat2", "tomcat3"]
        );
        assert!(c.warnings.is_empty(), "{:?}", c.warnings);

        let lb = c.get("load_balancer").unwrap();
        assert_eq!(lb.type_name(), "lb");
        assert_eq!(lb.origin, Origin::new("workers.properties", 19));
        let lb = lb.lb().unwrap();
        assert_eq!(lb.balance_workers, vec!["tomcat1", "tomcat2", "tomcat3"]);
        assert!(lb.sticky_session);
        assert!(!lb.sticky_session_force);
        assert_eq!(lb.method, LbMethod::Request);
        assert_eq!(lb.lock, LbLock::Optimistic);
        assert_eq!(
            (lb.retries, lb.lb_retries, lb.retry_interval_ms),
            (2, 2, 100)
        );
        assert_eq!(
            (lb.recover_time_secs, lb.error_escalation_time_secs),
            (60, 30)
        );
        assert_eq!(lb.session_cookie, "JSESSIONID");
        assert_eq!(lb.session_path, ";jsessionid");
        assert_eq!(lb.session_cookie_path, "/");
        assert!(!lb.set_session_cookie);
        assert_eq!(lb.secret, None);
        assert_eq!(lb.max_packet_size, 8192);

        for (name, port, factor) in [
            ("tomcat1", 18009, 1),
            ("tomcat2", 28009, 2),
            ("tomcat3", 38009, 3),
        ] {
            let p = ajp(&c, name);
            assert_eq!(p.host, "localhost");
            assert_eq!(p.port, port);
            assert_eq!(p.lbfactor, factor);
            assert_eq!(p.route, name);
            assert_eq!(p.domain, "");
            assert_eq!(p.activation, Activation::Active);
            assert_eq!(p.ping_timeout_ms, 10_000);
            assert_eq!(p.retries, 2);
            assert_eq!(p.retry_interval_ms, 100);
            assert_eq!(p.max_packet_size, 8192);
            assert_eq!(p.connection_pool_size, None);
            assert_eq!(p.acquire_timeout_ms(), 200);
            assert_eq!(p.pool_sizes(25), (25, 13));
        }

        let s = c.get("jkstatus").unwrap().status().unwrap();
        assert!(!s.read_only);
        assert!(s.user.is_empty());
        assert_eq!(s.good, vec!["a.o", "a.i", "a.b", "a.r"]);
        assert_eq!(s.bad, vec!["s", "e"]);
        assert_eq!(s.prefix, "worker");
        assert_eq!(s.ns, "jk:");
        assert_eq!(s.xmlns, "xmlns:jk=\"http://tomcat.apache.org\"");
        assert_eq!(s.css, None);
        assert_eq!(s.doctype, None);
        assert_eq!(c.properties.get("worker.tomcat2.port"), Some("28009"));
    }

    #[test]
    fn implicit_config() {
        let c = WorkersConfig::implicit();
        assert_eq!(c.list, vec!["ajp13"]);
        assert_eq!(c.workers.len(), 1);
        let w = c.get("ajp13").unwrap();
        assert_eq!(w.origin, Origin::builtin());
        let p = w.ajp().unwrap();
        assert_eq!((p.host.as_str(), p.port), ("localhost", 8009));
        assert!(c.warnings.is_empty());
        let same = WorkersConfig::from_sources(&[], "/", &no_env).unwrap();
        assert_eq!(same.workers, c.workers);
    }

    #[test]
    fn listed_worker_without_attributes_is_default_ajp13() {
        let c = ok("worker.list=tomcat,other\nworker.tomcta.port=1\n");
        let p = ajp(&c, "tomcat");
        assert_eq!((p.host.as_str(), p.port), ("localhost", 8009));
        assert_eq!(c.get("tomcat").unwrap().origin.line, 1);
        assert!(
            c.warnings[0].contains("worker 'tomcat' has no attributes")
                && c.warnings[0].contains("did you mean 'tomcta'"),
            "{:?}",
            c.warnings
        );
        assert!(
            c.warnings
                .iter()
                .any(|w| w.contains("worker 'tomcta' is neither"))
        );
    }

    #[test]
    fn missing_worker_list_defaults_to_ajp13() {
        let c = ok("worker.ajp13.port=8010\n");
        assert_eq!(c.list, vec!["ajp13"]);
        assert_eq!(ajp(&c, "ajp13").port, 8010);
        assert!(
            c.warnings[0].contains("worker.list: not set"),
            "{:?}",
            c.warnings
        );
    }

    #[test]
    fn worker_list_errors() {
        let e = err("worker.list= , ,\n");
        assert_eq!(
            e.to_string(),
            "workers.properties:1: worker.list: lists no workers"
        );
        let long = "w".repeat(64);
        let e = err(&format!("worker.list=ok\nworker.list={long}\n"));
        assert_eq!(e.origin.as_ref().unwrap().line, 2);
        assert!(e.message.contains("64 characters long; at most 63"), "{e}");
        let c = ok(&format!("worker.list={}\n", "w".repeat(63)));
        assert_eq!(c.list[0].len(), 63);
    }

    #[test]
    fn maintain() {
        assert_eq!(ok("worker.maintain=30\n").maintain_secs, 30);
        assert_eq!(ok("worker.maintain=-5\n").maintain_secs, 0);
        let c = ok("worker.maintain=soon\n");
        assert_eq!(c.maintain_secs, 60);
        assert!(c.warnings[0].contains("not a number"));
    }

    #[test]
    fn unknown_attribute_error_text() {
        let e = err("worker.list=tomcat1\nworker.tomcat1.prot=8009\n");
        assert_eq!(
            e.to_string(),
            "workers.properties:2: worker.tomcat1.prot: unknown attribute 'prot'; httpd will not \
             start with it (did you mean 'port'?)"
        );
    }

    #[test]
    fn worker_types() {
        let e = err("worker.list=a\nworker.a.type=ajp14\n");
        assert_eq!(
            e.to_string(),
            "workers.properties:2: worker.a.type: worker type 'ajp14' is not supported (mod_jk \
             removed it); use ajp13"
        );
        assert!(
            err("worker.list=a\nworker.a.type=ajp12\n")
                .message
                .contains("not supported")
        );
        let e = err("worker.list=a\nworker.a.type=AJP13\n");
        assert_eq!(e.hint.as_deref(), Some("ajp13"));
        let e = err("worker.list=a\nworker.a.type=bl\n");
        assert_eq!(e.hint.as_deref(), Some("lb"));
        // Unlisted templates need not have a valid type.
        let c = ok(
            "worker.list=a\nworker.a.port=1\nworker.t.type=nonsense\nworker.x.reference=worker.t\n",
        );
        assert_eq!(c.workers.len(), 1);
    }

    #[test]
    fn booleans_integers_and_lists_in_attributes() {
        let c = ok("worker.list=a,s\n\
                    worker.a.socket_keepalive=Yes\nworker.a.prefer_ipv6=maybe\n\
                    worker.a.connection_pool_timeout=1k\nworker.a.reply_timeout=2M\n\
                    worker.a.busy_limit=lots\nworker.a.fail_on_status=500, 503\t-404,abc\n\
                    worker.a.mount=/app/*  /other|/*\n\
                    worker.s.type=status\nworker.s.user=alice,bob carol\nworker.s.read_only=on\n");
        let p = ajp(&c, "a");
        assert!(p.socket_keepalive);
        assert!(!p.prefer_ipv6);
        assert_eq!(p.connection_pool_timeout_secs, 1024);
        assert_eq!(p.reply_timeout_ms, 2 * 1048576);
        assert_eq!(p.busy_limit, 0);
        assert_eq!(p.fail_on_status, vec![500, 503, -404]);
        assert_eq!(c.get("a").unwrap().mount, vec!["/app/*", "/other|/*"]);
        let s = c.get("s").unwrap().status().unwrap();
        assert_eq!(s.user, vec!["alice", "bob", "carol"]);
        assert!(s.read_only);
        let w = c.warnings.join("\n");
        assert!(
            w.contains("workers.properties:3: worker.a.prefer_ipv6: 'maybe' is not a boolean"),
            "{w}"
        );
        assert!(
            w.contains("worker.a.busy_limit: 'lots' is not a number; using the default 0"),
            "{w}"
        );
        assert!(w.contains("ignoring 'abc'"), "{w}");
    }

    #[test]
    fn ajp_defaults_and_derived_values() {
        let c = ok("worker.list=a,b,c\n\
                    worker.a.socket_timeout=5\nworker.a.ping_mode=CI\n\
                    worker.b.ping_mode=A\nworker.b.ping_timeout=3000\nworker.b.connect_timeout=50\n\
                    worker.b.connection_pool_size=10\nworker.b.connection_acquire_timeout=7\n\
                    worker.c.ping_mode=px\nworker.c.socket_buffer=100\nworker.c.max_packet_size=9000\n");
        let a = ajp(&c, "a");
        assert_eq!(a.socket_timeout_secs, 5);
        assert_eq!(a.socket_connect_timeout_ms, 5000);
        assert_eq!(
            a.ping_mode,
            PingMode {
                connect: true,
                prepost: false,
                interval: true
            }
        );
        assert_eq!(a.ping_mode.as_letters(), "CI");
        assert_eq!(a.connect_timeout_ms, 10_000);
        assert_eq!(a.prepost_timeout_ms, 0);
        assert_eq!(a.connection_ping_interval_secs, 100);
        let b = ajp(&c, "b");
        assert_eq!(b.ping_mode.as_letters(), "CPI");
        assert_eq!(b.connect_timeout_ms, 50, "explicit value kept");
        assert_eq!(b.prepost_timeout_ms, 3000);
        assert_eq!(b.connection_ping_interval_secs, 30);
        assert_eq!(b.pool_sizes(64), (10, 5));
        assert_eq!(b.acquire_timeout_ms(), 7);
        let cw = ajp(&c, "c");
        assert_eq!(cw.ping_mode.as_letters(), "P");
        assert_eq!(cw.max_packet_size, 9216);
        assert_eq!(cw.socket_buffer, 9216, "raised to max_packet_size");
        assert!(
            c.warnings
                .iter()
                .any(|w| w.contains("ignoring 'x' in ping_mode"))
        );
    }

    #[test]
    fn clamps() {
        let c = ok("worker.list=a,b,c\n\
                    worker.a.max_packet_size=100\nworker.a.lbfactor=0\nworker.a.retries=-3\n\
                    worker.b.max_packet_size=1M\nworker.b.lbfactor=-1\nworker.b.lb_retries=0\n\
                    worker.c.max_packet_size=16384\nworker.c.socket_timeout=-1\n");
        assert_eq!(ajp(&c, "a").max_packet_size, 8192);
        assert_eq!(ajp(&c, "a").lbfactor, 1);
        assert_eq!(ajp(&c, "a").retries, 1);
        assert_eq!(ajp(&c, "b").max_packet_size, 65536);
        assert_eq!(ajp(&c, "b").lbfactor, 1);
        assert_eq!(ajp(&c, "b").lb_retries, 1);
        assert_eq!(ajp(&c, "c").max_packet_size, 16384);
        assert_eq!(ajp(&c, "c").socket_timeout_secs, 0);
        let lb = ok(
            "worker.list=lb\nworker.lb.type=lb\nworker.lb.balance_workers=m\nworker.m.port=1\n\
                     worker.lb.recover_time=0\nworker.lb.retries=0\n",
        );
        let p = lb.get("lb").unwrap().lb().unwrap();
        assert_eq!(p.recover_time_secs, 1);
        assert_eq!(p.error_escalation_time_secs, 0);
        assert_eq!(p.retries, 1);
        let e = err("worker.list=a\nworker.a.port=70000\n");
        assert_eq!(
            e.to_string(),
            "workers.properties:2: worker.a.port: port 70000 is outside 0..65535"
        );
    }

    #[test]
    fn activation_spellings() {
        for (value, expected) in [
            ("A", Activation::Active),
            ("active", Activation::Active),
            ("0", Activation::Active),
            ("D", Activation::Disabled),
            ("Disabled", Activation::Disabled),
            ("1", Activation::Disabled),
            ("s", Activation::Stopped),
            ("STOPPED", Activation::Stopped),
            ("2", Activation::Stopped),
        ] {
            assert_eq!(Activation::parse(value), Some(expected), "{value}");
        }
        assert_eq!(Activation::parse("x"), None);
        assert_eq!(Activation::Disabled.as_str(), "DIS");
        let c = ok("worker.list=a\nworker.a.activation=bogus\n");
        assert_eq!(ajp(&c, "a").activation, Activation::Active);
        assert!(c.warnings[0].contains("'bogus' is not one of Active, Disabled or Stopped"));
    }

    #[test]
    fn method_and_lock_spellings() {
        let m: Vec<_> = [
            "R", "traffic", "b", "Sessions", "n", "0", "1", "2", "3", "4",
        ]
        .iter()
        .map(|v| LbMethod::parse(v).unwrap().as_str())
        .collect();
        assert_eq!(
            m,
            [
                "Request", "Traffic", "Busyness", "Sessions", "Next", "Request", "Traffic",
                "Busyness", "Sessions", "Next"
            ]
        );
        assert_eq!(LbMethod::parse("x"), None);
        assert_eq!(LbLock::parse("p"), Some(LbLock::Pessimistic));
        assert_eq!(LbLock::parse("Optimistic"), Some(LbLock::Optimistic));
        assert_eq!(LbLock::parse("1"), Some(LbLock::Pessimistic));
        let c = ok(
            "worker.list=lb\nworker.lb.type=lb\nworker.lb.balance_workers=m\nworker.m.port=1\n\
                    worker.lb.method=B\nworker.lb.lock=P\nworker.lb.sticky_session=false\n",
        );
        let lb = c.get("lb").unwrap().lb().unwrap();
        assert_eq!(
            (lb.method, lb.lock, lb.sticky_session),
            (LbMethod::Busyness, LbLock::Pessimistic, false)
        );
    }

    #[test]
    fn deprecated_aliases_take_effect() {
        let c = ok("worker.list=lb,old\n\
                    worker.lb.type=lb\nworker.lb.balanced_workers=m1 m2\n\
                    worker.m1.cachesize=7\nworker.m1.cache_timeout=30\nworker.m1.jvm_route=r1\n\
                    worker.m1.disabled=true\n\
                    worker.m2.stopped=1\nworker.m2.disabled=1\nworker.m2.local_worker=1\n\
                    worker.old.cachesize=7\nworker.old.connection_pool_size=9\n\
                    worker.old.activation=D\nworker.old.stopped=true\n");
        assert_eq!(
            c.get("lb").unwrap().lb().unwrap().balance_workers,
            vec!["m1", "m2"]
        );
        let m1 = ajp(&c, "m1");
        assert_eq!(m1.connection_pool_size, Some(7));
        assert_eq!(m1.connection_pool_timeout_secs, 30);
        assert_eq!(m1.route, "r1");
        assert_eq!(m1.activation, Activation::Disabled);
        assert_eq!(
            ajp(&c, "m2").activation,
            Activation::Stopped,
            "stopped beats disabled"
        );
        let old = ajp(&c, "old");
        assert_eq!(old.connection_pool_size, Some(9), "current name wins");
        assert_eq!(
            old.activation,
            Activation::Disabled,
            "activation beats the old booleans"
        );
        let w = c.warnings.join("\n");
        for expected in [
            "worker.lb.balanced_workers: attribute 'balanced_workers' is deprecated; use 'balance_workers' instead",
            "worker.m1.jvm_route: attribute 'jvm_route' is deprecated; use 'route' instead",
            "worker.m2.local_worker: attribute 'local_worker' is deprecated and ignored",
            "workers.properties:11: worker.old.cachesize: ignored because 'connection_pool_size' is also set",
        ] {
            assert!(w.contains(expected), "missing {expected:?} in\n{w}");
        }
    }

    #[test]
    fn lb_member_validation() {
        let e = err("worker.list=lb\nworker.lb.type=lb\n");
        assert_eq!(
            e.to_string(),
            "workers.properties:2: worker.lb.balance_workers: lb worker 'lb' has no members; set \
             worker.lb.balance_workers"
        );
        let e = err(
            "worker.list=lb\nworker.lb.type=lb\nworker.lb.balance_workers=tomcat1\n\
                     worker.lb.balance_workers=tomcat2\nworker.tomcat1.port=1\nworker.tomact2.port=2\n",
        );
        assert_eq!(
            e.to_string(),
            "workers.properties:4: worker.lb.balance_workers: member 'tomcat2' of lb 'lb' is not \
             defined (did you mean 'tomact2'?)"
        );
        let e = err(
            "worker.list=lb\nworker.lb.type=lb\nworker.lb.balance_workers=st\nworker.st.type=status\n",
        );
        assert!(
            e.message.contains("is a status worker; only ajp13 workers"),
            "{e}"
        );
        assert_eq!(e.origin.unwrap().line, 3);
        let e = err(
            "worker.list=lb,st\nworker.lb.type=lb\nworker.lb.balance_workers=st\nworker.st.type=status\n",
        );
        assert!(e.message.contains("is a status worker"), "{e}");
        let e = err(
            "worker.list=outer\nworker.outer.type=lb\nworker.outer.balance_workers=inner\n\
                     worker.inner.type=lb\nworker.inner.balance_workers=m\nworker.m.port=1\n",
        );
        assert!(
            e.message.contains("'inner' of lb 'outer' is a lb worker"),
            "{e}"
        );
        let e = err(
            "worker.list=lb\nworker.lb.type=lb\nworker.lb.balance_workers=m,m\nworker.m.port=1\n",
        );
        assert!(e.message.contains("listed twice"), "{e}");
    }

    #[test]
    fn lb_members_need_distinct_routes() {
        let e = err(
            "worker.list=lb\nworker.lb.type=lb\nworker.lb.balance_workers=a,b\n\
                     worker.a.port=1\nworker.b.port=2\nworker.b.route=a\n",
        );
        assert_eq!(
            e.to_string(),
            "workers.properties:6: worker.lb.balance_workers: members 'a' and 'b' of lb 'lb' \
             share the route 'a'; each member needs its own route (Tomcat jvmRoute)"
        );
        // Members need not be listed, and may serve two lbs.
        let c = ok(
            "worker.list=lb1,lb2\nworker.lb1.type=lb\nworker.lb1.balance_workers=a\n\
                    worker.lb2.type=lb\nworker.lb2.balance_workers=a,b\nworker.a.port=1\nworker.b.port=2\n",
        );
        assert_eq!(c.workers.len(), 4);
    }

    #[test]
    fn routes_domains_and_lengths() {
        let c = ok(
            "worker.list=lb\nworker.lb.type=lb\nworker.lb.balance_workers=a,b,c\n\
                    worker.a.route=dc1.node1\nworker.b.route=dc1.node2\nworker.b.domain=explicit\n\
                    worker.c.redirect=dc1.node1\n",
        );
        assert_eq!(ajp(&c, "a").route, "dc1.node1");
        assert_eq!(ajp(&c, "a").domain, "dc1");
        assert_eq!(ajp(&c, "b").domain, "explicit");
        assert_eq!(ajp(&c, "c").route, "c");
        assert_eq!(ajp(&c, "c").domain, "");
        assert_eq!(ajp(&c, "c").redirect, "dc1.node1");
        let long = "r".repeat(64);
        let e = err(&format!("worker.list=a\nworker.a.route={long}\n"));
        assert_eq!(e.key.as_deref(), Some("worker.a.route"));
        assert!(e.message.starts_with("route 'rrrr"), "{e}");
        let e = err(&format!(
            "worker.list=a\nworker.a.host={}.example\n",
            "h".repeat(60)
        ));
        assert!(e.message.starts_with("host name"), "{e}");
        let long_member = "m".repeat(64);
        let e = err(&format!(
            "worker.list=lb\nworker.lb.type=lb\nworker.lb.balance_workers={long_member}\nworker.{long_member}.port=1\n"
        ));
        assert!(e.message.contains("worker name"), "{e}");
        assert_eq!(e.origin.unwrap().line, 3);
    }

    #[test]
    fn port_zero_stops_member() {
        let c = ok(
            "worker.list=lb\nworker.lb.type=lb\nworker.lb.balance_workers=a,b\n\
                    worker.a.port=0\nworker.a.activation=A\nworker.b.port=1\n",
        );
        let a = ajp(&c, "a");
        assert_eq!(a.activation, Activation::Stopped);
        assert!(a.stopped_by_port_zero);
        assert!(!ajp(&c, "b").stopped_by_port_zero);
    }

    #[test]
    fn lb_secret_is_inherited() {
        let c = ok(
            "worker.list=lb\nworker.lb.type=lb\nworker.lb.secret=s3cret\n\
                    worker.lb.balance_workers=a,b\nworker.a.port=1\nworker.b.port=2\nworker.b.secret=own\n",
        );
        assert_eq!(ajp(&c, "a").secret.as_deref(), Some("s3cret"));
        assert_eq!(ajp(&c, "a").secret_inherited_from.as_deref(), Some("lb"));
        assert_eq!(ajp(&c, "b").secret.as_deref(), Some("own"));
        assert_eq!(ajp(&c, "b").secret_inherited_from, None);
        assert_eq!(
            c.get("lb").unwrap().lb().unwrap().secret.as_deref(),
            Some("s3cret")
        );
    }

    #[test]
    fn lb_max_packet_size_is_largest_member() {
        let c = ok(
            "worker.list=lb\nworker.lb.type=lb\nworker.lb.balance_workers=a,b\n\
                    worker.a.max_packet_size=16k\nworker.b.port=2\n",
        );
        assert_eq!(c.get("lb").unwrap().lb().unwrap().max_packet_size, 16384);
    }

    #[test]
    fn references_build_members() {
        let c = ok("worker.list=lb\n\
                    worker.template.type=ajp13\nworker.template.host=tc.internal\n\
                    worker.template.socket_keepalive=true\nworker.template.lbfactor=4\n\
                    worker.lb.type=lb\nworker.lb.balance_workers=n1,n2\n\
                    worker.n1.reference=worker.template\nworker.n1.port=18009\n\
                    worker.n2.reference=worker.template\nworker.n2.port=28009\nworker.n2.lbfactor=1\n");
        let n1 = ajp(&c, "n1");
        assert_eq!(
            (n1.host.as_str(), n1.port, n1.lbfactor),
            ("tc.internal", 18009, 4)
        );
        assert!(n1.socket_keepalive);
        let n2 = ajp(&c, "n2");
        assert_eq!((n2.port, n2.lbfactor), (28009, 1));
        assert_eq!(c.get("n1").unwrap().origin.line, 8);
        assert!(
            c.warnings.is_empty(),
            "template is not reported as unused: {:?}",
            c.warnings
        );
    }

    #[test]
    fn reference_cycle_fails_the_build() {
        let e = err("worker.list=a\nworker.a.reference=worker.b\nworker.b.reference=worker.a\n");
        assert!(e.message.contains("reference cycle"), "{e}");
    }

    #[test]
    fn inapplicable_attribute_warns() {
        let c = ok(
            "worker.list=lb,st\nworker.lb.type=lb\nworker.lb.balance_workers=m\nworker.lb.port=1\n\
                    worker.m.port=2\nworker.st.type=status\nworker.st.retries=3\n",
        );
        let w = c.warnings.join("\n");
        assert!(
            w.contains("workers.properties:4: worker.lb.port: 'port' has no effect on a lb worker"),
            "{w}"
        );
        assert!(
            w.contains("worker.st.retries: 'retries' has no effect on a status worker"),
            "{w}"
        );
    }

    #[test]
    fn status_options() {
        let c = ok(
            "worker.list=s\nworker.s.type=status\nworker.s.ns=-\nworker.s.xmlns=-\n\
                    worker.s.css=/jk.css\nworker.s.good=a.o\nworker.s.good=a.i\nworker.s.bad=e\n\
                    worker.s.prefix=w\nworker.s.doctype=<!DOCTYPE x>\nworker.s.user_case_insensitive=t\n",
        );
        let s = c.get("s").unwrap().status().unwrap();
        assert_eq!(s.ns, "");
        assert_eq!(s.xmlns, "");
        assert_eq!(s.css.as_deref(), Some("/jk.css"));
        assert_eq!(s.good, vec!["a.o", "a.i"]);
        assert_eq!(s.bad, vec!["e"]);
        assert_eq!(s.prefix, "w");
        assert_eq!(s.doctype.as_deref(), Some("<!DOCTYPE x>"));
        assert!(s.user_case_insensitive);
    }

    #[test]
    fn jk_worker_property_and_file_combine() {
        let sources = [
            Source::Line {
                origin: Origin::new("/etc/httpd/conf/httpd.conf", 20),
                text: "worker.list=extra",
            },
            Source::Line {
                origin: Origin::new("/etc/httpd/conf/httpd.conf", 21),
                text: "worker.extra.port=$(EXTRA_PORT)",
            },
            Source::File {
                path: "/etc/httpd/conf/workers.properties",
                contents: SEED,
            },
        ];
        let env = |n: &str| (n == "EXTRA_PORT").then(|| "9009".to_owned());
        let c = WorkersConfig::from_sources(&sources, "/etc/httpd", &env).unwrap();
        assert_eq!(c.list, vec!["extra", "load_balancer", "jkstatus"]);
        assert_eq!(ajp(&c, "extra").port, 9009);
        assert_eq!(
            c.get("extra").unwrap().origin.to_string(),
            "/etc/httpd/conf/httpd.conf:21"
        );
    }

    proptest::proptest! {
        /// Any mix of plausible and garbage lines either builds or fails with an error that
        /// names a line; it never panics.
        #[test]
        fn arbitrary_files_never_panic(lines in proptest::collection::vec(
            proptest::prop_oneof![
                "worker\\.(list|maintain)=[a-z0-9, ]{0,12}",
                "worker\\.[a-c]\\.(type|port|host|route|lbfactor|balance_workers|reference|\
                 activation|max_packet_size|secret|ping_mode|cachesize|prot)=[a-z0-9.$() ,#-]{0,10}",
                "worker\\.[a-c]\\.type=(ajp13|lb|status|ajp14)",
                "worker\\.[a-c]\\.reference=worker\\.[a-c]",
                "\\PC{0,20}",
            ],
            0..16,
        )) {
            match build(&lines.join("\n")) {
                Ok(c) => proptest::prop_assert!(!c.list.is_empty()),
                Err(e) => proptest::prop_assert!(e.origin.is_some(), "{}", e),
            }
        }
    }

    #[test]
    fn attribute_table_is_consistent() {
        for (i, a) in ATTRIBUTES.iter().enumerate() {
            assert!(
                ATTRIBUTES[..i].iter().all(|b| b.name != a.name),
                "duplicate {}",
                a.name
            );
            if let Some(target) = a.deprecated_alias_of {
                let t = find_attribute(target).expect("alias target exists");
                assert!(!t.is_deprecated());
            }
        }
        for deprecated in [
            "recycle_timeout",
            "cachesize",
            "cache_timeout",
            "balanced_workers",
            "jvm_route",
            "disabled",
            "stopped",
            "local_worker",
            "local_worker_only",
            "sysprops",
            "stderr",
            "stdout",
            "mx",
            "ms",
            "class_path",
            "bridge",
            "jvm_lib",
            "ld_path",
            "cmd_line",
            "native_lib",
            "secretkey",
        ] {
            assert!(
                find_attribute(deprecated).unwrap().is_deprecated(),
                "{deprecated}"
            );
        }
        assert_eq!(find_attribute("ping_timeout").unwrap().default, "10000");
        assert_eq!(
            find_attribute("balance_workers").unwrap().multi,
            Multi::List
        );
        assert_eq!(find_attribute("distance").unwrap().multi, Multi::Star);
    }
}
