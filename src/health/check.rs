//! One health check: a fresh TCP connection (never one of the pool's), then CPing/CPong
//! or a GET of the health URI as an AJP FORWARD_REQUEST, all within one deadline. The
//! connection is closed afterwards, so a check never leaves anything for a client.

use std::io::{self, ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::time::{Duration, Instant};

use crate::ajp::{
    self, CPING_PACKET,
    reply::{Reply, decode_reply},
    request::{BodyMode, ForwardRequest, encode_forward_request},
};
use crate::shm::health::CheckResult;

/// What to check and how.
#[derive(Debug, Clone)]
pub struct Probe<'a> {
    pub host: &'a str,
    pub port: u16,
    pub prefer_ipv6: bool,
    /// Empty: CPing.
    pub uri: &'a str,
    pub status: u32,
    pub drain_status: u32,
    pub secret: Option<&'a str>,
    pub max_packet: usize,
    pub timeout: Duration,
}

/// The outcome and what explains it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    pub result: CheckResult,
    /// HTTP status (0 for CPing or when none came).
    pub status: u32,
    /// Why it failed, for the log.
    pub detail: String,
}

impl Outcome {
    fn fail(detail: impl Into<String>) -> Outcome {
        Outcome {
            result: CheckResult::Fail,
            status: 0,
            detail: detail.into(),
        }
    }
}

/// Runs the check; never takes longer than about `timeout` (name resolution aside).
pub fn run(p: &Probe) -> Outcome {
    let deadline = Instant::now() + p.timeout;
    let mut stream = match connect(p, deadline) {
        Ok(s) => s,
        Err(e) => return Outcome::fail(format!("cannot connect to {}:{}: {e}", p.host, p.port)),
    };
    let r = if p.uri.is_empty() {
        cping(&mut stream, deadline)
    } else {
        get(&mut stream, p, deadline)
    };
    r.unwrap_or_else(Outcome::fail)
}

fn addrs(p: &Probe) -> io::Result<Vec<SocketAddr>> {
    let mut v: Vec<SocketAddr> = (p.host, p.port).to_socket_addrs()?.collect();
    v.sort_by_key(|a| a.is_ipv6() != p.prefer_ipv6);
    Ok(v)
}

fn left(deadline: Instant) -> io::Result<Duration> {
    let d = deadline.saturating_duration_since(Instant::now());
    if d.is_zero() {
        Err(io::Error::new(
            ErrorKind::TimedOut,
            "health_check_timeout passed",
        ))
    } else {
        Ok(d)
    }
}

fn connect(p: &Probe, deadline: Instant) -> io::Result<TcpStream> {
    let mut last = io::Error::new(ErrorKind::NotFound, "no address");
    for a in addrs(p)? {
        match TcpStream::connect_timeout(&a, left(deadline)?) {
            Ok(s) => {
                let _ = s.set_nodelay(true);
                return Ok(s);
            }
            Err(e) => last = e,
        }
    }
    Err(last)
}

fn send(s: &mut TcpStream, bytes: &[u8], deadline: Instant) -> Result<(), String> {
    s.set_write_timeout(Some(left(deadline).map_err(|e| e.to_string())?))
        .and_then(|()| s.write_all(bytes))
        .map_err(|e| format!("sending the check failed: {e}"))
}

/// Reads until one whole reply packet is in `buf`; returns its size.
fn read_packet(
    s: &mut TcpStream,
    buf: &mut Vec<u8>,
    max_packet: usize,
    deadline: Instant,
) -> Result<(), String> {
    loop {
        match ajp::reply::peek_reply_len(buf, max_packet) {
            Ok(Some(n)) if buf.len() >= n => return Ok(()),
            Ok(_) => {}
            Err(e) => return Err(format!("AJP protocol error: {e}")),
        }
        let t = left(deadline).map_err(|e| e.to_string())?;
        s.set_read_timeout(Some(t)).map_err(|e| e.to_string())?;
        let mut chunk = [0u8; 8192];
        match s.read(&mut chunk) {
            Ok(0) => return Err("the backend closed the connection".into()),
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                return Err("no answer within health_check_timeout".into());
            }
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => return Err(format!("reading the answer failed: {e}")),
        }
    }
}

fn cping(s: &mut TcpStream, deadline: Instant) -> Result<Outcome, String> {
    send(s, &CPING_PACKET, deadline)?;
    let mut buf = Vec::with_capacity(16);
    read_packet(s, &mut buf, ajp::MIN_PACKET_SIZE, deadline)?;
    match decode_reply(&buf, ajp::MIN_PACKET_SIZE) {
        Ok(Some((Reply::CPong, _))) => Ok(Outcome {
            result: CheckResult::Pass,
            status: 0,
            detail: String::new(),
        }),
        Ok(Some((other, _))) => Err(format!("message type {} instead of CPONG", other.code())),
        Ok(None) => Err("incomplete answer".into()),
        Err(e) => Err(format!("AJP protocol error: {e}")),
    }
}

fn get(s: &mut TcpStream, p: &Probe, deadline: Instant) -> Result<Outcome, String> {
    let (path, query) = match p.uri.split_once('?') {
        Some((a, b)) => (a, Some(b.as_bytes())),
        None => (p.uri, None),
    };
    let host = p.host.as_bytes();
    let req = ForwardRequest {
        method: b"GET",
        protocol: b"HTTP/1.1",
        req_uri: path.as_bytes(),
        remote_addr: b"127.0.0.1",
        server_name: host,
        server_port: p.port,
        headers: vec![
            (b"Host".as_slice(), host),
            (b"User-Agent".as_slice(), b"mod_rjk-health-check".as_slice()),
        ],
        body: BodyMode::None,
        secret: p.secret.map(str::as_bytes),
        query_string: query,
        local_addr: b"127.0.0.1",
        ..ForwardRequest::default()
    };
    let mut out = Vec::with_capacity(512);
    encode_forward_request(&req, p.max_packet, &mut out)
        .map_err(|e| format!("cannot encode the health request: {e}"))?;
    send(s, &out, deadline)?;
    let mut buf = Vec::with_capacity(1024);
    // Headers are what counts; the body is not read (the connection is closed after).
    loop {
        read_packet(s, &mut buf, p.max_packet, deadline)?;
        let (status, consumed) = match decode_reply(&buf, p.max_packet) {
            Ok(Some((Reply::SendHeaders { status, .. }, n))) => (Some(u32::from(status)), n),
            Ok(Some((Reply::GetBodyChunk(_), n))) => {
                // A request without a body: an empty chunk says "no more".
                let mut end = Vec::new();
                ajp::request::encode_body_end(&mut end);
                send(s, &end, deadline)?;
                (None, n)
            }
            Ok(Some((Reply::EndResponse { .. }, _))) => {
                return Err("END_RESPONSE without headers".into());
            }
            Ok(Some((other, n))) => {
                if matches!(other, Reply::CPong) {
                    return Err("CPONG instead of an answer".into());
                }
                (None, n)
            }
            Ok(None) => (None, 0),
            Err(e) => return Err(format!("AJP protocol error: {e}")),
        };
        buf.drain(..consumed);
        if let Some(status) = status {
            return Ok(classify(status, p));
        }
    }
}

/// Expected status: pass; drain status: drain; anything else: fail.
pub fn classify(status: u32, p: &Probe) -> Outcome {
    let (result, detail) = if status == p.status {
        (CheckResult::Pass, String::new())
    } else if p.drain_status != 0 && status == p.drain_status {
        (CheckResult::Drain, String::new())
    } else {
        (
            CheckResult::Fail,
            format!("{} answered {status}, expected {}", p.uri, p.status),
        )
    };
    Outcome {
        result,
        status,
        detail,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;

    fn probe(port: u16, uri: &str) -> Probe<'_> {
        Probe {
            host: "127.0.0.1",
            port,
            prefer_ipv6: false,
            uri,
            status: 200,
            drain_status: 503,
            secret: None,
            max_packet: 8192,
            timeout: Duration::from_millis(500),
        }
    }

    /// A one-connection backend that answers with `reply` after reading `expect` bytes.
    fn backend(reply: Vec<u8>) -> u16 {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        std::thread::spawn(move || {
            if let Ok((mut s, _)) = l.accept() {
                let mut b = [0u8; 4096];
                let _ = s.read(&mut b);
                let _ = s.write_all(&reply);
                std::thread::sleep(Duration::from_millis(50));
            }
        });
        port
    }

    fn headers(status: u16) -> Vec<u8> {
        let mut p = vec![4u8];
        p.extend_from_slice(&status.to_be_bytes());
        p.extend_from_slice(&[0, 2, b'O', b'K', 0, 0, 0]);
        let mut out = vec![b'A', b'B'];
        out.extend_from_slice(&(p.len() as u16).to_be_bytes());
        out.extend_from_slice(&p);
        out
    }

    #[test]
    fn cpong_passes_and_silence_fails_within_the_timeout() {
        let port = backend(vec![b'A', b'B', 0, 1, 9]);
        assert_eq!(run(&probe(port, "")).result, CheckResult::Pass);
        let port = backend(Vec::new());
        let start = Instant::now();
        let o = run(&probe(port, ""));
        assert_eq!(o.result, CheckResult::Fail);
        assert!(start.elapsed() < Duration::from_secs(2), "{o:?}");
    }

    #[test]
    fn statuses_pass_drain_or_fail() {
        for (status, want) in [
            (200, CheckResult::Pass),
            (503, CheckResult::Drain),
            (404, CheckResult::Fail),
        ] {
            let port = backend(headers(status));
            let o = run(&probe(port, "/health?x=1"));
            assert_eq!((o.result, o.status), (want, u32::from(status)), "{o:?}");
        }
    }

    #[test]
    fn refused_connection_fails() {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        drop(l);
        let o = run(&probe(port, ""));
        assert_eq!(o.result, CheckResult::Fail);
        assert!(o.detail.contains("cannot connect"), "{o:?}");
    }
}
