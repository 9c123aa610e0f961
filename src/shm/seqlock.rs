//! Strings in the segment, each guarded by the `sequence` seqlock of its slot: a reader
//! in another process never sees a half-written value, and a writer that died between
//! its two stores (a killed child) is detected and repaired.

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering, fence};
use std::time::{Duration, Instant};

use super::MAX_STR_LEN;

pub(super) const STR_WORDS: usize = (MAX_STR_LEN + 1) / 8;

/// How long a seqlock user waits on an odd, unchanging sequence before concluding that the
/// writer died between its two stores (a killed child) and repairing the slot. Rounds can
/// not tell a dead writer from a descheduled one, time can; a writer descheduled longer
/// than this may let one reader see a torn (still bounded, decodable) string.
pub(super) const DEAD_WRITER_AFTER: Duration = Duration::from_secs(1);
/// Readers stop waiting for a consistent read after this long (only writers that never
/// pause could cause it) and take the value as it is.
pub(super) const READ_GIVE_UP_AFTER: Duration = Duration::from_secs(2);
/// Rounds between clock reads and yields while waiting.
pub(super) const ROUNDS_PER_CHECK: u32 = 64;

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
pub(super) fn decode(buf: &[u8; MAX_STR_LEN + 1]) -> &str {
    let bytes = &buf[..MAX_STR_LEN];
    let len = bytes.iter().position(|&b| b == 0).unwrap_or(MAX_STR_LEN);
    match std::str::from_utf8(&bytes[..len]) {
        Ok(s) => s,
        Err(e) => std::str::from_utf8(&bytes[..e.valid_up_to()]).unwrap_or(""),
    }
}

pub(super) fn encode(value: &str) -> [u8; MAX_STR_LEN + 1] {
    let value = fit_str(value);
    let mut buf = [0u8; MAX_STR_LEN + 1];
    buf[..value.len()].copy_from_slice(value.as_bytes());
    buf
}

/// Waiting on a seqlock: spins, yields, and repairs the slot when its writer is gone.
pub(super) struct Waiter {
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
pub(super) fn lock_write(seq: &AtomicU32) -> u32 {
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

pub(super) fn unlock_write(seq: &AtomicU32, held: u32) {
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
pub(super) fn write_str_locked(field: &ShmStr, value: &str) {
    field.store_raw(&encode(value));
}

pub(super) fn read_raw(seq: &AtomicU32, field: &ShmStr) -> [u8; MAX_STR_LEN + 1] {
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
