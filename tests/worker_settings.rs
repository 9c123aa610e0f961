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
