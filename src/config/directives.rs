//! The 37 `Jk*` directives of mod_jk: their table (names, argument shapes, scopes,
//! defaults) and the per-server configuration they build, with mod_jk's vhost inheritance.
//!
//! Everything here is plain Rust: the httpd entry layer turns each directive call into
//! [`ServerConf::apply`] and each vhost merge into [`ServerConf::merge`].

use std::ffi::CStr;
use std::path::Path;
use std::sync::Arc;

use super::enums::coded_enum;
use super::properties::{Origin, Source};
use super::workers::{WorkerKind, WorkersConfig};
use crate::mapping::{RuleSource, UriMap, parse_uriworkermap};
use crate::reqlog::RequestLogFormat;

/// How httpd passes arguments to the directive handler.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Args {
    Take1,
    Take12,
    RawArgs,
    Flag,
}

/// Where a directive may appear.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// Main server only, outside `<VirtualHost>`.
    Global,
    /// Main server and `<VirtualHost>`.
    Server,
    /// Also inside `<Location>` (the one-argument form of JkMount/JkUnMount).
    ServerOrLocation,
}

/// How far a directive is supported.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Support {
    Implemented,
    /// Accepted so existing configurations start, with a startup warning naming it.
    AcceptedIgnored,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Directive {
    WorkersFile,
    WorkerProperty,
    ShmFile,
    ShmSize,
    WatchdogInterval,
    Mount,
    UnMount,
    MountFile,
    MountFileReload,
    MountCopy,
    AutoAlias,
    WorkerIndicator,
    StripSession,
    LogFile,
    LogLevel,
    LogStampFormat,
    RequestLogFormat,
    Options,
    EnvVar,
    ExtractSsl,
    Indicator(Indicator),
}

/// Environment-variable names the request flow reads; each is a directive of its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Indicator {
    Https,
    SslProtocol,
    Certs,
    Cipher,
    Session,
    KeySize,
    CertChainPrefix,
    RequestId,
    RemoteAddr,
    RemotePort,
    RemoteHost,
    RemoteUser,
    AuthType,
    LocalName,
    LocalAddr,
    LocalPort,
    IgnoreCl,
}

pub const INDICATOR_COUNT: usize = 17;

impl Indicator {
    fn index(self) -> usize {
        self as usize
    }
}

pub struct DirectiveInfo {
    /// NUL-terminated because httpd reads the table directly.
    pub cname: &'static CStr,
    pub directive: Directive,
    pub args: Args,
    pub scope: Scope,
    pub default: &'static str,
    pub support: Support,
    /// The one-line usage text httpd prints on a syntax error.
    pub help: &'static CStr,
}

impl DirectiveInfo {
    pub fn name(&self) -> &'static str {
        // The table holds only ASCII literals.
        self.cname.to_str().unwrap_or("Jk?")
    }
}

const fn d(
    cname: &'static CStr,
    directive: Directive,
    args: Args,
    scope: Scope,
    default: &'static str,
    support: Support,
    help: &'static CStr,
) -> DirectiveInfo {
    DirectiveInfo {
        cname,
        directive,
        args,
        scope,
        default,
        support,
        help,
    }
}

use Args::*;
use Directive as D;
use Indicator as I;
use Scope::*;
use Support::*;

/// Every directive mod_jk 1.2 registers, in its order.
pub const DIRECTIVES: [DirectiveInfo; 37] = [
    d(c"JkWorkersFile", D::WorkersFile, Take1, Global, "(implicit worker ajp13 at localhost:8009)", Implemented,
      c"The name of a worker definition file (workers.properties)"),
    d(c"JkWorkerProperty", D::WorkerProperty, RawArgs, Global, "", Implemented,
      c"A worker property line, read before the workers file"),
    d(c"JkShmFile", D::ShmFile, Take1, Global, "logs/jk-runtime-status", Implemented,
      c"The name of the shared memory file"),
    d(c"JkShmSize", D::ShmSize, Take1, Global, "(computed)", Implemented,
      c"Size of the shared memory file in KB, at least 74112 bytes (computed automatically when unset)"),
    d(c"JkWatchdogInterval", D::WatchdogInterval, Take1, Global, "0", Implemented,
      c"Seconds between maintenance runs of a background thread; 0 = maintain on requests"),
    d(c"JkMount", D::Mount, Take12, ServerOrLocation, "", Implemented,
      c"A URI pattern and the worker that serves it (one argument inside <Location>)"),
    d(c"JkUnMount", D::UnMount, Take12, ServerOrLocation, "", Implemented,
      c"A URI pattern that must not be forwarded to the worker"),
    d(c"JkMountFile", D::MountFile, Take1, Server, "", Implemented,
      c"The name of a uriworkermap.properties file"),
    d(c"JkMountFileReload", D::MountFileReload, Take1, Server, "60", Implemented,
      c"Seconds between checks of the JkMountFile for changes; 0 = never"),
    d(c"JkMountCopy", D::MountCopy, Take1, Server, "Off", Implemented,
      c"On/Off: copy the main server's JkMounts into this virtual host; All (main server): for every virtual host"),
    d(c"JkAutoAlias", D::AutoAlias, Take1, Server, "", Implemented,
      c"Tomcat webapps directory served by httpd when no JkMount matched"),
    d(c"JkWorkerIndicator", D::WorkerIndicator, Take1, Server, "JK_WORKER_NAME", Implemented,
      c"Environment variable naming the worker for SetHandler jakarta-servlet"),
    d(c"JkStripSession", D::StripSession, Take12, Server, "Off ;jsessionid", Implemented,
      c"On/Off [name]: strip the session path parameter from URIs that are not forwarded"),
    d(c"JkLogFile", D::LogFile, Take1, Server, "logs/mod_jk.log", Implemented,
      c"The file (or |program) mod_rjk logs to"),
    d(c"JkLogLevel", D::LogLevel, Take1, Server, "info", Implemented,
      c"trace, debug, info, warn, error or emerg"),
    d(c"JkLogStampFormat", D::LogStampFormat, Take1, Server, "[%a %b %d %H:%M:%S.%Q %Y] ", Implemented,
      c"strftime format of the log time stamp (%Q milliseconds, %q microseconds)"),
    d(c"JkRequestLogFormat", D::RequestLogFormat, Take1, Server, "", Implemented,
      c"Format of a per-request line in the JK log"),
    d(c"JkOptions", D::Options, RawArgs, Server, "+ForwardURIProxy +ForwardKeySize", Implemented,
      c"A list of +Option/-Option flags"),
    d(c"JkEnvVar", D::EnvVar, Take12, Server, "", Implemented,
      c"An environment variable [and default] sent to Tomcat as a request attribute"),
    d(c"JkExtractSSL", D::ExtractSsl, Flag, Server, "On", Implemented,
      c"Forward SSL information (On/Off)"),
    d(c"JkHTTPSIndicator", D::Indicator(I::Https), Take1, Server, "HTTPS", Implemented,
      c"Environment variable that says the request came over SSL"),
    d(c"JkSSLPROTOCOLIndicator", D::Indicator(I::SslProtocol), Take1, Server, "SSL_PROTOCOL", Implemented,
      c"Environment variable holding the SSL protocol"),
    d(c"JkCERTSIndicator", D::Indicator(I::Certs), Take1, Server, "SSL_CLIENT_CERT", Implemented,
      c"Environment variable holding the client certificate"),
    d(c"JkCIPHERIndicator", D::Indicator(I::Cipher), Take1, Server, "SSL_CIPHER", Implemented,
      c"Environment variable holding the SSL cipher"),
    d(c"JkSESSIONIndicator", D::Indicator(I::Session), Take1, Server, "SSL_SESSION_ID", Implemented,
      c"Environment variable holding the SSL session id"),
    d(c"JkKEYSIZEIndicator", D::Indicator(I::KeySize), Take1, Server, "SSL_CIPHER_USEKEYSIZE", Implemented,
      c"Environment variable holding the SSL key size"),
    d(c"JkCERTCHAINPrefix", D::Indicator(I::CertChainPrefix), Take1, Server, "SSL_CLIENT_CERT_CHAIN_", Implemented,
      c"Prefix of the environment variables holding the client certificate chain"),
    d(c"JkRequestIdIndicator", D::Indicator(I::RequestId), Take1, Server, "UNIQUE_ID", Implemented,
      c"Environment variable holding the request id shown in log lines"),
    d(c"JkRemoteAddrIndicator", D::Indicator(I::RemoteAddr), Take1, Server, "JK_REMOTE_ADDR", Implemented,
      c"Environment variable overriding the client address"),
    d(c"JkRemotePortIndicator", D::Indicator(I::RemotePort), Take1, Server, "JK_REMOTE_PORT", Implemented,
      c"Environment variable overriding the client port"),
    d(c"JkRemoteHostIndicator", D::Indicator(I::RemoteHost), Take1, Server, "JK_REMOTE_HOST", Implemented,
      c"Environment variable overriding the client host name"),
    d(c"JkRemoteUserIndicator", D::Indicator(I::RemoteUser), Take1, Server, "JK_REMOTE_USER", Implemented,
      c"Environment variable overriding the remote user"),
    d(c"JkAuthTypeIndicator", D::Indicator(I::AuthType), Take1, Server, "JK_AUTH_TYPE", Implemented,
      c"Environment variable overriding the authentication type"),
    d(c"JkLocalNameIndicator", D::Indicator(I::LocalName), Take1, Server, "JK_LOCAL_NAME", Implemented,
      c"Environment variable overriding the local server name"),
    d(c"JkLocalAddrIndicator", D::Indicator(I::LocalAddr), Take1, Server, "JK_LOCAL_ADDR", Implemented,
      c"Environment variable overriding the local address"),
    d(c"JkLocalPortIndicator", D::Indicator(I::LocalPort), Take1, Server, "JK_LOCAL_PORT", Implemented,
      c"Environment variable overriding the local port"),
    d(c"JkIgnoreCLIndicator", D::Indicator(I::IgnoreCl), Take1, Server, "JK_IGNORE_CL", Implemented,
      c"Environment variable that makes the request body be sent as if chunked"),
];

pub fn indicator_default(ind: Indicator) -> &'static str {
    DIRECTIVES
        .iter()
        .find(|i| i.directive == Directive::Indicator(ind))
        .map(|i| i.default)
        .unwrap_or("")
}

coded_enum! {
    /// JK log levels, lowest first; `JkLogLevel` takes their names in any case.
    #[derive(PartialOrd, Ord)]
    pub enum LogLevel (unknown codes read as Info) {
        Trace = 0, "trace";
        Debug = 1, "debug";
        Info = 2, "info";
        Warn = 3, "warn";
        Error = 4, "error";
        Emerg = 5, "emerg";
    }
}

/// `JkOptions` flags as bits.
pub mod opt {
    pub const FORWARD_URI_COMPAT: u32 = 1 << 0;
    pub const FORWARD_URI_COMPAT_UNPARSED: u32 = 1 << 1;
    pub const FORWARD_URI_ESCAPED: u32 = 1 << 2;
    pub const FORWARD_URI_PROXY: u32 = 1 << 3;
    pub const FORWARD_URI_MASK: u32 = 0b1111;
    pub const REJECT_UNSAFE_URI: u32 = 1 << 4;
    pub const FORWARD_LOCAL_ADDRESS: u32 = 1 << 5;
    pub const FORWARD_PHYSICAL_ADDRESS: u32 = 1 << 6;
    pub const FORWARD_ADDRESS_MASK: u32 = FORWARD_LOCAL_ADDRESS | FORWARD_PHYSICAL_ADDRESS;
    pub const FLUSH_PACKETS: u32 = 1 << 7;
    pub const FLUSH_HEADER: u32 = 1 << 8;
    pub const DISABLE_REUSE: u32 = 1 << 9;
    pub const FORWARD_KEY_SIZE: u32 = 1 << 10;
    pub const FORWARD_SSL_CERT_CHAIN: u32 = 1 << 11;
    pub const FORWARD_DIRECTORIES: u32 = 1 << 12;
    pub const DEFAULT: u32 = FORWARD_URI_PROXY | FORWARD_KEY_SIZE;

    /// (name, bit, mutually exclusive group mask)
    pub const NAMES: &[(&str, u32, u32)] = &[
        ("ForwardURICompat", FORWARD_URI_COMPAT, FORWARD_URI_MASK),
        (
            "ForwardURICompatUnparsed",
            FORWARD_URI_COMPAT_UNPARSED,
            FORWARD_URI_MASK,
        ),
        ("ForwardURIEscaped", FORWARD_URI_ESCAPED, FORWARD_URI_MASK),
        ("ForwardURIProxy", FORWARD_URI_PROXY, FORWARD_URI_MASK),
        ("RejectUnsafeURI", REJECT_UNSAFE_URI, 0),
        (
            "ForwardLocalAddress",
            FORWARD_LOCAL_ADDRESS,
            FORWARD_ADDRESS_MASK,
        ),
        (
            "ForwardPhysicalAddress",
            FORWARD_PHYSICAL_ADDRESS,
            FORWARD_ADDRESS_MASK,
        ),
        ("FlushPackets", FLUSH_PACKETS, 0),
        ("FlushHeader", FLUSH_HEADER, 0),
        ("DisableReuse", DISABLE_REUSE, 0),
        ("ForwardKeySize", FORWARD_KEY_SIZE, 0),
        ("ForwardSSLCertChain", FORWARD_SSL_CERT_CHAIN, 0),
        ("ForwardDirectories", FORWARD_DIRECTORIES, 0),
    ];
}

/// The `+`/`-` sets one server's `JkOptions` lines produced.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct OptionSet {
    pub plus: u32,
    pub minus: u32,
}

impl OptionSet {
    /// Applies this server's changes on top of `base` (the inherited effective options).
    /// A chosen `ForwardURI*` (or address) option replaces the other members of its group.
    pub fn effective_over(&self, base: u32) -> u32 {
        let mut eff = base;
        for &(_, bit, group) in opt::NAMES {
            if self.plus & bit != 0 && group != 0 {
                eff &= !group;
            }
        }
        (eff | self.plus) & !self.minus
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MountCopy {
    Off,
    On,
    /// Main server only: every vhost copies unless it says `Off`.
    All,
}

/// Where the directive was written, for error messages and JkMount in `<Location>`.
pub struct DirectiveCtx<'a> {
    pub file: &'a str,
    pub line: usize,
    /// Path of the enclosing `<Location>`, if any.
    pub location: Option<&'a str>,
    pub in_vhost: bool,
    pub server_root: &'a str,
    pub env: &'a dyn Fn(&str) -> Option<String>,
}

impl DirectiveCtx<'_> {
    fn origin(&self) -> Origin {
        Origin {
            file: self.file.to_string(),
            line: self.line,
        }
    }

    pub fn resolve_path(&self, p: &str) -> String {
        if p.starts_with('|') || Path::new(p).is_absolute() {
            p.to_string()
        } else {
            Path::new(self.server_root)
                .join(p)
                .to_string_lossy()
                .into_owned()
        }
    }
}

/// One server's (main or vhost) `Jk*` settings. `None` means "not set here": the merge
/// falls back to the main server, as mod_jk does.
#[derive(Debug, Clone)]
pub struct ServerConf {
    pub is_vhost: bool,
    // Main-server-only settings.
    pub workers_file: Option<String>,
    pub worker_properties: Vec<(Origin, String)>,
    /// Parsed and validated as soon as the directives allow, so `apache2 -t` fails on it.
    pub workers: Option<Arc<WorkersConfig>>,
    pub shm_file: Option<String>,
    /// `JkShmSize` in KB.
    pub shm_size_kb: Option<u32>,
    pub watchdog_interval: Option<u32>,
    // Mapping.
    pub uri_map: UriMap,
    /// The worker each `JkMount` directive of this server names, with where it was
    /// written, so that check_config can point at the line of a mount nobody serves.
    pub mount_origins: Vec<(String, Origin)>,
    pub mount_copy: Option<MountCopy>,
    pub mount_file: Option<String>,
    pub mount_file_reload: Option<u32>,
    pub worker_indicator: Option<String>,
    /// `JkAutoAlias`: the webapps directory, without a trailing slash.
    pub auto_alias: Option<String>,
    pub strip_session: Option<(bool, String)>,
    // Logging.
    pub log_file: Option<String>,
    pub log_level: Option<LogLevel>,
    pub log_stamp_format: Option<String>,
    pub request_log_format: Option<RequestLogFormat>,
    // Forwarding.
    pub options: OptionSet,
    /// Effective options after inheritance; filled by `finish_main`/`merge`.
    pub effective_options: u32,
    pub env_vars: Vec<(String, Option<String>)>,
    pub extract_ssl: Option<bool>,
    pub indicators: [Option<String>; INDICATOR_COUNT],
    /// Startup warnings collected while reading the directives (logged at post_config).
    pub warnings: Vec<String>,
}

impl ServerConf {
    pub fn new(is_vhost: bool) -> ServerConf {
        ServerConf {
            is_vhost,
            workers_file: None,
            worker_properties: Vec::new(),
            workers: None,
            shm_file: None,
            shm_size_kb: None,
            watchdog_interval: None,
            uri_map: UriMap::default(),
            mount_origins: Vec::new(),
            mount_copy: None,
            mount_file: None,
            mount_file_reload: None,
            worker_indicator: None,
            auto_alias: None,
            strip_session: None,
            log_file: None,
            log_level: None,
            log_stamp_format: None,
            request_log_format: None,
            options: OptionSet::default(),
            effective_options: opt::DEFAULT,
            env_vars: Vec::new(),
            extract_ssl: None,
            indicators: Default::default(),
            warnings: Vec::new(),
        }
    }

    pub fn indicator(&self, ind: Indicator) -> &str {
        self.indicators[ind.index()]
            .as_deref()
            .unwrap_or_else(|| indicator_default(ind))
    }

    pub fn log_level(&self) -> LogLevel {
        self.log_level.unwrap_or(LogLevel::Info)
    }

    pub fn log_stamp_format(&self) -> &str {
        self.log_stamp_format
            .as_deref()
            .unwrap_or("[%a %b %d %H:%M:%S.%Q %Y] ")
    }

    pub fn has_option(&self, bit: u32) -> bool {
        self.effective_options & bit != 0
    }

    /// Applies one directive. `args` holds the words httpd split (one raw string for
    /// RAW_ARGS, "On"/"Off" for FLAG). Errors are complete sentences for httpd to print
    /// next to its own "Syntax error on line N of FILE".
    pub fn apply(
        &mut self,
        info: &DirectiveInfo,
        args: &[&str],
        ctx: &DirectiveCtx,
    ) -> Result<(), String> {
        if info.scope == Scope::Global && ctx.in_vhost {
            return Err(format!(
                "{} is only allowed in the main server, not inside <VirtualHost>",
                info.name()
            ));
        }
        if info.support == Support::AcceptedIgnored {
            self.warnings.push(format!(
                "{} (at {}:{}) is accepted but not supported by mod_rjk yet; it has no effect",
                info.name(),
                ctx.file,
                ctx.line
            ));
        }
        let first = args.first().copied().unwrap_or("");
        match info.directive {
            D::WorkersFile => self.set_workers_file(first, ctx)?,
            D::WorkerProperty => self.add_worker_property(first, ctx)?,
            D::ShmFile => self.shm_file = Some(ctx.resolve_path(first)),
            D::ShmSize => self.shm_size_kb = Some(parse_u32(info.name(), first)?),
            D::WatchdogInterval => self.watchdog_interval = Some(parse_u32(info.name(), first)?),
            D::Mount | D::UnMount => self.add_mount(info, args, ctx)?,
            D::MountFile => self.set_mount_file(first, ctx)?,
            D::MountFileReload => {
                // mod_jk turns negative intervals into 0 (never reload).
                let v: i64 = first.trim().parse().map_err(|_| {
                    format!("JkMountFileReload: '{first}' is not a number of seconds")
                })?;
                self.mount_file_reload = Some(v.clamp(0, u32::MAX as i64) as u32);
            }
            D::MountCopy => {
                self.mount_copy = Some(match first.to_ascii_lowercase().as_str() {
                    "on" => MountCopy::On,
                    "off" => MountCopy::Off,
                    "all" if !ctx.in_vhost => MountCopy::All,
                    "all" => {
                        return Err(
                            "JkMountCopy All is only allowed in the main server; use On inside <VirtualHost>"
                                .into(),
                        );
                    }
                    _ => return Err(format!("JkMountCopy takes On, Off or All, not '{first}'")),
                })
            }
            D::AutoAlias => {
                let dir = ctx.resolve_path(first);
                self.auto_alias = Some(dir.trim_end_matches('/').to_string());
            }
            D::WorkerIndicator => self.worker_indicator = Some(first.to_string()),
            D::StripSession => {
                let on = parse_on_off(info.name(), first)?;
                let name = args.get(1).copied().unwrap_or(";jsessionid");
                self.strip_session = Some((on, name.to_string()));
            }
            D::LogFile => self.log_file = Some(ctx.resolve_path(first)),
            D::LogLevel => self.set_log_level(first, ctx),
            D::LogStampFormat => {
                if first.len() > 63 {
                    return Err("JkLogStampFormat: the format is longer than 63 characters".into());
                }
                self.log_stamp_format = Some(first.to_string());
            }
            D::RequestLogFormat => self.request_log_format = Some(RequestLogFormat::parse(first)?),
            D::Options => {
                self.apply_options(first, ctx)?;
                self.effective_options = self.options.effective_over(opt::DEFAULT);
            }
            D::EnvVar => {
                if first.is_empty() {
                    return Err("JkEnvVar needs the name of an environment variable".into());
                }
                let default = args.get(1).map(|s| s.to_string());
                self.env_vars.retain(|(n, _)| n != first);
                self.env_vars.push((first.to_string(), default));
            }
            D::ExtractSsl => self.extract_ssl = Some(parse_on_off(info.name(), first)?),
            D::Indicator(ind) => self.indicators[ind.index()] = Some(first.to_string()),
        }
        Ok(())
    }

    /// `JkWorkersFile`: once, an existing file, read and validated at once.
    fn set_workers_file(&mut self, first: &str, ctx: &DirectiveCtx) -> Result<(), String> {
        if self.workers_file.is_some() {
            return Err("JkWorkersFile can only be used once".to_string());
        }
        let path = ctx.resolve_path(first);
        if !Path::new(&path).is_file() {
            return Err(format!(
                "JkWorkersFile: the workers file {path} does not exist or is not a regular file"
            ));
        }
        self.workers_file = Some(path);
        self.load_workers(ctx)?;
        Ok(())
    }

    /// `JkWorkerProperty`: one `name=value` line.
    fn add_worker_property(&mut self, first: &str, ctx: &DirectiveCtx) -> Result<(), String> {
        let line = first.trim();
        if line.len() > 8192 {
            return Err("JkWorkerProperty: the line is longer than 8192 characters".into());
        }
        if !line.contains('=') {
            return Err(format!(
                "JkWorkerProperty: expected a 'name=value' line, got '{line}'"
            ));
        }
        self.worker_properties
            .push((ctx.origin(), line.to_string()));
        // After the file was read, a property line changes the result: re-validate.
        if self.workers_file.is_some() {
            self.load_workers(ctx)?;
        }
        Ok(())
    }

    /// `JkMount` / `JkUnMount`, with the pattern from `<Location>` when only a worker is given.
    fn add_mount(
        &mut self,
        info: &DirectiveInfo,
        args: &[&str],
        ctx: &DirectiveCtx,
    ) -> Result<(), String> {
        let (pattern, spec) = match (args.len(), ctx.location) {
            (2, _) => (args[0], args[1]),
            (1, Some(loc)) => (loc, args[0]),
            _ => {
                return Err(format!(
                    "{} needs a URI pattern and a worker when used outside <Location>",
                    info.name()
                ));
            }
        };
        if !pattern.starts_with('/') {
            return Err(format!(
                "{}: the URI pattern '{pattern}' must start with '/' (for example '/*.jsp', not '*.jsp')",
                info.name()
            ));
        }
        let warnings = if info.directive == D::Mount {
            let worker = spec.split(';').next().unwrap_or("").trim();
            self.mount_origins.push((worker.to_string(), ctx.origin()));
            self.uri_map.add_mount(pattern, spec, RuleSource::JkMount)
        } else {
            self.uri_map.add_unmount(pattern, spec, RuleSource::JkMount)
        }
        .map_err(|e| format!("{}: {e}", info.name()))?;
        self.push_warnings(ctx, warnings);
        Ok(())
    }

    /// `JkMountFile`: the uriworkermap file, read now.
    fn set_mount_file(&mut self, first: &str, ctx: &DirectiveCtx) -> Result<(), String> {
        let path = ctx.resolve_path(first);
        let contents = std::fs::read_to_string(&path)
            .map_err(|e| format!("JkMountFile: cannot read the uriworkermap file {path}: {e}"))?;
        let (lines, warnings) =
            parse_uriworkermap(&path, &contents, ctx.env).map_err(|e| e.to_string())?;
        self.uri_map.replace_uriworkermap(&lines);
        self.push_warnings(ctx, warnings);
        self.mount_file = Some(path);
        Ok(())
    }

    /// `JkLogLevel`; an unknown level is info, as in mod_jk, with a warning.
    fn set_log_level(&mut self, first: &str, ctx: &DirectiveCtx) {
        match LogLevel::parse(first) {
            Some(l) => self.log_level = Some(l),
            None => {
                // mod_jk silently falls back to info; we keep starting but say so.
                self.log_level = Some(LogLevel::Info);
                self.warnings.push(format!(
                    "JkLogLevel '{first}' at {}:{} is not one of trace, debug, info, warn, error, emerg; using info",
                    ctx.file, ctx.line
                ));
            }
        }
    }

    fn push_warnings(&mut self, ctx: &DirectiveCtx, warnings: Vec<String>) {
        for w in warnings {
            self.warnings
                .push(format!("{}:{}: {w}", ctx.file, ctx.line));
        }
    }

    fn load_workers(&mut self, ctx: &DirectiveCtx) -> Result<(), String> {
        let Some(path) = self.workers_file.clone() else {
            return Ok(());
        };
        let contents = std::fs::read_to_string(&path)
            .map_err(|e| format!("JkWorkersFile: cannot read {path}: {e}"))?;
        let mut sources: Vec<Source> = self
            .worker_properties
            .iter()
            .map(|(origin, text)| Source::Line {
                origin: origin.clone(),
                text,
            })
            .collect();
        sources.push(Source::File {
            path: &path,
            contents: &contents,
        });
        let workers = WorkersConfig::from_sources(&sources, ctx.server_root, ctx.env)
            .map_err(|e| format!("error in worker configuration: {e}"))?;
        self.workers = Some(Arc::new(workers));
        Ok(())
    }

    /// Final validation of the main server once every directive was read (httpd's
    /// check_config, which also runs for `apache2 -t`): workers defined only by
    /// JkWorkerProperty lines, or none at all (mod_jk's implicit `ajp13` worker).
    pub fn finish_main(
        &mut self,
        server_root: &str,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<(), String> {
        if self.workers.is_none() {
            let workers = if self.worker_properties.is_empty() {
                WorkersConfig::implicit()
            } else {
                let sources: Vec<Source> = self
                    .worker_properties
                    .iter()
                    .map(|(origin, text)| Source::Line {
                        origin: origin.clone(),
                        text,
                    })
                    .collect();
                WorkersConfig::from_sources(&sources, server_root, env)
                    .map_err(|e| format!("error in worker configuration: {e}"))?
            };
            self.workers = Some(Arc::new(workers));
        }
        // `worker.X.mount` adds rules to the main server's map, for listed workers only.
        if let Some(w) = self.workers.clone() {
            for name in &w.list {
                for pattern in w.get(name).map(|d| d.mount.as_slice()).unwrap_or(&[]) {
                    let warnings = self
                        .uri_map
                        .add_mount(pattern, name, RuleSource::WorkerDefinition)
                        .map_err(|e| format!("worker.{name}.mount: {e}"))?;
                    self.warnings.extend(warnings);
                }
            }
        }
        Ok(())
    }

    /// Every rule of this server must name a worker of `worker.list` (mod_jk creates no
    /// other): the first rule that does not is an error naming its JkMount line, or
    /// `server` (where the server was defined) for rules of other sources.
    pub fn check_mounts(&self, workers: &WorkersConfig, server: &str) -> Result<(), String> {
        match self.mount_errors(workers, server).into_iter().next() {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    /// Every error [`Self::check_mounts`] could report, in order (for rjk-check, which
    /// lists them all): each JkMount line naming an unlisted worker, then the first other
    /// rule that does.
    pub fn mount_errors(&self, workers: &WorkersConfig, server: &str) -> Vec<String> {
        let listed = |w: &str| w == "*" || workers.list.iter().any(|l| l == w);
        let mut errors: Vec<String> = self
            .mount_origins
            .iter()
            .filter(|(w, _)| !listed(w))
            .map(|(w, origin)| format!("{origin}: JkMount: {}", unlisted_worker(workers, w)))
            .collect();
        let by_lines: Vec<&str> = self.mount_origins.iter().map(|(w, _)| w.as_str()).collect();
        if let Some(w) = self
            .uri_map
            .workers()
            .into_iter()
            .find(|w| !listed(w) && !by_lines.contains(w))
        {
            errors.push(format!(
                "a mapping rule of {server}: {}",
                unlisted_worker(workers, w)
            ));
        }
        errors
    }

    fn apply_options(&mut self, raw: &str, ctx: &DirectiveCtx) -> Result<(), String> {
        for word in raw.split_whitespace() {
            let (sign, name) = match word.as_bytes()[0] {
                b'+' => ('+', &word[1..]),
                b'-' => ('-', &word[1..]),
                _ => ('+', word),
            };
            if name.to_ascii_lowercase().starts_with("collapseslashes") {
                self.warnings.push(format!(
                    "JkOptions {word} at {}:{} is deprecated and ignored: URIs are always normalised before mapping",
                    ctx.file, ctx.line
                ));
                continue;
            }
            let Some(&(canon, bit, group)) = opt::NAMES
                .iter()
                .find(|(n, _, _)| n.eq_ignore_ascii_case(name))
            else {
                return Err(format!("JkOptions: unknown option '{word}'"));
            };
            if sign == '-' && group == opt::FORWARD_URI_MASK {
                return Err(format!(
                    "JkOptions: '-{canon}' is not allowed: a ForwardURI option can only be chosen, not disabled"
                ));
            }
            if sign == '+' {
                if group != 0 {
                    self.options.plus &= !group;
                }
                self.options.plus |= bit;
                self.options.minus &= !bit;
            } else {
                self.options.minus |= bit;
                self.options.plus &= !bit;
            }
        }
        Ok(())
    }

    /// mod_jk's vhost merge: scalar settings fall back to the main server; JkOptions
    /// layer on the main server's effective set; JkEnvVar lists combine (vhost wins by
    /// name); mounts are copied only with JkMountCopy.
    pub fn merge(base: &ServerConf, add: &ServerConf) -> ServerConf {
        let mut m = add.clone();
        m.is_vhost = true;
        m.workers = base.workers.clone();
        m.shm_file = base.shm_file.clone();
        m.shm_size_kb = base.shm_size_kb;
        m.watchdog_interval = base.watchdog_interval;
        m.workers_file = base.workers_file.clone();
        let copy = match add.mount_copy {
            Some(MountCopy::On) => true,
            Some(MountCopy::Off) => false,
            _ => base.mount_copy == Some(MountCopy::All),
        };
        if copy {
            m.auto_alias = add.auto_alias.clone().or(base.auto_alias.clone());
            m.uri_map.inherit(&base.uri_map);
            if m.mount_file.is_none() {
                m.mount_file = base.mount_file.clone();
            }
        }
        m.mount_file_reload = add.mount_file_reload.or(base.mount_file_reload);
        m.worker_indicator = add
            .worker_indicator
            .clone()
            .or(base.worker_indicator.clone());
        m.strip_session = add.strip_session.clone().or(base.strip_session.clone());
        m.log_file = add.log_file.clone().or(base.log_file.clone());
        m.log_level = add.log_level.or(base.log_level);
        m.log_stamp_format = add
            .log_stamp_format
            .clone()
            .or(base.log_stamp_format.clone());
        m.request_log_format = add
            .request_log_format
            .clone()
            .or(base.request_log_format.clone());
        m.effective_options = add.options.effective_over(base.effective_options);
        let mut env = base.env_vars.clone();
        for (n, v) in &add.env_vars {
            env.retain(|(bn, _)| bn != n);
            env.push((n.clone(), v.clone()));
        }
        m.env_vars = env;
        m.extract_ssl = add.extract_ssl.or(base.extract_ssl);
        for (i, slot) in m.indicators.iter_mut().enumerate() {
            // mod_jk does not inherit JkLocalAddrIndicator into vhosts; that is a bug
            // with no use, so every indicator is inherited here.
            if slot.is_none() {
                *slot = base.indicators[i].clone();
            }
        }
        m.warnings = Vec::new();
        m
    }
}

fn parse_u32(name: &str, v: &str) -> Result<u32, String> {
    v.trim()
        .parse()
        .map_err(|_| format!("{name}: '{v}' is not a non-negative whole number"))
}

fn parse_on_off(name: &str, v: &str) -> Result<bool, String> {
    match v.to_ascii_lowercase().as_str() {
        "on" => Ok(true),
        "off" => Ok(false),
        _ => Err(format!("{name} takes On or Off, not '{v}'")),
    }
}

pub fn find(name: &str) -> Option<&'static DirectiveInfo> {
    DIRECTIVES
        .iter()
        .find(|i| i.name().eq_ignore_ascii_case(name))
}

/// Why `w` cannot be mounted, with what to write instead.
fn unlisted_worker(workers: &WorkersConfig, w: &str) -> String {
    if workers.get(w).is_some() {
        let lb = workers.list.iter().find(|l| {
            workers
                .get(l)
                .is_some_and(|d| matches!(&d.kind, WorkerKind::Lb(lb) if lb.balance_workers.iter().any(|m| m == w)))
        });
        return match lb {
            Some(lb) => format!(
                "worker '{w}' is a member of load balancer '{lb}' and not in worker.list; mount '{lb}', or add '{w}' to worker.list"
            ),
            None => format!("worker '{w}' is not in worker.list; add it there to mount it"),
        };
    }
    let hint = crate::config::properties::suggest(w, workers.list.iter().map(String::as_str))
        .map(|h| format!(" (did you mean '{h}'?)"))
        .unwrap_or_default();
    format!(
        "worker '{w}' is not defined; worker.list has {}{hint}",
        workers.list.join(", ")
    )
}

#[cfg(test)]
mod tests;
