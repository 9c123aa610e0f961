//! Web server → container messages: FORWARD_REQUEST, request body packets, CPING.

use std::fmt;

use super::{
    HEADER_LEN, METHOD_STORED, REQ_CONTENT_LENGTH, REQUEST_MAGIC, attr, body_chunk_capacity,
    clamp_packet_size, code, is_token, method_code, request_header_code,
};

/// How the request body travels, decided once per request from what the client announced.
///
/// AJP has no "no body" marker: a missing `Content-Length` means "unknown length, ask me
/// for it". So the encoder rewrites the forwarded `Content-Length` header from this value
/// and drops whatever the client sent (see [`encode_forward_request`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BodyMode {
    /// No body: `content-length: 0` is forwarded and no body packet is ever sent unasked.
    None,
    /// Known length: `content-length: n` is forwarded, the first packet goes out right
    /// after FORWARD_REQUEST without being asked for, the rest only on GET_BODY_CHUNK.
    /// `Length(0)` behaves like `None`.
    Length(u64),
    /// Chunked or otherwise unknown: no `Content-Length`, nothing sent unasked; the
    /// container pulls with GET_BODY_CHUNK until it gets an empty packet.
    Unknown,
}

/// Picks the body mode the way mod_jk does, except that `Transfer-Encoding: chunked`
/// always wins over a `Content-Length` (a smuggling vector when both are honoured,
/// CVE-2022-26377). `content_length` is what httpd parsed, `chunked` whether the request
/// body is de-chunked by httpd (or its length is otherwise unknown, e.g. `JK_IGNORE_CL`).
pub fn body_mode(content_length: Option<u64>, chunked: bool) -> BodyMode {
    match (chunked, content_length) {
        (true, _) => BodyMode::Unknown,
        (false, None | Some(0)) => BodyMode::None,
        (false, Some(n)) => BodyMode::Length(n),
    }
}

/// Everything a FORWARD_REQUEST carries. Byte slices because httpd hands out C strings
/// that need not be UTF-8 (header values often are Latin-1).
///
/// Optional attributes are only sent when `Some`; `ssl_cert` and `ssl_protocol` are also
/// skipped when empty, as mod_jk does. `remote_port`, `local_addr` and `lb_activation`
/// are always sent.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ForwardRequest<'a> {
    /// HTTP method; mapped to its code case-sensitively, otherwise sent as stored method.
    pub method: &'a [u8],
    pub protocol: &'a [u8],
    pub req_uri: &'a [u8],
    pub remote_addr: &'a [u8],
    /// `None` goes out as the AJP null string.
    pub remote_host: Option<&'a [u8]>,
    pub server_name: &'a [u8],
    pub server_port: u16,
    pub is_ssl: bool,
    /// Client headers in order. Any `Content-Length` here is ignored: the header is
    /// generated from `body`.
    pub headers: Vec<(&'a [u8], &'a [u8])>,
    pub body: BodyMode,
    pub secret: Option<&'a [u8]>,
    pub remote_user: Option<&'a [u8]>,
    pub auth_type: Option<&'a [u8]>,
    /// Raw, undecoded query string without the `?`.
    pub query_string: Option<&'a [u8]>,
    pub route: Option<&'a [u8]>,
    /// PEM, may span lines.
    pub ssl_cert: Option<&'a [u8]>,
    pub ssl_cipher: Option<&'a [u8]>,
    pub ssl_session: Option<&'a [u8]>,
    /// Sent as a 16-bit integer, not a string (Tomcat reads it with `getInt`).
    pub ssl_key_size: Option<u16>,
    /// `AJP_SSL_PROTOCOL` request attribute.
    pub ssl_protocol: Option<&'a [u8]>,
    /// `AJP_REMOTE_PORT` request attribute.
    pub remote_port: u16,
    /// `AJP_LOCAL_ADDR` request attribute.
    pub local_addr: &'a [u8],
    /// `JK_LB_ACTIVATION` request attribute (`ACT`, `DIS`, `STP`).
    pub lb_activation: &'a [u8],
    /// `JkEnvVar` values as `req_attribute`s, in configuration order.
    pub env_vars: Vec<(&'a [u8], &'a [u8])>,
}

impl Default for ForwardRequest<'_> {
    fn default() -> Self {
        ForwardRequest {
            method: b"GET",
            protocol: b"HTTP/1.1",
            req_uri: b"/",
            remote_addr: b"",
            remote_host: None,
            server_name: b"",
            server_port: 80,
            is_ssl: false,
            headers: Vec::new(),
            body: BodyMode::None,
            secret: None,
            remote_user: None,
            auth_type: None,
            query_string: None,
            route: None,
            ssl_cert: None,
            ssl_cipher: None,
            ssl_session: None,
            ssl_key_size: None,
            ssl_protocol: None,
            remote_port: 0,
            local_addr: b"",
            lb_activation: b"ACT",
            env_vars: Vec::new(),
        }
    }
}

/// Which field made a request unencodable, for the log line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Field {
    Method,
    Protocol,
    ReqUri,
    RemoteAddr,
    RemoteHost,
    ServerName,
    HeaderName,
    HeaderValue,
    Secret,
    RemoteUser,
    AuthType,
    QueryString,
    Route,
    SslCert,
    SslCipher,
    SslSession,
    SslProtocol,
    RemotePort,
    LocalAddr,
    LbActivation,
    EnvName,
    EnvValue,
}

/// Why a request could not be put on the wire. Both are the client's (or config's) fault,
/// never the backend's: the handler answers [`EncodeError::http_status`] and must not
/// count it against the worker.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EncodeError {
    /// The packet would exceed `max_packet_size` (`size` includes the 4-byte header).
    TooLarge { size: usize, max: usize },
    /// A field holds bytes that would change meaning on the other side (NUL truncates
    /// C strings, CR/LF splits lines if reflected, non-token methods/header names).
    InvalidField(Field),
}

impl EncodeError {
    /// 413 for size, 400 for content.
    pub fn http_status(&self) -> u16 {
        match self {
            EncodeError::TooLarge { .. } => 413,
            EncodeError::InvalidField(_) => 400,
        }
    }
}

impl fmt::Display for EncodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EncodeError::TooLarge { size, max } => {
                write!(
                    f,
                    "AJP packet of {size} bytes exceeds max_packet_size {max}"
                )
            }
            EncodeError::InvalidField(field) => write!(f, "invalid characters in {field:?}"),
        }
    }
}

impl std::error::Error for EncodeError {}

/// The code a request header travels as, the way mod_jk codes it: `Accept-Charset`,
/// `Accept-Encoding` and `Accept-Language` have codes (0xA002..=0xA004) but mod_jk sends
/// them by name, so Tomcat sees the same bytes either way and the status counters match.
fn forward_header_code(name: &[u8]) -> Option<u16> {
    request_header_code(name).filter(|c| !(0xA002..=0xA004).contains(c))
}

/// Appends one FORWARD_REQUEST packet to `out` and returns its length. On error `out` is
/// left as it was.
///
/// `max_packet` is clamped to 8192..=65536. Content-Length handling follows
/// [`ForwardRequest::body`]: every client `Content-Length` header is dropped, and one
/// coded `content-length` is appended unless the mode is [`BodyMode::Unknown`].
pub fn encode_forward_request(
    req: &ForwardRequest<'_>,
    max_packet: usize,
    out: &mut Vec<u8>,
) -> Result<usize, EncodeError> {
    let start = out.len();
    let res = write_forward_request(req, out).and_then(|()| finish_packet(out, start, max_packet));
    if res.is_err() {
        out.truncate(start);
    }
    res
}

fn write_forward_request(req: &ForwardRequest<'_>, out: &mut Vec<u8>) -> Result<(), EncodeError> {
    use Field::*;

    out.extend_from_slice(&REQUEST_MAGIC);
    out.extend_from_slice(&[0, 0]);

    check_token(Method, req.method)?;
    let method = method_code(req.method);
    write_request_line(req, method, out)?;
    write_headers(req, out)?;
    write_attributes(req, method, out)
}

/// Method code, protocol, URI, addresses, server name and port, and the TLS flag.
fn write_request_line(
    req: &ForwardRequest<'_>,
    method: Option<u8>,
    out: &mut Vec<u8>,
) -> Result<(), EncodeError> {
    use Field::*;
    out.push(code::FORWARD_REQUEST);
    out.push(method.unwrap_or(METHOD_STORED));
    put_str(out, Protocol, req.protocol, check_line)?;
    put_str(out, ReqUri, req.req_uri, check_no_ctl)?;
    put_str(out, RemoteAddr, req.remote_addr, check_line)?;
    match req.remote_host {
        Some(h) => put_str(out, RemoteHost, h, check_line)?,
        None => put_null(out),
    }
    put_str(out, ServerName, req.server_name, check_line)?;
    out.extend_from_slice(&req.server_port.to_be_bytes());
    out.push(u8::from(req.is_ssl));
    Ok(())
}

/// The request headers, with our one Content-Length.
fn write_headers(req: &ForwardRequest<'_>, out: &mut Vec<u8>) -> Result<(), EncodeError> {
    use Field::*;
    let is_cl = |name: &[u8]| request_header_code(name) == Some(REQ_CONTENT_LENGTH);
    let content_length = match req.body {
        BodyMode::None => Some(0),
        BodyMode::Length(n) => Some(n),
        BodyMode::Unknown => None,
    };
    let kept = req.headers.iter().filter(|(n, _)| !is_cl(n)).count();
    let count = kept + usize::from(content_length.is_some());
    // Each header takes at least 5 bytes, so more than 0xFFFF can never fit anyway.
    let count = u16::try_from(count).map_err(|_| EncodeError::TooLarge {
        size: count * 5,
        max: usize::from(u16::MAX),
    })?;
    out.extend_from_slice(&count.to_be_bytes());
    // The one Content-Length (ours) takes the place of the client's first, as mod_jk's
    // does; without one it goes last.
    let mut content_length = content_length;
    for &(name, value) in req.headers.iter() {
        if is_cl(name) {
            if let Some(n) = content_length.take() {
                out.extend_from_slice(&REQ_CONTENT_LENGTH.to_be_bytes());
                put_str(out, HeaderValue, n.to_string().as_bytes(), check_line)?;
            }
            continue;
        }
        check_token(HeaderName, name)?;
        match forward_header_code(name) {
            Some(c) => out.extend_from_slice(&c.to_be_bytes()),
            None => {
                // Tomcat reads a 0xA0 high byte as a header code; such a length would be
                // misread as one (only reachable with 64 KiB packets).
                if name.len() >= 0xA000 {
                    return Err(EncodeError::TooLarge {
                        size: name.len(),
                        max: 0x9FFF,
                    });
                }
                put_str(out, HeaderName, name, check_line)?;
            }
        }
        put_str(out, HeaderValue, value, check_line)?;
    }
    if let Some(n) = content_length {
        out.extend_from_slice(&REQ_CONTENT_LENGTH.to_be_bytes());
        put_str(out, HeaderValue, n.to_string().as_bytes(), check_line)?;
    }
    Ok(())
}

/// The attributes, in mod_jk's order so packet captures compare one to one.
fn write_attributes(
    req: &ForwardRequest<'_>,
    method: Option<u8>,
    out: &mut Vec<u8>,
) -> Result<(), EncodeError> {
    use Field::*;
    let cert = req.ssl_cert.filter(|c| !c.is_empty());
    let coded: [Attr<'_, u8>; 8] = [
        (attr::SECRET, Secret, req.secret, check_line),
        (attr::REMOTE_USER, RemoteUser, req.remote_user, check_line),
        (attr::AUTH_TYPE, AuthType, req.auth_type, check_line),
        (
            attr::QUERY_STRING,
            QueryString,
            req.query_string,
            check_no_ctl,
        ),
        (attr::ROUTE, Route, req.route, check_line),
        (attr::SSL_CERT, SslCert, cert, check_no_nul),
        (attr::SSL_CIPHER, SslCipher, req.ssl_cipher, check_line),
        (attr::SSL_SESSION, SslSession, req.ssl_session, check_line),
    ];
    for (code, field, value, check) in coded {
        if let Some(v) = value {
            out.push(code);
            put_str(out, field, v, check)?;
        }
    }
    if let Some(bits) = req.ssl_key_size {
        out.push(attr::SSL_KEY_SIZE);
        out.extend_from_slice(&bits.to_be_bytes());
    }
    if method.is_none() {
        out.push(attr::STORED_METHOD);
        put_str(out, Method, req.method, check_line)?;
    }
    let port = req.remote_port.to_string();
    let named: [Attr<'_, &[u8]>; 4] = [
        (
            attr::NAME_SSL_PROTOCOL,
            SslProtocol,
            req.ssl_protocol.filter(|p| !p.is_empty()),
            check_line,
        ),
        (
            attr::NAME_REMOTE_PORT,
            RemotePort,
            Some(port.as_bytes()),
            check_line,
        ),
        (
            attr::NAME_LOCAL_ADDR,
            LocalAddr,
            Some(req.local_addr),
            check_line,
        ),
        (
            attr::NAME_LB_ACTIVATION,
            LbActivation,
            Some(req.lb_activation),
            check_line,
        ),
    ];
    // Env values may be PEM blocks (SSL_CLIENT_CERT_CHAIN_n, SSL_SERVER_CERT), so line
    // breaks stay; Tomcat never turns attributes into header lines.
    let env = req
        .env_vars
        .iter()
        .map(|&(name, v)| (name, EnvValue, Some(v), check_no_nul as Check));
    for (name, field, value, check) in named.into_iter().chain(env) {
        let Some(v) = value else { continue };
        if name.is_empty() {
            return Err(EncodeError::InvalidField(EnvName));
        }
        out.push(attr::REQ_ATTRIBUTE);
        put_str(out, EnvName, name, check_line)?;
        put_str(out, field, v, check)?;
    }
    out.push(attr::ARE_DONE);
    Ok(())
}

/// Appends one request body packet carrying `data` (at most
/// [`body_chunk_capacity`]`(max_packet)` bytes). Empty `data` yields the end-of-body
/// packet, the only meaning an empty packet has in AJP.
pub fn encode_body_chunk(
    data: &[u8],
    max_packet: usize,
    out: &mut Vec<u8>,
) -> Result<(), EncodeError> {
    if data.is_empty() {
        encode_body_end(out);
        return Ok(());
    }
    let cap = body_chunk_capacity(max_packet);
    if data.len() > cap {
        return Err(EncodeError::TooLarge {
            size: data.len() + 6,
            max: clamp_packet_size(max_packet),
        });
    }
    // Fits in u16: cap <= 65530.
    let n = data.len() as u16;
    out.extend_from_slice(&REQUEST_MAGIC);
    out.extend_from_slice(&(n + 2).to_be_bytes());
    out.extend_from_slice(&n.to_be_bytes());
    out.extend_from_slice(data);
    Ok(())
}

/// Appends the empty packet that tells the container the request body is over.
pub fn encode_body_end(out: &mut Vec<u8>) {
    out.extend_from_slice(&REQUEST_MAGIC);
    out.extend_from_slice(&[0, 0]);
}

/// Appends a CPING packet.
pub fn encode_cping(out: &mut Vec<u8>) {
    out.extend_from_slice(&super::CPING_PACKET);
}

type Check = fn(Field, &[u8]) -> Result<(), EncodeError>;

/// An attribute to emit: key (code or req_attribute name), field for errors, value
/// (`None` = not sent), validation.
type Attr<'b, K> = (K, Field, Option<&'b [u8]>, Check);

fn check_no_nul(field: Field, s: &[u8]) -> Result<(), EncodeError> {
    if s.contains(&0) {
        return Err(EncodeError::InvalidField(field));
    }
    Ok(())
}

fn check_line(field: Field, s: &[u8]) -> Result<(), EncodeError> {
    if s.iter().any(|&b| matches!(b, 0 | b'\r' | b'\n')) {
        return Err(EncodeError::InvalidField(field));
    }
    Ok(())
}

/// For the URI and query string: a raw control byte there is never legitimate (httpd
/// hands them over %-encoded) and is how request-splitting payloads look.
fn check_no_ctl(field: Field, s: &[u8]) -> Result<(), EncodeError> {
    if s.iter().any(|&b| b < 0x20 || b == 0x7F) {
        return Err(EncodeError::InvalidField(field));
    }
    Ok(())
}

fn check_token(field: Field, s: &[u8]) -> Result<(), EncodeError> {
    if !is_token(s) {
        return Err(EncodeError::InvalidField(field));
    }
    Ok(())
}

fn put_str(out: &mut Vec<u8>, field: Field, s: &[u8], check: Check) -> Result<(), EncodeError> {
    check(field, s)?;
    // 0xFFFF is the null marker; anything this long cannot fit a packet anyway.
    let len = u16::try_from(s.len())
        .ok()
        .filter(|&l| l != u16::MAX)
        .ok_or(EncodeError::TooLarge {
            size: s.len(),
            max: usize::from(u16::MAX - 1),
        })?;
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(s);
    out.push(0);
    Ok(())
}

fn put_null(out: &mut Vec<u8>) {
    out.extend_from_slice(&[0xFF, 0xFF]);
}

/// Checks the size of the packet that starts at `start` and writes its length field.
fn finish_packet(out: &mut [u8], start: usize, max_packet: usize) -> Result<usize, EncodeError> {
    let max = clamp_packet_size(max_packet);
    let size = out.len() - start;
    if size > max {
        return Err(EncodeError::TooLarge { size, max });
    }
    // max <= 65536, so the payload fits in u16.
    let payload = (size - HEADER_LEN) as u16;
    out[start + 2..start + 4].copy_from_slice(&payload.to_be_bytes());
    Ok(size)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// An independent reader of FORWARD_REQUEST, written from the spec rather than from
    /// the encoder, so the round-trip test can catch a symmetric mistake only if both
    /// agree on the wrong thing.
    #[derive(Debug, Default, PartialEq)]
    struct Parsed {
        method_code: u8,
        protocol: Vec<u8>,
        uri: Vec<u8>,
        remote_addr: Vec<u8>,
        remote_host: Option<Vec<u8>>,
        server_name: Vec<u8>,
        port: u16,
        ssl: bool,
        /// (name as sent or lower-case table name, value, coded?)
        headers: Vec<(Vec<u8>, Vec<u8>, bool)>,
        /// (code, req_attribute name or empty, value; key size rendered in decimal)
        attrs: Vec<(u8, Vec<u8>, Vec<u8>)>,
    }

    fn parse(pkt: &[u8]) -> Parsed {
        assert_eq!(&pkt[..2], &[0x12, 0x34]);
        let declared = u16::from_be_bytes([pkt[2], pkt[3]]) as usize;
        assert_eq!(declared + 4, pkt.len(), "length field");
        let mut p = &pkt[4..];
        fn take<'b>(p: &mut &'b [u8], n: usize) -> &'b [u8] {
            let (a, b) = p.split_at(n);
            *p = b;
            a
        }
        fn int(p: &mut &[u8]) -> u16 {
            let b = take(p, 2);
            (b[0] as u16) << 8 | b[1] as u16
        }
        fn string(p: &mut &[u8]) -> Option<Vec<u8>> {
            let n = int(p);
            if n == 0xFFFF {
                return None;
            }
            let s = take(p, n as usize).to_vec();
            assert_eq!(take(p, 1), [0], "NUL after string");
            Some(s)
        }
        let mut r = Parsed::default();
        assert_eq!(take(&mut p, 1), [2]);
        r.method_code = take(&mut p, 1)[0];
        r.protocol = string(&mut p).unwrap();
        r.uri = string(&mut p).unwrap();
        r.remote_addr = string(&mut p).unwrap();
        r.remote_host = string(&mut p);
        r.server_name = string(&mut p).unwrap();
        r.port = int(&mut p);
        r.ssl = match take(&mut p, 1)[0] {
            0 => false,
            1 => true,
            x => panic!("is_ssl {x}"),
        };
        let n = int(&mut p);
        let names = [
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
        for _ in 0..n {
            let (name, coded) = if p[0] == 0xA0 {
                let c = int(&mut p);
                (names[(c & 0xFF) as usize - 1].as_bytes().to_vec(), true)
            } else {
                (string(&mut p).unwrap(), false)
            };
            r.headers.push((name, string(&mut p).unwrap(), coded));
        }
        loop {
            let code = take(&mut p, 1)[0];
            match code {
                0xFF => break,
                0x0A => {
                    let name = string(&mut p).unwrap();
                    r.attrs.push((code, name, string(&mut p).unwrap()));
                }
                0x0B => {
                    let v = int(&mut p);
                    r.attrs.push((code, vec![], v.to_string().into_bytes()));
                }
                0x01..=0x0D => r.attrs.push((code, vec![], string(&mut p).unwrap())),
                x => panic!("attribute code {x:#x}"),
            }
        }
        assert!(p.is_empty(), "bytes after terminator");
        r
    }

    fn encode(req: &ForwardRequest<'_>) -> Vec<u8> {
        let mut out = Vec::new();
        let n = encode_forward_request(req, 8192, &mut out).unwrap();
        assert_eq!(n, out.len());
        out
    }

    fn simple_get() -> ForwardRequest<'static> {
        ForwardRequest {
            method: b"GET",
            protocol: b"HTTP/1.1",
            req_uri: b"/",
            remote_addr: b"127.0.0.1",
            remote_host: None,
            server_name: b"localhost",
            server_port: 80,
            is_ssl: false,
            headers: vec![(b"Host", b"localhost")],
            remote_port: 54321,
            local_addr: b"127.0.0.1",
            ..Default::default()
        }
    }

    #[test]
    fn golden_get_with_host() {
        let expected: &[u8] = b"\x12\x34\x00\x98\
            \x02\x02\
            \x00\x08HTTP/1.1\x00\
            \x00\x01/\x00\
            \x00\x09127.0.0.1\x00\
            \xFF\xFF\
            \x00\x09localhost\x00\
            \x00\x50\
            \x00\
            \x00\x02\
            \xA0\x0B\x00\x09localhost\x00\
            \xA0\x08\x00\x010\x00\
            \x0A\x00\x0FAJP_REMOTE_PORT\x00\x00\x0554321\x00\
            \x0A\x00\x0EAJP_LOCAL_ADDR\x00\x00\x09127.0.0.1\x00\
            \x0A\x00\x10JK_LB_ACTIVATION\x00\x00\x03ACT\x00\
            \xFF";
        assert_eq!(expected.len(), 4 + 0x98);
        assert_eq!(encode(&simple_get()), expected);
    }

    #[test]
    fn golden_cping_and_body_packets() {
        let mut out = Vec::new();
        encode_cping(&mut out);
        assert_eq!(out, [0x12, 0x34, 0x00, 0x01, 0x0A]);

        out.clear();
        encode_body_chunk(b"hello", 8192, &mut out).unwrap();
        assert_eq!(out, b"\x12\x34\x00\x07\x00\x05hello");

        out.clear();
        encode_body_end(&mut out);
        assert_eq!(out, [0x12, 0x34, 0, 0]);

        out.clear();
        encode_body_chunk(b"", 8192, &mut out).unwrap();
        assert_eq!(out, [0x12, 0x34, 0, 0]);
    }

    #[test]
    fn body_chunk_capacity_is_enforced() {
        let mut out = Vec::new();
        let full = vec![7u8; 8186];
        encode_body_chunk(&full, 8192, &mut out).unwrap();
        assert_eq!(out.len(), 8192);
        assert_eq!(&out[..6], &[0x12, 0x34, 0x1F, 0xFC, 0x1F, 0xFA]);
        out.clear();
        let err = encode_body_chunk(&vec![7u8; 8187], 8192, &mut out).unwrap_err();
        assert_eq!(err.http_status(), 413);
        assert!(out.is_empty());
        encode_body_chunk(&vec![7u8; 65530], 65536, &mut out).unwrap();
        assert_eq!(&out[2..6], &[0xFF, 0xFC, 0xFF, 0xFA]);
    }

    #[test]
    fn body_mode_rules() {
        assert_eq!(body_mode(None, false), BodyMode::None);
        assert_eq!(body_mode(Some(0), false), BodyMode::None);
        assert_eq!(body_mode(Some(5), false), BodyMode::Length(5));
        assert_eq!(body_mode(None, true), BodyMode::Unknown);
        assert_eq!(body_mode(Some(5), true), BodyMode::Unknown);
    }

    #[test]
    fn content_length_header_follows_body_mode() {
        let headers: Vec<(&[u8], &[u8])> = vec![
            (b"Host", b"h"),
            (b"content-LENGTH", b"999"),
            (b"Content-Length-X", b"1"),
            (b"Content-Length", b"5"),
        ];
        let mut req = ForwardRequest {
            headers,
            ..simple_get()
        };
        let cl = |p: &Parsed| -> Vec<Vec<u8>> {
            p.headers
                .iter()
                .filter(|h| h.2 && h.0 == b"content-length")
                .map(|h| h.1.clone())
                .collect()
        };

        req.body = BodyMode::None;
        let p = parse(&encode(&req));
        assert_eq!(cl(&p), vec![b"0".to_vec()]);
        assert_eq!(p.headers.len(), 3);
        // Not a prefix match: still a string-named header.
        assert!(
            p.headers
                .contains(&(b"Content-Length-X".to_vec(), b"1".to_vec(), false))
        );

        req.body = BodyMode::Length(12345);
        assert_eq!(cl(&parse(&encode(&req))), vec![b"12345".to_vec()]);

        req.body = BodyMode::Length(0);
        assert_eq!(cl(&parse(&encode(&req))), vec![b"0".to_vec()]);

        req.body = BodyMode::Unknown;
        let p = parse(&encode(&req));
        assert!(cl(&p).is_empty());
        assert_eq!(p.headers.len(), 2);
    }

    #[test]
    fn unknown_method_is_stored_after_key_size() {
        let req = ForwardRequest {
            method: b"PATCH",
            is_ssl: true,
            ssl_cipher: Some(b"TLS_AES_128_GCM_SHA256"),
            ssl_key_size: Some(256),
            ..simple_get()
        };
        let p = parse(&encode(&req));
        assert_eq!(p.method_code, 0xFF);
        assert!(p.ssl);
        let codes: Vec<u8> = p.attrs.iter().map(|a| a.0).collect();
        assert_eq!(codes, [0x08, 0x0B, 0x0D, 0x0A, 0x0A, 0x0A]);
        assert_eq!(p.attrs[1].2, b"256");
        assert_eq!(p.attrs[2].2, b"PATCH");

        // Lower-case "get" is not GET.
        let p = parse(&encode(&ForwardRequest {
            method: b"get",
            ..simple_get()
        }));
        assert_eq!(p.method_code, 0xFF);
        assert_eq!(p.attrs[0], (0x0D, vec![], b"get".to_vec()));
    }

    #[test]
    fn key_size_is_a_16_bit_integer_on_the_wire() {
        let req = ForwardRequest {
            ssl_key_size: Some(0x0100),
            ..simple_get()
        };
        let pkt = encode(&req);
        let pos = pkt
            .windows(3)
            .position(|w| w == [0x0B, 0x01, 0x00])
            .unwrap();
        // Directly followed by the AJP_REMOTE_PORT req_attribute.
        assert_eq!(pkt[pos + 3], 0x0A);
    }

    #[test]
    fn all_attributes_in_mod_jk_order() {
        let req = ForwardRequest {
            method: b"MERGE",
            remote_host: Some(b"client.example"),
            is_ssl: true,
            secret: Some(b"s3cret"),
            remote_user: Some(b"alice"),
            auth_type: Some(b"Basic"),
            query_string: Some(b"a=1&b=%20"),
            route: Some(b"node1"),
            ssl_cert: Some(b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"),
            ssl_cipher: Some(b"AES"),
            ssl_session: Some(b"abcd"),
            ssl_key_size: Some(128),
            ssl_protocol: Some(b"TLSv1.3"),
            remote_port: 40000,
            local_addr: b"10.0.0.1",
            lb_activation: b"DIS",
            env_vars: vec![(b"FOO", b""), (b"BAR", b"x")],
            ..simple_get()
        };
        let p = parse(&encode(&req));
        assert_eq!(p.method_code, 25);
        assert_eq!(p.remote_host.as_deref(), Some(&b"client.example"[..]));
        let got: Vec<(u8, &[u8], &[u8])> = p
            .attrs
            .iter()
            .map(|(c, n, v)| (*c, &n[..], &v[..]))
            .collect();
        let want: Vec<(u8, &[u8], &[u8])> = vec![
            (0x0C, b"", b"s3cret"),
            (0x03, b"", b"alice"),
            (0x04, b"", b"Basic"),
            (0x05, b"", b"a=1&b=%20"),
            (0x06, b"", b"node1"),
            (
                0x07,
                b"",
                b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
            ),
            (0x08, b"", b"AES"),
            (0x09, b"", b"abcd"),
            (0x0B, b"", b"128"),
            (0x0A, b"AJP_SSL_PROTOCOL", b"TLSv1.3"),
            (0x0A, b"AJP_REMOTE_PORT", b"40000"),
            (0x0A, b"AJP_LOCAL_ADDR", b"10.0.0.1"),
            (0x0A, b"JK_LB_ACTIVATION", b"DIS"),
            (0x0A, b"FOO", b""),
            (0x0A, b"BAR", b"x"),
        ];
        assert_eq!(got, want);

        // Empty cert / protocol are not sent at all.
        let p = parse(&encode(&ForwardRequest {
            ssl_cert: Some(b""),
            ssl_protocol: Some(b""),
            ..simple_get()
        }));
        assert_eq!(p.attrs.len(), 3);
    }

    #[test]
    fn dangerous_bytes_are_rejected_not_sent() {
        type Mutate = fn(&mut ForwardRequest<'static>);
        let cases: Vec<(Mutate, Field)> = vec![
            (|r| r.req_uri = b"/a\r\nX-A: 1", Field::ReqUri),
            (|r| r.req_uri = b"/a\0b", Field::ReqUri),
            (|r| r.req_uri = b"/a\tb", Field::ReqUri),
            (
                |r| r.query_string = Some(b"a=%0d%0a\r\n"),
                Field::QueryString,
            ),
            (|r| r.query_string = Some(b"a\x7f"), Field::QueryString),
            (
                |r| r.headers = vec![(b"X-A", b"1\r\nX-B: 2")],
                Field::HeaderValue,
            ),
            (|r| r.headers = vec![(b"X-A", b"1\n")], Field::HeaderValue),
            (|r| r.headers = vec![(b"X-A", b"1\0")], Field::HeaderValue),
            (|r| r.headers = vec![(b"X A", b"1")], Field::HeaderName),
            (|r| r.headers = vec![(b"X-A:", b"1")], Field::HeaderName),
            (|r| r.headers = vec![(b"", b"1")], Field::HeaderName),
            (|r| r.method = b"GE T", Field::Method),
            (|r| r.method = b"", Field::Method),
            (|r| r.protocol = b"HTTP/1.1\r\n", Field::Protocol),
            (|r| r.server_name = b"a\nb", Field::ServerName),
            (|r| r.remote_user = Some(b"bob\r\n"), Field::RemoteUser),
            (|r| r.secret = Some(b"s\0"), Field::Secret),
            (|r| r.route = Some(b"r\n"), Field::Route),
            (|r| r.ssl_cert = Some(b"PEM\0"), Field::SslCert),
            (|r| r.local_addr = b"1\r", Field::LocalAddr),
            (|r| r.lb_activation = b"ACT\n", Field::LbActivation),
            (|r| r.env_vars = vec![(b"A\nB", b"v")], Field::EnvName),
            (|r| r.env_vars = vec![(b"", b"v")], Field::EnvName),
            (|r| r.env_vars = vec![(b"A", b"v\0")], Field::EnvValue),
        ];
        for (i, (mutate, field)) in cases.into_iter().enumerate() {
            let mut req = simple_get();
            mutate(&mut req);
            let mut out = b"keep".to_vec();
            let err = encode_forward_request(&req, 8192, &mut out).unwrap_err();
            assert_eq!(err, EncodeError::InvalidField(field), "case {i}");
            assert_eq!(err.http_status(), 400);
            assert_eq!(out, b"keep", "case {i}: output untouched");
        }
        // PEM line breaks are fine where PEM travels.
        let req = ForwardRequest {
            ssl_cert: Some(b"a\r\nb"),
            env_vars: vec![(b"SSL_CLIENT_CERT_CHAIN_0", b"x\ny")],
            ..simple_get()
        };
        encode(&req);
    }

    #[test]
    fn packet_size_limit_is_exact() {
        let base = encode(&simple_get()).len();
        // One extra header "X-P: <pad>" costs 2+3+1 + 2+pad+1 = 9 + pad bytes.
        for max in [8192usize, 65536] {
            let fits = vec![b'p'; max - base - 9];
            let over = vec![b'p'; max - base - 8];
            let mut req = simple_get();
            req.headers.push((b"X-P", &fits));
            let mut out = Vec::new();
            assert_eq!(encode_forward_request(&req, max, &mut out), Ok(max));
            req.headers.pop();
            req.headers.push((b"X-P", &over));
            let mut out = Vec::new();
            assert_eq!(
                encode_forward_request(&req, max, &mut out),
                Err(EncodeError::TooLarge { size: max + 1, max })
            );
            assert!(out.is_empty());
        }
        // Out-of-range settings are clamped, never trusted.
        let mut out = Vec::new();
        assert!(encode_forward_request(&simple_get(), 10, &mut out).is_ok());
    }

    #[test]
    fn huge_header_name_cannot_pose_as_a_code() {
        let name = vec![b'x'; 0xA000];
        let mut req = simple_get();
        req.headers.push((&name, b"v"));
        let err = encode_forward_request(&req, 65536, &mut Vec::new()).unwrap_err();
        assert_eq!(err.http_status(), 413);
    }

    #[test]
    fn appends_after_existing_bytes() {
        let mut out = vec![1, 2, 3];
        let n = encode_forward_request(&simple_get(), 8192, &mut out).unwrap();
        assert_eq!(out.len(), 3 + n);
        parse(&out[3..]);
    }

    fn arb_bytes(re: &'static str) -> impl Strategy<Value = Vec<u8>> {
        proptest::string::string_regex(re)
            .unwrap()
            .prop_map(String::into_bytes)
    }

    proptest! {
        #[test]
        fn forward_request_round_trips(
            method in prop_oneof![
                Just(b"GET".to_vec()), Just(b"POST".to_vec()), Just(b"MKACTIVITY".to_vec()),
                arb_bytes("[A-Z]{1,12}"),
            ],
            uri in arb_bytes("/[!-~]{0,60}"),
            query in proptest::option::of(arb_bytes("[ -~]{0,40}")),
            remote_host in proptest::option::of(arb_bytes("[a-z0-9.]{0,20}")),
            port in any::<u16>(),
            ssl in any::<bool>(),
            headers in proptest::collection::vec(
                (
                    prop_oneof![
                        arb_bytes("[A-Za-z0-9!#$%&'*+.^_`|~-]{1,20}"),
                        proptest::sample::select(vec![
                            &b"Content-Length"[..], b"content-length", b"Accept", b"Accept-Charset",
                            b"accept-encoding", b"ACCEPT-LANGUAGE", b"Cookie", b"Host",
                        ]).prop_map(<[u8]>::to_vec),
                    ],
                    arb_bytes("[\t -~\u{80}-\u{ff}]{0,40}"),
                ),
                0..12),
            key_size in proptest::option::of(any::<u16>()),
            secret in proptest::option::of(arb_bytes("[ -~]{0,20}")),
            remote_port in any::<u16>(),
            env in proptest::collection::vec((arb_bytes("[A-Z_]{1,10}"), arb_bytes("[ -~\n]{0,20}")), 0..4),
            cl in proptest::option::of(0u64..u64::MAX),
            chunked in any::<bool>(),
        ) {
            let hdrs: Vec<(&[u8], &[u8])> = headers.iter().map(|(n, v)| (&n[..], &v[..])).collect();
            let envs: Vec<(&[u8], &[u8])> = env.iter().map(|(n, v)| (&n[..], &v[..])).collect();
            let req = ForwardRequest {
                method: &method,
                req_uri: &uri,
                remote_addr: b"192.0.2.1",
                remote_host: remote_host.as_deref(),
                server_name: b"example",
                server_port: port,
                is_ssl: ssl,
                headers: hdrs,
                body: body_mode(cl, chunked),
                query_string: query.as_deref(),
                secret: secret.as_deref(),
                ssl_key_size: key_size,
                remote_port,
                local_addr: b"192.0.2.2",
                env_vars: envs,
                ..Default::default()
            };
            let pkt = encode(&req);
            let p = parse(&pkt);

            prop_assert_eq!(p.method_code, method_code(&method).unwrap_or(0xFF));
            prop_assert_eq!(&p.uri, &uri);
            prop_assert_eq!(&p.remote_host, &remote_host);
            prop_assert_eq!(p.port, port);
            prop_assert_eq!(p.ssl, ssl);

            // Ours replaces the client's first Content-Length (the others go), or comes
            // last; Accept-Charset/-Encoding/-Language travel by name, as with mod_jk.
            let mut ours = match req.body {
                BodyMode::None => Some(b"0".to_vec()),
                BodyMode::Length(n) => Some(n.to_string().into_bytes()),
                BodyMode::Unknown => None,
            };
            let mut want: Vec<(Vec<u8>, Vec<u8>, bool)> = Vec::new();
            for (n, v) in &headers {
                if n.eq_ignore_ascii_case(b"content-length") {
                    if let Some(cl) = ours.take() {
                        want.push((b"content-length".to_vec(), cl, true));
                    }
                    continue;
                }
                let by_name = [&b"accept-charset"[..], b"accept-encoding", b"accept-language"]
                    .iter()
                    .any(|a| a.eq_ignore_ascii_case(n));
                want.push(match request_header_code(n) {
                    Some(_) if !by_name => (n.to_ascii_lowercase(), v.clone(), true),
                    _ => (n.clone(), v.clone(), false),
                });
            }
            if let Some(cl) = ours {
                want.push((b"content-length".to_vec(), cl, true));
            }
            prop_assert_eq!(&p.headers, &want);

            let mut attrs = Vec::new();
            if let Some(s) = &secret { attrs.push((0x0C, vec![], s.clone())); }
            if let Some(q) = &query { attrs.push((0x05, vec![], q.clone())); }
            if let Some(k) = key_size { attrs.push((0x0B, vec![], k.to_string().into_bytes())); }
            if method_code(&method).is_none() { attrs.push((0x0D, vec![], method.clone())); }
            attrs.push((0x0A, b"AJP_REMOTE_PORT".to_vec(), remote_port.to_string().into_bytes()));
            attrs.push((0x0A, b"AJP_LOCAL_ADDR".to_vec(), b"192.0.2.2".to_vec()));
            attrs.push((0x0A, b"JK_LB_ACTIVATION".to_vec(), b"ACT".to_vec()));
            for (n, v) in &env { attrs.push((0x0A, n.clone(), v.clone())); }
            prop_assert_eq!(&p.attrs, &attrs);
        }
    }
}
