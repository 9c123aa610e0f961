//! Hostile values and secrets: escaped in every format, never shown.

use super::validators::*;
use super::*;

const HOSTILE: &str = "<script>alert(\"x\")</script>'&\n\r\tX\\Y\u{7}";

fn hostile_fixture() -> Fixture {
    let mut f = fixture_with(&format!(
        "worker.tomcat1.secret={SECRET}\nworker.load_balancer.secret={SECRET}2\n\
         worker.tomcat2.route=<b>\"r'&\nworker.jkstatus.css=/s.css\"><script>\n"
    ));
    f.software = HOSTILE.to_owned();
    f.maps[0].1.push(MapRow {
        pattern: format!("/evil{HOSTILE}"),
        worker: "load_balancer".into(),
        kind: MatchKind::Wildchar,
        source: HOSTILE.into(),
        extensions: RuleExtensions {
            session_cookie: Some(HOSTILE.into()),
            active: vec![HOSTILE.into()],
            ..RuleExtensions::default()
        },
    });
    f
}

fn all_outputs(f: &Fixture) -> Vec<(String, StatusResponse)> {
    let mut v = Vec::new();
    for cmd in [
        "list",
        "show&w=load_balancer",
        "show&w=tomcat1",
        "version",
        "dump",
        "bogus",
    ] {
        for mime in ["html", "xml", "txt", "prop", "json", "prometheus"] {
            let q = format!("cmd={cmd}&mime={mime}");
            v.push((q.clone(), get(f, &q)));
        }
    }
    for q in [
        "cmd=edit&w=load_balancer&sw=tomcat2",
        "cmd=edit&w=load_balancer",
        "cmd=edit&w=load_balancer&att=vwn",
        "cmd=edit&w=tomcat1",
        "cmd=update&w=load_balancer&sw=tomcat1&vwa=1",
        "cmd=update&w=load_balancer&sw=tomcat1&vwa=0&mime=json",
        "cmd=update&w=load_balancer&sw=%3Cscript%3E&vwa=0",
        "cmd=show&w=%3Cscript%3E%22",
        "cmd=show&w=%3Cscript%3E%22&mime=xml",
        "cmd=show&w=%3Cscript%3E%22&mime=json",
    ] {
        v.push((q.to_owned(), get(f, q)));
    }
    v
}

#[test]
fn hostile_values_are_escaped_everywhere() {
    let f = hostile_fixture();
    assert_eq!(member(&f, "tomcat2").route, "<b>\"r'&");
    for (q, r) in all_outputs(&f) {
        let body = text(&r);
        if r.content_type.starts_with("text/html") || r.content_type.starts_with("text/xml") {
            assert!(!body.contains("<script"), "{q}: raw <script> in\n{body}");
            assert!(!body.contains("<b>\"r"), "{q}: raw hostile route");
        }
        match r.content_type.as_str() {
            ct if ct.starts_with("text/html") => {
                assert!(!body.contains('\u{7}'), "{q}");
            }
            ct if ct.starts_with("text/xml") => {
                xml_ok(body).unwrap_or_else(|e| panic!("{q}: {e}\n{body}"));
            }
            "application/json" => json_ok(body).unwrap_or_else(|e| panic!("{q}: {e}\n{body}")),
            ct if ct.contains("version=0.0.4") => {
                prom_ok(body).unwrap_or_else(|e| panic!("{q}: {e}\n{body}"));
            }
            _ => {
                // txt and prop: one record per line, no injected lines.
                for line in body.lines() {
                    let ok = line.starts_with("worker.")
                        || line.starts_with("Server:")
                        || line.starts_with("Time:")
                        || line.starts_with("Software:")
                        || line.starts_with("Balancer Worker")
                        || line.starts_with("Member:")
                        || line.starts_with("Map:")
                        || line.starts_with("AJP Worker")
                        || line.starts_with("Result:")
                        || line.starts_with("Configuration:")
                        || line.starts_with("# ")
                        || (q.contains("dump") && line.contains('='));
                    assert!(ok, "{q}: injected line {line:?}");
                    assert!(
                        !line.contains('\r') && !line.contains('\u{7}'),
                        "{q}: {line:?}"
                    );
                }
            }
        }
        for (k, v) in &r.headers {
            assert!(
                !k.contains(['\r', '\n']) && !v.contains(['\r', '\n']),
                "{q}: header {k}"
            );
        }
    }
}

#[test]
fn secret_never_shown() {
    let f = hostile_fixture();
    for (q, r) in all_outputs(&f) {
        let body = text(&r);
        assert!(!body.contains(SECRET), "{q} leaks the secret");
        assert!(!body.contains("Zq8-secret"), "{q} leaks part of the secret");
    }
    let d = get(&f, "cmd=dump&mime=txt").body_text().to_owned();
    assert!(d.contains("worker.tomcat1.port=18009"));
    assert!(!d.contains(".secret"));
    // A value that merely contains a secret is hidden too.
    let f = fixture_with(&format!(
        "worker.tomcat1.secret={SECRET}\nworker.tomcat3.route=x{SECRET}\n"
    ));
    let d = get(&f, "cmd=dump&mime=prop").body_text().to_owned();
    assert!(
        !d.contains(SECRET) && d.contains("worker.tomcat3.route=(hidden)"),
        "{d}"
    );
}

#[test]
fn escapers() {
    assert_eq!(
        esc::html("<a href=\"x\">&'").to_string(),
        "&lt;a href=&quot;x&quot;&gt;&amp;&#39;"
    );
    assert_eq!(
        esc::xml("a\"b\nc<\u{1}").to_string(),
        "a&quot;b&#10;c&lt;\u{FFFD}"
    );
    assert_eq!(
        esc::json("a\"\\\n<\u{1}").to_string(),
        "a\\\"\\\\\\n\\u003c\\u0001"
    );
    assert_eq!(esc::label("a\"\\\nb").to_string(), "a\\\"\\\\\\nb");
    assert_eq!(esc::txt_token("a b\"\n").to_string(), "a\\x20b\\\"\\n");
    assert_eq!(esc::prop_key(" a=b:c\n").to_string(), "\\ a\\=b\\:c\\n");
    assert_eq!(esc::prop(" a=b").to_string(), "\\ a=b");
    // Control characters: each format's last resort.
    assert_eq!(esc::html("a\nb\r\u{1}").to_string(), "a\nb\u{FFFD}\u{FFFD}");
    assert_eq!(esc::txt("a b\t\u{85}").to_string(), "a b\\x09\\x85");
    assert_eq!(esc::label("a\tb").to_string(), "a\u{FFFD}b");
    assert_eq!(esc::prop("a b\u{1}").to_string(), "a b\\u0001");
    assert_eq!(esc::xml("\u{FFFE}\t").to_string(), "\u{FFFD}&#9;");
    assert_eq!(encode_component("a b&c=d/é"), "a%20b%26c%3Dd%2F%C3%A9");
    assert_eq!(
        manager_url("/jk manager/", &[("cmd", "list")]),
        "/jk%20manager/?cmd=list"
    );
    assert_eq!(manager_url("", &[]), "?");
}

#[test]
fn params_decoding() {
    let p = Params::parse(b"a=1&b=x+y%21&a=2&&=z&c").unwrap();
    assert_eq!(p.get("a"), Some("2"));
    assert_eq!(p.get("b"), Some("x y!"));
    assert_eq!(p.get("c"), Some(""));
    assert!(Params::parse(b"a=%4").is_err());
    assert!(Params::parse(b"a=%FF").is_err());
    assert!(Params::parse(b"a=%00").is_err());
    let many = "a=1&".repeat(MAX_PARAMS + 1);
    assert!(Params::parse(many.as_bytes()).is_err());
}

#[test]
fn lb_without_shared_state_is_shown_from_config() {
    let f = fixture();
    let mut c = ctx(&f);
    c.segment = None;
    let r = handle(&base("mime=txt"), &c);
    assert_eq!(r.status, 200);
    assert!(text(&r).contains("Member: name=tomcat3"));
    let r = handle(&base("cmd=update&w=load_balancer&sw=tomcat1&vwa=1"), &c);
    assert_eq!(r.status, 409);
    let h = handle(&base(""), &c).body_text().to_owned();
    assert!(h.contains("no shared runtime state") && !h.contains("data-edit-member"));
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(400))]
    #[test]
    fn never_panics(
        query in "[a-z0-9=&%+*?.<>\"'_-]{0,80}",
        form in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..80),
        method in proptest::sample::select(vec!["GET", "POST", "HEAD", "DELETE"]),
        prefix in proptest::sample::select(vec!["", "cmd=update&w=load_balancer&", "cmd=edit&w=load_balancer&sw=tomcat1&", "cmd=reset&w=load_balancer&", "mime=json&", "mime=xml&cmd=show&w=load_balancer&", "mime=prometheus&", "cmd=recover&w=load_balancer&sw=t*&"]),
    ) {
        let f = fixture();
        let q = format!("{prefix}{query}");
        let req = StatusRequest { method, form: &form, ..base(&q) };
        let r = handle(&req, &ctx(&f));
        proptest::prop_assert!(matches!(r.status, 200 | 303 | 400 | 403 | 404 | 405 | 409));
        if r.content_type == "application/json" && method != "HEAD" {
            proptest::prop_assert!(json_ok(r.body_text()).is_ok());
        }
        if r.content_type.starts_with("text/xml") && method != "HEAD" {
            proptest::prop_assert!(xml_ok(r.body_text()).is_ok());
        }
    }
}
