//! One AJP13 backend over TCP, the shell around the request policy: connections
//! ([`connection`]), the per-child connection pool ([`pool`]) and the buffers lent per
//! request ([`buffers`]). It moves bytes; what they mean is decided by
//! [`crate::ajp::relay`] (one exchange) and [`crate::dispatch`] (retries).
//!
//! Safety rules the exchange keeps (see the security catalogue):
//! - a connection goes back to the pool only after END_RESPONSE(reuse=1), with the request
//!   body fully exchanged and no unread byte pending; anything else closes it;
//! - a request is sent again only when the backend cannot have acted on it, or when it is
//!   idempotent and nothing reached the client yet (mod_jk replays any method by default);
//! - once response bytes reached the client, a failure aborts the client connection so
//!   the truncation is visible.

mod buffers;
mod connection;
mod pool;
mod resolve;

use std::io::Write;

use crate::ajp::relay::{self, Attempt, AttemptFailure, RelayBufs, RelayParams};
use crate::ajp::{self, Exchange, ForwardRequest};
use crate::dispatch::{self, Retries};

pub use crate::ajp::relay::{BackendError, Client, ClientError, Outcome, RequestOptions};
pub use buffers::Scratch;
pub use connection::{Conn, Target};
pub use pool::{Lease, Pool, wall_ms};

/// Bytes the current thread exchanged with backends for its request (mod_jk's per-request
/// `rd`/`wr`, AJP framing included): [`service`] starts from zero, the caller takes the
/// totals after it.
pub mod wire {
    use std::cell::Cell;

    thread_local! {
        static BYTES: Cell<(u64, u64)> = const { Cell::new((0, 0)) };
    }

    pub(super) fn reset() {
        BYTES.with(|b| b.set((0, 0)));
    }

    pub(super) fn read(n: usize) {
        BYTES.with(|b| {
            let (r, w) = b.get();
            b.set((r.saturating_add(n as u64), w));
        });
    }

    pub(super) fn written(n: usize) {
        BYTES.with(|b| {
            let (r, w) = b.get();
            b.set((r, w.saturating_add(n as u64)));
        });
    }

    /// (read from the backend, written to the backend) by the last `service` call.
    pub fn take() -> (u64, u64) {
        BYTES.with(|b| b.replace((0, 0)))
    }
}

/// The first request body packet, read from the client once and kept so that another
/// connection or lb member can be sent the same bytes.
#[derive(Debug, Default)]
pub struct BodyReplay {
    first: Option<Scratch>,
}

/// Serves one request on this worker: up to `retries` attempts on different
/// connections, each only when it cannot duplicate work.
pub fn service(
    pool: &Pool,
    req: &ForwardRequest<'_>,
    client: &mut dyn Client,
    opts: &RequestOptions,
    replay: &mut BodyReplay,
) -> Outcome {
    wire::reset();
    let target = pool.target();
    let t = &*target;
    let mut packet = Scratch::take();
    if let Err(error) = ajp::encode_forward_request(req, t.max_packet, &mut packet) {
        return Outcome::Refused {
            status: error.http_status(),
            error,
        };
    }
    let probe = Exchange::new(req.body, t.max_packet);
    if let (Some(n), None) = (probe.first_body_chunk(), &replay.first) {
        let mut data = Scratch::take();
        data.resize(n, 0);
        match relay::read_full(client, &mut data) {
            Ok(got) => data.truncate(got),
            Err(e) => return Outcome::ClientGone(e),
        }
        replay.first = Some(data);
    }
    // FORWARD_REQUEST and the unsolicited first body packet leave in one write.
    let first_chunk = replay.first.as_deref().map(Vec::as_slice);
    if let Some(chunk) = first_chunk {
        // Cannot fail: the chunk was sized by the exchange.
        let _ = ajp::encode_body_chunk(chunk, t.max_packet, &mut packet);
    }
    let first_chunk = first_chunk.map(<[u8]>::len);
    let retries = Retries {
        attempts: t.retries,
        interval: t.retry_interval,
    };
    let mut done = 0;
    loop {
        let f = match attempt_once(pool, req, &packet, first_chunk, client, opts) {
            Attempt::Finished { outcome, .. } => return outcome,
            Attempt::Failed(f) => f,
        };
        done += 1;
        match retries.after_failure(done, &f, req.method, t.recovery_options) {
            Some(pause) => std::thread::sleep(pause),
            None => return dispatch::failed_outcome(f, req.method, t.recovery_options),
        }
    }
}

/// One attempt on one connection: send the request, let the relay answer the client,
/// pool the connection when the relay says it may be.
fn attempt_once(
    pool: &Pool,
    req: &ForwardRequest<'_>,
    packet: &[u8],
    first_chunk: Option<usize>,
    client: &mut dyn Client,
    opts: &RequestOptions,
) -> Attempt {
    let target = pool.target();
    let t = &*target;
    let not_sent = |error| {
        Attempt::Failed(AttemptFailure {
            error,
            sent: false,
            upload_started: false,
            idle_close: false,
        })
    };
    let (mut lease, reused) = match pool.connection() {
        Ok(l) => l,
        Err(e) => return not_sent(e),
    };
    if !reused {
        client.connection_opened();
    }
    let mut ex = Exchange::new(req.body, t.max_packet);
    // `packet` carries the first body packet too, when there is one.
    if let Some(len) = first_chunk {
        ex.body_packet_sent(len);
        if len == 0 {
            // Client announced a body and sent none: the empty packet ends it.
            ex.body_packet_sent(0);
        }
    }
    let conn = lease.conn_mut();
    if let Err(e) = conn.stream().write_all(packet) {
        return not_sent(BackendError::Send(e));
    }
    wire::written(packet.len());
    let params = RelayParams {
        max_packet: t.max_packet,
        reply_timeout: opts.reply_timeout.or(t.reply_timeout),
        reused,
        replay_after_send: dispatch::may_replay_after_send(req.method, t.recovery_options),
        opts,
        body: req.body,
        first_chunk,
        upload_window: dispatch::upload_window(req.method, t.recovery_options, t.upload_window),
    };
    let (mut body, mut pkt) = (Scratch::take(), Scratch::take());
    let bufs = RelayBufs {
        body: &mut body,
        packet: &mut pkt,
    };
    let end = relay::relay(conn, client, ex, &params, bufs);
    if let Attempt::Finished { reusable: true, .. } = end {
        lease.release();
    }
    end
}
