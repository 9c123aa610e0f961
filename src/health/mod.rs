//! Active health checks of ajp13 workers (`health_check_*` worker properties).
//!
//! Every child runs one thread ([`start`]) that sleeps until a checked worker is due; the
//! child whose compare-and-swap on the worker's shared due time wins runs the check on
//! a connection of its own ([`check`]), so all children together check each worker once
//! per interval. The outcome goes to shared memory (`shm::health`), where the verdict
//! also moves the worker's lb members: into ERR after `health_check_fails` failures, out
//! of it after `health_check_passes` passes, draining (treated as Disabled) while the
//! health URI answers the drain status. Requests never wait for a check; without
//! `health_check_interval` no thread starts and nothing changes.

pub mod check;
/// The health check settings live with the rest of the configuration.
pub use crate::config::health as config;
pub mod resolve;
pub mod status;

pub use config::{HealthParams, Plan};

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::config::directives::LogLevel;
use crate::config::workers::WorkersConfig;
use crate::shm::Segment;
use crate::shm::health::{Thresholds, Transition, Verdict};

/// What the check thread needs from the child it runs in.
pub trait Host: Send + Sync + 'static {
    /// The shared segment, if this server has one.
    fn segment(&self) -> Option<&Segment>;
    fn log(&self, level: LogLevel, msg: &str);
}

/// Longest sleep of the check thread between looks at the due times.
const MAX_NAP: Duration = Duration::from_millis(1000);
const MIN_NAP: Duration = Duration::from_millis(5);

/// Starts the check thread of this child when some worker is checked; does nothing (no
/// thread, no cost) otherwise.
pub fn start(host: Arc<dyn Host>, workers: Arc<WorkersConfig>) -> std::io::Result<()> {
    if workers.health.is_empty() {
        return Ok(());
    }
    std::thread::Builder::new()
        .name("rjk-health".into())
        .spawn(move || {
            loop {
                // A panic must not take the child down; the next round tries again.
                let nap = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    round(&*host, &workers)
                }))
                .unwrap_or(MAX_NAP);
                std::thread::sleep(nap);
            }
        })
        .map(|_| ())
}

fn wall_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// Runs the checks this child won (in parallel, each bounded by its timeout) and returns
/// how long to sleep until the next one is due.
fn round(host: &dyn Host, workers: &WorkersConfig) -> Duration {
    let Some(seg) = host.segment() else {
        return MAX_NAP;
    };
    let now = wall_ms();
    let mut nap = MAX_NAP;
    let mut won = Vec::new();
    for (name, p) in &workers.health.workers {
        let Some(slot) = seg.health(name) else {
            continue;
        };
        let interval = u64::from(p.interval_ms);
        if slot.try_lease(now, interval) {
            won.push((name.as_str(), p));
            nap = nap.min(Duration::from_millis(interval));
        } else {
            nap = nap.min(Duration::from_millis(slot.due_in(now)));
        }
    }
    let mut resolve_won = Vec::new();
    for (name, &secs) in &workers.health.resolve {
        let Some(slot) = seg.resolve_slot(name) else {
            continue;
        };
        let interval = u64::from(secs) * 1000;
        if slot.try_lease(now, interval) {
            resolve_won.push(name.as_str());
            nap = nap.min(Duration::from_millis(interval));
        } else {
            nap = nap.min(Duration::from_millis(slot.due_in(now)));
        }
    }
    std::thread::scope(|sc| {
        for (name, p) in won {
            sc.spawn(move || check_one(host, seg, workers, name, p));
        }
        for name in resolve_won {
            sc.spawn(move || resolve_one(host, seg, workers, name));
        }
    });
    nap.max(MIN_NAP)
}

fn resolve_one(host: &dyn Host, seg: &Segment, workers: &WorkersConfig, name: &str) {
    let (Some(ajp), Some(slot)) = (
        workers.get(name).and_then(|d| d.ajp()),
        seg.resolve_slot(name),
    ) else {
        return;
    };
    let (target, port) = seg.ajp(name).map_or_else(
        || (ajp.host.clone(), ajp.port),
        |a| {
            let s = a.settings();
            (s.host, u16::try_from(s.port).unwrap_or(ajp.port))
        },
    );
    let r = resolve::resolve(&target, port, ajp.prefer_ipv6);
    let event = slot.record(r.as_ref().copied().map_err(String::as_str), wall_ms());
    let error = r.err().unwrap_or_default();
    if let Some(text) = resolve::event_text(name, &target, &event, &error) {
        let level = match event {
            crate::shm::health::ResolveEvent::StartedFailing { .. } => LogLevel::Error,
            _ => LogLevel::Info,
        };
        host.log(level, &text);
    }
}

fn check_one(
    host: &dyn Host,
    seg: &Segment,
    workers: &WorkersConfig,
    name: &str,
    p: &HealthParams,
) {
    let Some(ajp) = workers.get(name).and_then(|d| d.ajp()) else {
        return;
    };
    // Host and port as the status worker may have edited them.
    let (target_host, port) = seg.ajp(name).map_or_else(
        || (ajp.host.clone(), ajp.port),
        |a| {
            let s = a.settings();
            (s.host, u16::try_from(s.port).unwrap_or(ajp.port))
        },
    );
    let probe = check::Probe {
        host: &target_host,
        port,
        prefer_ipv6: ajp.prefer_ipv6,
        uri: &p.uri,
        status: p.status,
        drain_status: p.drain_status,
        secret: ajp.secret.as_deref(),
        max_packet: crate::ajp::clamp_packet_size(ajp.max_packet_size as usize),
        timeout: Duration::from_millis(u64::from(p.timeout_ms)),
    };
    let started_ms = wall_ms();
    let start = Instant::now();
    let outcome = check::run(&probe);
    let latency_us = start.elapsed().as_micros() as u64;
    let t = Thresholds {
        passes: p.passes,
        fails: p.fails,
    };
    let change = seg.record_check(
        name,
        outcome.result,
        outcome.status,
        latency_us,
        started_ms,
        t,
    );
    if let Some(change) = change {
        host.log(LogLevel::Info, &transition_text(name, p, change, &outcome));
    } else if !outcome.detail.is_empty() {
        host.log(
            LogLevel::Debug,
            &format!("health check of worker {name} failed: {}", outcome.detail),
        );
    }
}

/// One log line per verdict change (not per check).
fn transition_text(name: &str, p: &HealthParams, t: Transition, o: &check::Outcome) -> String {
    match t.to {
        Verdict::Down => format!(
            "worker {name} failed its health check {} time(s) in a row ({}); its lb members are in error until it passes {} time(s)",
            p.fails, o.detail, p.passes
        ),
        Verdict::Draining => format!(
            "worker {name} is draining: {} answered {}; its lb members take no new sessions",
            p.uri, o.status
        ),
        Verdict::Up => format!(
            "worker {name} passes its health check again; its lb members are back in rotation"
        ),
    }
}
