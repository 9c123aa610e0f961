//! Shared slots of the ajp13 workers: one per worker name, for standalone workers and lb
//! members alike. A slot holds the values the status worker may edit at runtime (host,
//! port, timeouts, ...), which every child applies to its connection pool when the slot's
//! `sequence` moved, and the runtime statistics of the worker when it is used on its own
//! (lb members count their requests in their [`super::MemberSlot`]); the connection count
//! (`connected`) is per worker name in both cases, since the pool is.
//!
//! Like the rest of the segment: atomics only, strings under the slot's seqlock, every
//! value read back bounds-checked by its user.

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};

use super::{
    LATENCY_BOUNDS_MS, LATENCY_BUCKETS, MAX_STR_LEN, ShmStr, check_str, read_str, str_eq, str_hash,
    with_write, write_str_locked,
};
use crate::config::workers::{
    AjpParams, MAX_PACKET_SIZE, MIN_PACKET_SIZE, WorkerKind, WorkersConfig,
};

/// ajp13 workers per segment (standalone and lb members, one slot per name).
pub const MAX_AJPS: usize = 64;
/// Number of editable numeric values (see [`AjpSettings::values`]).
const VALUES: usize = 12;

/// The ajp13 values the status worker edits, with mod_jk's parameter names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AjpSettings {
    pub host: String,
    pub port: u32,
    /// `vacpt`, seconds.
    pub connection_pool_timeout: u32,
    /// `vapng`, ms.
    pub ping_timeout: u32,
    /// `vact`, ms.
    pub connect_timeout: u32,
    /// `vapt`, ms.
    pub prepost_timeout: u32,
    /// `vart`, ms.
    pub reply_timeout: u32,
    /// `var`.
    pub retries: u32,
    /// `vari`, ms.
    pub retry_interval: u32,
    /// `vacpi`, seconds.
    pub connection_ping_interval: u32,
    /// `varo`.
    pub recovery_options: u32,
    /// `vabl`.
    pub busy_limit: u32,
    /// `vamps`.
    pub max_packet_size: u32,
}

impl AjpSettings {
    pub fn from_params(p: &AjpParams) -> AjpSettings {
        AjpSettings {
            host: super::fit_str(&p.host).to_owned(),
            port: u32::from(p.port),
            connection_pool_timeout: p.connection_pool_timeout_secs,
            ping_timeout: p.ping_timeout_ms,
            connect_timeout: p.connect_timeout_ms,
            prepost_timeout: p.prepost_timeout_ms,
            reply_timeout: p.reply_timeout_ms,
            retries: p.retries,
            retry_interval: p.retry_interval_ms,
            connection_ping_interval: p.connection_ping_interval_secs,
            recovery_options: p.recovery_options,
            busy_limit: p.busy_limit,
            max_packet_size: p.max_packet_size,
        }
    }

    /// Writes these values over the configured ones (the effective parameters of a child).
    pub fn apply_to(&self, p: &mut AjpParams) {
        p.host.clone_from(&self.host);
        p.port = u16::try_from(self.port).unwrap_or(p.port);
        p.connection_pool_timeout_secs = self.connection_pool_timeout;
        p.ping_timeout_ms = self.ping_timeout;
        p.connect_timeout_ms = self.connect_timeout;
        p.prepost_timeout_ms = self.prepost_timeout;
        p.reply_timeout_ms = self.reply_timeout;
        p.retries = self.retries.max(1);
        p.retry_interval_ms = self.retry_interval;
        p.connection_ping_interval_secs = self.connection_ping_interval;
        p.recovery_options = self.recovery_options;
        p.busy_limit = self.busy_limit;
        p.max_packet_size = self.max_packet_size;
    }

    fn values(&self) -> [u32; VALUES] {
        [
            self.port,
            self.connection_pool_timeout,
            self.ping_timeout,
            self.connect_timeout,
            self.prepost_timeout,
            self.reply_timeout,
            self.retries,
            self.retry_interval,
            self.connection_ping_interval,
            self.recovery_options,
            self.busy_limit,
            self.max_packet_size,
        ]
    }

    fn from_values(host: String, v: [u32; VALUES]) -> AjpSettings {
        let [
            port,
            connection_pool_timeout,
            ping_timeout,
            connect_timeout,
            prepost_timeout,
            reply_timeout,
            retries,
            retry_interval,
            connection_ping_interval,
            recovery_options,
            busy_limit,
            max_packet_size,
        ] = v;
        AjpSettings {
            host,
            port: port.min(u32::from(u16::MAX)),
            connection_pool_timeout,
            ping_timeout,
            connect_timeout,
            prepost_timeout,
            reply_timeout,
            retries: retries.max(1),
            retry_interval,
            connection_ping_interval,
            recovery_options,
            busy_limit,
            max_packet_size: max_packet_size.clamp(MIN_PACKET_SIZE, MAX_PACKET_SIZE),
        }
    }

    /// Hash of all values, to tell a file edit from a runtime edit across restarts.
    fn hash(&self) -> u64 {
        let mut h = str_hash(&self.host);
        for v in self.values() {
            h = super::fnv1a(h, &v.to_le_bytes());
        }
        h
    }
}

/// How a request on a standalone worker ended, for its counters (mod_jk's meaning).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AjpResult {
    Ok,
    /// The client went away or sent a bad body: `client_errors`.
    ClientError,
    /// The backend failed: `errors`, and `reply_timeouts` too when it was a reply timeout.
    Error {
        reply_timeout: bool,
    },
}

/// The statistics of a slot at one moment.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AjpStats {
    pub used: u64,
    pub errors: u64,
    pub client_errors: u64,
    pub reply_timeouts: u64,
    /// Bytes sent to the backend (AJP packets of requests and bodies).
    pub transferred: u64,
    /// Bytes read from the backend (AJP packets of responses).
    pub read: u64,
    pub busy: u64,
    pub max_busy: u64,
    /// Backend connections open now in all children, and the peak since the last reset.
    pub connected: u64,
    pub max_connected: u64,
    pub last_reset_ms: u64,
    /// No-reuse mode (stray reply) until then, ms since the epoch.
    pub no_reuse_until_ms: u64,
}

/// One ajp13 worker.
#[repr(C)]
pub struct AjpSlot {
    /// Seqlock of the strings and change counter of the editable values (+2 per edit).
    pub(crate) sequence: AtomicU32,
    /// Incremented when host or port changed: children drop their idle connections.
    pub(crate) addr_sequence: AtomicU32,
    pub(crate) values: [AtomicU32; VALUES],
    /// [`AjpSettings::hash`] of the configured values.
    pub(crate) configured: AtomicU64,
    pub(crate) used: AtomicU64,
    pub(crate) errors: AtomicU64,
    pub(crate) client_errors: AtomicU64,
    pub(crate) reply_timeouts: AtomicU64,
    pub(crate) transferred: AtomicU64,
    pub(crate) read: AtomicU64,
    pub(crate) busy: AtomicU64,
    pub(crate) max_busy: AtomicU64,
    pub(crate) connected: AtomicU64,
    pub(crate) max_connected: AtomicU64,
    pub(crate) last_reset_ms: AtomicU64,
    pub(crate) latency: [AtomicU64; LATENCY_BUCKETS],
    pub(crate) latency_sum_ms: AtomicU64,
    /// No-reuse mode until then (ms since the epoch): the backend wrote outside an
    /// exchange, so every child opens a fresh connection per request.
    pub(crate) no_reuse_until_ms: AtomicU64,
    pub(crate) name: ShmStr,
    pub(crate) host: ShmStr,
}

fn add(a: &AtomicU64, v: u64) {
    let _ = a.fetch_update(Ordering::AcqRel, Ordering::Acquire, |x| {
        Some(x.saturating_add(v))
    });
}

fn sub1(a: &AtomicU64) -> u64 {
    match a.fetch_update(Ordering::AcqRel, Ordering::Acquire, |x| {
        Some(x.saturating_sub(1))
    }) {
        Ok(x) | Err(x) => x.saturating_sub(1),
    }
}

/// Adds one observation to a latency histogram.
pub(crate) fn observe(buckets: &[AtomicU64; LATENCY_BUCKETS], sum: &AtomicU64, ms: u64) {
    let bucket = LATENCY_BOUNDS_MS
        .iter()
        .position(|&b| ms <= b)
        .unwrap_or(LATENCY_BUCKETS - 1);
    buckets[bucket].fetch_add(1, Ordering::Relaxed);
    sum.fetch_add(ms, Ordering::Relaxed);
}

/// Cumulative `(upper bound in seconds, count)` pairs ending with +Inf, and the sum in
/// seconds (Prometheus histogram shape).
pub(crate) fn histogram(
    buckets: &[AtomicU64; LATENCY_BUCKETS],
    sum: &AtomicU64,
) -> (Vec<(f64, u64)>, f64) {
    let mut acc = 0u64;
    let mut out = Vec::with_capacity(LATENCY_BUCKETS);
    for (i, count) in buckets.iter().enumerate() {
        acc = acc.saturating_add(count.load(Ordering::Relaxed));
        let bound = LATENCY_BOUNDS_MS
            .get(i)
            .map_or(f64::INFINITY, |&b| b as f64 / 1000.0);
        out.push((bound, acc));
    }
    (out, sum.load(Ordering::Relaxed) as f64 / 1000.0)
}

impl AjpSlot {
    pub(crate) const fn new() -> AjpSlot {
        AjpSlot {
            sequence: AtomicU32::new(0),
            addr_sequence: AtomicU32::new(0),
            values: [const { AtomicU32::new(0) }; VALUES],
            configured: AtomicU64::new(0),
            used: AtomicU64::new(0),
            errors: AtomicU64::new(0),
            client_errors: AtomicU64::new(0),
            reply_timeouts: AtomicU64::new(0),
            transferred: AtomicU64::new(0),
            read: AtomicU64::new(0),
            busy: AtomicU64::new(0),
            max_busy: AtomicU64::new(0),
            connected: AtomicU64::new(0),
            max_connected: AtomicU64::new(0),
            last_reset_ms: AtomicU64::new(0),
            latency: [const { AtomicU64::new(0) }; LATENCY_BUCKETS],
            latency_sum_ms: AtomicU64::new(0),
            no_reuse_until_ms: AtomicU64::new(0),
            name: ShmStr::new(),
            host: ShmStr::new(),
        }
    }

    /// Changes with every edit: a child re-applies the settings when it moved.
    pub fn sequence(&self) -> u32 {
        self.sequence.load(Ordering::Acquire)
    }

    pub fn addr_sequence(&self) -> u32 {
        self.addr_sequence.load(Ordering::Acquire)
    }

    pub fn name(&self) -> String {
        read_str(&self.sequence, &self.name)
    }

    pub(crate) fn is(&self, name: &str) -> bool {
        str_eq(&self.sequence, &self.name, name)
    }

    /// The current values: one consistent set (host and numbers under the seqlock).
    pub fn settings(&self) -> AjpSettings {
        loop {
            let s1 = self.sequence();
            let host = read_str(&self.sequence, &self.host);
            let values = std::array::from_fn(|i| self.values[i].load(Ordering::Acquire));
            if s1 & 1 == 0 && self.sequence() == s1 {
                return AjpSettings::from_values(host, values);
            }
            std::thread::yield_now();
            // A writer that died is repaired by the string read above after a second;
            // until then keep retrying, as edits are rare and short.
        }
    }

    /// Stores new values; host or port changes also move `addr_sequence`.
    pub fn set_settings(&self, s: &AjpSettings) {
        let old = self.settings();
        let host = super::fit_str(&s.host);
        with_write(&self.sequence, || {
            write_str_locked(&self.host, host);
            for (slot, v) in self.values.iter().zip(s.values()) {
                slot.store(v, Ordering::Release);
            }
        });
        if old.host != host || old.port != s.port {
            self.addr_sequence.fetch_add(1, Ordering::AcqRel);
        }
    }

    fn init(&self, name: &str, p: &AjpParams, now_ms: u64) {
        self.clear();
        let s = AjpSettings::from_params(p);
        with_write(&self.sequence, || {
            write_str_locked(&self.name, name);
            write_str_locked(&self.host, &s.host);
            for (slot, v) in self.values.iter().zip(s.values()) {
                slot.store(v, Ordering::Relaxed);
            }
        });
        self.configured.store(s.hash(), Ordering::Release);
        self.last_reset_ms.store(now_ms, Ordering::Release);
    }

    /// Graceful restart: values edited at runtime stay unless the file changed them.
    fn adopt(&self, p: &AjpParams) {
        let s = AjpSettings::from_params(p);
        if self.configured.load(Ordering::Acquire) != s.hash() {
            self.set_settings(&s);
            self.configured.store(s.hash(), Ordering::Release);
        }
        // The processes that held these may be gone.
        self.busy.store(0, Ordering::Release);
        self.connected.store(0, Ordering::Release);
    }

    pub(crate) fn clear(&self) {
        for a in &self.values {
            a.store(0, Ordering::Relaxed);
        }
        self.addr_sequence.store(0, Ordering::Relaxed);
        for a in [
            &self.configured,
            &self.used,
            &self.errors,
            &self.client_errors,
            &self.reply_timeouts,
            &self.transferred,
            &self.read,
            &self.busy,
            &self.max_busy,
            &self.connected,
            &self.max_connected,
            &self.last_reset_ms,
            &self.latency_sum_ms,
            &self.no_reuse_until_ms,
        ]
        .into_iter()
        .chain(&self.latency)
        {
            a.store(0, Ordering::Relaxed);
        }
        with_write(&self.sequence, || {
            write_str_locked(&self.name, "");
            write_str_locked(&self.host, "");
        });
    }

    // -----------------------------------------------------------------------------------
    // Counters
    // -----------------------------------------------------------------------------------

    /// A request is about to go to this (standalone) worker; returns the requests now in
    /// flight, this one included (for `busy_limit`).
    pub fn on_start(&self) -> u64 {
        add(&self.used, 1);
        let busy = self.busy.fetch_add(1, Ordering::AcqRel).saturating_add(1);
        self.max_busy.fetch_max(busy, Ordering::AcqRel);
        busy
    }

    /// The request ended: `read`/`transferred` are the bytes read from and written to the
    /// backend, `elapsed_ms` the time from sending to END_RESPONSE (successes only).
    pub fn on_end(&self, result: AjpResult, read: u64, transferred: u64, elapsed_ms: Option<u64>) {
        sub1(&self.busy);
        add(&self.read, read);
        add(&self.transferred, transferred);
        match result {
            AjpResult::Ok => {
                if let Some(ms) = elapsed_ms {
                    observe(&self.latency, &self.latency_sum_ms, ms);
                }
            }
            // mod_jk counts a client error twice (where it is found, and again with the
            // request's statistics); monitoring that compares the two sees the same.
            AjpResult::ClientError => add(&self.client_errors, 2),
            AjpResult::Error { reply_timeout } => {
                add(&self.errors, 1);
                if reply_timeout {
                    add(&self.reply_timeouts, 1);
                }
            }
        }
    }

    /// Connections opened (positive) or closed (negative) by one child since its last call.
    pub fn connections_changed(&self, delta: i64) {
        if delta >= 0 {
            let now = self
                .connected
                .fetch_add(delta.unsigned_abs(), Ordering::AcqRel)
                .saturating_add(delta.unsigned_abs());
            self.max_connected.fetch_max(now, Ordering::AcqRel);
        } else {
            let d = delta.unsigned_abs();
            let _ = self
                .connected
                .fetch_update(Ordering::AcqRel, Ordering::Acquire, |x| {
                    Some(x.saturating_sub(d))
                });
        }
    }

    /// Status worker `reset`: statistics and peaks back to zero (in-flight and open counts
    /// stay).
    pub fn reset(&self, now_ms: u64) {
        for a in [
            &self.used,
            &self.errors,
            &self.client_errors,
            &self.reply_timeouts,
            &self.transferred,
            &self.read,
            &self.latency_sum_ms,
        ]
        .into_iter()
        .chain(&self.latency)
        {
            a.store(0, Ordering::Release);
        }
        // As mod_jk: the peaks restart at zero, whatever is open or in flight.
        self.max_busy.store(0, Ordering::Release);
        self.max_connected.store(0, Ordering::Release);
        self.last_reset_ms.store(now_ms, Ordering::Release);
    }

    /// Until when (ms since the epoch) connections are not reused; 0 or past: reuse.
    pub fn no_reuse_until(&self) -> u64 {
        self.no_reuse_until_ms.load(Ordering::Acquire)
    }

    /// Enters no-reuse mode until `until_ms` unless it is on already; true for the one
    /// caller (of all children) that turned it on, which logs it.
    pub fn start_no_reuse(&self, now_ms: u64, until_ms: u64) -> bool {
        let cur = self.no_reuse_until_ms.load(Ordering::Acquire);
        cur <= now_ms
            && self
                .no_reuse_until_ms
                .compare_exchange(cur, until_ms, Ordering::AcqRel, Ordering::Acquire)
                .is_ok()
    }

    /// Status worker `recover` of a standalone worker: the reply timeout count restarts.
    pub fn recover(&self) {
        self.reply_timeouts.store(0, Ordering::Release);
        // The admin vouches for the backend again: connections may be reused.
        self.no_reuse_until_ms.store(0, Ordering::Release);
    }

    pub fn stats(&self) -> AjpStats {
        let get = |a: &AtomicU64| a.load(Ordering::Acquire);
        AjpStats {
            used: get(&self.used),
            errors: get(&self.errors),
            client_errors: get(&self.client_errors),
            reply_timeouts: get(&self.reply_timeouts),
            transferred: get(&self.transferred),
            read: get(&self.read),
            busy: get(&self.busy),
            max_busy: get(&self.max_busy),
            connected: get(&self.connected),
            max_connected: get(&self.max_connected),
            no_reuse_until_ms: get(&self.no_reuse_until_ms),
            last_reset_ms: get(&self.last_reset_ms),
        }
    }

    pub fn latency(&self) -> (Vec<(f64, u64)>, f64) {
        histogram(&self.latency, &self.latency_sum_ms)
    }

    pub(crate) fn validate(&self) -> Result<(), String> {
        check_str(&self.sequence, &self.name, false).map_err(|e| format!("name: {e}"))?;
        check_str(&self.sequence, &self.host, true).map_err(|e| format!("host: {e}"))?;
        let port = self.values[0].load(Ordering::Acquire);
        if port > u32::from(u16::MAX) {
            return Err(format!("port {port}"));
        }
        Ok(())
    }
}

impl Default for AjpSlot {
    fn default() -> Self {
        AjpSlot::new()
    }
}

/// The ajp13 workers of a configuration in slot order (by name).
pub(crate) fn ajps(config: &WorkersConfig) -> impl Iterator<Item = (&str, &AjpParams)> {
    config.workers.values().filter_map(|def| match &def.kind {
        WorkerKind::Ajp13(p) => Some((def.name.as_str(), p)),
        _ => None,
    })
}

pub(crate) fn check_capacity(config: &WorkersConfig) -> Result<(), String> {
    let n = ajps(config).count();
    if n > MAX_AJPS {
        return Err(format!(
            "{n} ajp13 workers are configured; mod_rjk supports at most {MAX_AJPS}"
        ));
    }
    for (name, p) in ajps(config) {
        if name.len() > MAX_STR_LEN || name.contains('\0') {
            return Err(format!(
                "worker name '{name}' is longer than {MAX_STR_LEN} bytes or contains NUL"
            ));
        }
        if p.host.len() > MAX_STR_LEN {
            return Err(format!(
                "worker {name}: host '{}' is longer than {MAX_STR_LEN} bytes",
                p.host
            ));
        }
    }
    Ok(())
}

pub(crate) fn fingerprint(mut h: u64, config: &WorkersConfig) -> u64 {
    h = super::fnv1a(h, &(MAX_AJPS as u64).to_le_bytes());
    for (name, _) in ajps(config) {
        h = super::fnv1a(h, name.as_bytes());
        h = super::fnv1a(h, &[0xfd]);
    }
    h
}

/// Fills the ajp slots (after `clear`); returns how many are used.
pub(crate) fn init(slots: &[AjpSlot], config: &WorkersConfig, now_ms: u64) -> usize {
    let mut n = 0;
    for ((name, p), slot) in ajps(config).zip(slots) {
        slot.init(name, p, now_ms);
        n += 1;
    }
    n
}

pub(crate) fn adopt(slots: &[AjpSlot], config: &WorkersConfig) {
    for ((_, p), slot) in ajps(config).zip(slots) {
        slot.adopt(p);
    }
}
