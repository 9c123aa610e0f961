//! Machine-readable outputs: mod_jk's `xml`, `txt` and `prop` (same element, attribute and
//! key names), plus `json` and Prometheus text exposition (schemas in the module docs of
//! [`super`]).

use super::{
    AjpView, Cmd, Json, Label, LbView, MapRef, MapRow, MemberView, Mime, OPT_NO_AJP, OPT_NO_LB,
    OPT_NO_MAPS, OPT_NO_MEMBERS, Page, Prop, Rating, Txt, Xml, time_text,
};
use crate::config::workers::{Activation, AjpParams};
use crate::lb::MemberState;
use crate::shm::AjpStats;

/// Result line of every format: (ok, message).
pub(super) type Outcome<'a> = Option<(bool, &'a str)>;

fn listing(p: &Page) -> bool {
    matches!(p.cmd, Cmd::List | Cmd::Show)
}

fn tf(b: bool) -> &'static str {
    if b { "True" } else { "False" }
}

fn result_type(ok: bool) -> &'static str {
    if ok { "OK" } else { "ERROR" }
}

/// One value of a worker in every format: key and text.
struct Field {
    key: &'static str,
    value: String,
    /// An integer: a JSON number (everything else is a JSON string).
    numeric: bool,
    /// txt prints it in quotes (mod_jk quotes route, redirect, domain, web_server, maps).
    quoted: bool,
}

/// Values a [`Field`] holds: integers are numeric, text is not.
trait FieldValue {
    fn into_text(self) -> (String, bool);
}

impl FieldValue for &str {
    fn into_text(self) -> (String, bool) {
        (self.to_owned(), false)
    }
}

impl FieldValue for &String {
    fn into_text(self) -> (String, bool) {
        (self.clone(), false)
    }
}

impl FieldValue for String {
    fn into_text(self) -> (String, bool) {
        (self, false)
    }
}

macro_rules! numeric_field {
    ($($t:ty),*) => {$(
        impl FieldValue for $t {
            fn into_text(self) -> (String, bool) {
                (self.to_string(), true)
            }
        }
    )*};
}

numeric_field!(u8, u16, u32, u64, usize, i32, i64);

fn field(key: &'static str, value: impl FieldValue) -> Field {
    let (value, numeric) = value.into_text();
    Field {
        key,
        value,
        numeric,
        quoted: false,
    }
}

fn qfield(key: &'static str, value: impl FieldValue) -> Field {
    Field {
        quoted: true,
        ..field(key, value)
    }
}

fn ajp_fields(f: &mut Vec<Field>, a: &AjpParams) {
    f.push(field("host", &a.host));
    f.push(field("port", a.port));
    f.push(field("address", crate::endpoint::address(&a.host, a.port)));
    f.push(field("source", a.source.as_deref().unwrap_or("undefined")));
    f.push(field(
        "connection_pool_timeout",
        a.connection_pool_timeout_secs,
    ));
    f.push(field("ping_timeout", a.ping_timeout_ms));
    f.push(field("connect_timeout", a.connect_timeout_ms));
    f.push(field("prepost_timeout", a.prepost_timeout_ms));
    f.push(field("reply_timeout", a.reply_timeout_ms));
    f.push(field("retries", a.retries));
    f.push(field(
        "connection_ping_interval",
        a.connection_ping_interval_secs,
    ));
    f.push(field("recovery_options", a.recovery_options));
    f.push(field("busy_limit", a.busy_limit));
    f.push(field("max_packet_size", a.max_packet_size));
}

fn lb_fields(p: &Page, lb: &LbView) -> Vec<Field> {
    let s = &lb.settings;
    let reset_at = lb.last_reset_ms / 1000;
    vec![
        field("name", lb.name),
        field("type", "lb"),
        field("sticky_session", tf(s.sticky_session)),
        field("sticky_session_force", tf(s.sticky_session_force)),
        field("retries", s.retries),
        field("lb_retries", s.lb_retries),
        field("retry_interval", s.retry_interval_ms),
        field("recover_time", s.recover_time_secs),
        field("error_escalation_time", s.error_escalation_time_secs),
        field("max_reply_timeouts", s.max_reply_timeouts),
        field("method", s.method.as_str()),
        field("lock", lb.params.lock.as_str()),
        field("member_count", lb.members.len()),
        field("good", lb.good),
        field("degraded", lb.degraded),
        field("bad", lb.bad),
        field("busy", lb.busy),
        field("max_busy", lb.max_busy),
        field("map_count", lb.map_count),
        field("time_to_maintenance_min", lb.maintain_min),
        field("time_to_maintenance_max", lb.maintain_max),
        field("last_reset_at", reset_at),
        field("last_reset_ago", ago(p, reset_at)),
    ]
}

/// The time zone of the txt/xml/prop times (always UTC), written as mod_jk writes zones.
const TZ: &str = "+0000";

/// Keys only the JSON format shows: mod_jk's formats keep mod_jk's key set.
const JSON_ONLY: [&str; 3] = ["lb_retries", "retry_interval", "rating"];

fn jk_keys(mut fields: Vec<Field>) -> Vec<Field> {
    fields.retain(|f| !JSON_ONLY.contains(&f.key));
    fields
}

fn ago(p: &Page, at_secs: u64) -> u64 {
    if at_secs == 0 {
        0
    } else {
        p.now_secs.saturating_sub(at_secs)
    }
}

fn member_fields(p: &Page, m: &MemberView) -> Vec<Field> {
    let s = &m.snap;
    let mut f = vec![field("name", &s.name), field("type", "ajp13")];
    if let Some(a) = &m.ajp {
        ajp_fields(&mut f, a);
    }
    let reset_at = s.last_reset_ms / 1000;
    f.extend([
        field("activation", s.activation.as_str()),
        field("lbfactor", s.lbfactor),
        qfield("route", &s.route),
        qfield("redirect", &s.redirect),
        qfield("domain", &s.domain),
        field("distance", s.distance),
        field("state", s.state.as_str()),
        field("rating", m.rating.as_str()),
        field("lbmult", s.lb_mult),
        field("lbvalue", s.lb_value),
        field("elected", s.elected),
        field("sessions", s.sessions),
        field("errors", s.errors),
        field("client_errors", s.client_errors),
        field("reply_timeouts", s.reply_timeouts),
        field("transferred", s.bytes_written),
        field("read", s.bytes_read),
        field("busy", s.busy),
        field("max_busy", s.max_busy),
        field("connected", m.connected),
        field("max_connected", m.max_connected),
        field("time_to_recover_min", m.recover_min),
        field("time_to_recover_max", m.recover_max),
        field("last_reset_at", reset_at),
        field("last_reset_ago", ago(p, reset_at)),
    ]);
    if let Some(at) = m.error_secs() {
        f.extend([
            field("error_time_datetime", time_text(at)),
            field("error_time_tz", TZ),
            field("error_time_unix_seconds", at),
            field("error_time_ago", ago(p, at)),
        ]);
    }
    f
}

fn ajp_worker_fields(p: &Page, a: &AjpView) -> Vec<Field> {
    let mut f = vec![field("name", a.name), field("type", "ajp13")];
    ajp_fields(&mut f, &a.params);
    let Some(s) = &a.stats else {
        f.push(field("map_count", a.map_count));
        return f;
    };
    let reset_at = s.last_reset_ms / 1000;
    f.extend([
        field("used", s.used),
        field("errors", s.errors),
        field("client_errors", s.client_errors),
        field("reply_timeouts", s.reply_timeouts),
        field("transferred", s.transferred),
        field("read", s.read),
        field("busy", s.busy),
        field("max_busy", s.max_busy),
        field("connected", s.connected),
        field("max_connected", s.max_connected),
        field("map_count", a.map_count),
        field("last_reset_at", reset_at),
        field("last_reset_ago", ago(p, reset_at)),
    ]);
    f
}

fn map_fields(m: &MapRef) -> Vec<Field> {
    let r: &MapRow = m.row;
    let e = &r.extensions;
    let codes: Vec<String> = e.fail_on_status.iter().map(i32::to_string).collect();
    vec![
        field("id", m.id),
        qfield("server", m.server),
        qfield("uri", r.uri()),
        qfield("type", r.type_text()),
        qfield("source", &r.source),
        qfield("reply_timeout", e.reply_timeout_ms.map_or(-1, i64::from)),
        qfield("sticky_ignore", u8::from(e.sticky_ignore.unwrap_or(false))),
        qfield("stateless", u8::from(e.stateless.unwrap_or(false))),
        qfield("fail_on_status", codes.join(",")),
        qfield("active", e.active.join(",")),
        qfield("disabled", e.disabled.join(",")),
        qfield("stopped", e.stopped.join(",")),
        qfield("use_server_errors", e.use_server_errors.unwrap_or(0)),
    ]
}

// ---------------------------------------------------------------------------------------
// XML
// ---------------------------------------------------------------------------------------

/// The element prefix: the configured `ns` when it is a plain prefix, else `jk:`.
fn xml_ns<'a>(p: &Page<'a>) -> &'a str {
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
            Xml(&f.value),
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
fn xml_open(o: &mut String, p: &Page, ns: &str) {
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

fn xml_tail(o: &mut String, ns: &str, outcome: Outcome) {
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

pub(super) fn xml(p: &Page, outcome: Outcome) -> String {
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

pub(super) fn xml_dump(p: &Page, entries: &[(String, String)]) -> String {
    let ns = xml_ns(p);
    let mut o = String::with_capacity(16 * 1024);
    xml_head(&mut o, p, ns);
    out!(o, "  <{ns}configuration\n");
    for (k, v) in entries.iter().filter(|(k, _)| xml_name_ok(k)) {
        out!(o, "    {k}=\"{}\"\n", Xml(v));
    }
    out!(o, "  />\n");
    xml_tail(&mut o, ns, Some((true, "Action finished")));
    o
}

// ---------------------------------------------------------------------------------------
// txt
// ---------------------------------------------------------------------------------------

fn txt_line(o: &mut String, label: &str, fields: &[Field]) {
    out!(o, "{label}:");
    for f in fields {
        if f.quoted {
            out!(o, " {}=\"{}\"", f.key, Txt(&f.value, false));
        } else {
            out!(o, " {}={}", f.key, Txt(&f.value, true));
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

fn txt_result(o: &mut String, outcome: Outcome) {
    if let Some((ok, message)) = outcome {
        txt_line(
            o,
            "Result",
            &[field("type", result_type(ok)), qfield("message", message)],
        );
    }
}

pub(super) fn txt(p: &Page, outcome: Outcome) -> String {
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

pub(super) fn txt_dump(p: &Page, entries: &[(String, String)]) -> String {
    let mut o = String::with_capacity(8 * 1024);
    txt_head(&mut o, p);
    out!(o, "Configuration:\n");
    for (k, v) in entries {
        out!(o, "{}={}\n", Txt(k, true), Txt(v, false));
    }
    txt_result(&mut o, Some((true, "Action finished")));
    o
}

// ---------------------------------------------------------------------------------------
// prop
// ---------------------------------------------------------------------------------------

struct PropOut<'a> {
    o: String,
    prefix: &'a str,
}

impl PropOut<'_> {
    fn global(&mut self, key: &str, value: &str) {
        out!(
            self.o,
            "{}.{}={}\n",
            Prop(self.prefix, true),
            key,
            Prop(value, false)
        );
    }

    fn of(&mut self, name: &str, key: &str, value: &str) {
        out!(
            self.o,
            "{}.{}.{}={}\n",
            Prop(self.prefix, true),
            Prop(name, true),
            key,
            Prop(value, false)
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
                    Prop(self.prefix, true),
                    Prop(worker, true),
                    m.id,
                    f.key,
                    Prop(&f.value, false)
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

fn prop_result(po: &mut PropOut, outcome: Outcome) {
    if let Some((ok, message)) = outcome {
        po.of("result", "type", result_type(ok));
        po.of("result", "message", message);
    }
}

fn prop_out<'a>(p: &'a Page) -> PropOut<'a> {
    let prefix = p.ctx.params.prefix.as_str();
    PropOut {
        o: String::with_capacity(16 * 1024),
        prefix: if prefix.is_empty() { "worker" } else { prefix },
    }
}

pub(super) fn prop(p: &Page, outcome: Outcome) -> String {
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

pub(super) fn prop_dump(p: &Page, entries: &[(String, String)]) -> String {
    let mut po = prop_out(p);
    for (k, v) in entries {
        out!(po.o, "{}={}\n", Prop(k, true), Prop(v, false));
    }
    po.o
}

/// What `update`, `reset` and `recover` answer in xml, txt and prop: the result alone,
/// inside the xml document element, as mod_jk does (no server, time or worker lines).
pub(super) fn action_result(p: &Page, mime: Mime, outcome: Outcome) -> String {
    let mut o = String::new();
    match mime {
        Mime::Xml => {
            let ns = xml_ns(p);
            xml_open(&mut o, p, ns);
            xml_tail(&mut o, ns, outcome);
        }
        Mime::Txt => txt_result(&mut o, outcome),
        _ => {
            let mut po = prop_out(p);
            prop_result(&mut po, outcome);
            o = po.o;
        }
    }
    o
}

// ---------------------------------------------------------------------------------------
// JSON
// ---------------------------------------------------------------------------------------

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
            out!(self.o, "\"{}\":", Json(k));
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
        out!(self.o, "\"{}\"", Json(value));
    }

    fn raw(&mut self, key: &str, value: impl std::fmt::Display) {
        self.sep(Some(key));
        out!(self.o, "{value}");
    }

    fn item_str(&mut self, value: &str) {
        self.sep(None);
        out!(self.o, "\"{}\"", Json(value));
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

pub(super) fn json(p: &Page, outcome: Outcome, log: &[String]) -> String {
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

pub(super) fn json_dump(p: &Page, entries: &[(String, String)]) -> String {
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

// ---------------------------------------------------------------------------------------
// Prometheus
// ---------------------------------------------------------------------------------------

fn family(o: &mut String, name: &str, kind: &str, help: &str) {
    out!(o, "# HELP {name} {help}\n# TYPE {name} {kind}\n");
}

fn member_labels(lb: &str, m: &MemberView) -> String {
    format!("lb=\"{}\",member=\"{}\"", Label(lb), Label(&m.snap.name))
}

/// `le` value of a bucket bound.
fn le(bound: f64) -> String {
    if bound.is_infinite() {
        "+Inf".to_owned()
    } else {
        format!("{bound}")
    }
}

type Buckets = Vec<(f64, u64)>;

/// A histogram family: cumulative buckets (an `+Inf` one added when missing), `_sum` and
/// `_count` for each labelled series; nothing when no series has a bucket.
fn histogram(o: &mut String, name: &str, help: &str, series: Vec<(String, Buckets, f64)>) {
    let series: Vec<(String, Buckets, f64)> = series
        .into_iter()
        .map(|(labels, buckets, sum)| {
            let mut buckets: Buckets = buckets.into_iter().filter(|(b, _)| !b.is_nan()).collect();
            buckets.sort_by(|a, b| a.0.total_cmp(&b.0));
            (labels, buckets, sum)
        })
        .filter(|(_, buckets, _)| !buckets.is_empty())
        .collect();
    if series.is_empty() {
        return;
    }
    family(o, name, "histogram", help);
    for (labels, buckets, sum) in series {
        let mut running = 0u64;
        let mut has_inf = false;
        for (bound, count) in buckets {
            running = running.max(count);
            has_inf |= bound.is_infinite() && bound > 0.0;
            out!(
                o,
                "{name}_bucket{{{labels},le=\"{}\"}} {running}\n",
                le(bound)
            );
        }
        if !has_inf {
            out!(o, "{name}_bucket{{{labels},le=\"+Inf\"}} {running}\n");
        }
        let sum = if sum.is_finite() && sum >= 0.0 {
            sum
        } else {
            0.0
        };
        out!(o, "{name}_sum{{{labels}}} {sum}\n");
        out!(o, "{name}_count{{{labels}}} {running}\n");
    }
}

/// The series of the listed standalone ajp13 workers (label `worker`), from their shared
/// slots.
fn ajp_series(o: &mut String, p: &Page) {
    let ajps: Vec<(String, &AjpStats)> = p
        .ajps
        .iter()
        .filter_map(|a| Some((format!("worker=\"{}\"", Label(a.name)), a.stats.as_ref()?)))
        .collect();
    type Get = fn(&AjpStats) -> u64;
    let series: [(&str, &str, &str, Get); 10] = [
        (
            "rjk_ajp_requests_total",
            "counter",
            "Requests served by the worker (mod_jk's used).",
            |s| s.used,
        ),
        (
            "rjk_ajp_errors_total",
            "counter",
            "Backend errors of the worker.",
            |s| s.errors,
        ),
        (
            "rjk_ajp_client_errors_total",
            "counter",
            "Errors caused by clients.",
            |s| s.client_errors,
        ),
        (
            "rjk_ajp_reply_timeouts_total",
            "counter",
            "Reply timeouts.",
            |s| s.reply_timeouts,
        ),
        (
            "rjk_ajp_busy",
            "gauge",
            "Requests in flight on the worker.",
            |s| s.busy,
        ),
        (
            "rjk_ajp_max_busy",
            "gauge",
            "Most requests in flight since the last reset.",
            |s| s.max_busy,
        ),
        (
            "rjk_ajp_read_bytes_total",
            "counter",
            "AJP bytes read from the backend (mod_jk's read).",
            |s| s.read,
        ),
        (
            "rjk_ajp_written_bytes_total",
            "counter",
            "AJP bytes sent to the backend (mod_jk's transferred).",
            |s| s.transferred,
        ),
        (
            "rjk_ajp_connected",
            "gauge",
            "Backend connections open in all children.",
            |s| s.connected,
        ),
        (
            "rjk_ajp_max_connected",
            "gauge",
            "Most backend connections open since the last reset.",
            |s| s.max_connected,
        ),
    ];
    for (name, kind, help, get) in series {
        if ajps.is_empty() {
            break;
        }
        family(o, name, kind, help);
        for (labels, stats) in &ajps {
            out!(o, "{name}{{{labels}}} {}\n", get(stats));
        }
    }
    let latency = p
        .ajps
        .iter()
        .filter_map(|a| {
            let (buckets, sum) = p.ctx.segment?.ajp(a.name)?.latency();
            Some((format!("worker=\"{}\"", Label(a.name)), buckets, sum))
        })
        .collect();
    histogram(
        o,
        "rjk_ajp_latency_seconds",
        "Time from sending a request to the worker until its response ended.",
        latency,
    );
}

pub(super) fn prometheus(p: &Page) -> String {
    let mut o = String::with_capacity(16 * 1024);
    family(
        &mut o,
        "rjk_info",
        "gauge",
        "mod_rjk version and web server.",
    );
    out!(
        o,
        "rjk_info{{version=\"{}\",web_server=\"{}\"}} 1\n",
        Label(crate::VERSION),
        Label(p.ctx.software)
    );
    let members: Vec<(&str, &MemberView)> = p
        .lbs
        .iter()
        .flat_map(|lb| lb.members.iter().map(move |m| (lb.name, m)))
        .collect();

    family(
        &mut o,
        "rjk_member_state",
        "gauge",
        "Runtime state of an lb member: 1 for the current state, 0 for the others.",
    );
    for (lb, m) in &members {
        for state in MemberState::ALL {
            out!(
                o,
                "rjk_member_state{{{},state=\"{}\"}} {}\n",
                member_labels(lb, m),
                Label(state.as_str()),
                u8::from(m.snap.state == state)
            );
        }
    }
    family(
        &mut o,
        "rjk_member_activation",
        "gauge",
        "Activation of an lb member: 1 for the current one (ACT, DIS, STP), 0 for the others.",
    );
    for (lb, m) in &members {
        for a in [
            Activation::Active,
            Activation::Disabled,
            Activation::Stopped,
        ] {
            out!(
                o,
                "rjk_member_activation{{{},activation=\"{}\"}} {}\n",
                member_labels(lb, m),
                a.as_str(),
                u8::from(m.snap.activation == a)
            );
        }
    }
    type Get = fn(&MemberView) -> String;
    let series: [(&str, &str, &str, Get); 16] = [
        (
            "rjk_member_up",
            "gauge",
            "1 when the member takes new requests.",
            |m| u8::from(m.up()).to_string(),
        ),
        (
            "rjk_member_requests_total",
            "counter",
            "Requests assigned to the member.",
            |m| m.snap.elected.to_string(),
        ),
        (
            "rjk_member_errors_total",
            "counter",
            "Backend errors of the member.",
            |m| m.snap.errors.to_string(),
        ),
        (
            "rjk_member_client_errors_total",
            "counter",
            "Errors caused by clients.",
            |m| m.snap.client_errors.to_string(),
        ),
        (
            "rjk_member_reply_timeouts",
            "gauge",
            "Reply timeouts, decayed at global maintenance.",
            |m| m.snap.reply_timeouts.to_string(),
        ),
        (
            "rjk_member_busy",
            "gauge",
            "Requests in flight on the member.",
            |m| m.snap.busy.to_string(),
        ),
        (
            "rjk_member_max_busy",
            "gauge",
            "Most requests in flight since the last reset.",
            |m| m.snap.max_busy.to_string(),
        ),
        (
            "rjk_member_read_bytes_total",
            "counter",
            "AJP bytes read from the member (mod_jk's read).",
            |m| m.snap.bytes_read.to_string(),
        ),
        (
            "rjk_member_written_bytes_total",
            "counter",
            "AJP bytes sent to the member (mod_jk's transferred).",
            |m| m.snap.bytes_written.to_string(),
        ),
        (
            "rjk_member_connected",
            "gauge",
            "Backend connections to the member open in all children.",
            |m| m.connected.to_string(),
        ),
        (
            "rjk_member_max_connected",
            "gauge",
            "Most backend connections to the member open since the last reset.",
            |m| m.max_connected.to_string(),
        ),
        (
            "rjk_member_sessions_total",
            "counter",
            "Requests without a session id assigned to the member.",
            |m| m.snap.sessions.to_string(),
        ),
        (
            "rjk_member_lbfactor",
            "gauge",
            "Load balancing factor.",
            |m| m.snap.lbfactor.to_string(),
        ),
        (
            "rjk_member_lb_value",
            "gauge",
            "Current load balancing value.",
            |m| m.snap.lb_value.to_string(),
        ),
        (
            "rjk_member_distance",
            "gauge",
            "Distance (lower is preferred).",
            |m| m.snap.distance.to_string(),
        ),
        (
            "rjk_member_last_error_timestamp_seconds",
            "gauge",
            "Unix time of the member's last error, 0 for none.",
            |m| (m.snap.last_error_ms / 1000).to_string(),
        ),
    ];
    for (name, kind, help, get) in series {
        family(&mut o, name, kind, help);
        for (lb, m) in &members {
            out!(o, "{name}{{{}}} {}\n", member_labels(lb, m), get(m));
        }
    }

    let mut histograms: Vec<(String, Buckets, f64)> = Vec::new();
    for (lb, m) in &members {
        if let Some((buckets, sum)) = (p.ctx.latency)(m.snap.index) {
            histograms.push((member_labels(lb, m), buckets, sum));
        }
    }
    histogram(
        &mut o,
        "rjk_member_latency_seconds",
        "Time from sending a request to the member until its response ended.",
        histograms,
    );
    ajp_series(&mut o, p);
    family(
        &mut o,
        "rjk_lb_members",
        "gauge",
        "Members of the lb by rating (status worker good/bad rules).",
    );
    for lb in &p.lbs {
        for (rating, n) in [
            (Rating::Good, lb.good),
            (Rating::Degraded, lb.degraded),
            (Rating::Bad, lb.bad),
        ] {
            out!(
                o,
                "rjk_lb_members{{lb=\"{}\",rating=\"{}\"}} {n}\n",
                Label(lb.name),
                rating.as_str()
            );
        }
    }
    family(
        &mut o,
        "rjk_lb_busy",
        "gauge",
        "Requests in flight on the lb.",
    );
    for lb in &p.lbs {
        out!(o, "rjk_lb_busy{{lb=\"{}\"}} {}\n", Label(lb.name), lb.busy);
    }
    family(
        &mut o,
        "rjk_lb_max_busy",
        "gauge",
        "Most requests in flight on the lb since the last reset.",
    );
    for lb in &p.lbs {
        out!(
            o,
            "rjk_lb_max_busy{{lb=\"{}\"}} {}\n",
            Label(lb.name),
            lb.max_busy
        );
    }
    o
}
