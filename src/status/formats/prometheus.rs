//! The Prometheus text exposition format 0.0.4 (metrics in the module docs of the
//! status worker).

use crate::config::workers::Activation;
use crate::lb::MemberState;
use crate::shm::AjpStats;
use crate::status::escape as esc;
use crate::status::view::{LbView, MemberView, Page, Rating};

fn family(o: &mut String, name: &str, kind: &str, help: &str) {
    out!(o, "# HELP {name} {help}\n# TYPE {name} {kind}\n");
}

fn member_labels(lb: &str, m: &MemberView) -> String {
    format!(
        "lb=\"{}\",member=\"{}\"",
        esc::label(lb),
        esc::label(&m.snap.name)
    )
}

/// `le` value of a bucket bound.
fn le(bound: f64) -> String {
    if bound.is_infinite() {
        "+Inf".to_owned()
    } else {
        format!("{bound}")
    }
}

type Buckets = Vec<(f64, u64)>;

/// A histogram family: cumulative buckets (an `+Inf` one added when missing), `_sum` and
/// `_count` for each labelled series; nothing when no series has a bucket.
fn histogram(o: &mut String, name: &str, help: &str, series: Vec<(String, Buckets, f64)>) {
    let series: Vec<(String, Buckets, f64)> = series
        .into_iter()
        .map(|(labels, buckets, sum)| {
            let mut buckets: Buckets = buckets.into_iter().filter(|(b, _)| !b.is_nan()).collect();
            buckets.sort_by(|a, b| a.0.total_cmp(&b.0));
            (labels, buckets, sum)
        })
        .filter(|(_, buckets, _)| !buckets.is_empty())
        .collect();
    if series.is_empty() {
        return;
    }
    family(o, name, "histogram", help);
    for (labels, buckets, sum) in series {
        let mut running = 0u64;
        let mut has_inf = false;
        for (bound, count) in buckets {
            running = running.max(count);
            has_inf |= bound.is_infinite() && bound > 0.0;
            out!(
                o,
                "{name}_bucket{{{labels},le=\"{}\"}} {running}\n",
                le(bound)
            );
        }
        if !has_inf {
            out!(o, "{name}_bucket{{{labels},le=\"+Inf\"}} {running}\n");
        }
        let sum = if sum.is_finite() && sum >= 0.0 {
            sum
        } else {
            0.0
        };
        out!(o, "{name}_sum{{{labels}}} {sum}\n");
        out!(o, "{name}_count{{{labels}}} {running}\n");
    }
}

/// The counters of a standalone ajp13 worker: (name, type, help, value).
/// (name, type, help, value) of one series.
type Series<T, V> = (&'static str, &'static str, &'static str, fn(&T) -> V);

const AJP_SERIES: [Series<AjpStats, u64>; 10] = [
    (
        "rjk_ajp_requests_total",
        "counter",
        "Requests served by the worker (mod_jk's used).",
        |s| s.used,
    ),
    (
        "rjk_ajp_errors_total",
        "counter",
        "Backend errors of the worker.",
        |s| s.errors,
    ),
    (
        "rjk_ajp_client_errors_total",
        "counter",
        "Errors caused by clients.",
        |s| s.client_errors,
    ),
    (
        "rjk_ajp_reply_timeouts_total",
        "counter",
        "Reply timeouts.",
        |s| s.reply_timeouts,
    ),
    (
        "rjk_ajp_busy",
        "gauge",
        "Requests in flight on the worker.",
        |s| s.busy,
    ),
    (
        "rjk_ajp_max_busy",
        "gauge",
        "Most requests in flight since the last reset.",
        |s| s.max_busy,
    ),
    (
        "rjk_ajp_read_bytes_total",
        "counter",
        "AJP bytes read from the backend (mod_jk's read).",
        |s| s.read,
    ),
    (
        "rjk_ajp_written_bytes_total",
        "counter",
        "AJP bytes sent to the backend (mod_jk's transferred).",
        |s| s.transferred,
    ),
    (
        "rjk_ajp_connected",
        "gauge",
        "Backend connections open in all children.",
        |s| s.connected,
    ),
    (
        "rjk_ajp_max_connected",
        "gauge",
        "Most backend connections open since the last reset.",
        |s| s.max_connected,
    ),
];

/// The series of the listed standalone ajp13 workers (label `worker`), from their shared
/// slots.
fn ajp_series(o: &mut String, p: &Page) {
    let ajps: Vec<(String, &AjpStats)> = p
        .ajps
        .iter()
        .filter_map(|a| {
            Some((
                format!("worker=\"{}\"", esc::label(a.name)),
                a.stats.as_ref()?,
            ))
        })
        .collect();
    for (name, kind, help, get) in AJP_SERIES {
        if ajps.is_empty() {
            break;
        }
        family(o, name, kind, help);
        for (labels, stats) in &ajps {
            out!(o, "{name}{{{labels}}} {}\n", get(stats));
        }
    }
    let latency = p
        .ajps
        .iter()
        .filter_map(|a| {
            let (buckets, sum) = p.ctx.segment?.ajp(a.name)?.latency();
            Some((format!("worker=\"{}\"", esc::label(a.name)), buckets, sum))
        })
        .collect();
    histogram(
        o,
        "rjk_ajp_latency_seconds",
        "Time from sending a request to the worker until its response ended.",
        latency,
    );
}

/// The counters and gauges of an lb member: (name, type, help, value).
const MEMBER_SERIES: [Series<MemberView, String>; 16] = [
    (
        "rjk_member_up",
        "gauge",
        "1 when the member takes new requests.",
        |m| u8::from(m.up()).to_string(),
    ),
    (
        "rjk_member_requests_total",
        "counter",
        "Requests assigned to the member.",
        |m| m.snap.elected.to_string(),
    ),
    (
        "rjk_member_errors_total",
        "counter",
        "Backend errors of the member.",
        |m| m.snap.errors.to_string(),
    ),
    (
        "rjk_member_client_errors_total",
        "counter",
        "Errors caused by clients.",
        |m| m.snap.client_errors.to_string(),
    ),
    (
        "rjk_member_reply_timeouts",
        "gauge",
        "Reply timeouts, decayed at global maintenance.",
        |m| m.snap.reply_timeouts.to_string(),
    ),
    (
        "rjk_member_busy",
        "gauge",
        "Requests in flight on the member.",
        |m| m.snap.busy.to_string(),
    ),
    (
        "rjk_member_max_busy",
        "gauge",
        "Most requests in flight since the last reset.",
        |m| m.snap.max_busy.to_string(),
    ),
    (
        "rjk_member_read_bytes_total",
        "counter",
        "AJP bytes read from the member (mod_jk's read).",
        |m| m.snap.bytes_read.to_string(),
    ),
    (
        "rjk_member_written_bytes_total",
        "counter",
        "AJP bytes sent to the member (mod_jk's transferred).",
        |m| m.snap.bytes_written.to_string(),
    ),
    (
        "rjk_member_connected",
        "gauge",
        "Backend connections to the member open in all children.",
        |m| m.connected.to_string(),
    ),
    (
        "rjk_member_max_connected",
        "gauge",
        "Most backend connections to the member open since the last reset.",
        |m| m.max_connected.to_string(),
    ),
    (
        "rjk_member_sessions_total",
        "counter",
        "Requests without a session id assigned to the member.",
        |m| m.snap.sessions.to_string(),
    ),
    (
        "rjk_member_lbfactor",
        "gauge",
        "Load balancing factor.",
        |m| m.snap.lbfactor.to_string(),
    ),
    (
        "rjk_member_lb_value",
        "gauge",
        "Current load balancing value.",
        |m| m.snap.lb_value.to_string(),
    ),
    (
        "rjk_member_distance",
        "gauge",
        "Distance (lower is preferred).",
        |m| m.snap.distance.to_string(),
    ),
    (
        "rjk_member_last_error_timestamp_seconds",
        "gauge",
        "Unix time of the member's last error, 0 for none.",
        |m| (m.snap.last_error_ms / 1000).to_string(),
    ),
];

pub(crate) fn prometheus(p: &Page) -> String {
    let mut o = String::with_capacity(16 * 1024);
    family(
        &mut o,
        "rjk_info",
        "gauge",
        "mod_rjk version and web server.",
    );
    out!(
        o,
        "rjk_info{{version=\"{}\",web_server=\"{}\"}} 1\n",
        esc::label(crate::VERSION),
        esc::label(p.ctx.software)
    );
    let members: Vec<(&str, &MemberView)> = p
        .lbs
        .iter()
        .flat_map(|lb| lb.members.iter().map(move |m| (lb.name, m)))
        .collect();
    member_states(&mut o, &members);
    for (name, kind, help, get) in MEMBER_SERIES {
        family(&mut o, name, kind, help);
        for (lb, m) in &members {
            out!(o, "{name}{{{}}} {}\n", member_labels(lb, m), get(m));
        }
    }
    let mut histograms: Vec<(String, Buckets, f64)> = Vec::new();
    for (lb, m) in &members {
        if let Some((buckets, sum)) = (p.ctx.latency)(m.snap.index) {
            histograms.push((member_labels(lb, m), buckets, sum));
        }
    }
    histogram(
        &mut o,
        "rjk_member_latency_seconds",
        "Time from sending a request to the member until its response ended.",
        histograms,
    );
    ajp_series(&mut o, p);
    lb_series(&mut o, p);
    // Health checks (src/health): nothing unless a worker is checked.
    crate::health::status::prometheus(&mut o, &p.ctx.workers.health, p.ctx.segment);
    o
}

/// `rjk_member_state` and `rjk_member_activation`: one series per possible value.
fn member_states(o: &mut String, members: &[(&str, &MemberView)]) {
    family(
        o,
        "rjk_member_state",
        "gauge",
        "Runtime state of an lb member: 1 for the current state, 0 for the others.",
    );
    for (lb, m) in members {
        for state in MemberState::ALL {
            out!(
                o,
                "rjk_member_state{{{},state=\"{}\"}} {}\n",
                member_labels(lb, m),
                esc::label(state.as_str()),
                u8::from(m.snap.state == state)
            );
        }
    }
    family(
        o,
        "rjk_member_activation",
        "gauge",
        "Activation of an lb member: 1 for the current one (ACT, DIS, STP), 0 for the others.",
    );
    for (lb, m) in members {
        for a in [
            Activation::Active,
            Activation::Disabled,
            Activation::Stopped,
        ] {
            out!(
                o,
                "rjk_member_activation{{{},activation=\"{}\"}} {}\n",
                member_labels(lb, m),
                a.as_str(),
                u8::from(m.snap.activation == a)
            );
        }
    }
}

/// The lb series: members by rating, busy and max busy.
fn lb_series(o: &mut String, p: &Page) {
    family(
        o,
        "rjk_lb_members",
        "gauge",
        "Members of the lb by rating (status worker good/bad rules).",
    );
    for lb in &p.lbs {
        for (rating, n) in [
            (Rating::Good, lb.good),
            (Rating::Degraded, lb.degraded),
            (Rating::Bad, lb.bad),
        ] {
            out!(
                o,
                "rjk_lb_members{{lb=\"{}\",rating=\"{}\"}} {n}\n",
                esc::label(lb.name),
                rating.as_str()
            );
        }
    }
    type Get = fn(&LbView) -> u64;
    let series: [(&str, &str, Get); 2] = [
        ("rjk_lb_busy", "Requests in flight on the lb.", |lb| lb.busy),
        (
            "rjk_lb_max_busy",
            "Most requests in flight on the lb since the last reset.",
            |lb| lb.max_busy,
        ),
    ];
    for (name, help, get) in series {
        family(o, name, "gauge", help);
        for lb in &p.lbs {
            out!(o, "{name}{{lb=\"{}\"}} {}\n", esc::label(lb.name), get(lb));
        }
    }
}
