//! The Tomcat harness itself (tests/common/tomcat.rs, tests/tomcat/): a real tomcat10
//! starts, serves the test webapp over HTTP, answers AJP CPING, and survives the
//! lifecycle operations other tests rely on.

#[path = "common/tomcat.rs"]
mod tomcat;

use std::time::{Duration, Instant};
use tomcat::{Echo, Tomcat, ajp_cping, http_request, size_body};

#[test]
fn tomcat_serves_webapp_and_answers_cping() {
    let t0 = Instant::now();
    let t = Tomcat::start("smoke1", "s3cret");
    eprintln!("started in {:?}", t0.elapsed());
    assert!(t.is_running());

    let (status, body) = t.http_get("/echo?x=1");
    assert_eq!(
        status,
        200,
        "{}\n{}",
        String::from_utf8_lossy(&body),
        t.log_tail(40)
    );
    let echo = Echo::parse(&body);
    assert_eq!(echo.get("method").as_deref(), Some("GET"));
    assert_eq!(echo.get("uri").as_deref(), Some("/echo"));
    assert_eq!(echo.get("query").as_deref(), Some("x=1"));
    assert_eq!(echo.get("route").as_deref(), Some("smoke1"));
    assert_eq!(echo.get("remote_user").as_deref(), Some("(null)"));

    let (status, body) = t.http_get("/size/10");
    assert_eq!(status, 200);
    assert_eq!(
        body,
        [0x07, 0x26, 0x45, 0x64, 0x83, 0xa2, 0xc1, 0xe0, 0xff, 0x1e]
    );
    assert_eq!(body, size_body(10));

    // Multi-block and chunked: the pattern must continue across the 64 KiB writes.
    let (status, body) = t.http_get("/size/200000?chunked=1");
    assert_eq!(status, 200);
    assert!(
        body == size_body(200_000),
        "chunked /size/200000 differs ({} bytes)",
        body.len()
    );

    let post = http_request(t.http_port, "POST", "/echo", &[("X-Test", "a b")], b"hello");
    let echo = Echo::parse(&post.body);
    assert_eq!(echo.get("body_len").as_deref(), Some("5"));
    assert_eq!(
        echo.get("body_sha256").as_deref(),
        Some("2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824")
    );
    assert_eq!(echo.get("header.x-test").as_deref(), Some("a b"));

    assert!(
        ajp_cping(t.ajp_port, Duration::from_secs(10)),
        "no CPONG on AJP port {}\n{}",
        t.ajp_port,
        t.log_tail(40)
    );
}

#[test]
fn tomcat_kill9_restart_and_endpoints() {
    let t = Tomcat::start("smoke2", "other-secret");
    let first = t.pid();

    let (_, body) = t.http_get("/count?id=k");
    assert_eq!(body, b"1\n");
    let (_, body) = t.http_get("/count?get=k");
    assert_eq!(body, b"1\n");
    let (status, body) = t.http_get("/status/503?body=1");
    assert_eq!((status, body.as_slice()), (503, &b"status 503\n"[..]));
    let h = http_request(t.http_port, "GET", "/headers", &[], b"");
    assert_eq!(
        h.headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case("set-cookie"))
            .count(),
        2
    );
    assert_eq!(h.header("x-long-header").map(str::len), Some(4000));
    let (_, body) = t.http_get("/session");
    assert!(String::from_utf8_lossy(&body).starts_with("route=smoke2 count=1 id="));

    t.kill9();
    assert!(!t.is_running());
    assert!(
        !ajp_cping(t.ajp_port, Duration::from_secs(2)),
        "AJP port still answers after SIGKILL"
    );

    t.start_again();
    assert_ne!(t.pid(), first);
    assert!(
        ajp_cping(t.ajp_port, Duration::from_secs(10)),
        "{}",
        t.log_tail(40)
    );
    // A fresh JVM: the counter is gone.
    assert_eq!(t.http_get("/count?get=k").1, b"0\n");

    let second = t.pid();
    t.restart();
    assert_ne!(t.pid(), second);
    assert_eq!(t.http_get("/sleep/10").1, b"slept");
    t.stop();
    assert!(!t.is_running());
}

#[test]
fn shared_instances_have_distinct_routes() {
    let ts = tomcat::shared(2);
    assert_eq!(ts.len(), 2);
    for (i, t) in ts.iter().enumerate() {
        let echo = Echo::parse(&t.http_get("/echo").1);
        assert_eq!(echo.get("route"), Some(format!("tomcat{}", i + 1)));
        assert!(
            t.worker_properties()
                .contains(&format!("port={}", t.ajp_port))
        );
    }
    // Same instances on the second call.
    assert_eq!(tomcat::shared(1)[0].pid(), ts[0].pid());
}
