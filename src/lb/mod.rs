//! Load-balancing policy: mod_jk's member selection, sticky sessions, error states and
//! global maintenance, operating on the shared segment of [`crate::shm`].
//!
//! A [`Balancer`] is a stateless view of one lb slot; every process and thread makes its
//! own and all of them see one state. Call sequence per request attempt:
//! [`Balancer::choose`] (commits the assignment: elected, lb_value, probe claim), then
//! [`Balancer::on_start`] before talking to the member, then exactly one of
//! [`Balancer::on_success`] / [`Balancer::on_failure`]. Failed members go into the caller's
//! `tried` list (mod_jk's request-local error); the caller clears it between retry passes.
//!
//! # Balancing guarantee
//!
//! Non-sticky picks take the usable member with the lowest distance, then the lowest
//! lb_value; ties go to the first member (in member order, cyclically) at or after the
//! shared rotation pointer, and the pointer moves to just after the pick. Sticky and domain
//! picks raise lb_value (Request) but leave the pointer alone. Hence, for members of equal
//! distance and equal lbfactor (lb_mult 1), all usable throughout, under Request (or
//! Sessions/Next with session-less requests), with sequential requests (each `choose`
//! returns before the next starts) from any mix of processes and threads:
//!
//! * Let `D = Σ (max lb_value − lb_value_i)` over those members after arbitrary earlier
//!   traffic. The next `D` non-sticky picks each go to a member below the maximum (the
//!   backlog, e.g. from sticky requests, is paid back first), after which all lb_values
//!   are equal (assuming no maintenance run during those `D` picks).
//! * From then on the picks follow member order cyclically (`p, p+1, …, n−1, 0, …`), so
//!   **every window of `k·n` consecutive picks contains exactly `k` picks of every member**,
//!   also across global maintenance (halving and subtract-minimum keep the order).
//! * `stateless` requests ignore lb_value and follow the rotation from any state.
//!
//! Weighted members (Request, equal distance, starting from equal lb_values): the
//! lb_values never drift apart by more than the largest lb_mult, so after any number of
//! sequential picks member `i`'s count is within `lbfactor_i / min lbfactor` of its exact
//! share (1:2:3 over 600 requests gives exactly 100/200/300).
//!
//! Concurrent choosers race only on the rotation pointer (a compare-exchange; the loser
//! re-evaluates), so at worst a slightly worse member is picked; counters use atomic
//! read-modify-write and are never lost or torn.

use std::ops::Range;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::config::workers::{Activation, LbMethod};
use crate::shm::{
    self, LbSlot, MAX_MEMBERS, MAX_STR_LEN, MemberSlot, Segment, activation_code, method_code,
    method_from_code, str_eq, str_is_empty, with_write,
};

pub use crate::shm::MemberState;

#[cfg(test)]
mod tests;

/// Attempts to commit a choice when other choosers keep moving the rotation pointer; the
/// last attempt commits regardless.
const MAX_COMMIT_ATTEMPTS: u32 = 8;
/// A maintenance lock older than this belongs to a process that died holding it.
const STALE_MAINTAIN_LOCK_MS: u64 = 10_000;
/// mod_jk runs global maintenance up to 2 s early so that processes whose own maintenance
/// timers drift still share one run per interval.
const MAINTAIN_TOLERANCE_MS: u64 = 2_000;

/// What the lb needs to know about a request.
#[derive(Debug, Clone, Copy, Default)]
pub struct LbRequest<'a> {
    /// Routes of the request's session ids in the order to try them (see
    /// [`session_route`], [`session_routes`]); for `JK_ROUTE`, just that route.
    pub session_routes: &'a [&'a str],
    /// The request carries a (non-empty) session id, with or without a route.
    pub has_session: bool,
    /// `JK_STICKY_IGNORE` / `sticky_ignore` rule extension.
    pub sticky_ignore: bool,
    /// `JK_STATELESS` / `stateless` rule extension.
    pub stateless: bool,
    /// Rule extensions overriding members' activation by member name; on conflicts
    /// stopped wins over disabled over active.
    pub active_override: &'a [String],
    pub disabled_override: &'a [String],
    pub stopped_override: &'a [String],
}

/// A chosen member.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pick {
    /// Global member index (into the segment's member slots).
    pub member: usize,
    /// The route mod_jk reports for the pick (logs, `set_session_cookie`): the member's
    /// domain when the session was matched by domain, else the member's route.
    pub route: String,
    /// The member owns the request's session (exact route match).
    pub sticky: bool,
    /// Effective activation (rule overrides applied), for the `JK_LB_ACTIVATION` attribute.
    pub activation: Activation,
    /// Members this choice moved from ERR to ERR/FRC (forced recovery), for the log.
    pub forced: u32,
}

/// Why no member was chosen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NoMember {
    /// `sticky_session_force` and the session's member is unusable: 503.
    StickyForced,
    /// Every remaining member is OK/BUSY: 503.
    AllBusy,
    /// Nothing left (errors, stopped, disabled, tried): 503.
    NoneUsable,
}

impl std::fmt::Display for NoMember {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            NoMember::StickyForced => {
                "the session's member is unusable and sticky_session_force is set"
            }
            NoMember::AllBusy => "all members are busy",
            NoMember::NoneUsable => "no usable member left",
        })
    }
}

/// How an attempt on a member failed. From `backend::BackendError`: Resolve, Connect,
/// Ping, Send, Receive, Closed ⇒ `Backend`; ReplyTimeout ⇒ `ReplyTimeout`; Protocol ⇒
/// `Protocol`; PoolExhausted ⇒ `Busy`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureKind {
    /// Connect, send or receive failed: ERR when no other request is in flight on the
    /// member, escalation is 0, the first error is older than error_escalation_time, or the
    /// attempt was a recovery probe; else a local error.
    Backend,
    /// The backend refused the connection: nothing listens on its port, so the member is
    /// down for every child. ERR at once, whatever else is in flight on it (those
    /// requests fail too); [`FailureKind::Backend`]'s wait for a quiet moment would keep
    /// a busy prefork server connecting to a killed backend until it listens again.
    Refused,
    /// reply_timeout: ERR once the decayed count exceeds max_reply_timeouts.
    ReplyTimeout,
    /// Bad AJP from the backend or an internal error: local error only.
    Protocol,
    /// No connection in time (pool exhausted, busy_limit): OK/BUSY.
    Busy,
    /// A `fail_on_status` code: positive ⇒ ERR, negative (`-503`) ⇒ member stays OK.
    FailOnStatus { positive: bool },
    /// The client's fault: never degrades the member.
    Client,
}

/// The lb's editable settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LbSettings {
    pub method: LbMethod,
    pub sticky_session: bool,
    pub sticky_session_force: bool,
    pub retries: u32,
    pub lb_retries: u32,
    pub retry_interval_ms: u32,
    pub recover_time_secs: u32,
    pub error_escalation_time_secs: u32,
    pub max_reply_timeouts: u32,
}

/// Plain values of a member, for the status worker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberSnapshot {
    pub index: usize,
    pub name: String,
    pub route: String,
    pub redirect: String,
    pub domain: String,
    pub activation: Activation,
    pub state: MemberState,
    pub lbfactor: u32,
    pub lb_mult: u64,
    pub lb_value: u64,
    pub distance: i64,
    pub elected: u64,
    pub sessions: u64,
    pub errors: u64,
    pub client_errors: u64,
    pub reply_timeouts: u64,
    pub interval_errors: u32,
    pub busy: u64,
    pub max_busy: u64,
    /// AJP bytes read from the backend (mod_jk's `read`).
    pub bytes_read: u64,
    /// AJP bytes sent to the backend (mod_jk's `transferred`).
    pub bytes_written: u64,
    pub first_error_ms: u64,
    pub last_error_ms: u64,
    pub last_used_ms: u64,
    pub last_success_ms: u64,
    pub last_reset_ms: u64,
    /// Change counter of the editable values.
    pub sequence: u32,
}

/// Plain values of the lb itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LbSnapshot {
    pub index: usize,
    pub name: String,
    pub settings: LbSettings,
    pub members: Range<usize>,
    pub busy: u64,
    pub max_busy: u64,
    pub last_maintain_ms: u64,
    pub last_reset_ms: u64,
    pub sequence: u32,
}

/// What one global maintenance run did (global member indices).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MaintainReport {
    /// lb_values were divided by 2^decay_exponent (Next: minimum subtracted instead).
    pub decay_exponent: u32,
    /// ERR ⇒ ERR/REC.
    pub recovered: Vec<usize>,
    /// Local errors older than error_escalation_time ⇒ ERR.
    pub escalated: Vec<usize>,
    /// OK ⇒ OK/IDLE.
    pub idled: Vec<usize>,
    /// ERR ⇒ ERR/FRC because no member was left outside ERR.
    pub forced: u32,
}

/// The `Set-Cookie` value an lb with `set_session_cookie` sends when it chose a member
/// without the session's help: an empty session id carrying the route, so the client's
/// next request sticks to that member (`;PATH=` only for a non-empty path).
pub fn route_cookie(cookie: &str, route: &str, path: &str, secure: bool) -> String {
    let mut v = format!("{cookie}=.{route}");
    if !path.is_empty() {
        v.push_str(";PATH=");
        v.push_str(path);
    }
    v.push_str(";HttpOnly");
    if secure {
        v.push_str(";Secure");
    }
    v
}

/// Text after the first `.` of a session id; `None` without a route.
pub fn session_route(id: &str) -> Option<&str> {
    id.split_once('.')
        .map(|(_, route)| route)
        .filter(|r| !r.is_empty())
}

/// Routes of `ids` in order, skipping ids without one.
pub fn session_routes<'a>(ids: &[&'a str]) -> Vec<&'a str> {
    ids.iter().filter_map(|id| session_route(id)).collect()
}

/// Session ids of a request in the order mod_jk tries them: the path parameter
/// `session_path` (e.g. `;jsessionid`) anywhere in the URI, value ending at `?`, `;` or
/// `/`; then every cookie named exactly `session_cookie` in every Cookie header, in order
/// (whitespace around names, `=` and values tolerated, surrounding quotes stripped). Empty
/// values are skipped.
pub fn extract_session_id<'a>(
    uri: &'a str,
    cookie_headers: &[&'a str],
    session_path: &str,
    session_cookie: &str,
) -> Vec<&'a str> {
    let mut ids = Vec::new();
    if let Some(id) = path_param(uri, session_path) {
        ids.push(id);
    }
    if !session_cookie.is_empty() {
        for header in cookie_headers {
            cookie_values(header, session_cookie, &mut ids);
        }
    }
    ids
}

fn path_param<'a>(uri: &'a str, name: &str) -> Option<&'a str> {
    if name.is_empty() {
        return None;
    }
    let mut from = 0;
    while let Some(pos) = uri[from..].find(name) {
        let after = from + pos + name.len();
        from = after;
        if let Some(value) = uri[after..].strip_prefix('=') {
            let end = value.find(['?', ';', '/']).unwrap_or(value.len());
            if end > 0 {
                return Some(&value[..end]);
            }
        }
    }
    None
}

fn cookie_values<'a>(header: &'a str, name: &str, out: &mut Vec<&'a str>) {
    let mut from = 0;
    while let Some(pos) = header[from..].find(name) {
        let start = from + pos;
        from = start + name.len();
        // The name must start a cookie, not end a longer one ("XJSESSIONID").
        let boundary = header[..start]
            .chars()
            .next_back()
            .is_none_or(|c| c == ';' || c == ',' || c.is_ascii_whitespace());
        if !boundary {
            continue;
        }
        let Some(rest) = header[from..].trim_start().strip_prefix('=') else {
            continue;
        };
        let end = rest.find([';', ',']).unwrap_or(rest.len());
        let mut value = rest[..end].trim_matches(|c: char| c.is_ascii_whitespace());
        if value.len() > 1 && value.starts_with('"') && value.ends_with('"') {
            value = &value[1..value.len() - 1];
        }
        if !value.is_empty() {
            out.push(value);
        }
    }
}

// ---------------------------------------------------------------------------------------
// Per-call view of the members
// ---------------------------------------------------------------------------------------

#[derive(Clone, Copy)]
struct Candidate {
    /// `Error` for members in `tried` (request-local error).
    state: MemberState,
    /// The shared state as read.
    raw: MemberState,
    tried: bool,
    activation: Activation,
    distance: i64,
    lb_value: u64,
}

impl Candidate {
    const EMPTY: Candidate = Candidate {
        state: MemberState::Error,
        raw: MemberState::Error,
        tried: true,
        activation: Activation::Stopped,
        distance: 0,
        lb_value: 0,
    };

    /// mod_jk's JK_WORKER_USABLE: for new requests.
    fn usable(&self) -> bool {
        usable_state(self.state) && self.activation == Activation::Active
    }

    /// Usable for new requests by the shared state, whatever this request tried.
    fn usable_shared(&self) -> bool {
        usable_state(self.raw) && self.activation == Activation::Active
    }

    /// mod_jk's JK_WORKER_USABLE_STICKY: for requests of the member's own sessions and
    /// redirect targets. OK/BUSY is allowed (it is transient, and failing over would lose
    /// the session), as in mod_jk's code.
    fn usable_sticky(&self) -> bool {
        matches!(
            self.state,
            MemberState::Idle
                | MemberState::Ok
                | MemberState::Recover
                | MemberState::Force
                | MemberState::Busy
        ) && self.activation != Activation::Stopped
    }
}

/// One consistent read of the lb's members, so a decision does not mix values read at
/// different moments.
struct View {
    first: usize,
    n: usize,
    rotation: u64,
    members: [Candidate; MAX_MEMBERS],
}

impl View {
    fn refusal(&self) -> NoMember {
        let busy = self.members[..self.n].iter().any(|c| {
            !c.tried && c.state == MemberState::Busy && c.activation == Activation::Active
        });
        if busy {
            NoMember::AllBusy
        } else {
            NoMember::NoneUsable
        }
    }

    /// Some member takes new requests by the shared state: the lb is not down, even if
    /// this request already tried everything usable.
    fn alive(&self) -> bool {
        self.members[..self.n].iter().any(Candidate::usable_shared)
    }
}

#[derive(Clone, Copy)]
struct Selection {
    local: usize,
    sticky: bool,
    /// A balanced pick: advances the rotation pointer.
    rotate: bool,
    /// Matched by domain: the pick's route is the domain.
    by_domain: bool,
}

enum Outcome {
    Selected(Selection),
    StickyForced,
    Nothing,
}

struct Raced;

fn saturating_add(a: &AtomicU64, v: u64) {
    let _ = a.fetch_update(Ordering::AcqRel, Ordering::Relaxed, |x| {
        Some(x.saturating_add(v))
    });
}

/// Returns the value after the subtraction.
fn saturating_sub(a: &AtomicU64, v: u64) -> u64 {
    let prev = a
        .fetch_update(Ordering::AcqRel, Ordering::Relaxed, |x| {
            Some(x.saturating_sub(v))
        })
        .unwrap_or(0);
    prev.saturating_sub(v)
}

fn shift_right(a: &AtomicU64, exponent: u32) {
    let _ = a.fetch_update(Ordering::AcqRel, Ordering::Relaxed, |x| {
        Some(x.checked_shr(exponent).unwrap_or(0))
    });
}

/// The rotation value that points just after local member `local`. The value keeps
/// growing (by about n per pick) so that a stale compare-exchange cannot succeed by ABA.
fn next_rotation(current: u64, local: usize, n: usize) -> u64 {
    let n = n as u64;
    let target = (local as u64 + 1) % n;
    (current / n)
        .checked_add(1)
        .and_then(|round| round.checked_mul(n))
        .and_then(|base| base.checked_add(target))
        .unwrap_or(target)
}

fn secs_to_ms(secs: u32) -> u64 {
    u64::from(secs) * 1000
}

fn check_len(what: &str, value: &str) -> Result<(), String> {
    if value.len() > MAX_STR_LEN {
        return Err(format!("{what} is longer than {MAX_STR_LEN} bytes"));
    }
    if value.contains('\0') {
        return Err(format!("{what} contains NUL"));
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------
// Balancer
// ---------------------------------------------------------------------------------------

/// A view of one lb in the segment.
#[derive(Clone, Copy)]
pub struct Balancer<'s> {
    seg: &'s Segment,
    lb: usize,
}

impl<'s> Balancer<'s> {
    /// An out-of-range index gives a balancer without members (every choice fails).
    pub fn new(seg: &'s Segment, lb_index: usize) -> Self {
        Balancer { seg, lb: lb_index }
    }

    pub fn find(seg: &'s Segment, name: &str) -> Option<Self> {
        seg.find_lb(name).map(|i| Balancer::new(seg, i))
    }

    pub fn index(&self) -> usize {
        self.lb
    }

    fn slot(&self) -> Option<&'s LbSlot> {
        self.seg.lb(self.lb)
    }

    /// Global indices of the members, clamped to the segment.
    pub fn member_range(&self) -> Range<usize> {
        let Some(lb) = self.slot() else {
            return 0..0;
        };
        let first = (lb.first_member.load(Ordering::Acquire) as usize).min(MAX_MEMBERS);
        let n = (lb.member_count.load(Ordering::Acquire) as usize).min(MAX_MEMBERS - first);
        first..first + n
    }

    fn member_slot(&self, m: usize) -> Option<&'s MemberSlot> {
        if self.member_range().contains(&m) {
            self.seg.member(m)
        } else {
            None
        }
    }

    fn slots(&self) -> &'s [MemberSlot] {
        let range = self.member_range();
        &self.seg.members[range]
    }

    pub fn name(&self) -> String {
        self.slot().map(LbSlot::name).unwrap_or_default()
    }

    /// Global index of the member called `name`.
    pub fn member_index(&self, name: &str) -> Option<usize> {
        self.member_range().find(|&m| {
            str_eq(
                &self.seg.members[m].sequence,
                &self.seg.members[m].name,
                name,
            )
        })
    }

    pub fn settings(&self) -> LbSettings {
        let Some(lb) = self.slot() else {
            return LbSettings {
                method: LbMethod::Request,
                sticky_session: false,
                sticky_session_force: false,
                retries: 1,
                lb_retries: 1,
                retry_interval_ms: 0,
                recover_time_secs: 1,
                error_escalation_time_secs: 0,
                max_reply_timeouts: 0,
            };
        };
        let get = |a: &std::sync::atomic::AtomicU32| a.load(Ordering::Acquire);
        LbSettings {
            method: method_from_code(get(&lb.method)),
            sticky_session: get(&lb.sticky_session) != 0,
            sticky_session_force: get(&lb.sticky_session_force) != 0,
            retries: get(&lb.retries).max(1),
            lb_retries: get(&lb.lb_retries).max(1),
            retry_interval_ms: get(&lb.retry_interval_ms),
            recover_time_secs: get(&lb.recover_time_secs).max(1),
            error_escalation_time_secs: get(&lb.error_escalation_time_secs),
            max_reply_timeouts: get(&lb.max_reply_timeouts),
        }
    }

    fn effective_activation(&self, m: &MemberSlot, req: &LbRequest) -> Activation {
        let own = m.activation();
        if req.active_override.is_empty()
            && req.disabled_override.is_empty()
            && req.stopped_override.is_empty()
        {
            return own;
        }
        let name = m.name();
        let listed = |list: &[String]| list.contains(&name);
        if listed(req.stopped_override) {
            Activation::Stopped
        } else if listed(req.disabled_override) {
            Activation::Disabled
        } else if listed(req.active_override) {
            Activation::Active
        } else {
            own
        }
    }

    fn view(&self, req: &LbRequest, tried: &[usize]) -> View {
        let range = self.member_range();
        let mut view = View {
            first: range.start,
            n: range.len(),
            rotation: self
                .slot()
                .map_or(0, |lb| lb.rotation.load(Ordering::Acquire)),
            members: [Candidate::EMPTY; MAX_MEMBERS],
        };
        let health = self.seg.health_checks_on();
        for (i, g) in range.enumerate() {
            let m = &self.seg.members[g];
            let raw = m.state();
            let tried = tried.contains(&g);
            view.members[i] = Candidate {
                state: if tried { MemberState::Error } else { raw },
                raw,
                tried,
                // Health check drain (src/health): Disabled while its URI says so.
                activation: match self.effective_activation(m, req) {
                    Activation::Active if health && self.seg.health_draining(g) => {
                        Activation::Disabled
                    }
                    a => a,
                },
                distance: m.distance.load(Ordering::Acquire),
                lb_value: m.lb_value.load(Ordering::Acquire),
            };
        }
        view
    }

    fn local_slot(&self, view: &View, local: usize) -> &'s MemberSlot {
        &self.seg.members[view.first + local]
    }

    /// Lowest distance, then lowest lb_value (unless `stateless`), ties to the first at
    /// or after the rotation pointer.
    fn best_by_value(
        &self,
        view: &View,
        stateless: bool,
        filter: impl Fn(usize) -> bool,
    ) -> Option<usize> {
        let n = view.n;
        if n == 0 {
            return None;
        }
        let start = (view.rotation % n as u64) as usize;
        let mut best: Option<(usize, i64, u64)> = None;
        for j in 0..n {
            let i = (start + j) % n;
            let c = &view.members[i];
            if !c.usable() || !filter(i) {
                continue;
            }
            let better = match best {
                None => true,
                Some((_, d, v)) => {
                    c.distance < d || (!stateless && c.distance == d && c.lb_value < v)
                }
            };
            if better {
                best = Some((i, c.distance, c.lb_value));
            }
        }
        best.map(|(i, ..)| i)
    }

    fn find_by_route(&self, view: &View, route: &str) -> Option<usize> {
        if route.is_empty() {
            return None;
        }
        (0..view.n).find(|&i| {
            let m = self.local_slot(view, i);
            str_eq(&m.sequence, &m.route, route)
        })
    }

    /// Best Active member whose domain equals the part of `route` before its first `.`.
    fn best_by_domain(&self, view: &View, route: &str) -> Option<usize> {
        let domain = route.split('.').next().unwrap_or("");
        if domain.is_empty() {
            return None;
        }
        self.best_by_value(view, false, |i| {
            let m = self.local_slot(view, i);
            str_eq(&m.sequence, &m.domain, domain)
        })
    }

    /// mod_jk's find_bysession_route.
    fn by_session_route(&self, view: &View, route: &str, force: bool) -> Option<Selection> {
        let mut sel = match self.find_by_route(view, route) {
            Some(local) => Selection {
                local,
                sticky: true,
                rotate: false,
                by_domain: false,
            },
            None => Selection {
                local: self.best_by_domain(view, route)?,
                sticky: false,
                rotate: false,
                by_domain: true,
            },
        };
        if view.members[sel.local].usable_sticky() {
            return Some(sel);
        }
        if force {
            return None;
        }
        let owner = self.local_slot(view, sel.local);
        let redirect = owner.redirect();
        let domain = owner.domain();
        if !redirect.is_empty() {
            sel = Selection {
                local: self.find_by_route(view, &redirect)?,
                sticky: false,
                rotate: false,
                by_domain: false,
            };
        } else if !domain.is_empty() && !sel.by_domain {
            sel = Selection {
                local: self.best_by_domain(view, &domain)?,
                sticky: false,
                rotate: false,
                by_domain: true,
            };
        } else {
            return None;
        }
        view.members[sel.local].usable_sticky().then_some(sel)
    }

    /// mod_jk's find_failover_worker: the redirect of the first member that has one, which
    /// may be a Disabled hot standby.
    fn failover(&self, view: &View) -> Option<Selection> {
        let owner = (0..view.n).find(|&i| {
            let m = self.local_slot(view, i);
            !str_is_empty(&m.sequence, &m.redirect)
        })?;
        let redirect = self.local_slot(view, owner).redirect();
        let mut sel = self.by_session_route(view, &redirect, false)?;
        sel.sticky = false;
        Some(sel)
    }

    fn select(
        &self,
        view: &View,
        routes: &[&str],
        has_session: bool,
        settings: &LbSettings,
        stateless: bool,
    ) -> Outcome {
        if view.n == 1 {
            let only = &view.members[0];
            if !only.usable_sticky() {
                return Outcome::Nothing;
            }
            if only.activation != Activation::Disabled {
                return Outcome::Selected(Selection {
                    local: 0,
                    sticky: true,
                    rotate: false,
                    by_domain: false,
                });
            }
        }
        for route in routes {
            if let Some(sel) = self.by_session_route(view, route, settings.sticky_session_force) {
                return Outcome::Selected(sel);
            }
        }
        if has_session && settings.sticky_session_force {
            return Outcome::StickyForced;
        }
        if let Some(local) = self.best_by_value(view, stateless, |_| true) {
            return Outcome::Selected(Selection {
                local,
                sticky: false,
                rotate: true,
                by_domain: false,
            });
        }
        match self.failover(view) {
            Some(sel) => Outcome::Selected(sel),
            None => Outcome::Nothing,
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn commit(
        &self,
        lb: &LbSlot,
        view: &View,
        sel: Selection,
        method: LbMethod,
        new_session: bool,
        now_ms: u64,
        last_attempt: bool,
    ) -> Result<Pick, Raced> {
        let m = self.local_slot(view, sel.local);
        if sel.rotate {
            let next = next_rotation(view.rotation, sel.local, view.n);
            let moved = lb.rotation.compare_exchange(
                view.rotation,
                next,
                Ordering::AcqRel,
                Ordering::Acquire,
            );
            if moved.is_err() {
                if !last_attempt {
                    return Err(Raced);
                }
                lb.rotation.store(next, Ordering::Release);
            }
        }
        let candidate = &view.members[sel.local];
        if candidate.raw == MemberState::Recover {
            // One probe at a time: whoever moves ERR/REC to ERR/PRB sends it.
            let claimed = m.state.compare_exchange(
                MemberState::Recover.code(),
                MemberState::Probe.code(),
                Ordering::AcqRel,
                Ordering::Acquire,
            );
            if claimed.is_err() && !last_attempt {
                return Err(Raced);
            }
        }
        let mult = m.lb_mult.load(Ordering::Acquire).max(1);
        let counts = match method {
            LbMethod::Request => true,
            LbMethod::Sessions | LbMethod::Next => new_session,
            LbMethod::Traffic | LbMethod::Busyness => false,
        };
        if counts {
            saturating_add(&m.lb_value, mult);
        }
        if new_session {
            m.sessions.fetch_add(1, Ordering::Relaxed);
        }
        m.elected.fetch_add(1, Ordering::AcqRel);
        m.last_used_ms.store(now_ms, Ordering::Relaxed);
        Ok(Pick {
            member: view.first + sel.local,
            route: if sel.by_domain { m.domain() } else { m.route() },
            sticky: sel.sticky,
            activation: candidate.activation,
            forced: 0,
        })
    }

    /// ERR ⇒ ERR/FRC for every member; returns (all forced, forced and not in `tried`).
    fn force_recovery(&self, tried: &[usize]) -> (u32, u32) {
        let mut forced = 0;
        let mut useful = 0;
        for (g, m) in self.member_range().zip(self.slots()) {
            let moved = m.state.compare_exchange(
                MemberState::Error.code(),
                MemberState::Force.code(),
                Ordering::AcqRel,
                Ordering::Acquire,
            );
            if moved.is_ok() {
                m.reply_timeouts.store(0, Ordering::Release);
                forced += 1;
                if !tried.contains(&g) {
                    useful += 1;
                }
            }
        }
        (forced, useful)
    }

    /// Chooses a member not in `tried` (members that already failed for this request) and
    /// commits the assignment. When nothing is usable, every ERR member is forced into
    /// recovery once and the choice repeated.
    pub fn choose(&self, req: &LbRequest, tried: &[usize], now_ms: u64) -> Result<Pick, NoMember> {
        let Some(lb) = self.slot() else {
            return Err(NoMember::NoneUsable);
        };
        if self.member_range().is_empty() {
            return Err(NoMember::NoneUsable);
        }
        let settings = self.settings();
        let sticky = settings.sticky_session && !req.sticky_ignore;
        let has_session = sticky && req.has_session;
        let routes: &[&str] = if sticky { req.session_routes } else { &[] };
        let new_session = !has_session && !req.stateless;

        let mut forced = 0;
        let mut recovery_done = false;
        let mut attempt = 0;
        loop {
            attempt += 1;
            let view = self.view(req, tried);
            let refusal = match self.select(&view, routes, has_session, &settings, req.stateless) {
                Outcome::Selected(sel) => {
                    let last = attempt >= MAX_COMMIT_ATTEMPTS;
                    match self.commit(lb, &view, sel, settings.method, new_session, now_ms, last) {
                        Ok(pick) => return Ok(Pick { forced, ..pick }),
                        Err(Raced) => continue,
                    }
                }
                Outcome::StickyForced => NoMember::StickyForced,
                Outcome::Nothing => view.refusal(),
            };
            // Forced recovery is for a dead lb, not for one dead session owner or for
            // members that only failed this request.
            if recovery_done || view.alive() {
                return Err(refusal);
            }
            recovery_done = true;
            let (all, useful) = self.force_recovery(tried);
            forced = all;
            if useful == 0 {
                return Err(refusal);
            }
        }
    }

    /// The request is about to be sent to `m`.
    pub fn on_start(&self, m: usize) {
        let (Some(lb), Some(slot)) = (self.slot(), self.member_slot(m)) else {
            return;
        };
        let busy = slot.busy.fetch_add(1, Ordering::AcqRel).saturating_add(1);
        slot.max_busy.fetch_max(busy, Ordering::AcqRel);
        let lb_busy = lb.busy.fetch_add(1, Ordering::AcqRel).saturating_add(1);
        lb.max_busy.fetch_max(lb_busy, Ordering::AcqRel);
        if self.settings().method == LbMethod::Busyness {
            saturating_add(&slot.lb_value, slot.lb_mult.load(Ordering::Acquire).max(1));
        }
    }

    /// Undoes `on_start`; returns the requests still in flight on the member.
    fn finish(&self, lb: &LbSlot, slot: &MemberSlot, method: LbMethod) -> u64 {
        let busy = saturating_sub(&slot.busy, 1);
        saturating_sub(&lb.busy, 1);
        if method == LbMethod::Busyness {
            saturating_sub(&slot.lb_value, slot.lb_mult.load(Ordering::Acquire).max(1));
        }
        busy
    }

    pub fn on_success(&self, m: usize, bytes_read: u64, bytes_written: u64, now_ms: u64) {
        let (Some(lb), Some(slot)) = (self.slot(), self.member_slot(m)) else {
            return;
        };
        let method = self.settings().method;
        self.finish(lb, slot, method);
        if method == LbMethod::Traffic {
            let mult = slot.lb_mult.load(Ordering::Acquire).max(1);
            let bytes = bytes_read.saturating_add(bytes_written);
            saturating_add(&slot.lb_value, bytes.saturating_mul(mult));
        }
        saturating_add(&slot.bytes_read, bytes_read);
        saturating_add(&slot.bytes_written, bytes_written);
        slot.first_error_ms.store(0, Ordering::Release);
        slot.last_error_ms.store(0, Ordering::Release);
        slot.last_success_ms.store(now_ms, Ordering::Relaxed);
        slot.state.store(MemberState::Ok.code(), Ordering::Release);
    }

    /// Records a failed attempt; returns true when the member is now in (global) ERR, false
    /// for a local error or a failure that does not count against the member.
    pub fn on_failure(&self, m: usize, kind: FailureKind, now_ms: u64) -> bool {
        let (Some(lb), Some(slot)) = (self.slot(), self.member_slot(m)) else {
            return false;
        };
        let settings = self.settings();
        let before = slot.state();
        let in_flight = self.finish(lb, slot, settings.method);
        let now = now_ms.max(1);
        if kind != FailureKind::Client {
            slot.interval_errors.fetch_add(1, Ordering::Relaxed);
        }
        match kind {
            FailureKind::Client => {
                // Twice per client error, as mod_jk counts it (see shm::ajp).
                slot.client_errors.fetch_add(2, Ordering::Relaxed);
                // The probe was inconclusive: let another request probe.
                let _ = slot.state.compare_exchange(
                    MemberState::Probe.code(),
                    MemberState::Recover.code(),
                    Ordering::AcqRel,
                    Ordering::Acquire,
                );
                false
            }
            FailureKind::Busy => {
                let _ = slot
                    .state
                    .fetch_update(Ordering::AcqRel, Ordering::Acquire, |s| {
                        (s != MemberState::Error.code()).then_some(MemberState::Busy.code())
                    });
                false
            }
            FailureKind::Protocol => {
                set_ok_unless_error(slot);
                false
            }
            FailureKind::FailOnStatus { positive: false } => {
                slot.first_error_ms.store(0, Ordering::Release);
                slot.last_error_ms.store(0, Ordering::Release);
                slot.state.store(MemberState::Ok.code(), Ordering::Release);
                false
            }
            FailureKind::FailOnStatus { positive: true } => {
                slot.errors.fetch_add(1, Ordering::Relaxed);
                mark_error(slot, now);
                true
            }
            FailureKind::ReplyTimeout => {
                let timeouts = slot
                    .reply_timeouts
                    .fetch_add(1, Ordering::AcqRel)
                    .saturating_add(1);
                if timeouts > u64::from(settings.max_reply_timeouts) {
                    slot.errors.fetch_add(1, Ordering::Relaxed);
                    mark_error(slot, now);
                    true
                } else {
                    set_ok_unless_error(slot);
                    false
                }
            }
            FailureKind::Refused => {
                slot.errors.fetch_add(1, Ordering::Relaxed);
                let _ = slot.first_error_ms.compare_exchange(
                    0,
                    now,
                    Ordering::AcqRel,
                    Ordering::Acquire,
                );
                slot.last_error_ms.store(now, Ordering::Release);
                slot.state
                    .store(MemberState::Error.code(), Ordering::Release);
                true
            }
            FailureKind::Backend => {
                slot.errors.fetch_add(1, Ordering::Relaxed);
                let escalation = secs_to_ms(settings.error_escalation_time_secs);
                let first = slot.first_error_ms.load(Ordering::Acquire);
                let recovering = matches!(
                    before,
                    MemberState::Probe | MemberState::Recover | MemberState::Force
                );
                let global = in_flight == 0
                    || escalation == 0
                    || (first > 0 && now.saturating_sub(first) >= escalation)
                    || recovering;
                let _ = slot.first_error_ms.compare_exchange(
                    0,
                    now,
                    Ordering::AcqRel,
                    Ordering::Acquire,
                );
                slot.last_error_ms.store(now, Ordering::Release);
                if global {
                    slot.state
                        .store(MemberState::Error.code(), Ordering::Release);
                } else {
                    set_ok_unless_error(slot);
                }
                global
            }
        }
    }

    /// For the caller's per-request check (mod_jk: "busy count fixed"): the member's
    /// OK/BUSY is cleared when this process has a free connection for it again.
    pub fn clear_busy(&self, m: usize) -> bool {
        self.member_slot(m).is_some_and(|slot| {
            slot.state
                .compare_exchange(
                    MemberState::Busy.code(),
                    MemberState::Ok.code(),
                    Ordering::AcqRel,
                    Ordering::Acquire,
                )
                .is_ok()
        })
    }

    // -----------------------------------------------------------------------------------
    // Global maintenance
    // -----------------------------------------------------------------------------------

    fn maintenance_due(lb: &LbSlot, now_ms: u64, interval_ms: u64) -> bool {
        let last = lb.last_maintain_ms.load(Ordering::Acquire);
        if last == 0 {
            // First sight of this lb: start the clock.
            let _ = lb.last_maintain_ms.compare_exchange(
                0,
                now_ms.max(1),
                Ordering::AcqRel,
                Ordering::Acquire,
            );
            return false;
        }
        if now_ms < last {
            // The clock went back (or a child scribbled a future time): restart from now
            // rather than freezing maintenance until that time comes.
            if last - now_ms > interval_ms {
                let _ = lb.last_maintain_ms.compare_exchange(
                    last,
                    now_ms.max(1),
                    Ordering::AcqRel,
                    Ordering::Acquire,
                );
            }
            return false;
        }
        (now_ms - last).saturating_add(tolerance(interval_ms)) >= interval_ms
    }

    /// Runs global maintenance if `maintain_interval_ms` has passed since the last run by
    /// any process (0 disables it); cheap when not due. Returns what the run did.
    pub fn maintain(&self, now_ms: u64, maintain_interval_ms: u64) -> Option<MaintainReport> {
        if maintain_interval_ms == 0 {
            return None;
        }
        let lb = self.slot()?;
        if !Self::maintenance_due(lb, now_ms, maintain_interval_ms) {
            return None;
        }
        let lock = lb.maintain_lock.load(Ordering::Acquire);
        if lock != 0 && lock <= now_ms && now_ms - lock < STALE_MAINTAIN_LOCK_MS {
            return None;
        }
        let token = now_ms.max(1);
        lb.maintain_lock
            .compare_exchange(lock, token, Ordering::AcqRel, Ordering::Acquire)
            .ok()?;
        // Another process may have finished a run between the check and the lock.
        let report = if Self::maintenance_due(lb, now_ms, maintain_interval_ms) {
            let last = lb.last_maintain_ms.swap(now_ms.max(1), Ordering::AcqRel);
            Some(self.run_maintenance(now_ms, maintain_interval_ms, last))
        } else {
            None
        };
        let _ = lb
            .maintain_lock
            .compare_exchange(token, 0, Ordering::Release, Ordering::Relaxed);
        report
    }

    fn run_maintenance(&self, now_ms: u64, interval_ms: u64, last_ms: u64) -> MaintainReport {
        let settings = self.settings();
        let method = settings.method;
        let elapsed = now_ms
            .saturating_sub(last_ms)
            .saturating_add(tolerance(interval_ms));
        let exponent = (elapsed / interval_ms).min(64) as u32;
        let mut report = MaintainReport {
            decay_exponent: exponent,
            ..MaintainReport::default()
        };
        let slots = self.slots();

        let mut curmax = 0;
        for m in slots {
            if method != LbMethod::Busyness {
                if method != LbMethod::Next {
                    shift_right(&m.lb_value, exponent);
                }
                curmax = curmax.max(m.lb_value.load(Ordering::Acquire));
            }
            shift_right(&m.reply_timeouts, exponent);
        }
        if method == LbMethod::Next {
            // Rule overrides are per request and cannot count here.
            let usable =
                |m: &&MemberSlot| usable_state(m.state()) && m.activation() == Activation::Active;
            if let Some(min) = slots
                .iter()
                .filter(usable)
                .map(|m| m.lb_value.load(Ordering::Acquire))
                .min()
            {
                for m in slots {
                    saturating_sub(&m.lb_value, min);
                }
            }
        }

        let recover_ms = secs_to_ms(settings.recover_time_secs);
        let escalation_ms = secs_to_ms(settings.error_escalation_time_secs);
        let mut non_error = 0;
        for (g, m) in self.member_range().zip(slots) {
            let code = m.state.load(Ordering::Acquire);
            if code > MemberState::Probe.code() {
                // An unknown code reads as ERR but could never leave it by compare-exchange.
                let _ = m.state.compare_exchange(
                    code,
                    MemberState::Error.code(),
                    Ordering::AcqRel,
                    Ordering::Acquire,
                );
            }
            let state = m.state();
            let first_error = m.first_error_ms.load(Ordering::Acquire);
            if state == MemberState::Error {
                let last_error = m.last_error_ms.load(Ordering::Acquire);
                let in_error_for = now_ms.checked_sub(last_error).unwrap_or(u64::MAX);
                if in_error_for > recover_ms {
                    if method != LbMethod::Busyness {
                        // Not flooded with every new request once back.
                        m.lb_value.store(curmax, Ordering::Release);
                    }
                    m.reply_timeouts.store(0, Ordering::Release);
                    if transition(m, MemberState::Error, MemberState::Recover) {
                        report.recovered.push(g);
                    }
                    non_error += 1;
                }
            } else if state != MemberState::Recover
                && first_error > 0
                && now_ms
                    .checked_sub(first_error)
                    .is_none_or(|d| d >= escalation_ms)
            {
                if transition(m, state, MemberState::Error) {
                    report.escalated.push(g);
                }
            } else {
                non_error += 1;
                let elected = m.elected.load(Ordering::Acquire);
                let unused = elected == m.elected_snapshot.load(Ordering::Acquire);
                if state == MemberState::Ok
                    && unused
                    && transition(m, MemberState::Ok, MemberState::Idle)
                {
                    report.idled.push(g);
                }
                // No request in flight anywhere: every pool has room again.
                if state == MemberState::Busy && m.busy.load(Ordering::Acquire) == 0 {
                    transition(m, MemberState::Busy, MemberState::Ok);
                }
            }
            m.elected_snapshot
                .store(m.elected.load(Ordering::Acquire), Ordering::Release);
            m.interval_errors.store(0, Ordering::Relaxed);
        }
        if non_error == 0 {
            report.forced = self.force_recovery(&[]).0;
        }
        report
    }

    // -----------------------------------------------------------------------------------
    // Status worker edits
    // -----------------------------------------------------------------------------------

    fn touch(&self) {
        if let Some(lb) = self.slot() {
            with_write(&lb.sequence, || ());
        }
    }

    fn reset_lb_values(&self) {
        if self.settings().method != LbMethod::Busyness {
            for m in self.slots() {
                m.lb_value.store(0, Ordering::Release);
            }
        }
    }

    /// Changes a member's activation; as in mod_jk all lb_values restart from 0 (except
    /// under Busyness, where they count requests in flight).
    pub fn set_activation(&self, m: usize, activation: Activation) -> bool {
        let Some(slot) = self.member_slot(m) else {
            return false;
        };
        with_write(&slot.sequence, || {
            slot.activation
                .store(activation_code(activation), Ordering::Release)
        });
        self.reset_lb_values();
        self.touch();
        true
    }

    /// Changes a member's lbfactor (at least 1) and the multipliers of the whole lb.
    pub fn set_lbfactor(&self, m: usize, lbfactor: u32) -> bool {
        let Some(slot) = self.member_slot(m) else {
            return false;
        };
        with_write(&slot.sequence, || {
            slot.lbfactor.store(lbfactor.max(1), Ordering::Release)
        });
        let range = self.member_range();
        shm::update_mults(self.seg, range.start, range.len());
        self.touch();
        true
    }

    pub fn set_distance(&self, m: usize, distance: i32) -> bool {
        let Some(slot) = self.member_slot(m) else {
            return false;
        };
        with_write(&slot.sequence, || {
            slot.distance.store(i64::from(distance), Ordering::Release)
        });
        self.touch();
        true
    }

    fn set_str(
        &self,
        m: usize,
        what: &str,
        value: &str,
        field: impl Fn(&MemberSlot) -> &shm::ShmStr,
    ) -> Result<(), String> {
        check_len(what, value)?;
        let slot = self
            .member_slot(m)
            .ok_or_else(|| format!("no member {m} in this lb"))?;
        shm::write_str(&slot.sequence, field(slot), value);
        self.touch();
        Ok(())
    }

    pub fn set_route(&self, m: usize, route: &str) -> Result<(), String> {
        self.set_str(m, "route", route, |s| &s.route)
    }

    pub fn set_redirect(&self, m: usize, redirect: &str) -> Result<(), String> {
        self.set_str(m, "redirect", redirect, |s| &s.redirect)
    }

    pub fn set_domain(&self, m: usize, domain: &str) -> Result<(), String> {
        self.set_str(m, "domain", domain, |s| &s.domain)
    }

    /// Replaces the lb's settings (clamped as the configuration clamps them). A new
    /// method restarts lb_values from 0, since methods count in different units.
    pub fn set_settings(&self, s: &LbSettings) -> bool {
        let Some(lb) = self.slot() else {
            return false;
        };
        let old_method = self.settings().method;
        with_write(&lb.sequence, || {
            lb.method.store(method_code(s.method), Ordering::Release);
            lb.sticky_session
                .store(u32::from(s.sticky_session), Ordering::Release);
            lb.sticky_session_force
                .store(u32::from(s.sticky_session_force), Ordering::Release);
            lb.retries.store(s.retries.max(1), Ordering::Release);
            lb.lb_retries.store(s.lb_retries.max(1), Ordering::Release);
            lb.retry_interval_ms
                .store(s.retry_interval_ms, Ordering::Release);
            lb.recover_time_secs
                .store(s.recover_time_secs.max(1), Ordering::Release);
            lb.error_escalation_time_secs
                .store(s.error_escalation_time_secs, Ordering::Release);
            lb.max_reply_timeouts
                .store(s.max_reply_timeouts, Ordering::Release);
        });
        if s.method != old_method {
            for m in self.slots() {
                m.lb_value.store(0, Ordering::Release);
            }
        }
        true
    }

    /// Records the response time of a successful request on `m`: from sending the request
    /// to END_RESPONSE.
    pub fn record_latency(&self, m: usize, elapsed_ms: u64) {
        if let Some(slot) = self.member_slot(m) {
            shm::ajp::observe(&slot.latency, &slot.latency_sum_ms, elapsed_ms);
        }
    }

    /// Cumulative `(upper bound in seconds, count)` pairs ending with +Inf, and the sum of
    /// all recorded times in seconds (Prometheus histogram shape).
    pub fn latency(&self, m: usize) -> Option<(Vec<(f64, u64)>, f64)> {
        let slot = self.member_slot(m)?;
        Some(shm::ajp::histogram(&slot.latency, &slot.latency_sum_ms))
    }

    /// Bytes of one request on `m`, whatever its outcome (mod_jk's `read`: from the
    /// backend, `transferred`: to the backend, AJP framing included); the Traffic method
    /// counts both.
    pub fn on_traffic(&self, m: usize, read: u64, transferred: u64) {
        let Some(slot) = self.member_slot(m) else {
            return;
        };
        if self.settings().method == LbMethod::Traffic {
            let mult = slot.lb_mult.load(Ordering::Acquire).max(1);
            let bytes = read.saturating_add(transferred);
            saturating_add(&slot.lb_value, bytes.saturating_mul(mult));
        }
        saturating_add(&slot.bytes_read, read);
        saturating_add(&slot.bytes_written, transferred);
    }

    /// Resets the statistics of member `m`, or of the lb and all its members.
    pub fn reset_stats(&self, m: Option<usize>, now_ms: u64) {
        let busyness = self.settings().method == LbMethod::Busyness;
        let reset = |slot: &MemberSlot| {
            for a in [
                &slot.elected,
                &slot.elected_snapshot,
                &slot.sessions,
                &slot.errors,
                &slot.client_errors,
                &slot.reply_timeouts,
                &slot.bytes_read,
                &slot.bytes_written,
            ] {
                a.store(0, Ordering::Release);
            }
            if !busyness {
                slot.lb_value.store(0, Ordering::Release);
            }
            slot.interval_errors.store(0, Ordering::Release);
            for b in slot.latency.iter().chain([&slot.latency_sum_ms]) {
                b.store(0, Ordering::Release);
            }
            // As mod_jk's reset: the peak restarts at zero and the member starts over
            // as idle, its error times forgotten.
            slot.max_busy.store(0, Ordering::Release);
            slot.first_error_ms.store(0, Ordering::Release);
            slot.last_error_ms.store(0, Ordering::Release);
            slot.state
                .store(MemberState::Idle.code(), Ordering::Release);
            slot.last_reset_ms.store(now_ms, Ordering::Release);
        };
        match m {
            Some(m) => {
                if let Some(slot) = self.member_slot(m) {
                    reset(slot);
                }
            }
            None => {
                self.slots().iter().for_each(reset);
                if let Some(lb) = self.slot() {
                    lb.max_busy.store(0, Ordering::Release);
                    lb.last_reset_ms.store(now_ms, Ordering::Release);
                }
            }
        }
    }

    /// Status worker "recover": ERR or ERR/FRC ⇒ ERR/REC now, with the current maximum
    /// lb_value so the member is not flooded.
    pub fn recover(&self, m: usize) -> bool {
        let Some(slot) = self.member_slot(m) else {
            return false;
        };
        let state = slot.state();
        if !matches!(state, MemberState::Error | MemberState::Force) {
            return false;
        }
        if self.settings().method != LbMethod::Busyness {
            let max = self
                .slots()
                .iter()
                .map(|s| s.lb_value.load(Ordering::Acquire))
                .max()
                .unwrap_or(0);
            slot.lb_value.store(max, Ordering::Release);
        }
        slot.reply_timeouts.store(0, Ordering::Release);
        transition(slot, state, MemberState::Recover)
    }

    // -----------------------------------------------------------------------------------
    // Snapshots
    // -----------------------------------------------------------------------------------

    pub fn member(&self, m: usize) -> Option<MemberSnapshot> {
        let s = self.member_slot(m)?;
        let get = |a: &AtomicU64| a.load(Ordering::Acquire);
        Some(MemberSnapshot {
            index: m,
            name: s.name(),
            route: s.route(),
            redirect: s.redirect(),
            domain: s.domain(),
            activation: s.activation(),
            state: s.state(),
            lbfactor: s.lbfactor.load(Ordering::Acquire),
            lb_mult: get(&s.lb_mult),
            lb_value: get(&s.lb_value),
            distance: s.distance.load(Ordering::Acquire),
            elected: get(&s.elected),
            sessions: get(&s.sessions),
            errors: get(&s.errors),
            client_errors: get(&s.client_errors),
            reply_timeouts: get(&s.reply_timeouts),
            interval_errors: s.interval_errors.load(Ordering::Acquire),
            busy: get(&s.busy),
            max_busy: get(&s.max_busy),
            bytes_read: get(&s.bytes_read),
            bytes_written: get(&s.bytes_written),
            first_error_ms: get(&s.first_error_ms),
            last_error_ms: get(&s.last_error_ms),
            last_used_ms: get(&s.last_used_ms),
            last_success_ms: get(&s.last_success_ms),
            last_reset_ms: get(&s.last_reset_ms),
            sequence: s.sequence(),
        })
    }

    pub fn members(&self) -> impl Iterator<Item = MemberSnapshot> + 's {
        let this = *self;
        self.member_range().filter_map(move |m| this.member(m))
    }

    pub fn snapshot(&self) -> LbSnapshot {
        let lb = self.slot();
        let get = |f: fn(&LbSlot) -> &AtomicU64| lb.map_or(0, |lb| f(lb).load(Ordering::Acquire));
        LbSnapshot {
            index: self.lb,
            name: self.name(),
            settings: self.settings(),
            members: self.member_range(),
            busy: get(|l| &l.busy),
            max_busy: get(|l| &l.max_busy),
            last_maintain_ms: get(|l| &l.last_maintain_ms),
            last_reset_ms: get(|l| &l.last_reset_ms),
            sequence: lb.map_or(0, LbSlot::sequence),
        }
    }
}

fn usable_state(state: MemberState) -> bool {
    matches!(
        state,
        MemberState::Idle | MemberState::Ok | MemberState::Recover | MemberState::Force
    )
}

fn tolerance(interval_ms: u64) -> u64 {
    MAINTAIN_TOLERANCE_MS.min(interval_ms / 2)
}

fn transition(m: &MemberSlot, from: MemberState, to: MemberState) -> bool {
    m.state
        .compare_exchange(from.code(), to.code(), Ordering::AcqRel, Ordering::Acquire)
        .is_ok()
}

/// A finished attempt shows the member answers, unless another request already put it
/// into ERR (mod_jk's "assume OK unless we last were in error").
fn set_ok_unless_error(m: &MemberSlot) {
    let _ = m
        .state
        .fetch_update(Ordering::AcqRel, Ordering::Acquire, |s| {
            (s != MemberState::Error.code()).then_some(MemberState::Ok.code())
        });
}

fn mark_error(m: &MemberSlot, now: u64) {
    m.first_error_ms.store(now, Ordering::Release);
    m.last_error_ms.store(now, Ordering::Release);
    m.state.store(MemberState::Error.code(), Ordering::Release);
}
