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

//!
//! Files: `layout` (the slots), `seqlock` (their strings), `init` (building, adopting and
//! validating a segment from the configuration), `file` (the file behind the mapping),
//! `ajp` (the slots of ajp13 workers).

use crate::config::enums::coded_enum;
use crate::config::workers::{Activation, LbMethod};

pub mod ajp;
// Active health checks (src/health): their shared state.
mod file;
pub mod health;
mod init;
mod layout;
mod seqlock;

pub use ajp::{AjpResult, AjpSettings, AjpSlot, AjpStats, MAX_AJPS};
pub use file::{MIN_REQUESTED_SIZE, SIZE_ALIGN, file_size, open_file};
pub(crate) use init::update_mults;
pub use init::{
    Adoption, adopt_or_init, adoptable, check_capacity, compute_mults, fingerprint,
    init_from_config, required_size, validate,
};
use init::{check_str, fnv1a, str_hash};
pub use layout::{Header, LbConfigured, LbSlot, MemberConfigured, MemberSlot, Segment};
use seqlock::write_str_locked;
pub use seqlock::{ShmStr, fit_str, read_str, str_eq, str_is_empty, with_write, write_str};

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

// The skin maps raw bytes as a `Segment`: whole words, 8-byte alignment, and small enough
// to map a fresh one per generation without a second thought.
const _: () = assert!(SEGMENT_SIZE % 8 == 0 && SEGMENT_ALIGN == 8 && SEGMENT_SIZE < 256 * 1024);

coded_enum! {
    /// Runtime state of an lb member, with mod_jk's codes and texts. Unknown codes
    /// (corruption) read as `Error`: never used for requests, and maintenance moves it on
    /// to `Recover` after recover_time.
    pub enum MemberState (unknown codes read as Error) {
        /// No request since the last global maintenance; also the initial state.
        Idle = 0, "OK/IDLE";
        Ok = 1, "OK";
        /// `recover_time` passed; the next suitable request probes the member.
        Recover = 2, "ERR/REC";
        /// Forced recovery: every member was in error, so all are tried again.
        Force = 3, "ERR/FRC";
        /// No free connection in time; not used for new requests until it clears.
        Busy = 4, "OK/BUSY";
        Error = 5, "ERR";
        /// A request is probing a recovering member right now.
        Probe = 6, "ERR/PRB";
    }
}

/// [`Activation::code`].
pub fn activation_code(a: Activation) -> u32 {
    a.code()
}

/// [`Activation::from_code`]: unknown codes read as Active, mod_jk's default activation.
pub fn activation_from_code(code: u32) -> Activation {
    Activation::from_code(code)
}

/// [`LbMethod::code`].
pub fn method_code(m: LbMethod) -> u32 {
    m.code()
}

/// [`LbMethod::from_code`]: unknown codes read as Request, mod_jk's default method.
pub fn method_from_code(code: u32) -> LbMethod {
    LbMethod::from_code(code)
}

#[cfg(test)]
pub(crate) mod tests;
