//! The shared-memory segment that holds every lb's runtime state, shared by all httpd
//! children (and all their threads).
//!
//! The httpd skin maps `SEGMENT_SIZE` bytes `MAP_SHARED` in the parent before fork, views
//! them as a [`Segment`] and hands `&Segment` to the pure core. Consequences for the layout:
//!
//! * `#[repr(C)]`, fixed capacity ([`MAX_LBS`], [`MAX_MEMBERS`]), no pointers (the mapping
//!   may sit at different addresses), no heap types, no process-local locks. Every field is
//!   an atomic, so an all-zero mapping is a valid (uninitialised) segment and nothing needs
//!   `unsafe` to write it through a shared reference.
//! * Any child can scribble over the segment (a compromised child, CVE-2019-0211 style), so
//!   counts, indices and enum codes read from it are clamped or range-checked at every use,
//!   and [`validate`] checks everything before the parent reuses a segment.
//! * Strings (names, route, redirect, domain) live in 64-byte fields guarded by the slot's
//!   `sequence` seqlock, so a reader in another process never sees a half-written value; the
//!   same counter tells per-process caches that the slot changed.
//! * Times are milliseconds of wall clock passed in by the caller; 0 means "never".

use std::sync::atomic::{AtomicI64, AtomicU32, AtomicU64, Ordering, fence};
use std::time::{Duration, Instant};

use crate::config::workers::{Activation, LbMethod, LbParams, WorkerKind, WorkersConfig};

pub mod ajp;
pub use ajp::{AjpResult, AjpSettings, AjpSlot, AjpStats, MAX_AJPS};
// Active health checks (src/health): their shared state.
pub mod health;

/// `b"RJKSHM01"` read as a little-endian word.
pub const MAGIC: u64 = u64::from_le_bytes(*b"RJKSHM01");
/// Bumped whenever the layout or the meaning of a field changes.
pub const LAYOUT_VERSION: u32 = 4;
/// Load balancers per segment. More than mod_jk users typically define; raising it only
/// costs `size_of::<LbSlot>()` bytes each.
pub const MAX_LBS: usize = 16;
/// Lb members over all lbs (a worker that is a member of two lbs takes two slots, as in
/// mod_jk).
pub const MAX_MEMBERS: usize = 64;
/// Longest string a field holds, as mod_jk's 64-byte shm strings.
pub const MAX_STR_LEN: usize = 63;
/// Upper bounds (milliseconds) of the response-time histogram buckets of each member.
pub const LATENCY_BOUNDS_MS: [u64; 11] = [5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000];
/// One bucket per bound plus one for slower responses.
pub const LATENCY_BUCKETS: usize = LATENCY_BOUNDS_MS.len() + 1;
/// Bytes to map; the segment has a fixed size.
pub const SEGMENT_SIZE: usize = std::mem::size_of::<Segment>();
/// Alignment the mapping needs (page-aligned mappings always satisfy it).
pub const SEGMENT_ALIGN: usize = std::mem::align_of::<Segment>();

const STR_WORDS: usize = (MAX_STR_LEN + 1) / 8;

// The skin maps raw bytes as a `Segment`: whole words, 8-byte alignment, and small enough
// to map a fresh one per generation without a second thought.
const _: () = assert!(SEGMENT_SIZE % 8 == 0 && SEGMENT_ALIGN == 8 && SEGMENT_SIZE < 256 * 1024);

/// How long a seqlock user waits on an odd, unchanging sequence before concluding that the
/// writer died between its two stores (a killed child) and repairing the slot. Rounds can
/// not tell a dead writer from a descheduled one, time can; a writer descheduled longer
/// than this may let one reader see a torn (still bounded, decodable) string.
const DEAD_WRITER_AFTER: Duration = Duration::from_secs(1);
/// Readers stop waiting for a consistent read after this long (only writers that never
/// pause could cause it) and take the value as it is.
const READ_GIVE_UP_AFTER: Duration = Duration::from_secs(2);
/// Rounds between clock reads and yields while waiting.
const ROUNDS_PER_CHECK: u32 = 64;

// ---------------------------------------------------------------------------------------
// Codes stored in the segment
// ---------------------------------------------------------------------------------------

/// Runtime state of an lb member, with mod_jk's codes and texts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u32)]
pub enum MemberState {
    /// No request since the last global maintenance; also the initial state.
    Idle = 0,
    Ok = 1,
    /// `recover_time` passed; the next suitable request probes the member.
    Recover = 2,
    /// Forced recovery: every member was in error, so all are tried again.
    Force = 3,
    /// No free connection in time; not used for new requests until it clears.
    Busy = 4,
    Error = 5,
    /// A request is probing a recovering member right now.
    Probe = 6,
}

impl MemberState {
    pub const ALL: [MemberState; 7] = [
        MemberState::Idle,
        MemberState::Ok,
        MemberState::Recover,
        MemberState::Force,
        MemberState::Busy,
        MemberState::Error,
        MemberState::Probe,
    ];

    pub fn code(self) -> u32 {
        self as u32
    }

    /// Unknown codes (corruption) read as `Error`: never used for requests, and maintenance
    /// moves it on to `Recover` after recover_time.
    pub fn from_code(code: u32) -> MemberState {
        Self::ALL
            .get(code as usize)
            .copied()
            .unwrap_or(MemberState::Error)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            MemberState::Idle => "OK/IDLE",
            MemberState::Ok => "OK",
            MemberState::Recover => "ERR/REC",
            MemberState::Force => "ERR/FRC",
            MemberState::Busy => "OK/BUSY",
            MemberState::Error => "ERR",
            MemberState::Probe => "ERR/PRB",
        }
    }
}

pub fn activation_code(a: Activation) -> u32 {
    match a {
        Activation::Active => 0,
        Activation::Disabled => 1,
        Activation::Stopped => 2,
    }
}

/// Unknown codes read as Active, mod_jk's default activation.
pub fn activation_from_code(code: u32) -> Activation {
    match code {
        1 => Activation::Disabled,
        2 => Activation::Stopped,
        _ => Activation::Active,
    }
}

pub fn method_code(m: LbMethod) -> u32 {
    match m {
        LbMethod::Request => 0,
        LbMethod::Traffic => 1,
        LbMethod::Busyness => 2,
        LbMethod::Sessions => 3,
        LbMethod::Next => 4,
    }
}

/// Unknown codes read as Request, mod_jk's default method.
pub fn method_from_code(code: u32) -> LbMethod {
    match code {
        1 => LbMethod::Traffic,
        2 => LbMethod::Busyness,
        3 => LbMethod::Sessions,
        4 => LbMethod::Next,
        _ => LbMethod::Request,
    }
}

// ---------------------------------------------------------------------------------------
// Seqlock-guarded strings
// ---------------------------------------------------------------------------------------

/// A string of at most [`MAX_STR_LEN`] bytes, NUL-padded, guarded by the `sequence` of the
/// slot it belongs to.
#[repr(C)]
pub struct ShmStr {
    pub(crate) words: [AtomicU64; STR_WORDS],
}

impl ShmStr {
    pub const fn new() -> ShmStr {
        ShmStr {
            words: [const { AtomicU64::new(0) }; STR_WORDS],
        }
    }

    fn load_raw(&self) -> [u8; MAX_STR_LEN + 1] {
        let mut buf = [0u8; MAX_STR_LEN + 1];
        for (chunk, word) in buf.chunks_exact_mut(8).zip(&self.words) {
            chunk.copy_from_slice(&word.load(Ordering::Relaxed).to_le_bytes());
        }
        buf
    }

    fn store_raw(&self, buf: &[u8; MAX_STR_LEN + 1]) {
        for (chunk, word) in buf.chunks_exact(8).zip(&self.words) {
            let mut bytes = [0u8; 8];
            bytes.copy_from_slice(chunk);
            word.store(u64::from_le_bytes(bytes), Ordering::Relaxed);
        }
    }
}

impl Default for ShmStr {
    fn default() -> Self {
        ShmStr::new()
    }
}

/// The longest prefix of `value` that fits a field: cut at the first NUL and at
/// [`MAX_STR_LEN`] bytes, on a char boundary.
pub fn fit_str(value: &str) -> &str {
    let value = value.split('\0').next().unwrap_or("");
    if value.len() <= MAX_STR_LEN {
        return value;
    }
    let mut end = MAX_STR_LEN;
    while !value.is_char_boundary(end) {
        end -= 1;
    }
    &value[..end]
}

/// Text of a raw field: up to the first NUL (the last byte is never part of the text), and
/// only the valid UTF-8 prefix, since another process may have written garbage.
fn decode(buf: &[u8; MAX_STR_LEN + 1]) -> &str {
    let bytes = &buf[..MAX_STR_LEN];
    let len = bytes.iter().position(|&b| b == 0).unwrap_or(MAX_STR_LEN);
    match std::str::from_utf8(&bytes[..len]) {
        Ok(s) => s,
        Err(e) => std::str::from_utf8(&bytes[..e.valid_up_to()]).unwrap_or(""),
    }
}

fn encode(value: &str) -> [u8; MAX_STR_LEN + 1] {
    let value = fit_str(value);
    let mut buf = [0u8; MAX_STR_LEN + 1];
    buf[..value.len()].copy_from_slice(value.as_bytes());
    buf
}

/// Waiting on a seqlock: spins, yields, and repairs the slot when its writer is gone.
struct Waiter {
    round: u32,
    started: Option<Instant>,
    odd: Option<(u32, Instant)>,
}

impl Waiter {
    fn new() -> Self {
        Waiter {
            round: 0,
            started: None,
            odd: None,
        }
    }

    /// Called after a failed round with the sequence seen; returns false once a reader
    /// should give up.
    fn wait(&mut self, seq: &AtomicU32, seen: u32) -> bool {
        self.round = self.round.wrapping_add(1);
        if self.round % ROUNDS_PER_CHECK != 0 {
            std::hint::spin_loop();
            return true;
        }
        let now = Instant::now();
        let started = *self.started.get_or_insert(now);
        if seen & 1 == 1 {
            match self.odd {
                Some((s, since)) if s == seen => {
                    if now.duration_since(since) >= DEAD_WRITER_AFTER {
                        // The writer died between its two stores: make the slot readable
                        // and writable again with whatever it left.
                        let _ = seq.compare_exchange(
                            seen,
                            seen.wrapping_add(1),
                            Ordering::AcqRel,
                            Ordering::Relaxed,
                        );
                        self.odd = None;
                    }
                }
                _ => self.odd = Some((seen, now)),
            }
        } else {
            self.odd = None;
        }
        std::thread::yield_now();
        now.duration_since(started) < READ_GIVE_UP_AFTER
    }
}

/// Takes the slot's seqlock for writing and returns the (odd) value now held.
fn lock_write(seq: &AtomicU32) -> u32 {
    let mut waiter = Waiter::new();
    loop {
        let s = seq.load(Ordering::Relaxed);
        if s & 1 == 0
            && seq
                .compare_exchange(s, s.wrapping_add(1), Ordering::Acquire, Ordering::Relaxed)
                .is_ok()
        {
            // Orders the data stores after the odd sequence for readers.
            fence(Ordering::Release);
            return s.wrapping_add(1);
        }
        // Writers never give up: edits are rare and a dead writer gets repaired.
        let _ = waiter.wait(seq, s);
    }
}

fn unlock_write(seq: &AtomicU32, held: u32) {
    // A failed exchange means the slot was repaired as if this writer had died.
    let _ = seq.compare_exchange(
        held,
        held.wrapping_add(1),
        Ordering::Release,
        Ordering::Relaxed,
    );
}

/// Runs `f` as a writer of the slot guarded by `seq`: readers retry while it runs and the
/// sequence ends 2 higher, which tells caches the slot changed.
pub fn with_write<R>(seq: &AtomicU32, f: impl FnOnce() -> R) -> R {
    let held = lock_write(seq);
    let result = f();
    unlock_write(seq, held);
    result
}

/// Writes `value` (cut by [`fit_str`]) into `field` under the seqlock `seq`.
pub fn write_str(seq: &AtomicU32, field: &ShmStr, value: &str) {
    let buf = encode(value);
    with_write(seq, || field.store_raw(&buf));
}

/// Writes without taking the seqlock: for callers already inside [`with_write`].
fn write_str_locked(field: &ShmStr, value: &str) {
    field.store_raw(&encode(value));
}

fn read_raw(seq: &AtomicU32, field: &ShmStr) -> [u8; MAX_STR_LEN + 1] {
    let mut waiter = Waiter::new();
    loop {
        let s1 = seq.load(Ordering::Acquire);
        if s1 & 1 == 0 {
            let buf = field.load_raw();
            fence(Ordering::Acquire);
            if seq.load(Ordering::Relaxed) == s1 {
                return buf;
            }
        }
        if !waiter.wait(seq, s1) {
            // Possibly torn, but still bounded text that decodes safely.
            return field.load_raw();
        }
    }
}

/// Reads `field` under the seqlock `seq`; never blocks for long and never fails.
pub fn read_str(seq: &AtomicU32, field: &ShmStr) -> String {
    decode(&read_raw(seq, field)).to_owned()
}

/// Compares `field` with `value` without allocating (the hot path of sticky routing).
pub fn str_eq(seq: &AtomicU32, field: &ShmStr, value: &str) -> bool {
    decode(&read_raw(seq, field)) == value
}

/// True when the field holds the empty string.
pub fn str_is_empty(seq: &AtomicU32, field: &ShmStr) -> bool {
    read_raw(seq, field)[0] == 0
}

// ---------------------------------------------------------------------------------------
// Layout
// ---------------------------------------------------------------------------------------

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

    fn clear(&self) {
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
    const fn new() -> MemberSlot {
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
        activation_from_code(self.activation.load(Ordering::Acquire))
    }

    /// Index of the lb this member belongs to (bounds-checked by the lb views).
    pub fn lb_index(&self) -> usize {
        self.lb_index.load(Ordering::Acquire) as usize
    }

    fn clear(&self) {
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
    /// Health checks (see [`health`]).
    pub(crate) health: health::HealthArea,
}

impl Segment {
    /// An uninitialised segment (for tests and for process-private fallback memory).
    pub const fn new() -> Segment {
        Segment {
            header: Header::new(),
            lbs: [const { LbSlot::new() }; MAX_LBS],
            members: [const { MemberSlot::new() }; MAX_MEMBERS],
            ajps: [const { AjpSlot::new() }; MAX_AJPS],
            health: health::HealthArea::new(),
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

// ---------------------------------------------------------------------------------------
// Building from the configuration
// ---------------------------------------------------------------------------------------

/// What [`adopt_or_init`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Adoption {
    /// The segment held the same worker set: runtime state and admin edits were kept.
    Adopted,
    /// The segment was (re)built from the configuration.
    Initialised,
}

/// Smallest `JkShmSize` result in bytes, and the granule it is rounded up to (mod_jk's).
pub const MIN_REQUESTED_SIZE: usize = 74_112;
pub const SIZE_ALIGN: usize = 384;

/// Length of the shared memory file: the segment, or more when `JkShmSize` (KB) asks
/// for it, raised to [`MIN_REQUESTED_SIZE`] and rounded up to [`SIZE_ALIGN`] as mod_jk
/// does. The mapping covers the segment; the rest of the file is reserve.
pub fn file_size(shm_size_kb: Option<u32>) -> usize {
    match shm_size_kb {
        None => SEGMENT_SIZE,
        Some(kb) => {
            let asked = (kb as usize).saturating_mul(1024).max(MIN_REQUESTED_SIZE);
            asked
                .div_ceil(SIZE_ALIGN)
                .saturating_mul(SIZE_ALIGN)
                .max(SEGMENT_SIZE)
        }
    }
}

/// The segment has a fixed size; the configuration only has to fit [`check_capacity`].
pub fn required_size(_config: &WorkersConfig) -> usize {
    SEGMENT_SIZE
}

/// The lbs of a configuration in segment order (by name, as the worker map is ordered).
fn lbs(config: &WorkersConfig) -> impl Iterator<Item = (&str, &LbParams)> {
    config.workers.values().filter_map(|def| match &def.kind {
        WorkerKind::Lb(params) => Some((def.name.as_str(), params)),
        _ => None,
    })
}

/// Whether the configuration fits the segment's fixed capacity.
pub fn check_capacity(config: &WorkersConfig) -> Result<(), String> {
    let lb_count = lbs(config).count();
    if lb_count > MAX_LBS {
        return Err(format!(
            "{lb_count} lb workers are configured; mod_rjk supports at most {MAX_LBS}"
        ));
    }
    let members: usize = lbs(config).map(|(_, p)| p.balance_workers.len()).sum();
    if members > MAX_MEMBERS {
        return Err(format!(
            "the lb workers have {members} members in total; mod_rjk supports at most \
             {MAX_MEMBERS} (a worker in two lbs counts twice)"
        ));
    }
    ajp::check_capacity(config)?;
    for (name, params) in lbs(config) {
        for n in std::iter::once(name).chain(params.balance_workers.iter().map(String::as_str)) {
            if n.len() > MAX_STR_LEN || n.contains('\0') {
                return Err(format!(
                    "worker name '{n}' is longer than {MAX_STR_LEN} bytes or contains NUL"
                ));
            }
        }
    }
    Ok(())
}

/// Wall clock in milliseconds (start of the statistics of a fresh segment).
fn wall_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// 64-bit FNV-1a: stable across builds and processes, unlike `std`'s hasher.
fn fnv1a(hash: u64, bytes: &[u8]) -> u64 {
    bytes.iter().fold(hash, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;

fn str_hash(value: &str) -> u64 {
    fnv1a(FNV_OFFSET, fit_str(value).as_bytes())
}

/// Fingerprint of the worker set: layout version, capacities, and every lb name with its
/// member names, in segment order. Equal fingerprints mean equal slot assignments.
pub fn fingerprint(config: &WorkersConfig) -> u64 {
    let mut h = fnv1a(FNV_OFFSET, b"rjk-shm");
    h = fnv1a(h, &LAYOUT_VERSION.to_le_bytes());
    h = fnv1a(h, &(MAX_LBS as u64).to_le_bytes());
    h = fnv1a(h, &(MAX_MEMBERS as u64).to_le_bytes());
    for (name, params) in lbs(config) {
        h = fnv1a(h, name.as_bytes());
        h = fnv1a(h, &[0xff]);
        for member in &params.balance_workers {
            h = fnv1a(h, member.as_bytes());
            h = fnv1a(h, &[0]);
        }
        h = fnv1a(h, &[0xfe]);
    }
    ajp::fingerprint(h, config)
}

/// Weights as multipliers: `LCM(factors) / factor`, so a member's lb_value grows by the
/// same amount per "fair share". Absurd factor sets whose LCM exceeds 2^32 get proportional
/// multipliers of a 2^32 scale instead of overflowing.
pub fn compute_mults(factors: &[u32]) -> Vec<u64> {
    const CAP: u128 = 1 << 32;
    let factors: Vec<u128> = factors.iter().map(|&f| u128::from(f.max(1))).collect();
    fn gcd(mut a: u128, mut b: u128) -> u128 {
        while b != 0 {
            (a, b) = (b, a % b);
        }
        a
    }
    let mut lcm: u128 = 1;
    for &f in &factors {
        lcm = lcm / gcd(lcm, f) * f;
        if lcm > CAP {
            return factors.iter().map(|&f| (CAP / f).max(1) as u64).collect();
        }
    }
    factors.iter().map(|&f| (lcm / f) as u64).collect()
}

/// Recomputes `lb_mult` of the members `first .. first + n` from their lbfactors.
pub(crate) fn update_mults(seg: &Segment, first: usize, n: usize) {
    let Some(slots) = seg.members.get(first..first.saturating_add(n)) else {
        return;
    };
    let factors: Vec<u32> = slots
        .iter()
        .map(|m| m.lbfactor.load(Ordering::Acquire))
        .collect();
    for (slot, mult) in slots.iter().zip(compute_mults(&factors)) {
        slot.lb_mult.store(mult, Ordering::Release);
    }
}

fn store_lb_settings(slot: &LbSlot, p: &LbParams) {
    let values = lb_setting_values(p);
    let runtime = lb_runtime_fields(slot);
    let configured = lb_configured_fields(slot);
    for ((value, rt), cf) in values.into_iter().zip(runtime).zip(configured) {
        rt.store(value, Ordering::Relaxed);
        cf.store(value, Ordering::Relaxed);
    }
}

fn lb_setting_values(p: &LbParams) -> [u32; 9] {
    [
        method_code(p.method),
        u32::from(p.sticky_session),
        u32::from(p.sticky_session_force),
        p.retries.max(1),
        p.lb_retries.max(1),
        p.retry_interval_ms,
        p.recover_time_secs.max(1),
        p.error_escalation_time_secs,
        p.max_reply_timeouts,
    ]
}

fn lb_runtime_fields(s: &LbSlot) -> [&AtomicU32; 9] {
    [
        &s.method,
        &s.sticky_session,
        &s.sticky_session_force,
        &s.retries,
        &s.lb_retries,
        &s.retry_interval_ms,
        &s.recover_time_secs,
        &s.error_escalation_time_secs,
        &s.max_reply_timeouts,
    ]
}

fn lb_configured_fields(s: &LbSlot) -> [&AtomicU32; 9] {
    let c = &s.configured;
    [
        &c.method,
        &c.sticky_session,
        &c.sticky_session_force,
        &c.retries,
        &c.lb_retries,
        &c.retry_interval_ms,
        &c.recover_time_secs,
        &c.error_escalation_time_secs,
        &c.max_reply_timeouts,
    ]
}

/// Makes an odd (writer-held) sequence even at once. For the parent rebuilding a segment
/// it no longer trusts: a child can leave every slot odd (by dying, or on purpose), and
/// waiting out [`DEAD_WRITER_AFTER`] for each of them would stall the restart for minutes.
pub(crate) fn unstick(seq: &AtomicU32) {
    let s = seq.load(Ordering::Acquire);
    if s & 1 == 1 {
        let _ = seq.compare_exchange(s, s.wrapping_add(1), Ordering::AcqRel, Ordering::Relaxed);
    }
}

/// Fills the segment from the configuration, discarding whatever it held. Call in the
/// parent before fork (children of an older generation may still use an adopted segment,
/// so prefer a fresh mapping over re-initialising one they share).
pub fn init_from_config(seg: &Segment, config: &WorkersConfig) -> Result<(), String> {
    check_capacity(config)?;
    // Invalid while being rebuilt, so a concurrent validate() refuses it.
    seg.header.magic.store(0, Ordering::Release);
    for slot in &seg.lbs {
        unstick(&slot.sequence);
        slot.clear();
    }
    for slot in &seg.members {
        unstick(&slot.sequence);
        slot.clear();
    }
    for slot in &seg.ajps {
        unstick(&slot.sequence);
        slot.clear();
    }
    seg.health.clear();
    seg.health.set_enabled(config);
    let now = wall_ms();
    let ajp_count = ajp::init(&seg.ajps, config, now);

    let mut next_member = 0usize;
    let mut lb_count = 0usize;
    for (lb_index, (name, params)) in lbs(config).enumerate() {
        let slot = &seg.lbs[lb_index];
        let first = next_member;
        with_write(&slot.sequence, || write_str_locked(&slot.name, name));
        store_lb_settings(slot, params);
        slot.first_member.store(first as u32, Ordering::Relaxed);
        slot.last_reset_ms.store(now, Ordering::Relaxed);
        slot.member_count
            .store(params.balance_workers.len() as u32, Ordering::Relaxed);
        for member_name in &params.balance_workers {
            let m = &seg.members[next_member];
            let ajp = config.get(member_name).and_then(|d| d.ajp());
            let activation = ajp.map_or(Activation::Active, |p| p.activation);
            let lbfactor = ajp.map_or(1, |p| p.lbfactor.max(1));
            let distance = ajp.map_or(0, |p| i64::from(p.distance));
            let route = ajp.map_or(member_name.as_str(), |p| p.route.as_str());
            let redirect = ajp.map_or("", |p| p.redirect.as_str());
            let domain = ajp.map_or("", |p| p.domain.as_str());

            m.lb_index.store(lb_index as u32, Ordering::Relaxed);
            m.last_reset_ms.store(now, Ordering::Relaxed);
            m.state.store(MemberState::Idle.code(), Ordering::Relaxed);
            m.activation
                .store(activation_code(activation), Ordering::Relaxed);
            m.lbfactor.store(lbfactor, Ordering::Relaxed);
            m.distance.store(distance, Ordering::Relaxed);
            let c = &m.configured;
            c.activation
                .store(activation_code(activation), Ordering::Relaxed);
            c.lbfactor.store(lbfactor, Ordering::Relaxed);
            c.distance.store(distance, Ordering::Relaxed);
            c.route.store(str_hash(route), Ordering::Relaxed);
            c.redirect.store(str_hash(redirect), Ordering::Relaxed);
            c.domain.store(str_hash(domain), Ordering::Relaxed);
            with_write(&m.sequence, || {
                write_str_locked(&m.name, member_name);
                write_str_locked(&m.route, route);
                write_str_locked(&m.redirect, redirect);
                write_str_locked(&m.domain, domain);
            });
            next_member += 1;
        }
        update_mults(seg, first, params.balance_workers.len());
        lb_count += 1;
    }

    let h = &seg.header;
    h.version.store(LAYOUT_VERSION, Ordering::Relaxed);
    h.lb_count.store(lb_count as u32, Ordering::Relaxed);
    h.member_count.store(next_member as u32, Ordering::Relaxed);
    h.ajp_count.store(ajp_count as u32, Ordering::Relaxed);
    h.total_size.store(SEGMENT_SIZE as u64, Ordering::Relaxed);
    h.fingerprint.store(fingerprint(config), Ordering::Relaxed);
    h.generation.fetch_add(1, Ordering::Relaxed);
    h.magic.store(MAGIC, Ordering::Release);
    Ok(())
}

/// Whether [`adopt_or_init`] would keep the segment: it is valid and holds the same worker
/// set. When it would not, children of the previous generation may still be using it, so
/// a skin that can should map a fresh segment instead of re-initialising this one.
pub fn adoptable(seg: &Segment, config: &WorkersConfig) -> bool {
    validate(seg, SEGMENT_SIZE).is_ok()
        && seg.header.fingerprint.load(Ordering::Acquire) == fingerprint(config)
}

/// Reuses the segment when it is valid and holds the same worker set (graceful restart),
/// else initialises it.
///
/// On reuse, runtime state, statistics and admin edits survive — a deliberate difference
/// from mod_jk, which forgets them. In-flight counters restart from 0 and a running probe
/// is handed to the next request, since their processes may be gone. A value whose
/// configured value changed in the file since the segment was built takes the new
/// configured value (the file edit wins over the older runtime edit); values the file left
/// alone keep their runtime value.
pub fn adopt_or_init(seg: &Segment, config: &WorkersConfig) -> Result<Adoption, String> {
    check_capacity(config)?;
    if !adoptable(seg, config) {
        init_from_config(seg, config)?;
        return Ok(Adoption::Initialised);
    }

    for (lb_index, (_, params)) in lbs(config).enumerate() {
        let slot = &seg.lbs[lb_index];
        let old_method = slot.method.load(Ordering::Acquire);
        let values = lb_setting_values(params);
        let changed = with_write(&slot.sequence, || {
            let mut changed = false;
            for ((value, rt), cf) in values
                .into_iter()
                .zip(lb_runtime_fields(slot))
                .zip(lb_configured_fields(slot))
            {
                if cf.load(Ordering::Relaxed) != value {
                    rt.store(value, Ordering::Relaxed);
                    cf.store(value, Ordering::Relaxed);
                    changed = true;
                }
            }
            changed
        });
        let first = slot.first_member.load(Ordering::Acquire) as usize;
        let n = slot.member_count.load(Ordering::Acquire) as usize;
        for (offset, member_name) in params.balance_workers.iter().enumerate() {
            let Some(m) = seg.members.get(first + offset) else {
                break;
            };
            let Some(p) = config.get(member_name).and_then(|d| d.ajp()) else {
                continue;
            };
            adopt_member(m, p);
        }
        update_mults(seg, first, n);
        let method = slot.method.load(Ordering::Acquire);
        // lb_values of different methods are in different units.
        let method_changed = changed && method != old_method;
        let busyness = method_from_code(method) == LbMethod::Busyness;
        // In-flight counts may belong to processes that are gone (a crash, or a segment
        // file kept across a full restart) and would otherwise leak for good; requests still
        // running in old children only undercount briefly, as decrements stop at 0.
        slot.busy.store(0, Ordering::Release);
        slot.maintain_lock.store(0, Ordering::Release);
        for m in seg
            .members
            .get(first..first.saturating_add(n))
            .unwrap_or(&[])
        {
            m.busy.store(0, Ordering::Release);
            if method_changed || busyness {
                m.lb_value.store(0, Ordering::Release);
            }
            // A probe whose process is gone would keep the member from recovering.
            let _ = m.state.compare_exchange(
                MemberState::Probe.code(),
                MemberState::Recover.code(),
                Ordering::AcqRel,
                Ordering::Acquire,
            );
        }
    }
    ajp::adopt(&seg.ajps, config);
    seg.health.set_enabled(config);
    seg.header.generation.fetch_add(1, Ordering::Release);
    Ok(Adoption::Adopted)
}

fn adopt_member(m: &MemberSlot, p: &crate::config::workers::AjpParams) {
    let c = &m.configured;
    with_write(&m.sequence, || {
        let activation = activation_code(p.activation);
        if c.activation.load(Ordering::Relaxed) != activation {
            m.activation.store(activation, Ordering::Relaxed);
            c.activation.store(activation, Ordering::Relaxed);
        }
        let lbfactor = p.lbfactor.max(1);
        if c.lbfactor.load(Ordering::Relaxed) != lbfactor {
            m.lbfactor.store(lbfactor, Ordering::Relaxed);
            c.lbfactor.store(lbfactor, Ordering::Relaxed);
        }
        let distance = i64::from(p.distance);
        if c.distance.load(Ordering::Relaxed) != distance {
            m.distance.store(distance, Ordering::Relaxed);
            c.distance.store(distance, Ordering::Relaxed);
        }
        for (value, field, hash) in [
            (&p.route, &m.route, &c.route),
            (&p.redirect, &m.redirect, &c.redirect),
            (&p.domain, &m.domain, &c.domain),
        ] {
            let h = str_hash(value);
            if hash.load(Ordering::Relaxed) != h {
                write_str_locked(field, value);
                hash.store(h, Ordering::Relaxed);
            }
        }
    });
}

/// Checks every header field, every lb's member range and every member's codes and
/// strings. A segment that fails must not be reused.
pub fn validate(seg: &Segment, expected_size: usize) -> Result<(), String> {
    let h = &seg.header;
    let magic = h.magic.load(Ordering::Acquire);
    if magic != MAGIC {
        return Err(format!("bad magic {magic:#018x}"));
    }
    let version = h.version.load(Ordering::Acquire);
    if version != LAYOUT_VERSION {
        return Err(format!(
            "layout version {version}, expected {LAYOUT_VERSION}"
        ));
    }
    let size = h.total_size.load(Ordering::Acquire);
    if expected_size != SEGMENT_SIZE || size != SEGMENT_SIZE as u64 {
        return Err(format!(
            "size {size} (mapping {expected_size}), expected {SEGMENT_SIZE}"
        ));
    }
    let lb_count = h.lb_count.load(Ordering::Acquire) as usize;
    if lb_count > MAX_LBS {
        return Err(format!("lb count {lb_count} exceeds {MAX_LBS}"));
    }
    let member_count = h.member_count.load(Ordering::Acquire) as usize;
    if member_count > MAX_MEMBERS {
        return Err(format!("member count {member_count} exceeds {MAX_MEMBERS}"));
    }

    let mut expected_first = 0usize;
    for (i, lb) in seg.lbs[..lb_count].iter().enumerate() {
        let first = lb.first_member.load(Ordering::Acquire) as usize;
        let n = lb.member_count.load(Ordering::Acquire) as usize;
        if first != expected_first || n == 0 || first + n > member_count {
            return Err(format!(
                "lb {i}: members {first}+{n} do not follow on {expected_first} within {member_count}"
            ));
        }
        expected_first = first + n;
        let method = lb.method.load(Ordering::Acquire);
        if method > 4 {
            return Err(format!("lb {i}: method code {method}"));
        }
        for flag in [&lb.sticky_session, &lb.sticky_session_force] {
            if flag.load(Ordering::Acquire) > 1 {
                return Err(format!("lb {i}: boolean setting out of range"));
            }
        }
        check_str(&lb.sequence, &lb.name, false).map_err(|e| format!("lb {i} name: {e}"))?;
        for (offset, m) in seg.members[first..first + n].iter().enumerate() {
            validate_member(m, i).map_err(|e| format!("member {}: {e}", first + offset))?;
        }
    }
    let ajp_count = h.ajp_count.load(Ordering::Acquire) as usize;
    if ajp_count > MAX_AJPS {
        return Err(format!("ajp count {ajp_count} exceeds {MAX_AJPS}"));
    }
    for (i, a) in seg.ajps[..ajp_count].iter().enumerate() {
        a.validate().map_err(|e| format!("ajp {i}: {e}"))?;
    }
    if expected_first != member_count {
        return Err(format!(
            "lbs use {expected_first} members, header says {member_count}"
        ));
    }
    Ok(())
}

fn validate_member(m: &MemberSlot, lb: usize) -> Result<(), String> {
    let owner = m.lb_index.load(Ordering::Acquire) as usize;
    if owner != lb {
        return Err(format!("lb index {owner}, expected {lb}"));
    }
    let state = m.state.load(Ordering::Acquire);
    if state > MemberState::Probe.code() {
        return Err(format!("state code {state}"));
    }
    let activation = m.activation.load(Ordering::Acquire);
    if activation > 2 {
        return Err(format!("activation code {activation}"));
    }
    if m.lbfactor.load(Ordering::Acquire) == 0 || m.lb_mult.load(Ordering::Acquire) == 0 {
        return Err("lbfactor or lb_mult is 0".to_owned());
    }
    check_str(&m.sequence, &m.name, false).map_err(|e| format!("name: {e}"))?;
    check_str(&m.sequence, &m.route, true).map_err(|e| format!("route: {e}"))?;
    check_str(&m.sequence, &m.redirect, true).map_err(|e| format!("redirect: {e}"))?;
    check_str(&m.sequence, &m.domain, true).map_err(|e| format!("domain: {e}"))?;
    Ok(())
}

fn check_str(seq: &AtomicU32, field: &ShmStr, may_be_empty: bool) -> Result<(), String> {
    let buf = read_raw(seq, field);
    if buf[MAX_STR_LEN] != 0 {
        return Err("not NUL-terminated".to_owned());
    }
    let len = buf.iter().position(|&b| b == 0).unwrap_or(MAX_STR_LEN);
    if std::str::from_utf8(&buf[..len]).is_err() {
        return Err("not UTF-8".to_owned());
    }
    if len == 0 && !may_be_empty {
        return Err("empty".to_owned());
    }
    Ok(())
}

/// Opens or creates the file behind the segment (`JkShmFile`), safely: mode 0600, never
/// through a symlink (CVE-2024-46544 was a world-writable shm file), and an existing file
/// must be a regular file owned by us and closed to others. A file of another size is
/// truncated to zeros (an unknown layout); one of the right size keeps its contents for
/// [`adopt_or_init`] to validate.
pub fn open_file(path: &str, size: u64) -> Result<std::fs::File, String> {
    use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
        .open(path)
        .map_err(|e| format!("cannot open the shared memory file {path}: {e}"))?;
    let meta = file.metadata().map_err(|e| format!("{path}: {e}"))?;
    let our_uid = std::fs::metadata("/proc/self")
        .map(|m| m.uid())
        .unwrap_or(u32::MAX);
    if !meta.file_type().is_file() || meta.uid() != our_uid || meta.mode() & 0o077 != 0 {
        return Err(format!(
            "refusing the shared memory file {path}: it must be a regular file owned by uid {our_uid} with mode 0600 (found uid {} mode {:o})",
            meta.uid(),
            meta.mode() & 0o7777
        ));
    }
    if meta.len() != size {
        file.set_len(0)
            .and_then(|()| file.set_len(size))
            .map_err(|e| format!("{path}: {e}"))?;
    }
    Ok(file)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::config::properties::Source;

    #[test]
    fn jk_shm_size_sets_the_file_length() {
        assert_eq!(file_size(None), SEGMENT_SIZE);
        assert_eq!(
            file_size(Some(1)),
            MIN_REQUESTED_SIZE,
            "raised to the minimum"
        );
        let big = file_size(Some(200));
        assert!(big >= 200 * 1024 && big % SIZE_ALIGN == 0 && big - 200 * 1024 < SIZE_ALIGN);
        assert_eq!(file_size(Some(u32::MAX)) % SIZE_ALIGN, 0);
    }

    pub(crate) fn config(contents: &str) -> WorkersConfig {
        WorkersConfig::from_sources(
            &[Source::File {
                path: "workers.properties",
                contents,
            }],
            "/srv/httpd",
            &|_| None,
        )
        .unwrap_or_else(|e| panic!("{e}"))
    }

    const TWO_LBS: &str = "\
worker.list=lb,other
worker.a.port=1
worker.a.lbfactor=2
worker.a.redirect=b
worker.b.port=2
worker.b.route=b.x
worker.b.activation=disabled
worker.c.port=3
worker.lb.type=lb
worker.lb.balance_workers=a,b
worker.lb.method=B
worker.other.type=lb
worker.other.balance_workers=c,a
";

    #[test]
    fn init_over_a_segment_left_writer_held_does_not_wait() {
        let cfg = config(TWO_LBS);
        let seg = Segment::new_boxed();
        for s in &seg.lbs {
            s.sequence.store(u32::MAX, Ordering::Relaxed);
        }
        for s in &seg.members {
            s.sequence.store(7, Ordering::Relaxed);
        }
        let t = Instant::now();
        init_from_config(&seg, &cfg).unwrap();
        // Not a speed check: one dead-writer wait per slot would take over a minute.
        assert!(t.elapsed() < Duration::from_secs(10), "{:?}", t.elapsed());
        validate(&seg, SEGMENT_SIZE).unwrap();
        assert_eq!(seg.member(1).unwrap().name(), "b");
    }

    #[test]
    fn init_lays_out_lbs_and_members() {
        let cfg = config(TWO_LBS);
        let seg = Segment::new_boxed();
        init_from_config(&seg, &cfg).unwrap();
        validate(&seg, SEGMENT_SIZE).unwrap();
        assert_eq!(seg.lb_count(), 2);
        assert_eq!(seg.member_count(), 4);
        assert_eq!(seg.find_lb("lb"), Some(0));
        assert_eq!(seg.find_lb("other"), Some(1));
        assert_eq!(seg.find_lb("nope"), None);
        let lb = seg.lb(0).unwrap();
        assert_eq!(lb.name(), "lb");
        assert_eq!(
            method_from_code(lb.method.load(Ordering::Relaxed)),
            LbMethod::Busyness
        );
        assert_eq!(lb.recover_time_secs.load(Ordering::Relaxed), 60);
        assert_eq!(lb.error_escalation_time_secs.load(Ordering::Relaxed), 30);
        let a = seg.member(0).unwrap();
        let b = seg.member(1).unwrap();
        assert_eq!(
            (a.name(), a.route(), a.redirect()),
            ("a".into(), "a".into(), "b".into())
        );
        assert_eq!((b.route(), b.domain()), ("b.x".into(), "b".into()));
        assert_eq!(b.activation(), Activation::Disabled);
        assert_eq!(a.state(), MemberState::Idle);
        // lbfactors 2 and 1: LCM 2.
        assert_eq!(a.lb_mult.load(Ordering::Relaxed), 1);
        assert_eq!(b.lb_mult.load(Ordering::Relaxed), 2);
        let other = seg.lb(1).unwrap();
        assert_eq!(other.first_member.load(Ordering::Relaxed), 2);
        assert_eq!(seg.member(3).unwrap().name(), "a");
        assert_eq!(seg.member(3).unwrap().lb_index.load(Ordering::Relaxed), 1);
    }

    #[test]
    fn capacity_is_checked() {
        let mut text =
            String::from("worker.list=lb\nworker.lb.type=lb\nworker.lb.balance_workers=");
        let names: Vec<String> = (0..=MAX_MEMBERS).map(|i| format!("m{i}")).collect();
        text.push_str(&names.join(","));
        text.push('\n');
        for (i, n) in names.iter().enumerate() {
            text.push_str(&format!("worker.{n}.port={}\n", i + 1));
        }
        let cfg = config(&text);
        let err = check_capacity(&cfg).unwrap_err();
        assert!(err.contains("at most 64"), "{err}");
        let seg = Segment::new_boxed();
        assert!(init_from_config(&seg, &cfg).is_err());
        assert!(adopt_or_init(&seg, &cfg).is_err());

        let mut text = String::from("worker.list=");
        let lbs: Vec<String> = (0..=MAX_LBS).map(|i| format!("lb{i}")).collect();
        text.push_str(&lbs.join(","));
        text.push_str("\nworker.m.port=1\n");
        for lb in &lbs {
            text.push_str(&format!(
                "worker.{lb}.type=lb\nworker.{lb}.balance_workers=m\n"
            ));
        }
        assert!(
            check_capacity(&config(&text))
                .unwrap_err()
                .contains("at most 16")
        );
    }

    #[test]
    fn mults_are_lcm_over_factor() {
        assert_eq!(compute_mults(&[1, 2, 3]), vec![6, 3, 2]);
        assert_eq!(compute_mults(&[4, 4]), vec![1, 1]);
        assert_eq!(compute_mults(&[0, 2]), vec![2, 1]);
        // Pairwise coprime factors whose LCM overflows: still proportional, never 0.
        let big = [4_294_967_291, 4_294_967_279, 4_294_967_231, 1];
        let mults = compute_mults(&big);
        assert!(mults.iter().all(|&m| m >= 1));
        assert_eq!(mults[3], 1 << 32);
    }

    #[test]
    fn strings_round_trip_and_truncate() {
        let slot = MemberSlot::new();
        write_str(&slot.sequence, &slot.route, "node1.dc-east");
        assert_eq!(slot.route(), "node1.dc-east");
        assert_eq!(slot.sequence() % 2, 0);
        assert_eq!(slot.sequence(), 2);
        assert!(str_eq(&slot.sequence, &slot.route, "node1.dc-east"));
        assert!(!str_eq(&slot.sequence, &slot.route, "node1"));

        let long = "é".repeat(40); // 80 bytes
        write_str(&slot.sequence, &slot.route, &long);
        let read = slot.route();
        assert_eq!(read.len(), 62, "cut on a char boundary");
        assert!(long.starts_with(&read));
        write_str(&slot.sequence, &slot.route, &"x".repeat(63));
        assert_eq!(slot.route().len(), 63);
        write_str(&slot.sequence, &slot.route, "a\0b");
        assert_eq!(slot.route(), "a");
        write_str(&slot.sequence, &slot.route, "");
        assert!(str_is_empty(&slot.sequence, &slot.route));
    }

    #[test]
    fn readers_and_writers_survive_a_dead_writer() {
        let slot = MemberSlot::new();
        write_str(&slot.sequence, &slot.route, "t1");
        // A writer killed between its two stores leaves the sequence odd forever.
        slot.sequence.store(7, Ordering::Relaxed);
        assert_eq!(slot.route(), "t1");
        write_str(&slot.sequence, &slot.route, "t2");
        assert_eq!(slot.sequence() % 2, 0);
        assert_eq!(slot.route(), "t2");
    }

    #[test]
    fn garbage_strings_decode_to_a_valid_prefix() {
        let slot = MemberSlot::new();
        for w in &slot.route.words {
            w.store(u64::MAX, Ordering::Relaxed);
        }
        assert_eq!(slot.route(), "");
        slot.route.words[0].store(
            u64::from_le_bytes(*b"ok\xff\xfe\0\0\0\0"),
            Ordering::Relaxed,
        );
        for w in &slot.route.words[1..] {
            w.store(0, Ordering::Relaxed);
        }
        assert_eq!(slot.route(), "ok");
    }

    #[test]
    fn seqlock_readers_never_see_torn_values() {
        let slot = MemberSlot::new();
        let a = "a".repeat(63);
        let b = "b".repeat(63);
        write_str(&slot.sequence, &slot.route, &a);
        std::thread::scope(|s| {
            s.spawn(|| {
                for i in 0..20_000 {
                    write_str(
                        &slot.sequence,
                        &slot.route,
                        if i % 2 == 0 { &b } else { &a },
                    );
                    // Real writers (status edits) pause; one that never does could starve
                    // readers into their give-up path, which may return a torn value.
                    for _ in 0..32 {
                        std::hint::spin_loop();
                    }
                }
            });
            for _ in 0..20_000 {
                let v = slot.route();
                assert!(v == a || v == b, "torn read {v}");
            }
        });
    }

    #[test]
    fn validate_rejects_corruption() {
        let cfg = config(TWO_LBS);
        let seg = Segment::new_boxed();
        assert!(validate(&seg, SEGMENT_SIZE).unwrap_err().contains("magic"));
        init_from_config(&seg, &cfg).unwrap();
        assert!(validate(&seg, SEGMENT_SIZE).is_ok());
        assert!(
            validate(&seg, SEGMENT_SIZE - 8)
                .unwrap_err()
                .contains("size")
        );

        type Corrupt = fn(&Segment);
        let cases: [(Corrupt, &str); 12] = [
            (
                |s| {
                    s.header
                        .magic
                        .store(u64::from_le_bytes(*b"!JKSHM13"), Ordering::Relaxed)
                },
                "magic",
            ),
            (|s| s.header.version.store(99, Ordering::Relaxed), "version"),
            (|s| s.header.total_size.store(12, Ordering::Relaxed), "size"),
            (
                |s| s.header.member_count.store(1000, Ordering::Relaxed),
                "member count",
            ),
            (
                |s| s.header.member_count.store(3, Ordering::Relaxed),
                "lb 1",
            ),
            (
                |s| s.header.lb_count.store(17, Ordering::Relaxed),
                "lb count",
            ),
            (
                |s| s.lbs[1].member_count.store(u32::MAX, Ordering::Relaxed),
                "lb 1",
            ),
            (
                |s| s.lbs[0].first_member.store(1, Ordering::Relaxed),
                "lb 0",
            ),
            (
                |s| s.members[2].lb_index.store(0, Ordering::Relaxed),
                "member 2",
            ),
            (|s| s.members[0].state.store(42, Ordering::Relaxed), "state"),
            (
                |s| s.members[1].lb_mult.store(0, Ordering::Relaxed),
                "lb_mult",
            ),
            (
                |s| s.members[1].route.words[7].store(u64::MAX, Ordering::Relaxed),
                "NUL",
            ),
        ];
        for (corrupt, expect) in cases {
            init_from_config(&seg, &cfg).unwrap();
            corrupt(&seg);
            let err = validate(&seg, SEGMENT_SIZE).unwrap_err();
            assert!(err.contains(expect), "{err} should mention {expect}");
            // A corrupted segment is rebuilt, not adopted.
            assert_eq!(adopt_or_init(&seg, &cfg).unwrap(), Adoption::Initialised);
            validate(&seg, SEGMENT_SIZE).unwrap();
        }
    }

    #[test]
    fn adopt_keeps_runtime_edits_when_the_worker_set_matches() {
        let cfg = config(TWO_LBS);
        let seg = Segment::new_boxed();
        assert_eq!(adopt_or_init(&seg, &cfg).unwrap(), Adoption::Initialised);
        let a = seg.member(0).unwrap();
        // Admin edits at runtime, plus runtime state.
        a.activation
            .store(activation_code(Activation::Stopped), Ordering::Relaxed);
        a.lbfactor.store(7, Ordering::Relaxed);
        write_str(&a.sequence, &a.route, "edited");
        a.state.store(MemberState::Error.code(), Ordering::Relaxed);
        a.errors.store(5, Ordering::Relaxed);
        seg.lbs[0].sticky_session.store(0, Ordering::Relaxed);
        let b = seg.member(1).unwrap();
        b.busy.store(3, Ordering::Relaxed);
        b.state.store(MemberState::Probe.code(), Ordering::Relaxed);

        assert_eq!(adopt_or_init(&seg, &cfg).unwrap(), Adoption::Adopted);
        assert_eq!(a.activation(), Activation::Stopped);
        assert_eq!(a.lbfactor.load(Ordering::Relaxed), 7);
        assert_eq!(a.route(), "edited");
        assert_eq!(a.state(), MemberState::Error);
        assert_eq!(a.errors.load(Ordering::Relaxed), 5);
        assert_eq!(seg.lbs[0].sticky_session.load(Ordering::Relaxed), 0);
        assert_eq!(b.busy.load(Ordering::Relaxed), 0);
        assert_eq!(b.state(), MemberState::Recover);
        // lb_mult follows the kept lbfactor (7 and 1).
        assert_eq!(a.lb_mult.load(Ordering::Relaxed), 1);
        assert_eq!(seg.member(1).unwrap().lb_mult.load(Ordering::Relaxed), 7);

        // The file changed a's lbfactor: the file wins for that value only.
        let changed = config(&TWO_LBS.replace("worker.a.lbfactor=2", "worker.a.lbfactor=3"));
        assert_eq!(adopt_or_init(&seg, &changed).unwrap(), Adoption::Adopted);
        assert_eq!(a.lbfactor.load(Ordering::Relaxed), 3);
        assert_eq!(a.activation(), Activation::Stopped);
        assert_eq!(a.route(), "edited");
    }

    #[test]
    fn ajp_slots_are_laid_out_validated_and_keep_edits_across_adoption() {
        let cfg = config(TWO_LBS);
        let seg = Segment::new_boxed();
        init_from_config(&seg, &cfg).unwrap();
        assert_eq!(seg.ajp_count(), 3);
        let a = seg.ajp("a").unwrap();
        assert_eq!(a.name(), "a");
        assert!(seg.ajp("lb").is_none() && seg.ajp("nope").is_none());
        assert_eq!(
            (a.settings().host.as_str(), a.settings().port),
            ("localhost", 1)
        );
        assert!(a.stats().last_reset_ms > 0, "statistics start at init");
        let mut edited = a.settings();
        edited.reply_timeout = 1234;
        edited.host = "127.0.0.1".into();
        let (seq, addr) = (a.sequence(), a.addr_sequence());
        a.set_settings(&edited);
        assert!(a.sequence() > seq && a.addr_sequence() == addr + 1);
        a.connections_changed(3);
        a.connections_changed(-5);
        assert_eq!((a.stats().connected, a.stats().max_connected), (0, 3));
        assert_eq!(adopt_or_init(&seg, &cfg).unwrap(), Adoption::Adopted);
        assert_eq!(
            a.settings(),
            edited,
            "runtime edits survive a graceful restart"
        );
        // The file changed a's values: the file wins.
        let changed = config(&TWO_LBS.replace("worker.a.port=1", "worker.a.port=9"));
        assert_eq!(adopt_or_init(&seg, &changed).unwrap(), Adoption::Adopted);
        assert_eq!((a.settings().port, a.settings().reply_timeout), (9, 0));
        // A corrupt ajp slot makes the segment unusable for adoption.
        seg.ajps[1].values[0].store(70_000, Ordering::Relaxed);
        assert!(validate(&seg, SEGMENT_SIZE).unwrap_err().contains("ajp 1"));
        seg.header.ajp_count.store(999, Ordering::Relaxed);
        assert!(
            validate(&seg, SEGMENT_SIZE)
                .unwrap_err()
                .contains("ajp count")
        );
        assert_eq!(seg.ajp_count(), MAX_AJPS);
    }

    #[test]
    fn a_different_worker_set_reinitialises() {
        let cfg = config(TWO_LBS);
        let seg = Segment::new_boxed();
        init_from_config(&seg, &cfg).unwrap();
        let a = seg.member(0).unwrap();
        a.activation
            .store(activation_code(Activation::Stopped), Ordering::Relaxed);
        a.errors.store(5, Ordering::Relaxed);

        let reordered = config(&TWO_LBS.replace("balance_workers=a,b", "balance_workers=b,a"));
        assert_ne!(fingerprint(&cfg), fingerprint(&reordered));
        assert_eq!(
            adopt_or_init(&seg, &reordered).unwrap(),
            Adoption::Initialised
        );
        assert_eq!(seg.member(0).unwrap().name(), "b");
        let a = seg.member(1).unwrap();
        assert_eq!(a.name(), "a");
        assert_eq!(a.activation(), Activation::Active);
        assert_eq!(a.errors.load(Ordering::Relaxed), 0);
        assert!(seg.generation() >= 2);
    }

    #[test]
    fn shm_file_is_private_and_never_followed_through_a_symlink() {
        use std::os::unix::fs::PermissionsExt;
        let dir = std::env::temp_dir().join(format!("rjk-shmfile-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("jk-runtime-status.1");
        let ps = p.to_str().unwrap();
        let f = open_file(ps, 4096).unwrap();
        assert_eq!(f.metadata().unwrap().len(), 4096);
        assert_eq!(
            std::fs::metadata(&p).unwrap().permissions().mode() & 0o777,
            0o600
        );
        // A symlink planted where the file goes is refused, and its target untouched.
        let target = dir.join("victim");
        std::fs::write(&target, b"keep").unwrap();
        let link = dir.join("jk-runtime-status.2");
        std::os::unix::fs::symlink(&target, &link).unwrap();
        let e = open_file(link.to_str().unwrap(), 4096).unwrap_err();
        assert!(e.contains("cannot open"), "{e}");
        assert_eq!(std::fs::read(&target).unwrap(), b"keep");
        // A pre-existing file others can read is refused too.
        let open = dir.join("jk-runtime-status.3");
        std::fs::write(&open, b"").unwrap();
        std::fs::set_permissions(&open, std::fs::Permissions::from_mode(0o644)).unwrap();
        let e = open_file(open.to_str().unwrap(), 4096).unwrap_err();
        assert!(e.contains("mode 0600"), "{e}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
