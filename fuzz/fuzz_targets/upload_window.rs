//! Drives the upload window with an arbitrary sequence of container requests, client
//! reads and packets sent ahead, checking its promises: nothing sent ahead is short or
//! larger than asked for, the window's bound holds, its count of bytes in flight is
//! right, every body byte goes out once and in order, and a connection is called clean
//! only when every packet was asked for.
//!
//! Input: byte 0 picks window and packet size, byte 1..3 the body mode and length; then
//! each byte is one step (high bit: a container request, else a top-up of the window).

#![no_main]

use libfuzzer_sys::fuzz_target;
use mod_rjk::ajp::upload_window::{Ahead, Answer, MIN_AHEAD, UploadWindow};
use mod_rjk::ajp::{Action, BodyMode, Exchange, Reply, body_chunk_capacity};

fuzz_target!(|data: &[u8]| {
    if data.len() < 4 {
        return;
    }
    let window = u32::from(data[0] & 0x0F);
    let max = [8192usize, 16384, 65536][usize::from(data[0] >> 4) % 3];
    let len = u64::from(u16::from_be_bytes([data[2], data[3]])) * 7;
    let mode = match data[1] % 3 {
        0 => BodyMode::Length(len),
        1 => BodyMode::Unknown,
        _ => BodyMode::None,
    };
    let mut client_left = len;
    let mut take = |n: usize| {
        let got = client_left.min(n as u64);
        client_left -= got;
        got as usize
    };
    let cap = body_chunk_capacity(max);
    let mut ex = Exchange::new(mode, max);
    let mut w = UploadWindow::new(window, mode, max);
    let mut unread: std::collections::VecDeque<usize> = Default::default();
    let mut held: Option<usize> = None;
    if let Some(n) = ex.first_body_chunk() {
        let got = take(n);
        ex.body_packet_sent(got);
        w.first_sent(got);
    }
    for &step in &data[4..] {
        if step & 0x80 != 0 {
            // A container request: a full packet mostly, any size otherwise.
            let requested = if step & 0x40 != 0 { cap as u16 } else { u16::from(step & 0x3F) << 8 };
            let Ok(Action::SendBodyChunk { max: room }) = ex.on_reply(Reply::GetBodyChunk(requested)) else {
                return;
            };
            match w.on_request(requested, room) {
                Answer::InFlight => {
                    assert!(unread.pop_front().is_some(), "a request matched nothing in flight");
                }
                Answer::Held { len } => {
                    assert_eq!(held.take(), Some(len));
                    assert!(unread.is_empty());
                    ex.body_packet_sent(len);
                    w.sent(len);
                }
                Answer::Read { max: room } => {
                    assert!(unread.is_empty() && held.is_none());
                    let got = take(room);
                    ex.body_packet_sent(got);
                    w.sent(got);
                }
            }
        } else if let Some(size) = w.ahead() {
            assert!(size >= MIN_AHEAD && size <= cap);
            let got = take(size);
            match w.read_ahead(got, size) {
                Ahead::Send => {
                    assert_eq!(got, size);
                    ex.body_packet_sent(got);
                    w.sent(got);
                    unread.push_back(got);
                    assert!(unread.len() < window.max(1) as usize);
                }
                Ahead::Hold => held = Some(got),
            }
        }
        assert_eq!(w.in_flight(), unread.len());
        assert_eq!(w.in_flight_bytes(), unread.iter().map(|n| n + 6).sum::<usize>());
    }
    if w.clean_at_end() {
        assert!(unread.is_empty() && held.is_none());
    }
    if window <= 1 {
        assert!(unread.is_empty() && !w.consumed_ahead());
    }
});
