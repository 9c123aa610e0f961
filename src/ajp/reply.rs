//! Container → web server messages, and the per-request exchange state machine.
//!
//! The backend is not trusted: every length is checked against the bytes of the packet
//! at hand (never a buffer's capacity, never the next packet), every string must end in
//! NUL, the packet size is validated before anything is waited for or allocated, and
//! anything that could turn into an extra header line or status line on the client side
//! is refused. A decode error or an exchange error means: close the connection.

use std::fmt;

use super::{
    BodyMode, HEADER_LEN, REPLY_MAGIC, body_chunk_capacity, clamp_packet_size, code, is_token,
    response_header_name,
};

/// One decoded container message, borrowing from the receive buffer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Reply<'a> {
    /// Status 100..=999 (the [`Exchange`] narrows it further). A null or empty reason is
    /// returned as empty; names of coded headers are their canonical spelling.
    SendHeaders {
        status: u16,
        reason: &'a [u8],
        headers: Vec<(&'a [u8], &'a [u8])>,
    },
    /// Response body bytes; empty means "flush".
    SendBodyChunk(&'a [u8]),
    EndResponse {
        reuse: bool,
    },
    /// The container wants up to this many more request body bytes.
    GetBodyChunk(u16),
    CPong,
}

impl Reply<'_> {
    /// Message type byte, for logs.
    pub fn code(&self) -> u8 {
        match self {
            Reply::SendHeaders { .. } => code::SEND_HEADERS,
            Reply::SendBodyChunk(_) => code::SEND_BODY_CHUNK,
            Reply::EndResponse { .. } => code::END_RESPONSE,
            Reply::GetBodyChunk(_) => code::GET_BODY_CHUNK,
            Reply::CPong => code::CPONG,
        }
    }
}

/// The backend broke the protocol. The handler answers 502 if nothing reached the client
/// yet (else aborts the client connection) and closes the backend connection.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ProtocolError {
    /// First two bytes are not `"AB"` (missing bytes shown as 0).
    BadMagic([u8; 2]),
    /// Declared packet size (header included) exceeds `max_packet_size`.
    PacketTooLong { size: usize, max: usize },
    /// Declared payload length 0: there is no message type.
    EmptyPacket,
    /// A type byte the container never sends.
    UnknownType(u8),
    /// A field runs past the end of the packet.
    Truncated(&'static str),
    /// A string is not followed by NUL.
    MissingNul(&'static str),
    /// A null string (length 0xFFFF) where a value is required.
    NullString(&'static str),
    /// Bytes left in the packet after a complete message of this type.
    TrailingBytes { code: u8, extra: usize },
    /// Status outside 100..=999.
    BadStatus(u16),
    /// Reason phrase with control characters.
    BadReason,
    /// More headers announced than the packet can hold.
    TooManyHeaders(u16),
    /// `0xA0xx` header code past the table.
    UnknownHeaderCode(u16),
    /// Header name that is not an HTTP token.
    BadHeaderName,
    /// Header value with control characters (CR/LF/NUL: response splitting).
    BadHeaderValue,
    /// SEND_BODY_CHUNK length does not match the packet.
    ChunkLength { declared: u16, available: usize },
    /// Status the exchange does not pass on (1xx, 101, >= 600).
    StatusNotAllowed(u16),
    /// Non-empty body chunk before SEND_HEADERS.
    BodyBeforeHeaders,
    /// Second SEND_HEADERS in one response.
    DuplicateHeaders,
    /// END_RESPONSE without SEND_HEADERS (must never inherit earlier headers).
    EndWithoutHeaders,
    /// Any message after END_RESPONSE.
    AfterEnd(u8),
    /// A message that makes no sense inside a request exchange (CPONG).
    Unexpected(u8),
    /// The exchange already failed; nothing more can be accepted.
    Failed,
    /// END_RESPONSE before the body reached the announced Content-Length.
    ShortBody { announced: u64, got: u64 },
}

impl fmt::Display for ProtocolError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use ProtocolError::*;
        match self {
            BadMagic(m) => write!(f, "bad packet magic {:02x}{:02x}", m[0], m[1]),
            PacketTooLong { size, max } => {
                write!(f, "packet of {size} bytes exceeds max_packet_size {max}")
            }
            EmptyPacket => write!(f, "empty packet"),
            UnknownType(t) => write!(f, "unknown message type {t}"),
            Truncated(what) => write!(f, "{what} runs past the end of the packet"),
            MissingNul(what) => write!(f, "{what} is not NUL-terminated"),
            NullString(what) => write!(f, "{what} is a null string"),
            TrailingBytes { code, extra } => {
                write!(f, "{extra} bytes after the end of message type {code}")
            }
            BadStatus(s) => write!(f, "invalid status {s}"),
            BadReason => write!(f, "invalid characters in reason phrase"),
            TooManyHeaders(n) => write!(f, "header count {n} does not fit the packet"),
            UnknownHeaderCode(c) => write!(f, "unknown response header code {c:#06x}"),
            BadHeaderName => write!(f, "invalid response header name"),
            BadHeaderValue => write!(f, "invalid characters in response header value"),
            ChunkLength {
                declared,
                available,
            } => write!(
                f,
                "body chunk length {declared} does not match the {available} bytes in the packet"
            ),
            StatusNotAllowed(s) => write!(f, "status {s} not allowed from the backend"),
            BodyBeforeHeaders => write!(f, "body chunk before headers"),
            DuplicateHeaders => write!(f, "second SEND_HEADERS"),
            EndWithoutHeaders => write!(f, "END_RESPONSE without headers"),
            AfterEnd(t) => write!(f, "message type {t} after END_RESPONSE"),
            Unexpected(t) => write!(f, "unexpected message type {t} during a request"),
            Failed => write!(f, "exchange already failed"),
            ShortBody { announced, got } => write!(
                f,
                "response ended after {got} body bytes of the {announced} its Content-Length announced"
            ),
        }
    }
}

impl std::error::Error for ProtocolError {}

/// Size (header included) of the reply packet at the start of `buf`, or `Ok(None)` if
/// fewer than 4 bytes are there. Magic and size limit are checked on whatever is present,
/// so a caller reading header-then-payload never waits for or allocates a bogus length.
pub fn peek_reply_len(buf: &[u8], max_packet: usize) -> Result<Option<usize>, ProtocolError> {
    let seen = &buf[..buf.len().min(2)];
    if seen != &REPLY_MAGIC[..seen.len()] {
        let mut m = [0; 2];
        m[..seen.len()].copy_from_slice(seen);
        return Err(ProtocolError::BadMagic(m));
    }
    let Some(len) = buf.get(2..HEADER_LEN) else {
        return Ok(None);
    };
    let payload = usize::from(u16::from_be_bytes([len[0], len[1]]));
    let size = HEADER_LEN + payload;
    let max = clamp_packet_size(max_packet);
    if size > max {
        return Err(ProtocolError::PacketTooLong { size, max });
    }
    if payload == 0 {
        return Err(ProtocolError::EmptyPacket);
    }
    Ok(Some(size))
}

/// Decodes the reply packet at the start of `buf`. `Ok(None)`: not complete yet, read more.
/// `Ok(Some((reply, consumed)))`: drop `consumed` bytes once done with `reply`.
pub fn decode_reply(
    buf: &[u8],
    max_packet: usize,
) -> Result<Option<(Reply<'_>, usize)>, ProtocolError> {
    let Some(size) = peek_reply_len(buf, max_packet)? else {
        return Ok(None);
    };
    let Some(packet) = buf.get(..size) else {
        return Ok(None);
    };
    decode_payload(&packet[HEADER_LEN..]).map(|r| Some((r, size)))
}

/// Reads fields of one payload; it cannot see past the packet, whatever the lengths say.
struct Fields<'a> {
    rest: &'a [u8],
}

impl<'a> Fields<'a> {
    fn take(&mut self, n: usize, what: &'static str) -> Result<&'a [u8], ProtocolError> {
        if n > self.rest.len() {
            return Err(ProtocolError::Truncated(what));
        }
        let (head, tail) = self.rest.split_at(n);
        self.rest = tail;
        Ok(head)
    }

    fn u16(&mut self, what: &'static str) -> Result<u16, ProtocolError> {
        let b = self.take(2, what)?;
        Ok(u16::from_be_bytes([b[0], b[1]]))
    }

    fn peek_u16(&self) -> Option<u16> {
        self.rest.get(..2).map(|b| u16::from_be_bytes([b[0], b[1]]))
    }

    /// `Ok(None)` for the null string.
    fn string(&mut self, what: &'static str) -> Result<Option<&'a [u8]>, ProtocolError> {
        let len = self.u16(what)?;
        if len == 0xFFFF {
            return Ok(None);
        }
        let s = self.take(usize::from(len), what)?;
        if self.take(1, what)? != [0] {
            return Err(ProtocolError::MissingNul(what));
        }
        Ok(Some(s))
    }

    fn required(&mut self, what: &'static str) -> Result<&'a [u8], ProtocolError> {
        self.string(what)?.ok_or(ProtocolError::NullString(what))
    }

    fn end(&self, code: u8) -> Result<(), ProtocolError> {
        match self.rest.len() {
            0 => Ok(()),
            extra => Err(ProtocolError::TrailingBytes { code, extra }),
        }
    }
}

fn decode_payload(payload: &[u8]) -> Result<Reply<'_>, ProtocolError> {
    let Some((&kind, rest)) = payload.split_first() else {
        return Err(ProtocolError::EmptyPacket);
    };
    let mut f = Fields { rest };
    let reply = match kind {
        code::SEND_HEADERS => decode_headers(&mut f)?,
        code::SEND_BODY_CHUNK => {
            let declared = f.u16("body chunk length")?;
            let n = usize::from(declared);
            // Exact fit: data + NUL. Shorter is the over-read of CVE-2006-7197, longer
            // is garbage we refuse to skip.
            if f.rest.len() != n + 1 {
                return Err(ProtocolError::ChunkLength {
                    declared,
                    available: f.rest.len(),
                });
            }
            let data = f.take(n, "body chunk")?;
            if f.take(1, "body chunk")? != [0] {
                return Err(ProtocolError::MissingNul("body chunk"));
            }
            Reply::SendBodyChunk(data)
        }
        code::END_RESPONSE => {
            let reuse = f.take(1, "reuse flag")?[0];
            // Anything but an explicit 1 is taken as "do not reuse": the safe reading.
            Reply::EndResponse { reuse: reuse == 1 }
        }
        code::GET_BODY_CHUNK => Reply::GetBodyChunk(f.u16("requested length")?),
        code::CPONG => Reply::CPong,
        other => return Err(ProtocolError::UnknownType(other)),
    };
    f.end(kind)?;
    Ok(reply)
}

fn decode_headers<'a>(f: &mut Fields<'a>) -> Result<Reply<'a>, ProtocolError> {
    let status = f.u16("status")?;
    if !(100..=999).contains(&status) {
        return Err(ProtocolError::BadStatus(status));
    }
    // Null is tolerated here: older containers send it for "no reason phrase".
    let reason = f.string("reason phrase")?.unwrap_or(b"");
    if !reason.iter().all(|&b| b == b'\t' || !b.is_ascii_control()) {
        return Err(ProtocolError::BadReason);
    }
    let count = f.u16("header count")?;
    // Smallest header: 2-byte code + empty value (2 + NUL). Bounds the allocation below.
    if usize::from(count) > f.rest.len() / 5 {
        return Err(ProtocolError::TooManyHeaders(count));
    }
    let mut headers = Vec::with_capacity(usize::from(count));
    for _ in 0..count {
        let name: &[u8] = match f.peek_u16() {
            Some(c) if c & 0xFF00 == 0xA000 => {
                f.u16("header code")?;
                response_header_name(c)
                    .ok_or(ProtocolError::UnknownHeaderCode(c))?
                    .as_bytes()
            }
            _ => {
                let n = f.required("header name")?;
                if !is_token(n) {
                    return Err(ProtocolError::BadHeaderName);
                }
                n
            }
        };
        let value = f.required("header value")?;
        if !value.iter().all(|&b| b == b'\t' || !b.is_ascii_control()) {
            return Err(ProtocolError::BadHeaderValue);
        }
        headers.push((name, value));
    }
    Ok(Reply::SendHeaders {
        status,
        reason,
        headers,
    })
}

/// Where a request exchange stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExchangeState {
    /// Request sent, no SEND_HEADERS yet.
    AwaitHeaders,
    /// Headers delivered, body chunks may follow.
    Body,
    /// END_RESPONSE seen.
    Done { reuse: bool },
    /// Protocol violated or [`Exchange::fail`] called: close the connection.
    Failed,
}

/// What the handler must do next.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action<'a> {
    /// Set status, reason (empty ⇒ httpd's own) and headers on the client response.
    SendHeaders {
        status: u16,
        reason: &'a [u8],
        headers: Vec<(&'a [u8], &'a [u8])>,
    },
    /// Pass response body bytes on (discard for HEAD/204/304).
    Body(&'a [u8]),
    /// Flush what was passed on so far (ignorable before headers).
    Flush,
    /// Read at most `max` request body bytes from the client and send them as one body
    /// packet, then call [`Exchange::body_packet_sent`]. `max == 0`: the body is already
    /// over, send the empty packet.
    SendBodyChunk { max: usize },
    /// Response complete. Reuse the connection only if `reuse` and nothing else is
    /// readable on it.
    Done { reuse: bool },
}

/// Protocol state of one request on one backend connection, fed with decoded replies.
///
/// Besides ordering rules it records what the backend has seen and what the client has
/// got, which is what retry decisions hinge on: [`Exchange::upload_started`] (the backend
/// pulled body data, no second chance with most of it gone),
/// [`Exchange::headers_received`] (something was committed to the client).
#[derive(Clone, Debug)]
pub struct Exchange {
    state: ExchangeState,
    max_packet: usize,
    body: BodyMode,
    body_sent: u64,
    body_finished: bool,
    upload_started: bool,
    body_requests: u32,
    headers_received: bool,
    response_body_bytes: u64,
    replies: u64,
}

impl Exchange {
    pub fn new(body: BodyMode, max_packet: usize) -> Self {
        Exchange {
            state: ExchangeState::AwaitHeaders,
            max_packet: clamp_packet_size(max_packet),
            body,
            body_sent: 0,
            body_finished: matches!(body, BodyMode::None | BodyMode::Length(0)),
            upload_started: false,
            body_requests: 0,
            headers_received: false,
            response_body_bytes: 0,
            replies: 0,
        }
    }

    /// Size of the body packet to send unasked right after FORWARD_REQUEST: only for a
    /// known non-zero length, and only before any body was sent. Sending it when the
    /// length is 0 or unknown would be read as the next request.
    pub fn first_body_chunk(&self) -> Option<usize> {
        match self.body {
            BodyMode::Length(n) if n > 0 && self.body_sent == 0 && !self.body_finished => {
                Some(clamp_u64(n, body_chunk_capacity(self.max_packet)))
            }
            _ => None,
        }
    }

    /// Records a body packet of `len` data bytes written to the backend; 0 = the empty
    /// end-of-body packet (also what to send when the client body ended early).
    pub fn body_packet_sent(&mut self, len: usize) {
        if len == 0 {
            self.body_finished = true;
            return;
        }
        self.body_sent = self.body_sent.saturating_add(len as u64);
        if let BodyMode::Length(n) = self.body {
            if self.body_sent >= n {
                self.body_finished = true;
            }
        }
    }

    /// Feeds one decoded reply. An error moves the exchange to `Failed` for good.
    pub fn on_reply<'a>(&mut self, reply: Reply<'a>) -> Result<Action<'a>, ProtocolError> {
        let res = self.step(reply);
        if res.is_err() {
            self.state = ExchangeState::Failed;
        }
        res
    }

    fn step<'a>(&mut self, reply: Reply<'a>) -> Result<Action<'a>, ProtocolError> {
        use ExchangeState::*;
        match self.state {
            Failed => return Err(ProtocolError::Failed),
            Done { .. } => return Err(ProtocolError::AfterEnd(reply.code())),
            AwaitHeaders | Body => {}
        }
        self.replies += 1;
        match reply {
            Reply::CPong => Err(ProtocolError::Unexpected(code::CPONG)),
            Reply::GetBodyChunk(requested) => {
                self.upload_started = true;
                self.body_requests = self.body_requests.saturating_add(1);
                Ok(Action::SendBodyChunk {
                    max: self.next_body_max(requested),
                })
            }
            Reply::SendHeaders {
                status,
                reason,
                headers,
            } => {
                if self.state != AwaitHeaders {
                    return Err(ProtocolError::DuplicateHeaders);
                }
                if !(200..=599).contains(&status) {
                    return Err(ProtocolError::StatusNotAllowed(status));
                }
                self.state = Body;
                self.headers_received = true;
                Ok(Action::SendHeaders {
                    status,
                    reason,
                    headers,
                })
            }
            // Tomcat flushes before it has headers (mod_jk ignores it too).
            Reply::SendBodyChunk([]) => Ok(Action::Flush),
            Reply::SendBodyChunk(data) => {
                if self.state != Body {
                    return Err(ProtocolError::BodyBeforeHeaders);
                }
                self.response_body_bytes += data.len() as u64;
                Ok(Action::Body(data))
            }
            Reply::EndResponse { reuse } => {
                if self.state != Body {
                    return Err(ProtocolError::EndWithoutHeaders);
                }
                self.state = Done { reuse };
                Ok(Action::Done { reuse })
            }
        }
    }

    fn next_body_max(&self, requested: u16) -> usize {
        if self.body_finished {
            return 0;
        }
        let max = usize::from(requested).min(body_chunk_capacity(self.max_packet));
        match self.body {
            BodyMode::Length(n) => clamp_u64(n.saturating_sub(self.body_sent), max),
            BodyMode::Unknown => max,
            BodyMode::None => 0,
        }
    }

    /// Marks the exchange failed after an I/O error or timeout seen by the caller.
    pub fn fail(&mut self) {
        self.state = ExchangeState::Failed;
    }

    pub fn state(&self) -> ExchangeState {
        self.state
    }

    /// END_RESPONSE with reuse=1 and no error. The caller still has to make sure no
    /// further bytes are pending on the socket.
    pub fn is_reusable(&self) -> bool {
        self.state == ExchangeState::Done { reuse: true }
    }

    /// The backend asked for body data at least once.
    pub fn upload_started(&self) -> bool {
        self.upload_started
    }

    /// Number of GET_BODY_CHUNK requests seen.
    pub fn body_requests(&self) -> u32 {
        self.body_requests
    }

    /// SEND_HEADERS was accepted and handed to the caller.
    pub fn headers_received(&self) -> bool {
        self.headers_received
    }

    /// Request body bytes recorded as sent.
    pub fn request_body_sent(&self) -> u64 {
        self.body_sent
    }

    /// The whole request body (or the end-of-body packet) went out.
    pub fn request_body_finished(&self) -> bool {
        self.body_finished
    }

    /// Response body bytes handed to the caller.
    pub fn response_body_bytes(&self) -> u64 {
        self.response_body_bytes
    }

    /// Replies accepted or rejected so far (not counting after the end).
    pub fn replies(&self) -> u64 {
        self.replies
    }
}

fn clamp_u64(n: u64, max: usize) -> usize {
    usize::try_from(n).map_or(max, |n| n.min(max))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const M: usize = 8192;

    /// Builds a reply packet around `payload`, length computed here.
    fn pkt(payload: &[u8]) -> Vec<u8> {
        let mut v = b"AB".to_vec();
        v.extend_from_slice(&(payload.len() as u16).to_be_bytes());
        v.extend_from_slice(payload);
        v
    }

    fn ok(buf: &[u8]) -> (Reply<'_>, usize) {
        decode_reply(buf, M).unwrap().unwrap()
    }

    fn err(buf: &[u8]) -> ProtocolError {
        decode_reply(buf, M).unwrap_err()
    }

    const HEADERS_200: &[u8] =
        b"AB\x00\x19\x04\x00\xC8\x00\x02OK\x00\x00\x01\xA0\x01\x00\x0Atext/plain\x00";
    const CHUNK_HELLO: &[u8] = b"AB\x00\x09\x03\x00\x05hello\x00";
    const END_REUSE: &[u8] = b"AB\x00\x02\x05\x01";
    const CPONG: &[u8] = b"AB\x00\x01\x09";

    #[test]
    fn golden_replies() {
        let (r, n) = ok(HEADERS_200);
        assert_eq!(n, HEADERS_200.len());
        assert_eq!(
            r,
            Reply::SendHeaders {
                status: 200,
                reason: b"OK",
                headers: vec![(b"Content-Type", b"text/plain")],
            }
        );
        assert_eq!(ok(CHUNK_HELLO), (Reply::SendBodyChunk(b"hello"), 13));
        assert_eq!(ok(END_REUSE), (Reply::EndResponse { reuse: true }, 6));
        assert_eq!(
            ok(b"AB\x00\x02\x05\x00").0,
            Reply::EndResponse { reuse: false }
        );
        assert_eq!(
            ok(b"AB\x00\x02\x05\x07").0,
            Reply::EndResponse { reuse: false }
        );
        assert_eq!(ok(CPONG), (Reply::CPong, 5));
        assert_eq!(ok(b"AB\x00\x03\x06\x1F\xFA").0, Reply::GetBodyChunk(8186));
        assert_eq!(ok(b"AB\x00\x03\x06\xFF\xFF").0, Reply::GetBodyChunk(0xFFFF));
        assert_eq!(
            ok(b"AB\x00\x04\x03\x00\x00\x00").0,
            Reply::SendBodyChunk(b"")
        );
    }

    #[test]
    fn string_named_headers_null_reason_and_stream_of_packets() {
        let p = pkt(b"\x04\x01\x2D\xFF\xFF\x00\x03\
            \x00\x08X-Custom\x00\x00\x03a\tb\x00\
            \xA0\x07\x00\x03a=1\x00\
            \xA0\x07\x00\x03b=2\x00");
        let mut stream = p.clone();
        stream.extend_from_slice(END_REUSE);
        let (r, n) = ok(&stream);
        assert_eq!(n, p.len());
        assert_eq!(
            r,
            Reply::SendHeaders {
                status: 301,
                reason: b"",
                headers: vec![
                    (b"X-Custom", b"a\tb"),
                    (b"Set-Cookie", b"a=1"),
                    (b"Set-Cookie", b"b=2"),
                ],
            }
        );
        assert_eq!(ok(&stream[n..]).0, Reply::EndResponse { reuse: true });
    }

    #[test]
    fn every_prefix_of_a_valid_reply_needs_more() {
        let big = {
            let mut payload = vec![0x03];
            payload.extend_from_slice(&100u16.to_be_bytes());
            payload.extend(std::iter::repeat_n(b'x', 100));
            payload.push(0);
            pkt(&payload)
        };
        for full in [HEADERS_200, CHUNK_HELLO, END_REUSE, CPONG, &big[..]] {
            for cut in 0..full.len() {
                assert_eq!(decode_reply(&full[..cut], M), Ok(None), "cut at {cut}");
            }
            assert!(decode_reply(full, M).unwrap().is_some());
        }
    }

    #[test]
    fn bad_magic_is_seen_as_early_as_possible() {
        assert_eq!(err(b"X"), ProtocolError::BadMagic([b'X', 0]));
        assert_eq!(
            err(b"AC\x00\x02\x05\x01"),
            ProtocolError::BadMagic([b'A', b'C'])
        );
        // The request magic coming back (a confused peer) is not a reply.
        assert_eq!(
            err(b"\x12\x34\x00\x01\x09"),
            ProtocolError::BadMagic([0x12, 0x34])
        );
    }

    #[test]
    fn declared_length_is_checked_against_max_packet_before_waiting() {
        for max in [8192usize, 16384, 65536] {
            for declared in (max - 5)..=(max + 4) {
                let Ok(d) = u16::try_from(declared) else {
                    continue;
                };
                let hdr = [b'A', b'B', (d >> 8) as u8, d as u8];
                let res = decode_reply(&hdr, max);
                if declared + 4 <= max {
                    assert_eq!(res, Ok(None), "max {max} declared {declared}");
                } else {
                    assert_eq!(
                        res,
                        Err(ProtocolError::PacketTooLong {
                            size: declared + 4,
                            max
                        }),
                        "max {max} declared {declared}"
                    );
                }
            }
            let res = decode_reply(b"AB\xFF\xFF", max);
            assert_eq!(
                res,
                Err(ProtocolError::PacketTooLong {
                    size: 0xFFFF + 4,
                    max
                })
            );
        }
        // Exactly max_packet is fine when complete.
        let mut payload = vec![0x03];
        payload.extend_from_slice(&((M - 8) as u16).to_be_bytes());
        payload.resize(M - 4 - 1, b'y');
        payload.push(0);
        let p = pkt(&payload);
        assert_eq!(p.len(), M);
        assert_eq!(ok(&p).1, M);
        assert_eq!(err(b"AB\x00\x00"), ProtocolError::EmptyPacket);
    }

    #[test]
    fn strings_are_bounded_by_the_packet_not_the_buffer() {
        // Header value claims 0x0100 bytes; the packet ends after 3 of them, and the
        // bytes that follow in the buffer (a body chunk) must not be used.
        let p = pkt(b"\x04\x00\xC8\x00\x02OK\x00\x00\x01\x00\x01X\x00\x01\x00abc");
        let mut buf = p.clone();
        buf.extend_from_slice(&pkt(&[&b"\x03\x01\x00"[..], &[b'z'; 257][..]].concat()));
        assert_eq!(err(&buf), ProtocolError::Truncated("header value"));
        assert_eq!(err(&p), ProtocolError::Truncated("header value"));
        // Reason length past the end.
        assert_eq!(
            err(&pkt(b"\x04\x00\xC8\x00\x10OK\x00")),
            ProtocolError::Truncated("reason phrase")
        );
        // Name string over-run.
        assert_eq!(
            err(&pkt(
                b"\x04\x00\xC8\x00\x02OK\x00\x00\x01\x00\x40X-A\x00\x00\x01v\x00"
            )),
            ProtocolError::Truncated("header name")
        );
    }

    #[test]
    fn nul_terminators_are_verified() {
        assert_eq!(
            err(&pkt(b"\x04\x00\xC8\x00\x02OKX\x00\x00")),
            ProtocolError::MissingNul("reason phrase")
        );
        assert_eq!(
            err(&pkt(
                b"\x04\x00\xC8\x00\x02OK\x00\x00\x01\x00\x01XZ\x00\x01v\x00"
            )),
            ProtocolError::MissingNul("header name")
        );
        assert_eq!(
            err(&pkt(
                b"\x04\x00\xC8\x00\x02OK\x00\x00\x01\x00\x01X\x00\x00\x03abcZ"
            )),
            ProtocolError::MissingNul("header value")
        );
        assert_eq!(
            err(b"AB\x00\x09\x03\x00\x05helloZ"),
            ProtocolError::MissingNul("body chunk")
        );
    }

    #[test]
    fn null_strings_only_where_allowed() {
        assert_eq!(
            err(&pkt(
                b"\x04\x00\xC8\x00\x02OK\x00\x00\x02\xA0\x01\xFF\xFF\xA0\x01\x00\x01v\x00"
            )),
            ProtocolError::NullString("header value")
        );
        assert_eq!(
            err(&pkt(
                b"\x04\x00\xC8\x00\x02OK\x00\x00\x01\xFF\xFF\x00\x01v\x00"
            )),
            ProtocolError::NullString("header name")
        );
    }

    #[test]
    fn body_chunk_length_must_match_the_packet() {
        // Over-long: CVE-2006-7197.
        assert_eq!(
            err(b"AB\x00\x09\x03\x10\x00hello\x00"),
            ProtocolError::ChunkLength {
                declared: 0x1000,
                available: 6
            }
        );
        // Short packets with huge lengths: CVE-2026-34059.
        assert_eq!(
            err(b"AB\x00\x03\x03\xFF\xFC"),
            ProtocolError::ChunkLength {
                declared: 0xFFFC,
                available: 0
            }
        );
        assert_eq!(
            err(b"AB\x00\x03\x03\xFF\xFF"),
            ProtocolError::ChunkLength {
                declared: 0xFFFF,
                available: 0
            }
        );
        assert_eq!(
            err(b"AB\x00\x01\x03"),
            ProtocolError::Truncated("body chunk length")
        );
        assert_eq!(
            err(b"AB\x00\x02\x03\x00"),
            ProtocolError::Truncated("body chunk length")
        );
        // No NUL at all (length covers data exactly).
        assert_eq!(
            err(b"AB\x00\x08\x03\x00\x05hello"),
            ProtocolError::ChunkLength {
                declared: 5,
                available: 5
            }
        );
        // Declared shorter than the packet: trailing bytes are not skipped.
        assert_eq!(
            err(b"AB\x00\x09\x03\x00\x03hello\x00"),
            ProtocolError::ChunkLength {
                declared: 3,
                available: 6
            }
        );
    }

    #[test]
    fn header_count_is_bounded_by_the_packet() {
        let p = pkt(b"\x04\x00\xC8\x00\x02OK\x00\xFF\xFF\xA0\x01\x00\x01x\x00");
        assert_eq!(err(&p), ProtocolError::TooManyHeaders(0xFFFF));
        // Count 2 with room for one: a plausible count, caught as truncation.
        let p = pkt(b"\x04\x00\xC8\x00\x02OK\x00\x00\x02\xA0\x01\x00\x01x\x00\xA0\x01\x00\x05ab");
        assert_eq!(err(&p), ProtocolError::Truncated("header value"));
        let p = pkt(b"\x04\x00\xC8\x00\x02OK\x00\x00\x02\xA0\x01\x00\x01x\x00");
        assert_eq!(err(&p), ProtocolError::TooManyHeaders(2));
    }

    #[test]
    fn unknown_header_codes_are_rejected() {
        for c in [0xA000u16, 0xA00C, 0xA0FF] {
            let mut payload = b"\x04\x00\xC8\x00\x02OK\x00\x00\x01".to_vec();
            payload.extend_from_slice(&c.to_be_bytes());
            payload.extend_from_slice(b"\x00\x01v\x00");
            assert_eq!(err(&pkt(&payload)), ProtocolError::UnknownHeaderCode(c));
        }
        let mut payload = b"\x04\x00\xC8\x00\x02OK\x00\x00\x01\xA0\x0B\x00\x05Basic\x00".to_vec();
        assert!(decode_reply(&pkt(&payload), M).is_ok());
        payload[10] = 0xA0;
        payload[11] = 0x0C;
        assert_eq!(
            err(&pkt(&payload)),
            ProtocolError::UnknownHeaderCode(0xA00C)
        );
    }

    #[test]
    fn response_splitting_is_refused() {
        // CVE-2026-33523: reason phrase with CR/LF.
        let reason = b"OK\r\nSet-Cookie: pwn=1";
        let mut payload = b"\x04\x00\xC8".to_vec();
        payload.extend_from_slice(&(reason.len() as u16).to_be_bytes());
        payload.extend_from_slice(reason);
        payload.extend_from_slice(b"\x00\x00\x00");
        assert_eq!(err(&pkt(&payload)), ProtocolError::BadReason);
        for bad in [&b"a\rb"[..], b"a\nb", b"a\0b", b"a\x01b", b"a\x7fb"] {
            let mut payload = b"\x04\x00\xC8\x00\x00\x00\x00\x01\x00\x01X\x00".to_vec();
            payload.extend_from_slice(&(bad.len() as u16).to_be_bytes());
            payload.extend_from_slice(bad);
            payload.push(0);
            assert_eq!(
                err(&pkt(&payload)),
                ProtocolError::BadHeaderValue,
                "{bad:?}"
            );
        }
        // Obs-text passes (Latin-1 values exist in the wild).
        assert!(
            decode_reply(
                &pkt(b"\x04\x00\xC8\x00\x00\x00\x00\x01\x00\x01X\x00\x00\x01\xE9\x00"),
                M
            )
            .is_ok()
        );
        for bad in [&b"X-A\r\nSet-Cookie"[..], b"X A", b"", b"X:"] {
            let mut payload = b"\x04\x00\xC8\x00\x00\x00\x00\x01".to_vec();
            payload.extend_from_slice(&(bad.len() as u16).to_be_bytes());
            payload.extend_from_slice(bad);
            payload.extend_from_slice(b"\x00\x00\x01v\x00");
            assert_eq!(err(&pkt(&payload)), ProtocolError::BadHeaderName, "{bad:?}");
        }
    }

    #[test]
    fn status_range_at_codec_level() {
        for (s, good) in [
            (0u16, false),
            (99, false),
            (100, true),
            (101, true),
            (999, true),
            (1000, false),
        ] {
            let mut payload = vec![0x04];
            payload.extend_from_slice(&s.to_be_bytes());
            payload.extend_from_slice(b"\x00\x00\x00\x00\x00");
            let p = pkt(&payload);
            let res = decode_reply(&p, M);
            if good {
                assert!(res.is_ok(), "{s}");
            } else {
                assert_eq!(res, Err(ProtocolError::BadStatus(s)));
            }
        }
    }

    #[test]
    fn trailing_garbage_and_unknown_types() {
        assert_eq!(
            err(b"AB\x00\x03\x05\x01\x00"),
            ProtocolError::TrailingBytes { code: 5, extra: 1 }
        );
        assert_eq!(
            err(b"AB\x00\x02\x09\x00"),
            ProtocolError::TrailingBytes { code: 9, extra: 1 }
        );
        assert_eq!(
            err(b"AB\x00\x04\x06\x00\x10\x00"),
            ProtocolError::TrailingBytes { code: 6, extra: 1 }
        );
        let mut p = HEADERS_200.to_vec();
        p.push(0);
        p[3] += 1;
        assert_eq!(err(&p), ProtocolError::TrailingBytes { code: 4, extra: 1 });
        assert_eq!(
            err(b"AB\x00\x01\x05"),
            ProtocolError::Truncated("reuse flag")
        );
        assert_eq!(
            err(b"AB\x00\x02\x06\x00"),
            ProtocolError::Truncated("requested length")
        );
        for t in [0u8, 1, 2, 7, 8, 10, 11, 0x42, 0xFF] {
            assert_eq!(err(&pkt(&[t, 0, 0])), ProtocolError::UnknownType(t));
        }
    }

    fn run<'a>(ex: &mut Exchange, replies: &[&'a [u8]]) -> Vec<Result<Action<'a>, ProtocolError>> {
        replies.iter().map(|&b| ex.on_reply(ok(b).0)).collect()
    }

    #[test]
    fn exchange_happy_path() {
        let mut ex = Exchange::new(BodyMode::None, M);
        assert_eq!(ex.first_body_chunk(), None);
        let flush: &[u8] = b"AB\x00\x04\x03\x00\x00\x00";
        let out = run(
            &mut ex,
            &[
                flush,
                HEADERS_200,
                CHUNK_HELLO,
                flush,
                CHUNK_HELLO,
                END_REUSE,
            ],
        );
        assert_eq!(out[0], Ok(Action::Flush));
        assert!(matches!(
            out[1],
            Ok(Action::SendHeaders { status: 200, .. })
        ));
        assert_eq!(out[2], Ok(Action::Body(b"hello")));
        assert_eq!(out[3], Ok(Action::Flush));
        assert_eq!(out[5], Ok(Action::Done { reuse: true }));
        assert!(ex.is_reusable());
        assert!(ex.headers_received());
        assert!(!ex.upload_started());
        assert_eq!(ex.response_body_bytes(), 10);
        // Anything after the end poisons the connection (CVE-2022-1319).
        assert_eq!(
            ex.on_reply(ok(HEADERS_200).0),
            Err(ProtocolError::AfterEnd(4))
        );
        assert_eq!(ex.state(), ExchangeState::Failed);
        assert!(!ex.is_reusable());
        assert_eq!(ex.on_reply(ok(END_REUSE).0), Err(ProtocolError::Failed));
    }

    #[test]
    fn exchange_ordering_errors() {
        let cases: [(&[&[u8]], ProtocolError); 5] = [
            (&[CHUNK_HELLO], ProtocolError::BodyBeforeHeaders),
            (&[HEADERS_200, HEADERS_200], ProtocolError::DuplicateHeaders),
            (&[END_REUSE], ProtocolError::EndWithoutHeaders),
            (&[CPONG], ProtocolError::Unexpected(9)),
            (
                &[HEADERS_200, END_REUSE, b"AB\x00\x04\x03\x00\x00\x00"],
                ProtocolError::AfterEnd(3),
            ),
        ];
        for (replies, want) in cases {
            let mut ex = Exchange::new(BodyMode::None, M);
            let out = run(&mut ex, replies);
            assert_eq!(out.last().unwrap(), &Err(want.clone()));
            assert_eq!(ex.state(), ExchangeState::Failed);
        }
    }

    #[test]
    fn exchange_status_range() {
        for (s, good) in [
            (100u16, false),
            (101, false),
            (199, false),
            (200, true),
            (599, true),
            (600, false),
        ] {
            let mut payload = vec![0x04];
            payload.extend_from_slice(&s.to_be_bytes());
            payload.extend_from_slice(b"\x00\x00\x00\x00\x00");
            let p = pkt(&payload);
            let mut ex = Exchange::new(BodyMode::None, M);
            let res = ex.on_reply(ok(&p).0);
            assert_eq!(res.is_ok(), good, "{s}");
            if !good {
                assert_eq!(res, Err(ProtocolError::StatusNotAllowed(s)));
            }
        }
    }

    #[test]
    fn exchange_known_length_body() {
        let mut ex = Exchange::new(BodyMode::Length(20000), M);
        assert_eq!(ex.first_body_chunk(), Some(8186));
        ex.body_packet_sent(8186);
        assert_eq!(ex.first_body_chunk(), None);
        assert!(!ex.upload_started());
        let get = |n: u16| pkt(&[&[0x06][..], &n.to_be_bytes()].concat());
        let (g1, g2, gff) = (get(8186), get(100), get(0xFFFF));
        assert_eq!(
            ex.on_reply(ok(&g1).0),
            Ok(Action::SendBodyChunk { max: 8186 })
        );
        assert!(ex.upload_started());
        ex.body_packet_sent(8186);
        assert_eq!(
            ex.on_reply(ok(&g2).0),
            Ok(Action::SendBodyChunk { max: 100 })
        );
        ex.body_packet_sent(100);
        // 0xFFFF is capped by the packet room and by what is left.
        assert_eq!(
            ex.on_reply(ok(&gff).0),
            Ok(Action::SendBodyChunk {
                max: 20000 - 8186 - 8186 - 100
            })
        );
        ex.body_packet_sent(20000 - 8186 - 8186 - 100);
        assert!(ex.request_body_finished());
        // Asking again after the end is tolerated: empty packet.
        assert_eq!(ex.on_reply(ok(&g1).0), Ok(Action::SendBodyChunk { max: 0 }));
        assert_eq!(ex.request_body_sent(), 20000);
        assert_eq!(ex.body_requests(), 4);
        let out = run(&mut ex, &[HEADERS_200, END_REUSE]);
        assert_eq!(out[1], Ok(Action::Done { reuse: true }));
    }

    #[test]
    fn exchange_unknown_length_and_small_bodies() {
        let mut ex = Exchange::new(BodyMode::Unknown, 65536);
        assert_eq!(ex.first_body_chunk(), None);
        assert_eq!(
            ex.on_reply(ok(b"AB\x00\x03\x06\xFF\xFF").0),
            Ok(Action::SendBodyChunk { max: 65530 })
        );
        ex.body_packet_sent(10);
        assert_eq!(
            ex.on_reply(ok(b"AB\x00\x03\x06\x1F\xFA").0),
            Ok(Action::SendBodyChunk { max: 8186 })
        );
        ex.body_packet_sent(0);
        assert_eq!(
            ex.on_reply(ok(b"AB\x00\x03\x06\x1F\xFA").0),
            Ok(Action::SendBodyChunk { max: 0 })
        );

        let mut ex = Exchange::new(BodyMode::Length(5), M);
        assert_eq!(ex.first_body_chunk(), Some(5));
        ex.body_packet_sent(5);
        assert!(ex.request_body_finished());
        assert_eq!(
            ex.on_reply(ok(b"AB\x00\x03\x06\x1F\xFA").0),
            Ok(Action::SendBodyChunk { max: 0 })
        );

        // Client gave up early: the empty packet ends the body.
        let mut ex = Exchange::new(BodyMode::Length(100_000), M);
        ex.body_packet_sent(0);
        assert_eq!(ex.first_body_chunk(), None);
        assert_eq!(
            ex.on_reply(ok(b"AB\x00\x03\x06\x1F\xFA").0),
            Ok(Action::SendBodyChunk { max: 0 })
        );

        let mut ex = Exchange::new(BodyMode::None, M);
        assert_eq!(
            ex.on_reply(ok(b"AB\x00\x03\x06\x1F\xFA").0),
            Ok(Action::SendBodyChunk { max: 0 })
        );
        assert!(ex.upload_started());
    }

    #[test]
    fn exchange_reuse_zero_and_fail() {
        let mut ex = Exchange::new(BodyMode::None, M);
        let out = run(&mut ex, &[HEADERS_200, b"AB\x00\x02\x05\x00"]);
        assert_eq!(out[1], Ok(Action::Done { reuse: false }));
        assert!(!ex.is_reusable());

        let mut ex = Exchange::new(BodyMode::None, M);
        run(&mut ex, &[HEADERS_200]);
        ex.fail();
        assert_eq!(ex.on_reply(ok(END_REUSE).0), Err(ProtocolError::Failed));
        assert!(!ex.is_reusable());
    }

    /// Mutations of valid replies: the interesting inputs are near-valid ones.
    fn near_valid() -> impl Strategy<Value = Vec<u8>> {
        let seeds: Vec<Vec<u8>> = vec![
            HEADERS_200.to_vec(),
            CHUNK_HELLO.to_vec(),
            END_REUSE.to_vec(),
            CPONG.to_vec(),
            pkt(b"\x04\x01\x2D\xFF\xFF\x00\x02\x00\x08X-Custom\x00\x00\x01a\x00\xA0\x07\x00\x03a=1\x00"),
        ];
        (
            proptest::sample::select(seeds),
            proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 0..4),
        )
            .prop_map(|(mut p, edits)| {
                for (i, b) in edits {
                    let i = i.index(p.len());
                    p[i] = b;
                }
                p
            })
    }

    fn check_decode(buf: &[u8], max: usize) -> Result<(), TestCaseError> {
        let mut rest = buf;
        let mut ex = Exchange::new(BodyMode::Unknown, max);
        while let Ok(Some((reply, n))) = decode_reply(rest, max) {
            prop_assert!(n <= rest.len());
            prop_assert!(n >= 5 && n <= clamp_packet_size(max));
            if let Reply::SendBodyChunk(d) = &reply {
                prop_assert!(d.len() + 8 == n);
            }
            let _ = ex.on_reply(reply);
            rest = &rest[n..];
        }
        Ok(())
    }

    proptest! {
        #[test]
        fn decode_never_panics_on_arbitrary_bytes(
            buf in proptest::collection::vec(any::<u8>(), 0..300),
            max in 8192usize..=65536,
        ) {
            let mut buf = buf;
            // Half of the cases get a valid magic so the parser is actually reached.
            if buf.len() >= 2 && buf[0] & 1 == 0 {
                buf[0] = b'A';
                buf[1] = b'B';
            }
            if let Ok(Some((_, n))) = decode_reply(&buf, max) {
                prop_assert!(n <= buf.len());
            }
            check_decode(&buf, max)?;
        }

        #[test]
        fn decode_never_panics_on_mutated_replies(
            a in near_valid(),
            b in near_valid(),
            cut in any::<prop::sample::Index>(),
            max in 8192usize..=65536,
        ) {
            let mut buf = a;
            buf.extend_from_slice(&b);
            let cut = cut.index(buf.len() + 1);
            check_decode(&buf[..cut], max)?;
        }
    }
}
