//! The lb worker: weighted spreading with the rotation kept in shared memory, stickiness,
//! activation, failover, across httpd children of every MPM.

mod common;

use common::{FakeAjp, Httpd, Mpm, ServerRoot, backend_of, spread_over};

struct Lb {
    h: Httpd,
    fakes: Vec<FakeAjp>,
}

fn lb_setup(mpm: Mpm, factors: [u32; 3], extra_workers: &str, extra_conf: &str) -> Lb {
    let fakes: Vec<FakeAjp> = (1..=3)
        .map(|i| FakeAjp::start(&format!("tomcat{i}"), &[]))
        .collect();
    let root = ServerRoot::new(mpm);
    let mut w = String::from("worker.list=load_balancer\n");
    for (i, f) in fakes.iter().enumerate() {
        let n = i + 1;
        w.push_str(&format!(
            "worker.tomcat{n}.type=ajp13\nworker.tomcat{n}.host=127.0.0.1\nworker.tomcat{n}.port={}\nworker.tomcat{n}.lbfactor={}\n",
            f.port, factors[i]
        ));
    }
    w.push_str("worker.load_balancer.type=lb\nworker.load_balancer.balance_workers=tomcat1,tomcat2,tomcat3\n");
    w.push_str(extra_workers);
    let wf = root.write("conf/workers.properties", &w);
    root.configure(&format!(
        "JkWorkersFile {wf}\nJkShmFile logs/jk-runtime-status\nJkMount /* load_balancer\n{extra_conf}"
    ));
    Lb {
        h: root.start(),
        fakes,
    }
}

fn assert_even_windows(h: &Httpd, windows: usize) {
    for w in 0..windows {
        let s = spread_over(h, "/echo", 9);
        assert_eq!(
            s.values().copied().collect::<Vec<_>>(),
            [3, 3, 3],
            "window {w}: {s:?}"
        );
    }
}

#[test]
fn nine_requests_hit_each_member_three_times_under_prefork() {
    let lb = lb_setup(Mpm::Prefork, [1, 1, 1], "", "");
    assert!(
        lb.h.wait_children(3) >= 3,
        "several children serve the requests"
    );
    assert_even_windows(&lb.h, 3);
    // After other traffic (sticky requests pile onto one member), any 9 consecutive
    // requests without a session are again 3/3/3 once the backlog is paid back.
    for _ in 0..4 {
        backend_of(&lb.h, "/echo", &[("Cookie", "JSESSIONID=abc.tomcat2")]);
    }
    let _ = spread_over(&lb.h, "/echo", 8);
    assert_even_windows(&lb.h, 2);
}

#[test]
fn nine_requests_hit_each_member_three_times_under_event() {
    let lb = lb_setup(Mpm::Event, [1, 1, 1], "", "");
    assert_even_windows(&lb.h, 3);
}

#[test]
fn weights_split_600_requests_within_five_percent() {
    let lb = lb_setup(Mpm::Event, [1, 2, 3], "", "");
    let s = spread_over(&lb.h, "/echo", 600);
    for (name, want) in [("tomcat1", 100.0), ("tomcat2", 200.0), ("tomcat3", 300.0)] {
        let got = *s.get(name).unwrap_or(&0) as f64;
        assert!(
            (got - want).abs() <= want * 0.05,
            "{name}: {got} of 600, want {want}: {s:?}"
        );
    }
}

#[test]
fn a_dead_member_costs_no_get_and_comes_back() {
    let mut lb = lb_setup(
        Mpm::Event,
        [1, 1, 1],
        "worker.load_balancer.recover_time=2\nworker.maintain=1\n",
        "",
    );
    assert_even_windows(&lb.h, 1);
    let dead = lb.fakes.remove(1);
    let port = dead.port;
    drop(dead);
    for i in 0..30 {
        let b = backend_of(&lb.h, "/echo", &[]);
        assert_ne!(b, "tomcat2", "request {i}");
    }
    // Back on the same port: after recover_time it gets traffic again.
    let back = FakeAjp::start_on("tomcat2", port);
    // Rounds of requests until the member answers again (recover_time has passed).
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let s = spread_over(&lb.h, "/echo", 9);
        if s.get("tomcat2").copied().unwrap_or(0) > 0 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "tomcat2 never rejoined: {s:?}"
        );
        std::thread::sleep(std::time::Duration::from_millis(250));
    }
    drop(back);
}

#[test]
fn sticky_controls_from_config_rules_and_environment() {
    let lb = lb_setup(
        Mpm::Event,
        [1, 1, 1],
        "worker.tomcat2.activation=S\nworker.load_balancer.session_cookie=MYSESS\n",
        "SetEnvIf Request_URI \"^/forced/\" JK_ROUTE=tomcat3\n\
         SetEnvIf Request_URI \"^/ignore/\" JK_STICKY_IGNORE\n",
    );
    // The configured cookie name is used; the default one is not.
    for _ in 0..5 {
        assert_eq!(
            backend_of(&lb.h, "/echo", &[("Cookie", "MYSESS=a.tomcat3")]),
            "tomcat3"
        );
    }
    let s: Vec<String> = (0..6)
        .map(|_| backend_of(&lb.h, "/echo", &[("Cookie", "JSESSIONID=a.tomcat3")]))
        .collect();
    assert!(
        s.iter().any(|b| b != "tomcat3"),
        "JSESSIONID is not the session cookie here: {s:?}"
    );
    // JK_ROUTE forces a route.
    for _ in 0..5 {
        assert_eq!(backend_of(&lb.h, "/forced/echo", &[]), "tomcat3");
    }
    // JK_STICKY_IGNORE balances a request that carries a session.
    let s: Vec<String> = (0..6)
        .map(|_| backend_of(&lb.h, "/ignore/echo", &[("Cookie", "MYSESS=a.tomcat3")]))
        .collect();
    assert!(s.iter().any(|b| b != "tomcat3"), "{s:?}");
    // A Stopped member gets nothing, not even its sessions (they fail over).
    for _ in 0..5 {
        assert_ne!(
            backend_of(&lb.h, "/echo", &[("Cookie", "MYSESS=a.tomcat2")]),
            "tomcat2"
        );
    }
}

#[test]
fn sticky_session_force_answers_503_instead_of_moving_the_session() {
    let lb = lb_setup(
        Mpm::Event,
        [1, 1, 1],
        "worker.tomcat2.activation=S\nworker.load_balancer.sticky_session_force=true\n",
        "",
    );
    assert_eq!(
        lb.h.get_with("/echo", &[("Cookie", "JSESSIONID=a.tomcat2")])
            .status,
        503
    );
    assert_eq!(
        backend_of(&lb.h, "/echo", &[("Cookie", "JSESSIONID=a.tomcat1")]),
        "tomcat1"
    );
    assert_eq!(lb.h.get("/echo").status, 200);
}

#[test]
fn worker_distance_prefers_the_nearest_members_and_uses_farther_ones_only_when_they_are_down() {
    let mut lb = lb_setup(
        Mpm::Event,
        [1, 1, 1],
        "worker.tomcat1.distance=2\nworker.tomcat2.distance=1\n",
        "",
    );
    // tomcat3 (distance 0) takes everything while it is up.
    let s = spread_over(&lb.h, "/echo", 9);
    assert_eq!(s.get("tomcat3"), Some(&9), "{s:?}");
    drop(lb.fakes.remove(2));
    // Down: the next nearest, tomcat2, takes everything; tomcat1 still nothing.
    let s = spread_over(&lb.h, "/echo", 9);
    assert_eq!(s.get("tomcat2"), Some(&9), "{s:?}");
    drop(lb.fakes.remove(1));
    let s = spread_over(&lb.h, "/echo", 6);
    assert_eq!(s.get("tomcat1"), Some(&6), "{s:?}");
}
