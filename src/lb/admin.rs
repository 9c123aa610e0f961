//! What the status worker does with an lb: edits of the lb and its members, statistics
//! resets, forced recovery, and snapshots for display.

use std::sync::atomic::{AtomicU64, Ordering};

use super::{
    Activation, Balancer, LbMethod, LbSettings, LbSnapshot, MemberSnapshot, MemberState, check_len,
    saturating_add, transition,
};
use crate::shm::{self, LbSlot, MemberSlot, with_write};

impl<'s> Balancer<'s> {
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
            slot.activation.store(activation.code(), Ordering::Release)
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
            lb.method.store(s.method.code(), Ordering::Release);
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
