//! Shared state of the active health checks (`health_check_*` worker properties): one
//! [`HealthSlot`] per ajp13 slot (same index as [`super::AjpSlot`]), and one drain flag
//! per lb member slot, which the balancer reads when it builds its view of the members.
//!
//! Like the rest of the segment: atomics only, every code read back is range-checked
//! (an unknown verdict reads as "up", so corruption can never take a member out of
//! rotation for good). All-zero is "never checked, up".

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use super::{MAX_MEMBERS, MemberSlot, MemberState, Segment, ajp::MAX_AJPS};

/// What the health checks concluded about a worker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Never checked, or passing: no effect on routing.
    Up,
    /// `health_check_fails` consecutive failures: the worker's members are in ERR until
    /// `health_check_passes` consecutive passes.
    Down,
    /// The health URI answered `health_check_drain_status`: members take no new sessions
    /// (as if Disabled) until it answers the expected status again.
    Draining,
}

impl Verdict {
    fn code(self) -> u32 {
        match self {
            Verdict::Up => 0,
            Verdict::Down => 1,
            Verdict::Draining => 2,
        }
    }

    fn from_code(code: u32) -> Verdict {
        match code {
            1 => Verdict::Down,
            2 => Verdict::Draining,
            _ => Verdict::Up,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Up => "up",
            Verdict::Down => "down",
            Verdict::Draining => "draining",
        }
    }
}

/// The outcome of one check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CheckResult {
    /// CPONG, or the expected status.
    Pass,
    /// The drain status.
    Drain,
    /// Anything else: no connection, timeout, protocol error, another status.
    Fail,
}

impl CheckResult {
    fn code(self) -> u32 {
        match self {
            CheckResult::Pass => 1,
            CheckResult::Drain => 2,
            CheckResult::Fail => 3,
        }
    }

    fn from_code(code: u32) -> Option<CheckResult> {
        match code {
            1 => Some(CheckResult::Pass),
            2 => Some(CheckResult::Drain),
            3 => Some(CheckResult::Fail),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            CheckResult::Pass => "pass",
            CheckResult::Drain => "drain",
            CheckResult::Fail => "fail",
        }
    }
}

/// Health state of one ajp13 worker.
#[repr(C)]
pub struct HealthSlot {
    /// When the next check is due (ms since the epoch). The child whose compare-and-swap
    /// moves it one interval on runs the check: one check per interval for all children.
    pub(crate) due_ms: AtomicU64,
    pub(crate) last_check_ms: AtomicU64,
    pub(crate) last_latency_us: AtomicU64,
    /// [`CheckResult`] code, 0 = never checked.
    pub(crate) last_result: AtomicU32,
    /// HTTP status of the last check (0 for CPing or no answer).
    pub(crate) last_status: AtomicU32,
    pub(crate) verdict: AtomicU32,
    pub(crate) passes: AtomicU32,
    pub(crate) fails: AtomicU32,
    _pad: AtomicU32,
    pub(crate) checks: AtomicU64,
    pub(crate) failed_checks: AtomicU64,
}

impl HealthSlot {
    pub(crate) const fn new() -> HealthSlot {
        HealthSlot {
            due_ms: AtomicU64::new(0),
            last_check_ms: AtomicU64::new(0),
            last_latency_us: AtomicU64::new(0),
            last_result: AtomicU32::new(0),
            last_status: AtomicU32::new(0),
            verdict: AtomicU32::new(0),
            passes: AtomicU32::new(0),
            fails: AtomicU32::new(0),
            _pad: AtomicU32::new(0),
            checks: AtomicU64::new(0),
            failed_checks: AtomicU64::new(0),
        }
    }

    fn clear(&self) {
        for a in [
            &self.due_ms,
            &self.last_check_ms,
            &self.last_latency_us,
            &self.checks,
            &self.failed_checks,
        ] {
            a.store(0, Ordering::Relaxed);
        }
        for a in [
            &self.last_result,
            &self.last_status,
            &self.verdict,
            &self.passes,
            &self.fails,
        ] {
            a.store(0, Ordering::Relaxed);
        }
    }

    pub fn verdict(&self) -> Verdict {
        Verdict::from_code(self.verdict.load(Ordering::Acquire))
    }

    /// Takes the lease of the check due at `now_ms`: true for exactly one caller per
    /// interval over all processes. A holder that dies mid-check only delays the next one
    /// by an interval.
    pub fn try_lease(&self, now_ms: u64, interval_ms: u64) -> bool {
        lease(&self.due_ms, now_ms, interval_ms)
    }

    /// Milliseconds until the next check is due (0 = now).
    pub fn due_in(&self, now_ms: u64) -> u64 {
        self.due_ms.load(Ordering::Acquire).saturating_sub(now_ms)
    }
}

/// Takes a lease on the job due at `*due`: true for exactly one caller per interval over
/// all processes. A holder that dies mid-job only delays the next run by an interval.
fn lease(due_ms: &AtomicU64, now_ms: u64, interval_ms: u64) -> bool {
    let due = due_ms.load(Ordering::Acquire);
    // A due time far in the future (clock stepped back, corruption) is overtaken.
    let stale = due > now_ms.saturating_add(interval_ms);
    (now_ms >= due || stale)
        && due_ms
            .compare_exchange(
                due,
                now_ms.saturating_add(interval_ms),
                Ordering::AcqRel,
                Ordering::Relaxed,
            )
            .is_ok()
}

impl HealthSlot {
    pub fn snapshot(&self) -> HealthSnapshot {
        HealthSnapshot {
            verdict: self.verdict(),
            last_check_ms: self.last_check_ms.load(Ordering::Acquire),
            last_latency_us: self.last_latency_us.load(Ordering::Acquire),
            last_result: CheckResult::from_code(self.last_result.load(Ordering::Acquire)),
            last_status: self.last_status.load(Ordering::Acquire),
            passes: self.passes.load(Ordering::Acquire),
            fails: self.fails.load(Ordering::Acquire),
            checks: self.checks.load(Ordering::Acquire),
            failed_checks: self.failed_checks.load(Ordering::Acquire),
        }
    }
}

/// One consistent-enough read of a [`HealthSlot`] for the status page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HealthSnapshot {
    pub verdict: Verdict,
    pub last_check_ms: u64,
    pub last_latency_us: u64,
    pub last_result: Option<CheckResult>,
    pub last_status: u32,
    pub passes: u32,
    pub fails: u32,
    pub checks: u64,
    pub failed_checks: u64,
}

/// The health part of the segment.
#[repr(C)]
pub struct HealthArea {
    pub(crate) slots: [HealthSlot; MAX_AJPS],
    /// Per lb member slot: 1 while its worker's health URI answers the drain status.
    pub(crate) drain: [AtomicU32; MAX_MEMBERS],
    /// Per ajp13 slot: the address its host name resolved to (`resolve_interval`).
    pub(crate) resolve: [ResolveSlot; MAX_AJPS],
    /// 1 when some worker is checked: only then does the balancer read `drain`.
    pub(crate) enabled: AtomicU32,
    _pad: AtomicU32,
}

impl HealthArea {
    pub(crate) const fn new() -> HealthArea {
        HealthArea {
            slots: [const { HealthSlot::new() }; MAX_AJPS],
            drain: [const { AtomicU32::new(0) }; MAX_MEMBERS],
            resolve: [const { ResolveSlot::new() }; MAX_AJPS],
            enabled: AtomicU32::new(0),
            _pad: AtomicU32::new(0),
        }
    }

    pub(crate) fn clear(&self) {
        for s in &self.slots {
            s.clear();
        }
        for d in &self.drain {
            d.store(0, Ordering::Relaxed);
        }
        for r in &self.resolve {
            r.clear();
        }
        self.enabled.store(0, Ordering::Relaxed);
    }

    /// Whether the configuration checks any worker (set at init and adoption).
    pub(crate) fn set_enabled(&self, config: &crate::config::workers::WorkersConfig) {
        let on = !config.health.workers.is_empty();
        self.enabled.store(u32::from(on), Ordering::Release);
        if !on {
            for d in &self.drain {
                d.store(0, Ordering::Relaxed);
            }
        }
    }
}

impl Default for HealthArea {
    fn default() -> Self {
        HealthArea::new()
    }
}

/// Thresholds of one worker's checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Thresholds {
    pub passes: u32,
    pub fails: u32,
}

/// What [`Segment::record_check`] changed, for the log (one line per change, not per
/// check).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Transition {
    pub from: Verdict,
    pub to: Verdict,
}

impl Segment {
    /// The health slot of the ajp13 worker called `name`.
    pub fn health(&self, name: &str) -> Option<&HealthSlot> {
        let i = self.ajps[..self.ajp_count()]
            .iter()
            .position(|a| a.is(name))?;
        self.health.slots.get(i)
    }

    /// Whether any worker is health-checked: the balancer reads the drain flags only then.
    pub fn health_checks_on(&self) -> bool {
        self.health.enabled.load(Ordering::Relaxed) == 1
    }

    /// Whether the member slot `m` is draining by its health check (the balancer treats
    /// it as Disabled).
    pub fn health_draining(&self, m: usize) -> bool {
        self.health
            .drain
            .get(m)
            .is_some_and(|d| d.load(Ordering::Relaxed) == 1)
    }

    /// Member slots of the worker called `name` (one per lb it belongs to).
    fn member_slots_of<'s>(&'s self, name: &'s str) -> impl Iterator<Item = usize> + 's {
        (0..self.member_count()).filter(move |&i| {
            let m = &self.members[i];
            super::str_eq(&m.sequence, &m.name, name)
        })
    }

    /// Records the outcome of one check of worker `name` made at `started_ms` and applies
    /// the verdict to its lb members: `fails` consecutive failures put them into ERR (and
    /// keep them there while the failures go on), `passes` consecutive passes bring them
    /// out of ERR, a drain answer marks them draining.
    pub fn record_check(
        &self,
        name: &str,
        result: CheckResult,
        http_status: u32,
        latency_us: u64,
        started_ms: u64,
        t: Thresholds,
    ) -> Option<Transition> {
        let slot = self.health(name)?;
        let now = started_ms.saturating_add(latency_us / 1000).max(1);
        slot.checks.fetch_add(1, Ordering::Relaxed);
        slot.last_check_ms.store(now, Ordering::Release);
        slot.last_latency_us.store(latency_us, Ordering::Release);
        slot.last_result.store(result.code(), Ordering::Release);
        slot.last_status.store(http_status, Ordering::Release);
        let from = slot.verdict();
        let (passes, fails) = if result == CheckResult::Fail {
            slot.failed_checks.fetch_add(1, Ordering::Relaxed);
            slot.passes.store(0, Ordering::Release);
            (
                0,
                slot.fails.fetch_add(1, Ordering::AcqRel).saturating_add(1),
            )
        } else {
            slot.fails.store(0, Ordering::Release);
            (
                slot.passes.fetch_add(1, Ordering::AcqRel).saturating_add(1),
                0,
            )
        };
        let to = match result {
            CheckResult::Fail if fails >= t.fails.max(1) => Verdict::Down,
            CheckResult::Fail => from,
            _ if from == Verdict::Down && passes < t.passes.max(1) => Verdict::Down,
            CheckResult::Drain => Verdict::Draining,
            CheckResult::Pass => Verdict::Up,
        };
        slot.verdict.store(to.code(), Ordering::Release);
        let members: Vec<usize> = self.member_slots_of(name).collect();
        for &m in &members {
            let member = &self.members[m];
            self.health.drain[m].store(u32::from(to == Verdict::Draining), Ordering::Release);
            match to {
                Verdict::Down => mark_down(member, now),
                _ if passes >= t.passes.max(1) => {
                    let drained = from == Verdict::Draining && to == Verdict::Up;
                    if recover(member, started_ms) || drained {
                        self.not_flooded(member);
                    }
                }
                _ => {}
            }
        }
        if !members.is_empty() && from != to {
            // The lb's change counter: caches of member values see the edit.
            let lb = self.members[members[0]].lb_index();
            if let Some(lb) = self.lbs.get(lb) {
                super::with_write(&lb.sequence, || ());
            }
        }
        (from != to).then_some(Transition { from, to })
    }
}

impl Segment {
    /// A member back from error starts at the highest lb value of its lb (as after
    /// `recover_time`), so it is not sent every new request until it caught up.
    fn not_flooded(&self, m: &MemberSlot) {
        let Some(lb) = self.lbs.get(m.lb_index()) else {
            return;
        };
        if super::method_from_code(lb.method.load(Ordering::Acquire))
            == crate::config::workers::LbMethod::Busyness
        {
            return;
        }
        let first = lb.first_member.load(Ordering::Acquire) as usize;
        let n = lb.member_count.load(Ordering::Acquire) as usize;
        let max = self
            .members
            .get(first..first.saturating_add(n))
            .unwrap_or(&[])
            .iter()
            .map(|x| x.lb_value.load(Ordering::Acquire))
            .max()
            .unwrap_or(0);
        m.lb_value.store(max, Ordering::Release);
    }
}

/// ERR now, and again at every failing check, so maintenance does not hand the member to
/// a client probe (ERR/REC) while its health check still fails.
fn mark_down(m: &MemberSlot, now: u64) {
    if m.first_error_ms.load(Ordering::Acquire) == 0 {
        m.first_error_ms.store(now, Ordering::Release);
    }
    m.last_error_ms.store(now, Ordering::Release);
    m.state.store(MemberState::Error.code(), Ordering::Release);
}

/// Out of ERR (whoever put it there) when no client request failed on it since the check
/// started.
fn recover(m: &MemberSlot, started_ms: u64) -> bool {
    let state = m.state();
    if !matches!(
        state,
        MemberState::Error | MemberState::Recover | MemberState::Force | MemberState::Probe
    ) {
        return false;
    }
    if m.last_error_ms.load(Ordering::Acquire) > started_ms {
        return false;
    }
    let moved = m
        .state
        .compare_exchange(
            state.code(),
            MemberState::Ok.code(),
            Ordering::AcqRel,
            Ordering::Acquire,
        )
        .is_ok();
    if moved {
        m.first_error_ms.store(0, Ordering::Release);
        m.last_error_ms.store(0, Ordering::Release);
        m.reply_timeouts.store(0, Ordering::Release);
    }
    moved
}

// ---------------------------------------------------------------------------------------
// Re-resolution of host names (`resolve_interval`)
// ---------------------------------------------------------------------------------------

/// Where an ajp13 worker's host name points (the first address, which connections try
/// first), as the last resolution in any child found.
#[repr(C)]
pub struct ResolveSlot {
    /// Seqlock of `ip` and `port_family`.
    pub(crate) sequence: AtomicU32,
    /// +1 whenever the address changed: every child then closes its idle connections to
    /// the old one and resolves the name again.
    pub(crate) generation: AtomicU32,
    /// 1 while the name does not resolve (logged once when it starts).
    pub(crate) failing: AtomicU32,
    /// Port in the low 16 bits; bit 16: IPv6; bit 17: an address is stored.
    pub(crate) port_family: AtomicU32,
    /// The IPv4 address in the first word, or the IPv6 address in all four.
    pub(crate) ip: [AtomicU32; 4],
    pub(crate) due_ms: AtomicU64,
    pub(crate) last_resolved_ms: AtomicU64,
}

const V6: u32 = 1 << 16;
const SET: u32 = 1 << 17;

fn pack(a: SocketAddr) -> (u32, [u32; 4]) {
    match a.ip() {
        IpAddr::V4(v4) => (
            SET | u32::from(a.port()),
            [u32::from_be_bytes(v4.octets()), 0, 0, 0],
        ),
        IpAddr::V6(v6) => {
            let o = v6.octets();
            let w = |i: usize| u32::from_be_bytes([o[i], o[i + 1], o[i + 2], o[i + 3]]);
            (SET | V6 | u32::from(a.port()), [w(0), w(4), w(8), w(12)])
        }
    }
}

fn unpack(pf: u32, ip: [u32; 4]) -> Option<SocketAddr> {
    if pf & SET == 0 {
        return None;
    }
    let port = (pf & 0xffff) as u16;
    let addr = if pf & V6 != 0 {
        let mut o = [0u8; 16];
        for (i, w) in ip.iter().enumerate() {
            o[i * 4..i * 4 + 4].copy_from_slice(&w.to_be_bytes());
        }
        IpAddr::V6(Ipv6Addr::from(o))
    } else {
        IpAddr::V4(Ipv4Addr::from(ip[0].to_be_bytes()))
    };
    Some(SocketAddr::new(addr, port))
}

/// What one resolution changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ResolveEvent {
    /// The first resolution, or the same address again.
    Same,
    Changed {
        from: String,
        to: String,
    },
    /// The name stopped resolving; the last good address stays in use.
    StartedFailing {
        kept: String,
    },
    StillFailing,
    /// It resolves again (to the address it had).
    Recovered,
}

/// The status page's view of a [`ResolveSlot`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolveSnapshot {
    /// Empty before the first resolution.
    pub addr: String,
    pub last_resolved_ms: u64,
    pub generation: u32,
    pub failing: bool,
}

impl ResolveSlot {
    pub(crate) const fn new() -> ResolveSlot {
        ResolveSlot {
            sequence: AtomicU32::new(0),
            generation: AtomicU32::new(0),
            failing: AtomicU32::new(0),
            port_family: AtomicU32::new(0),
            ip: [const { AtomicU32::new(0) }; 4],
            due_ms: AtomicU64::new(0),
            last_resolved_ms: AtomicU64::new(0),
        }
    }

    fn clear(&self) {
        super::init::unstick(&self.sequence);
        super::with_write(&self.sequence, || {
            for a in self.ip.iter().chain([&self.port_family]) {
                a.store(0, Ordering::Relaxed);
            }
        });
        for a in [&self.generation, &self.failing] {
            a.store(0, Ordering::Relaxed);
        }
        for a in [&self.due_ms, &self.last_resolved_ms] {
            a.store(0, Ordering::Relaxed);
        }
    }

    /// The stored address: a consistent read, or after many rounds (a writer that died
    /// between its two stores) whatever is there, still a valid address.
    fn addr(&self) -> Option<SocketAddr> {
        for _ in 0..10_000 {
            let s1 = self.sequence.load(Ordering::Acquire);
            let pf = self.port_family.load(Ordering::Acquire);
            let ip = std::array::from_fn(|i| self.ip[i].load(Ordering::Acquire));
            if s1 & 1 == 0 && self.sequence.load(Ordering::Acquire) == s1 {
                return unpack(pf, ip);
            }
            std::hint::spin_loop();
        }
        unpack(
            self.port_family.load(Ordering::Acquire),
            std::array::from_fn(|i| self.ip[i].load(Ordering::Acquire)),
        )
    }

    fn addr_text(&self) -> String {
        self.addr().map(|a| a.to_string()).unwrap_or_default()
    }

    /// One atomic load: the children compare it with what their pool last saw.
    pub fn generation(&self) -> u32 {
        self.generation.load(Ordering::Acquire)
    }

    pub fn try_lease(&self, now_ms: u64, interval_ms: u64) -> bool {
        lease(&self.due_ms, now_ms, interval_ms)
    }

    pub fn due_in(&self, now_ms: u64) -> u64 {
        self.due_ms.load(Ordering::Acquire).saturating_sub(now_ms)
    }

    /// A connect failed: resolve at the next look (within a second), not an interval later.
    pub fn request_now(&self) {
        self.due_ms.store(0, Ordering::Release);
    }

    /// Records a resolution made at `now_ms`: the first address, or why it failed.
    pub fn record(&self, result: Result<SocketAddr, &str>, now_ms: u64) -> ResolveEvent {
        let old = self.addr();
        let Ok(addr) = result else {
            return if self.failing.swap(1, Ordering::AcqRel) == 0 {
                ResolveEvent::StartedFailing {
                    kept: old.map(|a| a.to_string()).unwrap_or_default(),
                }
            } else {
                ResolveEvent::StillFailing
            };
        };
        self.last_resolved_ms
            .store(now_ms.max(1), Ordering::Release);
        let was_failing = self.failing.swap(0, Ordering::AcqRel) == 1;
        if old == Some(addr) {
            return if was_failing {
                ResolveEvent::Recovered
            } else {
                ResolveEvent::Same
            };
        }
        let (pf, ip) = pack(addr);
        super::with_write(&self.sequence, || {
            self.port_family.store(pf, Ordering::Relaxed);
            for (slot, w) in self.ip.iter().zip(ip) {
                slot.store(w, Ordering::Relaxed);
            }
        });
        let Some(old) = old else {
            // The first resolution: the children resolved the same name at their start.
            return ResolveEvent::Same;
        };
        self.generation.fetch_add(1, Ordering::AcqRel);
        ResolveEvent::Changed {
            from: old.to_string(),
            to: addr.to_string(),
        }
    }

    pub fn snapshot(&self) -> ResolveSnapshot {
        ResolveSnapshot {
            addr: self.addr_text(),
            last_resolved_ms: self.last_resolved_ms.load(Ordering::Acquire),
            generation: self.generation(),
            failing: self.failing.load(Ordering::Acquire) == 1,
        }
    }
}

impl Segment {
    /// The resolution slot of the ajp13 worker called `name`.
    pub fn resolve_slot(&self, name: &str) -> Option<&ResolveSlot> {
        let i = self.ajps[..self.ajp_count()]
            .iter()
            .position(|a| a.is(name))?;
        self.health.resolve.get(i)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::shm::{init_from_config, tests::config};

    fn seg() -> Box<Segment> {
        let c = config(
            "worker.list=lb\nworker.lb.type=lb\nworker.lb.balance_workers=a,b\n\
             worker.a.port=1\nworker.b.port=2\n",
        );
        let s = Segment::new_boxed();
        init_from_config(&s, &c).unwrap();
        s
    }

    const T: Thresholds = Thresholds {
        passes: 2,
        fails: 2,
    };

    #[test]
    fn fails_put_members_in_error_and_passes_bring_them_back() {
        let s = seg();
        assert_eq!(s.record_check("a", CheckResult::Fail, 0, 10, 1000, T), None);
        assert_eq!(s.members[0].state(), MemberState::Idle);
        let t = s.record_check("a", CheckResult::Fail, 0, 10, 2000, T);
        assert_eq!(
            t,
            Some(Transition {
                from: Verdict::Up,
                to: Verdict::Down
            })
        );
        assert_eq!(s.members[0].state(), MemberState::Error);
        assert_eq!(s.members[1].state(), MemberState::Idle);
        // Maintenance moved it on; the next failing check puts it back.
        s.members[0]
            .state
            .store(MemberState::Recover.code(), Ordering::Release);
        s.record_check("a", CheckResult::Fail, 0, 10, 3000, T);
        assert_eq!(s.members[0].state(), MemberState::Error);
        assert_eq!(
            s.record_check("a", CheckResult::Pass, 200, 10, 4000, T),
            None
        );
        assert_eq!(s.members[0].state(), MemberState::Error);
        let t = s.record_check("a", CheckResult::Pass, 200, 10, 5000, T);
        assert_eq!(t.map(|t| t.to), Some(Verdict::Up));
        assert_eq!(s.members[0].state(), MemberState::Ok);
        assert_eq!(s.members[0].lb_value.load(Ordering::Acquire), 0);
        let h = s.health("a").unwrap().snapshot();
        assert_eq!((h.checks, h.failed_checks, h.passes), (5, 3, 2));
    }

    #[test]
    fn a_member_back_from_error_starts_at_the_highest_lb_value() {
        let s = seg();
        s.members[1].lb_value.store(500, Ordering::Release);
        let one = Thresholds {
            passes: 1,
            fails: 1,
        };
        s.record_check("a", CheckResult::Fail, 0, 10, 1000, one);
        s.record_check("a", CheckResult::Pass, 200, 10, 2000, one);
        assert_eq!(s.members[0].state(), MemberState::Ok);
        assert_eq!(s.members[0].lb_value.load(Ordering::Acquire), 500);
    }

    #[test]
    fn drain_marks_members_until_a_pass() {
        let s = seg();
        let t = s.record_check("b", CheckResult::Drain, 503, 10, 1000, T);
        assert_eq!(t.map(|t| t.to), Some(Verdict::Draining));
        assert!(s.health_draining(1));
        assert!(!s.health_draining(0));
        s.record_check("b", CheckResult::Pass, 200, 10, 2000, T);
        assert!(!s.health_draining(1));
        assert_eq!(s.health("b").unwrap().verdict(), Verdict::Up);
    }

    #[test]
    fn a_client_error_during_the_check_is_not_cleared() {
        let s = seg();
        let m = &s.members[0];
        m.state.store(MemberState::Error.code(), Ordering::Release);
        m.last_error_ms.store(5000, Ordering::Release);
        let one = Thresholds {
            passes: 1,
            fails: 1,
        };
        s.record_check("a", CheckResult::Pass, 200, 10, 4000, one);
        assert_eq!(m.state(), MemberState::Error);
        s.record_check("a", CheckResult::Pass, 200, 10, 6000, one);
        assert_eq!(m.state(), MemberState::Ok);
    }

    #[test]
    fn one_lease_per_interval() {
        let s = seg();
        let h = s.health("a").unwrap();
        assert!(h.try_lease(1000, 500));
        assert!(!h.try_lease(1000, 500));
        assert!(!h.try_lease(1499, 500));
        assert!(h.try_lease(1500, 500));
        // A due time from the far future (clock stepped back) does not stop the checks.
        h.due_ms.store(u64::MAX, Ordering::Release);
        assert!(h.try_lease(2000, 500));
    }

    #[test]
    fn a_changed_address_moves_the_generation_and_a_failure_keeps_the_last() {
        let s = seg();
        let r = s.resolve_slot("a").unwrap();
        let a = |s: &str| s.parse::<SocketAddr>().unwrap();
        assert_eq!(r.record(Ok(a("127.0.0.2:1")), 10), ResolveEvent::Same);
        assert_eq!(r.generation(), 0);
        assert_eq!(r.record(Ok(a("127.0.0.2:1")), 20), ResolveEvent::Same);
        assert_eq!(
            r.record(Ok(a("127.0.0.3:1")), 30),
            ResolveEvent::Changed {
                from: "127.0.0.2:1".into(),
                to: "127.0.0.3:1".into()
            }
        );
        assert_eq!(r.generation(), 1);
        assert_eq!(
            r.record(Err("no such host"), 40),
            ResolveEvent::StartedFailing {
                kept: "127.0.0.3:1".into()
            }
        );
        assert_eq!(
            r.record(Err("no such host"), 50),
            ResolveEvent::StillFailing
        );
        let snap = r.snapshot();
        assert!(snap.failing);
        assert_eq!(
            (snap.addr.as_str(), snap.last_resolved_ms),
            ("127.0.0.3:1", 30)
        );
        assert_eq!(r.record(Ok(a("127.0.0.3:1")), 60), ResolveEvent::Recovered);
        assert_eq!(r.generation(), 1);
        assert!(matches!(
            r.record(Ok(a("[::1]:8009")), 70),
            ResolveEvent::Changed { .. }
        ));
        assert_eq!(r.snapshot().addr, "[::1]:8009");
        r.request_now();
        assert!(r.try_lease(80, 1000));
    }

    #[test]
    fn unknown_codes_read_as_up() {
        let s = seg();
        let h = s.health("a").unwrap();
        h.verdict.store(77, Ordering::Release);
        assert_eq!(h.verdict(), Verdict::Up);
        s.health.drain[0].store(9, Ordering::Release);
        assert!(!s.health_draining(0));
    }
}
