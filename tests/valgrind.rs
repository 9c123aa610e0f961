//! The module under valgrind's memcheck: one httpd (`-X`, a single process) serves a reduced
//! set of requests that cross every part of the httpd boundary (request and body reading,
//! response relay, malformed backends, the status pages, aborted clients, a graceful stop),
//! and memcheck must report no error at all. Suppressions (tests/valgrind.supp) cover only
//! httpd/APR/libc noise, never a mod_rjk frame.

mod common;

use std::io::{Read, Write};
use std::net::{Shutdown, TcpStream};
use std::time::{Duration, Instant};

use common::{FakeAjp, Httpd, Mpm, ServerRoot, fnv1a, valgrind_logs};

/// Responses are slow under valgrind; a request taking this long means a hang.
const PATIENCE: Duration = Duration::from_secs(60);

fn start() -> (Httpd, FakeAjp) {
    let fake = FakeAjp::start("vg", &[]);
    let root = ServerRoot::new(Mpm::Prefork);
    let wf = root.write(
        "conf/workers.properties",
        &format!(
            "worker.list=t1,jkstatus\n\
             worker.t1.host=127.0.0.1\nworker.t1.port={}\nworker.t1.reply_timeout=30000\n\
             worker.jkstatus.type=status\n",
            fake.port
        ),
    );
    root.configure(&format!(
        "JkWorkersFile {wf}\nJkLogFile logs/mod_jk.log\nJkLogLevel debug\n\
         JkMount /app/* t1\n\
         <Location /jkmanager/>\n JkMount jkstatus\n Require ip 127.0.0.1\n</Location>\n"
    ));
    (root.start_under_valgrind(), fake)
}

/// Reads until the server closes, then parses; the harness's own read timeout is too short
/// for a traced httpd.
fn exchange(h: &Httpd, raw: &[u8]) -> common::Response {
    let mut s = TcpStream::connect(h.addr()).unwrap();
    s.set_read_timeout(Some(PATIENCE)).unwrap();
    s.write_all(raw).unwrap();
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    common::parse_response(&out)
        .unwrap_or_else(|| panic!("unparsable: {:?}", String::from_utf8_lossy(&out)))
}

fn get(h: &Httpd, path: &str) -> common::Response {
    exchange(
        h,
        format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n").as_bytes(),
    )
}

fn post(h: &Httpd, path: &str, body: &[u8]) -> common::Response {
    let mut raw = format!(
        "POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\
         Content-Type: application/octet-stream\r\nContent-Length: {}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    raw.extend_from_slice(body);
    exchange(h, &raw)
}

fn field<'a>(body: &'a str, key: &str) -> Option<&'a str> {
    body.lines()
        .find_map(|l| l.strip_prefix(&format!("{key}=")))
}

/// The client goes away after `send`, having read at most `read` bytes.
fn abort(h: &Httpd, send: &[u8], read: usize) {
    let mut s = TcpStream::connect(h.addr()).unwrap();
    s.set_read_timeout(Some(PATIENCE)).unwrap();
    s.write_all(send).unwrap();
    let mut buf = vec![0; read];
    if read > 0 {
        let _ = s.read_exact(&mut buf);
    }
    let _ = s.shutdown(Shutdown::Both);
}

#[test]
fn memcheck_reports_no_errors_across_the_httpd_boundary() {
    let (mut h, _fake) = start();
    // The process that serves is the traced one: valgrind's tool, with no httpd children.
    let exe = std::fs::read_link(format!("/proc/{}/exe", h.pid())).unwrap();
    assert!(exe.to_string_lossy().contains("memcheck"), "{exe:?}");

    // Request and response relay, with a body larger than one AJP packet both ways.
    let r = get(&h, "/app/echo?a=1&b=%20x");
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(field(&r.text(), "query"), Some("a=1&b=%20x"));
    let body: Vec<u8> = (0..100_000u32).map(|i| (i % 251) as u8).collect();
    let r = post(&h, "/app/echo", &body);
    assert_eq!(r.status, 200);
    assert_eq!(field(&r.text(), "body_len"), Some("100000"));
    assert_eq!(field(&r.text(), "body_fnv"), Some(fnv1a(&body).as_str()));
    let r = get(&h, "/app/size/200000");
    assert_eq!((r.status, r.body.len()), (200, 200_000));

    // Malformed backend replies: refused before anything reaches the client.
    for fault in [
        "chunk_overlong",
        "str_overrun",
        "truncated",
        "too_long",
        "end_no_headers",
    ] {
        let r = get(&h, &format!("/app/fault/{fault}"));
        assert_eq!(r.status, 502, "{fault}: {:?}", r.headers);
    }

    // The status worker in its three main formats.
    for (query, kind, marker) in [
        ("", "text/html", "</html>"),
        ("?mime=xml", "text/xml", "</jk:status>"),
        ("?mime=json", "application/json", "\"t1\""),
    ] {
        let r = get(&h, &format!("/jkmanager/{query}"));
        assert_eq!(r.status, 200, "{query}");
        assert!(
            r.header("Content-Type").unwrap_or("").starts_with(kind),
            "{query}"
        );
        assert!(r.text().contains(marker), "{query}: {}", r.text());
    }

    // Clients that leave: mid-response, and mid-upload.
    abort(
        &h,
        b"GET /app/size/2000000 HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n",
        1000,
    );
    abort(
        &h,
        b"POST /app/echo HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 100000\r\n\r\nonly a few bytes",
        0,
    );
    let r = get(&h, "/app/echo");
    assert_eq!(r.status, 200, "served after the aborts");
    assert!(
        h.children().is_empty(),
        "httpd -X forked: {:?}",
        h.children()
    );
    h.assert_clean_log();

    // Graceful stop; memcheck writes its summary as the process exits. A single-process
    // httpd acts on the signal only while it waits in poll(), so it may need repeating.
    let deadline = Instant::now() + PATIENCE;
    'stop: loop {
        h.signal(libc::SIGWINCH);
        for _ in 0..20 {
            if h.has_exited() {
                break 'stop;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        assert!(Instant::now() < deadline, "httpd did not stop on SIGWINCH");
    }
    let logs = valgrind_logs(&h.root.dir);
    assert_eq!(logs.len(), 1, "one traced process: {logs:#?}");
    let log = &logs[0];
    assert!(
        log.contains("ERROR SUMMARY: 0 errors from 0 contexts"),
        "memcheck found errors:\n{log}"
    );
    h.shutdown();
}
