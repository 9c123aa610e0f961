//! Directives with an effect beyond the URI map and the AJP exchange: JkRequestLogFormat,
//! JkAutoAlias, JkShmSize and JkOptions +ForwardDirectories. Each test fails when the
//! directive is accepted but ignored.

mod common;

use common::{FakeAjp, Httpd, Mpm, ServerRoot};

/// An lb `lb` over two fake members plus a plain worker `w` (the first fake), with
/// `conf` after the workers file.
fn setup(conf: &str) -> (Httpd, Vec<FakeAjp>) {
    let fakes: Vec<FakeAjp> = (1..=2)
        .map(|i| FakeAjp::start(&format!("tomcat{i}"), &[]))
        .collect();
    let root = ServerRoot::new(Mpm::Event);
    let mut w = String::from("worker.list=lb,w\n");
    for (i, f) in fakes.iter().enumerate() {
        w.push_str(&format!(
            "worker.tomcat{n}.host=127.0.0.1\nworker.tomcat{n}.port={p}\n",
            n = i + 1,
            p = f.port
        ));
    }
    w.push_str(&format!(
        "worker.lb.type=lb\nworker.lb.balance_workers=tomcat1,tomcat2\n\
         worker.w.host=127.0.0.1\nworker.w.port={}\n",
        fakes[0].port
    ));
    let wf = root.write("conf/workers.properties", &w);
    root.configure(&format!(
        "JkWorkersFile {wf}\nJkShmFile logs/jk-runtime-status\n{conf}"
    ));
    (root.start(), fakes)
}

/// The JK log's lines that start with `marker` (after the time stamp).
fn request_lines(h: &Httpd, marker: &str, n: usize) -> Vec<String> {
    let log = h.wait_log("logs/mod_jk.log", &format!("{n} request lines"), |t| {
        t.lines().filter(|l| l.contains(marker)).count() >= n
    });
    log.lines()
        .filter_map(|l| l.split_once(marker).map(|(_, rest)| rest.to_string()))
        .collect()
}

#[test]
fn jk_request_log_format_writes_one_line_per_served_request() {
    let (h, _fakes) = setup(
        "JkLogStampFormat \"[%H:%M:%S] \"\n\
         JkRequestLogFormat \"REQ %w %R %m %U %q %H %s %B %b %p %v %V %T\\t|%r|\"\n\
         JkMount /app/* lb\n",
    );
    let r = h.get("/app/echo?a=1");
    assert_eq!(r.status, 200);
    let member = r.header("X-Backend").unwrap().to_string();
    // A static file is httpd's: no line for it.
    assert_eq!(h.get("/static.txt").status, 200);
    let r2 = h.request("HEAD", "/app/other", &[], b"");
    assert_eq!(r2.status, 200);
    let lines = request_lines(&h, "REQ ", 2);
    assert_eq!(lines.len(), 2, "{lines:?}");
    let (head, tail) = lines[0]
        .split_once('\t')
        .expect("the \\t escape became a tab");
    let f: Vec<&str> = head.split(' ').collect();
    let len = r.body.len().to_string();
    assert_eq!(
        f[..12],
        [
            "lb",
            &member,
            "GET",
            "/app/echo",
            "?a=1",
            "HTTP/1.1",
            "200",
            &len,
            &len,
            "80",
            "127.0.0.1",
            "127.0.0.1"
        ],
        "{head}"
    );
    let (secs, micros) = f[12].split_once('.').expect("%T is seconds.micros");
    assert!(
        secs.parse::<u64>().is_ok() && micros.len() == 6,
        "{}",
        f[12]
    );
    assert_eq!(tail, "|GET /app/echo?a=1 HTTP/1.1|");
    // HEAD: no body went out, so %B is 0, %b is '-' and %q is empty.
    let f: Vec<&str> = lines[1].split(' ').collect();
    assert_eq!(
        f[2..9],
        ["HEAD", "/app/other", "", "HTTP/1.1", "200", "0", "-"]
    );
}

#[test]
fn jk_request_log_format_unknown_item_fails_the_configuration() {
    let root = ServerRoot::new(Mpm::Event);
    root.configure("JkRequestLogFormat \"%w %Z\"\n");
    let out = root.config_test();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("JkRequestLogFormat") && err.contains("'%Z'"),
        "{err}"
    );
}

/// A webapps directory with `shop/` (a page and WEB-INF) and a packed `old.war`.
fn webapps(h: &ServerRoot) -> String {
    h.write("webapps/shop/index.html", "shop page from webapps\n");
    h.write("webapps/shop/WEB-INF/web.xml", "<web-app/>\n");
    h.write("webapps/shop/META-INF/context.xml", "<Context/>\n");
    h.write("webapps/old.war", "PK");
    h.path("webapps")
}

#[test]
fn jk_auto_alias_serves_webapp_files_and_guards_private_dirs() {
    let fake = FakeAjp::start("tomcat1", &[]);
    let root = ServerRoot::new(Mpm::Event);
    let dir = webapps(&root);
    let wf = root.write(
        "conf/workers.properties",
        &format!(
            "worker.list=w\nworker.w.host=127.0.0.1\nworker.w.port={}\n",
            fake.port
        ),
    );
    root.configure(&format!(
        "JkWorkersFile {wf}\nJkMount /shop/*.jsp w\nJkAutoAlias {dir}/\n\
         <Directory \"{dir}\">\n    Require all granted\n</Directory>\n"
    ));
    let h = root.start();
    let r = h.get("/shop/index.html");
    assert_eq!(
        (r.status, r.text().as_str()),
        (200, "shop page from webapps\n")
    );
    // A mapped URI still goes to the worker.
    assert_eq!(h.get("/shop/cart.jsp").header("X-Backend"), Some("tomcat1"));
    assert_eq!(h.get("/shop/WEB-INF/web.xml").status, 404);
    assert_eq!(h.get("/shop/meta-inf/context.xml").status, 404);
    assert_eq!(h.get("/old.war").status, 403);
    // Not a webapp: httpd's document root as usual.
    assert_eq!(h.get("/static.txt").text(), "served by httpd\n");
}

#[test]
fn jk_auto_alias_unset_leaves_webapps_unreachable() {
    let root = ServerRoot::new(Mpm::Event);
    let dir = webapps(&root);
    root.configure(&format!(
        "JkMount /shop/*.jsp ajp13\n<Directory \"{dir}\">\n    Require all granted\n</Directory>\n"
    ));
    let h = root.start();
    assert_eq!(h.get("/shop/index.html").status, 404);
    assert_eq!(h.get("/old.war").status, 404);
}

/// htdocs/docs/ without an index file, htdocs/site/ with one; the worker for /docs/ is
/// named by JK_WORKER_NAME (the directory request itself is not mounted).
fn directories(options: &str) -> (Httpd, FakeAjp) {
    let fake = FakeAjp::start("tomcat1", &[]);
    let root = ServerRoot::new(Mpm::Event);
    root.write("htdocs/docs/readme.txt", "a file\n");
    root.write("htdocs/site/index.html", "local index\n");
    let wf = root.write(
        "conf/workers.properties",
        &format!(
            "worker.list=w\nworker.w.host=127.0.0.1\nworker.w.port={}\n",
            fake.port
        ),
    );
    root.configure(&format!(
        "JkWorkersFile {wf}\nJkMount /app/* w\n{options}\n\
         SetEnvIf Request_URI \"^/(docs|site)/\" JK_WORKER_NAME=w\n"
    ));
    (root.start(), fake)
}

#[test]
fn jk_options_forward_directories_sends_index_less_directories_to_the_worker() {
    let (h, _fake) = directories("JkOptions +ForwardDirectories");
    let r = h.get("/docs/");
    assert_eq!((r.status, r.header("X-Backend")), (200, Some("tomcat1")));
    // A directory with an index file is still httpd's.
    let r = h.get("/site/");
    assert_eq!((r.status, r.text().as_str()), (200, "local index\n"));
    assert_eq!(h.get("/docs/readme.txt").text(), "a file\n");
}

#[test]
fn jk_options_forward_directories_off_leaves_directories_to_httpd() {
    let (h, _fake) = directories("");
    let r = h.get("/docs/");
    assert_eq!(r.header("X-Backend"), None);
    assert_eq!(r.status, 404, "httpd has no index or listing for it");
}

fn shm_file_len(h: &Httpd) -> u64 {
    let path = h.root.path(&format!("logs/jk-runtime-status.{}", h.pid()));
    std::fs::metadata(&path)
        .unwrap_or_else(|e| panic!("{path}: {e}"))
        .len()
}

#[test]
fn jk_shm_size_makes_the_shared_memory_file_at_least_that_large() {
    let (h, _fakes) = setup("JkShmSize 200\nJkMount /app/* lb\n");
    let len = shm_file_len(&h);
    assert!(len >= 200 * 1024, "{len}");
    assert_eq!(len % 384, 0, "rounded like mod_jk: {len}");
    // The balancer works out of it as before.
    assert_eq!(h.get("/app/echo").status, 200);
    let (auto, _fakes) = setup("JkMount /app/* lb\n");
    assert!(shm_file_len(&auto) < 200 * 1024, "{}", shm_file_len(&auto));
}

/// The fake that answered `path` on virtual host `host`, or httpd's own status.
fn answered_by(h: &Httpd, host: &str, path: &str) -> String {
    let r = h.get_with(path, &[("Host", host)]);
    match r.header("X-Backend") {
        Some(b) => b.to_string(),
        None => format!("httpd {}", r.status),
    }
}

/// How many FORWARD_REQUESTs for exactly `uri` the fake logged.
fn forwarded(fake: &FakeAjp, uri: &str) -> usize {
    let tag = format!("\"uri\":\"{uri}\"");
    fake.events("request")
        .iter()
        .filter(|e| e.contains(&tag))
        .count()
}

#[test]
fn jk_mount_sends_matching_requests_to_the_named_worker() {
    let (h, fakes) = setup(
        "JkMount /app/* w\nJkMount /exact w\nJkMount /lbapp/* lb\nJkMount /pipe|/* w\n\
         <Location /loc/>\n JkMount w\n</Location>\n",
    );
    let main = "127.0.0.1";
    for path in ["/app/x", "/exact", "/loc/", "/pipe", "/pipe/x"] {
        assert_eq!(answered_by(&h, main, path), "tomcat1", "{path}");
        assert_eq!(forwarded(&fakes[0], path), 1, "{path}");
    }
    // An exact pattern (a <Location>'s path is one) matches nothing below it; unmapped
    // paths stay httpd's.
    assert_eq!(answered_by(&h, main, "/exact/more"), "httpd 404");
    assert_eq!(answered_by(&h, main, "/loc/y"), "httpd 404");
    assert_eq!(h.get("/static.txt").text(), "served by httpd\n");
    // The lb behind /lbapp/* spreads over both members.
    let s = common::spread_over(&h, "/lbapp/x", 4);
    assert_eq!(s.len(), 2, "{s:?}");
}

#[test]
fn jk_un_mount_keeps_matching_requests_from_the_worker() {
    let (h, fakes) = setup(
        "JkMount /app/* w\nJkUnMount /app/static/* w\nJkUnMount /app/any/* *\n\
         JkUnMount /app/other/* lb\n",
    );
    let main = "127.0.0.1";
    assert_eq!(answered_by(&h, main, "/app/static/a.png"), "httpd 404");
    assert_eq!(answered_by(&h, main, "/app/any/a.png"), "httpd 404");
    // An unmount names the worker it removes: one for lb leaves w's rule alone.
    assert_eq!(answered_by(&h, main, "/app/other/a.png"), "tomcat1");
    assert_eq!(answered_by(&h, main, "/app/x"), "tomcat1");
    fakes[0].wait_events("request", 2);
    for uri in ["/app/static/a.png", "/app/any/a.png"] {
        assert_eq!(forwarded(&fakes[0], uri), 0, "{uri}: {}", fakes[0].log());
    }
}

#[test]
fn jk_mount_copy_gives_a_virtual_host_the_main_server_mounts() {
    let vhosts = "JkMount /app/* w\n\
        <VirtualHost *:*>\n ServerName copy.test\n JkMountCopy On\n JkMount /app/lb/* lb\n</VirtualHost>\n\
        <VirtualHost *:*>\n ServerName plain.test\n JkMount /own/* w\n</VirtualHost>\n\
        <VirtualHost *:*>\n ServerName off.test\n JkMountCopy Off\n JkMount /own/* w\n</VirtualHost>\n";
    let (h, _fakes) = setup(vhosts);
    assert_eq!(answered_by(&h, "copy.test", "/app/x"), "tomcat1");
    assert_eq!(answered_by(&h, "plain.test", "/app/x"), "httpd 404");
    assert_eq!(answered_by(&h, "plain.test", "/own/x"), "tomcat1");
    // The vhost's own rules still apply next to the copied ones.
    let s: Vec<String> = (0..4)
        .map(|_| answered_by(&h, "copy.test", "/app/lb/x"))
        .collect();
    assert!(s.iter().any(|b| b == "tomcat2"), "{s:?}");
    // JkMountCopy All in the main server: every vhost without Off copies.
    let (h, _fakes) = setup(&format!("JkMountCopy All\n{vhosts}"));
    assert_eq!(answered_by(&h, "plain.test", "/app/x"), "tomcat1");
    assert_eq!(answered_by(&h, "off.test", "/app/x"), "httpd 404");
    assert_eq!(answered_by(&h, "off.test", "/own/x"), "tomcat1");
}
