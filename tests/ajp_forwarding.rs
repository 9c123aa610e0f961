//! AJP13 forwarding through the real httpd to the fake backend: request and body rules,
//! response relay, connection reuse, and every malformed or failing backend behaviour
//! ending in a clean error with the next request served.

mod common;

use common::{FakeAjp, Httpd, Mpm, ServerRoot, fnv1a};

const SECRET: &str = "s3cr3t#not-a-comment";

struct Setup {
    h: Httpd,
    fake: FakeAjp,
}

fn setup(mpm: Mpm, workers_extra: &str, conf_extra: &str) -> Setup {
    let fake = FakeAjp::start("fake1", &[]);
    let root = ServerRoot::new(mpm);
    let dead = common::free_port();
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
fn forwards_paths_decoded_exactly_once() {
    let s = setup(Mpm::Event, "", "");
    // httpd decodes once; we re-encode so Tomcat's single decoding yields httpd's view.
    let r = s.h.get("/app/%252e%252e/other/x");
    assert_eq!(
        echo_field(&r.text(), "uri"),
        Some("/app/%252e%252e/other/x")
    );
    let r = s.h.get("/app/caf%C3%A9/a%20b;jsessionid=ABC.t1");
    assert_eq!(r.status, 200);
    assert_eq!(
        echo_field(&r.text(), "uri"),
        Some("/app/caf%C3%A9/a%20b;jsessionid=ABC.t1")
    );
    // Encoded CR/LF never reach the backend raw.
    let r = s.h.get("/app/x%0d%0aX-Injected:%201");
    let uri = echo_field(&r.text(), "uri").unwrap_or_default().to_string();
    assert!(!uri.contains('\r') && !uri.contains('\n'), "{uri}");
}

#[test]
fn request_bodies_by_length_and_chunked() {
    let s = setup(Mpm::Event, "", "");
    for len in [0usize, 1, 8186, 8187, 65536, 1 << 20] {
        let body: Vec<u8> = (0..len).map(|i| (i * 7 % 251) as u8).collect();
        let r = s.h.request("POST", "/app/echo", &[], &body);
        assert_eq!(r.status, 200, "len {len}");
        let t = r.text();
        assert_eq!(
            echo_field(&t, "body_len"),
            Some(len.to_string().as_str()),
            "len {len}"
        );
        assert_eq!(
            echo_field(&t, "body_fnv"),
            Some(fnv1a(&body).as_str()),
            "len {len}"
        );
        assert!(t.contains(&format!("header:content-length={len}")), "{t}");
    }
    // Content-Length 0: no body packet at all.
    let bodies = s.fake.wait_events("body", 6);
    assert!(bodies[0].contains("\"packets\":0"), "{}", bodies[0]);
    // Chunked: no Content-Length forwarded, backend pulls until the empty packet.
    let payload: Vec<u8> = (0..100_000).map(|i| (i % 253) as u8).collect();
    let mut raw =
        b"POST /app/echo HTTP/1.1\r\nHost: x\r\nConnection: close\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
    for chunk in payload.chunks(30_000) {
        raw.extend_from_slice(format!("{:x}\r\n", chunk.len()).as_bytes());
        raw.extend_from_slice(chunk);
        raw.extend_from_slice(b"\r\n");
    }
    raw.extend_from_slice(b"0\r\n\r\n");
    let r = common::parse_response(&s.h.raw(&raw)).unwrap();
    assert_eq!(r.status, 200);
    let t = r.text();
    assert_eq!(echo_field(&t, "body_len"), Some("100000"));
    assert_eq!(echo_field(&t, "body_fnv"), Some(fnv1a(&payload).as_str()));
    assert!(!t.contains("header:content-length"), "{t}");
    // Expect: 100-continue is answered by httpd and the body still arrives whole.
    let r = s.h.request(
        "PUT",
        "/app/echo",
        &[("Expect", "100-continue")],
        b"continued",
    );
    assert_eq!(echo_field(&r.text(), "body_len"), Some("9"));
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
    // HEAD: headers only.
    let raw =
        s.h.raw(b"HEAD /app/size/100 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    let text = String::from_utf8_lossy(&raw);
    assert!(text.ends_with("\r\n\r\n"), "HEAD carried a body: {text}");
    // 204/304 never carry a body, even when the backend sends one.
    for path in ["/app/status/204", "/app/fault/not_modified_body"] {
        let raw = s
            .h
            .raw(format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").as_bytes());
        let text = String::from_utf8_lossy(&raw);
        assert!(text.ends_with("\r\n\r\n"), "{path}: {text}");
    }
    // A bodiless backend error gets httpd's own page (ErrorDocument applies).
    let r = s.h.get("/app/status/404");
    assert_eq!(r.status, 404);
    assert_eq!(r.text(), "custom not found page\n");
    let r = s.h.get("/app/status/503");
    assert_eq!(r.status, 503);
    // Flush packets are honoured and the body stays intact.
    let r = s.h.get("/app/flush");
    assert_eq!(r.status, 200);
    assert!(!r.body.is_empty());
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
    // reuse=0: the response is forwarded and the connection closed, not reused.
    let r = s.h.get("/app/fault/reuse0");
    assert_eq!(r.status, 200);
    let closes = s.fake.wait_events("close", 1);
    assert!(!closes.is_empty(), "{}", s.fake.log());
    let opens_before = s.fake.events("open").len();
    assert_eq!(s.h.get("/app/echo").status, 200);
    assert!(s.fake.wait_events("open", opens_before + 1).len() > opens_before);
}

#[test]
fn malformed_backend_replies_give_502_close_and_recover() {
    let s = setup(Mpm::Event, "", "");
    let faults = [
        "bad_magic",
        "too_long/8189",
        "too_long/65535",
        "truncated/7",
        "str_overrun",
        "no_nul",
        "huge_header_count",
        "unknown_header_code/a00c",
        "unknown_type",
        "headers_twice",
        "body_before_headers",
        "end_no_headers",
        "end_no_reuse_byte",
        "status_crlf",
        "hdr_crlf",
        "chunk_short/fffc",
        "chunk_short/ffff",
        "chunk_overlong",
    ];
    for f in faults {
        let r = s.h.get(&format!("/app/fault/{f}"));
        assert!(
            r.status == 502 || (r.status == 200 && r.header("Set-Cookie").is_none()),
            "{f}: status {} headers {:?}",
            r.status,
            r.headers
        );
        assert!(
            r.header("Set-Cookie").is_none(),
            "{f}: injected header reached the client"
        );
        let ok = s.h.get("/app/echo");
        assert_eq!(ok.status, 200, "{f}: next request failed");
    }
    let err = s.h.error_log();
    assert!(!err.contains("exit signal"), "{err}");
    // Every faulty connection was closed by us, none reused.
    let log = s.fake.log();
    let opens = s.fake.events("open").len();
    assert!(
        opens >= faults.len(),
        "each fault's connection must be replaced: {opens}\n{log}"
    );
}

#[test]
fn stray_bytes_after_end_never_reach_the_next_request() {
    let s = setup(Mpm::Prefork, "worker.t1.connection_pool_size=1\n", "");
    let r = s.h.get("/app/xsecret");
    assert_eq!(r.header("X-Secret"), Some("A"));
    let r = s.h.get("/app/fault/extra_after_end");
    assert_eq!(r.status, 200);
    for _ in 0..3 {
        let r = s.h.get("/app/fault/end_no_headers");
        assert_eq!(r.status, 502);
        assert!(r.header("X-Secret").is_none() && r.header("X-Stale").is_none());
        let r = s.h.get("/app/echo");
        assert_eq!(r.status, 200);
        assert!(r.header("X-Stale").is_none(), "{:?}", r.headers);
    }
}

#[test]
fn failures_before_headers_retry_only_what_cannot_duplicate_work() {
    let s = setup(Mpm::Event, "", "");
    // The backend reads the request and closes: a GET may be retried (retries=2) ...
    let r = s.h.get("/app/fault/close_before_headers");
    assert_eq!(r.status, 502);
    let n = s.fake.wait_events("request", 2).len();
    assert_eq!(
        n,
        2,
        "GET retried once on a new connection:\n{}",
        s.fake.log()
    );
    // ... a POST never is: it reached the backend, which may have acted on it.
    let r =
        s.h.request("POST", "/app/fault/close_before_headers", &[], b"order=1");
    assert_eq!(r.status, 502);
    std::thread::sleep(std::time::Duration::from_millis(300));
    assert_eq!(
        s.fake.events("request").len(),
        3,
        "POST must not be replayed:\n{}",
        s.fake.log()
    );
    // Unreachable backend: 503, quickly.
    let t = std::time::Instant::now();
    assert_eq!(s.h.get("/dead/x").status, 503);
    assert!(t.elapsed().as_secs() < 10);
    assert_eq!(s.h.get("/app/echo").status, 200);
}

#[test]
fn hangs_end_in_504_and_failures_after_headers_abort_the_client() {
    let s = setup(Mpm::Event, "", "");
    let t = std::time::Instant::now();
    let r = s.h.get("/slow/fault/hang_before_headers/5000");
    assert_eq!(r.status, 504);
    assert!(
        t.elapsed().as_millis() < 4500,
        "reply_timeout 1500 ms, GET retried at most once"
    );
    // Headers and part of the body went out, then the backend closes: the client sees a
    // truncated response (no final chunk / short body), never a complete-looking one.
    for path in [
        "/app/fault/close_mid_body",
        "/slow/fault/hang_mid_body/5000",
    ] {
        let raw =
            s.h.raw(format!("GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes());
        let text = String::from_utf8_lossy(&raw).into_owned();
        // What httpd had buffered may or may not have reached the wire before the abort.
        assert!(
            text.is_empty() || text.starts_with("HTTP/1.1 200"),
            "{path}: {text}"
        );
        let complete = common::parse_response(&raw).is_some_and(|r| {
            r.header("Content-Length")
                .map(|l| l.parse::<usize>().ok() == Some(r.body.len()))
                .unwrap_or(false)
        }) || text.ends_with("0\r\n\r\n");
        assert!(!complete, "{path}: truncation not visible: {text}");
    }
    // Content-Length from the backend that does not match the body: never delivered as
    // a well-framed response.
    let raw =
        s.h.raw(b"GET /app/fault/cl_mismatch HTTP/1.1\r\nHost: x\r\n\r\n");
    let r = common::parse_response(&raw);
    assert!(
        r.as_ref().is_none_or(|r| r
            .header("Content-Length")
            .and_then(|l| l.parse::<usize>().ok())
            != Some(r.body.len())
            || r.status == 502),
        "{:?}",
        String::from_utf8_lossy(&raw)
    );
    assert_eq!(s.h.get("/app/echo").status, 200);
}

#[test]
fn oversized_request_headers_get_413_without_reaching_the_backend() {
    let s = setup(Mpm::Event, "", "");
    let big = "a".repeat(4000);
    let r =
        s.h.get_with("/app/echo", &[("X-1", &big), ("X-2", &big), ("X-3", &big)]);
    assert_eq!(r.status, 413);
    assert!(s.fake.events("request").is_empty());
    assert_eq!(s.h.get("/app/echo").status, 200);
}

#[test]
fn client_abort_mid_upload_never_leaves_a_reusable_connection() {
    use std::io::Write;
    let s = setup(Mpm::Prefork, "worker.t1.connection_pool_size=1\n", "");
    for _ in 0..3 {
        let mut c = std::net::TcpStream::connect(("127.0.0.1", s.h.port())).unwrap();
        c.write_all(b"POST /app/echo HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n")
            .unwrap();
        c.write_all(&[b'x'; 20000]).unwrap();
        drop(c);
    }
    std::thread::sleep(std::time::Duration::from_millis(500));
    // Every later request gets its own correct response (CVE-2008-5519).
    for i in 0..10 {
        let body = format!("request-{i}");
        let r = s.h.request("POST", "/app/echo", &[], body.as_bytes());
        assert_eq!(r.status, 200);
        assert_eq!(
            echo_field(&r.text(), "body_fnv"),
            Some(fnv1a(body.as_bytes()).as_str())
        );
    }
    let err = s.h.stop();
    assert!(!err.contains("exit signal"), "{err}");
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
fn pool_exhaustion_waits_then_answers_503() {
    // One connection per child and one child: the second concurrent request waits
    // connection_acquire_timeout, then gets 503 without touching the backend.
    let s = setup(
        Mpm::Event,
        "worker.t1.connection_pool_size=1\nworker.t1.connection_acquire_timeout=300\n",
        "StartServers 1\nServerLimit 1\nMaxRequestWorkers 8\nMinSpareThreads 1\nMaxSpareThreads 8\n",
    );
    let port = s.h.port();
    let slow = std::thread::spawn(move || {
        let mut c = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
        use std::io::{Read, Write};
        c.write_all(b"GET /app/sleep/2000 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            .unwrap();
        let mut out = String::new();
        let _ = c.read_to_string(&mut out);
        out
    });
    std::thread::sleep(std::time::Duration::from_millis(400));
    let t = std::time::Instant::now();
    let r = s.h.get("/app/echo");
    assert_eq!(r.status, 503);
    let waited = t.elapsed().as_millis();
    assert!((250..1500).contains(&waited), "waited {waited} ms");
    assert_eq!(s.fake.events("request").len(), 1, "{}", s.fake.log());
    assert!(slow.join().unwrap().starts_with("HTTP/1.1 200"));
}

#[test]
fn cping_modes_detect_a_backend_that_does_not_answer() {
    let fake = FakeAjp::start("mute", &["--scenario", "no_cpong"]);
    let root = ServerRoot::new(Mpm::Event);
    let wf = root.write(
        "conf/workers.properties",
        &format!(
            "worker.list=mute\nworker.mute.host=127.0.0.1\nworker.mute.port={}\nworker.mute.ping_mode=A\nworker.mute.ping_timeout=300\n",
            fake.port
        ),
    );
    root.configure(&format!("JkWorkersFile {wf}\nJkMount /m/* mute\n"));
    let h = root.start();
    let t = std::time::Instant::now();
    assert_eq!(h.get("/m/echo").status, 503);
    assert!(t.elapsed().as_millis() < 3000);
    // The CPing was never answered, so no request was ever sent.
    assert!(fake.events("request").is_empty(), "{}", fake.log());
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
