//! The typed worker definitions: what building workers.properties produces for each
//! worker (`ajp13`, `lb`, `status`), and mod_jk's defaults.

use super::enums::{Activation, LbLock, LbMethod, PingMode};
use super::properties::Origin;
use crate::ajp;

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
/// [`ajp::MIN_PACKET_SIZE`] in the type of `max_packet_size`.
pub const MIN_PACKET_SIZE: u32 = ajp::MIN_PACKET_SIZE as u32;
/// [`ajp::MAX_PACKET_SIZE`] in the type of `max_packet_size`.
pub const MAX_PACKET_SIZE: u32 = ajp::MAX_PACKET_SIZE as u32;
/// [`ajp::PACKET_SIZE_ALIGN`] in the type of `max_packet_size`.
pub(crate) const PACKET_ALIGN: u32 = ajp::PACKET_SIZE_ALIGN as u32;

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
    pub(super) fn defaults(name: &str) -> AjpParams {
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
