//! AJP13 codec, sans-IO.
//!
//! Nothing here touches a socket, httpd or a clock: callers hand in bytes and get bytes or
//! decisions back, so every rule can be unit-tested and fuzzed (`fuzz/`).
//!
//! * [`request`] builds what the web server sends: FORWARD_REQUEST, body packets, CPING.
//! * [`reply`] parses what the container sends ([`decode_reply`]) and keeps the per-request
//!   protocol state ([`Exchange`]) that decides whether a connection may be reused and
//!   whether a failed request may still be retried.
//! * [`upload_window`] decides which request body packets may travel before the container
//!   asks for them, and whether a connection that had some may be reused.
//!
//! A typical request, in handler order:
//!
//! ```text
//! let mode = body_mode(content_length, chunked);
//! encode_forward_request(&req /* body: mode */, max_packet, &mut out)?   // 413 / 400
//! let mut ex = Exchange::new(mode, max_packet);
//! if let Some(n) = ex.first_body_chunk() { read <= n bytes from client;
//!     encode_body_chunk(..); ex.body_packet_sent(read) }                // unsolicited packet
//! loop { decode_reply(&buf, max_packet)? -> reply; match ex.on_reply(reply)? {
//!     SendHeaders{..} => set status/headers, Body(b) => pass on, Flush => flush,
//!     SendBodyChunk{max} => read <= max from client, encode, ex.body_packet_sent(n),
//!     Done{reuse} => release (reuse && nothing pending) or close } }
//! ```
//!
//! Any `Err` from the decoder or the exchange means the connection is unusable: close it.

pub mod relay;
pub mod reply;
pub mod request;
pub mod upload;
pub mod upload_window;

pub use reply::{
    Action, Exchange, ExchangeState, ProtocolError, Reply, decode_reply, peek_reply_len,
};
pub use request::{
    BodyMode, EncodeError, Field, ForwardRequest, body_mode, encode_body_chunk, encode_body_end,
    encode_cping, encode_forward_request,
};

/// Smallest `max_packet_size` mod_jk and Tomcat accept (also the default).
pub const MIN_PACKET_SIZE: usize = 8192;
/// Largest `max_packet_size`: the 16-bit length field plus the 4-byte header.
pub const MAX_PACKET_SIZE: usize = 65536;
/// Default `max_packet_size`.
pub const DEFAULT_PACKET_SIZE: usize = MIN_PACKET_SIZE;
/// A configured `max_packet_size` is rounded up to a multiple of this (mod_jk's rule).
pub const PACKET_SIZE_ALIGN: usize = 1024;

// Rounding up within the bounds stays within them.
const _: () =
    assert!(MIN_PACKET_SIZE % PACKET_SIZE_ALIGN == 0 && MAX_PACKET_SIZE % PACKET_SIZE_ALIGN == 0);
/// Magic + 16-bit length, in front of every packet in both directions.
pub const HEADER_LEN: usize = 4;

/// Magic of web server → container packets.
pub const REQUEST_MAGIC: [u8; 2] = [0x12, 0x34];
/// Magic of container → web server packets (`"AB"`).
pub const REPLY_MAGIC: [u8; 2] = [b'A', b'B'];

/// The complete CPING packet.
pub const CPING_PACKET: [u8; 5] = [0x12, 0x34, 0x00, 0x01, code::CPING];

/// Message type bytes (first payload byte).
pub mod code {
    pub const FORWARD_REQUEST: u8 = 2;
    pub const SEND_BODY_CHUNK: u8 = 3;
    pub const SEND_HEADERS: u8 = 4;
    pub const END_RESPONSE: u8 = 5;
    pub const GET_BODY_CHUNK: u8 = 6;
    pub const SHUTDOWN: u8 = 7;
    pub const PING: u8 = 8;
    pub const CPONG: u8 = 9;
    pub const CPING: u8 = 10;
}

/// FORWARD_REQUEST attribute codes.
pub mod attr {
    pub const CONTEXT: u8 = 0x01;
    pub const SERVLET_PATH: u8 = 0x02;
    pub const REMOTE_USER: u8 = 0x03;
    pub const AUTH_TYPE: u8 = 0x04;
    pub const QUERY_STRING: u8 = 0x05;
    pub const ROUTE: u8 = 0x06;
    pub const SSL_CERT: u8 = 0x07;
    pub const SSL_CIPHER: u8 = 0x08;
    pub const SSL_SESSION: u8 = 0x09;
    pub const REQ_ATTRIBUTE: u8 = 0x0A;
    pub const SSL_KEY_SIZE: u8 = 0x0B;
    pub const SECRET: u8 = 0x0C;
    pub const STORED_METHOD: u8 = 0x0D;
    pub const ARE_DONE: u8 = 0xFF;

    /// `req_attribute` names Tomcat treats specially.
    pub const NAME_REMOTE_PORT: &[u8] = b"AJP_REMOTE_PORT";
    pub const NAME_LOCAL_ADDR: &[u8] = b"AJP_LOCAL_ADDR";
    pub const NAME_SSL_PROTOCOL: &[u8] = b"AJP_SSL_PROTOCOL";
    pub const NAME_LB_ACTIVATION: &[u8] = b"JK_LB_ACTIVATION";
}

/// Method byte used when the method has no code; the name travels as `STORED_METHOD`.
pub const METHOD_STORED: u8 = 0xFF;

/// Methods with a code, index + 1 = code.
const METHODS: [&str; 27] = [
    "OPTIONS",
    "GET",
    "HEAD",
    "POST",
    "PUT",
    "DELETE",
    "TRACE",
    "PROPFIND",
    "PROPPATCH",
    "MKCOL",
    "COPY",
    "MOVE",
    "LOCK",
    "UNLOCK",
    "ACL",
    "REPORT",
    "VERSION-CONTROL",
    "CHECKIN",
    "CHECKOUT",
    "UNCHECKOUT",
    "SEARCH",
    "MKWORKSPACE",
    "UPDATE",
    "LABEL",
    "MERGE",
    "BASELINE-CONTROL",
    "MKACTIVITY",
];

/// Request header names with a code, index + 1 = low byte of `0xA0xx`. Lower case because
/// matching is case-insensitive.
const REQUEST_HEADERS: [&str; 14] = [
    "accept",
    "accept-charset",
    "accept-encoding",
    "accept-language",
    "authorization",
    "connection",
    "content-type",
    "content-length",
    "cookie",
    "cookie2",
    "host",
    "pragma",
    "referer",
    "user-agent",
];

/// Response header names with a code, index + 1 = low byte of `0xA0xx`, spelled the way
/// mod_jk hands them to httpd.
const RESPONSE_HEADERS: [&str; 11] = [
    "Content-Type",
    "Content-Language",
    "Content-Length",
    "Date",
    "Last-Modified",
    "Location",
    "Set-Cookie",
    "Set-Cookie2",
    "Servlet-Engine",
    "Status",
    "WWW-Authenticate",
];

/// Code of `0xA008` (content-length) in the request header table; the encoder owns it.
pub(crate) const REQ_CONTENT_LENGTH: u16 = 0xA008;

/// AJP method code; case-sensitive like mod_jk (`get` is not `GET`). `None` ⇒ stored method.
pub fn method_code(method: &[u8]) -> Option<u8> {
    METHODS
        .iter()
        .position(|m| m.as_bytes() == method)
        .map(|i| i as u8 + 1)
}

/// Method name for a code, `None` for 0, 0xFF and anything past the table.
pub fn method_name(code: u8) -> Option<&'static str> {
    METHODS.get(usize::from(code).checked_sub(1)?).copied()
}

/// `0xA0xx` code for a request header whose name matches a table entry exactly (ASCII
/// case-insensitively). A prefix is not a match: `Content-Length-X` goes out as a string.
pub fn request_header_code(name: &[u8]) -> Option<u16> {
    REQUEST_HEADERS
        .iter()
        .position(|h| h.as_bytes().eq_ignore_ascii_case(name))
        .map(|i| 0xA001 + i as u16)
}

/// Name of a coded response header, `None` for codes outside `0xA001..=0xA00B`.
pub fn response_header_name(code: u16) -> Option<&'static str> {
    if code & 0xFF00 != 0xA000 {
        return None;
    }
    RESPONSE_HEADERS
        .get(usize::from(code & 0xFF).checked_sub(1)?)
        .copied()
}

/// `0xA0xx` code for a response header name (exact, case-insensitive), for encoders of
/// replies (tests, tools).
pub fn response_header_code(name: &[u8]) -> Option<u16> {
    RESPONSE_HEADERS
        .iter()
        .position(|h| h.as_bytes().eq_ignore_ascii_case(name))
        .map(|i| 0xA001 + i as u16)
}

/// Forces a configured packet size into what both ends can handle, so a bad value can
/// never overflow the 16-bit length field or shrink buffers below what Tomcat sends.
pub fn clamp_packet_size(max_packet: usize) -> usize {
    max_packet.clamp(MIN_PACKET_SIZE, MAX_PACKET_SIZE)
}

/// Largest request body slice one data packet carries: header (4) + data length (2).
pub fn body_chunk_capacity(max_packet: usize) -> usize {
    clamp_packet_size(max_packet) - 6
}

/// Largest response body slice one SEND_BODY_CHUNK carries: header (4) + type (1) +
/// length (2) + NUL (1). What Tomcat uses when it fills packets.
pub fn reply_chunk_capacity(max_packet: usize) -> usize {
    clamp_packet_size(max_packet) - 8
}

/// RFC 9110 `tchar`.
pub(crate) fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// Non-empty RFC 9110 token.
pub(crate) fn is_token(s: &[u8]) -> bool {
    !s.is_empty() && s.iter().all(|&b| is_tchar(b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn method_codes_follow_the_table() {
        assert_eq!(method_code(b"OPTIONS"), Some(1));
        assert_eq!(method_code(b"GET"), Some(2));
        assert_eq!(method_code(b"DELETE"), Some(6));
        assert_eq!(method_code(b"PROPFIND"), Some(8));
        assert_eq!(method_code(b"VERSION-CONTROL"), Some(17));
        assert_eq!(method_code(b"BASELINE-CONTROL"), Some(26));
        assert_eq!(method_code(b"MKACTIVITY"), Some(27));
        assert_eq!(method_code(b"PATCH"), None);
        assert_eq!(method_code(b"get"), None);
        assert_eq!(method_code(b""), None);
        for c in 1..=27u8 {
            assert_eq!(method_code(method_name(c).unwrap().as_bytes()), Some(c));
        }
        assert_eq!(method_name(0), None);
        assert_eq!(method_name(28), None);
        assert_eq!(method_name(0xFF), None);
    }

    #[test]
    fn request_header_codes_are_exact_and_case_insensitive() {
        assert_eq!(request_header_code(b"Accept"), Some(0xA001));
        assert_eq!(request_header_code(b"CONTENT-LENGTH"), Some(0xA008));
        assert_eq!(request_header_code(b"cookie2"), Some(0xA00A));
        assert_eq!(request_header_code(b"Host"), Some(0xA00B));
        assert_eq!(request_header_code(b"User-Agent"), Some(0xA00E));
        assert_eq!(request_header_code(b"Content-Length-X"), None);
        assert_eq!(request_header_code(b"Hos"), None);
        assert_eq!(request_header_code(b"Accept-"), None);
        assert_eq!(request_header_code(b"Cookie3"), None);
    }

    #[test]
    fn response_header_table() {
        assert_eq!(response_header_name(0xA001), Some("Content-Type"));
        assert_eq!(response_header_name(0xA007), Some("Set-Cookie"));
        assert_eq!(response_header_name(0xA00B), Some("WWW-Authenticate"));
        assert_eq!(response_header_name(0xA000), None);
        assert_eq!(response_header_name(0xA00C), None);
        assert_eq!(response_header_name(0xB001), None);
        assert_eq!(response_header_code(b"set-cookie"), Some(0xA007));
    }

    #[test]
    fn capacities() {
        assert_eq!(body_chunk_capacity(8192), 8186);
        assert_eq!(body_chunk_capacity(65536), 65530);
        assert_eq!(body_chunk_capacity(0), 8186);
        assert_eq!(body_chunk_capacity(1 << 20), 65530);
        assert_eq!(reply_chunk_capacity(8192), 8184);
        assert_eq!(CPING_PACKET, [0x12, 0x34, 0x00, 0x01, 0x0A]);
    }
}
