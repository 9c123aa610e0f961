//! The `#[repr(C)]` layout of the segment: header, lb slots, member slots, ajp slots.

use std::sync::atomic::{AtomicI64, AtomicU32, AtomicU64, Ordering};

use super::seqlock::{ShmStr, read_str, str_eq, with_write, write_str_locked};
use super::{Activation, AjpSlot, LATENCY_BUCKETS, MAX_AJPS, MAX_LBS, MAX_MEMBERS, MemberState};

#[repr(C)]
pub struct Header {
    pub(crate) magic: AtomicU64,
    pub(crate) version: AtomicU32,
    pub(crate) lb_count: AtomicU32,
    pub(crate) total_size: AtomicU64,
    /// Hash of the worker set (see [`fingerprint`]).
    pub(crate) fingerprint: AtomicU64,
    pub(crate) member_count: AtomicU32,
    /// ajp13 slots in use.
    pub(crate) ajp_count: AtomicU32,
    /// Incremented by every init or adopt, for diagnostics.
    pub(crate) generation: AtomicU64,
}

impl Header {
    const fn new() -> Header {
        Header {
            magic: AtomicU64::new(0),
            version: AtomicU32::new(0),
            lb_count: AtomicU32::new(0),
            total_size: AtomicU64::new(0),
            fingerprint: AtomicU64::new(0),
            member_count: AtomicU32::new(0),
            ajp_count: AtomicU32::new(0),
            generation: AtomicU64::new(0),
        }
    }
}

/// The configured values of an lb's editable settings, kept so that a graceful restart can
/// tell a value the admin changed at runtime from one the configuration file changed.
#[repr(C)]
pub struct LbConfigured {
    pub(crate) method: AtomicU32,
    pub(crate) sticky_session: AtomicU32,
    pub(crate) sticky_session_force: AtomicU32,
    pub(crate) retries: AtomicU32,
    pub(crate) lb_retries: AtomicU32,
    pub(crate) retry_interval_ms: AtomicU32,
    pub(crate) recover_time_secs: AtomicU32,
    pub(crate) error_escalation_time_secs: AtomicU32,
    pub(crate) max_reply_timeouts: AtomicU32,
    _reserved: AtomicU32,
}

impl LbConfigured {
    const fn new() -> LbConfigured {
        LbConfigured {
            method: AtomicU32::new(0),
            sticky_session: AtomicU32::new(0),
            sticky_session_force: AtomicU32::new(0),
            retries: AtomicU32::new(0),
            lb_retries: AtomicU32::new(0),
            retry_interval_ms: AtomicU32::new(0),
            recover_time_secs: AtomicU32::new(0),
            error_escalation_time_secs: AtomicU32::new(0),
            max_reply_timeouts: AtomicU32::new(0),
            _reserved: AtomicU32::new(0),
        }
    }
}

/// One load balancer.
#[repr(C)]
pub struct LbSlot {
    /// Seqlock of `name`, and change counter (+2 per edit) of the settings and of the
    /// members' editable values, so one load tells a cache whether anything changed.
    pub(crate) sequence: AtomicU32,
    /// Members are the global slots `first_member .. first_member + member_count`.
    pub(crate) first_member: AtomicU32,
    pub(crate) member_count: AtomicU32,
    pub(crate) method: AtomicU32,
    pub(crate) sticky_session: AtomicU32,
    pub(crate) sticky_session_force: AtomicU32,
    pub(crate) retries: AtomicU32,
    pub(crate) lb_retries: AtomicU32,
    pub(crate) retry_interval_ms: AtomicU32,
    pub(crate) recover_time_secs: AtomicU32,
    pub(crate) error_escalation_time_secs: AtomicU32,
    pub(crate) max_reply_timeouts: AtomicU32,
    /// Shared rotation for ties: `rotation % member_count` is the member local index where
    /// the search for the next non-sticky pick starts (see `lb`).
    pub(crate) rotation: AtomicU64,
    /// Try-lock of global maintenance: 0 = free, else the holder's `now_ms`, so a holder
    /// that died is overtaken once the lock is old.
    pub(crate) maintain_lock: AtomicU64,
    pub(crate) last_maintain_ms: AtomicU64,
    pub(crate) busy: AtomicU64,
    pub(crate) max_busy: AtomicU64,
    pub(crate) last_reset_ms: AtomicU64,
    pub(crate) configured: LbConfigured,
    pub(crate) name: ShmStr,
}

impl LbSlot {
    const fn new() -> LbSlot {
        LbSlot {
            sequence: AtomicU32::new(0),
            first_member: AtomicU32::new(0),
            member_count: AtomicU32::new(0),
            method: AtomicU32::new(0),
            sticky_session: AtomicU32::new(0),
            sticky_session_force: AtomicU32::new(0),
            retries: AtomicU32::new(0),
            lb_retries: AtomicU32::new(0),
            retry_interval_ms: AtomicU32::new(0),
            recover_time_secs: AtomicU32::new(0),
            error_escalation_time_secs: AtomicU32::new(0),
            max_reply_timeouts: AtomicU32::new(0),
            rotation: AtomicU64::new(0),
            maintain_lock: AtomicU64::new(0),
            last_maintain_ms: AtomicU64::new(0),
            busy: AtomicU64::new(0),
            max_busy: AtomicU64::new(0),
            last_reset_ms: AtomicU64::new(0),
            configured: LbConfigured::new(),
            name: ShmStr::new(),
        }
    }

    pub fn sequence(&self) -> u32 {
        self.sequence.load(Ordering::Acquire)
    }

    pub fn name(&self) -> String {
        read_str(&self.sequence, &self.name)
    }

    pub(super) fn clear(&self) {
        let LbSlot {
            sequence: _,
            first_member,
            member_count,
            method,
            sticky_session,
            sticky_session_force,
            retries,
            lb_retries,
            retry_interval_ms,
            recover_time_secs,
            error_escalation_time_secs,
            max_reply_timeouts,
            rotation,
            maintain_lock,
            last_maintain_ms,
            busy,
            max_busy,
            last_reset_ms,
            configured,
            name,
        } = self;
        for a in [
            first_member,
            member_count,
            method,
            sticky_session,
            sticky_session_force,
            retries,
            lb_retries,
            retry_interval_ms,
            recover_time_secs,
            error_escalation_time_secs,
            max_reply_timeouts,
            &configured.method,
            &configured.sticky_session,
            &configured.sticky_session_force,
            &configured.retries,
            &configured.lb_retries,
            &configured.retry_interval_ms,
            &configured.recover_time_secs,
            &configured.error_escalation_time_secs,
            &configured.max_reply_timeouts,
        ] {
            a.store(0, Ordering::Relaxed);
        }
        for a in [
            rotation,
            maintain_lock,
            last_maintain_ms,
            busy,
            max_busy,
            last_reset_ms,
        ] {
            a.store(0, Ordering::Relaxed);
        }
        with_write(&self.sequence, || write_str_locked(name, ""));
    }
}

impl Default for LbSlot {
    fn default() -> Self {
        LbSlot::new()
    }
}

/// Configured values of a member's editable settings (strings as hashes), see
/// [`LbConfigured`].
#[repr(C)]
pub struct MemberConfigured {
    pub(crate) activation: AtomicU32,
    pub(crate) lbfactor: AtomicU32,
    pub(crate) distance: AtomicI64,
    pub(crate) route: AtomicU64,
    pub(crate) redirect: AtomicU64,
    pub(crate) domain: AtomicU64,
}

impl MemberConfigured {
    const fn new() -> MemberConfigured {
        MemberConfigured {
            activation: AtomicU32::new(0),
            lbfactor: AtomicU32::new(0),
            distance: AtomicI64::new(0),
            route: AtomicU64::new(0),
            redirect: AtomicU64::new(0),
            domain: AtomicU64::new(0),
        }
    }
}

/// One member of one lb.
#[repr(C)]
pub struct MemberSlot {
    /// Seqlock of the strings and change counter of the editable values (+2 per edit).
    pub(crate) sequence: AtomicU32,
    pub(crate) lb_index: AtomicU32,
    pub(crate) activation: AtomicU32,
    pub(crate) state: AtomicU32,
    pub(crate) lbfactor: AtomicU32,
    /// Failed attempts since the last global maintenance.
    pub(crate) interval_errors: AtomicU32,
    pub(crate) distance: AtomicI64,
    /// LCM(all lbfactors of the lb) / lbfactor.
    pub(crate) lb_mult: AtomicU64,
    pub(crate) lb_value: AtomicU64,
    /// Requests assigned to the member (sticky ones too).
    pub(crate) elected: AtomicU64,
    /// `elected` at the last global maintenance, to detect idle members.
    pub(crate) elected_snapshot: AtomicU64,
    /// Requests without session id (new sessions).
    pub(crate) sessions: AtomicU64,
    pub(crate) errors: AtomicU64,
    pub(crate) client_errors: AtomicU64,
    /// Decayed count of reply timeouts (compared with max_reply_timeouts).
    pub(crate) reply_timeouts: AtomicU64,
    /// Requests in flight, all processes.
    pub(crate) busy: AtomicU64,
    pub(crate) max_busy: AtomicU64,
    pub(crate) bytes_read: AtomicU64,
    pub(crate) bytes_written: AtomicU64,
    pub(crate) first_error_ms: AtomicU64,
    pub(crate) last_error_ms: AtomicU64,
    pub(crate) last_used_ms: AtomicU64,
    pub(crate) last_success_ms: AtomicU64,
    pub(crate) last_reset_ms: AtomicU64,
    /// Response times of successful requests: counts per bucket of
    /// [`LATENCY_BOUNDS_MS`] (the last bucket is everything slower), and their sum.
    pub(crate) latency: [AtomicU64; LATENCY_BUCKETS],
    pub(crate) latency_sum_ms: AtomicU64,
    pub(crate) configured: MemberConfigured,
    /// The member's ajp13 worker name (lb members are ajp13 workers, so this is also the
    /// worker whose connection pool serves it).
    pub(crate) name: ShmStr,
    pub(crate) route: ShmStr,
    pub(crate) redirect: ShmStr,
    pub(crate) domain: ShmStr,
}

impl MemberSlot {
    pub(super) const fn new() -> MemberSlot {
        MemberSlot {
            sequence: AtomicU32::new(0),
            lb_index: AtomicU32::new(0),
            activation: AtomicU32::new(0),
            state: AtomicU32::new(0),
            lbfactor: AtomicU32::new(0),
            interval_errors: AtomicU32::new(0),
            distance: AtomicI64::new(0),
            lb_mult: AtomicU64::new(0),
            lb_value: AtomicU64::new(0),
            elected: AtomicU64::new(0),
            elected_snapshot: AtomicU64::new(0),
            sessions: AtomicU64::new(0),
            errors: AtomicU64::new(0),
            client_errors: AtomicU64::new(0),
            reply_timeouts: AtomicU64::new(0),
            busy: AtomicU64::new(0),
            max_busy: AtomicU64::new(0),
            bytes_read: AtomicU64::new(0),
            bytes_written: AtomicU64::new(0),
            first_error_ms: AtomicU64::new(0),
            last_error_ms: AtomicU64::new(0),
            last_used_ms: AtomicU64::new(0),
            last_success_ms: AtomicU64::new(0),
            last_reset_ms: AtomicU64::new(0),
            latency: [const { AtomicU64::new(0) }; LATENCY_BUCKETS],
            latency_sum_ms: AtomicU64::new(0),
            configured: MemberConfigured::new(),
            name: ShmStr::new(),
            route: ShmStr::new(),
            redirect: ShmStr::new(),
            domain: ShmStr::new(),
        }
    }

    pub fn sequence(&self) -> u32 {
        self.sequence.load(Ordering::Acquire)
    }

    pub fn name(&self) -> String {
        read_str(&self.sequence, &self.name)
    }

    pub fn route(&self) -> String {
        read_str(&self.sequence, &self.route)
    }

    pub fn redirect(&self) -> String {
        read_str(&self.sequence, &self.redirect)
    }

    pub fn domain(&self) -> String {
        read_str(&self.sequence, &self.domain)
    }

    pub fn state(&self) -> MemberState {
        MemberState::from_code(self.state.load(Ordering::Acquire))
    }

    pub fn activation(&self) -> Activation {
        Activation::from_code(self.activation.load(Ordering::Acquire))
    }

    /// Index of the lb this member belongs to (bounds-checked by the lb views).
    pub fn lb_index(&self) -> usize {
        self.lb_index.load(Ordering::Acquire) as usize
    }

    pub(super) fn clear(&self) {
        let MemberSlot {
            sequence: _,
            lb_index,
            activation,
            state,
            lbfactor,
            interval_errors,
            distance,
            lb_mult,
            lb_value,
            elected,
            elected_snapshot,
            sessions,
            errors,
            client_errors,
            reply_timeouts,
            busy,
            max_busy,
            bytes_read,
            bytes_written,
            first_error_ms,
            last_error_ms,
            last_used_ms,
            last_success_ms,
            last_reset_ms,
            latency,
            latency_sum_ms,
            configured,
            name,
            route,
            redirect,
            domain,
        } = self;
        for a in latency.iter().chain([latency_sum_ms]) {
            a.store(0, Ordering::Relaxed);
        }
        for a in [
            lb_index,
            activation,
            state,
            lbfactor,
            interval_errors,
            &configured.activation,
            &configured.lbfactor,
        ] {
            a.store(0, Ordering::Relaxed);
        }
        distance.store(0, Ordering::Relaxed);
        configured.distance.store(0, Ordering::Relaxed);
        for a in [
            lb_mult,
            lb_value,
            elected,
            elected_snapshot,
            sessions,
            errors,
            client_errors,
            reply_timeouts,
            busy,
            max_busy,
            bytes_read,
            bytes_written,
            first_error_ms,
            last_error_ms,
            last_used_ms,
            last_success_ms,
            last_reset_ms,
            &configured.route,
            &configured.redirect,
            &configured.domain,
        ] {
            a.store(0, Ordering::Relaxed);
        }
        with_write(&self.sequence, || {
            for field in [name, route, redirect, domain] {
                write_str_locked(field, "");
            }
        });
    }
}

impl Default for MemberSlot {
    fn default() -> Self {
        MemberSlot::new()
    }
}

/// The whole segment. All-zero bytes are a valid, uninitialised segment.
#[repr(C)]
pub struct Segment {
    pub(crate) header: Header,
    pub(crate) lbs: [LbSlot; MAX_LBS],
    pub(crate) members: [MemberSlot; MAX_MEMBERS],
    pub(crate) ajps: [AjpSlot; MAX_AJPS],
    /// Health checks (see [`super::health`]).
    pub(crate) health: super::health::HealthArea,
}

impl Segment {
    /// An uninitialised segment (for tests and for process-private fallback memory).
    pub const fn new() -> Segment {
        Segment {
            header: Header::new(),
            lbs: [const { LbSlot::new() }; MAX_LBS],
            members: [const { MemberSlot::new() }; MAX_MEMBERS],
            ajps: [const { AjpSlot::new() }; MAX_AJPS],
            health: super::health::HealthArea::new(),
        }
    }

    pub fn new_boxed() -> Box<Segment> {
        Box::new(Segment::new())
    }

    /// Number of lbs, clamped to the capacity.
    pub fn lb_count(&self) -> usize {
        (self.header.lb_count.load(Ordering::Acquire) as usize).min(MAX_LBS)
    }

    /// Number of member slots in use, clamped to the capacity.
    pub fn member_count(&self) -> usize {
        (self.header.member_count.load(Ordering::Acquire) as usize).min(MAX_MEMBERS)
    }

    pub fn generation(&self) -> u64 {
        self.header.generation.load(Ordering::Acquire)
    }

    pub fn lb(&self, index: usize) -> Option<&LbSlot> {
        (index < self.lb_count()).then(|| &self.lbs[index])
    }

    pub fn member(&self, index: usize) -> Option<&MemberSlot> {
        self.members.get(index)
    }

    /// Number of ajp13 slots in use, clamped to the capacity.
    pub fn ajp_count(&self) -> usize {
        (self.header.ajp_count.load(Ordering::Acquire) as usize).min(MAX_AJPS)
    }

    /// The slot of the ajp13 worker called `name`.
    pub fn ajp(&self, name: &str) -> Option<&AjpSlot> {
        self.ajps[..self.ajp_count()].iter().find(|a| a.is(name))
    }

    /// Index of the lb called `name`.
    pub fn find_lb(&self, name: &str) -> Option<usize> {
        (0..self.lb_count()).find(|&i| str_eq(&self.lbs[i].sequence, &self.lbs[i].name, name))
    }
}

impl Default for Segment {
    fn default() -> Self {
        Segment::new()
    }
}
