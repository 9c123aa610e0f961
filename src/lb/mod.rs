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
use crate::shm::{LbSlot, MAX_MEMBERS, MAX_STR_LEN, MemberSlot, Segment, str_eq, str_is_empty};

pub use crate::shm::MemberState;

mod admin;
mod maintain;
mod session;
#[cfg(test)]
mod tests;

pub use session::{extract_session_id, route_cookie, session_route, session_routes};

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
            method: LbMethod::from_code(get(&lb.method)),
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
                note_error(slot, now);
                slot.state
                    .store(MemberState::Error.code(), Ordering::Release);
                true
            }
            FailureKind::Backend => {
                let escalation = secs_to_ms(settings.error_escalation_time_secs);
                backend_failure(slot, before, in_flight, escalation, now)
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

/// The first and the last error time of a failing member.
fn note_error(m: &MemberSlot, now: u64) {
    let _ = m
        .first_error_ms
        .compare_exchange(0, now, Ordering::AcqRel, Ordering::Acquire);
    m.last_error_ms.store(now, Ordering::Release);
}

/// A connect, send or receive failure ([`FailureKind::Backend`]): global ERR when no other
/// request is in flight on the member, escalation is off, the first error is older than
/// the escalation time, or the member was recovering; else a local error. Returns
/// whether it is now in ERR.
fn backend_failure(
    m: &MemberSlot,
    before: MemberState,
    in_flight: u64,
    escalation_ms: u64,
    now: u64,
) -> bool {
    m.errors.fetch_add(1, Ordering::Relaxed);
    let first = m.first_error_ms.load(Ordering::Acquire);
    let recovering = matches!(
        before,
        MemberState::Probe | MemberState::Recover | MemberState::Force
    );
    let global = in_flight == 0
        || escalation_ms == 0
        || (first > 0 && now.saturating_sub(first) >= escalation_ms)
        || recovering;
    note_error(m, now);
    if global {
        m.state.store(MemberState::Error.code(), Ordering::Release);
    } else {
        set_ok_unless_error(m);
    }
    global
}
