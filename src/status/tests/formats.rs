//! Every output format of `list`, `show` and `edit`.

use super::validators::*;
use super::*;

#[test]
fn xml_has_mod_jk_names() {
    let f = fixture();
    let r = get(&f, "mime=xml");
    assert_eq!(r.status, 200);
    assert!(r.content_type.starts_with("text/xml"));
    let x = text(&r);
    xml_ok(x).unwrap_or_else(|e| panic!("{e}\n{x}"));
    for needle in [
        "<?xml version=\"1.0\" encoding=\"UTF-8\" ?>",
        "<jk:status\n  xmlns:jk=\"http://tomcat.apache.org\">",
        "<jk:server\n  name=\"127.0.0.1\"\n  port=\"8080\"\n/>",
        "<jk:software\n",
        "jk_version=\"mod_rjk/",
        "<jk:balancers\n  count=\"1\"\n>",
        "<jk:balancer\n    name=\"load_balancer\"\n    type=\"lb\"\n    sticky_session=\"True\"",
        "member_count=\"3\"",
        "good=\"3\"",
        "<jk:member\n      name=\"tomcat1\"\n      type=\"ajp13\"\n      host=\"localhost\"\n      port=\"18009\"",
        "activation=\"ACT\"",
        "state=\"OK/IDLE\"",
        "lbfactor=\"3\"",
        "lbvalue=\"0\"",
        "elected=\"0\"",
        "transferred=\"0\"",
        "<jk:map\n",
        "uri=\"/app/*\"",
        "type=\"Disabled Unmount Wildchar\"",
        "</jk:balancer>",
        "</jk:balancers>",
        "<jk:ajp_workers\n  count=\"1\"\n>",
        "<jk:ajp\n    name=\"solo\"",
        "<jk:result\n    type=\"OK\"\n    message=\"Action finished\"\n  />",
        "</jk:status>",
    ] {
        assert!(x.contains(needle), "missing {needle:?} in\n{x}");
    }
}

#[test]
fn xml_honours_ns_and_xmlns() {
    let f = fixture_with("worker.jkstatus.ns=-\nworker.jkstatus.xmlns=-\n");
    let x = get(&f, "mime=xml").body_text().to_owned();
    xml_ok(&x).unwrap();
    assert!(x.contains("<status>") && x.contains("<balancer\n") && !x.contains("jk:"));
}

#[test]
fn prop_lines() {
    let f = fixture();
    let r = get(&f, "mime=prop");
    assert_eq!(r.status, 200);
    let p = text(&r);
    for line in p.lines() {
        assert!(
            line.starts_with("worker.") && line.contains('='),
            "{line:?}"
        );
    }
    for needle in [
        "worker.server_name=127.0.0.1\n",
        "worker.server_port=8080\n",
        "worker.lb_count=1\n",
        "worker.list=load_balancer\n",
        "worker.load_balancer.type=lb\n",
        "worker.load_balancer.sticky_session=True\n",
        "worker.load_balancer.method=Request\n",
        "worker.load_balancer.balance_workers=tomcat1\n",
        "worker.load_balancer.balance_workers=tomcat3\n",
        "worker.tomcat1.type=ajp13\n",
        "worker.tomcat1.host=localhost\n",
        "worker.tomcat1.port=18009\n",
        "worker.tomcat1.activation=ACT\n",
        "worker.tomcat1.state=OK/IDLE\n",
        "worker.tomcat2.lbfactor=2\n",
        "worker.tomcat1.lbvalue=0\n",
        "worker.tomcat1.elected=0\n",
        "worker.tomcat1.busy=0\n",
        "worker.load_balancer.map.1.uri=/app/*\n",
        "worker.ajp_count=1\n",
        "worker.solo.list=solo\n",
        "worker.time_tz=+0000\n",
        "worker.solo.port=48009\n",
        "worker.result.type=OK\n",
        "worker.result.message=Action finished\n",
    ] {
        assert!(p.contains(needle), "missing {needle:?} in\n{p}");
    }
    // mod_jk's key set: no keys of our own, a standalone worker is no `worker.list` entry.
    for absent in [
        "lb_retries=",
        "retry_interval=",
        "rating=",
        "worker.list=solo",
    ] {
        assert!(!p.contains(absent), "{absent:?} in\n{p}");
    }
    let f = fixture_with("worker.jkstatus.prefix=jk\n");
    assert!(
        get(&f, "mime=prop")
            .body_text()
            .contains("jk.tomcat1.state=OK/IDLE\n")
    );
}

#[test]
fn txt_lines() {
    let f = fixture();
    let r = get(&f, "mime=txt");
    assert_eq!(r.status, 200);
    let t = text(&r);
    let labels = [
        "Server:",
        "Time:",
        "Software:",
        "Balancer Workers:",
        "Balancer Worker:",
        "Member:",
        "Map:",
        "AJP Workers:",
        "AJP Worker:",
        "Result:",
    ];
    for line in t.lines() {
        assert!(labels.iter().any(|l| line.starts_with(l)), "{line:?}");
    }
    assert!(t.contains(
        "Member: name=tomcat1 type=ajp13 host=localhost port=18009 address=localhost:18009 source=undefined"
    ));
    assert!(t.contains(" activation=ACT lbfactor=1 route=\"tomcat1\" redirect=\"\" domain=\"\" distance=0 state=OK/IDLE"));
    assert!(t.contains("Balancer Worker: name=load_balancer type=lb sticky_session=True"));
    assert!(t.contains("AJP Worker: name=solo type=ajp13 host=127.0.0.1 port=48009"));
    assert!(t.contains("Server: name=127.0.0.1 port=8080\n"));
    assert!(t.contains("Result: type=OK message=\"Action finished\"\n"));
}

#[test]
fn json_parses() {
    let f = fixture();
    for q in [
        "mime=json",
        "mime=json&cmd=show&w=load_balancer",
        "mime=json&cmd=version",
        "mime=json&cmd=dump",
        "mime=json&cmd=show&w=solo",
        "mime=json&opt=511",
    ] {
        let r = get(&f, q);
        assert_eq!(r.status, 200, "{q}");
        assert_eq!(r.content_type, "application/json");
        json_ok(text(&r)).unwrap_or_else(|e| panic!("{q}: {e}\n{}", text(&r)));
    }
    let j = get(&f, "mime=json").body_text().to_owned();
    for needle in [
        "\"rjk_status\":1",
        "\"balancers\":[{\"name\":\"load_balancer\",\"type\":\"lb\",\"sticky_session\":true",
        "\"members\":[{\"name\":\"tomcat1\",\"type\":\"ajp13\",\"host\":\"localhost\",\"port\":18009",
        "\"activation\":\"ACT\"",
        "\"state\":\"OK/IDLE\"",
        "\"rating\":\"good\"",
        "\"status\":\"good\"",
        "\"error_time_unix_seconds\":null",
        "\"ajp_workers\":[{\"name\":\"solo\"",
        "\"result\":{\"type\":\"OK\"",
    ] {
        assert!(j.contains(needle), "missing {needle:?} in\n{j}");
    }
    // Errors are JSON too.
    let r = get(&f, "mime=json&cmd=show&w=nope");
    assert_eq!(r.status, 404);
    json_ok(text(&r)).unwrap();
    assert!(text(&r).contains("\"type\":\"ERROR\""));
}

#[test]
fn json_numbers_are_typed_not_guessed() {
    let f = fixture_with("worker.list=0123\nworker.0123.type=ajp13\nworker.0123.host=007\n");
    let j = get(&f, "mime=json").body_text().to_owned();
    json_ok(&j).unwrap_or_else(|e| panic!("{e}\n{j}"));
    assert!(j.contains("{\"name\":\"0123\",\"type\":\"ajp13\",\"host\":\"007\",\"port\":8009"));
}

fn latency(index: usize) -> Option<(Vec<(f64, u64)>, f64)> {
    (index == 0).then(|| {
        (
            vec![(0.005, 1), (0.1, 4), (1.0, 9), (f64::INFINITY, 10)],
            2.5,
        )
    })
}

#[test]
fn prometheus_parses() {
    let f = fixture();
    let b = bal(&f);
    let t1 = b.member_index("tomcat1").unwrap();
    b.on_start(t1);
    b.on_success(t1, 100, 2000, 1_778_760_000_000);
    let mut c = ctx(&f);
    c.latency = &latency;
    let r = handle(&base("mime=prometheus"), &c);
    assert_eq!(r.status, 200);
    assert_eq!(r.content_type, "text/plain; version=0.0.4; charset=utf-8");
    let p = text(&r);
    let n = prom_ok(p).unwrap_or_else(|e| panic!("{e}\n{p}"));
    assert!(n > 50);
    for needle in [
        "# TYPE rjk_member_state gauge\n",
        "rjk_member_state{lb=\"load_balancer\",member=\"tomcat1\",state=\"OK\"} 1\n",
        "rjk_member_state{lb=\"load_balancer\",member=\"tomcat1\",state=\"ERR\"} 0\n",
        "rjk_member_activation{lb=\"load_balancer\",member=\"tomcat2\",activation=\"ACT\"} 1\n",
        "rjk_member_requests_total{lb=\"load_balancer\",member=\"tomcat1\"} 0\n",
        "rjk_member_written_bytes_total{lb=\"load_balancer\",member=\"tomcat1\"} 2000\n",
        "rjk_member_read_bytes_total{lb=\"load_balancer\",member=\"tomcat1\"} 100\n",
        "# TYPE rjk_member_latency_seconds histogram\n",
        "rjk_member_latency_seconds_bucket{lb=\"load_balancer\",member=\"tomcat1\",le=\"0.005\"} 1\n",
        "rjk_member_latency_seconds_bucket{lb=\"load_balancer\",member=\"tomcat1\",le=\"+Inf\"} 10\n",
        "rjk_member_latency_seconds_count{lb=\"load_balancer\",member=\"tomcat1\"} 10\n",
        "rjk_member_latency_seconds_sum{lb=\"load_balancer\",member=\"tomcat1\"} 2.5\n",
        "rjk_lb_members{lb=\"load_balancer\",rating=\"good\"} 3\n",
    ] {
        assert!(p.contains(needle), "missing {needle:?} in\n{p}");
    }
    // Each family's TYPE appears once.
    let types: Vec<&str> = p.lines().filter(|l| l.starts_with("# TYPE ")).collect();
    let mut dedup = types.clone();
    dedup.sort();
    dedup.dedup();
    assert_eq!(types.len(), dedup.len());
    assert!(
        !p.contains("member=\"tomcat2\",le="),
        "no data, no histogram"
    );
}

#[test]
fn html_list_page() {
    let f = fixture();
    let r = get(&f, "");
    assert_eq!(r.status, 200);
    assert_eq!(r.content_type, "text/html; charset=utf-8");
    let h = text(&r);
    assert!(h.starts_with("<!DOCTYPE html>"));
    for needle in [
        "<section class=\"card lb\" id=\"lb-load_balancer\" data-lb=\"load_balancer\">",
        "data-member=\"tomcat1\" data-activation=\"ACT\" data-state=\"OK/IDLE\"",
        "data-edit-member=\"tomcat1\" href=\"/jkmanager/?cmd=edit&amp;w=load_balancer&amp;sw=tomcat1\"",
        "<form class=\"inline\" method=\"post\" action=\"/jkmanager/\">",
        &format!("<input type=\"hidden\" name=\"csrf\" value=\"{TOKEN}\">"),
        "data-quick=\"disable\"",
        "data-reset-member=\"tomcat2\"",
        "id=\"maps\"",
        "id=\"legend\"",
        "id=\"ajp-workers\"",
    ] {
        assert!(h.contains(needle), "missing {needle:?}");
    }
    // No state change is ever a GET link.
    for href in h.split("href=\"").skip(1) {
        let url = &href[..href.find('"').unwrap()];
        for cmd in ["cmd=update", "cmd=reset", "cmd=recover"] {
            assert!(!url.contains(cmd), "GET link {url}");
        }
    }
    // Every POST form carries the token.
    assert_eq!(
        h.matches("method=\"post\"").count(),
        h.matches("name=\"csrf\"").count()
    );
    assert!(h.contains("Content-Security-Policy") || r.header("Content-Security-Policy").is_some());
    assert_eq!(r.header("X-Frame-Options"), Some("DENY"));
    assert!(
        !r.header("Content-Security-Policy")
            .unwrap()
            .contains("script-src")
    );
    assert!(!h.contains("<script"));
}

#[test]
fn html_read_only_view_has_no_forms() {
    let f = fixture();
    let h = get(&f, "opt=32").body_text().to_owned();
    assert!(!h.contains("method=\"post\"") && !h.contains("data-edit-member"));
    let f = fixture_with("worker.jkstatus.read_only=true\n");
    let h = get(&f, "").body_text().to_owned();
    assert!(!h.contains("method=\"post\"") && !h.contains("csrf"));
}

#[test]
fn html_refresh_and_opt() {
    let f = fixture();
    let h = get(&f, "re=10").body_text().to_owned();
    assert!(h.contains("<meta http-equiv=\"refresh\" content=\"10;url=/jkmanager/?re=10\">"));
    let h = get(&f, "re=999999").body_text().to_owned();
    assert!(h.contains("content=\"3600;"));
    assert!(!get(&f, "").body_text().contains("http-equiv=\"refresh\""));
    assert_eq!(get(&f, "re=abc").status, 400);
    assert_eq!(get(&f, "re=-1").status, 400);
    assert_eq!(get(&f, "opt=zz").status, 400);
    let h = get(&f, "opt=3").body_text().to_owned();
    assert!(!h.contains("<table class=\"members\"") && !h.contains("id=\"maps\""));
    assert!(h.contains("Show balancer members"));
    let x = get(&f, "mime=xml&opt=1").body_text().to_owned();
    assert!(!x.contains("<jk:member"));
}

#[test]
fn html_edit_member_form() {
    let f = fixture();
    let r = get(&f, "cmd=edit&w=load_balancer&sw=tomcat1");
    assert_eq!(r.status, 200);
    let h = text(&r);
    for needle in [
        "<form class=\"edit\" id=\"edit-member\" method=\"post\" action=\"/jkmanager/\">",
        "<input type=\"hidden\" name=\"cmd\" value=\"update\">",
        "<input type=\"hidden\" name=\"sw\" value=\"tomcat1\">",
        &format!("name=\"csrf\" value=\"{TOKEN}\""),
        "<select id=\"vwa\" name=\"vwa\"><option value=\"Active\" selected>Active</option><option value=\"Disabled\">Disabled</option>",
        "name=\"vwf\"",
        "name=\"vwn\"",
        "name=\"vwr\"",
        "name=\"vwc\"",
        "name=\"vwd\"",
        "<button type=\"submit\" id=\"save\"",
    ] {
        assert!(h.contains(needle), "missing {needle:?}");
    }
    assert_eq!(get(&f, "cmd=edit&w=load_balancer&sw=nope").status, 404);
    assert_eq!(get(&f, "cmd=edit&w=load_balancer").status, 200);
    assert!(
        get(&f, "cmd=edit&w=load_balancer&att=vwf")
            .body_text()
            .contains("name=\"val2\"")
    );
    assert_eq!(get(&f, "cmd=edit&w=load_balancer&att=vahst").status, 400);
    assert!(
        get(&f, "cmd=edit&w=solo")
            .body_text()
            .contains("name=\"vart\"")
    );
    assert_eq!(get(&f, "cmd=edit&w=load_balancer&mime=xml").status, 400);
}
