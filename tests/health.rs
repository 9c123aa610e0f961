//! Active health checks (`health_check_*` worker properties) through real httpd (prefork,
//! several children) in front of fake backends whose `/health` status a file decides.

mod common;

use common::*;
use std::time::{Duration, Instant};

/// Fake members `tomcat1..N`, each with its own health file (absent = 200).
struct Setup {
    h: Httpd,
    fakes: Vec<FakeAjp>,
    files: Vec<String>,
}

fn setup(n: usize, lb_extra: &str, mpm: Mpm) -> Setup {
    let dir = std::env::temp_dir();
    let files: Vec<String> = (1..=n)
        .map(|i| {
            dir.join(format!(
                "rjk-health-{}-{i}-{}",
                std::process::id(),
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0, |d| d.as_nanos())
            ))
            .to_string_lossy()
            .into_owned()
        })
        .collect();
    let fakes: Vec<FakeAjp> = files
        .iter()
        .enumerate()
        .map(|(i, f)| FakeAjp::start(&format!("tomcat{}", i + 1), &["--health-file", f]))
        .collect();
    let root = ServerRoot::new(mpm);
    let w = lb_properties(
        "worker.list=lb,jkstatus\nworker.jkstatus.type=status\n",
        &fakes,
        lb_extra,
    );
    let wf = root.write("conf/workers.properties", &w);
    root.configure(&format!(
        "JkWorkersFile {wf}\nJkShmFile logs/jk-shm\nJkMount /app/* lb\nJkMount /jkstatus jkstatus\n"
    ));
    Setup {
        h: root.start(),
        fakes,
        files,
    }
}

impl Setup {
    fn set_health(&self, member: usize, status: u16) {
        std::fs::write(&self.files[member - 1], status.to_string()).unwrap();
    }

    /// `worker.<lb>.<member>.<key>` of the properties page.
    fn prop(&self, member: &str, key: &str) -> String {
        common::status_prop(&self.h, "/jkstatus", member, key)
    }

    fn json(&self) -> String {
        self.h.get("/jkstatus?mime=json").text()
    }

    /// Waits up to `limit` for `f` to hold; returns the time it took.
    fn wait(&self, limit: Duration, what: &str, f: impl Fn(&Setup) -> bool) -> Duration {
        let start = Instant::now();
        while !f(self) {
            assert!(
                start.elapsed() < limit,
                "{what}: not within {limit:?}\n{}",
                self.json()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        start.elapsed()
    }

    fn state(&self, member: &str) -> String {
        self.prop(member, "state")
    }
}

impl Drop for Setup {
    fn drop(&mut self) {
        for f in &self.files {
            let _ = std::fs::remove_file(f);
        }
    }
}

/// The health object of `member` in the JSON page.
fn health_of(json: &str, member: &str) -> String {
    let at = json
        .find(&format!("\"name\":\"{member}\""))
        .unwrap_or_else(|| panic!("{member} not in {json}"));
    let rest = &json[at..];
    let h = rest.find("\"health\":").expect("health object");
    let obj = &rest[h..];
    obj[..obj.find('}').unwrap() + 1].to_string()
}

fn num(obj: &str, key: &str) -> f64 {
    let k = format!("\"{key}\":");
    let at = obj.find(&k).unwrap_or_else(|| panic!("{key} in {obj}")) + k.len();
    obj[at..]
        .split([',', '}'])
        .next()
        .unwrap()
        .parse()
        .unwrap_or_else(|_| panic!("{key} in {obj}"))
}

const LB_CPING: &str = "worker.lb.health_check_interval=200\n";

#[test]
fn worker_health_check_interval_takes_a_dead_member_out_before_clients_meet_it() {
    let mut s = setup(2, LB_CPING, Mpm::Prefork);
    assert_eq!(s.h.get("/app/x").status, 200);
    let dead = s.fakes.remove(1);
    let port = dead.port;
    drop(dead);
    // No client request in between: the check alone puts it into error, within about one
    // interval.
    let took = s.wait(Duration::from_secs(3), "tomcat2 in error", |s| {
        s.state("tomcat2") == "ERR"
    });
    assert!(took < Duration::from_millis(1500), "{took:?}");
    let json = s.json();
    let h = health_of(&json, "tomcat2");
    assert!(h.contains("\"verdict\":\"down\""), "{h}");
    assert!(h.contains("\"last_result\":\"fail\""), "{h}");
    for _ in 0..20 {
        assert_eq!(backend_of(&s.h, "/app/x", &[]), "tomcat1");
    }
    let errors_before: u64 = s.prop("tomcat2", "errors").parse().unwrap();
    assert_eq!(
        errors_before, 0,
        "no client request was sent to the dead member"
    );
    // Back on its port: passes bring it back (passes defaults to 1) without a client probe.
    let _back = FakeAjp::start_on("tomcat2", port);
    s.wait(Duration::from_secs(3), "tomcat2 back", |s| {
        s.state("tomcat2") != "ERR"
    });
    let seen = spread_over(&s.h, "/app/x", 20);
    assert!(seen.get("tomcat2").copied().unwrap_or(0) > 0, "{seen:?}");
    assert!(
        s.h.jk_log().contains("failed its health check"),
        "{}",
        s.h.jk_log()
    );
    assert!(s.h.jk_log().contains("passes its health check again"));
}

#[test]
fn worker_health_check_interval_checks_once_per_interval_over_all_children() {
    let s = setup(
        1,
        "worker.lb.health_check_interval=100\nworker.lb.health_check_uri=/health\n",
        Mpm::Prefork,
    );
    assert!(s.h.wait_children(3) >= 3, "several children");
    let f = &s.fakes[0];
    let count = || {
        f.events("request")
            .iter()
            .filter(|l| l.contains("/health"))
            .count()
    };
    let first = {
        f.wait_events("request", 1);
        count()
    };
    let start = Instant::now();
    std::thread::sleep(Duration::from_millis(2000));
    let n = count() - first;
    let per_interval = n as f64 / (start.elapsed().as_millis() as f64 / 100.0);
    // One check per interval in all (3+ children checking each would triple it).
    assert!(
        (0.4..=1.4).contains(&per_interval),
        "{n} checks in {:?}",
        start.elapsed()
    );
}

#[test]
fn worker_health_check_uri_and_worker_health_check_status_decide_the_verdict() {
    let s = setup(
        2,
        "worker.lb.health_check_interval=150\nworker.lb.health_check_uri=/health\n\
         worker.lb.health_check_status=204\n",
        Mpm::Event,
    );
    // 200 is not the expected 204: down.
    s.wait(Duration::from_secs(3), "200 fails", |s| {
        s.state("tomcat1") == "ERR"
    });
    s.set_health(1, 204);
    s.set_health(2, 204);
    s.wait(Duration::from_secs(3), "204 passes", |s| {
        s.state("tomcat1") != "ERR" && s.state("tomcat2") != "ERR"
    });
    s.set_health(2, 404);
    s.wait(Duration::from_secs(3), "404 fails", |s| {
        s.state("tomcat2") == "ERR"
    });
    let h = health_of(&s.json(), "tomcat2");
    assert!(h.contains("\"check\":\"GET /health\""), "{h}");
    assert_eq!(num(&h, "last_status"), 404.0, "{h}");
    for _ in 0..10 {
        assert_eq!(backend_of(&s.h, "/app/x", &[]), "tomcat1");
    }
}

#[test]
fn worker_health_check_drain_status_keeps_sticky_sessions_and_sends_new_ones_elsewhere() {
    let s = setup(
        2,
        "worker.lb.health_check_interval=150\nworker.lb.health_check_uri=/health\n",
        Mpm::Event,
    );
    s.set_health(2, 503);
    s.wait(Duration::from_secs(3), "tomcat2 draining", |s| {
        health_of(&s.json(), "tomcat2").contains("\"verdict\":\"draining\"")
    });
    for _ in 0..10 {
        assert_eq!(backend_of(&s.h, "/app/x", &[]), "tomcat1", "new sessions");
        let sticky = backend_of(&s.h, "/app/x", &[("Cookie", "JSESSIONID=abc.tomcat2")]);
        assert_eq!(sticky, "tomcat2", "sticky sessions keep reaching it");
    }
    // The admin did not disable it: the page says who did.
    assert_eq!(s.state("tomcat2"), "OK");
    let html = s.h.get("/jkstatus").text();
    assert!(
        html.contains("data-health=\"tomcat2\" data-verdict=\"draining\"")
            && html.contains("disabled by its health check"),
        "{html}"
    );
    // Checks run on connections of their own, one check each, never a client's.
    let (mut checks, mut clients) = (Vec::new(), Vec::new());
    for line in s.fakes[1].events("request") {
        let conn = line
            .split("\"conn\":")
            .nth(1)
            .and_then(|r| r.split([',', '}']).next())
            .unwrap()
            .to_string();
        if line.contains("\"uri\":\"/health\"") {
            checks.push(conn);
        } else {
            clients.push(conn);
        }
    }
    let distinct: std::collections::BTreeSet<&String> = checks.iter().collect();
    assert!(
        checks.len() >= 2 && distinct.len() == checks.len(),
        "{checks:?}"
    );
    assert!(!clients.is_empty() && clients.iter().all(|c| !distinct.contains(c)));
    let prom = s.h.get("/jkstatus?mime=prometheus").text();
    assert!(
        prom.contains("rjk_health_check_draining{worker=\"tomcat2\"} 1"),
        "{prom}"
    );
    s.set_health(2, 200);
    s.wait(Duration::from_secs(3), "drain ends", |s| {
        health_of(&s.json(), "tomcat2").contains("\"verdict\":\"up\"")
    });
    let seen = spread_over(&s.h, "/app/x", 10);
    assert!(seen.get("tomcat2").copied().unwrap_or(0) > 0, "{seen:?}");
}

#[test]
fn worker_health_check_passes_and_worker_health_check_fails_count_in_a_row() {
    let s = setup(
        2,
        "worker.lb.health_check_interval=100\nworker.lb.health_check_uri=/health\n\
         worker.tomcat2.health_check_fails=3\nworker.tomcat2.health_check_passes=4\n",
        Mpm::Event,
    );
    s.set_health(2, 500);
    s.wait(Duration::from_secs(3), "down", |s| {
        s.state("tomcat2") == "ERR"
    });
    let h = health_of(&s.json(), "tomcat2");
    assert!(num(&h, "fails_in_a_row") >= 3.0, "{h}");
    s.set_health(2, 200);
    s.wait(Duration::from_secs(3), "up", |s| {
        s.state("tomcat2") != "ERR"
    });
    let h = health_of(&s.json(), "tomcat2");
    assert!(num(&h, "passes_in_a_row") >= 4.0, "{h}");
    // tomcat1 was never down (its own fails default of 1 did not trigger on passes).
    assert!(health_of(&s.json(), "tomcat1").contains("\"failed_checks\":0"));
}

#[test]
fn worker_health_check_timeout_bounds_a_check_of_a_silent_backend() {
    let silent = FakeAjp::start("silent", &["--scenario", "no_cpong"]);
    let root = ServerRoot::new(Mpm::Event);
    let wf = root.write(
        "conf/workers.properties",
        &format!(
            "worker.list=solo,jkstatus\nworker.jkstatus.type=status\n\
             worker.solo.host=127.0.0.1\nworker.solo.port={}\n\
             worker.solo.health_check_interval=1000\nworker.solo.health_check_timeout=150\n",
            silent.port
        ),
    );
    root.configure(&format!(
        "JkWorkersFile {wf}\nJkShmFile logs/jk-shm\nJkMount /jkstatus jkstatus\n"
    ));
    let h = root.start();
    let start = Instant::now();
    let obj = loop {
        let json = h.get("/jkstatus?mime=json").text();
        let at = json.find("\"health\":").map(|i| json[i..].to_string());
        if let Some(o) = at.filter(|o| o.contains("\"last_result\":\"fail\"")) {
            break o[..o.find('}').unwrap() + 1].to_string();
        }
        assert!(start.elapsed() < Duration::from_secs(5), "{json}");
        std::thread::sleep(Duration::from_millis(50));
    };
    let latency = num(&obj, "last_latency_ms");
    assert!((140.0..800.0).contains(&latency), "{obj}");
}

#[test]
fn worker_health_check_interval_off_starts_no_thread() {
    let threads = |s: &Setup| -> usize {
        s.h.children()
            .iter()
            .flat_map(|pid| {
                std::fs::read_dir(format!("/proc/{pid}/task"))
                    .into_iter()
                    .flatten()
            })
            .flatten()
            .filter(|t| {
                std::fs::read_to_string(t.path().join("comm"))
                    .is_ok_and(|c| c.trim() == "rjk-health")
            })
            .count()
    };
    let on = setup(1, LB_CPING, Mpm::Event);
    assert_eq!(on.h.get("/app/x").status, 200);
    assert!(threads(&on) >= 1);
    let off = setup(1, "", Mpm::Event);
    assert_eq!(off.h.get("/app/x").status, 200);
    assert_eq!(threads(&off), 0);
    assert!(!off.json().contains("\"health\""));
    assert!(!off.h.get("/jkstatus").text().contains("id=\"health\""));
}

// ---------------------------------------------------------------------------------------
// resolve_interval: backends that move
// ---------------------------------------------------------------------------------------

/// Two fakes on the same port of 127.0.0.2 and 127.0.0.3.
fn fakes_on_two_addresses() -> (FakeAjp, FakeAjp) {
    for _ in 0..20 {
        let a = FakeAjp::start_at("a", "127.0.0.2:0");
        let port = a.port;
        let b = std::panic::catch_unwind(|| FakeAjp::start_at("b", &format!("127.0.0.3:{port}")));
        if let Ok(b) = b {
            return (a, b);
        }
    }
    panic!("no port free on both addresses");
}

#[test]
fn worker_resolve_interval_follows_a_moved_name_without_errors_or_restart() {
    let (a, b) = fakes_on_two_addresses();
    let root = ServerRoot::new(Mpm::Prefork);
    let hosts = root.write(
        "conf/hosts",
        "127.0.0.1 localhost\n127.0.0.2 moving.rjk.test\n",
    );
    let script = format!("mount --bind {hosts} /etc/hosts && exec \"$0\" \"$@\"");
    let wf = root.write(
        "conf/workers.properties",
        &format!(
            "worker.list=w,v,jkstatus\nworker.jkstatus.type=status\n\
             worker.w.host=moving.rjk.test\nworker.w.port={p}\nworker.w.resolve_interval=1\n\
             worker.v.host=moving.rjk.test\nworker.v.port={p}\nworker.v.resolve_interval=3600\n",
            p = a.port
        ),
    );
    root.configure(&format!(
        "JkWorkersFile {wf}\nJkShmFile logs/jk-shm\nJkLogFile logs/mod_jk.log\nJkLogLevel info\n\
         JkMount /w/* w\nJkMount /v/* v\nJkMount /jkstatus jkstatus\n"
    ));
    let h = root.start_wrapped(&["unshare", "-m", "sh", "-c", &script]);
    let pid = h.pid();
    for _ in 0..10 {
        assert_eq!(backend_of(&h, "/w/x", &[]), "a");
        assert_eq!(backend_of(&h, "/v/x", &[]), "a");
    }
    // The name moves: within the interval (plus the resolver's nap) every child follows,
    // although the old backend still answers on its pooled connections.
    std::fs::write(&hosts, "127.0.0.1 localhost\n127.0.0.3 moving.rjk.test\n").unwrap();
    let start = Instant::now();
    let mut errors = Vec::new();
    loop {
        let r = h.get("/w/x");
        if r.status != 200 {
            errors.push(r.status);
        }
        if r.header("X-Backend") == Some("b") {
            break;
        }
        assert!(start.elapsed() < Duration::from_secs(4), "did not follow");
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(
        start.elapsed() < Duration::from_millis(2500),
        "{:?}",
        start.elapsed()
    );
    for _ in 0..30 {
        assert_eq!(
            backend_of(&h, "/w/x", &[]),
            "b",
            "every child dropped its old connections"
        );
    }
    assert!(errors.is_empty(), "{errors:?}");
    assert_eq!(h.pid(), pid, "no restart");
    let page = h.get("/jkstatus").text();
    assert!(
        page.contains(&format!(
            "data-address=\"w\" data-in-use=\"127.0.0.3:{}\"",
            b.port
        )),
        "{page}"
    );
    let json = h.get("/jkstatus?mime=json").text();
    assert!(json.contains("\"last_resolved_unix_seconds\":1"), "{json}");

    // A failed connect resolves again at once (v's interval is an hour).
    drop(a);
    for _ in 0..10 {
        assert_eq!(backend_of(&h, "/v/x", &[]), "b");
    }

    // The name stops resolving: the last good address stays, one log line says so.
    std::fs::write(&hosts, "127.0.0.1 localhost\n").unwrap();
    h.wait_log("logs/mod_jk.log", "cannot resolve", |l| {
        l.contains("cannot resolve moving.rjk.test")
    });
    for _ in 0..10 {
        assert_eq!(backend_of(&h, "/w/x", &[]), "b");
    }
    let before = Instant::now();
    while before.elapsed() < Duration::from_millis(2500) {
        assert_eq!(backend_of(&h, "/w/x", &[]), "b");
        std::thread::sleep(Duration::from_millis(100));
    }
    std::fs::write(&hosts, "127.0.0.1 localhost\n127.0.0.3 moving.rjk.test\n").unwrap();
    let log = h.wait_log("logs/mod_jk.log", "resolves again", |l| {
        l.contains("moving.rjk.test resolves again")
    });
    let failures = log
        .matches("worker w: cannot resolve moving.rjk.test")
        .count();
    assert_eq!(failures, 1, "logged once, not per attempt:\n{log}");
}
