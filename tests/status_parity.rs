//! The status worker against Debian's mod_jk: after the same traffic, every counter both
//! modules show has the same value; `show` has mod_jk's shape; ajp13 workers are edited,
//! reset and counted through shared memory, so every prefork child applies an edit; and
//! the latency histogram is fed.

mod common;

use common::{FakeAjp, Httpd, KeepAlive, Mpm, ServerRoot};

const MOD_JK: &str = "/usr/lib/apache2/modules/mod_jk.so";

/// httpd with an lb over `m1`,`m2` (fakes 0 and 1) and a standalone `solo` (fake 2);
/// `module` replaces mod_rjk (mod_jk, never both in one httpd).
fn start(mpm: Mpm, module: Option<&str>, fakes: &[FakeAjp], solo_extra: &str) -> Httpd {
    start_with(mpm, module, fakes, solo_extra, "")
}

/// As [`start`], with `httpd_extra` added to httpd.conf.
fn start_with(
    mpm: Mpm,
    module: Option<&str>,
    fakes: &[FakeAjp],
    solo_extra: &str,
    httpd_extra: &str,
) -> Httpd {
    let root = ServerRoot::new(mpm);
    if let Some(m) = module {
        std::fs::copy(m, root.dir.join("modules/mod_rjk.so")).unwrap();
    }
    let w = format!(
        "worker.list=lb,solo,jkstatus\n\
         worker.m1.host=127.0.0.1\nworker.m1.port={}\n\
         worker.m2.host=127.0.0.1\nworker.m2.port={}\n\
         worker.solo.host=127.0.0.1\nworker.solo.port={}\n{solo_extra}\
         worker.lb.type=lb\nworker.lb.balance_workers=m1,m2\n\
         worker.jkstatus.type=status\n",
        fakes[0].port, fakes[1].port, fakes[2].port
    );
    let wf = root.write("conf/workers.properties", &w);
    root.configure(&format!(
        "JkWorkersFile {wf}\nJkShmFile logs/jk-runtime-status\nJkLogFile logs/mod_jk.log\n\
         JkLogLevel info\nJkMount /lb/* lb\nJkMount /solo/* solo\nJkMount /jkmanager/* jkstatus\n\
         {httpd_extra}"
    ));
    root.start()
}

fn fakes() -> Vec<FakeAjp> {
    (1..=3)
        .map(|i| FakeAjp::start(&format!("f{i}"), &[]))
        .collect()
}

/// `key=value` pairs of the txt line starting with `prefix` (e.g. `Member: name=m1 `).
fn txt_fields(h: &Httpd, query: &str, prefix: &str) -> Vec<(String, String)> {
    let r = h.get(&format!("/jkmanager/?{query}&mime=txt"));
    assert_eq!(r.status, 200, "{}", r.text());
    let text = r.text();
    let line = text
        .lines()
        .find(|l| l.starts_with(prefix))
        .unwrap_or_else(|| panic!("no line {prefix:?} in\n{text}"))
        .to_owned();
    line.split(' ')
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (k.to_owned(), v.trim_matches('"').to_owned()))
        .collect()
}

fn field(fields: &[(String, String)], key: &str) -> Option<String> {
    fields
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.clone())
}

/// Same traffic on one keep-alive connection (one prefork child, so one backend
/// connection per worker in both modules), then the counters of a member and of `solo`.
type Fields = Vec<(String, String)>;

fn counters_after_traffic(module: Option<&str>) -> (Fields, Fields) {
    let f = fakes();
    let h = start(Mpm::Prefork, module, &f, "");
    let mut ka = KeepAlive::connect(h.addr());
    for p in [
        "/lb/a",
        "/solo/b",
        "/solo/size/1000",
        "/solo/status/404",
        "/lb/c",
    ] {
        let r = ka.get(p);
        assert!(r.status == 200 || r.status == 404, "{p}: {}", r.status);
    }
    let member = txt_fields(&h, "cmd=show&w=lb&sw=m1", "Member: name=m1 ");
    let solo = txt_fields(&h, "cmd=show&w=solo", "AJP Worker: name=solo ");
    (member, solo)
}

#[test]
fn counters_match_mod_jk_after_the_same_traffic() {
    let (jk_member, jk_solo) = counters_after_traffic(Some(MOD_JK));
    let (member, solo) = counters_after_traffic(None);
    let member_keys = [
        "elected",
        "sessions",
        "errors",
        "client_errors",
        "reply_timeouts",
        "transferred",
        "read",
        "busy",
        "max_busy",
        "connected",
        "max_connected",
    ];
    for k in member_keys {
        let ours = field(&member, k);
        assert!(ours.is_some(), "member key {k} missing: {member:?}");
        assert_eq!(ours, field(&jk_member, k), "member {k}");
    }
    let solo_keys = [
        "used",
        "errors",
        "client_errors",
        "reply_timeouts",
        "transferred",
        "read",
        "busy",
        "max_busy",
        "connected",
        "max_connected",
    ];
    for k in solo_keys {
        let ours = field(&solo, k);
        assert!(ours.is_some(), "ajp key {k} missing: {solo:?}");
        assert_eq!(ours, field(&jk_solo, k), "solo {k}");
    }
    // Real traffic moved the byte counters (both directions), not only zeros that match.
    assert!(field(&solo, "read").unwrap().parse::<u64>().unwrap() > 1000);
    assert!(field(&solo, "transferred").unwrap().parse::<u64>().unwrap() > 100);
    assert_eq!(field(&solo, "used").as_deref(), Some("3"));
}

/// Element names of an XML answer.
fn xml_tags(h: &Httpd, query: &str) -> Vec<String> {
    let r = h.get(&format!("/jkmanager/?{query}&mime=xml"));
    assert_eq!(r.status, 200, "{}", r.text());
    r.text()
        .split('<')
        .skip(1)
        .filter_map(|t| t.split([' ', '\n', '>']).next())
        .filter(|t| t.starts_with("jk:") || t.starts_with("/jk:"))
        .map(str::to_owned)
        .collect()
}

#[test]
fn show_has_the_shape_of_mod_jk() {
    let queries = [
        "cmd=show&w=solo",
        "cmd=show&w=lb&sw=m1",
        "cmd=show&w=lb",
        "cmd=list",
    ];
    let shapes = |module: Option<&str>| {
        let f = fakes();
        let h = start(Mpm::Event, module, &f, "");
        queries.map(|q| xml_tags(&h, q))
    };
    let jk = shapes(Some(MOD_JK));
    let ours = shapes(None);
    for ((q, a), b) in queries.iter().zip(&jk).zip(&ours) {
        assert_eq!(a, b, "{q}");
    }
    // mod_jk closes an ajp element at once and lists its maps after it.
    assert!(ours[0].contains(&"jk:map".to_owned()), "{:?}", ours[0]);
    assert!(!ours[0].contains(&"/jk:ajp".to_owned()), "{:?}", ours[0]);
    assert_eq!(
        ours[1].iter().filter(|t| *t == "jk:member").count(),
        1,
        "sw= shows one member"
    );
}

/// Pids of the children that logged `needle` in the JK log (lines carry `[pid:tid]`).
fn pids_logging(h: &Httpd, needle: &str) -> std::collections::BTreeSet<String> {
    h.jk_log()
        .lines()
        .filter(|l| l.contains(needle))
        .filter_map(|l| {
            l.split(['[', ']']).find_map(|t| {
                let (pid, tid) = t.split_once(':')?;
                let digits = |s: &str| !s.is_empty() && s.bytes().all(|c| c.is_ascii_digit());
                (digits(pid) && digits(tid)).then(|| pid.to_owned())
            })
        })
        .collect()
}

#[test]
fn ajp_edits_and_resets_reach_every_prefork_child() {
    let f = fakes();
    let other = FakeAjp::start("moved", &[]);
    let h = start(Mpm::Prefork, None, &f, "");
    h.wait_children(2);
    // Two keep-alive connections: two children, each with a pooled backend connection.
    let mut a = KeepAlive::connect(h.addr());
    let mut b = KeepAlive::connect(h.addr());
    for ka in [&mut a, &mut b] {
        assert_eq!(ka.get("/solo/x").header("X-Backend"), Some("f3"));
    }
    let s = txt_fields(&h, "cmd=show&w=solo", "AJP Worker: name=solo ");
    assert_eq!(field(&s, "used").as_deref(), Some("2"));
    assert_eq!(field(&s, "connected").as_deref(), Some("2"), "{s:?}");

    // reply_timeout edited through a third connection applies in both children.
    let r = h.get("/jkmanager/?cmd=update&w=solo&vart=300&mime=txt");
    assert_eq!(r.status, 200, "{}", r.text());
    for ka in [&mut a, &mut b] {
        let t = std::time::Instant::now();
        assert_eq!(ka.get("/solo/sleep/3000").status, 504);
        assert!(t.elapsed() < std::time::Duration::from_millis(2900));
    }
    let pids = pids_logging(&h, "no reply within reply_timeout");
    assert!(
        pids.len() >= 2,
        "timeouts in two children: {pids:?}\n{}",
        h.jk_log()
    );
    let s = txt_fields(&h, "cmd=show&w=solo", "AJP Worker: name=solo ");
    assert_eq!(field(&s, "reply_timeout").as_deref(), Some("300"));
    assert_eq!(field(&s, "reply_timeouts").as_deref(), Some("2"), "{s:?}");
    assert_eq!(field(&s, "errors").as_deref(), Some("2"));

    // A new port: both children drop their pooled connection and reach the new backend.
    let r = h.get(&format!(
        "/jkmanager/?cmd=update&w=solo&vaprt={}&vart=0&mime=txt",
        other.port
    ));
    assert_eq!(r.status, 200, "{}", r.text());
    for ka in [&mut a, &mut b] {
        assert_eq!(ka.get("/solo/y").header("X-Backend"), Some("moved"));
    }

    // A reset done through one connection is what the other children see.
    let r = h.get("/jkmanager/?cmd=reset&w=solo&mime=txt");
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(
        a.get("/jkmanager/?cmd=show&w=solo&mime=txt")
            .text()
            .contains(" used=0 ")
    );
    assert!(
        b.get("/jkmanager/?cmd=show&w=solo&mime=txt")
            .text()
            .contains(" used=0 ")
    );
}

/// A 300 ms backend delay lands in the 0.5 s bucket of `metric{labels}` (and not in the
/// 0.25 s one) under `mpm`.
fn known_delay_in_its_bucket(mpm: Mpm, path: &str, metric: &str, labels: &str) {
    let f = fakes();
    let h = start(mpm, None, &f, "");
    // Stop m2 so an lb request goes to m1.
    let r = h.get("/jkmanager/?cmd=update&w=lb&sw=m2&vwa=S&mime=txt");
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(h.get(path).status, 200);
    let prom = h.get("/jkmanager/?mime=prometheus").text();
    let bucket = |le: &str| -> u64 {
        let key = format!("{metric}_bucket{{{labels},le=\"{le}\"}} ");
        prom.lines()
            .find_map(|l| l.strip_prefix(&key))
            .unwrap_or_else(|| panic!("no {key} in\n{prom}"))
            .trim()
            .parse()
            .unwrap()
    };
    assert_eq!(bucket("0.25"), 0, "{mpm:?} {path}\n{prom}");
    assert_eq!(bucket("0.5"), 1, "{mpm:?} {path}\n{prom}");
    assert_eq!(bucket("+Inf"), 1);
}

#[test]
fn latency_histogram_puts_a_known_delay_in_its_bucket() {
    for mpm in [Mpm::Event, Mpm::Prefork] {
        known_delay_in_its_bucket(
            mpm,
            "/lb/sleep/300",
            "rjk_member_latency_seconds",
            "lb=\"lb\",member=\"m1\"",
        );
        known_delay_in_its_bucket(
            mpm,
            "/solo/sleep/300",
            "rjk_ajp_latency_seconds",
            "worker=\"solo\"",
        );
    }
}

/// httpd with mounts in the main server and two virtual hosts on the listening port: one
/// with mounts of its own only, one copying the main server's (JkMountCopy).
fn start_with_vhosts(module: Option<&str>, f: &FakeAjp) -> Httpd {
    let root = ServerRoot::new(Mpm::Event);
    if let Some(m) = module {
        std::fs::copy(m, root.dir.join("modules/mod_rjk.so")).unwrap();
    }
    let wf = root.write(
        "conf/workers.properties",
        &format!(
            "worker.list=lb,solo,jkstatus\n\
             worker.solo.host=127.0.0.1\nworker.solo.port={p}\n\
             worker.m1.host=127.0.0.1\nworker.m1.port={p}\n\
             worker.lb.type=lb\nworker.lb.balance_workers=m1\n\
             worker.jkstatus.type=status\n",
            p = f.port
        ),
    );
    let (port, listen) = (root.port, root.listen());
    root.configure(&format!(
        "JkWorkersFile {wf}\nJkShmFile logs/jk-runtime-status\nJkLogFile logs/mod_jk.log\n\
         JkMount /solo/* solo\nJkMount /jkmanager/* jkstatus\n\
         <VirtualHost *:{port}>\nServerName other.test\n\
         JkMount /vsolo/* solo\nJkMount /vlb/* lb\nJkMount /exact.jsp solo\n</VirtualHost>\n\
         <VirtualHost {listen}>\nServerName copy.test\nJkMountCopy On\n\
         JkMount /copy/* solo\n</VirtualHost>\n"
    ));
    root.start()
}

/// The map listing of every format (txt `Map:` lines, prop map keys, xml map elements),
/// plus each `map_count`, with httpd's address and port replaced by `HOST` and `PORT`.
fn map_listings(module: Option<&str>) -> Vec<(String, Vec<String>)> {
    let f = FakeAjp::start("f1", &[]);
    let h = start_with_vhosts(module, &f);
    let addr = format!("{}]", h.addr());
    let mut all = Vec::new();
    for q in ["", "cmd=show&w=solo&", "cmd=show&w=lb&"] {
        for mime in ["txt", "prop", "xml"] {
            let query = format!("{q}mime={mime}");
            let r = h.get(&format!("/jkmanager/?{query}"));
            assert_eq!(r.status, 200, "{query}: {}", r.text());
            let text = r
                .text()
                .replace(&addr, "HOST:PORT]")
                .replace(&format!(":{}]", h.port()), ":PORT]");
            let lines: Vec<String> = match mime {
                // An xml element spans lines: keep the map elements and the counts.
                "xml" => text
                    .split('<')
                    .filter(|e| e.starts_with("jk:map") || e.contains("map_count"))
                    .map(|e| {
                        if e.starts_with("jk:map") {
                            e.to_owned()
                        } else {
                            let (_, rest) = e.split_once("map_count=").unwrap();
                            rest.lines().next().unwrap().to_owned()
                        }
                    })
                    .collect(),
                _ => text
                    .lines()
                    .filter(|l| {
                        l.starts_with("Map:") || l.contains(".map.") || l.contains("map_count")
                    })
                    .map(|l| {
                        // txt worker lines: the count only.
                        l.split(' ')
                            .find(|kv| kv.starts_with("map_count="))
                            .filter(|_| !l.starts_with("Map:"))
                            .unwrap_or(l)
                            .to_owned()
                    })
                    .collect(),
            };
            all.push((query, lines));
        }
    }
    all
}

#[test]
fn maps_of_every_virtual_host_as_mod_jk_lists_them() {
    let jk = map_listings(Some(MOD_JK));
    let ours = map_listings(None);
    for ((q, a), (_, b)) in jk.iter().zip(&ours) {
        assert_eq!(a, b, "{q}");
    }
    // The listing really holds the virtual hosts' mounts, named as mod_jk names servers.
    let txt = &ours[0].1;
    for needle in [
        "server=\"other.test [*:PORT]\" uri=\"/vsolo/*\"",
        "server=\"other.test [*:PORT]\" uri=\"/vlb/*\"",
        "server=\"copy.test [HOST:PORT]\" uri=\"/copy/*\"",
        "server=\"copy.test [HOST:PORT]\" uri=\"/solo/*\"",
        "server=\"127.0.0.1\" uri=\"/solo/*\"",
    ] {
        assert!(
            txt.iter().any(|l| l.contains(needle)),
            "{needle} in {txt:#?}"
        );
    }
    assert!(txt.contains(&"map_count=5".to_owned()), "{txt:#?}");
}

/// `connected` of `solo` once it equals the connections the fake backend holds open
/// (opened minus closed); fails with both after 10 s.
fn connected_settles(h: &Httpd, fake: &FakeAjp) -> u64 {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let s = txt_fields(h, "cmd=show&w=solo", "AJP Worker: name=solo ");
        let shown: u64 = field(&s, "connected").unwrap().parse().unwrap();
        let open = fake.events("open").len() - fake.events("close").len();
        if shown == open as u64 {
            return shown;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "connected={shown}, open at the backend={open}"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

#[test]
fn connected_drops_when_prefork_children_exit() {
    let f = fakes();
    // Every child exits after one client connection.
    let h = start_with(Mpm::Prefork, None, &f, "", "MaxConnectionsPerChild 1\n");
    for i in 0..4 {
        assert_eq!(h.get(&format!("/solo/x{i}")).status, 200);
    }
    // Four children opened a connection each and exited: the backend saw them closed.
    let solo = &f[2];
    assert_eq!(solo.wait_events("close", 4).len(), 4, "{}", solo.log());
    assert_eq!(connected_settles(&h, solo), 0);
    let s = txt_fields(&h, "cmd=show&w=solo", "AJP Worker: name=solo ");
    assert!(field(&s, "max_connected").unwrap().parse::<u64>().unwrap() >= 1);

    // Children that hold a connection count it; a graceful restart ends them.
    let mut a = KeepAlive::connect(h.addr());
    let mut b = KeepAlive::connect(h.addr());
    for ka in [&mut a, &mut b] {
        assert_eq!(ka.get("/solo/y").status, 200);
    }
    assert_eq!(connected_settles(&h, solo), 2);
    h.restart(true);
    drop((a, b));
    assert_eq!(solo.wait_events("close", 6).len(), 6, "{}", solo.log());
    assert_eq!(connected_settles(&h, solo), 0);
}

/// A POST whose body stops short of its Content-Length: a client error.
fn truncated_post(h: &Httpd, path: &str) {
    use std::io::{Read, Write};
    let mut c = std::net::TcpStream::connect(h.addr()).unwrap();
    let head = format!("POST {path} HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n0123456789");
    c.write_all(head.as_bytes()).unwrap();
    c.shutdown(std::net::Shutdown::Write).unwrap();
    let mut out = Vec::new();
    let _ = c.read_to_end(&mut out);
}

/// Series name → largest sample value, from a Prometheus text answer.
fn prom_families(prom: &str) -> Vec<(String, f64)> {
    let mut fams: Vec<(String, f64)> = prom
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .map(|l| (l.split(' ').next().unwrap().to_owned(), f64::MIN))
        .collect();
    for line in prom.lines().filter(|l| !l.starts_with('#')) {
        let (series, value) = line.rsplit_once(' ').unwrap();
        let name = series.split('{').next().unwrap();
        let value: f64 = value.parse().unwrap();
        let fam = fams
            .iter_mut()
            .filter(|(f, _)| name.starts_with(f.as_str()))
            .max_by_key(|(f, _)| f.len())
            .unwrap_or_else(|| panic!("{name} has no family"));
        fam.1 = fam.1.max(value);
    }
    fams
}

#[test]
fn every_prometheus_series_is_fed() {
    let f = fakes();
    let h = start(Mpm::Event, None, &f, "worker.m2.distance=1\n");
    let ok = |path: &str| assert_eq!(h.get(path).status, 200, "{path}");
    ok("/lb/a");
    ok("/solo/b");
    truncated_post(&h, "/lb/echo");
    truncated_post(&h, "/solo/echo");
    // Reply timeouts on m1 (m2 stopped) and on solo.
    ok("/jkmanager/?cmd=update&w=lb&sw=m2&vwa=S&mime=txt");
    ok("/jkmanager/?cmd=update&w=lb&sw=m1&vart=300&mime=txt");
    ok("/jkmanager/?cmd=update&w=solo&vart=300&mime=txt");
    assert_ne!(h.get("/lb/sleep/2000").status, 200);
    assert_ne!(h.get("/solo/sleep/2000").status, 200);
    // Requests in flight on m2 and solo while the metrics are read.
    ok("/jkmanager/?cmd=update&w=lb&sw=m2&vwa=A&mime=txt");
    ok("/jkmanager/?cmd=update&w=solo&vart=0&mime=txt");
    let before = (f[1].events("request").len(), f[2].events("request").len());
    let port = h.addr();
    let slow: Vec<_> = ["/lb/sleep/2500", "/solo/sleep/2500"]
        .into_iter()
        .map(|p| {
            std::thread::spawn(move || {
                let mut ka = KeepAlive::connect(port);
                ka.get(p).status
            })
        })
        .collect();
    f[1].wait_events("request", before.0 + 1);
    f[2].wait_events("request", before.1 + 1);
    let prom = h.get("/jkmanager/?mime=prometheus").text();
    for t in slow {
        assert_eq!(t.join().unwrap(), 200);
    }
    let fams = prom_families(&prom);
    for name in [
        "rjk_member_connected",
        "rjk_member_max_connected",
        "rjk_member_latency_seconds",
        "rjk_ajp_requests_total",
        "rjk_ajp_errors_total",
        "rjk_ajp_client_errors_total",
        "rjk_ajp_reply_timeouts_total",
        "rjk_ajp_busy",
        "rjk_ajp_max_busy",
        "rjk_ajp_read_bytes_total",
        "rjk_ajp_written_bytes_total",
        "rjk_ajp_connected",
        "rjk_ajp_max_connected",
        "rjk_ajp_latency_seconds",
    ] {
        assert!(
            fams.iter().any(|(f, _)| f == name),
            "{name} missing:\n{prom}"
        );
    }
    // After this traffic every series has a sample above zero.
    let unfed: Vec<&String> = fams
        .iter()
        .filter(|(_, v)| *v <= 0.0)
        .map(|(f, _)| f)
        .collect();
    assert!(unfed.is_empty(), "never fed: {unfed:?}\n{prom}");
}

/// `client_errors` of `solo` and of the member that served, after one POST to each whose
/// body stops short.
fn client_errors_after_truncated_posts(module: Option<&str>) -> (String, String) {
    let f = fakes();
    let h = start(Mpm::Event, module, &f, "");
    // Only m1 takes lb requests.
    let r = h.get("/jkmanager/?cmd=update&w=lb&sw=m2&vwa=S&mime=txt");
    assert_eq!(r.status, 200, "{}", r.text());
    truncated_post(&h, "/solo/echo");
    truncated_post(&h, "/lb/echo");
    let solo = txt_fields(&h, "cmd=show&w=solo", "AJP Worker: name=solo ");
    let member = txt_fields(&h, "cmd=show&w=lb&sw=m1", "Member: name=m1 ");
    (
        field(&solo, "client_errors").unwrap(),
        field(&member, "client_errors").unwrap(),
    )
}

/// mod_jk counts each client error twice (once where it is detected, once when the
/// request's statistics are updated); so does mod_rjk, so the numbers compare.
#[test]
fn a_client_error_counts_as_mod_jk_counts_it() {
    let (jk_solo, jk_member) = client_errors_after_truncated_posts(Some(MOD_JK));
    let (solo, member) = client_errors_after_truncated_posts(None);
    assert_eq!((jk_solo.as_str(), jk_member.as_str()), ("2", "2"));
    assert_eq!((solo.as_str(), member.as_str()), ("2", "2"));
}
