//! Worker attributes that change how the connector talks to a backend: CPing probes
//! (prepost_timeout, connection_ping_interval), retries (retries, retry_interval,
//! recovery_options) and the lb's session path parameter (session_path). Each test
//! watches the fake backend's event log and fails when the attribute is ignored.

mod common;
#[allow(dead_code)]
#[path = "differential/json.rs"]
mod json;

use common::{FakeAjp, Httpd, KeepAlive, Mpm, ServerRoot};
use json::Json;
use std::time::{Duration, Instant};

/// Plain ajp13 workers on one fake: `w` mounted at /app/*, plus the workers defined in
/// `workers_extra` (`PORT` stands for the fake's port) and `conf_extra` for httpd.conf.
fn single(workers_extra: &str, conf_extra: &str) -> (Httpd, FakeAjp) {
    let fake = FakeAjp::start("fake", &[]);
    let root = ServerRoot::new(Mpm::Event);
    let mut list = vec!["w"];
    list.extend(
        workers_extra
            .lines()
            .filter_map(|l| l.strip_prefix("worker.")?.strip_suffix(".host=127.0.0.1")),
    );
    let wf = root.write(
        "conf/workers.properties",
        &format!(
            "worker.list={}\nworker.w.host=127.0.0.1\nworker.w.port={}\n{}",
            list.join(","),
            fake.port,
            workers_extra.replace("PORT", &fake.port.to_string())
        ),
    );
    root.configure(&format!(
        "JkWorkersFile {wf}\nJkShmFile logs/jk-shm\nJkLogFile logs/mod_jk.log\nJkLogLevel debug\n\
         JkMount /app/* w\n{conf_extra}"
    ));
    (root.start(), fake)
}

fn parse(lines: Vec<String>) -> Vec<Json> {
    lines
        .iter()
        .map(|l| Json::parse(l).expect("fake log line"))
        .collect()
}

/// Every event of the fake's log, in order.
fn all_events(fake: &FakeAjp) -> Vec<Json> {
    parse(fake.log().lines().map(str::to_string).collect())
}

fn is_cping(e: &Json) -> bool {
    e.field("ev") == "packet" && e.field("type") == "CPING"
}

/// Waits (up to 20 s) until `f` holds for the fake's events.
fn wait_for(fake: &FakeAjp, what: &str, f: impl Fn(&[Json]) -> bool) -> Vec<Json> {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let ev = all_events(fake);
        if f(&ev) {
            return ev;
        }
        assert!(
            Instant::now() < deadline,
            "never saw {what}:\n{}",
            fake.log()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn worker_prepost_timeout_cpings_a_pooled_connection_before_each_request() {
    let (h, fake) = single("worker.w.prepost_timeout=1000\n", "");
    // One client connection: one httpd child, so its pooled backend connection is reused.
    let mut client = KeepAlive::connect(h.addr());
    let first = client.get("/app/echo");
    assert_eq!(first.status, 200);
    let second = client.get("/app/echo");
    assert_eq!(
        second.header("X-Conn"),
        first.header("X-Conn"),
        "not pooled"
    );
    let ev = all_events(&fake);
    let kinds: Vec<String> = ev
        .iter()
        .filter(|e| e.field("ev") == "request" || is_cping(e))
        .map(|e| e.field("ev"))
        .collect();
    // A new connection goes without (connect_timeout is 0); the pooled one is probed.
    assert_eq!(kinds, ["request", "packet", "request"], "{}", fake.log());
    // The connection stops answering CPings: the probe times out after prepost_timeout,
    // the connection is dropped and the request goes out on a new one.
    assert_eq!(client.get("/app/fault/no_cpong").status, 200);
    let t = Instant::now();
    let fourth = client.get("/app/echo");
    assert_eq!(fourth.status, 200);
    assert_ne!(fourth.header("X-Conn"), first.header("X-Conn"));
    assert!(
        t.elapsed() >= Duration::from_millis(1000),
        "{:?}",
        t.elapsed()
    );
    assert_eq!(fake.events("cping_ignored").len(), 1, "{}", fake.log());
}

#[test]
fn worker_prepost_timeout_unset_sends_no_cping() {
    let (h, fake) = single("", "");
    let mut client = KeepAlive::connect(h.addr());
    let first = client.get("/app/echo");
    let second = client.get("/app/echo");
    assert_eq!(
        second.header("X-Conn"),
        first.header("X-Conn"),
        "not pooled"
    );
    assert_eq!(fake.wait_events("response", 2).len(), 2);
    assert!(!all_events(&fake).iter().any(is_cping), "{}", fake.log());
}

/// A pooled connection idle past connection_ping_interval gets a CPing from the
/// watchdog; one that does not answer within ping_timeout is closed.
fn idle_probe(workers: &str) {
    let (h, fake) = single(workers, "JkWatchdogInterval 1\n");
    assert_eq!(h.get("/app/echo").status, 200);
    wait_for(&fake, "a CPing on the idle connection", |ev| {
        ev.iter().any(is_cping)
    });
    // This connection ignores CPings from now on: the next probe fails and we close it.
    let r = h.get("/app/fault/no_cpong");
    assert_eq!(r.status, 200);
    let conn = r.header("X-Conn").unwrap().to_string();
    wait_for(&fake, "the unanswering connection closed by us", |ev| {
        ev.iter()
            .any(|e| e.field("ev") == "close" && e.field("conn") == conn && e.field("by") == "peer")
    });
    assert!(!fake.events("cping_ignored").is_empty(), "{}", fake.log());
}

#[test]
fn worker_connection_ping_interval_probes_idle_pooled_connections() {
    idle_probe(
        "worker.w.ping_mode=I\nworker.w.connection_ping_interval=1\nworker.w.ping_timeout=500\n",
    );
}

#[test]
fn worker_connection_ping_interval_alone_enables_idle_probing() {
    // As mod_jk: a connection_ping_interval above zero turns interval probing on without
    // ping_mode I.
    idle_probe("worker.w.connection_ping_interval=1\nworker.w.ping_timeout=500\n");
}

/// The `t` (ms since the fake started) of every FORWARD_REQUEST for `uri`.
fn request_times(fake: &FakeAjp, uri: &str) -> Vec<u64> {
    all_events(fake)
        .iter()
        .filter(|e| e.field("ev") == "request" && e.field("uri") == uri)
        .map(|e| e.field("t").parse().unwrap())
        .collect()
}

#[test]
fn worker_retry_interval_is_the_pause_before_a_retry() {
    let (h, fake) = single("worker.w.retry_interval=900\n", "");
    let uri = "/app/fault/close_before_headers";
    let r = h.get(uri);
    assert!(r.status >= 500, "{}", r.status);
    let times = request_times(&fake, uri);
    assert_eq!(times.len(), 2, "{}", fake.log());
    assert!(
        times[1] - times[0] >= 900,
        "retried after {} ms",
        times[1] - times[0]
    );
}

#[test]
fn worker_retries_is_the_number_of_attempts() {
    let (h, fake) = single(
        "worker.w.retry_interval=0\nworker.w3.host=127.0.0.1\nworker.w3.port=PORT\n\
         worker.w3.retries=3\nworker.w3.retry_interval=0\n",
        "JkMount /three/* w3\n",
    );
    for (uri, n) in [
        ("/app/fault/close_before_headers", 2),
        ("/three/fault/close_before_headers", 3),
    ] {
        assert!(h.get(uri).status >= 500);
        assert_eq!(request_times(&fake, uri).len(), n, "{uri}: {}", fake.log());
    }
}

#[test]
fn worker_recovery_options_decide_which_methods_are_sent_again() {
    // One worker per value, all on the fake, each at /rN/.
    let values = [0, 1, 9, 17];
    let mut workers = String::new();
    let mut mounts = String::new();
    for v in values {
        workers.push_str(&format!(
            "worker.r{v}.host=127.0.0.1\nworker.r{v}.port=PORT\n\
             worker.r{v}.recovery_options={v}\nworker.r{v}.retry_interval=0\n"
        ));
        mounts.push_str(&format!("JkMount /r{v}/* r{v}\n"));
    }
    let (h, fake) = single(&workers, &mounts);
    // The backend takes the request and closes without answering: sent again (default
    // retries 2) unless recovery_options forbid it for the method.
    let attempts = |v: u32, method: &str| {
        let uri = format!("/r{v}/{method}/fault/close_before_headers");
        let r = h.request(method, &uri, &[], b"");
        assert!(r.status >= 500, "{method} {uri}: {}", r.status);
        request_times(&fake, &uri).len()
    };
    // 1: no recovery once the backend got the request; 8 / 16: HEAD / GET recovered anyway.
    let expect = [(0, 2, 2), (1, 1, 1), (9, 1, 2), (17, 2, 1)];
    for (v, get, head) in expect {
        assert_eq!(
            (attempts(v, "GET"), attempts(v, "HEAD")),
            (get, head),
            "recovery_options={v}: {}",
            fake.log()
        );
    }
}

/// An lb `lb` (mounted at /app/*) over fakes `tomcat1` and `tomcat2`, plus `extra`.
fn lb(extra: &str) -> (Httpd, Vec<FakeAjp>) {
    lb_of(2, extra)
}

/// As [`lb`] with `n` members `tomcat1`..`tomcatN`.
fn lb_of(n: usize, extra: &str) -> (Httpd, Vec<FakeAjp>) {
    common::lb_over_fakes(n, "/app/*", extra, "")
}

/// The members that answered six requests for `path`.
fn backends(h: &Httpd, path: &str) -> Vec<String> {
    (0..6).map(|_| common::backend_of(h, path, &[])).collect()
}

#[test]
fn worker_session_path_names_the_path_parameter_that_carries_the_route() {
    let (h, _fakes) = lb("worker.lb.session_path=;mysession\n");
    for member in ["tomcat1", "tomcat2"] {
        let got = backends(&h, &format!("/app/x;mysession=abc.{member}"));
        assert!(got.iter().all(|b| b == member), "{member}: {got:?}");
    }
    // The default parameter name carries no route any more: requests are balanced.
    let got = backends(&h, "/app/x;jsessionid=abc.tomcat2");
    assert!(got.iter().any(|b| b == "tomcat1"), "{got:?}");
}

#[test]
fn worker_route_is_the_session_suffix_that_sticks_to_the_member() {
    let (h, _fakes) = lb("worker.tomcat2.route=r2\n");
    let got = backends(&h, "/app/x;jsessionid=abc.r2");
    assert!(got.iter().all(|b| b == "tomcat2"), "{got:?}");
    let got = backends(&h, "/app/x;jsessionid=abc.tomcat1");
    assert!(got.iter().all(|b| b == "tomcat1"), "{got:?}");
}

#[test]
fn worker_sticky_session_false_balances_requests_with_a_session() {
    let (h, _fakes) = lb("worker.lb.sticky_session=false\n");
    let got = backends(&h, "/app/x;jsessionid=abc.tomcat2");
    assert!(got.iter().any(|b| b == "tomcat1"), "{got:?}");
    assert!(got.iter().any(|b| b == "tomcat2"), "{got:?}");
}

#[test]
fn worker_connect_timeout_cpings_each_new_connection_before_using_it() {
    let (h, fake) = single("worker.w.connect_timeout=1000\n", "");
    assert_eq!(h.get("/app/echo").status, 200);
    fake.wait_events("response", 1);
    let order: Vec<String> = all_events(&fake)
        .iter()
        .filter(|e| e.field("ev") == "open" || e.field("ev") == "packet")
        .map(|e| format!("{} {}", e.field("ev"), e.field("type")))
        .collect();
    assert_eq!(
        order[..3],
        ["open (missing)", "packet CPING", "packet FORWARD_REQUEST"],
        "{}",
        fake.log()
    );
}

#[test]
fn worker_socket_timeout_ends_the_wait_for_a_silent_backend() {
    let (h, fake) = single("worker.w.socket_timeout=1\nworker.w.retry_interval=0\n", "");
    let uri = "/app/fault/hang_before_headers/8000";
    let t = Instant::now();
    let r = h.get(uri);
    let took = t.elapsed();
    assert!(r.status >= 500, "{}", r.status);
    // Two attempts (retries 2) of one second each, not of eight.
    assert_eq!(request_times(&fake, uri).len(), 2, "{}", fake.log());
    assert!(
        took >= Duration::from_secs(2) && took < Duration::from_secs(7),
        "{took:?}"
    );
}

/// Whether each established connection to `port` has SO_KEEPALIVE (`ss` shows its timer).
fn keepalive_timers(port: u16) -> Vec<bool> {
    let out = std::process::Command::new("ss")
        .args(["-tnoH", "state", "established", "dst"])
        .arg(format!("127.0.0.1:{port}"))
        .output()
        .expect("ss (iproute2)");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| l.contains("timer:(keepalive"))
        .collect()
}

#[test]
fn worker_socket_keepalive_sets_so_keepalive_on_backend_connections() {
    for (extra, want) in [("worker.w.socket_keepalive=true\n", true), ("", false)] {
        let (h, fake) = single(extra, "");
        assert_eq!(h.get("/app/echo").status, 200);
        let timers = keepalive_timers(fake.port);
        assert!(!timers.is_empty(), "no pooled connection to {}", fake.port);
        assert!(timers.iter().all(|&k| k == want), "{extra:?}: {timers:?}");
    }
}

#[test]
fn worker_domain_sends_a_session_named_by_domain_to_its_members_only() {
    let (h, _fakes) = lb_of(3, "worker.tomcat1.domain=dom\nworker.tomcat3.domain=dom\n");
    let got = backends(&h, "/app/x;jsessionid=abc.dom");
    assert!(got.iter().all(|b| b != "tomcat2"), "{got:?}");
    assert!(got.iter().any(|b| b == "tomcat1"), "{got:?}");
    assert!(got.iter().any(|b| b == "tomcat3"), "{got:?}");
}

#[test]
fn worker_redirect_sends_the_sessions_of_a_stopped_member_to_its_target() {
    let (h, _fakes) = lb_of(
        3,
        "worker.tomcat2.activation=S\nworker.tomcat2.redirect=tomcat3\n",
    );
    let got = backends(&h, "/app/x;jsessionid=abc.tomcat2");
    assert!(got.iter().all(|b| b == "tomcat3"), "{got:?}");
    // Requests without a session still use every running member.
    let got = backends(&h, "/app/x");
    assert!(got.iter().any(|b| b == "tomcat1"), "{got:?}");
}
