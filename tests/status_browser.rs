//! The zero-downtime deploy, clicked in a real browser: headless Debian Chromium opens the
//! status manager, edits tomcat1 to Disabled and submits the form; the balancer then spreads
//! new requests over tomcat2 and tomcat3 only, and re-enabling brings 3/3/3 back.

mod common;

use std::process::Command;

use common::{FakeAjp, Mpm, ServerRoot, spread_over};

#[test]
fn chromium_disables_a_member_through_the_edit_form() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/status_browser");
    assert!(
        dir.join("node_modules/playwright-core").exists(),
        "run `npm ci --prefix tests/status_browser` first (tests/run.sh does)"
    );
    let fakes: Vec<FakeAjp> = (1..=3)
        .map(|i| FakeAjp::start(&format!("tomcat{i}"), &[]))
        .collect();
    let root = ServerRoot::new(Mpm::Prefork);
    let mut w = String::from("worker.list=load_balancer,jkstatus\n");
    for (i, f) in fakes.iter().enumerate() {
        w.push_str(&format!(
            "worker.tomcat{n}.host=127.0.0.1\nworker.tomcat{n}.port={}\n",
            f.port,
            n = i + 1
        ));
    }
    w.push_str("worker.load_balancer.type=lb\nworker.load_balancer.balance_workers=tomcat1,tomcat2,tomcat3\nworker.jkstatus.type=status\n");
    let wf = root.write("conf/workers.properties", &w);
    root.configure(&format!(
        "JkWorkersFile {wf}\nJkMount /* load_balancer\n<Location /jkmanager/>\n JkMount jkstatus\n Require ip 127.0.0.1\n</Location>\n"
    ));
    let h = root.start();
    assert_eq!(
        spread_over(&h, "/echo", 9)
            .values()
            .copied()
            .collect::<Vec<_>>(),
        [3, 3, 3]
    );

    let shot = std::env::temp_dir().join(format!("rjk-jkmanager-{}.png", std::process::id()));
    let out = Command::new("node")
        .arg(dir.join("click_disable.mjs"))
        .env("HTTPD_HOST", h.host())
        .arg(h.port().to_string())
        .arg("tomcat1")
        .arg(&shot)
        .output()
        .expect("node (nodejs) must be installed");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "browser run failed: {stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("\"displayed\":\"DIS\""), "{stdout}");
    // The screenshot of the page is kept and named in the output.
    let png = std::fs::read(&shot).expect("screenshot written");
    assert!(
        png.starts_with(b"\x89PNG\r\n\x1a\n") && png.len() > 10_000,
        "not a real screenshot"
    );
    eprintln!("status manager screenshot: {}", shot.display());

    let after = spread_over(&h, "/echo", 9);
    assert_eq!(after.get("tomcat1"), None, "{after:?}");
    assert_eq!(after.values().sum::<usize>(), 9);
    for _ in 0..3 {
        let r = h.get_with("/echo", &[("Cookie", "JSESSIONID=s.tomcat1")]);
        assert_eq!(
            r.header("X-Backend"),
            Some("tomcat1"),
            "sessions of tomcat1 still reach it"
        );
    }
    // The page itself shows all three members with their states.
    let page = h.get("/jkmanager/").text();
    for m in ["tomcat1", "tomcat2", "tomcat3"] {
        assert!(
            page.contains(&format!("data-member=\"{m}\"")),
            "{m} missing from the page"
        );
    }
    // Enable again (as a script would) and 3/3/3 returns.
    assert_eq!(
        h.get("/jkmanager/?cmd=update&w=load_balancer&sw=tomcat1&vwa=0")
            .status,
        200
    );
    let _ = spread_over(&h, "/echo", 30);
    assert_eq!(
        spread_over(&h, "/echo", 9)
            .values()
            .copied()
            .collect::<Vec<_>>(),
        [3, 3, 3]
    );
}

/// A page on another site, over plain http at host names other than localhost (where
/// Chromium sends no Sec-Fetch-*) and with `referrerpolicy=no-referrer`, tries every way a
/// page can make the visitor's browser change the status manager: `<img>`, `<iframe>`,
/// `fetch(no-cors)` and a form POST. Each is refused and nothing changes; a read under a
/// name the server does not know (DNS rebinding) is refused too; curl still works.
#[test]
fn chromium_on_another_site_cannot_change_the_status_manager() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/status_browser");
    assert!(
        dir.join("node_modules/playwright-core").exists(),
        "run `npm ci --prefix tests/status_browser` first (tests/run.sh does)"
    );
    let root = ServerRoot::new(Mpm::Event);
    let mut w = String::from("worker.list=load_balancer,jkstatus\n");
    for i in 1..=3 {
        w.push_str(&format!(
            "worker.tomcat{i}.host=127.0.0.1\nworker.tomcat{i}.port={}\n",
            common::down_port()
        ));
    }
    w.push_str("worker.load_balancer.type=lb\nworker.load_balancer.balance_workers=tomcat1,tomcat2,tomcat3\nworker.jkstatus.type=status\n");
    let wf = root.write("conf/workers.properties", &w);
    // The status manager's server is named jkm.test (what the browser asks for).
    root.configure(&format!(
        "CustomLog logs/access_log \"%m %U%q %>s\"\n\
         JkWorkersFile {wf}\nJkLogFile logs/mod_jk.log\n\
         <VirtualHost {listen}>\n ServerName jkm.test\n\
         <Location /jkmanager/>\n  JkMount jkstatus\n  Require ip 127.0.0.1\n </Location>\n\
         </VirtualHost>\n",
        listen = root.listen(),
    ));
    let h = root.start();
    let member = |h: &common::Httpd| {
        let prop = h
            .get("/jkmanager/?cmd=show&w=load_balancer&sw=tomcat3&mime=prop")
            .text();
        ["activation", "lbfactor", "distance"].map(|k| {
            let key = format!("worker.tomcat3.{k}=");
            prop.lines()
                .find_map(|l| l.strip_prefix(&key))
                .unwrap_or_else(|| panic!("no {key} in\n{prop}"))
                .to_string()
        })
    };
    assert_eq!(member(&h), ["ACT", "1", "0"]);

    let out = Command::new("node")
        .arg(dir.join("cross_site_attack.mjs"))
        .env("HTTPD_HOST", h.host())
        .args([
            &h.port().to_string(),
            "/jkmanager/",
            "load_balancer",
            "tomcat3",
        ])
        .output()
        .expect("node (nodejs) must be installed");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "browser run failed: {stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // The four attempts reached httpd, and each was answered 403: the img, the iframe,
    // the fetch and the form POST.
    assert_eq!(stdout.matches("\"url\":").count(), 4, "{stdout}");
    let log = h.wait_log("logs/access_log", "the four attempts", |l| {
        l.matches("/jkmanager/").count() >= 4 + 2
    });
    let attempts: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("/jkmanager/") && !l.contains("mime=prop"))
        .collect();
    assert_eq!(attempts.len(), 5, "{log}");
    for want in [
        "vwa=S",
        "vwf=7",
        "vwd=3",
        "POST /jkmanager/ ",
        "GET /jkmanager/ ",
    ] {
        assert!(
            attempts
                .iter()
                .any(|a| a.contains(want) && a.ends_with(" 403")),
            "{want}: {log}"
        );
    }
    assert!(stdout.contains("\"rebinding\":403"), "{stdout}");
    assert_eq!(member(&h), ["ACT", "1", "0"], "{stdout}");

    // The README's curl flow is unchanged.
    let r = h.get("/jkmanager/?cmd=update&w=load_balancer&sw=tomcat3&vwa=D&vwf=7");
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(member(&h), ["DIS", "7", "0"]);
}
