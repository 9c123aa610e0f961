//! The relay of one AJP exchange between the backend's byte stream and the client:
//! Content-Length enforcement, when status and headers go out, error pages,
//! `fail_on_status`, request body packets, and whether the connection may be reused.
//!
//! No socket and no httpd here: the backend side is a [`ReplyStream`] (a receive buffer
//! over a byte stream) and the client side a [`Client`], so tests drive [`relay`] with
//! scripted replies and an in-memory client.
//!
//! Rules kept:
//! - more body than the Content-Length: the client gets exactly the announced length, the
//!   rest is dropped with the connection;
//! - less body than announced: a 502 while nothing reached the client, else the client
//!   connection is cut (the truncation shows);
//! - status and headers go out with the first body bytes (or at a flush), not before;
//! - a connection is reusable only after END_RESPONSE(reuse=1) with the request body
//!   fully exchanged.

use std::io;
use std::ops::Range;
use std::time::Duration;

use super::upload::{Stop, Uploader};
use super::{Action, EncodeError, Exchange, ProtocolError, Reply};

/// Why an attempt failed, in words an admin can act on.
#[derive(Debug)]
pub enum BackendError {
    Resolve(io::Error),
    Connect(io::Error),
    /// No CPONG in time, or something else than a CPONG.
    Ping(String),
    Send(io::Error),
    Receive(io::Error),
    /// reply_timeout passed without a packet.
    ReplyTimeout,
    /// The backend closed the connection mid-exchange.
    Closed,
    Protocol(ProtocolError),
    /// Every pool slot stayed busy for connection_acquire_timeout.
    PoolExhausted,
}

impl std::fmt::Display for BackendError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            BackendError::Resolve(e) => write!(f, "cannot resolve the backend host: {e}"),
            BackendError::Connect(e) => write!(f, "cannot connect: {e}"),
            BackendError::Ping(e) => write!(f, "CPing/CPong failed: {e}"),
            BackendError::Send(e) => write!(f, "sending to the backend failed: {e}"),
            BackendError::Receive(e) => write!(f, "reading from the backend failed: {e}"),
            BackendError::ReplyTimeout => write!(f, "no reply within reply_timeout"),
            BackendError::Closed => write!(f, "the backend closed the connection"),
            BackendError::Protocol(e) => write!(f, "AJP protocol error: {e}"),
            BackendError::PoolExhausted => write!(f, "no free connection in the pool"),
        }
    }
}

/// Errors on the client side of the exchange: never the backend's fault.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientError {
    /// Reading the request body failed (client went away or sent less than announced).
    Read,
    /// The client connection is gone.
    Write,
}

/// The httpd side of one request.
pub trait Client {
    /// Reads request body bytes into `buf`; `Ok(0)` = end of body.
    fn read_body(&mut self, buf: &mut [u8]) -> Result<usize, ClientError>;
    /// Sets status and headers of the response (nothing is sent before body or end).
    fn start_response(
        &mut self,
        status: u16,
        reason: &[u8],
        headers: &[(&[u8], &[u8])],
    ) -> Result<(), ClientError>;
    fn write_body(&mut self, data: &[u8]) -> Result<(), ClientError>;
    /// Writes the `(offset, len)` ranges of `buf`, in order, as one body write.
    fn write_body_parts(
        &mut self,
        buf: &[u8],
        parts: &[(usize, usize)],
    ) -> Result<(), ClientError> {
        parts
            .iter()
            .try_for_each(|&(off, len)| self.write_body(&buf[off..off + len]))
    }
    fn flush(&mut self) -> Result<(), ClientError>;
    /// A new backend connection was opened for this request (counted in shared memory
    /// from then on, as mod_jk counts it when connecting).
    fn connection_opened(&mut self) {}
}

/// Per-request settings that do not come from the worker definition.
#[derive(Debug, Clone, Default)]
pub struct RequestOptions {
    pub reply_timeout: Option<Duration>,
    pub flush_packets: bool,
    pub flush_header: bool,
    pub disable_reuse: bool,
    /// HEAD: never pass a body on.
    pub header_only: bool,
    /// Status from which the backend's body is dropped and httpd's own error page used
    /// (`use_server_errors` rule extension); 0 = only bodiless errors.
    pub use_server_errors: u16,
    /// `fail_on_status`: these statuses are not relayed; the attempt fails instead
    /// (a negative code fails without blaming the backend).
    pub fail_on_status: Vec<i32>,
}

/// How a request ended.
#[derive(Debug)]
pub enum Outcome {
    /// The response was relayed completely.
    Done {
        status: u16,
        body_sent: u64,
        body_relayed: u64,
        /// The backend sent more body than its Content-Length: the client got exactly the
        /// announced length (this value), the excess was dropped and the connection closed.
        cut_at_length: Option<u64>,
    },
    /// The backend answered a `fail_on_status` code; nothing was relayed.
    FailOnStatus {
        status: u16,
        blame: bool,
        replayable: bool,
    },
    /// The backend answered this error status without a body (or the rule asked for
    /// httpd's pages): let httpd produce its error page. `www_authenticate` keeps a 401
    /// challenge.
    ErrorPage {
        status: u16,
        www_authenticate: Option<Vec<u8>>,
    },
    /// Nothing reached the client: answer `status` (502, 503, 504).
    Failed {
        status: u16,
        error: BackendError,
        backend_fault: bool,
        replayable: bool,
    },
    /// Part of the response reached the client before the failure: abort the client
    /// connection so the truncation shows.
    Aborted { error: BackendError },
    /// The request could not be encoded (413/400): the client's fault.
    Refused { status: u16, error: EncodeError },
    /// The client went away or sent a short body: its fault, the backend is fine.
    ClientGone(ClientError),
}
/// What an attempt left behind, for the retry decision.
#[derive(Debug)]
pub struct AttemptFailure {
    pub error: BackendError,
    /// The backend received the whole FORWARD_REQUEST (it may have acted on it).
    pub sent: bool,
    /// The backend pulled request body beyond the first packet we keep for replay.
    pub upload_started: bool,
    /// A pooled connection ended before the first reply byte: most likely the backend
    /// closed it while idle just as the request went out, not a sign the backend is down.
    pub idle_close: bool,
}

/// How one attempt on one connection ended.
#[derive(Debug)]
pub enum Attempt {
    /// The request is answered (or failed in a way no other attempt can mend);
    /// `reusable`: the exchange ended cleanly and the connection may go back to the pool
    /// (if nothing is left unread on it).
    Finished { outcome: Outcome, reusable: bool },
    /// Nothing reached the client: another connection or member may be tried.
    Failed(AttemptFailure),
}

/// The backend side of one exchange: a receive buffer over the connection's byte stream.
pub trait ReplyStream {
    /// Reads until the unread bytes hold a whole reply packet; `ReplyTimeout` when
    /// `timeout` (or the socket timeout) passes first. May move the unread bytes to the
    /// start of the buffer, but only when they do not hold a whole packet yet.
    fn fill(&mut self, max_packet: usize, timeout: Option<Duration>) -> Result<(), BackendError>;
    /// The receive buffer.
    fn buf(&self) -> &[u8];
    /// The unread part of [`ReplyStream::buf`].
    fn unread(&self) -> Range<usize>;
    /// Marks `n` more bytes as read.
    fn consume(&mut self, n: usize);
    /// Writes one whole packet to the backend.
    fn send(&mut self, packet: &[u8]) -> io::Result<()>;
    /// Writes as much of `data` as the backend side takes without waiting (request body
    /// packets sent ahead, `upload_window`). A stream that cannot tell takes all of it.
    fn try_send(&mut self, data: &[u8]) -> io::Result<usize> {
        self.send(data).map(|()| data.len())
    }
}

/// A whole reply packet is already buffered (reading it will not wait).
fn has_complete_packet(s: &(impl ReplyStream + ?Sized), max_packet: usize) -> bool {
    let pending = &s.buf()[s.unread()];
    matches!(super::peek_reply_len(pending, max_packet), Ok(Some(size)) if pending.len() >= size)
}

/// Decodes the whole packet `fill` made sure of.
fn decode(
    s: &(impl ReplyStream + ?Sized),
    max_packet: usize,
) -> Result<(Reply<'_>, usize), BackendError> {
    super::decode_reply(&s.buf()[s.unread()], max_packet)
        .map_err(BackendError::Protocol)?
        .ok_or(BackendError::Closed)
}

/// What the relay needs to know about the attempt besides the request options.
#[derive(Debug, Clone, Copy)]
pub struct RelayParams<'a> {
    pub max_packet: usize,
    /// The request's reply_timeout, else the worker's.
    pub reply_timeout: Option<Duration>,
    /// The connection came from the pool: an end before any reply is most likely the
    /// backend closing it while idle.
    pub reused: bool,
    /// The request may be sent again after the backend got it (method and
    /// recovery_options, as the request policy decides it).
    pub replay_after_send: bool,
    pub opts: &'a RequestOptions,
    /// How the request body travels, and the data length of the packet that went out
    /// with FORWARD_REQUEST.
    pub body: super::BodyMode,
    pub first_chunk: Option<usize>,
    /// `upload_window`: body packets on their way at once (0, 1: only when asked); the
    /// request policy sets 0 where the body may have to be sent again.
    pub upload_window: u32,
}

/// Buffers lent to the relay for request body packets (read from the client, encoded).
pub struct RelayBufs<'b> {
    pub body: &'b mut Vec<u8>,
    pub packet: &'b mut Vec<u8>,
}

/// Relays the backend's reply to the client, once the FORWARD_REQUEST (and the first
/// body packet, which `ex` already counts) went out.
pub fn relay<S: ReplyStream + ?Sized>(
    stream: &mut S,
    client: &mut dyn Client,
    ex: Exchange,
    p: &RelayParams<'_>,
    bufs: RelayBufs<'_>,
) -> Attempt {
    let up = Uploader::new(p.upload_window, p.body, p.max_packet, p.first_chunk, bufs);
    let mut r = Relay::new(ex, p, up);
    loop {
        // Body waiting to go out lies in the receive buffer: written before that buffer
        // is read into again.
        if !r.out_body.is_empty() && !has_complete_packet(stream, p.max_packet) {
            if let Err(e) = r.write_out(stream.buf(), client) {
                return gone(e);
            }
            r.out_body.clear();
        }
        let step = stream
            .fill(p.max_packet, p.reply_timeout)
            .and_then(|()| decode(stream, p.max_packet));
        let (reply, used) = match step {
            Ok(x) => x,
            Err(error) => {
                let drained = stream.unread().is_empty();
                return r.read_failed(error, drained);
            }
        };
        r.replied = true;
        let requested = match reply {
            Reply::GetBodyChunk(n) => n,
            _ => 0,
        };
        let step = match r.ex.on_reply(reply) {
            Ok(action) => r.on_action(action, stream.buf(), client),
            Err(e) => Step::End(r.broken(BackendError::Protocol(e))),
        };
        stream.consume(used);
        match step {
            Step::Continue => {}
            Step::SendBody(max) => {
                if let Some(end) = r.send_body(stream, client, requested, max) {
                    return end;
                }
            }
            Step::Done(reuse) => return r.finish(stream.buf(), client, reuse),
            Step::End(end) => return end,
        }
    }
}

fn finished(outcome: Outcome) -> Attempt {
    Attempt::Finished {
        outcome,
        reusable: false,
    }
}

/// The client went away: the backend connection's state is unclear, it is dropped.
fn gone(e: ClientError) -> Attempt {
    finished(Outcome::ClientGone(e))
}

enum Step {
    Continue,
    /// The backend asks for up to this many request body bytes.
    SendBody(usize),
    /// END_RESPONSE with its reuse flag.
    Done(bool),
    End(Attempt),
}

/// The state of one relay.
struct Relay<'p, 'b> {
    p: &'p RelayParams<'p>,
    ex: Exchange,
    pending: Option<PendingHeaders>,
    /// Kept apart from `pending`, which is consumed when the headers go to the client.
    status: u16,
    announced_len: Option<u64>,
    committed: bool,
    relayed: u64,
    error_page: bool,
    /// Response body waiting to go to the client, as ranges of the receive buffer: the
    /// data of every packet already received is passed on in one write without being
    /// copied (one write per 8 KiB packet costs httpd a filter pass and a syscall each).
    out_body: Vec<(usize, usize)>,
    replied: bool,
    /// The request body side: GET_BODY_CHUNK answers and the upload window.
    up: Uploader<'b>,
}

impl<'p, 'b> Relay<'p, 'b> {
    fn new(ex: Exchange, p: &'p RelayParams<'p>, up: Uploader<'b>) -> Self {
        Relay {
            p,
            ex,
            pending: None,
            status: 200,
            announced_len: None,
            committed: false,
            relayed: 0,
            error_page: false,
            out_body: Vec::new(),
            replied: false,
            up,
        }
    }

    /// Whether response body bytes are passed on at all.
    fn relays_body(&self) -> bool {
        !self.error_page && !self.p.opts.header_only && !bodiless(self.status)
    }

    /// Hands the pending status and headers to the client (once).
    fn commit(&mut self, client: &mut dyn Client) -> Result<(), ClientError> {
        if self.committed {
            return Ok(());
        }
        self.committed = true;
        match self.pending.take() {
            Some(p) => p.send(client),
            // Body without headers cannot reach here (the exchange refuses it).
            None => client.start_response(200, b"", &[]),
        }
    }

    /// Headers (if not yet) and the waiting body, in one write.
    fn write_out(&mut self, buf: &[u8], client: &mut dyn Client) -> Result<(), ClientError> {
        self.commit(client)?;
        client.write_body_parts(buf, &self.out_body)
    }

    /// A failure once the backend has the request: after bytes reached the client the
    /// client connection is cut, before it another attempt may follow.
    fn broken(&self, error: BackendError) -> Attempt {
        if self.committed {
            return finished(Outcome::Aborted { error });
        }
        Attempt::Failed(AttemptFailure {
            error,
            sent: true,
            upload_started: true,
            idle_close: false,
        })
    }

    /// Reading the next reply failed; `drained`: nothing unread was left.
    fn read_failed(&self, error: BackendError, drained: bool) -> Attempt {
        if self.committed {
            return finished(Outcome::Aborted { error });
        }
        let idle_close = self.p.reused
            && !self.replied
            && drained
            && match &error {
                BackendError::Closed => true,
                BackendError::Receive(e) => e.kind() == io::ErrorKind::ConnectionReset,
                _ => false,
            };
        Attempt::Failed(AttemptFailure {
            error,
            sent: true,
            upload_started: self.ex.upload_started() || self.up.consumed_ahead(),
            idle_close,
        })
    }

    fn on_action(&mut self, action: Action<'_>, buf: &[u8], client: &mut dyn Client) -> Step {
        let r = match action {
            Action::SendHeaders {
                status,
                reason,
                headers,
            } => return self.on_headers(status, reason, &headers, client),
            Action::Body(data) => return self.on_body(data, buf, client),
            Action::Flush => self.on_flush(buf, client),
            Action::SendBodyChunk { max } => return Step::SendBody(max),
            Action::Done { reuse } => return Step::Done(reuse),
        };
        match r {
            Ok(()) => Step::Continue,
            Err(e) => Step::End(gone(e)),
        }
    }

    fn on_headers(
        &mut self,
        status: u16,
        reason: &[u8],
        headers: &[(&[u8], &[u8])],
        client: &mut dyn Client,
    ) -> Step {
        let opts = self.p.opts;
        self.announced_len = content_length(headers);
        self.status = status;
        if let Some(blame) = fail_on_status(&opts.fail_on_status, status) {
            // Nothing is relayed; the connection is dropped with whatever follows.
            return Step::End(finished(Outcome::FailOnStatus {
                status,
                blame,
                replayable: !self.ex.upload_started()
                    && !self.up.consumed_ahead()
                    && self.p.replay_after_send,
            }));
        }
        self.error_page = opts.use_server_errors > 0 && status >= opts.use_server_errors;
        self.pending = Some(PendingHeaders::new(status, reason, headers));
        if opts.flush_header && !self.error_page {
            if let Err(e) = self.commit(client).and_then(|_| client.flush()) {
                return Step::End(gone(e));
            }
        }
        Step::Continue
    }

    fn on_body(&mut self, data: &[u8], buf: &[u8], client: &mut dyn Client) -> Step {
        if !self.relays_body() {
            return Step::Continue;
        }
        // More than announced: the client gets exactly the announced length, never a
        // body that contradicts its framing.
        let take = body_room(self.announced_len, self.relayed, data.len());
        let overflow = take < data.len();
        let data = &data[..take];
        // `data` lies inside the receive buffer: keep where, not a copy.
        let offset = data.as_ptr() as usize - buf.as_ptr() as usize;
        if !data.is_empty() {
            self.out_body.push((offset, data.len()));
        }
        if overflow {
            // The rest of this reply is dropped with the connection (not reusable).
            if let Err(e) = self.write_out(buf, client) {
                return Step::End(gone(e));
            }
            return Step::End(finished(Outcome::Done {
                status: self.status,
                body_sent: self.ex.request_body_sent(),
                body_relayed: self.relayed + data.len() as u64,
                cut_at_length: self.announced_len,
            }));
        }
        self.relayed += data.len() as u64;
        // Status and headers go to the client with the first body bytes written, not
        // before: a reply that turns out short while all of it is still here can then
        // become a 502.
        if self.p.opts.flush_packets {
            let r = self.write_out(buf, client).and_then(|_| client.flush());
            self.out_body.clear();
            if let Err(e) = r {
                return Step::End(gone(e));
            }
        }
        Step::Continue
    }

    fn on_flush(&mut self, buf: &[u8], client: &mut dyn Client) -> Result<(), ClientError> {
        if !self.committed && self.out_body.is_empty() {
            return Ok(());
        }
        let r = if self.out_body.is_empty() {
            Ok(())
        } else {
            self.write_out(buf, client)
        };
        self.out_body.clear();
        r.and_then(|_| client.flush())
    }

    /// GET_BODY_CHUNK for `requested` bytes (`max`: the exchange's cap): the next
    /// request body packet, filled as far as the client's body allows (a chunked upload's
    /// chunks are packed into full packets, as mod_jk does), so a short packet means the
    /// end; then the upload window is topped up. `None`: go on reading replies.
    fn send_body<S: ReplyStream + ?Sized>(
        &mut self,
        stream: &mut S,
        client: &mut dyn Client,
        requested: u16,
        max: usize,
    ) -> Option<Attempt> {
        match self.up.answer(requested, max, stream, client, &mut self.ex) {
            Ok(()) => None,
            // CVE-2008-5519: never leave a connection whose body state is unclear.
            Err(Stop::Client(e)) => Some(gone(e)),
            Err(Stop::Send(e)) => Some(self.broken(BackendError::Send(e))),
        }
    }

    /// END_RESPONSE: the outcome, and whether the connection may be reused.
    fn finish(&mut self, buf: &[u8], client: &mut dyn Client, reuse: bool) -> Attempt {
        if let Some(cl) = self.announced_len.filter(|&cl| cl > self.relayed) {
            if self.relays_body() {
                let error = BackendError::Protocol(ProtocolError::ShortBody {
                    announced: cl,
                    got: self.relayed,
                });
                if self.committed {
                    return finished(Outcome::Aborted { error });
                }
                // Nothing reached the client: a 502 instead of a body that never comes.
                return finished(Outcome::Failed {
                    status: 502,
                    error,
                    backend_fault: false,
                    replayable: false,
                });
            }
        }
        if !self.out_body.is_empty() {
            if let Err(e) = self.write_out(buf, client) {
                return gone(e);
            }
            self.out_body.clear();
        }
        let error_page = !self.committed
            && self.status >= 400
            && (self.error_page || (self.relayed == 0 && !self.p.opts.header_only));
        let outcome = if error_page {
            let www_authenticate = self
                .pending
                .take()
                .and_then(|p| p.header(b"www-authenticate").map(<[u8]>::to_vec));
            Outcome::ErrorPage {
                status: self.status,
                www_authenticate,
            }
        } else {
            if let Err(e) = self.commit(client) {
                return gone(e);
            }
            Outcome::Done {
                status: self.status,
                body_sent: self.ex.request_body_sent(),
                body_relayed: self.relayed,
                cut_at_length: None,
            }
        };
        Attempt::Finished {
            outcome,
            // Body packets the backend never asked for would be read as the next
            // request: such a connection is never reused.
            reusable: reuse
                && !self.p.opts.disable_reuse
                && self.ex.request_body_finished()
                && self.up.clean_at_end(),
        }
    }
}

/// The Content-Length the backend announced, if it is a number.
pub fn content_length(headers: &[(&[u8], &[u8])]) -> Option<u64> {
    headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(b"content-length"))
        .and_then(|(_, v)| std::str::from_utf8(v).ok()?.trim().parse().ok())
}

/// `fail_on_status`: whether `status` is listed, and then whether the backend is blamed
/// (a positive code) or not (a negative one).
pub fn fail_on_status(codes: &[i32], status: u16) -> Option<bool> {
    codes
        .iter()
        .find(|c| c.unsigned_abs() == u32::from(status))
        .map(|&c| c > 0)
}

/// How many of `len` body bytes may still go to the client when `relayed` went already
/// and the backend announced `announced` (none: all of them).
pub fn body_room(announced: Option<u64>, relayed: u64, len: usize) -> usize {
    match announced {
        Some(cl) => len.min(usize::try_from(cl.saturating_sub(relayed)).unwrap_or(usize::MAX)),
        None => len,
    }
}

/// Reads from the client until `buf` is full or its body ends.
pub fn read_full(client: &mut dyn Client, buf: &mut [u8]) -> Result<usize, ClientError> {
    let mut got = 0;
    while got < buf.len() {
        match client.read_body(&mut buf[got..])? {
            0 => break,
            n => got += n,
        }
    }
    Ok(got)
}

/// Status codes that never carry a body.
fn bodiless(status: u16) -> bool {
    status == 204 || status == 304
}

/// Status and headers held until the body starts: one copy of every byte, with
/// ranges into it (the reply itself lives in a buffer that is read into again).
struct PendingHeaders {
    status: u16,
    bytes: Vec<u8>,
    reason: Range<usize>,
    headers: Vec<(Range<usize>, Range<usize>)>,
}

impl PendingHeaders {
    fn new(status: u16, reason: &[u8], headers: &[(&[u8], &[u8])]) -> PendingHeaders {
        let size = reason.len()
            + headers
                .iter()
                .map(|(n, v)| n.len() + v.len())
                .sum::<usize>();
        let mut bytes = Vec::with_capacity(size);
        let mut keep = |b: &[u8]| {
            let start = bytes.len();
            bytes.extend_from_slice(b);
            start..bytes.len()
        };
        let reason = keep(reason);
        let headers = headers.iter().map(|(n, v)| (keep(n), keep(v))).collect();
        PendingHeaders {
            status,
            bytes,
            reason,
            headers,
        }
    }

    fn header(&self, name: &[u8]) -> Option<&[u8]> {
        self.headers
            .iter()
            .find(|(n, _)| self.bytes[n.clone()].eq_ignore_ascii_case(name))
            .map(|(_, v)| &self.bytes[v.clone()])
    }

    fn send(&self, client: &mut dyn Client) -> Result<(), ClientError> {
        let headers: Vec<(&[u8], &[u8])> = self
            .headers
            .iter()
            .map(|(n, v)| (&self.bytes[n.clone()], &self.bytes[v.clone()]))
            .collect();
        client.start_response(self.status, &self.bytes[self.reason.clone()], &headers)
    }
}

#[cfg(test)]
#[path = "relay_tests.rs"]
mod tests;
