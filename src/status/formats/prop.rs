//! mod_jk's `prop` format: Java properties `<prefix>.<worker>.<key>=<value>`.

use super::{
    Field, Outcome, TZ, ajp_worker_fields, jk_keys, lb_fields, listing, map_fields, member_fields,
    result_type,
};
use crate::status::escape as esc;
use crate::status::view::{MapRef, Page, time_text};
use crate::status::{OPT_NO_AJP, OPT_NO_LB, OPT_NO_MAPS, OPT_NO_MEMBERS};

pub(super) struct PropOut<'a> {
    pub(super) o: String,
    prefix: &'a str,
}

impl PropOut<'_> {
    fn global(&mut self, key: &str, value: &str) {
        out!(
            self.o,
            "{}.{}={}\n",
            esc::prop_key(self.prefix),
            key,
            esc::prop(value)
        );
    }

    fn of(&mut self, name: &str, key: &str, value: &str) {
        out!(
            self.o,
            "{}.{}.{}={}\n",
            esc::prop_key(self.prefix),
            esc::prop_key(name),
            key,
            esc::prop(value)
        );
    }

    fn fields(&mut self, name: &str, fields: &[Field]) {
        for f in fields.iter().filter(|f| f.key != "name") {
            self.of(name, f.key, &f.value);
        }
    }

    fn maps(&mut self, worker: &str, maps: &[MapRef]) {
        for m in maps {
            for f in map_fields(m).iter().filter(|f| f.key != "id") {
                out!(
                    self.o,
                    "{}.{}.map.{}.{}={}\n",
                    esc::prop_key(self.prefix),
                    esc::prop_key(worker),
                    m.id,
                    f.key,
                    esc::prop(&f.value)
                );
            }
        }
    }
}

fn prop_head(po: &mut PropOut, p: &Page) {
    po.global("server_name", &p.server_name);
    po.global("server_port", &p.server_port.to_string());
    po.global("time_datetime", &time_text(p.now_secs));
    po.global("time_tz", TZ);
    po.global("time_unix", &p.now_secs.to_string());
    po.global("web_server", p.ctx.software);
    po.global("jk_version", &p.version());
}

pub(super) fn prop_result(po: &mut PropOut, outcome: Outcome) {
    if let Some((ok, message)) = outcome {
        po.of("result", "type", result_type(ok));
        po.of("result", "message", message);
    }
}

pub(super) fn prop_out<'a>(p: &'a Page) -> PropOut<'a> {
    let prefix = p.ctx.params.prefix.as_str();
    PropOut {
        o: String::with_capacity(16 * 1024),
        prefix: if prefix.is_empty() { "worker" } else { prefix },
    }
}

pub(crate) fn prop(p: &Page, outcome: Outcome) -> String {
    let mut po = prop_out(p);
    prop_head(&mut po, p);
    if listing(p) {
        if !p.hidden(OPT_NO_LB) {
            if p.show.is_none() {
                po.global("lb_count", &p.lbs.len().to_string());
            }
            for lb in &p.lbs {
                po.global("list", lb.name);
                po.fields(lb.name, &jk_keys(lb_fields(p, lb)));
                if !p.hidden(OPT_NO_MEMBERS) {
                    for m in &lb.members {
                        po.of(lb.name, "balance_workers", &m.snap.name);
                        po.fields(&m.snap.name, &jk_keys(member_fields(p, m)));
                    }
                }
                if !p.hidden(OPT_NO_MAPS) {
                    po.maps(lb.name, &p.maps(Some(lb.name)));
                }
            }
        }
        if !p.hidden(OPT_NO_AJP) {
            if p.show.is_none() {
                po.global("ajp_count", &p.ajps.len().to_string());
            }
            for a in &p.ajps {
                po.of(a.name, "list", a.name);
                po.fields(a.name, &ajp_worker_fields(p, a));
                if !p.hidden(OPT_NO_MAPS) {
                    po.maps(a.name, &p.maps(Some(a.name)));
                }
            }
        }
    }
    prop_result(&mut po, outcome);
    po.o
}

pub(crate) fn prop_dump(p: &Page, entries: &[(String, String)]) -> String {
    let mut po = prop_out(p);
    for (k, v) in entries {
        out!(po.o, "{}={}\n", esc::prop_key(k), esc::prop(v));
    }
    po.o
}
