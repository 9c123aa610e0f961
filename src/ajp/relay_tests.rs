//! The relay driven by scripted backend replies and an in-memory client. Tests are named
//! after the README statement they hold to.

use proptest::prelude::*;

use super::*;
use crate::ajp::{BodyMode, body_mode};

const MAX: usize = 8192;

/// One reply packet around `payload`.
fn packet(payload: &[u8]) -> Vec<u8> {
    let mut p = b"AB".to_vec();
    p.extend_from_slice(&(payload.len() as u16).to_be_bytes());
    p.extend_from_slice(payload);
    p
}

fn ajp_string(out: &mut Vec<u8>, s: &[u8]) {
    out.extend_from_slice(&(s.len() as u16).to_be_bytes());
    out.extend_from_slice(s);
    out.push(0);
}

fn headers(status: u16, hs: &[(&str, &str)]) -> Vec<u8> {
    let mut p = vec![4];
    p.extend_from_slice(&status.to_be_bytes());
    ajp_string(&mut p, b"");
    p.extend_from_slice(&(hs.len() as u16).to_be_bytes());
    for (n, v) in hs {
        ajp_string(&mut p, n.as_bytes());
        ajp_string(&mut p, v.as_bytes());
    }
    packet(&p)
}

fn body(data: &[u8]) -> Vec<u8> {
    let mut p = vec![3];
    p.extend_from_slice(&(data.len() as u16).to_be_bytes());
    p.extend_from_slice(data);
    p.push(0);
    packet(&p)
}

fn end(reuse: bool) -> Vec<u8> {
    packet(&[5, u8::from(reuse)])
}

fn get_body(n: u16) -> Vec<u8> {
    let mut p = vec![6];
    p.extend_from_slice(&n.to_be_bytes());
    packet(&p)
}

/// A backend whose replies are `script`, handed out `chunk` bytes per read; after the
/// script the connection is closed.
struct Scripted {
    script: Vec<u8>,
    at: usize,
    chunk: usize,
    buf: Vec<u8>,
    start: usize,
    end: usize,
    sent: Vec<Vec<u8>>,
}

impl Scripted {
    fn new(parts: &[Vec<u8>], chunk: usize) -> Scripted {
        Scripted {
            script: parts.concat(),
            at: 0,
            chunk: chunk.max(1),
            buf: vec![0; 2 * MAX],
            start: 0,
            end: 0,
            sent: Vec::new(),
        }
    }
}

impl ReplyStream for Scripted {
    fn fill(&mut self, max_packet: usize, _: Option<Duration>) -> Result<(), BackendError> {
        loop {
            let pending = &self.buf[self.start..self.end];
            match super::super::peek_reply_len(pending, max_packet)
                .map_err(BackendError::Protocol)?
            {
                Some(size) if pending.len() >= size => return Ok(()),
                _ => {}
            }
            if self.start > 0 {
                self.buf.copy_within(self.start..self.end, 0);
                self.end -= self.start;
                self.start = 0;
            }
            let n = self
                .chunk
                .min(self.script.len() - self.at)
                .min(self.buf.len() - self.end);
            if n == 0 {
                return Err(BackendError::Closed);
            }
            self.buf[self.end..self.end + n].copy_from_slice(&self.script[self.at..self.at + n]);
            self.at += n;
            self.end += n;
        }
    }
    fn buf(&self) -> &[u8] {
        &self.buf
    }
    fn unread(&self) -> Range<usize> {
        self.start..self.end
    }
    fn consume(&mut self, n: usize) {
        self.start += n;
    }
    fn send(&mut self, packet: &[u8]) -> io::Result<()> {
        self.sent.push(packet.to_vec());
        Ok(())
    }
}

/// The client side: what httpd would have been told, in order.
#[derive(Default)]
struct MemClient {
    request_body: Vec<u8>,
    read_at: usize,
    status: Option<u16>,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
    flushes: usize,
    /// Body writes fail (the client went away).
    gone: bool,
}

impl Client for MemClient {
    fn read_body(&mut self, buf: &mut [u8]) -> Result<usize, ClientError> {
        let n = buf.len().min(self.request_body.len() - self.read_at);
        buf[..n].copy_from_slice(&self.request_body[self.read_at..self.read_at + n]);
        self.read_at += n;
        Ok(n)
    }
    fn start_response(
        &mut self,
        status: u16,
        _reason: &[u8],
        headers: &[(&[u8], &[u8])],
    ) -> Result<(), ClientError> {
        assert!(self.status.is_none(), "headers sent twice");
        self.status = Some(status);
        self.headers = headers
            .iter()
            .map(|(n, v)| {
                (
                    String::from_utf8_lossy(n).into_owned(),
                    String::from_utf8_lossy(v).into_owned(),
                )
            })
            .collect();
        Ok(())
    }
    fn write_body(&mut self, data: &[u8]) -> Result<(), ClientError> {
        assert!(self.status.is_some(), "body before headers");
        if self.gone {
            return Err(ClientError::Write);
        }
        self.body.extend_from_slice(data);
        Ok(())
    }
    fn flush(&mut self) -> Result<(), ClientError> {
        self.flushes += 1;
        if self.gone {
            return Err(ClientError::Write);
        }
        Ok(())
    }
}

struct Run {
    attempt: Attempt,
    client: MemClient,
    stream: Scripted,
}

fn run_with(
    parts: &[Vec<u8>],
    chunk: usize,
    mode: BodyMode,
    client: MemClient,
    opts: &RequestOptions,
    reused: bool,
) -> Run {
    let mut stream = Scripted::new(parts, chunk);
    let mut client = client;
    let params = RelayParams {
        max_packet: MAX,
        reply_timeout: None,
        reused,
        replay_after_send: true,
        opts,
        body: mode,
        first_chunk: None,
        upload_window: 0,
    };
    let (mut b, mut p) = (Vec::new(), Vec::new());
    let bufs = RelayBufs {
        body: &mut b,
        packet: &mut p,
    };
    let attempt = relay(
        &mut stream,
        &mut client,
        Exchange::new(mode, MAX),
        &params,
        bufs,
    );
    Run {
        attempt,
        client,
        stream,
    }
}

fn run(parts: &[Vec<u8>], opts: &RequestOptions) -> Run {
    run_with(
        parts,
        usize::MAX,
        body_mode(Some(0), false),
        MemClient::default(),
        opts,
        false,
    )
}

fn outcome(a: &Attempt) -> &Outcome {
    match a {
        Attempt::Finished { outcome, .. } => outcome,
        Attempt::Failed(f) => panic!("attempt failed: {f:?}"),
    }
}

fn reusable(a: &Attempt) -> bool {
    matches!(a, Attempt::Finished { reusable: true, .. })
}

#[test]
fn a_clean_reply_is_relayed_and_its_connection_may_be_reused() {
    let r = run(
        &[
            headers(200, &[("Content-Length", "5")]),
            body(b"hello"),
            end(true),
        ],
        &RequestOptions::default(),
    );
    assert!(matches!(
        outcome(&r.attempt),
        Outcome::Done {
            status: 200,
            body_relayed: 5,
            cut_at_length: None,
            ..
        }
    ));
    assert_eq!(r.client.body, b"hello");
    assert!(reusable(&r.attempt));
}

#[test]
fn backend_content_length_is_enforced_more_body_reaches_the_client_cut_to_the_announced_length() {
    let r = run(
        &[
            headers(200, &[("Content-Length", "4")]),
            body(b"abc"),
            body(b"def\n"),
            end(true),
        ],
        &RequestOptions::default(),
    );
    assert!(matches!(
        outcome(&r.attempt),
        Outcome::Done {
            cut_at_length: Some(4),
            body_relayed: 4,
            ..
        }
    ));
    assert_eq!(r.client.body, b"abcd");
    // The excess stays on the connection: it is closed, never pooled.
    assert!(!reusable(&r.attempt));
}

#[test]
fn backend_content_length_is_enforced_less_body_is_answered_502_when_nothing_reached_the_client() {
    let r = run(
        &[
            headers(200, &[("Content-Length", "10")]),
            body(b"abc"),
            end(true),
        ],
        &RequestOptions::default(),
    );
    match outcome(&r.attempt) {
        Outcome::Failed {
            status: 502,
            error:
                BackendError::Protocol(ProtocolError::ShortBody {
                    announced: 10,
                    got: 3,
                }),
            ..
        } => {}
        o => panic!("{o:?}"),
    }
    // Status and headers waited for the body: nothing went to the client.
    assert_eq!(r.client.status, None);
    assert!(r.client.body.is_empty());
}

#[test]
fn backend_content_length_is_enforced_less_body_cuts_the_client_connection_once_bytes_reached_it() {
    let opts = RequestOptions {
        flush_packets: true,
        ..Default::default()
    };
    let r = run(
        &[
            headers(200, &[("Content-Length", "10")]),
            body(b"abc"),
            end(true),
        ],
        &opts,
    );
    assert!(matches!(
        outcome(&r.attempt),
        Outcome::Aborted {
            error: BackendError::Protocol(ProtocolError::ShortBody { .. })
        }
    ));
    assert_eq!(r.client.body, b"abc");
}

#[test]
fn flush_header_sends_status_and_headers_before_any_body() {
    let opts = RequestOptions {
        flush_header: true,
        ..Default::default()
    };
    let mut stream_parts = vec![headers(200, &[("X-A", "1")])];
    // The backend closes before any body: the headers were out already.
    stream_parts.push(Vec::new());
    let r = run(&stream_parts, &opts);
    assert_eq!(r.client.status, Some(200));
    assert!(r.client.flushes >= 1);
    assert!(matches!(
        outcome(&r.attempt),
        Outcome::Aborted {
            error: BackendError::Closed
        }
    ));
}

#[test]
fn fail_on_status_relays_nothing_and_blames_the_backend_for_a_positive_code() {
    for (codes, blame) in [(vec![503], true), (vec![-503], false)] {
        let opts = RequestOptions {
            fail_on_status: codes,
            ..Default::default()
        };
        let r = run(&[headers(503, &[]), body(b"down"), end(true)], &opts);
        match outcome(&r.attempt) {
            Outcome::FailOnStatus {
                status: 503,
                blame: b,
                replayable: true,
            } => assert_eq!(*b, blame),
            o => panic!("{o:?}"),
        }
        assert_eq!(r.client.status, None);
        assert!(!reusable(&r.attempt));
    }
}

#[test]
fn a_bodiless_error_status_becomes_httpds_error_page_keeping_the_401_challenge() {
    let r = run(
        &[
            headers(401, &[("WWW-Authenticate", "Basic realm=x")]),
            end(true),
        ],
        &RequestOptions::default(),
    );
    match outcome(&r.attempt) {
        Outcome::ErrorPage {
            status: 401,
            www_authenticate: Some(v),
        } => assert_eq!(v, b"Basic realm=x"),
        o => panic!("{o:?}"),
    }
    assert_eq!(r.client.status, None);
}

#[test]
fn use_server_errors_drops_the_backends_error_body() {
    let opts = RequestOptions {
        use_server_errors: 500,
        ..Default::default()
    };
    let r = run(&[headers(500, &[]), body(b"stack trace"), end(true)], &opts);
    assert!(matches!(
        outcome(&r.attempt),
        Outcome::ErrorPage { status: 500, .. }
    ));
    assert!(r.client.body.is_empty());
}

#[test]
fn a_connection_is_reused_only_after_end_response_with_reuse() {
    let r = run(&[headers(200, &[]), end(false)], &RequestOptions::default());
    assert!(!reusable(&r.attempt));
    let opts = RequestOptions {
        disable_reuse: true,
        ..Default::default()
    };
    let r = run(&[headers(200, &[]), end(true)], &opts);
    assert!(!reusable(&r.attempt));
}

#[test]
fn a_connection_whose_request_body_was_not_fully_exchanged_is_not_reused() {
    // The backend asks for no body and ends: 10 announced bytes were never sent.
    let client = MemClient {
        request_body: b"0123456789".to_vec(),
        ..Default::default()
    };
    // The first packet (the whole body) normally goes with the request; here the
    // exchange still owes it.
    let ex_mode = body_mode(Some(10), false);
    let r = run_with(
        &[headers(200, &[]), end(true)],
        usize::MAX,
        ex_mode,
        client,
        &RequestOptions::default(),
        false,
    );
    assert!(!reusable(&r.attempt));
}

#[test]
fn request_body_packets_are_sent_when_the_backend_asks() {
    let client = MemClient {
        request_body: vec![7; 100],
        ..Default::default()
    };
    let r = run_with(
        &[get_body(60), get_body(60), headers(200, &[]), end(true)],
        usize::MAX,
        body_mode(Some(100), false),
        client,
        &RequestOptions::default(),
        false,
    );
    // 60 then the remaining 40, each a body packet of its own.
    assert_eq!(r.stream.sent.len(), 2);
    assert_eq!(r.stream.sent[0].len(), 4 + 2 + 60);
    assert_eq!(r.stream.sent[1].len(), 4 + 2 + 40);
    assert!(matches!(
        outcome(&r.attempt),
        Outcome::Done { body_sent: 100, .. }
    ));
}

#[test]
fn a_pooled_connection_closed_before_any_reply_is_an_idle_close_not_a_backend_failure() {
    let r = run_with(
        &[],
        usize::MAX,
        body_mode(Some(0), false),
        MemClient::default(),
        &RequestOptions::default(),
        true,
    );
    match r.attempt {
        Attempt::Failed(f) => assert!(f.idle_close && f.sent),
        a => panic!("{a:?}"),
    }
    // A fresh connection that closes is the backend's fault.
    let r = run(&[], &RequestOptions::default());
    match r.attempt {
        Attempt::Failed(f) => assert!(!f.idle_close),
        a => panic!("{a:?}"),
    }
}

#[test]
fn a_client_that_went_away_is_not_the_backends_fault() {
    let client = MemClient {
        gone: true,
        ..Default::default()
    };
    let r = run_with(
        &[headers(200, &[]), body(b"abc"), end(true)],
        usize::MAX,
        body_mode(Some(0), false),
        client,
        &RequestOptions::default(),
        false,
    );
    assert!(matches!(
        outcome(&r.attempt),
        Outcome::ClientGone(ClientError::Write)
    ));
    assert!(!reusable(&r.attempt));
}

#[test]
fn head_requests_pass_no_body_on() {
    let opts = RequestOptions {
        header_only: true,
        ..Default::default()
    };
    let r = run(
        &[
            headers(200, &[("Content-Length", "3")]),
            body(b"abc"),
            end(true),
        ],
        &opts,
    );
    assert!(matches!(outcome(&r.attempt), Outcome::Done { .. }));
    assert_eq!(r.client.status, Some(200));
    assert!(r.client.body.is_empty());
}

proptest! {
    /// Whatever the packet sizes and however the bytes arrive, the client gets the body
    /// up to the announced length and never more, and a short body never looks complete.
    #[test]
    fn the_client_never_gets_more_than_the_content_length(
        pieces in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..300), 0..6),
        announced in proptest::option::of(0u64..1500),
        chunk in 1usize..700,
        flush in any::<bool>(),
    ) {
        let total: Vec<u8> = pieces.concat();
        let mut parts = vec![match announced {
            Some(cl) => headers(200, &[("Content-Length", &cl.to_string())]),
            None => headers(200, &[]),
        }];
        parts.extend(pieces.iter().filter(|p| !p.is_empty()).map(|p| body(p)));
        parts.push(end(true));
        let opts = RequestOptions { flush_packets: flush, ..Default::default() };
        let r = run_with(&parts, chunk, body_mode(Some(0), false), MemClient::default(), &opts, false);
        let cl = announced.unwrap_or(u64::MAX);
        prop_assert!(r.client.body.len() as u64 <= cl);
        prop_assert_eq!(&r.client.body[..], &total[..r.client.body.len()]);
        match outcome(&r.attempt) {
            Outcome::Done { cut_at_length, .. } => {
                prop_assert!((total.len() as u64) >= cl.min(total.len() as u64));
                prop_assert_eq!(cut_at_length.is_some(), (total.len() as u64) > cl);
                prop_assert_eq!(reusable(&r.attempt), cut_at_length.is_none());
            }
            Outcome::Failed { status: 502, .. } | Outcome::Aborted { .. } => {
                prop_assert!((total.len() as u64) < cl);
            }
            o => prop_assert!(false, "{:?}", o),
        }
    }
}

proptest! {
    /// Whatever bytes the backend sends, the relay ends with an answer (no panic, no
    /// endless loop), sends the client headers at most once and body only after them,
    /// and never pools a connection that did not end cleanly.
    #[test]
    fn arbitrary_backend_bytes_never_break_the_relay(
        raw in proptest::collection::vec(any::<u8>(), 0..600),
        chunk in 1usize..64,
        prefix_headers in any::<bool>(),
    ) {
        let mut parts = Vec::new();
        if prefix_headers {
            parts.push(headers(200, &[("Content-Length", "20")]));
        }
        parts.push(raw);
        let client = MemClient { request_body: vec![1; 50], ..Default::default() };
        let r = run_with(&parts, chunk, body_mode(Some(50), false), client, &RequestOptions::default(), true);
        if reusable(&r.attempt) {
            let clean = matches!(
                outcome(&r.attempt),
                Outcome::Done { cut_at_length: None, .. } | Outcome::ErrorPage { .. }
            );
            prop_assert!(clean, "pooled after {:?}", outcome(&r.attempt));
        }
        prop_assert!(r.client.body.len() <= 20 || !prefix_headers);
    }
}
