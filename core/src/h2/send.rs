//! The sending half of [`Session`]: response heads, DATA within the flow-control
//! windows, trailers, resets, GOAWAY, and the request-body window given back.

use super::*;

impl Session {
    /// Bytes of DATA that [`Session::send_data`] would accept now on `stream`.
    pub fn send_capacity(&self, stream: u32) -> usize {
        match self.streams.get(&stream) {
            Some(s) if s.send_open && self.phase != Phase::Dead => {
                s.send_window.min(self.conn_send_window).max(0) as usize
            }
            _ => 0,
        }
    }

    pub(crate) fn open_stream(&mut self, stream: u32) -> Result<&mut Stream, SendError> {
        if self.phase == Phase::Dead {
            return Err(SendError::ConnectionClosed);
        }
        match self.streams.get_mut(&stream) {
            Some(s) if s.send_open => Ok(s),
            _ => Err(SendError::StreamClosed),
        }
    }

    /// Sends the response head: `:status` and `fields` (names are lowercased;
    /// connection-specific fields are dropped). For a HEAD request and for 204 and 304
    /// the stream ends here whatever `end_stream` says. A 1xx head may precede the final
    /// one. Returns whether a body may follow.
    pub fn send_headers<N: AsRef<str>, V: AsRef<str>>(
        &mut self,
        stream: u32,
        status: u16,
        fields: &[(N, V)],
        end_stream: bool,
    ) -> Result<bool, SendError> {
        let s = self.open_stream(stream)?;
        if s.headers_sent {
            return Err(SendError::BadOrder);
        }
        let interim = (100..200).contains(&status);
        let end = !interim && (end_stream || s.head || status == 204 || status == 304);
        s.headers_sent = !interim;
        let status = status.to_string();
        let names: Vec<String> = fields
            .iter()
            .map(|(n, _)| n.as_ref().to_ascii_lowercase())
            .collect();
        let list = names
            .iter()
            .zip(fields)
            .filter(|(n, _)| !is_connection_specific(n))
            .map(|(n, (_, v))| (n.as_bytes(), v.as_ref().as_bytes()));
        self.write_head(stream, &status, list, end);
        if end {
            self.end_send(stream, true);
        }
        Ok(!end && !interim)
    }

    pub(crate) fn write_head<'a>(
        &mut self,
        stream: u32,
        status: &'a str,
        fields: impl Iterator<Item = (&'a [u8], &'a [u8])>,
        end: bool,
    ) {
        let mut block = Vec::with_capacity(128);
        let first = std::iter::once((&b":status"[..], status.as_bytes(), Indexing::Incremental));
        let rest = fields.map(|(n, v)| (n, v, Indexing::for_response(n)));
        self.encoder.encode(&mut block, first.chain(rest));
        frame::write_header_block(
            &mut self.out,
            stream,
            &block,
            end,
            self.peer_max_frame as usize,
        );
    }

    /// Sends as much of `data` as the connection and stream windows allow, and returns
    /// how much that was; the caller keeps the rest and offers it again after
    /// [`Event::SendReady`]. `end_stream` ends the stream when all of `data` went out.
    pub fn send_data(
        &mut self,
        stream: u32,
        data: &[u8],
        end_stream: bool,
    ) -> Result<usize, SendError> {
        let conn_window = self.conn_send_window;
        let clock = self.clock;
        let max_frame = self.peer_max_frame as usize;
        let s = self.open_stream(stream)?;
        if !s.headers_sent {
            return Err(SendError::BadOrder);
        }
        if s.head {
            // A HEAD response already ended with its head; nothing to send.
            return Err(SendError::StreamClosed);
        }
        let n = data
            .len()
            .min(s.send_window.min(conn_window).max(0) as usize);
        let end = end_stream && n == data.len();
        s.send_window -= n as i64;
        s.blocked = n < data.len();
        if n > 0 {
            s.last_progress = clock;
        }
        self.conn_send_window -= n as i64;
        let mut chunks = data[..n].chunks(max_frame.max(1)).peekable();
        if chunks.peek().is_none() && end {
            write_data(&mut self.out, stream, &[], true);
        }
        while let Some(c) = chunks.next() {
            write_data(&mut self.out, stream, c, end && chunks.peek().is_none());
        }
        if end {
            self.end_send(stream, true);
        }
        Ok(n)
    }

    /// Ends the response with trailers (HEADERS with END_STREAM); an empty list just ends
    /// the stream.
    pub fn send_trailers<N: AsRef<str>, V: AsRef<str>>(
        &mut self,
        stream: u32,
        fields: &[(N, V)],
    ) -> Result<(), SendError> {
        let s = self.open_stream(stream)?;
        if !s.headers_sent {
            return Err(SendError::BadOrder);
        }
        if fields.is_empty() {
            write_data(&mut self.out, stream, &[], true);
        } else {
            let names: Vec<String> = fields
                .iter()
                .map(|(n, _)| n.as_ref().to_ascii_lowercase())
                .collect();
            let mut block = Vec::new();
            let list = names
                .iter()
                .zip(fields)
                .filter(|(n, _)| !is_connection_specific(n) && !n.starts_with(':'))
                .map(|(n, (_, v))| (n.as_bytes(), v.as_ref().as_bytes(), Indexing::Without));
            self.encoder.encode(&mut block, list);
            frame::write_header_block(
                &mut self.out,
                stream,
                &block,
                true,
                self.peer_max_frame as usize,
            );
        }
        self.end_send(stream, true);
        Ok(())
    }

    /// Resets `stream` with `code` (the application gave up on it).
    pub fn reset(&mut self, stream: u32, code: ErrorCode) {
        if self.phase != Phase::Dead && self.remove_stream(stream).is_some() {
            Frame::RstStream { stream, code }.write(&mut self.out);
            self.sent_reset(stream);
        }
    }

    /// Starts a graceful stop: GOAWAY with the last stream id seen; later streams are
    /// ignored, open ones finish. See [`Session::wants_close`].
    pub fn go_away(&mut self) {
        if self.phase != Phase::Dead && self.goaway_sent.is_none() {
            self.goaway_sent = Some(self.last_stream);
            Frame::GoAway {
                last_stream: self.last_stream,
                code: ErrorCode::NoError,
                debug: b"",
            }
            .write(&mut self.out);
        }
    }

    /// Gives back `n` bytes of request body on `stream` that the application consumed:
    /// WINDOW_UPDATEs go out once half a window is due, so the client may send more.
    pub fn release(&mut self, stream: u32, n: usize) {
        if self.phase == Phase::Dead {
            return;
        }
        let Some(s) = self.streams.get_mut(&stream) else {
            return;
        };
        let n = (n as u64).min(s.held) as u32;
        s.held -= n as u64;
        if s.recv_open {
            s.recv_unacked += n;
            if s.recv_unacked >= self.cfg.stream_window / 2 {
                let inc = std::mem::take(&mut s.recv_unacked);
                s.recv_window += inc as i64;
                Frame::WindowUpdate {
                    stream,
                    increment: inc,
                }
                .write(&mut self.out);
            }
        }
        self.release_conn(n);
    }

    /// Returns `n` bytes to the connection receive window.
    pub(crate) fn release_conn(&mut self, n: u32) {
        self.conn_recv_unacked += n;
        if self.conn_recv_unacked > 0 && self.conn_recv_unacked >= self.cfg.connection_window / 2 {
            let inc = std::mem::take(&mut self.conn_recv_unacked);
            self.conn_recv_window += inc as i64;
            Frame::WindowUpdate {
                stream: 0,
                increment: inc,
            }
            .write(&mut self.out);
        }
    }

    /// Our side of `stream` is finished. `completed`: the response ended normally.
    pub(crate) fn end_send(&mut self, stream: u32, completed: bool) {
        let Some(s) = self.streams.get_mut(&stream) else {
            return;
        };
        s.send_open = false;
        if completed {
            self.resets = self.resets.saturating_sub(1);
        }
        if s.recv_open {
            // The response is complete: the rest of the request body is not needed.
            Frame::RstStream {
                stream,
                code: ErrorCode::NoError,
            }
            .write(&mut self.out);
            self.sent_reset(stream);
        }
        self.remove_stream(stream);
    }

    /// Remembers that we reset `stream` (a bounded list: RFC 9113 §5.1 lets frames in
    /// flight be ignored for a while, not forever).
    pub(crate) fn sent_reset(&mut self, stream: u32) {
        if !self.recent_resets.contains(&stream) {
            if self.recent_resets.len() >= RECENT_RESETS {
                self.recent_resets.pop_front();
            }
            self.recent_resets.push_back(stream);
        }
    }

    /// True when we reset `stream` lately.
    pub(crate) fn was_reset(&self, stream: u32) -> bool {
        self.recent_resets.contains(&stream)
    }

    /// Forgets a stream, giving its undelivered window back to the connection.
    pub(crate) fn remove_stream(&mut self, stream: u32) -> Option<Stream> {
        let s = self.streams.remove(&stream)?;
        if s.held > 0 {
            self.release_conn(s.held.min(u32::MAX as u64) as u32);
        }
        Some(s)
    }
}

/// How many of the streams we reset are remembered.
const RECENT_RESETS: usize = 128;

/// Fields HTTP/2 forbids (RFC 9113 §8.2.2), dropped from responses.
fn is_connection_specific(name: &str) -> bool {
    matches!(
        name,
        "connection" | "keep-alive" | "proxy-connection" | "transfer-encoding" | "upgrade"
    )
}

fn write_data(out: &mut Vec<u8>, stream: u32, data: &[u8], end_stream: bool) {
    Frame::Data {
        stream,
        data,
        end_stream,
        pad: None,
    }
    .write(out);
}
