//! The module in a real Debian apache2: loading, drop-in identity, configuration errors
//! reported by `apache2 -t`, mapping decisions and logging.

mod common;

use common::{Mpm, ServerRoot};

const WORKERS: &str = "\
# seed configuration
worker.list=load_balancer,jkstatus,tomcat1
worker.tomcat1.type=ajp13
worker.tomcat1.host=127.0.0.1
worker.tomcat1.port=@PORT1@
worker.tomcat1.lbfactor=1
worker.tomcat2.type=ajp13
worker.tomcat2.host=127.0.0.1
worker.tomcat2.port=@PORT2@
worker.load_balancer.type=lb
worker.load_balancer.balance_workers=tomcat1,tomcat2
worker.jkstatus.type=status
";

/// The members' ports are owned by this test and refused, so a request to them fails
/// whatever else runs here (a demo's Tomcat on 18009 would otherwise answer).
fn jk_conf(root: &ServerRoot, more: &str) -> String {
    let workers = root.write(
        "conf/workers.properties",
        &WORKERS
            .replace("@PORT1@", &common::down_port().to_string())
            .replace("@PORT2@", &common::down_port().to_string()),
    );
    format!(
        "JkWorkersFile {workers}\nJkLogFile logs/mod_jk.log\nJkLogLevel debug\nJkMount /app/* tomcat1\nJkMount /lb/* load_balancer\n\
         <Location /jkmanager/>\n  JkMount jkstatus\n  Require ip 192.0.2.1\n</Location>\n{more}"
    )
}

#[test]
fn module_exports_only_jk_module() {
    let out = std::process::Command::new("nm")
        .args(["-D", "--defined-only"])
        .arg(common::module_path())
        .output()
        .expect("nm (binutils)");
    let text = String::from_utf8_lossy(&out.stdout);
    let symbols: Vec<&str> = text
        .lines()
        .filter_map(|l| l.split_whitespace().nth(2))
        .collect();
    assert_eq!(symbols, ["jk_module"], "exported symbols:\n{text}");
}

/// include/hot-text.ld gathers the request path in `.text.rjk_hot` so that a child maps
/// little of the module's text; a pattern that stops matching (a renamed module, a
/// changed mangling) would silently give that memory back.
#[test]
fn request_path_code_is_gathered_in_the_hot_text_section() {
    let so = common::module_path();
    let run = |args: &[&str]| {
        let out = std::process::Command::new(args[0])
            .args(&args[1..])
            .arg(&so)
            .output()
            .expect("binutils");
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let sections = run(&["readelf", "-SW"]);
    let hot = sections
        .lines()
        .find(|l| l.contains(" .text.rjk_hot "))
        .unwrap_or_else(|| panic!("no .text.rjk_hot section:\n{sections}"));
    let f: Vec<&str> = hot.split_whitespace().collect();
    let at = f.iter().position(|w| *w == ".text.rjk_hot").unwrap();
    let start = u64::from_str_radix(f[at + 2], 16).unwrap();
    let end = start + u64::from_str_radix(f[at + 4], 16).unwrap();
    let symbols = run(&["nm", "-C"]);
    let address_of = |name: &str| {
        symbols
            .lines()
            .find(|l| {
                l.split_once(' ')
                    .is_some_and(|(_, rest)| rest.get(2..) == Some(name))
            })
            .map(|l| u64::from_str_radix(&l[..16], 16).unwrap())
            .unwrap_or_else(|| panic!("{name} not in the module's symbols"))
    };
    let inside = |name: &str| (start..end).contains(&address_of(name));
    for name in [
        "mod_rjk::module::handler",
        "mod_rjk::module::translate_name",
        "mod_rjk::handler::serve",
        "mod_rjk::handler::serve_lb",
        "mod_rjk::dispatch::failover",
        "mod_rjk::backend::service",
        "mod_rjk::backend::pool::Pool::connection",
        "mod_rjk::ajp::relay::relay",
        "mod_rjk::ajp::reply::decode_reply",
        "mod_rjk::ajp::request::encode_forward_request",
        "mod_rjk::lb::Balancer::choose",
        "mod_rjk::mapping::UriMap::map",
        "<std::time::Instant>::now",
    ] {
        assert!(
            inside(name),
            "{name} is outside .text.rjk_hot ({start:#x}..{end:#x})"
        );
    }
    for name in [
        "mod_rjk::status::render_page",
        "mod_rjk::config::workers::WorkersConfig::from_properties",
    ] {
        assert!(
            !inside(name),
            "{name} (not on the request path) is in .text.rjk_hot"
        );
    }
}

fn mapping_behaviour(mpm: Mpm) {
    let root = ServerRoot::new(mpm);
    let conf = jk_conf(&root, "");
    root.configure(&conf);
    let h = root.start();

    let r = h.get("/static.txt");
    assert_eq!(r.status, 200);
    assert_eq!(r.text(), "served by httpd\n");
    let server = r.header("Server").unwrap_or_default().to_string();
    assert!(
        server.contains(&format!("mod_rjk/{}", env!("CARGO_PKG_VERSION"))),
        "Server: {server}"
    );

    // Mapped to a worker whose Tomcat is not running (tomcat1), or whose type is not
    // served yet (lb): 503, and the choice is logged.
    let r = h.get("/app/index.jsp?x=1");
    assert_eq!(r.status, 503);
    h.wait_log("logs/mod_jk.log", "the worker choice", |l| {
        l.contains("worker tomcat1 (type ajp13) chosen for GET /app/index.jsp")
    });
    assert_eq!(h.get("/lb/x").status, 503);
    h.wait_log("logs/mod_jk.log", "the lb choice", |l| {
        l.contains("worker load_balancer (type lb) chosen")
    });
    // `/app` alone is an exact pattern miss: httpd serves (404 here).
    assert_eq!(h.get("/app").status, 404);
    // Escaping the root is refused before anything is mapped.
    assert_eq!(h.get("/app/../../etc/passwd").status, 400);
    // Path tricks are normalised before mapping.
    assert_eq!(h.get("/app//x;jsessionid=1/./y").status, 503);
    h.wait_log("logs/mod_jk.log", "the normalised URI", |l| {
        l.contains("chosen for GET /app/x/y")
    });

    // CVE-2018-11759: a path parameter must not bypass the <Location> ACL of the status
    // worker. The normalised URI replaces r->uri, so `Require ip` still applies: 403.
    assert_eq!(h.get("/jkmanager/").status, 403);
    assert_eq!(h.get("/jkmanager/;").status, 403);
    assert_eq!(h.get("/jkmanager;x/").status, 403);
    assert_eq!(h.get("/jkmanager/./").status, 403);
    let log = h.jk_log();
    assert!(!log.contains("jkstatus (type status) chosen"), "{log}");
    let err = h.stop();
    assert!(!err.contains("exit signal"), "{err}");
    assert!(!err.contains("panic"), "{err}");
}

#[test]
fn maps_requests_under_prefork() {
    mapping_behaviour(Mpm::Prefork);
}

#[test]
fn maps_requests_under_event() {
    mapping_behaviour(Mpm::Event);
}

#[test]
fn loads_under_worker_mpm_and_survives_restarts() {
    let root = ServerRoot::new(Mpm::Worker);
    let conf = jk_conf(&root, "");
    root.configure(&conf);
    let h = root.start();
    assert_eq!(h.get("/app/a").status, 503);
    for graceful in [true, false, true] {
        h.restart(graceful);
        assert_eq!(h.get("/static.txt").status, 200);
        assert_eq!(h.get("/app/a").status, 503);
    }
    let err = h.stop();
    assert!(!err.contains("exit signal"), "{err}");
}

#[test]
fn ifmodule_matches_both_names() {
    let root = ServerRoot::new(Mpm::Event);
    let conf = jk_conf(
        &root,
        "<IfModule jk_module>\n JkMount /by-symbol/* tomcat1\n</IfModule>\n\
         <IfModule mod_jk.c>\n JkMount /by-file/* tomcat1\n</IfModule>\n\
         <IfModule !mod_jk.c>\n Error \"mod_jk.c not recognised\"\n</IfModule>\n",
    );
    root.configure(&conf);
    let h = root.start();
    assert_eq!(h.get("/by-symbol/x").status, 503);
    assert_eq!(h.get("/by-file/x").status, 503);
}

fn config_test_fails(root: &ServerRoot, extra: &str) -> String {
    root.configure(extra);
    let out = root.config_test();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(
        !out.status.success(),
        "apache2 -t accepted:\n{extra}\n{stderr}"
    );
    stderr
}

#[test]
fn config_test_reports_workers_errors_with_file_and_line() {
    let root = ServerRoot::new(Mpm::Event);
    let wf = root.write(
        "conf/workers.properties",
        "worker.list=tomcat1\nworker.tomcat1.type=ajp13\nworker.tomcat1.prot=8009\n",
    );
    let err = config_test_fails(&root, &format!("JkWorkersFile {wf}\n"));
    assert!(err.contains(&format!("{wf}:3")), "{err}");
    assert!(err.contains("did you mean 'port'"), "{err}");
    assert!(
        err.contains("httpd.conf"),
        "httpd names its own line too: {err}"
    );

    // Worker defined only by JkWorkerProperty lines: validated once all directives are read.
    let err = config_test_fails(
        &root,
        "JkWorkerProperty worker.list=lb\nJkWorkerProperty worker.lb.type=lb\nJkWorkerProperty worker.lb.balance_workers=nosuch\n",
    );
    assert!(err.contains("httpd.conf:"), "{err}");
    assert!(err.contains("nosuch"), "{err}");

    let err = config_test_fails(&root, "JkOptions +ForwardEverything\n");
    assert!(err.contains("unknown option '+ForwardEverything'"), "{err}");
    assert!(err.contains("Syntax error on line"), "{err}");

    let err = config_test_fails(&root, "JkMount app/* tomcat1\n");
    assert!(err.contains("must start with '/'"), "{err}");

    let err = config_test_fails(
        &root,
        "<VirtualHost 127.0.0.1:1>\nJkWorkersFile /etc/x\n</VirtualHost>\n",
    );
    assert!(err.contains("only allowed in the main server"), "{err}");

    let err = config_test_fails(&root, "JkWorkersFile conf/missing.properties\n");
    assert!(err.contains("missing.properties"), "{err}");

    // A valid seed configuration passes, with no file (implicit ajp13 worker) too.
    root.configure(&jk_conf(&root, ""));
    assert!(root.config_test().status.success());
    root.configure("JkMount /x/* ajp13\n");
    let out = root.config_test();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn vhosts_inherit_mounts_only_with_jkmountcopy() {
    let root = ServerRoot::new(Mpm::Event);
    let conf = jk_conf(
        &root,
        "<VirtualHost *:*>\n ServerName copy.test\n JkMountCopy On\n</VirtualHost>\n\
         <VirtualHost *:*>\n ServerName nocopy.test\n</VirtualHost>\n\
         <VirtualHost *:*>\n ServerName own.test\n JkMount /own/* tomcat1\n</VirtualHost>\n",
    );
    root.configure(&conf);
    let h = root.start();
    assert_eq!(h.get_with("/app/x", &[("Host", "copy.test")]).status, 503);
    assert_eq!(h.get_with("/app/x", &[("Host", "nocopy.test")]).status, 404);
    assert_eq!(h.get_with("/own/x", &[("Host", "own.test")]).status, 503);
    assert_eq!(h.get_with("/app/x", &[("Host", "own.test")]).status, 404);
}

#[test]
fn sethandler_no_jk_unmount_and_unknown_worker() {
    let root = ServerRoot::new(Mpm::Prefork);
    let conf = jk_conf(
        &root,
        "JkUnMount /app/static/* tomcat1\n\
         SetEnvIf Request_URI \"^/app/plain\" no-jk\n\
         <Location /handled>\n SetHandler jakarta-servlet\n SetEnv JK_WORKER_NAME tomcat1\n</Location>\n\
         <Location /nowhere>\n SetHandler jakarta-servlet\n</Location>\n\
         <Location /member>\n SetHandler jakarta-servlet\n SetEnv JK_WORKER_NAME tomcat2\n</Location>\n\
         <Location /ghost>\n SetHandler jakarta-servlet\n SetEnv JK_WORKER_NAME ghost\n</Location>\n",
    );
    root.configure(&conf);
    let h = root.start();
    // JkUnMount of the winning rule's worker: not forwarded, and no fallback.
    assert_eq!(h.get("/app/static/x.png").status, 404);
    assert_eq!(h.get("/app/plain").status, 404);
    assert_eq!(h.get("/handled").status, 503);
    h.wait_log("logs/mod_jk.log", "the SetHandler choice", |l| {
        l.contains("chosen for GET /handled")
    });
    // SetHandler without a worker name: declined as mod_jk does, so httpd answers (here
    // 404: no such file), and never an implicit default worker (CVE-2023-41081).
    assert_eq!(h.get("/nowhere").status, 404);
    h.wait_log("logs/mod_jk.log", "the declined request", |l| {
        l.contains("no worker for /nowhere")
    });
    // A worker that is not in worker.list (here an lb member) serves nothing directly.
    assert_eq!(h.get("/member").status, 500);
    assert_eq!(h.get("/ghost").status, 500);
    let log = h.wait_log("logs/mod_jk.log", "unknown worker", |l| {
        l.contains("worker name=ghost")
    });
    assert!(log.contains("worker name=tomcat2"), "{log}");
}

/// mod_jk logs a JkMount of an unknown worker and answers 500 at request time; mod_rjk
/// refuses the configuration, naming the directive's line and the worker meant.
#[test]
fn jk_mount_of_an_unknown_or_unlisted_worker_fails_config_test() {
    let cases = [
        (
            "JkMount /ghost/* tomcat\n",
            "JkMount: worker 'tomcat' is not defined; worker.list has load_balancer, jkstatus, tomcat1 (did you mean 'tomcat1'?)",
        ),
        (
            "<VirtualHost *:80>\n ServerName v.test\n JkMount /m/* tomcat2\n</VirtualHost>\n",
            "JkMount: worker 'tomcat2' is a member of load balancer 'load_balancer' and not in worker.list; mount 'load_balancer', or add 'tomcat2' to worker.list",
        ),
    ];
    for (extra, message) in cases {
        let root = ServerRoot::new(Mpm::Event);
        let conf = jk_conf(&root, extra);
        let httpd_conf = root.configure(&conf);
        let line = std::fs::read_to_string(&httpd_conf)
            .unwrap()
            .lines()
            .position(|l| {
                l.trim_start().starts_with("JkMount /")
                    && !l.contains("/app/")
                    && !l.contains("/lb/")
            })
            .expect("the JkMount line")
            + 1;
        let out = root.config_test();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "apache2 -t passed:\n{err}");
        assert!(
            err.contains(&format!("{httpd_conf}:{line}: {message}")),
            "expected {httpd_conf}:{line}: {message}\n{err}"
        );
    }
}

#[test]
fn directives_once_without_effect_start_without_a_warning() {
    let root = ServerRoot::new(Mpm::Event);
    let conf = jk_conf(
        &root,
        "JkAutoAlias /opt/tomcat/webapps\nJkRequestLogFormat \"%w %V %T\"\nJkShmSize 64\n\
         JkOptions +ForwardDirectories\n",
    );
    root.configure(&conf);
    let h = root.start();
    let err = h.error_log();
    for name in [
        "JkAutoAlias",
        "JkRequestLogFormat",
        "JkShmSize",
        "ForwardDirectories",
    ] {
        assert!(!err.contains(name), "a warning names {name}:\n{err}");
    }
    assert!(!h.jk_log().contains("no effect"), "{}", h.jk_log());
}

#[test]
fn log_lines_carry_stamp_pid_tid_request_id_and_go_to_pipes() {
    let root = ServerRoot::new(Mpm::Event);
    let piped = root.path("logs/piped.log");
    let conf = jk_conf(
        &root,
        &format!(
            "JkLogLevel info\nJkLogStampFormat \"<%Y-%m-%d %H:%M:%S.%q> \"\nJkRequestIdIndicator MY_REQ_ID\n\
             SetEnvIf Request_URI \"^/app/(id[0-9]+)\" MY_REQ_ID=$1\n\
             <VirtualHost *:*>\n ServerName 127.0.0.1\n JkMountCopy On\n</VirtualHost>\n\
             <VirtualHost *:*>\n ServerName piped.test\n JkMountCopy On\n JkLogFile \"|/bin/sh -c 'cat >> {piped}'\"\n JkLogLevel debug\n</VirtualHost>\n"
        ),
    );
    root.configure(&conf);
    let h = root.start();
    assert_eq!(h.get("/app/id42").status, 503);
    let log = h.wait_log("logs/mod_jk.log", "the request line", |l| {
        l.contains("[id42]")
    });
    let line = log.lines().find(|l| l.contains("[id42]")).unwrap();
    assert!(
        line.starts_with('<') && line.contains("> [id42] ["),
        "{line}"
    );
    let pid_tid = line.split("] [").nth(1).unwrap();
    let (pid, tid) = pid_tid.split_once(':').unwrap();
    assert!(h.children().contains(&pid.parse().unwrap()), "{line}");
    assert!(tid.parse::<u64>().is_ok(), "{line}");
    // Info level: no debug lines, the connect failure to the absent Tomcat is an error.
    assert!(!log.contains("[debug]"), "{log}");
    assert!(line.contains("[error] serve::handler.rs ("), "{line}");
    assert!(
        line.contains("worker tomcat1 failed for /app/id42: cannot connect"),
        "{line}"
    );

    assert_eq!(
        h.get_with("/app/id7", &[("Host", "piped.test")]).status,
        503
    );
    let p = h.wait_log("logs/piped.log", "piped lines", |l| l.contains("[id7]"));
    assert!(
        p.contains("[debug] translate::handler.rs"),
        "debug level applies to the vhost: {p}"
    );
    assert!(
        !h.jk_log().contains("[id7]"),
        "the vhost logs only to its pipe"
    );
}

#[test]
fn jkmountfile_is_read_and_reloaded_and_stripsession_applies() {
    let root = ServerRoot::new(Mpm::Event);
    let mf = root.write(
        "conf/uriworkermap.properties",
        "# initial rules\n/files/*=tomcat1\n",
    );
    let conf = jk_conf(
        &root,
        // One child: each child reloads on its own schedule, and the test must know that
        // the child it talks to is the one that saw each version of the file.
        &format!(
            "JkMountFile {mf}\nJkMountFileReload 1\nJkStripSession On\n\
             StartServers 1\nServerLimit 1\nMaxRequestWorkers 8\nMinSpareThreads 1\nMaxSpareThreads 8\n"
        ),
    );
    root.configure(&conf);
    let h = root.start();
    assert_eq!(h.get("/files/a").status, 503);
    assert_eq!(h.get("/other/a").status, 404);
    // JkStripSession: a URI that is not forwarded loses its ;jsessionid parameter.
    assert_eq!(h.get("/static.txt;jsessionid=ABC.tomcat1").status, 200);
    std::thread::sleep(std::time::Duration::from_millis(1100));
    std::fs::write(&mf, "/other/*=tomcat1\n").unwrap();
    // Each child reloads on its own when a request arrives after the interval.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        std::thread::sleep(std::time::Duration::from_millis(300));
        let statuses: Vec<u16> = (0..8).map(|_| h.get("/other/a").status).collect();
        if statuses.iter().all(|&s| s == 503) {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "reload not seen: {statuses:?}"
        );
    }
    assert_eq!(h.get("/files/a").status, 404);
    // A broken file is reported and the rules in use stay.
    std::thread::sleep(std::time::Duration::from_millis(1100));
    std::fs::write(&mf, "no-slash=tomcat1\n").unwrap();
    // Requests until the child tried the broken file (and said so); each one, and those
    // after it, is still mapped by the rules in use.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while !h.jk_log().contains("keeping the rules in use") {
        assert_eq!(h.get("/other/a").status, 503);
        assert!(
            std::time::Instant::now() < deadline,
            "the broken file was never reported:\n{}",
            h.jk_log()
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    for _ in 0..8 {
        assert_eq!(h.get("/other/a").status, 503);
    }
}

#[test]
fn reject_unsafe_uri_leaves_suspicious_paths_to_httpd() {
    let root = ServerRoot::new(Mpm::Event);
    let conf = jk_conf(&root, "JkOptions +RejectUnsafeURI +ForwardDirectories\n");
    root.configure(&conf);
    let h = root.start();
    assert_eq!(h.get("/app/plain").status, 503, "mapped as usual");
    // `%2525` decodes once to `%25`: a `%` left after decoding is not forwarded.
    assert_eq!(h.get("/app/a%2525b").status, 404);
    assert_eq!(h.get("/app/a%5Cb").status, 404);
}

/// The harness's address scheme: when httpd's random loopback address turns out to be
/// taken, it moves to another one and serves there.
#[test]
fn harness_moves_httpd_to_another_address_when_its_own_is_taken() {
    let root = ServerRoot::new(Mpm::Event);
    let taken = root.listen();
    let _holder = std::net::TcpListener::bind(&taken).expect("bind httpd's address first");
    root.configure("");
    let h = root.start();
    assert_ne!(h.addr().to_string(), taken);
    assert_eq!(h.port(), taken.rsplit(':').next().unwrap().parse().unwrap());
    let r = h.get("/static.txt");
    assert_eq!((r.status, r.text().as_str()), (200, "served by httpd\n"));
}
