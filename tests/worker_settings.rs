//! Worker properties whose effect is outside the AJP exchange itself: the socket's local
//! address and buffers, the lb's own session cookie and its shared-memory locking. Each
//! test fails when the property is ignored.

mod common;

use std::process::Command;

use common::{FakeAjp, Httpd, Mpm, ServerRoot};

/// One ajp13 worker `w` on a fake backend, mounted at `/*`.
fn single(workers_extra: &str) -> (Httpd, FakeAjp) {
    let fake = FakeAjp::start("fake1", &[]);
    let root = ServerRoot::new(Mpm::Event);
    let wf = root.write(
        "conf/workers.properties",
        &format!(
            "worker.list=w\nworker.w.host=127.0.0.1\nworker.w.port={}\n{workers_extra}",
            fake.port
        ),
    );
    root.configure(&format!("JkWorkersFile {wf}\nJkMount /* w\n"));
    (root.start(), fake)
}

/// The peer address of every connection the fake accepted.
fn peers(fake: &FakeAjp) -> Vec<String> {
    fake.wait_events("open", 1)
        .iter()
        .filter_map(|l| {
            let rest = l.split("\"peer\":\"").nth(1)?;
            Some(rest.split('"').next()?.to_string())
        })
        .collect()
}

#[test]
fn worker_source_binds_the_local_address_before_connecting() {
    let (h, fake) = single("worker.w.source=127.0.0.2\n");
    assert_eq!(h.get("/echo").status, 200);
    let p = peers(&fake);
    assert!(!p.is_empty(), "the fake saw no connection");
    for peer in &p {
        assert!(peer.starts_with("127.0.0.2:"), "peer {peer} of {p:?}");
    }
}

#[test]
fn worker_source_unset_connects_from_the_default_address() {
    let (h, fake) = single("");
    assert_eq!(h.get("/echo").status, 200);
    let p = peers(&fake);
    assert!(p.iter().all(|peer| peer.starts_with("127.0.0.1:")), "{p:?}");
}

/// `ss` memory info (rb, tb) of the established connections to `port`.
fn skmem_to(port: u16) -> Vec<(u64, u64)> {
    let out = Command::new("ss")
        .args(["-tmnH", "state", "established"])
        .arg(format!("( dport = :{port} )"))
        .output()
        .expect("run ss (iproute2)");
    let text = String::from_utf8_lossy(&out.stdout);
    let field = |s: &str, key: &str| -> Option<u64> {
        let inner = s.split("skmem:(").nth(1)?.split(')').next()?;
        inner
            .split(',')
            .find_map(|f| f.strip_prefix(key)?.parse().ok())
    };
    // ss prints the memory line under the socket line: join them per connection.
    text.split("skmem:(")
        .skip(1)
        .filter_map(|part| {
            let s = format!("skmem:({part}");
            Some((field(&s, "rb")?, field(&s, "tb")?))
        })
        .collect()
}

#[test]
fn worker_socket_buffer_sets_send_and_receive_buffers() {
    // Linux doubles the value for its bookkeeping and stops autotuning a set buffer.
    let (h, fake) = single("worker.w.socket_buffer=40000\n");
    assert_eq!(h.get("/echo").status, 200);
    let mem = skmem_to(fake.port);
    assert!(
        !mem.is_empty(),
        "no pooled connection to port {}",
        fake.port
    );
    for (rb, tb) in &mem {
        assert_eq!((*rb, *tb), (80000, 80000), "{mem:?}");
    }
}

#[test]
fn worker_socket_buffer_is_at_least_max_packet_size() {
    let (h, fake) = single("worker.w.socket_buffer=1000\nworker.w.max_packet_size=32768\n");
    assert_eq!(h.get("/echo").status, 200);
    let mem = skmem_to(fake.port);
    assert!(
        !mem.is_empty(),
        "no pooled connection to port {}",
        fake.port
    );
    for (rb, tb) in &mem {
        assert_eq!((*rb, *tb), (65536, 65536), "{mem:?}");
    }
}

/// An lb `lb` over two fake members `tomcat1`/`tomcat2`, mounted at `/*`.
fn two_members(lb_extra: &str, conf_extra: &str) -> (Httpd, Vec<FakeAjp>) {
    common::lb_over_fakes(2, "/*", lb_extra, conf_extra)
}

fn set_cookies(r: &common::Response) -> Vec<&str> {
    r.headers
        .iter()
        .filter(|(n, _)| n.eq_ignore_ascii_case("set-cookie"))
        .map(|(_, v)| v.as_str())
        .collect()
}

#[test]
fn worker_set_session_cookie_names_the_chosen_route_on_non_sticky_picks() {
    let (h, _fakes) = two_members("worker.lb.set_session_cookie=true\n", "");
    for _ in 0..4 {
        let r = h.get("/echo");
        assert_eq!(r.status, 200);
        let backend = r.header("X-Backend").unwrap();
        assert_eq!(
            set_cookies(&r),
            [format!("JSESSIONID=.{backend};PATH=/;HttpOnly")],
            "{:?}",
            r.headers
        );
    }
    // A request its session routed adds nothing.
    let r = h.get_with("/echo", &[("Cookie", "JSESSIONID=abc.tomcat2")]);
    assert_eq!(r.header("X-Backend"), Some("tomcat2"));
    assert!(set_cookies(&r).is_empty(), "{:?}", r.headers);
}

#[test]
fn worker_set_session_cookie_off_by_default() {
    let (h, _fakes) = two_members("", "");
    let r = h.get("/echo");
    assert_eq!(r.status, 200);
    assert!(set_cookies(&r).is_empty(), "{:?}", r.headers);
}

#[test]
fn worker_session_cookie_path_and_session_cookie_shape_the_cookie() {
    let (h, _fakes) = two_members(
        "worker.lb.set_session_cookie=1\nworker.lb.session_cookie_path=/app\nworker.lb.session_cookie=SID\n",
        "",
    );
    let r = h.get("/echo");
    let backend = r.header("X-Backend").unwrap().to_string();
    assert_eq!(
        set_cookies(&r),
        [format!("SID=.{backend};PATH=/app;HttpOnly")]
    );
    // The client sends it back: the next request sticks to that member, no new cookie.
    let cookie = format!("SID=.{backend}");
    let r = h.get_with("/echo", &[("Cookie", &cookie)]);
    assert_eq!(r.header("X-Backend"), Some(backend.as_str()));
    assert!(set_cookies(&r).is_empty(), "{:?}", r.headers);
}

#[test]
fn worker_set_session_cookie_adds_secure_on_https_requests() {
    // The HTTPS indicator variable marks the request as one that came over SSL.
    let (h, _fakes) = two_members(
        "worker.lb.set_session_cookie=true\n",
        "SetEnvIf X-Test-Https on HTTPS=on\n",
    );
    let r = h.get_with("/echo", &[("X-Test-Https", "on")]);
    let backend = r.header("X-Backend").unwrap().to_string();
    assert_eq!(
        set_cookies(&r),
        [format!("JSESSIONID=.{backend};PATH=/;HttpOnly;Secure")]
    );
}

/// Holds a POSIX write lock on a file (the kind `lock=Pessimistic` takes) until dropped.
struct RecordLock {
    _file: std::fs::File,
}

impl RecordLock {
    fn take(path: &str) -> RecordLock {
        use std::os::fd::AsRawFd;
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(path)
            .unwrap_or_else(|e| panic!("{path}: {e}"));
        // SAFETY: flock is plain data; zeroed means the whole file from offset 0.
        let mut fl: libc::flock = unsafe { std::mem::zeroed() };
        fl.l_type = libc::F_WRLCK as libc::c_short;
        // SAFETY: fcntl on our own descriptor with a pointer to a live flock.
        let rc = unsafe { libc::fcntl(file.as_raw_fd(), libc::F_SETLKW, &mut fl) };
        assert_eq!(rc, 0, "locking {path}: {}", std::io::Error::last_os_error());
        RecordLock { _file: file }
    }
}

/// True once /proc/locks shows a process waiting for a lock on the inode `ino`.
fn wait_for_lock_waiter(ino: u64) -> bool {
    let tag = format!(":{ino} ");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while std::time::Instant::now() < deadline {
        let locks = std::fs::read_to_string("/proc/locks").unwrap_or_default();
        if locks.lines().any(|l| l.contains("->") && l.contains(&tag)) {
            return true;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    false
}

/// Two lbs over the same members: `lb` (mounted at `/*`) with `lb_lock`, and `lbp`
/// (at `/p/*`) with lock=Pessimistic, so the lock file exists in every setup.
fn locking_setup(lb_lock: &str) -> (Httpd, Vec<FakeAjp>, String) {
    let (h, fakes) = two_members(
        &format!(
            "worker.lb.lock={lb_lock}\nworker.list=lbp\nworker.lbp.type=lb\n\
             worker.lbp.balance_workers=tomcat1,tomcat2\nworker.lbp.lock=P\n"
        ),
        "JkMount /p/* lbp\n",
    );
    let path = h.root.path(&format!("logs/jk-shm.{}.lock", h.pid()));
    (h, fakes, path)
}

#[test]
fn worker_lock_pessimistic_waits_for_the_global_lock() {
    use std::os::unix::fs::MetadataExt;
    let (h, _fakes, path) = locking_setup("Pessimistic");
    assert_eq!(h.get("/echo").status, 200);
    let ino = std::fs::metadata(&path).unwrap().ino();
    let held = RecordLock::take(&path);
    std::thread::scope(|s| {
        let req = s.spawn(|| h.get("/echo").status);
        assert!(
            wait_for_lock_waiter(ino),
            "no httpd process waited for {path}"
        );
        assert!(!req.is_finished(), "the request did not wait for the lock");
        drop(held);
        assert_eq!(req.join().unwrap(), 200);
    });
}

#[test]
fn worker_lock_optimistic_does_not_take_the_global_lock() {
    let (h, _fakes, path) = locking_setup("O");
    let _held = RecordLock::take(&path);
    // Served while another process holds the lock.
    assert_eq!(h.get("/echo").status, 200);
    assert_eq!(h.get("/echo").status, 200);
}

/// One extra lb `name` over tomcat1/tomcat2 with `attrs` (`k=v` lines), mounted at
/// `/<name>/*`: (workers.properties lines, httpd.conf line) for [`two_members`].
fn extra_lb(name: &str, attrs: &str) -> (String, String) {
    let mut w = format!(
        "worker.list={name}\nworker.{name}.type=lb\nworker.{name}.balance_workers=tomcat1,tomcat2\n"
    );
    for kv in attrs.lines() {
        w.push_str(&format!("worker.{name}.{kv}\n"));
    }
    (w, format!("JkMount /{name}/* {name}\n"))
}

/// [`two_members`] with `extra` plus one [`extra_lb`] per `(name, attrs)`; lb values
/// are not decayed during the test (maintenance every 10 minutes).
fn with_lbs(extra: &str, lbs: &[(&str, &str)]) -> (Httpd, Vec<FakeAjp>) {
    let mut w = format!("worker.maintain=600\n{extra}");
    let mut conf = String::new();
    for (name, attrs) in lbs {
        let (lw, lc) = extra_lb(name, attrs);
        w.push_str(&lw);
        conf.push_str(&lc);
    }
    two_members(&w, &conf)
}

/// How many of `n` session-less requests for `path` tomcat1 answered.
fn tomcat1_share(h: &Httpd, path: &str, n: usize) -> usize {
    let s = common::spread_over(h, path, n);
    s.get("tomcat1").copied().unwrap_or(0)
}

const TO_TOMCAT1: (&str, &str) = ("Cookie", "JSESSIONID=x.tomcat1");

#[test]
fn worker_method_request_counts_sticky_requests_and_sessions_and_next_do_not() {
    let (h, _fakes) = with_lbs(
        "",
        &[("r", "method=R"), ("s", "method=S"), ("n", "method=Next")],
    );
    for (lb, sticky_counts) in [("r", true), ("s", false), ("n", false)] {
        for _ in 0..5 {
            let path = format!("/{lb}/echo");
            assert_eq!(common::backend_of(&h, &path, &[TO_TOMCAT1]), "tomcat1");
        }
        // Request: tomcat1 is 5 ahead, so tomcat2 catches up first; Sessions and Next
        // did not count the requests with a session: an even split.
        let t1 = tomcat1_share(&h, &format!("/{lb}/echo"), 10);
        if sticky_counts {
            assert!(t1 <= 3, "{lb}: tomcat1 took {t1} of 10");
        } else {
            assert_eq!(t1, 5, "{lb}: tomcat1 took {t1} of 10");
        }
    }
}

#[test]
fn worker_method_traffic_weighs_members_by_bytes_transferred() {
    let (h, _fakes) = with_lbs("", &[("r", "method=Request"), ("t", "method=T")]);
    for (lb, by_bytes) in [("r", false), ("t", true)] {
        // One request with a 200 kB answer on tomcat1, then small ones without a session.
        let big = format!("/{lb}/size/200000");
        assert_eq!(common::backend_of(&h, &big, &[TO_TOMCAT1]), "tomcat1");
        let t1 = tomcat1_share(&h, &format!("/{lb}/echo"), 10);
        if by_bytes {
            assert_eq!(t1, 0, "{lb}: tomcat1 took {t1} of 10");
        } else {
            assert!(t1 >= 4, "{lb}: tomcat1 took {t1} of 10");
        }
    }
}

#[test]
fn worker_method_busyness_avoids_the_member_with_a_request_in_flight() {
    let (h, fakes) = with_lbs("", &[("r", "method=R"), ("b", "method=B")]);
    for (lb, by_busy) in [("r", false), ("b", true)] {
        let slow = format!("/{lb}/sleep/3000");
        std::thread::scope(|s| {
            let held = s.spawn(|| common::backend_of(&h, &slow, &[TO_TOMCAT1]));
            let tag = format!("\"uri\":\"{slow}\"");
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
            while !fakes[0].events("request").iter().any(|e| e.contains(&tag)) {
                assert!(std::time::Instant::now() < deadline, "{slow} never arrived");
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            let t1 = tomcat1_share(&h, &format!("/{lb}/echo"), 6);
            if by_busy {
                assert_eq!(t1, 0, "{lb}: tomcat1 took {t1} of 6 while busy");
            } else {
                assert!(t1 >= 2, "{lb}: tomcat1 took {t1} of 6");
            }
            assert_eq!(held.join().unwrap(), "tomcat1");
        });
    }
}

/// Attempts the fakes saw for `uri`.
fn attempts(fakes: &[FakeAjp], uri: &str) -> usize {
    let tag = format!("\"uri\":\"{uri}\"");
    fakes
        .iter()
        .map(|f| {
            f.events("request")
                .iter()
                .filter(|e| e.contains(&tag))
                .count()
        })
        .sum()
}

#[test]
fn worker_lb_retries_is_the_number_of_members_tried() {
    // One pass (retries=1) of one attempt per member (member retries=1): every attempt
    // that fails moves on to the next member, up to lb_retries of them.
    let (h, fakes) = with_lbs(
        "worker.tomcat1.retries=1\nworker.tomcat2.retries=1\n",
        &[("one", "retries=1\nlb_retries=1"), ("dflt", "retries=1")],
    );
    for (lb, want) in [("one", 1), ("dflt", 2)] {
        let uri = format!("/{lb}/fault/close_before_headers");
        assert!(h.get(&uri).status >= 500, "{uri}");
        assert_eq!(attempts(&fakes, &uri), want, "{lb}");
    }
}

/// Fakes `v4` on 127.0.0.1 and `v6` on [::1], on the same port number (v6 binds port 0;
/// when that number is taken on 127.0.0.1, both start again).
fn dual_fakes() -> (FakeAjp, FakeAjp) {
    let mut why = String::new();
    for _ in 0..5 {
        let v6 = FakeAjp::start_at("v6", "[::1]:0");
        match FakeAjp::try_start_at("v4", &format!("127.0.0.1:{}", v6.port)) {
            Ok(v4) => return (v4, v6),
            Err(e) => why = e,
        }
    }
    panic!("no port free on both 127.0.0.1 and [::1]: {why}");
}

/// httpd on `root` with `workers` as workers.properties (each worker mounts itself with
/// `worker.X.mount`), started through `wrapper` (see [`ServerRoot::start_wrapped`]).
fn with_workers(root: ServerRoot, workers: &str, wrapper: &[&str]) -> Httpd {
    let wf = root.write("conf/workers.properties", workers);
    root.configure(&format!("JkWorkersFile {wf}\nJkLogFile logs/mod_jk.log\n"));
    root.start_wrapped(wrapper)
}

/// `worker.<name>.host/port/mount` lines for a worker mounted at `/echo/<name>`.
fn at(name: &str, host: &str, port: u16) -> String {
    format!(
        "worker.{name}.host={host}\nworker.{name}.port={port}\nworker.{name}.mount=/echo/{name}\n"
    )
}

#[test]
fn worker_host_and_worker_port_choose_the_backend_connected_to() {
    let (v4, v6) = dual_fakes();
    let other = FakeAjp::start("other", &[]);
    let workers = format!(
        "worker.list=w4,w6,wp\n{}{}{}",
        at("w4", "127.0.0.1", v4.port),
        at("w6", "::1", v6.port),
        at("wp", "127.0.0.1", other.port)
    );
    let h = with_workers(ServerRoot::new(Mpm::Event), &workers, &[]);
    for (path, want) in [
        ("/echo/w4", "v4"),
        ("/echo/w6", "v6"),
        ("/echo/wp", "other"),
    ] {
        assert_eq!(common::backend_of(&h, path, &[]), want, "{path}");
    }
}

#[test]
fn worker_prefer_ipv6_connects_to_the_ipv6_address_of_a_dual_stack_name() {
    let (v4, v6) = dual_fakes();
    let root = ServerRoot::new(Mpm::Event);
    // httpd runs in its own mount namespace, where /etc/hosts gives the name both
    // loopback addresses (the resolver lists ::1 first).
    let hosts = root.write(
        "conf/hosts",
        "127.0.0.1 localhost\n::1 dual.rjk.test\n127.0.0.1 dual.rjk.test\n",
    );
    let script = format!("mount --bind {hosts} /etc/hosts && exec \"$0\" \"$@\"");
    let workers = format!(
        "worker.list=plain,six\n{}{}worker.six.prefer_ipv6=true\n",
        at("plain", "dual.rjk.test", v4.port),
        at("six", "dual.rjk.test", v6.port)
    );
    let h = with_workers(root, &workers, &["unshare", "-m", "sh", "-c", &script]);
    for (path, want) in [("/echo/plain", "v4"), ("/echo/six", "v6")] {
        assert_eq!(common::backend_of(&h, path, &[]), want, "{path}");
    }
}

#[test]
fn worker_secret_is_what_a_tomcat_requiring_one_accepts() {
    let t = common::tomcat::shared(1)[0];
    let mut workers = String::from("worker.list=right,wrong,none\n");
    for name in ["right", "wrong", "none"] {
        workers.push_str(&at(name, "127.0.0.1", t.ajp_port));
    }
    workers.push_str(&format!(
        "worker.right.secret={}\nworker.wrong.secret=not-the-secret\n",
        t.secret
    ));
    let h = with_workers(ServerRoot::new(Mpm::Event), &workers, &[]);
    let r = h.get("/echo/right");
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(
        r.text().contains(&format!("route={}", t.name)),
        "{}",
        r.text()
    );
    // Tomcat refuses a request with a wrong or no secret (403) before the webapp sees it.
    for path in ["/echo/wrong", "/echo/none"] {
        let r = h.get(path);
        assert_eq!(r.status, 403, "{path}: {}", r.text());
        assert!(!r.text().contains("route="), "{path}: {}", r.text());
    }
}

#[test]
fn worker_reference_gives_the_template_values_to_the_referencing_worker() {
    let fake = FakeAjp::start("fake", &[]);
    let workers = format!(
        "worker.list=a,b\nworker.tmpl.host=127.0.0.1\nworker.tmpl.port={}\n\
         worker.tmpl.secret=from-template\n\
         worker.a.reference=worker.tmpl\nworker.a.mount=/echo/a\n\
         worker.b.reference=worker.tmpl\nworker.b.mount=/echo/b\nworker.b.secret=own\n",
        fake.port
    );
    let h = with_workers(ServerRoot::new(Mpm::Event), &workers, &[]);
    // Host, port and secret come from the template; b's own secret wins over it.
    for (path, secret) in [("/echo/a", "from-template"), ("/echo/b", "own")] {
        assert_eq!(common::backend_of(&h, path, &[]), "fake", "{path}");
        let tag = format!("\"uri\":\"{path}\"");
        let seen: Vec<String> = fake
            .wait_events("request", 1)
            .into_iter()
            .filter(|e| e.contains(&tag))
            .collect();
        assert_eq!(seen.len(), 1, "{}", fake.log());
        assert!(
            seen[0].contains(&format!("\"secret_value\":\"{secret}\"")),
            "{path}: {}",
            seen[0]
        );
    }
}
