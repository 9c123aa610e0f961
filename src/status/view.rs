//! The view model every format renders: lbs with their members, standalone ajp13 workers,
//! map rows, ratings; times in UTC; the scrubbed `dump` entries.

use super::params::{Cmd, Done, manager_url};
use super::{MapRow, OPT_READ_ONLY, StatusContext};
use crate::config::workers::{
    Activation, AjpParams, LbParams, StatusParams, WorkerKind, WorkersConfig,
};
use crate::lb::{Balancer, LbSettings, MemberSnapshot, MemberState};
use crate::shm::AjpStats;

/// Member rating for the lb summary (status worker keys `good` and `bad`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Rating {
    Good,
    Degraded,
    Bad,
}

impl Rating {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Rating::Good => "good",
            Rating::Degraded => "degraded",
            Rating::Bad => "bad",
        }
    }
}

/// A set of (activation, state class) pairs: bit `activation * 5 + class` with
/// activations A, D, S and classes ok, idle, busy, recovering (REC, FRC, PRB), error.
pub(super) fn rating_letter(c: char) -> u16 {
    const ALL_ACT: u16 = 0b00001_00001_00001;
    match c.to_ascii_lowercase() {
        'a' => 0b11111,
        'd' => 0b11111 << 5,
        's' => 0b11111 << 10,
        'o' => ALL_ACT,
        'i' | 'n' => ALL_ACT << 1,
        'b' => ALL_ACT << 2,
        'r' => ALL_ACT << 3,
        'e' => ALL_ACT << 4,
        _ => 0,
    }
}

/// One rule such as `a.o` (AND of its letters); unknown letters match nothing.
pub(super) fn rating_rule(rule: &str) -> u16 {
    let mut mask = None;
    for part in rule.split('.').map(str::trim).filter(|p| !p.is_empty()) {
        let m = part.chars().next().map_or(0, rating_letter);
        mask = Some(mask.unwrap_or(u16::MAX) & m);
    }
    mask.unwrap_or(0)
}

pub(super) fn rating_mask(rules: &[String]) -> u16 {
    rules.iter().fold(0, |acc, r| acc | rating_rule(r))
}

pub(super) fn member_bit(activation: Activation, state: MemberState) -> u16 {
    let a = match activation {
        Activation::Active => 0,
        Activation::Disabled => 1,
        Activation::Stopped => 2,
    };
    let class = match state {
        MemberState::Ok => 0,
        MemberState::Idle => 1,
        MemberState::Busy => 2,
        MemberState::Recover | MemberState::Force | MemberState::Probe => 3,
        MemberState::Error => 4,
    };
    1 << (a * 5 + class)
}

pub(crate) fn rate(params: &StatusParams, activation: Activation, state: MemberState) -> Rating {
    let bit = member_bit(activation, state);
    if rating_mask(&params.bad) & bit != 0 {
        Rating::Bad
    } else if rating_mask(&params.good) & bit != 0 {
        Rating::Good
    } else {
        Rating::Degraded
    }
}

pub(crate) struct MemberView {
    pub snap: MemberSnapshot,
    /// The member's ajp13 values in force (runtime edits applied).
    pub ajp: Option<AjpParams>,
    /// Backend connections open now (all children) and their peak.
    pub connected: u64,
    pub max_connected: u64,
    /// The member's no-reuse mode (stray reply) ends then (ms since the epoch).
    pub no_reuse_until_ms: u64,
    pub rating: Rating,
    pub recover_min: u64,
    pub recover_max: u64,
}

impl MemberView {
    /// Takes new requests by the shared state.
    pub(crate) fn up(&self) -> bool {
        self.snap.activation == Activation::Active
            && matches!(
                self.snap.state,
                MemberState::Idle | MemberState::Ok | MemberState::Recover | MemberState::Force
            )
    }

    pub(crate) fn error_secs(&self) -> Option<u64> {
        (self.snap.last_error_ms > 0
            && matches!(
                self.snap.state,
                MemberState::Error | MemberState::Recover | MemberState::Force | MemberState::Probe
            ))
        .then_some(self.snap.last_error_ms / 1000)
    }
}

pub(crate) struct LbView<'a> {
    pub name: &'a str,
    pub params: &'a LbParams,
    pub settings: LbSettings,
    /// False when the lb has no slot in the segment (values from the configuration).
    pub runtime: bool,
    pub busy: u64,
    pub max_busy: u64,
    pub last_reset_ms: u64,
    pub members: Vec<MemberView>,
    pub good: usize,
    pub degraded: usize,
    pub bad: usize,
    pub map_count: usize,
    pub maintain_min: u64,
    pub maintain_max: u64,
}

impl LbView<'_> {
    pub(crate) fn overall(&self) -> Rating {
        if self.members.is_empty() || self.bad == self.members.len() {
            Rating::Bad
        } else if self.bad > 0 || self.degraded > 0 {
            Rating::Degraded
        } else {
            Rating::Good
        }
    }

    pub(crate) fn member(&self, name: &str) -> Option<&MemberView> {
        self.members.iter().find(|m| m.snap.name == name)
    }
}

pub(crate) struct AjpView<'a> {
    pub name: &'a str,
    /// The values in force (runtime edits applied).
    pub params: AjpParams,
    /// Runtime statistics; `None` without shared memory.
    pub stats: Option<AjpStats>,
    pub map_count: usize,
}

/// The configured ajp13 values of `name` with the runtime edits of the shared slot.
pub(super) fn effective_ajp(ctx: &StatusContext, name: &str) -> Option<AjpParams> {
    let mut p = ctx.workers.get(name).and_then(|d| d.ajp())?.clone();
    if let Some(slot) = ctx.segment.and_then(|seg| seg.ajp(name)) {
        slot.settings().apply_to(&mut p);
    }
    Some(p)
}

/// A map row with its server and running number (1-based, as mod_jk's `id`).
pub(crate) struct MapRef<'a> {
    pub id: usize,
    pub server: &'a str,
    pub row: &'a MapRow,
}

/// What the renderers need: the request's view settings and the data.
pub(crate) struct Page<'a> {
    pub ctx: &'a StatusContext<'a>,
    pub path: &'a str,
    pub cmd: Cmd,
    /// The worker of `show`.
    pub show: Option<&'a str>,
    pub opt: u32,
    pub refresh: u32,
    /// Config `read_only` or the view's `opt` 0x20.
    pub read_only: bool,
    pub notice: Option<Done>,
    pub server_name: String,
    pub server_port: u16,
    pub now_secs: u64,
    pub lbs: Vec<LbView<'a>>,
    pub ajps: Vec<AjpView<'a>>,
}

impl<'a> Page<'a> {
    pub(crate) fn hidden(&self, bit: u32) -> bool {
        self.opt & bit != 0
    }

    pub(crate) fn version(&self) -> String {
        format!("mod_rjk/{}", crate::VERSION)
    }

    /// Map rows for `worker` (or every row with `None`), numbered across all servers.
    pub(crate) fn maps(&self, worker: Option<&str>) -> Vec<MapRef<'a>> {
        let mut rows = Vec::new();
        let mut id = 0;
        for (server, map) in self.ctx.maps {
            for row in map {
                if worker.is_none_or(|w| row.worker == w || row.worker == "*") {
                    id += 1;
                    rows.push(MapRef {
                        id,
                        server: server.as_str(),
                        row,
                    });
                }
            }
        }
        rows
    }

    /// The manager URL with the view settings (`opt`, `re`) kept.
    pub(crate) fn url(&self, pairs: &[(&str, &str)]) -> String {
        let opt = format!("{}", self.opt);
        let re = format!("{}", self.refresh);
        let mut all: Vec<(&str, &str)> = pairs.to_vec();
        if self.opt != 0 && !pairs.iter().any(|(k, _)| *k == "opt") {
            all.push(("opt", &opt));
        }
        if self.refresh != 0 && !pairs.iter().any(|(k, _)| *k == "re") {
            all.push(("re", &re));
        }
        manager_url(self.path, &all)
    }

    pub(super) fn build(
        ctx: &'a StatusContext<'a>,
        path: &'a str,
        cmd: Cmd,
        show: Option<&'a str>,
        opt: u32,
        refresh: u32,
    ) -> Page<'a> {
        let (server_name, server_port) = split_server(ctx.server);
        let mut page = Page {
            ctx,
            path,
            cmd,
            show,
            opt,
            refresh,
            read_only: ctx.params.read_only || opt & OPT_READ_ONLY != 0,
            notice: None,
            server_name,
            server_port,
            now_secs: ctx.now_ms / 1000,
            lbs: Vec::new(),
            ajps: Vec::new(),
        };
        if cmd == Cmd::Version {
            return page;
        }
        let names: Vec<&'a str> = match show {
            Some(w) => vec![w],
            None => ctx.workers.list.iter().map(String::as_str).collect(),
        };
        for name in names {
            let Some(def) = ctx.workers.get(name) else {
                continue;
            };
            match &def.kind {
                WorkerKind::Lb(params) => {
                    let lb = lb_view(ctx, &page, name, params);
                    page.lbs.push(lb);
                }
                WorkerKind::Ajp13(params) => {
                    let map_count = page.maps(Some(name)).len();
                    let slot = ctx.segment.and_then(|seg| seg.ajp(name));
                    page.ajps.push(AjpView {
                        name,
                        params: effective_ajp(ctx, name).unwrap_or_else(|| params.clone()),
                        stats: slot.map(|s| s.stats()),
                        map_count,
                    });
                }
                WorkerKind::Status(_) => {}
            }
        }
        page
    }
}

/// `host:port` → (host, port); IPv6 literals keep their brackets.
pub(super) fn split_server(server: &str) -> (String, u16) {
    match server.rsplit_once(':') {
        Some((host, port)) if !host.is_empty() && !port.contains(']') => {
            (host.to_owned(), port.parse().unwrap_or(0))
        }
        _ => (server.to_owned(), 0),
    }
}

fn lb_view<'a>(
    ctx: &'a StatusContext<'a>,
    page: &Page<'a>,
    name: &'a str,
    params: &'a LbParams,
) -> LbView<'a> {
    let interval_secs = u64::try_from(ctx.workers.maintain_secs.max(0)).unwrap_or(0);
    let balancer = ctx.segment.and_then(|seg| Balancer::find(seg, name));
    let (snaps, state) = match &balancer {
        Some(b) => {
            let s = b.snapshot();
            let state = LbState {
                settings: s.settings,
                busy: s.busy,
                max_busy: s.max_busy,
                last_reset_ms: s.last_reset_ms,
                last_maintain_ms: s.last_maintain_ms,
            };
            (b.members().collect::<Vec<_>>(), state)
        }
        None => config_lb(ctx.workers, params),
    };
    let (maintain_min, maintain_max) = if interval_secs == 0 {
        (0, 0)
    } else {
        let next_ms = state
            .last_maintain_ms
            .saturating_add(interval_secs.saturating_mul(1000));
        let min = next_ms.saturating_sub(ctx.now_ms) / 1000;
        (min, min.saturating_add(interval_secs))
    };
    let mut view = LbView {
        name,
        params,
        settings: state.settings,
        runtime: balancer.is_some(),
        busy: state.busy,
        max_busy: state.max_busy,
        last_reset_ms: state.last_reset_ms,
        members: Vec::new(),
        good: 0,
        degraded: 0,
        bad: 0,
        map_count: page.maps(Some(name)).len(),
        maintain_min,
        maintain_max,
    };
    for snap in snaps {
        let m = member_view(ctx, snap, &state.settings, maintain_min, interval_secs);
        match m.rating {
            Rating::Good => view.good += 1,
            Rating::Degraded => view.degraded += 1,
            Rating::Bad => view.bad += 1,
        }
        view.members.push(m);
    }
    view
}

/// A member with its rating, estimated recovery time and connection counts.
fn member_view(
    ctx: &StatusContext,
    snap: MemberSnapshot,
    settings: &LbSettings,
    maintain_min: u64,
    interval_secs: u64,
) -> MemberView {
    let rating = rate(ctx.params, snap.activation, snap.state);
    let (recover_min, recover_max) = if snap.state == MemberState::Error {
        let waited = ctx.now_ms.saturating_sub(snap.last_error_ms) / 1000;
        let left = u64::from(settings.recover_time_secs).saturating_sub(waited);
        let min = left.max(maintain_min);
        (min, min.saturating_add(interval_secs))
    } else {
        (0, 0)
    };
    let ajp = effective_ajp(ctx, &snap.name);
    let conns = ctx
        .segment
        .and_then(|seg| seg.ajp(&snap.name))
        .map(|s| s.stats());
    MemberView {
        snap,
        ajp,
        connected: conns.as_ref().map_or(0, |c| c.connected),
        max_connected: conns.as_ref().map_or(0, |c| c.max_connected),
        no_reuse_until_ms: conns.as_ref().map_or(0, |c| c.no_reuse_until_ms),
        rating,
        recover_min,
        recover_max,
    }
}

/// The lb values a view shows.
struct LbState {
    settings: LbSettings,
    busy: u64,
    max_busy: u64,
    last_reset_ms: u64,
    last_maintain_ms: u64,
}

/// The members and lb values as configured, for an lb without shared state.
fn config_lb(workers: &WorkersConfig, params: &LbParams) -> (Vec<MemberSnapshot>, LbState) {
    let members = params
        .balance_workers
        .iter()
        .enumerate()
        .map(|(i, m)| config_member(workers, i, m))
        .collect();
    let settings = LbSettings {
        method: params.method,
        sticky_session: params.sticky_session,
        sticky_session_force: params.sticky_session_force,
        retries: params.retries,
        lb_retries: params.lb_retries,
        retry_interval_ms: params.retry_interval_ms,
        recover_time_secs: params.recover_time_secs,
        error_escalation_time_secs: params.error_escalation_time_secs,
        max_reply_timeouts: params.max_reply_timeouts,
    };
    (
        members,
        LbState {
            settings,
            busy: 0,
            max_busy: 0,
            last_reset_ms: 0,
            last_maintain_ms: 0,
        },
    )
}

/// A member as configured, for an lb without shared state.
pub(super) fn config_member(workers: &WorkersConfig, index: usize, name: &str) -> MemberSnapshot {
    let ajp = workers.get(name).and_then(|d| d.ajp());
    MemberSnapshot {
        index,
        name: name.to_owned(),
        route: ajp.map_or_else(|| name.to_owned(), |p| p.route.clone()),
        redirect: ajp.map(|p| p.redirect.clone()).unwrap_or_default(),
        domain: ajp.map(|p| p.domain.clone()).unwrap_or_default(),
        activation: ajp.map_or(Activation::Active, |p| p.activation),
        state: MemberState::Idle,
        lbfactor: ajp.map_or(1, |p| p.lbfactor),
        lb_mult: 1,
        lb_value: 0,
        distance: ajp.map_or(0, |p| i64::from(p.distance)),
        elected: 0,
        sessions: 0,
        errors: 0,
        client_errors: 0,
        reply_timeouts: 0,
        interval_errors: 0,
        busy: 0,
        max_busy: 0,
        bytes_read: 0,
        bytes_written: 0,
        first_error_ms: 0,
        last_error_ms: 0,
        last_used_ms: 0,
        last_success_ms: 0,
        last_reset_ms: 0,
        sequence: 0,
    }
}

// ---------------------------------------------------------------------------------------
// Time formatting (UTC, no dependencies)
// ---------------------------------------------------------------------------------------

/// (year, month, day, hour, minute, second, weekday 0=Sunday) of unix seconds, UTC.
pub(crate) fn civil(secs: u64) -> (i64, u32, u32, u32, u32, u32, u32) {
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    // Howard Hinnant's days-to-civil.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    let weekday = ((days + 4).rem_euclid(7)) as u32;
    (
        year,
        month,
        day,
        (rem / 3600) as u32,
        (rem % 3600 / 60) as u32,
        (rem % 60) as u32,
        weekday,
    )
}

/// mod_jk's text time format `%Y%m%d%H%M%S`.
pub(crate) fn time_text(secs: u64) -> String {
    let (y, mo, d, h, mi, s, _) = civil(secs);
    format!("{y:04}{mo:02}{d:02}{h:02}{mi:02}{s:02}")
}

/// `Tue, 14 May 2026 12:00:00 UTC`.
pub(crate) fn time_human(secs: u64) -> String {
    const DAYS: [&str; 7] = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let (y, mo, d, h, mi, s, wd) = civil(secs);
    format!(
        "{}, {d:02} {} {y:04} {h:02}:{mi:02}:{s:02} UTC",
        DAYS[wd as usize % 7],
        MONTHS[(mo as usize + 11) % 12]
    )
}

// ---------------------------------------------------------------------------------------
// Secrets
// ---------------------------------------------------------------------------------------

/// Every configured secret value (workers and lbs), for scrubbing the dump.
pub(super) fn secrets(workers: &WorkersConfig) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for def in workers.workers.values() {
        let s = match &def.kind {
            WorkerKind::Ajp13(p) => p.secret.as_deref(),
            WorkerKind::Lb(p) => p.secret.as_deref(),
            WorkerKind::Status(_) => None,
        };
        if let Some(s) = s.filter(|s| !s.is_empty()) {
            out.push(s.to_owned());
        }
    }
    for (k, v) in workers.properties.iter() {
        if secret_key(k) && !v.is_empty() {
            out.push(v.to_owned());
        }
    }
    out.sort();
    out.dedup();
    out
}

pub(super) fn secret_key(key: &str) -> bool {
    let k = key.to_ascii_lowercase();
    k == "secret" || k.ends_with(".secret") || k.ends_with("secretkey")
}

/// The workers.properties entries `dump` shows: secret keys left out, values that contain
/// a secret replaced.
pub(crate) fn dump_entries(workers: &WorkersConfig) -> Vec<(String, String)> {
    let secrets = secrets(workers);
    workers
        .properties
        .iter()
        .filter(|(k, _)| !secret_key(k))
        .map(|(k, v)| {
            let leaks = secrets
                .iter()
                .any(|s| v == s || (s.len() >= 4 && v.contains(s.as_str())));
            let v = if leaks { "(hidden)" } else { v };
            (k.to_owned(), v.to_owned())
        })
        .collect()
}
