//! The uploader's writes against a socket that takes only part of what it is given: the
//! container gets the body exactly, a write that waits only ever carries bytes it asked
//! for, and a connection is called clean only when every packet written was asked for.

use super::*;
use crate::ajp::relay::BackendError;
use crate::ajp::{Action, Reply};
use proptest::prelude::*;
use std::ops::Range;
use std::time::Duration;

/// The container's side of the connection: everything written, in order, and how many
/// packets it asked for (the unsolicited first one counted).
struct Wire {
    bytes: Vec<u8>,
    asked: usize,
    /// Bytes each write that must not wait takes, in turn (cycled).
    room: Vec<usize>,
    turn: usize,
    /// A write that waited carried bytes of a packet nobody asked for.
    waited_unasked: bool,
}

impl Wire {
    /// Data of each whole packet written, in order.
    fn packets(&self) -> Vec<&[u8]> {
        let mut out = Vec::new();
        let mut rest = &self.bytes[..];
        while rest.len() >= 4 {
            let len = usize::from(u16::from_be_bytes([rest[2], rest[3]]));
            if rest.len() < 4 + len {
                break;
            }
            out.push(if len == 0 {
                &rest[4..4]
            } else {
                &rest[6..4 + len]
            });
            rest = &rest[4 + len..];
        }
        out
    }

    /// Bytes up to the end of the packets asked for, if they are all written.
    fn asked_end(&self) -> Option<usize> {
        let mut at = 0;
        for _ in 0..self.asked {
            let len = usize::from(u16::from_be_bytes([
                *self.bytes.get(at + 2)?,
                *self.bytes.get(at + 3)?,
            ]));
            at += 4 + len;
        }
        Some(at)
    }
}

impl ReplyStream for Wire {
    fn fill(&mut self, _: usize, _: Option<Duration>) -> Result<(), BackendError> {
        Err(BackendError::Closed)
    }
    fn buf(&self) -> &[u8] {
        &[]
    }
    fn unread(&self) -> Range<usize> {
        0..0
    }
    fn consume(&mut self, _: usize) {}
    fn send(&mut self, packet: &[u8]) -> io::Result<()> {
        self.bytes.extend_from_slice(packet);
        if self.asked_end().is_none_or(|end| self.bytes.len() > end) {
            self.waited_unasked = true;
        }
        Ok(())
    }
    fn try_send(&mut self, data: &[u8]) -> io::Result<usize> {
        let n = self.room[self.turn % self.room.len()].min(data.len());
        self.turn += 1;
        self.bytes.extend_from_slice(&data[..n]);
        Ok(n)
    }
}

/// A client whose body arrives in reads of the given sizes (cycled).
struct Body<'a> {
    rest: &'a [u8],
    reads: &'a [usize],
    turn: usize,
}

impl Client for Body<'_> {
    fn read_body(&mut self, buf: &mut [u8]) -> Result<usize, ClientError> {
        let n = self.reads[self.turn % self.reads.len()]
            .max(1)
            .min(buf.len())
            .min(self.rest.len());
        self.turn += 1;
        buf[..n].copy_from_slice(&self.rest[..n]);
        self.rest = &self.rest[n..];
        Ok(n)
    }
    fn start_response(
        &mut self,
        _: u16,
        _: &[u8],
        _: &[(&[u8], &[u8])],
    ) -> Result<(), ClientError> {
        Ok(())
    }
    fn write_body(&mut self, _: &[u8]) -> Result<(), ClientError> {
        Ok(())
    }
    fn flush(&mut self) -> Result<(), ClientError> {
        Ok(())
    }
}

/// One upload of `len` bytes (chunked or not) to a container that asks for up to
/// `asks` packets after the first, then answers. `Ok`: whether the uploader calls the
/// connection clean.
fn upload(
    len: usize,
    chunked: bool,
    asks: usize,
    room: Vec<usize>,
    reads: &[usize],
) -> Result<bool, TestCaseError> {
    const MAX: usize = 8192;
    let body: Vec<u8> = (0..len).map(|i| (i * 13 + i / 257) as u8).collect();
    let mode = if chunked {
        BodyMode::Unknown
    } else {
        BodyMode::Length(len as u64)
    };
    let mut ex = Exchange::new(mode, MAX);
    let mut client = Body {
        rest: &body,
        reads,
        turn: 0,
    };
    let mut wire = Wire {
        bytes: Vec::new(),
        asked: 1,
        room,
        turn: 0,
        waited_unasked: false,
    };
    let first = ex.first_body_chunk().map(|n| {
        let mut buf = vec![0; n];
        let got = read_full(&mut client, &mut buf).unwrap();
        super::super::encode_body_chunk(&buf[..got], MAX, &mut wire.bytes).unwrap();
        ex.body_packet_sent(got);
        got
    });
    // The container asked for the unsolicited first packet, if there is one.
    wire.asked = usize::from(first.is_some());
    let (mut body_buf, mut packet) = (Vec::new(), Vec::new());
    let bufs = RelayBufs {
        body: &mut body_buf,
        packet: &mut packet,
    };
    let mut up = Uploader::new(8, mode, MAX, first, bufs);
    let mut ended = first == Some(0) || matches!(mode, BodyMode::Length(0));
    for _ in 0..asks {
        let got: usize = wire
            .packets()
            .iter()
            .take(wire.asked)
            .map(|p| p.len())
            .sum();
        if ended || (!chunked && got >= len) {
            break;
        }
        wire.asked += 1;
        let Ok(Action::SendBodyChunk { max }) = ex.on_reply(Reply::GetBodyChunk(8186)) else {
            return Err(TestCaseError::fail("exchange refused the request"));
        };
        if up
            .answer(8186, max, &mut wire, &mut client, &mut ex)
            .is_err()
        {
            return Err(TestCaseError::fail("answer failed"));
        }
        let packets = wire.packets();
        // What it asked for is all there before it waits for it.
        prop_assert!(
            packets.len() >= wire.asked,
            "asked {} got {}",
            wire.asked,
            packets.len()
        );
        ended = wire.asked > 0 && packets[wire.asked - 1].is_empty();
    }
    prop_assert!(
        !wire.waited_unasked,
        "a write waited with bytes nobody asked for"
    );
    let packets = wire.packets();
    let data: Vec<u8> = packets.concat();
    prop_assert_eq!(&data[..], &body[..data.len()]);
    for p in &packets[wire.asked.min(packets.len())..] {
        prop_assert!(
            p.len() >= upload_window::MIN_AHEAD,
            "short packet ahead: {}",
            p.len()
        );
    }
    // Bytes nobody asked for are on the wire: never clean. (Packets ahead that were
    // never written also keep it from being called clean: closing it then is merely
    // cautious.)
    let unasked = packets.len() > wire.asked || wire.asked_end() != Some(wire.bytes.len());
    if unasked {
        prop_assert!(!up.clean_at_end());
    }
    Ok(up.clean_at_end())
}

use super::super::upload_window;

proptest! {
    #[test]
    fn partial_writes_never_wait_on_unasked_bytes_and_lose_nothing(
        len in 0usize..200_000,
        chunked in any::<bool>(),
        asks in 0usize..40,
        room in prop::collection::vec(0usize..70_000, 1..6),
        reads in prop::collection::vec(1usize..20_000, 1..6),
    ) {
        upload(len, chunked, asks, room, &reads)?;
    }
}

/// A whole upload with a socket that takes 1,000 bytes at a time (or nothing) without
/// waiting: the container asks until the end, gets every byte, and the connection is
/// clean.
#[test]
fn a_slow_socket_still_delivers_the_whole_body() {
    assert!(upload(100_000, false, 100, vec![1000], &[8000]).unwrap());
    assert!(upload(100_000, true, 100, vec![1000, 0], &[7000]).unwrap());
    assert!(upload(65_536, false, 100, vec![0], &[65_536]).unwrap());
}
