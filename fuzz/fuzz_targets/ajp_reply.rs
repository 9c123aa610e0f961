//! Feeds arbitrary container bytes through the reply decoder and the exchange state
//! machine, the path a hostile or broken backend controls (CVE-2026-28780/33857/34032/
//! 34059 were all here in mod_proxy_ajp).
//!
//! Corpus files are raw reply streams (`"AB"` packets back to back).

#![no_main]

use libfuzzer_sys::fuzz_target;
use mod_rjk::ajp::{Action, BodyMode, Exchange, body_chunk_capacity, decode_reply};

fuzz_target!(|data: &[u8]| {
    // Same bytes under the smallest and largest packet size and every body mode, so one
    // corpus exercises all size checks and body-request paths.
    for (max, mode) in [
        (8192, BodyMode::None),
        (8192, BodyMode::Length(20_000)),
        (65536, BodyMode::Unknown),
    ] {
        run(data, max, mode);
    }
});

fn run(data: &[u8], max: usize, mode: BodyMode) {
    let mut ex = Exchange::new(mode, max);
    if let Some(n) = ex.first_body_chunk() {
        assert!(n <= body_chunk_capacity(max));
        ex.body_packet_sent(n);
    }
    let mut buf = data;
    while let Ok(Some((reply, used))) = decode_reply(buf, max) {
        assert!(used >= 5 && used <= buf.len() && used <= max);
        match ex.on_reply(reply) {
            Ok(Action::SendHeaders {
                status,
                reason,
                headers,
            }) => {
                assert!((200..=599).contains(&status));
                assert!(!reason.iter().any(|b| matches!(b, b'\r' | b'\n' | 0)));
                for (name, value) in headers {
                    assert!(!name.is_empty());
                    assert!(
                        !name
                            .iter()
                            .chain(value)
                            .any(|b| matches!(b, b'\r' | b'\n' | 0))
                    );
                }
            }
            Ok(Action::Body(d)) => assert!(!d.is_empty() && d.len() + 8 <= used),
            Ok(Action::SendBodyChunk { max: m }) => {
                assert!(m <= body_chunk_capacity(max));
                ex.body_packet_sent(m);
            }
            Ok(Action::Flush | Action::Done { .. }) => {}
            Err(_) => assert!(!ex.is_reusable()),
        }
        buf = &buf[used..];
    }
}
