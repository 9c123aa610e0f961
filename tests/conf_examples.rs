//! Every file of conf-examples/ is a working configuration: each httpd snippet, with the
//! workers files it is documented to go with, passes `apache2 -t` against the built module
//! under prefork and event, and rjk-check finds nothing to warn about. The single-Tomcat
//! example serves a page from a real Tomcat.

mod common;
mod shipping;

use common::tomcat::{Echo, Tomcat};
use common::{FakeAjp, Mpm, ServerRoot};
use shipping::{assert_config_ok, configure_without_module, examples_dir, install, rjk_check};

/// One way to use the examples: an httpd snippet and the files it expects under conf/.
struct Example {
    httpd_conf: &'static str,
    /// (file in conf-examples/, name under the ServerRoot's conf/)
    files: &'static [(&'static str, &'static str)],
}

const EXAMPLES: &[Example] = &[
    Example {
        httpd_conf: "httpd-jk.conf",
        files: &[("workers.properties", "workers.properties")],
    },
    Example {
        httpd_conf: "httpd-jk.conf",
        files: &[("sticky-sessions.properties", "workers.properties")],
    },
    Example {
        httpd_conf: "httpd-jk.conf",
        files: &[("hot-standby.properties", "workers.properties")],
    },
    Example {
        httpd_conf: "httpd-jk.conf",
        files: &[("pool-sizing.properties", "workers.properties")],
    },
    Example {
        httpd_conf: "httpd-one-tomcat.conf",
        files: &[("one-tomcat.properties", "workers.properties")],
    },
    Example {
        httpd_conf: "httpd-one-tomcat.conf",
        files: &[("one-tomcat-unix.properties", "workers.properties")],
    },
    Example {
        httpd_conf: "httpd-jkmountfile.conf",
        files: &[
            ("workers.properties", "workers.properties"),
            ("uriworkermap.properties", "uriworkermap.properties"),
        ],
    },
];

fn install_example(root: &ServerRoot, ex: &Example) {
    for (src, dst) in ex.files {
        install(
            root,
            &format!("conf-examples/{src}"),
            &format!("conf/{dst}"),
        );
    }
    install(
        root,
        &format!("conf-examples/{}", ex.httpd_conf),
        &format!("conf/{}", ex.httpd_conf),
    );
    configure_without_module(root, &format!("Include conf/{}\n", ex.httpd_conf));
}

fn describe(ex: &Example) -> String {
    let files: Vec<&str> = ex.files.iter().map(|(s, _)| *s).collect();
    format!("{} with {}", ex.httpd_conf, files.join(" + "))
}

#[test]
fn every_example_file_is_tested() {
    let mut covered: Vec<&str> = EXAMPLES
        .iter()
        .flat_map(|e| std::iter::once(e.httpd_conf).chain(e.files.iter().map(|(s, _)| *s)))
        .collect();
    covered.sort();
    covered.dedup();
    let mut present: Vec<String> = std::fs::read_dir(examples_dir())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    present.sort();
    assert_eq!(
        present, covered,
        "every file in conf-examples/ must appear in EXAMPLES of tests/conf_examples.rs"
    );
}

#[test]
fn every_example_passes_apache2_t() {
    for mpm in [Mpm::Prefork, Mpm::Event] {
        for ex in EXAMPLES {
            let root = ServerRoot::new(mpm);
            install_example(&root, ex);
            assert_config_ok(&root, &format!("{} under {mpm:?}", describe(ex)));
            let _ = std::fs::remove_dir_all(&root.dir);
        }
    }
}

#[test]
fn every_example_is_clean_in_rjk_check() {
    for ex in EXAMPLES {
        let root = ServerRoot::new(Mpm::Event);
        install_example(&root, ex);
        let _backend = unix_backend_for(&root);
        let out = rjk_check(&["--httpd-conf", &root.path("conf/httpd.conf")]);
        let (stdout, stderr) = shipping::text(&out);
        assert!(
            out.status.success(),
            "rjk-check failed on {}:\n{stdout}{stderr}",
            describe(ex)
        );
        assert!(
            stdout.contains("Configuration OK") && !stdout.contains("Warnings"),
            "rjk-check warned on {}:\n{stdout}",
            describe(ex)
        );
        // Every mounted worker exists (rjk-check would warn otherwise) and the map is not
        // empty.
        assert!(stdout.contains("URI map of the main server"), "{stdout}");
        assert!(!stdout.contains("(no rules"), "{stdout}");
        let _ = std::fs::remove_dir_all(&root.dir);
    }
}

/// Points the `host=unix:` workers of the installed workers.properties at the socket
/// `path` instead of the example's.
fn point_unix_workers_at(root: &ServerRoot, path: &std::path::Path) -> bool {
    let wf = root.dir.join("conf/workers.properties");
    let text = std::fs::read_to_string(&wf).unwrap();
    let Some(example) = text
        .lines()
        .find_map(|l| l.split_once(".host=unix:").map(|(_, p)| p.to_string()))
    else {
        return false;
    };
    std::fs::write(&wf, text.replace(&example, &path.display().to_string())).unwrap();
    true
}

/// For an example on a Unix socket: a fake backend listening on a socket under the
/// ServerRoot, the workers pointed at it (rjk-check inspects the socket).
fn unix_backend_for(root: &ServerRoot) -> Option<FakeAjp> {
    let sock = root.dir.join("run/ajp.sock");
    point_unix_workers_at(root, &sock).then(|| FakeAjp::start_unix("tomcat1", &sock, &[]))
}

#[test]
fn one_tomcat_unix_example_serves_a_page_from_tomcat_over_its_socket() {
    let t = Tomcat::start_with(
        "tomcat1",
        "change-me",
        common::tomcat::Options {
            ajp_unix: true,
            ..Default::default()
        },
    );
    let root = ServerRoot::new(Mpm::Event);
    let ex = EXAMPLES
        .iter()
        .find(|e| e.files[0].0 == "one-tomcat-unix.properties")
        .unwrap();
    install_example(&root, ex);
    assert!(point_unix_workers_at(&root, &t.ajp_socket()));
    let h = root.start();
    let r = h.get("/echo?from=unix-example");
    assert_eq!(r.status, 200, "{}\n{}", r.text(), h.error_log());
    let echo = Echo::parse(&r.body);
    assert_eq!(echo.get("route").as_deref(), Some("tomcat1"));
    assert_eq!(echo.get("query").as_deref(), Some("from=unix-example"));
}

#[test]
fn jkmountfile_example_maps_as_documented() {
    let ex = EXAMPLES
        .iter()
        .find(|e| e.httpd_conf == "httpd-jkmountfile.conf")
        .unwrap();
    let root = ServerRoot::new(Mpm::Event);
    install_example(&root, ex);
    let out = rjk_check(&["--httpd-conf", &root.path("conf/httpd.conf")]);
    let (stdout, _) = shipping::text(&out);
    let rule = |pattern: &str| {
        stdout
            .lines()
            .find(|l| l.split_whitespace().next() == Some(pattern))
            .unwrap_or_else(|| panic!("no rule {pattern}:\n{stdout}"))
            .to_string()
    };
    assert!(rule("/shop").contains("exact"));
    assert!(rule("/shop/*").contains("uriworkermap"));
    assert!(rule("!/shop/static/*").contains("unmount"));
    assert!(rule("/shop/reports/*").contains("reply_timeout=120000"));
    assert!(rule("-/shop/beta/*").contains("disabled"));
    assert!(rule("/jkmanager/").contains("jkstatus"));
    let _ = std::fs::remove_dir_all(&root.dir);
}

#[test]
fn one_tomcat_example_serves_a_page_from_tomcat() {
    let t = Tomcat::start("tomcat1", "change-me");
    let root = ServerRoot::new(Mpm::Event);
    let ex = EXAMPLES
        .iter()
        .find(|e| e.httpd_conf == "httpd-one-tomcat.conf")
        .unwrap();
    install_example(&root, ex);
    // The example's Tomcat listens on 18009; ours on a random one.
    let wf = root.dir.join("conf/workers.properties");
    let text = std::fs::read_to_string(&wf).unwrap();
    assert!(text.contains("worker.tomcat1.port=18009"), "{text}");
    assert!(text.contains("worker.tomcat1.secret=change-me"), "{text}");
    std::fs::write(
        &wf,
        text.replace(
            "worker.tomcat1.port=18009",
            &format!("worker.tomcat1.port={}", t.ajp_port),
        ),
    )
    .unwrap();
    let h = root.start();
    let r = h.get("/echo?from=example");
    assert_eq!(
        r.status,
        200,
        "{}\n{}\n{}",
        r.text(),
        h.error_log(),
        t.log_tail(30)
    );
    let echo = Echo::parse(&r.body);
    assert_eq!(echo.get("route").as_deref(), Some("tomcat1"));
    assert_eq!(echo.get("query").as_deref(), Some("from=example"));
    // JkUnMount /static/*: httpd answers itself (404 here, there is no such file).
    let r = h.get("/static/x.css");
    assert_eq!(r.status, 404);
    assert!(!r.text().contains("route="), "{}", r.text());
}
