//! Feeds arbitrary query strings and form bodies to the status worker: parameter decoding,
//! command dispatch, every output format and the state-changing commands (the CSRF token
//! is known here so that fuzzed updates get past the checks and reach the shared state).
//!
//! Input: one selector byte (method and headers), the query string, a newline, then the
//! form body.

#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use mod_rjk::config::properties::Source;
use mod_rjk::config::workers::{StatusParams, WorkersConfig};
use mod_rjk::mapping::{RuleSource, UriMap};
use mod_rjk::shm::{Segment, init_from_config};
use mod_rjk::status::{MapRow, StatusContext, StatusRequest, handle};

const WORKERS: &str = "\
worker.list=lb,jkstatus,solo
worker.tomcat1.port=18009
worker.tomcat1.route=t1
worker.tomcat2.port=28009
worker.tomcat2.lbfactor=2
worker.tomcat2.domain=d2
worker.lb.type=lb
worker.lb.balance_workers=tomcat1,tomcat2
worker.solo.host=127.0.0.1
worker.solo.port=48009
worker.jkstatus.type=status
";

/// Same value as the seed corpus uses, so fuzzed POSTs can carry a valid token.
const TOKEN: &str = "0123456789abcdef0123456789abcdef";

struct Fixture {
    config: WorkersConfig,
    params: StatusParams,
    maps: Vec<(String, Vec<MapRow>)>,
}

fn fixture() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| {
        let config = WorkersConfig::from_sources(
            &[Source::File {
                path: "workers.properties",
                contents: WORKERS,
            }],
            "/srv/httpd",
            &|_| None,
        )
        .expect("fixed configuration is valid");
        let params = config
            .get("jkstatus")
            .and_then(|d| d.status())
            .expect("status worker")
            .clone();
        let mut map = UriMap::new();
        map.add_mount("/app|/*", "lb;reply_timeout=500", RuleSource::JkMount)
            .expect("valid rule");
        map.add_unmount("/app/static/*", "lb", RuleSource::JkMount)
            .expect("valid rule");
        map.add_mount("/jkmanager/*", "jkstatus", RuleSource::JkMount)
            .expect("valid rule");
        let rows = map.rules().map(MapRow::from_rule).collect();
        Fixture {
            config,
            params,
            maps: vec![("127.0.0.1:8080".to_owned(), rows)],
        }
    })
}

fn latency(i: usize) -> Option<(Vec<(f64, u64)>, f64)> {
    (i == 0).then(|| (vec![(0.01, 3), (0.1, 5), (f64::INFINITY, 6)], 0.4))
}

fuzz_target!(|data: &[u8]| {
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    let (query, form) = match rest.iter().position(|&b| b == b'\n') {
        Some(i) => (&rest[..i], &rest[i + 1..]),
        None => (rest, &b""[..]),
    };
    let query = String::from_utf8_lossy(query);
    let f = fixture();
    // A fresh segment per input keeps a crash reproducible from its input alone.
    let seg = Segment::new_boxed();
    init_from_config(&seg, &f.config).expect("segment");
    let read_only = StatusParams {
        read_only: true,
        ..f.params.clone()
    };
    let names = ["jkm.example".to_owned()];
    let ctx = StatusContext {
        worker: "jkstatus",
        params: if selector & 0x10 != 0 {
            &read_only
        } else {
            &f.params
        },
        workers: &f.config,
        segment: (selector & 0x20 == 0).then_some(&*seg),
        maps: &f.maps,
        server: "127.0.0.1:8080",
        software: "Apache/2.4 mod_rjk",
        csrf_token: TOKEN,
        server_names: &names,
        now_ms: 1_778_760_000_000,
        latency: &latency,
    };
    let req = StatusRequest {
        method: ["GET", "POST", "HEAD", "PUT"][usize::from(selector & 3)],
        query: &query,
        form,
        remote_user: (selector & 0x40 != 0).then_some("admin"),
        sec_fetch_site: (selector & 4 != 0).then_some("same-origin"),
        origin: (selector & 8 != 0).then_some("http://127.0.0.1:8080"),
        referer: None,
        host: "127.0.0.1:8080",
        path: if selector & 0x80 != 0 {
            "/jk\"<m>/"
        } else {
            "/jkmanager/"
        },
        // The selector byte is full: the lengths pick the browser markers.
        user_agent: (query.len() % 2 == 1).then_some("Mozilla/5.0"),
        browser_headers: form.len() % 2 == 1,
    };
    // Twice on the same segment: the second request sees whatever the first one changed.
    for _ in 0..2 {
        let resp = handle(&req, &ctx);
        assert!((200..=599).contains(&resp.status));
        assert!(!resp.content_type.is_empty());
        for (name, value) in &resp.headers {
            assert!(!has_ctl(name) && !has_ctl(value));
        }
        if req.method == "HEAD" {
            assert!(resp.body.is_empty());
        }
    }
});

/// Header values go to httpd's `apr_table_set`; CR/LF would split the response.
fn has_ctl(s: &str) -> bool {
    s.bytes().any(|b| b.is_ascii_control())
}
