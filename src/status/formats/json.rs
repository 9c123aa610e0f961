//! The `json` format (schema in the module docs of the status worker).

use super::{Field, Outcome, ajp_worker_fields, lb_fields, listing, member_fields, result_type};
use crate::health::status::json_fields as health_json;
use crate::status::escape as esc;
use crate::status::view::{MapRef, Page, time_text};
use crate::status::{OPT_NO_AJP, OPT_NO_LB, OPT_NO_MAPS, OPT_NO_MEMBERS};

/// A minimal JSON writer: keeps track of commas.
struct JsonOut {
    o: String,
    /// Per open container: has it got an item yet?
    filled: Vec<bool>,
}

impl JsonOut {
    fn new() -> JsonOut {
        JsonOut {
            o: String::with_capacity(16 * 1024),
            filled: Vec::new(),
        }
    }

    fn sep(&mut self, key: Option<&str>) {
        if let Some(f) = self.filled.last_mut() {
            if *f {
                self.o.push(',');
            }
            *f = true;
        }
        if let Some(k) = key {
            out!(self.o, "\"{}\":", esc::json(k));
        }
    }

    fn open(&mut self, key: Option<&str>, bracket: char) {
        self.sep(key);
        self.o.push(bracket);
        self.filled.push(false);
    }

    fn close(&mut self, bracket: char) {
        self.filled.pop();
        self.o.push(bracket);
    }

    fn str(&mut self, key: &str, value: &str) {
        self.sep(Some(key));
        out!(self.o, "\"{}\"", esc::json(value));
    }

    fn raw(&mut self, key: &str, value: impl std::fmt::Display) {
        self.sep(Some(key));
        out!(self.o, "{value}");
    }

    fn item_str(&mut self, value: &str) {
        self.sep(None);
        out!(self.o, "\"{}\"", esc::json(value));
    }

    /// Fields as JSON members: integers as numbers, True/False of `bools` as booleans.
    fn fields(&mut self, fields: &[Field], bools: &[&str]) {
        for f in fields {
            if bools.contains(&f.key) {
                self.raw(f.key, f.value == "True");
            } else if f.numeric {
                self.raw(f.key, &f.value);
            } else {
                self.str(f.key, &f.value);
            }
        }
    }

    fn maps(&mut self, maps: &[MapRef]) {
        self.open(Some("maps"), '[');
        for m in maps {
            self.open(None, '{');
            self.raw("id", m.id);
            self.str("server", m.server);
            self.str("uri", &m.row.pattern);
            self.str("worker", &m.row.worker);
            self.str("type", &m.row.type_text());
            self.str("source", &m.row.source);
            self.str("extensions", &m.row.extensions_text());
            self.close('}');
        }
        self.close(']');
    }

    fn result(&mut self, outcome: Outcome, log: &[String]) {
        if let Some((ok, message)) = outcome {
            self.open(Some("result"), '{');
            self.str("type", result_type(ok));
            self.str("message", message);
            if !log.is_empty() {
                self.open(Some("changes"), '[');
                for line in log {
                    self.item_str(line);
                }
                self.close(']');
            }
            self.close('}');
        }
    }
}

fn json_head(j: &mut JsonOut, p: &Page) {
    j.raw("rjk_status", 1);
    j.open(Some("server"), '{');
    j.str("name", &p.server_name);
    j.raw("port", p.server_port);
    j.close('}');
    j.open(Some("time"), '{');
    j.str("datetime", &time_text(p.now_secs));
    j.str("tz", "UTC");
    j.raw("unix", p.now_secs);
    j.close('}');
    j.open(Some("software"), '{');
    j.str("web_server", p.ctx.software);
    j.str("jk_version", &p.version());
    j.close('}');
    j.raw("read_only", p.read_only);
}

/// Seconds (rounded up) the worker's no-reuse mode still lasts; 0 when it is off.
fn no_reuse_seconds(p: &Page, until_ms: u64) -> u64 {
    until_ms.saturating_sub(p.ctx.now_ms).div_ceil(1000)
}

pub(crate) fn json(p: &Page, outcome: Outcome, log: &[String]) -> String {
    let mut j = JsonOut::new();
    j.open(None, '{');
    json_head(&mut j, p);
    if listing(p) {
        if !p.hidden(OPT_NO_LB) {
            j.open(Some("balancers"), '[');
            for lb in &p.lbs {
                j.open(None, '{');
                j.fields(
                    &lb_fields(p, lb),
                    &["sticky_session", "sticky_session_force"],
                );
                j.str("status", lb.overall().as_str());
                if !p.hidden(OPT_NO_MEMBERS) {
                    j.open(Some("members"), '[');
                    for m in &lb.members {
                        j.open(None, '{');
                        j.fields(&member_fields(p, m), &[]);
                        j.raw("no_reuse_seconds", no_reuse_seconds(p, m.no_reuse_until_ms));
                        // Health checks (src/health): only for checked members.
                        let health = &p.ctx.workers.health;
                        for (key, value) in health_json(health, p.ctx.segment, &m.snap.name) {
                            j.raw(key, value);
                        }
                        if m.error_secs().is_none() {
                            j.raw("error_time_unix_seconds", "null");
                            j.raw("error_time_ago", "null");
                        }
                        j.close('}');
                    }
                    j.close(']');
                }
                if !p.hidden(OPT_NO_MAPS) {
                    j.maps(&p.maps(Some(lb.name)));
                }
                j.close('}');
            }
            j.close(']');
        }
        if !p.hidden(OPT_NO_AJP) {
            j.open(Some("ajp_workers"), '[');
            for a in &p.ajps {
                j.open(None, '{');
                j.fields(&ajp_worker_fields(p, a), &[]);
                if let Some(s) = &a.stats {
                    j.raw("no_reuse_seconds", no_reuse_seconds(p, s.no_reuse_until_ms));
                }
                for (key, value) in health_json(&p.ctx.workers.health, p.ctx.segment, a.name) {
                    j.raw(key, value);
                }
                if !p.hidden(OPT_NO_MAPS) {
                    j.maps(&p.maps(Some(a.name)));
                }
                j.close('}');
            }
            j.close(']');
        }
    }
    j.result(outcome, log);
    j.close('}');
    j.o.push('\n');
    j.o
}

pub(crate) fn json_dump(p: &Page, entries: &[(String, String)]) -> String {
    let mut j = JsonOut::new();
    j.open(None, '{');
    json_head(&mut j, p);
    j.open(Some("configuration"), '{');
    for (k, v) in entries {
        j.str(k, v);
    }
    j.close('}');
    j.result(Some((true, "Action finished")), &[]);
    j.close('}');
    j.o.push('\n');
    j.o
}
