use super::*;
use crate::ajp::{Action, Exchange, Reply};
use proptest::prelude::*;
use std::collections::VecDeque;

const M: usize = 8192;
const CAP: usize = 8186;

/// Packets a 64 KiB upload takes: the unsolicited first one, one answered, seven
/// ahead (the last two sized so that neither is short), the empty end packet on
/// request.
#[test]
fn a_64k_upload_waits_twice_instead_of_eight_times() {
    let mut w = UploadWindow::new(8, BodyMode::Length(65536), M);
    w.first_sent(CAP);
    assert_eq!(w.ahead(), None, "closed until the container asks");
    assert_eq!(w.on_request(8186, CAP), Answer::Read { max: CAP });
    assert_eq!(w.ahead(), None, "the packet asked for goes first");
    w.sent(CAP);
    let mut ahead = Vec::new();
    while let Some(n) = w.ahead() {
        assert_eq!(w.read_ahead(n, n), Ahead::Send);
        w.sent(n);
        ahead.push(n);
    }
    // 65536 = 2 x 8186 + 5 x 8186 + 4138 + 4096.
    assert_eq!(ahead, [CAP, CAP, CAP, CAP, CAP, 4138, 4096]);
    assert_eq!(w.in_flight_bytes(), 5 * (CAP + 6) + 4144 + 4102);
    assert!(w.consumed_ahead());
    assert!(!w.clean_at_end());
    for _ in 0..7 {
        assert_eq!(w.on_request(8186, 0), Answer::InFlight);
    }
    assert_eq!(w.in_flight_bytes(), 0);
    assert_eq!(w.on_request(8186, CAP), Answer::Read { max: CAP });
    w.sent(0);
    assert!(w.clean_at_end());
    assert_eq!((w.packets_sent(), w.packets_asked()), (10, 10));
}

/// A tail too short to go ahead waits to be asked for.
#[test]
fn a_tail_shorter_than_min_ahead_waits() {
    let mut w = UploadWindow::new(8, BodyMode::Length(2 * CAP as u64 + 100), M);
    w.first_sent(CAP);
    assert_eq!(w.on_request(8186, CAP), Answer::Read { max: CAP });
    w.sent(CAP);
    assert_eq!(w.ahead(), None, "100 bytes left");
    assert_eq!(w.on_request(8186, 100), Answer::Read { max: 100 });
}

proptest! {
    /// Every packet ahead is between MIN_AHEAD and the size asked for; what is left
    /// for a request is shorter than MIN_AHEAD, and nothing at all when packets of
    /// twice MIN_AHEAD fit.
    #[test]
    fn packets_ahead_are_never_short_and_never_too_big(
        n in 0u64..(1 << 20),
        size in MIN_AHEAD..65531usize,
    ) {
        let mut left = n;
        while let Some(p) = last_packets(left, size) {
            prop_assert!((MIN_AHEAD..=size).contains(&p), "{p} of {size}");
            left -= p as u64;
        }
        prop_assert!(left < MIN_AHEAD as u64);
        if size >= 2 * MIN_AHEAD && n >= MIN_AHEAD as u64 {
            prop_assert_eq!(left, 0);
        }
    }
}

#[test]
fn windows_0_and_1_never_send_ahead() {
    for window in [0, 1] {
        let mut w = UploadWindow::new(window, BodyMode::Length(1 << 20), M);
        w.first_sent(CAP);
        for _ in 0..10 {
            assert_eq!(w.on_request(8186, CAP), Answer::Read { max: CAP });
            assert_eq!(w.ahead(), None);
            w.sent(CAP);
        }
        assert!(w.clean_at_end() && !w.consumed_ahead() && !w.is_open());
    }
}

#[test]
fn the_window_stays_shut_for_a_container_asking_small_packets() {
    let mut w = UploadWindow::new(8, BodyMode::Unknown, M);
    assert_eq!(w.on_request(1000, 1000), Answer::Read { max: 1000 });
    w.sent(1000);
    assert_eq!(w.ahead(), None);
    // A bigger packet size of ours does not matter: the container's request decides.
    let mut w = UploadWindow::new(8, BodyMode::Unknown, 65536);
    assert_eq!(w.on_request(8186, 8186), Answer::Read { max: 8186 });
    w.sent(8186);
    assert_eq!(w.ahead(), None);
    assert!(!w.is_open());
}

#[test]
fn bodiless_requests_have_no_window() {
    for body in [BodyMode::None, BodyMode::Length(0)] {
        let mut w = UploadWindow::new(8, body, M);
        assert_eq!(w.on_request(8186, 0), Answer::Read { max: 0 });
        w.sent(0);
        assert_eq!(w.ahead(), None);
    }
}

/// A chunked upload: full packets ahead; the short tail and the empty end packet only
/// when asked for.
#[test]
fn tail_and_end_packet_go_only_on_request() {
    let mut w = UploadWindow::new(4, BodyMode::Unknown, M);
    assert_eq!(w.on_request(8186, CAP), Answer::Read { max: CAP });
    w.sent(CAP);
    let n = w.ahead().unwrap();
    assert_eq!(w.read_ahead(n, n), Ahead::Send);
    w.sent(n);
    let n = w.ahead().unwrap();
    assert_eq!(w.read_ahead(6768, n), Ahead::Hold);
    assert_eq!(w.ahead(), None, "the client body is over");
    assert!(!w.clean_at_end(), "a held packet is owed");
    assert_eq!(w.on_request(8186, CAP), Answer::InFlight);
    assert_eq!(w.on_request(8186, CAP), Answer::Held { len: 6768 });
    w.sent(6768);
    assert!(w.clean_at_end());
    assert_eq!(w.on_request(8186, CAP), Answer::Read { max: CAP });
    w.sent(0);
    assert!(w.clean_at_end());
    assert_eq!(w.in_flight(), 0);
}

#[test]
fn a_body_ending_on_a_packet_boundary_holds_the_empty_packet() {
    let mut w = UploadWindow::new(4, BodyMode::Unknown, M);
    assert_eq!(w.on_request(8186, CAP), Answer::Read { max: CAP });
    w.sent(CAP);
    let n = w.ahead().unwrap();
    assert_eq!(w.read_ahead(0, n), Ahead::Hold);
    assert_eq!(w.on_request(8186, CAP), Answer::Held { len: 0 });
    w.sent(0);
    assert!(w.clean_at_end());
}

#[test]
fn packets_never_asked_for_forbid_reuse() {
    let mut w = UploadWindow::new(8, BodyMode::Length(10 * CAP as u64), M);
    w.first_sent(CAP);
    assert_eq!(w.on_request(8186, CAP), Answer::Read { max: CAP });
    w.sent(CAP);
    while let Some(n) = w.ahead() {
        w.read_ahead(n, n);
        w.sent(n);
    }
    assert_eq!(w.in_flight(), 7);
    // The servlet read one more and answered.
    assert_eq!(w.on_request(8186, 0), Answer::InFlight);
    assert!(!w.clean_at_end());
}

#[test]
fn a_request_smaller_than_the_packet_in_flight_spoils_the_connection() {
    let mut w = UploadWindow::new(8, BodyMode::Length(10 * CAP as u64), M);
    w.first_sent(CAP);
    w.on_request(8186, CAP);
    w.sent(CAP);
    let n = w.ahead().unwrap();
    w.read_ahead(n, n);
    w.sent(n);
    assert_eq!(w.on_request(4000, 4000), Answer::InFlight);
    assert!(!w.is_open() && w.ahead().is_none());
    assert!(
        !w.clean_at_end(),
        "the container got more than it asked for"
    );
    // Later requests are answered as without a window.
    assert_eq!(w.on_request(4000, 4000), Answer::Read { max: 4000 });
}

/// What a container reads: one packet per request, in order, as Tomcat does.
struct Container {
    queue: VecDeque<Vec<u8>>,
    got: Vec<u8>,
    /// The empty packet came.
    ended: bool,
}

/// One upload simulated against a container that reads `reads` packets (or until the
/// body ends) asking `request` bytes each time.
fn simulate(
    window: u32,
    max_packet: usize,
    body_len: usize,
    chunked: bool,
    reads: usize,
    request: u16,
    ahead_steps: &[u8],
) -> Result<(), TestCaseError> {
    let body: Vec<u8> = (0..body_len).map(|i| (i * 7 + i / 251) as u8).collect();
    let mode = if chunked {
        BodyMode::Unknown
    } else if body_len == 0 {
        BodyMode::None
    } else {
        BodyMode::Length(body_len as u64)
    };
    let mut client = &body[..];
    let mut take = |n: usize| {
        let n = n.min(client.len());
        let (a, b) = client.split_at(n);
        client = b;
        a.to_vec()
    };
    let mut ex = Exchange::new(mode, max_packet);
    let mut w = UploadWindow::new(window, mode, max_packet);
    let mut c = Container {
        queue: VecDeque::new(),
        got: Vec::new(),
        ended: matches!(mode, BodyMode::None),
    };
    let mut held: Option<Vec<u8>> = None;
    let mut sent_total: Vec<u8> = Vec::new();
    let mut sent_packets = 0usize;
    let mut consumed = 0usize;
    if let Some(n) = ex.first_body_chunk() {
        let d = take(n);
        ex.body_packet_sent(d.len());
        w.first_sent(d.len());
        sent_total.extend_from_slice(&d);
        c.queue.push_back(d);
        sent_packets += 1;
        // The container always takes the unsolicited first packet.
        let p = c.queue.pop_front().unwrap();
        c.got.extend_from_slice(&p);
        consumed += 1;
    }
    let body_over = |c: &Container| match mode {
        BodyMode::Length(n) => c.got.len() as u64 >= n || c.ended,
        _ => c.ended,
    };
    let mut steps = ahead_steps.iter().cycle();
    for _ in 0..reads {
        if body_over(&c) {
            break;
        }
        for _ in 0..*steps.next().unwrap() {
            let Some(size) = w.ahead() else { break };
            prop_assert!(size >= MIN_AHEAD && size <= usize::from(request));
            let d = take(size);
            match w.read_ahead(d.len(), size) {
                Ahead::Send => {
                    prop_assert_eq!(d.len(), size);
                    ex.body_packet_sent(d.len());
                    w.sent(d.len());
                    sent_total.extend_from_slice(&d);
                    c.queue.push_back(d);
                    sent_packets += 1;
                    prop_assert!(w.in_flight() < window as usize);
                }
                Ahead::Hold => {
                    prop_assert!(d.len() < size);
                    held = Some(d);
                }
            }
        }
        let Ok(Action::SendBodyChunk { max }) = ex.on_reply(Reply::GetBodyChunk(request)) else {
            return Err(TestCaseError::fail("exchange refused the request"));
        };
        match w.on_request(request, max) {
            Answer::InFlight => prop_assert!(!c.queue.is_empty()),
            Answer::Held { len } => {
                let d = held.take().expect("held bytes");
                prop_assert_eq!(d.len(), len);
                prop_assert!(c.queue.is_empty());
                ex.body_packet_sent(len);
                w.sent(len);
                sent_total.extend_from_slice(&d);
                c.queue.push_back(d);
                sent_packets += 1;
            }
            Answer::Read { max } => {
                prop_assert!(c.queue.is_empty());
                prop_assert!(held.is_none());
                let d = take(max);
                ex.body_packet_sent(d.len());
                w.sent(d.len());
                sent_total.extend_from_slice(&d);
                c.queue.push_back(d);
                sent_packets += 1;
            }
        }
        let p = c.queue.pop_front().unwrap();
        if p.is_empty() {
            c.ended = true;
        }
        c.got.extend_from_slice(&p);
        consumed += 1;
    }
    // Order kept, nothing lost or doubled: what went out is the client body's prefix,
    // and what the container read is a prefix of that.
    prop_assert_eq!(&sent_total[..], &body[..sent_total.len()]);
    prop_assert_eq!(&c.got[..], &sent_total[..c.got.len()]);
    prop_assert_eq!(w.packets_sent() as usize, sent_packets);
    prop_assert_eq!(w.packets_asked() as usize, consumed);
    let left = sent_packets - consumed;
    prop_assert_eq!(left, c.queue.len());
    // The safety rule: reuse only when nothing unasked is left in the connection.
    if w.clean_at_end() {
        prop_assert_eq!(left, 0);
        prop_assert!(held.is_none());
    }
    if left == 0 && held.is_none() && usize::from(request) >= ajp_cap(max_packet) {
        prop_assert!(w.clean_at_end());
    }
    // Every packet left unread is a full one: read as a message, an unknown type.
    for p in &c.queue {
        prop_assert!(p.len() >= MIN_AHEAD);
        prop_assert!((p.len() >> 8) as u8 >= 0x10);
    }
    if window <= 1 {
        prop_assert_eq!(left, 0);
        prop_assert!(!w.consumed_ahead());
    }
    if !w.consumed_ahead() {
        prop_assert_eq!(left, 0);
    }
    Ok(())
}

fn ajp_cap(max_packet: usize) -> usize {
    crate::ajp::body_chunk_capacity(max_packet)
}

#[test]
fn chunked_upload_of_15_x_7000_bytes_keeps_full_packets() {
    simulate(8, M, 105_000, true, 100, 8186, &[3]).unwrap();
}

proptest! {
    #[test]
    fn the_window_never_loses_doubles_or_leaves_unasked_packets(
        window in 0u32..12,
        max_packet in prop::sample::select(vec![8192usize, 16384, 65536]),
        body_len in prop_oneof![0usize..300, 0usize..200_000, Just(65536), Just(8186 * 9)],
        chunked in any::<bool>(),
        reads in 0usize..40,
        request in prop_oneof![
            3 => Just(0u16),
            1 => 1u16..9000,
            1 => Just(u16::MAX),
        ],
        ahead_steps in prop::collection::vec(0u8..10, 1..6),
    ) {
        // 0 stands for what Tomcat asks: a full packet of the shared packet size.
        let request = if request == 0 { ajp_cap(max_packet) as u16 } else { request };
        simulate(window, max_packet, body_len, chunked, reads, request, &ahead_steps)?;
    }
}
