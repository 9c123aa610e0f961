//! Side by side against Debian's mod_jk: the same generated configuration runs once with
//! mod_jk (/usr/lib/apache2/modules/mod_jk.so) and once with mod_rjk, under the event and
//! the prefork MPM, and everything observable is compared field by field:
//!
//! 1. every FORWARD_REQUEST field and request body packet the fake backend logs, for the
//!    corpus in `differential/corpus.rs`;
//! 2. status, headers and body of real Tomcat responses;
//! 3. the status worker's list/show views in xml, txt and prop, and what update, reset
//!    and recover leave behind.
//!
//! Each remaining difference must be listed, with its reason, in README.md's section
//! "Where mod_rjk deliberately differs from mod_jk" (see `differential/compare.rs`).
//! Values that differ between any two runs (ports, session ids, times) are normalised
//! narrowly where they are read, each with its reason.

mod common;
#[path = "differential/compare.rs"]
mod compare;
#[path = "differential/corpus.rs"]
mod corpus;
#[path = "differential/json.rs"]
mod json;
#[path = "differential/responses.rs"]
mod responses;
#[path = "differential/setup.rs"]
mod setup;
#[path = "differential/status.rs"]
mod status;

use common::{FakeAjp, Httpd, Mpm, parse_response};
use compare::{Diff, Record};
use corpus::{Case, Wire};
use json::Json;
use setup::{Backends, Pair};
use std::time::Instant;

/// Which httpd of a pair, with the ports a value may mention.
pub struct Side<'a> {
    pub h: &'a Httpd,
    pub ssl_port: u16,
}

impl Side<'_> {
    /// The httpd's own listening address and ports as `<host>`, `<port>` and `<ssl port>`:
    /// they are picked per run, so the two httpds necessarily differ there.
    pub fn ports(&self, v: &str) -> String {
        v.replace(self.h.host(), "<host>")
            .replace(&self.ssl_port.to_string(), "<ssl port>")
            .replace(&self.h.port().to_string(), "<port>")
    }
}

/// Sends one case; returns the client-visible status (0: no HTTP response).
fn send(side: &Side<'_>, case: &Case) -> u16 {
    match &case.wire {
        Wire::Plain(bytes) => {
            let raw = side.h.raw(bytes);
            parse_response(skip_interim(&raw)).map_or(0, |r| r.status)
        }
        Wire::Tls {
            host,
            path,
            cert,
            args,
        } => curl(side, host, path, *cert, args).0,
    }
}

/// Drops `100 Continue` interim responses before the final one.
pub fn skip_interim(mut raw: &[u8]) -> &[u8] {
    while raw.starts_with(b"HTTP/1.1 1") {
        match raw.windows(4).position(|w| w == b"\r\n\r\n") {
            Some(end) => raw = &raw[end + 4..],
            None => break,
        }
    }
    raw
}

/// An HTTPS request through curl (SNI `host`, optionally with a client certificate);
/// returns (status, response head and body as curl printed them).
pub fn curl(
    side: &Side<'_>,
    host: &str,
    path: &str,
    cert: Option<&str>,
    args: &[String],
) -> (u16, Vec<u8>) {
    let m = setup::Material::get();
    let port = side.ssl_port;
    let mut cmd = std::process::Command::new("curl");
    cmd.args(["-sS", "-i", "--http1.1", "--max-time", "30", "--cacert"])
        .arg(m.path("ca.pem"))
        .arg("--resolve")
        .arg(format!("{host}:{port}:{}", side.h.host()));
    if let Some(c) = cert {
        cmd.arg("--cert")
            .arg(m.path(c))
            .arg("--key")
            .arg(m.path("client.key"));
    }
    cmd.args(args).arg(format!("https://{host}:{port}{path}"));
    let out = cmd.output().expect("curl");
    let status = parse_response(&out.stdout).map_or(0, |r| r.status);
    (status, out.stdout)
}

fn fake_lines(fake: &FakeAjp) -> Vec<String> {
    fake.log().lines().map(str::to_string).collect()
}

/// What the fake backend saw of one case, flattened.
fn forwarded(side: &Side<'_>, fake: &FakeAjp, case: &Case) -> Record {
    let before = fake_lines(fake).len();
    let status = send(side, case);
    let mut rec = Record::default();
    rec.put("status", status.to_string());
    let events: Vec<Json> = fake_lines(fake)[before..]
        .iter()
        .map(|l| Json::parse(l).unwrap_or_else(|e| panic!("fake log line {l:?}: {e}")))
        .collect();
    let mut n = 0;
    let mut body = (Vec::new(), Vec::new(), Vec::new());
    for ev in &events {
        match ev.field("ev").as_str() {
            "request" => {
                n += 1;
                request_fields(side, ev, &mut rec, &format!("req{n}."));
            }
            "packet" if ev.field("type") == "BODY" => {
                body.0.push(ev.field("data"));
                body.1.push(ev.field("fnv"));
                body.2.push(ev.field("solicited"));
            }
            "alien" | "protocol_error" => rec.put(
                format!("event.{}", ev.field("ev")),
                ev.field("why") + &ev.field("error"),
            ),
            _ => {}
        }
    }
    rec.put("requests", n.to_string());
    if !body.0.is_empty() {
        rec.put("body.packet_sizes", body.0.join(","));
        rec.put("body.packet_fnv", body.1.join(","));
        rec.put("body.solicited", body.2.join(","));
    }
    rec
}

fn request_fields(side: &Side<'_>, ev: &Json, rec: &mut Record, p: &str) {
    for f in [
        "method",
        "method_code",
        "protocol",
        "uri",
        "remote_addr",
        "remote_host",
        "server_name",
        "is_ssl",
    ] {
        // remote_addr is httpd's own address with JkOptions +ForwardLocalAddress.
        rec.put(
            format!("{p}{f}"),
            ev.field(f).replace(side.h.host(), "<host>"),
        );
    }
    rec.put(
        format!("{p}server_port"),
        side.ports(&ev.field("server_port")),
    );
    let mut order = Vec::new();
    for h in ev.get("headers").map_or(&[][..], Json::items) {
        let it = h.items();
        let name = it[0].text().to_ascii_lowercase();
        let code = match &it[2] {
            Json::Null => "string".to_string(),
            c => format!("code {}", c.text()),
        };
        let value = if name == "host" {
            side.ports(&it[1].text())
        } else {
            it[1].text()
        };
        rec.put(format!("{p}header.{name}"), format!("{value} ({code})"));
        order.push(name);
    }
    rec.put(format!("{p}header-order"), order.join(","));
    let mut order = Vec::new();
    for a in ev.get("attrs").map_or(&[][..], Json::items) {
        let name = a.field("name");
        let value = a.field("value");
        let value = match name.as_str() {
            // The client's ephemeral port: a new one for every connection.
            "AJP_REMOTE_PORT" => "<client port>".to_string(),
            // A fresh TLS session per curl run: its id is random.
            "ssl_session" if !value.is_empty() => "<session id>".to_string(),
            // The httpd's own listen address (AJP_LOCAL_ADDR), picked per run.
            _ => value.replace(side.h.host(), "<host>"),
        };
        rec.put(
            format!("{p}attr.{name}"),
            format!("{value} (code {})", a.field("code")),
        );
        order.push(name);
    }
    rec.put(format!("{p}attr-order"), order.join(","));
}

/// Part 1 for one MPM: the corpus through both httpds (case by case, mod_jk first).
fn forward_diffs(pair: &Pair, fake: &FakeAjp, tag: &str) -> Vec<Diff> {
    let (jk, rjk) = sides(pair);
    let cases = corpus::cases();
    assert!(cases.len() >= 100, "corpus has {} cases", cases.len());
    let mut out = Vec::new();
    let mut forwarded_cases = 0;
    for case in &cases {
        let a = forwarded(&jk, fake, case);
        let b = forwarded(&rjk, fake, case);
        if matches!(case.wire, Wire::Tls { .. }) {
            // curl failing for both would compare nothing.
            assert_ne!(a.0[0].1, "0", "{tag} {}: no HTTPS response", case.name);
        }
        if a.0.iter().any(|(k, v)| k == "requests" && v != "0") {
            forwarded_cases += 1;
        }
        // RJK_DIFF_SHOW=tls-: what mod_jk forwarded for the matching cases.
        if std::env::var("RJK_DIFF_SHOW").is_ok_and(|p| case.name.contains(&p)) {
            eprintln!("{tag} {}: {:#?}", case.name, a.0);
        }
        let mut ra = Record::default();
        ra.extend_prefixed(&format!("fwd/{}/", case.name), a);
        let mut rb = Record::default();
        rb.extend_prefixed(&format!("fwd/{}/", case.name), b);
        out.extend(compare::diff(&ra, &rb));
    }
    // Most cases must have reached the backend, or the comparison says little.
    assert!(
        forwarded_cases >= 100,
        "{tag}: only {forwarded_cases} cases reached the backend through mod_jk"
    );
    out
}

pub fn sides(pair: &Pair) -> (Side<'_>, Side<'_>) {
    (
        Side {
            h: &pair.jk,
            ssl_port: pair.jk_ssl,
        },
        Side {
            h: &pair.rjk,
            ssl_port: pair.rjk_ssl,
        },
    )
}

/// Everything for one MPM; each difference's key is prefixed `event:` or `prefork:` (a
/// README pattern starting with `*:` covers both MPMs).
fn run_mpm(mpm: Mpm) -> Vec<Diff> {
    let tag = format!("{mpm:?}").to_lowercase();
    let fake = setup::start_fake();
    let backends = Backends {
        fake_port: fake.port,
        tomcat_ajp_port: common::tomcat::shared(1)[0].ajp_port,
        dead_port: common::down_port(),
    };
    let pair = setup::start_pair(mpm, &backends);
    let t = Instant::now();
    let mut diffs = forward_diffs(&pair, &fake, &tag);
    eprintln!("{tag}: forward corpus in {:?}", t.elapsed());
    let t = Instant::now();
    diffs.extend(responses::diffs(&pair));
    eprintln!("{tag}: Tomcat responses in {:?}", t.elapsed());
    diffs.extend(status::diffs(&pair));
    for h in [&pair.jk, &pair.rjk] {
        h.assert_clean_log();
    }
    diffs
        .into_iter()
        .map(|mut d| {
            d.key = format!("{tag}:{}", d.key);
            d
        })
        .collect()
}

#[test]
fn mod_rjk_matches_mod_jk_side_by_side() {
    let t = Instant::now();
    // The JVM starts while nothing else needs the CPU much.
    common::tomcat::shared(1);
    eprintln!("tomcat ready after {:?}", t.elapsed());
    let per_mpm: Vec<Vec<Diff>> = std::thread::scope(|s| {
        let hs: Vec<_> = [Mpm::Event, Mpm::Prefork]
            .into_iter()
            .map(|m| s.spawn(move || run_mpm(m)))
            .collect();
        hs.into_iter()
            .map(|h| h.join().unwrap_or_else(|e| std::panic::resume_unwind(e)))
            .collect()
    });
    let diffs: Vec<Diff> = per_mpm.into_iter().flatten().collect();
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md"))
        .expect("README.md");
    let listed = compare::listed_differences(&readme);
    eprintln!("{} differences in {:?}", diffs.len(), t.elapsed());
    if std::env::var_os("RJK_DIFF_DUMP").is_some() {
        for d in &diffs {
            eprintln!("{d}");
        }
    }
    match compare::verdict(&diffs, &listed) {
        Ok(report) => eprintln!("every difference is listed:\n{report}"),
        Err(msg) => panic!("{msg}"),
    }
}
