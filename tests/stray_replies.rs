//! A backend caught writing outside an exchange cannot mix responses: a complete extra
//! reply 300 ms after END_RESPONSE (the fake's `extra_after_end/300`), under 8 keep-alive
//! clients. The first detection puts the worker into no-reuse mode for every child (a
//! fresh, CPinged connection per request, none pooled), logged once; from then on no
//! client gets another's response. With a CPing before every request
//! (`prepost_timeout`), none is mixed from the start.

mod common;

use std::sync::Arc;

use common::{FakeAjp, Httpd, KeepAlive, Mpm, ServerRoot};

const STRAY: &str = "/app/fault/extra_after_end/300";

fn start(mpm: Mpm, fake: &FakeAjp, worker_extra: &str) -> Httpd {
    let root = ServerRoot::new(mpm);
    let wf = root.write(
        "conf/workers.properties",
        &format!(
            "worker.list=s,jkstatus\nworker.s.host=127.0.0.1\nworker.s.port={}\n{worker_extra}\
             worker.jkstatus.type=status\n",
            fake.port
        ),
    );
    root.configure(&format!(
        "JkWorkersFile {wf}\nJkLogFile logs/mod_jk.log\nJkLogLevel info\nJkMount /app/* s\n\
         JkMount /jkstatus jkstatus\n"
    ));
    root.start()
}

/// `clients` keep-alive clients, `each` requests apiece, each with its own id; returns the
/// answers that were not the client's own (another's body, or the stray's `X-Stale`).
fn mixed(h: &Arc<Httpd>, clients: usize, each: usize, round: &str) -> Vec<String> {
    let threads: Vec<_> = (0..clients)
        .map(|c| {
            let port = h.addr();
            let round = round.to_string();
            std::thread::spawn(move || {
                let mut ka = KeepAlive::connect(port);
                let mut wrong = Vec::new();
                for r in 0..each {
                    let id = format!("{round}c{c}r{r}");
                    let resp = match ka.try_get(&format!("{STRAY}?id={id}")) {
                        Ok(resp) => resp,
                        // A response cut short (its framing contradicted): wrong too.
                        Err(e) => {
                            wrong.push(format!("{id}: {e}"));
                            ka = KeepAlive::connect(port);
                            continue;
                        }
                    };
                    let text = resp.text();
                    let own = text.lines().any(|l| l == format!("query=id={id}"));
                    if resp.status != 200 || !own || resp.header("X-Stale").is_some() {
                        wrong.push(format!("{id}: {} {text:?}", resp.status));
                    }
                }
                wrong
            })
        })
        .collect();
    threads
        .into_iter()
        .flat_map(|t| t.join().expect("client thread"))
        .collect()
}

#[test]
fn worker_stray_no_reuse_time_stops_mixed_responses_after_the_first_detection() {
    let fake = FakeAjp::start("stray", &[]);
    let h = Arc::new(start(Mpm::Event, &fake, ""));
    // Until the first detection, a reused connection can read the stray as its reply:
    // at most the requests then in flight, one per client.
    let first = mixed(&h, 8, 6, "a");
    h.wait_log("logs/mod_jk.log", "the no-reuse mode", |l| {
        l.contains("worker s: the backend sent bytes outside a request exchange")
    });
    assert!(
        first.len() <= 8,
        "{} mixed before detection: {first:#?}",
        first.len()
    );
    // From then on: none, and the mode was logged once (for all children).
    let after = mixed(&h, 8, 15, "b");
    assert!(after.is_empty(), "mixed after detection: {after:#?}");
    let log = h.read_log("logs/mod_jk.log");
    assert_eq!(
        log.matches("sent bytes outside a request exchange").count(),
        1,
        "{log}"
    );
    // The status page shows it, in HTML and JSON.
    let json = h.get("/jkstatus?mime=json").text();
    assert!(json.contains("\"no_reuse_seconds\":"), "{json}");
    assert!(!json.contains("\"no_reuse_seconds\":0"), "{json}");
    let html = h.get("/jkstatus").text();
    assert!(html.contains("data-no-reuse=\"s\""), "{html}");
}

/// `stray_no_reuse_time=0` turns the mode off: then the mixing goes on, which is what the
/// mode is for (and why it is on by default).
#[test]
fn worker_stray_no_reuse_time_zero_keeps_reusing() {
    let fake = FakeAjp::start("stray", &[]);
    let h = Arc::new(start(Mpm::Event, &fake, "worker.s.stray_no_reuse_time=0\n"));
    let wrong = mixed(&h, 8, 6, "z");
    assert!(wrong.len() > 8, "only {} mixed: {wrong:#?}", wrong.len());
    assert!(
        !h.read_log("logs/mod_jk.log")
            .contains("outside a request exchange")
    );
}

/// A CPing before every request finds the stray where the CPONG belongs: no response is
/// mixed, from the first request on.
#[test]
fn cping_before_every_request_mixes_nothing_from_the_start() {
    let fake = FakeAjp::start("stray", &[]);
    let h = Arc::new(start(
        Mpm::Prefork,
        &fake,
        "worker.s.prepost_timeout=2000\nworker.s.stray_no_reuse_time=0\n",
    ));
    let wrong = mixed(&h, 8, 6, "p");
    assert!(
        wrong.is_empty(),
        "mixed with a CPing per request: {wrong:#?}"
    );
}
