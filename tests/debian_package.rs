//! The Debian package (debian/, built by `bash debian/build-deb.sh`): its contents and
//! maintainer scripts, and the switch from Debian's libapache2-mod-jk to mod_rjk and back
//! with the real packages, inside a mount namespace whose /etc, /usr, /var and /run are
//! overlays (tests/debian/switch.sh), in front of three real Tomcats.
//!
//! The package is built when target/debian has none for this version (a release build:
//! minutes on a small machine).

mod common;
mod shipping;

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::process::Command;
use std::sync::Mutex;

use common::tomcat::shared;
use shipping::{repo, temp_dir};

const PKG: &str = "libapache2-mod-rjk";

fn deb_path() -> PathBuf {
    static BUILT: Mutex<Option<PathBuf>> = Mutex::new(None);
    let mut built = BUILT.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(p) = built.as_ref() {
        return p.clone();
    }
    let arch = run("dpkg-architecture", &["-qDEB_HOST_ARCH"])
        .trim()
        .to_string();
    let deb = repo().join(format!(
        "target/debian/{PKG}_{}_{arch}.deb",
        env!("CARGO_PKG_VERSION")
    ));
    let newest_source = ["src", "apxs", "debian"]
        .iter()
        .flat_map(|d| walk(&repo().join(d)))
        .filter_map(|p| p.metadata().and_then(|m| m.modified()).ok())
        .max();
    let stale = match (deb.metadata().and_then(|m| m.modified()), newest_source) {
        (Ok(d), Some(s)) => d < s,
        _ => true,
    };
    if stale {
        let out = Command::new("bash")
            .arg(repo().join("debian/build-deb.sh"))
            .env("CARGO_TARGET_DIR", repo().join("target"))
            .output()
            .expect("run debian/build-deb.sh");
        assert!(
            out.status.success(),
            "debian/build-deb.sh failed:\n{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    assert!(deb.is_file(), "{} missing", deb.display());
    *built = Some(deb.clone());
    deb
}

fn walk(p: &std::path::Path) -> Vec<PathBuf> {
    if p.is_dir() {
        std::fs::read_dir(p)
            .into_iter()
            .flatten()
            .flatten()
            .flat_map(|e| walk(&e.path()))
            .collect()
    } else {
        vec![p.to_path_buf()]
    }
}

fn run(cmd: &str, args: &[&str]) -> String {
    let out = Command::new(cmd).args(args).output().expect(cmd);
    assert!(out.status.success(), "{cmd} {args:?}: {out:?}");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn package_holds_module_config_tools_and_docs_with_apache2_maintainer_scripts() {
    let deb = deb_path();
    let deb = deb.to_str().unwrap();
    let files = run("dpkg-deb", &["--fsys-tarfile", deb]);
    let _ = files;
    let listing = run("dpkg-deb", &["-c", deb]);
    for path in [
        "./usr/lib/apache2/modules/mod_rjk.so",
        "./etc/apache2/mods-available/rjk.load",
        "./etc/apache2/mods-available/rjk.conf",
        "./usr/bin/rjk-check",
        "./usr/sbin/rjk-switch",
        "./usr/share/doc/libapache2-mod-rjk/README.Debian",
        "./usr/share/doc/libapache2-mod-rjk/README.md.gz",
        "./usr/share/doc/libapache2-mod-rjk/examples/workers.properties",
        "./usr/share/doc/libapache2-mod-rjk/examples/httpd-jk.conf",
    ] {
        assert!(
            listing.lines().any(|l| l.ends_with(path)),
            "{path} missing:\n{listing}"
        );
    }
    assert_eq!(
        run("dpkg-deb", &["-f", deb, "Version"]).trim(),
        env!("CARGO_PKG_VERSION")
    );
    let depends = run("dpkg-deb", &["-f", deb, "Depends"]);
    assert!(depends.contains("apache2-api-20120211"), "{depends}");
    let ctl = temp_dir("deb-control");
    run("dpkg-deb", &["-e", deb, ctl.to_str().unwrap()]);
    let conffiles = std::fs::read_to_string(ctl.join("conffiles")).unwrap();
    assert_eq!(
        conffiles.lines().collect::<Vec<_>>(),
        [
            "/etc/apache2/mods-available/rjk.conf",
            "/etc/apache2/mods-available/rjk.load"
        ]
    );
    let script = |n: &str| std::fs::read_to_string(ctl.join(n)).unwrap();
    for (name, call) in [
        ("postinst", "rjk_apache2 enmod"),
        ("prerm", "rjk_apache2 dismod"),
        ("postrm", "rjk_apache2 dismod"),
    ] {
        let text = script(name);
        assert!(
            text.contains(". /usr/share/apache2/apache2-maintscript-helper")
                && text.contains("apache2_invoke \"$1\" rjk || rjk_not_enabled")
                && text.contains(call),
            "{name}:\n{text}"
        );
    }
    let load = std::fs::read_to_string(repo().join("apxs/rjk.load")).unwrap();
    assert!(load.lines().any(|l| l == "# Conflicts: jk"), "{load}");
    let _ = std::fs::remove_dir_all(&ctl);
}

fn observations(log: &str) -> HashMap<String, String> {
    log.lines()
        .filter_map(|l| l.strip_prefix("OBS "))
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_string(), v.trim().to_string()))
        .collect()
}

fn spread(routes: &str) -> BTreeMap<String, usize> {
    let mut m = BTreeMap::new();
    for r in routes.split(',') {
        *m.entry(r.to_string()).or_default() += 1;
    }
    m
}

/// mod_jk serving a site configured in jk.conf; the package installed beside it (not
/// enabled: `a2enmod rjk` refuses, and both enabled by hand fail `apachectl -t` naming
/// both); `rjk-switch rjk` then serves the same requests with the same workers.properties
/// through mod_rjk, `rjk-switch jk` goes back; remove keeps the conffiles, purge deletes
/// them; a first install where jk is not enabled enables rjk and restarts apache2, and an
/// install while apache2 is stopped leaves it stopped.
#[test]
fn switch_from_debian_mod_jk_to_mod_rjk_and_back() {
    if !common::is_root() {
        panic!("this test needs root (mount namespace, dpkg)");
    }
    let deb = deb_path();
    let ts = shared(3);
    let mut w = String::from("worker.list=load_balancer,jkstatus\nworker.jkstatus.type=status\n");
    for t in &ts {
        w.push_str(&t.worker_properties());
    }
    let names: Vec<&str> = ts.iter().map(|t| t.name.as_str()).collect();
    w.push_str(&format!(
        "worker.load_balancer.type=lb\nworker.load_balancer.balance_workers={}\n",
        names.join(",")
    ));
    let work = temp_dir("deb-switch");
    let wf = work.join("workers.properties");
    std::fs::write(&wf, &w).unwrap();
    // apache2 cannot listen on port 0: a random loopback address and port, another
    // address if that one is taken (the script exits 75).
    let mut attempt = 0;
    let out = loop {
        attempt += 1;
        // A fresh machine each time: the overlays' upper layers live under WORK.
        let _ = std::fs::remove_dir_all(work.join("ov"));
        let out = Command::new("unshare")
            .args(["-m", "--propagation", "private", "bash"])
            .arg(repo().join("tests/debian/switch.sh"))
            .env("DEB", &deb)
            .env("HOST", common::random_loopback())
            .env("PORT", common::random_port().to_string())
            .env("WORKERS", &wf)
            .env("WORK", &work)
            .output()
            .expect("run unshare");
        if out.status.code() != Some(75) || attempt == 3 {
            break out;
        }
    };
    let log = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let _ = std::fs::remove_dir_all(&work);
    assert!(
        out.status.success() && log.contains("switch.sh done"),
        "{log}"
    );
    let o = observations(&log);
    let get = |k: &str| {
        o.get(k)
            .map(String::as_str)
            .unwrap_or_else(|| panic!("{k} missing:\n{log}"))
    };
    let all_three = |phase: &str| {
        let s = spread(get(&format!("{phase}.routes")));
        assert_eq!(
            s.keys().map(String::as_str).collect::<Vec<_>>(),
            names,
            "{phase}: {s:?}\n{log}"
        );
        s
    };
    let rjk_banner = format!("mod_rjk/{}", env!("CARGO_PKG_VERSION"));

    // mod_jk before, and still after the package is installed beside it.
    for phase in ["jk", "installed", "back"] {
        let server = get(&format!("{phase}.server"));
        assert!(
            server.contains("mod_jk/") && !server.contains("mod_rjk"),
            "{phase}\n{log}"
        );
        all_three(phase);
    }
    assert_eq!(get("install.rc"), "0", "{log}");
    assert!(get("install.out").contains("rjk-switch rjk"), "{log}");
    assert!(
        get("install.rjk_state").contains("No module matches rjk")
            || get("install.rjk_state").contains("not enabled"),
        "{log}"
    );
    assert_eq!(get("install.rjk_check"), "/usr/bin/rjk-check", "{log}");
    assert_eq!(get("install.rjk_switch"), "/usr/sbin/rjk-switch", "{log}");
    assert_ne!(get("a2enmod.rc"), "0", "{log}");
    assert!(get("a2enmod.out").contains("Module jk is enabled"), "{log}");
    assert_ne!(get("both.rc"), "0", "{log}");
    assert!(
        get("both.out").contains("mod_rjk (rjk.load) and mod_jk (jk.load) are both enabled"),
        "{log}"
    );

    // A configuration mod_rjk refuses: the switch says why (every error, with file and
    // line) and leaves mod_jk serving.
    assert_eq!(get("refused.rc"), "1", "{log}");
    assert!(
        get("refused.out").contains("/etc/apache2/mods-available/jk.conf:")
            && get("refused.out").contains("worker 'jk-manager' is not defined"),
        "{log}"
    );
    assert!(get("refused.jk_state").contains("enabled"), "{log}");
    let server = get("refused.server");
    assert!(
        server.contains("mod_jk/") && !server.contains("mod_rjk"),
        "{log}"
    );
    all_three("refused");

    // The switch: the same requests, the same workers, through mod_rjk; and back.
    assert_eq!(get("to_rjk.rc"), "0", "{log}");
    assert!(get("rjk.server").contains(&rjk_banner), "{log}");
    let s = all_three("rjk");
    assert!(s.values().all(|&n| n == 3), "{s:?}\n{log}");
    assert_eq!(get("to_jk.rc"), "0", "{log}");

    // Remove keeps the conffiles, purge deletes them.
    assert_eq!(get("remove.rc"), "0", "{log}");
    for (f, exists) in [
        ("/etc/apache2/mods-available/rjk.conf", "yes"),
        ("/etc/apache2/mods-available/rjk.load", "yes"),
        ("/usr/lib/apache2/modules/mod_rjk.so", "no"),
        ("/usr/bin/rjk-check", "no"),
        ("/etc/apache2/mods-enabled/rjk.load", "no"),
    ] {
        assert_eq!(get(&format!("remove.exists.{f}")), exists, "{f}\n{log}");
    }
    assert_eq!(get("purge.rc"), "0", "{log}");
    for f in [
        "/etc/apache2/mods-available/rjk.conf",
        "/etc/apache2/mods-available/rjk.load",
    ] {
        assert_eq!(get(&format!("purge.exists.{f}")), "no", "{f}\n{log}");
    }

    // First install without jk: enabled, and the running apache2 restarted onto it.
    assert!(!get("nomod.server").contains("mod_"), "{log}");
    assert_eq!(get("fresh.rc"), "0", "{log}");
    assert!(get("fresh.rjk_state").contains("enabled"), "{log}");
    assert!(get("fresh.server").contains(&rjk_banner), "{log}");
    all_three("fresh");

    // Installed while apache2 is stopped: enabled, not started.
    assert_eq!(get("stopped.rc"), "0", "{log}");
    assert!(get("stopped.rjk_state").contains("enabled"), "{log}");
    assert_eq!(get("stopped.http"), "000", "apache2 was started:\n{log}");
    assert!(get("started.server").contains(&rjk_banner), "{log}");
    all_three("started");
}
