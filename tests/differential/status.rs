//! Part 3: the status worker after the same traffic: list and show in xml, txt and prop,
//! then what update, reset and recover leave behind.

use crate::compare::{self, Diff, Record};
use crate::setup::Pair;
use crate::{Side, sides};

/// Values that are clocks or ages, or ids of processes: they differ between any two
/// runs. Only these attribute names are masked, in every format.
const VOLATILE: &[&str] = &[
    "datetime",
    "tz",
    "unix",
    "time_datetime",
    "time_unix",
    "rfc1123",
    "last_reset_at",
    "last_reset_ago",
    "time_to_recover_min",
    "time_to_recover_max",
    "time_to_maintenance_min",
    "time_to_maintenance_max",
    "error_time_ago",
    "error_time_datetime",
    "error_time_unix_seconds",
    "error_time_ago seconds",
    "error_time_unix seconds",
];

/// The module's own identity: its name and version, and httpd's banner that carries it.
const IDENTITY: &[&str] = &["jk_version", "web_server"];

fn norm(side: &Side<'_>, key: &str, value: &str) -> String {
    let attr = key.rsplit(['@', '.']).next().unwrap_or(key);
    if VOLATILE.contains(&attr) {
        return "<time>".into();
    }
    if IDENTITY.contains(&attr) {
        return "<module identity>".into();
    }
    // Backend connections open in all children: each child that served a request keeps
    // its own, so the count follows which children the requests happened to reach. Only
    // "none" against "some" is compared.
    if matches!(attr, "connected" | "max_connected") {
        return if value == "0" { "0" } else { "1 or more" }.into();
    }
    // The httpd's own ports (per run), where the views name them.
    if matches!(attr, "server_port" | "port" | "server") {
        return side.ports(value);
    }
    value.to_string()
}

/// URI maps, kept per parent (a worker) as one sorted list: mod_jk numbers and repeats
/// them per virtual host, so single attributes would not line up.
#[derive(Default)]
struct Maps(std::collections::BTreeMap<String, Vec<String>>);

impl Maps {
    fn add(&mut self, side: &Side<'_>, parent: &str, attrs: &[(String, String)]) {
        let entry: Vec<String> = attrs
            .iter()
            .filter(|(k, _)| k != "id")
            .map(|(k, v)| format!("{k}={}", norm(side, k, v)))
            .collect();
        self.0
            .entry(format!("{parent}/maps"))
            .or_default()
            .push(entry.join(" "));
    }

    fn emit(self, rec: &mut Record) {
        for (k, mut v) in self.0 {
            v.sort();
            rec.put(k, v.join("\n"));
        }
    }
}

/// `<a name="x" k="v">` elements as `a[x]/b[y]@k = v`.
fn flatten_xml(side: &Side<'_>, text: &str, rec: &mut Record) {
    let mut stack: Vec<String> = Vec::new();
    let mut maps = Maps::default();
    for tag in text.split('<').skip(1) {
        let tag = tag.split('>').next().unwrap_or("");
        if tag.starts_with('?') || tag.starts_with('!') {
            continue;
        }
        if let Some(_closing) = tag.strip_prefix('/') {
            stack.pop();
            continue;
        }
        let self_closing = tag.ends_with('/');
        let tag = tag.trim_end_matches('/');
        let (name, attrs) = tag.split_once(char::is_whitespace).unwrap_or((tag, ""));
        let attrs = parse_attrs(attrs);
        if name.ends_with("map") {
            maps.add(side, &stack.join("/"), &attrs);
            if !self_closing {
                stack.push(name.to_string());
            }
            continue;
        }
        let id = attrs
            .iter()
            .find(|(k, _)| k == "name" || k == "id")
            .map(|(_, v)| format!("{name}[{v}]"))
            .unwrap_or_else(|| name.to_string());
        stack.push(id);
        let path = stack.join("/");
        rec.put(format!("{path}@"), "");
        for (k, v) in &attrs {
            let key = format!("{path}@{k}");
            let v = norm(side, &key, v);
            rec.put(key, v);
        }
        if self_closing {
            stack.pop();
        }
    }
    maps.emit(rec);
}

/// `k="v" k2=v2` pairs (quoted or bare values).
fn parse_attrs(s: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut rest = s.trim();
    while let Some(eq) = rest.find('=') {
        let k = rest[..eq].trim().to_string();
        let after = &rest[eq + 1..];
        let (v, next) = if let Some(q) = after.strip_prefix('"') {
            let end = q.find('"').unwrap_or(q.len());
            (&q[..end], q.get(end + 1..).unwrap_or(""))
        } else {
            let end = after.find(char::is_whitespace).unwrap_or(after.len());
            (&after[..end], &after[end..])
        };
        out.push((k, v.to_string()));
        rest = next.trim_start();
    }
    out
}

/// `Label: k=v k=v` lines as `Label[name].k = v`.
fn flatten_txt(side: &Side<'_>, text: &str, rec: &mut Record) {
    let mut maps = Maps::default();
    let mut parent = String::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let Some((label, rest)) = line.split_once(':').filter(|(_, r)| r.contains('=')) else {
            rec.put("line", line.trim());
            continue;
        };
        let attrs = parse_attrs(rest);
        // No blanks in keys: README patterns are separated by blanks.
        let label = label.trim().replace(' ', "_");
        if label == "Map" {
            maps.add(side, &parent, &attrs);
            continue;
        }
        let id = attrs
            .iter()
            .find(|(k, _)| k == "name" || k == "id")
            .map(|(_, v)| format!("{label}[{v}]"))
            .unwrap_or_else(|| label.to_string());
        rec.put(format!("{id}:"), "");
        for (k, v) in &attrs {
            let key = format!("{id}.{k}");
            let v = norm(side, &key, v);
            rec.put(key, v);
        }
        parent = id;
    }
    maps.emit(rec);
}

/// `key=value` lines.
fn flatten_prop(side: &Side<'_>, text: &str, rec: &mut Record) {
    let mut maps: std::collections::BTreeMap<(String, String), Vec<(String, String)>> =
        Default::default();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        if let Some((k, v)) = line.split_once('=') {
            // worker.W.map.N.attr
            if let Some((parent, rest)) = k.split_once(".map.") {
                if let Some((n, attr)) = rest.split_once('.') {
                    maps.entry((parent.to_string(), n.to_string()))
                        .or_default()
                        .push((attr.to_string(), v.to_string()));
                    continue;
                }
            }
        }
        match line.split_once('=') {
            Some((k, v)) => {
                let v = norm(side, k, v);
                rec.put(k, v);
            }
            None => rec.put("line", line),
        }
    }
    let mut m = Maps::default();
    for ((parent, _), attrs) in maps {
        m.add(side, &parent, &attrs);
    }
    m.emit(rec);
}

fn view(side: &Side<'_>, query: &str) -> Record {
    let r = side.h.get(&format!("/jkstatus?{query}"));
    let mut rec = Record::default();
    rec.put("http_status", r.status.to_string());
    let text = r.text();
    if query.contains("mime=xml") {
        flatten_xml(side, &text, &mut rec);
    } else if query.contains("mime=txt") {
        flatten_txt(side, &text, &mut rec);
    } else {
        flatten_prop(side, &text, &mut rec);
    }
    rec
}

const VIEWS: &[&str] = &[
    "mime=xml",
    "mime=txt",
    "mime=prop",
    "cmd=show&w=tclb&mime=xml",
    "cmd=show&w=tclb&mime=txt",
    "cmd=show&w=tclb&mime=prop",
    "cmd=show&w=lb&sw=fake1&mime=xml",
    "cmd=show&w=lb&sw=fake1&mime=prop",
    "cmd=show&w=tc&mime=prop",
];

/// (label, action, what to look at afterwards)
const ACTIONS: &[(&str, &str, &str)] = &[
    (
        "update-lb",
        "cmd=update&w=tclb&vlr=3&vlt=120&mime=txt",
        "cmd=show&w=tclb&mime=prop",
    ),
    (
        "update-member",
        "cmd=update&w=lb&sw=fake1&vwa=D&vwf=7&mime=txt",
        "cmd=show&w=lb&mime=prop",
    ),
    (
        "reset",
        "cmd=reset&w=tclb&mime=txt",
        "cmd=show&w=tclb&mime=prop",
    ),
    (
        "recover",
        "cmd=recover&w=deadlb&sw=dead1&mime=txt",
        "cmd=show&w=deadlb&mime=prop",
    ),
];

fn both(pair: &Pair, f: impl Fn(&Side<'_>) -> Record) -> (Record, Record) {
    let (jk, rjk) = sides(pair);
    (f(&jk), f(&rjk))
}

pub fn diffs(pair: &Pair) -> Vec<Diff> {
    let mut out = Vec::new();
    // A member that is down: the lb answers 503 and puts it in error.
    let (a, b) = both(pair, |s| {
        let mut r = Record::default();
        r.put("status", s.h.get("/dead/x").status.to_string());
        r
    });
    push(&mut out, "dead-request", a, b);
    for q in VIEWS {
        let (a, b) = both(pair, |s| view(s, q));
        push(&mut out, q, a, b);
    }
    for (label, action, after) in ACTIONS {
        let (a, b) = both(pair, |s| {
            let mut r = view(s, action);
            r.extend_prefixed("after/", view(s, after));
            r
        });
        push(&mut out, label, a, b);
    }
    out
}

fn push(out: &mut Vec<Diff>, name: &str, a: Record, b: Record) {
    let (mut ra, mut rb) = (Record::default(), Record::default());
    ra.extend_prefixed(&format!("status/{name}/"), a);
    rb.extend_prefixed(&format!("status/{name}/"), b);
    out.extend(compare::diff(&ra, &rb));
}
