//! The container side of AJP13, written separately from `mod_rjk::ajp` on purpose: the
//! fake is the oracle the module is tested against, so it must not share its mistakes.

use std::io::{self, Read};

/// Request header codes 0xA001.., lower-case.
const REQ_HEADERS: [&str; 14] = [
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

/// Method codes 1..=27.
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

/// Response header codes used by the fake.
pub const RES_CONTENT_TYPE: u16 = 0xA001;
pub const RES_CONTENT_LENGTH: u16 = 0xA003;
pub const RES_SET_COOKIE: u16 = 0xA007;

/// A received web server packet.
pub struct Packet {
    /// Length field as sent.
    pub declared: usize,
    pub payload: Vec<u8>,
}

/// What went wrong reading a packet. `Eof` before the first byte is a normal close.
#[derive(Debug)]
pub enum ReadError {
    Eof,
    Io(io::Error),
    Protocol(String),
}

impl From<io::Error> for ReadError {
    fn from(e: io::Error) -> Self {
        if e.kind() == io::ErrorKind::UnexpectedEof {
            ReadError::Protocol("connection closed inside a packet".into())
        } else {
            ReadError::Io(e)
        }
    }
}

/// Reads one `0x12 0x34` packet, enforcing `max_packet` like Tomcat's `packetSize`.
pub fn read_packet(r: &mut impl Read, max_packet: usize) -> Result<Packet, ReadError> {
    let mut hdr = [0u8; 4];
    let mut got = 0;
    while got < 4 {
        match r.read(&mut hdr[got..]) {
            Ok(0) if got == 0 => return Err(ReadError::Eof),
            Ok(0) => {
                return Err(ReadError::Protocol(
                    "connection closed inside a header".into(),
                ));
            }
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(ReadError::Io(e)),
        }
    }
    if hdr[0] != 0x12 || hdr[1] != 0x34 {
        return Err(ReadError::Protocol(format!(
            "bad magic {:02x}{:02x}",
            hdr[0], hdr[1]
        )));
    }
    let declared = usize::from(hdr[2]) << 8 | usize::from(hdr[3]);
    if declared + 4 > max_packet {
        return Err(ReadError::Protocol(format!(
            "packet length {declared} over max {max_packet}"
        )));
    }
    let mut payload = vec![0; declared];
    r.read_exact(&mut payload)?;
    Ok(Packet { declared, payload })
}

/// Data of a request body packet; `None` = the empty end-of-body packet.
pub fn body_data(p: &Packet) -> Result<Option<&[u8]>, String> {
    if p.payload.is_empty() {
        return Ok(None);
    }
    if p.payload.len() < 2 {
        return Err("body packet shorter than its length field".into());
    }
    let n = usize::from(p.payload[0]) << 8 | usize::from(p.payload[1]);
    if n == 0 {
        return Ok(None);
    }
    if n + 2 != p.payload.len() {
        return Err(format!(
            "body length {n} but packet carries {}",
            p.payload.len() - 2
        ));
    }
    Ok(Some(&p.payload[2..]))
}

pub struct Header {
    pub name: Vec<u8>,
    pub value: Vec<u8>,
    pub code: Option<u16>,
}

pub struct Attr {
    pub code: u8,
    /// Symbolic name for coded attributes, the sent name for req_attribute (0x0A).
    pub name: Vec<u8>,
    /// Key size rendered in decimal.
    pub value: Vec<u8>,
}

pub struct Request {
    pub method_code: u8,
    pub method: Vec<u8>,
    pub protocol: Vec<u8>,
    pub uri: Vec<u8>,
    pub remote_addr: Vec<u8>,
    pub remote_host: Option<Vec<u8>>,
    pub server_name: Vec<u8>,
    pub server_port: u16,
    pub is_ssl: bool,
    pub headers: Vec<Header>,
    pub attrs: Vec<Attr>,
}

impl Request {
    pub fn attr(&self, name: &str) -> Option<&[u8]> {
        self.attrs
            .iter()
            .find(|a| a.name == name.as_bytes())
            .map(|a| &a.value[..])
    }

    /// `Err` when present but not a number: Tomcat answers 400 then.
    pub fn content_length(&self) -> Result<Option<u64>, String> {
        let mut all = self
            .headers
            .iter()
            .filter(|h| h.name.eq_ignore_ascii_case(b"content-length"));
        let Some(first) = all.next() else {
            return Ok(None);
        };
        if all.next().is_some() {
            return Err("duplicate content-length".into());
        }
        std::str::from_utf8(&first.value)
            .ok()
            .and_then(|s| s.parse().ok())
            .map(Some)
            .ok_or_else(|| "bad content-length".into())
    }
}

struct Rd<'a> {
    b: &'a [u8],
    at: usize,
}

impl Rd<'_> {
    fn byte(&mut self) -> Result<u8, String> {
        let v = *self.b.get(self.at).ok_or("truncated byte")?;
        self.at += 1;
        Ok(v)
    }

    fn int(&mut self) -> Result<u16, String> {
        Ok(u16::from(self.byte()?) << 8 | u16::from(self.byte()?))
    }

    fn peek_int(&self) -> Option<u16> {
        let hi = *self.b.get(self.at)?;
        let lo = *self.b.get(self.at + 1)?;
        Some(u16::from(hi) << 8 | u16::from(lo))
    }

    fn string(&mut self) -> Result<Option<Vec<u8>>, String> {
        let n = self.int()?;
        if n == 0xFFFF {
            return Ok(None);
        }
        let end = self.at + usize::from(n);
        let s = self
            .b
            .get(self.at..end)
            .ok_or("string past end of packet")?
            .to_vec();
        self.at = end;
        if self.byte()? != 0 {
            return Err("string without NUL".into());
        }
        Ok(Some(s))
    }

    fn req_string(&mut self, what: &str) -> Result<Vec<u8>, String> {
        self.string()?.ok_or_else(|| format!("null {what}"))
    }
}

/// Parses a FORWARD_REQUEST payload (type byte included), strictly: anything Tomcat would
/// choke on is an error here too, so the test sees it.
pub fn parse_forward_request(payload: &[u8]) -> Result<Request, String> {
    let mut r = Rd { b: payload, at: 0 };
    if r.byte()? != 2 {
        return Err("not a FORWARD_REQUEST".into());
    }
    let method_code = r.byte()?;
    let protocol = r.req_string("protocol")?;
    let uri = r.req_string("req_uri")?;
    let remote_addr = r.req_string("remote_addr")?;
    let remote_host = r.string()?;
    let server_name = r.req_string("server_name")?;
    let server_port = r.int()?;
    let is_ssl = match r.byte()? {
        0 => false,
        1 => true,
        x => return Err(format!("is_ssl {x}")),
    };
    let n = r.int()?;
    let mut headers = Vec::new();
    for _ in 0..n {
        let (name, code) = match r.peek_int() {
            Some(c) if c >> 8 == 0xA0 => {
                r.int()?;
                let i = usize::from(c & 0xFF);
                let name = i
                    .checked_sub(1)
                    .and_then(|i| REQ_HEADERS.get(i))
                    .ok_or_else(|| format!("unknown request header code {c:#x}"))?;
                (name.as_bytes().to_vec(), Some(c))
            }
            _ => (r.req_string("header name")?, None),
        };
        let value = r.req_string("header value")?;
        headers.push(Header { name, value, code });
    }
    let mut attrs = Vec::new();
    loop {
        let code = r.byte()?;
        let named = |s: &str| s.as_bytes().to_vec();
        let (name, value) = match code {
            0xFF => break,
            0x0A => {
                let name = r.req_string("attribute name")?;
                (name, r.req_string("attribute value")?)
            }
            0x0B => (named("ssl_key_size"), r.int()?.to_string().into_bytes()),
            0x01..=0x0D => {
                let name = [
                    "context",
                    "servlet_path",
                    "remote_user",
                    "auth_type",
                    "query_string",
                    "route",
                    "ssl_cert",
                    "ssl_cipher",
                    "ssl_session",
                    "",
                    "",
                    "secret",
                    "stored_method",
                ][usize::from(code) - 1];
                (named(name), r.req_string(name)?)
            }
            x => return Err(format!("unknown attribute code {x:#x}")),
        };
        attrs.push(Attr { code, name, value });
    }
    if r.at != payload.len() {
        return Err(format!(
            "{} bytes after the attribute terminator",
            payload.len() - r.at
        ));
    }
    let method = match method_code {
        0xFF => attrs
            .iter()
            .find(|a| a.code == 0x0D)
            .map(|a| a.value.clone())
            .ok_or("method 0xFF without stored_method")?,
        c => METHODS
            .get(usize::from(c).wrapping_sub(1))
            .ok_or_else(|| format!("unknown method code {c}"))?
            .as_bytes()
            .to_vec(),
    };
    Ok(Request {
        method_code,
        method,
        protocol,
        uri,
        remote_addr,
        remote_host,
        server_name,
        server_port,
        is_ssl,
        headers,
        attrs,
    })
}

/// Reply packet builder; `finish` fills in the length, so malformed *contents* are easy
/// to produce while framing stays right unless a scenario overrides it.
pub struct Msg(Vec<u8>);

impl Msg {
    pub fn new(kind: u8) -> Self {
        Msg(vec![b'A', b'B', 0, 0, kind])
    }

    pub fn byte(mut self, b: u8) -> Self {
        self.0.push(b);
        self
    }

    pub fn int(mut self, v: u16) -> Self {
        self.0.extend_from_slice(&v.to_be_bytes());
        self
    }

    pub fn raw(mut self, b: &[u8]) -> Self {
        self.0.extend_from_slice(b);
        self
    }

    pub fn string(self, s: &[u8]) -> Self {
        self.int(s.len() as u16).raw(s).byte(0)
    }

    pub fn finish(mut self) -> Vec<u8> {
        let n = (self.0.len() - 4) as u16;
        self.0[2..4].copy_from_slice(&n.to_be_bytes());
        self.0
    }
}

/// Response header name: coded or spelled out.
#[derive(Clone, Copy)]
pub enum Name<'a> {
    Code(u16),
    Str(&'a str),
}

pub fn send_headers(status: u16, reason: &[u8], headers: &[(Name<'_>, &[u8])]) -> Vec<u8> {
    let mut m = Msg::new(4)
        .int(status)
        .string(reason)
        .int(headers.len() as u16);
    for (name, value) in headers {
        m = match name {
            Name::Code(c) => m.int(*c),
            Name::Str(s) => m.string(s.as_bytes()),
        };
        m = m.string(value);
    }
    m.finish()
}

pub fn body_chunk(data: &[u8]) -> Vec<u8> {
    Msg::new(3).string(data).finish()
}

pub fn end_response(reuse: bool) -> Vec<u8> {
    Msg::new(5).byte(u8::from(reuse)).finish()
}

pub fn get_body_chunk(n: u16) -> Vec<u8> {
    Msg::new(6).int(n).finish()
}

pub fn cpong() -> Vec<u8> {
    Msg::new(9).finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Hand-assembled from the protocol description, not from any encoder.
    const POST: &[u8] = b"\x02\x04\
        \x00\x08HTTP/1.1\x00\
        \x00\x05/echo\x00\
        \x00\x09127.0.0.1\x00\
        \xFF\xFF\
        \x00\x09localhost\x00\
        \x1F\x90\
        \x01\
        \x00\x03\
        \xA0\x0B\x00\x09localhost\x00\
        \x00\x10Content-Length-X\x00\x00\x01y\x00\
        \xA0\x08\x00\x015\x00\
        \x0C\x00\x02pw\x00\
        \x05\x00\x03a=1\x00\
        \x0B\x01\x00\
        \x0A\x00\x0FAJP_REMOTE_PORT\x00\x00\x044321\x00\
        \xFF";

    #[test]
    fn parses_a_hand_built_forward_request() {
        let r = parse_forward_request(POST).unwrap();
        assert_eq!(r.method, b"POST");
        assert_eq!(r.uri, b"/echo");
        assert_eq!(r.remote_host, None);
        assert_eq!(r.server_port, 8080);
        assert!(r.is_ssl);
        assert_eq!(r.headers.len(), 3);
        assert_eq!(r.headers[0].code, Some(0xA00B));
        assert_eq!(r.headers[1].name, b"Content-Length-X");
        assert_eq!(r.headers[1].code, None);
        assert_eq!(r.content_length(), Ok(Some(5)));
        assert_eq!(r.attr("secret"), Some(&b"pw"[..]));
        assert_eq!(r.attr("query_string"), Some(&b"a=1"[..]));
        assert_eq!(r.attr("ssl_key_size"), Some(&b"256"[..]));
        assert_eq!(r.attr("AJP_REMOTE_PORT"), Some(&b"4321"[..]));
    }

    #[test]
    fn rejects_what_tomcat_would() {
        let mut trailing = POST.to_vec();
        trailing.push(0);
        assert!(parse_forward_request(&trailing).is_err());
        for cut in 0..POST.len() {
            assert!(parse_forward_request(&POST[..cut]).is_err(), "cut {cut}");
        }
        let mut stored = POST.to_vec();
        stored[1] = 0xFF;
        assert!(parse_forward_request(&stored).is_err());
    }

    #[test]
    fn reply_builders() {
        assert_eq!(end_response(true), b"AB\x00\x02\x05\x01");
        assert_eq!(cpong(), b"AB\x00\x01\x09");
        assert_eq!(get_body_chunk(0xFFFF), b"AB\x00\x03\x06\xFF\xFF");
        assert_eq!(body_chunk(b"hi"), b"AB\x00\x06\x03\x00\x02hi\x00");
        assert_eq!(
            send_headers(200, b"OK", &[(Name::Code(RES_CONTENT_TYPE), b"text/plain")]),
            b"AB\x00\x19\x04\x00\xC8\x00\x02OK\x00\x00\x01\xA0\x01\x00\x0Atext/plain\x00"
        );
    }

    #[test]
    fn body_packets() {
        let p = |b: &[u8]| Packet {
            declared: b.len(),
            payload: b.to_vec(),
        };
        assert_eq!(body_data(&p(b"")), Ok(None));
        assert_eq!(body_data(&p(b"\x00\x00")), Ok(None));
        assert_eq!(body_data(&p(b"\x00\x02hi")), Ok(Some(&b"hi"[..])));
        assert!(body_data(&p(b"\x00\x03hi")).is_err());
        assert!(body_data(&p(b"\x00")).is_err());
        let mut bytes: &[u8] = b"\x12\x34\x00\x04\x00\x02hi\x12\x35";
        assert_eq!(
            read_packet(&mut bytes, 8192).unwrap().payload,
            b"\x00\x02hi"
        );
        assert!(matches!(
            read_packet(&mut bytes, 8192),
            Err(ReadError::Protocol(_))
        ));
        let mut long: &[u8] = b"\x12\x34\x1F\xFD";
        assert!(matches!(
            read_packet(&mut long, 8192),
            Err(ReadError::Protocol(_))
        ));
        let mut empty: &[u8] = b"";
        assert!(matches!(read_packet(&mut empty, 8192), Err(ReadError::Eof)));
    }
}
