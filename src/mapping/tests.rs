use super::*;
use proptest::prelude::*;

fn mount(map: &mut UriMap, pattern: &str, worker: &str) {
    map.add_mount(pattern, worker, RuleSource::JkMount).unwrap();
}

fn unmount(map: &mut UriMap, pattern: &str, worker: &str) {
    map.add_unmount(pattern, worker, RuleSource::JkMount)
        .unwrap();
}

fn worker(map: &UriMap, uri: &str) -> Option<String> {
    map.map(uri).map(|m| m.worker)
}

fn patterns(map: &UriMap) -> Vec<String> {
    map.rules().map(Rule::display_pattern).collect()
}

#[test]
fn worked_example_of_the_typical_setup() {
    let mut map = UriMap::new();
    mount(&mut map, "/*", "lb");
    // `<Location /jkmanager/> JkMount jkstatus` is an exact rule on the Location path.
    mount(&mut map, "/jkmanager/", "jkstatus");
    assert_eq!(patterns(&map), ["/jkmanager/", "/*"]);
    assert_eq!(worker(&map, "/jkmanager/").as_deref(), Some("jkstatus"));
    assert_eq!(worker(&map, "/jkmanager").as_deref(), Some("lb"));
    assert_eq!(worker(&map, "/x/y").as_deref(), Some("lb"));
    let m = map.map("/jkmanager/").unwrap();
    assert_eq!(m.pattern, "/jkmanager/");
    assert_eq!(m.source, RuleSource::JkMount);
    assert_eq!(map.workers(), ["jkstatus", "lb"]);
}

#[test]
fn no_implicit_worker() {
    let map = UriMap::new();
    assert!(map.is_empty());
    for uri in ["/", "/x", "/jkstatus", "/index.html"] {
        assert_eq!(map.map(uri), None);
    }
    let mut map = UriMap::new();
    mount(&mut map, "/app/*", "b1");
    assert_eq!(map.map("/"), None);
    assert_eq!(map.map("/docs/"), None);
    assert_eq!(map.map("*"), None);
}

#[test]
fn sort_order() {
    let mut map = UriMap::new();
    map.add_mount("/a/*", "wd", RuleSource::WorkerDefinition)
        .unwrap();
    mount(&mut map, "/*", "w1");
    mount(&mut map, "/a/*", "jk");
    mount(&mut map, "/abc/*", "w3");
    mount(&mut map, "/a/b/c", "w4");
    map.add_mount("/a/*", "uwm", RuleSource::UriWorkerMap)
        .unwrap();
    mount(&mut map, "/long-name", "w5");
    let order: Vec<_> = map
        .rules()
        .map(|r| (r.display_pattern(), r.worker().to_owned()))
        .collect();
    let expect = [
        ("/a/b/c", "w4"),
        ("/abc/*", "w3"),
        ("/a/*", "uwm"),
        ("/a/*", "jk"),
        ("/a/*", "wd"),
        ("/long-name", "w5"),
        ("/*", "w1"),
    ];
    let expect: Vec<_> = expect
        .iter()
        .map(|(p, w)| (p.to_string(), w.to_string()))
        .collect();
    assert_eq!(order, expect);
    assert_eq!(worker(&map, "/a/x").as_deref(), Some("uwm"));
    assert_eq!(worker(&map, "/a/b/c").as_deref(), Some("w4"));
    assert_eq!(worker(&map, "/long-name").as_deref(), Some("w5"));
    assert_eq!(worker(&map, "/long-name/x").as_deref(), Some("w1"));
}

#[test]
fn exact_and_wildchar() {
    let mut map = UriMap::new();
    mount(&mut map, "/app", "exact");
    mount(&mut map, "/s/*.jsp", "jsp");
    mount(&mut map, "/q/?.do", "q");
    assert_eq!(worker(&map, "/app").as_deref(), Some("exact"));
    assert_eq!(worker(&map, "/app/x"), None);
    assert_eq!(worker(&map, "/app/"), None);
    assert_eq!(worker(&map, "/s/a/b/c.jsp").as_deref(), Some("jsp"));
    assert_eq!(worker(&map, "/s/.jsp").as_deref(), Some("jsp"));
    assert_eq!(worker(&map, "/s/x.JSP"), None);
    assert_eq!(worker(&map, "/q/a.do").as_deref(), Some("q"));
    assert_eq!(worker(&map, "/q/.do"), None);
    assert_eq!(worker(&map, "/q/ab.do"), None);
    let kinds: Vec<_> = map.rules().map(Rule::kind).collect();
    assert!(kinds.contains(&MatchKind::Exact) && kinds.contains(&MatchKind::Wildchar));
}

#[test]
fn pipe_shortcut() {
    let mut map = UriMap::new();
    mount(&mut map, "/app|/*", "w");
    assert_eq!(patterns(&map), ["/app/*", "/app"]);
    assert_eq!(worker(&map, "/app").as_deref(), Some("w"));
    assert_eq!(worker(&map, "/app/x/y").as_deref(), Some("w"));
    assert_eq!(worker(&map, "/apple"), None);

    let mut map = UriMap::new();
    map.add_mount("-!/x|/*", "w", RuleSource::UriWorkerMap)
        .unwrap();
    assert_eq!(patterns(&map), ["-!/x/*", "-!/x"]);
}

#[test]
fn same_pattern_same_source_last_wins() {
    let mut map = UriMap::new();
    mount(&mut map, "/app/*", "a");
    mount(&mut map, "/app/*", "b;reply_timeout=5");
    assert_eq!(map.len(), 1);
    let m = map.map("/app/x").unwrap();
    assert_eq!(m.worker, "b");
    assert_eq!(m.extensions.reply_timeout_ms, Some(5));

    // Different source ⇒ both kept, uriworkermap first.
    map.add_mount("/app/*", "c", RuleSource::UriWorkerMap)
        .unwrap();
    assert_eq!(map.len(), 2);
    assert_eq!(worker(&map, "/app/x").as_deref(), Some("c"));
}

#[test]
fn unmount_cancels_without_fallback() {
    let mut map = UriMap::new();
    mount(&mut map, "/*", "lb");
    mount(&mut map, "/app/*", "lb");
    unmount(&mut map, "/app/static/*", "lb");
    assert_eq!(worker(&map, "/app/x").as_deref(), Some("lb"));
    // `/*` would match too, but an exclusion is final.
    assert_eq!(map.map("/app/static/a.css"), None);

    let mut map = UriMap::new();
    mount(&mut map, "/*", "other");
    mount(&mut map, "/app/*", "w");
    unmount(&mut map, "/app/static/*", "*");
    assert_eq!(map.map("/app/static/x"), None);
    assert_eq!(worker(&map, "/static/x").as_deref(), Some("other"));
    assert_eq!(map.workers(), ["other", "w"]);
}

#[test]
fn unmount_for_another_worker_does_not_exclude() {
    let mut map = UriMap::new();
    mount(&mut map, "/app/*", "w");
    unmount(&mut map, "/app/static/*", "other");
    assert_eq!(worker(&map, "/app/static/x").as_deref(), Some("w"));
    // A same-pattern mount and unmount are different keys and coexist.
    mount(&mut map, "/app/static/*", "other");
    assert_eq!(map.len(), 3);
    assert_eq!(map.map("/app/static/x"), None);
}

#[test]
fn disabled_rules_are_ignored() {
    let mut map = UriMap::new();
    map.add_mount("-/app/*", "w", RuleSource::UriWorkerMap)
        .unwrap();
    assert_eq!(map.map("/app/x"), None);
    mount(&mut map, "/app/*", "w");
    map.add_mount("-!/app/*", "w", RuleSource::UriWorkerMap)
        .unwrap();
    assert_eq!(worker(&map, "/app/x").as_deref(), Some("w"));
    assert_eq!(patterns(&map), ["-/app/*", "-!/app/*", "/app/*"]);
    let r = map.rules().next().unwrap();
    assert!(r.is_disabled() && !r.is_exclusion());
}

#[test]
fn bad_patterns_are_config_errors() {
    let mut map = UriMap::new();
    let err = map
        .add_mount("*.jsp", "w", RuleSource::JkMount)
        .unwrap_err();
    assert!(err.message.contains("'*.jsp'"), "{err}");
    assert!(
        err.message.contains("use '/*.jsp' instead of '*.jsp'"),
        "{err}"
    );
    for bad in ["", "-", "!", "-!app", "!-/x", "app|/*", "|/x"] {
        assert!(
            map.add_mount(bad, "w", RuleSource::JkMount).is_err(),
            "{bad:?}"
        );
    }
    assert!(map.add_mount("/x", "", RuleSource::JkMount).is_err());
    assert!(map.add_unmount("!/x", "w", RuleSource::JkMount).is_err());
    assert!(map.is_empty(), "a failed add must not leave rules behind");
}

#[test]
fn never_matching_patterns_warn() {
    let mut map = UriMap::new();
    for p in ["/jkstatus;", "/a//b", "/a/./b", "/a/../b", "/a/.."] {
        let w = map.add_mount(p, "w", RuleSource::JkMount).unwrap();
        assert_eq!(w.len(), 1, "{p}: {w:?}");
    }
    assert!(
        map.add_mount("/a/*.jsp", "w;x=1", RuleSource::JkMount)
            .unwrap()[0]
            .contains("unknown rule extension")
    );
}

#[test]
fn inherit_copies_missing_jkmounts() {
    let mut main = UriMap::new();
    mount(&mut main, "/*", "lb");
    mount(&mut main, "/app/*", "main-app");
    unmount(&mut main, "/app/static/*", "*");
    main.add_mount("/wd/*", "wd", RuleSource::WorkerDefinition)
        .unwrap();

    let mut vhost = UriMap::new();
    mount(&mut vhost, "/app/*", "vhost-app");
    vhost.inherit(&main);
    assert_eq!(
        patterns(&vhost),
        ["!/app/static/*", "/app/*", "/*"],
        "worker-definition rules stay with the main server"
    );
    assert_eq!(worker(&vhost, "/app/x").as_deref(), Some("vhost-app"));
    assert_eq!(worker(&vhost, "/other").as_deref(), Some("lb"));
    assert_eq!(vhost.map("/app/static/x"), None);

    // Without inherit a vhost maps nothing.
    assert_eq!(UriMap::new().map("/other"), None);
}

fn file_lines(text: &str) -> Vec<MapLine> {
    parse_uriworkermap("uwm.properties", text, &|_| None)
        .unwrap()
        .0
}

#[test]
fn inherit_mount_file_rules_only_without_own_file() {
    let mut main = UriMap::new();
    main.replace_uriworkermap(&file_lines("/file/*=fw\n"));

    let mut plain = UriMap::new();
    plain.inherit(&main);
    assert_eq!(worker(&plain, "/file/x").as_deref(), Some("fw"));
    assert_eq!(
        plain.rules().next().unwrap().source(),
        RuleSource::UriWorkerMap
    );

    let mut own = UriMap::new();
    own.replace_uriworkermap(&file_lines("/mine/*=mw\n"));
    own.inherit(&main);
    assert_eq!(worker(&own, "/file/x"), None);
    assert_eq!(worker(&own, "/mine/x").as_deref(), Some("mw"));

    // An own file that happens to be empty still counts as "has a mount file".
    let mut empty = UriMap::new();
    empty.replace_uriworkermap(&[]);
    empty.inherit(&main);
    assert!(empty.is_empty());
}

#[test]
fn replace_uriworkermap_keeps_jkmounts() {
    let mut map = UriMap::new();
    mount(&mut map, "/jk/*", "jk");
    map.replace_uriworkermap(&file_lines("/a/*=a\n/b/*=b\n"));
    assert_eq!(map.len(), 3);
    map.replace_uriworkermap(&file_lines("-/a/*=a\n"));
    assert_eq!(patterns(&map), ["/jk/*", "-/a/*"]);
    assert_eq!(worker(&map, "/a/x"), None);
    assert_eq!(worker(&map, "/b/x"), None);
    assert_eq!(worker(&map, "/jk/x").as_deref(), Some("jk"));
    let from_file: Vec<_> = map
        .rules()
        .filter(|r| r.source() == RuleSource::UriWorkerMap)
        .map(Rule::pattern)
        .collect();
    assert_eq!(from_file, ["/a/*"]);
}

/// CVE-2014-8111 / CVE-2018-11759 / CVE-2007-1860: every spelling of the excluded path
/// normalises onto it, and nothing is decoded twice.
#[test]
fn path_trick_corpus() {
    let mut map = UriMap::new();
    mount(&mut map, "/app/*", "w");
    unmount(&mut map, "/app/private/*", "w");
    for uri in [
        "/app//private/x",
        "//app/private/x",
        "/app/./private/x",
        "/app/a/../private/x",
        "/app/private;x=1/x",
        "/app/private/./x",
        "/app/private/x",
        "/app/;x/private//x;jsessionid=1",
    ] {
        let n = normalize(uri).unwrap();
        assert_eq!(n, "/app/private/x", "{uri}");
        assert_eq!(map.map(&n), None, "{uri}");
    }
    assert_eq!(
        normalize("/app/../../etc"),
        Err(NormalizeError::EscapesRoot)
    );
    assert_eq!(normalize("/.."), Err(NormalizeError::EscapesRoot));
    let n = normalize("/app/%2e%2e/private/x").unwrap();
    assert_eq!(n, "/app/%2e%2e/private/x");
    assert_eq!(worker(&map, &n).as_deref(), Some("w"));

    let mut status = UriMap::new();
    mount(&mut status, "/jkstatus", "jkstatus");
    assert_eq!(normalize("/jkstatus;").unwrap(), "/jkstatus");
    assert_eq!(normalize("/jkstatus;x=y").unwrap(), "/jkstatus");
}

#[test]
fn long_uris_are_not_mapped() {
    let mut map = UriMap::new();
    mount(&mut map, "/app/*", "w");
    let fits = format!("/app/{}", "a".repeat(MAX_URI_LEN - 5));
    assert_eq!(fits.len(), 4095);
    assert_eq!(
        worker(&map, &normalize(&fits).unwrap()).as_deref(),
        Some("w")
    );
    let over = format!("{fits}a");
    assert_eq!(normalize(&over), Err(NormalizeError::TooLong));
    assert_eq!(map.map(&over), None);
}

#[test]
fn uriworkermap_file() {
    let text = "\
# comment line
/app/*=lb;reply_timeout=1000   # trailing comment
  /static/* = $(STATIC)$(missing) \r
!/app/static/*=lb
/app/*=lb2
-/old/*=lb
/svc|/*=$(STATIC);stopped=m1;frobnicate=2
not a mapping line

/empty=
";
    let resolve = |name: &str| (name == "STATIC").then(|| "static-w".to_owned());
    let (lines, warnings) = parse_uriworkermap("/etc/uwm.properties", text, &resolve).unwrap();
    let summary: Vec<_> = lines
        .iter()
        .map(|l| (l.line, l.pattern.as_str(), l.worker_spec.as_str()))
        .collect();
    assert_eq!(
        summary,
        [
            (5, "/app/*", "lb2"),
            (3, "/static/*", "static-w$(missing)"),
            (4, "!/app/static/*", "lb"),
            (6, "-/old/*", "lb"),
            (7, "/svc|/*", "static-w;stopped=m1;frobnicate=2"),
        ]
    );
    assert_eq!(warnings.len(), 4, "{warnings:?}");
    assert!(warnings[0].starts_with("/etc/uwm.properties:5: duplicate pattern '/app/*'"));
    assert!(warnings[0].contains("line 2"));
    assert!(warnings[1].starts_with("/etc/uwm.properties:7: unknown rule extension"));
    assert!(warnings[2].starts_with("/etc/uwm.properties:8:"));
    assert!(warnings[3].starts_with("/etc/uwm.properties:10:"));

    let mut map = UriMap::new();
    map.replace_uriworkermap(&lines);
    let m = map.map("/app/x").unwrap();
    assert_eq!(
        (m.worker.as_str(), m.source),
        ("lb2", RuleSource::UriWorkerMap)
    );
    assert_eq!(
        m.extensions.reply_timeout_ms, None,
        "duplicate replaced the whole value"
    );
    assert_eq!(
        worker(&map, "/static/x").as_deref(),
        Some("static-w$(missing)")
    );
    assert_eq!(worker(&map, "/app/static/x").as_deref(), Some("lb2"));
    let m = map.map("/svc").unwrap();
    assert_eq!(m.extensions.stopped, ["m1"]);
    assert_eq!(worker(&map, "/svc/a").as_deref(), Some("static-w"));
    assert_eq!(worker(&map, "/old/x"), None);
}

#[test]
fn uriworkermap_errors_name_the_position() {
    let err = parse_uriworkermap("conf/uwm", "/ok=w\n*.jsp=w\n", &|_| None).unwrap_err();
    assert!(err.message.starts_with("conf/uwm:2: "), "{err}");
    assert!(
        err.message.contains("use '/*.jsp' instead of '*.jsp'"),
        "{err}"
    );
    let err = parse_uriworkermap("conf/uwm", "/ok=;reply_timeout=1\n", &|_| None).unwrap_err();
    assert!(err.message.starts_with("conf/uwm:1: "), "{err}");
}

#[test]
fn substitution() {
    let r = |n: &str| match n {
        "a" => Some("A".to_owned()),
        "loop" => Some("$(loop)".to_owned()),
        _ => None,
    };
    assert_eq!(substitute("x$(a)y$(a)", &r), "xAyA");
    assert_eq!(substitute("$(b)$(a)", &r), "$(b)A");
    assert_eq!(substitute("$(loop)", &r), "$(loop)");
    assert_eq!(substitute("$(a", &r), "$(a");
    assert_eq!(
        substitute(&"$(a)".repeat(25), &r),
        format!("{}{}", "A".repeat(20), "$(a)".repeat(5))
    );
}

fn reference_glob(p: &[u8], t: &[u8]) -> bool {
    match p.split_first() {
        None => t.is_empty(),
        Some((b'*', rest)) => (0..=t.len()).any(|i| reference_glob(rest, &t[i..])),
        Some((&c, rest)) => {
            !t.is_empty() && (c == b'?' || c == t[0]) && reference_glob(rest, &t[1..])
        }
    }
}

#[test]
fn glob_worst_case_is_fast() {
    let text = "a".repeat(4000);
    let pattern = format!("{}b", "*a".repeat(40));
    assert!(!glob_match(pattern.as_bytes(), text.as_bytes()));
}

fn small(alphabet: &'static [&'static str], max: usize) -> impl Strategy<Value = String> {
    proptest::collection::vec(proptest::sample::select(alphabet), 0..max).prop_map(|v| v.concat())
}

proptest! {
    #[test]
    fn glob_agrees_with_reference(
        p in small(&["a", "b", "/", "*", "?"], 8),
        t in small(&["a", "b", "/", "*", "?"], 10),
    ) {
        prop_assert_eq!(
            glob_match(p.as_bytes(), t.as_bytes()),
            reference_glob(p.as_bytes(), t.as_bytes())
        );
    }

    #[test]
    fn map_follows_the_spec(
        rules in proptest::collection::vec(
            (
                small(&["-", "!", "/", "a", "*", "?", "|", ".", ";"], 7),
                proptest::sample::select(&["w1", "w2", "*"][..]),
                proptest::sample::select(&[
                    RuleSource::UriWorkerMap, RuleSource::JkMount, RuleSource::WorkerDefinition,
                ][..]),
            ),
            0..8,
        ),
        uri in small(&["/", "a", "b", ".", ";"], 8),
        junk in any::<String>(),
    ) {
        let mut map = UriMap::new();
        for (pattern, worker, source) in &rules {
            let _ = map.add_mount(pattern, worker, *source);
        }
        let _ = map.map(&junk);
        let all: Vec<&Rule> = map.rules().collect();
        for pair in all.windows(2) {
            prop_assert_ne!(pair[0].order(pair[1]), Ordering::Greater);
        }
        let first = all.iter().find(|r| {
            !r.is_disabled() && !r.is_exclusion() && reference_glob(r.pattern.as_bytes(), uri.as_bytes())
        });
        let expected = first.filter(|winner| {
            !all.iter().any(|r| {
                r.is_exclusion()
                    && !r.is_disabled()
                    && (r.worker() == winner.worker() || r.worker() == "*")
                    && reference_glob(r.pattern.as_bytes(), uri.as_bytes())
            })
        });
        let expected = expected.filter(|_| uri.starts_with('/'));
        prop_assert_eq!(map.map(&uri), expected.map(|r| MapMatch::from(*r)));
    }
}
