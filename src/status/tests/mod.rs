//! Unit tests of the status worker: a fixture configuration with a live segment, and
//! helpers that send requests to `handle`.

use super::params::{encode_component, glob, manager_url};
use super::view::{Rating, rate, time_human, time_text};
use super::*;
use crate::config::properties::Source;
use crate::config::workers::{Activation, LbMethod};
use crate::lb::{Balancer, FailureKind, MemberSnapshot, MemberState};

const SEED: &str = "\
worker.list=load_balancer,jkstatus,solo
worker.tomcat1.type=ajp13
worker.tomcat1.host=localhost
worker.tomcat1.port=18009
worker.tomcat1.lbfactor=1
worker.tomcat2.type=ajp13
worker.tomcat2.host=localhost
worker.tomcat2.port=28009
worker.tomcat2.lbfactor=2
worker.tomcat3.type=ajp13
worker.tomcat3.host=localhost
worker.tomcat3.port=38009
worker.tomcat3.lbfactor=3
worker.load_balancer.type=lb
worker.load_balancer.balance_workers=tomcat1,tomcat2,tomcat3
worker.solo.type=ajp13
worker.solo.host=127.0.0.1
worker.solo.port=48009
worker.jkstatus.type=status
";

const TOKEN: &str = "0123456789abcdef0123456789abcdef";
const SECRET: &str = "Zq8-secret-VALUE-77";

struct Fixture {
    config: WorkersConfig,
    seg: Box<Segment>,
    maps: Vec<(String, Vec<MapRow>)>,
    status: StatusParams,
    software: String,
}

fn config(text: &str) -> WorkersConfig {
    WorkersConfig::from_sources(
        &[Source::File {
            path: "workers.properties",
            contents: text,
        }],
        "/srv/httpd",
        &|_| None,
    )
    .unwrap_or_else(|e| panic!("{e}"))
}

fn fixture_with(extra: &str) -> Fixture {
    let config = config(&format!("{SEED}{extra}"));
    let seg = Segment::new_boxed();
    crate::shm::init_from_config(&seg, &config).expect("segment");
    let status = config
        .get("jkstatus")
        .and_then(|d| d.status())
        .expect("status worker")
        .clone();
    let maps = vec![(
        "127.0.0.1:8080".to_owned(),
        vec![
            MapRow {
                pattern: "/app/*".into(),
                worker: "load_balancer".into(),
                kind: MatchKind::Wildchar,
                source: "JkMount".into(),
                extensions: RuleExtensions::default(),
            },
            MapRow {
                pattern: "-!/app/static/*".into(),
                worker: "load_balancer".into(),
                kind: MatchKind::Wildchar,
                source: "uriworkermap".into(),
                extensions: RuleExtensions {
                    reply_timeout_ms: Some(500),
                    ..RuleExtensions::default()
                },
            },
            MapRow {
                pattern: "/solo".into(),
                worker: "solo".into(),
                kind: MatchKind::Exact,
                source: "JkMount".into(),
                extensions: RuleExtensions::default(),
            },
            MapRow {
                pattern: "/jkmanager/*".into(),
                worker: "jkstatus".into(),
                kind: MatchKind::Wildchar,
                source: "JkMount".into(),
                extensions: RuleExtensions::default(),
            },
        ],
    )];
    Fixture {
        config,
        seg,
        maps,
        status,
        software: "Apache/2.4.62 (Debian) mod_rjk/0.1.0".into(),
    }
}

fn fixture() -> Fixture {
    fixture_with("")
}

fn no_latency(_: usize) -> Option<(Vec<(f64, u64)>, f64)> {
    None
}

fn ctx(f: &Fixture) -> StatusContext<'_> {
    StatusContext {
        worker: "jkstatus",
        params: &f.status,
        workers: &f.config,
        segment: Some(&f.seg),
        maps: &f.maps,
        server: "127.0.0.1:8080",
        software: &f.software,
        csrf_token: TOKEN,
        server_names: &[],
        now_ms: 1_778_760_000_000,
        latency: &no_latency,
    }
}

fn base(query: &str) -> StatusRequest<'_> {
    StatusRequest {
        method: "GET",
        query,
        form: b"",
        remote_user: None,
        sec_fetch_site: None,
        origin: None,
        referer: None,
        host: "127.0.0.1:8080",
        path: "/jkmanager/",
        user_agent: None,
        browser_headers: false,
    }
}

fn get(f: &Fixture, query: &str) -> StatusResponse {
    handle(&base(query), &ctx(f))
}

fn post(f: &Fixture, form: &str) -> StatusResponse {
    let req = StatusRequest {
        method: "POST",
        form: form.as_bytes(),
        sec_fetch_site: Some("same-origin"),
        origin: Some("http://127.0.0.1:8080"),
        ..base("")
    };
    handle(&req, &ctx(f))
}

fn bal(f: &Fixture) -> Balancer<'_> {
    Balancer::find(&f.seg, "load_balancer").expect("lb")
}

fn member(f: &Fixture, name: &str) -> MemberSnapshot {
    let b = bal(f);
    b.member(b.member_index(name).expect("member"))
        .expect("snapshot")
}

fn text(r: &StatusResponse) -> &str {
    r.body_text()
}

mod commands;
mod formats;
mod hostile;
mod validators;
