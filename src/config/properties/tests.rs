use super::*;

fn no_env(_: &str) -> Option<String> {
    None
}

fn parse_file(contents: &str) -> (Properties, Vec<String>) {
    Properties::parse(
        &[Source::File {
            path: "workers.properties",
            contents,
        }],
        "/srv/httpd",
        &no_env,
    )
    .expect("parses")
}

fn parse_err(contents: &str) -> ConfigError {
    Properties::parse(
        &[Source::File {
            path: "workers.properties",
            contents,
        }],
        "/srv/httpd",
        &no_env,
    )
    .expect_err("must fail")
}

#[test]
fn line_format_split_at_first_equals_and_trimmed() {
    let (p, _) = parse_file("  worker.a.host =  tc=1.example  \n");
    assert_eq!(p.get("worker.a.host"), Some("tc=1.example"));
    assert_eq!(
        p.origin("worker.a.host"),
        Some(&Origin::new("workers.properties", 1))
    );
}

#[test]
fn lines_without_equals_or_with_empty_sides_are_ignored() {
    let (p, w) = parse_file("just words\n=value\nworker.a.host=\n   \nworker.a.port=1\n");
    assert_eq!(p.len(), 1);
    assert_eq!(p.get("worker.a.port"), Some("1"));
    assert_eq!(p.get("worker.a.host"), None);
    assert_eq!(w.len(), 3, "{w:?}");
    assert!(w[0].starts_with("workers.properties:1: line ignored: no '='"));
}

#[test]
fn hash_anywhere_truncates_even_inside_a_secret() {
    let (p, _) = parse_file("# comment\nworker.a.secret=abc#def\nworker.a.port=8010 # trailing\n");
    assert_eq!(p.get("worker.a.secret"), Some("abc"));
    assert_eq!(p.get("worker.a.port"), Some("8010"));
    assert_eq!(p.origin("worker.a.port").unwrap().line, 3);
}

#[test]
fn jk_worker_property_lines_keep_hash() {
    let sources = [Source::Line {
        origin: Origin::new("/etc/httpd/conf/httpd.conf", 12),
        text: "worker.a.secret=abc#def",
    }];
    let (p, _) = Properties::parse(&sources, "/", &no_env).unwrap();
    assert_eq!(p.get("worker.a.secret"), Some("abc#def"));
    assert_eq!(
        p.origin("worker.a.secret").unwrap().to_string(),
        "/etc/httpd/conf/httpd.conf:12"
    );
}

#[test]
fn no_line_continuation() {
    let (p, w) = parse_file("worker.list=a,\\\nb\nworker.a.port=1\n");
    assert_eq!(p.get("worker.list"), Some("a,\\"));
    assert_eq!(p.get("b"), None);
    assert_eq!(w.len(), 1, "the lone 'b' line is ignored: {w:?}");
}

#[test]
fn crlf_line_endings() {
    let (p, _) = parse_file("worker.a.port=8010\r\nworker.a.host=h\r\n");
    assert_eq!(p.get("worker.a.port"), Some("8010"));
    assert_eq!(p.get("worker.a.host"), Some("h"));
}

#[test]
fn substitution_from_earlier_line_env_and_server_root() {
    let env = |name: &str| (name == "TC_HOST").then(|| "tc.internal".to_owned());
    let sources = [Source::File {
        path: "w.properties",
        contents: "base=80\nworker.a.port=$(base)09\nworker.a.host=$(TC_HOST)\n\
                       mydir=$(ServerRoot)/conf\nworker.a.route=$(nope)-x\n",
    }];
    let (p, w) = Properties::parse(&sources, "/srv/httpd", &env).unwrap();
    assert_eq!(p.get("worker.a.port"), Some("8009"));
    assert_eq!(p.get("worker.a.host"), Some("tc.internal"));
    assert_eq!(p.get("mydir"), Some("/srv/httpd/conf"));
    assert_eq!(p.get("worker.a.route"), Some("$(nope)-x"));
    assert_eq!(w.len(), 1);
    assert!(
        w[0].starts_with("w.properties:5: worker.a.route: $(nope)"),
        "{w:?}"
    );
    assert_eq!(
        p.get("ServerRoot"),
        None,
        "ServerRoot is not a stored property"
    );
}

#[test]
fn substitution_prefers_properties_over_env_and_sees_jk_worker_property() {
    let env = |name: &str| (name == "port").then(|| "1111".to_owned());
    let sources = [
        Source::Line {
            origin: Origin::new("httpd.conf", 3),
            text: "port=2222",
        },
        Source::File {
            path: "w",
            contents: "worker.a.port=$(port)",
        },
    ];
    let (p, _) = Properties::parse(&sources, "/", &env).unwrap();
    assert_eq!(p.get("worker.a.port"), Some("2222"));
}

#[test]
fn substitution_is_not_recursive_and_only_uses_earlier_lines() {
    let (p, _) = parse_file("a=$(b)\nb=x\nc=$(b)$(b)\nd=$$(b))\n");
    assert_eq!(p.get("a"), Some("$(b)"), "b was not yet defined");
    assert_eq!(p.get("c"), Some("xx"));
    assert_eq!(p.get("d"), Some("$x)"));
    let (p, _) = parse_file("loop=$(loop)\nx=$(loop)\n");
    assert_eq!(p.get("x"), Some("$(loop)"));
}

#[test]
fn substitution_stops_after_twenty() {
    let value = "$(v)".repeat(21);
    let (p, _) = parse_file(&format!("v=x\nall={value}\n"));
    assert_eq!(
        p.get("all"),
        Some(format!("{}$(v)", "x".repeat(20)).as_str())
    );
}

#[test]
fn substitution_and_joining_cannot_grow_a_value_without_bound() {
    // Twenty-fold pasting per line: line 4 would already be 16 * 20^3 bytes.
    let mut file = "v0=xxxxxxxxxxxxxxxx\n".to_owned();
    for i in 1..6 {
        file.push_str(&format!("v{i}={}\n", format!("$(v{})", i - 1).repeat(20)));
    }
    let e = parse_err(&file);
    assert_eq!(e.origin.as_ref().map(|o| o.line), Some(4));
    assert!(e.message.contains("longer than"), "{e}");
    // Repeated keys join with '*'; the joined value is capped the same way.
    let big = "y".repeat(MAX_VALUE_LEN / 2);
    let e = parse_err(&format!("b={big}\nb={big}\nb={big}\n"));
    assert_eq!(e.origin.as_ref().map(|o| o.line), Some(2));
    // Up to the cap everything is kept.
    let (p, _) = parse_file(&format!("c={}\n", "z".repeat(MAX_VALUE_LEN)));
    assert_eq!(p.get("c").map(str::len), Some(MAX_VALUE_LEN));
}

#[test]
fn duplicate_unique_key_last_wins_with_warning() {
    let (p, w) = parse_file("worker.a.port=1\nworker.a.port=2\n");
    assert_eq!(p.get("worker.a.port"), Some("2"));
    assert_eq!(p.origin("worker.a.port").unwrap().line, 2);
    assert_eq!(
        w,
        vec![
            "workers.properties:2: worker.a.port: Duplicate key: value '1' from \
                 workers.properties:1 is replaced by '2'"
                .to_owned()
        ]
    );
}

#[test]
fn duplicate_secret_is_not_logged() {
    let (p, w) = parse_file("worker.a.secret=one\nworker.a.secret=two\n");
    assert_eq!(p.get("worker.a.secret"), Some("two"));
    assert!(!w[0].contains("one") && !w[0].contains("two"), "{w:?}");
}

#[test]
fn duplicate_list_keys_are_joined_with_comma() {
    let sources = [
        Source::Line {
            origin: Origin::new("httpd.conf", 7),
            text: "worker.list=a",
        },
        Source::File {
            path: "w",
            contents: "worker.list=b\nworker.lb.balance_workers=m1\nworker.lb.balance_workers=m2 m3\n\
                           worker.lb.balanced_workers=x\nworker.lb.balanced_workers=y\n\
                           worker.s.user=u1\nworker.s.user=u2\nworker.a.fail_on_status=500\n\
                           worker.a.fail_on_status=503\nworker.a.mount=/a\nworker.a.mount=/b\n",
        },
    ];
    let (p, w) = Properties::parse(&sources, "/", &no_env).unwrap();
    assert_eq!(p.get("worker.list"), Some("a,b"));
    assert_eq!(p.get("worker.lb.balance_workers"), Some("m1,m2 m3"));
    assert_eq!(p.get("worker.lb.balanced_workers"), Some("x,y"));
    assert_eq!(p.get("worker.s.user"), Some("u1,u2"));
    assert_eq!(p.get("worker.a.fail_on_status"), Some("500,503"));
    assert_eq!(p.get("worker.a.mount"), Some("/a,/b"));
    assert!(w.iter().all(|w| !w.contains("Duplicate")), "{w:?}");
    assert_eq!(
        p.origin_of_item("worker.list", "a").unwrap().to_string(),
        "httpd.conf:7"
    );
    assert_eq!(
        p.origin_of_item("worker.list", "b").unwrap().to_string(),
        "w:1"
    );
    assert_eq!(p.entry("worker.list").unwrap().definitions.len(), 2);
}

#[test]
fn duplicate_other_keys_are_joined_with_star() {
    let (p, w) = parse_file("myvar=1\nmyvar=2\nworker.a.distance=1\nworker.a.distance=2\n");
    assert_eq!(p.get("myvar"), Some("1*2"));
    assert_eq!(p.get("worker.a.distance"), Some("1*2"));
    assert_eq!(w.len(), 2);
    assert!(w[0].contains("joined with '*'"), "{w:?}");
    let (p, _) = parse_file("my_path=/a\nmy_path=/b\nworker.x.cmd_line=a\nworker.x.cmd_line=b\n");
    assert_eq!(p.get("my_path"), Some("/a:/b"));
    assert_eq!(p.get("worker.x.cmd_line"), Some("a b"));
}

#[test]
fn jk_worker_property_then_file_overrides_single_valued() {
    let sources = [
        Source::Line {
            origin: Origin::new("httpd.conf", 1),
            text: "worker.a.port=1",
        },
        Source::File {
            path: "w",
            contents: "worker.a.port=2",
        },
    ];
    let (p, w) = Properties::parse(&sources, "/", &no_env).unwrap();
    assert_eq!(p.get("worker.a.port"), Some("2"));
    assert!(w[0].contains("Duplicate key"));
}

#[test]
fn unknown_attribute_is_an_error_with_location_and_hint() {
    let e = parse_err("worker.list=tomcat1\n\nworker.tomcat1.prot=8009\n");
    assert_eq!(e.origin, Some(Origin::new("workers.properties", 3)));
    assert_eq!(e.key.as_deref(), Some("worker.tomcat1.prot"));
    assert_eq!(e.hint.as_deref(), Some("port"));
    assert_eq!(
        e.to_string(),
        "workers.properties:3: worker.tomcat1.prot: unknown attribute 'prot'; httpd will \
             not start with it (did you mean 'port'?)"
    );
    let e = parse_err("worker.a.connection_pool_sise=3\n");
    assert_eq!(e.hint.as_deref(), Some("connection_pool_size"));
    let e = parse_err("worker.a.zzzzzz=3\n");
    assert_eq!(e.hint, None);
}

#[test]
fn unknown_attribute_from_jk_worker_property_names_httpd_conf() {
    let sources = [Source::Line {
        origin: Origin::new("/etc/httpd/httpd.conf", 44),
        text: "worker.a.hots=x",
    }];
    let e = Properties::parse(&sources, "/", &no_env).unwrap_err();
    assert_eq!(
        e.to_string(),
        "/etc/httpd/httpd.conf:44: worker.a.hots: unknown attribute 'hots'; httpd will not \
             start with it (did you mean 'host'?)"
    );
}

#[test]
fn global_key_validation() {
    let e = parse_err("worker.lst=a\n");
    assert_eq!(e.hint.as_deref(), Some("worker.list"));
    let (p, w) = parse_file("worker.port=1\nworker.maintain=30\nsomething.else=1\n");
    assert_eq!(p.get("worker.maintain"), Some("30"));
    assert_eq!(w.len(), 1);
    assert!(w[0].contains("needs a worker name"), "{w:?}");
    assert!(
        parse_err("worker..port=1\n")
            .message
            .contains("empty worker name")
    );
    let (_, w) = parse_file("worker.a.list=x\n");
    assert!(w[0].contains("global key"), "{w:?}");
}

#[test]
fn deprecated_attributes_warn() {
    let (p, w) = parse_file(
        "worker.a.cachesize=10\nworker.a.mx=256\nworker.a.recycle_timeout=1\nworker.a.secretkey=k\n",
    );
    assert_eq!(p.get("worker.a.cachesize"), Some("10"));
    assert_eq!(w.len(), 4);
    assert_eq!(
        w[0],
        "workers.properties:1: worker.a.cachesize: attribute 'cachesize' is deprecated; \
             use 'connection_pool_size' instead"
    );
    assert!(w[1].ends_with("attribute 'mx' is deprecated and ignored"));
}

#[test]
fn reference_templates_multi_hop_and_order_independent() {
    let (p, _) = parse_file(
        "worker.x.reference=worker.mid\nworker.x.port=1\n\
             worker.mid.reference=worker.base\nworker.mid.host=midhost\n\
             worker.base.port=9\nworker.base.host=basehost\nworker.base.lbfactor=5\n",
    );
    assert_eq!(p.get("worker.x.port"), Some("1"), "own value wins");
    assert_eq!(p.get("worker.x.host"), Some("midhost"));
    assert_eq!(p.get("worker.x.lbfactor"), Some("5"));
    assert_eq!(p.get("worker.mid.port"), Some("9"));
    assert_eq!(p.get("worker.x.reference"), Some("worker.mid"));
    let e = p.entry("worker.x.lbfactor").unwrap();
    assert_eq!(e.inherited_from.as_deref(), Some("worker.mid"));
    assert_eq!(
        e.origin.line, 7,
        "points at the template line holding the value"
    );
}

#[test]
fn reference_cycle_is_an_error() {
    let e = parse_err("worker.a.reference=worker.b\nworker.b.reference=worker.a\n");
    assert_eq!(e.origin.as_ref().unwrap().line, 1);
    assert_eq!(
        e.message,
        "reference cycle: worker.a -> worker.b -> worker.a"
    );
    let e = parse_err("worker.a.reference=worker.a\n");
    assert!(e.message.contains("cycle"), "{e}");
}

#[test]
fn reference_depth_limit() {
    let chain = |hops: usize| {
        let mut s = String::new();
        for i in 0..hops {
            s.push_str(&format!("worker.w{i}.reference=worker.w{}\n", i + 1));
        }
        s.push_str(&format!("worker.w{hops}.port=4242\n"));
        s
    };
    let (p, _) = parse_file(&chain(MAX_REFERENCE_DEPTH));
    assert_eq!(p.get("worker.w0.port"), Some("4242"));
    let e = parse_err(&chain(MAX_REFERENCE_DEPTH + 1));
    assert!(e.message.contains("more than 20 chained references"), "{e}");
}

#[test]
fn reference_to_missing_or_malformed_template() {
    let e = parse_err("worker.tmpl.port=1\nworker.a.reference=worker.tmp\n");
    assert_eq!(e.hint.as_deref(), Some("worker.tmpl"));
    assert_eq!(e.origin.unwrap().line, 2);
    let e = parse_err("worker.tmpl.port=1\nworker.a.reference=tmpl\n");
    assert_eq!(e.hint.as_deref(), Some("worker.tmpl"));
}

#[test]
fn booleans() {
    for t in ["1", "on", "ON", "true", "True", "yes", "Y", "t"] {
        assert_eq!(parse_bool(t), Some(true), "{t}");
    }
    for f in ["0", "off", "Off", "false", "no", "N", "f"] {
        assert_eq!(parse_bool(f), Some(false), "{f}");
    }
    for x in ["", "2", "maybe", "01", "10"] {
        assert_eq!(parse_bool(x), None, "{x}");
    }
}

#[test]
fn integers_with_suffixes() {
    let v = |s: &str| parse_int(s).map(|p| p.value);
    assert_eq!(v("8009"), Some(8009));
    assert_eq!(v("-5"), Some(-5));
    assert_eq!(v("+7"), Some(7));
    assert_eq!(v("64k"), Some(65536));
    assert_eq!(v("8K"), Some(8192));
    assert_eq!(v("2m"), Some(2 * 1048576));
    assert_eq!(v("1M"), Some(1048576));
    assert_eq!(v("abc"), None);
    assert_eq!(v(""), None);
    assert_eq!(v("k"), None);
    assert_eq!(v("99999999999999999999"), None);
    assert_eq!(
        parse_int("10s"),
        Some(ParsedInt {
            value: 10,
            trailing_garbage: true
        })
    );
    assert!(!parse_int(" 12 ").unwrap().trailing_garbage);
}

#[test]
fn list_separators() {
    assert_eq!(split_list("a, b\tc,,d  e"), vec!["a", "b", "c", "d", "e"]);
    assert!(split_list(" , ").is_empty());
}

#[test]
fn suggestions() {
    let names = ["port", "host", "lbfactor", "route"];
    assert_eq!(suggest("prot", names).as_deref(), Some("port"));
    assert_eq!(suggest("PORT", names).as_deref(), Some("port"));
    assert_eq!(suggest("lbfactr", names).as_deref(), Some("lbfactor"));
    assert_eq!(suggest("xyz", names), None);
    assert_eq!(edit_distance("prot", "port"), 1);
    assert_eq!(edit_distance("kitten", "sitting"), 3);
}

#[test]
fn iteration_order_is_first_definition_order() {
    let (p, _) = parse_file("b=1\na=2\nb=3\n");
    let all: Vec<_> = p.iter().collect();
    assert_eq!(all, vec![("b", "1*3"), ("a", "2")]);
    assert_eq!(p.worker_names(), Vec::<String>::new());
    let (p, _) = parse_file("worker.z.port=1\nworker.a.b.port=2\nworker.z.host=h\n");
    assert_eq!(p.worker_names(), vec!["z", "a.b"]);
    assert_eq!(split_worker_key("worker.a.b.port"), Some(("a.b", "port")));
}
