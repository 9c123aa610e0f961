use super::*;

fn no_env(_: &str) -> Option<String> {
    None
}

fn ctx<'a>(location: Option<&'a str>, in_vhost: bool) -> DirectiveCtx<'a> {
    DirectiveCtx {
        file: "/etc/httpd.conf",
        line: 7,
        location,
        in_vhost,
        server_root: "/srv/root",
        env: &no_env,
    }
}

fn apply(c: &mut ServerConf, name: &str, args: &[&str], cx: &DirectiveCtx) -> Result<(), String> {
    c.apply(find(name).unwrap(), args, cx)
}

#[test]
fn table_has_every_mod_jk_directive_once() {
    let mut names: Vec<_> = DIRECTIVES.iter().map(|d| d.name()).collect();
    names.sort();
    names.dedup();
    assert_eq!(names.len(), 37);
    for n in [
        "JkWorkersFile",
        "JkMount",
        "JkUnMount",
        "JkOptions",
        "JkLogLevel",
        "JkIgnoreCLIndicator",
    ] {
        assert!(find(n).is_some(), "{n}");
    }
    let unsupported: Vec<_> = DIRECTIVES
        .iter()
        .filter(|d| d.support == Support::AcceptedIgnored)
        .map(|d| d.name())
        .collect();
    assert!(unsupported.is_empty(), "{unsupported:?}");
}

#[test]
fn options_default_and_vhost_merge() {
    let mut main = ServerConf::new(false);
    apply(
        &mut main,
        "JkOptions",
        &["+FlushPackets -ForwardKeySize"],
        &ctx(None, false),
    )
    .unwrap();
    main.finish_main("/srv", &no_env).unwrap();
    assert!(main.has_option(opt::FORWARD_URI_PROXY));
    assert!(main.has_option(opt::FLUSH_PACKETS));
    assert!(!main.has_option(opt::FORWARD_KEY_SIZE));

    let mut vh = ServerConf::new(true);
    apply(
        &mut vh,
        "JkOptions",
        &["ForwardURICompatUnparsed -FlushPackets +ForwardKeySize"],
        &ctx(None, true),
    )
    .unwrap();
    let m = ServerConf::merge(&main, &vh);
    assert!(m.has_option(opt::FORWARD_URI_COMPAT_UNPARSED));
    assert!(
        !m.has_option(opt::FORWARD_URI_PROXY),
        "ForwardURI options exclude each other"
    );
    assert!(!m.has_option(opt::FLUSH_PACKETS));
    assert!(m.has_option(opt::FORWARD_KEY_SIZE));

    let plain = ServerConf::merge(&main, &ServerConf::new(true));
    assert_eq!(plain.effective_options, main.effective_options);
}

#[test]
fn options_errors_and_deprecations() {
    let mut c = ServerConf::new(false);
    let e = apply(&mut c, "JkOptions", &["+NoSuchThing"], &ctx(None, false)).unwrap_err();
    assert!(e.contains("unknown option '+NoSuchThing'"), "{e}");
    let e = apply(
        &mut c,
        "JkOptions",
        &["-ForwardURIProxy"],
        &ctx(None, false),
    )
    .unwrap_err();
    assert!(e.contains("not allowed"), "{e}");
    apply(
        &mut c,
        "JkOptions",
        &["+CollapseSlashesAll"],
        &ctx(None, false),
    )
    .unwrap();
    assert!(c.warnings[0].contains("deprecated"));
}

#[test]
fn mount_in_location_uses_location_path_exactly() {
    let mut c = ServerConf::new(false);
    apply(&mut c, "JkMount", &["/*", "lb"], &ctx(None, false)).unwrap();
    apply(
        &mut c,
        "JkMount",
        &["jkstatus"],
        &ctx(Some("/jkmanager/"), false),
    )
    .unwrap();
    assert_eq!(c.uri_map.map("/jkmanager/").unwrap().worker, "jkstatus");
    assert_eq!(c.uri_map.map("/jkmanager").unwrap().worker, "lb");
    let e = apply(&mut c, "JkMount", &["jkstatus"], &ctx(None, false)).unwrap_err();
    assert!(e.contains("needs a URI pattern"), "{e}");
    let e = apply(&mut c, "JkMount", &["*.jsp", "lb"], &ctx(None, false)).unwrap_err();
    assert!(e.contains("must start with '/'"), "{e}");
}

#[test]
fn mount_copy_controls_vhost_inheritance() {
    let mut main = ServerConf::new(false);
    apply(&mut main, "JkMount", &["/app/*", "lb"], &ctx(None, false)).unwrap();
    main.finish_main("/srv", &no_env).unwrap();
    let vh = ServerConf::new(true);
    assert!(
        ServerConf::merge(&main, &vh)
            .uri_map
            .map("/app/x")
            .is_none()
    );

    let mut on = ServerConf::new(true);
    apply(&mut on, "JkMountCopy", &["On"], &ctx(None, true)).unwrap();
    apply(&mut on, "JkMount", &["/app/*", "other"], &ctx(None, true)).unwrap();
    let m = ServerConf::merge(&main, &on);
    assert_eq!(
        m.uri_map.map("/app/x").unwrap().worker,
        "other",
        "vhost's own rule wins"
    );

    apply(&mut main, "JkMountCopy", &["All"], &ctx(None, false)).unwrap();
    assert_eq!(
        ServerConf::merge(&main, &vh)
            .uri_map
            .map("/app/x")
            .unwrap()
            .worker,
        "lb"
    );
    let mut off = ServerConf::new(true);
    apply(&mut off, "JkMountCopy", &["Off"], &ctx(None, true)).unwrap();
    assert!(
        ServerConf::merge(&main, &off)
            .uri_map
            .map("/app/x")
            .is_none()
    );
    let e = apply(&mut off, "JkMountCopy", &["All"], &ctx(None, true)).unwrap_err();
    assert!(e.contains("main server"), "{e}");
}

#[test]
fn global_only_directives_refused_in_vhost() {
    let mut c = ServerConf::new(true);
    let e = apply(&mut c, "JkWorkersFile", &["w.properties"], &ctx(None, true)).unwrap_err();
    assert!(e.contains("only allowed in the main server"), "{e}");
}

#[test]
fn workers_file_missing_is_an_error_naming_the_path() {
    let mut c = ServerConf::new(false);
    let e = apply(
        &mut c,
        "JkWorkersFile",
        &["conf/nope.properties"],
        &ctx(None, false),
    )
    .unwrap_err();
    assert!(e.contains("/srv/root/conf/nope.properties"), "{e}");
}

#[test]
fn workers_file_errors_carry_file_and_line() {
    let dir = std::env::temp_dir().join(format!("rjk-dir-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let f = dir.join("workers.properties");
    std::fs::write(
        &f,
        "worker.list=tomcat1\nworker.tomcat1.type=ajp13\nworker.tomcat1.prot=8009\n",
    )
    .unwrap();
    let mut c = ServerConf::new(false);
    let e = apply(
        &mut c,
        "JkWorkersFile",
        &[f.to_str().unwrap()],
        &ctx(None, false),
    )
    .unwrap_err();
    assert!(e.contains(&format!("{}:3", f.display())), "{e}");
    assert!(e.contains("port"), "{e}");

    std::fs::write(&f, "worker.list=tomcat1\nworker.tomcat1.port=18009\n").unwrap();
    let mut c = ServerConf::new(false);
    apply(
        &mut c,
        "JkWorkersFile",
        &[f.to_str().unwrap()],
        &ctx(None, false),
    )
    .unwrap();
    assert!(c.workers.as_ref().unwrap().get("tomcat1").is_some());
    let e = apply(
        &mut c,
        "JkWorkersFile",
        &[f.to_str().unwrap()],
        &ctx(None, false),
    )
    .unwrap_err();
    assert!(e.contains("only be used once"), "{e}");
    // A property line after the file is read is validated at once.
    let e = apply(
        &mut c,
        "JkWorkerProperty",
        &["worker.tomcat1.bogus=1"],
        &ctx(None, false),
    )
    .unwrap_err();
    assert!(e.contains("/etc/httpd.conf:7"), "{e}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn worker_mount_adds_main_server_rules() {
    let mut c = ServerConf::new(false);
    apply(
        &mut c,
        "JkWorkerProperty",
        &["worker.list=w1"],
        &ctx(None, false),
    )
    .unwrap();
    apply(
        &mut c,
        "JkWorkerProperty",
        &["worker.w1.mount=/app/* /other"],
        &ctx(None, false),
    )
    .unwrap();
    apply(&mut c, "JkMount", &["/app/x", "jk"], &ctx(None, false)).unwrap();
    c.finish_main("/srv", &no_env).unwrap();
    assert_eq!(c.uri_map.map("/app/y").unwrap().worker, "w1");
    assert_eq!(c.uri_map.map("/other").unwrap().worker, "w1");
    assert_eq!(
        c.uri_map.map("/app/x").unwrap().worker,
        "jk",
        "JkMount is more specific"
    );
}

#[test]
fn implicit_worker_without_file() {
    let mut c = ServerConf::new(false);
    c.finish_main("/srv", &no_env).unwrap();
    let w = c.workers.as_ref().unwrap();
    assert_eq!(w.list, vec!["ajp13".to_string()]);
}

#[test]
fn scalar_settings_inherit_and_override() {
    let mut main = ServerConf::new(false);
    apply(&mut main, "JkLogLevel", &["DEBUG"], &ctx(None, false)).unwrap();
    apply(
        &mut main,
        "JkLogFile",
        &["logs/mod_jk.log"],
        &ctx(None, false),
    )
    .unwrap();
    apply(&mut main, "JkEnvVar", &["A", "1"], &ctx(None, false)).unwrap();
    apply(
        &mut main,
        "JkRemoteAddrIndicator",
        &["X_ADDR"],
        &ctx(None, false),
    )
    .unwrap();
    main.finish_main("/srv", &no_env).unwrap();
    assert_eq!(main.log_file.as_deref(), Some("/srv/root/logs/mod_jk.log"));
    let mut vh = ServerConf::new(true);
    apply(&mut vh, "JkLogLevel", &["nonsense"], &ctx(None, true)).unwrap();
    apply(&mut vh, "JkEnvVar", &["B"], &ctx(None, true)).unwrap();
    assert!(vh.warnings[0].contains("using info"));
    let m = ServerConf::merge(&main, &vh);
    assert_eq!(m.log_level(), LogLevel::Info);
    assert_eq!(m.log_file.as_deref(), Some("/srv/root/logs/mod_jk.log"));
    assert_eq!(
        m.env_vars,
        vec![("A".into(), Some("1".into())), ("B".into(), None)]
    );
    assert_eq!(m.indicator(Indicator::RemoteAddr), "X_ADDR");
    assert_eq!(m.indicator(Indicator::Https), "HTTPS");
    assert_eq!(
        ServerConf::merge(&main, &ServerConf::new(true)).log_level(),
        LogLevel::Debug
    );
}

#[test]
fn jk_shm_size_is_read_in_kilobytes_and_global() {
    let mut c = ServerConf::new(false);
    apply(&mut c, "JkShmSize", &["64"], &ctx(None, false)).unwrap();
    assert_eq!(c.shm_size_kb, Some(64));
    assert!(c.warnings.is_empty(), "{:?}", c.warnings);
    assert!(apply(&mut c, "JkShmSize", &["-1"], &ctx(None, false)).is_err());
    let mut v = ServerConf::new(true);
    assert!(apply(&mut v, "JkShmSize", &["64"], &ctx(None, true)).is_err());
    assert_eq!(ServerConf::merge(&c, &v).shm_size_kb, Some(64));
}

#[test]
fn stamp_format_length_limit() {
    let mut c = ServerConf::new(false);
    let long = "x".repeat(64);
    assert!(apply(&mut c, "JkLogStampFormat", &[&long], &ctx(None, false)).is_err());
    apply(
        &mut c,
        "JkLogStampFormat",
        &["[%H:%M:%S.%q] "],
        &ctx(None, false),
    )
    .unwrap();
    assert_eq!(c.log_stamp_format(), "[%H:%M:%S.%q] ");
}
