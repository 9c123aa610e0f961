//! Commands, errors, access checks and state changes.

use super::*;

#[test]
fn unknown_things_are_4xx() {
    let f = fixture();
    for (q, status) in [
        ("cmd=bogus", 400),
        ("mime=yaml", 400),
        ("cmd=show", 400),
        ("cmd=show&w=nope", 404),
        ("cmd=show&w=jkstatus", 400),
        ("cmd=update&w=nope&vwa=1", 404),
        ("cmd=update&w=load_balancer&sw=nope&vwa=1", 404),
        ("cmd=update&w=load_balancer&sw=zz*&vwa=1", 404),
        ("cmd=reset&w=jkstatus", 400),
        ("cmd=update&w=solo&vamps=9000", 400),
        ("cmd=update&w=solo&var=0", 400),
        ("cmd=recover&w=load_balancer", 400),
        ("cmd=%zz", 400),
        ("cmd=list&x=%E9", 400),
        ("cmd=list&x=a%0Ab", 400),
        ("cmd=dump&mime=prometheus", 400),
    ] {
        let r = get(&f, q);
        assert_eq!(r.status, status, "{q}: {}", text(&r));
    }
    let r = get(&f, "cmd=bogus&mime=txt");
    assert_eq!(
        text(&r).lines().last(),
        Some("Result: type=ERROR message=\"Invalid command.\"")
    );
    let r = handle(
        &StatusRequest {
            method: "PUT",
            ..base("")
        },
        &ctx(&f),
    );
    assert_eq!(r.status, 405);
    assert!(r.header("Allow").is_some());
}

#[test]
fn show_and_version() {
    let f = fixture();
    let r = get(&f, "cmd=show&w=load_balancer&mime=txt");
    assert_eq!(r.status, 200);
    assert!(text(&r).contains("Balancer Worker: name=load_balancer"));
    assert!(!text(&r).contains("AJP Worker: name=solo"));
    let r = get(&f, "cmd=show&w=tomcat2&mime=txt");
    assert!(
        text(&r).contains("AJP Worker: name=tomcat2"),
        "{}",
        text(&r)
    );
    let r = get(&f, "cmd=version&mime=txt");
    assert!(text(&r).contains(
        "Software: web_server=\"Apache/2.4.62 (Debian) mod_rjk/0.1.0\" jk_version=mod_rjk/"
    ));
    assert!(!text(&r).contains("Balancer"));
    let r = get(&f, "cmd=version");
    assert_eq!(r.status, 200);
}

#[test]
fn head_has_no_body_and_changes_nothing() {
    let f = fixture();
    let r = handle(
        &StatusRequest {
            method: "HEAD",
            ..base("")
        },
        &ctx(&f),
    );
    assert_eq!(r.status, 200);
    assert!(r.body.is_empty());
    let r = handle(
        &StatusRequest {
            method: "HEAD",
            ..base("cmd=update&w=load_balancer&sw=tomcat1&vwa=1")
        },
        &ctx(&f),
    );
    assert_eq!(r.status, 405);
    assert_eq!(member(&f, "tomcat1").activation, Activation::Active);
}

#[test]
fn get_update_without_markers_works() {
    let f = fixture();
    let r = get(&f, "cmd=update&w=load_balancer&sw=tomcat1&vwa=1");
    assert_eq!(r.status, 200, "{}", text(&r));
    assert_eq!(member(&f, "tomcat1").activation, Activation::Disabled);
    assert_eq!(
        r.log,
        vec![
            "Status worker 'jkstatus' changing 'activation' for sub worker 'tomcat1' of lb \
             worker 'load_balancer' from 'ACT' to 'DIS'"
                .to_owned()
        ]
    );
    // HTML answer: result page returning to the list.
    assert!(text(&r).contains("http-equiv=\"refresh\" content=\"3;url=/jkmanager/?cmd=list\""));
    // Other formats answer in their format.
    let r = get(
        &f,
        "cmd=update&w=load_balancer&sw=tomcat1&vwa=Stopped&vwf=4&vwd=2&vwn=t1.x&vwr=tomcat2&vwc=dom&mime=txt",
    );
    assert_eq!(r.status, 200, "{}", text(&r));
    assert!(text(&r).contains("Result: type=OK"));
    let m = member(&f, "tomcat1");
    assert_eq!(
        (
            m.activation,
            m.lbfactor,
            m.distance,
            m.route.as_str(),
            m.redirect.as_str(),
            m.domain.as_str()
        ),
        (Activation::Stopped, 4, 2, "t1.x", "tomcat2", "dom")
    );
    assert_eq!(r.log.len(), 6);
    // A browser's GET update, same-origin or typed into the address bar, needs the
    // form token; with it, it is applied.
    for (site, referer) in [
        (
            Some("same-origin"),
            Some("http://127.0.0.1:8080/jkmanager/"),
        ),
        (Some("none"), None),
    ] {
        let q = "cmd=update&w=load_balancer&sw=tomcat1&vwa=A";
        let req = StatusRequest {
            sec_fetch_site: site,
            referer,
            browser_headers: true,
            ..base(q)
        };
        assert_eq!(handle(&req, &ctx(&f)).status, 403);
        assert_eq!(member(&f, "tomcat1").activation, Activation::Stopped);
        let q = format!("{q}&csrf={TOKEN}");
        let req = StatusRequest {
            sec_fetch_site: site,
            referer,
            browser_headers: true,
            ..base(&q)
        };
        assert_eq!(handle(&req, &ctx(&f)).status, 200);
        assert_eq!(member(&f, "tomcat1").activation, Activation::Active);
        let req = base("cmd=update&w=load_balancer&sw=tomcat1&vwa=S");
        assert_eq!(handle(&req, &ctx(&f)).status, 200);
    }
}

/// A page on another site over plain http: no Sec-Fetch-*, no Referer
/// (`referrerpolicy=no-referrer`), only the browser's User-Agent. Refused without the
/// token; curl and wget are not browsers.
#[test]
fn browser_state_changes_need_the_token() {
    let f = fixture();
    let q = "cmd=update&w=load_balancer&sw=tomcat1&vwa=S";
    let chrome = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 Chrome/120.0 Safari/537.36";
    for req in [
        StatusRequest {
            user_agent: Some(chrome),
            ..base(q)
        },
        StatusRequest {
            browser_headers: true,
            ..base(q)
        },
        StatusRequest {
            origin: Some("http://127.0.0.1:8080"),
            ..base("cmd=reset&w=load_balancer")
        },
    ] {
        let r = handle(&req, &ctx(&f));
        assert_eq!(r.status, 403, "{req:?}");
        assert!(r.body_text().contains("curl"), "{}", r.body_text());
        assert_eq!(member(&f, "tomcat1").activation, Activation::Active);
    }
    // Reads from a browser need no token.
    let r = handle(
        &StatusRequest {
            user_agent: Some(chrome),
            ..base("mime=txt")
        },
        &ctx(&f),
    );
    assert_eq!(r.status, 200);
    for ua in [None, Some("curl/7.88.1"), Some("Wget/1.21.3")] {
        let req = StatusRequest {
            user_agent: ua,
            ..base("cmd=update&w=load_balancer&sw=tomcat1&vwa=A")
        };
        assert_eq!(handle(&req, &ctx(&f)).status, 200, "{ua:?}");
    }
}

/// DNS rebinding: the page answers only for the server's names, localhost, IP
/// literals and `allowed_hosts`.
#[test]
fn worker_allowed_hosts_and_server_names_guard_against_dns_rebinding() {
    let mut f = fixture();
    let names = ["jkm.example".to_owned(), "*.corp.example".to_owned()];
    let answers = |f: &Fixture, host: &str| {
        let c = StatusContext {
            server_names: &names,
            ..ctx(f)
        };
        handle(
            &StatusRequest {
                host,
                ..base("mime=txt")
            },
            &c,
        )
        .status
    };
    for host in [
        "jkm.example:8080",
        "JKM.example.",
        "a.corp.example",
        "localhost:8080",
        "127.0.0.1:8080",
        "[::1]:8080",
        "",
    ] {
        assert_eq!(answers(&f, host), 200, "{host}");
    }
    for host in [
        "evil.example",
        "jkm.example.evil.example:8080",
        "corp.example",
    ] {
        assert_eq!(answers(&f, host), 403, "{host}");
    }
    f.status.allowed_hosts = vec!["evil.example".to_owned()];
    assert_eq!(answers(&f, "evil.example"), 200);
    f.status.allowed_hosts = vec!["*".to_owned()];
    assert_eq!(answers(&f, "anything.example"), 200);
}

#[test]
fn cross_site_markers_are_refused() {
    let f = fixture();
    let q = "cmd=update&w=load_balancer&sw=tomcat1&vwa=1";
    let cases = [
        StatusRequest {
            sec_fetch_site: Some("cross-site"),
            ..base(q)
        },
        StatusRequest {
            sec_fetch_site: Some("same-site"),
            ..base(q)
        },
        StatusRequest {
            origin: Some("http://evil.example"),
            ..base(q)
        },
        StatusRequest {
            origin: Some("null"),
            ..base(q)
        },
        StatusRequest {
            origin: Some("http://127.0.0.1:8081"),
            ..base(q)
        },
        StatusRequest {
            origin: Some("https://127.0.0.1:8080"),
            host: "127.0.0.1",
            ..base(q)
        },
        StatusRequest {
            referer: Some("http://evil.example/x?127.0.0.1:8080"),
            ..base(q)
        },
        StatusRequest {
            referer: Some("http://127.0.0.1:8080@evil.example/"),
            ..base(q)
        },
        StatusRequest {
            referer: Some("not a url"),
            ..base(q)
        },
        StatusRequest {
            referer: Some("http://127.0.0.1:8080/"),
            origin: Some("http://evil.example"),
            ..base(q)
        },
    ];
    for req in cases {
        let r = handle(&req, &ctx(&f));
        assert_eq!(
            r.status, 403,
            "{:?} {:?} {:?}",
            req.sec_fetch_site, req.origin, req.referer
        );
        assert!(r.log.is_empty());
    }
    for q in [
        "cmd=reset&w=load_balancer",
        "cmd=recover&w=load_balancer&sw=tomcat1",
    ] {
        let r = handle(
            &StatusRequest {
                sec_fetch_site: Some("cross-site"),
                ..base(q)
            },
            &ctx(&f),
        );
        assert_eq!(r.status, 403);
    }
    assert_eq!(member(&f, "tomcat1").activation, Activation::Active);
    // Reads stay possible from anywhere (httpd's access control applies).
    let r = handle(
        &StatusRequest {
            sec_fetch_site: Some("cross-site"),
            ..base("mime=json")
        },
        &ctx(&f),
    );
    assert_eq!(r.status, 200);
    // Default ports are normalised.
    let names = ["example.org".to_owned()];
    let c = StatusContext {
        server_names: &names,
        ..ctx(&f)
    };
    let q = format!("{q}&csrf={TOKEN}");
    let req = StatusRequest {
        origin: Some("http://example.org"),
        host: "example.org:80",
        ..base(&q)
    };
    assert_eq!(handle(&req, &c).status, 200);
    let req = StatusRequest {
        origin: Some("https://Example.org:443"),
        host: "example.org",
        ..base(&q)
    };
    assert_eq!(handle(&req, &c).status, 200);
}

#[test]
fn post_needs_the_token() {
    let f = fixture();
    let form = "cmd=update&w=load_balancer&sw=tomcat1&vwa=Disabled";
    let r = post(&f, form);
    assert_eq!(r.status, 403);
    let r = post(&f, &format!("{form}&csrf=00000000000000000000000000000000"));
    assert_eq!(r.status, 403);
    let r = post(&f, &format!("{form}&csrf={}", &TOKEN[..31]));
    assert_eq!(r.status, 403);
    assert_eq!(member(&f, "tomcat1").activation, Activation::Active);
    // Token in the query string of a cross-site POST does not help either.
    let r = handle(
        &StatusRequest {
            method: "POST",
            form: form.as_bytes(),
            sec_fetch_site: Some("cross-site"),
            ..base(&format!("csrf={TOKEN}"))
        },
        &ctx(&f),
    );
    assert_eq!(r.status, 403);
    assert_eq!(member(&f, "tomcat1").activation, Activation::Active);
    // The right token: applied, 303 back to the list.
    let r = post(&f, &format!("{form}&csrf={TOKEN}"));
    assert_eq!(r.status, 303, "{}", text(&r));
    assert_eq!(r.header("Location"), Some("/jkmanager/?cmd=list&ok=update"));
    assert_eq!(member(&f, "tomcat1").activation, Activation::Disabled);
    assert_eq!(r.log.len(), 1);
    // The list shows the notice and the new state.
    let h = get(&f, "cmd=list&ok=update").body_text().to_owned();
    assert!(h.contains("Changes applied."));
    assert!(h.contains("data-member=\"tomcat1\" data-activation=\"DIS\""));
    // View settings survive, from=show returns to the show page.
    let r = post(
        &f,
        &format!("cmd=update&w=load_balancer&sw=tomcat1&vwa=A&from=show&re=30&csrf={TOKEN}"),
    );
    assert_eq!(
        r.header("Location"),
        Some("/jkmanager/?cmd=show&w=load_balancer&ok=update&re=30")
    );
    // No token configured: every POST is refused.
    let mut c = ctx(&f);
    c.csrf_token = "";
    let req = StatusRequest {
        method: "POST",
        form: b"cmd=list&csrf=",
        ..base("")
    };
    assert_eq!(handle(&req, &c).status, 403);
}

#[test]
fn css_keeps_redirect_and_csp() {
    let f = fixture_with("worker.jkstatus.css=/static/jk.css\n");
    let r = post(
        &f,
        &format!("cmd=update&w=load_balancer&sw=tomcat1&vwa=D&csrf={TOKEN}"),
    );
    assert_eq!(r.status, 303);
    assert_eq!(r.header("Location"), Some("/jkmanager/?cmd=list&ok=update"));
    let r = get(&f, "");
    assert!(
        r.body_text()
            .contains("<link rel=\"stylesheet\" href=\"/static/jk.css\">")
    );
    assert!(
        r.header("Content-Security-Policy")
            .unwrap()
            .contains("'self'")
    );
}

#[test]
fn read_only_refuses_changes() {
    let f = fixture_with("worker.jkstatus.read_only=true\n");
    for q in [
        "cmd=update&w=load_balancer&sw=tomcat1&vwa=1",
        "cmd=reset&w=load_balancer",
        "cmd=recover&w=load_balancer&sw=tomcat1",
        "cmd=edit&w=load_balancer&sw=tomcat1",
    ] {
        assert_eq!(get(&f, q).status, 403, "{q}");
    }
    let r = post(
        &f,
        &format!("cmd=update&w=load_balancer&sw=tomcat1&vwa=1&csrf={TOKEN}"),
    );
    assert_eq!(r.status, 403);
    assert_eq!(member(&f, "tomcat1").activation, Activation::Active);
    assert_eq!(get(&f, "").status, 200);
    let f = fixture();
    assert_eq!(
        get(&f, "cmd=update&w=load_balancer&sw=tomcat1&vwa=1&opt=32").status,
        403
    );
    assert_eq!(member(&f, "tomcat1").activation, Activation::Active);
}

#[test]
fn user_list() {
    let f = fixture_with("worker.jkstatus.user=admin,ops\n");
    let c = ctx(&f);
    let as_user = |u: Option<&'static str>| {
        handle(
            &StatusRequest {
                remote_user: u,
                ..base("")
            },
            &c,
        )
        .status
    };
    assert_eq!(as_user(None), 403);
    assert_eq!(as_user(Some("")), 403);
    assert_eq!(as_user(Some("mallory")), 403);
    assert_eq!(as_user(Some("Admin")), 403);
    assert_eq!(as_user(Some("admin")), 200);
    assert_eq!(as_user(Some("ops")), 200);
    let f =
        fixture_with("worker.jkstatus.user=admin\nworker.jkstatus.user_case_insensitive=true\n");
    let r = handle(
        &StatusRequest {
            remote_user: Some("ADMIN"),
            ..base("")
        },
        &ctx(&f),
    );
    assert_eq!(r.status, 200);
}

#[test]
fn wildcard_members() {
    let f = fixture();
    let r = get(&f, "cmd=update&w=load_balancer&sw=tomcat*&vwf=5&mime=txt");
    assert_eq!(r.status, 200);
    assert_eq!(r.log.len(), 3);
    for m in bal(&f).members() {
        assert_eq!(m.lbfactor, 5);
    }
    get(&f, "cmd=update&w=load_balancer&sw=tomcat?&vwd=1");
    get(&f, "cmd=update&w=load_balancer&sw=*3&vwa=S");
    assert_eq!(member(&f, "tomcat3").activation, Activation::Stopped);
    assert_eq!(member(&f, "tomcat2").activation, Activation::Active);
    assert_eq!(member(&f, "tomcat2").distance, 1);
    assert!(glob(b"t*1", b"tomcat1") && !glob(b"t*1", b"tomcat2") && glob(b"*", b""));
}

#[test]
fn multi_member_attribute() {
    let f = fixture();
    let r = get(&f, "cmd=update&w=load_balancer&att=vwf&val0=7&val2=9");
    assert_eq!(r.status, 200, "{}", text(&r));
    assert_eq!(
        [
            member(&f, "tomcat1").lbfactor,
            member(&f, "tomcat2").lbfactor,
            member(&f, "tomcat3").lbfactor
        ],
        [7, 2, 9]
    );
    let r = get(&f, "cmd=update&w=load_balancer&att=vwa&val1=D");
    assert_eq!(r.status, 200);
    assert_eq!(member(&f, "tomcat2").activation, Activation::Disabled);
    assert_eq!(
        get(&f, "cmd=update&w=load_balancer&att=bogus&val0=1").status,
        400
    );
    assert_eq!(
        get(&f, "cmd=update&w=load_balancer&att=vwf&val0=0").status,
        400
    );
    // mod_jk's ajp attributes: the value goes to the member's shared slot.
    assert_eq!(
        get(&f, "cmd=update&w=load_balancer&att=vaprt&val0=18009").status,
        200
    );
    assert_eq!(
        get(&f, "cmd=update&w=load_balancer&att=vaprt&val0=70000").status,
        400
    );
    let r = get(&f, "cmd=update&w=load_balancer&att=vart&val0=1500");
    assert_eq!(r.status, 200, "{}", text(&r));
    assert!(r.log[0].contains("changing 'reply_timeout' for sub worker 'tomcat1'"));
    assert_eq!(f.seg.ajp("tomcat1").unwrap().settings().reply_timeout, 1500);
    assert_eq!(f.seg.ajp("tomcat2").unwrap().settings().reply_timeout, 0);
}

#[test]
fn validation_is_all_or_nothing() {
    let f = fixture();
    for q in [
        "cmd=update&w=load_balancer&sw=tomcat1&vwa=1&vahst=otherhost",
        "cmd=update&w=load_balancer&sw=tomcat1&vwa=1&vwf=0",
        "cmd=update&w=load_balancer&sw=tomcat1&vwa=1&vwf=abc",
        "cmd=update&w=load_balancer&sw=tomcat1&vwa=1&vwf=99999999999999999999999",
        "cmd=update&w=load_balancer&sw=tomcat1&vwa=1&vwd=-1",
        "cmd=update&w=load_balancer&sw=tomcat1&vwa=X",
        "cmd=update&w=load_balancer&sw=tomcat1&vwa=1&vwn=",
        "cmd=update&w=load_balancer&sw=tomcat1&vwa=1&vwn=%3Cscript%3E",
        "cmd=update&w=load_balancer&sw=tomcat1&vwa=1&vwn=a%20b",
        "cmd=update&w=load_balancer&sw=tomcat1&vwa=1&vwn=tomcat2",
        "cmd=update&w=load_balancer&sw=*&vwn=same",
        "cmd=update&w=load_balancer&sw=tomcat1&vwa=1&vwr=0123456789012345678901234567890123456789012345678901234567890123",
        "cmd=update&w=load_balancer&vlr=0",
        "cmd=update&w=load_balancer&vlr=3&vlm=Q",
        "cmd=update&w=load_balancer&vls=maybe",
        "cmd=update&w=load_balancer&vlr=3&vll=P",
    ] {
        let r = get(&f, q);
        assert_eq!(r.status, 400, "{q}: {}", text(&r));
        assert!(r.log.is_empty());
    }
    let m = member(&f, "tomcat1");
    assert_eq!(
        (m.activation, m.lbfactor, m.route.as_str()),
        (Activation::Active, 1, "tomcat1")
    );
    assert_eq!(bal(&f).settings().retries, 2);
    let r = get(
        &f,
        "cmd=update&w=load_balancer&sw=tomcat1&vahst=host.invalid&mime=txt",
    );
    assert!(text(&r).contains("Could not resolve"), "{}", text(&r));
    assert_eq!(f.seg.ajp("tomcat1").unwrap().settings().host, "localhost");
    // Repeating configured ajp values (mod_jk's full edit form) is accepted.
    let r = get(
        &f,
        "cmd=update&w=load_balancer&sw=tomcat1&vwa=1&vahst=localhost&vaprt=18009&vamps=8192&vll=O",
    );
    assert_eq!(r.status, 200, "{}", text(&r));
    assert_eq!(get(&f, "cmd=update&w=solo&vaprt=48009").status, 200);
    assert!(r.log.iter().all(|l| !l.contains("'port'")), "{:?}", r.log);
    // A standalone worker's values change in its shared slot, all or nothing.
    let r = get(&f, "cmd=update&w=solo&vaprt=1&vart=2500&var=3");
    assert_eq!(r.status, 200, "{}", text(&r));
    assert_eq!(r.log.len(), 3, "{:?}", r.log);
    assert!(r.log[0].contains("for ajp worker 'solo' from '48009' to '1'"));
    let solo = f.seg.ajp("solo").unwrap();
    let seq = solo.sequence();
    let addr = solo.addr_sequence();
    assert_eq!(
        (
            solo.settings().port,
            solo.settings().reply_timeout,
            solo.settings().retries
        ),
        (1, 2500, 3)
    );
    assert_eq!(get(&f, "cmd=update&w=solo&vart=10&vamps=100").status, 400);
    assert_eq!(solo.settings().reply_timeout, 2500);
    assert_eq!(solo.sequence(), seq);
    assert_eq!(get(&f, "cmd=update&w=solo&vart=10").status, 200);
    assert_eq!(solo.addr_sequence(), addr, "no address change");
    assert_eq!(get(&f, "cmd=update&w=solo&vaprt=2").status, 200);
    assert_eq!(solo.addr_sequence(), addr + 1);
    // The page shows the values in force.
    let r = get(&f, "cmd=show&w=solo&mime=prop");
    assert!(
        text(&r).contains("worker.solo.reply_timeout=10\n"),
        "{}",
        text(&r)
    );
    assert!(text(&r).contains("worker.solo.port=2\n"));
    assert_eq!(get(&f, "cmd=update&w=jkstatus&vwa=1").status, 400);
}

#[test]
fn standalone_workers_have_statistics_reset_and_recover() {
    let f = fixture();
    let solo = f.seg.ajp("solo").unwrap();
    assert_eq!(solo.on_start(), 1);
    solo.on_end(crate::shm::AjpResult::Ok, 300, 120, Some(7));
    solo.on_start();
    solo.on_end(
        crate::shm::AjpResult::Error {
            reply_timeout: true,
        },
        4,
        90,
        None,
    );
    solo.on_start();
    solo.on_end(crate::shm::AjpResult::ClientError, 0, 0, None);
    solo.connections_changed(2);
    solo.connections_changed(-1);
    let t = text(&get(&f, "cmd=show&w=solo&mime=txt")).to_owned();
    let kv = "used=3 errors=1 client_errors=2 reply_timeouts=1 transferred=210 read=304 \
              busy=0 max_busy=1 connected=1 max_connected=2 map_count=";
    assert!(t.contains(kv), "{t}");
    assert!(
        !t.contains("AJP Workers: count"),
        "show has no list header: {t}"
    );
    let x = text(&get(&f, "cmd=show&w=solo&mime=xml")).to_owned();
    assert!(
        !x.contains("ajp_workers") && x.contains("used=\"3\""),
        "{x}"
    );
    let (buckets, sum) = solo.latency();
    assert_eq!(buckets[1], (0.01, 1), "7 ms lands in the 10 ms bucket");
    assert!((sum - 0.007).abs() < 1e-9);
    let r = get(&f, "cmd=reset&w=solo");
    assert_eq!(r.status, 200);
    assert!(r.log[0].contains("resetting statistics of ajp worker 'solo'"));
    let s = solo.stats();
    // As mod_jk: the open connection stays counted, its peak restarts at zero.
    assert_eq!(
        (s.used, s.errors, s.read, s.connected, s.max_connected),
        (0, 0, 0, 1, 0)
    );
    assert_eq!(s.last_reset_ms, 1_778_760_000_000);
    solo.on_start();
    solo.on_end(
        crate::shm::AjpResult::Error {
            reply_timeout: true,
        },
        0,
        0,
        None,
    );
    assert_eq!(get(&f, "cmd=recover&w=solo").status, 200);
    assert_eq!(solo.stats().reply_timeouts, 0);
    // sw= shows that member only.
    let t = text(&get(&f, "cmd=show&w=load_balancer&sw=tomcat2&mime=txt")).to_owned();
    assert!(
        t.contains("Member: name=tomcat2") && !t.contains("Member: name=tomcat1"),
        "{t}"
    );
    assert!(t.contains(" connected=0 max_connected=0 "), "{t}");
    assert_eq!(get(&f, "cmd=show&w=load_balancer&sw=nope").status, 404);
}

#[test]
fn lb_settings_update() {
    let f = fixture();
    let r = get(
        &f,
        "cmd=update&w=load_balancer&vlr=3&vlri=250&vlt=30&vlee=10&vlx=4&vls=0&vlf=True&vlm=B",
    );
    assert_eq!(r.status, 200, "{}", text(&r));
    let s = bal(&f).settings();
    assert_eq!(
        (
            s.retries,
            s.retry_interval_ms,
            s.recover_time_secs,
            s.error_escalation_time_secs,
            s.max_reply_timeouts
        ),
        (3, 250, 30, 10, 4)
    );
    assert!(!s.sticky_session && s.sticky_session_force);
    assert_eq!(s.method, LbMethod::Busyness);
    assert_eq!(r.log.len(), 8);
    assert!(r.log.contains(
        &"Status worker 'jkstatus' changing 'method' for lb worker 'load_balancer' from 'Request' to 'Busyness'"
            .to_owned()
    ));
    // Nothing to change: OK, no log, mod_jk's answer (JSON says nothing changed).
    let r = get(&f, "cmd=update&w=load_balancer&vlr=3&mime=txt");
    assert!(r.log.is_empty());
    assert_eq!(text(&r), "Result: type=OK message=\"Action finished\"\n");
    let r = get(&f, "cmd=update&w=load_balancer&vlr=3&mime=json");
    assert!(text(&r).contains("nothing changed"));
}

#[test]
fn reset_statistics() {
    let f = fixture();
    let b = bal(&f);
    let now = 1_778_760_000_000;
    for name in ["tomcat1", "tomcat2"] {
        let m = b.member_index(name).unwrap();
        b.on_start(m);
        b.on_success(m, 10, 20, now);
    }
    let r = get(&f, "cmd=reset&w=load_balancer&sw=tomcat1");
    assert_eq!(r.status, 200);
    assert_eq!(member(&f, "tomcat1").bytes_written, 0);
    assert_eq!(member(&f, "tomcat2").bytes_written, 20);
    assert_eq!(member(&f, "tomcat1").last_reset_ms, ctx(&f).now_ms);
    let r = get(&f, "cmd=reset&w=load_balancer");
    assert_eq!(r.status, 200);
    assert_eq!(member(&f, "tomcat2").bytes_written, 0);
    assert_eq!(
        r.log,
        vec![
            "Status worker 'jkstatus' resetting statistics of lb worker 'load_balancer'".to_owned()
        ]
    );
}

#[test]
fn recover_member() {
    let f = fixture();
    let b = bal(&f);
    let now = 1_778_760_000_000;
    let t2 = b.member_index("tomcat2").unwrap();
    let r = get(&f, "cmd=recover&w=load_balancer&sw=tomcat2");
    assert_eq!(r.status, 409, "not in error");
    b.on_start(t2);
    b.on_failure(t2, FailureKind::Backend, now);
    assert_eq!(member(&f, "tomcat2").state, MemberState::Error);
    // The page offers the Recover button and rates the member bad.
    let h = get(&f, "").body_text().to_owned();
    assert!(h.contains("data-recover-member=\"tomcat2\""));
    let j = get(&f, "mime=json").body_text().to_owned();
    assert!(j.contains("\"bad\":1") && j.contains("\"status\":\"degraded\""));
    let r = get(&f, "cmd=recover&w=load_balancer&sw=tomcat2");
    assert_eq!(r.status, 200);
    assert_eq!(member(&f, "tomcat2").state, MemberState::Recover);
    assert_eq!(r.log.len(), 1);
}

#[test]
fn ratings() {
    let p = fixture().status;
    assert_eq!(rate(&p, Activation::Active, MemberState::Ok), Rating::Good);
    assert_eq!(
        rate(&p, Activation::Active, MemberState::Idle),
        Rating::Good
    );
    assert_eq!(
        rate(&p, Activation::Active, MemberState::Probe),
        Rating::Good
    );
    assert_eq!(
        rate(&p, Activation::Disabled, MemberState::Ok),
        Rating::Degraded
    );
    assert_eq!(rate(&p, Activation::Stopped, MemberState::Ok), Rating::Bad);
    assert_eq!(
        rate(&p, Activation::Active, MemberState::Error),
        Rating::Bad
    );
    let p = fixture_with("worker.jkstatus.good=a,d.o\nworker.jkstatus.bad=e\n").status;
    assert_eq!(
        rate(&p, Activation::Disabled, MemberState::Ok),
        Rating::Good
    );
    assert_eq!(
        rate(&p, Activation::Disabled, MemberState::Idle),
        Rating::Degraded
    );
    assert_eq!(
        rate(&p, Activation::Stopped, MemberState::Ok),
        Rating::Degraded
    );
    assert_eq!(
        rate(&p, Activation::Stopped, MemberState::Error),
        Rating::Bad
    );
}

#[test]
fn time_formats() {
    assert_eq!(time_text(0), "19700101000000");
    assert_eq!(time_human(0), "Thu, 01 Jan 1970 00:00:00 UTC");
    assert_eq!(time_text(951_782_400), "20000229000000");
    assert_eq!(time_human(1_778_760_000), "Thu, 14 May 2026 12:00:00 UTC");
}
