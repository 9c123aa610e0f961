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
    let fakes: Vec<FakeAjp> = (1..=2)
        .map(|i| FakeAjp::start(&format!("tomcat{i}"), &[]))
        .collect();
    let root = ServerRoot::new(Mpm::Event);
    let mut w = String::from("worker.list=lb\n");
    for (i, f) in fakes.iter().enumerate() {
        w.push_str(&format!(
            "worker.tomcat{n}.host=127.0.0.1\nworker.tomcat{n}.port={p}\n",
            n = i + 1,
            p = f.port
        ));
    }
    w.push_str("worker.lb.type=lb\nworker.lb.balance_workers=tomcat1,tomcat2\n");
    w.push_str(lb_extra);
    let wf = root.write("conf/workers.properties", &w);
    root.configure(&format!(
        "JkWorkersFile {wf}\nJkShmFile logs/jk-runtime-status\nJkMount /* lb\n{conf_extra}"
    ));
    (root.start(), fakes)
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
    let path = h
        .root
        .path(&format!("logs/jk-runtime-status.{}.lock", h.pid()));
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
