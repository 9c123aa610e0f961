//! The health checks on the status worker's pages: an HTML card, a `health` object per
//! member in JSON and `rjk_health_*` series in Prometheus. Each renders nothing when no
//! worker is checked, so the pages of configurations without health checks are unchanged.

use std::fmt::Write as _;

use super::config::{HealthParams, Plan};
use crate::shm::Segment;
use crate::shm::health::{CheckResult, HealthSnapshot, Verdict};

/// One checked worker as the pages show it.
struct Row<'a> {
    name: &'a str,
    params: &'a HealthParams,
    snap: HealthSnapshot,
}

fn rows<'a>(plan: &'a Plan, seg: Option<&Segment>) -> Vec<Row<'a>> {
    let Some(seg) = seg else { return Vec::new() };
    plan.workers
        .iter()
        .filter_map(|(name, params)| {
            Some(Row {
                name,
                params,
                snap: seg.health(name)?.snapshot(),
            })
        })
        .collect()
}

fn method(p: &HealthParams) -> String {
    if p.uri.is_empty() {
        "CPing/CPong".to_owned()
    } else {
        format!("GET {}", p.uri)
    }
}

/// What the verdict does to the worker's lb members, in words.
pub fn effect(v: Verdict) -> &'static str {
    match v {
        Verdict::Up => "none",
        Verdict::Down => "in error by its health check",
        Verdict::Draining => "disabled by its health check (draining: sticky sessions only)",
    }
}

fn result_text(s: &HealthSnapshot) -> &'static str {
    s.last_result.map_or("never checked", CheckResult::as_str)
}

fn html_escape(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&#39;"),
            c => o.push(c),
        }
    }
    o
}

fn json_escape(s: &str) -> String {
    let mut o = String::with_capacity(s.len() + 2);
    o.push('"');
    for c in s.chars() {
        match c {
            '"' => o.push_str("\\\""),
            '\\' => o.push_str("\\\\"),
            c if (c as u32) < 0x20 => {
                let _ = write!(o, "\\u{:04x}", c as u32);
            }
            c => o.push(c),
        }
    }
    o.push('"');
    o
}

fn ago(now_ms: u64, at_ms: u64) -> String {
    if at_ms == 0 {
        "never".to_owned()
    } else {
        format!("{:.1} s ago", now_ms.saturating_sub(at_ms) as f64 / 1000.0)
    }
}

/// The "Health checks" and "Backend addresses" cards of the HTML page.
pub fn html_card(o: &mut String, plan: &Plan, seg: Option<&Segment>, now_ms: u64) {
    address_card(o, plan, seg, now_ms);
    let rows = rows(plan, seg);
    if rows.is_empty() {
        return;
    }
    o.push_str(
        "<section class=\"card\" id=\"health\"><div class=\"card-head\"><h2>Health checks</h2></div>\
         <div class=\"table-wrap\"><table><thead><tr><th>Worker</th><th>Check</th><th>Every</th>\
         <th>Verdict</th><th>Effect on its lb members</th><th>Last check</th><th>Result</th>\
         <th>Status</th><th>Latency</th><th>Passes/fails in a row</th></tr></thead><tbody>",
    );
    for r in rows {
        let s = &r.snap;
        let _ = write!(
            o,
            "<tr data-health=\"{name}\" data-verdict=\"{verdict}\"><td><code>{name}</code></td><td>{check}</td>\
             <td>{every} ms</td><td>{verdict}</td><td>{effect}</td><td>{last}</td><td>{result}</td>\
             <td>{status}</td><td>{latency:.1} ms</td><td>{passes}/{fails}</td></tr>",
            name = html_escape(r.name),
            check = html_escape(&method(r.params)),
            every = r.params.interval_ms,
            verdict = s.verdict.as_str(),
            effect = effect(s.verdict),
            last = ago(now_ms, s.last_check_ms),
            result = result_text(s),
            status = s.last_status,
            latency = s.last_latency_us as f64 / 1000.0,
            passes = s.passes,
            fails = s.fails,
        );
    }
    o.push_str("</tbody></table></div></section>\n");
}

/// The JSON members of one lb member or worker: `health` when it is checked, `address`
/// when its host name is resolved again.
pub fn json_fields(plan: &Plan, seg: Option<&Segment>, name: &str) -> Vec<(&'static str, String)> {
    let mut out = Vec::new();
    if let Some(h) = json(plan, seg, name) {
        out.push(("health", h));
    }
    if let Some(a) = address_json(plan, seg, name) {
        out.push(("address", a));
    }
    out
}

fn address_json(plan: &Plan, seg: Option<&Segment>, name: &str) -> Option<String> {
    let secs = plan.resolve.get(name)?;
    let r = seg?.resolve_slot(name)?.snapshot();
    let last = if r.last_resolved_ms == 0 {
        "null".to_owned()
    } else {
        format!("{:.3}", r.last_resolved_ms as f64 / 1000.0)
    };
    Some(format!(
        "{{\"in_use\":{},\"resolve_interval_seconds\":{secs},\"last_resolved_unix_seconds\":{last},\"changes\":{},\"resolving\":{}}}",
        json_escape(&r.addr),
        r.generation,
        !r.failing
    ))
}

/// The "Backend addresses" card: workers whose host name is resolved again.
fn address_card(o: &mut String, plan: &Plan, seg: Option<&Segment>, now_ms: u64) {
    let Some(seg) = seg else { return };
    let rows: Vec<_> = plan
        .resolve
        .iter()
        .filter_map(|(name, secs)| Some((name, secs, seg.resolve_slot(name)?.snapshot())))
        .collect();
    if rows.is_empty() {
        return;
    }
    o.push_str(
        "<section class=\"card\" id=\"addresses\"><div class=\"card-head\"><h2>Backend addresses</h2></div>\
         <div class=\"table-wrap\"><table><thead><tr><th>Worker</th><th>Address in use</th>\
         <th>Last resolved</th><th>Every</th><th>Changes</th><th>Resolving</th></tr></thead><tbody>",
    );
    for (name, secs, r) in rows {
        let _ = write!(
            o,
            "<tr data-address=\"{name}\" data-in-use=\"{addr}\"><td><code>{name}</code></td><td><code>{addr}</code></td>\
             <td>{last}</td><td>{secs} s</td><td>{changes}</td><td>{ok}</td></tr>",
            name = html_escape(name),
            addr = html_escape(&r.addr),
            last = ago(now_ms, r.last_resolved_ms),
            changes = r.generation,
            ok = if r.failing {
                "no: keeping the last good address"
            } else {
                "yes"
            },
        );
    }
    o.push_str("</tbody></table></div></section>\n");
}

/// The `health` object of one member (or worker) in JSON; `None` when it is not checked.
pub fn json(plan: &Plan, seg: Option<&Segment>, name: &str) -> Option<String> {
    let params = plan.workers.get(name)?;
    let s = seg?.health(name)?.snapshot();
    let result = s
        .last_result
        .map_or_else(|| "null".to_owned(), |r| json_escape(r.as_str()));
    let last = if s.last_check_ms == 0 {
        "null".to_owned()
    } else {
        format!("{:.3}", s.last_check_ms as f64 / 1000.0)
    };
    Some(format!(
        "{{\"check\":{},\"interval_ms\":{},\"verdict\":{},\"effect\":{},\"last_check_unix_seconds\":{last},\
         \"last_result\":{result},\"last_status\":{},\"last_latency_ms\":{:.3},\"passes_in_a_row\":{},\
         \"fails_in_a_row\":{},\"checks\":{},\"failed_checks\":{}}}",
        json_escape(&method(params)),
        params.interval_ms,
        json_escape(s.verdict.as_str()),
        json_escape(effect(s.verdict)),
        s.last_status,
        s.last_latency_us as f64 / 1000.0,
        s.passes,
        s.fails,
        s.checks,
        s.failed_checks,
    ))
}

fn label(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// The `rjk_resolve_*` series of workers whose host name is resolved again.
fn address_series(o: &mut String, plan: &Plan, seg: Option<&Segment>) {
    let Some(seg) = seg else { return };
    let rows: Vec<_> = plan
        .resolve
        .keys()
        .filter_map(|name| Some((name, seg.resolve_slot(name)?.snapshot())))
        .collect();
    if rows.is_empty() {
        return;
    }
    let name = "rjk_resolve_address_changes_total";
    let _ = write!(
        o,
        "# HELP {name} Times the worker's host name resolved to a new address.\n# TYPE {name} counter\n"
    );
    for (w, r) in &rows {
        let _ = writeln!(
            o,
            "{name}{{worker=\"{}\",address=\"{}\"}} {}",
            label(w),
            label(&r.addr),
            r.generation
        );
    }
    let name = "rjk_resolve_last_timestamp_seconds";
    let _ = write!(
        o,
        "# HELP {name} When the host name last resolved (0: never).\n# TYPE {name} gauge\n"
    );
    for (w, r) in &rows {
        let _ = writeln!(
            o,
            "{name}{{worker=\"{}\"}} {}",
            label(w),
            r.last_resolved_ms as f64 / 1000.0
        );
    }
}

/// The `rjk_health_*` and `rjk_resolve_*` series.
pub fn prometheus(o: &mut String, plan: &Plan, seg: Option<&Segment>) {
    address_series(o, plan, seg);
    let rows = rows(plan, seg);
    if rows.is_empty() {
        return;
    }
    type Get = fn(&HealthSnapshot) -> f64;
    let families: [(&str, &str, &str, Get); 6] = [
        (
            "rjk_health_check_up",
            "gauge",
            "1 when the worker's health verdict is up or draining, 0 when down.",
            |s| f64::from(u8::from(s.verdict != Verdict::Down)),
        ),
        (
            "rjk_health_check_draining",
            "gauge",
            "1 while the health URI answers the drain status.",
            |s| f64::from(u8::from(s.verdict == Verdict::Draining)),
        ),
        (
            "rjk_health_check_last_timestamp_seconds",
            "gauge",
            "When the last check ended (0: never).",
            |s| s.last_check_ms as f64 / 1000.0,
        ),
        (
            "rjk_health_check_last_latency_seconds",
            "gauge",
            "Duration of the last check.",
            |s| s.last_latency_us as f64 / 1_000_000.0,
        ),
        ("rjk_health_checks_total", "counter", "Checks made.", |s| {
            s.checks as f64
        }),
        (
            "rjk_health_check_failures_total",
            "counter",
            "Checks that failed.",
            |s| s.failed_checks as f64,
        ),
    ];
    for (name, kind, help, get) in families {
        let _ = write!(o, "# HELP {name} {help}\n# TYPE {name} {kind}\n");
        for r in &rows {
            let _ = writeln!(o, "{name}{{worker=\"{}\"}} {}", label(r.name), get(&r.snap));
        }
    }
    let name = "rjk_health_check_last_result";
    let _ = write!(
        o,
        "# HELP {name} Result of the last check: 1 for it, 0 for the others.\n# TYPE {name} gauge\n"
    );
    for r in &rows {
        for res in [CheckResult::Pass, CheckResult::Drain, CheckResult::Fail] {
            let _ = writeln!(
                o,
                "{name}{{worker=\"{}\",result=\"{}\"}} {}",
                label(r.name),
                res.as_str(),
                u8::from(r.snap.last_result == Some(res))
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::shm::health::Thresholds;
    use crate::shm::{init_from_config, tests::config};

    #[test]
    fn pages_show_checked_workers_only() {
        let c = config(
            "worker.list=lb\nworker.lb.type=lb\nworker.lb.balance_workers=a,b\n\
             worker.a.health_check_interval=100\nworker.a.health_check_uri=/h\nworker.b.port=2\n",
        );
        let s = Segment::new_boxed();
        init_from_config(&s, &c).unwrap();
        let t = Thresholds {
            passes: 1,
            fails: 1,
        };
        s.record_check("a", CheckResult::Drain, 503, 1500, 10_000, t);
        let mut o = String::new();
        html_card(&mut o, &c.health, Some(&s), 12_000);
        assert!(
            o.contains("data-health=\"a\" data-verdict=\"draining\""),
            "{o}"
        );
        assert!(o.contains("disabled by its health check"), "{o}");
        assert!(!o.contains("data-health=\"b\""));
        let j = json(&c.health, Some(&s), "a").unwrap();
        assert!(
            j.contains("\"last_status\":503") && j.contains("\"last_latency_ms\":1.500"),
            "{j}"
        );
        assert_eq!(json(&c.health, Some(&s), "b"), None);
        let mut p = String::new();
        prometheus(&mut p, &c.health, Some(&s));
        assert!(
            p.contains("rjk_health_check_draining{worker=\"a\"} 1"),
            "{p}"
        );
        assert!(
            p.contains("rjk_health_check_last_result{worker=\"a\",result=\"drain\"} 1"),
            "{p}"
        );
        let empty = Plan::default();
        let mut o = String::new();
        html_card(&mut o, &empty, Some(&s), 0);
        prometheus(&mut o, &empty, Some(&s));
        assert!(o.is_empty());
    }
}
