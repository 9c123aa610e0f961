//! Memory after faults: child RSS after rounds of requests to a misbehaving backend and of
//! aborted 1 MiB downloads stays within 2 MB of its level after normal traffic (no buffer,
//! connection or pool grows with faults).

mod common;

use std::io::Read;
use std::sync::Arc;

use common::{FakeAjp, Httpd, Mpm, ServerRoot};

/// The largest current RSS (KiB) of httpd's children.
fn children_rss_kib(h: &Httpd) -> u64 {
    h.children()
        .iter()
        .filter_map(|pid| std::fs::read_to_string(format!("/proc/{pid}/status")).ok())
        .filter_map(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .max()
        .unwrap_or(0)
}

/// `n` requests over `paths` from 8 client threads.
fn load(h: &Arc<Httpd>, paths: &[String], n: usize) {
    let threads: Vec<_> = (0..8)
        .map(|t| {
            let (h, paths) = (h.clone(), paths.to_vec());
            std::thread::spawn(move || {
                for i in 0..n / 8 {
                    let p = &paths[(i + t) % paths.len()];
                    let _ = h.try_request("GET", p, &[("Connection", "close")], b"");
                }
            })
        })
        .collect();
    for t in threads {
        t.join().expect("client thread");
    }
}

#[test]
fn child_memory_after_faults_stays_within_2_mb_of_normal_traffic() {
    let fake = FakeAjp::start("mem", &["--quiet"]);
    let root = ServerRoot::new(Mpm::Event);
    let wf = root.write(
        "conf/workers.properties",
        &format!(
            "worker.list=lb\nworker.m.host=127.0.0.1\nworker.m.port={}\nworker.m.retry_interval=10\n\
             worker.lb.type=lb\nworker.lb.balance_workers=m\n",
            fake.port
        ),
    );
    root.configure(&format!(
        "JkWorkersFile {wf}\nJkLogFile logs/mod_jk.log\nJkMount /app/* lb\n"
    ));
    let h = Arc::new(root.start());
    let normal = ["/app/echo", "/app/size/65536", "/app/size/1048576"].map(String::from);
    load(&h, &normal, 800);
    let base = children_rss_kib(&h);
    let faults: Vec<String> = [
        "close_mid_body",
        "cl_mismatch",
        "cl_over",
        "chunk_short",
        "close_before_headers",
        "hdr_crlf",
        "reuse0",
        "extra_after_end",
    ]
    .iter()
    .map(|f| format!("/app/fault/{f}"))
    .collect();
    let mut after = Vec::new();
    for _ in 0..3 {
        load(&h, &faults, 400);
        for _ in 0..50 {
            // A 1 MiB download the client drops after its first bytes.
            let (mut r, head) = common::open_download(h.addr(), "/app/size/1048576", "");
            assert!(head.starts_with("HTTP/1.1 200"), "{head}");
            let _ = r.read(&mut [0u8; 4096]);
        }
        load(&h, &normal, 80);
        after.push(children_rss_kib(&h));
    }
    assert!(
        after.iter().all(|&kib| kib <= base + 2048),
        "child RSS after normal traffic {base} KiB, after each fault round {after:?} KiB"
    );
    h.assert_clean_log();
}
