//! Building the segment from the configuration, adopting a segment left by the previous
//! generation, and validating one before it is trusted.

use std::sync::atomic::{AtomicU32, Ordering};

use super::seqlock::{ShmStr, fit_str, read_raw, with_write, write_str_locked};
use super::{
    Activation, LAYOUT_VERSION, LbMethod, LbSlot, MAGIC, MAX_AJPS, MAX_LBS, MAX_MEMBERS,
    MAX_STR_LEN, MemberSlot, MemberState, SEGMENT_SIZE, Segment, ajp,
};
use crate::config::workers::{LbParams, WorkerKind, WorkersConfig};

/// What [`adopt_or_init`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Adoption {
    /// The segment held the same worker set: runtime state and admin edits were kept.
    Adopted,
    /// The segment was (re)built from the configuration.
    Initialised,
}

/// The segment has a fixed size; the configuration only has to fit [`check_capacity`].
pub fn required_size(_config: &WorkersConfig) -> usize {
    SEGMENT_SIZE
}

/// The lbs of a configuration in segment order (by name, as the worker map is ordered).
pub(super) fn lbs(config: &WorkersConfig) -> impl Iterator<Item = (&str, &LbParams)> {
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
pub(super) fn wall_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// 64-bit FNV-1a: stable across builds and processes, unlike `std`'s hasher.
pub(super) fn fnv1a(hash: u64, bytes: &[u8]) -> u64 {
    bytes.iter().fold(hash, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

pub(super) const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;

pub(super) fn str_hash(value: &str) -> u64 {
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

pub(super) fn store_lb_settings(slot: &LbSlot, p: &LbParams) {
    let values = lb_setting_values(p);
    let runtime = lb_runtime_fields(slot);
    let configured = lb_configured_fields(slot);
    for ((value, rt), cf) in values.into_iter().zip(runtime).zip(configured) {
        rt.store(value, Ordering::Relaxed);
        cf.store(value, Ordering::Relaxed);
    }
}

pub(super) fn lb_setting_values(p: &LbParams) -> [u32; 9] {
    [
        p.method.code(),
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

pub(super) fn lb_runtime_fields(s: &LbSlot) -> [&AtomicU32; 9] {
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

pub(super) fn lb_configured_fields(s: &LbSlot) -> [&AtomicU32; 9] {
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
            m.activation.store(activation.code(), Ordering::Relaxed);
            m.lbfactor.store(lbfactor, Ordering::Relaxed);
            m.distance.store(distance, Ordering::Relaxed);
            let c = &m.configured;
            c.activation.store(activation.code(), Ordering::Relaxed);
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
        let busyness = LbMethod::from_code(method) == LbMethod::Busyness;
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

pub(super) fn adopt_member(m: &MemberSlot, p: &crate::config::workers::AjpParams) {
    let c = &m.configured;
    with_write(&m.sequence, || {
        let activation = p.activation.code();
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

pub(super) fn validate_member(m: &MemberSlot, lb: usize) -> Result<(), String> {
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

pub(super) fn check_str(seq: &AtomicU32, field: &ShmStr, may_be_empty: bool) -> Result<(), String> {
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
