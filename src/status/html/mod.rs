//! The HTML status pages: one self-contained HTML5 document per answer, inline CSS, no
//! scripts. State changes are POST forms carrying the CSRF token; everything else is a GET
//! link. Stable hooks for tests and scripts: `section[data-lb]`, `tr[data-member]` (with
//! `data-activation` and `data-state`), `a[data-edit-member]`, `button[data-quick]`,
//! `form#edit-member`, `select[name=vwa]`, `button#save`.

mod forms;
mod lb;

pub(super) use forms::{edit_ajp, edit_attribute, edit_lb, edit_member};

use self::lb::lb_section;
use super::escape as esc;
use super::params::{Cmd, manager_url};
use super::view::{MapRef, Page, time_human};
use super::{
    OPT_NO_AJP, OPT_NO_LB, OPT_NO_LEGEND, OPT_NO_MAPS, OPT_READ_ONLY, RESULT_REFRESH_SECS,
};
use crate::config::workers::{Activation, AjpParams};
use crate::lb::MemberState;

const CSS: &str = r#"
:root{--fg:#1f2328;--muted:#59636e;--line:#d8dee4;--bg:#f5f7f9;--card:#fff;--accent:#0969da;
--ok:#116329;--ok-bg:#dafbe1;--idle:#59636e;--idle-bg:#eaeef2;--busy:#7d4e00;--busy-bg:#fff4c2;
--err:#a40e26;--err-bg:#ffebe9;--rec:#953800;--rec-bg:#ffe7d1}
*{box-sizing:border-box}
body{margin:0;font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif;color:var(--fg);background:var(--bg)}
a{color:var(--accent);text-decoration:none}a:hover{text-decoration:underline}
code{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:.95em}
header.top{background:#1f2937;color:#e5e7eb;padding:10px 24px;display:flex;flex-wrap:wrap;align-items:center;gap:8px 28px}
header.top h1{font-size:17px;margin:0;color:#fff;font-weight:600}
header.top .sub{color:#9ca3af;font-size:12px}
header.top a{color:#bfdbfe}
header.top nav{display:flex;flex-wrap:wrap;gap:4px 14px;align-items:center;font-size:13px}
header.top nav .sep{color:#6b7280}
header.top form{margin-left:auto;display:flex;gap:6px;align-items:center;font-size:13px}
header.top select,header.top button{font:inherit;font-size:12px;padding:2px 6px;border-radius:6px;border:1px solid #4b5563;background:#374151;color:#fff}
main{padding:8px 24px 32px;max-width:1680px;margin:0 auto}
.meta{color:var(--muted);font-size:12px;margin:10px 0 0}
.notice{margin:14px 0 0;padding:10px 14px;border-radius:8px;border:1px solid}
.notice.ok{background:var(--ok-bg);border-color:#aceebb;color:var(--ok)}
.notice.err{background:var(--err-bg);border-color:#ffcecb;color:var(--err)}
section.card{background:var(--card);border:1px solid var(--line);border-radius:10px;margin:16px 0;padding:14px 16px;box-shadow:0 1px 2px rgba(0,0,0,.04)}
.card-head{display:flex;flex-wrap:wrap;align-items:center;gap:8px 14px;margin-bottom:10px}
.card-head h2{font-size:16px;margin:0}
.card-head .links{margin-left:auto;display:flex;gap:8px;align-items:center;font-size:13px}
h3{font-size:13px;margin:16px 0 6px;color:var(--muted);text-transform:uppercase;letter-spacing:.04em}
h3 a{text-transform:none;letter-spacing:0;font-weight:400}
.kv{display:flex;flex-wrap:wrap;gap:6px 10px;margin:0 0 10px;padding:0}
.kv div{background:var(--bg);border:1px solid var(--line);border-radius:6px;padding:3px 8px;font-size:12px}
.kv dt{display:inline;color:var(--muted)}.kv dd{display:inline;margin:0 0 0 4px;font-weight:600}
.table-wrap{overflow-x:auto}
table{border-collapse:collapse;width:100%;font-size:13px}
th,td{padding:5px 8px;border-bottom:1px solid var(--line);text-align:left;white-space:nowrap;vertical-align:middle}
th{font-size:11px;color:var(--muted);font-weight:600;text-transform:uppercase;letter-spacing:.03em;background:#fafbfc;position:sticky;top:0}
td.num,th.num{text-align:right;font-variant-numeric:tabular-nums}
tbody tr:hover td{background:#f6f8fa}
tr.act-DIS td{background:#fbfbf7}
tr.act-STP td{background:#fdf6f6}
tr.act-STP td.name a{text-decoration:line-through}
.pill{display:inline-block;min-width:3.2em;text-align:center;padding:1px 8px;border-radius:999px;font-size:12px;font-weight:600;border:1px solid transparent}
.st-ok{color:var(--ok);background:var(--ok-bg);border-color:#aceebb}
.st-idle{color:var(--idle);background:var(--idle-bg);border-color:#d0d7de}
.st-busy{color:var(--busy);background:var(--busy-bg);border-color:#f0d67a}
.st-err{color:var(--err);background:var(--err-bg);border-color:#ffcecb}
.st-rec{color:var(--rec);background:var(--rec-bg);border-color:#ffc9a1}
.act-pill.act-ACT{color:var(--ok);background:#fff;border-color:#aceebb}
.act-pill.act-DIS{color:var(--busy);background:var(--busy-bg);border-color:#f0d67a}
.act-pill.act-STP{color:#fff;background:var(--err);border-color:var(--err)}
.badge{font-size:12px;font-weight:600;padding:2px 10px;border-radius:999px}
.r-good{color:var(--ok);background:var(--ok-bg)}.r-degraded{color:var(--busy);background:var(--busy-bg)}.r-bad{color:var(--err);background:var(--err-bg)}
.chips{display:flex;flex-wrap:wrap;gap:8px;margin:0 0 12px}
.chip{border:1px solid var(--line);border-radius:8px;padding:4px 10px;min-width:80px}
.chip b{display:block;font-size:16px;font-variant-numeric:tabular-nums}
.chip span{font-size:11px;color:var(--muted);text-transform:uppercase;letter-spacing:.03em}
.chip.good b{color:var(--ok)}.chip.degraded b{color:var(--busy)}.chip.bad b{color:var(--err)}
.actions{display:flex;gap:4px;align-items:center}
form.inline{display:inline;margin:0}
.btn,button{font:inherit;font-size:12px;line-height:1.4;padding:2px 9px;border:1px solid #c9d1d9;border-radius:6px;background:#f6f8fa;color:var(--fg);cursor:pointer;display:inline-block}
.btn:hover,button:hover{background:#eef1f4;text-decoration:none}
button.warn{color:var(--busy)}button.good{color:var(--ok)}button.danger{color:var(--err)}
button.primary{background:#1f883d;border-color:#1a7f37;color:#fff;font-size:14px;padding:6px 16px}
button.primary:hover{background:#1a7f37}
.muted{color:var(--muted)}
.legend{display:grid;grid-template-columns:repeat(auto-fill,minmax(260px,1fr));gap:4px 18px;font-size:12px}
.legend dt{font-weight:600;display:inline}.legend dd{display:inline;margin:0 0 0 6px;color:var(--muted)}
form.edit .grid{display:grid;grid-template-columns:max-content minmax(200px,360px) 1fr;gap:10px 14px;align-items:center;margin:8px 0 16px}
form.edit label{font-weight:600}
form.edit input,form.edit select{font:inherit;padding:5px 8px;border:1px solid #c9d1d9;border-radius:6px;width:100%}
form.edit small{color:var(--muted)}
.buttons{display:flex;gap:10px;align-items:center}
.crumbs{margin:14px 0 0;font-size:13px;color:var(--muted)}
pre.dump{background:#0d1117;color:#e6edf3;padding:12px;border-radius:8px;overflow-x:auto;font-size:12.5px}
footer{color:var(--muted);font-size:12px;text-align:center;padding:8px 0 24px}
@media (prefers-color-scheme:dark){:root{--fg:#e6edf3;--muted:#9198a1;--line:#30363d;--bg:#0d1117;--card:#151b23;
--ok:#3fb950;--ok-bg:#12261e;--idle:#9198a1;--idle-bg:#212830;--busy:#d29922;--busy-bg:#272115;--err:#f85149;--err-bg:#2d1517;--rec:#db6d28;--rec-bg:#2b1a10}
th{background:#161b22}tbody tr:hover td{background:#1c2129}tr.act-DIS td{background:#1a1a14}tr.act-STP td{background:#1f1416}
.btn,button{background:#21262d;border-color:#363b42;color:var(--fg)}.act-pill.act-ACT{background:transparent}
form.edit input,form.edit select{background:#0d1117;color:var(--fg);border-color:#363b42}}
"#;

/// `<input type=hidden>`.
fn hidden(o: &mut String, name: &str, value: &str) {
    out!(
        o,
        "<input type=\"hidden\" name=\"{}\" value=\"{}\">",
        esc::html(name),
        esc::html(value)
    );
}

/// The hidden fields every POST form carries: the token and the view settings.
fn form_common(o: &mut String, p: &Page) {
    hidden(o, "csrf", p.ctx.csrf_token);
    if p.opt != 0 {
        hidden(o, "opt", &p.opt.to_string());
    }
    if p.refresh != 0 {
        hidden(o, "re", &p.refresh.to_string());
    }
}

fn form_action(p: &Page) -> String {
    manager_url(p.path, &[])
}

fn head(o: &mut String, p: &Page, title: &str, refresh: Option<(u32, String)>) {
    out!(
        o,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <meta name=\"robots\" content=\"noindex, nofollow\">\
         <title>{} – JK Status Manager</title>",
        esc::html(title)
    );
    if let Some((secs, url)) = refresh {
        out!(
            o,
            "<meta http-equiv=\"refresh\" content=\"{secs};url={}\">",
            esc::html(&url)
        );
    }
    out!(o, "<style>{CSS}</style>");
    if let Some(css) = &p.ctx.params.css {
        out!(o, "<link rel=\"stylesheet\" href=\"{}\">", esc::html(css));
    }
    out!(o, "</head>\n<body>\n");
    topbar(o, p);
}

fn topbar(o: &mut String, p: &Page) {
    out!(
        o,
        "<header class=\"top\"><div><h1><a href=\"{}\" style=\"color:inherit\">JK Status Manager</a></h1>\
         <div class=\"sub\">{} · status worker <code>{}</code>{}</div></div><nav>",
        esc::html(&p.url(&[])),
        esc::html(&p.version()),
        esc::html(p.ctx.worker),
        if p.read_only { " · read only" } else { "" }
    );
    // Format links for the current view (list or show).
    let show = p.show.filter(|_| p.cmd == Cmd::Show);
    let view: Vec<(&str, &str)> = match show {
        Some(w) => vec![("cmd", "show"), ("w", w)],
        None => vec![],
    };
    for (label, mime) in [
        ("XML", "xml"),
        ("Text", "txt"),
        ("Properties", "prop"),
        ("JSON", "json"),
        ("Prometheus", "prometheus"),
    ] {
        let mut pairs = view.clone();
        pairs.push(("mime", mime));
        out!(
            o,
            "<a href=\"{}\" data-format=\"{mime}\">{label}</a>",
            esc::html(&manager_url(p.path, &pairs))
        );
    }
    out!(o, "<span class=\"sep\">|</span>");
    out!(
        o,
        "<a href=\"{}\">Configuration</a>",
        esc::html(&p.url(&[("cmd", "dump")]))
    );
    if !p.ctx.params.read_only {
        let toggled = (p.opt ^ OPT_READ_ONLY).to_string();
        let mut pairs = view.clone();
        pairs.push(("opt", &toggled));
        let label = if p.opt & OPT_READ_ONLY != 0 {
            "Read/write view"
        } else {
            "Read-only view"
        };
        out!(o, "<a href=\"{}\">{label}</a>", esc::html(&p.url(&pairs)));
    }
    out!(o, "</nav>");
    if matches!(p.cmd, Cmd::List | Cmd::Show) {
        out!(
            o,
            "<form method=\"get\" action=\"{}\">",
            esc::html(&form_action(p))
        );
        if let Some(w) = show {
            hidden(o, "cmd", "show");
            hidden(o, "w", w);
        }
        if p.opt != 0 {
            hidden(o, "opt", &p.opt.to_string());
        }
        out!(
            o,
            "<label for=\"re\">Auto refresh</label><select id=\"re\" name=\"re\">"
        );
        let mut choices = vec![0u32, 5, 10, 30, 60, 300];
        if !choices.contains(&p.refresh) {
            choices.push(p.refresh);
            choices.sort_unstable();
        }
        for secs in choices {
            let label = match secs {
                0 => "off".to_owned(),
                s if s % 60 == 0 => format!("{} min", s / 60),
                s => format!("{s} s"),
            };
            out!(
                o,
                "<option value=\"{secs}\"{}>{label}</option>",
                if secs == p.refresh { " selected" } else { "" }
            );
        }
        out!(o, "</select><button type=\"submit\">Apply</button></form>");
    }
    out!(o, "</header>\n<main>\n");
    out!(
        o,
        "<p class=\"meta\">Server <code>{}:{}</code> · {} · {}</p>\n",
        esc::html(&p.server_name),
        p.server_port,
        esc::html(p.ctx.software),
        esc::html(&time_human(p.now_secs))
    );
}

fn foot(o: &mut String, p: &Page) {
    out!(
        o,
        "</main>\n<footer>{} · Apache License, Version 2.0</footer>\n</body></html>\n",
        esc::html(&p.version())
    );
}

fn state_class(state: MemberState) -> &'static str {
    match state {
        MemberState::Ok => "st-ok",
        MemberState::Idle => "st-idle",
        MemberState::Busy => "st-busy",
        MemberState::Error => "st-err",
        MemberState::Recover | MemberState::Force | MemberState::Probe => "st-rec",
    }
}

fn activation_title(a: Activation) -> &'static str {
    match a {
        Activation::Active => "Active",
        Activation::Disabled => "Disabled",
        Activation::Stopped => "Stopped",
    }
}

/// 1536 → `1.5 KiB`.
fn bytes_h(n: u64) -> String {
    const UNITS: [&str; 6] = ["KiB", "MiB", "GiB", "TiB", "PiB", "EiB"];
    if n < 1024 {
        return format!("{n} B");
    }
    let mut v = n as f64 / 1024.0;
    let mut unit = 0;
    while v >= 1024.0 && unit < UNITS.len() - 1 {
        v /= 1024.0;
        unit += 1;
    }
    if v < 10.0 {
        format!("{v:.1} {}", UNITS[unit])
    } else {
        format!("{v:.0} {}", UNITS[unit])
    }
}

/// 3725 → `1h 2m`.
fn ago_h(secs: u64) -> String {
    match secs {
        0..=59 => format!("{secs}s"),
        60..=3599 => format!("{}m {}s", secs / 60, secs % 60),
        3600..=86_399 => format!("{}h {}m", secs / 3600, secs % 3600 / 60),
        _ => format!("{}d {}h", secs / 86_400, secs % 86_400 / 3600),
    }
}

fn bool_text(b: bool) -> &'static str {
    if b { "True" } else { "False" }
}

// ---------------------------------------------------------------------------------------
// list / show / version
// ---------------------------------------------------------------------------------------

pub(super) fn page(p: &Page) -> String {
    let mut o = String::with_capacity(32 * 1024);
    let title = match (p.cmd, p.show) {
        (Cmd::Version, _) => "Version".to_owned(),
        (Cmd::Show, Some(w)) => format!("Worker {w}"),
        _ => "Overview".to_owned(),
    };
    let refresh = (p.refresh > 0 && matches!(p.cmd, Cmd::List | Cmd::Show)).then(|| {
        let mut pairs: Vec<(&str, &str)> = Vec::new();
        if let (Cmd::Show, Some(w)) = (p.cmd, p.show) {
            pairs.push(("cmd", "show"));
            pairs.push(("w", w));
        }
        (p.refresh, p.url(&pairs))
    });
    head(&mut o, p, &title, refresh);
    if let Some(done) = p.notice {
        notice(&mut o, true, done.message());
    }
    if p.cmd == Cmd::Version {
        out!(
            o,
            "<section class=\"card\"><h2>Version</h2><p><code>{}</code> on <code>{}</code></p></section>",
            esc::html(&p.version()),
            esc::html(p.ctx.software)
        );
        foot(&mut o, p);
        return o;
    }
    if let (Cmd::Show, Some(w)) = (p.cmd, p.show) {
        out!(
            o,
            "<nav class=\"crumbs\"><a href=\"{}\">All workers</a> › <code>{}</code></nav>",
            esc::html(&p.url(&[])),
            esc::html(w)
        );
    }
    no_reuse_notice(&mut o, p);
    // Health checks (src/health): nothing unless a worker is checked.
    crate::health::status::html_card(&mut o, &p.ctx.workers.health, p.ctx.segment, p.ctx.now_ms);
    if p.hidden(OPT_NO_LB) {
        toggle_para(&mut o, p, "Show load balancers", OPT_NO_LB);
    } else {
        for lb in &p.lbs {
            lb_section(&mut o, p, lb);
        }
    }
    if !p.ajps.is_empty() {
        if p.hidden(OPT_NO_AJP) {
            toggle_para(&mut o, p, "Show AJP workers", OPT_NO_AJP);
        } else {
            ajp_section(&mut o, p);
        }
    }
    if p.lbs.is_empty() && p.ajps.is_empty() {
        out!(
            o,
            "<section class=\"card\"><p class=\"muted\">No ajp13 or lb worker is listed in <code>worker.list</code>.</p></section>"
        );
    }
    if p.hidden(OPT_NO_MAPS) {
        toggle_para(&mut o, p, "Show URI mappings", OPT_NO_MAPS);
    } else {
        maps_section(&mut o, p);
    }
    if p.hidden(OPT_NO_LEGEND) {
        toggle_para(&mut o, p, "Show legend", OPT_NO_LEGEND);
    } else {
        legend(&mut o, p);
    }
    foot(&mut o, p);
    o
}

fn notice(o: &mut String, ok: bool, message: &str) {
    out!(
        o,
        "<div class=\"notice {}\" role=\"status\" id=\"result\" data-result=\"{}\">{}</div>",
        if ok { "ok" } else { "err" },
        if ok { "OK" } else { "ERROR" },
        esc::html(message)
    );
}

/// The current view with `bit` flipped in `opt`.
fn toggle_url(p: &Page, bit: u32) -> String {
    let opt = (p.opt ^ bit).to_string();
    let mut pairs: Vec<(&str, &str)> = Vec::new();
    if let (Cmd::Show, Some(w)) = (p.cmd, p.show) {
        pairs.push(("cmd", "show"));
        pairs.push(("w", w));
    }
    pairs.push(("opt", &opt));
    p.url(&pairs)
}

fn toggle_para(o: &mut String, p: &Page, label: &str, bit: u32) {
    out!(
        o,
        "<p class=\"meta\"><a href=\"{}\">{}</a></p>",
        esc::html(&toggle_url(p, bit)),
        esc::html(label)
    );
}

fn hide_link(o: &mut String, p: &Page, bit: u32) {
    out!(
        o,
        " <a class=\"muted\" href=\"{}\" title=\"Hide this block\">hide</a>",
        esc::html(&toggle_url(p, bit))
    );
}

fn kv(o: &mut String, label: &str, value: &str) {
    out!(
        o,
        "<div><dt>{}</dt><dd>{}</dd></div>",
        esc::html(label),
        esc::html(value)
    );
}

/// A POST form with one button (quick actions).
fn action_form(
    o: &mut String,
    p: &Page,
    fields: &[(&str, &str)],
    button: &str,
    class: &str,
    data: (&str, &str),
    title: &str,
) {
    out!(
        o,
        "<form class=\"inline\" method=\"post\" action=\"{}\">",
        esc::html(&form_action(p))
    );
    for (k, v) in fields {
        hidden(o, k, v);
    }
    if p.cmd == Cmd::Show {
        hidden(o, "from", "show");
    }
    form_common(o, p);
    out!(
        o,
        "<button type=\"submit\" class=\"{class}\" {}=\"{}\" title=\"{}\">{}</button></form>",
        data.0,
        esc::html(data.1),
        esc::html(title),
        esc::html(button)
    );
}

/// Rows of ajp13 connection settings: (name, params, map count).
fn ajp_conf_table<'a>(
    o: &mut String,
    p: &Page,
    rows: impl Iterator<Item = (&'a str, &'a AjpParams, Option<usize>)>,
) {
    let rows: Vec<_> = rows.collect();
    let with_maps = rows.iter().any(|r| r.2.is_some());
    out!(
        o,
        "<div class=\"table-wrap\"><table class=\"ajp\"><thead><tr><th>Name</th><th>Type</th>\
         <th>Host</th><th>Address:Port</th><th>Source</th>\
         <th class=\"num\" title=\"connection_pool_timeout (s)\">Pool timeout</th>\
         <th class=\"num\" title=\"connect_timeout (ms)\">Connect timeout</th>\
         <th class=\"num\" title=\"prepost_timeout (ms)\">Prepost timeout</th>\
         <th class=\"num\" title=\"reply_timeout (ms)\">Reply timeout</th>\
         <th class=\"num\">Retries</th><th class=\"num\">Recovery options</th>\
         <th class=\"num\">Busy limit</th><th class=\"num\">Max packet size</th>{}</tr></thead><tbody>",
        if with_maps {
            "<th class=\"num\">Maps</th>"
        } else {
            ""
        }
    );
    for (name, a, maps) in rows {
        out!(
            o,
            "<tr data-ajp=\"{0}\"><td><a href=\"{1}\"><code>{0}</code></a></td><td>ajp13</td>\
             <td>{2}</td><td>{3}</td><td>{4}</td>",
            esc::html(name),
            esc::html(&p.url(&[("cmd", "show"), ("w", name)])),
            esc::html(&a.host),
            esc::html(&crate::endpoint::address(&a.host, a.port)),
            esc::html(a.source.as_deref().unwrap_or("–"))
        );
        out!(
            o,
            "<td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td>\
             <td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td>\
             <td class=\"num\">{}</td><td class=\"num\">{}</td>",
            a.connection_pool_timeout_secs,
            a.connect_timeout_ms,
            a.prepost_timeout_ms,
            a.reply_timeout_ms,
            a.retries,
            a.recovery_options,
            a.busy_limit,
            a.max_packet_size
        );
        if with_maps {
            out!(o, "<td class=\"num\">{}</td>", maps.unwrap_or(0));
        }
        out!(o, "</tr>");
    }
    out!(o, "</tbody></table></div>");
}

/// Workers in no-reuse mode (their backend wrote outside an exchange), with the seconds
/// left; nothing when there are none.
fn no_reuse_notice(o: &mut String, p: &Page) {
    let now = p.ctx.now_ms;
    let members = p.lbs.iter().flat_map(|lb| {
        lb.members
            .iter()
            .map(|m| (m.snap.name.as_str(), m.no_reuse_until_ms))
    });
    let ajps = p
        .ajps
        .iter()
        .filter_map(|a| Some((a.name, a.stats.as_ref()?.no_reuse_until_ms)));
    let active: Vec<(&str, u64)> = members
        .chain(ajps)
        .filter(|&(_, until)| until > now)
        .map(|(name, until)| (name, (until - now).div_ceil(1000)))
        .collect();
    if active.is_empty() {
        return;
    }
    out!(
        o,
        "<section class=\"card\" id=\"no-reuse\"><div class=\"card-head\"><h2>Connections not reused</h2></div><ul>"
    );
    for (name, secs) in active {
        out!(
            o,
            "<li data-no-reuse=\"{}\"><code>{}</code>: its backend sent a reply outside a request \
             exchange; every request gets a fresh connection for {secs} s more \
             (<code>stray_no_reuse_time</code>).</li>",
            esc::html(name),
            esc::html(name)
        );
    }
    out!(o, "</ul></section>\n");
}

fn ajp_section(o: &mut String, p: &Page) {
    out!(
        o,
        "<section class=\"card\" id=\"ajp-workers\"><div class=\"card-head\"><h2>AJP workers</h2>\
         <span class=\"muted\">{} worker{}; statistics in the txt, xml, prop and JSON views</span>",
        p.ajps.len(),
        if p.ajps.len() == 1 { "" } else { "s" }
    );
    out!(o, "<span class=\"links\">");
    hide_link(o, p, OPT_NO_AJP);
    out!(o, "</span></div>");
    ajp_conf_table(
        o,
        p,
        p.ajps
            .iter()
            .map(|a| (a.name, &a.params, Some(a.map_count))),
    );
    out!(o, "</section>\n");
}

fn maps_section(o: &mut String, p: &Page) {
    let worker = if p.cmd == Cmd::Show { p.show } else { None };
    let rows = p.maps(worker);
    out!(
        o,
        "<section class=\"card\" id=\"maps\"><div class=\"card-head\"><h2>URI mappings</h2>\
         <span class=\"muted\">{} rule{}</span><span class=\"links\">",
        rows.len(),
        if rows.len() == 1 { "" } else { "s" }
    );
    hide_link(o, p, OPT_NO_MAPS);
    out!(o, "</span></div>");
    if rows.is_empty() {
        out!(
            o,
            "<p class=\"muted\">No rule maps to this worker.</p></section>\n"
        );
        return;
    }
    out!(
        o,
        "<div class=\"table-wrap\"><table class=\"maps\"><thead><tr><th class=\"num\">#</th>\
         <th>Server</th><th>Pattern</th><th>Worker</th><th>Type</th><th>Source</th>\
         <th>Extensions</th></tr></thead><tbody>"
    );
    for MapRef { id, server, row } in rows {
        let ext = row.extensions_text();
        out!(
            o,
            "<tr><td class=\"num\">{id}</td><td>{}</td><td><code>{}</code></td><td><code>{}</code></td>\
             <td>{}</td><td>{}</td><td>{}</td></tr>",
            esc::html(server),
            esc::html(&row.pattern),
            esc::html(&row.worker),
            esc::html(&row.type_text()),
            esc::html(&row.source),
            esc::html(if ext.is_empty() { "–" } else { &ext })
        );
    }
    out!(o, "</tbody></table></div></section>\n");
}

fn legend(o: &mut String, p: &Page) {
    out!(
        o,
        "<section class=\"card\" id=\"legend\"><div class=\"card-head\"><h2>Legend</h2><span class=\"links\">"
    );
    hide_link(o, p, OPT_NO_LEGEND);
    out!(o, "</span></div><dl class=\"legend\">");
    let states: [(&str, &str, &str); 7] = [
        ("st-ok", "OK", "last request succeeded"),
        (
            "st-idle",
            "OK/IDLE",
            "no request since the last maintenance",
        ),
        (
            "st-busy",
            "OK/BUSY",
            "no free connection in time; skipped for new requests",
        ),
        ("st-err", "ERR", "in error, waiting for the recover time"),
        (
            "st-rec",
            "ERR/REC",
            "recover time over; the next request probes it",
        ),
        ("st-rec", "ERR/PRB", "a request is probing it right now"),
        ("st-rec", "ERR/FRC", "all members failed; retried anyway"),
    ];
    for (class, name, text) in states {
        out!(
            o,
            "<div><dt><span class=\"pill {class}\">{name}</span></dt><dd>{text}</dd></div>"
        );
    }
    for (a, text) in [
        ("ACT", "Active: takes new requests"),
        ("DIS", "Disabled: only requests of its existing sessions"),
        ("STP", "Stopped: no requests at all"),
    ] {
        out!(
            o,
            "<div><dt><span class=\"pill act-pill act-{a}\">{a}</span></dt><dd>{text}</dd></div>"
        );
    }
    for (k, text) in [
        ("D", "distance (lower is preferred)"),
        ("F / M / V", "lbfactor, multiplier, lb value"),
        ("Acc", "requests assigned to the member"),
        ("Sess", "requests that carried no session"),
        (
            "Err / CE / RE",
            "backend errors, client errors, reply timeouts",
        ),
        ("Wr / Rd", "bytes written to / read from clients"),
        ("Busy / Max", "requests in flight, peak since reset"),
        ("RR / Cd", "redirect route, cluster domain"),
        ("Rs", "estimated seconds until recovery"),
        ("LR / LE", "last reset, last error"),
        (
            "Good / Degraded / Bad",
            "member ratings from the status worker's good/bad rules",
        ),
    ] {
        out!(o, "<div><dt>{k}</dt><dd>{text}</dd></div>");
    }
    out!(o, "</dl></section>\n");
}

// ---------------------------------------------------------------------------------------
// Result, error and dump pages
// ---------------------------------------------------------------------------------------

pub(super) fn message_page(
    p: &Page,
    ok: bool,
    message: &str,
    back: Option<&str>,
    log: &[String],
) -> String {
    let mut o = String::with_capacity(8 * 1024);
    let refresh = back.map(|b| (RESULT_REFRESH_SECS, b.to_owned()));
    head(&mut o, p, if ok { "Result" } else { "Error" }, refresh);
    notice(&mut o, ok, message);
    if !log.is_empty() {
        out!(o, "<section class=\"card\"><h3>Changes</h3><ul>");
        for line in log {
            out!(o, "<li>{}</li>", esc::html(line));
        }
        out!(o, "</ul></section>");
    }
    match back {
        Some(b) => out!(
            o,
            "<p class=\"meta\">Returning to the status page in {RESULT_REFRESH_SECS} s. <a href=\"{}\" id=\"back\">Go now</a></p>",
            esc::html(b)
        ),
        None => out!(
            o,
            "<p class=\"meta\"><a href=\"{}\" id=\"back\">JK Status Manager start page</a></p>",
            esc::html(&manager_url(p.path, &[]))
        ),
    }
    foot(&mut o, p);
    o
}

pub(super) fn dump(p: &Page, entries: &[(String, String)]) -> String {
    let mut o = String::with_capacity(16 * 1024);
    head(&mut o, p, "Configuration", None);
    out!(
        o,
        "<section class=\"card\"><div class=\"card-head\"><h2>Configuration as loaded</h2>\
         <span class=\"muted\">workers.properties after startup; changes made here since are not shown; secrets are omitted</span></div>\
         <pre class=\"dump\">"
    );
    for (k, v) in entries {
        out!(o, "{}={}\n", esc::html(k), esc::html(v));
    }
    out!(o, "</pre></section>");
    foot(&mut o, p);
    o
}
