//! The request body side of a relay: answers GET_BODY_CHUNK and, with an
//! `upload_window`, sends full body packets before the backend asks for them. The
//! decisions are [`UploadWindow`]'s; this carries them out over the relay's traits.

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
    /// The unwritten end of the last packet sent ahead, when the socket took only part
    /// of it without waiting.
    owed: Vec<u8>,
    /// Writing a packet ahead failed: nothing more is written. The backend may have
    /// answered and closed (as Tomcat does when it reads a packet it never asked for), so
    /// its reply is still read; the error counts only if it asks for more body.
    broken: Option<io::Error>,
    /// `body`: client bytes of the packet being built (or held); `packet`: it encoded.
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
        Uploader {
            win,
            owed: Vec::new(),
            broken: None,
            bufs,
            max_packet,
        }
    }

    /// At END_RESPONSE: no body packet the backend did not ask for is left in the
    /// connection (otherwise it must be closed).
    pub fn clean_at_end(&self) -> bool {
        self.win.clean_at_end() && self.broken.is_none()
    }

    /// Client body was read ahead of the backend's requests: no replay is possible.
    pub fn consumed_ahead(&self) -> bool {
        self.win.consumed_ahead()
    }

    /// Answers a GET_BODY_CHUNK for `requested` bytes (`max`: the exchange's cap), then
    /// tops the window up.
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
        let len = match self.win.on_request(requested, max) {
            Answer::InFlight => {
                // The backend is reading the packet that is partly written: finish it.
                if self.win.in_flight() == 0 {
                    self.finish_owed(conn)?;
                }
                None
            }
            Answer::Held { len } => Some(len),
            // Filled as far as the client's body allows (a chunked upload's chunks are
            // packed into full packets, as mod_jk does), so a short packet means the end.
            Answer::Read { max } => {
                self.bufs.body.resize(max, 0);
                let got = match max {
                    0 => 0,
                    _ => read_full(client, &mut self.bufs.body[..max]).map_err(Stop::Client)?,
                };
                Some(got)
            }
        };
        if let Some(len) = len {
            self.finish_owed(conn)?;
            self.encode(len);
            ex.body_packet_sent(len);
            self.win.sent(len);
            conn.send(self.bufs.packet).map_err(Stop::Send)?;
        }
        self.top_up(conn, client, ex)
    }

    fn encode(&mut self, len: usize) {
        self.bufs.packet.clear();
        // Cannot fail: `len` is within the packet's capacity.
        let _ = super::encode_body_chunk(&self.bufs.body[..len], self.max_packet, self.bufs.packet);
    }

    /// Sends full packets ahead while the window allows, nothing from the backend waits
    /// to be read, and the socket takes them without waiting: a backend busy writing its
    /// response instead of reading must never leave both sides blocked.
    fn top_up<S: ReplyStream + ?Sized>(
        &mut self,
        conn: &mut S,
        client: &mut dyn Client,
        ex: &mut Exchange,
    ) -> Result<(), Stop> {
        self.send_owed(conn);
        while self.owed.is_empty() && self.broken.is_none() && conn.unread().is_empty() {
            let Some(size) = self.win.ahead() else {
                break;
            };
            self.bufs.body.resize(size, 0);
            let got = read_full(client, &mut self.bufs.body[..size]).map_err(Stop::Client)?;
            if self.win.read_ahead(got, size) == Ahead::Hold {
                // Kept in body_buf until the backend asks for it.
                break;
            }
            self.encode(got);
            ex.body_packet_sent(got);
            self.win.sent(got);
            match conn.try_send(self.bufs.packet) {
                Ok(n) => self.owed.extend_from_slice(&self.bufs.packet[n..]),
                Err(e) => self.broken = Some(e),
            }
        }
        Ok(())
    }

    /// Writes what the socket takes of the owed bytes without waiting.
    fn send_owed<S: ReplyStream + ?Sized>(&mut self, conn: &mut S) {
        if !self.owed.is_empty() && self.broken.is_none() {
            match conn.try_send(&self.owed) {
                Ok(n) => drop(self.owed.drain(..n)),
                Err(e) => self.broken = Some(e),
            }
        }
    }

    /// Writes the owed bytes, waiting if needed (the backend is reading them).
    fn finish_owed<S: ReplyStream + ?Sized>(&mut self, conn: &mut S) -> Result<(), Stop> {
        if !self.owed.is_empty() {
            conn.send(&self.owed).map_err(Stop::Send)?;
            self.owed.clear();
        }
        Ok(())
    }
}
