//! Machine-readable outputs: mod_jk's `xml`, `txt` and `prop` (same element, attribute and
//! key names), plus `json` and Prometheus text exposition (schemas in the module docs of
//! [`super`]).

mod json;
mod prometheus;
mod prop;
mod txt;
mod xml;

pub(super) use json::{json, json_dump};
pub(super) use prometheus::prometheus;
pub(super) use prop::{prop, prop_dump};
pub(super) use txt::{txt, txt_dump};
pub(super) use xml::{xml, xml_dump};

use self::prop::{prop_out, prop_result};
use self::txt::txt_result;
use self::xml::{xml_ns, xml_open, xml_tail};
use super::MapRow;
use super::params::{Cmd, Mime};
use super::view::{AjpView, LbView, MapRef, MemberView, Page, time_text};
use crate::config::workers::AjpParams;

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
