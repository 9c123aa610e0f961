use super::*;
use crate::config::properties::Origin;

const SEED: &str = "\
# The seed configuration used throughout the project's tests.
worker.list=load_balancer,jkstatus

worker.tomcat1.type=ajp13
worker.tomcat1.host=localhost
worker.tomcat1.port=18009
worker.tomcat1.lbfactor=1

worker.tomcat2.type=ajp13
worker.tomcat2.host=localhost
worker.tomcat2.port=28009
worker.tomcat2.lbfactor=2

worker.tomcat3.type=ajp13
worker.tomcat3.host=localhost
worker.tomcat3.port=38009
worker.tomcat3.lbfactor=3

worker.load_balancer.type=lb
worker.load_balancer.balance_workers=tomcat1,tomcat2,tomcat3

worker.jkstatus.type=status
";

fn no_env(_: &str) -> Option<String> {
    None
}

fn build(contents: &str) -> Result<WorkersConfig, ConfigError> {
    WorkersConfig::from_sources(
        &[Source::File {
            path: "workers.properties",
            contents,
        }],
        "/srv/httpd",
        &no_env,
    )
}

fn ok(contents: &str) -> WorkersConfig {
    build(contents).unwrap_or_else(|e| panic!("{e}"))
}

fn err(contents: &str) -> ConfigError {
    build(contents).expect_err("must fail")
}

fn ajp<'c>(c: &'c WorkersConfig, name: &str) -> &'c AjpParams {
    c.get(name).and_then(WorkerDef::ajp).expect("ajp13 worker")
}

#[test]
fn seed_config() {
    let c = ok(SEED);
    assert_eq!(c.list, vec!["load_balancer", "jkstatus"]);
    assert_eq!(c.maintain_secs, 60);
    assert_eq!(
        c.workers.keys().collect::<Vec<_>>(),
        vec!["jkstatus", "load_balancer", "tomcat1", "tomcat2", "tomcat3"]
    );
    assert!(c.warnings.is_empty(), "{:?}", c.warnings);

    let lb = c.get("load_balancer").unwrap();
    assert_eq!(lb.type_name(), "lb");
    assert_eq!(lb.origin, Origin::new("workers.properties", 19));
    let lb = lb.lb().unwrap();
    assert_eq!(lb.balance_workers, vec!["tomcat1", "tomcat2", "tomcat3"]);
    assert!(lb.sticky_session);
    assert!(!lb.sticky_session_force);
    assert_eq!(lb.method, LbMethod::Request);
    assert_eq!(lb.lock, LbLock::Optimistic);
    assert_eq!(
        (lb.retries, lb.lb_retries, lb.retry_interval_ms),
        (2, 2, 100)
    );
    assert_eq!(
        (lb.recover_time_secs, lb.error_escalation_time_secs),
        (60, 30)
    );
    assert_eq!(lb.session_cookie, "JSESSIONID");
    assert_eq!(lb.session_path, ";jsessionid");
    assert_eq!(lb.session_cookie_path, "/");
    assert!(!lb.set_session_cookie);
    assert_eq!(lb.secret, None);
    assert_eq!(lb.max_packet_size, 8192);

    for (name, port, factor) in [
        ("tomcat1", 18009, 1),
        ("tomcat2", 28009, 2),
        ("tomcat3", 38009, 3),
    ] {
        let p = ajp(&c, name);
        assert_eq!(p.host, "localhost");
        assert_eq!(p.port, port);
        assert_eq!(p.lbfactor, factor);
        assert_eq!(p.route, name);
        assert_eq!(p.domain, "");
        assert_eq!(p.activation, Activation::Active);
        assert_eq!(p.ping_timeout_ms, 10_000);
        assert_eq!(p.retries, 2);
        assert_eq!(p.retry_interval_ms, 100);
        assert_eq!(p.max_packet_size, 8192);
        assert_eq!(p.connection_pool_size, None);
        assert_eq!(p.acquire_timeout_ms(), 200);
        assert_eq!(p.pool_sizes(25), (25, 13));
    }

    let s = c.get("jkstatus").unwrap().status().unwrap();
    assert!(!s.read_only);
    assert!(s.user.is_empty());
    assert_eq!(s.good, vec!["a.o", "a.i", "a.b", "a.r"]);
    assert_eq!(s.bad, vec!["s", "e"]);
    assert_eq!(s.prefix, "worker");
    assert_eq!(s.ns, "jk:");
    assert_eq!(s.xmlns, "xmlns:jk=\"http://tomcat.apache.org\"");
    assert_eq!(s.css, None);
    assert_eq!(s.doctype, None);
    assert_eq!(c.properties.get("worker.tomcat2.port"), Some("28009"));
}

#[test]
fn implicit_config() {
    let c = WorkersConfig::implicit();
    assert_eq!(c.list, vec!["ajp13"]);
    assert_eq!(c.workers.len(), 1);
    let w = c.get("ajp13").unwrap();
    assert_eq!(w.origin, Origin::builtin());
    let p = w.ajp().unwrap();
    assert_eq!((p.host.as_str(), p.port), ("localhost", 8009));
    assert!(c.warnings.is_empty());
    let same = WorkersConfig::from_sources(&[], "/", &no_env).unwrap();
    assert_eq!(same.workers, c.workers);
}

#[test]
fn listed_worker_without_attributes_is_default_ajp13() {
    let c = ok("worker.list=tomcat,other\nworker.tomcta.port=1\n");
    let p = ajp(&c, "tomcat");
    assert_eq!((p.host.as_str(), p.port), ("localhost", 8009));
    assert_eq!(c.get("tomcat").unwrap().origin.line, 1);
    assert!(
        c.warnings[0].contains("worker 'tomcat' has no attributes")
            && c.warnings[0].contains("did you mean 'tomcta'"),
        "{:?}",
        c.warnings
    );
    assert!(
        c.warnings
            .iter()
            .any(|w| w.contains("worker 'tomcta' is neither"))
    );
}

#[test]
fn missing_worker_list_defaults_to_ajp13() {
    let c = ok("worker.ajp13.port=8010\n");
    assert_eq!(c.list, vec!["ajp13"]);
    assert_eq!(ajp(&c, "ajp13").port, 8010);
    assert!(
        c.warnings[0].contains("worker.list: not set"),
        "{:?}",
        c.warnings
    );
}

#[test]
fn worker_list_errors() {
    let e = err("worker.list= , ,\n");
    assert_eq!(
        e.to_string(),
        "workers.properties:1: worker.list: lists no workers"
    );
    let long = "w".repeat(64);
    let e = err(&format!("worker.list=ok\nworker.list={long}\n"));
    assert_eq!(e.origin.as_ref().unwrap().line, 2);
    assert!(e.message.contains("64 characters long; at most 63"), "{e}");
    let c = ok(&format!("worker.list={}\n", "w".repeat(63)));
    assert_eq!(c.list[0].len(), 63);
}

#[test]
fn maintain() {
    assert_eq!(ok("worker.maintain=30\n").maintain_secs, 30);
    assert_eq!(ok("worker.maintain=-5\n").maintain_secs, 0);
    let c = ok("worker.maintain=soon\n");
    assert_eq!(c.maintain_secs, 60);
    assert!(c.warnings[0].contains("not a number"));
}

#[test]
fn unknown_attribute_error_text() {
    let e = err("worker.list=tomcat1\nworker.tomcat1.prot=8009\n");
    assert_eq!(
        e.to_string(),
        "workers.properties:2: worker.tomcat1.prot: unknown attribute 'prot'; httpd will not \
             start with it (did you mean 'port'?)"
    );
}

#[test]
fn worker_types() {
    let e = err("worker.list=a\nworker.a.type=ajp14\n");
    assert_eq!(
        e.to_string(),
        "workers.properties:2: worker.a.type: worker type 'ajp14' is not supported (mod_jk \
             removed it); use ajp13"
    );
    assert!(
        err("worker.list=a\nworker.a.type=ajp12\n")
            .message
            .contains("not supported")
    );
    let e = err("worker.list=a\nworker.a.type=AJP13\n");
    assert_eq!(e.hint.as_deref(), Some("ajp13"));
    let e = err("worker.list=a\nworker.a.type=bl\n");
    assert_eq!(e.hint.as_deref(), Some("lb"));
    // Unlisted templates need not have a valid type.
    let c =
        ok("worker.list=a\nworker.a.port=1\nworker.t.type=nonsense\nworker.x.reference=worker.t\n");
    assert_eq!(c.workers.len(), 1);
}

#[test]
fn booleans_integers_and_lists_in_attributes() {
    let c = ok("worker.list=a,s\n\
                    worker.a.socket_keepalive=Yes\nworker.a.prefer_ipv6=maybe\n\
                    worker.a.connection_pool_timeout=1k\nworker.a.reply_timeout=2M\n\
                    worker.a.busy_limit=lots\nworker.a.fail_on_status=500, 503\t-404,abc\n\
                    worker.a.mount=/app/*  /other|/*\n\
                    worker.s.type=status\nworker.s.user=alice,bob carol\nworker.s.read_only=on\n");
    let p = ajp(&c, "a");
    assert!(p.socket_keepalive);
    assert!(!p.prefer_ipv6);
    assert_eq!(p.connection_pool_timeout_secs, 1024);
    assert_eq!(p.reply_timeout_ms, 2 * 1048576);
    assert_eq!(p.busy_limit, 0);
    assert_eq!(p.fail_on_status, vec![500, 503, -404]);
    assert_eq!(c.get("a").unwrap().mount, vec!["/app/*", "/other|/*"]);
    let s = c.get("s").unwrap().status().unwrap();
    assert_eq!(s.user, vec!["alice", "bob", "carol"]);
    assert!(s.read_only);
    let w = c.warnings.join("\n");
    assert!(
        w.contains("workers.properties:3: worker.a.prefer_ipv6: 'maybe' is not a boolean"),
        "{w}"
    );
    assert!(
        w.contains("worker.a.busy_limit: 'lots' is not a number; using the default 0"),
        "{w}"
    );
    assert!(w.contains("ignoring 'abc'"), "{w}");
}

#[test]
fn ajp_defaults_and_derived_values() {
    let c = ok("worker.list=a,b,c\n\
                    worker.a.socket_timeout=5\nworker.a.ping_mode=CI\n\
                    worker.b.ping_mode=A\nworker.b.ping_timeout=3000\nworker.b.connect_timeout=50\n\
                    worker.b.connection_pool_size=10\nworker.b.connection_acquire_timeout=7\n\
                    worker.c.ping_mode=px\nworker.c.socket_buffer=100\nworker.c.max_packet_size=9000\n");
    let a = ajp(&c, "a");
    assert_eq!(a.socket_timeout_secs, 5);
    assert_eq!(a.socket_connect_timeout_ms, 5000);
    assert_eq!(
        a.ping_mode,
        PingMode {
            connect: true,
            prepost: false,
            interval: true
        }
    );
    assert_eq!(a.ping_mode.as_letters(), "CI");
    assert_eq!(a.connect_timeout_ms, 10_000);
    assert_eq!(a.prepost_timeout_ms, 0);
    assert_eq!(a.connection_ping_interval_secs, 100);
    let b = ajp(&c, "b");
    assert_eq!(b.ping_mode.as_letters(), "CPI");
    assert_eq!(b.connect_timeout_ms, 50, "explicit value kept");
    assert_eq!(b.prepost_timeout_ms, 3000);
    assert_eq!(b.connection_ping_interval_secs, 30);
    assert_eq!(b.pool_sizes(64), (10, 5));
    assert_eq!(b.acquire_timeout_ms(), 7);
    let cw = ajp(&c, "c");
    assert_eq!(cw.ping_mode.as_letters(), "P");
    assert_eq!(cw.max_packet_size, 9216);
    assert_eq!(cw.socket_buffer, 9216, "raised to max_packet_size");
    assert!(
        c.warnings
            .iter()
            .any(|w| w.contains("ignoring 'x' in ping_mode"))
    );
}

#[test]
fn clamps() {
    let c = ok("worker.list=a,b,c\n\
                    worker.a.max_packet_size=100\nworker.a.lbfactor=0\nworker.a.retries=-3\n\
                    worker.b.max_packet_size=1M\nworker.b.lbfactor=-1\nworker.b.lb_retries=0\n\
                    worker.c.max_packet_size=16384\nworker.c.socket_timeout=-1\n");
    assert_eq!(ajp(&c, "a").max_packet_size, 8192);
    assert_eq!(ajp(&c, "a").lbfactor, 1);
    assert_eq!(ajp(&c, "a").retries, 1);
    assert_eq!(ajp(&c, "b").max_packet_size, 65536);
    assert_eq!(ajp(&c, "b").lbfactor, 1);
    assert_eq!(ajp(&c, "b").lb_retries, 1);
    assert_eq!(ajp(&c, "c").max_packet_size, 16384);
    assert_eq!(ajp(&c, "c").socket_timeout_secs, 0);
    let lb = ok(
        "worker.list=lb\nworker.lb.type=lb\nworker.lb.balance_workers=m\nworker.m.port=1\n\
                     worker.lb.recover_time=0\nworker.lb.retries=0\n",
    );
    let p = lb.get("lb").unwrap().lb().unwrap();
    assert_eq!(p.recover_time_secs, 1);
    assert_eq!(p.error_escalation_time_secs, 0);
    assert_eq!(p.retries, 1);
    let e = err("worker.list=a\nworker.a.port=70000\n");
    assert_eq!(
        e.to_string(),
        "workers.properties:2: worker.a.port: port 70000 is outside 0..65535"
    );
}

#[test]
fn activation_spellings() {
    for (value, expected) in [
        ("A", Activation::Active),
        ("active", Activation::Active),
        ("0", Activation::Active),
        ("D", Activation::Disabled),
        ("Disabled", Activation::Disabled),
        ("1", Activation::Disabled),
        ("s", Activation::Stopped),
        ("STOPPED", Activation::Stopped),
        ("2", Activation::Stopped),
    ] {
        assert_eq!(Activation::parse(value), Some(expected), "{value}");
    }
    assert_eq!(Activation::parse("x"), None);
    assert_eq!(Activation::Disabled.as_str(), "DIS");
    let c = ok("worker.list=a\nworker.a.activation=bogus\n");
    assert_eq!(ajp(&c, "a").activation, Activation::Active);
    assert!(c.warnings[0].contains("'bogus' is not one of Active, Disabled or Stopped"));
}

#[test]
fn method_and_lock_spellings() {
    let m: Vec<_> = [
        "R", "traffic", "b", "Sessions", "n", "0", "1", "2", "3", "4",
    ]
    .iter()
    .map(|v| LbMethod::parse(v).unwrap().as_str())
    .collect();
    assert_eq!(
        m,
        [
            "Request", "Traffic", "Busyness", "Sessions", "Next", "Request", "Traffic", "Busyness",
            "Sessions", "Next"
        ]
    );
    assert_eq!(LbMethod::parse("x"), None);
    assert_eq!(LbLock::parse("p"), Some(LbLock::Pessimistic));
    assert_eq!(LbLock::parse("Optimistic"), Some(LbLock::Optimistic));
    assert_eq!(LbLock::parse("1"), Some(LbLock::Pessimistic));
    let c = ok(
        "worker.list=lb\nworker.lb.type=lb\nworker.lb.balance_workers=m\nworker.m.port=1\n\
                    worker.lb.method=B\nworker.lb.lock=P\nworker.lb.sticky_session=false\n",
    );
    let lb = c.get("lb").unwrap().lb().unwrap();
    assert_eq!(
        (lb.method, lb.lock, lb.sticky_session),
        (LbMethod::Busyness, LbLock::Pessimistic, false)
    );
}

#[test]
fn deprecated_aliases_take_effect() {
    let c = ok("worker.list=lb,old\n\
                    worker.lb.type=lb\nworker.lb.balanced_workers=m1 m2\n\
                    worker.m1.cachesize=7\nworker.m1.cache_timeout=30\nworker.m1.jvm_route=r1\n\
                    worker.m1.disabled=true\n\
                    worker.m2.stopped=1\nworker.m2.disabled=1\nworker.m2.local_worker=1\n\
                    worker.old.cachesize=7\nworker.old.connection_pool_size=9\n\
                    worker.old.activation=D\nworker.old.stopped=true\n");
    assert_eq!(
        c.get("lb").unwrap().lb().unwrap().balance_workers,
        vec!["m1", "m2"]
    );
    let m1 = ajp(&c, "m1");
    assert_eq!(m1.connection_pool_size, Some(7));
    assert_eq!(m1.connection_pool_timeout_secs, 30);
    assert_eq!(m1.route, "r1");
    assert_eq!(m1.activation, Activation::Disabled);
    assert_eq!(
        ajp(&c, "m2").activation,
        Activation::Stopped,
        "stopped beats disabled"
    );
    let old = ajp(&c, "old");
    assert_eq!(old.connection_pool_size, Some(9), "current name wins");
    assert_eq!(
        old.activation,
        Activation::Disabled,
        "activation beats the old booleans"
    );
    let w = c.warnings.join("\n");
    for expected in [
        "worker.lb.balanced_workers: attribute 'balanced_workers' is deprecated; use 'balance_workers' instead",
        "worker.m1.jvm_route: attribute 'jvm_route' is deprecated; use 'route' instead",
        "worker.m2.local_worker: attribute 'local_worker' is deprecated and ignored",
        "workers.properties:11: worker.old.cachesize: ignored because 'connection_pool_size' is also set",
    ] {
        assert!(w.contains(expected), "missing {expected:?} in\n{w}");
    }
}

#[test]
fn lb_member_validation() {
    let e = err("worker.list=lb\nworker.lb.type=lb\n");
    assert_eq!(
        e.to_string(),
        "workers.properties:2: worker.lb.balance_workers: lb worker 'lb' has no members; set \
             worker.lb.balance_workers"
    );
    let e = err(
        "worker.list=lb\nworker.lb.type=lb\nworker.lb.balance_workers=tomcat1\n\
                     worker.lb.balance_workers=tomcat2\nworker.tomcat1.port=1\nworker.tomact2.port=2\n",
    );
    assert_eq!(
        e.to_string(),
        "workers.properties:4: worker.lb.balance_workers: member 'tomcat2' of lb 'lb' is not \
             defined (did you mean 'tomact2'?)"
    );
    let e = err(
        "worker.list=lb\nworker.lb.type=lb\nworker.lb.balance_workers=st\nworker.st.type=status\n",
    );
    assert!(
        e.message.contains("is a status worker; only ajp13 workers"),
        "{e}"
    );
    assert_eq!(e.origin.unwrap().line, 3);
    let e = err(
        "worker.list=lb,st\nworker.lb.type=lb\nworker.lb.balance_workers=st\nworker.st.type=status\n",
    );
    assert!(e.message.contains("is a status worker"), "{e}");
    let e = err(
        "worker.list=outer\nworker.outer.type=lb\nworker.outer.balance_workers=inner\n\
                     worker.inner.type=lb\nworker.inner.balance_workers=m\nworker.m.port=1\n",
    );
    assert!(
        e.message.contains("'inner' of lb 'outer' is a lb worker"),
        "{e}"
    );
    let e =
        err("worker.list=lb\nworker.lb.type=lb\nworker.lb.balance_workers=m,m\nworker.m.port=1\n");
    assert!(e.message.contains("listed twice"), "{e}");
}

#[test]
fn lb_members_need_distinct_routes() {
    let e = err(
        "worker.list=lb\nworker.lb.type=lb\nworker.lb.balance_workers=a,b\n\
                     worker.a.port=1\nworker.b.port=2\nworker.b.route=a\n",
    );
    assert_eq!(
        e.to_string(),
        "workers.properties:6: worker.lb.balance_workers: members 'a' and 'b' of lb 'lb' \
             share the route 'a'; each member needs its own route (Tomcat jvmRoute)"
    );
    // Members need not be listed, and may serve two lbs.
    let c = ok(
        "worker.list=lb1,lb2\nworker.lb1.type=lb\nworker.lb1.balance_workers=a\n\
                    worker.lb2.type=lb\nworker.lb2.balance_workers=a,b\nworker.a.port=1\nworker.b.port=2\n",
    );
    assert_eq!(c.workers.len(), 4);
}

#[test]
fn routes_domains_and_lengths() {
    let c = ok(
        "worker.list=lb\nworker.lb.type=lb\nworker.lb.balance_workers=a,b,c\n\
                    worker.a.route=dc1.node1\nworker.b.route=dc1.node2\nworker.b.domain=explicit\n\
                    worker.c.redirect=dc1.node1\n",
    );
    assert_eq!(ajp(&c, "a").route, "dc1.node1");
    assert_eq!(ajp(&c, "a").domain, "dc1");
    assert_eq!(ajp(&c, "b").domain, "explicit");
    assert_eq!(ajp(&c, "c").route, "c");
    assert_eq!(ajp(&c, "c").domain, "");
    assert_eq!(ajp(&c, "c").redirect, "dc1.node1");
    let long = "r".repeat(64);
    let e = err(&format!("worker.list=a\nworker.a.route={long}\n"));
    assert_eq!(e.key.as_deref(), Some("worker.a.route"));
    assert!(e.message.starts_with("route 'rrrr"), "{e}");
    let e = err(&format!(
        "worker.list=a\nworker.a.host={}.example\n",
        "h".repeat(60)
    ));
    assert!(e.message.starts_with("host name"), "{e}");
    let long_member = "m".repeat(64);
    let e = err(&format!(
        "worker.list=lb\nworker.lb.type=lb\nworker.lb.balance_workers={long_member}\nworker.{long_member}.port=1\n"
    ));
    assert!(e.message.contains("worker name"), "{e}");
    assert_eq!(e.origin.unwrap().line, 3);
}

#[test]
fn port_zero_stops_member() {
    let c = ok(
        "worker.list=lb\nworker.lb.type=lb\nworker.lb.balance_workers=a,b\n\
                    worker.a.port=0\nworker.a.activation=A\nworker.b.port=1\n",
    );
    let a = ajp(&c, "a");
    assert_eq!(a.activation, Activation::Stopped);
    assert!(a.stopped_by_port_zero);
    assert!(!ajp(&c, "b").stopped_by_port_zero);
}

#[test]
fn lb_secret_is_inherited() {
    let c = ok(
        "worker.list=lb\nworker.lb.type=lb\nworker.lb.secret=s3cret\n\
                    worker.lb.balance_workers=a,b\nworker.a.port=1\nworker.b.port=2\nworker.b.secret=own\n",
    );
    assert_eq!(ajp(&c, "a").secret.as_deref(), Some("s3cret"));
    assert_eq!(ajp(&c, "a").secret_inherited_from.as_deref(), Some("lb"));
    assert_eq!(ajp(&c, "b").secret.as_deref(), Some("own"));
    assert_eq!(ajp(&c, "b").secret_inherited_from, None);
    assert_eq!(
        c.get("lb").unwrap().lb().unwrap().secret.as_deref(),
        Some("s3cret")
    );
}

#[test]
fn lb_max_packet_size_is_largest_member() {
    let c = ok(
        "worker.list=lb\nworker.lb.type=lb\nworker.lb.balance_workers=a,b\n\
                    worker.a.max_packet_size=16k\nworker.b.port=2\n",
    );
    assert_eq!(c.get("lb").unwrap().lb().unwrap().max_packet_size, 16384);
}

#[test]
fn references_build_members() {
    let c = ok("worker.list=lb\n\
                    worker.template.type=ajp13\nworker.template.host=tc.internal\n\
                    worker.template.socket_keepalive=true\nworker.template.lbfactor=4\n\
                    worker.lb.type=lb\nworker.lb.balance_workers=n1,n2\n\
                    worker.n1.reference=worker.template\nworker.n1.port=18009\n\
                    worker.n2.reference=worker.template\nworker.n2.port=28009\nworker.n2.lbfactor=1\n");
    let n1 = ajp(&c, "n1");
    assert_eq!(
        (n1.host.as_str(), n1.port, n1.lbfactor),
        ("tc.internal", 18009, 4)
    );
    assert!(n1.socket_keepalive);
    let n2 = ajp(&c, "n2");
    assert_eq!((n2.port, n2.lbfactor), (28009, 1));
    assert_eq!(c.get("n1").unwrap().origin.line, 8);
    assert!(
        c.warnings.is_empty(),
        "template is not reported as unused: {:?}",
        c.warnings
    );
}

#[test]
fn reference_cycle_fails_the_build() {
    let e = err("worker.list=a\nworker.a.reference=worker.b\nworker.b.reference=worker.a\n");
    assert!(e.message.contains("reference cycle"), "{e}");
}

#[test]
fn inapplicable_attribute_warns() {
    let c = ok(
        "worker.list=lb,st\nworker.lb.type=lb\nworker.lb.balance_workers=m\nworker.lb.port=1\n\
                    worker.m.port=2\nworker.st.type=status\nworker.st.retries=3\n",
    );
    let w = c.warnings.join("\n");
    assert!(
        w.contains("workers.properties:4: worker.lb.port: 'port' has no effect on a lb worker"),
        "{w}"
    );
    assert!(
        w.contains("worker.st.retries: 'retries' has no effect on a status worker"),
        "{w}"
    );
}

#[test]
fn status_options() {
    let c = ok(
        "worker.list=s\nworker.s.type=status\nworker.s.ns=-\nworker.s.xmlns=-\n\
                    worker.s.css=/jk.css\nworker.s.good=a.o\nworker.s.good=a.i\nworker.s.bad=e\n\
                    worker.s.prefix=w\nworker.s.doctype=<!DOCTYPE x>\nworker.s.user_case_insensitive=t\n",
    );
    let s = c.get("s").unwrap().status().unwrap();
    assert_eq!(s.ns, "");
    assert_eq!(s.xmlns, "");
    assert_eq!(s.css.as_deref(), Some("/jk.css"));
    assert_eq!(s.good, vec!["a.o", "a.i"]);
    assert_eq!(s.bad, vec!["e"]);
    assert_eq!(s.prefix, "w");
    assert_eq!(s.doctype.as_deref(), Some("<!DOCTYPE x>"));
    assert!(s.user_case_insensitive);
}

#[test]
fn jk_worker_property_and_file_combine() {
    let sources = [
        Source::Line {
            origin: Origin::new("/etc/httpd/conf/httpd.conf", 20),
            text: "worker.list=extra",
        },
        Source::Line {
            origin: Origin::new("/etc/httpd/conf/httpd.conf", 21),
            text: "worker.extra.port=$(EXTRA_PORT)",
        },
        Source::File {
            path: "/etc/httpd/conf/workers.properties",
            contents: SEED,
        },
    ];
    let env = |n: &str| (n == "EXTRA_PORT").then(|| "9009".to_owned());
    let c = WorkersConfig::from_sources(&sources, "/etc/httpd", &env).unwrap();
    assert_eq!(c.list, vec!["extra", "load_balancer", "jkstatus"]);
    assert_eq!(ajp(&c, "extra").port, 9009);
    assert_eq!(
        c.get("extra").unwrap().origin.to_string(),
        "/etc/httpd/conf/httpd.conf:21"
    );
}

proptest::proptest! {
    /// Any mix of plausible and garbage lines either builds or fails with an error that
    /// names a line; it never panics.
    #[test]
    fn arbitrary_files_never_panic(lines in proptest::collection::vec(
        proptest::prop_oneof![
            "worker\\.(list|maintain)=[a-z0-9, ]{0,12}",
            "worker\\.[a-c]\\.(type|port|host|route|lbfactor|balance_workers|reference|\
             activation|max_packet_size|secret|ping_mode|cachesize|prot)=[a-z0-9.$() ,#-]{0,10}",
            "worker\\.[a-c]\\.type=(ajp13|lb|status|ajp14)",
            "worker\\.[a-c]\\.reference=worker\\.[a-c]",
            "\\PC{0,20}",
        ],
        0..16,
    )) {
        match build(&lines.join("\n")) {
            Ok(c) => proptest::prop_assert!(!c.list.is_empty()),
            Err(e) => proptest::prop_assert!(e.origin.is_some(), "{}", e),
        }
    }
}

#[test]
fn attribute_table_is_consistent() {
    for (i, a) in ATTRIBUTES.iter().enumerate() {
        assert!(
            ATTRIBUTES[..i].iter().all(|b| b.name != a.name),
            "duplicate {}",
            a.name
        );
        if let Some(target) = a.deprecated_alias_of {
            let t = find_attribute(target).expect("alias target exists");
            assert!(!t.is_deprecated());
        }
    }
    for deprecated in [
        "recycle_timeout",
        "cachesize",
        "cache_timeout",
        "balanced_workers",
        "jvm_route",
        "disabled",
        "stopped",
        "local_worker",
        "local_worker_only",
        "sysprops",
        "stderr",
        "stdout",
        "mx",
        "ms",
        "class_path",
        "bridge",
        "jvm_lib",
        "ld_path",
        "cmd_line",
        "native_lib",
        "secretkey",
    ] {
        assert!(
            find_attribute(deprecated).unwrap().is_deprecated(),
            "{deprecated}"
        );
    }
    assert_eq!(find_attribute("ping_timeout").unwrap().default, "10000");
    assert_eq!(
        find_attribute("balance_workers").unwrap().multi,
        Multi::List
    );
    assert_eq!(find_attribute("distance").unwrap().multi, Multi::Star);
}
