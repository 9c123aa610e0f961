//! The CVE / advisory catalogue of mod_jk, mod_proxy_ajp, Tomcat's and Undertow's AJP
//! connectors, mapped row by row to regression tests against the real httpd with mod_rjk:
//! one test per CVE row (grouped rows share a test named after the first), each asserting
//! the safe behaviour the catalogue demands, plus the related non-CVE hardening items.
//! Backends are the scriptable fake (`rjk-fakeajp`) unless a row needs a real Tomcat.

mod common;

use std::io::{Read, Write};
use std::net::{Shutdown, TcpStream};
use std::time::{Duration, Instant};

use common::{FakeAjp, Httpd, KeepAlive, Mpm, Response, ServerRoot, fnv1a, parse_response};

const SECRET: &str = "cve-test-secret";

// ---------------------------------------------------------------------------------------
// Fixtures

/// httpd with one ajp13 worker `t1` on a fake backend, mounted at `/app/*`, and a
/// read-only status worker at `/jkstatus/`, declared first (CVE-2023-41081's trap).
struct Single {
    h: Httpd,
    fake: FakeAjp,
}

/// `{LISTEN}` in `conf_extra` becomes httpd's address:port (for `<VirtualHost>`).
fn single(mpm: Mpm, scenario: &str, workers_extra: &str, conf_extra: &str) -> Single {
    let fake = FakeAjp::start("fake1", &["--scenario", scenario]);
    let root = ServerRoot::new(mpm);
    let wf = root.write(
        "conf/workers.properties",
        &format!(
            "worker.list=jkstatus,t1\nworker.t1.host=127.0.0.1\nworker.t1.port={}\n\
             worker.t1.secret={SECRET}\nworker.jkstatus.type=status\nworker.jkstatus.read_only=true\n{workers_extra}",
            fake.port
        ),
    );
    let conf_extra = conf_extra.replace("{LISTEN}", &root.listen());
    root.configure(&format!(
        "JkWorkersFile {wf}\nJkLogFile logs/mod_jk.log\nJkLogLevel debug\nJkMount /app/* t1\n\
         <Location /jkstatus/>\n JkMount jkstatus\n</Location>\n{conf_extra}"
    ));
    Single {
        h: root.start(),
        fake,
    }
}

/// httpd with an lb worker `lb` over members `m1`, `m2` (one fake each, both playing
/// `scenario`) at `/app/*`, the read-only status at `/jkstatus/` and the read-write
/// manager at `/jkmanager/`.
struct Balanced {
    h: Httpd,
    fakes: Vec<FakeAjp>,
}

fn balanced(mpm: Mpm, scenario: &str, workers_extra: &str) -> Balanced {
    let fakes: Vec<FakeAjp> = (1..=2)
        .map(|i| FakeAjp::start(&format!("m{i}"), &["--scenario", scenario]))
        .collect();
    let root = ServerRoot::new(mpm);
    let mut w = String::from("worker.list=lb,jkstatus,jkmanager\n");
    for (i, f) in fakes.iter().enumerate() {
        w.push_str(&format!(
            "worker.m{n}.host=127.0.0.1\nworker.m{n}.port={}\nworker.m{n}.secret={SECRET}\n",
            f.port,
            n = i + 1
        ));
    }
    w.push_str(
        "worker.lb.type=lb\nworker.lb.balance_workers=m1,m2\n\
         worker.jkstatus.type=status\nworker.jkstatus.read_only=true\nworker.jkmanager.type=status\n",
    );
    w.push_str(workers_extra);
    let wf = root.write("conf/workers.properties", &w);
    root.configure(&format!(
        "JkWorkersFile {wf}\nJkShmFile logs/jk-runtime-status\nJkLogFile logs/mod_jk.log\n\
         JkMount /app/* lb\n\
         <Location /jkstatus/>\n JkMount jkstatus\n Require ip 127.0.0.1\n</Location>\n\
         <Location /jkmanager/>\n JkMount jkmanager\n Require ip 127.0.0.1\n</Location>\n"
    ));
    Balanced {
        h: root.start(),
        fakes,
    }
}

/// `worker.<member>.state` from the status worker's prop format.
fn member_state(h: &Httpd, member: &str) -> String {
    common::status_prop(h, "/jkstatus/", member, "state")
}

/// The catalogue's "worker stays OK": not in ERR and a normal request is answered 200.
fn assert_members_ok(b: &Balanced) {
    for m in ["m1", "m2"] {
        let st = member_state(&b.h, m);
        assert!(!st.starts_with("ERR"), "{m} is {st}");
    }
    for _ in 0..4 {
        assert_eq!(b.h.get("/app/echo").status, 200);
    }
}

fn echo_field<'a>(body: &'a str, key: &str) -> Option<&'a str> {
    body.lines()
        .find_map(|l| l.strip_prefix(&format!("{key}=")))
}

/// A numeric field of a fake log line.
fn num(line: &str, key: &str) -> Option<u64> {
    let pat = format!("\"{key}\":");
    let at = line.find(&pat)? + pat.len();
    let digits: String = line[at..]
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    digits.parse().ok()
}

/// Request events whose URI starts with `prefix` (end it with `"` for an exact match).
fn requests_for(fake: &FakeAjp, prefix: &str) -> Vec<String> {
    let pat = format!("\"uri\":\"{prefix}");
    fake.events("request")
        .into_iter()
        .filter(|l| l.contains(&pat))
        .collect()
}

/// Every backend connection that carried a request for `needle` was closed, and that
/// request was the last one on it: the catalogue's "never reused".
fn assert_never_reused(fake: &FakeAjp, needle: &str) {
    let reqs = requests_for(fake, needle);
    assert!(!reqs.is_empty(), "no request for {needle}:\n{}", fake.log());
    for r in reqs {
        let conn = num(&r, "conn").unwrap();
        let n = num(&r, "n").unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        let close = loop {
            let found = fake
                .events("close")
                .into_iter()
                .find(|c| num(c, "conn") == Some(conn));
            if let Some(c) = found {
                break c;
            }
            assert!(
                Instant::now() < deadline,
                "{needle}: connection {conn} kept open after the fault:\n{}",
                fake.log()
            );
            std::thread::sleep(Duration::from_millis(20));
        };
        assert_eq!(
            num(&close, "requests"),
            Some(n),
            "{needle}: connection {conn} reused:\n{}",
            fake.log()
        );
    }
}

/// The fake never saw a packet it did not ask for, nor a malformed one.
fn assert_no_stray_packets(fake: &FakeAjp) {
    let log = fake.log();
    assert!(!log.contains("\"type\":\"UNEXPECTED\""), "{log}");
    assert!(fake.events("protocol_error").is_empty(), "{log}");
}

/// Splits pipelined responses by their own framing; `head_only[i]` marks answers to HEAD.
/// Stops at the first response that is not complete.
fn split_responses(mut raw: &[u8], head_only: &[bool]) -> Vec<Response> {
    let mut out = Vec::new();
    for &head in head_only {
        let Some(end) = raw.windows(4).position(|w| w == b"\r\n\r\n") else {
            break;
        };
        let Some(mut r) = parse_response(&raw[..end + 4]) else {
            break;
        };
        let rest = &raw[end + 4..];
        let chunked = r
            .header("Transfer-Encoding")
            .is_some_and(|v| v.eq_ignore_ascii_case("chunked"));
        let bodiless = head || r.status == 204 || r.status == 304;
        let used = if bodiless {
            0
        } else if chunked {
            let Some(n) = chunked_len(rest) else { break };
            r.body = parse_response(&raw[..end + 4 + n]).unwrap().body;
            n
        } else if let Some(cl) = r.header("Content-Length") {
            let n: usize = cl.parse().unwrap();
            if rest.len() < n {
                break;
            }
            r.body = rest[..n].to_vec();
            n
        } else {
            r.body = rest.to_vec();
            rest.len()
        };
        raw = &rest[used..];
        out.push(r);
    }
    out
}

/// Bytes of a complete chunked body at the start of `b`.
fn chunked_len(b: &[u8]) -> Option<usize> {
    let mut at = 0;
    loop {
        let nl = b[at..].windows(2).position(|w| w == b"\r\n")?;
        let size_str = std::str::from_utf8(&b[at..at + nl]).ok()?;
        let size = usize::from_str_radix(size_str.split(';').next()?.trim(), 16).ok()?;
        at += nl + 2;
        if size == 0 {
            // No trailers from httpd here.
            return (b.len() >= at + 2).then_some(at + 2);
        }
        at += size + 2;
        if at > b.len() {
            return None;
        }
    }
}

/// Reads one response with a Content-Length (or none, up to EOF) off a connection.
fn read_one_response(c: &mut TcpStream) -> Option<Response> {
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        if let Some(end) = out.windows(4).position(|w| w == b"\r\n\r\n") {
            let r = parse_response(&out[..end + 4])?;
            let cl: usize = r.header("Content-Length").and_then(|v| v.parse().ok())?;
            if out.len() >= end + 4 + cl {
                return parse_response(&out[..end + 4 + cl]);
            }
        }
        match c.read(&mut buf) {
            Ok(0) | Err(_) => return parse_response(&out),
            Ok(n) => out.extend_from_slice(&buf[..n]),
        }
    }
}

/// The header block of a raw response (status line included), as text.
fn raw_head(raw: &[u8]) -> String {
    let end = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or(raw.len());
    String::from_utf8_lossy(&raw[..end]).into_owned()
}

/// A client that never finishes its body: headers announcing `cl` bytes, `sent` of them,
/// then a reset (or, with `stall`, silence until the server gives up).
fn abandoned_upload(h: &Httpd, path: &str, cl: usize, sent: usize, stall: bool) -> Vec<u8> {
    let mut c = h.connect();
    c.write_all(
        format!("POST {path} HTTP/1.1\r\nHost: x\r\nContent-Length: {cl}\r\n\r\n").as_bytes(),
    )
    .unwrap();
    c.write_all(&vec![b'x'; sent]).unwrap();
    let mut out = Vec::new();
    if stall {
        let _ = c.read_to_end(&mut out);
    } else {
        let _ = c.shutdown(Shutdown::Both);
    }
    out
}

/// A marker request for `path` reaches the backend (and is answered), and it is the only
/// request the backend ever saw: nothing sent before it was forwarded.
fn assert_only_marker_arrived(s: &Single, path: &str) {
    common::marker(&s.h, path, &[], std::slice::from_ref(&s.fake));
    let reqs = s.fake.events("request");
    assert_eq!(reqs.len(), 1, "{}", s.fake.log());
    assert!(reqs[0].contains("rjk-marker="), "{}", reqs[0]);
}

/// Every later POST gets its own body back, checksummed by the backend.
fn assert_bodies_not_mixed(h: &Httpd, rounds: usize) {
    for i in 0..rounds {
        let body = format!("request-{i}-{}", "z".repeat(i * 37));
        let r = h.request("POST", "/app/echo", &[], body.as_bytes());
        assert_eq!(r.status, 200, "{}", r.text());
        assert_eq!(
            echo_field(&r.text(), "body_fnv"),
            Some(fnv1a(body.as_bytes()).as_str()),
            "round {i}: {}",
            r.text()
        );
    }
}

/// One round of %-decoding, as a container does with req_uri.
fn percent_decode(uri: &str) -> String {
    let mut bytes = Vec::new();
    let b = uri.as_bytes();
    let mut i = 0;
    while i < b.len() {
        let hex = b
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok());
        if b[i] == b'%' {
            if let Some(v) = hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                bytes.push(v);
                i += 3;
                continue;
            }
        }
        bytes.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&bytes).into_owned()
}

/// Single decoding plus dot-segment removal with path parameters ignored, as Tomcat
/// does: where a container ends up for this forwarded URI.
fn container_view(uri: &str) -> String {
    let s = percent_decode(uri);
    let mut out: Vec<&str> = Vec::new();
    for seg in s.split('/') {
        let seg = seg.split(';').next().unwrap_or("");
        match seg {
            "" | "." => {}
            ".." => {
                out.pop();
            }
            s => out.push(s),
        }
    }
    format!("/{}", out.join("/"))
}

// ---------------------------------------------------------------------------------------
// mod_jk / tomcat-connectors

/// Over-long SEND_BODY_CHUNK length: never copy past the packet.
#[test]
fn cve_2006_7197_chunk_overlong_never_leaks() {
    let s = single(Mpm::Event, "ok", "", "");
    let raw =
        s.h.raw(b"GET /app/fault/chunk_overlong HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    let r = parse_response(&raw);
    let text = String::from_utf8_lossy(&raw).into_owned();
    assert!(
        r.as_ref().is_some_and(|r| r.status == 502),
        "nothing was committed, so 502: {text}"
    );
    // Neither the 5 data bytes of the broken packet nor anything after them.
    assert!(!text.contains("hello"), "{text}");
    assert!(!raw.contains(&0), "{text}");
    assert_never_reused(&s.fake, "/app/fault/chunk_overlong");
    assert_eq!(s.h.get("/app/echo").status, 200);
    s.h.assert_clean_log();
}

/// Long request URIs on a mapped path, also after a rewrite blows one up to 64 KB.
#[test]
fn cve_2007_0774_long_uri_never_crashes() {
    let mods = common::apache_modules_dir();
    let s = single(
        Mpm::Event,
        "ok",
        "",
        &format!(
            "LoadModule rewrite_module {mods}/mod_rewrite.so\nRewriteEngine On\n\
             RewriteRule ^/grow/(.*)$ /app/$1$1$1$1$1$1$1$1$1$1$1$1$1$1$1$1 [PT]\n"
        ),
    );
    for n in [3900usize, 4095, 4096, 4097, 8000, 8190, 8191, 16384, 65536] {
        let path = format!("/app/{}", "a".repeat(n));
        let raw = s
            .h
            .raw(format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").as_bytes());
        let status = parse_response(&raw).map(|r| r.status);
        // (Up to ~4000 bytes: httpd's own translate still builds DocumentRoot + URI,
        // which must stay under PATH_MAX, or httpd answers 403 before any handler.)
        if path.len() <= 4000 {
            assert_eq!(status, Some(200), "{n}: mapped and forwarded");
        } else {
            // Longer URIs are never mapped (README: 4095 like mod_jk); httpd answers
            // itself: 414 over LimitRequestLine, else 403 (file name too long) or 404.
            assert!(matches!(status, Some(403 | 404 | 414)), "{n}: {status:?}");
        }
    }
    for r in s.fake.events("request") {
        let uri = r.split("\"uri\":\"").nth(1).unwrap_or("");
        assert!(
            uri.find('"').unwrap_or(0) <= 4095,
            "over-long URI forwarded"
        );
    }
    let r = s.h.get(&format!("/grow/{}", "b".repeat(4000)));
    assert!(
        (400..600).contains(&r.status),
        "64 KB rewritten URI: {}",
        r.status
    );
    assert!(
        !s.fake.log().contains(&"b".repeat(9000)),
        "a 64 KB URI cannot have been forwarded in one packet"
    );
    assert_eq!(s.h.get("/app/echo").status, 200, "worker stays OK");
    s.h.assert_clean_log();
}

/// Doubly encoded and backslash traversal: the backend's single decoding must stay
/// inside the mounted prefix.
#[test]
fn cve_2007_1860_double_encoded_path_decoded_once() {
    let s = single(Mpm::Event, "ok", "", "JkMount /someapp/* t1\n");
    // httpd decodes once; the module re-encodes so the backend's decoding yields httpd's view.
    let r = s.h.get("/someapp/%252e%252e/otherapp/x");
    assert_eq!(r.status, 200);
    assert_eq!(
        echo_field(&r.text(), "uri"),
        Some("/someapp/%252e%252e/otherapp/x")
    );
    let r = s.h.get("/app/caf%C3%A9/a%20b;jsessionid=ABC.t1");
    assert_eq!(r.status, 200);
    assert_eq!(
        echo_field(&r.text(), "uri"),
        Some("/app/caf%C3%A9/a%20b;jsessionid=ABC.t1")
    );
    // (request, httpd's decoded path): what the backend must get back after decoding
    // the forwarded URI exactly once. httpd itself collapses encoded dot segments first,
    // and refuses encoded slashes (AllowEncodedSlashes Off): those never reach us.
    for (p, decoded) in [
        (
            "/someapp/%252e%252e/otherapp/x",
            "/someapp/%2e%2e/otherapp/x",
        ),
        ("/someapp/..%5cotherapp/x", "/someapp/..\\otherapp/x"),
        (
            "/someapp/..%5c..%5cotherapp/x",
            "/someapp/..\\..\\otherapp/x",
        ),
        ("/someapp/%2e%2e%2fotherapp/x", ""),
        ("/someapp/%2e%2e/otherapp/x", ""),
        ("/someapp/.%2e/otherapp/x", ""),
        (
            "/someapp/%252e%252e%252fotherapp/x",
            "/someapp/%2e%2e%2fotherapp/x",
        ),
    ] {
        let r = s.h.get(p);
        if r.status == 200 {
            let uri = echo_field(&r.text(), "uri").unwrap_or_default().to_string();
            assert_eq!(percent_decode(&uri), decoded, "{p}: forwarded as {uri}");
            let view = container_view(&uri);
            assert!(
                view.starts_with("/someapp/"),
                "{p}: forwarded as {uri}, a container sees {view}"
            );
        } else {
            assert!((400..500).contains(&r.status), "{p}: {}", r.status);
            assert!(r.header("X-Backend").is_none(), "{p}");
        }
    }
    for r in s.fake.events("request") {
        assert!(!r.contains("\"uri\":\"/otherapp"), "{r}");
    }
    s.h.assert_clean_log();

    // The same spellings against a real Tomcat, mounted at /echo/* only: its single
    // decoding never lands on another servlet path (/size/5 would answer 5 bytes).
    use common::tomcat::{self, Echo};
    let t = tomcat::shared(1)[0];
    let root = ServerRoot::new(Mpm::Event);
    let wf = root.write(
        "conf/workers.properties",
        &format!("worker.list=tc\n{}", t.worker_properties_as("tc")),
    );
    root.configure(&format!("JkWorkersFile {wf}\nJkMount /echo/* tc\n"));
    let h = root.start();
    for p in [
        "/echo/%252e%252e/size/5",
        "/echo/..%5csize/5",
        "/echo/..%5c..%5csize/5",
        "/echo/%252e%252e%252fsize/5",
        "/echo/..;/size/5",
        "/echo/%2e%2e;x/size/5",
    ] {
        let r = h.get(p);
        if r.status == 200 {
            let e = Echo::parse(&r.body);
            let path = e.get("path_info").unwrap_or_default();
            assert!(path.starts_with("/echo"), "{p}: Tomcat served {path}");
        } else {
            assert!((400..500).contains(&r.status), "{p}: {}", r.status);
        }
    }
    h.assert_clean_log();
}

/// Content-Length announced, body short or missing, client gone: the next request on that
/// backend connection must never read the leftovers as its own.
#[test]
fn cve_2008_5519_client_abort_mid_upload_never_mixes_responses() {
    let s = single(Mpm::Prefork, "ok", "worker.t1.connection_pool_size=1\n", "");
    for sent in [0usize, 20_000, 20_000] {
        abandoned_upload(&s.h, "/app/echo", 100_000, sent, false);
    }
    s.h.wait_requests_logged("POST /app/echo ", 3);
    assert_bodies_not_mixed(&s.h, 10);
    assert_no_stray_packets(&s.fake);
    s.h.assert_clean_log();
}

/// Unmount rules hold for every spelling of the excluded path.
#[test]
fn cve_2014_8111_adjacent_slashes_cannot_bypass_unmount() {
    let s = single(Mpm::Event, "ok", "", "JkUnMount /app/private/* t1\n");
    for p in [
        "/app/private/x",
        "/app//private/x",
        "//app/private/x",
        "/app/./private/x",
        "/app/a/../private/x",
        "/app/private;x=1/x",
        "/app/%70rivate/x",
        "/app/.//private/x",
    ] {
        let r = s.h.get(p);
        assert_ne!(r.status, 200, "{p} was served: {}", r.text());
        assert!(r.header("X-Backend").is_none(), "{p} reached the backend");
    }
    assert_only_marker_arrived(&s, "/app/public");
    s.h.assert_clean_log();
}

/// Long virtual host name with a long URI on a vhost-specific mount.
#[test]
fn cve_2016_6808_long_vhost_and_uri_never_crash() {
    let long_host = ["a", "b", "c", "d"].map(|c| c.repeat(63)).join(".");
    assert_eq!(long_host.len(), 255);
    let s = single(
        Mpm::Event,
        "ok",
        "",
        &format!(
            "<VirtualHost {{LISTEN}}>\n ServerName 127.0.0.1\n JkMountCopy On\n</VirtualHost>\n\
             <VirtualHost {{LISTEN}}>\n ServerName {long_host}\n JkMount /v/* t1\n</VirtualHost>\n"
        ),
    );
    let r = s.h.get_with("/v/short", &[("Host", &long_host)]);
    assert_eq!(r.status, 200, "vhost mount works");
    for n in [4000usize, 8000, 8150, 8170, 8180] {
        let path = format!("/v/{}", "u".repeat(n));
        let raw = s.h.raw(
            format!("GET {path} HTTP/1.1\r\nHost: {long_host}\r\nConnection: close\r\n\r\n")
                .as_bytes(),
        );
        let status = parse_response(&raw).map(|r| r.status);
        // Over 4095 bytes the URI is not mapped and httpd answers itself (403: file name
        // too long; 414: over LimitRequestLine).
        assert!(
            matches!(status, Some(200 | 403 | 413 | 414)),
            "{n}: {status:?}"
        );
        if status == Some(200) {
            assert!(path.len() <= 4095, "{n}");
        }
    }
    assert_eq!(s.h.get("/app/echo").status, 200);
    s.h.assert_clean_log();
}

/// Normalisation corpus: nothing outside the mount reaches the backend, and what does
/// stays inside the mount after the container's own decoding.
#[test]
fn cve_2018_1323_normalisation_corpus_stays_inside_the_mount() {
    let s = single(Mpm::Event, "ok", "", "");
    let corpus = [
        "/app/../secret",
        "/app/%2e%2e/secret",
        "/app/.%2e/secret",
        "/app/%2E%2E/secret",
        "/app/..;/secret",
        "/app;x/../secret",
        "/app/x/..;x=1/../../secret",
        "/app/%252e%252e/secret",
        "/app/..%2fsecret",
        "/app/..%5csecret",
        "/app/..\\secret",
        "/app/.../secret",
        "/app/./x/./../y",
        "/app/x%00y",
        "/app;jsessionid=1/../secret",
    ];
    for p in corpus {
        let r = s.h.get(p);
        if r.header("X-Backend").is_some() {
            let uri = echo_field(&r.text(), "uri").unwrap_or_default().to_string();
            let view = container_view(&uri);
            assert!(
                view.starts_with("/app/"),
                "{p}: forwarded as {uri}, a container sees {view}"
            );
        }
    }
    for r in s.fake.events("request") {
        let uri = r.split("\"uri\":\"").nth(1).unwrap_or("");
        assert!(uri.starts_with("/app/"), "{r}");
    }
    s.h.assert_clean_log();
}

/// A path parameter on the status URL must not slip past its `<Location>` ACL.
#[test]
fn cve_2018_11759_path_parameter_cannot_bypass_status_acl() {
    let s = single(
        Mpm::Event,
        "ok",
        "worker.list=jkadmin\nworker.jkadmin.type=status\n",
        "<Location /jkadmin>\n JkMount jkadmin\n Require ip 192.0.2.1\n</Location>\n\
         JkMount /jkadmin/* jkadmin\nJkMount /jkadmin jkadmin\n",
    );
    for p in [
        "/jkadmin",
        "/jkadmin/",
        "/jkadmin;",
        "/jkadmin;x",
        "/jkadmin/;",
        "/jkadmin;x/",
        "/jkadmin/./",
        "//jkadmin/",
        "/./jkadmin/",
        "/x/../jkadmin/",
        "/jkadmin%3b/",
        "/jkadmin/?cmd=update&w=t1",
    ] {
        let r = s.h.get(p);
        assert!(
            r.status == 403 || r.status == 404 || r.status == 400,
            "{p}: {} {}",
            r.status,
            r.text()
        );
        assert!(!r.text().contains("t1"), "{p} shows the status page");
    }
    s.h.assert_clean_log();
}

/// No implicit worker: a directory request with nothing mounted is httpd's.
#[test]
fn cve_2023_41081_no_implicit_default_worker() {
    let s = single(Mpm::Event, "ok", "", "JkOptions +ForwardDirectories\n");
    std::fs::create_dir_all(s.h.root.dir.join("htdocs/docs")).unwrap();
    for p in [
        "/",
        "/docs/",
        "/unmapped/",
        "/unmapped",
        "/jkstatus",
        "/index.html",
    ] {
        let r = s.h.get(p);
        let body = r.text();
        assert!(r.header("X-Backend").is_none(), "{p} forwarded");
        assert!(
            !body.contains("jkstatus") && !body.contains("Status") && !body.contains("t1"),
            "{p}: {body}"
        );
    }
    assert_only_marker_arrived(&s, "/app/echo");
    s.h.assert_clean_log();
}

/// The shared-memory file is private to its owner; no world-writable lock file anywhere.
#[test]
fn cve_2024_46544_shm_file_is_not_world_accessible() {
    use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
    let b = balanced(Mpm::Prefork, "ok", "");
    assert_eq!(b.h.get("/app/echo").status, 200);
    let logs = b.h.root.dir.join("logs");
    let mut seen = 0;
    for e in std::fs::read_dir(&logs).unwrap().flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if !name.starts_with("jk-runtime-status") {
            continue;
        }
        let m = std::fs::symlink_metadata(e.path()).unwrap();
        assert!(
            !m.file_type().is_symlink() && !m.file_type().is_socket(),
            "{name}"
        );
        let mode = m.permissions().mode() & 0o777;
        assert_eq!(mode & 0o077, 0, "{name} has mode {mode:o}");
        if common::is_root() {
            assert_eq!(m.uid(), 0, "{name}: created by the root parent");
        }
        seen += 1;
    }
    assert!(seen > 0, "no shm file in {}", logs.display());
    b.h.assert_clean_log();
}

// ---------------------------------------------------------------------------------------
// mod_proxy_ajp / httpd proxy

/// Half a body, then a client that stalls past httpd's Timeout: the next requests on the
/// backend connection get their own responses.
#[test]
fn cve_2009_1191_stalled_body_never_leaks_into_the_next_request() {
    let s = single(
        Mpm::Prefork,
        "ok",
        "worker.t1.connection_pool_size=1\n",
        "Timeout 2\n",
    );
    let out = abandoned_upload(&s.h, "/app/echo", 50_000, 20_000, true);
    let text = String::from_utf8_lossy(&out);
    assert!(
        out.is_empty() || !text.starts_with("HTTP/1.1 200"),
        "an incomplete upload never succeeds: {text}"
    );
    let start = Instant::now();
    loop {
        let ended = s
            .fake
            .events("body")
            .iter()
            .any(|b| b.contains("\"short\":true"))
            || !s.fake.events("close").is_empty();
        if ended {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "backend must see the body end early or the connection close:\n{}",
            s.fake.log()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_bodies_not_mixed(&s.h, 6);
    assert_no_stray_packets(&s.fake);
    s.h.assert_clean_log();
}

/// A body that never arrives is the client's fault: 400, and the balancer's members
/// stay OK.
#[test]
fn cve_2010_0408_missing_body_is_a_client_error() {
    let b = balanced(Mpm::Event, "ok", "");
    for _ in 0..3 {
        let mut c = b.h.connect();
        c.write_all(
            b"POST /app/echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5000\r\n\r\n0123456789",
        )
        .unwrap();
        c.shutdown(Shutdown::Write).unwrap();
        let mut out = Vec::new();
        let _ = c.read_to_end(&mut out);
        let status = parse_response(&out).map(|r| r.status);
        assert!(
            status.is_none() || status == Some(400),
            "{status:?}: {}",
            String::from_utf8_lossy(&out)
        );
    }
    assert_members_ok(&b);
    b.h.assert_clean_log();
}

/// Unknown and extension methods are forwarded with the right code, or as a stored
/// method, and never degrade a member.
#[test]
fn cve_2011_3348_unknown_methods_keep_members_ok() {
    let b = balanced(Mpm::Event, "ok", "");
    let long = "X".repeat(64);
    let cases: [(&str, Option<u64>); 6] = [
        ("FOOBAR", Some(255)),
        ("PROPFIND", Some(8)),
        ("MKACTIVITY", Some(27)),
        ("DELETE", Some(6)),
        ("OPTIONS", Some(1)),
        (&long, Some(255)),
    ];
    for (method, code) in cases {
        let r = b.h.request(method, "/app/echo", &[], b"");
        assert!(r.status == 200 || r.status == 501, "{method}: {}", r.status);
        if r.status == 200 {
            assert_eq!(echo_field(&r.text(), "method"), Some(method));
            let req = b
                .fakes
                .iter()
                .flat_map(|f| f.events("request"))
                .find(|l| l.contains(&format!("\"method\":\"{method}\"")))
                .unwrap_or_else(|| panic!("{method} not logged"));
            assert_eq!(num(&req, "method_code"), code, "{method}: {req}");
        }
    }
    assert_members_ok(&b);
    b.h.assert_clean_log();
}

/// Every error path after FORWARD_REQUEST closes the backend connection.
#[test]
fn cve_2012_3502_error_paths_close_the_backend_connection() {
    let s = single(Mpm::Event, "ok", "", "");
    let faults = [
        "bad_magic",
        "truncated/7",
        "str_overrun",
        "no_nul",
        "huge_header_count",
        "unknown_type",
        "headers_twice",
        "body_before_headers",
        "end_no_reuse_byte",
        "chunk_overlong",
        "chunk_short",
        "too_long/8189",
    ];
    for f in faults {
        let r = s.h.get(&format!("/app/fault/{f}"));
        assert!(r.status == 502 || r.status == 200, "{f}: {}", r.status);
        let ok = s.h.get("/app/echo");
        assert_eq!(ok.status, 200, "{f}: next request");
        assert_eq!(echo_field(&ok.text(), "uri"), Some("/app/echo"));
    }
    for f in faults {
        assert_never_reused(&s.fake, &format!("/app/fault/{f}"));
    }
    s.h.assert_clean_log();
}

/// Slow URLs end in 504 but do not put the member in error (max_reply_timeouts).
#[test]
fn cve_2012_4557_slow_backend_does_not_error_the_member() {
    let b = balanced(
        Mpm::Event,
        "ok",
        "worker.m1.reply_timeout=1000\nworker.m2.reply_timeout=1000\n\
         worker.lb.max_reply_timeouts=10\n",
    );
    for _ in 0..3 {
        let r = b.h.get("/app/sleep/4000");
        assert_eq!(r.status, 504);
    }
    assert_members_ok(&b);
    b.h.assert_clean_log();
}

/// CSRF, reflected XSS and crafted requests against the status manager.
/// Also covers CVE-2007-6421, CVE-2007-6422 and CVE-2012-4558.
#[test]
fn cve_2007_6420_status_manager_csrf_xss_and_crafted_requests() {
    let b = balanced(Mpm::Event, "ok", "");
    let update = "/jkmanager/?cmd=update&w=lb&sw=m2&vwa=2";
    for h in [
        ("Sec-Fetch-Site", "cross-site"),
        ("Origin", "http://evil.example"),
        ("Referer", "http://evil.example/page"),
    ] {
        let r = b.h.get_with(update, &[h]);
        assert_eq!(r.status, 403, "{h:?}");
    }
    // A POST without the form's CSRF token is refused as well.
    let r = b.h.request(
        "POST",
        "/jkmanager/",
        &[("Content-Type", "application/x-www-form-urlencoded")],
        b"cmd=update&w=lb&sw=m2&vwa=2",
    );
    assert_eq!(r.status, 403);
    // The read-only status never changes anything.
    assert_eq!(
        b.h.get(update.replace("jkmanager", "jkstatus").as_str())
            .status,
        403
    );
    assert!(!member_state(&b.h, "m2").is_empty());
    let prop = b.h.get("/jkstatus/?mime=prop").text();
    assert!(prop.contains("worker.m2.activation=ACT"), "{prop}");
    // Hostile values are escaped wherever they are echoed.
    for q in [
        "?cmd=show&w=%3Cscript%3Ealert(1)%3C/script%3E",
        "?cmd=%3Cscript%3Ealert(1)%3C/script%3E",
        "?mime=%3Cscript%3Ealert(1)%3C/script%3E",
        "?cmd=show&w=lb&sw=%22%3E%3Cscript%3Ealert(1)%3C/script%3E",
        "?cmd=edit&w=lb&sw=m1&att=%3Cimg%20src=x%20onerror=alert(1)%3E",
    ] {
        let r = b.h.get(&format!("/jkmanager/{q}"));
        let t = r.text();
        assert!(!t.contains("<script>alert(1)"), "{q}: {t}");
        assert!(!t.contains("<img src=x"), "{q}: {t}");
    }
    // Crafted values from an authorised user: refused or clamped, never a crash.
    let huge = "w".repeat(5000);
    for q in [
        "?cmd=update&w=lb&sw=m1&vwf=-1&mime=txt".to_string(),
        "?cmd=update&w=lb&sw=m1&vwf=99999999999999999999999&mime=txt".to_string(),
        "?cmd=update&w=lb&sw=m1&vwd=-99999999999&mime=txt".to_string(),
        "?cmd=update&w=&sw=&mime=txt".to_string(),
        format!("?cmd=show&w={huge}&mime=txt"),
        "?cmd=update&w=lb&sw=m1&vwa=9&mime=txt".to_string(),
        "?cmd=update&w=lb&sw=m1&vwa&vwf&mime=txt".to_string(),
        "?cmd=update&w=lb&vlr=-5&vlt=%00&mime=txt".to_string(),
        "?cmd=reset&w=nosuch&mime=txt".to_string(),
        "?cmd=update&w=jkmanager&mime=txt".to_string(),
        "?%&&==&cmd".to_string(),
    ] {
        let r = b.h.get(&format!("/jkmanager/{q}"));
        assert!(r.status < 500, "{q}: {} {}", r.status, r.text());
    }
    assert_members_ok(&b);
    b.h.assert_clean_log();
}

/// `Transfer-Encoding` other than exactly chunked, with a conflicting Content-Length:
/// the backend reads exactly the body the client sent, or nothing is forwarded.
#[test]
fn cve_2022_26377_transfer_encoding_not_chunked_never_smuggles() {
    let s = single(Mpm::Event, "ok", "", "");
    let payload = b"GET /app/smuggled HTTP/1.1\r\nHost: x\r\n\r\n".to_vec();
    let chunked = common::chunked(&payload, &[payload.len()]);
    for te in [
        "gzip, chunked",
        "chunked",
        "Chunked",
        "identity, chunked",
        "chunked, gzip",
        "gzip",
        "chunked, chunked",
    ] {
        for cl in [None, Some(3)] {
            let mut req = format!(
                "POST /app/echo HTTP/1.1\r\nHost: x\r\nConnection: close\r\nTransfer-Encoding: {te}\r\n"
            );
            if let Some(cl) = cl {
                req.push_str(&format!("Content-Length: {cl}\r\n"));
            }
            req.push_str("\r\n");
            let mut bytes = req.into_bytes();
            bytes.extend_from_slice(&chunked);
            let raw = s.h.raw(&bytes);
            let r = parse_response(&raw)
                .unwrap_or_else(|| panic!("{te} {cl:?}: {}", String::from_utf8_lossy(&raw)));
            if r.status == 200 {
                let t = r.text();
                assert_eq!(
                    echo_field(&t, "body_len"),
                    Some(payload.len().to_string().as_str()),
                    "{te} {cl:?}: {t}"
                );
                assert_eq!(echo_field(&t, "body_fnv"), Some(fnv1a(&payload).as_str()));
                assert!(!t.contains("header:content-length"), "{te} {cl:?}: {t}");
            } else {
                assert!((400..=501).contains(&r.status), "{te} {cl:?}: {}", r.status);
            }
        }
    }
    assert!(
        requests_for(&s.fake, "/app/smuggled").is_empty(),
        "{}",
        s.fake.log()
    );
    assert_no_stray_packets(&s.fake);
    s.h.assert_clean_log();
}

/// The request body fails after FORWARD_REQUEST went out (a broken chunk from the client):
/// that backend connection is never used again.
#[test]
fn cve_2022_36760_body_error_after_forward_request_closes_the_connection() {
    let s = single(Mpm::Prefork, "ok", "worker.t1.connection_pool_size=1\n", "");
    for i in 0..3 {
        let mut c = s.h.connect();
        c.write_all(
            format!(
                "POST /app/echo/broken{i} HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n"
            )
            .as_bytes(),
        )
        .unwrap();
        // The broken chunk comes once FORWARD_REQUEST is out.
        s.fake
            .wait_request(&format!("\"uri\":\"/app/echo/broken{i}\""));
        c.write_all(b"ZZ-not-a-size\r\nGET /app/smuggled HTTP/1.1\r\n\r\n")
            .unwrap();
        let mut out = Vec::new();
        let _ = c.read_to_end(&mut out);
        let status = parse_response(&out).map(|r| r.status);
        assert!(
            status.is_none() || status.is_some_and(|st| st >= 400),
            "{status:?}"
        );
        assert_never_reused(&s.fake, &format!("/app/echo/broken{i}"));
    }
    assert_bodies_not_mixed(&s.h, 4);
    assert!(requests_for(&s.fake, "/app/smuggled").is_empty());
    assert_no_stray_packets(&s.fake);
    s.h.assert_clean_log();
}

/// CR/LF inside a backend header value never splits it into a client-visible header.
#[test]
fn cve_2022_37436_header_crlf_never_becomes_a_header() {
    let s = single(Mpm::Event, "ok", "", "");
    let raw =
        s.h.raw(b"GET /app/fault/hdr_crlf HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    let head = raw_head(&raw);
    assert!(
        head.starts_with("HTTP/1.1 502") || head.starts_with("HTTP/1.1 200"),
        "{head}"
    );
    for line in head.split("\r\n") {
        assert!(
            !line.to_ascii_lowercase().starts_with("set-cookie"),
            "{head}"
        );
    }
    assert!(!head.contains("pwn=1"), "{head}");
    assert_eq!(s.h.get("/app/echo").status, 200);
    s.h.assert_clean_log();
}

/// A reply with more body than its Content-Length: the client gets exactly the announced
/// bytes as a complete response (its keep-alive connection stays usable), the excess never
/// reaches anyone, the backend connection is closed, and the JK log names worker and URI.
#[test]
fn backend_body_longer_than_its_content_length_is_cut_and_never_reused() {
    let s = single(Mpm::Event, "ok", "", "");
    let raw = s.h.raw(
        b"GET /app/fault/cl_over HTTP/1.1\r\nHost: x\r\n\r\n\
          GET /app/echo?follow=1 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    );
    let text = String::from_utf8_lossy(&raw).into_owned();
    let rs = split_responses(&raw, &[false, false]);
    assert_eq!(rs.len(), 2, "{text}");
    assert_eq!(
        (rs[0].status, rs[0].body.as_slice()),
        (200, &b"hello"[..]),
        "{text}"
    );
    assert_eq!(rs[0].header("Content-Length"), Some("5"), "{text}");
    assert_eq!(
        echo_field(&rs[1].text(), "query"),
        Some("follow=1"),
        "{text}"
    );
    assert!(!text.contains("world"), "{text}");
    assert_never_reused(&s.fake, "/app/fault/cl_over\"");
    s.h.wait_log("logs/mod_jk.log", "the cut", |l| {
        l.contains("sent more body than its Content-Length 5 for /app/fault/cl_over")
    });
}

/// A reply with less body than its Content-Length, all of it received before anything
/// went to the client: a 502, and that connection is never reused.
#[test]
fn backend_body_shorter_than_its_content_length_is_a_502() {
    let s = single(Mpm::Event, "ok", "", "");
    let r = s.h.get("/app/fault/cl_under");
    assert_eq!(r.status, 502, "{}", r.text());
    assert!(!r.text().contains("0123456789"), "{}", r.text());
    assert_never_reused(&s.fake, "/app/fault/cl_under\"");
    s.h.wait_log("logs/mod_jk.log", "the 502", |l| {
        l.contains("response ended after 10 body bytes of the 100 its Content-Length announced")
    });
}

/// Backend Content-Length / Transfer-Encoding cannot desync the client connection: a
/// pipelined follow-up always gets its own response, or the connection ends visibly.
#[test]
fn cve_2024_24795_backend_cl_and_te_cannot_desync() {
    let s = single(Mpm::Event, "ok", "", "");
    for f in ["cl_and_te", "cl_mismatch"] {
        let req = format!(
            "GET /app/fault/{f} HTTP/1.1\r\nHost: x\r\n\r\n\
             GET /app/echo?follow=1 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
        );
        let raw = s.h.raw(req.as_bytes());
        let text = String::from_utf8_lossy(&raw).into_owned();
        let rs = split_responses(&raw, &[false, false]);
        // The backend's own Content-Length/Transfer-Encoding never reach the client twice.
        let head = raw_head(&raw);
        assert!(
            !(head.to_ascii_lowercase().contains("content-length")
                && head.to_ascii_lowercase().contains("transfer-encoding")),
            "{f}: {head}"
        );
        match rs.len() {
            2 => {
                assert!(rs[0].status == 502 || rs[0].body == b"hello", "{f}: {text}");
                assert_eq!(rs[1].status, 200, "{f}: {text}");
                assert_eq!(
                    echo_field(&rs[1].text(), "query"),
                    Some("follow=1"),
                    "{f}: {text}"
                );
            }
            // The first response could not be framed honestly: the connection ended
            // inside it, so nothing after it can be mistaken for the follow-up.
            n => assert!(
                n == 0 || !text.contains("query=follow=1"),
                "{f}: {n} responses: {text}"
            ),
        }
    }
    assert_eq!(s.h.get("/app/echo").status, 200);
    s.h.assert_clean_log();
}

/// CR/LF, space and bad %-encoding in the URL, also via mod_rewrite substitutions: the
/// backend never receives raw control bytes or spaces in req_uri or query_string.
/// Also covers CVE-2024-38473.
#[test]
fn cve_2023_25690_ctl_bytes_never_reach_the_backend_uri() {
    let mods = common::apache_modules_dir();
    let s = single(
        Mpm::Event,
        "ok",
        "",
        &format!(
            "LoadModule rewrite_module {mods}/mod_rewrite.so\nRewriteEngine On\n\
             RewriteRule ^/rw/(.*)$ /app/echo?q=$1 [PT]\n\
             RewriteRule ^/rwpath/(.*)$ /app/p/$1 [PT]\n\
             RewriteRule ^/rwenv/(.*)$ /app/echo [PT,E=JK_WORKER_NAME:$1]\n"
        ),
    );
    for p in [
        "/app/x%0d%0aX-A:%201",
        "/app/x%20y",
        "/app/a?b=%0d%0a",
        "/app/a?b=%0d%0aX-B:%201 ",
        "/app/x%0ay",
        "/app/x%00y",
        "/app/x%zz",
        "/app/x%",
        "/app/x%7f",
        "/rw/a%0d%0aX-C:%201",
        "/rw/a%20b",
        "/rwpath/a%0d%0aX-D:%201",
        "/rwpath/a%20b?c=1",
        "/rwenv/t1%0d%0a",
    ] {
        let r = s.h.get(p);
        assert!(
            r.status == 200 || (400..=500).contains(&r.status),
            "{p}: {}",
            r.status
        );
    }
    for r in s.fake.events("request") {
        let uri = r
            .split("\"uri\":\"")
            .nth(1)
            .and_then(|t| t.split('"').next())
            .unwrap_or("");
        let query = r
            .split("\"query\":\"")
            .nth(1)
            .and_then(|t| t.split('"').next())
            .unwrap_or("");
        for field in [uri, query] {
            // The log escapes control bytes as \u00XX.
            assert!(!field.contains("\\u00") && !field.contains(' '), "{r}");
        }
    }
    s.h.assert_clean_log();
}

/// Declared reply lengths around max_packet_size: fits ⇒ served, over ⇒ 502 and close.
#[test]
fn cve_2026_28780_packet_length_sweep() {
    let s = single(Mpm::Event, "ok", "", "");
    let max = 8192u32;
    for declared in (max - 5..=max + 4).chain([0xFFFF]) {
        let r = s.h.get(&format!("/app/fault/too_long/{declared}"));
        if declared + 4 <= max {
            assert_eq!(r.status, 200, "{declared} fits the packet");
            assert!(
                r.header("X-Pad")
                    .is_some_and(|v| v.bytes().all(|b| b == b'p'))
            );
        } else {
            assert_eq!(r.status, 502, "{declared} is over the packet size");
            assert!(r.header("X-Pad").is_none());
            assert_never_reused(&s.fake, &format!("/app/fault/too_long/{declared}"));
        }
    }
    assert_eq!(s.h.get("/app/echo").status, 200);
    s.h.assert_clean_log();
}

/// A reply cut at every byte offset: 502 before the headers are complete, never a byte the
/// backend did not send, never a reused connection.
#[test]
fn cve_2026_33857_reply_truncated_at_every_offset() {
    let s = single(Mpm::Event, "ok", "", "");
    let r = s.h.get("/app/fault/cut_reply");
    assert_eq!((r.status, r.text().as_str()), (200, "hello"));
    let cut = s.fake.wait_events("cut", 1).pop().unwrap();
    let headers_len = num(&cut, "headers_len").unwrap();
    let body_end = num(&cut, "body_end").unwrap();
    let total = num(&cut, "total").unwrap();
    for at in 0..total {
        let uri = format!("/app/fault/cut_reply/{at}");
        let exact = format!("{uri}\"");
        let raw = s
            .h
            .raw(format!("GET {uri} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").as_bytes());
        let text = String::from_utf8_lossy(&raw).into_owned();
        if at < headers_len {
            assert!(text.starts_with("HTTP/1.1 502"), "cut at {at}: {text}");
        } else {
            assert!(
                text.is_empty()
                    || text.starts_with("HTTP/1.1 200")
                    || text.starts_with("HTTP/1.1 502"),
                "cut at {at}: {text}"
            );
            if text.starts_with("HTTP/1.1 200") {
                let head = raw_head(&raw);
                let body = &raw[head.len() + 4..];
                if head.contains("Content-Length: 5") {
                    // Only bytes the backend sent, and short (visibly truncated) unless
                    // the whole body had arrived before the cut.
                    assert!(b"hello".starts_with(body), "cut at {at}: {text}");
                    assert!(at >= body_end || body.len() < 5, "cut at {at}: {text}");
                } else {
                    let stripped = String::from_utf8_lossy(body).replace("\r\n", "");
                    assert!(
                        stripped.bytes().all(|b| b"hello05".contains(&b)),
                        "cut at {at}: {text}"
                    );
                    assert!(
                        at >= body_end || !text.ends_with("0\r\n\r\n"),
                        "cut at {at}: {text}"
                    );
                }
            }
        }
        assert_never_reused(&s.fake, &exact);
    }
    assert_eq!(s.h.get("/app/echo").status, 200);
    s.h.assert_clean_log();
}

/// Strings running past the received message, or missing their NUL, never echo bytes
/// from later packets or from an earlier message on the same connection.
#[test]
fn cve_2026_34032_string_overrun_never_echoes_stale_bytes() {
    let s = single(Mpm::Prefork, "ok", "worker.t1.connection_pool_size=1\n", "");
    for f in ["str_overrun", "no_nul"] {
        let raw = s.h.raw(
            format!("GET /app/fault/{f} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                .as_bytes(),
        );
        let text = String::from_utf8_lossy(&raw).into_owned();
        assert!(text.starts_with("HTTP/1.1 502"), "{f}: {text}");
        assert!(
            !text.contains("SSS") && !text.contains("abcZ"),
            "{f}: {text}"
        );
        assert_never_reused(&s.fake, &format!("/app/fault/{f}"));
    }
    // One client connection stays with one prefork child and its one backend connection:
    // the probe's over-long string would point into the fill's body bytes.
    let mut ka = KeepAlive::connect(s.h.addr());
    let fill = ka.get("/app/fault/stale_bytes/fill");
    assert_eq!(fill.status, 200);
    assert!(fill.body.len() == 8000 && fill.body.iter().all(|&b| b == b'S'));
    let probe = ka.get("/app/fault/stale_bytes");
    assert_eq!(probe.status, 502);
    assert!(probe.header("X-A").is_none(), "{:?}", probe.headers);
    assert!(!probe.text().contains("SSS"));
    // (A GET may be retried once on a fresh connection after the protocol error.)
    let reqs = requests_for(&s.fake, "/app/fault/stale_bytes");
    assert!(reqs.len() >= 2, "{}", s.fake.log());
    assert_eq!(
        num(&reqs[0], "conn"),
        num(&reqs[1], "conn"),
        "both on one backend connection"
    );
    assert_never_reused(&s.fake, "/app/fault/stale_bytes\"");
    s.h.assert_clean_log();
}

/// Very short SEND_BODY_CHUNK with huge declared lengths.
#[test]
fn cve_2026_34059_short_body_chunk_never_overreads() {
    let s = single(Mpm::Event, "ok", "", "");
    for f in ["chunk_short/fffc", "chunk_short/ffff", "chunk_short/1"] {
        let raw = s.h.raw(
            format!("GET /app/fault/{f} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                .as_bytes(),
        );
        let r = parse_response(&raw);
        assert!(
            r.as_ref().is_some_and(|r| r.status == 502),
            "{f}: {}",
            String::from_utf8_lossy(&raw)
        );
        assert!(!raw.contains(&0), "{f}");
        assert_never_reused(&s.fake, &format!("/app/fault/{f}"));
    }
    assert_eq!(s.h.get("/app/echo").status, 200);
    s.h.assert_clean_log();
}

/// CR/LF in the backend's reason phrase: one well-formed status line, no injected header.
#[test]
fn cve_2026_33523_status_crlf_single_status_line() {
    let s = single(Mpm::Event, "ok", "", "");
    let raw =
        s.h.raw(b"GET /app/fault/status_crlf HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    let head = raw_head(&raw);
    let mut lines = head.split("\r\n");
    let status = lines.next().unwrap_or_default();
    let parts: Vec<&str> = status.splitn(3, ' ').collect();
    assert!(
        parts.len() >= 2 && parts[0] == "HTTP/1.1" && parts[1].len() == 3,
        "{head}"
    );
    assert!(!status.contains('\r') && !status.contains('\n'));
    for l in lines {
        assert!(!l.to_ascii_lowercase().starts_with("set-cookie"), "{head}");
    }
    assert_never_reused(&s.fake, "/app/fault/status_crlf");
    s.h.assert_clean_log();
}

/// The root parent must survive whatever a child writes into the shared segment.
#[test]
fn cve_2019_0211_parent_survives_scribbled_shm() {
    let b = balanced(Mpm::Prefork, "ok", "");
    assert_eq!(b.h.get("/app/echo").status, 200);
    let logs = b.h.root.dir.join("logs");
    let shm = std::fs::read_dir(&logs)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .find(|p| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with("jk-runtime-status."))
        })
        .expect("shm file");
    let len = std::fs::metadata(&shm).unwrap().len() as usize;
    // Deterministic garbage (xorshift): the same bytes every run.
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut next = || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    for round in 0..3 {
        let mut f = std::fs::OpenOptions::new().write(true).open(&shm).unwrap();
        let garbage: Vec<u8> = match round {
            0 => vec![0xFF; len],
            _ => (0..len).map(|_| next() as u8).collect(),
        };
        // Keep the first bytes (a header a child could not forge without also being
        // caught) intact in half of the rounds, so both paths run.
        let from = if round % 2 == 0 { 0 } else { len.min(64) };
        use std::io::Seek;
        f.seek(std::io::SeekFrom::Start(from as u64)).unwrap();
        f.write_all(&garbage[from..]).unwrap();
        drop(f);
        // Requests now run on the scribbled segment, then the parent restarts over it.
        let r = b.h.get("/app/echo");
        assert!(
            r.status == 200 || r.status >= 500,
            "round {round}: {}",
            r.status
        );
        b.h.restart(true);
        assert_eq!(b.h.get("/static.txt").status, 200, "round {round}");
    }
    b.h.assert_clean_log();
}

// ---------------------------------------------------------------------------------------
// Tomcat / Undertow faults the connector must survive

/// The client disappears before sending any of its POST body: that connection's body
/// state is never left for another request.
#[test]
fn cve_2005_3164_broken_post_never_feeds_another_request() {
    let s = single(Mpm::Prefork, "ok", "worker.t1.connection_pool_size=1\n", "");
    for _ in 0..3 {
        abandoned_upload(&s.h, "/app/echo/abandoned", 5000, 0, false);
    }
    s.h.wait_requests_logged("POST /app/echo/abandoned ", 3);
    // Whatever reached the backend for the abandoned uploads was ended (empty packet) or
    // its connection closed, before anything else used it.
    for r in requests_for(&s.fake, "/app/echo/abandoned") {
        let conn = num(&r, "conn").unwrap();
        let ended = s.fake.log().lines().any(|l| {
            num(l, "conn") == Some(conn)
                && ((l.contains("\"ev\":\"body\"") && l.contains("\"short\":true"))
                    || l.contains("\"ev\":\"close\""))
        });
        assert!(ended, "{}", s.fake.log());
    }
    assert_bodies_not_mixed(&s.h, 8);
    assert_no_stray_packets(&s.fake);
    s.h.assert_clean_log();
}

/// A backend that drops the connection on one malformed request: with other traffic in
/// flight the failures stay local errors and the members never reach global ERR.
#[test]
fn cve_2009_0033_marker_close_never_takes_members_to_err() {
    let b = balanced(
        Mpm::Event,
        "close_on_marker",
        "worker.lb.error_escalation_time=600\nworker.lb.recover_time=600\n",
    );
    let port = b.h.addr();
    // A long, well-formed request in flight on each member.
    let held: Vec<_> = ["m1", "m2"]
        .into_iter()
        .map(|m| {
            std::thread::spawn(move || {
                let mut c = TcpStream::connect(port).unwrap();
                c.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
                c.write_all(
                    format!(
                        "GET /app/sleep/6000 HTTP/1.1\r\nHost: x\r\nCookie: JSESSIONID=s.{m}\r\nConnection: close\r\n\r\n"
                    )
                    .as_bytes(),
                )
                .unwrap();
                let mut out = String::new();
                let _ = c.read_to_string(&mut out);
                out
            })
        })
        .collect();
    for f in &b.fakes {
        let start = Instant::now();
        while requests_for(f, "/app/sleep/6000").is_empty() {
            assert!(start.elapsed() < Duration::from_secs(5), "{}", f.log());
            std::thread::sleep(Duration::from_millis(20));
        }
    }
    for i in 0..50 {
        let r = b.h.get_with(
            &format!("/app/echo/marked{i}"),
            &[("X-Close-Marker", "1"), ("Host", "bad host!")],
        );
        assert!(r.status >= 400, "marked {i}: {}", r.status);
        if i % 10 == 0 {
            assert_eq!(b.h.get("/app/echo").status, 200, "normal traffic at {i}");
        }
    }
    for m in ["m1", "m2"] {
        let st = member_state(&b.h, m);
        assert!(!st.starts_with("ERR"), "{m} is {st}");
    }
    for h in held {
        let out = h.join().unwrap();
        assert!(out.starts_with("HTTP/1.1 200"), "{out}");
    }
    assert_members_ok(&b);
    b.h.assert_clean_log();
}

/// Build a FORWARD_REQUEST the way a container would read it.
fn forged_forward_request(uri: &str) -> Vec<u8> {
    fn s(out: &mut Vec<u8>, v: &str) {
        out.extend_from_slice(&(v.len() as u16).to_be_bytes());
        out.extend_from_slice(v.as_bytes());
        out.push(0);
    }
    let mut p = vec![2u8, 2]; // FORWARD_REQUEST, GET
    s(&mut p, "HTTP/1.1");
    s(&mut p, uri);
    s(&mut p, "10.0.0.1");
    s(&mut p, "evil");
    s(&mut p, "evil");
    p.extend_from_slice(&80u16.to_be_bytes());
    p.push(0);
    p.extend_from_slice(&0u16.to_be_bytes());
    p.push(0x03); // remote_user
    s(&mut p, "admin");
    p.push(0xFF);
    let mut out = vec![0x12, 0x34];
    out.extend_from_slice(&(p.len() as u16).to_be_bytes());
    out.extend_from_slice(&p);
    out
}

/// A POST body that is itself an AJP FORWARD_REQUEST stays body data inside body packets,
/// also when the backend answers without reading it.
#[test]
fn cve_2011_3190_ajp_shaped_body_stays_body() {
    let s = single(Mpm::Prefork, "ok", "worker.t1.connection_pool_size=1\n", "");
    let forged = forged_forward_request("/app/injected");
    // Small (one packet) and spread over several packets, each packet starting with a
    // forged message where a careless container would look for the next request.
    let mut big = Vec::new();
    while big.len() < 30_000 {
        big.extend_from_slice(&forged);
    }
    for body in [forged.clone(), big.clone()] {
        let r = s.h.request("POST", "/app/echo", &[], &body);
        assert_eq!(r.status, 200);
        assert_eq!(
            echo_field(&r.text(), "body_fnv"),
            Some(fnv1a(&body).as_str())
        );
    }
    // The backend answers after the first packet and leaves the rest unread; the next
    // request on the same client (and child, and backend pool of one) must be parsed as
    // a request, not as the leftover body.
    for body in [&forged, &big] {
        let mut raw = format!(
            "POST /app/fault/reject_unread/200 HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n\r\n",
            body.len()
        )
        .into_bytes();
        raw.extend_from_slice(body);
        raw.extend_from_slice(
            b"GET /app/echo/after HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        );
        let out = s.h.raw(&raw);
        let rs = split_responses(&out, &[false, false]);
        assert_eq!(rs.len(), 2, "{}", String::from_utf8_lossy(&out));
        assert_eq!(rs[1].status, 200);
        assert_eq!(echo_field(&rs[1].text(), "uri"), Some("/app/echo/after"));
    }
    assert!(
        requests_for(&s.fake, "/app/injected").is_empty(),
        "{}",
        s.fake.log()
    );
    for r in s.fake.events("request") {
        assert!(!r.contains("\"remote_addr\":\"10.0.0.1\""), "{r}");
    }
    assert_no_stray_packets(&s.fake);
    s.h.assert_clean_log();
}

/// Ghostcat against a real Tomcat: the module sends its secret, and request headers never
/// become `javax.servlet.include.*` attributes, so no file under WEB-INF is ever served.
#[test]
fn cve_2020_1938_ghostcat_attributes_never_from_the_client() {
    use common::tomcat::{self, Echo};
    let t = tomcat::shared(1)[0];
    let root = ServerRoot::new(Mpm::Event);
    let wf = root.write(
        "conf/workers.properties",
        &format!(
            "worker.list=tc,nosecret\n{}worker.nosecret.host=127.0.0.1\nworker.nosecret.port={}\n",
            t.worker_properties_as("tc"),
            t.ajp_port
        ),
    );
    root.configure(&format!(
        "JkWorkersFile {wf}\nJkMount /* tc\nJkMount /nosecret/* nosecret\n"
    ));
    let h = root.start();
    let include = [
        ("javax.servlet.include.request_uri", "/"),
        ("javax.servlet.include.path_info", "/WEB-INF/web.xml"),
        ("javax.servlet.include.servlet_path", "/WEB-INF/web.xml"),
        ("jakarta.servlet.include.request_uri", "/"),
        ("jakarta.servlet.include.path_info", "/WEB-INF/web.xml"),
        ("jakarta.servlet.include.servlet_path", "/WEB-INF/web.xml"),
    ];
    for p in [
        "/echo",
        "/WEB-INF/web.xml",
        "/x/..;/WEB-INF/web.xml",
        "/%57EB-INF/web.xml",
    ] {
        let r = h.get_with(p, &include);
        let t = r.text();
        assert!(
            !t.contains("web-app") && !t.contains("metadata-complete"),
            "{p}: {t}"
        );
        if p == "/echo" {
            assert_eq!(r.status, 200, "{t}");
            let e = Echo::parse(&r.body);
            for a in [
                "javax.servlet.include.request_uri",
                "jakarta.servlet.include.request_uri",
            ] {
                assert_eq!(
                    e.get(&format!("attr.{a}")).as_deref(),
                    Some("(null)"),
                    "{t}"
                );
            }
            assert_eq!(
                e.get("header.javax.servlet.include.path_info").as_deref(),
                Some("/WEB-INF/web.xml"),
                "stays a plain header: {t}"
            );
        }
    }
    // Without the secret Tomcat refuses the request.
    assert_eq!(h.get("/nosecret/echo").status, 403);
    assert_eq!(h.get("/echo").status, 200);
    h.assert_clean_log();
}

/// A response with no headers at all must not inherit the previous response's headers.
#[test]
fn cve_2023_34981_no_headers_never_reuses_previous_headers() {
    let s = single(Mpm::Prefork, "ok", "worker.t1.connection_pool_size=1\n", "");
    for _ in 0..3 {
        let mut ka = KeepAlive::connect(s.h.addr());
        let r = ka.get("/app/xsecret");
        assert_eq!(r.header("X-Secret"), Some("A"));
        let r = ka.get("/app/fault/end_no_headers");
        assert_eq!(r.status, 502);
        assert!(r.header("X-Secret").is_none(), "{:?}", r.headers);
        let r = ka.get("/app/echo");
        assert_eq!(r.status, 200);
        assert!(r.header("X-Secret").is_none(), "{:?}", r.headers);
    }
    assert_never_reused(&s.fake, "/app/fault/end_no_headers");
    s.h.assert_clean_log();
}

/// Bytes after END_RESPONSE (reuse=1) never reach the next request on that connection:
/// neither when they arrive with the reply nor when they arrive while the connection
/// waits in the pool. (Bytes arriving after the connection has been taken for the next
/// request cannot be told from its reply by any connector: AJP has no request ids.)
#[test]
fn cve_2022_1319_extra_after_end_never_reaches_the_next_request() {
    let s = single(Mpm::Prefork, "ok", "worker.t1.connection_pool_size=1\n", "");
    let mut late = 0;
    for fault in [
        "/app/fault/extra_after_end",
        "/app/fault/extra_after_end",
        "/app/fault/extra_after_end/100",
        "/app/fault/extra_after_end/100",
    ] {
        let mut ka = KeepAlive::connect(s.h.addr());
        let r = ka.get(fault);
        assert_eq!(r.status, 200);
        assert!(r.header("X-Stale").is_none());
        if fault.ends_with("/100") {
            late += 1;
            let strays = s.fake.wait_events("stray", late).len();
            assert_eq!(strays, late, "{}", s.fake.log());
        }
        for _ in 0..2 {
            let r = ka.get("/app/echo");
            assert_eq!(r.status, 200);
            assert!(r.header("X-Stale").is_none(), "{:?}", r.headers);
            assert_eq!(echo_field(&r.text(), "uri"), Some("/app/echo"));
        }
    }
    assert_never_reused(&s.fake, "/app/fault/extra_after_end");
    s.h.assert_clean_log();
}

/// A backend that closes without answering when the POST is too large: only those
/// clients get an error; the members keep serving.
#[test]
fn cve_2022_2053_close_on_large_post_only_fails_that_request() {
    let b = balanced(Mpm::Event, "close_if_large", "");
    for i in 0..20 {
        let mut c = b.h.connect();
        c.write_all(
            b"POST /app/echo HTTP/1.1\r\nHost: x\r\nContent-Length: 1100000\r\nConnection: close\r\n\r\n",
        )
        .unwrap();
        // The whole body, as a real client would: httpd reads (discards) what the
        // backend did not take before it answers.
        let _ = c.write_all(&vec![b'p'; 1_100_000]);
        let status = read_one_response(&mut c).map(|r| r.status);
        assert!(
            matches!(status, None | Some(500 | 502 | 503)),
            "large POST {i}: {status:?}"
        );
        let r = b.h.request("POST", "/app/echo", &[], b"small");
        assert_eq!(r.status, 200, "normal traffic after large POST {i}");
    }
    for m in ["m1", "m2"] {
        assert!(b.h.get(&format!("/app/echo;jsessionid=x.{m}")).status == 200);
    }
    assert_eq!(b.h.get("/app/echo").status, 200);
    b.h.assert_clean_log();
}

// ---------------------------------------------------------------------------------------
// Related non-CVE hardening

/// Header names match the coded table exactly: `Content-Length-X` is not Content-Length.
#[test]
fn hardening_header_names_match_exactly() {
    let s = single(Mpm::Event, "ok", "", "");
    let r = s.h.get_with(
        "/app/echo",
        &[
            ("Content-Length-X", "5"),
            ("Hostile", "1"),
            ("Cookie2x", "c"),
        ],
    );
    assert_eq!(r.status, 200);
    let req = s.fake.wait_events("request", 1).pop().unwrap();
    assert!(req.contains("[\"Content-Length-X\",\"5\",null]"), "{req}");
    assert!(req.contains("[\"Cookie2x\",\"c\",null]"), "{req}");
    // The only coded Content-Length is the real one (0 for a GET without body).
    assert!(!req.contains("[\"content-length\",\"5\""), "{req}");
    assert!(s.fake.wait_events("body", 1)[0].contains("\"packets\":0"));
    s.h.assert_clean_log();
}

/// HEAD never gets a body, not even httpd's own error page (bz 65901).
#[test]
fn hardening_head_never_gets_an_error_body() {
    let s = single(
        Mpm::Event,
        "ok",
        &format!(
            "worker.list=dead\nworker.dead.host=127.0.0.1\nworker.dead.port={}\n",
            common::down_port()
        ),
        "JkMount /dead/* dead\n",
    );
    for p in [
        "/app/status/404",
        "/app/status/503",
        "/app/status/500",
        "/dead/x",
        "/app/fault/bad_magic",
    ] {
        let req = format!(
            "HEAD {p} HTTP/1.1\r\nHost: x\r\n\r\nGET /app/echo?after=1 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
        );
        let raw = s.h.raw(req.as_bytes());
        let rs = split_responses(&raw, &[true, false]);
        let text = String::from_utf8_lossy(&raw);
        assert!(!rs.is_empty() && rs[0].status >= 400, "{p}: {text}");
        if rs[0].header("Connection") == Some("close") {
            // httpd drops the connection after some errors (500, 503): then nothing at
            // all may follow the header block.
            assert!(text.ends_with("\r\n\r\n"), "{p}: HEAD got a body: {text}");
            assert_eq!(rs.len(), 1, "{p}: {text}");
        } else {
            assert_eq!(rs.len(), 2, "{p}: {text}");
            assert_eq!(rs[1].status, 200, "{p}: {text}");
            assert_eq!(
                echo_field(&rs[1].text(), "query"),
                Some("after=1"),
                "{p}: {text}"
            );
        }
    }
    s.h.assert_clean_log();
}

/// The secret never appears in any status format, the config dump or the debug log.
#[test]
fn hardening_secret_omitted_from_status_dump() {
    let b = balanced(Mpm::Event, "ok", "");
    assert_eq!(b.h.get("/app/echo").status, 200);
    for q in [
        "",
        "?mime=xml",
        "?mime=txt",
        "?mime=prop",
        "?mime=json",
        "?mime=prometheus",
        "?cmd=dump&mime=txt",
        "?cmd=dump",
        "?cmd=dump&mime=xml",
        "?cmd=dump&mime=json",
        "?cmd=edit&w=lb&sw=m1",
        "?cmd=show&w=m1&mime=prop",
    ] {
        for base in ["/jkstatus/", "/jkmanager/"] {
            let r = b.h.get(&format!("{base}{q}"));
            assert!(!r.text().contains(SECRET), "{base}{q} shows the secret");
        }
    }
    assert!(!b.h.jk_log().contains(SECRET), "log shows the secret");
    b.h.assert_clean_log();
}
