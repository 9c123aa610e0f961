//! Failover of a busy prefork server: a member whose backend refuses connections is left
//! by every child at once, even while other requests are still in flight on it.

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Barrier};

use common::{FakeAjp, KeepAlive, Mpm, ServerRoot};

const CLIENTS: usize = 16;
const REQUESTS_AFTER_KILL: usize = 60;

#[test]
fn a_killed_member_is_left_at_once_by_sixteen_busy_prefork_children() {
    let mut fakes: Vec<FakeAjp> = (1..=3)
        .map(|i| FakeAjp::start(&format!("tomcat{i}"), &[]))
        .collect();
    let root = ServerRoot::new(Mpm::Prefork);
    let mut w = String::from("worker.list=load_balancer\n");
    for (i, f) in fakes.iter().enumerate() {
        let n = i + 1;
        w.push_str(&format!(
            "worker.tomcat{n}.type=ajp13\nworker.tomcat{n}.host=127.0.0.1\nworker.tomcat{n}.port={}\n",
            f.port
        ));
    }
    w.push_str(
        "worker.load_balancer.type=lb\nworker.load_balancer.balance_workers=tomcat1,tomcat2,tomcat3\n",
    );
    let wf = root.write("conf/workers.properties", &w);
    root.configure(&format!(
        "StartServers {CLIENTS}\nMinSpareServers {CLIENTS}\nMaxSpareServers 24\n\
         ServerLimit 24\nMaxRequestWorkers 24\nMaxKeepAliveRequests 0\n\
         JkWorkersFile {wf}\nJkShmFile logs/jk-runtime-status\nJkLogFile logs/mod_jk.log\n\
         JkLogLevel info\nJkMount /* load_balancer\n"
    ));
    let h = root.start();
    assert!(
        h.wait_children(CLIENTS) >= CLIENTS,
        "{CLIENTS} prefork children"
    );

    // Sixteen keep-alive clients (one child each) load all three members without a pause;
    // tomcat2 is killed once every one of them is under way, so requests keep overlapping
    // on every member across the kill.
    let port = h.addr();
    let warm = Arc::new(Barrier::new(CLIENTS + 1));
    // Set once the backend process is gone: a request started after that cannot have
    // been answered by it.
    let killed = Arc::new(AtomicBool::new(false));
    let clients: Vec<_> = (0..CLIENTS)
        .map(|_| {
            let (warm, killed) = (warm.clone(), killed.clone());
            std::thread::spawn(move || {
                let mut c = KeepAlive::connect(port);
                for _ in 0..9 {
                    assert_eq!(c.get("/echo").status, 200);
                }
                warm.wait();
                let mut statuses = Vec::new();
                for _ in 0..REQUESTS_AFTER_KILL {
                    let after_kill = killed.load(Ordering::SeqCst);
                    let r = c.get("/echo");
                    let backend = r.header("X-Backend").unwrap_or("?").to_string();
                    statuses.push((r.status, backend, after_kill));
                }
                statuses
            })
        })
        .collect();
    warm.wait();
    drop(fakes.remove(1));
    killed.store(true, Ordering::SeqCst);
    let mut served = std::collections::BTreeMap::new();
    for c in clients {
        for (status, backend, after_kill) in c.join().expect("client thread") {
            assert_eq!(status, 200, "failover hides the dead member");
            assert!(
                !(after_kill && backend == "tomcat2"),
                "answered by the killed member"
            );
            *served.entry((backend, after_kill)).or_insert(0) += 1;
        }
    }
    // The load went on across the kill: every live member answered requests started
    // after it.
    for live in ["tomcat1", "tomcat3"] {
        assert!(
            served.get(&(live.to_string(), true)).copied().unwrap_or(0) > 0,
            "{served:?}"
        );
    }

    // Each client can have met the dead member once (its request was on the way when
    // the first refusal put the member into ERR); hundreds of refusals mean the children
    // kept choosing it while other requests were in flight on it.
    let refused = h
        .jk_log()
        .lines()
        .filter(|l| l.contains("member tomcat2 failed") && l.contains("cannot connect"))
        .count();
    assert!(
        (1..=CLIENTS).contains(&refused),
        "{refused} requests met the refused member, {served:?}"
    );
}
