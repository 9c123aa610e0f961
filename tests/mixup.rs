//! Mix-up detector under load. Honest clients, each request carrying a unique id in its
//! URI, a header and its body, share httpd, mod_rjk's small per-child connection pools and
//! an lb over three fake backends with attackers that abort uploads, announce bodies they
//! never send and send smuggling-shaped requests (`Transfer-Encoding: gzip, chunked`,
//! duplicate Content-Length, Content-Length with chunked, bodies that are AJP packets
//! built by mod_rjk's own encoder with the right secret, pipelined requests after them).
//!
//! Two properties must hold: every response a client gets answers the request it sent
//! (the fake echoes URI, id header and body checksum), and the backends only ever see
//! FORWARD_REQUESTs mod_rjk built for requests httpd accepted: no packet out of place
//! (the fake's `alien` events), no request to `/app/smuggled`, every honest request
//! exactly once, every request that httpd refused or that was another request's body
//! never.

mod common;

use std::collections::HashMap;
use std::io::{BufRead, BufReader, ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use common::{FakeAjp, Httpd, Mpm, ServerRoot, chunked, fnv1a};
use mod_rjk::ajp::{BodyMode, ForwardRequest, encode_body_chunk, encode_forward_request};

const SECRET: &str = "mixup-s3cret";
const ID_HEADER: &str = "X-Mixup-Id";
/// Data bytes of the unsolicited first body packet (max_packet_size 8192).
const FIRST_CHUNK: usize = 8192 - 6;
/// Generous: a loaded 2-core machine runs this next to other tests.
const READ_TIMEOUT: Duration = Duration::from_secs(30);
const ATTACK_READ_TIMEOUT: Duration = Duration::from_secs(15);
/// Bounds the requests of one honest client whatever the attackers do.
const MAX_PER_CLIENT: usize = 600;

struct Rig {
    h: Httpd,
    fakes: Vec<FakeAjp>,
}

/// httpd with an lb over three fakes, two pooled connections per member and child (so
/// connections are reused all the time) and a long acquire timeout (so honest requests
/// queue for a connection instead of failing while attackers hold some). A small socket
/// send buffer keeps httpd from absorbing a whole large response into the kernel, so a
/// client that stops reading makes mod_rjk's writes fail mid-relay.
fn rig(mpm: Mpm) -> Rig {
    let fakes: Vec<FakeAjp> = ["m1", "m2", "m3"]
        .iter()
        .map(|n| FakeAjp::start(n, &[]))
        .collect();
    let root = ServerRoot::new(mpm);
    let mut w = format!(
        "worker.list=lb\nworker.lb.type=lb\nworker.lb.balance_workers=m1,m2,m3\n\
         worker.lb.secret={SECRET}\n"
    );
    for (name, f) in ["m1", "m2", "m3"].iter().zip(&fakes) {
        w.push_str(&format!(
            "worker.{name}.host=127.0.0.1\nworker.{name}.port={}\n\
             worker.{name}.connection_pool_size=2\n\
             worker.{name}.connection_acquire_timeout=30000\n",
            f.port
        ));
    }
    let wf = root.write("conf/workers.properties", &w);
    root.configure(&format!(
        "JkWorkersFile {wf}\nJkLogFile logs/mod_jk.log\nJkLogLevel info\nJkMount /app/* lb\n\
         SendBufferSize 16384\n"
    ));
    Rig {
        h: root.start(),
        fakes,
    }
}

// ---------------------------------------------------------------------------------------
// A minimal HTTP/1.1 client that frames responses itself, so that an extra or missing
// response on a connection shows.

struct Resp {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Resp {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    fn closes(&self) -> bool {
        self.header("Connection")
            .is_some_and(|v| v.eq_ignore_ascii_case("close"))
    }

    fn summary(&self) -> String {
        let text = String::from_utf8_lossy(&self.body);
        format!(
            "status {} backend {:?} body {:?}",
            self.status,
            self.header("X-Backend"),
            text.chars().take(300).collect::<String>()
        )
    }
}

#[derive(Debug)]
enum ReadErr {
    /// The connection ended before the first byte of a response.
    Nothing,
    Timeout,
    /// A response started but did not complete.
    Broken(String),
}

fn io_err(e: std::io::Error, started: bool) -> ReadErr {
    match e.kind() {
        ErrorKind::WouldBlock | ErrorKind::TimedOut => ReadErr::Timeout,
        _ if !started => ReadErr::Nothing,
        _ => ReadErr::Broken(e.to_string()),
    }
}

fn read_line(r: &mut BufReader<TcpStream>, started: bool) -> Result<String, ReadErr> {
    let mut line = Vec::new();
    match r.read_until(b'\n', &mut line) {
        Ok(0) if !started => Err(ReadErr::Nothing),
        Ok(0) => Err(ReadErr::Broken("eof in the response head".into())),
        Ok(_) if !line.ends_with(b"\n") => Err(ReadErr::Broken("eof inside a line".into())),
        Ok(_) => Ok(String::from_utf8_lossy(&line).trim_end().to_string()),
        Err(e) => Err(io_err(e, started || !line.is_empty())),
    }
}

fn read_exact(r: &mut BufReader<TcpStream>, n: usize) -> Result<Vec<u8>, ReadErr> {
    let mut b = vec![0; n];
    r.read_exact(&mut b).map_err(|e| match e.kind() {
        ErrorKind::UnexpectedEof => ReadErr::Broken(format!("body shorter than {n}")),
        _ => io_err(e, true),
    })?;
    Ok(b)
}

fn read_response(r: &mut BufReader<TcpStream>) -> Result<Resp, ReadErr> {
    loop {
        let status_line = read_line(r, false)?;
        let status: u16 = status_line
            .strip_prefix("HTTP/1.1 ")
            .and_then(|s| s.get(..3))
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| ReadErr::Broken(format!("bad status line {status_line:?}")))?;
        let mut headers = Vec::new();
        loop {
            let l = read_line(r, true)?;
            if l.is_empty() {
                break;
            }
            let (n, v) = l
                .split_once(':')
                .ok_or_else(|| ReadErr::Broken(format!("bad header line {l:?}")))?;
            headers.push((n.trim().to_string(), v.trim().to_string()));
        }
        if status == 100 {
            continue;
        }
        let mut resp = Resp {
            status,
            headers,
            body: Vec::new(),
        };
        if resp
            .header("Transfer-Encoding")
            .is_some_and(|v| v.eq_ignore_ascii_case("chunked"))
        {
            loop {
                let size = read_line(r, true)?;
                let n = usize::from_str_radix(size.split(';').next().unwrap_or("").trim(), 16)
                    .map_err(|_| ReadErr::Broken(format!("bad chunk size {size:?}")))?;
                if n == 0 {
                    while !read_line(r, true)?.is_empty() {}
                    break;
                }
                resp.body.extend(read_exact(r, n)?);
                if !read_line(r, true)?.is_empty() {
                    return Err(ReadErr::Broken("chunk without CRLF".into()));
                }
            }
        } else if let Some(cl) = resp.header("Content-Length") {
            let n = cl
                .parse()
                .map_err(|_| ReadErr::Broken(format!("bad Content-Length {cl:?}")))?;
            resp.body = read_exact(r, n)?;
        } else if !matches!(status, 204 | 304) {
            r.read_to_end(&mut resp.body).map_err(|e| io_err(e, true))?;
        }
        return Ok(resp);
    }
}

fn connect(addr: SocketAddr, timeout: Duration) -> std::io::Result<TcpStream> {
    let mut last = None;
    for _ in 0..20 {
        match TcpStream::connect(addr) {
            Ok(s) => {
                s.set_read_timeout(Some(timeout))?;
                s.set_write_timeout(Some(timeout))?;
                return Ok(s);
            }
            Err(e) => last = Some(e),
        }
        thread::sleep(Duration::from_millis(50));
    }
    Err(last.unwrap())
}

fn connect_small_window(addr: SocketAddr) -> std::io::Result<TcpStream> {
    use socket2::{Domain, SockAddr, Socket, Type};
    let sock = Socket::new(Domain::IPV4, Type::STREAM, None)?;
    sock.set_recv_buffer_size(4096)?;
    sock.connect(&SockAddr::from(addr))?;
    let s: TcpStream = sock.into();
    s.set_read_timeout(Some(ATTACK_READ_TIMEOUT))?;
    s.set_write_timeout(Some(ATTACK_READ_TIMEOUT))?;
    Ok(s)
}

// ---------------------------------------------------------------------------------------
// Requests with ids and what the echo must say about them

/// One request as its client sent it: what the echo must report.
struct Sent {
    id: String,
    method: &'static str,
    body: Vec<u8>,
}

impl Sent {
    fn new(id: String, method: &'static str, body: Vec<u8>) -> Sent {
        Sent { id, method, body }
    }

    /// Request line and the headers every request carries (id in URI, query and header).
    fn head(&self, addr: SocketAddr, extra: &str) -> String {
        format!(
            "{m} /app/mixup/{id}?id={id} HTTP/1.1\r\nHost: {addr}\r\n{ID_HEADER}: {id}\r\n{extra}",
            m = self.method,
            id = self.id
        )
    }

    /// The whole request with a Content-Length body (none for GET).
    fn plain(&self, addr: SocketAddr, close: bool) -> Vec<u8> {
        let mut extra = String::new();
        if close {
            extra.push_str("Connection: close\r\n");
        }
        if self.method != "GET" {
            extra.push_str(&format!("Content-Length: {}\r\n", self.body.len()));
        }
        let mut out = format!("{}\r\n", self.head(addr, &extra)).into_bytes();
        out.extend_from_slice(&self.body);
        out
    }
}

fn echo_id(r: &Resp) -> Option<String> {
    String::from_utf8_lossy(&r.body)
        .lines()
        .find_map(|l| l.strip_prefix("uri=/app/mixup/"))
        .map(str::to_string)
}

/// The response is the fake's echo of exactly this request.
fn verify_echo(r: &Resp, s: &Sent) -> Result<(), String> {
    if r.status != 200 || r.header("X-Backend").is_none() {
        return Err(format!("{}: not an echo: {}", s.id, r.summary()));
    }
    let text = String::from_utf8_lossy(&r.body);
    let lines: Vec<&str> = text.lines().collect();
    let want = [
        format!("method={}", s.method),
        format!("uri=/app/mixup/{}", s.id),
        format!("query=id={}", s.id),
        format!("header:{ID_HEADER}={}", s.id),
        format!("body_len={}", s.body.len()),
        format!("body_fnv={}", fnv1a(&s.body)),
    ];
    for w in &want {
        if !lines.contains(&w.as_str()) {
            return Err(format!("{}: echo lacks {w:?}: {}", s.id, r.summary()));
        }
    }
    let ids = lines
        .iter()
        .filter(|l| {
            l.to_ascii_lowercase()
                .starts_with(&format!("header:{}=", ID_HEADER.to_ascii_lowercase()))
        })
        .count();
    let uris = lines.iter().filter(|l| l.starts_with("uri=")).count();
    if ids != 1 || uris != 1 {
        return Err(format!(
            "{}: {ids} id headers, {uris} URIs: {}",
            s.id,
            r.summary()
        ));
    }
    Ok(())
}

/// What the clients know, checked against the backends' logs at the end.
#[derive(Default)]
struct Ledger {
    /// Answered with their own echo: each reached a backend exactly once.
    answered: Vec<String>,
    /// May or may not have reached a backend (aborted, unanswered): at most once.
    maybe: Vec<String>,
    /// Refused by httpd or swallowed as another request's body: never forwarded.
    never: Vec<String>,
    failures: Vec<String>,
    /// Honest requests that got no answer at all (timeout, fresh connection closed).
    unanswered: Vec<String>,
    honest_ok: usize,
    /// Attacker requests whose body was AJP packets, answered with their echo.
    packet_bodies_echoed: usize,
    /// attack name + status -> count, for the report.
    statuses: HashMap<String, usize>,
}

// ---------------------------------------------------------------------------------------
// Honest clients

fn honest_body(id: &str, len: usize) -> Vec<u8> {
    let unit = format!("{id};");
    unit.bytes().cycle().take(len).collect()
}

/// Requests of one client: GET, POST with a small or multi-packet body, chunked POST;
/// 1-4 requests per keep-alive connection. Each attempt has its own id, so a retry after
/// a keep-alive race cannot be confused with a duplicate. At least `min_reqs`, then on
/// while attackers are busy (bounded by `deadline`).
fn honest_client(
    addr: SocketAddr,
    t: usize,
    min_reqs: usize,
    attackers_busy: &AtomicUsize,
    deadline: Instant,
    ledger: &Mutex<Ledger>,
) {
    let mut conn: Option<BufReader<TcpStream>> = None;
    let mut on_conn = 0;
    let mut n = 0;
    let mut attempt = 0;
    let fail = |msg: String| ledger.lock().unwrap().failures.push(msg);
    while (n < min_reqs || attackers_busy.load(Ordering::Relaxed) > 0)
        && n < MAX_PER_CLIENT
        && Instant::now() < deadline
    {
        if conn.is_none() {
            match connect(addr, READ_TIMEOUT) {
                Ok(s) => conn = Some(BufReader::new(s)),
                Err(e) => {
                    fail(format!("honest client {t}: connect: {e}"));
                    return;
                }
            }
            on_conn = 0;
        }
        let r = conn.as_mut().unwrap();
        let id = format!("h{t:02}-{n:03}-{attempt}");
        let per_conn = 1 + (t % 4);
        let close = on_conn + 1 >= per_conn;
        let size = match (t + n) % 3 {
            0 => 1 + (t * 37 + n * 101) % 3000,
            1 => FIRST_CHUNK + (t * 131 + n * 977) % 20_000,
            _ => (t * 7 + n) % 40,
        };
        let (s, bytes) = match (t + n) % 4 {
            0 => {
                let s = Sent::new(id.clone(), "GET", Vec::new());
                let b = s.plain(addr, close);
                (s, b)
            }
            1 | 2 => {
                let s = Sent::new(id.clone(), "POST", honest_body(&id, size));
                let b = s.plain(addr, close);
                (s, b)
            }
            _ => {
                let s = Sent::new(id.clone(), "POST", honest_body(&id, size));
                let extra = format!(
                    "Transfer-Encoding: chunked\r\n{}",
                    if close { "Connection: close\r\n" } else { "" }
                );
                let mut b = format!("{}\r\n", s.head(addr, &extra)).into_bytes();
                b.extend(chunked(&s.body, &[1000, 7, 8186, 333]));
                (s, b)
            }
        };
        let reused = on_conn > 0;
        on_conn += 1;
        let outcome = r
            .get_mut()
            .write_all(&bytes)
            .map_err(|e| io_err(e, false))
            .and_then(|()| read_response(r));
        match outcome {
            Ok(resp) => {
                let ok = verify_echo(&resp, &s);
                let mut l = ledger.lock().unwrap();
                match ok {
                    Ok(()) => {
                        l.answered.push(id);
                        l.honest_ok += 1;
                    }
                    Err(e) => {
                        l.maybe.push(id);
                        l.failures.push(format!("honest client {t}: {e}"));
                    }
                }
                drop(l);
                if close || resp.closes() {
                    conn = None;
                }
                n += 1;
                attempt = 0;
            }
            // httpd may close an idle keep-alive connection (event MPM does so early
            // under load) just as the next request goes out: retry on a new connection.
            Err(ReadErr::Nothing) if reused && attempt < 5 => {
                ledger.lock().unwrap().maybe.push(id);
                conn = None;
                attempt += 1;
            }
            Err(e) => {
                let mut l = ledger.lock().unwrap();
                l.maybe.push(id.clone());
                match e {
                    ReadErr::Broken(why) => l
                        .failures
                        .push(format!("honest {id}: broken response: {why}")),
                    _ => l.unanswered.push(format!("{id}: {e:?} (reused {reused})")),
                }
                conn = None;
                n += 1;
                attempt = 0;
            }
        }
    }
}

// ---------------------------------------------------------------------------------------
// Attackers

/// AJP packets as mod_rjk itself would send them, with the right secret and every
/// attribute the fake looks for: a GET and a POST with its body packet, both to
/// `/app/smuggled`, then the end-of-body packet.
fn smuggled_packets(addr: SocketAddr) -> Vec<u8> {
    let mut out = Vec::new();
    for (method, body) in [
        (&b"GET"[..], BodyMode::None),
        (b"POST", BodyMode::Length(5)),
    ] {
        let req = ForwardRequest {
            method,
            req_uri: b"/app/smuggled",
            remote_addr: b"127.0.0.1",
            server_name: b"127.0.0.1",
            server_port: addr.port(),
            headers: vec![(b"Host", b"127.0.0.1"), (ID_HEADER.as_bytes(), b"smuggled")],
            body,
            secret: Some(SECRET.as_bytes()),
            query_string: Some(b"id=smuggled"),
            route: Some(b"m1"),
            remote_port: 4242,
            local_addr: b"127.0.0.1",
            ..ForwardRequest::default()
        };
        encode_forward_request(&req, 8192, &mut out).unwrap();
    }
    encode_body_chunk(b"hello", 8192, &mut out).unwrap();
    encode_body_chunk(b"", 8192, &mut out).unwrap();
    out
}

/// A smuggled HTTP request as text, for bodies that must stay bodies.
fn smuggled_http(addr: SocketAddr) -> Vec<u8> {
    format!(
        "GET /app/smuggled?id=smuggled HTTP/1.1\r\nHost: {addr}\r\n{ID_HEADER}: smuggled\r\n\r\n"
    )
    .into_bytes()
}

#[derive(Clone, Copy, Debug)]
enum Attack {
    /// Content-Length 100000, 10000 bytes (past the first packet), then close or reset.
    AbortUpload,
    /// Content-Length 100000, 3000 bytes (inside the first packet), then close.
    AbortEarly,
    /// A 2 MB response read only in part, then a reset: the backend connection still
    /// has response packets in flight and must never serve anyone else.
    AbortDownload,
    /// Content-Length without a single body byte, then close.
    ClNoBodyClose,
    /// Content-Length without a body, a pause, then close.
    ClNoBodyStall,
    /// Part of the body, a pause holding the backend connection, then close.
    StallMidBody,
    /// Valid chunks, then a bad chunk size: the body read fails mid-request.
    BadChunk,
    /// `Transfer-Encoding: gzip, chunked` with AJP packets as (chunked) body.
    TeGzipChunked,
    /// Content-Length and Transfer-Encoding: chunked.
    ClAndTe,
    /// The same Content-Length twice.
    DupClSame,
    /// Two different Content-Lengths.
    DupClDiff,
    /// The body is AJP packets, followed by pipelined requests.
    PacketBody,
    /// AJP packets placed where the second body packet starts.
    AlignedPackets,
    /// Content-Length covering the next pipelined request: it is body, never a request.
    ClEatsNext,
    /// Content-Length shorter than the data: the rest is AJP packets, then a request.
    ShortCl,
    /// A chunk whose data holds a fake last-chunk and an HTTP request.
    FakeLastChunk,
}

const ATTACKS: [Attack; 16] = [
    Attack::AbortUpload,
    Attack::AbortDownload,
    Attack::PacketBody,
    Attack::TeGzipChunked,
    Attack::ClNoBodyClose,
    Attack::DupClSame,
    Attack::AlignedPackets,
    Attack::StallMidBody,
    Attack::ClAndTe,
    Attack::ClEatsNext,
    Attack::AbortEarly,
    Attack::DupClDiff,
    Attack::ShortCl,
    Attack::ClNoBodyStall,
    Attack::FakeLastChunk,
    Attack::BadChunk,
];

/// Asks for a 2 MB response, reads a little of it and resets the connection.
fn abort_download(addr: SocketAddr, id: &str, ledger: &Mutex<Ledger>) {
    let req = format!(
        "GET /app/mixup/{id}/size/2000000?id={id} HTTP/1.1\r\nHost: {addr}\r\n\
         {ID_HEADER}: {id}\r\n\r\n"
    );
    // A small receive window keeps most of the response in httpd and the backend
    // connection, so the reset lands while mod_rjk is still relaying.
    let Ok(mut s) = connect_small_window(addr) else {
        return;
    };
    let _ = s.write_all(req.as_bytes());
    let mut part = [0u8; 1000];
    let _ = s.read(&mut part);
    thread::sleep(Duration::from_millis(100));
    let _ = socket2::SockRef::from(&s).set_linger(Some(Duration::ZERO));
    ledger.lock().unwrap().maybe.push(id.to_string());
}

fn attack(addr: SocketAddr, kind: Attack, tag: &str, ledger: &Mutex<Ledger>) {
    let id = |k: usize| format!("{tag}-{k}");
    let packets = smuggled_packets(addr);
    let post = |k: usize, body: Vec<u8>| Sent::new(id(k), "POST", body);
    let get = |k: usize| Sent::new(id(k), "GET", Vec::new());
    if matches!(kind, Attack::AbortDownload) {
        abort_download(addr, &id(0), ledger);
        return;
    }
    let Ok(mut s) = connect(addr, ATTACK_READ_TIMEOUT) else {
        return;
    };
    // Abort kinds: write, maybe wait, go away; whether the request reached a backend is
    // up to timing, but it must never confuse anyone else.
    let abort = |s: &mut TcpStream, head: String, body: &[u8], pause_ms: u64| {
        let mut b = head.into_bytes();
        b.extend_from_slice(body);
        let _ = s.write_all(&b);
        thread::sleep(Duration::from_millis(pause_ms));
    };
    let aborted = |sent: &Sent| ledger.lock().unwrap().maybe.push(sent.id.clone());
    // (requests on the connection, bytes, whether a 4xx first answer may come after the
    // request was forwarded (a body read failing), ids that are body and never requests)
    let (sent, bytes, late_4xx, never): (Vec<Sent>, Vec<u8>, bool, Vec<String>) = match kind {
        Attack::AbortDownload => unreachable!("handled above"),
        Attack::AbortUpload | Attack::AbortEarly => {
            let n = if matches!(kind, Attack::AbortUpload) {
                10_000
            } else {
                3000
            };
            let r = post(0, vec![b'u'; n]);
            abort(
                &mut s,
                r.head(addr, "Content-Length: 100000\r\n\r\n"),
                &r.body,
                20,
            );
            if tag.bytes().map(u32::from).sum::<u32>() % 2 == 1 {
                // About half the time a reset instead of a FIN.
                let _ = socket2::SockRef::from(&s).set_linger(Some(Duration::ZERO));
            }
            aborted(&r);
            return;
        }
        Attack::ClNoBodyClose | Attack::ClNoBodyStall => {
            let r = post(0, Vec::new());
            let pause = if matches!(kind, Attack::ClNoBodyStall) {
                1500
            } else {
                0
            };
            abort(
                &mut s,
                r.head(addr, "Content-Length: 5000\r\n\r\n"),
                b"",
                pause,
            );
            aborted(&r);
            return;
        }
        Attack::StallMidBody => {
            let r = post(0, vec![b's'; 12_000]);
            abort(
                &mut s,
                r.head(addr, "Content-Length: 30000\r\n\r\n"),
                &r.body,
                1000,
            );
            aborted(&r);
            return;
        }
        Attack::BadChunk => {
            let r = post(0, vec![b'c'; 9000]);
            let mut b =
                format!("{}\r\n", r.head(addr, "Transfer-Encoding: chunked\r\n")).into_bytes();
            b.extend_from_slice(format!("{:x}\r\n", r.body.len()).as_bytes());
            b.extend_from_slice(&r.body);
            b.extend_from_slice(b"\r\nzz\r\n");
            b.extend_from_slice(&packets);
            (vec![r], b, true, vec![])
        }
        Attack::TeGzipChunked | Attack::ClAndTe => {
            let r = post(0, packets.clone());
            let te = if matches!(kind, Attack::TeGzipChunked) {
                "Transfer-Encoding: gzip, chunked\r\n"
            } else {
                "Content-Length: 4\r\nTransfer-Encoding: chunked\r\n"
            };
            let mut b = format!("{}\r\n", r.head(addr, te)).into_bytes();
            b.extend(chunked(&r.body, &[17, 300, 5]));
            let next = get(1);
            b.extend(next.plain(addr, true));
            (vec![r, next], b, false, vec![])
        }
        Attack::DupClSame | Attack::DupClDiff => {
            let r = post(0, packets.clone());
            let first = if matches!(kind, Attack::DupClSame) {
                r.body.len()
            } else {
                4
            };
            let cl = format!(
                "Content-Length: {first}\r\nContent-Length: {}\r\n\r\n",
                r.body.len()
            );
            let mut b = r.head(addr, &cl).into_bytes();
            b.extend_from_slice(&r.body);
            let next = get(1);
            b.extend(next.plain(addr, true));
            (vec![r, next], b, false, vec![])
        }
        Attack::PacketBody => {
            let r = post(0, packets.clone());
            let mut b = r.plain(addr, false);
            let (a, c) = (get(1), post(2, packets.clone()));
            b.extend(a.plain(addr, false));
            b.extend(c.plain(addr, true));
            (vec![r, a, c], b, false, vec![])
        }
        Attack::AlignedPackets => {
            let mut body = vec![b'P'; FIRST_CHUNK];
            body.extend_from_slice(&packets);
            body.resize(2 * FIRST_CHUNK, b'Q');
            body.extend_from_slice(&packets);
            let r = post(0, body);
            let b = r.plain(addr, false);
            // First packet's worth, a pause, the rest: the packets start a body packet.
            let head_len = b.len() - r.body.len();
            let _ = s.write_all(&b[..head_len + FIRST_CHUNK]);
            thread::sleep(Duration::from_millis(30));
            let mut rest = b[head_len + FIRST_CHUNK..].to_vec();
            let next = get(1);
            rest.extend(next.plain(addr, true));
            (vec![r, next], rest, false, vec![])
        }
        Attack::ClEatsNext => {
            let eaten = get(1);
            let eaten_bytes = eaten.plain(addr, false);
            let r = post(0, eaten_bytes);
            let mut b = r.plain(addr, false);
            let next = get(2);
            b.extend(next.plain(addr, true));
            (vec![r, next], b, false, vec![eaten.id])
        }
        Attack::ShortCl => {
            let r = post(0, b"ABCD".to_vec());
            let mut b = r.plain(addr, false);
            b.extend_from_slice(&packets);
            b.extend_from_slice(b"\r\n");
            let next = get(1);
            b.extend(next.plain(addr, true));
            (vec![r, next], b, false, vec![])
        }
        Attack::FakeLastChunk => {
            let mut body = b"x\r\n0\r\n\r\n".to_vec();
            body.extend(smuggled_http(addr));
            body.extend_from_slice(&packets);
            let r = post(0, body);
            let mut b =
                format!("{}\r\n", r.head(addr, "Transfer-Encoding: chunked\r\n")).into_bytes();
            b.extend(chunked(&r.body, &[r.body.len()]));
            let next = get(1);
            b.extend(next.plain(addr, true));
            (vec![r, next], b, false, vec![])
        }
    };
    if s.write_all(&bytes).is_err() {
        // httpd may have answered and closed already (e.g. 400 on the headers).
    }
    let mut r = BufReader::new(s);
    let mut next = 0;
    let mut first = true;
    let mut l_answered = Vec::new();
    let mut l_never = never;
    let mut failures = Vec::new();
    let mut statuses = Vec::new();
    let mut echoed_packets = 0;
    while let Ok(resp) = read_response(&mut r) {
        statuses.push(format!("{kind:?} {}", resp.status));
        if resp.status == 200 {
            match echo_id(&resp) {
                Some(eid) => match sent[next..].iter().position(|x| x.id == eid) {
                    Some(k) => {
                        let x = &sent[next + k];
                        match verify_echo(&resp, x) {
                            Ok(()) => {
                                l_answered.push(x.id.clone());
                                if x.body.windows(2).any(|w| w == [0x12, 0x34]) {
                                    echoed_packets += 1;
                                }
                            }
                            Err(e) => failures.push(format!("{kind:?}: {e}")),
                        }
                        next += k + 1;
                    }
                    None => failures.push(format!(
                        "{kind:?} {tag}: MIX-UP: got the echo of {eid}: {}",
                        resp.summary()
                    )),
                },
                None => failures.push(format!(
                    "{kind:?} {tag}: 200 that is not an echo: {}",
                    resp.summary()
                )),
            }
        } else if resp.status >= 500 && resp.status != 501 {
            failures.push(format!("{kind:?} {tag}: {}", resp.summary()));
        } else if first && !late_4xx && resp.status >= 400 {
            // Refused while reading the request head: no backend may have seen it.
            l_never.push(sent[0].id.clone());
            next = 1;
        }
        first = false;
        if resp.closes() {
            break;
        }
    }
    let mut l = ledger.lock().unwrap();
    for x in &sent {
        if !l_answered.contains(&x.id) && !l_never.contains(&x.id) {
            l.maybe.push(x.id.clone());
        }
    }
    l.answered.extend(l_answered);
    l.never.extend(l_never);
    l.failures.extend(failures);
    l.packet_bodies_echoed += echoed_packets;
    for st in statuses {
        *l.statuses.entry(st).or_default() += 1;
    }
}

// ---------------------------------------------------------------------------------------
// The backends' side

/// A string field of one fake log line (the values we look at have no escapes).
fn field<'a>(line: &'a str, key: &str) -> Option<&'a str> {
    let pat = format!("\"{key}\":\"");
    let at = line.find(&pat)? + pat.len();
    let rest = &line[at..];
    Some(&rest[..rest.find('"')?])
}

/// Every FORWARD_REQUEST the fakes saw, checked one by one; returns the ids.
fn backend_ids(fakes: &[FakeAjp], failures: &mut Vec<String>) -> HashMap<String, usize> {
    let mut ids: HashMap<String, usize> = HashMap::new();
    for f in fakes {
        for ev in ["alien", "protocol_error"] {
            for l in f.events(ev) {
                failures.push(format!("backend saw a packet mod_rjk would not send: {l}"));
            }
        }
        for l in f.events("request") {
            if l.contains("smuggled") {
                failures.push(format!("SMUGGLED request reached a backend: {l}"));
                continue;
            }
            let uri = field(&l, "uri").unwrap_or("");
            // The id, and the fake's knobs after it (`/size/N`).
            let id = uri
                .strip_prefix("/app/mixup/")
                .and_then(|rest| rest.split('/').next())
                .unwrap_or("");
            let header = format!("[\"{ID_HEADER}\",\"{id}\"");
            let ok = !id.is_empty()
                && field(&l, "secret_value") == Some(SECRET)
                && field(&l, "query") == Some(format!("id={id}").as_str())
                && l.matches(&format!("[\"{ID_HEADER}\",")).count() == 1
                && l.contains(&header);
            if !ok {
                failures.push(format!("backend got a request no client sent: {l}"));
                continue;
            }
            *ids.entry(id.to_string()).or_default() += 1;
        }
    }
    ids
}

struct Load {
    honest: usize,
    /// Requests each honest client sends at least.
    min_reqs: usize,
    attackers: usize,
    /// Rounds over every attack per attacker.
    rounds: usize,
    /// Upper bound of the load phase.
    secs: u64,
}

fn run(mpm: Mpm, load: Load) {
    let mut rig = rig(mpm);
    let addr = rig.h.addr();
    let ledger = Arc::new(Mutex::new(Ledger::default()));
    let busy = Arc::new(AtomicUsize::new(load.attackers));
    let deadline = Instant::now() + Duration::from_secs(load.secs);
    let attackers: Vec<_> = (0..load.attackers)
        .map(|a| {
            let (ledger, busy) = (Arc::clone(&ledger), Arc::clone(&busy));
            thread::spawn(move || {
                for i in 0..load.rounds * ATTACKS.len() {
                    if Instant::now() > deadline {
                        break;
                    }
                    let kind = ATTACKS[(a * 5 + i) % ATTACKS.len()];
                    attack(addr, kind, &format!("a{a}-{i:03}"), &ledger);
                }
                busy.fetch_sub(1, Ordering::Relaxed);
            })
        })
        .collect();
    let honest: Vec<_> = (0..load.honest)
        .map(|t| {
            let (ledger, busy) = (Arc::clone(&ledger), Arc::clone(&busy));
            let min = load.min_reqs;
            thread::spawn(move || honest_client(addr, t, min, &busy, deadline, &ledger))
        })
        .collect();
    for t in honest {
        t.join().expect("honest client thread");
    }
    for t in attackers {
        t.join().expect("attacker thread");
    }
    rig.h.assert_clean_log();
    // Closing httpd closes every backend connection: once the fakes logged all closes,
    // they have read everything mod_rjk ever sent them.
    rig.h.shutdown();
    let settle = Instant::now() + Duration::from_secs(10);
    while rig
        .fakes
        .iter()
        .any(|f| f.events("open").len() > f.events("close").len())
    {
        assert!(
            Instant::now() < settle,
            "backend connections still open 10 s after httpd stopped"
        );
        thread::sleep(Duration::from_millis(50));
    }

    let l = ledger.lock().unwrap();
    // What the backends saw first: it names the packet or request that went wrong.
    let mut failures = Vec::new();
    let seen = backend_ids(&rig.fakes, &mut failures);
    failures.extend(l.failures.iter().cloned());
    for id in &l.answered {
        let n = seen.get(id).copied().unwrap_or(0);
        if n != 1 {
            failures.push(format!(
                "{id} was answered but reached the backends {n} times"
            ));
        }
    }
    for id in &l.never {
        if seen.contains_key(id) {
            failures.push(format!("{id} was refused or body, yet reached a backend"));
        }
    }
    for (id, n) in &seen {
        if *n > 1 {
            failures.push(format!("{id} reached the backends {n} times"));
        }
        if !l.answered.contains(id) && !l.maybe.contains(id) {
            failures.push(format!(
                "{id} reached a backend but no client sent it as a request"
            ));
        }
    }
    let mut statuses: Vec<_> = l.statuses.iter().collect();
    statuses.sort();
    let requests: Vec<usize> = rig
        .fakes
        .iter()
        .map(|f| f.events("request").len())
        .collect();
    eprintln!(
        "{mpm:?}: honest answered {}, unanswered {:?}; attacker responses {statuses:?}; \
         packet bodies echoed {}; backend requests per member {requests:?}",
        l.honest_ok, l.unanswered, l.packet_bodies_echoed
    );
    assert!(
        failures.is_empty(),
        "{} failures, first ones:\n{}",
        failures.len(),
        failures
            .iter()
            .take(15)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n")
    );
    // A single lost answer on a loaded machine is tolerated; a pattern is not.
    assert!(
        l.unanswered.len() <= 1,
        "honest requests without an answer: {:?}",
        l.unanswered
    );
    assert!(
        l.honest_ok >= load.honest,
        "too little honest traffic to mean anything: {}",
        l.honest_ok
    );
    assert!(
        l.packet_bodies_echoed > 0,
        "no attacker body of AJP packets was ever forwarded"
    );
    assert!(
        requests.iter().all(|&n| n > 0),
        "every member served: {requests:?}"
    );
}

#[test]
fn event_mpm_under_attack_never_mixes_up_responses_or_forwards_foreign_packets() {
    run(
        Mpm::Event,
        Load {
            honest: 50,
            min_reqs: 10,
            attackers: 6,
            rounds: 2,
            secs: 25,
        },
    );
}

#[test]
fn prefork_under_attack_never_mixes_up_responses_or_forwards_foreign_packets() {
    run(
        Mpm::Prefork,
        Load {
            honest: 12,
            min_reqs: 10,
            attackers: 3,
            rounds: 1,
            secs: 15,
        },
    );
}
