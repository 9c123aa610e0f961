//! rjk-check: the seed configuration's workers and URI map, errors with file:line and
//! exit status 1, the same verdict as `apache2 -t` on the same files, and README.md's
//! reference tables being exactly what it generates.

mod common;
mod shipping;

use common::{Mpm, ServerRoot};
use shipping::{examples_dir, repo, rjk_check, temp_dir, text};

/// A ServerRoot-like directory with conf/workers.properties from conf-examples, as
/// conf-examples/httpd-jk.conf expects it.
fn seed_root() -> std::path::PathBuf {
    let dir = temp_dir("check-seed");
    std::fs::create_dir_all(dir.join("conf")).unwrap();
    std::fs::copy(
        examples_dir().join("workers.properties"),
        dir.join("conf/workers.properties"),
    )
    .unwrap();
    dir
}

/// The line of `out` whose first word is `first`.
fn line_of<'a>(out: &'a str, first: &str) -> &'a str {
    out.lines()
        .find(|l| l.split_whitespace().next() == Some(first))
        .unwrap_or_else(|| panic!("no line starting with {first}:\n{out}"))
}

#[test]
fn seed_config_prints_workers_and_uri_map() {
    let dir = seed_root();
    let conf = examples_dir().join("httpd-jk.conf");
    let out = rjk_check(&[
        "--server-root",
        dir.to_str().unwrap(),
        "--httpd-conf",
        conf.to_str().unwrap(),
    ]);
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stdout}{stderr}");
    assert!(
        stdout.contains("Workers (worker.list: load_balancer, jkstatus)"),
        "{stdout}"
    );

    let lb = line_of(&stdout, "load_balancer");
    assert!(lb.contains(" lb ") && lb.contains("listed"), "{lb}");
    assert!(
        stdout.contains("members: tomcat1 (127.0.0.1:18009, lbfactor 1, route tomcat1, Active), tomcat2 (127.0.0.1:28009"),
        "{stdout}"
    );
    assert!(stdout.contains("sticky_session=true"), "{stdout}");
    assert!(line_of(&stdout, "jkstatus").contains("status"));
    for (w, port) in [("tomcat1", 18009), ("tomcat2", 28009), ("tomcat3", 38009)] {
        let l = line_of(&stdout, w);
        assert!(
            l.contains("ajp13") && l.contains(&format!("127.0.0.1:{port}")),
            "{l}"
        );
        assert!(l.contains("member of load_balancer"), "{l}");
    }
    // Inherited from worker.template; the secret itself is never printed.
    assert!(stdout.contains("socket_connect_timeout=5000ms"), "{stdout}");
    assert!(stdout.contains("secret=(set)"), "{stdout}");
    assert!(!stdout.contains("change-me"), "{stdout}");

    assert!(stdout.contains("URI map of the main server:"), "{stdout}");
    let status = line_of(&stdout, "/jkmanager/");
    assert!(
        status.contains("jkstatus") && status.contains("exact") && status.contains("JkMount"),
        "{status}"
    );
    let all = line_of(&stdout, "/*");
    assert!(
        all.contains("load_balancer") && all.contains("wildchar") && all.contains("JkMount"),
        "{all}"
    );
    // Match order: the more specific rule first.
    assert!(stdout.find("/jkmanager/").unwrap() < stdout.find("/*  ").unwrap());
    assert!(
        stdout.contains("Configuration OK") && !stdout.contains("Warnings"),
        "{stdout}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn workers_file_alone() {
    let out = rjk_check(&[
        "--workers",
        examples_dir()
            .join("one-tomcat.properties")
            .to_str()
            .unwrap(),
    ]);
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stdout}{stderr}");
    assert!(
        line_of(&stdout, "tomcat1").contains("127.0.0.1:18009"),
        "{stdout}"
    );
    assert!(stdout.contains("no --httpd-conf given"), "{stdout}");
}

#[test]
fn broken_workers_file_prints_file_line_and_exits_1() {
    let dir = temp_dir("check-broken");
    let wf = dir.join("workers.properties");
    std::fs::write(
        &wf,
        "# a typo on line 4\nworker.list=tomcat1\nworker.tomcat1.type=ajp13\nworker.tomcat1.prot=8009\n",
    )
    .unwrap();
    let out = rjk_check(&["--workers", wf.to_str().unwrap()]);
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(1), "{stdout}{stderr}");
    assert!(
        stderr.contains(&format!("{}:4", wf.display())),
        "no file:line in:\n{stderr}"
    );
    assert!(stderr.contains("did you mean 'port'"), "{stderr}");
    assert!(!stdout.contains("Configuration OK"), "{stdout}");

    // Through an httpd.conf: both places are named.
    let conf = dir.join("httpd.conf");
    std::fs::write(
        &conf,
        format!(
            "ServerName x\n<IfModule jk_module>\n  JkWorkersFile {}\n</IfModule>\n",
            wf.display()
        ),
    )
    .unwrap();
    let out = rjk_check(&["--httpd-conf", conf.to_str().unwrap()]);
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains(&format!("{}:3:", conf.display())),
        "{stderr}"
    );
    assert!(stderr.contains(&format!("{}:4", wf.display())), "{stderr}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn httpd_conf_errors_are_all_reported() {
    let dir = seed_root();
    let conf = dir.join("conf/httpd.conf");
    std::fs::write(
        &conf,
        "JkWorkersFile conf/workers.properties\n\
         JkMount app/* load_balancer\n\
         <Location /x>\n  JkLogFile logs/x.log\n</Location>\n\
         <VirtualHost 127.0.0.1:80>\n  JkMountCopy All\n</VirtualHost>\n\
         JkExtractSSL perhaps\n",
    )
    .unwrap();
    let out = rjk_check(&["--httpd-conf", conf.to_str().unwrap()]);
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    let c = conf.display();
    for expected in [
        format!("{c}:2: JkMount: the URI pattern 'app/*' must start with '/'"),
        format!("{c}:4: JkLogFile not allowed in <Location> context"),
        format!("{c}:7: JkMountCopy All is only allowed in the main server"),
        format!("{c}:9: JkExtractSSL must be On or Off"),
    ] {
        assert!(
            stderr.contains(&expected),
            "missing '{expected}' in:\n{stderr}"
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn vhosts_locations_and_includes() {
    let dir = seed_root();
    std::fs::create_dir_all(dir.join("conf/sites")).unwrap();
    std::fs::write(
        dir.join("conf/sites/a.conf"),
        "<VirtualHost *:80>\n  ServerName copy.example\n  JkMountCopy On\n  JkMount /a/* load_balancer\n</VirtualHost>\n\
         <VirtualHost *:80>\n  ServerName plain.example\n</VirtualHost>\n",
    )
    .unwrap();
    let conf = dir.join("conf/httpd.conf");
    std::fs::write(
        &conf,
        "Define APP /app\n\
         <IfModule mod_jk.c>\n  JkWorkersFile conf/workers.properties\n  JkMount ${APP}/* load_balancer\n</IfModule>\n\
         <IfModule !jk_module>\n  JkMount /never/* tomcat2\n</IfModule>\n\
         <IfModule ssl_module>\n  JkMount /ssl/* tomcat2\n</IfModule>\n\
         IncludeOptional conf/sites/*.conf\n\
         IncludeOptional conf/none/*.conf\n\
         <Location \"/status/\">\n  JkMount jkstatus\n</Location>\n",
    )
    .unwrap();
    let out = rjk_check(&[
        "--server-root",
        dir.to_str().unwrap(),
        "--httpd-conf",
        conf.to_str().unwrap(),
    ]);
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stdout}{stderr}");
    assert!(
        !stdout.contains("/never/") && !stdout.contains("/ssl/"),
        "{stdout}"
    );
    let main = stdout
        .split("URI map of the main server:")
        .nth(1)
        .unwrap()
        .split("URI map of")
        .next()
        .unwrap();
    assert!(
        main.contains("/app/*") && main.contains("/status/"),
        "{main}"
    );
    let copy = stdout
        .split("(ServerName copy.example):")
        .nth(1)
        .unwrap()
        .split("URI map of")
        .next()
        .unwrap();
    // JkMountCopy On: the main server's rules (also those written after the vhost) and
    // its own.
    for p in ["/app/*", "/status/", "/a/*"] {
        assert!(copy.contains(p), "{p} missing in {copy}");
    }
    let plain = stdout.split("(ServerName plain.example):").nth(1).unwrap();
    assert!(plain.contains("JkMountCopy On"), "no hint in {plain}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// rjk-check and `apache2 -t` with the built module agree on good and bad configurations.
#[test]
fn same_verdict_as_apache2_t() {
    let cases: &[(&str, &str, bool)] = &[
        (
            "worker.list=a\nworker.a.port=8009\n",
            "JkMount /a/* a\n",
            true,
        ),
        (
            "worker.list=a\nworker.a.prot=8009\n",
            "JkMount /a/* a\n",
            false,
        ),
        ("worker.list=lb\nworker.lb.type=lb\n", "", false),
        ("worker.list=a\n", "JkMount a/* a\n", false),
        (
            "worker.list=a\n",
            "<VirtualHost *:80>\nJkMountCopy All\n</VirtualHost>\n",
            false,
        ),
        (
            "worker.list=a\n",
            "<VirtualHost *:80>\nJkMountCopy On\n</VirtualHost>\n",
            true,
        ),
        (
            "worker.list=a\n",
            "<Location /s>\nJkMount a\n</Location>\n",
            true,
        ),
        (
            "worker.list=a\n",
            "<Location /s>\nJkOptions +FlushPackets\n</Location>\n",
            false,
        ),
        ("worker.list=a\n", "JkOptions +NoSuchOption\n", false),
        ("worker.list=a\n", "JkLogLevel debug info\n", false),
        ("worker.list=a\nworker.a.max_packet_size=100000\n", "", true),
        ("worker.list=a\n", "JkMount /b/* b\n", false),
        (
            "worker.list=lb\nworker.lb.type=lb\nworker.lb.balance_workers=m\n",
            "JkMount /m/* m\n",
            false,
        ),
        ("worker.list=a\n", "JkLogLevl debug\n", false),
        ("worker.list=a\n", "JkMountt /x a\n", false),
        ("worker.list=a\n", "jkloglevel debug\n", true),
        (
            "worker.list=a\n",
            "<IfModule !jk_module>\nJkBogus x\n</IfModule>\n",
            true,
        ),
        (
            "worker.list=a\n",
            "<IfModule jk_module>\nError \"stop here\"\n</IfModule>\n",
            false,
        ),
        (
            "worker.list=a\n",
            "<IfFile /nonexistent/x>\nJkBogus x\n</IfFile>\n",
            true,
        ),
        (
            "worker.list=a\n",
            "<IfFile !/nonexistent/x>\nJkBogus x\n</IfFile>\n",
            false,
        ),
        (
            "worker.list=a\n",
            "<IfFile conf/httpd.conf>\nJkBogus x\n</IfFile>\n",
            false,
        ),
    ];
    for (workers, jk, ok) in cases {
        let root = ServerRoot::new(Mpm::Event);
        let wf = root.write("conf/workers.properties", workers);
        root.configure(&format!("JkWorkersFile {wf}\n{jk}"));
        let httpd_ok = root.config_test().status.success();
        let out = rjk_check(&["--httpd-conf", &root.path("conf/httpd.conf")]);
        let (stdout, stderr) = text(&out);
        assert_eq!(
            httpd_ok,
            *ok,
            "apache2 -t on {workers:?} / {jk:?}: {}",
            String::from_utf8_lossy(&root.config_test().stderr)
        );
        assert_eq!(
            out.status.success(),
            *ok,
            "rjk-check on {workers:?} / {jk:?}:\n{stdout}{stderr}"
        );
        let _ = std::fs::remove_dir_all(&root.dir);
    }
}

/// Directive errors read word for word as `apache2 -t` prints them (after its "Syntax
/// error on line N of FILE:"), as `FILE:N: message`.
#[test]
fn directive_errors_read_as_apache2_t_prints_them() {
    let cases = [
        "JkLogLevl debug",
        "JkMountt /x a",
        "JkLogLevel",
        "JkLogLevel debug info",
        "JkMount",
        "JkMount /a/* a extra",
        "JkExtractSSL",
        "JkMountCopy",
        "<Location /x>\nJkShmFile logs/shm\n</Location>",
        "<VirtualHost *:80>\nJkWorkersFile conf/workers.properties\n</VirtualHost>",
    ];
    for jk in cases {
        let root = ServerRoot::new(Mpm::Event);
        let wf = root.write("conf/workers.properties", "worker.list=a\n");
        let conf = root.configure(&format!("JkWorkersFile {wf}\n{jk}"));
        let t = root.config_test();
        let httpd = String::from_utf8_lossy(&t.stderr);
        assert!(!t.status.success(), "apache2 -t accepted {jk:?}");
        let (line, message) = httpd_syntax_error(&httpd);
        let out = rjk_check(&["--httpd-conf", &conf]);
        let (stdout, stderr) = text(&out);
        assert_eq!(out.status.code(), Some(1), "{jk:?}: {stdout}{stderr}");
        let expected = format!("{conf}:{line}: {message}");
        assert!(
            stderr.lines().any(|l| l.starts_with(&expected)),
            "{jk:?}: apache2 -t says\n{httpd}\nrjk-check says\n{stderr}"
        );
        let _ = std::fs::remove_dir_all(&root.dir);
    }
}

/// The line number and message of httpd's "AH00526: Syntax error on line N of FILE:".
fn httpd_syntax_error(stderr: &str) -> (usize, String) {
    let mut lines = stderr.lines();
    let head = lines
        .find(|l| l.contains("Syntax error on line"))
        .unwrap_or_else(|| panic!("no syntax error in:\n{stderr}"));
    let n = head
        .split("on line ")
        .nth(1)
        .and_then(|r| r.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap();
    (n, lines.next().unwrap_or("").to_string())
}

/// httpd stops at the first error; rjk-check lists every one, and still fails.
#[test]
fn every_error_is_reported_not_only_the_first() {
    let root = ServerRoot::new(Mpm::Event);
    let wf = root.write(
        "conf/workers.properties",
        "worker.list=lb\nworker.lb.type=lb\nworker.lb.balance_workers=m\nworker.m.secret=s\n",
    );
    let conf = root.configure(&format!(
        "JkWorkersFile {wf}\nJkLogLevl debug\nJkMount /m/* m\nJkMountt /x lb\nJkLogLevel a b\nJkMount /n/* nobody\n"
    ));
    let t = root.config_test();
    assert!(!t.status.success());
    let out = rjk_check(&["--httpd-conf", &conf]);
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    let n = |l: usize| format!("{conf}:{l}: ");
    let base = conf_line_of(&conf, "JkLogLevl debug");
    for (line, what) in [
        (base, "Invalid command 'JkLogLevl'"),
        (base + 1, "JkMount: worker 'm'"),
        (base + 2, "Invalid command 'JkMountt'"),
        (base + 3, "JkLogLevel takes one argument"),
        (base + 4, "JkMount: worker 'nobody'"),
    ] {
        let expected = format!("{}{what}", n(line));
        assert!(
            stderr.lines().any(|l| l.starts_with(&expected)),
            "missing '{expected}' in:\n{stderr}"
        );
    }
    assert!(stderr.contains("5 error(s)"), "{stderr}");
    let _ = std::fs::remove_dir_all(&root.dir);
}

fn conf_line_of(conf: &str, text: &str) -> usize {
    std::fs::read_to_string(conf)
        .unwrap()
        .lines()
        .position(|l| l == text)
        .unwrap()
        + 1
}

/// `--httpd-conf conf/httpd.conf --server-root DIR` reads DIR/conf/httpd.conf, as
/// `apache2 -d DIR -f conf/httpd.conf` does, whatever the current directory.
#[test]
fn relative_httpd_conf_resolves_against_the_server_root() {
    let root = ServerRoot::new(Mpm::Event);
    root.write(
        "conf/workers.properties",
        "worker.list=a\nworker.a.secret=s\n",
    );
    root.configure("JkWorkersFile conf/workers.properties\nJkMount /a/* a\n");
    let httpd = std::process::Command::new(common::APACHE2)
        .current_dir("/")
        .args(["-t", "-d", &root.path(""), "-f", "conf/httpd.conf"])
        .output()
        .unwrap();
    assert!(httpd.status.success(), "{httpd:?}");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_rjk-check"))
        .current_dir("/")
        .args([
            "--server-root",
            &root.path(""),
            "--httpd-conf",
            "conf/httpd.conf",
        ])
        .output()
        .unwrap();
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stdout}{stderr}");
    assert!(line_of(&stdout, "/a/*").contains(" a "), "{stdout}");
    let _ = std::fs::remove_dir_all(&root.dir);
}

/// Tomcat 9.0.31+/10 refuse AJP requests without the connector's secret: rjk-check names
/// every ajp13 worker that has none (an lb's secret counts for its members).
#[test]
fn ajp13_worker_without_secret_is_warned_about() {
    let dir = temp_dir("check-secret");
    let wf = dir.join("workers.properties");
    std::fs::write(
        &wf,
        "worker.list=lb,plain,guarded\nworker.lb.type=lb\nworker.lb.secret=s\n\
         worker.lb.balance_workers=m1,m2\nworker.m1.port=1\nworker.m2.port=2\n\
         worker.guarded.secret=t\n",
    )
    .unwrap();
    let out = rjk_check(&["--workers", wf.to_str().unwrap()]);
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stdout}{stderr}");
    let warned: Vec<&str> = stdout
        .lines()
        .filter(|l| l.contains("without a secret"))
        .collect();
    assert_eq!(warned.len(), 1, "{stdout}");
    assert!(
        warned[0].contains("worker plain ") && warned[0].contains("worker.plain.secret"),
        "{stdout}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

fn readme_section(readme: &str, name: &str) -> String {
    let begin = format!("<!-- BEGIN {name} -->\n");
    let end = format!("<!-- END {name} -->");
    let from = readme
        .find(&begin)
        .unwrap_or_else(|| panic!("README.md lacks `{}`", begin.trim()))
        + begin.len();
    let to = readme[from..]
        .find(&end)
        .unwrap_or_else(|| panic!("README.md lacks `{end}`"))
        + from;
    readme[from..to].to_string()
}

fn assert_readme_table(name: &str, flag: &str) {
    let readme = std::fs::read_to_string(repo().join("README.md")).unwrap();
    let out = rjk_check(&[flag]);
    assert!(out.status.success());
    let generated = String::from_utf8(out.stdout).unwrap();
    assert!(generated.lines().count() > 10, "{generated}");
    let section = readme_section(&readme, name);
    if section != generated {
        let diff: Vec<String> = section
            .lines()
            .zip(generated.lines())
            .filter(|(a, b)| a != b)
            .take(3)
            .map(|(a, b)| format!("README:    {a}\ngenerated: {b}"))
            .collect();
        panic!(
            "README.md's {name} table differs from `rjk-check {flag}` \
             ({} lines vs {}). Regenerate it with:\n    bash apxs/gen-readme-tables.sh\n{}",
            section.lines().count(),
            generated.lines().count(),
            diff.join("\n")
        );
    }
}

#[test]
fn readme_directive_table_is_generated() {
    assert_readme_table("directives", "--markdown-directives");
}

#[test]
fn readme_worker_table_is_generated() {
    assert_readme_table("workers", "--markdown-workers");
}

#[test]
fn usage_errors_exit_2() {
    let out = rjk_check(&[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out).1.contains("usage: rjk-check"));
    let out = rjk_check(&["--bogus"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(rjk_check(&["--help"]).status.success());
}

/// Debian's jk.load and our rjk.load enabled together: `apache2 -t` fails on rjk.load's
/// Error line, and so does rjk-check; rjk.load alone passes both.
#[test]
fn jk_and_rjk_load_together_fail_like_apache2_t() {
    let load = std::fs::read_to_string(repo().join("apxs/rjk.load"))
        .unwrap()
        .replace(
            "/usr/lib/apache2/modules/mod_rjk.so",
            common::module_path().to_str().unwrap(),
        );
    for with_jk in [false, true] {
        let root = ServerRoot::new(Mpm::Event);
        let wf = root.write(
            "conf/workers.properties",
            "worker.list=a\nworker.a.secret=s\n",
        );
        let jk = root.write(
            "conf/mods/jk.load",
            &format!(
                "LoadModule jk_module {}/mod_jk.so\n",
                common::apache_modules_dir()
            ),
        );
        let rjk = root.write("conf/mods/rjk.load", &load);
        if !with_jk {
            std::fs::remove_file(&jk).unwrap();
        }
        let conf = shipping::configure_without_module(
            &root,
            &format!("IncludeOptional conf/mods/*.load\nJkWorkersFile {wf}\n"),
        );
        let t = root.config_test();
        let httpd = String::from_utf8_lossy(&t.stderr).into_owned();
        let out = rjk_check(&["--httpd-conf", &conf]);
        let (stdout, stderr) = text(&out);
        assert_eq!(t.status.success(), !with_jk, "{httpd}");
        assert_eq!(out.status.success(), !with_jk, "{stdout}{stderr}");
        if with_jk {
            let (line, message) = httpd_syntax_error(&httpd);
            assert!(message.contains("both enabled"), "{httpd}");
            assert!(
                stderr.contains(&format!("{rjk}:{line}: {message}")),
                "{httpd}\n{stderr}"
            );
        }
        let _ = std::fs::remove_dir_all(&root.dir);
    }
}
