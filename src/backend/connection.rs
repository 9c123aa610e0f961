//! One connection to the backend, over TCP or a Unix domain socket (`host=unix:/path`):
//! connecting (source address, buffers, timeouts),
//! CPing, and reading whole reply packets into a receive buffer lent per exchange.

use std::io::{self, ErrorKind, Read, Write};
use std::net::{IpAddr, SocketAddr, TcpStream, ToSocketAddrs};
use std::ops::Range;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, Instant};

use memmap2::MmapMut;
use socket2::{Domain, Protocol, SockRef, Socket, TcpKeepalive, Type};

use super::buffers::{LARGE_BUFS, READ_BUF, RecvBuf, SMALL_BUFS};
use super::wire;
use crate::ajp::relay::{BackendError, ReplyStream};
use crate::ajp::{self, Reply};
use crate::config::workers::AjpParams;
use crate::endpoint::{self, Stream};

/// Everything the exchange needs from a worker's configuration, in usable units.
#[derive(Debug, Clone)]
pub struct Target {
    pub name: String,
    pub host: String,
    pub port: u16,
    pub prefer_ipv6: bool,
    pub connect_timeout: Option<Duration>,
    pub socket_timeout: Option<Duration>,
    pub keepalive: bool,
    /// CPing after connect, with its timeout.
    pub connect_ping: Option<Duration>,
    /// CPing before each request on a pooled connection.
    pub prepost_ping: Option<Duration>,
    /// `ping_timeout`: the CPing of a new connection while the worker is in no-reuse mode.
    pub ping_timeout: Duration,
    pub reply_timeout: Option<Duration>,
    pub max_packet: usize,
    pub retries: u32,
    pub retry_interval: Duration,
    pub recovery_options: u32,
    pub pool_size: usize,
    /// Idle connections kept even when older than `idle_timeout`.
    pub pool_min: usize,
    pub acquire_timeout: Duration,
    /// CPing idle pooled connections older than this during maintenance
    /// (`connection_ping_interval`, by default ping_timeout/100 s with `ping_mode` I).
    pub idle_ping: Option<(Duration, Duration)>,
    pub idle_timeout: Option<Duration>,
    pub secret: Option<String>,
    /// Requests in flight (all children) above which the worker is treated as busy.
    pub busy_limit: u32,
    /// `source`: the local addresses to bind before connecting (the one of the target's
    /// family is used); the text as configured, for error messages.
    pub source: Option<(String, Vec<IpAddr>)>,
    /// `socket_buffer`: SO_SNDBUF and SO_RCVBUF in bytes; 0 leaves the OS default.
    pub socket_buffer: usize,
    /// `upload_window`: request body packets on their way at once (0, 1: only when asked).
    pub upload_window: u32,
}

fn ms(v: u32) -> Option<Duration> {
    (v > 0).then(|| Duration::from_millis(u64::from(v)))
}

impl Target {
    pub fn from_params(name: &str, p: &AjpParams, threads_per_child: u32) -> Target {
        let (pool_size, pool_min) = p.pool_sizes(threads_per_child);
        Target {
            name: name.to_string(),
            host: p.host.clone(),
            port: p.port,
            prefer_ipv6: p.prefer_ipv6,
            connect_timeout: ms(p.socket_connect_timeout_ms),
            socket_timeout: (p.socket_timeout_secs > 0)
                .then(|| Duration::from_secs(u64::from(p.socket_timeout_secs))),
            keepalive: p.socket_keepalive,
            connect_ping: ms(p.connect_timeout_ms),
            prepost_ping: ms(p.prepost_timeout_ms),
            ping_timeout: Duration::from_millis(u64::from(p.ping_timeout_ms.max(1))),
            reply_timeout: ms(p.reply_timeout_ms),
            max_packet: ajp::clamp_packet_size(p.max_packet_size as usize),
            retries: p.retries.max(1),
            retry_interval: Duration::from_millis(u64::from(p.retry_interval_ms)),
            recovery_options: p.recovery_options,
            pool_size: pool_size.max(1) as usize,
            pool_min: pool_min as usize,
            // As mod_jk: a connection_ping_interval above zero enables interval probing
            // by itself (ping_mode I only supplies a default interval).
            idle_ping: (p.connection_ping_interval_secs > 0 && p.ping_timeout_ms > 0).then(|| {
                (
                    Duration::from_secs(u64::from(p.connection_ping_interval_secs)),
                    Duration::from_millis(u64::from(p.ping_timeout_ms.max(1))),
                )
            }),
            acquire_timeout: Duration::from_millis(u64::from(p.acquire_timeout_ms())),
            idle_timeout: (p.connection_pool_timeout_secs > 0)
                .then(|| Duration::from_secs(u64::from(p.connection_pool_timeout_secs))),
            secret: p.secret.clone(),
            busy_limit: p.busy_limit,
            source: p.source.as_deref().filter(|s| !s.is_empty()).map(|s| {
                let ips = (s, 0u16)
                    .to_socket_addrs()
                    .map(|a| a.map(|a| a.ip()).collect())
                    .unwrap_or_default();
                (s.to_string(), ips)
            }),
            socket_buffer: p.socket_buffer as usize,
            upload_window: p.upload_window,
        }
    }

    /// A TCP connection to `addr` with `source` bound and `socket_buffer` applied
    /// (both before connecting, so the window scale reflects the buffer).
    pub(super) fn open(&self, addr: &SocketAddr) -> io::Result<TcpStream> {
        if self.source.is_none() && self.socket_buffer == 0 {
            return match self.connect_timeout {
                Some(d) => TcpStream::connect_timeout(addr, d),
                None => TcpStream::connect(addr),
            };
        }
        let sock = Socket::new(
            Domain::for_address(*addr),
            Type::STREAM,
            Some(Protocol::TCP),
        )?;
        if self.socket_buffer > 0 {
            sock.set_send_buffer_size(self.socket_buffer)?;
            sock.set_recv_buffer_size(self.socket_buffer)?;
        }
        if let Some((text, ips)) = &self.source {
            let Some(ip) = ips.iter().find(|ip| ip.is_ipv4() == addr.is_ipv4()) else {
                return Err(io::Error::new(
                    ErrorKind::AddrNotAvailable,
                    format!("the source address '{text}' has no address of the backend's family"),
                ));
            };
            sock.bind(&SocketAddr::new(*ip, 0).into()).map_err(|e| {
                io::Error::new(e.kind(), format!("binding the source address {ip}: {e}"))
            })?;
        }
        match self.connect_timeout {
            Some(d) => sock.connect_timeout(&(*addr).into(), d)?,
            None => sock.connect(&(*addr).into())?,
        }
        Ok(sock.into())
    }
}

/// What an idle connection turned out to hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Idle {
    Quiet,
    Closed,
    Stray,
}

/// One TCP connection to the backend. While in use it holds a receive buffer lent by
/// the child; a pooled connection holds none (a clean exchange leaves nothing unread),
/// so memory follows the requests in flight, not the threads or pooled connections.
pub struct Conn {
    stream: Stream,
    pub(super) buf: RecvBuf,
    pub(super) start: usize,
    pub(super) end: usize,
    pub(super) last_used: Instant,
    /// The pool's count of open connections, decremented when this one closes.
    pub(super) open: Option<Arc<AtomicI64>>,
    /// The pool's address generation when connected: one from an older address is not
    /// pooled again.
    pub(super) addr_gen: u32,
    /// A CPing was answered by something else than CPONG: a reply nobody asked for.
    pub(super) stray_seen: bool,
}

impl Drop for Conn {
    fn drop(&mut self) {
        if let Some(open) = &self.open {
            open.fetch_sub(1, Ordering::AcqRel);
        }
        self.detach_buf();
    }
}

impl Conn {
    pub(super) fn connect(t: &Target, addrs: &[SocketAddr]) -> Result<Conn, BackendError> {
        if let Some(path) = endpoint::unix_path(&t.host) {
            let stream = endpoint::connect_unix(path, t.connect_timeout, t.socket_buffer)
                .map_err(BackendError::Connect)?;
            return Conn::ready(t, Stream::Unix(stream));
        }
        let mut last = io::Error::new(ErrorKind::NotFound, "no address");
        for addr in addrs {
            match t.open(addr) {
                Ok(stream) => {
                    let _ = stream.set_nodelay(true);
                    if t.keepalive {
                        let _ = SockRef::from(&stream).set_tcp_keepalive(&TcpKeepalive::new());
                    }
                    return Conn::ready(t, Stream::Tcp(stream));
                }
                Err(e) => last = e,
            }
        }
        Err(BackendError::Connect(last))
    }

    /// A connection over `stream`, fresh: no buffer, nothing read, not counted anywhere.
    fn new(stream: Stream) -> Conn {
        Conn {
            stream,
            buf: RecvBuf::None,
            start: 0,
            end: 0,
            last_used: Instant::now(),
            open: None,
            addr_gen: 0,
            stray_seen: false,
        }
    }

    /// A new connection with socket_timeout applied, CPinged when ping_mode C asks.
    fn ready(t: &Target, stream: Stream) -> Result<Conn, BackendError> {
        let _ = stream.set_read_timeout(t.socket_timeout);
        let _ = stream.set_write_timeout(t.socket_timeout);
        let mut c = Conn::new(stream);
        if let Some(d) = t.connect_ping {
            c.cping(t, d)?;
        }
        Ok(c)
    }

    /// What a pooled connection holds: nothing (a live, quiet connection), the peer's
    /// close, or bytes nobody asked for (a stray reply, never to be read as the next
    /// response).
    pub(super) fn peek(&mut self) -> Idle {
        if self.start != self.end {
            return Idle::Stray;
        }
        // One non-blocking peek (no mode switch of the socket): "would block" is the
        // only answer of a live, quiet connection.
        let mut b = [std::mem::MaybeUninit::<u8>::uninit()];
        match SockRef::from(&self.stream)
            .recv_with_flags(&mut b, libc::MSG_PEEK | libc::MSG_DONTWAIT)
        {
            Err(e) if e.kind() == ErrorKind::WouldBlock => Idle::Quiet,
            Ok(n) if n > 0 => Idle::Stray,
            _ => Idle::Closed,
        }
    }

    /// Takes a receive buffer for an exchange. Small, as most responses are; a large
    /// one replaces it once a read fills it.
    fn attach_buf(&mut self, max_packet: usize) {
        if let RecvBuf::None = self.buf {
            let mut small = SMALL_BUFS.take().unwrap_or_default();
            if small.len() < 2 * max_packet {
                small.resize(2 * max_packet, 0);
            }
            self.buf = RecvBuf::Small(small);
            self.start = 0;
            self.end = 0;
        }
    }

    /// Readies the connection for the pool, giving its receive buffer back; `false`
    /// (the connection must be dropped, which closes it) when bytes after the end of a
    /// reply are unread: such a connection is never pooled.
    pub(super) fn park(&mut self) -> bool {
        if self.start != self.end {
            return false;
        }
        self.detach_buf();
        true
    }

    /// Gives the receive buffer back, dropping whatever it still holds.
    fn detach_buf(&mut self) {
        match std::mem::replace(&mut self.buf, RecvBuf::None) {
            RecvBuf::None => {}
            RecvBuf::Small(v) => SMALL_BUFS.give(v),
            RecvBuf::Large(m) => LARGE_BUFS.give(m),
        }
        self.start = 0;
        self.end = 0;
    }

    /// Moves the buffered bytes into a large buffer and gives the small one back. When
    /// the system refuses the memory, the exchange simply goes on with the small one.
    fn grow_buf(&mut self) {
        let Some(mut large) = LARGE_BUFS
            .take()
            .or_else(|| MmapMut::map_anon(READ_BUF).ok())
        else {
            return;
        };
        large[..self.end - self.start].copy_from_slice(&self.buf[self.start..self.end]);
        self.end -= self.start;
        self.start = 0;
        if let RecvBuf::Small(small) = std::mem::replace(&mut self.buf, RecvBuf::Large(large)) {
            SMALL_BUFS.give(small);
        }
    }

    pub(super) fn cping(&mut self, t: &Target, timeout: Duration) -> Result<(), BackendError> {
        self.stream
            .write_all(&ajp::CPING_PACKET)
            .map_err(|e| BackendError::Ping(e.to_string()))?;
        wire::written(ajp::CPING_PACKET.len());
        match self.next_reply(t.max_packet, Some(timeout)) {
            Ok((Reply::CPong, used)) => {
                self.start += used;
                Ok(())
            }
            Ok((other, _)) => {
                let code = other.code();
                self.stray_seen = true;
                Err(BackendError::Ping(format!(
                    "unexpected message type {code} instead of CPONG"
                )))
            }
            Err(e) => Err(BackendError::Ping(e.to_string())),
        }
    }

    /// Decodes the next reply, reading as much as the socket has when the buffer does
    /// not hold a whole packet. The reply borrows the buffer; advance `start` by the
    /// returned length when done with it.
    pub(super) fn next_reply(
        &mut self,
        max_packet: usize,
        timeout: Option<Duration>,
    ) -> Result<(Reply<'_>, usize), BackendError> {
        self.fill(max_packet, timeout)?;
        self.decode(max_packet)
    }

    /// Decodes the whole packet `fill` made sure of.
    fn decode(&self, max_packet: usize) -> Result<(Reply<'_>, usize), BackendError> {
        ajp::decode_reply(&self.buf[self.start..self.end], max_packet)
            .map_err(BackendError::Protocol)?
            .ok_or(BackendError::Closed)
    }

    /// Reads until the buffer holds a whole packet.
    fn fill(&mut self, max_packet: usize, timeout: Option<Duration>) -> Result<(), BackendError> {
        self.attach_buf(max_packet);
        loop {
            let pending = &self.buf[self.start..self.end];
            match ajp::reply::peek_reply_len(pending, max_packet).map_err(BackendError::Protocol)? {
                Some(size) if pending.len() >= size => return Ok(()),
                _ => {}
            }
            if self.start > 0 {
                self.buf.copy_within(self.start..self.end, 0);
                self.end -= self.start;
                self.start = 0;
            }
            if timeout.is_some() {
                let _ = self.stream.set_read_timeout(timeout);
            }
            let n = self.stream.read(&mut self.buf[self.end..]);
            match n {
                Ok(0) => return Err(BackendError::Closed),
                Ok(n) => {
                    wire::read(n);
                    self.end += n;
                    // A small buffer sized for max_packet=65536 is already past READ_BUF.
                    if self.end == self.buf.len()
                        && matches!(self.buf, RecvBuf::Small(_))
                        && self.buf.len() < READ_BUF
                    {
                        self.grow_buf();
                    }
                }
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                    return Err(BackendError::ReplyTimeout);
                }
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => return Err(BackendError::Receive(e)),
            }
        }
    }
}

impl Conn {
    /// The socket, for writing a request.
    pub(super) fn stream(&mut self) -> &mut Stream {
        &mut self.stream
    }
}

impl ReplyStream for Conn {
    fn fill(&mut self, max_packet: usize, timeout: Option<Duration>) -> Result<(), BackendError> {
        Conn::fill(self, max_packet, timeout)
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
        self.stream.write_all(packet)?;
        wire::written(packet.len());
        Ok(())
    }
    fn try_send(&mut self, data: &[u8]) -> io::Result<usize> {
        let sock = SockRef::from(&self.stream);
        let mut done = 0;
        while done < data.len() {
            match sock.send_with_flags(&data[done..], libc::MSG_DONTWAIT | libc::MSG_NOSIGNAL) {
                Ok(n) => done += n,
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                Err(e) => return Err(e),
            }
        }
        wire::written(done);
        Ok(done)
    }
}

#[cfg(test)]
mod tests {
    use super::super::buffers::LARGE_BUFS;
    use super::*;
    use std::net::TcpListener;

    /// `n` connections to a peer that sends each `packets` SEND_BODY_CHUNKs of `chunk`
    /// bytes, every packet filled with its own byte value; join the handle after reading.
    fn chunked_peers(
        n: usize,
        packets: usize,
        chunk: usize,
    ) -> (Vec<Conn>, std::thread::JoinHandle<()>) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let server = std::thread::spawn(move || {
            for i in 0..n {
                let (mut s, _) = listener.accept().unwrap();
                for p in 0..packets {
                    let mut packet = b"AB".to_vec();
                    packet.extend_from_slice(&((chunk + 4) as u16).to_be_bytes());
                    packet.push(3);
                    packet.extend_from_slice(&(chunk as u16).to_be_bytes());
                    packet.extend(std::iter::repeat_n((i * packets + p) as u8, chunk));
                    packet.push(0);
                    s.write_all(&packet).unwrap();
                }
            }
        });
        let conns = (0..n)
            .map(|_| Conn::new(TcpStream::connect(addr).unwrap().into()))
            .collect();
        (conns, server)
    }

    fn read_chunks(c: &mut Conn, i: usize, packets: usize, chunk: usize, max_packet: usize) {
        for p in 0..packets {
            let (reply, used) = c.next_reply(max_packet, None).unwrap();
            let Reply::SendBodyChunk(data) = reply else {
                panic!("connection {i} packet {p}: {reply:?}");
            };
            let fill = (i * packets + p) as u8;
            assert!(data.len() == chunk && data.iter().all(|&b| b == fill));
            c.start += used;
        }
    }

    /// A reply bigger than the small buffer moves to a mapped READ_BUF buffer without
    /// losing or reordering a byte; parked connections give their buffers back, and the
    /// pool keeps only `keep` of them.
    #[test]
    fn large_replies_grow_the_buffer_and_the_pool_stays_bounded() {
        let (mut conns, server) = chunked_peers(LARGE_BUFS.keep + 2, 6, 8000);
        // All 48 KB of each are queued (they fit the socket buffers): a read fills the
        // small buffer.
        server.join().unwrap();
        for (i, c) in conns.iter_mut().enumerate() {
            read_chunks(c, i, 6, 8000, 8192);
            assert!(
                matches!(c.buf, RecvBuf::Large(_)),
                "connection {i} kept the small buffer"
            );
        }
        for c in &mut conns {
            assert!(c.park());
            assert!(matches!(c.buf, RecvBuf::None));
        }
        assert_eq!(LARGE_BUFS.idle.lock().len(), LARGE_BUFS.keep);
    }

    /// With max_packet_size=65536 the small buffer (two packets) is already larger than
    /// READ_BUF: it must stay, not be squeezed into a large one.
    #[test]
    fn the_largest_packet_size_keeps_its_own_buffer() {
        let (mut conns, server) = chunked_peers(1, 4, 60_000);
        // Let the peer's bytes queue up so that one read fills the whole buffer.
        std::thread::sleep(Duration::from_millis(200));
        read_chunks(&mut conns[0], 0, 4, 60_000, 65_536);
        assert!(matches!(conns[0].buf, RecvBuf::Small(ref v) if v.len() == 2 * 65_536));
        server.join().unwrap();
    }
}
