//! docker/: what can be checked without a container engine (docker/test/run.sh runs the
//! setup on one): compose.yaml names the expected services, images and ports; every file it or the
//! Dockerfiles reference exists; names, routes, ports and secrets agree between compose,
//! workers.properties and Tomcat's server.xml; the e2e script parses; and the httpd
//! configuration the image ends up with (docker/httpd/httpd.conf, conf-examples/httpd-jk.conf,
//! docker/httpd/workers.properties, assembled as the Dockerfile and the compose volumes
//! do it) passes `apache2 -t` with the built module and rjk-check without warnings.
//!
//! compose.yaml is read with a small line parser (no YAML dependency): it understands the
//! subset the file uses, block mappings, block lists and one `<<: *anchor` merge.

mod common;
mod shipping;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use common::{Mpm, ServerRoot};
use shipping::{repo, rjk_check, text};

const SECRET: &str = "docker-test-secret";

fn docker() -> PathBuf {
    repo().join("docker")
}

fn read(p: &Path) -> String {
    std::fs::read_to_string(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

fn indent(l: &str) -> usize {
    l.len() - l.trim_start().len()
}

fn significant(text: &str) -> Vec<&str> {
    text.lines()
        .filter(|l| !l.trim().is_empty() && !l.trim_start().starts_with('#'))
        .collect()
}

fn unquote(s: &str) -> String {
    let s = s.trim();
    s.strip_prefix('"')
        .and_then(|s| s.strip_suffix('"'))
        .unwrap_or(s)
        .to_string()
}

/// One compose service, flattened: `key` → scalar values and `list key` → items, keys
/// taken at any depth (`context`, `dockerfile`, `image`, `ports`, `volumes`, ...).
#[derive(Default, Debug)]
struct Service {
    scalars: BTreeMap<String, String>,
    lists: BTreeMap<String, Vec<String>>,
}

impl Service {
    fn scalar(&self, k: &str) -> &str {
        self.scalars
            .get(k)
            .map(String::as_str)
            .unwrap_or_else(|| panic!("no `{k}` in {self:?}"))
    }
    fn list(&self, k: &str) -> &[String] {
        self.lists.get(k).map(Vec::as_slice).unwrap_or(&[])
    }
}

fn flatten(lines: &[&str], anchors: &BTreeMap<String, Vec<String>>) -> Service {
    let mut s = Service::default();
    let mut list_key: Option<(String, usize)> = None;
    for l in lines {
        let t = l.trim();
        if let Some(name) = t.strip_prefix("<<: *") {
            let a = anchors
                .get(name)
                .unwrap_or_else(|| panic!("unknown anchor {name}"));
            let merged = flatten(&a.iter().map(String::as_str).collect::<Vec<_>>(), anchors);
            for (k, v) in merged.scalars {
                s.scalars.entry(k).or_insert(v);
            }
            for (k, v) in merged.lists {
                s.lists.entry(k).or_insert(v);
            }
            continue;
        }
        if let Some(item) = t.strip_prefix("- ") {
            if let Some((k, ind)) = &list_key {
                if indent(l) >= *ind {
                    s.lists.entry(k.clone()).or_default().push(unquote(item));
                    continue;
                }
            }
        }
        if let Some((k, v)) = t.split_once(':') {
            let (k, v) = (k.trim().to_string(), v.trim());
            if v.is_empty() {
                list_key = Some((k, indent(l)));
            } else {
                list_key = None;
                s.scalars.insert(k, unquote(v));
            }
        }
    }
    s
}

/// Services of compose.yaml by name.
fn compose() -> BTreeMap<String, Service> {
    let text = read(&docker().join("compose.yaml"));
    let lines = significant(&text);
    // Top-level blocks: `key: ...` at column 0 and the lines under it.
    let mut blocks: Vec<(String, Vec<&str>)> = Vec::new();
    for l in &lines {
        if indent(l) == 0 {
            blocks.push((l.to_string(), Vec::new()));
        } else {
            blocks
                .last_mut()
                .expect("compose.yaml starts indented")
                .1
                .push(l);
        }
    }
    let mut anchors = BTreeMap::new();
    for (head, body) in &blocks {
        if let Some((_, anchor)) = head.split_once(": &") {
            anchors.insert(
                anchor.trim().to_string(),
                body.iter().map(|s| s.to_string()).collect(),
            );
        }
    }
    let (_, services) = blocks
        .iter()
        .find(|(h, _)| h.trim() == "services:")
        .expect("compose.yaml has services:");
    let mut out = BTreeMap::new();
    let mut current: Option<(String, Vec<&str>)> = None;
    for l in services {
        if indent(l) == 2 {
            if let Some((n, body)) = current.take() {
                out.insert(n, flatten(&body, &anchors));
            }
            current = Some((l.trim().trim_end_matches(':').to_string(), Vec::new()));
        } else {
            current.as_mut().expect("service body").1.push(l);
        }
    }
    if let Some((n, body)) = current {
        out.insert(n, flatten(&body, &anchors));
    }
    out
}

/// `ARG` defaults substituted into `FROM` and the `COPY` lines (without `--from`) of the
/// final stage as (sources, destination).
struct Dockerfile {
    from: Vec<String>,
    final_copies: Vec<(Vec<String>, String)>,
    all_copies: Vec<(Vec<String>, String)>,
    text: String,
}

fn dockerfile(p: &Path) -> Dockerfile {
    let text = read(p);
    let mut args = BTreeMap::new();
    let mut from = Vec::new();
    let mut all_copies = Vec::new();
    let mut stage_copies = Vec::new();
    // Join continuation lines first.
    let joined = text.replace("\\\n", " ");
    for l in significant(&joined) {
        let words: Vec<&str> = l.split_whitespace().collect();
        match words.first().map(|w| w.to_ascii_uppercase()).as_deref() {
            Some("ARG") => {
                if let Some((k, v)) = words[1].split_once('=') {
                    args.insert(format!("${{{k}}}"), v.to_string());
                }
            }
            Some("FROM") => {
                let image = args.get(words[1]).cloned().unwrap_or(words[1].to_string());
                from.push(image);
                stage_copies.clear();
            }
            Some("COPY") if !words[1].starts_with("--from") => {
                let dst = words.last().unwrap().to_string();
                let srcs = words[1..words.len() - 1]
                    .iter()
                    .map(|s| s.to_string())
                    .collect::<Vec<_>>();
                stage_copies.push((srcs.clone(), dst.clone()));
                all_copies.push((srcs, dst));
            }
            _ => {}
        }
    }
    Dockerfile {
        from,
        final_copies: stage_copies,
        all_copies,
        text,
    }
}

const ADDRESSES: [(&str, &str); 3] = [
    ("tomcat1", "127.0.0.11"),
    ("tomcat2", "127.0.0.12"),
    ("tomcat3", "127.0.0.13"),
];

#[test]
fn compose_names_services_images_and_ports() {
    let text = read(&docker().join("compose.yaml"));
    // docker-compose 1.29 (Debian 12) rejects a top-level `name:`; docker/.env names the
    // project for every version.
    assert!(!text.lines().any(|l| l.starts_with("name:")), "{text}");
    assert!(read(&docker().join(".env")).contains("COMPOSE_PROJECT_NAME=mod_rjk"));
    let c = compose();
    assert_eq!(
        c.keys().map(String::as_str).collect::<Vec<_>>(),
        ["httpd", "test", "tomcat1", "tomcat2", "tomcat3"]
    );
    let httpd = &c["httpd"];
    assert_eq!(httpd.scalar("image"), "localhost/mod_rjk/httpd:0.1.0");
    assert_eq!(httpd.scalar("dockerfile"), "docker/Dockerfile");
    assert_eq!(httpd.scalar("RJK_LISTEN"), "127.0.0.10:8080");
    for t in ["tomcat1", "tomcat2", "tomcat3"] {
        assert_eq!(c[t].scalar("image"), "localhost/mod_rjk/tomcat:10.1", "{t}");
        assert_eq!(c[t].scalar("dockerfile"), "docker/tomcat/Dockerfile");
    }
    // Host networking on loopback addresses, no bridge network, nothing published.
    for (name, svc) in &c {
        assert_eq!(svc.scalar("network_mode"), "host", "{name}");
        assert!(svc.list("ports").is_empty(), "{name}");
        assert!(!svc.scalars.contains_key("networks"), "{name}");
        if let Some(base) = svc.scalars.get("BASE") {
            assert_eq!(base, "${RJK_BASE_IMAGE:-localhost/mod_rjk/debian:trixie}");
            assert_eq!(
                svc.scalar("network"),
                "host",
                "{name}: the build needs the network"
            );
        }
    }
    let test = &c["test"];
    assert_eq!(test.scalar("image"), "localhost/mod_rjk/httpd:0.1.0");
    assert_eq!(test.scalar("profiles"), "[\"test\"]");
}

#[test]
fn every_referenced_file_exists() {
    // The root .dockerignore keeps build output and history out of every context
    // (Dockerfile.dockerignore files are read by BuildKit only).
    let ignore = read(&repo().join(".dockerignore"));
    for entry in ["target", ".git", "docker/secrets"] {
        assert!(ignore.lines().any(|l| l.trim() == entry), "{entry}");
    }
    let c = compose();
    for (name, s) in &c {
        if let Some(ctx) = s.scalars.get("context") {
            let ctx = docker().join(ctx);
            assert_eq!(ctx.canonicalize().unwrap(), repo().canonicalize().unwrap());
            let df = ctx.join(s.scalar("dockerfile"));
            assert!(df.is_file(), "{name}: {}", df.display());
            let d = dockerfile(&df);
            for (srcs, dst) in &d.all_copies {
                for src in srcs {
                    assert!(
                        ctx.join(src).exists(),
                        "{}: COPY {src} {dst}: no {src} in the build context",
                        df.display()
                    );
                }
            }
        }
        for v in s.list("volumes") {
            let src = v.split(':').next().unwrap();
            assert!(
                docker().join(src).exists(),
                "{name}: volume source {src} does not exist"
            );
        }
    }
    for f in [
        "base.sh",
        "test/run.sh",
        "httpd/entrypoint.sh",
        "tomcat/entrypoint.sh",
    ] {
        let out = Command::new("bash")
            .arg("-n")
            .arg(docker().join(f))
            .output()
            .unwrap();
        assert!(out.status.success(), "{f}: {out:?}");
    }
}

/// Both images build on the Debian base made by docker/base.sh from Debian's packages,
/// passed as the BASE build argument; no Dockerfile names a registry.
#[test]
fn dockerfiles_build_on_the_debian_base() {
    for f in ["Dockerfile", "tomcat/Dockerfile"] {
        let d = dockerfile(&docker().join(f));
        assert!(
            d.from
                .iter()
                .all(|f| f == "localhost/mod_rjk/debian:trixie"),
            "{f}: {:?}",
            d.from
        );
        assert!(
            d.text.contains("ARG BASE=localhost/mod_rjk/debian:trixie"),
            "{f}"
        );
        assert!(d.text.contains("apt-get install"), "{f}");
        assert!(
            !d.text.contains("ENV "),
            "{f}: no ENV (the secret must not be one)"
        );
    }
    let httpd = dockerfile(&docker().join("Dockerfile"));
    assert!(httpd.text.contains("cargo rustc libclang-dev"));
    assert!(
        httpd
            .text
            .contains("COPY --from=build /mod_rjk.so /usr/lib/apache2/modules/mod_rjk.so")
    );
    assert!(
        httpd
            .text
            .contains("ln -s /proc/self/fd/2 /etc/mod_rjk/logs/mod_jk.log"),
        "the JK log goes to the container's stderr"
    );
    let tomcat = dockerfile(&docker().join("tomcat/Dockerfile"));
    assert!(
        tomcat
            .final_copies
            .iter()
            .any(|(s, d)| s == &["docker/tomcat/server.xml"] && d == "/srv/tomcat/conf/server.xml")
    );
}

#[test]
fn routes_hosts_ports_and_secrets_agree() {
    let c = compose();
    let compose_text = read(&docker().join("compose.yaml"));
    let workers = read(&docker().join("httpd/workers.properties"));
    let server_xml = read(&docker().join("tomcat/server.xml"));
    for (t, addr) in ADDRESSES {
        // Worker name = jvmRoute = service name: sticky sessions depend on it.
        assert_eq!(c[t].scalar("RJK_JVM_ROUTE"), t);
        assert_eq!(c[t].scalar("RJK_ADDRESS"), addr);
        assert!(
            workers.contains(&format!("worker.{t}.host={addr}\n")),
            "{t}"
        );
        assert_eq!(c[t].list("secrets"), ["ajp_secret"]);
    }
    assert_eq!(c["httpd"].list("secrets"), ["ajp_secret"]);
    // The secret is a file (a compose secret), never an environment value or a -D option.
    assert!(compose_text.contains("file: ${RJK_AJP_SECRET_FILE:-./secrets/ajp_secret}"));
    assert!(!compose_text.contains("-D") && !compose_text.contains("SECRET:"));
    assert!(
        !workers.lines().any(|l| l.contains(".secret=")),
        "{workers}"
    );
    assert!(workers.contains("worker.template.port=8009"));
    for attr in [
        "protocol=\"AJP/1.3\"",
        "address=\"${rjk.address}\" port=\"8009\"",
        "secret=\"${ajp.secret}\"",
        "secretRequired=\"true\"",
        "jvmRoute=\"${jvm.route}\"",
        "<Server port=\"-1\"",
        // The same as worker max_packet_size (default 8192).
        "packetSize=\"8192\"",
    ] {
        assert!(server_xml.contains(attr), "server.xml lacks {attr}");
    }
}

#[test]
fn e2e_script_parses() {
    let script = docker().join("test/e2e.sh");
    for shell in ["sh", "bash"] {
        let out = Command::new(shell).arg("-n").arg(&script).output().unwrap();
        assert!(
            out.status.success(),
            "{shell} -n: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

/// The httpd image's /etc/mod_rjk, rebuilt under a harness ServerRoot: the final stage's
/// COPYs of docker/Dockerfile, then the compose volumes of the httpd service, and the
/// secret file the entrypoint writes (when `secret` is given).
fn assemble_image_root(secret: Option<&str>) -> ServerRoot {
    const PREFIX: &str = "/etc/mod_rjk/";
    let root = ServerRoot::new(Mpm::Event);
    let d = dockerfile(&docker().join("Dockerfile"));
    for (srcs, dst) in &d.final_copies {
        if let Some(rel) = dst.strip_prefix(PREFIX) {
            shipping::install(&root, &srcs[0], rel);
        }
    }
    for v in compose()["httpd"].list("volumes") {
        let mut parts = v.split(':');
        let (src, dst) = (parts.next().unwrap(), parts.next().unwrap());
        let rel = dst.strip_prefix(PREFIX).expect("volume in /etc/mod_rjk");
        let src = docker().join(src);
        let src = src
            .strip_prefix(repo())
            .unwrap_or(&src)
            .to_string_lossy()
            .into_owned();
        shipping::install(&root, &src, rel);
    }
    // The image links modules/ to Debian's module directory.
    for e in std::fs::read_dir(common::apache_modules_dir()).unwrap() {
        let e = e.unwrap();
        let to = root.dir.join("modules").join(e.file_name());
        if !to.exists() {
            std::os::unix::fs::symlink(e.path(), to).unwrap();
        }
    }
    if let Some(secret) = secret {
        root.write(
            "run/secret.conf",
            &format!("JkWorkerProperty worker.template.secret={secret}\n"),
        );
    }
    let conf = root.dir.join("conf/httpd.conf");
    let text = read(&conf)
        .replace("/etc/mod_rjk", &root.dir.to_string_lossy())
        .replace("/run/mod_rjk", &root.path("run"));
    std::fs::write(&conf, text).unwrap();
    root
}

#[test]
fn image_httpd_config_passes_apache2_t_and_rjk_check() {
    let root = assemble_image_root(Some(SECRET));
    let listen = root.listen();
    let out = Command::new(common::APACHE2)
        .args(["-t", "-d"])
        .arg(&root.dir)
        .arg("-f")
        .arg(root.dir.join("conf/httpd.conf"))
        .env("RJK_LISTEN", &listen)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && stderr.contains("Syntax OK"),
        "apache2 -t on the image's configuration:\n{stderr}"
    );
    assert!(!stderr.contains("mod_rjk"), "{stderr}");

    let conf = root.path("conf/httpd.conf");
    let out = rjk_check(&["--httpd-conf", &conf]);
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stdout}{stderr}");
    assert!(!stdout.contains("Warnings"), "{stdout}");
    for (t, addr) in ADDRESSES {
        assert!(
            stdout
                .lines()
                .any(|l| l.trim_start().starts_with(t)
                    && l.contains(&format!("ajp13   {addr}:8009"))),
            "{stdout}"
        );
    }
    assert!(stdout.contains("secret=(set)") && !stdout.contains(SECRET));
    let _ = std::fs::remove_dir_all(&root.dir);
    // Without the secret file every Tomcat would answer 403: rjk-check says so.
    let root = assemble_image_root(None);
    let out = rjk_check(&["--httpd-conf", &root.path("conf/httpd.conf")]);
    let (stdout, _) = text(&out);
    assert_eq!(stdout.matches("without a secret").count(), 3, "{stdout}");
    let _ = std::fs::remove_dir_all(&root.dir);
}

/// docker/test/e2e.sh against the same configuration on this machine: httpd with
/// conf-examples/httpd-jk.conf in front of three local Tomcats.
#[test]
fn e2e_script_against_a_local_stack() {
    let tomcats = common::tomcat::shared(3);
    let root = ServerRoot::new(Mpm::Event);
    let mut workers = read(&repo().join("conf-examples/workers.properties")).replace(
        "worker.template.secret=change-me",
        &format!("worker.template.secret={}", common::tomcat::SHARED_SECRET),
    );
    for (i, t) in tomcats.iter().enumerate() {
        let port = format!("worker.tomcat{}.port={}8009", i + 1, i + 1);
        assert!(workers.contains(&port), "{port}");
        workers = workers.replace(
            &port,
            &format!("worker.tomcat{}.port={}", i + 1, t.ajp_port),
        );
    }
    root.write("conf/workers.properties", &workers);
    shipping::install(&root, "conf-examples/httpd-jk.conf", "conf/httpd-jk.conf");
    shipping::configure_without_module(&root, "Include conf/httpd-jk.conf\n");
    let h = root.start();
    let out = Command::new("sh")
        .arg(docker().join("test/e2e.sh"))
        .arg(format!("http://{}", h.addr()))
        .env("RJK_E2E_WAIT", "20")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "e2e.sh:\n{}{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
        h.error_log()
    );
}
