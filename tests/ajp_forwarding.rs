//! AJP13 forwarding through the real httpd to the fake backend: request data, response
//! relay and connection reuse. Failing and malformed backends are in `faults.rs`.

mod common;

use common::{FakeAjp, Httpd, Mpm, ServerRoot};

const SECRET: &str = "s3cr3t#not-a-comment";

struct Setup {
    h: Httpd,
    fake: FakeAjp,
}

fn setup(mpm: Mpm, workers_extra: &str, conf_extra: &str) -> Setup {
    let fake = FakeAjp::start("fake1", &[]);
    let root = ServerRoot::new(mpm);
    let dead = common::down_port();
    // `#` cuts workers.properties lines, so the secret goes in through JkWorkerProperty.
    let wf = root.write(
        "conf/workers.properties",
        &format!(
            "worker.list=t1,slow,dead\n\
             worker.t1.host=127.0.0.1\nworker.t1.port={p}\n\
             worker.slow.host=127.0.0.1\nworker.slow.port={p}\nworker.slow.reply_timeout=1500\n\
             worker.dead.host=127.0.0.1\nworker.dead.port={dead}\nworker.dead.socket_connect_timeout=1000\n{workers_extra}",
            p = fake.port
        ),
    );
    root.write("htdocs/custom404.html", "custom not found page\n");
    root.configure(&format!(
        "JkWorkerProperty worker.t1.secret={SECRET}\nJkWorkersFile {wf}\nJkLogLevel debug\n\
         JkMount /app/* t1\nJkMount /slow/* slow\nJkMount /dead/* dead\n\
         ErrorDocument 404 /custom404.html\n{conf_extra}"
    ));
    Setup {
        h: root.start(),
        fake,
    }
}

fn echo_field<'a>(body: &'a str, key: &str) -> Option<&'a str> {
    body.lines()
        .find_map(|l| l.strip_prefix(&format!("{key}=")))
}

#[test]
fn forwards_methods_uri_query_secret_and_attributes() {
    let s = setup(Mpm::Event, "", "");
    for method in [
        "GET",
        "POST",
        "PUT",
        "DELETE",
        "PATCH",
        "OPTIONS",
        "PROPFIND",
        "MKACTIVITY",
    ] {
        let r = s.h.request(method, "/app/echo?a=1&b=%20x", &[], b"");
        assert_eq!(r.status, 200, "{method}");
        let body = r.text();
        assert_eq!(echo_field(&body, "method"), Some(method), "{body}");
        assert_eq!(echo_field(&body, "uri"), Some("/app/echo"));
        assert_eq!(
            echo_field(&body, "query"),
            Some("a=1&b=%20x"),
            "query string is raw"
        );
    }
    let reqs = s.fake.wait_events("request", 8);
    assert!(
        reqs[0].contains(&format!("\"secret_value\":\"{SECRET}\"")),
        "{}",
        reqs[0]
    );
    assert!(
        reqs[4].contains("\"method_code\":255"),
        "PATCH goes as stored method: {}",
        reqs[4]
    );
    assert!(
        reqs[6].contains("\"method_code\":8"),
        "PROPFIND is code 8: {}",
        reqs[6]
    );
    for attr in ["AJP_REMOTE_PORT", "AJP_LOCAL_ADDR", "JK_LB_ACTIVATION"] {
        assert!(
            reqs[0].contains(&format!("\"name\":\"{attr}\"")),
            "{attr} always sent"
        );
    }
    // Headers posing as attributes stay headers (Ghostcat-style injection).
    let r = s.h.get_with(
        "/app/echo",
        &[
            ("AJP_REMOTE_PORT", "1"),
            ("javax.servlet.include.request_uri", "/WEB-INF/web.xml"),
        ],
    );
    assert_eq!(r.status, 200);
    let req = s.fake.wait_events("request", 9).pop().unwrap();
    assert!(
        req.contains("[\"javax.servlet.include.request_uri\",\"/WEB-INF/web.xml\",null]"),
        "{req}"
    );
    assert!(!req.contains("\"name\":\"javax.servlet.include"), "{req}");
    assert_eq!(
        req.matches("\"name\":\"AJP_REMOTE_PORT\"").count(),
        1,
        "{req}"
    );
}

#[test]
fn response_relay_status_headers_and_bodies() {
    let s = setup(Mpm::Prefork, "", "");
    for n in [0usize, 1, 8184, 100_000, 3 << 20] {
        let r = s.h.get(&format!("/app/size/{n}"));
        assert_eq!(r.status, 200);
        assert_eq!(r.body.len(), n);
        assert!(
            r.body
                .iter()
                .enumerate()
                .all(|(i, &b)| b == b'a' + (i % 26) as u8)
        );
    }
    let r = s.h.get("/app/setcookie");
    let cookies: Vec<_> = r
        .headers
        .iter()
        .filter(|(n, _)| n.eq_ignore_ascii_case("set-cookie"))
        .collect();
    assert_eq!(
        cookies.len(),
        2,
        "duplicate Set-Cookie kept: {:?}",
        r.headers
    );
    // A bodiless backend error gets httpd's own page (ErrorDocument applies).
    let r = s.h.get("/app/status/404");
    assert_eq!(r.status, 404);
    assert_eq!(r.text(), "custom not found page\n");
    let r = s.h.get("/app/status/503");
    assert_eq!(r.status, 503);
}

#[test]
fn connections_are_reused_only_after_a_clean_end() {
    let s = setup(Mpm::Prefork, "", "");
    // Prefork: one connection per child; sequential requests on one keep-alive client
    // connection stay in one child and must reuse one backend connection.
    let mut raw = Vec::new();
    for _ in 0..3 {
        raw.extend_from_slice(b"GET /app/echo HTTP/1.1\r\nHost: x\r\n\r\n");
    }
    raw.extend_from_slice(b"GET /app/echo HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    let text = String::from_utf8_lossy(&s.h.raw(&raw)).into_owned();
    assert_eq!(text.matches("HTTP/1.1 200").count(), 4, "{text}");
    assert_eq!(s.fake.wait_events("open", 1).len(), 1, "{}", s.fake.log());
}

#[test]
fn idle_connections_are_closed_by_the_watchdog() {
    let s = setup(
        Mpm::Event,
        "worker.t1.connection_pool_timeout=1\nworker.t1.connection_pool_minsize=0\n",
        "JkWatchdogInterval 1\n",
    );
    assert_eq!(s.h.get("/app/echo").status, 200);
    let closes = s.fake.wait_events("close", 1);
    assert!(
        closes.iter().any(|c| c.contains("\"by\":\"peer\"")),
        "idle connection never closed by us:\n{}",
        s.fake.log()
    );
    assert_eq!(s.h.get("/app/echo").status, 200);
}

#[test]
fn rule_extensions_of_the_matching_jkmount_apply() {
    let s = setup(Mpm::Event, "", "JkMount /ext/* t1;reply_timeout=700\n");
    let t = std::time::Instant::now();
    assert_eq!(s.h.get("/ext/fault/hang_before_headers/4000").status, 504);
    // reply_timeout 700 ms, the GET tried twice: well under the 4 s hang.
    assert!(t.elapsed().as_millis() < 3000, "{:?}", t.elapsed());
    assert_eq!(s.h.get("/ext/echo").status, 200);
}
