//! AJP over Unix domain sockets: `worker.X.host=unix:/path` in front of real Debian
//! tomcat10 instances whose AJP connector listens on `unixDomainSocketPath`, and of the
//! fake backend (`rjk-fakeajp --unix`) for what Tomcat cannot show.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use common::tomcat::{Echo, Options, Tomcat};
use common::{FakeAjp, Httpd, Mpm, ServerRoot, echo_client};

/// A Tomcat whose AJP connector listens only on its Unix socket; `extra` goes to the
/// connector verbatim, `dir` is the socket directory's `MODE[:GROUP]`.
fn unix_tomcat(name: &str, extra: &str, dir: &str) -> Tomcat {
    Tomcat::start_with(
        name,
        "s-unix",
        Options {
            ajp_unix: true,
            ajp_attrs: extra.to_string(),
            ajp_unix_dir: dir.to_string(),
            ..Options::default()
        },
    )
}

/// httpd with `workers`, worker.list=`mount`,jkstatus, JkMount /echo* `mount` and a
/// status worker at /jkstatus/.
fn start(mpm: Mpm, workers: &str, mount: &str, conf_extra: &str) -> Httpd {
    let root = ServerRoot::new(mpm);
    let wf = root.write(
        "conf/workers.properties",
        &format!("worker.list={mount},jkstatus\n{workers}worker.jkstatus.type=status\n"),
    );
    root.configure(&format!(
        "JkWorkersFile {wf}\nJkShmFile logs/jk-shm\nJkLogFile logs/mod_jk.log\nJkLogLevel info\n\
         JkMount /jkstatus/* jkstatus\nJkMount /echo* {mount}\n{conf_extra}"
    ));
    root.start()
}

fn lb_workers(members: &[String], names: &[&str], extra: &str) -> String {
    format!(
        "{}worker.lb.type=lb\nworker.lb.balance_workers={}\n{extra}",
        members.concat(),
        names.join(",")
    )
}

fn route(h: &Httpd, path: &str) -> String {
    let r = h.get(path);
    assert_eq!(r.status, 200, "{path}: {}", r.text());
    Echo::parse(&r.body).get("route").unwrap_or_default()
}

/// `worker.<name>.<field>` from the status worker's prop format.
fn prop(h: &Httpd, name: &str, field: &str) -> String {
    common::status_prop(h, "/jkstatus/", name, field)
}

#[test]
fn worker_host_unix_socket_serves_get_and_post_from_tomcat_and_shows_the_path() {
    // The recipe of the README: the socket's group is the child user's (setgid
    // directory), rw for owner and group only.
    let (perms, dir) = if common::is_root() {
        (
            "unixDomainSocketPathPermissions=\"rw-rw----\"",
            "2750:www-data",
        )
    } else {
        ("", "")
    };
    let t = unix_tomcat("ux1", perms, dir);
    // No TCP AJP listener: the port in workers.properties leads nowhere.
    assert!(std::net::TcpStream::connect(("127.0.0.1", t.ajp_port)).is_err());
    let h = start(Mpm::Event, &t.worker_properties_as("tc"), "tc", "");
    let sock = t.ajp_socket().display().to_string();

    let r = h.get("/echo?x=1");
    assert_eq!(r.status, 200, "{}", r.text());
    let e = Echo::parse(&r.body);
    assert_eq!(e.get("route").as_deref(), Some("ux1"));
    assert_eq!(e.get("query").as_deref(), Some("x=1"));
    for len in [0usize, 1, 8187, 200_000] {
        let body: Vec<u8> = (0..len).map(|i| (i * 7 % 251) as u8).collect();
        let r = h.request("POST", "/echo", &[("Content-Type", "a/b")], &body);
        assert_eq!(r.status, 200, "len {len}: {}", r.text());
        let e = Echo::parse(&r.body);
        assert_eq!(e.get("body_len"), Some(len.to_string()));
        assert_eq!(e.get("method").as_deref(), Some("POST"));
    }

    // The status page shows the socket as the address, in every format.
    let address = format!("unix:{sock}");
    for mime in ["html", "xml", "txt", "prop", "json"] {
        let r = h.get(&format!("/jkstatus/?mime={mime}"));
        assert_eq!(r.status, 200, "{mime}");
        let text = r.text();
        assert!(text.contains(&address), "{mime}: no {address} in\n{text}");
        assert!(
            !text.contains(&format!("{address}:")),
            "{mime}: the port is appended to the socket path\n{text}"
        );
    }
    assert_eq!(prop(&h, "tc", "address"), address);
    h.assert_clean_log();
}

#[test]
fn worker_host_unix_sockets_balance_over_two_tomcats_and_survive_a_restart() {
    let ts = [unix_tomcat("uxa", "", ""), unix_tomcat("uxb", "", "")];
    let members: Vec<String> = ts.iter().map(Tomcat::worker_properties).collect();
    // As in lb_tomcat's restart test: a stopping Tomcat answers 404 while it undeploys
    // and 503 (with or without a body) while its connector pauses: fail over without an
    // error state. ping_mode=A finds dead pooled connections. The
    // CPing timeout is generous: on a loaded machine a JVM can stall for seconds, and a
    // timed-out CPing on the member that stays up would leave no member for a request.
    let mut extra = String::from("worker.lb.recover_time=1\nworker.maintain=1\n");
    for t in &ts {
        let n = &t.name;
        extra.push_str(&format!(
            "worker.{n}.fail_on_status=-404,-503\nworker.{n}.ping_mode=A\nworker.{n}.ping_timeout=10000\n"
        ));
    }
    let h = Arc::new(start(
        Mpm::Event,
        &lb_workers(&members, &["uxa", "uxb"], &extra),
        "lb",
        "",
    ));
    let mut seen = std::collections::BTreeSet::new();
    for _ in 0..8 {
        seen.insert(route(&h, "/echo"));
    }
    assert_eq!(seen.len(), 2, "{seen:?}");

    // Bounded client loop while uxa restarts: its socket goes away and comes back.
    let restarting = Arc::new(AtomicBool::new(true));
    let total = Arc::new(AtomicUsize::new(0));
    let clients: Vec<_> = (0..8)
        .map(|c| {
            let (h, going, total) = (h.clone(), restarting.clone(), total.clone());
            echo_client(h, format!("c{c}"), going, (20, 1000), total)
        })
        .collect();
    let sock = ts[0].ajp_socket();
    ts[0].stop();
    assert!(!sock.exists(), "Tomcat left its socket behind");
    ts[0].start_again();
    assert!(sock.exists());
    // The restarted member serves again (after recover_time).
    let deadline = Instant::now() + Duration::from_secs(30);
    while route(&h, "/echo") != "uxa" {
        assert!(Instant::now() < deadline, "uxa never came back");
    }
    let bad = common::stop_clients(&restarting, clients);
    let total = total.load(Ordering::Relaxed);
    assert!(total >= 160, "only {total} requests");
    let log = h.jk_log();
    let failed: Vec<&str> = log.lines().filter(|l| l.contains("failed")).collect();
    assert!(
        bad.is_empty(),
        "{} of {total} failed: {:?}\n{}",
        bad.len(),
        &bad[..bad.len().min(10)],
        failed[failed.len().saturating_sub(20)..].join("\n")
    );
}

#[test]
fn worker_host_unix_socket_closed_to_the_child_user_is_a_clear_503() {
    if !common::is_root() {
        eprintln!("skipped: needs root (httpd children run as www-data)");
        return;
    }
    // Owner (root) only: the www-data children may not connect.
    let t = unix_tomcat(
        "uxp",
        "unixDomainSocketPathPermissions=\"rw-------\"",
        "0700",
    );
    let sock = t.ajp_socket();
    let h = start(Mpm::Event, &t.worker_properties_as("tc"), "tc", "");
    let r = h.get("/echo");
    assert_eq!(r.status, 503, "{}", r.text());
    let log = h.wait_log("logs/mod_jk.log", "the permission error", |l| {
        l.contains("os error 13")
    });
    let line = log
        .lines()
        .find(|l| l.contains("os error 13"))
        .unwrap()
        .to_string();
    for part in [
        "worker tc",
        &sock.display().to_string(),
        "unixDomainSocketPathPermissions",
    ] {
        assert!(line.contains(part), "no {part:?} in {line}");
    }
    // Opening the directory and the socket to everyone is the whole fix.
    let dir = sock.parent().unwrap();
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o711)).unwrap();
    std::fs::set_permissions(&sock, std::fs::Permissions::from_mode(0o666)).unwrap();
    assert_eq!(route(&h, "/echo"), "uxp");
}

#[test]
fn worker_host_unix_socket_missing_fails_over_like_a_refused_connect() {
    let t = unix_tomcat("uxm", "", "");
    let missing = t.base.join("missing.sock");
    let members = vec![
        format!(
            "worker.gone.type=ajp13\nworker.gone.host=unix:{}\nworker.gone.secret=s-unix\n",
            missing.display()
        ),
        t.worker_properties(),
    ];
    let h = start(
        Mpm::Event,
        &lb_workers(&members, &["gone", "uxm"], "worker.lb.recover_time=60\n"),
        "lb",
        "",
    );
    for i in 0..6 {
        assert_eq!(route(&h, &format!("/echo?i={i}")), "uxm");
    }
    assert_eq!(prop(&h, "gone", "state"), "ERR");
    let log = h.jk_log();
    let line = log
        .lines()
        .find(|l| l.contains("member gone failed"))
        .unwrap_or_else(|| panic!("no failover line in\n{log}"));
    assert!(line.contains(&missing.display().to_string()), "{line}");
    assert!(line.contains("os error 2"), "{line}");
    // The member is tried once, then left alone until recover_time.
    assert_eq!(log.matches("member gone failed").count(), 1, "{log}");
}

#[test]
fn worker_host_unix_socket_to_the_fake_backend_pools_and_cpings() {
    let dir = std::env::temp_dir().join(format!("rjk-unix-fake-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    let sock = dir.join("fake.sock");
    let fake = FakeAjp::start_unix("uxf", &sock, &[]);
    // port, source and socket_keepalive have no meaning here; socket_connect_timeout and
    // socket_buffer do.
    let workers = format!(
        "worker.f.host=unix:{}\nworker.f.port=1\nworker.f.ping_mode=A\n\
         worker.f.socket_connect_timeout=2000\nworker.f.socket_buffer=65536\n\
         worker.f.source=127.0.0.1\nworker.f.socket_keepalive=true\n\
         worker.f.reply_timeout=1000\n",
        sock.display()
    );
    let one_child = "StartServers 1\nServerLimit 1\nMaxRequestWorkers 8\n\
                     MinSpareThreads 1\nMaxSpareThreads 8\n";
    let h = start(Mpm::Event, &workers, "f", one_child);
    for i in 0..5 {
        let r = h.get(&format!("/echo?i={i}"));
        assert_eq!(r.status, 200, "{}", r.text());
        assert_eq!(r.header("X-Backend"), Some("uxf"));
    }
    // One connection, reused; CPing after connect and before each request (ping_mode A).
    assert_eq!(fake.events("open").len(), 1, "{}", fake.log());
    let cpings = fake
        .events("packet")
        .iter()
        .filter(|l| l.contains("\"CPING\""))
        .count();
    assert!(cpings >= 5, "{cpings} CPINGs:\n{}", fake.log());
    // reply_timeout on a socket read: a backend that never answers gives a 504.
    let started = Instant::now();
    let r = h.get("/echo/fault/hang_before_headers");
    assert_eq!(r.status, 504, "{}", r.text());
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
    let log = h.error_log();
    for attr in ["source", "socket_keepalive"] {
        let warning = format!("{attr} does not apply to a Unix socket worker");
        assert!(log.contains(&warning), "no {warning:?} in\n{log}");
    }
    drop(fake);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn worker_host_unix_path_must_be_absolute() {
    let root = ServerRoot::new(Mpm::Event);
    let wf = root.write(
        "conf/workers.properties",
        "worker.list=a\nworker.a.host=unix:run/ajp.sock\n",
    );
    root.configure(&format!("JkWorkersFile {wf}\nJkMount /* a\n"));
    let out = root.config_test();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{err}");
    assert!(
        err.contains("absolute") && err.contains("worker.a.host"),
        "{err}"
    );
}

#[test]
fn worker_host_unix_rjk_check_inspects_the_socket() {
    let root = ServerRoot::new(Mpm::Event);
    let dir = root.dir.join("run");
    let plain = dir.join("plain");
    std::fs::write(&plain, "x").unwrap();
    let closed = dir.join("closed.sock");
    let fake = FakeAjp::start_unix("uxc", &closed, &[]);
    std::fs::set_permissions(&closed, std::fs::Permissions::from_mode(0o600)).unwrap();
    let wf = root.write(
        "conf/workers.properties",
        &format!(
            "worker.list=a,b,c
worker.a.host=unix:{}
worker.b.host=unix:{}
\
             worker.c.host=unix:{}
",
            dir.join("missing.sock").display(),
            plain.display(),
            closed.display()
        ),
    );
    root.configure(&format!("JkWorkersFile {wf}\nJkMount /* a\n"));
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_rjk-check"))
        .args(["--httpd-conf", &root.path("conf/httpd.conf")])
        .output()
        .unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{text}");
    let line = |w: &str| {
        text.lines()
            .find(|l| l.contains(&format!("worker {w} (defined at")) && !l.contains("secret"))
            .unwrap_or_else(|| panic!("no warning for {w} in\n{text}"))
            .to_string()
    };
    assert!(line("a").contains("does not exist"), "{text}");
    assert!(line("b").contains("not a socket"), "{text}");
    if common::is_root() {
        assert!(line("c").contains("only its owner"), "{text}");
    }
    assert!(
        text.contains(&format!("unix:{}", closed.display())),
        "{text}"
    );
    drop(fake);
}

#[test]
fn worker_socket_connect_timeout_bounds_the_wait_on_a_full_unix_backlog() {
    // A listener with a backlog of 0 that never accepts: one connection fills its queue,
    // the next connect waits for room, which never comes.
    let dir = std::env::temp_dir().join(format!("rjk-unix-backlog-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    let sock = dir.join("full.sock");
    let _ = std::fs::remove_file(&sock);
    let listener =
        socket2::Socket::new(socket2::Domain::UNIX, socket2::Type::STREAM, None).unwrap();
    listener
        .bind(&socket2::SockAddr::unix(&sock).unwrap())
        .unwrap();
    listener.listen(0).unwrap();
    std::fs::set_permissions(&sock, std::fs::Permissions::from_mode(0o666)).unwrap();
    let filler = std::os::unix::net::UnixStream::connect(&sock).unwrap();

    let workers = format!(
        "worker.f.host=unix:{}\nworker.f.socket_connect_timeout=500\nworker.f.retries=1\n",
        sock.display()
    );
    let h = start(Mpm::Event, &workers, "f", "");
    let started = Instant::now();
    let r = h.get("/echo");
    let took = started.elapsed();
    assert_eq!(r.status, 503, "{}", r.text());
    assert!(took < Duration::from_secs(5), "{took:?}");
    let log = h.wait_log("logs/mod_jk.log", "the backlog error", |l| {
        l.contains("listen backlog")
    });
    assert!(log.contains(&sock.display().to_string()), "{log}");
    drop((filler, listener));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn worker_host_unix_socket_set_from_the_status_page_moves_the_worker() {
    let dir = std::env::temp_dir().join(format!("rjk-unix-edit-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    let sock = dir.join("edit.sock");
    let tcp = FakeAjp::start("over-tcp", &[]);
    let unix = FakeAjp::start_unix("over-unix", &sock, &[]);
    let workers = format!("worker.tc.host=127.0.0.1\nworker.tc.port={}\n", tcp.port);
    let h = start(Mpm::Prefork, &workers, "tc", "");
    assert_eq!(h.get("/echo").header("X-Backend"), Some("over-tcp"));
    let encoded = format!("unix:{}", sock.display())
        .replace(':', "%3A")
        .replace('/', "%2F");
    let r = h.get(&format!(
        "/jkstatus/?cmd=update&w=tc&vahst={encoded}&mime=txt"
    ));
    assert_eq!(r.status, 200, "{}", r.text());
    // Every child applies the new address before its next request.
    for _ in 0..6 {
        let r = h.get("/echo");
        assert_eq!(r.status, 200, "{}", r.text());
        assert_eq!(r.header("X-Backend"), Some("over-unix"));
    }
    assert_eq!(
        prop(&h, "tc", "address"),
        format!("unix:{}", sock.display())
    );
    drop((tcp, unix));
    let _ = std::fs::remove_dir_all(&dir);
}
