//! The request body side of a relay: answers GET_BODY_CHUNK and, with an
//! `upload_window`, sends body packets before the backend asks for them, together in one
//! write. The decisions are [`UploadWindow`]'s; this carries them out over the relay's
//! traits.

use std::io;

use super::relay::{Client, ClientError, RelayBufs, ReplyStream, read_full};
use super::upload_window::{Ahead, Answer, UploadWindow};
use super::{BodyMode, Exchange};

/// Why the body side stopped.
pub enum Stop {
    Client(ClientError),
    Send(io::Error),
}

/// The body side of one attempt.
pub struct Uploader<'b> {
    win: UploadWindow,
    /// Writing a packet ahead failed: nothing more is written. The backend may have
    /// answered and closed (as Tomcat does when it reads a packet it never asked for), so
    /// its reply is still read; the error counts only if it asks for more body.
    broken: Option<io::Error>,
    /// `body`: client bytes of the packet being built (or held); `packet`: the encoded
    /// packets not written yet, in order. The packets sent ahead are its tail; what
    /// precedes them the backend asked for.
    bufs: RelayBufs<'b>,
    max_packet: usize,
}

impl<'b> Uploader<'b> {
    /// `first_chunk`: the data length of the packet that went out with FORWARD_REQUEST.
    pub fn new(
        window: u32,
        body: BodyMode,
        max_packet: usize,
        first_chunk: Option<usize>,
        bufs: RelayBufs<'b>,
    ) -> Uploader<'b> {
        let mut win = UploadWindow::new(window, body, max_packet);
        if let Some(len) = first_chunk {
            win.first_sent(len);
        }
        bufs.packet.clear();
        Uploader {
            win,
            broken: None,
            bufs,
            max_packet,
        }
    }

    /// At END_RESPONSE: no body packet the backend did not ask for is left in the
    /// connection (otherwise it must be closed).
    pub fn clean_at_end(&self) -> bool {
        self.win.clean_at_end() && self.broken.is_none() && self.bufs.packet.is_empty()
    }

    /// Client body was read ahead of the backend's requests: no replay is possible.
    pub fn consumed_ahead(&self) -> bool {
        self.win.consumed_ahead()
    }

    /// Answers a GET_BODY_CHUNK for `requested` bytes (`max`: the exchange's cap), tops
    /// the window up, and writes: everything the socket takes at once, and at least all
    /// the backend asked for.
    pub fn answer<S: ReplyStream + ?Sized>(
        &mut self,
        requested: u16,
        max: usize,
        conn: &mut S,
        client: &mut dyn Client,
        ex: &mut Exchange,
    ) -> Result<(), Stop> {
        if let Some(e) = self.broken.take() {
            return Err(Stop::Send(e));
        }
        match self.win.on_request(requested, max) {
            // The packet it asks for is on its way (or still unwritten, then it is
            // written below).
            Answer::InFlight => {}
            Answer::Held { len } => self.append(len, ex),
            // Filled as far as the client's body allows (a chunked upload's chunks are
            // packed into full packets, as mod_jk does), so a short packet means the end.
            Answer::Read { max } => {
                self.bufs.body.resize(max, 0);
                let got = match max {
                    0 => 0,
                    _ => read_full(client, &mut self.bufs.body[..max]).map_err(Stop::Client)?,
                };
                self.append(got, ex);
            }
        }
        self.top_up(conn, client, ex)?;
        self.write(conn)
    }

    /// Encodes the packet of `len` body bytes at the end of the unwritten ones.
    fn append(&mut self, len: usize, ex: &mut Exchange) {
        // Cannot fail: `len` is within the packet's capacity.
        let _ = super::encode_body_chunk(&self.bufs.body[..len], self.max_packet, self.bufs.packet);
        ex.body_packet_sent(len);
        self.win.sent(len);
    }

    /// Unwritten bytes the backend asked for: those before the packets sent ahead.
    fn asked_unwritten(&self) -> usize {
        self.bufs
            .packet
            .len()
            .saturating_sub(self.win.in_flight_bytes())
    }

    /// Adds the packets the window lets go ahead (to go out in one write with the one
    /// asked for, if any), when everything ahead so far is written and nothing from the
    /// backend waits to be read: a backend busy writing its response instead of reading
    /// must never leave both sides blocked.
    fn top_up<S: ReplyStream + ?Sized>(
        &mut self,
        conn: &mut S,
        client: &mut dyn Client,
        ex: &mut Exchange,
    ) -> Result<(), Stop> {
        if self.bufs.packet.len() > self.asked_unwritten() {
            self.try_write(conn);
        }
        if self.bufs.packet.len() > self.asked_unwritten() || !conn.unread().is_empty() {
            return Ok(());
        }
        while self.broken.is_none() {
            let Some(size) = self.win.ahead() else {
                break;
            };
            self.bufs.body.resize(size, 0);
            let got = read_full(client, &mut self.bufs.body[..size]).map_err(Stop::Client)?;
            if self.win.read_ahead(got, size) == Ahead::Hold {
                // Kept in body_buf until the backend asks for it.
                break;
            }
            self.append(got, ex);
        }
        Ok(())
    }

    /// Writes what the socket takes of the unwritten bytes without waiting.
    fn try_write<S: ReplyStream + ?Sized>(&mut self, conn: &mut S) {
        if !self.bufs.packet.is_empty() && self.broken.is_none() {
            match conn.try_send(self.bufs.packet) {
                Ok(n) if n == self.bufs.packet.len() => self.bufs.packet.clear(),
                Ok(n) => drop(self.bufs.packet.drain(..n)),
                Err(e) => self.broken = Some(e),
            }
        }
    }

    /// Writes what the socket takes at once, then, waiting if needed, the rest of what
    /// the backend asked for (it is reading it). Packets ahead that the socket did not
    /// take stay for later.
    fn write<S: ReplyStream + ?Sized>(&mut self, conn: &mut S) -> Result<(), Stop> {
        self.try_write(conn);
        let asked = self.asked_unwritten();
        if asked > 0 {
            if let Some(e) = self.broken.take() {
                return Err(Stop::Send(e));
            }
            conn.send(&self.bufs.packet[..asked]).map_err(Stop::Send)?;
            self.bufs.packet.drain(..asked);
        }
        Ok(())
    }
}

#[cfg(test)]
#[path = "upload_tests.rs"]
mod tests;
