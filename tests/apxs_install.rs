//! apxs/install.sh end to end, without touching the system: `APXS` points at a wrapper
//! that runs the real apxs with `-S LIBEXECDIR=<temp dir>`, the Debian part is switched off
//! with RJK_INSTALL_NO_DEBIAN, and the installed mod_rjk.so is loaded by a private apache2
//! that forwards a request to the fake AJP backend. The release build goes to its own
//! target directory, so it neither waits for the lock of the `cargo test` running it nor
//! replaces the debug module the other tests load.
//!
//! The first run compiles the crate in release mode (a few minutes on a small machine).

mod common;
mod shipping;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::SystemTime;

use common::{FakeAjp, Mpm, ServerRoot};
use shipping::{HARNESS_LOAD_LINE, repo, temp_dir};

/// `<target>` of this test binary (`<target>/debug/deps/apxs_install-*`).
fn target_dir() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    exe.ancestors()
        .nth(3)
        .expect("test binary lives in <target>/<profile>/deps")
        .to_path_buf()
}

/// Existence and modification time: what must not change outside the temp dir.
fn stamp(p: &str) -> Option<SystemTime> {
    std::fs::metadata(p).ok().and_then(|m| m.modified().ok())
}

fn system_paths() -> Vec<String> {
    let libexec = common::apache_modules_dir();
    vec![
        format!("{libexec}/mod_rjk.so"),
        "/etc/apache2/mods-available/rjk.load".into(),
        "/etc/apache2/mods-available/rjk.conf".into(),
    ]
}

/// The wrapper lives at a fixed path and takes the module directory from the
/// environment: the build script reruns (and bindgen with it) whenever `APXS` changes.
fn write_wrapper() -> PathBuf {
    let dir = target_dir().join("apxs-install-build");
    std::fs::create_dir_all(&dir).unwrap();
    let wrapper = dir.join("apxs");
    let script = "#!/bin/sh\n\
         # The system's apxs, installing into $RJK_TEST_LIBEXECDIR instead of httpd's module\n\
         # directory. apxs -q answers from its build configuration, ignoring -S, so the\n\
         # wrapper answers LIBEXECDIR itself.\n\
         : \"${RJK_TEST_LIBEXECDIR:?}\"\n\
         if [ \"$#\" -eq 2 ] && [ \"$1\" = -q ] && [ \"$2\" = LIBEXECDIR ]; then echo \"$RJK_TEST_LIBEXECDIR\"; exit 0; fi\n\
         exec apxs -S LIBEXECDIR=\"$RJK_TEST_LIBEXECDIR\" \"$@\"\n";
    // Write to a temp name and rename, so a concurrent run never executes half a file.
    let tmp = dir.join(format!("apxs.{}", std::process::id()));
    std::fs::write(&tmp, script).unwrap();
    std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::rename(&tmp, &wrapper).unwrap();
    wrapper
}

fn run_install(wrapper: &Path, libexec: &Path, args: &[&str]) -> (bool, String) {
    let out = Command::new("bash")
        .arg(repo().join("apxs/install.sh"))
        .args(args)
        .env("APXS", wrapper)
        .env("RJK_TEST_LIBEXECDIR", libexec)
        .env("RJK_INSTALL_NO_DEBIAN", "1")
        .env("RJK_BINDIR", libexec.join("bin"))
        .env("CARGO_TARGET_DIR", target_dir().join("apxs-install-build"))
        .output()
        .expect("run apxs/install.sh");
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

#[test]
fn install_sh_into_a_private_module_dir_then_load_and_serve() {
    let before: Vec<_> = system_paths().iter().map(|p| stamp(p)).collect();
    let dir = temp_dir("apxs-install");
    let libexec = dir.join("modules");
    std::fs::create_dir_all(&libexec).unwrap();
    let wrapper = write_wrapper();

    let (ok, log) = run_install(&wrapper, &libexec, &[]);
    assert!(ok, "apxs/install.sh failed:\n{log}");
    let installed = libexec.join("mod_rjk.so");
    assert!(
        installed.is_file(),
        "{} missing:\n{log}",
        installed.display()
    );
    assert!(
        log.contains(&format!("Installed {}", installed.display())),
        "{log}"
    );
    assert!(!log.contains("rjk-switch"), "the Debian part ran:\n{log}");
    // rjk-check comes along, and runs.
    let check = libexec.join("bin/rjk-check");
    let out = Command::new(&check).arg("--help").output().unwrap();
    assert!(
        out.status.success() && String::from_utf8_lossy(&out.stdout).contains("usage: rjk-check"),
        "{}: {out:?}",
        check.display()
    );

    // A private httpd loads the installed file (not the harness's copy of the debug build).
    let fake = FakeAjp::start("installed", &[]);
    let root = ServerRoot::new(Mpm::Event);
    let wf = root.write(
        "conf/workers.properties",
        &format!(
            "worker.list=app\nworker.app.host=127.0.0.1\nworker.app.port={}\n",
            fake.port
        ),
    );
    let conf = root.configure(&format!("JkWorkersFile {wf}\nJkMount /app/* app\n"));
    let text = std::fs::read_to_string(&conf).unwrap();
    assert!(text.contains(HARNESS_LOAD_LINE));
    std::fs::write(
        &conf,
        text.replacen(
            HARNESS_LOAD_LINE,
            &format!("LoadModule jk_module {}\n", installed.display()),
            1,
        ),
    )
    .unwrap();
    let t = root.config_test();
    assert!(
        t.status.success(),
        "apache2 -t with the installed module:\n{}",
        String::from_utf8_lossy(&t.stderr)
    );
    let h = root.start();
    let r = h.get("/app/hello?installed=1");
    assert_eq!(r.status, 200, "{}\n{}", r.text(), h.error_log());
    assert!(r.text().contains("uri=/app/hello"), "{}", r.text());
    let server = r.header("Server").unwrap_or_default().to_string();
    assert!(
        server.contains(&format!("mod_rjk/{}", env!("CARGO_PKG_VERSION"))),
        "Server: {server}"
    );
    assert_eq!(h.get("/static.txt").status, 200);
    drop(h);

    let (ok, log) = run_install(&wrapper, &libexec, &["--uninstall"]);
    assert!(ok, "install.sh --uninstall failed:\n{log}");
    assert!(!installed.exists(), "{log}");
    assert!(!check.exists(), "{log}");

    let after: Vec<_> = system_paths().iter().map(|p| stamp(p)).collect();
    assert_eq!(
        before,
        after,
        "install.sh touched the system's files {:?}",
        system_paths()
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// `install.sh --uninstall` on a Debian layout: rjk.load goes, rjk.conf goes only while it
/// is the shipped one; an edited rjk.conf is the administrator's and stays.
#[test]
fn uninstall_keeps_an_edited_rjk_conf() {
    let wrapper = write_wrapper();
    for edited in [false, true] {
        let dir = temp_dir("apxs-uninstall");
        let avail = dir.join("etc/mods-available");
        std::fs::create_dir_all(&avail).unwrap();
        std::fs::create_dir_all(dir.join("etc/mods-enabled")).unwrap();
        std::fs::create_dir_all(dir.join("modules")).unwrap();
        std::fs::copy(repo().join("apxs/rjk.load"), avail.join("rjk.load")).unwrap();
        let mut conf = std::fs::read_to_string(repo().join("apxs/rjk.conf")).unwrap();
        if edited {
            conf.push_str("JkMount /site/* site\n");
        }
        std::fs::write(avail.join("rjk.conf"), &conf).unwrap();
        let out = Command::new("bash")
            .arg(repo().join("apxs/install.sh"))
            .arg("--uninstall")
            .env("APXS", &wrapper)
            .env("RJK_TEST_LIBEXECDIR", dir.join("modules"))
            .env("RJK_BINDIR", dir.join("bin"))
            .env("RJK_APACHE2_ETC", dir.join("etc"))
            .output()
            .unwrap();
        let log = format!("{out:?}");
        assert!(out.status.success(), "{log}");
        assert!(!avail.join("rjk.load").exists(), "{log}");
        assert_eq!(avail.join("rjk.conf").exists(), edited, "{log}");
        if edited {
            assert_eq!(
                std::fs::read_to_string(avail.join("rjk.conf")).unwrap(),
                conf
            );
            assert!(log.contains("Kept"), "{log}");
        }
        let _ = std::fs::remove_dir_all(&dir);
    }
}
