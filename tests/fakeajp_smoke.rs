//! Smoke test of the rjk-fakeajp binary over a raw socket, with packets encoded by hand
//! here (neither the crate's codec nor the fake's), so all three must agree on the bytes.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

/// Kills the fake even when an assertion fails.
struct Fake {
    child: Child,
    port: u16,
    log: PathBuf,
}

impl Drop for Fake {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_file(&self.log);
    }
}

fn start() -> Fake {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let log =
        std::env::temp_dir().join(format!("rjk-fakeajp-smoke-{}-{n}.log", std::process::id()));
    let _ = std::fs::remove_file(&log);
    let mut child = Command::new(env!("CARGO_BIN_EXE_rjk-fakeajp"))
        .args([
            "--listen",
            "127.0.0.1:0",
            "--name",
            "smoke",
            "--die-with-stdin",
            "--log",
        ])
        .arg(&log)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawn rjk-fakeajp");
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let port = line
        .strip_prefix("READY ")
        .and_then(|p| p.trim().parse().ok())
        .unwrap_or_else(|| panic!("unexpected first line {line:?}"));
    Fake { child, port, log }
}

fn string(out: &mut Vec<u8>, s: &[u8]) {
    out.extend_from_slice(&(s.len() as u16).to_be_bytes());
    out.extend_from_slice(s);
    out.push(0);
}

/// FORWARD_REQUEST with a Host header, a coded content-length and the always-sent
/// attributes.
fn forward_request(method: u8, uri: &[u8], content_length: u64) -> Vec<u8> {
    let mut p = vec![0x02, method];
    string(&mut p, b"HTTP/1.1");
    string(&mut p, uri);
    string(&mut p, b"127.0.0.1");
    p.extend_from_slice(&[0xFF, 0xFF]);
    string(&mut p, b"localhost");
    p.extend_from_slice(&[0x1F, 0x90, 0x00, 0x00, 0x02]);
    p.extend_from_slice(&[0xA0, 0x0B]);
    string(&mut p, b"localhost");
    p.extend_from_slice(&[0xA0, 0x08]);
    string(&mut p, content_length.to_string().as_bytes());
    for (k, v) in [
        (&b"AJP_REMOTE_PORT"[..], &b"50000"[..]),
        (b"AJP_LOCAL_ADDR", b"127.0.0.1"),
        (b"JK_LB_ACTIVATION", b"ACT"),
    ] {
        p.push(0x0A);
        string(&mut p, k);
        string(&mut p, v);
    }
    p.push(0xFF);
    let mut pkt = vec![0x12, 0x34];
    pkt.extend_from_slice(&(p.len() as u16).to_be_bytes());
    pkt.extend_from_slice(&p);
    pkt
}

fn read_packet(s: &mut TcpStream) -> Vec<u8> {
    let mut hdr = [0u8; 4];
    s.read_exact(&mut hdr).unwrap();
    assert_eq!(&hdr[..2], b"AB", "reply magic");
    let mut p = vec![0; usize::from(u16::from_be_bytes([hdr[2], hdr[3]]))];
    s.read_exact(&mut p).unwrap();
    p
}

/// (status, headers, body, reuse) of one response; GET_BODY_CHUNK is answered with the
/// end-of-body packet.
fn read_response(s: &mut TcpStream) -> (u16, Vec<(String, String)>, Vec<u8>, bool) {
    let mut status = 0;
    let mut headers = Vec::new();
    let mut body = Vec::new();
    loop {
        let p = read_packet(s);
        match p[0] {
            4 => {
                status = u16::from_be_bytes([p[1], p[2]]);
                let mut at = 3;
                let str_at = |at: &mut usize| {
                    let n = usize::from(u16::from_be_bytes([p[*at], p[*at + 1]]));
                    let v = String::from_utf8(p[*at + 2..*at + 2 + n].to_vec()).unwrap();
                    assert_eq!(p[*at + 2 + n], 0);
                    *at += n + 3;
                    v
                };
                let _reason = str_at(&mut at);
                let count = u16::from_be_bytes([p[at], p[at + 1]]);
                at += 2;
                for _ in 0..count {
                    let name = if p[at] == 0xA0 {
                        let names = ["Content-Type", "Content-Language", "Content-Length"];
                        at += 2;
                        names[usize::from(p[at - 1]) - 1].to_string()
                    } else {
                        str_at(&mut at)
                    };
                    headers.push((name, str_at(&mut at)));
                }
                assert_eq!(at, p.len());
            }
            3 => {
                let n = usize::from(u16::from_be_bytes([p[1], p[2]]));
                assert_eq!(p.len(), n + 4);
                assert_eq!(p[3 + n], 0);
                body.extend_from_slice(&p[3..3 + n]);
            }
            5 => return (status, headers, body, p[1] == 1),
            6 => s.write_all(&[0x12, 0x34, 0, 0]).unwrap(),
            t => panic!("unexpected reply type {t}"),
        }
    }
}

fn header<'h>(h: &'h [(String, String)], name: &str) -> Option<&'h str> {
    h.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
}

fn wait_for_log(f: &Fake, needle: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let text = std::fs::read_to_string(&f.log).unwrap_or_default();
        if text.contains(needle) || Instant::now() > deadline {
            return text;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn cping_size_and_echo_on_one_connection() {
    let fake = start();
    let mut s = TcpStream::connect(("127.0.0.1", fake.port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();

    s.write_all(&[0x12, 0x34, 0x00, 0x01, 0x0A]).unwrap();
    let mut pong = [0u8; 5];
    s.read_exact(&mut pong).unwrap();
    assert_eq!(pong, *b"AB\x00\x01\x09");

    s.write_all(&forward_request(2, b"/size/10", 0)).unwrap();
    let first = read_packet(&mut s);
    assert_eq!(&first[..3], b"\x04\x00\xC8", "SEND_HEADERS 200");
    let chunk = read_packet(&mut s);
    assert_eq!(chunk, b"\x03\x00\x0Aabcdefghij\x00");
    assert_eq!(read_packet(&mut s), b"\x05\x01");

    // POST with a body: the first packet goes unasked, the rest on request.
    let body = b"hello world, this is the request body";
    s.write_all(&forward_request(4, b"/echo", body.len() as u64))
        .unwrap();
    let (head, tail) = body.split_at(5);
    let mut pkt = vec![0x12, 0x34, 0x00, 7, 0x00, 5];
    pkt.extend_from_slice(head);
    s.write_all(&pkt).unwrap();
    // The fake asks for the rest; answer that one by hand, then read the response.
    let get = read_packet(&mut s);
    assert_eq!(get, b"\x06\x1F\xFA");
    let mut pkt = vec![0x12, 0x34];
    pkt.extend_from_slice(&(tail.len() as u16 + 2).to_be_bytes());
    pkt.extend_from_slice(&(tail.len() as u16).to_be_bytes());
    pkt.extend_from_slice(tail);
    s.write_all(&pkt).unwrap();
    let (status, headers, text, reuse) = read_response(&mut s);
    assert_eq!(status, 200);
    assert!(reuse);
    assert_eq!(header(&headers, "X-Backend"), Some("smoke"));
    assert_eq!(header(&headers, "X-Req-Count"), Some("2"));
    assert_eq!(
        header(&headers, "Content-Length"),
        Some(text.len().to_string().as_str())
    );
    let text = String::from_utf8(text).unwrap();
    assert!(text.contains("method=POST\n"), "{text}");
    assert!(
        text.contains(&format!("body_len={}\n", body.len())),
        "{text}"
    );
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in body {
        h = (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3);
    }
    assert!(text.contains(&format!("body_fnv={h:016x}\n")), "{text}");

    drop(s);
    let log = wait_for_log(&fake, "\"ev\":\"close\"");
    assert!(log.contains("\"ev\":\"open\""), "{log}");
    assert!(log.contains("\"type\":\"CPING\""), "{log}");
    assert!(log.contains("\"uri\":\"/size/10\""), "{log}");
    assert!(
        log.contains("\"type\":\"BODY\",\"len\":7,\"data\":5,\"solicited\":false"),
        "{log}"
    );
    assert!(log.contains("\"solicited\":true"), "{log}");
    assert!(log.contains("\"ev\":\"close\",\"by\":\"peer\""), "{log}");
}

#[test]
fn fault_by_path_then_connection_is_closed_by_the_fake() {
    let fake = start();
    let mut s = TcpStream::connect(("127.0.0.1", fake.port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(&forward_request(2, b"/app/fault/reuse0", 0))
        .unwrap();
    let (status, _, _, reuse) = read_response(&mut s);
    assert_eq!(status, 200);
    assert!(!reuse);
    let mut rest = Vec::new();
    s.read_to_end(&mut rest).unwrap();
    assert!(rest.is_empty());
    let log = wait_for_log(&fake, "\"ev\":\"close\"");
    assert!(log.contains("\"by\":\"fake\""), "{log}");
}

// ---------------------------------------------------------------------------------------
// The crate's codec against the fake: each fault must surface as the intended error.

use mod_rjk::ajp::{
    Action, Exchange, ForwardRequest, ProtocolError, body_mode, decode_reply, encode_body_chunk,
    encode_forward_request,
};

#[derive(Debug, PartialEq)]
enum Outcome {
    Done {
        status: u16,
        body: Vec<u8>,
        reuse: bool,
        /// Bytes arrived after END_RESPONSE.
        pending: bool,
    },
    Error(ProtocolError),
    /// The fake closed the connection; `headers` says whether any were accepted.
    Eof {
        headers: bool,
    },
}

fn drive(port: u16, uri: &str, body: &[u8]) -> Outcome {
    const MAX: usize = 8192;
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mode = body_mode(Some(body.len() as u64), false);
    let req = ForwardRequest {
        method: if body.is_empty() { b"GET" } else { b"POST" },
        req_uri: uri.as_bytes(),
        remote_addr: b"127.0.0.1",
        server_name: b"localhost",
        headers: vec![(b"Host", b"localhost")],
        body: mode,
        remote_port: 40000,
        local_addr: b"127.0.0.1",
        ..Default::default()
    };
    let mut out = Vec::new();
    encode_forward_request(&req, MAX, &mut out).unwrap();
    let mut ex = Exchange::new(mode, MAX);
    let mut sent = 0;
    if let Some(n) = ex.first_body_chunk() {
        encode_body_chunk(&body[..n], MAX, &mut out).unwrap();
        ex.body_packet_sent(n);
        sent = n;
    }
    s.write_all(&out).unwrap();

    let mut buf = Vec::new();
    let mut status = 0;
    let mut got = Vec::new();
    loop {
        let step = match decode_reply(&buf, MAX) {
            Err(e) => return Outcome::Error(e),
            Ok(None) => None,
            Ok(Some((reply, n))) => Some((
                match ex.on_reply(reply) {
                    Err(e) => return Outcome::Error(e),
                    Ok(Action::SendHeaders { status: st, .. }) => {
                        status = st;
                        None
                    }
                    Ok(Action::Body(d)) => {
                        got.extend_from_slice(d);
                        None
                    }
                    Ok(Action::Flush) => None,
                    Ok(Action::SendBodyChunk { max }) => Some(Err(max)),
                    Ok(Action::Done { reuse }) => Some(Ok(reuse)),
                },
                n,
            )),
        };
        match step {
            Some((action, n)) => {
                buf.drain(..n);
                match action {
                    None => {}
                    Some(Err(max)) => {
                        let n = max.min(body.len() - sent);
                        let mut pkt = Vec::new();
                        encode_body_chunk(&body[sent..sent + n], MAX, &mut pkt).unwrap();
                        s.write_all(&pkt).unwrap();
                        ex.body_packet_sent(n);
                        sent += n;
                    }
                    Some(Ok(reuse)) => {
                        s.set_read_timeout(Some(Duration::from_millis(150)))
                            .unwrap();
                        let mut more = [0u8; 64];
                        let pending =
                            !buf.is_empty() || matches!(s.read(&mut more), Ok(n) if n > 0);
                        return Outcome::Done {
                            status,
                            body: got,
                            reuse,
                            pending,
                        };
                    }
                }
            }
            None => {
                let mut chunk = [0u8; 4096];
                match s.read(&mut chunk) {
                    Ok(0) | Err(_) => {
                        return Outcome::Eof {
                            headers: ex.headers_received(),
                        };
                    }
                    Ok(n) => buf.extend_from_slice(&chunk[..n]),
                }
            }
        }
    }
}

#[test]
fn crate_codec_against_every_fake_scenario() {
    use ProtocolError::*;
    let fake = start();
    let p = fake.port;
    let done = |status, body: &[u8], reuse, pending| Outcome::Done {
        status,
        body: body.to_vec(),
        reuse,
        pending,
    };
    let err = Outcome::Error;

    assert_eq!(drive(p, "/size/3", b""), done(200, b"abc", true, false));
    assert_eq!(drive(p, "/status/404", b""), done(404, b"", true, false));
    assert_eq!(
        drive(p, "/flush", b""),
        done(200, b"first\nsecond\n", true, false)
    );
    let big: Vec<u8> = (0..20_000u32).map(|i| i as u8).collect();
    match drive(p, "/echo", &big) {
        Outcome::Done {
            status: 200,
            body,
            reuse: true,
            pending: false,
        } => {
            assert!(String::from_utf8_lossy(&body).contains("body_len=20000\n"));
        }
        other => panic!("{other:?}"),
    }
    match drive(p, "/fault/getbody_ffff", b"") {
        Outcome::Done {
            status: 200, body, ..
        } => {
            assert!(String::from_utf8_lossy(&body).contains("body_len=0\n"));
        }
        other => panic!("{other:?}"),
    }

    let cases: Vec<(&str, Outcome)> = vec![
        ("bad_magic", err(BadMagic(*b"BA"))),
        (
            "too_long",
            err(PacketTooLong {
                size: 8193,
                max: 8192,
            }),
        ),
        (
            "too_long/65535",
            err(PacketTooLong {
                size: 65539,
                max: 8192,
            }),
        ),
        ("truncated", Outcome::Eof { headers: false }),
        ("str_overrun", err(Truncated("header value"))),
        ("no_nul", err(MissingNul("header value"))),
        ("huge_header_count", err(TooManyHeaders(0xFFFF))),
        ("unknown_header_code", err(UnknownHeaderCode(0xA00C))),
        (
            "chunk_overlong",
            err(ChunkLength {
                declared: 0x1000,
                available: 6,
            }),
        ),
        (
            "chunk_short",
            err(ChunkLength {
                declared: 0xFFFC,
                available: 0,
            }),
        ),
        (
            "chunk_short/ffff",
            err(ChunkLength {
                declared: 0xFFFF,
                available: 0,
            }),
        ),
        ("chunk_short/1", err(Truncated("body chunk length"))),
        ("unknown_type", err(UnknownType(0x42))),
        ("end_no_reuse_byte", err(Truncated("reuse flag"))),
        ("headers_twice", err(DuplicateHeaders)),
        ("body_before_headers", err(BodyBeforeHeaders)),
        ("end_no_headers", err(EndWithoutHeaders)),
        ("status_crlf", err(BadReason)),
        ("hdr_crlf", err(BadHeaderValue)),
        ("close_before_headers", Outcome::Eof { headers: false }),
        ("close_mid_body", Outcome::Eof { headers: true }),
        ("cl_mismatch", done(200, b"hello", true, false)),
        ("cl_and_te", done(200, b"hello", true, false)),
        ("flush_before_headers", done(200, b"ab", true, false)),
        ("not_modified_body", done(304, b"junk", true, false)),
        ("hang_mid_body/10", done(200, b"helloworld", true, false)),
    ];
    for (fault, want) in cases {
        assert_eq!(
            drive(p, &format!("/app/fault/{fault}"), b""),
            want,
            "{fault}"
        );
    }
    // Too long but within the limit: accepted.
    assert!(matches!(
        drive(p, "/fault/too_long/8188", b""),
        Outcome::Done { status: 200, .. }
    ));
    assert!(matches!(
        drive(p, "/fault/too_long/8189", b""),
        Outcome::Error(PacketTooLong { .. })
    ));
    match drive(p, "/fault/reuse0", b"") {
        Outcome::Done { reuse: false, .. } => {}
        other => panic!("{other:?}"),
    }
    match drive(p, "/fault/extra_after_end", b"") {
        Outcome::Done {
            reuse: true,
            pending: true,
            ..
        } => {}
        other => panic!("{other:?}"),
    }
}
