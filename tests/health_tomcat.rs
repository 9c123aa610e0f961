//! Active health checks against real Tomcat 10: `/jsp/health.jsp` answers the status in
//! `<CATALINA_BASE>/health-status` (200 without the file).

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use common::tomcat::{Echo, Tomcat};
use common::{Httpd, Mpm, ServerRoot, echo_client};

const INTERVAL_MS: u64 = 1000;
const PASSES: u64 = 2;

fn start(tomcats: &[&Tomcat]) -> Httpd {
    let root = ServerRoot::new(Mpm::Prefork);
    let mut w = String::from("worker.list=lb,jkstatus\nworker.jkstatus.type=status\n");
    for t in tomcats {
        w.push_str(&t.worker_properties());
    }
    let names: Vec<&str> = tomcats.iter().map(|t| t.name.as_str()).collect();
    w.push_str(&format!(
        "worker.lb.type=lb\nworker.lb.balance_workers={}\n\
         worker.lb.health_check_interval={INTERVAL_MS}\nworker.lb.health_check_uri=/jsp/health.jsp\n\
         worker.lb.health_check_passes={PASSES}\n",
        names.join(",")
    ));
    let wf = root.write("conf/workers.properties", &w);
    root.configure(&format!(
        "JkWorkersFile {wf}\nJkShmFile logs/jk-shm\nJkLogLevel info\nJkMount /echo lb\nJkMount /jkstatus jkstatus\n"
    ));
    root.start()
}

fn state(h: &Httpd, member: &str) -> String {
    let text = h.get("/jkstatus?mime=prop").text();
    let want = format!("worker.{member}.state=");
    text.lines()
        .find_map(|l| l.strip_prefix(&want))
        .unwrap_or_default()
        .to_string()
}

fn wait(h: &Httpd, limit: Duration, what: &str, f: impl Fn(&Httpd) -> bool) -> Duration {
    let start = Instant::now();
    while !f(h) {
        assert!(start.elapsed() < limit, "{what}: not within {limit:?}");
        std::thread::sleep(Duration::from_millis(25));
    }
    start.elapsed()
}

/// Sequential clients sending GETs until stopped (at most 20000 each); returns failures.
fn load(
    h: &Arc<Httpd>,
    going: &Arc<AtomicBool>,
    done: &Arc<AtomicUsize>,
) -> Vec<std::thread::JoinHandle<Vec<String>>> {
    (0..2)
        .map(|t| {
            echo_client(
                h.clone(),
                format!("c{t}"),
                going.clone(),
                (0, 20_000),
                done.clone(),
            )
        })
        .collect()
}

#[test]
fn worker_health_check_interval_with_tomcat_killed_restarted_and_drained() {
    let a = Tomcat::start("hc1", "s-hc");
    let b = Tomcat::start("hc2", "s-hc");
    // Compile the JSP before the first check.
    for t in [&a, &b] {
        assert_eq!(t.http_get("/jsp/health.jsp").0, 200);
    }
    let h = Arc::new(start(&[&a, &b]));
    let going = Arc::new(AtomicBool::new(true));
    let done = Arc::new(AtomicUsize::new(0));
    let clients = load(&h, &going, &done);
    while done.load(Ordering::Relaxed) < 50 {
        std::thread::sleep(Duration::from_millis(20));
    }

    // Killed: out of rotation within one interval (plus the check's own time).
    b.kill9();
    let out = wait(&h, Duration::from_secs(5), "hc2 in error", |h| {
        state(h, "hc2") == "ERR"
    });
    assert!(out <= Duration::from_millis(INTERVAL_MS + 700), "{out:?}");

    // Back: in rotation within PASSES intervals of listening again.
    b.start_again();
    let back = wait(&h, Duration::from_secs(8), "hc2 back", |h| {
        state(h, "hc2") != "ERR"
    });
    assert!(
        back <= Duration::from_millis(PASSES * INTERVAL_MS + 1500),
        "{back:?}"
    );

    // Drained by its health page: new sessions avoid it, its sessions still reach it.
    std::fs::write(b.base.join("health-status"), "503").unwrap();
    wait(&h, Duration::from_secs(4), "hc2 draining", |h| {
        h.get("/jkstatus")
            .text()
            .contains("data-health=\"hc2\" data-verdict=\"draining\"")
    });
    for _ in 0..10 {
        let r = h.get("/echo");
        assert_eq!(Echo::parse(&r.body).get("route").as_deref(), Some("hc1"));
        let r = h.get_with("/echo", &[("Cookie", "JSESSIONID=x.hc2")]);
        assert_eq!(Echo::parse(&r.body).get("route").as_deref(), Some("hc2"));
    }
    std::fs::remove_file(b.base.join("health-status")).unwrap();

    let bad = common::stop_clients(&going, clients);
    assert!(bad.is_empty(), "client errors: {bad:?}");
    assert!(done.load(Ordering::Relaxed) > 100);
}
