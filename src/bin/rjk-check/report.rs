//! What the check prints: the effective workers and every server's URI map.

use std::fmt::Write as _;

use mod_rjk::config::workers::{AjpParams, LbParams, WorkerDef, WorkerKind, WorkersConfig};
use mod_rjk::mapping::{MatchKind, RuleExtensions, UriMap};

use super::Verdict;
use super::conf::{Reader, Server};

pub(crate) fn report(r: &Reader, v: &Verdict, with_map: bool) -> String {
    let mut report = String::new();
    let _ = writeln!(
        report,
        "rjk-check {} (the parsers of mod_rjk {})",
        mod_rjk::VERSION,
        mod_rjk::VERSION
    );
    let _ = writeln!(
        report,
        "ServerRoot: {} (from {})",
        r.server_root, r.server_root_from
    );
    if let Some(f) = &r.main.conf.workers_file {
        let _ = writeln!(report, "JkWorkersFile: {f}");
    }
    report.push('\n');
    if let Some(w) = &v.workers {
        print_workers(&mut report, w);
    }
    if with_map {
        let main_has_rules = !r.main.conf.uri_map.is_empty();
        for s in std::iter::once(&r.main).chain(v.merged.iter()) {
            report.push('\n');
            print_map(&mut report, s, main_has_rules);
        }
    } else {
        report.push_str("\n(no --httpd-conf given: no URI map)\n");
    }
    if !v.warnings.is_empty() {
        let _ = writeln!(report, "\nWarnings ({}):", v.warnings.len());
        for w in &v.warnings {
            let _ = writeln!(report, "  {w}");
        }
    }
    let _ = writeln!(report, "\nConfiguration OK");
    report
}

pub(crate) fn yes_no(b: bool) -> &'static str {
    if b { "true" } else { "false" }
}

pub(crate) fn print_workers(out: &mut String, w: &WorkersConfig) {
    let _ = writeln!(out, "Workers (worker.list: {}):", w.list.join(", "));
    // Listed workers in worker.list order, then the lb members that are not listed.
    let mut order: Vec<&WorkerDef> = w.list.iter().filter_map(|n| w.get(n)).collect();
    for def in w.workers.values() {
        if !w.list.contains(&def.name) {
            order.push(def);
        }
    }
    let member_of = |name: &str| -> Vec<&str> {
        w.workers
            .values()
            .filter(|d| {
                d.lb()
                    .is_some_and(|lb| lb.balance_workers.iter().any(|m| m == name))
            })
            .map(|d| d.name.as_str())
            .collect()
    };
    let width = order.iter().map(|d| d.name.len()).max().unwrap_or(0);
    for def in order {
        let listed = if w.list.contains(&def.name) {
            "listed".to_string()
        } else {
            format!("member of {}", member_of(&def.name).join(", "))
        };
        let head = match &def.kind {
            WorkerKind::Ajp13(p) => {
                format!("ajp13   {}", mod_rjk::endpoint::address(&p.host, p.port))
            }
            WorkerKind::Lb(_) => "lb    ".to_string(),
            WorkerKind::Status(_) => "status".to_string(),
        };
        let _ = writeln!(
            out,
            "  {:width$}  {head}  ({listed}; defined at {})",
            def.name, def.origin
        );
        match &def.kind {
            WorkerKind::Ajp13(p) => {
                let _ = writeln!(out, "      {}", ajp_settings(p));
                if !member_of(&def.name).is_empty() {
                    let _ = writeln!(
                        out,
                        "      lbfactor={} route={} activation={:?} distance={}{}{}",
                        p.lbfactor,
                        p.route,
                        p.activation,
                        p.distance,
                        if p.redirect.is_empty() {
                            String::new()
                        } else {
                            format!(" redirect={}", p.redirect)
                        },
                        if p.domain.is_empty() {
                            String::new()
                        } else {
                            format!(" domain={}", p.domain)
                        },
                    );
                }
            }
            WorkerKind::Lb(lb) => print_lb(out, w, lb),
            WorkerKind::Status(s) => {
                let users = if s.user.is_empty() {
                    "(anyone httpd lets in)".to_string()
                } else {
                    s.user.join(",")
                };
                let _ = writeln!(out, "      read_only={} user={users}", yes_no(s.read_only));
            }
        }
        if !def.mount.is_empty() {
            let _ = writeln!(out, "      mount={}", def.mount.join(","));
        }
    }
}

pub(crate) fn ajp_settings(p: &AjpParams) -> String {
    let pool = p
        .connection_pool_size
        .map_or("ThreadsPerChild".to_string(), |n| n.to_string());
    let ping = p.ping_mode.as_letters();
    format!(
        "secret={} max_packet_size={} connection_pool_size={pool} connection_pool_timeout={}s socket_connect_timeout={}ms reply_timeout={}ms ping_mode={} retries={} recovery_options={}",
        if p.secret.is_some() {
            "(set)"
        } else {
            "(none)"
        },
        p.max_packet_size,
        p.connection_pool_timeout_secs,
        p.socket_connect_timeout_ms,
        p.reply_timeout_ms,
        if ping.is_empty() { "-" } else { &ping },
        p.retries,
        p.recovery_options
    )
}

pub(crate) fn extensions_text(e: &RuleExtensions) -> String {
    e.to_string()
}

pub(crate) fn print_map(out: &mut String, s: &Server, main_has_rules: bool) {
    let name = s
        .server_name
        .as_deref()
        .map_or(String::new(), |n| format!(" (ServerName {n})"));
    let _ = writeln!(out, "URI map of the {}{name}:", s.label);
    if let Some(f) = &s.conf.mount_file {
        let _ = writeln!(
            out,
            "  JkMountFile {f} (checked for changes every {}s)",
            s.conf.mount_file_reload.unwrap_or(60)
        );
    }
    let map: &UriMap = &s.conf.uri_map;
    if map.is_empty() {
        let hint = if s.conf.is_vhost && main_has_rules {
            "; the main server's JkMounts apply here only with JkMountCopy On (or JkMountCopy All in the main server)"
        } else {
            ""
        };
        let _ = writeln!(out, "  (no rules: httpd serves every request itself{hint})");
        return;
    }
    let rows: Vec<[String; 4]> = map
        .rules()
        .map(|rule| {
            let mut worker = rule.worker().to_string();
            let ext = extensions_text(rule.extensions());
            if !ext.is_empty() {
                worker = format!("{worker};{ext}");
            }
            let mut kind = match rule.kind() {
                MatchKind::Exact => "exact",
                MatchKind::Wildchar => "wildchar",
            }
            .to_string();
            if rule.is_exclusion() {
                kind.push_str(" unmount");
            }
            if rule.is_disabled() {
                kind.push_str(" disabled");
            }
            [
                rule.display_pattern(),
                worker,
                kind,
                rule.source().as_str().to_string(),
            ]
        })
        .collect();
    let header = ["pattern", "worker", "match", "source"].map(str::to_string);
    let mut widths = [0usize; 4];
    for row in std::iter::once(&header).chain(rows.iter()) {
        for (w, c) in widths.iter_mut().zip(row.iter()) {
            *w = (*w).max(c.len());
        }
    }
    for row in std::iter::once(&header).chain(rows.iter()) {
        let _ = writeln!(
            out,
            "  {:w0$}  {:w1$}  {:w2$}  {}",
            row[0],
            row[1],
            row[2],
            row[3],
            w0 = widths[0],
            w1 = widths[1],
            w2 = widths[2]
        );
    }
}

/// The members and the settings of an lb worker.
pub(crate) fn print_lb(out: &mut String, w: &WorkersConfig, lb: &LbParams) {
    let members: Vec<String> = lb
        .balance_workers
        .iter()
        .map(|m| match w.get(m).and_then(WorkerDef::ajp) {
            Some(p) => format!(
                "{m} ({}, lbfactor {}, route {}, {:?})",
                mod_rjk::endpoint::address(&p.host, p.port),
                p.lbfactor,
                p.route,
                p.activation
            ),
            None => m.clone(),
        })
        .collect();
    let _ = writeln!(out, "      members: {}", members.join(", "));
    let _ = writeln!(
        out,
        "      sticky_session={} sticky_session_force={} method={} lock={} retries={} lb_retries={} recover_time={}s session_cookie={} session_path={}",
        yes_no(lb.sticky_session),
        yes_no(lb.sticky_session_force),
        lb.method.as_str(),
        lb.lock.as_str(),
        lb.retries,
        lb.lb_retries,
        lb.recover_time_secs,
        lb.session_cookie,
        lb.session_path
    );
}
