//! Global maintenance of an lb: decay of lb_values and timeout counts, recovery of
//! members in error, escalation of local errors, OK ⇒ OK/IDLE.

use std::sync::atomic::Ordering;

use super::{
    Activation, Balancer, LbMethod, LbSlot, MaintainReport, MemberSlot, MemberState,
    STALE_MAINTAIN_LOCK_MS, saturating_sub, secs_to_ms, shift_right, tolerance, transition,
    usable_state,
};

impl Balancer<'_> {
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

        let curmax = decay(slots, method, exponent);

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
}

/// Halves (per elapsed interval) the lb_values and reply timeout counts; under Next
/// subtracts the smallest usable lb_value instead. Returns the largest lb_value after.
fn decay(slots: &[MemberSlot], method: LbMethod, exponent: u32) -> u64 {
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
    curmax
}
