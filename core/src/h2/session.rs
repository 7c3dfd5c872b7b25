//! The server side of an HTTP/2 connection, sans I/O.
//!
//! The connection feeds received bytes to [`Session::recv`], takes [`Event`]s from
//! [`Session::poll_event`], answers with [`Session::send_headers`],
//! [`Session::send_data`] and [`Session::send_trailers`], and writes
//! [`Session::output`] to the socket, calling [`Session::consume`] for what was written.
//! The session never blocks, never reads a clock (the caller sets one with
//! [`Session::set_clock`]) and buffers at most one frame of input plus what the caller
//! passed in one call.
//!
//! ```
//! use reactor::h2::{frame::{Frame, PREFACE}, hpack::{Encoder, Indexing}, Config, Event, Session};
//!
//! let mut s = Session::new(Config::default());
//! // A client: preface, SETTINGS, then GET / as HEADERS with END_STREAM.
//! let mut wire = PREFACE.to_vec();
//! Frame::Settings { ack: false, params: vec![] }.write(&mut wire);
//! let mut block = Vec::new();
//! Encoder::new(4096).encode(&mut block, [
//!     (&b":method"[..], &b"GET"[..], Indexing::Incremental),
//!     (b":scheme", b"http", Indexing::Incremental),
//!     (b":path", b"/", Indexing::Incremental),
//!     (b":authority", b"example.com", Indexing::Incremental),
//! ]);
//! Frame::Headers { stream: 1, block: &block, end_stream: true, end_headers: true,
//!                  priority: None, pad: None }.write(&mut wire);
//! s.recv(&wire);
//! let Some(Event::Request { stream, head, end_stream }) = s.poll_event() else { panic!() };
//! assert_eq!((stream, head.path.as_deref(), end_stream), (1, Some("/"), true));
//! s.send_headers(1, 200, &[("content-type", "text/plain")], false).unwrap();
//! assert_eq!(s.send_data(1, b"hello", true).unwrap(), 5);
//! let n = s.output().len();
//! s.consume(n); // written to the socket
//! ```

use std::collections::{BTreeMap, VecDeque};

use super::error::{ErrorCode, H2Error};
use super::frame::{self, setting, Frame, DEFAULT_WINDOW, MAX_WINDOW};
use super::hpack::{Decoder, Encoder, Indexing};
use super::request_head::RequestHead;
use super::stream::Stream;

/// Limits and windows of a session.
#[derive(Debug, Clone)]
pub struct Config {
    /// SETTINGS_MAX_CONCURRENT_STREAMS we announce and enforce (REFUSED_STREAM beyond).
    pub max_concurrent_streams: u32,
    /// SETTINGS_INITIAL_WINDOW_SIZE we announce: request body bytes a client may send
    /// per stream before the application releases them.
    pub stream_window: u32,
    /// The connection receive window (all streams together; never below 65,535, the
    /// window every connection starts with).
    pub connection_window: u32,
    /// SETTINGS_MAX_FRAME_SIZE we accept (FRAME_SIZE_ERROR beyond).
    pub max_frame_size: u32,
    /// SETTINGS_MAX_HEADER_LIST_SIZE: decoded header list bound (431 beyond).
    pub max_header_list_size: u32,
    /// Bytes of HEADERS + CONTINUATION frames (headers included) one header block may
    /// span (ENHANCE_YOUR_CALM beyond: the CONTINUATION flood, CVE-2024-27316).
    pub max_header_block: usize,
    /// Streams the client may open and then reset (or make us reset) before GOAWAY
    /// ENHANCE_YOUR_CALM (rapid reset, CVE-2023-44487); each completed response
    /// earns one back.
    pub max_resets: u32,
    /// Control frames (SETTINGS ACK, PING ACK, RST_STREAM) we may queue while the
    /// client does not read them (ENHANCE_YOUR_CALM beyond: SETTINGS / PING floods).
    pub max_control_backlog: usize,
    /// SETTINGS_HEADER_TABLE_SIZE for both directions' dynamic tables.
    pub header_table_size: u32,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            max_concurrent_streams: 128,
            stream_window: 256 * 1024,
            connection_window: 1024 * 1024,
            max_frame_size: frame::DEFAULT_MAX_FRAME_SIZE,
            max_header_list_size: 16 * 1024,
            max_header_block: 64 * 1024,
            max_resets: 100,
            max_control_backlog: 1000,
            header_table_size: 4096,
        }
    }
}

/// Something the application must act on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// A new request. `end_stream`: it has no body.
    Request {
        /// Stream id.
        stream: u32,
        /// The validated head.
        head: RequestHead,
        /// True when no body follows.
        end_stream: bool,
    },
    /// Request body bytes (release them with [`Session::release`] once consumed);
    /// `end_stream` marks the end of the body (trailers, if any, are dropped).
    Data {
        /// Stream id.
        stream: u32,
        /// Body bytes (may be empty at the end).
        data: Vec<u8>,
        /// True on the last piece.
        end_stream: bool,
    },
    /// The stream was reset (by the client, or by us for a protocol error): stop
    /// working on it.
    Reset {
        /// Stream id.
        stream: u32,
        /// Why.
        code: ErrorCode,
    },
    /// Flow-control windows opened for a stream that could not send everything.
    SendReady {
        /// Stream id.
        stream: u32,
    },
    /// The client sent GOAWAY: it opens no more streams.
    GoAway {
        /// Its error code.
        code: ErrorCode,
    },
    /// A connection error: GOAWAY is queued; flush the output and close.
    ConnectionError {
        /// The code sent.
        code: ErrorCode,
        /// What went wrong.
        reason: &'static str,
    },
}

/// Why an answer could not be sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SendError {
    /// The connection is closed (after a connection error).
    ConnectionClosed,
    /// The stream is not open for sending (finished, reset, or unknown).
    StreamClosed,
    /// DATA or trailers before the response head, or a second head.
    BadOrder,
}

/// Where the session is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Waiting for (the rest of) the client preface.
    Preface,
    /// Waiting for the client's first SETTINGS.
    Settings,
    /// Running.
    Open,
    /// After a connection error: input is ignored.
    Dead,
}

/// A header block being collected across CONTINUATION frames.
struct PendingBlock {
    stream: u32,
    block: Vec<u8>,
    end_stream: bool,
    /// Frame bytes so far (headers included), against `max_header_block`.
    cost: usize,
    /// The HEADERS frame declared a dependency on its own stream.
    self_dependent: bool,
}

/// The server side of one HTTP/2 connection. See the module documentation.
pub struct Session {
    cfg: Config,
    phase: Phase,
    inbuf: Vec<u8>,
    out: Vec<u8>,
    out_start: usize,
    decoder: Decoder,
    encoder: Encoder,
    streams: BTreeMap<u32, Stream>,
    events: VecDeque<Event>,
    pending: Option<PendingBlock>,
    /// Highest client stream id seen.
    last_stream: u32,
    conn_send_window: i64,
    conn_recv_window: i64,
    conn_recv_unacked: u32,
    peer_initial_window: u32,
    peer_max_frame: u32,
    settings_acked: bool,
    goaway_sent: Option<u32>,
    peer_goaway: bool,
    resets: u32,
    /// Streams we reset lately: frames the client had in flight on them are ignored.
    recent_resets: VecDeque<u32>,
    control_backlog: usize,
    clock: u64,
}

impl Session {
    /// A session that has queued its SETTINGS (and a connection WINDOW_UPDATE): the
    /// server side of a connection whose first bytes are the client preface.
    pub fn new(cfg: Config) -> Self {
        let mut s = Session {
            decoder: Decoder::new(cfg.header_table_size as usize),
            encoder: Encoder::new(cfg.header_table_size.min(4096) as usize),
            phase: Phase::Preface,
            inbuf: Vec::new(),
            out: Vec::with_capacity(4096),
            out_start: 0,
            streams: BTreeMap::new(),
            events: VecDeque::new(),
            pending: None,
            last_stream: 0,
            conn_send_window: DEFAULT_WINDOW as i64,
            conn_recv_window: DEFAULT_WINDOW as i64,
            conn_recv_unacked: 0,
            peer_initial_window: DEFAULT_WINDOW,
            peer_max_frame: frame::DEFAULT_MAX_FRAME_SIZE,
            settings_acked: false,
            goaway_sent: None,
            peer_goaway: false,
            resets: 0,
            recent_resets: VecDeque::new(),
            control_backlog: 0,
            clock: 0,
            cfg,
        };
        let mut params = vec![
            (
                setting::MAX_CONCURRENT_STREAMS,
                s.cfg.max_concurrent_streams,
            ),
            (
                setting::INITIAL_WINDOW_SIZE,
                s.cfg.stream_window.min(MAX_WINDOW),
            ),
            (setting::MAX_HEADER_LIST_SIZE, s.cfg.max_header_list_size),
        ];
        if s.cfg.max_frame_size != frame::DEFAULT_MAX_FRAME_SIZE {
            params.push((setting::MAX_FRAME_SIZE, s.cfg.max_frame_size));
        }
        if s.cfg.header_table_size != 4096 {
            params.push((setting::HEADER_TABLE_SIZE, s.cfg.header_table_size));
        }
        Frame::Settings { ack: false, params }.write(&mut s.out);
        let extra = s.cfg.connection_window.min(MAX_WINDOW) as i64 - DEFAULT_WINDOW as i64;
        if extra > 0 {
            Frame::WindowUpdate {
                stream: 0,
                increment: extra as u32,
            }
            .write(&mut s.out);
            s.conn_recv_window += extra;
        }
        s
    }

    /// Bytes waiting to be written to the socket.
    pub fn output(&self) -> &[u8] {
        &self.out[self.out_start..]
    }

    /// Marks the first `n` bytes of [`Session::output`] as written.
    pub fn consume(&mut self, n: usize) {
        self.out_start = (self.out_start + n).min(self.out.len());
        if self.out_start == self.out.len() {
            self.out.clear();
            self.out_start = 0;
            self.control_backlog = 0;
        } else if self.out_start > 64 * 1024 && self.out_start * 2 > self.out.len() {
            self.out.drain(..self.out_start);
            self.out_start = 0;
        }
    }

    /// The next event, if any.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// Sets the session clock (any monotonic unit, e.g. milliseconds) used to tell how
    /// long a stream has waited for flow-control window; see [`Session::stalled`].
    pub fn set_clock(&mut self, now: u64) {
        self.clock = now;
    }

    /// Streams that have been waiting for window since `since` or earlier (by the session
    /// clock) with nothing sent: the caller resets them when its send timeout expires.
    pub fn stalled(&self, since: u64) -> Vec<u32> {
        self.streams
            .iter()
            .filter(|(_, s)| s.blocked && s.last_progress <= since)
            .map(|(&id, _)| id)
            .collect()
    }

    /// Number of open streams.
    pub fn open_streams(&self) -> usize {
        self.streams.len()
    }

    /// True when the connection should be closed once [`Session::output`] is written:
    /// after a connection error, or after GOAWAY (either way) when no stream is left.
    pub fn wants_close(&self) -> bool {
        self.phase == Phase::Dead
            || ((self.goaway_sent.is_some() || self.peer_goaway) && self.streams.is_empty())
    }

    /// True after a connection error.
    pub fn is_dead(&self) -> bool {
        self.phase == Phase::Dead
    }
}

#[path = "recv.rs"]
mod recv;

#[path = "send.rs"]
mod send;

#[cfg(test)]
#[path = "session_tests.rs"]
mod tests;

#[cfg(test)]
#[path = "limits_tests.rs"]
mod limits_tests;

#[cfg(test)]
#[path = "flow_tests.rs"]
mod flow_tests;
