//! mod_jk's `txt` format: one line per object, `key=value` tokens.

use super::{
    Field, Outcome, TZ, ajp_worker_fields, field, jk_keys, lb_fields, listing, map_fields,
    member_fields, qfield, result_type,
};
use crate::status::escape as esc;
use crate::status::view::{Page, time_text};
use crate::status::{OPT_NO_AJP, OPT_NO_LB, OPT_NO_MAPS, OPT_NO_MEMBERS};

fn txt_line(o: &mut String, label: &str, fields: &[Field]) {
    out!(o, "{label}:");
    for f in fields {
        if f.quoted {
            out!(o, " {}=\"{}\"", f.key, esc::txt(&f.value));
        } else {
            out!(o, " {}={}", f.key, esc::txt_token(&f.value));
        }
    }
    out!(o, "\n");
}

fn txt_head(o: &mut String, p: &Page) {
    txt_line(
        o,
        "Server",
        &[field("name", &p.server_name), field("port", p.server_port)],
    );
    txt_line(
        o,
        "Time",
        &[
            field("datetime", time_text(p.now_secs)),
            field("tz", TZ),
            field("unix", p.now_secs),
        ],
    );
    txt_line(
        o,
        "Software",
        &[
            qfield("web_server", p.ctx.software),
            field("jk_version", p.version()),
        ],
    );
}

pub(super) fn txt_result(o: &mut String, outcome: Outcome) {
    if let Some((ok, message)) = outcome {
        txt_line(
            o,
            "Result",
            &[field("type", result_type(ok)), qfield("message", message)],
        );
    }
}

pub(crate) fn txt(p: &Page, outcome: Outcome) -> String {
    let mut o = String::with_capacity(8 * 1024);
    txt_head(&mut o, p);
    if listing(p) {
        if !p.hidden(OPT_NO_LB) {
            if p.show.is_none() {
                out!(o, "Balancer Workers: count={}\n", p.lbs.len());
            }
            for lb in &p.lbs {
                txt_line(&mut o, "Balancer Worker", &jk_keys(lb_fields(p, lb)));
                if !p.hidden(OPT_NO_MEMBERS) {
                    for m in &lb.members {
                        txt_line(&mut o, "Member", &jk_keys(member_fields(p, m)));
                    }
                }
                if !p.hidden(OPT_NO_MAPS) {
                    for m in p.maps(Some(lb.name)) {
                        txt_line(&mut o, "Map", &map_fields(&m));
                    }
                }
            }
        }
        if !p.hidden(OPT_NO_AJP) {
            if p.show.is_none() {
                out!(o, "AJP Workers: count={}\n", p.ajps.len());
            }
            for a in &p.ajps {
                txt_line(&mut o, "AJP Worker", &ajp_worker_fields(p, a));
                if !p.hidden(OPT_NO_MAPS) {
                    for m in p.maps(Some(a.name)) {
                        txt_line(&mut o, "Map", &map_fields(&m));
                    }
                }
            }
        }
    }
    txt_result(&mut o, outcome);
    o
}

pub(crate) fn txt_dump(p: &Page, entries: &[(String, String)]) -> String {
    let mut o = String::with_capacity(8 * 1024);
    txt_head(&mut o, p);
    out!(o, "Configuration:\n");
    for (k, v) in entries {
        out!(o, "{}={}\n", esc::txt_token(k), esc::txt(v));
    }
    txt_result(&mut o, Some((true, "Action finished")));
    o
}
