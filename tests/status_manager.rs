//! The JK status manager in the real httpd: mod_jk's commands and formats, the
//! disable/deploy/enable workflow, CSRF and cross-site refusal, and state shared by every
//! child and kept across restarts.

mod common;

use common::{FakeAjp, Httpd, Mpm, ServerRoot, spread_over};

const SECRET: &str = "never-shown-secret";

struct Setup {
    h: Httpd,
    _fakes: Vec<FakeAjp>,
}

fn setup(mpm: Mpm, extra_conf: &str) -> Setup {
    let fakes: Vec<FakeAjp> = (1..=3)
        .map(|i| FakeAjp::start(&format!("tomcat{i}"), &[]))
        .collect();
    let root = ServerRoot::new(mpm);
    let mut w = String::from("worker.list=load_balancer,jkstatus,jkstatus_ro\n");
    for (i, f) in fakes.iter().enumerate() {
        let n = i + 1;
        w.push_str(&format!(
            "worker.tomcat{n}.host=127.0.0.1\nworker.tomcat{n}.port={}\nworker.tomcat{n}.secret={SECRET}\n",
            f.port
        ));
    }
    w.push_str(
        "worker.load_balancer.type=lb\nworker.load_balancer.balance_workers=tomcat1,tomcat2,tomcat3\n\
         worker.jkstatus.type=status\nworker.jkstatus_ro.type=status\nworker.jkstatus_ro.read_only=true\n",
    );
    let wf = root.write("conf/workers.properties", &w);
    root.configure(&format!(
        "JkWorkersFile {wf}\nJkShmFile logs/jk-runtime-status\nJkMount /* load_balancer\n\
         <Location /jkmanager/>\n JkMount jkstatus\n Require ip 127.0.0.1\n</Location>\n\
         <Location /jkstatus/>\n JkMount jkstatus_ro\n Require ip 127.0.0.1\n</Location>\n{extra_conf}"
    ));
    Setup {
        h: root.start(),
        _fakes: fakes,
    }
}

/// `worker.<name>.<key>` from the prop format.
fn prop(h: &Httpd, key: &str) -> Option<String> {
    let r = h.get("/jkmanager/?mime=prop");
    assert_eq!(r.status, 200);
    r.text()
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{key}=")).map(str::to_string))
}

#[test]
fn formats_answer_with_mod_jk_names_and_never_show_the_secret() {
    let s = setup(Mpm::Event, "");
    let _ = spread_over(&s.h, "/echo", 3);
    let cases = [
        ("", "text/html", "tomcat1"),
        ("?mime=xml", "xml", "<jk:member"),
        ("?mime=txt", "text/plain", "Member: name=tomcat1"),
        ("?mime=prop", "text/plain", "worker.tomcat1.activation=ACT"),
        ("?mime=json", "json", "\"tomcat1\""),
        (
            "?mime=prometheus",
            "text/plain",
            "rjk_member_requests_total{",
        ),
        ("?cmd=dump&mime=txt", "text/plain", "worker.tomcat1.port"),
        ("?cmd=version&mime=txt", "text/plain", "mod_rjk"),
    ];
    for (q, ct, needle) in cases {
        let r = s.h.get(&format!("/jkmanager/{q}"));
        assert_eq!(r.status, 200, "{q}: {}", r.text());
        assert!(
            r.header("Content-Type").unwrap_or_default().contains(ct),
            "{q}: {:?}",
            r.headers
        );
        let body = r.text();
        assert!(body.contains(needle), "{q}: no {needle}:\n{body}");
        assert!(!body.contains(SECRET), "{q} shows the secret");
    }
    // Prometheus exposition parses: every sample is `name{labels} value`.
    let prom = s.h.get("/jkmanager/?mime=prometheus").text();
    for line in prom
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
    {
        let (series, value) = line
            .rsplit_once(' ')
            .unwrap_or_else(|| panic!("bad line {line}"));
        assert!(value.parse::<f64>().is_ok(), "{line}");
        assert!(series.starts_with("rjk_"), "{line}");
    }
    assert!(
        prom.contains("rjk_member_latency_seconds_bucket{"),
        "latency histogram:\n{prom}"
    );
    // Errors are 4xx, not 200.
    assert_eq!(s.h.get("/jkmanager/?cmd=nonsense").status / 100, 4);
    assert_eq!(s.h.get("/jkmanager/?mime=nonsense").status / 100, 4);
    assert_eq!(s.h.get("/jkmanager/?cmd=show&w=nosuch").status / 100, 4);
}

#[test]
fn disable_deploy_enable_workflow_with_curl_updates() {
    let s = setup(Mpm::Prefork, "");
    assert!(s.h.wait_children(3) >= 3);
    assert_eq!(
        spread_over(&s.h, "/echo", 9)
            .values()
            .copied()
            .collect::<Vec<_>>(),
        [3, 3, 3]
    );
    // mod_jk scripts disable a member with a plain GET.
    let r =
        s.h.get("/jkmanager/?cmd=update&w=load_balancer&sw=tomcat1&vwa=1&mime=txt");
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(
        prop(&s.h, "worker.tomcat1.activation").as_deref(),
        Some("DIS")
    );
    // Every child sees it at once: no new request reaches tomcat1 ...
    let sp = spread_over(&s.h, "/echo", 30);
    assert_eq!(sp.get("tomcat1"), None, "{sp:?}");
    // ... but its sessions still do.
    for _ in 0..5 {
        let r = s.h.get_with("/echo", &[("Cookie", "JSESSIONID=x.tomcat1")]);
        assert_eq!(r.header("X-Backend"), Some("tomcat1"));
    }
    s.h.wait_log("logs/mod_jk.log", "the change log line", |l| {
        l.contains("activation") && l.contains("tomcat1")
    });
    // Enable again: 3/3/3 returns once the backlog is paid back.
    let r =
        s.h.get("/jkmanager/?cmd=update&w=load_balancer&sw=tomcat1&vwa=0&mime=txt");
    assert_eq!(r.status, 200);
    let _ = spread_over(&s.h, "/echo", 30);
    assert_eq!(
        spread_over(&s.h, "/echo", 9)
            .values()
            .copied()
            .collect::<Vec<_>>(),
        [3, 3, 3]
    );
}

#[test]
fn runtime_changes_survive_graceful_and_full_restarts() {
    let s = setup(Mpm::Event, "");
    let r =
        s.h.get("/jkmanager/?cmd=update&w=load_balancer&sw=tomcat3&vwa=2&vwf=4&mime=txt");
    assert_eq!(r.status, 200, "{}", r.text());
    for graceful in [true, false] {
        s.h.restart(graceful);
        assert_eq!(
            prop(&s.h, "worker.tomcat3.activation").as_deref(),
            Some("STP"),
            "graceful={graceful}"
        );
        assert_eq!(prop(&s.h, "worker.tomcat3.lbfactor").as_deref(), Some("4"));
        let sp = spread_over(&s.h, "/echo", 12);
        assert_eq!(sp.get("tomcat3"), None, "{sp:?}");
    }
    // The segment file is private to the server.
    let logs = s.h.root.path("logs");
    let shm = std::fs::read_dir(&logs)
        .unwrap()
        .flatten()
        .find(|e| {
            e.file_name()
                .to_string_lossy()
                .starts_with("jk-runtime-status.")
        })
        .expect("shm file");
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(shm.metadata().unwrap().permissions().mode() & 0o777, 0o600);
}

#[test]
fn a_change_made_through_one_child_is_seen_by_all_ten() {
    let s = setup(
        Mpm::Prefork,
        "StartServers 10\nMinSpareServers 10\nMaxSpareServers 12\nMaxRequestWorkers 12\nServerLimit 12\n",
    );
    assert!(
        s.h.wait_children(10) >= 10,
        "prefork did not start 10 children"
    );
    // Ten open connections are ten busy children: each request below runs in its own.
    let mut conns: Vec<common::KeepAlive> = (0..10)
        .map(|_| common::KeepAlive::connect(s.h.port()))
        .collect();
    for c in conns.iter_mut() {
        assert_eq!(c.get("/echo").status, 200);
    }
    let r = conns[0].get("/jkmanager/?cmd=update&w=load_balancer&sw=tomcat2&vwa=1&mime=txt");
    assert_eq!(r.status, 200);
    for (i, c) in conns.iter_mut().enumerate() {
        let text = String::from_utf8_lossy(&c.get("/jkmanager/?mime=prop").body).into_owned();
        assert!(
            text.contains("worker.tomcat2.activation=DIS"),
            "child of connection {i}:\n{text}"
        );
        // And the balancer in that child acts on it.
        for _ in 0..3 {
            assert_ne!(
                c.get("/echo").header("X-Backend"),
                Some("tomcat2"),
                "connection {i}"
            );
        }
    }
}

#[test]
fn the_segment_file_outlives_children_and_goes_with_httpd() {
    let s = setup(Mpm::Prefork, "MaxConnectionsPerChild 3\n");
    let logs = std::path::PathBuf::from(s.h.root.path("logs"));
    let shm_files = || -> Vec<String> {
        std::fs::read_dir(&logs)
            .unwrap()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n.starts_with("jk-runtime-status."))
            .collect()
    };
    assert_eq!(shm_files().len(), 1);
    // Children come and go (3 connections each); the file stays.
    for _ in 0..40 {
        assert_eq!(s.h.get("/echo").status, 200);
    }
    assert_eq!(shm_files().len(), 1);
    let Setup { mut h, _fakes } = s;
    h.shutdown();
    assert!(shm_files().is_empty(), "{:?}", shm_files());
}
