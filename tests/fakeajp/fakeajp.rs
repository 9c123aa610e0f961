//! rjk-fakeajp: a scriptable AJP13 backend for mod_rjk's integration tests.
//!
//! ```text
//! rjk-fakeajp --listen 127.0.0.1:0 [--scenario NAME] [--name NAME] [--log FILE]
//!             [--max-packet N] [--die-with-stdin] [--quiet] [--fast] [--health-file F] [--list]
//!             [--unix PATH]
//! ```
//!
//! `--unix PATH` listens on a Unix domain socket at PATH (replacing any socket file
//! there, mode 0666) instead of `--listen`, and prints `READY 0`.
//!
//! Prints `READY <port>` once listening, then serves every connection on its own thread
//! until killed. Every event is one JSON line on `--log` (default stderr). The scenario
//! applies to each request; a request whose URI contains `/fault/<name>[/<arg>]` plays
//! that scenario instead, so one process serves every test. `--list` prints them.
//!
//! `--quiet` logs nothing (no event is even formatted). `--fast` is the benchmark
//! backend (tests/bench/bench.py): `/size/N` bodies are built into AJP packets once per N
//! and sent with one `writev` per response; it implies `--quiet` unless `--log` is given.
//!
//! Std only and independent of `mod_rjk::ajp` (see `wire.rs`): it is the oracle.

// This file is also picked up as the `fakeajp` integration test (tests/*/main.rs), where
// only the unit tests run and `main` is never called.
#![cfg_attr(test, allow(dead_code))]

#[path = "wire.rs"]
mod wire;

use std::collections::HashMap;
use std::fmt::Write as _;
use std::io::{self, BufRead, IoSlice, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::os::unix::net::{UnixListener, UnixStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::thread;
use std::time::{Duration, Instant};

use wire::{Name, RES_CONTENT_LENGTH, RES_CONTENT_TYPE, RES_SET_COOKIE, ReadError, Request};

struct Config {
    scenario: &'static Scenario,
    name: String,
    max_packet: usize,
    /// `--fast`: cached `/size/N` packets, one write per response.
    fast: bool,
    /// `--health-file`: `/health` answers the status written in this file (200 when it
    /// is missing), so a test can flip a backend's health.
    health_file: Option<String>,
}

/// `--quiet` (or `--fast` without `--log`): no event is formatted or written.
static QUIET: AtomicBool = AtomicBool::new(false);

/// `/size/N` bodies up to this size are cached by `--fast`; larger ones are built per
/// request as usual.
const FAST_CACHE_MAX: u64 = 64 << 20;

struct Shared {
    cfg: Config,
    log: Log,
    next_conn: AtomicU64,
    total_requests: AtomicU64,
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut listen = "127.0.0.1:8009".to_string();
    let mut unix: Option<String> = None;
    let mut scenario = "ok".to_string();
    let mut health_file: Option<String> = None;
    let mut name = "fakeajp".to_string();
    let mut log_path = None;
    let mut max_packet = 8192usize;
    let mut die_with_stdin = false;
    let mut quiet = false;
    let mut fast = false;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let mut val = || {
            it.next()
                .cloned()
                .unwrap_or_else(|| usage(&format!("{a} needs a value")))
        };
        match a.as_str() {
            "--listen" => listen = val(),
            "--unix" => unix = Some(val()),
            "--scenario" => scenario = val(),
            "--name" => name = val(),
            "--log" => log_path = Some(val()),
            "--max-packet" => {
                max_packet = val().parse().unwrap_or_else(|_| usage("bad --max-packet"));
                if !(8192..=65536).contains(&max_packet) {
                    usage("--max-packet must be 8192..65536");
                }
            }
            "--die-with-stdin" => die_with_stdin = true,
            "--quiet" => quiet = true,
            "--fast" => fast = true,
            "--health-file" => health_file = Some(val()),
            "--list" => {
                for s in SCENARIOS {
                    println!("{:<22} {}", s.name, s.about);
                }
                return;
            }
            "-h" | "--help" => usage(""),
            other => usage(&format!("unknown argument {other}")),
        }
    }
    QUIET.store(quiet || (fast && log_path.is_none()), Ordering::Relaxed);
    let scenario =
        find_scenario(&scenario).unwrap_or_else(|| usage(&format!("unknown scenario {scenario}")));
    let sink: Box<dyn Write + Send> = match &log_path {
        Some(p) => Box::new(
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(p)
                .unwrap_or_else(|e| usage(&format!("cannot open log {p}: {e}"))),
        ),
        None => Box::new(io::stderr()),
    };
    let listener = Listener::bind(&listen, unix.as_deref());
    let port = listener.port();
    let shared = Arc::new(Shared {
        cfg: Config {
            scenario,
            name,
            max_packet,
            fast,
            health_file,
        },
        log: Log {
            out: Mutex::new(sink),
            start: Instant::now(),
        },
        next_conn: AtomicU64::new(1),
        total_requests: AtomicU64::new(0),
    });
    shared.log.event(
        Ev::new("listen")
            .num("port", port)
            .str("name", &shared.cfg.name)
            .str("scenario", scenario.name)
            .num("max_packet", max_packet),
    );
    // Tests read this line to learn the port; it must be out before the first accept.
    println!("READY {port}");
    let _ = io::stdout().flush();

    if die_with_stdin {
        // A test harness that dies without killing us closes our stdin.
        thread::spawn(|| {
            let mut sink = String::new();
            while io::stdin()
                .lock()
                .read_line(&mut sink)
                .map(|n| n > 0)
                .unwrap_or(false)
            {
                sink.clear();
            }
            std::process::exit(0);
        });
    }

    loop {
        match listener.accept() {
            Ok(s) => {
                let shared = Arc::clone(&shared);
                thread::spawn(move || serve(shared, s));
            }
            Err(e) => shared
                .log
                .event(Ev::new("accept_error").str("error", &e.to_string())),
        }
    }
}

fn usage(msg: &str) -> ! {
    if !msg.is_empty() {
        eprintln!("rjk-fakeajp: {msg}");
    }
    eprintln!(
        "usage: rjk-fakeajp --listen ADDR [--scenario NAME] [--name NAME] [--log FILE] \
         [--max-packet N] [--die-with-stdin] [--quiet] [--fast] [--health-file F] [--list] \
         [--unix PATH]"
    );
    std::process::exit(2)
}

/// The listening socket: TCP, or a Unix domain socket with `--unix`.
enum Listener {
    Tcp(TcpListener),
    Unix(UnixListener),
}

impl Listener {
    fn bind(listen: &str, unix: Option<&str>) -> Listener {
        match unix {
            Some(path) => {
                use std::os::unix::fs::PermissionsExt;
                let _ = std::fs::remove_file(path);
                let l = UnixListener::bind(path)
                    .unwrap_or_else(|e| usage(&format!("cannot listen on {path}: {e}")));
                let _ = std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o666));
                Listener::Unix(l)
            }
            None => Listener::Tcp(
                TcpListener::bind(listen)
                    .unwrap_or_else(|e| usage(&format!("cannot listen on {listen}: {e}"))),
            ),
        }
    }

    fn port(&self) -> u16 {
        match self {
            Listener::Tcp(l) => l.local_addr().map(|a| a.port()).unwrap_or(0),
            Listener::Unix(_) => 0,
        }
    }

    fn accept(&self) -> io::Result<Sock> {
        match self {
            Listener::Tcp(l) => l.accept().map(|(s, _)| Sock::Tcp(s)),
            Listener::Unix(l) => l.accept().map(|(s, _)| Sock::Unix(s)),
        }
    }
}

/// One accepted connection, over TCP or a Unix domain socket.
enum Sock {
    Tcp(TcpStream),
    Unix(UnixStream),
}

impl Sock {
    fn peer(&self) -> String {
        match self {
            Sock::Tcp(s) => {
                let _ = s.set_nodelay(true);
                s.peer_addr().map(|a| a.to_string()).unwrap_or_default()
            }
            Sock::Unix(_) => "unix".to_string(),
        }
    }

    /// TCP_CORK on a TCP connection; a Unix socket has nothing alike (no-op).
    fn cork(&self, on: bool) -> io::Result<()> {
        match self {
            Sock::Tcp(s) => socket2::SockRef::from(s).set_tcp_cork(on),
            Sock::Unix(_) => Ok(()),
        }
    }

    fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        match self {
            Sock::Tcp(s) => s.shutdown(how),
            Sock::Unix(s) => s.shutdown(how),
        }
    }
}

impl std::os::fd::AsFd for Sock {
    fn as_fd(&self) -> std::os::fd::BorrowedFd<'_> {
        match self {
            Sock::Tcp(s) => s.as_fd(),
            Sock::Unix(s) => s.as_fd(),
        }
    }
}

impl io::Read for Sock {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Sock::Tcp(s) => s.read(buf),
            Sock::Unix(s) => s.read(buf),
        }
    }
}

impl Write for Sock {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Sock::Tcp(s) => s.write(buf),
            Sock::Unix(s) => s.write(buf),
        }
    }

    fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        match self {
            Sock::Tcp(s) => s.write_vectored(bufs),
            Sock::Unix(s) => s.write_vectored(bufs),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------
// Logging

struct Log {
    out: Mutex<Box<dyn Write + Send>>,
    start: Instant,
}

impl Log {
    fn event(&self, ev: Ev) {
        let Some(fields) = ev.0 else { return };
        let mut line = format!("{{\"t\":{}", self.start.elapsed().as_millis());
        line.push_str(&fields);
        line.push_str("}\n");
        let mut out = self.out.lock().unwrap_or_else(|p| p.into_inner());
        let _ = out.write_all(line.as_bytes());
        let _ = out.flush();
    }
}

/// One JSON object under construction (fields only, braces added by `Log`); `None` when
/// logging is off, so a quiet backend formats nothing.
struct Ev(Option<String>);

impl Ev {
    fn new(kind: &str) -> Self {
        if QUIET.load(Ordering::Relaxed) {
            return Ev(None);
        }
        Ev(Some(String::new())).str("ev", kind)
    }

    fn field(mut self, k: &str, f: impl FnOnce(&mut String)) -> Self {
        if let Some(s) = &mut self.0 {
            let _ = write!(s, ",\"{k}\":");
            f(s);
        }
        self
    }

    fn num(self, k: &str, v: impl std::fmt::Display) -> Self {
        self.field(k, |s| {
            let _ = write!(s, "{v}");
        })
    }

    fn bool(self, k: &str, v: bool) -> Self {
        self.num(k, v)
    }

    fn str(self, k: &str, v: &str) -> Self {
        self.bytes(k, v.as_bytes())
    }

    fn bytes(self, k: &str, v: &[u8]) -> Self {
        self.field(k, |s| json_str(s, v))
    }

    fn opt_bytes(self, k: &str, v: Option<&[u8]>) -> Self {
        match v {
            Some(v) => self.bytes(k, v),
            None => self.raw(k, "null"),
        }
    }

    fn raw(self, k: &str, json: &str) -> Self {
        self.field(k, |s| s.push_str(json))
    }
}

/// JSON string; bytes that are not UTF-8 are shown as Latin-1 code points.
fn json_str(out: &mut String, v: &[u8]) {
    out.push('"');
    let text: String = match std::str::from_utf8(v) {
        Ok(s) => s.to_string(),
        Err(_) => v.iter().map(|&b| char::from(b)).collect(),
    };
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 || c as u32 == 0x7F => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

// ---------------------------------------------------------------------------------------
// Connections

struct Conn {
    id: u64,
    stream: Sock,
    shared: Arc<Shared>,
    /// FORWARD_REQUESTs seen on this connection.
    requests: u64,
    ignore_cping: bool,
}

enum Flow {
    Continue,
    /// Close the connection ourselves, for this reason.
    Close(&'static str),
}

fn serve(shared: Arc<Shared>, stream: Sock) {
    let id = shared.next_conn.fetch_add(1, Ordering::Relaxed);
    let peer = stream.peer();
    shared
        .log
        .event(Ev::new("open").num("conn", id).str("peer", &peer));
    let ignore_cping = shared.cfg.scenario.name == "no_cpong";
    let mut c = Conn {
        id,
        stream,
        shared,
        requests: 0,
        ignore_cping,
    };
    let (by, reason) = loop {
        let p = match wire::read_packet(&mut c.stream, c.shared.cfg.max_packet) {
            Ok(p) => p,
            Err(ReadError::Eof) => break ("peer", "eof".to_string()),
            Err(ReadError::Io(e)) => break ("peer", format!("io error: {e}")),
            Err(ReadError::Protocol(e)) => {
                c.log(Ev::new("protocol_error").str("error", &e));
                break ("fake", e);
            }
        };
        let kind = p.payload.first().copied();
        let flow = match kind {
            Some(10) => {
                c.log_packet("CPING", &p, None);
                if c.ignore_cping {
                    c.log(Ev::new("cping_ignored"));
                    Ok(Flow::Continue)
                } else {
                    c.send(&wire::cpong()).map(|()| Flow::Continue)
                }
            }
            Some(2) => {
                c.log_packet("FORWARD_REQUEST", &p, None);
                c.handle_request(&p.payload)
            }
            _ => {
                // A body packet nobody asked for lands here too (its first byte is the
                // high byte of its length): exactly what a real container would misread.
                c.log_packet("UNEXPECTED", &p, Some(false));
                c.alien("neither CPING nor FORWARD_REQUEST", &p.payload);
                Ok(Flow::Close("unexpected packet"))
            }
        };
        match flow {
            Ok(Flow::Continue) => {}
            Ok(Flow::Close(why)) => break ("fake", why.to_string()),
            Err(e) => break ("peer", format!("io error: {e}")),
        }
    };
    if by == "fake" {
        let _ = c.stream.shutdown(Shutdown::Both);
    }
    c.log(
        Ev::new("close")
            .str("by", by)
            .str("reason", &reason)
            .num("requests", c.requests),
    );
}

/// What the backend read of the request body.
struct Body {
    len: u64,
    fnv: u64,
    packets: u32,
    /// The web server ended the body (empty packet) before Content-Length was reached.
    short: bool,
}

impl Conn {
    fn log(&self, ev: Ev) {
        self.shared.log.event(ev.num("conn", self.id));
    }

    fn log_packet(&self, kind: &str, p: &wire::Packet, solicited: Option<bool>) {
        let mut ev = Ev::new("packet").str("type", kind).num("len", p.declared);
        if let Some(s) = solicited {
            ev = ev.bool("solicited", s);
        }
        if kind == "UNEXPECTED" {
            ev = ev.num("first_byte", p.payload.first().copied().unwrap_or(0));
        }
        self.log(ev);
    }

    /// Bytes waiting to be read (up to 256 KiB), after waiting up to `wait` for the first.
    fn readable(&self, wait: Duration) -> usize {
        let sock = socket2::SockRef::from(&self.stream);
        if wait.is_zero() {
            // One cheap non-blocking peek: is anything there at all?
            let mut b = [std::mem::MaybeUninit::<u8>::uninit()];
            return sock
                .recv_with_flags(&mut b, libc::MSG_PEEK | libc::MSG_DONTWAIT)
                .unwrap_or(0);
        }
        let _ = sock.set_read_timeout(Some(wait));
        let mut buf = vec![std::mem::MaybeUninit::<u8>::uninit(); 256 << 10];
        let n = sock.recv_with_flags(&mut buf, libc::MSG_PEEK).unwrap_or(0);
        let _ = sock.set_read_timeout(None);
        n
    }

    fn send(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.stream.write_all(bytes)
    }

    /// A packet the connector would not have sent at this point of the exchange (the
    /// mix-up tests require none): with the URI when it reads as a FORWARD_REQUEST.
    fn alien(&self, why: &str, payload: &[u8]) {
        let uri = wire::parse_forward_request(payload).ok().map(|r| r.uri);
        self.log(
            Ev::new("alien")
                .str("why", why)
                .num("first_byte", payload.first().copied().unwrap_or(0))
                .num("len", payload.len())
                .opt_bytes("uri", uri.as_deref()),
        );
    }

    fn max(&self) -> usize {
        self.shared.cfg.max_packet
    }

    fn handle_request(&mut self, payload: &[u8]) -> io::Result<Flow> {
        let req = match wire::parse_forward_request(payload) {
            Ok(r) => r,
            Err(e) => {
                self.log(Ev::new("protocol_error").str("error", &e));
                self.alien("unparsable FORWARD_REQUEST", payload);
                return Ok(Flow::Close("bad FORWARD_REQUEST"));
            }
        };
        // mod_rjk sends these on every request; a FORWARD_REQUEST without them was built
        // by someone else (e.g. request body bytes taken for a packet).
        if CONNECTOR_ATTRS.iter().any(|a| req.attr(a).is_none()) {
            self.alien("FORWARD_REQUEST missing connector attributes", payload);
        }
        self.requests += 1;
        let total = self.shared.total_requests.fetch_add(1, Ordering::Relaxed) + 1;
        let (scenario, arg) = pick_scenario(&req.uri, self.shared.cfg.scenario);
        self.log(
            request_event(&req)
                .num("n", self.requests)
                .num("total", total)
                .str("scenario", scenario.name),
        );
        let cl = match req.content_length() {
            Ok(cl) => cl,
            Err(e) => {
                self.log(Ev::new("protocol_error").str("error", &e));
                return Ok(Flow::Close("bad content-length"));
            }
        };
        let ask = if scenario.name == "getbody_ffff" {
            Some(0xFFFF)
        } else {
            None
        };
        let only_first = matches!(scenario.name, "close_before_headers" | "reject_unread")
            || (scenario.name == "close_if_large" && cl.is_some_and(|n| n > LARGE_BODY));
        // read_part: as many GET_BODY_CHUNKs as ARG says (default 1).
        let asks = match scenario.name {
            "read_part" | "read_part_close" => {
                Some(arg.as_deref().and_then(|a| a.parse().ok()).unwrap_or(1))
            }
            _ if only_first => Some(0),
            _ => None,
        };
        let body = match self.read_body(cl, ask, asks) {
            Ok(b) => b,
            Err(ReadError::Protocol(e)) => {
                self.log(Ev::new("protocol_error").str("error", &e));
                return Ok(Flow::Close("bad body packet"));
            }
            Err(ReadError::Eof) => return Err(io::ErrorKind::UnexpectedEof.into()),
            Err(ReadError::Io(e)) => return Err(e),
        };
        self.log(
            Ev::new("body")
                .num("n", self.requests)
                .num("bytes", body.len)
                .str("fnv", &format!("{:016x}", body.fnv))
                .num("packets", body.packets)
                .bool("short", body.short),
        );
        if scenario.name != "ok" {
            self.log(
                Ev::new("fault")
                    .str("name", scenario.name)
                    .opt_bytes("arg", arg.as_deref().map(str::as_bytes)),
            );
        }
        let ctx = Ctx {
            req: &req,
            body: &body,
            arg,
        };
        (scenario.run)(self, &ctx)
    }

    /// Reads the request body the way Tomcat does: the unsolicited first packet when a
    /// length is announced, then GET_BODY_CHUNK for the rest (or until the empty packet
    /// when the length is unknown).
    fn read_body(
        &mut self,
        cl: Option<u64>,
        ask: Option<u16>,
        asks: Option<u32>,
    ) -> Result<Body, ReadError> {
        let mut body = Body {
            len: 0,
            fnv: FNV_OFFSET,
            packets: 0,
            short: false,
        };
        let want = match cl {
            Some(0) => {
                if ask.is_some() {
                    // getbody_ffff with no body: the answer must be the empty packet.
                    self.request_chunk(ask, &mut body)?;
                }
                return Ok(body);
            }
            Some(n) => {
                if !self.read_chunk(false, &mut body)? {
                    body.short = true;
                    return Ok(body);
                }
                Some(n)
            }
            None => None,
        };
        let mut asked = 0;
        loop {
            if asks.is_some_and(|max| asked >= max) {
                return Ok(body);
            }
            asked += 1;
            if let Some(n) = want {
                if body.len >= n {
                    return Ok(body);
                }
            }
            if !self.request_chunk(ask, &mut body)? {
                body.short = want.is_some();
                return Ok(body);
            }
        }
    }

    fn request_chunk(&mut self, ask: Option<u16>, body: &mut Body) -> Result<bool, ReadError> {
        let n = ask.unwrap_or((self.max() - 6) as u16);
        // Whether a body packet is already here before it is asked for (upload_window).
        let ready = self.readable(Duration::ZERO) > 0;
        self.send(&wire::get_body_chunk(n))?;
        self.log(
            Ev::new("sent")
                .str("type", "GET_BODY_CHUNK")
                .num("requested", n)
                .bool("ready", ready),
        );
        self.read_chunk(true, body)
    }

    /// `Ok(false)` on the end-of-body packet.
    fn read_chunk(&mut self, solicited: bool, body: &mut Body) -> Result<bool, ReadError> {
        let max = self.max();
        let p = wire::read_packet(&mut self.stream, max)?;
        let data = wire::body_data(&p).map_err(|e| {
            self.alien("not a body packet where the body was expected", &p.payload);
            ReadError::Protocol(e)
        })?;
        self.log(
            Ev::new("packet")
                .str("type", "BODY")
                .num("len", p.declared)
                .num("data", data.map_or(0, <[u8]>::len))
                .bool("solicited", solicited)
                .str(
                    "fnv",
                    &format!("{:016x}", fnv1a(FNV_OFFSET, data.unwrap_or(&[]))),
                ),
        );
        body.packets += 1;
        match data {
            None => Ok(false),
            Some(d) => {
                body.len += d.len() as u64;
                body.fnv = fnv1a(body.fnv, d);
                Ok(true)
            }
        }
    }

    /// Standard response headers plus `extra`.
    fn headers(&self, status: u16, reason: &[u8], extra: &[(Name<'_>, &[u8])]) -> Vec<u8> {
        let conn = self.id.to_string();
        let count = self.requests.to_string();
        let mut h: Vec<(Name<'_>, &[u8])> = vec![
            (Name::Str("X-Backend"), self.shared.cfg.name.as_bytes()),
            (Name::Str("X-Conn"), conn.as_bytes()),
            (Name::Str("X-Req-Count"), count.as_bytes()),
        ];
        h.extend_from_slice(extra);
        wire::send_headers(status, reason, &h)
    }

    /// Sends `data` in packets of the largest size the packet size allows.
    fn send_body(&mut self, data: &[u8]) -> io::Result<()> {
        for chunk in data.chunks(self.max() - 8) {
            self.send(&wire::body_chunk(chunk))?;
        }
        Ok(())
    }

    /// `--fast` `/size/N`: the same bytes as the normal path (same headers, packets of the
    /// same size), but the body packets come from a cache and the whole response leaves
    /// in one `writev`.
    fn respond_size_fast(&mut self, n: u64) -> io::Result<()> {
        if n > FAST_CACHE_MAX {
            let body: Vec<u8> = (0..n).map(|i| b'a' + (i % 26) as u8).collect();
            return self.respond(
                200,
                &[(Name::Code(RES_CONTENT_TYPE), b"application/octet-stream")],
                &body,
                true,
            );
        }
        let len = n.to_string();
        let mut h: Vec<(Name<'_>, &[u8])> =
            vec![(Name::Code(RES_CONTENT_TYPE), b"application/octet-stream")];
        if n > 0 {
            h.push((Name::Code(RES_CONTENT_LENGTH), len.as_bytes()));
        }
        let head = self.headers(200, b"OK", &h);
        let rest = size_packets(n, self.max());
        let (mut a, mut b): (&[u8], &[u8]) = (&head, &rest);
        while !a.is_empty() {
            let w = match self
                .stream
                .write_vectored(&[IoSlice::new(a), IoSlice::new(b)])
            {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(w) => w,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            if w < a.len() {
                a = &a[w..];
            } else {
                b = &b[w - a.len()..];
                a = &[];
            }
        }
        self.send(b)?;
        self.log(
            Ev::new("response")
                .num("n", self.requests)
                .num("status", 200)
                .num("body_bytes", n)
                .bool("reuse", true),
        );
        Ok(())
    }

    fn respond(
        &mut self,
        status: u16,
        extra: &[(Name<'_>, &[u8])],
        body: &[u8],
        reuse: bool,
    ) -> io::Result<()> {
        let len = body.len().to_string();
        let mut h: Vec<(Name<'_>, &[u8])> = extra.to_vec();
        if !body.is_empty() {
            h.push((Name::Code(RES_CONTENT_LENGTH), len.as_bytes()));
        }
        let head = self.headers(status, reason_for(status).as_bytes(), &h);
        self.send(&head)?;
        self.send_body(body)?;
        self.send(&wire::end_response(reuse))?;
        self.log(
            Ev::new("response")
                .num("n", self.requests)
                .num("status", status)
                .num("body_bytes", body.len())
                .bool("reuse", reuse),
        );
        Ok(())
    }
}

/// Serialized `/size/N` responses by (N, packet size).
type SizeCache = Mutex<HashMap<(u64, usize), Arc<Vec<u8>>>>;

/// `--fast`: the SEND_BODY_CHUNK packets of `/size/N` followed by END_RESPONSE(reuse),
/// built once per (N, packet size).
fn size_packets(n: u64, max_packet: usize) -> Arc<Vec<u8>> {
    static CACHE: OnceLock<SizeCache> = OnceLock::new();
    let cache = CACHE.get_or_init(|| Mutex::new(HashMap::new()));
    if let Some(p) = cache
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .get(&(n, max_packet))
    {
        return Arc::clone(p);
    }
    let body: Vec<u8> = (0..n).map(|i| b'a' + (i % 26) as u8).collect();
    let mut out = Vec::with_capacity(body.len() + body.len() / (max_packet - 8) * 8 + 16);
    for chunk in body.chunks(max_packet - 8) {
        out.extend_from_slice(&wire::body_chunk(chunk));
    }
    out.extend_from_slice(&wire::end_response(true));
    let p = Arc::new(out);
    cache
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .insert((n, max_packet), Arc::clone(&p));
    p
}

fn request_event(r: &Request) -> Ev {
    if QUIET.load(Ordering::Relaxed) {
        return Ev(None);
    }
    let mut headers = String::from("[");
    for (i, h) in r.headers.iter().enumerate() {
        if i > 0 {
            headers.push(',');
        }
        headers.push('[');
        json_str(&mut headers, &h.name);
        headers.push(',');
        json_str(&mut headers, &h.value);
        match h.code {
            Some(c) => {
                let _ = write!(headers, ",\"{c:04X}\"]");
            }
            None => headers.push_str(",null]"),
        }
    }
    headers.push(']');
    let mut attrs = String::from("[");
    for (i, a) in r.attrs.iter().enumerate() {
        if i > 0 {
            attrs.push(',');
        }
        let _ = write!(attrs, "{{\"code\":{},\"name\":", a.code);
        json_str(&mut attrs, &a.name);
        attrs.push_str(",\"value\":");
        json_str(&mut attrs, &a.value);
        attrs.push('}');
    }
    attrs.push(']');
    Ev::new("request")
        .bytes("method", &r.method)
        .num("method_code", r.method_code)
        .bytes("protocol", &r.protocol)
        .bytes("uri", &r.uri)
        .opt_bytes("query", r.attr("query_string"))
        .bytes("remote_addr", &r.remote_addr)
        .opt_bytes("remote_host", r.remote_host.as_deref())
        .bytes("server_name", &r.server_name)
        .num("server_port", r.server_port)
        .bool("is_ssl", r.is_ssl)
        .bool("secret", r.attr("secret").is_some())
        .opt_bytes("secret_value", r.attr("secret"))
        .opt_bytes("route", r.attr("route"))
        .raw("headers", &headers)
        .raw("attrs", &attrs)
}

const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;

/// `close_if_large`: bodies announced above this are refused by closing (1 MiB).
const LARGE_BODY: u64 = 1 << 20;

/// Request attributes mod_rjk puts into every FORWARD_REQUEST.
const CONNECTOR_ATTRS: [&str; 3] = ["AJP_REMOTE_PORT", "AJP_LOCAL_ADDR", "JK_LB_ACTIVATION"];

fn fnv1a(mut h: u64, data: &[u8]) -> u64 {
    for &b in data {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

fn reason_for(status: u16) -> &'static str {
    match status {
        200 => "OK",
        201 => "Created",
        204 => "No Content",
        301 => "Moved Permanently",
        302 => "Found",
        304 => "Not Modified",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        _ => "Status",
    }
}

/// Number after `/<name>/` anywhere in the path (so mounts like `/app/size/10` work).
fn knob(uri: &[u8], name: &str) -> Option<u64> {
    let tail = path_after(uri, name)?;
    let digits: &[u8] = tail.split(|&b| b == b'/').next()?;
    std::str::from_utf8(digits).ok()?.parse().ok()
}

/// Bytes after the first `/<name>/`.
fn path_after<'u>(uri: &'u [u8], name: &str) -> Option<&'u [u8]> {
    let pat = format!("/{name}/");
    let pat = pat.as_bytes();
    let at = uri.windows(pat.len()).position(|w| w == pat)?;
    Some(&uri[at + pat.len()..])
}

fn has_segment(uri: &[u8], seg: &str) -> bool {
    uri.split(|&b| b == b'/').any(|s| s == seg.as_bytes())
}

/// `/fault/<name>[/<arg>]` in the URI wins over the process-wide scenario.
fn pick_scenario(uri: &[u8], default: &'static Scenario) -> (&'static Scenario, Option<String>) {
    let Some(tail) = path_after(uri, "fault") else {
        return (default, None);
    };
    let mut parts = tail.split(|&b| b == b'/');
    let name = String::from_utf8_lossy(parts.next().unwrap_or_default()).into_owned();
    let arg = parts
        .next()
        .filter(|a| !a.is_empty())
        .map(|a| String::from_utf8_lossy(a).into_owned());
    match find_scenario(&name) {
        Some(s) => (s, arg),
        None => (&UNKNOWN_FAULT, Some(name)),
    }
}

// ---------------------------------------------------------------------------------------
// Scenarios

struct Ctx<'a> {
    req: &'a Request,
    body: &'a Body,
    arg: Option<String>,
}

impl Ctx<'_> {
    fn arg_num(&self) -> Option<u64> {
        self.arg.as_deref()?.parse().ok()
    }
}

type Run = fn(&mut Conn, &Ctx<'_>) -> io::Result<Flow>;

struct Scenario {
    name: &'static str,
    about: &'static str,
    run: Run,
}

fn find_scenario(name: &str) -> Option<&'static Scenario> {
    SCENARIOS.iter().find(|s| s.name == name)
}

const UNKNOWN_FAULT: Scenario = Scenario {
    name: "unknown_fault",
    about: "",
    run: |c, _| {
        c.respond(500, &[], b"unknown fault\n", true)?;
        Ok(Flow::Continue)
    },
};

const SCENARIOS: &[Scenario] = &[
    Scenario {
        name: "ok",
        about: "echo; knobs /size/N /status/N /sleep/MS /setcookie /flush /xsecret",
        run: ok,
    },
    Scenario {
        name: "no_cpong",
        about: "never answer CPING (from this request on when chosen by path); echo otherwise",
        run: |c, x| {
            c.ignore_cping = true;
            ok(c, x)
        },
    },
    Scenario {
        name: "getbody_ffff",
        about: "ask for the body with GET_BODY_CHUNK 0xFFFF (even with no body), then echo",
        run: ok,
    },
    Scenario {
        name: "bad_magic",
        about: "SEND_HEADERS with magic 'BA'",
        run: |c, _| {
            let mut p = c.headers(200, b"OK", &[]);
            p[0] = b'B';
            p[1] = b'A';
            c.send(&p)?;
            Ok(Flow::Continue)
        },
    },
    Scenario {
        name: "too_long",
        about: "SEND_HEADERS whose declared payload length is ARG (default max-3: 1 past max), padded, then END",
        run: |c, x| {
            let declared = x.arg_num().unwrap_or((c.max() - 3) as u64).min(0xFFFF) as usize;
            // Fixed part: type, status, "OK", count, "X-Pad" name, value length + NUL.
            let fixed = 1 + 2 + 5 + 2 + 8 + 3;
            let pad = vec![b'p'; declared.saturating_sub(fixed)];
            let mut p = wire::send_headers(200, b"OK", &[(Name::Str("X-Pad"), &pad)]);
            let d = declared as u16;
            p[2..4].copy_from_slice(&d.to_be_bytes());
            p.resize(4 + declared, 0);
            c.send(&p)?;
            c.send(&wire::end_response(true))?;
            Ok(Flow::Continue)
        },
    },
    Scenario {
        name: "truncated",
        about: "first ARG bytes (default half) of a SEND_HEADERS packet, then close",
        run: |c, x| {
            let p = c.headers(200, b"OK", &[(Name::Code(RES_CONTENT_TYPE), b"text/plain")]);
            let cut = x
                .arg_num()
                .map_or(p.len() / 2, |n| (n as usize).min(p.len()));
            c.send(&p[..cut])?;
            Ok(Flow::Close("truncated"))
        },
    },
    Scenario {
        name: "str_overrun",
        about: "header value length 0x100 with 3 bytes left in the packet; a 300-byte chunk of 'S' follows as bait",
        run: |c, _| {
            let p = wire::Msg::new(4)
                .int(200)
                .string(b"OK")
                .int(1)
                .string(b"X-A")
                .int(0x100)
                .raw(b"abc")
                .finish();
            c.send(&p)?;
            c.send(&wire::body_chunk(&[b'S'; 300]))?;
            c.send(&wire::end_response(true))?;
            Ok(Flow::Continue)
        },
    },
    Scenario {
        name: "no_nul",
        about: "header value not NUL-terminated",
        run: |c, _| {
            let p = wire::Msg::new(4)
                .int(200)
                .string(b"OK")
                .int(1)
                .string(b"X-A")
                .int(3)
                .raw(b"abcZ")
                .finish();
            c.send(&p)?;
            c.send(&wire::end_response(true))?;
            Ok(Flow::Continue)
        },
    },
    Scenario {
        name: "huge_header_count",
        about: "header count 0xFFFF with one header present",
        run: |c, _| {
            let p = wire::Msg::new(4)
                .int(200)
                .string(b"OK")
                .int(0xFFFF)
                .int(RES_CONTENT_TYPE)
                .string(b"text/plain")
                .finish();
            c.send(&p)?;
            c.send(&wire::end_response(true))?;
            Ok(Flow::Continue)
        },
    },
    Scenario {
        name: "unknown_header_code",
        about: "response header code 0xA00C (or hex ARG)",
        run: |c, x| {
            let code = x
                .arg
                .as_deref()
                .and_then(|a| u16::from_str_radix(a.trim_start_matches("0x"), 16).ok())
                .unwrap_or(0xA00C);
            c.send(&c.headers(200, b"OK", &[(Name::Code(code), b"v")]))?;
            c.send(&wire::end_response(true))?;
            Ok(Flow::Continue)
        },
    },
    Scenario {
        name: "chunk_overlong",
        about: "SEND_BODY_CHUNK declaring 0x1000 bytes, carrying 5 + NUL",
        run: |c, _| {
            c.send(&c.headers(200, b"OK", &[]))?;
            c.send(&wire::Msg::new(3).int(0x1000).raw(b"hello\0").finish())?;
            c.send(&wire::end_response(true))?;
            Ok(Flow::Continue)
        },
    },
    Scenario {
        name: "chunk_short",
        about: "SEND_BODY_CHUNK of 3 bytes declaring 0xFFFC (ARG ffff: 0xFFFF; ARG 1: 1-byte packet)",
        run: |c, x| {
            c.send(&c.headers(200, b"OK", &[]))?;
            let p = match x.arg.as_deref() {
                Some("1") => wire::Msg::new(3).finish(),
                Some("ffff") => wire::Msg::new(3).int(0xFFFF).finish(),
                _ => wire::Msg::new(3).int(0xFFFC).finish(),
            };
            c.send(&p)?;
            c.send(&wire::end_response(true))?;
            Ok(Flow::Continue)
        },
    },
    Scenario {
        name: "unknown_type",
        about: "a packet of type 0x42",
        run: |c, _| {
            c.send(&wire::Msg::new(0x42).int(0).finish())?;
            Ok(Flow::Continue)
        },
    },
    Scenario {
        name: "end_no_reuse_byte",
        about: "headers, then END_RESPONSE without its reuse byte",
        run: |c, _| {
            c.send(&c.headers(200, b"OK", &[]))?;
            c.send(&wire::Msg::new(5).finish())?;
            Ok(Flow::Continue)
        },
    },
    Scenario {
        name: "headers_twice",
        about: "SEND_HEADERS (X-First), a second SEND_HEADERS (X-Second), body, END",
        run: |c, _| {
            c.send(&c.headers(200, b"OK", &[(Name::Str("X-First"), b"1")]))?;
            c.send(&c.headers(200, b"OK", &[(Name::Str("X-Second"), b"1")]))?;
            c.send(&wire::body_chunk(b"twice\n"))?;
            c.send(&wire::end_response(true))?;
            Ok(Flow::Continue)
        },
    },
    Scenario {
        name: "body_before_headers",
        about: "SEND_BODY_CHUNK 'early' before SEND_HEADERS",
        run: |c, _| {
            c.send(&wire::body_chunk(b"early"))?;
            c.send(&c.headers(200, b"OK", &[]))?;
            c.send(&wire::body_chunk(b"late\n"))?;
            c.send(&wire::end_response(true))?;
            Ok(Flow::Continue)
        },
    },
    Scenario {
        name: "end_no_headers",
        about: "only END_RESPONSE reuse=1",
        run: |c, _| {
            c.send(&wire::end_response(true))?;
            Ok(Flow::Continue)
        },
    },
    Scenario {
        name: "extra_after_end",
        about: "echo with END reuse=1, then a stray SEND_HEADERS (X-Stale: 1) + END in the \
                same TCP segment; /N: the stray N ms later instead, then a 'stray' event",
        run: |c, x| {
            let stray = [
                c.headers(200, b"OK", &[(Name::Str("X-Stale"), b"1")]),
                wire::end_response(true),
            ]
            .concat();
            if let Some(ms) = x.arg_num() {
                // The connector has most likely pooled the connection by then: the stray
                // must be caught when the connection is taken from the pool.
                ok(c, x)?;
                thread::sleep(Duration::from_millis(ms));
                c.send(&stray)?;
                c.log(Ev::new("stray"));
                return Ok(Flow::Continue);
            }
            // Corked, the reply and the stray leave as one segment, so the connector's
            // read of the reply always finds the stray bytes behind END_RESPONSE.
            c.stream.cork(true)?;
            ok(c, x)?;
            c.send(&stray)?;
            c.stream.cork(false)?;
            Ok(Flow::Continue)
        },
    },
    Scenario {
        name: "status_crlf",
        about: "reason phrase 'OK\\r\\nSet-Cookie: pwn=1'",
        run: |c, _| {
            c.send(&c.headers(200, b"OK\r\nSet-Cookie: pwn=1", &[]))?;
            c.send(&wire::body_chunk(b"x"))?;
            c.send(&wire::end_response(true))?;
            Ok(Flow::Continue)
        },
    },
    Scenario {
        name: "hdr_crlf",
        about: "header 'X-Evil: a\\r\\nSet-Cookie: pwn=1'",
        run: |c, _| {
            c.send(&c.headers(
                200,
                b"OK",
                &[(Name::Str("X-Evil"), b"a\r\nSet-Cookie: pwn=1")],
            ))?;
            c.send(&wire::body_chunk(b"x"))?;
            c.send(&wire::end_response(true))?;
            Ok(Flow::Continue)
        },
    },
    Scenario {
        name: "close_on_marker",
        about: "close without answering when the request has an X-Close-Marker header; echo otherwise",
        run: |c, x| {
            let marked = x
                .req
                .headers
                .iter()
                .any(|h| h.name.eq_ignore_ascii_case(b"x-close-marker"));
            if marked {
                return Ok(Flow::Close("close_on_marker"));
            }
            ok(c, x)
        },
    },
    Scenario {
        name: "close_if_large",
        about: "Content-Length over 1 MiB: read the first body packet, then close unanswered; echo otherwise",
        run: |c, x| {
            if x.req.content_length().ok().flatten().unwrap_or(0) > LARGE_BODY {
                return Ok(Flow::Close("close_if_large"));
            }
            ok(c, x)
        },
    },
    Scenario {
        name: "cut_reply",
        about: "first ARG bytes of a fixed reply (headers, Content-Length 5, 'hello', END), then close",
        run: |c, x| {
            let mut p = wire::send_headers(
                200,
                b"OK",
                &[
                    (Name::Code(RES_CONTENT_TYPE), b"text/plain"),
                    (Name::Code(RES_CONTENT_LENGTH), b"5"),
                ],
            );
            let headers_len = p.len();
            p.extend_from_slice(&wire::body_chunk(b"hello"));
            let body_end = p.len();
            p.extend_from_slice(&wire::end_response(true));
            let cut = x.arg_num().map_or(p.len(), |n| (n as usize).min(p.len()));
            c.log(
                Ev::new("cut")
                    .num("at", cut)
                    .num("headers_len", headers_len)
                    .num("body_end", body_end)
                    .num("total", p.len()),
            );
            c.send(&p[..cut])?;
            if cut == p.len() {
                return Ok(Flow::Continue);
            }
            Ok(Flow::Close("cut_reply"))
        },
    },
    Scenario {
        name: "stale_bytes",
        about: "ARG fill: 200 with 8000 'S'; else SEND_HEADERS whose X-A value claims 0x1F00 bytes but carries 3, then END",
        run: |c, x| {
            if x.arg.as_deref() == Some("fill") {
                c.respond(200, &[], &[b'S'; 8000], true)?;
                return Ok(Flow::Continue);
            }
            let p = wire::Msg::new(4)
                .int(200)
                .string(b"OK")
                .int(1)
                .string(b"X-A")
                .int(0x1F00)
                .raw(b"abc\0")
                .finish();
            c.send(&p)?;
            c.send(&wire::end_response(true))?;
            Ok(Flow::Continue)
        },
    },
    Scenario {
        name: "hang_before_headers",
        about: "sleep ARG ms (default 60000) before answering normally",
        run: |c, x| {
            thread::sleep(Duration::from_millis(x.arg_num().unwrap_or(60_000)));
            ok(c, x)
        },
    },
    Scenario {
        name: "hang_mid_body",
        about: "headers (Content-Length 10) + 'hello', sleep ARG ms (default 60000), 'world', END",
        run: |c, x| {
            c.send(&c.headers(200, b"OK", &[(Name::Code(RES_CONTENT_LENGTH), b"10")]))?;
            c.send(&wire::body_chunk(b"hello"))?;
            thread::sleep(Duration::from_millis(x.arg_num().unwrap_or(60_000)));
            c.send(&wire::body_chunk(b"world"))?;
            c.send(&wire::end_response(true))?;
            Ok(Flow::Continue)
        },
    },
    Scenario {
        name: "close_before_headers",
        about: "read FORWARD_REQUEST (and the unsolicited body packet), then close",
        run: |_, _| Ok(Flow::Close("close_before_headers")),
    },
    Scenario {
        name: "close_mid_body",
        about: "headers (Content-Length 10) + 'hello', then close",
        run: |c, _| {
            c.send(&c.headers(200, b"OK", &[(Name::Code(RES_CONTENT_LENGTH), b"10")]))?;
            c.send(&wire::body_chunk(b"hello"))?;
            Ok(Flow::Close("close_mid_body"))
        },
    },
    Scenario {
        name: "reuse0",
        about: "echo with END reuse=0, then close",
        run: |c, x| {
            echo(c, x, false)?;
            Ok(Flow::Close("reuse0"))
        },
    },
    Scenario {
        name: "cl_mismatch",
        about: "Content-Length: 100 with a 5-byte body, END reuse=1",
        run: |c, _| {
            c.send(&c.headers(200, b"OK", &[(Name::Code(RES_CONTENT_LENGTH), b"100")]))?;
            c.send(&wire::body_chunk(b"hello"))?;
            c.send(&wire::end_response(true))?;
            Ok(Flow::Continue)
        },
    },
    Scenario {
        name: "cl_over",
        about: "Content-Length: 5 with the body 'hello world', END reuse=1, all in one segment",
        run: |c, _| {
            let reply = [
                c.headers(200, b"OK", &[(Name::Code(RES_CONTENT_LENGTH), b"5")]),
                wire::body_chunk(b"hello world"),
                wire::end_response(true),
            ]
            .concat();
            c.send(&reply)?;
            Ok(Flow::Continue)
        },
    },
    Scenario {
        name: "cl_under",
        about: "Content-Length: 100 with the body '0123456789', END reuse=1, all in one segment",
        run: |c, _| {
            let reply = [
                c.headers(200, b"OK", &[(Name::Code(RES_CONTENT_LENGTH), b"100")]),
                wire::body_chunk(b"0123456789"),
                wire::end_response(true),
            ]
            .concat();
            c.send(&reply)?;
            Ok(Flow::Continue)
        },
    },
    Scenario {
        name: "cl_and_te",
        about: "Content-Length: 5 and Transfer-Encoding: chunked with body 'hello'",
        run: |c, _| {
            let extra = [
                (Name::Code(RES_CONTENT_LENGTH), &b"5"[..]),
                (Name::Str("Transfer-Encoding"), b"chunked"),
            ];
            c.send(&c.headers(200, b"OK", &extra))?;
            c.send(&wire::body_chunk(b"hello"))?;
            c.send(&wire::end_response(true))?;
            Ok(Flow::Continue)
        },
    },
    Scenario {
        name: "flush_before_headers",
        about: "flush, headers, 'a', flush, 'b', END",
        run: |c, _| {
            c.send(&wire::body_chunk(b""))?;
            c.send(&c.headers(200, b"OK", &[]))?;
            c.send(&wire::body_chunk(b"a"))?;
            c.send(&wire::body_chunk(b""))?;
            c.send(&wire::body_chunk(b"b"))?;
            c.send(&wire::end_response(true))?;
            Ok(Flow::Continue)
        },
    },
    Scenario {
        name: "not_modified_body",
        about: "304 followed by a stray SEND_BODY_CHUNK 'junk'",
        run: |c, _| {
            c.send(&c.headers(304, b"Not Modified", &[]))?;
            c.send(&wire::body_chunk(b"junk"))?;
            c.send(&wire::end_response(true))?;
            Ok(Flow::Continue)
        },
    },
    Scenario {
        name: "close_after_end",
        about: "echo with END reuse=1, then close ARG ms (default 50) later without reading",
        run: |c, x| {
            echo(c, x, true)?;
            thread::sleep(Duration::from_millis(x.arg_num().unwrap_or(50)));
            Ok(Flow::Close("close_after_end"))
        },
    },
    Scenario {
        name: "reject_unread",
        about: "read only the first body packet, answer ARG (default 413) with END reuse=1",
        run: |c, x| {
            let status = x
                .arg_num()
                .and_then(|s| u16::try_from(s).ok())
                .unwrap_or(413);
            c.respond(status, &[], b"", true)?;
            Ok(Flow::Continue)
        },
    },
    Scenario {
        name: "read_part",
        about: "read the unsolicited packet and ARG more (default 1), wait up to 5 s for body \
                bytes nobody asked for, answer 200 'read=N' with END reuse=1",
        run: |c, x| {
            let unasked = c.readable(Duration::from_secs(5));
            c.log(Ev::new("unasked").num("bytes", unasked));
            let text = format!("read={}\n", x.body.len);
            c.respond(200, &[], text.as_bytes(), true)?;
            Ok(Flow::Continue)
        },
    },
    Scenario {
        name: "read_part_close",
        about: "as read_part, then close without answering (a crash mid-upload)",
        run: |c, _| {
            let unasked = c.readable(Duration::from_secs(5));
            c.log(Ev::new("unasked").num("bytes", unasked));
            Ok(Flow::Close("read_part_close"))
        },
    },
    Scenario {
        name: "unavailable",
        about: "answer 503 to every request (as --scenario: a member that is deploying)",
        run: |c, _| {
            c.respond(503, &[], b"", true)?;
            Ok(Flow::Continue)
        },
    },
];

/// The `ok` scenario: path knobs, else echo.
fn ok(c: &mut Conn, x: &Ctx<'_>) -> io::Result<Flow> {
    let uri = &x.req.uri;
    if let (Some(path), b"/health") = (&c.shared.cfg.health_file, uri.as_slice()) {
        let status = std::fs::read_to_string(path)
            .ok()
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(200);
        c.respond(status, &[], b"", true)?;
        return Ok(Flow::Continue);
    }
    if let Some(ms) = knob(uri, "sleep") {
        thread::sleep(Duration::from_millis(ms));
    }
    if let Some(status) = knob(uri, "status") {
        let status = u16::try_from(status).unwrap_or(500);
        c.respond(status, &[], b"", true)?;
    } else if let Some(n) = knob(uri, "size").filter(|_| c.shared.cfg.fast) {
        c.respond_size_fast(n)?;
    } else if let Some(n) = knob(uri, "size") {
        let body: Vec<u8> = (0..n).map(|i| b'a' + (i % 26) as u8).collect();
        c.respond(
            200,
            &[(Name::Code(RES_CONTENT_TYPE), b"application/octet-stream")],
            &body,
            true,
        )?;
    } else if has_segment(uri, "flush") {
        c.send(&c.headers(200, b"OK", &[(Name::Code(RES_CONTENT_TYPE), b"text/plain")]))?;
        c.send(&wire::body_chunk(b"first\n"))?;
        c.send(&wire::body_chunk(b""))?;
        c.send(&wire::body_chunk(b"second\n"))?;
        c.send(&wire::end_response(true))?;
    } else {
        echo(c, x, true)?;
    }
    Ok(Flow::Continue)
}

fn echo(c: &mut Conn, x: &Ctx<'_>, reuse: bool) -> io::Result<()> {
    let r = x.req;
    let mut text = Vec::new();
    let mut line = |k: &str, v: &[u8]| {
        text.extend_from_slice(k.as_bytes());
        text.push(b'=');
        text.extend_from_slice(v);
        text.push(b'\n');
    };
    line("method", &r.method);
    line("uri", &r.uri);
    line("query", r.attr("query_string").unwrap_or(b"-"));
    line("protocol", &r.protocol);
    for h in &r.headers {
        line(
            &format!("header:{}", String::from_utf8_lossy(&h.name)),
            &h.value,
        );
    }
    for a in &r.attrs {
        let name = String::from_utf8_lossy(&a.name);
        let value: &[u8] = if a.name == b"secret" {
            b"(present)"
        } else {
            &a.value
        };
        line(&format!("attr:{name}"), value);
    }
    line("body_len", x.body.len.to_string().as_bytes());
    line("body_fnv", format!("{:016x}", x.body.fnv).as_bytes());
    let mut extra: Vec<(Name<'_>, &[u8])> = vec![(Name::Code(RES_CONTENT_TYPE), b"text/plain")];
    if has_segment(&r.uri, "setcookie") {
        extra.push((Name::Code(RES_SET_COOKIE), b"a=1; Path=/"));
        extra.push((Name::Code(RES_SET_COOKIE), b"b=2; Path=/"));
    }
    if has_segment(&r.uri, "xsecret") {
        extra.push((Name::Str("X-Secret"), b"A"));
    }
    c.respond(200, &extra, &text, reuse)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn knobs_and_fault_paths() {
        assert_eq!(knob(b"/size/10", "size"), Some(10));
        assert_eq!(knob(b"/app/size/10/x", "size"), Some(10));
        assert_eq!(knob(b"/size/x", "size"), None);
        assert_eq!(knob(b"/sizes/10", "size"), None);
        let (s, a) = pick_scenario(b"/app/fault/chunk_short/ffff", &SCENARIOS[0]);
        assert_eq!((s.name, a.as_deref()), ("chunk_short", Some("ffff")));
        let (s, a) = pick_scenario(b"/fault/reuse0", &SCENARIOS[0]);
        assert_eq!((s.name, a), ("reuse0", None));
        assert_eq!(
            pick_scenario(b"/fault/nope", &SCENARIOS[0]).0.name,
            "unknown_fault"
        );
        assert_eq!(pick_scenario(b"/x", &SCENARIOS[0]).0.name, "ok");
    }

    #[test]
    fn every_promised_scenario_exists() {
        for name in [
            "ok",
            "bad_magic",
            "too_long",
            "truncated",
            "str_overrun",
            "no_nul",
            "huge_header_count",
            "unknown_header_code",
            "chunk_overlong",
            "chunk_short",
            "headers_twice",
            "body_before_headers",
            "end_no_headers",
            "extra_after_end",
            "status_crlf",
            "hdr_crlf",
            "hang_before_headers",
            "hang_mid_body",
            "close_before_headers",
            "close_mid_body",
            "reuse0",
            "cl_mismatch",
            "cl_over",
            "cl_under",
            "no_cpong",
            "getbody_ffff",
        ] {
            assert!(find_scenario(name).is_some(), "{name}");
        }
        let mut names: Vec<_> = SCENARIOS.iter().map(|s| s.name).collect();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), SCENARIOS.len());
    }

    #[test]
    fn fnv_reference_values() {
        assert_eq!(fnv1a(FNV_OFFSET, b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a(FNV_OFFSET, b"a"), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(
            fnv1a(fnv1a(FNV_OFFSET, b"hel"), b"lo"),
            fnv1a(FNV_OFFSET, b"hello")
        );
    }

    #[test]
    fn json_escaping() {
        let mut s = String::new();
        json_str(&mut s, b"a\"b\\c\r\n\xe9");
        assert_eq!(s, "\"a\\\"b\\\\c\\u000d\\u000a\u{e9}\"");
    }
}
