//! Shared by the shipping tests (conf_examples, docker_files, apxs_install, rjk_check):
//! installing the configuration examples into a harness ServerRoot and running rjk-check.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use crate::common::ServerRoot;

/// The line `ServerRoot::configure` writes; examples that load the module themselves
/// replace it.
pub const HARNESS_LOAD_LINE: &str = "LoadModule jk_module modules/mod_rjk.so\n";

pub fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

pub fn examples_dir() -> PathBuf {
    repo().join("conf-examples")
}

/// A unique, empty directory under the temp dir.
pub fn temp_dir(tag: &str) -> PathBuf {
    static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = N.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    let d = std::env::temp_dir().join(format!("rjk-{tag}-{}-{n}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// Writes conf/httpd.conf with `extra`, without the harness's own LoadModule of mod_rjk:
/// the included example loads it (with its own path), exactly as a user's would.
pub fn configure_without_module(root: &ServerRoot, extra: &str) -> String {
    let conf = root.configure(extra);
    let text = std::fs::read_to_string(&conf).unwrap();
    assert!(
        text.contains(HARNESS_LOAD_LINE),
        "the harness no longer writes `{}`; update tests/shipping/mod.rs",
        HARNESS_LOAD_LINE.trim()
    );
    std::fs::write(&conf, text.replacen(HARNESS_LOAD_LINE, "", 1)).unwrap();
    conf
}

/// Copies `src` (relative to the repository) to `dst` (relative to the server root).
pub fn install(root: &ServerRoot, src: &str, dst: &str) {
    let to = root.dir.join(dst);
    std::fs::create_dir_all(to.parent().unwrap()).unwrap();
    std::fs::copy(repo().join(src), &to)
        .unwrap_or_else(|e| panic!("copy {src} to {}: {e}", to.display()));
}

/// `apache2 -t`, asserting success without warnings about the module.
pub fn assert_config_ok(root: &ServerRoot, what: &str) {
    let out = root.config_test();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && stderr.contains("Syntax OK"),
        "apache2 -t failed for {what}:\n{stderr}\nhttpd.conf:\n{}",
        std::fs::read_to_string(root.dir.join("conf/httpd.conf")).unwrap_or_default()
    );
    assert!(
        !stderr.contains("already loaded") && !stderr.contains("mod_rjk"),
        "apache2 -t warned for {what}:\n{stderr}"
    );
}

pub fn rjk_check(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_rjk-check"))
        .args(args)
        .output()
        .expect("run rjk-check")
}

pub fn text(out: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}
