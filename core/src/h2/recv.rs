//! The receiving half of [`Session`]: the preface, then frame by frame, each rule of
//! RFC 9113 §5–§8 with its error, and the limits against the known attacks.

use super::*;
use crate::h2::frame::{kind, FrameHeader, HEADER_LEN, PREFACE};
use crate::h2::request_head::{validate, validate_trailers};
use ErrorCode::*;

type R = Result<(), H2Error>;

impl Session {
    /// Consumes bytes received from the client: the preface, then frames. Events queue
    /// up for [`Session::poll_event`] and answers (SETTINGS ACK, PING ACK, RST_STREAM,
    /// GOAWAY) in [`Session::output`]. After a connection error the input is ignored.
    pub fn recv(&mut self, bytes: &[u8]) {
        if self.phase == Phase::Dead {
            return;
        }
        let mut buf = std::mem::take(&mut self.inbuf);
        buf.extend_from_slice(bytes);
        let mut pos = 0;
        if self.phase == Phase::Preface {
            let n = buf.len().min(PREFACE.len());
            if buf[..n] != PREFACE[..n] {
                self.conn_error(H2Error::conn(ProtocolError, "bad connection preface"));
                return;
            }
            if n < PREFACE.len() {
                self.inbuf = buf;
                return;
            }
            pos = PREFACE.len();
            self.phase = Phase::Settings;
        }
        while let Some(h) = FrameHeader::parse(&buf[pos..]) {
            if h.len > self.cfg.max_frame_size {
                self.conn_error(H2Error::conn(
                    FrameSizeError,
                    "frame larger than MAX_FRAME_SIZE",
                ));
                return;
            }
            let end = pos + HEADER_LEN + h.len as usize;
            let Some(payload) = buf.get(pos + HEADER_LEN..end) else {
                break;
            };
            pos = end;
            if let Err(e) = self.on_frame(&h, payload) {
                self.fail(e);
            }
            if self.phase == Phase::Dead {
                return;
            }
        }
        buf.drain(..pos);
        self.inbuf = buf;
    }

    /// Handles a protocol error: RST_STREAM for a stream error, GOAWAY for a connection
    /// one.
    fn fail(&mut self, e: H2Error) {
        match e.stream {
            None => self.conn_error(e),
            Some(stream) => {
                if let Some(s) = self.remove_stream(stream) {
                    if s.known {
                        self.events.push_back(Event::Reset {
                            stream,
                            code: e.code,
                        });
                    }
                }
                match self.control(Frame::RstStream {
                    stream,
                    code: e.code,
                }) {
                    Ok(()) => self.sent_reset(stream),
                    Err(flood) => self.conn_error(flood),
                }
            }
        }
    }

    fn conn_error(&mut self, e: H2Error) {
        if self.phase == Phase::Dead {
            return;
        }
        Frame::GoAway {
            last_stream: self.last_stream,
            code: e.code,
            debug: e.reason.as_bytes(),
        }
        .write(&mut self.out);
        self.phase = Phase::Dead;
        self.inbuf = Vec::new();
        self.pending = None;
        self.events.push_back(Event::ConnectionError {
            code: e.code,
            reason: e.reason,
        });
    }

    /// Queues a frame the client provoked, bounded by `max_control_backlog` while the
    /// client does not read its output.
    fn control(&mut self, f: Frame) -> R {
        if self.control_backlog >= self.cfg.max_control_backlog {
            return Err(H2Error::conn(
                EnhanceYourCalm,
                "too many control frames queued",
            ));
        }
        self.control_backlog += 1;
        f.write(&mut self.out);
        Ok(())
    }

    /// A stream the client opened then reset, or made us refuse or reset.
    fn count_reset(&mut self) -> R {
        self.resets += 1;
        if self.resets > self.cfg.max_resets {
            return Err(H2Error::conn(EnhanceYourCalm, "too many reset streams"));
        }
        Ok(())
    }

    fn on_frame(&mut self, h: &FrameHeader, payload: &[u8]) -> R {
        if self.phase == Phase::Settings {
            if h.kind != kind::SETTINGS || h.flags & frame::flag::ACK != 0 {
                return Err(H2Error::conn(ProtocolError, "first frame is not SETTINGS"));
            }
            self.phase = Phase::Open;
        }
        if let Some(p) = &self.pending {
            if h.kind != kind::CONTINUATION || h.stream != p.stream {
                return Err(H2Error::conn(ProtocolError, "header block interrupted"));
            }
        }
        match Frame::parse(h, payload)? {
            Frame::Data {
                stream,
                data,
                end_stream,
                ..
            } => self.on_data(stream, h.len, data, end_stream),
            Frame::Headers {
                stream,
                block,
                end_stream,
                end_headers,
                priority,
                ..
            } => {
                self.pending = Some(PendingBlock {
                    stream,
                    block: Vec::new(),
                    end_stream,
                    cost: 0,
                    self_dependent: priority.is_some_and(|p| p.dependency == stream),
                });
                self.on_fragment(block, end_headers)
            }
            Frame::Continuation {
                block, end_headers, ..
            } => {
                if self.pending.is_none() {
                    return Err(H2Error::conn(ProtocolError, "CONTINUATION without HEADERS"));
                }
                self.on_fragment(block, end_headers)
            }
            Frame::Priority { .. } | Frame::Unknown { .. } => Ok(()),
            Frame::RstStream { stream, code } => self.on_reset(stream, code),
            Frame::Settings { ack, params } => self.on_settings(ack, &params),
            Frame::PushPromise { .. } => {
                Err(H2Error::conn(ProtocolError, "PUSH_PROMISE from a client"))
            }
            Frame::Ping { ack: false, data } => self.control(Frame::Ping { ack: true, data }),
            Frame::Ping { ack: true, .. } => Ok(()),
            Frame::GoAway { code, .. } => {
                self.peer_goaway = true;
                self.events.push_back(Event::GoAway { code });
                Ok(())
            }
            Frame::WindowUpdate { stream, increment } => self.on_window_update(stream, increment),
        }
    }

    fn is_idle(&self, stream: u32) -> bool {
        stream > self.last_stream
    }

    fn on_fragment(&mut self, fragment: &[u8], end_headers: bool) -> R {
        let limit = self.cfg.max_header_block;
        let Some(p) = self.pending.as_mut() else {
            return Ok(());
        };
        p.cost += HEADER_LEN + fragment.len();
        if p.cost > limit {
            return Err(H2Error::conn(EnhanceYourCalm, "header block too large"));
        }
        p.block.extend_from_slice(fragment);
        if !end_headers {
            return Ok(());
        }
        let Some(p) = self.pending.take() else {
            return Ok(());
        };
        self.on_header_block(p)
    }

    fn on_header_block(&mut self, p: PendingBlock) -> R {
        let stream = p.stream;
        let decoded = self
            .decoder
            .decode(&p.block, self.cfg.max_header_list_size as usize);
        if let Err(e) = decoded {
            if e.is_compression_error() {
                return Err(H2Error::conn(
                    CompressionError,
                    "header block does not decode",
                ));
            }
        }
        if let Some(s) = self.streams.get(&stream) {
            // Trailers.
            if !s.recv_open {
                return Err(H2Error::stream(
                    stream,
                    StreamClosed,
                    "HEADERS after END_STREAM",
                ));
            }
            if !p.end_stream {
                return Err(H2Error::stream(
                    stream,
                    ProtocolError,
                    "trailers without END_STREAM",
                ));
            }
            let fields = decoded
                .map_err(|_| H2Error::stream(stream, ProtocolError, "trailers too large"))?;
            validate_trailers(&fields).map_err(|r| H2Error::stream(stream, ProtocolError, r))?;
            return self.end_of_body(stream, Vec::new());
        }
        if self.was_reset(stream) {
            return Ok(()); // in flight when we reset it (the block was decoded above)
        }
        if !self.is_idle(stream) {
            return Err(H2Error::conn(ProtocolError, "HEADERS on a closed stream"));
        }
        if stream.is_multiple_of(2) {
            return Err(H2Error::conn(ProtocolError, "even stream id from a client"));
        }
        self.last_stream = stream;
        if self.goaway_sent.is_some() {
            return Ok(()); // after GOAWAY: ignored, the client retries elsewhere
        }
        if p.self_dependent {
            self.count_reset()?;
            return Err(H2Error::stream(
                stream,
                ProtocolError,
                "stream depends on itself",
            ));
        }
        let fields = match decoded {
            Ok(f) => f,
            Err(_) => {
                self.count_reset()?;
                return self.refuse_431(stream, p.end_stream);
            }
        };
        if self.streams.len() >= self.cfg.max_concurrent_streams as usize {
            self.count_reset()?;
            return Err(H2Error::stream(
                stream,
                RefusedStream,
                "too many concurrent streams",
            ));
        }
        let head = match validate(fields) {
            Ok(h) => h,
            Err(reason) => {
                self.count_reset()?;
                return Err(H2Error::stream(stream, ProtocolError, reason));
            }
        };
        if p.end_stream && head.content_length.is_some_and(|n| n > 0) {
            self.count_reset()?;
            return Err(H2Error::stream(
                stream,
                ProtocolError,
                "content-length without DATA",
            ));
        }
        let recv_window = if self.settings_acked {
            self.cfg.stream_window
        } else {
            self.cfg.stream_window.max(DEFAULT_WINDOW)
        };
        let mut s = Stream::new(self.peer_initial_window, recv_window, self.clock);
        s.head = head.method == "HEAD";
        s.known = true;
        s.content_length = head.content_length;
        s.recv_open = !p.end_stream;
        self.streams.insert(stream, s);
        self.events.push_back(Event::Request {
            stream,
            head,
            end_stream: p.end_stream,
        });
        Ok(())
    }

    /// Answers a request whose header list was too large with 431 (RFC 9113 §10.5.1).
    fn refuse_431(&mut self, stream: u32, end_stream: bool) -> R {
        self.write_head(stream, "431", std::iter::empty(), true);
        if !end_stream {
            self.control(Frame::RstStream {
                stream,
                code: NoError,
            })?;
            self.sent_reset(stream);
        }
        Ok(())
    }

    fn on_data(&mut self, stream: u32, flow_len: u32, data: &[u8], end_stream: bool) -> R {
        let flow = flow_len as i64;
        if flow > self.conn_recv_window {
            return Err(H2Error::conn(
                FlowControlError,
                "DATA beyond the connection window",
            ));
        }
        self.conn_recv_window -= flow;
        let Some(s) = self.streams.get_mut(&stream) else {
            if self.is_idle(stream) {
                return Err(H2Error::conn(ProtocolError, "DATA on an idle stream"));
            }
            self.release_conn(flow_len);
            if self.was_reset(stream) {
                return Ok(()); // in flight when we reset it
            }
            return Err(H2Error::stream(
                stream,
                StreamClosed,
                "DATA on a closed stream",
            ));
        };
        if !s.recv_open || flow > s.recv_window {
            let closed = !s.recv_open;
            self.release_conn(flow_len);
            return Err(if closed {
                H2Error::stream(stream, StreamClosed, "DATA after END_STREAM")
            } else {
                H2Error::stream(stream, FlowControlError, "DATA beyond the stream window")
            });
        }
        s.recv_window -= flow;
        s.received += data.len() as u64;
        let padding = flow_len - data.len() as u32;
        if s.content_length.is_some_and(|n| s.received > n) {
            self.release_conn(flow_len);
            return Err(H2Error::stream(
                stream,
                ProtocolError,
                "more DATA than content-length",
            ));
        }
        // Padding is never delivered: give it back at once (both windows).
        s.held += data.len() as u64;
        s.recv_window += padding as i64;
        self.release_conn(padding);
        if end_stream {
            return self.end_of_body(stream, data.to_vec());
        }
        if !data.is_empty() {
            self.events.push_back(Event::Data {
                stream,
                data: data.to_vec(),
                end_stream: false,
            });
        }
        Ok(())
    }

    /// The request body ended (END_STREAM on DATA or trailers).
    fn end_of_body(&mut self, stream: u32, data: Vec<u8>) -> R {
        let Some(s) = self.streams.get_mut(&stream) else {
            return Ok(());
        };
        s.recv_open = false;
        if s.content_length.is_some_and(|n| n != s.received) {
            return Err(H2Error::stream(
                stream,
                ProtocolError,
                "body shorter than content-length",
            ));
        }
        self.events.push_back(Event::Data {
            stream,
            data,
            end_stream: true,
        });
        Ok(())
    }

    fn on_reset(&mut self, stream: u32, code: ErrorCode) -> R {
        if self.is_idle(stream) {
            return Err(H2Error::conn(ProtocolError, "RST_STREAM on an idle stream"));
        }
        if let Some(s) = self.remove_stream(stream) {
            if s.known {
                self.events.push_back(Event::Reset { stream, code });
            }
            if s.send_open {
                self.count_reset()?;
            }
        }
        Ok(())
    }

    fn on_settings(&mut self, ack: bool, params: &[(u16, u32)]) -> R {
        if ack {
            if !self.settings_acked {
                self.settings_acked = true;
                // Streams opened before the ACK were allowed the default window.
                let cut = DEFAULT_WINDOW.saturating_sub(self.cfg.stream_window) as i64;
                for s in self.streams.values_mut() {
                    s.recv_window -= cut;
                }
            }
            return Ok(());
        }
        for &(id, v) in params {
            match id {
                setting::HEADER_TABLE_SIZE => {
                    let size = v.min(self.cfg.header_table_size).min(4096) as usize;
                    if size != self.encoder.table().max_size() {
                        self.encoder.set_max_size(size);
                    }
                }
                setting::INITIAL_WINDOW_SIZE => {
                    let delta = v as i64 - self.peer_initial_window as i64;
                    self.peer_initial_window = v;
                    for s in self.streams.values_mut() {
                        s.send_window += delta;
                        if s.send_window > MAX_WINDOW as i64 {
                            return Err(H2Error::conn(FlowControlError, "window above 2^31-1"));
                        }
                    }
                    if delta > 0 {
                        self.wake_blocked();
                    }
                }
                setting::MAX_FRAME_SIZE => self.peer_max_frame = v,
                _ => {}
            }
        }
        self.control(Frame::Settings {
            ack: true,
            params: Vec::new(),
        })
    }

    fn on_window_update(&mut self, stream: u32, inc: u32) -> R {
        if stream == 0 {
            self.conn_send_window += inc as i64;
            if self.conn_send_window > MAX_WINDOW as i64 {
                return Err(H2Error::conn(
                    FlowControlError,
                    "connection window above 2^31-1",
                ));
            }
            self.wake_blocked();
            return Ok(());
        }
        if self.is_idle(stream) {
            return Err(H2Error::conn(
                ProtocolError,
                "WINDOW_UPDATE on an idle stream",
            ));
        }
        let conn_open = self.conn_send_window > 0;
        let Some(s) = self.streams.get_mut(&stream) else {
            return Ok(()); // closed: frames in flight are fine
        };
        s.send_window += inc as i64;
        if s.send_window > MAX_WINDOW as i64 {
            return Err(H2Error::stream(
                stream,
                FlowControlError,
                "stream window above 2^31-1",
            ));
        }
        if s.blocked && s.send_window > 0 && conn_open {
            s.blocked = false;
            self.events.push_back(Event::SendReady { stream });
        }
        Ok(())
    }

    /// Tells every stream waiting for window that it may send again.
    fn wake_blocked(&mut self) {
        if self.conn_send_window <= 0 {
            return;
        }
        for (&stream, s) in self.streams.iter_mut() {
            if s.blocked && s.send_window > 0 {
                s.blocked = false;
                self.events.push_back(Event::SendReady { stream });
            }
        }
    }
}
