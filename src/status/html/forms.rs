//! The edit forms: a member, one attribute for all members, the lb settings, and a
//! standalone ajp13 worker. They POST `update` with the form token.

use super::{
    activation_title, ajp_conf_table, bool_text, foot, form_action, form_common, head, hidden,
    state_class,
};
use crate::config::workers::{Activation, AjpParams, LbMethod};
use crate::status::actions::{AttrSpec, ajp_attrs};
use crate::status::escape as esc;
use crate::status::view::{AjpView, LbView, MemberView, Page};

fn crumbs(o: &mut String, p: &Page, lb: &str, last: &str) {
    out!(
        o,
        "<nav class=\"crumbs\"><a href=\"{}\">All workers</a> › <a href=\"{}\"><code>{}</code></a> › {}</nav>",
        esc::html(&p.url(&[])),
        esc::html(&p.url(&[("cmd", "show"), ("w", lb)])),
        esc::html(lb),
        esc::html(last)
    );
}

fn back_url(p: &Page, lb: &str, from: Option<&str>) -> String {
    if from == Some("show") {
        p.url(&[("cmd", "show"), ("w", lb)])
    } else {
        p.url(&[])
    }
}

fn form_start(o: &mut String, p: &Page, id: &str, fields: &[(&str, &str)], from: Option<&str>) {
    out!(
        o,
        "<form class=\"edit\" id=\"{id}\" method=\"post\" action=\"{}\">",
        esc::html(&form_action(p))
    );
    for (k, v) in fields {
        hidden(o, k, v);
    }
    if let Some(f) = from {
        hidden(o, "from", f);
    }
    form_common(o, p);
}

/// Inputs for the editable ajp13 values (mod_jk's parameter names).
fn ajp_rows(o: &mut String, a: &AjpParams) {
    for (param, key, value) in ajp_attrs(a) {
        if param == "vahst" {
            text_row(o, param, key, &value, true, "backend host name or address");
        } else {
            let v = value.parse::<i64>().unwrap_or(0);
            number_row(o, param, key, v, 0, i64::from(i32::MAX), "");
        }
    }
}

fn form_end(o: &mut String, back: &str) {
    out!(
        o,
        "<div class=\"buttons\"><button type=\"submit\" id=\"save\" class=\"primary\">Save changes</button>\
         <a class=\"btn\" id=\"cancel\" href=\"{}\">Cancel</a></div></form>",
        esc::html(back)
    );
}

fn activation_select(o: &mut String, id: &str, name: &str, current: Activation) {
    out!(o, "<select id=\"{id}\" name=\"{name}\">");
    for a in [
        Activation::Active,
        Activation::Disabled,
        Activation::Stopped,
    ] {
        let t = activation_title(a);
        out!(
            o,
            "<option value=\"{t}\"{}>{t}</option>",
            if a == current { " selected" } else { "" }
        );
    }
    out!(o, "</select>");
}

fn text_row(o: &mut String, id: &str, label: &str, value: &str, required: bool, help: &str) {
    out!(
        o,
        "<label for=\"{id}\">{label}</label><input id=\"{id}\" name=\"{id}\" type=\"text\" maxlength=\"63\" \
         value=\"{}\"{} autocomplete=\"off\" spellcheck=\"false\"><small>{help}</small>",
        esc::html(value),
        if required { " required" } else { "" }
    );
}

fn number_row(o: &mut String, id: &str, label: &str, value: i64, min: i64, max: i64, help: &str) {
    out!(
        o,
        "<label for=\"{id}\">{label}</label><input id=\"{id}\" name=\"{id}\" type=\"number\" min=\"{min}\" \
         max=\"{max}\" step=\"1\" value=\"{value}\" required><small>{help}</small>"
    );
}

pub(crate) fn edit_member(p: &Page, lb: &LbView, m: &MemberView, from: Option<&str>) -> String {
    let mut o = String::with_capacity(16 * 1024);
    let s = &m.snap;
    head(&mut o, p, &format!("Edit {}", s.name), None);
    crumbs(&mut o, p, lb.name, &format!("Edit member {}", s.name));
    out!(
        o,
        "<section class=\"card\" data-lb=\"{0}\"><div class=\"card-head\"><h2>Edit member <code>{1}</code> of <code>{0}</code></h2>\
         <span class=\"pill {2}\">{3}</span><span class=\"pill act-pill act-{4}\">{4}</span></div>",
        esc::html(lb.name),
        esc::html(&s.name),
        state_class(s.state),
        esc::html(s.state.as_str()),
        s.activation.as_str()
    );
    let back = back_url(p, lb.name, from);
    form_start(
        &mut o,
        p,
        "edit-member",
        &[("cmd", "update"), ("w", lb.name), ("sw", &s.name)],
        from,
    );
    out!(o, "<div class=\"grid\">");
    out!(o, "<label for=\"vwa\">Activation</label>");
    activation_select(&mut o, "vwa", "vwa", s.activation);
    out!(
        o,
        "<small>Disabled: only requests of its existing sessions. Stopped: no requests.</small>"
    );
    number_row(
        &mut o,
        "vwf",
        "LB factor",
        i64::from(s.lbfactor),
        1,
        i64::from(i32::MAX),
        "relative weight (at least 1)",
    );
    text_row(
        &mut o,
        "vwn",
        "Route",
        &s.route,
        true,
        "the Tomcat jvmRoute of this member",
    );
    text_row(
        &mut o,
        "vwr",
        "Redirect route",
        &s.redirect,
        false,
        "failover member for this member's sessions (empty: none)",
    );
    text_row(
        &mut o,
        "vwc",
        "Cluster domain",
        &s.domain,
        false,
        "members sharing sessions (empty: none)",
    );
    number_row(
        &mut o,
        "vwd",
        "Distance",
        s.distance,
        0,
        i64::from(i32::MAX),
        "lower distances are preferred",
    );
    if let Some(a) = &m.ajp {
        ajp_rows(&mut o, a);
    }
    out!(o, "</div>");
    form_end(&mut o, &back);
    out!(o, "</section>");
    foot(&mut o, p);
    o
}

pub(crate) fn edit_attribute(p: &Page, lb: &LbView, spec: AttrSpec, from: Option<&str>) -> String {
    let mut o = String::with_capacity(16 * 1024);
    head(
        &mut o,
        p,
        &format!("Edit {} of {}", spec.label, lb.name),
        None,
    );
    crumbs(
        &mut o,
        p,
        lb.name,
        &format!("Edit {} of all members", spec.label),
    );
    out!(
        o,
        "<section class=\"card\" data-lb=\"{}\"><div class=\"card-head\"><h2>{} of all members of <code>{}</code></h2></div>",
        esc::html(lb.name),
        esc::html(spec.label),
        esc::html(lb.name)
    );
    let back = back_url(p, lb.name, from);
    form_start(
        &mut o,
        p,
        "edit-attribute",
        &[("cmd", "update"), ("w", lb.name), ("att", spec.param)],
        from,
    );
    out!(
        o,
        "<div class=\"table-wrap\"><table><thead><tr><th>Member</th><th>{}</th></tr></thead><tbody>",
        esc::html(spec.label)
    );
    for (i, m) in lb.members.iter().enumerate() {
        let s = &m.snap;
        let field = format!("val{i}");
        out!(
            o,
            "<tr data-member=\"{}\"><td><label for=\"{field}\"><code>{}</code></label></td><td>",
            esc::html(&s.name),
            esc::html(&s.name)
        );
        match spec.param {
            "vwa" => activation_select(&mut o, &field, &field, s.activation),
            "vwf" | "vwd" => {
                let (v, min) = if spec.param == "vwf" {
                    (i64::from(s.lbfactor), 1)
                } else {
                    (s.distance, 0)
                };
                out!(
                    o,
                    "<input id=\"{field}\" name=\"{field}\" type=\"number\" min=\"{min}\" max=\"{}\" value=\"{v}\" required>",
                    i32::MAX
                );
            }
            _ => {
                let v = match spec.param {
                    "vwn" => &s.route,
                    "vwr" => &s.redirect,
                    _ => &s.domain,
                };
                out!(
                    o,
                    "<input id=\"{field}\" name=\"{field}\" type=\"text\" maxlength=\"63\" value=\"{}\"{}>",
                    esc::html(v),
                    if spec.param == "vwn" { " required" } else { "" }
                );
            }
        }
        out!(o, "</td></tr>");
    }
    out!(o, "</tbody></table></div><p></p>");
    form_end(&mut o, &back);
    out!(o, "</section>");
    foot(&mut o, p);
    o
}

pub(crate) fn edit_lb(p: &Page, lb: &LbView, from: Option<&str>) -> String {
    let mut o = String::with_capacity(16 * 1024);
    let s = &lb.settings;
    head(&mut o, p, &format!("Edit {}", lb.name), None);
    crumbs(&mut o, p, lb.name, "Edit settings");
    out!(
        o,
        "<section class=\"card\" data-lb=\"{}\"><div class=\"card-head\"><h2>Settings of load balancer <code>{}</code></h2></div>",
        esc::html(lb.name),
        esc::html(lb.name)
    );
    let back = back_url(p, lb.name, from);
    form_start(
        &mut o,
        p,
        "edit-lb",
        &[("cmd", "update"), ("w", lb.name)],
        from,
    );
    out!(o, "<div class=\"grid\">");
    let numbers: [(&str, &str, u32, i64, i64, &str); 5] = [
        (
            "vlr",
            "Retries",
            s.retries,
            1,
            100,
            "passes over the members per request",
        ),
        (
            "vlri",
            "Retry interval (ms)",
            s.retry_interval_ms,
            1,
            3_600_000,
            "sleep between passes",
        ),
        (
            "vlt",
            "Recover wait time (s)",
            s.recover_time_secs,
            1,
            604_800,
            "time in error before a member is tried again",
        ),
        (
            "vlee",
            "Error escalation time (s)",
            s.error_escalation_time_secs,
            0,
            604_800,
            "local errors become global after this",
        ),
        (
            "vlx",
            "Max reply timeouts",
            s.max_reply_timeouts,
            0,
            1_000_000,
            "reply timeouts tolerated before error state",
        ),
    ];
    for (id, label, value, min, max, help) in numbers {
        number_row(&mut o, id, label, i64::from(value), min, max, help);
    }
    lb_selects(&mut o, lb);
    out!(o, "</div>");
    form_end(&mut o, &back);
    out!(o, "</section>");
    foot(&mut o, p);
    o
}

/// The sticky-session and method selects of the lb form, and the lock (not editable).
fn lb_selects(o: &mut String, lb: &LbView) {
    let s = &lb.settings;
    for (id, label, value, help) in [
        (
            "vls",
            "Sticky sessions",
            s.sticky_session,
            "route requests of a session to its member",
        ),
        (
            "vlf",
            "Force sticky sessions",
            s.sticky_session_force,
            "no failover for requests carrying a session",
        ),
    ] {
        out!(
            o,
            "<label for=\"{id}\">{label}</label><select id=\"{id}\" name=\"{id}\">"
        );
        for b in [true, false] {
            out!(
                o,
                "<option value=\"{0}\"{1}>{0}</option>",
                bool_text(b),
                if b == value { " selected" } else { "" }
            );
        }
        out!(o, "</select><small>{help}</small>");
    }
    out!(
        o,
        "<label for=\"vlm\">LB method</label><select id=\"vlm\" name=\"vlm\">"
    );
    for m in [
        LbMethod::Request,
        LbMethod::Traffic,
        LbMethod::Busyness,
        LbMethod::Sessions,
        LbMethod::Next,
    ] {
        out!(
            o,
            "<option value=\"{0}\"{1}>{0}</option>",
            m.as_str(),
            if m == s.method { " selected" } else { "" }
        );
    }
    out!(
        o,
        "</select><small>changing it restarts the lb values</small>\
         <label>Locking</label><span>{}</span><small>not editable at runtime in mod_rjk</small>",
        lb.params.lock.as_str()
    );
}

pub(crate) fn edit_ajp(p: &Page, ajp: &AjpView) -> String {
    let mut o = String::with_capacity(8 * 1024);
    head(&mut o, p, &format!("Worker {}", ajp.name), None);
    out!(
        o,
        "<nav class=\"crumbs\"><a href=\"{}\">All workers</a> › <code>{}</code></nav>\
         <section class=\"card\"><div class=\"card-head\"><h2>AJP worker <code>{}</code></h2></div>\
         <p>Changes apply to every child at once; a new host or port closes the idle connections.</p>",
        esc::html(&p.url(&[])),
        esc::html(ajp.name),
        esc::html(ajp.name)
    );
    ajp_conf_table(
        &mut o,
        p,
        std::iter::once((ajp.name, &ajp.params, Some(ajp.map_count))),
    );
    let back = p.url(&[("cmd", "show"), ("w", ajp.name)]);
    form_start(
        &mut o,
        p,
        "edit-ajp",
        &[("cmd", "update"), ("w", ajp.name)],
        Some("show"),
    );
    out!(o, "<div class=\"grid\">");
    ajp_rows(&mut o, &ajp.params);
    out!(o, "</div>");
    form_end(&mut o, &back);
    out!(o, "</section>");
    foot(&mut o, p);
    o
}
