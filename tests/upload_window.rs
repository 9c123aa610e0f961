//! `upload_window`: request body packets sent before the backend asks for them, against
//! the fake backend (which can show bytes that arrived unasked) and real Tomcat (whose
//! servlets read all, part or none of the body), always followed by requests on the same
//! backend connection that must be answered exactly.

mod common;

use common::{FakeAjp, Httpd, Mpm, ServerRoot, chunked, fnv1a, parse_response};

/// One httpd child, one backend connection per worker: a follow-up request uses the
/// connection the previous one left, if it was kept.
const ONE_CHILD: &str =
    "StartServers 1\nServerLimit 1\nMaxRequestWorkers 8\nMinSpareThreads 1\nMaxSpareThreads 8\n";

/// httpd with worker `win` (default window) on `/app/*` and `nowin` (upload_window=N) on
/// `/nowin/*`, both to `port`, one connection each.
fn httpd(workers: &str, nowin_window: u32) -> Httpd {
    let root = ServerRoot::new(Mpm::Event);
    let w = format!(
        "worker.list=win,nowin\n{workers}\
         worker.win.connection_pool_size=1\n\
         worker.nowin.connection_pool_size=1\nworker.nowin.upload_window={nowin_window}\n"
    );
    let wf = root.write("conf/workers.properties", &w);
    root.configure(&format!(
        "JkWorkersFile {wf}\nJkShmFile logs/jk-runtime-status\nJkLogLevel info\n\
         JkMount /app/* win\nJkMount /nowin/* nowin\n{ONE_CHILD}"
    ));
    root.start()
}

/// httpd with worker `win` to Tomcat `t` on `/*` (one connection, `extra` properties
/// after it): the test servlets answer at the root.
fn tomcat_httpd(t: &common::tomcat::Tomcat, extra: &str) -> Httpd {
    let root = ServerRoot::new(Mpm::Event);
    let w = format!(
        "worker.list=win\n{}worker.win.connection_pool_size=1\n{extra}",
        t.worker_properties_as("win")
    );
    let wf = root.write("conf/workers.properties", &w);
    root.configure(&format!(
        "JkWorkersFile {wf}\nJkShmFile logs/jk-runtime-status\nJkLogLevel info\n\
         JkMount /* win\n{ONE_CHILD}"
    ));
    root.start()
}

fn fake_workers(port: u16) -> String {
    ["win", "nowin"]
        .iter()
        .map(|w| {
            format!("worker.{w}.type=ajp13\nworker.{w}.host=127.0.0.1\nworker.{w}.port={port}\n")
        })
        .collect()
}

fn field<'a>(body: &'a str, key: &str) -> Option<&'a str> {
    body.lines()
        .find_map(|l| l.strip_prefix(&format!("{key}=")))
}

fn body_of(len: usize, seed: usize) -> Vec<u8> {
    (0..len).map(|i| ((i * 7 + seed) % 251) as u8).collect()
}

/// The `conn` number of fake log lines.
fn conn_of(line: &str) -> u64 {
    line.split("\"conn\":")
        .nth(1)
        .and_then(|s| s.split([',', '}']).next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no conn in {line}"))
}

/// A backend that reads part of the body and answers gets full packets it never asked
/// for: that connection is closed, never reused, and what it held is read (by the fake,
/// as by Tomcat) as an unknown message type, never as a request. A backend that reads
/// everything keeps its connection.
#[test]
fn worker_upload_window_sends_full_packets_ahead_and_never_reuses_a_connection_left_with_them() {
    let fake = FakeAjp::start("fake", &[]);
    let h = httpd(&fake_workers(fake.port), 1);
    let body = body_of(65536, 1);
    let r = h.request("POST", "/app/fault/read_part/1", &[], &body);
    assert_eq!(r.status, 200);
    assert_eq!(
        r.text(),
        "read=16372\n",
        "the unsolicited packet and one asked for"
    );
    let unasked = fake.wait_events("unasked", 1);
    assert!(
        !unasked[0].contains("\"bytes\":0"),
        "no body packet travelled ahead: {}",
        fake.log()
    );
    let dirty = conn_of(&unasked[0]);
    // The next uploads: exact, on a new connection, which then stays.
    for seed in 2..5 {
        let body = body_of(65536 + seed, seed);
        let r = h.request("POST", "/app/echo", &[], &body);
        assert_eq!(r.status, 200);
        let t = r.text();
        assert_eq!(
            field(&t, "body_len"),
            Some((65536 + seed).to_string().as_str())
        );
        assert_eq!(field(&t, "body_fnv"), Some(fnv1a(&body).as_str()));
    }
    let requests = fake.wait_events("request", 4);
    let conns: Vec<u64> = requests.iter().map(|l| conn_of(l)).collect();
    assert_eq!(conns[0], dirty);
    assert!(conns[1] != dirty, "{conns:?}");
    assert!(conns[2..].iter().all(|&c| c == conns[1]), "{conns:?}");
    // The packets left on the closed connection: full ones, read as an unknown type.
    let closes = fake.wait_events("close", 1);
    assert!(closes.iter().any(|l| conn_of(l) == dirty), "{}", fake.log());
    for p in fake.events("packet") {
        if p.contains("UNEXPECTED") {
            assert_eq!(conn_of(&p), dirty, "{p}");
            let first: u8 = p
                .split("\"first_byte\":")
                .nth(1)
                .and_then(|v| v.split([',', '}']).next())
                .and_then(|v| v.parse().ok())
                .unwrap_or_else(|| panic!("no first_byte in {p}"));
            assert!(
                first >= 0x10,
                "a packet shorter than 4096 bytes went ahead: {p}"
            );
        }
    }
    assert!(
        fake.events("alien")
            .iter()
            .all(|l| l.contains("\"uri\":null")),
        "{}",
        fake.log()
    );
    h.assert_clean_log();
}

/// Sizes of the BODY packets the fake read, and whether each GET_BODY_CHUNK found body
/// bytes already waiting, since the log lines `skip_packets` and `skip_gets`.
fn body_trace(fake: &FakeAjp, skip_packets: usize, skip_gets: usize) -> (Vec<usize>, Vec<bool>) {
    let ready = fake.events("sent")[skip_gets..]
        .iter()
        .map(|l| l.contains("\"ready\":true"))
        .collect();
    (fake.body_packet_sizes(skip_packets), ready)
}

/// A body of known length: the last two packets go ahead too when both can be at least
/// 4096 bytes (65536 = 7 x 8186 + 4138 + 4096); a tail shorter than that waits for its
/// GET_BODY_CHUNK. (The fake asks for exactly the Content-Length, so no end packet.)
#[test]
fn worker_upload_window_sends_the_last_packets_ahead_only_when_none_is_short() {
    let fake = FakeAjp::start("fake", &[]);
    let h = httpd(&fake_workers(fake.port), 1);
    let cases: [(usize, &[usize], &[bool]); 2] = [
        (
            65536,
            &[8186, 8186, 8186, 8186, 8186, 8186, 8186, 4138, 4096],
            &[false, true, true, true, true, true, true, true],
        ),
        (2 * 8186 + 100, &[8186, 8186, 100], &[false, false]),
    ];
    for (len, sizes, ready) in cases {
        let (packets, gets) = (fake.events("packet").len(), fake.events("sent").len());
        let body = body_of(len, 7);
        let r = h.request("POST", "/app/echo", &[], &body);
        assert_eq!(r.status, 200);
        assert_eq!(field(&r.text(), "body_fnv"), Some(fnv1a(&body).as_str()));
        let (got_sizes, got_ready) = body_trace(&fake, packets, gets);
        assert_eq!(got_sizes, sizes, "{len}: {}", fake.log());
        assert_eq!(got_ready, ready, "{len}: {}", fake.log());
    }
    assert_eq!(fake.events("open").len(), 1, "{}", fake.log());
    h.assert_clean_log();
}

/// upload_window 0 and 1 send a packet only when asked for (the first one excepted):
/// no GET_BODY_CHUNK ever finds body bytes already waiting.
#[test]
fn worker_upload_window_0_and_1_send_only_the_packets_asked_for() {
    for window in [0, 1] {
        let fake = FakeAjp::start("fake", &[]);
        let h = httpd(&fake_workers(fake.port), window);
        for len in [65536usize, 100_000] {
            let body = body_of(len, len);
            let r = h.request("POST", "/nowin/echo", &[], &body);
            assert_eq!(r.status, 200);
            assert_eq!(field(&r.text(), "body_fnv"), Some(fnv1a(&body).as_str()));
        }
        let payload = body_of(15 * 7000, 3);
        let mut raw = b"POST /nowin/echo HTTP/1.1\r\nHost: x\r\nConnection: close\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
        raw.extend(chunked(&payload, &[7000; 15]));
        let r = parse_response(&h.raw(&raw)).unwrap();
        assert_eq!(field(&r.text(), "body_fnv"), Some(fnv1a(&payload).as_str()));
        fake.wait_events("body", 3);
        let gets = fake.events("sent");
        assert_eq!(gets.len(), 8 + 12 + 14, "{}", fake.log());
        assert!(
            gets.iter().all(|l| l.contains("\"ready\":false")),
            "window {window}: {}",
            fake.log()
        );
        // Every exchange ended clean: one connection for all.
        assert_eq!(fake.events("open").len(), 1, "{}", fake.log());
        h.assert_clean_log();
    }
}

/// The window on, uploads of every shape arrive exactly and keep their connection; a
/// chunked upload still travels in full packets with the tail and the end packet last.
#[test]
fn worker_upload_window_uploads_arrive_exactly_and_keep_the_connection() {
    let fake = FakeAjp::start("fake", &[]);
    let h = httpd(&fake_workers(fake.port), 1);
    for len in [1usize, 8186, 8187, 65536, 8186 * 9, 1 << 20] {
        let body = body_of(len, len);
        let r = h.request("POST", "/app/echo", &[], &body);
        assert_eq!(r.status, 200, "len {len}");
        let t = r.text();
        assert_eq!(field(&t, "body_len"), Some(len.to_string().as_str()));
        assert_eq!(field(&t, "body_fnv"), Some(fnv1a(&body).as_str()));
    }
    let payload = body_of(15 * 7000, 5);
    let mut raw = b"POST /app/echo HTTP/1.1\r\nHost: x\r\nConnection: close\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
    raw.extend(chunked(&payload, &[7000; 15]));
    let r = parse_response(&h.raw(&raw)).unwrap();
    assert_eq!(field(&r.text(), "body_fnv"), Some(fnv1a(&payload).as_str()));
    fake.wait_events("body", 7);
    let sizes: Vec<usize> = fake
        .body_packet_sizes(0)
        .into_iter()
        .rev()
        .take(14)
        .collect();
    let mut expected = vec![0, 6768];
    expected.extend([8186; 12]);
    assert_eq!(sizes, expected, "{}", fake.log());
    assert_eq!(fake.events("open").len(), 1, "{}", fake.log());
    assert!(fake.events("alien").is_empty(), "{}", fake.log());
    h.assert_clean_log();
}

/// Real Tomcat, servlets reading all, part or none of a 64 KiB body (known length and
/// chunked), each followed by a request that must be answered exactly; a connection is
/// reused only after an exchange that left nothing in it.
#[test]
fn worker_upload_window_with_tomcat_reading_all_part_or_none_of_the_body() {
    let t = common::tomcat::shared(1)[0];
    let conn = |r: &common::Response| field(&r.text(), "conn").unwrap().to_string();
    let read = |r: &common::Response| {
        field(&r.text(), "read")
            .unwrap_or_else(|| panic!("{} {}", r.status, r.text()))
            .to_string()
    };
    // The servlet answers at the root: one httpd per window setting.
    for window in ["", "worker.win.upload_window=1\n"] {
        let h = tomcat_httpd(t, window);
        let prefix = "";
        let body = body_of(65536, 9);
        // All of it, twice: the connection stays.
        let a = h.request("POST", &format!("{prefix}/read/1000000"), &[], &body);
        assert_eq!((a.status, read(&a)), (200, "65536".into()));
        let b = h.request("POST", &format!("{prefix}/read/1000000"), &[], &body);
        assert_eq!((b.status, read(&b)), (200, "65536".into()));
        assert_eq!(
            conn(&a),
            conn(&b),
            "{prefix}: a clean exchange keeps its connection"
        );
        for (path, got) in [
            ("read/10000", "10000"),
            ("read/0", "0"),
            ("read/20000", "20000"),
        ] {
            let r = h.request("POST", &format!("{prefix}/{path}"), &[], &body);
            assert_eq!(
                (r.status, read(&r)),
                (200, got.to_string()),
                "{prefix}/{path}"
            );
            // Whatever stayed unread, the next request is answered exactly.
            let next = body_of(70_000, 4);
            let f = h.request("POST", &format!("{prefix}/echo"), &[], &next);
            assert_eq!(f.status, 200, "{prefix}/{path}: {}", t.log_tail(40));
            assert_eq!(field(&f.text(), "body_len"), Some("70000"));
            let sum = field(&f.text(), "body_sha256").unwrap().to_string();
            assert_eq!(sum.len(), 64);
            let g = h.request("POST", &format!("{prefix}/read/1000000"), &[], &body);
            assert_eq!((g.status, read(&g)), (200, "65536".into()));
            assert_ne!(
                conn(&g),
                conn(&r),
                "{prefix}/{path}: a connection with unread body was reused"
            );
        }
        // Chunked, read in part.
        let mut raw = format!(
            "POST {prefix}/read/30000 HTTP/1.1\r\nHost: x\r\nConnection: close\r\nTransfer-Encoding: chunked\r\n\r\n"
        )
        .into_bytes();
        raw.extend(chunked(&body, &[7000; 9]));
        let r = parse_response(&h.raw(&raw)).unwrap();
        assert_eq!((r.status, read(&r)), (200, "30000".into()));
        let g = h.request("POST", &format!("{prefix}/read/1000000"), &[], &body);
        assert_eq!((g.status, read(&g)), (200, "65536".into()));
        assert_ne!(conn(&g), conn(&r));
        h.assert_clean_log();
    }
}

/// httpd with an lb over `a` and `b` (sticky, route cookie for `a`) on `/lb/*`.
fn lb_httpd(a: &FakeAjp, b: &FakeAjp) -> Httpd {
    let root = ServerRoot::new(Mpm::Event);
    let w = format!(
        "worker.list=lb\n\
         worker.a.host=127.0.0.1\nworker.a.port={}\n\
         worker.b.host=127.0.0.1\nworker.b.port={}\n\
         worker.lb.type=lb\nworker.lb.balance_workers=a,b\n",
        a.port, b.port
    );
    let wf = root.write("conf/workers.properties", &w);
    root.configure(&format!(
        "JkWorkersFile {wf}\nJkShmFile logs/jk-shm\nJkLogLevel info\nJkMount /lb/* lb\n{ONE_CHILD}"
    ));
    root.start()
}

/// Failover and the window: a member that crashes after asking for body (packets went
/// ahead) is not replaced by another member for that request (the body is partly gone:
/// nothing is sent twice or with a hole), and a member that fails before asking for any
/// body hands the request to the other one, which gets the whole body exactly.
#[test]
fn worker_upload_window_never_loses_or_doubles_a_body_on_failover() {
    let a = FakeAjp::start("a", &["--scenario", "read_part_close"]);
    let b = FakeAjp::start("b", &[]);
    let h = lb_httpd(&a, &b);
    let cookie = [("Cookie", "JSESSIONID=s.a")];
    let body = body_of(65536, 11);
    let r = h.request("POST", "/lb/echo", &cookie, &body);
    assert!(
        r.status == 502 || r.status == 503,
        "{} {}",
        r.status,
        r.text()
    );
    let unasked = a.wait_events("unasked", 1);
    assert!(!unasked[0].contains("\"bytes\":0"), "{}", a.log());
    assert!(b.events("request").is_empty(), "sent again: {}", b.log());
    drop(h);

    let a = FakeAjp::start("a", &["--scenario", "close_before_headers"]);
    let b = FakeAjp::start("b", &[]);
    let h = lb_httpd(&a, &b);
    for (method, len) in [("PUT", 65536usize), ("PUT", 200_000)] {
        let body = body_of(len, len);
        let r = h.request(method, "/lb/echo", &cookie, &body);
        assert_eq!(r.status, 200, "{method} {len}: {}", r.text());
        let t = r.text();
        assert_eq!(field(&t, "body_len"), Some(len.to_string().as_str()));
        assert_eq!(field(&t, "body_fnv"), Some(fnv1a(&body).as_str()));
    }
    assert!(!a.wait_events("request", 1).is_empty());
}

/// A client choosing its body's length chooses the first payload byte of the last body
/// packet (the high byte of its data length): 514 bytes make it read as a FORWARD_REQUEST
/// for GET. Such a tail, left in the connection after a servlet that read part of the
/// body, would be Tomcat's next request; it is never sent before Tomcat asks for it. The
/// same bytes sent to Tomcat's AJP port show they are a working request.
#[test]
fn worker_upload_window_never_sends_a_short_tail_ahead_to_tomcat() {
    use mod_rjk::ajp::{BodyMode, ForwardRequest, encode_forward_request};
    use std::io::{Read, Write};
    let t = common::tomcat::shared(1)[0];
    let tag = format!("uw-tail-{}", std::process::id());
    let query = format!("id={tag}");
    // A FORWARD_REQUEST whose payload is 516 bytes: [2, 2 (GET), 514 more].
    let mut packet = Vec::new();
    for pad in 0..600 {
        let value = "p".repeat(pad);
        let req = ForwardRequest {
            method: b"GET",
            req_uri: b"/count",
            remote_addr: b"127.0.0.1",
            server_name: b"127.0.0.1",
            server_port: 80,
            headers: vec![(b"Host", b"127.0.0.1"), (b"X-Pad", value.as_bytes())],
            body: BodyMode::None,
            secret: Some(t.secret.as_bytes()),
            query_string: Some(query.as_bytes()),
            local_addr: b"127.0.0.1",
            ..ForwardRequest::default()
        };
        packet.clear();
        encode_forward_request(&req, 8192, &mut packet).unwrap();
        if packet.len() == 4 + 516 {
            break;
        }
    }
    assert_eq!(packet.len(), 520);
    assert_eq!(&packet[4..6], &[2, 2]);
    let tail = &packet[6..];
    assert_eq!(tail.len(), 514);
    let h = tomcat_httpd(t, "");
    let count = |h: &Httpd| h.get(&format!("/count?get={tag}")).text();
    for read in [9000, 8186, 0] {
        // Two full packets, then the tail; the servlet reads the first one or two.
        let mut body = body_of(2 * 8186, read);
        body.extend_from_slice(tail);
        let r = h.request("POST", &format!("/read/{read}"), &[], &body);
        assert_eq!(r.status, 200, "{}", r.text());
        assert_eq!(h.get("/read/0").status, 200);
        assert_eq!(
            count(&h),
            "0\n",
            "the tail was read as a request (read {read})"
        );
    }
    // The control: the same bytes as a packet on Tomcat's AJP port are a request.
    let mut s = std::net::TcpStream::connect(("127.0.0.1", t.ajp_port)).unwrap();
    s.set_read_timeout(Some(std::time::Duration::from_secs(10)))
        .unwrap();
    s.write_all(&packet).unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    // SEND_HEADERS, body, END_RESPONSE: wait for the end (type 5 after a 2-byte length).
    while !got.windows(5).any(|w| w == [b'A', b'B', 0, 2, 5]) {
        let n = s.read(&mut buf).unwrap();
        assert!(n > 0, "Tomcat closed: {got:?}");
        got.extend_from_slice(&buf[..n]);
    }
    assert_eq!(count(&h), "1\n", "the control request did not count");
    h.assert_clean_log();
}
