//! The card of a load balancer: its settings, summary, members and their actions.

use super::{
    action_form, activation_title, ago_h, ajp_conf_table, bool_text, bytes_h, form_action, hidden,
    hide_link, kv, state_class, toggle_para,
};
use crate::config::workers::Activation;
use crate::lb::{MemberSnapshot, MemberState};
use crate::status::actions::MEMBER_ATTRS;
use crate::status::escape as esc;
use crate::status::params::Cmd;
use crate::status::view::{LbView, MemberView, Page, time_human};
use crate::status::{OPT_NO_AJP_CONF, OPT_NO_LB_CONF, OPT_NO_LB_SUMMARY, OPT_NO_MEMBERS};

pub(super) fn lb_section(o: &mut String, p: &Page, lb: &LbView) {
    lb_head(o, p, lb);
    lb_config(o, p, lb);
    lb_summary(o, p, lb);
    lb_members(o, p, lb);
    out!(o, "</section>\n");
}

/// The card head: name, overall rating and the lb's links and buttons.
fn lb_head(o: &mut String, p: &Page, lb: &LbView) {
    let overall = lb.overall();
    out!(
        o,
        "<section class=\"card lb\" id=\"lb-{0}\" data-lb=\"{0}\"><div class=\"card-head\">\
         <h2>Load balancer <code>{0}</code></h2><span class=\"badge r-{1}\" data-lb-status=\"{1}\">{1}</span>",
        esc::html(lb.name),
        overall.as_str()
    );
    if !lb.runtime {
        out!(
            o,
            "<span class=\"muted\">no shared runtime state: configured values shown</span>"
        );
    }
    out!(o, "<span class=\"links\">");
    if p.cmd != Cmd::Show {
        out!(
            o,
            "<a class=\"btn\" href=\"{}\">Show</a>",
            esc::html(&p.url(&[("cmd", "show"), ("w", lb.name)]))
        );
    }
    if !p.read_only && lb.runtime {
        out!(
            o,
            "<a class=\"btn\" data-edit-lb=\"{}\" href=\"{}\">Edit settings</a>",
            esc::html(lb.name),
            esc::html(&p.url(&[("cmd", "edit"), ("w", lb.name)]))
        );
        action_form(
            o,
            p,
            &[("cmd", "reset"), ("w", lb.name)],
            "Reset statistics",
            "danger",
            ("data-reset-lb", lb.name),
            "Zero the counters of the balancer and all its members",
        );
    }
    out!(o, "</span></div>");
}

fn lb_config(o: &mut String, p: &Page, lb: &LbView) {
    let s = &lb.settings;
    if p.hidden(OPT_NO_LB_CONF) {
        toggle_para(o, p, "Show balancer configuration", OPT_NO_LB_CONF);
    } else {
        out!(o, "<dl class=\"kv\">");
        kv(o, "Sticky sessions", bool_text(s.sticky_session));
        kv(o, "Force sticky", bool_text(s.sticky_session_force));
        kv(o, "Retries", &s.retries.to_string());
        kv(o, "Member retries", &s.lb_retries.to_string());
        kv(o, "Retry interval", &format!("{} ms", s.retry_interval_ms));
        kv(o, "Method", s.method.as_str());
        kv(o, "Locking", lb.params.lock.as_str());
        kv(o, "Recover wait", &format!("{} s", s.recover_time_secs));
        kv(
            o,
            "Error escalation",
            &format!("{} s", s.error_escalation_time_secs),
        );
        kv(o, "Max reply timeouts", &s.max_reply_timeouts.to_string());
        kv(o, "Session cookie", &lb.params.session_cookie);
        out!(o, "</dl>");
    }
}

/// Members by rating, busy, next maintenance and last reset.
fn lb_summary(o: &mut String, p: &Page, lb: &LbView) {
    if p.hidden(OPT_NO_LB_SUMMARY) {
        toggle_para(o, p, "Show balancer summary", OPT_NO_LB_SUMMARY);
    } else {
        out!(o, "<div class=\"chips\">");
        for (class, label, n) in [
            ("good", "Good", lb.good),
            ("degraded", "Degraded", lb.degraded),
            ("bad", "Bad/Stopped", lb.bad),
        ] {
            out!(
                o,
                "<div class=\"chip {class}\" data-summary=\"{class}\"><b>{n}</b><span>{label}</span></div>"
            );
        }
        out!(
            o,
            "<div class=\"chip\"><b>{}</b><span>Busy</span></div>\
             <div class=\"chip\"><b>{}</b><span>Max busy</span></div>",
            lb.busy,
            lb.max_busy
        );
        let maint = if lb.maintain_max == 0 {
            "off".to_owned()
        } else {
            format!("{}–{} s", lb.maintain_min, lb.maintain_max)
        };
        out!(
            o,
            "<div class=\"chip\"><b>{}</b><span>Next maintenance</span></div>",
            esc::html(&maint)
        );
        let reset = if lb.last_reset_ms == 0 {
            "never".to_owned()
        } else {
            format!(
                "{} ago",
                ago_h(p.now_secs.saturating_sub(lb.last_reset_ms / 1000))
            )
        };
        out!(
            o,
            "<div class=\"chip\"><b>{}</b><span>Last reset</span></div>",
            esc::html(&reset)
        );
        hide_link(o, p, OPT_NO_LB_SUMMARY);
        out!(o, "</div>");
    }
}

/// The member table, the one-attribute-for-all form and the members' ajp13 settings.
fn lb_members(o: &mut String, p: &Page, lb: &LbView) {
    if p.hidden(OPT_NO_MEMBERS) {
        toggle_para(o, p, "Show balancer members", OPT_NO_MEMBERS);
    } else {
        member_table(o, p, lb);
        if !p.read_only && lb.runtime && !lb.members.is_empty() {
            out!(
                o,
                "<form method=\"get\" action=\"{}\" class=\"inline\" style=\"display:block;margin-top:10px\">",
                esc::html(&form_action(p))
            );
            hidden(o, "cmd", "edit");
            hidden(o, "w", lb.name);
            if p.cmd == Cmd::Show {
                hidden(o, "from", "show");
            }
            if p.opt != 0 {
                hidden(o, "opt", &p.opt.to_string());
            }
            out!(
                o,
                "<label class=\"muted\" for=\"att-{0}\">Edit one attribute for all members:</label> \
                 <select id=\"att-{0}\" name=\"att\">",
                esc::html(lb.name)
            );
            for a in MEMBER_ATTRS {
                out!(o, "<option value=\"{}\">{}</option>", a.param, a.label);
            }
            out!(o, "</select> <button type=\"submit\">Edit</button></form>");
        }
        if p.hidden(OPT_NO_AJP_CONF) {
            toggle_para(o, p, "Show member connection settings", OPT_NO_AJP_CONF);
        } else if !lb.members.is_empty() {
            out!(o, "<h3>Member connection settings");
            hide_link(o, p, OPT_NO_AJP_CONF);
            out!(o, "</h3>");
            ajp_conf_table(
                o,
                p,
                lb.members
                    .iter()
                    .filter_map(|m| m.ajp.as_ref().map(|a| (m.snap.name.as_str(), a, None))),
            );
        }
    }
}

fn member_table(o: &mut String, p: &Page, lb: &LbView) {
    let actions = !p.read_only && lb.runtime;
    out!(
        o,
        "<div class=\"table-wrap\"><table class=\"members\"><thead><tr>\
         <th title=\"Member (worker) name\">Name</th>\
         <th title=\"Activation: ACT active, DIS disabled, STP stopped\">Act</th>\
         <th title=\"Runtime state\">State</th>\
         <th class=\"num\" title=\"Distance\">D</th>\
         <th class=\"num\" title=\"Load balancing factor\">F</th>\
         <th class=\"num\" title=\"Load balancing multiplier\">M</th>\
         <th class=\"num\" title=\"Load balancing value\">V</th>\
         <th class=\"num\" title=\"Requests assigned (elected)\">Acc</th>\
         <th class=\"num\" title=\"Requests without a session\">Sess</th>\
         <th class=\"num\" title=\"Backend errors\">Err</th>\
         <th class=\"num\" title=\"Client errors\">CE</th>\
         <th class=\"num\" title=\"Reply timeouts (decayed)\">RE</th>\
         <th class=\"num\" title=\"Bytes written to clients\">Wr</th>\
         <th class=\"num\" title=\"Bytes read from clients\">Rd</th>\
         <th class=\"num\" title=\"Requests in flight\">Busy</th>\
         <th class=\"num\" title=\"Most requests in flight since reset\">Max</th>\
         <th title=\"Route (jvmRoute)\">Route</th>\
         <th title=\"Redirect route\">RR</th>\
         <th title=\"Cluster domain\">Cd</th>\
         <th title=\"Time to recovery (estimate)\">Rs</th>\
         <th title=\"Last reset\">LR</th>\
         <th title=\"Last error\">LE</th>{}\
         </tr></thead><tbody>",
        if actions { "<th>Actions</th>" } else { "" }
    );
    for m in &lb.members {
        member_row(o, p, lb, m, actions);
    }
    out!(o, "</tbody></table></div>");
}

fn member_row(o: &mut String, p: &Page, lb: &LbView, m: &MemberView, actions: bool) {
    let s = &m.snap;
    let act = s.activation.as_str();
    let state = s.state.as_str();
    out!(
        o,
        "<tr class=\"m act-{act} {}\" data-member=\"{}\" data-activation=\"{act}\" data-state=\"{}\" data-rating=\"{}\">",
        state_class(s.state),
        esc::html(&s.name),
        esc::html(state),
        m.rating.as_str()
    );
    out!(
        o,
        "<td class=\"name\"><a href=\"{}\" title=\"Show the worker's connection settings\"><code>{}</code></a></td>",
        esc::html(&p.url(&[("cmd", "show"), ("w", &s.name)])),
        esc::html(&s.name)
    );
    out!(
        o,
        "<td><span class=\"pill act-pill act-{act}\" title=\"{}\">{act}</span></td>\
         <td><span class=\"pill {}\" title=\"Rated {}\">{}</span></td>",
        activation_title(s.activation),
        state_class(s.state),
        m.rating.as_str(),
        esc::html(state)
    );
    out!(
        o,
        "<td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td>\
         <td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td>\
         <td class=\"num\">{}</td>",
        s.distance,
        s.lbfactor,
        s.lb_mult,
        s.lb_value,
        s.elected,
        s.sessions,
        s.errors,
        s.client_errors,
        s.reply_timeouts
    );
    out!(
        o,
        "<td class=\"num\" title=\"{} bytes\">{}</td><td class=\"num\" title=\"{} bytes\">{}</td>\
         <td class=\"num\">{}</td><td class=\"num\">{}</td>",
        s.bytes_written,
        bytes_h(s.bytes_written),
        s.bytes_read,
        bytes_h(s.bytes_read),
        s.busy,
        s.max_busy
    );
    let dash = |v: &str| {
        if v.is_empty() {
            "–".to_owned()
        } else {
            v.to_owned()
        }
    };
    out!(
        o,
        "<td><code>{}</code></td><td>{}</td><td>{}</td>",
        esc::html(&s.route),
        esc::html(&dash(&s.redirect)),
        esc::html(&dash(&s.domain))
    );
    member_times(o, p, m);
    if actions {
        member_actions(o, p, lb, s);
    }
    out!(o, "</tr>");
}

/// Time to recovery, last reset and last error of a member.
fn member_times(o: &mut String, p: &Page, m: &MemberView) {
    let s = &m.snap;
    let rs = if s.state == MemberState::Error {
        format!("{}–{} s", m.recover_min, m.recover_max)
    } else {
        "–".to_owned()
    };
    let lr = if s.last_reset_ms == 0 {
        "never".to_owned()
    } else {
        ago_h(p.now_secs.saturating_sub(s.last_reset_ms / 1000))
    };
    let le = match s.last_error_ms {
        0 => "–".to_owned(),
        ms => format!("{} ago", ago_h(p.now_secs.saturating_sub(ms / 1000))),
    };
    out!(
        o,
        "<td>{}</td><td>{}</td><td title=\"{}\">{}</td>",
        esc::html(&rs),
        esc::html(&lr),
        if s.last_error_ms == 0 {
            String::new()
        } else {
            time_human(s.last_error_ms / 1000)
        },
        esc::html(&le)
    );
}

/// The Edit link and the Disable/Enable, Reset and Recover buttons of a member.
fn member_actions(o: &mut String, p: &Page, lb: &LbView, s: &MemberSnapshot) {
    out!(o, "<td><div class=\"actions\">");
    let mut edit: Vec<(&str, &str)> = vec![("cmd", "edit"), ("w", lb.name), ("sw", &s.name)];
    if p.cmd == Cmd::Show {
        edit.push(("from", "show"));
    }
    out!(
        o,
        "<a class=\"btn\" data-edit-member=\"{}\" href=\"{}\">Edit</a>",
        esc::html(&s.name),
        esc::html(&p.url(&edit))
    );
    if s.activation == Activation::Active {
        action_form(
            o,
            p,
            &[
                ("cmd", "update"),
                ("w", lb.name),
                ("sw", &s.name),
                ("vwa", "Disabled"),
            ],
            "Disable",
            "warn",
            ("data-quick", "disable"),
            "Disable: keep serving existing sessions, no new ones",
        );
    } else {
        action_form(
            o,
            p,
            &[
                ("cmd", "update"),
                ("w", lb.name),
                ("sw", &s.name),
                ("vwa", "Active"),
            ],
            "Enable",
            "good",
            ("data-quick", "enable"),
            "Activate: take new requests again",
        );
    }
    action_form(
        o,
        p,
        &[("cmd", "reset"), ("w", lb.name), ("sw", &s.name)],
        "Reset",
        "",
        ("data-reset-member", &s.name),
        "Zero this member's counters",
    );
    if matches!(s.state, MemberState::Error | MemberState::Force) {
        action_form(
            o,
            p,
            &[("cmd", "recover"), ("w", lb.name), ("sw", &s.name)],
            "Recover",
            "danger",
            ("data-recover-member", &s.name),
            "Try this member again with the next request",
        );
    }
    out!(o, "</div></td>");
}
