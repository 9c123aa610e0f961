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
    setup_with(mpm, "", extra_conf)
}

/// [`setup`] with `extra_workers` appended to workers.properties (a further
/// `worker.list=` line adds to the list).
fn setup_with(mpm: Mpm, extra_workers: &str, extra_conf: &str) -> Setup {
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
    w.push_str(extra_workers);
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
        .map(|_| common::KeepAlive::connect(s.h.addr()))
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

/// `key` from the prop format of the status worker mounted at `base`.
fn prop_at(h: &Httpd, base: &str, key: &str) -> Option<String> {
    let r = h.get(&format!("{base}?mime=prop"));
    assert_eq!(r.status, 200, "{base}: {}", r.text());
    r.text()
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{key}=")).map(str::to_string))
}

/// Status workers `/s/<name>/` each with one display or access key set; tomcat2 is
/// Disabled and tomcat3 Stopped. `/s/jkauth/` and `/s/jkauth_ci/` need Basic auth from
/// conf/htpasswd (written by [`htpasswd`]); `/n/jkauth/` is the same worker without it.
fn display_setup() -> Setup {
    let workers = [
        ("jkgood", "good=a,d"),
        ("jkbad", "bad=a"),
        ("jkcss", "css=/rjk-style.css"),
        ("jkprefix", "prefix=rjkprop"),
        ("jkxml", "ns=x:"),
        ("jkxml", "xmlns=xmlns:x=\"urn:rjk-test\""),
        (
            "jkxml",
            "doctype=<!DOCTYPE x:status SYSTEM \"urn:rjk-status\">",
        ),
        ("jkbare", "ns=-"),
        ("jkbare", "xmlns=-"),
        ("jkauth", "user=alice,bob"),
        ("jkauth_ci", "user=alice"),
        ("jkauth_ci", "user_case_insensitive=true"),
    ];
    let mut w = String::from("worker.tomcat2.activation=D\nworker.tomcat3.activation=S\n");
    let mut conf = String::new();
    let mut names: Vec<&str> = workers.iter().map(|(n, _)| *n).collect();
    names.dedup();
    for n in &names {
        w.push_str(&format!("worker.list={n}\nworker.{n}.type=status\n"));
        conf.push_str(&format!("JkMount /s/{n}/* {n}\n"));
    }
    for (n, kv) in workers {
        w.push_str(&format!("worker.{n}.{kv}\n"));
    }
    let mods = common::apache_modules_dir();
    for m in ["auth_basic", "authn_core", "authn_file", "authz_user"] {
        conf.push_str(&format!("LoadModule {m}_module {mods}/mod_{m}.so\n"));
    }
    for n in ["jkauth", "jkauth_ci"] {
        conf.push_str(&format!(
            "<Location /s/{n}/>\n AuthType Basic\n AuthName rjk\n AuthUserFile conf/htpasswd\n \
             Require valid-user\n</Location>\n"
        ));
    }
    conf.push_str("JkMount /n/jkauth/* jkauth\n");
    setup_with(Mpm::Event, &w, &conf)
}

/// conf/htpasswd with the users `alice`, `ALICE`, `bob` and `mallory`, password `pw`
/// (httpd reads it per request).
fn htpasswd(h: &Httpd) {
    let path = h.root.path("conf/htpasswd");
    for (i, user) in ["alice", "ALICE", "bob", "mallory"].iter().enumerate() {
        let flags = if i == 0 { "-cbB" } else { "-bB" };
        let out = std::process::Command::new("htpasswd")
            .args([flags, &path, user, "pw"])
            .output()
            .expect("htpasswd (apache2-utils)");
        assert!(out.status.success(), "htpasswd: {out:?}");
    }
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
}

fn status_as(h: &Httpd, base: &str, user: &str) -> u16 {
    let auth = format!("Basic {}", common::base64(format!("{user}:pw").as_bytes()));
    h.get_with(&format!("{base}?mime=txt"), &[("Authorization", &auth)])
        .status
}

#[test]
fn worker_user_admits_the_listed_remote_users_only() {
    let s = display_setup();
    htpasswd(&s.h);
    assert_eq!(status_as(&s.h, "/s/jkauth/", "alice"), 200);
    assert_eq!(status_as(&s.h, "/s/jkauth/", "bob"), 200);
    // Authenticated by httpd, but not in the list.
    assert_eq!(status_as(&s.h, "/s/jkauth/", "mallory"), 403);
    // A list and no REMOTE_USER at all.
    assert_eq!(s.h.get("/n/jkauth/?mime=txt").status, 403);
    // Without a list anyone httpd lets through is served.
    assert_eq!(status_as(&s.h, "/s/jkcss/", "mallory"), 200);
}

#[test]
fn worker_user_case_insensitive_compares_remote_user_ignoring_case() {
    let s = display_setup();
    htpasswd(&s.h);
    // jkauth compares exactly, jkauth_ci ignoring case.
    assert_eq!(status_as(&s.h, "/s/jkauth/", "ALICE"), 403);
    assert_eq!(status_as(&s.h, "/s/jkauth_ci/", "ALICE"), 200);
    assert_eq!(status_as(&s.h, "/s/jkauth_ci/", "alice"), 200);
    assert_eq!(status_as(&s.h, "/s/jkauth_ci/", "bob"), 403);
}

/// (good, degraded, bad) of the lb as the status worker at `base` rates its members.
fn ratings(h: &Httpd, base: &str) -> [String; 3] {
    ["good", "degraded", "bad"].map(|k| {
        prop_at(h, base, &format!("worker.load_balancer.{k}"))
            .unwrap_or_else(|| panic!("{base}: no {k}"))
    })
}

#[test]
fn worker_good_and_worker_bad_rules_change_the_rating_counts() {
    let s = display_setup();
    // tomcat1 Active, tomcat2 Disabled, tomcat3 Stopped. Defaults: good a.o,a.i,a.b,a.r
    // and bad s,e.
    assert_eq!(ratings(&s.h, "/jkmanager/"), ["1", "1", "1"]);
    // good=a,d: the Disabled member counts as good too.
    assert_eq!(ratings(&s.h, "/s/jkgood/"), ["2", "0", "1"]);
    // bad=a: the Active member is bad, and Stopped no longer is (nor good).
    assert_eq!(ratings(&s.h, "/s/jkbad/"), ["0", "2", "1"]);
}

#[test]
fn worker_css_links_the_stylesheet_from_the_html_page() {
    let s = display_setup();
    let link = "<link rel=\"stylesheet\" href=\"/rjk-style.css\"";
    let page = s.h.get("/s/jkcss/").text();
    assert!(page.contains(link), "{page}");
    let page = s.h.get("/jkmanager/").text();
    assert!(!page.contains("rel=\"stylesheet\""), "{page}");
}

#[test]
fn worker_prefix_names_the_keys_of_the_prop_format() {
    let s = display_setup();
    let text = s.h.get("/s/jkprefix/?mime=prop").text();
    assert!(text.contains("rjkprop.tomcat3.activation=STP"), "{text}");
    assert!(text.lines().all(|l| !l.starts_with("worker.")), "{text}");
    assert_eq!(
        prop(&s.h, "worker.tomcat3.activation").as_deref(),
        Some("STP")
    );
}

#[test]
fn worker_ns_worker_xmlns_and_worker_doctype_shape_the_xml() {
    let s = display_setup();
    let xml = s.h.get("/s/jkxml/?mime=xml").text();
    let head: Vec<&str> = xml.lines().take(3).collect();
    assert_eq!(
        head,
        [
            "<?xml version=\"1.0\" encoding=\"UTF-8\" ?>",
            "<!DOCTYPE x:status SYSTEM \"urn:rjk-status\">",
            "<x:status",
        ],
        "{xml}"
    );
    assert!(xml.contains("xmlns:x=\"urn:rjk-test\""), "{xml}");
    assert!(xml.contains("<x:member"), "{xml}");
    assert!(
        !xml.contains("<jk:") && !xml.contains("DOCTYPE jk"),
        "{xml}"
    );
    // "-" removes the prefix and the declaration.
    let bare = s.h.get("/s/jkbare/?mime=xml").text();
    assert!(
        bare.contains("<status>") && bare.contains("<member"),
        "{bare}"
    );
    assert!(!bare.contains("xmlns"), "{bare}");
    // The defaults.
    let xml = s.h.get("/jkmanager/?mime=xml").text();
    assert!(
        xml.contains("xmlns:jk=\"http://tomcat.apache.org\"") && xml.contains("<jk:member"),
        "{xml}"
    );
    assert!(!xml.contains("DOCTYPE"), "{xml}");
}
