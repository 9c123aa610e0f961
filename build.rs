//! Generates bindings over the installed httpd/APR headers and compiles the small C shim.
//! Header locations come from the tools httpd ships (`apxs -q`, `apr-1-config`), never from
//! hard-coded paths, so the module builds against whatever httpd 2.4 is installed.

use std::env;
use std::path::PathBuf;
use std::process::Command;

fn tool_output(cmd: &str, args: &[&str]) -> Option<String> {
    let out = Command::new(cmd).args(args).output().ok()?;
    if !out.status.success() {
        return None;
    }
    Some(String::from_utf8_lossy(&out.stdout).trim().to_string())
}

fn apxs() -> String {
    env::var("APXS").unwrap_or_else(|_| "apxs".to_string())
}

fn main() {
    println!("cargo:rerun-if-changed=include/wrapper.h");
    println!("cargo:rerun-if-changed=include/rjk_shim.h");
    println!("cargo:rerun-if-changed=src/httpd/shim.c");
    println!("cargo:rerun-if-env-changed=APXS");

    let apxs = apxs();
    let httpd_inc = tool_output(&apxs, &["-q", "INCLUDEDIR"]).unwrap_or_else(|| {
        panic!(
            "cannot run `{apxs} -q INCLUDEDIR`: install httpd's development files \
             (Debian: apt-get install apache2-dev) or set APXS to your apxs"
        )
    });
    let apr_config = tool_output(&apxs, &["-q", "APR_CONFIG"])
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "apr-1-config".to_string());
    let apu_config = tool_output(&apxs, &["-q", "APU_CONFIG"])
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "apu-1-config".to_string());

    let mut clang_args: Vec<String> = vec![format!("-I{httpd_inc}"), "-Iinclude".to_string()];
    for (tool, flags) in [
        (&apr_config, &["--includes", "--cppflags"][..]),
        (&apu_config, &["--includes"][..]),
    ] {
        let out = tool_output(tool, flags)
            .unwrap_or_else(|| panic!("cannot run `{tool}`: install APR's development files"));
        clang_args.extend(out.split_whitespace().map(str::to_string));
    }

    let mut shim = cc::Build::new();
    shim.file("src/httpd/shim.c").warnings(true);
    for a in &clang_args {
        if let Some(dir) = a.strip_prefix("-I") {
            shim.include(dir);
        } else if let Some(def) = a.strip_prefix("-D") {
            let (k, v) = def
                .split_once('=')
                .map_or((def, None), |(k, v)| (k, Some(v)));
            shim.define(k, v);
        }
    }
    shim.compile("rjk_shim");

    let bindings = bindgen::Builder::default()
        .header("include/wrapper.h")
        .clang_args(&clang_args)
        .allowlist_function("ap_.*|apr_.*|rjk_.*")
        .allowlist_type("request_rec|server_rec|conn_rec|module_struct|command_struct|cmd_parms_struct|process_rec|apr_.*|ap_.*")
        .allowlist_var("MODULE_MAGIC_.*|OK|DECLINED|DONE|HTTP_.*|M_.*|APR_.*|APLOG_.*|OR_.*|RSRC_CONF|ACCESS_CONF|EXEC_ON_READ|NOT_IN_.*|GLOBAL_ONLY|REQUEST_CHUNKED_.*|AP_.*|MPM_.*|REMOTE_.*")
        .blocklist_function("qecvt|qfcvt|qgcvt|strtold|.*_vformat|.*vprintf.*|apr_vsnprintf|apr_pvsprintf")
        .default_enum_style(bindgen::EnumVariation::Consts)
        .derive_default(true)
        .layout_tests(false)
        .generate_comments(false)
        .parse_callbacks(Box::new(bindgen::CargoCallbacks::new()))
        .generate()
        .expect("bindgen failed over the httpd/APR headers");
    let out = PathBuf::from(env::var("OUT_DIR").unwrap());
    bindings
        .write_to_file(out.join("httpd_sys.rs"))
        .expect("cannot write bindings");

    // The symbols of apr/httpd are resolved from the httpd process at dlopen time.
    // nodelete keeps the image mapped across httpd's dlclose on restart, so Rust's TLS
    // destructors and statics never point into unmapped code.
    println!("cargo:rustc-cdylib-link-arg=-Wl,-z,nodelete");
    println!("cargo:rustc-cdylib-link-arg=-Wl,-Bsymbolic-functions");
    // Gathers the request path in one section (see the script), for GNU ld; another
    // linker that cannot read the script is used with RJK_NO_HOT_TEXT=1.
    println!("cargo:rerun-if-env-changed=RJK_NO_HOT_TEXT");
    if env::var_os("RJK_NO_HOT_TEXT").is_none() {
        let hot = format!("{}/include/hot-text.ld", env!("CARGO_MANIFEST_DIR"));
        println!("cargo:rerun-if-changed={hot}");
        println!("cargo:rustc-cdylib-link-arg=-Wl,-T,{hot}");
    }
}
