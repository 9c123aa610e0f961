//! The request policy, without I/O: which lb member serves, what its failure counts as,
//! when a request is sent again and after what pause, `busy_limit`, and how httpd's
//! answer follows from an exchange's outcome. [`forward`] holds the forwarding rules
//! (JkOptions, indicator variables).
//!
//! The shells (`handler`, `backend`) move bytes and execute what this module decides:
//! they implement [`LbShell`] for the failover loop and sleep the pauses returned here.

pub mod forward;

use std::time::Duration;

use crate::ajp::relay::{AttemptFailure, BackendError, ClientError, Outcome};
use crate::config::workers::AjpParams;
use crate::lb::{Balancer, FailureKind, LbRequest, NoMember, Pick};
use crate::mapping::RuleExtensions;
use crate::shm::AjpResult;

/// recovery_options bits (mod_jk's meaning).
pub mod recovery {
    /// No retry once the request was sent to the backend.
    pub const NO_RETRY_AFTER_SEND: u32 = 1;
    /// No retry once headers went to the client (we never retry then anyway).
    pub const NO_RETRY_AFTER_HEADERS: u32 = 2;
    /// Retry HEAD even after it was sent.
    pub const ALWAYS_RETRY_HEAD: u32 = 8;
    /// Retry GET even after it was sent.
    pub const ALWAYS_RETRY_GET: u32 = 16;
}

/// RFC 9110 idempotent methods: safe to send again if an attempt failed after the
/// backend may have seen it.
pub fn is_idempotent(method: &[u8]) -> bool {
    matches!(
        method,
        b"GET" | b"HEAD" | b"OPTIONS" | b"TRACE" | b"PUT" | b"DELETE"
    )
}

/// Whether a request the backend received (and may have acted on) may be sent again.
pub fn may_replay_after_send(method: &[u8], recovery_options: u32) -> bool {
    if method == b"HEAD" && recovery_options & recovery::ALWAYS_RETRY_HEAD != 0 {
        return true;
    }
    if method == b"GET" && recovery_options & recovery::ALWAYS_RETRY_GET != 0 {
        return true;
    }
    recovery_options & recovery::NO_RETRY_AFTER_SEND == 0 && is_idempotent(method)
}

/// The upload window of a request (`upload_window`): off (0) where the request may have
/// to be sent again after the backend got it, since packets sent ahead consume client body
/// that could then not be sent a second time.
pub fn upload_window(method: &[u8], recovery_options: u32, window: u32) -> u32 {
    if may_replay_after_send(method, recovery_options) {
        0
    } else {
        window
    }
}

/// The one retry predicate: a failed attempt may be repeated (on another connection or
/// lb member) when the backend cannot have acted on it, or when sending it again is
/// allowed; never once request body beyond the kept first packet was pulled.
pub fn may_retry(f: &AttemptFailure, method: &[u8], recovery_options: u32) -> bool {
    !f.upload_started && (!f.sent || may_replay_after_send(method, recovery_options))
}

/// A worker's attempts: `retries` in all, `interval` apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retries {
    pub attempts: u32,
    pub interval: Duration,
}

impl Retries {
    /// After failed attempt number `done` (1 for the first): the pause before the next
    /// one, or `None` when there is no next one.
    pub fn after_failure(
        &self,
        done: u32,
        f: &AttemptFailure,
        method: &[u8],
        recovery_options: u32,
    ) -> Option<Duration> {
        (done < self.attempts && may_retry(f, method, recovery_options)).then_some(self.interval)
    }
}

/// The answer after the last failed attempt on a worker: 504 for a reply timeout, 502
/// for bad AJP or a failure after sending, 503 when the backend was not reached.
pub fn failed_outcome(f: AttemptFailure, method: &[u8], recovery_options: u32) -> Outcome {
    let status = match f.error {
        BackendError::ReplyTimeout => 504,
        BackendError::Protocol(_) => 502,
        BackendError::PoolExhausted
        | BackendError::Connect(_)
        | BackendError::Resolve(_)
        | BackendError::Ping(_) => 503,
        _ if f.sent => 502,
        _ => 503,
    };
    let backend_fault = !matches!(f.error, BackendError::PoolExhausted) && !f.idle_close;
    let replayable = may_retry(&f, method, recovery_options);
    Outcome::Failed {
        status,
        error: f.error,
        backend_fault,
        replayable,
    }
}

/// What an exchange on an lb member means for the member, and whether another member
/// may take the request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Success,
    Failure { kind: FailureKind, retry: bool },
}

/// The member's account of an outcome.
pub fn member_verdict(outcome: &Outcome) -> Verdict {
    let (kind, retry) = match outcome {
        Outcome::Done { .. } | Outcome::ErrorPage { .. } => return Verdict::Success,
        Outcome::Failed {
            error,
            replayable,
            backend_fault,
            ..
        } => {
            let kind = match error {
                BackendError::ReplyTimeout => FailureKind::ReplyTimeout,
                BackendError::Protocol(_) => FailureKind::Protocol,
                BackendError::PoolExhausted => FailureKind::Busy,
                BackendError::Connect(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => {
                    FailureKind::Refused
                }
                // A pooled connection closed under us: a local error.
                _ if !backend_fault => FailureKind::Protocol,
                _ => FailureKind::Backend,
            };
            (kind, *replayable)
        }
        Outcome::FailOnStatus {
            blame, replayable, ..
        } => (FailureKind::FailOnStatus { positive: *blame }, *replayable),
        Outcome::Aborted { .. } => (FailureKind::Backend, false),
        Outcome::Refused { .. } | Outcome::ClientGone(_) => (FailureKind::Client, false),
    };
    Verdict::Failure { kind, retry }
}

/// mod_jk's accounting of a standalone worker's request.
pub fn ajp_result(outcome: &Outcome) -> AjpResult {
    match outcome {
        Outcome::Done { .. } | Outcome::ErrorPage { .. } => AjpResult::Ok,
        Outcome::Refused { .. } | Outcome::ClientGone(_) => AjpResult::ClientError,
        Outcome::Failed { error, .. } => AjpResult::Error {
            reply_timeout: matches!(error, BackendError::ReplyTimeout),
        },
        Outcome::FailOnStatus { .. } | Outcome::Aborted { .. } => AjpResult::Error {
            reply_timeout: false,
        },
    }
}

/// fail_on_status of the rule extension, else of the worker.
pub fn effective_fail_on_status(ext: &RuleExtensions, p: &AjpParams) -> Vec<i32> {
    if ext.fail_on_status.is_empty() {
        p.fail_on_status.clone()
    } else {
        ext.fail_on_status.clone()
    }
}

/// busy_limit of a standalone worker: `busy` counts the requests in flight on it (all
/// children) including this one.
pub fn worker_over_busy_limit(busy: u64, limit: u32) -> bool {
    limit > 0 && busy > u64::from(limit)
}

/// busy_limit of an lb member: `busy` counts the requests already in flight on it; the
/// member is skipped like one without a free connection.
pub fn member_over_busy_limit(busy: u64, limit: u32) -> bool {
    limit > 0 && busy >= u64::from(limit)
}

/// `JK_STICKY_IGNORE` / `JK_STATELESS` and their rule extensions: the variable (any value
/// but `0` sets it) wins over the extension.
pub fn lb_flags(env: &dyn Fn(&str) -> Option<String>, ext: &RuleExtensions) -> (bool, bool) {
    let flag = |name: &str| env(name).map(|v| v.trim() != "0");
    (
        flag("JK_STICKY_IGNORE")
            .or(ext.sticky_ignore)
            .unwrap_or(false),
        flag("JK_STATELESS").or(ext.stateless).unwrap_or(false),
    )
}

/// The session routes of a request in the order to try them: `JK_ROUTE` when set, else
/// those of the session path parameter of the URI as the client sent it, else of every
/// session cookie in order. Also whether the request has a session at all.
pub fn session_routes<'a>(
    forced_route: Option<&'a str>,
    raw_uri: &'a str,
    cookies: &[&'a str],
    session_path: &str,
    session_cookie: &str,
) -> (Vec<&'a str>, bool) {
    let ids = crate::lb::extract_session_id(raw_uri, cookies, session_path, session_cookie);
    match forced_route {
        Some(r) => (vec![r], true),
        None => (crate::lb::session_routes(&ids), !ids.is_empty()),
    }
}

/// The result of one exchange on a member, as the shell ran it.
#[derive(Debug)]
pub struct Exchanged {
    pub outcome: Outcome,
    /// Bytes read from and written to the backend (AJP framing included).
    pub read: u64,
    pub written: u64,
    pub elapsed_ms: u64,
}

/// What the failover loop needs the shell for.
pub trait LbShell {
    /// lock=Pessimistic: takes the global lock around choice and counters.
    fn lock(&mut self);
    fn unlock(&mut self);
    fn now_ms(&self) -> u64;
    fn sleep(&mut self, pause: Duration);
    /// busy_limit of member `name`, or `None` when this child cannot reach it (no pool).
    fn member_limit(&mut self, name: &str) -> Option<u32>;
    /// Sends the request to the picked member and relays its reply (without the lock).
    fn exchange(&mut self, pick: &Pick, name: &str) -> Exchanged;
    /// Under the lock, after each exchange (stray-reply bookkeeping).
    fn after_exchange(&mut self, name: &str);
    /// Member `name` failed with `outcome` and another one is tried.
    fn failed_over(&mut self, name: &str, outcome: &Outcome);
}

/// How the failover loop ended.
#[derive(Debug)]
pub enum LbEnd {
    /// A member's exchange decided the answer.
    Served { outcome: Outcome, member: String },
    /// `sticky_session_force` and the session's member is unusable: 503.
    StickyForced,
    /// No member (left) could take it: the last failure's status, else 503.
    Exhausted { status: u16 },
}

/// The lb failover loop: up to `retries` passes `retry_interval` apart, each trying up to
/// `lb_retries` members (at most all of them) the request was not tried on in that pass.
pub fn failover(bal: &Balancer<'_>, req: &LbRequest<'_>, shell: &mut dyn LbShell) -> LbEnd {
    let settings = bal.settings();
    let per_pass = (settings.lb_retries.max(1) as usize).min(bal.member_range().len().max(1));
    let mut last_status = 503;
    let mut tried: Vec<usize> = Vec::new();
    for pass in 0..settings.retries.max(1) {
        if pass > 0 {
            shell.sleep(Duration::from_millis(u64::from(settings.retry_interval_ms)));
            tried.clear();
        }
        for _ in 0..per_pass {
            match try_member(bal, req, &tried, shell) {
                Try::Skip(m) => tried.push(m),
                Try::Failed(m, status) => {
                    tried.push(m);
                    if let Some(s) = status {
                        last_status = s;
                    }
                }
                Try::None => break,
                Try::End(end) => return end,
            }
        }
    }
    LbEnd::Exhausted {
        status: last_status,
    }
}

enum Try {
    /// No member left in this pass.
    None,
    /// Member not tried (no pool here, busy_limit).
    Skip(usize),
    /// Member failed, another may take the request (the failure's status, if any).
    Failed(usize, Option<u16>),
    End(LbEnd),
}

/// One choice and, when it can serve, one exchange.
fn try_member(
    bal: &Balancer<'_>,
    req: &LbRequest<'_>,
    tried: &[usize],
    shell: &mut dyn LbShell,
) -> Try {
    shell.lock();
    let pick = match bal.choose(req, tried, shell.now_ms()) {
        Ok(p) => p,
        Err(NoMember::StickyForced) => {
            shell.unlock();
            return Try::End(LbEnd::StickyForced);
        }
        Err(_) => {
            shell.unlock();
            return Try::None;
        }
    };
    let m = pick.member;
    let member = bal.member(m).map(|s| s.name).unwrap_or_default();
    let Some(limit) = shell.member_limit(&member) else {
        shell.unlock();
        return Try::Skip(m);
    };
    if bal
        .member(m)
        .is_some_and(|s| member_over_busy_limit(s.busy, limit))
    {
        bal.on_start(m);
        bal.on_failure(m, FailureKind::Busy, shell.now_ms());
        shell.unlock();
        return Try::Skip(m);
    }
    bal.on_start(m);
    shell.unlock();
    let ex = shell.exchange(&pick, &member);
    shell.lock();
    let now = shell.now_ms();
    bal.on_traffic(m, ex.read, ex.written);
    shell.after_exchange(&member);
    let verdict = member_verdict(&ex.outcome);
    match verdict {
        Verdict::Success => {
            bal.record_latency(m, ex.elapsed_ms);
            bal.on_success(m, 0, 0, now);
        }
        Verdict::Failure { kind, .. } => {
            bal.on_failure(m, kind, now);
        }
    }
    shell.unlock();
    if let Verdict::Failure { retry: true, .. } = verdict {
        shell.failed_over(&member, &ex.outcome);
        let status = match &ex.outcome {
            Outcome::Failed { status, .. } => Some(*status),
            _ => None,
        };
        return Try::Failed(m, status);
    }
    Try::End(LbEnd::Served {
        outcome: ex.outcome,
        member,
    })
}

/// httpd's answer to an outcome: the status to return, what to log, and what to do to
/// the response besides.
#[derive(Debug, PartialEq, Eq)]
pub struct Answer {
    /// 0 (httpd's OK: the response was written) or the HTTP status for httpd to answer.
    pub status: i32,
    /// (warning or worse, the line) to log.
    pub log: Option<(AnswerLog, String)>,
    /// Cut the client connection so a truncated response shows.
    pub abort: bool,
    /// A 401's challenge to put on httpd's error page.
    pub www_authenticate: Option<Vec<u8>>,
}

/// The level of an [`Answer`]'s log line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AnswerLog {
    Error,
    Warn,
    Info,
}

/// Turns the outcome of the exchange with worker `name` into httpd's answer.
pub fn answer(outcome: Outcome, name: &str, uri: &str) -> Answer {
    let plain = |status: i32| Answer {
        status,
        log: None,
        abort: false,
        www_authenticate: None,
    };
    let with = |status: i32, level, line: String, abort| Answer {
        status,
        log: Some((level, line)),
        abort,
        www_authenticate: None,
    };
    match outcome {
        Outcome::Done {
            cut_at_length: Some(cl),
            ..
        } => with(
            0,
            AnswerLog::Warn,
            format!(
                "worker {name} sent more body than its Content-Length {cl} for {uri}: \
                 the client got {cl} bytes, the excess was dropped and the backend connection closed"
            ),
            false,
        ),
        Outcome::Done { .. } => plain(0),
        Outcome::ErrorPage {
            status,
            www_authenticate,
        } => Answer {
            www_authenticate,
            ..plain(i32::from(status))
        },
        Outcome::Failed { status, error, .. } => with(
            i32::from(status),
            AnswerLog::Error,
            format!("worker {name} failed for {uri}: {error}; answering {status}"),
            false,
        ),
        Outcome::FailOnStatus { status, .. } => with(
            503,
            AnswerLog::Info,
            format!(
                "worker {name} answered {status} for {uri}, listed in fail_on_status; answering 503"
            ),
            false,
        ),
        Outcome::Aborted { error } => with(
            0,
            AnswerLog::Error,
            format!(
                "worker {name} failed after the response started for {uri}: {error}; closing the client connection"
            ),
            true,
        ),
        Outcome::Refused { status, error } => with(
            i32::from(status),
            AnswerLog::Info,
            format!("request for {uri} refused before sending to worker {name}: {error}"),
            false,
        ),
        Outcome::ClientGone(ClientError::Read) => with(
            400,
            AnswerLog::Info,
            format!(
                "reading the request body of {uri} from the client failed; worker {name} not blamed"
            ),
            false,
        ),
        Outcome::ClientGone(ClientError::Write) => with(
            0,
            AnswerLog::Info,
            format!("the client of {uri} went away; worker {name} not blamed"),
            true,
        ),
    }
}

#[cfg(test)]
mod tests;
