//! Request body packets sent ahead of the container's GET_BODY_CHUNK, sans-IO.
//!
//! Without a window every 8 KiB body packet after the first waits for the container to
//! ask for it: one round trip per packet. [`UploadWindow`] lets up to `window − 1`
//! packets travel before they are asked for, matches each GET_BODY_CHUNK with the packet
//! it takes, and tells at END_RESPONSE whether the connection may be reused.
//!
//! What the container does with packets it did not ask for decides the rules. Tomcat's
//! AJP processor reads exactly one message per GET_BODY_CHUNK it sends (plus the
//! unsolicited first packet of a body with a length), without checking that it is a
//! body packet; when a response ends it swallows at most the one packet it is waiting
//! for; the next message it reads is taken as the next request, dispatched on its first
//! payload byte, which in a body packet is the high byte of the data length. Hence:
//!
//! 1. **Only packets of at least [`MIN_AHEAD`] bytes travel ahead** (full ones, the
//!    size the container itself asks for; for a body of known length the last one or
//!    two are sized so that neither is shorter), so a packet it never asked for starts
//!    with a byte above every AJP message type: read as a message it is an unknown type
//!    and the container closes the connection. A shorter tail, and the empty packet
//!    that ends a body, are sent only when asked for: a client choosing the length of
//!    the last packet could otherwise make it read as a FORWARD_REQUEST.
//! 2. **The window opens at the first GET_BODY_CHUNK** that asks for at least a full
//!    packet; packets ahead are never larger than what the container asks for.
//! 3. **Each GET_BODY_CHUNK takes the oldest packet in flight**; when none is, the
//!    caller reads from the client and answers it as without a window.
//! 4. **A connection is reused only when every packet sent was asked for** (and none
//!    held back): packets left in it would be read as the next request. A request for
//!    less than the packet already in flight for it also forbids reuse, and closes the
//!    window.
//! 5. Body bytes read from the client ahead are gone from it: once any was, the
//!    request can no longer be replayed ([`UploadWindow::consumed_ahead`]). Callers keep
//!    the window off when a replay after sending is allowed.

use super::body_chunk_capacity;
use super::request::BodyMode;

/// Smallest packet that may travel ahead: its first payload byte (the high byte of the
/// data length) is then at least 0x10, above every AJP message type code.
pub const MIN_AHEAD: usize = 0x1000;

/// Bytes a body packet adds to its data: magic, length, data length.
const BODY_PACKET_OVERHEAD: usize = 6;

/// How to answer one GET_BODY_CHUNK.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Answer {
    /// The packet it asks for is already on its way: send nothing.
    InFlight,
    /// Send the packet held back (`len` data bytes, 0 = the empty end packet), then
    /// call [`UploadWindow::sent`].
    Held { len: usize },
    /// Read at most `max` bytes from the client and send them (as without a window),
    /// then call [`UploadWindow::sent`].
    Read { max: usize },
}

/// What to do with a packet read ahead of `len` bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ahead {
    /// A full packet: send it now, then call [`UploadWindow::sent`].
    Send,
    /// Short (the client body ended): keep it until asked for.
    Hold,
}

/// The send-ahead state of one request body on one connection.
#[derive(Clone, Debug)]
pub struct UploadWindow {
    /// Packets that may be in flight unasked; 0 = no window.
    limit: u32,
    body: BodyMode,
    capacity: usize,
    /// Body bytes taken from the client (sent or held).
    read: u64,
    /// Packets written (the unsolicited first one included).
    sent: u32,
    /// Packets the container asked for (the unsolicited first one counts as asked).
    asked: u32,
    /// Size of a packet ahead, once the window is open.
    size: Option<usize>,
    /// Sizes of the packets sent ahead and not yet asked for, oldest first.
    in_flight: std::collections::VecDeque<usize>,
    held: Option<usize>,
    /// The client body ended (a short read).
    client_done: bool,
    /// Some packet went out unasked.
    ahead_used: bool,
    /// The container asked for less than a packet in flight carries.
    spoiled: bool,
    /// Closed for good (spoiled, or the request did not qualify).
    closed: bool,
}

impl UploadWindow {
    /// `window`: packets on their way at once, the one asked for included (0 and 1:
    /// none ahead, as without a window).
    pub fn new(window: u32, body: BodyMode, max_packet: usize) -> UploadWindow {
        let capacity = body_chunk_capacity(max_packet);
        UploadWindow {
            limit: window.saturating_sub(1),
            body,
            capacity,
            read: 0,
            sent: 0,
            asked: 0,
            size: None,
            in_flight: std::collections::VecDeque::new(),
            held: None,
            client_done: false,
            ahead_used: false,
            spoiled: false,
            closed: window <= 1 || matches!(body, BodyMode::None | BodyMode::Length(0)),
        }
    }

    /// The unsolicited first packet (`len` data bytes) went out with FORWARD_REQUEST.
    pub fn first_sent(&mut self, len: usize) {
        self.asked += 1;
        self.record(len);
    }

    /// A packet answering a request ([`Answer::Read`] or [`Answer::Held`]) or read
    /// ahead ([`Ahead::Send`]) was written with `len` data bytes.
    pub fn sent(&mut self, len: usize) {
        if self.sent >= self.asked {
            // Nobody asked for it yet: it travels ahead.
            self.in_flight.push_back(len);
            self.ahead_used = true;
        }
        if self.held.take().is_none() {
            self.read += len as u64;
            if len == 0 {
                self.client_done = true;
            }
        }
        self.sent += 1;
    }

    fn record(&mut self, len: usize) {
        self.read += len as u64;
        self.sent += 1;
        if len == 0 {
            self.client_done = true;
        }
    }

    /// A GET_BODY_CHUNK asking for `requested` bytes; `max` is what the exchange allows
    /// for a packet answered now (see `Exchange`).
    pub fn on_request(&mut self, requested: u16, max: usize) -> Answer {
        self.asked += 1;
        let requested = usize::from(requested);
        if let Some(len) = self.in_flight.pop_front() {
            if requested < len {
                self.spoil();
            }
            return Answer::InFlight;
        }
        // Nothing ahead: this request is answered now, after any packet it owes.
        if !self.closed && self.size.is_none() && requested >= self.capacity {
            self.size = Some(self.capacity);
        } else if self.size.is_some_and(|s| requested < s) {
            self.closed = true;
        }
        match self.held {
            Some(len) => Answer::Held { len },
            None => Answer::Read { max },
        }
    }

    fn spoil(&mut self) {
        self.spoiled = true;
        self.closed = true;
    }

    /// Bytes to read from the client for one more packet ahead, if one may go now.
    pub fn ahead(&self) -> Option<usize> {
        let size = self.size?;
        if self.closed || self.client_done || self.held.is_some() {
            return None;
        }
        // Packets the container asked for but that are not written yet come first.
        if self.sent < self.asked || self.in_flight.len() as u32 >= self.limit {
            return None;
        }
        let size = match self.body {
            BodyMode::Length(n) => last_packets(n.saturating_sub(self.read), size)?,
            BodyMode::Unknown => size,
            BodyMode::None => return None,
        };
        (size >= MIN_AHEAD).then_some(size)
    }

    /// `len` bytes were read from the client for the packet [`UploadWindow::ahead`]
    /// offered (`size` of them asked for).
    pub fn read_ahead(&mut self, len: usize, size: usize) -> Ahead {
        if len >= size && len >= MIN_AHEAD {
            return Ahead::Send;
        }
        self.read += len as u64;
        self.client_done = true;
        self.held = Some(len);
        Ahead::Hold
    }

    /// At END_RESPONSE: whether the connection holds no packet the container did not
    /// ask for (its reuse is then up to the other rules).
    pub fn clean_at_end(&self) -> bool {
        self.in_flight.is_empty() && self.held.is_none() && !self.spoiled
    }

    /// Client body bytes were read beyond what a request asked for: the body can no
    /// longer be replayed from its first packet.
    pub fn consumed_ahead(&self) -> bool {
        self.ahead_used || self.held.is_some()
    }

    /// Packets in flight unasked.
    pub fn in_flight(&self) -> usize {
        self.in_flight.len()
    }

    /// Wire bytes of the packets in flight unasked (each with its 6 header bytes).
    pub fn in_flight_bytes(&self) -> usize {
        self.in_flight
            .iter()
            .map(|len| len + BODY_PACKET_OVERHEAD)
            .sum()
    }

    /// Packets written, the first one included.
    pub fn packets_sent(&self) -> u32 {
        self.sent
    }

    /// Requests seen, the unsolicited first packet counted as one.
    pub fn packets_asked(&self) -> u32 {
        self.asked
    }

    /// Whether packets may still go ahead on this connection.
    pub fn is_open(&self) -> bool {
        self.size.is_some() && !self.closed
    }
}

/// The next packet ahead of a body with `left` bytes still to send, packets of at most
/// `size`: a full one while the rest stays long enough to travel ahead too; near the
/// end the last two are sized so that neither is shorter than [`MIN_AHEAD`] (the rest
/// in one packet when it fits). `None`: the rest is too short to go unasked.
fn last_packets(left: u64, size: usize) -> Option<usize> {
    let left = usize::try_from(left).unwrap_or(usize::MAX);
    if left < MIN_AHEAD {
        None
    } else if left <= size {
        Some(left)
    } else if left - size >= MIN_AHEAD || left - MIN_AHEAD < MIN_AHEAD {
        // The bytes after a full packet either go ahead too, or are too few to: they
        // wait to be asked for.
        Some(size)
    } else {
        Some(left - MIN_AHEAD)
    }
}

#[cfg(test)]
mod tests;
