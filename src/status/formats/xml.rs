//! mod_jk's `xml` format: one element per worker, values as attributes.

use super::{
    Field, Outcome, TZ, ajp_worker_fields, field, jk_keys, lb_fields, listing, map_fields,
    member_fields, result_type,
};
use crate::status::escape as esc;
use crate::status::view::{Page, time_text};
use crate::status::{OPT_NO_AJP, OPT_NO_LB, OPT_NO_MAPS, OPT_NO_MEMBERS};

/// The element prefix: the configured `ns` when it is a plain prefix, else `jk:`.
pub(super) fn xml_ns<'a>(p: &Page<'a>) -> &'a str {
    let ns = p.ctx.params.ns.as_str();
    let valid = ns.is_empty()
        || (ns.ends_with(':')
            && ns.len() > 1
            && ns[..ns.len() - 1]
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'))
            && ns.as_bytes()[0].is_ascii_alphabetic());
    if valid { ns } else { "jk:" }
}

fn xml_element(o: &mut String, ns: &str, indent: usize, name: &str, fields: &[Field], close: bool) {
    out!(o, "{:indent$}<{ns}{name}\n", "");
    for f in fields {
        out!(
            o,
            "{:w$}{}=\"{}\"\n",
            "",
            f.key,
            esc::xml(&f.value),
            w = indent + 2
        );
    }
    out!(o, "{:indent$}{}>\n", "", if close { "/" } else { "" });
}

fn xml_head(o: &mut String, p: &Page, ns: &str) {
    xml_open(o, p, ns);
    xml_element(
        o,
        ns,
        0,
        "server",
        &[field("name", &p.server_name), field("port", p.server_port)],
        true,
    );
    xml_element(
        o,
        ns,
        0,
        "time",
        &[
            field("datetime", time_text(p.now_secs)),
            field("tz", TZ),
            field("unix", p.now_secs),
        ],
        true,
    );
    xml_element(
        o,
        ns,
        0,
        "software",
        &[
            field("web_server", p.ctx.software),
            field("jk_version", p.version()),
        ],
        true,
    );
}

/// The declaration, doctype and the opening `status` element.
pub(super) fn xml_open(o: &mut String, p: &Page, ns: &str) {
    out!(o, "<?xml version=\"1.0\" encoding=\"UTF-8\" ?>\n");
    if let Some(doctype) = &p.ctx.params.doctype {
        out!(o, "{doctype}\n");
    }
    out!(o, "<{ns}status");
    if !p.ctx.params.xmlns.is_empty() {
        out!(o, "\n  {}", p.ctx.params.xmlns);
    }
    out!(o, ">\n");
}

pub(super) fn xml_tail(o: &mut String, ns: &str, outcome: Outcome) {
    if let Some((ok, message)) = outcome {
        xml_element(
            o,
            ns,
            2,
            "result",
            &[field("type", result_type(ok)), field("message", message)],
            true,
        );
    }
    out!(o, "</{ns}status>\n");
}

pub(crate) fn xml(p: &Page, outcome: Outcome) -> String {
    let ns = xml_ns(p);
    let mut o = String::with_capacity(16 * 1024);
    xml_head(&mut o, p, ns);
    // `show` answers the worker's elements alone, without the list wrappers (mod_jk).
    let wrap = p.show.is_none();
    if listing(p) {
        if !p.hidden(OPT_NO_LB) && (wrap || !p.lbs.is_empty()) {
            if wrap {
                xml_element(
                    &mut o,
                    ns,
                    0,
                    "balancers",
                    &[field("count", p.lbs.len())],
                    false,
                );
            }
            for lb in &p.lbs {
                xml_element(&mut o, ns, 2, "balancer", &jk_keys(lb_fields(p, lb)), false);
                if !p.hidden(OPT_NO_MEMBERS) {
                    for m in &lb.members {
                        xml_element(&mut o, ns, 4, "member", &jk_keys(member_fields(p, m)), true);
                    }
                }
                if !p.hidden(OPT_NO_MAPS) {
                    for m in p.maps(Some(lb.name)) {
                        xml_element(&mut o, ns, 6, "map", &map_fields(&m), true);
                    }
                }
                out!(o, "  </{ns}balancer>\n");
            }
            if wrap {
                out!(o, "</{ns}balancers>\n");
            }
        }
        if !p.hidden(OPT_NO_AJP) && (wrap || !p.ajps.is_empty()) {
            if wrap {
                xml_element(
                    &mut o,
                    ns,
                    0,
                    "ajp_workers",
                    &[field("count", p.ajps.len())],
                    false,
                );
            }
            // mod_jk closes an ajp element at once and lists its maps after it.
            for a in &p.ajps {
                xml_element(
                    &mut o,
                    ns,
                    2,
                    "ajp",
                    &jk_keys(ajp_worker_fields(p, a)),
                    true,
                );
                if !p.hidden(OPT_NO_MAPS) {
                    for m in p.maps(Some(a.name)) {
                        xml_element(&mut o, ns, 6, "map", &map_fields(&m), true);
                    }
                }
            }
            if wrap {
                out!(o, "</{ns}ajp_workers>\n");
            }
        }
    }
    xml_tail(&mut o, ns, outcome);
    o
}

fn xml_name_ok(key: &str) -> bool {
    let mut bytes = key.bytes();
    bytes
        .next()
        .is_some_and(|b| b.is_ascii_alphabetic() || b == b'_')
        && bytes.all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'))
}

pub(crate) fn xml_dump(p: &Page, entries: &[(String, String)]) -> String {
    let ns = xml_ns(p);
    let mut o = String::with_capacity(16 * 1024);
    xml_head(&mut o, p, ns);
    out!(o, "  <{ns}configuration\n");
    for (k, v) in entries.iter().filter(|(k, _)| xml_name_ok(k)) {
        out!(o, "    {k}=\"{}\"\n", esc::xml(v));
    }
    out!(o, "  />\n");
    xml_tail(&mut o, ns, Some((true, "Action finished")));
    o
}
