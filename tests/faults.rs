//! The fault catalogue (section 2 of the security and reliability reference, cases F1 to
//! F35), one test per case, against the real httpd with mod_rjk. The fake AJP backend
//! plays the faults a real Tomcat cannot produce on demand; real Tomcat is used where the
//! case is about Tomcat itself (stale connections after a crash, its 403 for a bad secret).

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use common::tomcat::Tomcat;
use common::{
    FakeAjp, Httpd, Mpm, ServerRoot, backend_of, chunked, fnv1a, open_download, parse_response,
    spread_over,
};

/// One lb member: its worker name (also its route) and where it listens.
struct Member {
    name: String,
    host: String,
    port: u16,
}

impl Member {
    fn fake(f: &FakeAjp, name: &str) -> Member {
        Member::at(name, "127.0.0.1", f.port)
    }
    fn at(name: &str, host: &str, port: u16) -> Member {
        Member {
            name: name.to_string(),
            host: host.to_string(),
            port,
        }
    }
}

/// httpd with an lb `lb` over `members` on `/lb/*`, and three plain ajp13 workers on the
/// first member's address: `t1` (`/app/*`), `slow` (reply_timeout 1500 ms, `/slow/*`) and
/// `dead` (a closed port, `/dead/*`). `/jkstatus/` is a status worker, `/jkstatus_ro/` a
/// read-only one.
fn start_httpd(mpm: Mpm, members: &[Member], workers_extra: &str, conf_extra: &str) -> Httpd {
    let root = ServerRoot::new(mpm);
    let first = &members[0];
    let dead = common::down_port();
    let mut w = String::from("worker.list=lb,t1,slow,dead,jkstatus,jkstatus_ro\n");
    for m in members {
        w.push_str(&format!(
            "worker.{n}.type=ajp13\nworker.{n}.host={h}\nworker.{n}.port={p}\n",
            n = m.name,
            h = m.host,
            p = m.port
        ));
    }
    let names: Vec<&str> = members.iter().map(|m| m.name.as_str()).collect();
    w.push_str(&format!(
        "worker.lb.type=lb\nworker.lb.balance_workers={}\n\
         worker.t1.host={h}\nworker.t1.port={p}\n\
         worker.slow.host={h}\nworker.slow.port={p}\nworker.slow.reply_timeout=1500\n\
         worker.dead.host=127.0.0.1\nworker.dead.port={dead}\nworker.dead.socket_connect_timeout=1000\n\
         worker.jkstatus.type=status\n\
         worker.jkstatus_ro.type=status\nworker.jkstatus_ro.read_only=true\n{workers_extra}",
        names.join(","),
        h = first.host,
        p = first.port,
    ));
    let wf = root.write("conf/workers.properties", &w);
    root.configure(&format!(
        "JkWorkersFile {wf}\nJkShmFile logs/jk-runtime-status\nJkLogLevel info\n\
         JkMount /app/* t1\nJkMount /slow/* slow\nJkMount /dead/* dead\nJkMount /lb/* lb\n\
         <Location /jkstatus/>\n JkMount jkstatus\n Require ip 127.0.0.1\n</Location>\n\
         <Location /jkstatus_ro/>\n JkMount jkstatus_ro\n Require ip 127.0.0.1\n</Location>\n\
         {conf_extra}"
    ));
    root.start()
}

struct Rig {
    h: Httpd,
    /// tomcat1..tomcat3; tomcat1 also serves `t1` and `slow`.
    fakes: Vec<FakeAjp>,
}

fn rig(mpm: Mpm, workers_extra: &str, conf_extra: &str) -> Rig {
    let fakes: Vec<FakeAjp> = (1..=3)
        .map(|i| FakeAjp::start(&format!("tomcat{i}"), &[]))
        .collect();
    rig_with(mpm, fakes, workers_extra, conf_extra)
}

fn rig_with(mpm: Mpm, fakes: Vec<FakeAjp>, workers_extra: &str, conf_extra: &str) -> Rig {
    let members: Vec<Member> = fakes
        .iter()
        .enumerate()
        .map(|(i, f)| Member::fake(f, &format!("tomcat{}", i + 1)))
        .collect();
    Rig {
        h: start_httpd(mpm, &members, workers_extra, conf_extra),
        fakes,
    }
}

/// A single event child, so sequential requests share one connection pool.
const ONE_CHILD: &str =
    "StartServers 1\nServerLimit 1\nMaxRequestWorkers 8\nMinSpareThreads 1\nMaxSpareThreads 8\n";

fn sticky(member: &str) -> String {
    format!("JSESSIONID=s.{member}")
}

/// `worker.<name>.<field>` from the status worker's prop format.
fn prop(h: &Httpd, name: &str, field: &str) -> String {
    common::status_prop(h, "/jkstatus/", name, field)
}

fn state(h: &Httpd, member: &str) -> String {
    prop(h, member, "state")
}

fn num(h: &Httpd, member: &str, field: &str) -> u64 {
    prop(h, member, field).parse().unwrap()
}

/// A member is in good standing: not in error, no backend error counted.
fn assert_member_ok(h: &Httpd, member: &str) {
    let s = state(h, member);
    assert!(!s.starts_with("ERR"), "{member} is {s}");
    assert_eq!(num(h, member, "errors"), 0, "{member} has errors");
}

fn echo_field<'a>(body: &'a str, key: &str) -> Option<&'a str> {
    body.lines()
        .find_map(|l| l.strip_prefix(&format!("{key}=")))
}

/// Fake log lines of one kind that mention `needle`.
/// A marker request through the lb to every member's route (see [`common::marker`]):
/// after it, a request event missing from the fakes' logs was never sent.
fn settle_lb(s: &Rig) {
    for m in ["tomcat1", "tomcat2", "tomcat3"] {
        let cookie = sticky(m);
        common::marker(&s.h, "/lb/echo", &[("Cookie", &cookie)], &s.fakes);
    }
}

fn events_with(f: &FakeAjp, ev: &str, needle: &str) -> usize {
    f.events(ev).iter().filter(|l| l.contains(needle)).count()
}

/// The body a fake sends for `/size/N`.
fn size_byte(i: usize) -> u8 {
    b'a' + (i % 26) as u8
}

/// The client must be able to tell that the response is incomplete: a short body under
/// Content-Length, or chunked without the last chunk, and never a second status line.
fn assert_truncated(raw: &[u8], what: &str) {
    let text = String::from_utf8_lossy(raw).into_owned();
    // What httpd had buffered may or may not have reached the wire before the abort.
    assert!(
        text.is_empty() || text.starts_with("HTTP/1.1 200"),
        "{what}: {text}"
    );
    assert!(
        text.matches("HTTP/1.1 ").count() <= 1,
        "{what}: an error page followed the response: {text}"
    );
    let complete = parse_response(raw).is_some_and(|r| {
        r.header("Content-Length")
            .map(|l| l.parse::<usize>().ok() == Some(r.body.len()))
            .unwrap_or(false)
    }) || text.ends_with("0\r\n\r\n");
    assert!(!complete, "{what}: truncation not visible: {text}");
}

fn raw_get(h: &Httpd, path: &str, extra: &str) -> Vec<u8> {
    h.raw(format!("GET {path} HTTP/1.1\r\nHost: x\r\n{extra}\r\n").as_bytes())
}

/// Reads the rest of a `/size/N` body, `pause` between 64 KiB reads; returns the length
/// and the offset of the first wrong byte.
fn read_size_body(r: &mut impl Read, pause: Duration) -> (usize, Option<usize>) {
    let mut buf = vec![0u8; 64 * 1024];
    let (mut n, mut bad) = (0usize, None);
    loop {
        let k = r.read(&mut buf).unwrap();
        if k == 0 {
            return (n, bad);
        }
        if bad.is_none() {
            bad = buf[..k]
                .iter()
                .enumerate()
                .find(|&(j, &b)| b != size_byte(n + j))
                .map(|(j, _)| n + j);
        }
        n += k;
        if !pause.is_zero() {
            std::thread::sleep(pause);
        }
    }
}

/// httpd in front of one real Tomcat: `tc` with the right secret on `/*`, `nosecret` and
/// `wrongsecret` on the same connector.
fn tomcat_httpd(mpm: Mpm, t: &Tomcat) -> Httpd {
    let root = ServerRoot::new(mpm);
    let wf = root.write(
        "conf/workers.properties",
        &format!(
            "worker.list=tc,nosecret,wrongsecret\n{}\
             worker.nosecret.host=127.0.0.1\nworker.nosecret.port={port}\n\
             worker.wrongsecret.host=127.0.0.1\nworker.wrongsecret.port={port}\nworker.wrongsecret.secret=guess\n",
            t.worker_properties_as("tc"),
            port = t.ajp_port
        ),
    );
    root.configure(&format!(
        "JkWorkersFile {wf}\nJkMount /* tc\nJkMount /nosecret/* nosecret\nJkMount /wrongsecret/* wrongsecret\n"
    ));
    root.start()
}

// ---------------------------------------------------------------------------------------

#[test]
fn f01_backend_down_at_start_is_skipped_and_rejoins_after_recover_time() {
    let f1 = FakeAjp::start("tomcat1", &[]);
    let f3 = FakeAjp::start("tomcat3", &[]);
    // Held (refused) until the backend comes up on it.
    let closed = common::ClosedPort::new();
    let down = closed.port;
    let members = [
        Member::fake(&f1, "tomcat1"),
        Member::at("tomcat2", "127.0.0.1", down),
        Member::fake(&f3, "tomcat3"),
        Member::at("tomcat4", "nosuch.invalid", 8009),
    ];
    let h = start_httpd(
        Mpm::Event,
        &members,
        "worker.lb.recover_time=2\nworker.maintain=1\n",
        "",
    );
    for i in 0..60 {
        let b = backend_of(&h, "/lb/echo", &[]);
        assert!(b == "tomcat1" || b == "tomcat3", "request {i} on {b}");
    }
    for m in ["tomcat2", "tomcat4"] {
        assert!(state(&h, m).starts_with("ERR"), "{m}: {}", state(&h, m));
    }
    // Back on its port: probed by a real request after recover_time, then it rejoins.
    drop(closed);
    let _f2 = FakeAjp::start_on("tomcat2", down);
    let deadline = Instant::now() + Duration::from_secs(15);
    let mut seen = 0;
    while seen < 3 {
        assert!(Instant::now() < deadline, "tomcat2 never rejoined");
        if backend_of(&h, "/lb/echo", &[]) == "tomcat2" {
            seen += 1;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(!state(&h, "tomcat2").starts_with("ERR"));
    h.assert_clean_log();
}

#[test]
fn f02_backend_dies_before_headers_get_retried_post_never_replayed() {
    let s = rig(Mpm::Event, "", "");
    let fake = &s.fakes[0];
    // The backend reads the request and closes: a GET may be retried (retries=2) ...
    let r = s.h.get("/app/fault/close_before_headers");
    assert_eq!(r.status, 502);
    let n = fake.wait_events("request", 2).len();
    assert_eq!(
        n,
        2,
        "GET retried once on a new connection:\n{}",
        fake.log()
    );
    // ... a POST never is: it reached the backend, which may have acted on it.
    let r =
        s.h.request("POST", "/app/fault/close_before_headers", &[], b"order=1");
    assert_eq!(r.status, 502);
    common::marker(&s.h, "/app/echo", &[], std::slice::from_ref(fake));
    assert_eq!(
        events_with(fake, "request", "/fault/close_before_headers"),
        3,
        "POST must not be replayed:\n{}",
        fake.log()
    );
    // Unreachable backend: 503, quickly.
    let t = Instant::now();
    assert_eq!(s.h.get("/dead/x").status, 503);
    assert!(t.elapsed().as_secs() < 10);
    assert_eq!(s.h.get("/app/echo").status, 200);
    // Behind the lb a POST whose member died is not sent to another member either.
    let cookie = sticky("tomcat2");
    let r = s.h.request(
        "POST",
        "/lb/fault/close_before_headers",
        &[("Cookie", &cookie)],
        b"order=2",
    );
    assert!(r.status >= 500, "{}", r.status);
    settle_lb(&s);
    let runs: usize = s
        .fakes
        .iter()
        .map(|f| events_with(f, "request", "\"uri\":\"/lb/fault/close_before_headers\""))
        .sum();
    assert_eq!(runs, 1, "the lb replayed the POST");
    s.h.assert_clean_log();
}

#[test]
fn f03_backend_dies_mid_body_the_client_sees_the_truncation() {
    let s = rig(Mpm::Event, "", "");
    assert_truncated(
        &raw_get(&s.h, "/app/fault/close_mid_body", ""),
        "close_mid_body",
    );
    // Behind the lb: no retry once headers went out, and the member is in error.
    let raw = raw_get(
        &s.h,
        "/lb/fault/close_mid_body",
        &format!("Cookie: {}\r\n", sticky("tomcat2")),
    );
    assert_truncated(&raw, "lb close_mid_body");
    settle_lb(&s);
    let runs: usize = s
        .fakes
        .iter()
        .map(|f| events_with(f, "request", "\"uri\":\"/lb/fault/close_mid_body\""))
        .sum();
    assert_eq!(runs, 1, "a response already started was retried");
    assert!(
        state(&s.h, "tomcat2").starts_with("ERR"),
        "{}",
        state(&s.h, "tomcat2")
    );
    assert_eq!(s.h.get("/app/echo").status, 200);
    s.h.assert_clean_log();
}

#[test]
fn f04_backend_hangs_before_replying_504_after_reply_timeout() {
    let s = rig(
        Mpm::Event,
        "worker.tomcat1.reply_timeout=800\nworker.lb.max_reply_timeouts=1\n",
        "",
    );
    let t = Instant::now();
    let r = s.h.get("/slow/fault/hang_before_headers/5000");
    assert_eq!(r.status, 504);
    assert!(
        t.elapsed().as_millis() < 4500,
        "reply_timeout 1500 ms, GET retried at most once"
    );
    assert_eq!(s.h.get("/slow/echo").status, 200);
    // The member goes to error only after more than max_reply_timeouts (1) timeouts.
    let cookie = sticky("tomcat1");
    let hang = |i: u32| {
        let r = s.h.request(
            "POST",
            "/lb/fault/hang_before_headers/3000",
            &[("Cookie", &cookie)],
            b"x",
        );
        assert_eq!(r.status, 504, "timeout {i}");
    };
    hang(1);
    assert_eq!(num(&s.h, "tomcat1", "reply_timeouts"), 1);
    assert!(!state(&s.h, "tomcat1").starts_with("ERR"));
    hang(2);
    assert!(
        state(&s.h, "tomcat1").starts_with("ERR"),
        "{}",
        state(&s.h, "tomcat1")
    );
    s.h.assert_clean_log();
}

#[test]
fn f05_backend_hangs_mid_body_the_client_is_cut_and_the_connection_closed() {
    let s = rig(Mpm::Event, "", "");
    // reply_timeout is 1500 ms: the client is cut long before the backend would finish.
    assert_truncated(
        &raw_get(&s.h, "/slow/fault/hang_mid_body/2500", ""),
        "hang_mid_body",
    );
    // The hung connection was closed, not pooled: the fake's late write ends it.
    let closes = s.fakes[0].wait_events("close", 1);
    assert!(!closes.is_empty(), "{}", s.fakes[0].log());
    assert_eq!(s.h.get("/slow/echo").status, 200);
    s.h.assert_clean_log();
}

#[test]
fn f06_tcp_accepted_but_no_cpong_gives_up_after_ping_timeout() {
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
    let t = Instant::now();
    assert_eq!(h.get("/m/echo").status, 503);
    assert!(t.elapsed().as_millis() < 3000);
    // The CPing was never answered, so no request was ever sent.
    assert!(fake.events("request").is_empty(), "{}", fake.log());
    h.assert_clean_log();
}

#[test]
fn f07_connect_black_hole_fails_after_socket_connect_timeout() {
    use socket2::{Domain, Socket, Type};
    // A listener with a backlog of 0 that never accepts: once its queue is full the
    // kernel drops further SYNs, like a firewall that swallows them.
    let hole = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
    hole.bind(
        &"127.0.0.1:0"
            .parse::<std::net::SocketAddr>()
            .unwrap()
            .into(),
    )
    .unwrap();
    hole.listen(0).unwrap();
    let addr = hole.local_addr().unwrap().as_socket().unwrap();
    let _fill: Vec<TcpStream> = (0..2)
        .filter_map(|_| TcpStream::connect_timeout(&addr, Duration::from_millis(500)).ok())
        .collect();
    assert!(
        TcpStream::connect_timeout(&addr, Duration::from_millis(500)).is_err(),
        "the black hole accepted a connection"
    );
    let f1 = FakeAjp::start("tomcat1", &[]);
    let f3 = FakeAjp::start("tomcat3", &[]);
    let members = [
        Member::fake(&f1, "tomcat1"),
        Member::at("tomcat2", "127.0.0.1", addr.port()),
        Member::fake(&f3, "tomcat3"),
    ];
    let h = start_httpd(
        Mpm::Event,
        &members,
        "worker.tomcat2.socket_connect_timeout=1000\n",
        "",
    );
    // The session's member cannot be reached: failover within a few connect timeouts.
    let t = Instant::now();
    let b = backend_of(&h, "/lb/echo", &[("Cookie", &sticky("tomcat2"))]);
    assert_ne!(b, "tomcat2");
    assert!(t.elapsed().as_secs() < 10, "{:?}", t.elapsed());
    assert!(state(&h, "tomcat2").starts_with("ERR"));
    for _ in 0..9 {
        assert_ne!(backend_of(&h, "/lb/echo", &[]), "tomcat2");
    }
    h.assert_clean_log();
}

#[test]
fn f08_stale_pooled_connections_after_a_tomcat_crash_cost_no_request() {
    let t = Tomcat::start("tcD", "tc-secret-D");
    let h = tomcat_httpd(Mpm::Prefork, &t);
    // Warm a pooled connection in every child.
    for _ in 0..30 {
        assert_eq!(h.get("/echo").status, 200);
    }
    t.kill9();
    t.start_again();
    // Every pooled connection is now dead: each must be detected before use.
    for i in 0..40 {
        let r = if i % 2 == 0 {
            h.get("/echo")
        } else {
            h.request("POST", "/count?id=stale", &[], b"x=1")
        };
        assert_eq!(r.status, 200, "request {i} after the restart: {}", r.text());
    }
    // Each POST ran exactly once.
    let (_, count) = t.http_get("/count?get=stale");
    assert_eq!(String::from_utf8_lossy(&count).trim(), "20");
    h.assert_clean_log();
}

#[test]
fn f09_idle_close_race_loses_no_get_and_runs_no_post_twice() {
    let s = rig(Mpm::Event, "", ONE_CHILD);
    let cookie = sticky("tomcat1");
    let hdr = [("Cookie", cookie.as_str())];
    let mut posts = Vec::new();
    for i in 0..30u64 {
        // The backend closes this pooled connection 40 ms after its END_RESPONSE; the
        // next request goes out 20..60 ms later, around that moment.
        let r = s.h.get_with("/lb/fault/close_after_end/40", &hdr);
        assert_eq!(r.status, 200, "iteration {i}");
        std::thread::sleep(Duration::from_millis(20 + (i * 7) % 41));
        if i % 2 == 0 {
            let r = s.h.get_with(&format!("/lb/echo?id=g{i}"), &hdr);
            assert_eq!(r.status, 200, "GET {i}: {}", r.text());
            assert_eq!(
                echo_field(&r.text(), "query"),
                Some(format!("id=g{i}").as_str())
            );
        } else {
            let r =
                s.h.request("POST", &format!("/lb/echo?id=p{i}"), &hdr, b"x=1");
            posts.push((i, r.status));
        }
    }
    common::marker(&s.h, "/lb/echo", &hdr, &s.fakes);
    let log = s.fakes[0].log();
    for (i, status) in posts {
        let runs: usize = s
            .fakes
            .iter()
            .map(|f| events_with(f, "request", &format!("\"query\":\"id=p{i}\"")))
            .sum();
        assert!(runs <= 1, "POST {i} ran {runs} times:\n{log}");
        if status == 200 {
            assert_eq!(runs, 1, "POST {i}");
        }
    }
    // A connection the backend closed while idle says nothing about the backend.
    assert_member_ok(&s.h, "tomcat1");
    s.h.assert_clean_log();
}

#[test]
fn f10_end_response_without_reuse_is_forwarded_and_the_connection_closed() {
    // The fake: the response arrives, the connection is not reused, nobody is blamed.
    let s = rig(Mpm::Prefork, "", "");
    let cookie = sticky("tomcat1");
    let r = s.h.get_with("/lb/fault/reuse0", &[("Cookie", &cookie)]);
    assert_eq!(r.status, 200);
    assert_eq!(echo_field(&r.text(), "uri"), Some("/lb/fault/reuse0"));
    assert!(!s.fakes[0].wait_events("close", 1).is_empty());
    let opens_before = s.fakes[0].events("open").len();
    assert_eq!(s.h.get_with("/lb/echo", &[("Cookie", &cookie)]).status, 200);
    assert!(s.fakes[0].wait_events("open", opens_before + 1).len() > opens_before);
    assert_member_ok(&s.h, "tomcat1");
    s.h.assert_clean_log();
    // Tomcat refuses a missing or wrong secret with 403 and END reuse=0.
    let t = Tomcat::start("tcB", "tc-secret-B");
    let h = tomcat_httpd(Mpm::Prefork, &t);
    assert_eq!(h.get("/nosecret/echo").status, 403);
    assert_eq!(h.get("/wrongsecret/echo").status, 403);
    // The right secret on the same Tomcat still works, and so does a retry after 403.
    assert_eq!(h.get("/echo").status, 200);
    assert_eq!(h.get("/wrongsecret/echo").status, 403);
    assert_eq!(h.get("/echo").status, 200);
    let log = h.jk_log();
    assert!(
        !log.contains("[error]"),
        "a 403 is Tomcat's answer, not a backend failure:\n{log}"
    );
    h.assert_clean_log();
}

#[test]
fn f11_malformed_backend_replies_give_502_close_and_recover() {
    let s = rig(Mpm::Event, "", "");
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
    // Statuses no HTTP response may carry.
    for status in [0, 1, 100, 101, 1000] {
        let r = s.h.get(&format!("/app/status/{status}"));
        assert_eq!(r.status, 502, "status {status}");
    }
    // Every faulty connection was closed by us, none reused.
    let opens = s.fakes[0].events("open").len();
    assert!(
        opens >= faults.len(),
        "each fault's connection must be replaced: {opens}\n{}",
        s.fakes[0].log()
    );
    // Behind the lb a protocol error is the member's local error, never ERR.
    for f in ["bad_magic", "no_nul", "end_no_headers"] {
        let r =
            s.h.get_with(&format!("/lb/fault/{f}"), &[("Cookie", &sticky("tomcat2"))]);
        assert_eq!(r.status, 502, "{f}");
    }
    for m in ["tomcat1", "tomcat2", "tomcat3"] {
        assert!(!state(&s.h, m).starts_with("ERR"), "{m}");
    }
    s.h.assert_clean_log();
}

#[test]
fn f12_get_body_chunk_ffff_is_answered_with_at_most_one_packet() {
    let s = rig(Mpm::Event, "", "");
    let body: Vec<u8> = (0..20_000).map(|i| (i % 249) as u8).collect();
    let r = s.h.request("POST", "/app/fault/getbody_ffff", &[], &body);
    assert_eq!(r.status, 200);
    let t = r.text();
    assert_eq!(echo_field(&t, "body_len"), Some("20000"));
    assert_eq!(echo_field(&t, "body_fnv"), Some(fnv1a(&body).as_str()));
    assert!(events_with(&s.fakes[0], "sent", "\"requested\":65535") >= 2);
    // 0xFFFF is a length, not -1: every answer fits one 8 KiB packet.
    for p in s.fakes[0].events("packet") {
        if let Some(d) = p.split("\"data\":").nth(1) {
            let n: usize = d.split([',', '}']).next().unwrap().parse().unwrap();
            assert!(n <= 8186, "{p}");
        }
    }
    // No body at all: the request for one gets the empty packet.
    let r = s.h.get("/app/fault/getbody_ffff");
    assert_eq!(r.status, 200);
    assert_eq!(echo_field(&r.text(), "body_len"), Some("0"));
    assert_eq!(s.h.get("/app/echo").status, 200);
    s.h.assert_clean_log();
}

#[test]
fn f13_stray_bytes_after_end_never_reach_the_next_request() {
    let s = rig(Mpm::Prefork, "worker.t1.connection_pool_size=1\n", "");
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
    s.h.assert_clean_log();
}

#[test]
fn f14_flush_packets_before_headers_and_mid_body_are_harmless() {
    let s = rig(Mpm::Event, "", ONE_CHILD);
    let r = s.h.get("/app/fault/flush_before_headers");
    assert_eq!(r.status, 200);
    assert_eq!(r.body, b"ab");
    let r = s.h.get("/app/flush");
    assert_eq!(r.status, 200);
    assert_eq!(r.text(), "first\nsecond\n");
    // Flushes are no reason to give up the connection.
    assert_eq!(s.h.get("/app/echo").status, 200);
    assert_eq!(s.fakes[0].events("open").len(), 1, "{}", s.fakes[0].log());
    s.h.assert_clean_log();
}

#[test]
fn f15_oversized_request_headers_get_413_and_the_member_stays_ok() {
    let big_fake = FakeAjp::start("big", &["--max-packet", "65536"]);
    let s = rig(
        Mpm::Event,
        &format!(
            "worker.list=big\nworker.big.host=127.0.0.1\nworker.big.port={}\nworker.big.max_packet_size=65536\n",
            big_fake.port
        ),
        "JkMount /big/* big\n",
    );
    let v = "a".repeat(4000);
    let headers = [
        ("X-1", v.as_str()),
        ("X-2", v.as_str()),
        ("X-3", v.as_str()),
    ];
    assert_eq!(s.h.get_with("/app/echo", &headers).status, 413);
    let cookie = sticky("tomcat2");
    let mut lb_headers = headers.to_vec();
    lb_headers.push(("Cookie", &cookie));
    assert_eq!(s.h.get_with("/lb/echo", &lb_headers).status, 413);
    for f in &s.fakes {
        assert!(f.events("request").is_empty(), "{}", f.log());
    }
    assert_member_ok(&s.h, "tomcat2");
    assert_eq!(
        backend_of(&s.h, "/lb/echo", &[("Cookie", &cookie)]),
        "tomcat2"
    );
    // With 64 KiB packets on both sides the same headers pass.
    let r = s.h.get_with("/big/echo", &headers);
    assert_eq!(r.status, 200);
    assert_eq!(
        echo_field(&r.text(), "header:X-3").map(str::len),
        Some(4000)
    );
    s.h.assert_clean_log();
}

#[test]
fn f16_request_body_with_content_length_arrives_exactly() {
    let s = rig(Mpm::Event, "", "");
    let sizes = [0usize, 1, 8186, 8187, 65536, 1 << 20];
    for len in sizes {
        let body: Vec<u8> = (0..len).map(|i| (i * 7 % 251) as u8).collect();
        let r = s.h.request("POST", "/app/echo", &[], &body);
        assert_eq!(r.status, 200, "len {len}");
        let t = r.text();
        assert_eq!(echo_field(&t, "body_len"), Some(len.to_string().as_str()));
        assert_eq!(echo_field(&t, "body_fnv"), Some(fnv1a(&body).as_str()));
        assert!(t.contains(&format!("header:content-length={len}")), "{t}");
    }
    // Exactly one unsolicited packet per request with a body, none for length 0.
    let bodies = s.fakes[0].wait_events("body", sizes.len());
    assert!(bodies[0].contains("\"packets\":0"), "{}", bodies[0]);
    let unsolicited = events_with(&s.fakes[0], "packet", "\"solicited\":false");
    assert_eq!(unsolicited, sizes.len() - 1, "{}", s.fakes[0].log());
    // The backend answers without reading the rest: nothing more goes on that connection.
    let body = vec![b'u'; 100_000];
    let r = s.h.request("POST", "/app/fault/reject_unread", &[], &body);
    assert_eq!(r.status, 413);
    for _ in 0..3 {
        assert_eq!(s.h.get("/app/echo").status, 200);
    }
    assert!(
        events_with(&s.fakes[0], "packet", "UNEXPECTED") == 0,
        "{}",
        s.fakes[0].log()
    );
    s.h.assert_clean_log();
}

#[test]
fn f17_chunked_request_body_is_pulled_by_the_backend() {
    let s = rig(Mpm::Event, "", "");
    for len in [0usize, 1, 100_000] {
        let payload: Vec<u8> = (0..len).map(|i| (i % 253) as u8).collect();
        let mut raw = b"POST /app/echo HTTP/1.1\r\nHost: x\r\nConnection: close\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
        raw.extend(chunked(&payload, &[30_000]));
        let r = parse_response(&s.h.raw(&raw)).unwrap();
        assert_eq!(r.status, 200, "len {len}");
        let t = r.text();
        assert_eq!(echo_field(&t, "body_len"), Some(len.to_string().as_str()));
        assert_eq!(echo_field(&t, "body_fnv"), Some(fnv1a(&payload).as_str()));
        assert!(!t.contains("header:content-length"), "{t}");
    }
    // No unsolicited packet (the backend asks first), and each body ends with the empty one.
    let log = s.fakes[0].log();
    assert_eq!(
        events_with(&s.fakes[0], "packet", "\"solicited\":false"),
        0,
        "{log}"
    );
    assert_eq!(
        events_with(&s.fakes[0], "packet", "\"data\":0,"),
        3,
        "one end-of-body packet per request:\n{log}"
    );
    s.h.assert_clean_log();
}

/// A chunked upload's chunks are packed into full AJP packets, as mod_jk does: 15 chunks
/// of 7000 bytes leave as 12 packets of 8186 bytes and one of 6768, not as 15 round trips.
#[test]
fn f17_chunked_upload_is_packed_into_full_packets() {
    let s = rig(Mpm::Event, "", "");
    let payload: Vec<u8> = (0..15 * 7000).map(|i| (i % 251) as u8).collect();
    let mut raw = b"POST /app/echo HTTP/1.1\r\nHost: x\r\nConnection: close\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
    raw.extend(chunked(&payload, &[7000; 15]));
    let r = parse_response(&s.h.raw(&raw)).unwrap();
    assert_eq!(r.status, 200);
    assert_eq!(
        echo_field(&r.text(), "body_fnv"),
        Some(fnv1a(&payload).as_str())
    );
    s.fakes[0].wait_events("body", 1);
    let sizes = s.fakes[0].body_packet_sizes(0);
    let mut expected = vec![8186; 12];
    expected.extend([6768, 0]);
    assert_eq!(sizes, expected, "{}", s.fakes[0].log());
}

#[test]
fn f18_expect_100_continue_gets_one_final_response() {
    let s = rig(Mpm::Event, "", "");
    let r = s.h.request(
        "PUT",
        "/app/echo",
        &[("Expect", "100-continue")],
        b"continued",
    );
    assert!(r.text().contains("HTTP/1.1 200 OK"), "{}", r.text());
    assert_eq!(echo_field(&r.text(), "body_len"), Some("9"));
    // A backend that refuses without reading the body: no hang, one final response.
    let mut c = s.h.connect();
    c.write_all(
        b"POST /app/fault/reject_unread HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\
          Expect: 100-continue\r\nContent-Length: 1000000\r\n\r\n",
    )
    .unwrap();
    let mut first = [0u8; 64];
    let n = c.read(&mut first).unwrap();
    let mut got = first[..n].to_vec();
    if got.starts_with(b"HTTP/1.1 100") {
        // The body may be refused midway: the server may close before taking it all.
        let _ = c.write_all(&vec![b'b'; 1_000_000]);
    }
    let _ = c.read_to_end(&mut got);
    let text = String::from_utf8_lossy(&got).into_owned();
    let finals: Vec<&str> = text
        .split("\r\n")
        .filter(|l| l.starts_with("HTTP/1.1 ") && !l.starts_with("HTTP/1.1 100"))
        .collect();
    assert_eq!(finals.len(), 1, "{text}");
    assert!(finals[0].starts_with("HTTP/1.1 413"), "{text}");
    assert_eq!(s.h.get("/app/echo").status, 200);
    s.h.assert_clean_log();
}

#[test]
fn f19_content_length_zero_sends_no_body_packet() {
    let s = rig(Mpm::Event, "", "");
    for method in ["POST", "GET", "PUT"] {
        let r =
            s.h.request(method, "/app/echo", &[("Content-Length", "0")], b"");
        assert_eq!(r.status, 200, "{method}");
        assert_eq!(echo_field(&r.text(), "body_len"), Some("0"));
    }
    s.fakes[0].wait_events("body", 3);
    let log = s.fakes[0].log();
    assert_eq!(
        events_with(&s.fakes[0], "packet", "\"type\":\"BODY\""),
        0,
        "{log}"
    );
    assert_eq!(events_with(&s.fakes[0], "packet", "UNEXPECTED"), 0, "{log}");
    s.h.assert_clean_log();
}

#[test]
fn f20_client_abort_mid_upload_never_leaves_a_reusable_connection() {
    let s = rig(
        Mpm::Prefork,
        "worker.t1.connection_pool_size=1\nworker.tomcat2.connection_pool_size=1\n",
        "",
    );
    let cookie = sticky("tomcat2");
    for path in ["/app/echo", "/lb/echo"] {
        for _ in 0..3 {
            let mut c = TcpStream::connect(s.h.addr()).unwrap();
            c.write_all(
                format!(
                    "POST {path} HTTP/1.1\r\nHost: x\r\nCookie: {cookie}\r\nContent-Length: 100000\r\n\r\n"
                )
                .as_bytes(),
            )
            .unwrap();
            c.write_all(&[b'x'; 20000]).unwrap();
            drop(c);
        }
    }
    // httpd finished each aborted upload (it logs a request once done with it).
    s.h.wait_requests_logged("POST /app/echo ", 3);
    s.h.wait_requests_logged("POST /lb/echo ", 3);
    // Every later request gets its own correct response (CVE-2008-5519).
    for i in 0..10 {
        let body = format!("request-{i}");
        for path in ["/app/echo", "/lb/echo"] {
            let r =
                s.h.request("POST", path, &[("Cookie", &cookie)], body.as_bytes());
            assert_eq!(r.status, 200);
            assert_eq!(
                echo_field(&r.text(), "body_fnv"),
                Some(fnv1a(body.as_bytes()).as_str())
            );
        }
    }
    assert_member_ok(&s.h, "tomcat2");
    s.h.assert_clean_log();
}

#[test]
fn f21_client_abort_mid_download_releases_the_backend() {
    let s = rig(Mpm::Event, "", "");
    let cookie = format!("Cookie: {}\r\n", sticky("tomcat2"));
    let (mut reader, head) = open_download(s.h.addr(), "/lb/size/20000000", &cookie);
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    let mut some = vec![0u8; 100_000];
    reader.read_exact(&mut some).unwrap();
    drop(reader);
    // The backend connection is closed (20 MB is no amount to drain) ...
    let closes = s.fakes[1].wait_events("close", 1);
    assert_eq!(closes.len(), 1, "{}", s.fakes[1].log());
    // ... the busy count returns to 0 and the member was not blamed.
    let deadline = Instant::now() + Duration::from_secs(10);
    while num(&s.h, "tomcat2", "busy") != 0 {
        assert!(Instant::now() < deadline, "busy stuck");
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_member_ok(&s.h, "tomcat2");
    let r =
        s.h.get_with("/lb/size/1000", &[("Cookie", &sticky("tomcat2"))]);
    assert_eq!(r.status, 200);
    assert_eq!(r.body.len(), 1000);
    s.h.assert_clean_log();
}

#[test]
fn f22_slow_reading_clients_do_not_grow_httpd_memory() {
    let s = rig(Mpm::Event, "", ONE_CHILD);
    for _ in 0..5 {
        assert_eq!(s.h.get("/app/size/100000").body.len(), 100_000);
    }
    let before = s.h.children_peak_rss_kib();
    let n: usize = 20 << 20;
    // Three clients that take their 20 MiB slowly: the backend must wait for them.
    let mut clients: Vec<_> = (0..3)
        .map(|_| open_download(s.h.addr(), &format!("/app/size/{n}"), ""))
        .collect();
    std::thread::sleep(Duration::from_millis(1500));
    let during = s.h.children_peak_rss_kib();
    let readers: Vec<_> = clients
        .drain(..)
        .map(|(mut r, head)| {
            std::thread::spawn(move || {
                assert!(head.starts_with("HTTP/1.1 200"), "{head}");
                read_size_body(&mut r, Duration::from_millis(1))
            })
        })
        .collect();
    for r in readers {
        assert_eq!(r.join().unwrap(), (n, None));
    }
    let after = s.h.children_peak_rss_kib();
    assert!(
        during < before + 16 * 1024 && after < before + 16 * 1024,
        "httpd child peak RSS grew from {before} KiB to {during} / {after} KiB"
    );
    s.h.assert_clean_log();
}

#[test]
fn f23_slow_uploading_client_is_ended_by_timeout_and_the_slot_released() {
    let s = rig(
        Mpm::Event,
        "worker.tomcat1.connection_pool_size=1\nworker.tomcat1.connection_acquire_timeout=1000\n",
        &format!("{ONE_CHILD}Timeout 2\n"),
    );
    let cookie = sticky("tomcat1");
    let mut c = TcpStream::connect(s.h.addr()).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    c.write_all(
        format!("POST /lb/echo HTTP/1.1\r\nHost: x\r\nCookie: {cookie}\r\nContent-Length: 100000\r\n\r\n")
            .as_bytes(),
    )
    .unwrap();
    c.write_all(&[b's'; 20_000]).unwrap();
    // Then nothing: httpd's Timeout ends the request, the backend sees the body end.
    let mut out = Vec::new();
    let _ = c.read_to_end(&mut out);
    let text = String::from_utf8_lossy(&out);
    assert!(!text.starts_with("HTTP/1.1 200"), "{text}");
    let deadline = Instant::now() + Duration::from_secs(10);
    while s.fakes[0].events("close").is_empty()
        && events_with(&s.fakes[0], "body", "\"short\":true") == 0
    {
        assert!(Instant::now() < deadline, "{}", s.fakes[0].log());
        std::thread::sleep(Duration::from_millis(50));
    }
    drop(c);
    // The single pool slot is free again and no body bytes leak into the next request.
    for i in 0..5 {
        let body = format!("after-{i}");
        let r =
            s.h.request("POST", "/lb/echo", &[("Cookie", &cookie)], body.as_bytes());
        assert_eq!(r.status, 200, "{}", r.text());
        assert_eq!(
            echo_field(&r.text(), "body_fnv"),
            Some(fnv1a(body.as_bytes()).as_str())
        );
    }
    assert_member_ok(&s.h, "tomcat1");
    s.h.assert_clean_log();
}

/// Two pipelined requests; the first response must end exactly at its header block.
fn assert_bodiless_then_next(h: &Httpd, method: &str, path: &str) {
    let raw = h.raw(
        format!(
            "{method} {path} HTTP/1.1\r\nHost: x\r\n\r\nGET /app/echo?id=next HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
        )
        .as_bytes(),
    );
    let end = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or_else(|| panic!("{path}: {}", String::from_utf8_lossy(&raw)));
    let rest = &raw[end + 4..];
    // httpd may drop the connection after some error statuses: then nothing may follow.
    let closed = String::from_utf8_lossy(&raw[..end]).contains("Connection: close");
    if closed && rest.is_empty() {
        return;
    }
    assert!(
        rest.starts_with(b"HTTP/1.1 200"),
        "{method} {path}: bytes after the header block: {}",
        String::from_utf8_lossy(&raw)
    );
    let next = parse_response(rest).unwrap();
    assert_eq!(echo_field(&next.text(), "query"), Some("id=next"));
}

#[test]
fn f24_head_responses_carry_no_body() {
    let s = rig(Mpm::Event, "", "");
    for path in ["/app/size/100", "/app/status/404", "/app/status/500"] {
        assert_bodiless_then_next(&s.h, "HEAD", path);
    }
    s.h.assert_clean_log();
}

#[test]
fn f25_204_and_304_carry_no_body_even_when_the_backend_sends_one() {
    let s = rig(Mpm::Event, "", "");
    for path in ["/app/status/204", "/app/fault/not_modified_body"] {
        assert_bodiless_then_next(&s.h, "GET", path);
    }
    s.h.assert_clean_log();
}

#[test]
fn f26_backend_content_length_mismatch_is_never_delivered_as_framed() {
    let s = rig(Mpm::Event, "", "");
    let raw = s.h.raw(
        b"GET /app/fault/cl_mismatch HTTP/1.1\r\nHost: x\r\n\r\n\
          GET /app/echo?id=next HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    );
    let text = String::from_utf8_lossy(&raw).into_owned();
    match text.match_indices("HTTP/1.1 ").nth(1) {
        // The follow-up got a response: the first one must be framed by what was sent.
        Some((at, _)) => {
            let first = parse_response(&raw[..at]).unwrap();
            let declared = first
                .header("Content-Length")
                .and_then(|l| l.parse::<usize>().ok());
            assert!(
                declared.is_none_or(|l| l == first.body.len()) || first.status == 502,
                "{text}"
            );
            let next = parse_response(&raw[at..]).unwrap();
            assert_eq!(echo_field(&next.text(), "query"), Some("id=next"), "{text}");
        }
        // Otherwise the connection was cut after an incomplete first response.
        None => {
            let r = parse_response(&raw);
            assert!(
                r.as_ref().is_none_or(|r| r
                    .header("Content-Length")
                    .and_then(|l| l.parse::<usize>().ok())
                    != Some(r.body.len())
                    || r.status == 502),
                "{text}"
            );
        }
    }
    assert_eq!(s.h.get("/app/echo").status, 200);
    s.h.assert_clean_log();
}

#[test]
fn f27_pool_exhaustion_waits_connection_acquire_timeout_then_503() {
    // One connection per child and one child: the second concurrent request waits
    // connection_acquire_timeout, then gets 503 without touching the backend.
    let s = rig(
        Mpm::Event,
        "worker.t1.connection_pool_size=1\nworker.t1.connection_acquire_timeout=300\n",
        ONE_CHILD,
    );
    let port = s.h.addr();
    let slow = std::thread::spawn(move || {
        let mut c = TcpStream::connect(port).unwrap();
        c.write_all(b"GET /app/sleep/3000 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            .unwrap();
        let mut out = String::new();
        let _ = c.read_to_string(&mut out);
        out
    });
    assert_eq!(s.fakes[0].wait_events("request", 1).len(), 1);
    let t = Instant::now();
    let r = s.h.get("/app/echo");
    assert_eq!(r.status, 503);
    // It waited for a slot (the held one is busy for 3 s, longer than any wait here).
    let waited = t.elapsed().as_millis();
    assert!(waited >= 250, "waited {waited} ms");
    assert_eq!(
        s.fakes[0].events("request").len(),
        1,
        "{}",
        s.fakes[0].log()
    );
    assert!(slow.join().unwrap().starts_with("HTTP/1.1 200"));
    // The slot came back: no deadlock, no leaked connection.
    assert_eq!(s.h.get("/app/echo").status, 200);
    assert_eq!(s.fakes[0].events("open").len(), 1, "{}", s.fakes[0].log());
    s.h.assert_clean_log();
}

#[test]
fn f28_busy_limit_moves_requests_and_all_busy_is_503_not_error() {
    let s = rig(
        Mpm::Event,
        "worker.tomcat1.busy_limit=1\nworker.tomcat2.busy_limit=1\nworker.tomcat3.busy_limit=1\n",
        "",
    );
    let port = s.h.addr();
    let hold = |member: &'static str, ms: u32| {
        std::thread::spawn(move || {
            let mut c = TcpStream::connect(port).unwrap();
            c.write_all(
                format!(
                    "GET /lb/sleep/{ms} HTTP/1.1\r\nHost: x\r\nCookie: JSESSIONID=a.{member}\r\nConnection: close\r\n\r\n"
                )
                .as_bytes(),
            )
            .unwrap();
            let mut out = String::new();
            let _ = c.read_to_string(&mut out);
            out
        })
    };
    // One slow request on tomcat1: new requests skip it.
    let h1 = hold("tomcat1", 4000);
    assert_eq!(s.fakes[0].wait_events("request", 1).len(), 1);
    let sp = spread_over(&s.h, "/lb/echo", 6);
    assert_eq!(sp.get("tomcat1"), None, "{sp:?}");
    // All three busy: 503 at once, and busy is not an error.
    let (n2, n3) = (
        s.fakes[1].events("request").len(),
        s.fakes[2].events("request").len(),
    );
    let h2 = hold("tomcat2", 3000);
    let h3 = hold("tomcat3", 3000);
    s.fakes[1].wait_events("request", n2 + 1);
    s.fakes[2].wait_events("request", n3 + 1);
    // Nothing waits for a busy member: were it to, the holds would end and this pass.
    assert_eq!(s.h.get("/lb/echo").status, 503);
    for h in [h1, h2, h3] {
        assert!(h.join().unwrap().starts_with("HTTP/1.1 200"));
    }
    for m in ["tomcat1", "tomcat2", "tomcat3"] {
        assert_member_ok(&s.h, m);
    }
    assert_eq!(spread_over(&s.h, "/lb/echo", 3).len(), 3);
    s.h.assert_clean_log();
}

#[test]
fn f29_all_members_in_error_force_one_recovery_then_503() {
    let mut s = rig(Mpm::Event, "worker.lb.recover_time=60\n", "");
    assert_eq!(spread_over(&s.h, "/lb/echo", 3).len(), 3);
    let ports: Vec<u16> = s.fakes.iter().map(|f| f.port).collect();
    s.fakes.clear();
    for i in 0..2 {
        let t = Instant::now();
        assert_eq!(s.h.get("/lb/echo").status, 503, "attempt {i}");
        assert!(t.elapsed().as_secs() < 10, "{:?}", t.elapsed());
    }
    for m in ["tomcat1", "tomcat2", "tomcat3"] {
        assert!(state(&s.h, m).starts_with("ERR"), "{m}");
    }
    // One member is back long before recover_time: the forced recovery finds it.
    let _back = FakeAjp::start_on("tomcat2", ports[1]);
    assert_eq!(backend_of(&s.h, "/lb/echo", &[]), "tomcat2");
    s.h.assert_clean_log();
}

#[test]
fn f30_graceful_restarts_let_transfers_in_flight_finish_byte_exact() {
    let s = rig(Mpm::Event, "", "ServerLimit 8\nMaxRequestWorkers 64\n");
    let pid = s.h.pid();
    let fds = || {
        std::fs::read_dir(format!("/proc/{pid}/fd"))
            .unwrap()
            .count()
    };
    let shm_files = |h: &Httpd| {
        std::fs::read_dir(h.root.dir.join("logs"))
            .unwrap()
            .flatten()
            .filter(|e| {
                e.file_name()
                    .to_string_lossy()
                    .starts_with("jk-runtime-status")
            })
            .count()
    };
    assert_eq!(s.h.get("/app/echo").status, 200);
    s.h.restart(true);
    let (fds_before, shm_before) = (fds(), shm_files(&s.h));
    let n: usize = 8 << 20;
    let downloads: Vec<_> = (0..3)
        .map(|i| {
            let path = if i == 0 {
                format!("/app/size/{n}")
            } else {
                format!("/lb/size/{n}")
            };
            let (mut r, head) = open_download(s.h.addr(), &path, "");
            std::thread::spawn(move || {
                assert!(head.starts_with("HTTP/1.1 200"), "{head}");
                read_size_body(&mut r, Duration::from_millis(20))
            })
        })
        .collect();
    let port = s.h.addr();
    let upload = std::thread::spawn(move || {
        let body: Vec<u8> = (0..(3 << 20)).map(|i| (i % 241) as u8).collect();
        let mut c = TcpStream::connect(port).unwrap();
        c.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
        c.write_all(
            format!(
                "POST /lb/echo HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: {}\r\n\r\n",
                body.len()
            )
            .as_bytes(),
        )
        .unwrap();
        for chunk in body.chunks(64 * 1024) {
            c.write_all(chunk).unwrap();
            std::thread::sleep(Duration::from_millis(25));
        }
        let mut out = Vec::new();
        let _ = c.read_to_end(&mut out);
        (parse_response(&out), fnv1a(&body), body.len())
    });
    for _ in 0..3 {
        std::thread::sleep(Duration::from_millis(300));
        s.h.restart(true);
        assert_eq!(s.h.get("/lb/echo").status, 200, "new generation serves");
    }
    for d in downloads {
        assert_eq!(d.join().unwrap(), (n, None));
    }
    let (r, fnv, len) = upload.join().unwrap();
    let r = r.expect("upload response");
    assert_eq!(r.status, 200);
    assert_eq!(
        echo_field(&r.text(), "body_len"),
        Some(len.to_string().as_str())
    );
    assert_eq!(echo_field(&r.text(), "body_fnv"), Some(fnv.as_str()));
    // Nothing accumulates per generation in the parent.
    assert!(fds() <= fds_before, "parent fds {fds_before} -> {}", fds());
    assert_eq!(shm_files(&s.h), shm_before);
    s.h.assert_clean_log();
}

#[test]
fn f31_sticky_sessions_follow_the_route_and_fail_over_when_it_dies() {
    let mut s = rig(Mpm::Prefork, "", "");
    for _ in 0..20 {
        assert_eq!(
            backend_of(&s.h, "/lb/echo", &[("Cookie", "JSESSIONID=ABC123.tomcat3")]),
            "tomcat3"
        );
        assert_eq!(
            backend_of(&s.h, "/lb/echo;jsessionid=XYZ.tomcat1", &[]),
            "tomcat1"
        );
        assert_eq!(
            backend_of(&s.h, "/lb/a;jsessionid=XYZ.tomcat2/echo", &[]),
            "tomcat2"
        );
    }
    // Several cookies: the first whose route exists wins.
    let c = "JSESSIONID=old.gone; JSESSIONID=new.tomcat2";
    assert_eq!(backend_of(&s.h, "/lb/echo", &[("Cookie", c)]), "tomcat2");
    // The forwarded request carries the member's route.
    let reqs = s.fakes[2].events("request");
    assert!(
        reqs.iter().any(|r| r.contains("\"route\":\"tomcat3\"")),
        "{reqs:?}"
    );
    // The session's member dies: its requests go on elsewhere.
    drop(s.fakes.remove(2));
    for _ in 0..5 {
        assert_ne!(
            backend_of(&s.h, "/lb/echo", &[("Cookie", "JSESSIONID=ABC123.tomcat3")]),
            "tomcat3"
        );
    }
    s.h.assert_clean_log();
}

#[test]
fn f32_activation_disabled_and_stopped_reach_every_child() {
    let s = rig(Mpm::Prefork, "worker.tomcat2.activation=D\n", "");
    assert!(s.h.wait_children(3) >= 3, "several children serve");
    let on2 = |h: &Httpd, n: usize, cookie: Option<&str>| {
        (0..n)
            .filter(|_| {
                let hd: Vec<(&str, &str)> = cookie.iter().map(|c| ("Cookie", *c)).collect();
                backend_of(h, "/lb/echo", &hd) == "tomcat2"
            })
            .count()
    };
    let c2 = sticky("tomcat2");
    // Disabled: no new sessions, its own sessions still served.
    assert_eq!(on2(&s.h, 30, None), 0);
    assert_eq!(on2(&s.h, 20, Some(&c2)), 20);
    // Stopped through the manager: nothing at all, in every child.
    let r =
        s.h.get("/jkstatus/?cmd=update&w=lb&sw=tomcat2&vwa=2&mime=txt");
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(on2(&s.h, 20, Some(&c2)), 0);
    assert_eq!(on2(&s.h, 30, None), 0);
    // Active again: it takes new sessions.
    let r =
        s.h.get("/jkstatus/?cmd=update&w=lb&sw=tomcat2&vwa=0&mime=txt");
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(on2(&s.h, 30, None) > 0);
    s.h.assert_clean_log();
}

#[test]
fn f33_fail_on_status_fails_over_and_the_minus_sign_spares_the_member() {
    for (rule, blamed) in [("503", true), ("-503", false)] {
        let fakes = vec![
            FakeAjp::start("tomcat1", &[]),
            FakeAjp::start("tomcat2", &["--scenario", "unavailable"]),
            FakeAjp::start("tomcat3", &[]),
        ];
        let s = rig_with(
            Mpm::Event,
            fakes,
            &format!("worker.tomcat2.fail_on_status={rule}\n"),
            "",
        );
        // A POST is not sent to another member: the client gets 503.
        let c2 = sticky("tomcat2");
        let r =
            s.h.request("POST", "/lb/echo?id=post", &[("Cookie", &c2)], b"x");
        assert_eq!(r.status, 503, "{rule}");
        for f in [&s.fakes[0], &s.fakes[2]] {
            assert_eq!(events_with(f, "request", "id=post"), 0, "{rule}");
        }
        if blamed {
            assert!(state(&s.h, "tomcat2").starts_with("ERR"), "{rule}");
        } else {
            assert_member_ok(&s.h, "tomcat2");
        }
        // GETs fail over: the client never sees the member's 503.
        for _ in 0..12 {
            assert_ne!(backend_of(&s.h, "/lb/echo", &[]), "tomcat2", "{rule}");
        }
        if !blamed {
            assert!(
                s.fakes[1].events("request").len() > 1,
                "{rule}: still tried"
            );
            assert_member_ok(&s.h, "tomcat2");
        }
        s.h.assert_clean_log();
    }
}

#[test]
fn f34_client_errors_never_degrade_a_member() {
    let s = rig(Mpm::Event, "", "");
    let c2 = sticky("tomcat2");
    let cookie = format!("Cookie: {c2}\r\n");
    // Oversized headers.
    let v = "a".repeat(4000);
    let r = s.h.get_with(
        "/lb/echo",
        &[("Cookie", &c2), ("X-1", &v), ("X-2", &v), ("X-3", &v)],
    );
    assert_eq!(r.status, 413);
    // Unknown methods are forwarded (stored method), not blamed on anyone.
    for m in ["FOOBAR", "MKACTIVITY", &"M".repeat(64)] {
        let r = s.h.request(m, "/lb/echo", &[("Cookie", &c2)], b"");
        assert!(r.status == 200 || r.status == 501, "{m}: {}", r.status);
    }
    // A body announced and never sent.
    let mut c = TcpStream::connect(s.h.addr()).unwrap();
    c.write_all(
        format!(
            "POST /lb/echo HTTP/1.1\r\nHost: x\r\n{cookie}Content-Length: 100\r\n\r\n0123456789"
        )
        .as_bytes(),
    )
    .unwrap();
    c.shutdown(std::net::Shutdown::Write).unwrap();
    let mut out = Vec::new();
    let _ = c.read_to_end(&mut out);
    // A client that goes away mid-download.
    let (mut reader, _) = open_download(s.h.addr(), "/lb/size/20000000", &cookie);
    let mut some = vec![0u8; 10_000];
    reader.read_exact(&mut some).unwrap();
    drop(reader);
    // httpd is done with the abandoned download once it logged it.
    s.h.wait_requests_logged("GET /lb/size/20000000 ", 1);
    assert_member_ok(&s.h, "tomcat2");
    assert_eq!(backend_of(&s.h, "/lb/echo", &[("Cookie", &c2)]), "tomcat2");
    s.h.assert_clean_log();
}

#[test]
fn f35_status_page_refuses_cross_site_readonly_and_script_attacks() {
    let s = rig(Mpm::Event, "", "");
    let update = "/jkstatus/?cmd=update&w=lb&sw=tomcat2&vwa=2";
    for h in [
        ("Sec-Fetch-Site", "cross-site"),
        ("Origin", "http://evil.example"),
        ("Referer", "http://evil.example/page"),
    ] {
        let r = s.h.get_with(update, &[h]);
        assert_eq!(r.status, 403, "{h:?}");
    }
    // A POST without the form's CSRF token is refused as well.
    let r = s.h.request(
        "POST",
        "/jkstatus/",
        &[("Content-Type", "application/x-www-form-urlencoded")],
        b"cmd=update&w=lb&sw=tomcat2&vwa=2",
    );
    assert_eq!(r.status, 403);
    // The read-only manager never changes anything.
    assert_eq!(
        s.h.get("/jkstatus_ro/?cmd=update&w=lb&sw=tomcat2&vwa=2")
            .status,
        403
    );
    assert_eq!(prop(&s.h, "tomcat2", "activation"), "ACT");
    // A hostile value is escaped in HTML.
    let r =
        s.h.get("/jkstatus/?cmd=show&w=%3Cscript%3Ealert(1)%3C/script%3E");
    assert!(!r.text().contains("<script>alert(1)"), "{}", r.text());
    s.h.assert_clean_log();
}
