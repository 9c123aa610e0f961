//! Several front-ends: two httpd with mod_rjk, each with its own shared memory, in front
//! of three real Tomcat 10 reached by host names (a hosts file in each httpd's mount
//! namespace). Health checks drain one Tomcat through its health page; another is killed
//! and comes back at a new address. Clients load both front-ends throughout.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use common::tomcat::{Echo, Tomcat};
use common::{Httpd, Mpm, ServerRoot, echo_client};

const INTERVAL_MS: u64 = 1000;

fn front_end(tomcats: &[&Tomcat], hosts: &str) -> Httpd {
    let root = ServerRoot::new(Mpm::Prefork);
    let mut w = String::from("worker.list=lb,jkstatus\nworker.jkstatus.type=status\n");
    for t in tomcats {
        w.push_str(&format!(
            "worker.{n}.host={n}.rjk.test\nworker.{n}.port={p}\nworker.{n}.secret={s}\n",
            n = t.name,
            p = t.ajp_port,
            s = t.secret
        ));
    }
    let names: Vec<&str> = tomcats.iter().map(|t| t.name.as_str()).collect();
    w.push_str(&format!(
        "worker.lb.type=lb\nworker.lb.balance_workers={}\n\
         worker.lb.health_check_interval={INTERVAL_MS}\nworker.lb.health_check_uri=/jsp/health.jsp\n\
         worker.lb.resolve_interval=1\n",
        names.join(",")
    ));
    let wf = root.write("conf/workers.properties", &w);
    root.configure(&format!(
        "JkWorkersFile {wf}\nJkShmFile logs/jk-shm\nJkLogFile logs/mod_jk.log\nJkLogLevel info\n\
         JkMount /echo lb\nJkMount /jkstatus jkstatus\n"
    ));
    let script = format!("mount --bind {hosts} /etc/hosts && exec \"$0\" \"$@\"");
    root.start_wrapped(&["unshare", "-m", "sh", "-c", &script])
}

fn route(h: &Httpd, headers: &[(&str, &str)]) -> String {
    let r = h.get_with("/echo", headers);
    assert_eq!(r.status, 200, "{}", r.text());
    Echo::parse(&r.body).get("route").unwrap_or_default()
}

fn draining(h: &Httpd, member: &str) -> bool {
    h.get("/jkstatus").text().contains(&format!(
        "data-health=\"{member}\" data-verdict=\"draining\""
    ))
}

fn hosts_text(tc3: &str) -> String {
    format!("127.0.0.1 localhost\n127.0.0.1 tc1.rjk.test tc2.rjk.test\n{tc3} tc3.rjk.test\n")
}

#[test]
fn two_front_ends_drain_by_health_page_and_follow_a_moved_tomcat_without_client_errors() {
    let t1 = Tomcat::start("tc1", "s-fe");
    let t2 = Tomcat::start("tc2", "s-fe");
    let mut t3 = Tomcat::start("tc3", "s-fe");
    for t in [&t1, &t2, &t3] {
        assert_eq!(t.http_get("/jsp/health.jsp").0, 200);
    }
    let dir = std::env::temp_dir().join(format!("rjk-fe-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let hosts = dir.join("hosts").to_string_lossy().into_owned();
    std::fs::write(&hosts, hosts_text("127.0.0.1")).unwrap();
    let fronts: Vec<Arc<Httpd>> = (0..2)
        .map(|_| Arc::new(front_end(&[&t1, &t2, &t3], &hosts)))
        .collect();

    // Clients on both front-ends for the whole test.
    let going = Arc::new(AtomicBool::new(true));
    let done = Arc::new(AtomicUsize::new(0));
    let clients: Vec<_> = fronts
        .iter()
        .flat_map(|h| [h.clone(), h.clone()])
        .enumerate()
        .map(|(c, h)| echo_client(h, format!("c{c}"), going.clone(), (0, 20_000), done.clone()))
        .collect();
    while done.load(Ordering::Relaxed) < 100 {
        std::thread::sleep(Duration::from_millis(20));
    }

    // Drain tc2 from its own health page: both front-ends within one interval.
    std::fs::write(t2.base.join("health-status"), "503").unwrap();
    let start = Instant::now();
    while !fronts.iter().all(|h| draining(h, "tc2")) {
        assert!(start.elapsed() < Duration::from_secs(5), "not drained");
        std::thread::sleep(Duration::from_millis(25));
    }
    assert!(
        start.elapsed() <= Duration::from_millis(INTERVAL_MS + 700),
        "{:?}",
        start.elapsed()
    );
    for h in &fronts {
        for _ in 0..15 {
            assert_ne!(
                route(h, &[]),
                "tc2",
                "a new session went to the drained member"
            );
        }
        for _ in 0..5 {
            assert_eq!(route(h, &[("Cookie", "JSESSIONID=s.tc2")]), "tc2", "sticky");
        }
    }
    std::fs::remove_file(t2.base.join("health-status")).unwrap();

    // tc3 goes away (stopped: a kill -9 may cut a response in flight, which no front-end
    // can mend; tests/health_tomcat.rs kills one) and comes back at another address under
    // the same name.
    t3.stop();
    std::fs::write(&hosts, hosts_text("127.0.0.4")).unwrap();
    t3.opts.ajp_address = "127.0.0.4".into();
    t3.start_again();
    let back = Instant::now();
    for h in &fronts {
        loop {
            if route(h, &[]) == "tc3" {
                break;
            }
            assert!(
                back.elapsed() < Duration::from_secs(10),
                "tc3 never came back"
            );
        }
    }
    for h in &fronts {
        assert!(h.get("/jkstatus").text().contains(&format!(
            "data-address=\"tc3\" data-in-use=\"127.0.0.4:{}\"",
            t3.ajp_port
        )));
    }
    let bad = common::stop_clients(&going, clients);
    assert!(bad.is_empty(), "client errors: {bad:?}");
    assert!(done.load(Ordering::Relaxed) > 200);

    // The front-ends share nothing: one going away leaves the other serving every member.
    fronts[0].signal(libc::SIGTERM);
    let gone = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", fronts[0].port())).is_ok() {
        assert!(
            gone.elapsed() < Duration::from_secs(10),
            "front-end 0 still up"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let mut seen = std::collections::BTreeSet::new();
    for _ in 0..30 {
        seen.insert(route(&fronts[1], &[]));
    }
    assert_eq!(seen.len(), 3, "{seen:?}");
    let _ = std::fs::remove_dir_all(&dir);
}
