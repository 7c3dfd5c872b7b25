//! One client connection: an explicit state machine from bytes in to bytes out.
//!
//! ```text
//!  Head ──▶ Body ──▶ Dispatch ──▶ (Waiting) ──▶ Writing ──▶ Head (keep-alive)
//!                                                  │──────▶ Linger ──▶ closed
//!                                                  └──────▶ Tunnel ──▶ closed
//! ```
//! Requests are handled one at a time; pipelined bytes wait in the read buffer, so
//! responses go out in order. Every read and write loops until `WouldBlock` (the
//! reactor's readiness is edge-triggered) and remembers that it blocked.

use std::collections::VecDeque;
use std::io::{self, IoSlice, Read, Write};
use std::net::{Shutdown, SocketAddr};
use std::sync::Arc;
use std::time::Instant;

use mio::net::TcpStream;
use mio::{Interest, Registry, Token};
use slab::Slab;

use crate::access_log::{self, Entry};
use crate::body::BodyDecoder;
use crate::handler::{Context, Reply};
use crate::inbuf::{BufPool, InBuf};
use crate::notify::{ConnRef, Msg, Notifier};
use crate::parse::{parse_head, HttpError};
use crate::reactor::{SocketEntry, SOCKET_BASE};
use crate::request::{Framing, Request, Version};
use crate::response::{Part, Response};
use crate::sendfile::{self, Sent};
use crate::server::Shared;

/// Per-direction buffer of a tunnel.
const TUNNEL_BUF: usize = 64 * 1024;
/// Bodies this small are copied next to the head so both go in one write.
const COALESCE: usize = 4 * 1024;

/// Everything a connection needs from its reactor while it is being driven.
pub(crate) struct Env<'a> {
    pub registry: &'a Registry,
    pub sockets: &'a mut Slab<SocketEntry>,
    pub shared: &'a Shared,
    pub notifier: &'a Arc<Notifier>,
    pub date: &'a [u8; 29],
    pub log: &'a mut Vec<u8>,
    pub now: Instant,
    pub stopping: bool,
    pub key: usize,
    pub bufs: &'a mut BufPool,
}

#[derive(Debug)]
enum Phase {
    /// Reading a request head; `started` once a byte of it has arrived.
    Head { started: bool },
    /// Reading the body of the current request.
    Body(BodyDecoder),
    /// Offering the current request to handler `i`.
    Dispatch(usize),
    /// Handler `i` promised to answer later.
    Waiting(usize),
    /// Sending the response.
    Writing,
    /// Relaying bytes between the client and a peer.
    Tunnel,
    /// Response sent and our side shut: draining the client until it closes.
    Linger,
    /// Response sent and nothing left unread: close now.
    Done,
}

/// Bytes ready to be written.
enum Chunk {
    Owned(Vec<u8>),
    Shared(Arc<[u8]>),
}

impl Chunk {
    fn bytes(&self) -> &[u8] {
        match self {
            Chunk::Owned(v) => v,
            Chunk::Shared(s) => s,
        }
    }
}

/// Progress through the file part at the front of the body.
#[derive(Default)]
struct FileSend {
    sent: u64,
    in_flight: bool,
    /// `writable_events` when the job was queued.
    marker: u32,
}

struct Tunnel {
    peer: TcpStream,
    peer_key: usize,
    up: Vec<u8>,
    down: Vec<u8>,
    peer_readable: bool,
    peer_writable: bool,
    client_eof: bool,
    peer_eof: bool,
}

/// What the reactor should do with the connection after driving it.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Next {
    Keep,
    Close,
}

pub(crate) struct Conn {
    pub id: u64,
    pub stream: TcpStream,
    peer: SocketAddr,
    input: InBuf,
    ready: VecDeque<Chunk>,
    ready_pos: usize,
    ready_bytes: usize,
    pending: VecDeque<Part>,
    file: FileSend,
    chunked: bool,
    phase: Phase,
    current: Option<Box<Request>>,
    keep_alive: bool,
    /// The request may not have been read completely (an error answer): linger on close.
    unread_request: bool,
    status: u16,
    body_sent: u64,
    tunnel_peer: Option<mio::net::TcpStream>,
    tunnel: Option<Box<Tunnel>>,
    pub readable: bool,
    /// The peer has shut its writing side (EPOLLRDHUP seen).
    pub read_closed: bool,
    pub writable: bool,
    /// Count of writable events, to tell whether one arrived while a job was running.
    pub writable_events: u32,
    pub deadline: Option<Instant>,
}

impl Conn {
    pub fn new(id: u64, stream: TcpStream, peer: SocketAddr, deadline: Instant) -> Self {
        Conn {
            id,
            stream,
            peer,
            input: InBuf::default(),
            ready: VecDeque::new(),
            ready_pos: 0,
            ready_bytes: 0,
            pending: VecDeque::new(),
            file: FileSend::default(),
            chunked: false,
            phase: Phase::Head { started: false },
            current: None,
            keep_alive: false,
            unread_request: false,
            status: 0,
            body_sent: 0,
            tunnel_peer: None,
            tunnel: None,
            // Nothing to read until the first readable event (registration reports data
            // that arrived before it).
            readable: false,
            read_closed: false,
            writable: true,
            writable_events: 0,
            deadline: Some(deadline),
        }
    }

    fn conn_ref(&self, env: &Env<'_>) -> ConnRef {
        ConnRef {
            key: env.key,
            id: self.id,
        }
    }

    /// True when nothing is in progress: no request, no buffered bytes.
    pub fn is_idle(&self) -> bool {
        matches!(self.phase, Phase::Head { started: false }) && self.input.is_empty()
    }

    /// Advances the state machine as far as the socket and handlers allow.
    pub fn drive(&mut self, env: &mut Env<'_>) -> Next {
        loop {
            let progressed = match self.phase {
                Phase::Head { started } => self.read_head(env, started),
                Phase::Body(_) => self.read_body(env),
                Phase::Dispatch(i) => self.dispatch(env, i),
                Phase::Waiting(_) => return Next::Keep,
                Phase::Writing => self.write(env),
                Phase::Tunnel => return self.pump_tunnel(env),
                Phase::Linger => return self.linger(),
                Phase::Done => return Next::Close,
            };
            match progressed {
                Ok(true) => continue,
                Ok(false) => return Next::Keep,
                Err(()) => return Next::Close,
            }
        }
    }

    /// Reads more request bytes. Ok(true): got some; Ok(false): would block; Err: EOF or error.
    fn fill(&mut self, env: &mut Env<'_>) -> Result<bool, ()> {
        if !self.readable {
            return Ok(false);
        }
        let large = matches!(self.phase, Phase::Body(_));
        match self.input.read_from(&mut self.stream, env.bufs, large) {
            Ok((0, _)) => Err(()),
            Ok((_, filled)) => {
                // A read that did not fill the buffer took all the socket had: with
                // edge-triggered readiness, new data brings a new event, so skip the read
                // that would only say WouldBlock (as nginx does). Not once the peer has
                // shut its side: no event would announce that end of stream.
                if !filled && !self.read_closed {
                    self.readable = false;
                }
                Ok(true)
            }
            Err(e) => match e.kind() {
                io::ErrorKind::WouldBlock => {
                    self.readable = false;
                    // An idle connection holds no buffer.
                    self.input.release(env.bufs);
                    Ok(false)
                }
                io::ErrorKind::Interrupted => Ok(true),
                _ => Err(()),
            },
        }
    }

    fn read_head(&mut self, env: &mut Env<'_>, started: bool) -> Result<bool, ()> {
        if !self.input.is_empty() {
            if !started {
                self.phase = Phase::Head { started: true };
                // The first head's time runs from accept (its deadline is already set);
                // after a response (status != 0) the idle keep-alive wait gives way to it.
                if self.status != 0 {
                    self.deadline = Some(env.now + env.shared.config.timeouts.header);
                }
            }
            let limits = &env.shared.config.limits;
            match parse_head(self.input.data(), limits, self.peer) {
                Ok(Some((req, used))) => {
                    self.input.consume(used);
                    self.begin_request(env, req);
                    return Ok(true);
                }
                Ok(None) => {}
                Err(e) => {
                    self.fail(env, e);
                    return Ok(true);
                }
            }
        } else if env.stopping {
            return Err(());
        }
        self.fill(env)
    }

    fn begin_request(&mut self, env: &mut Env<'_>, req: Request) {
        self.keep_alive = req.keep_alive;
        self.unread_request = false;
        let framing = req.framing;
        if req.expect_continue && self.input.is_empty() {
            self.push_ready(Chunk::Owned(b"HTTP/1.1 100 Continue\r\n\r\n".to_vec()));
        }
        self.current = Some(Box::new(req));
        self.phase = if framing == Framing::None {
            Phase::Dispatch(0)
        } else {
            self.deadline = Some(env.now + env.shared.config.timeouts.body);
            Phase::Body(BodyDecoder::new(framing, env.shared.config.limits.max_body))
        };
    }

    fn read_body(&mut self, env: &mut Env<'_>) -> Result<bool, ()> {
        // The 100 Continue interim response goes out before we wait for the body.
        if !self.ready.is_empty() {
            self.flush_ready()?;
        }
        let Phase::Body(decoder) = &mut self.phase else {
            return Ok(false);
        };
        let Some(req) = self.current.as_mut() else {
            return Err(());
        };
        if !self.input.is_empty() {
            match decoder.decode(self.input.data(), &mut req.body) {
                Ok(n) => self.input.consume(n),
                Err(e) => {
                    self.fail(env, e);
                    return Ok(true);
                }
            }
        }
        if decoder.is_done() {
            self.phase = Phase::Dispatch(0);
            return Ok(true);
        }
        let got = self.fill(env)?;
        if got {
            self.deadline = Some(env.now + env.shared.config.timeouts.body);
        }
        Ok(got)
    }

    fn context<'e>(&self, env: &'e mut Env<'_>) -> Context<'e> {
        Context {
            registry: env.registry,
            sockets: env.sockets,
            shared: env.shared,
            notifier: env.notifier,
            conn: Some(ConnRef {
                key: env.key,
                id: self.id,
            }),
            responders: 0,
            now: env.now,
        }
    }

    /// Offers the current request to step `index` of the chain: the request filters
    /// first, then the handlers.
    fn dispatch(&mut self, env: &mut Env<'_>, index: usize) -> Result<bool, ()> {
        let shared = env.shared;
        let filters = &shared.filters;
        let mut cx = self.context(env);
        let Some(req) = self.current.as_mut() else {
            return Err(());
        };
        let reply =
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| match filters.get(index) {
                Some(f) => Some(f.request(req, &mut cx)),
                None => shared
                    .handlers
                    .get(index - filters.len())
                    .map(|h| h.handle(req, &mut cx)),
            }));
        let took_responder = cx.responders > 0;
        let Ok(reply) = reply else {
            log::error!("{}: handler {index} panicked; answering 500", self.peer);
            self.keep_alive = false;
            self.answer(env, Response::error(500));
            return Ok(true);
        };
        match reply {
            None => self.answer(env, Response::error(404)),
            Some(Reply::Response(r)) => self.answer(env, r),
            Some(Reply::Decline) => self.phase = Phase::Dispatch(index + 1),
            Some(Reply::Later) if took_responder => {
                self.phase = Phase::Waiting(index);
                self.deadline = None;
                return Ok(false);
            }
            Some(Reply::Later) => {
                log::error!("handler {index} returned Later without taking a responder");
                self.answer(env, Response::error(500));
            }
        }
        Ok(true)
    }

    /// A deferred reply arrived.
    pub fn deliver(&mut self, env: &mut Env<'_>, reply: Option<Response>) {
        if let Phase::Waiting(i) = self.phase {
            match reply {
                Some(r) => self.answer(env, r),
                None => self.phase = Phase::Dispatch(i + 1),
            }
        }
    }

    /// Runs the response filters over the answer to the current request, then sends it.
    fn answer(&mut self, env: &mut Env<'_>, mut resp: Response) {
        let filters = &env.shared.filters;
        if !filters.is_empty() {
            let mut cx = self.context(env);
            if let Some(req) = self.current.as_deref() {
                let ran = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    for f in filters.iter().rev() {
                        f.response(req, &mut resp, &mut cx);
                    }
                }));
                if ran.is_err() {
                    log::error!("{}: a response filter panicked; answering 500", self.peer);
                    self.keep_alive = false;
                    resp = Response::error(500);
                }
            }
        }
        self.respond(env, resp);
    }

    /// Answers a refused request and closes the connection afterwards.
    fn fail(&mut self, env: &mut Env<'_>, e: HttpError) {
        log::info!("{}: {} {}", self.peer, e.status, e.detail);
        self.keep_alive = false;
        self.unread_request = true;
        self.respond(env, Response::error_with(e.status, e.detail));
    }

    /// A timer fired. Returns Close when the connection should go.
    pub fn timed_out(&mut self, env: &mut Env<'_>) -> Next {
        self.deadline = None;
        match self.phase {
            Phase::Head { started: true } | Phase::Body(_) => {
                self.fail(env, HttpError::new(408, "request not received in time"));
                self.drive(env)
            }
            _ => Next::Close,
        }
    }

    /// Starts sending `resp` for the current request.
    fn respond(&mut self, env: &mut Env<'_>, mut resp: Response) {
        let req = self.current.as_deref();
        let version = req.map_or(Version::Http11, |r| r.version);
        let head_only = req.is_some_and(|r| r.method == "HEAD");
        let bodiless = resp.is_bodiless();
        let body_len = resp.body.len();
        let wants_close = resp
            .header("connection")
            .is_some_and(|v| v.eq_ignore_ascii_case("close"));
        let mut keep_alive = self.keep_alive && !wants_close && !env.stopping;
        self.chunked = false;
        if body_len.is_none() && !bodiless && !head_only {
            if version == Version::Http11 {
                self.chunked = true;
            } else {
                keep_alive = false;
            }
        }
        if resp.tunnel.is_some() && resp.status / 100 == 2 {
            keep_alive = false;
            self.tunnel_peer = resp.tunnel.take();
        }
        self.keep_alive = keep_alive;
        self.status = resp.status;
        self.body_sent = 0;

        let mut head = Vec::with_capacity(256);
        let _ = write!(
            head,
            "HTTP/1.1 {} {}\r\n",
            resp.status,
            crate::response::reason(resp.status)
        );
        if resp.header("server").is_none() {
            head.extend_from_slice(b"Server: reactor\r\n");
        }
        if resp.header("date").is_none() {
            head.extend_from_slice(b"Date: ");
            head.extend_from_slice(env.date);
            head.extend_from_slice(b"\r\n");
        }
        let handler_length = resp.header("content-length").is_some();
        for (name, value) in &resp.headers {
            let skip = name.eq_ignore_ascii_case("connection")
                || name.eq_ignore_ascii_case("transfer-encoding")
                || (name.eq_ignore_ascii_case("content-length") && body_len != Some(0));
            if !skip {
                head.extend_from_slice(name.as_bytes());
                head.extend_from_slice(b": ");
                head.extend_from_slice(value.as_bytes());
                head.extend_from_slice(b"\r\n");
            }
        }
        if !bodiless && self.tunnel_peer.is_none() {
            match body_len {
                Some(0) if handler_length => {}
                Some(n) => {
                    let _ = write!(head, "Content-Length: {n}\r\n");
                }
                None if self.chunked => head.extend_from_slice(b"Transfer-Encoding: chunked\r\n"),
                None => {}
            }
            if body_len != Some(0) && resp.header("content-type").is_none() {
                head.extend_from_slice(b"Content-Type: application/octet-stream\r\n");
            }
        }
        if !keep_alive && self.tunnel_peer.is_none() {
            head.extend_from_slice(b"Connection: close\r\n");
        } else if keep_alive && version == Version::Http10 {
            head.extend_from_slice(b"Connection: keep-alive\r\n");
        }
        head.extend_from_slice(b"\r\n");

        self.pending.clear();
        self.file = FileSend::default();
        // In-memory parts at the front join the head in the first writev.
        let mut after_head = Vec::new();
        if !head_only && !bodiless {
            let conn = self.conn_ref(env);
            for part in resp.body.parts.drain(..) {
                let in_order = self.pending.is_empty();
                match part {
                    Part::Bytes(b) if in_order && after_head.is_empty() && b.len() <= COALESCE => {
                        head.extend_from_slice(&b);
                        self.body_sent += b.len() as u64;
                    }
                    Part::Bytes(b) if in_order => after_head.push(Chunk::Owned(b)),
                    Part::Shared(b) if in_order => after_head.push(Chunk::Shared(b)),
                    Part::Stream(s) => {
                        s.attach(env.notifier.clone(), conn);
                        self.pending.push_back(Part::Stream(s));
                    }
                    other => self.pending.push_back(other),
                }
            }
        }
        self.push_ready(Chunk::Owned(head));
        for chunk in after_head {
            self.body_sent += chunk.bytes().len() as u64;
            self.push_ready(chunk);
        }
        self.phase = Phase::Writing;
        self.deadline = Some(env.now + env.shared.config.timeouts.send);
    }

    fn push_ready(&mut self, chunk: Chunk) {
        self.ready_bytes += chunk.bytes().len();
        self.ready.push_back(chunk);
    }

    /// Writes queued bytes. Ok(true): all written; Ok(false): the socket is full.
    fn flush_ready(&mut self) -> Result<bool, ()> {
        while !self.ready.is_empty() {
            if !self.writable {
                return Ok(false);
            }
            let mut slices = [IoSlice::new(&[]); 8];
            let mut n = 0;
            for (i, chunk) in self.ready.iter().take(slices.len()).enumerate() {
                let bytes = chunk.bytes();
                slices[n] = IoSlice::new(if i == 0 {
                    &bytes[self.ready_pos..]
                } else {
                    bytes
                });
                n += 1;
            }
            let asked: usize = slices[..n].iter().map(|s| s.len()).sum();
            match self.stream.write_vectored(&slices[..n]) {
                Ok(0) => return Err(()),
                Ok(mut written) => {
                    // A short write means the socket buffer is full: wait for the
                    // writable edge rather than make a write that says WouldBlock.
                    if written < asked {
                        self.writable = false;
                    }
                    self.ready_bytes -= written;
                    while written > 0 {
                        let Some(front) = self.ready.front() else {
                            break;
                        };
                        let left = front.bytes().len() - self.ready_pos;
                        if written >= left {
                            written -= left;
                            self.ready.pop_front();
                            self.ready_pos = 0;
                        } else {
                            self.ready_pos += written;
                            written = 0;
                        }
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    self.writable = false;
                    return Ok(false);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => return Err(()),
            }
        }
        Ok(true)
    }

    fn write(&mut self, env: &mut Env<'_>) -> Result<bool, ()> {
        loop {
            let before = self.ready_bytes;
            let flushed = self.flush_ready()?;
            if self.ready_bytes < before {
                self.deadline = Some(env.now + env.shared.config.timeouts.send);
            }
            match self.refill(env)? {
                Refill::More => continue,
                Refill::Done if flushed => {
                    self.finish(env);
                    return Ok(true);
                }
                Refill::Done | Refill::Wait => return Ok(false),
            }
        }
    }

    /// Moves the next body part's bytes into the ready queue.
    fn refill(&mut self, env: &mut Env<'_>) -> Result<Refill, ()> {
        let conn = self.conn_ref(env);
        let Some(part) = self.pending.front_mut() else {
            return Ok(Refill::Done);
        };
        match part {
            Part::Bytes(_) | Part::Shared(_) => {
                let chunk = match self.pending.pop_front() {
                    Some(Part::Bytes(b)) => Chunk::Owned(b),
                    Some(Part::Shared(s)) => Chunk::Shared(s),
                    _ => return Err(()),
                };
                self.body_sent += chunk.bytes().len() as u64;
                self.push_ready(chunk);
                Ok(Refill::More)
            }
            Part::File(region) => {
                if self.file.in_flight {
                    return Ok(Refill::Wait);
                }
                if self.file.sent >= region.len {
                    self.pending.pop_front();
                    self.file = FileSend::default();
                    return Ok(Refill::More);
                }
                // Bytes queued before the file go first; then the socket must have room.
                if !self.ready.is_empty() || !self.writable {
                    return Ok(Refill::Wait);
                }
                let sock = match sendfile::dup_socket(&self.stream) {
                    Ok(fd) => fd,
                    Err(e) => {
                        log::error!("{}: cannot duplicate socket: {e}", self.peer);
                        return Err(());
                    }
                };
                let file = region.file.clone();
                let offset = region.offset + self.file.sent;
                let count = region.len - self.file.sent;
                let notifier = env.notifier.clone();
                self.file.in_flight = true;
                self.file.marker = self.writable_events;
                env.shared.pool.execute(move || {
                    let sent = sendfile::send(&sock, &file, offset, count);
                    drop(sock);
                    notifier.send(Msg::Sent(conn, sent));
                });
                Ok(Refill::Wait)
            }
            Part::Stream(_) if self.ready_bytes >= crate::response::STREAM_LOW_WATER => {
                Ok(Refill::Wait)
            }
            Part::Stream(rx) => {
                let mut data = Vec::new();
                let state = rx.take(&mut data);
                let got = !data.is_empty();
                if got {
                    self.body_sent += data.len() as u64;
                    if self.chunked {
                        self.push_ready(Chunk::Owned(format!("{:x}\r\n", data.len()).into_bytes()));
                        data.extend_from_slice(b"\r\n");
                    }
                    self.push_ready(Chunk::Owned(data));
                }
                match state {
                    Some(true) => {
                        if self.chunked {
                            self.push_ready(Chunk::Owned(b"0\r\n\r\n".to_vec()));
                        }
                        self.pending.pop_front();
                        Ok(Refill::More)
                    }
                    Some(false) => {
                        log::warn!("{}: streamed body aborted; closing", self.peer);
                        Err(())
                    }
                    None if got => Ok(Refill::More),
                    None => Ok(Refill::Wait),
                }
            }
        }
    }

    /// A sendfile job finished. Err: the connection must close.
    pub fn file_sent(&mut self, env: &Env<'_>, sent: Sent) -> Result<(), ()> {
        self.file.in_flight = false;
        self.file.sent += sent.bytes;
        self.body_sent += sent.bytes;
        if sent.bytes > 0 {
            self.deadline = Some(env.now + env.shared.config.timeouts.send);
        }
        if let Some(e) = sent.error {
            match e.kind() {
                io::ErrorKind::ConnectionReset | io::ErrorKind::BrokenPipe => {
                    log::debug!("{}: client went away during a file body", self.peer)
                }
                _ => log::warn!("{}: sending file body failed: {e}; closing", self.peer),
            }
            return Err(());
        }
        // Wait for writability only if no writable edge arrived while the job ran.
        if sent.blocked && self.writable_events == self.file.marker {
            self.writable = false;
        }
        Ok(())
    }

    /// The response has been written completely.
    fn finish(&mut self, env: &mut Env<'_>) {
        let entry = Entry {
            req: self.current.as_deref(),
            peer: self.peer,
            status: self.status,
            body_bytes: self.body_sent,
        };
        if env.shared.config.access_log.is_some() {
            access_log::format_line(env.log, &entry, env.date);
        }
        env.shared.stats.responded(self.status, self.body_sent);
        self.current = None;
        if let Some(peer) = self.tunnel_peer.take() {
            self.start_tunnel(env, peer);
        } else if self.keep_alive {
            self.phase = Phase::Head { started: false };
            self.deadline = Some(env.now + env.shared.config.timeouts.keep_alive);
            self.input.release(env.bufs);
        } else if self.unread_request || !self.input.is_empty() {
            // Closing with unread input would reset the connection and could destroy the
            // response before the client reads it: shut our side and drain theirs first.
            let _ = self.stream.shutdown(Shutdown::Write);
            self.phase = Phase::Linger;
            self.deadline = Some(env.now + env.shared.config.timeouts.linger);
        } else {
            self.phase = Phase::Done;
        }
    }

    fn linger(&mut self) -> Next {
        let mut sink = [0u8; 4096];
        loop {
            match self.stream.read(&mut sink) {
                Ok(0) => return Next::Close,
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Next::Keep,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => return Next::Close,
            }
        }
    }

    fn start_tunnel(&mut self, env: &mut Env<'_>, mut peer: TcpStream) {
        let entry = env.sockets.vacant_entry();
        let peer_key = entry.key();
        let token = Token(SOCKET_BASE + peer_key);
        if let Err(e) =
            env.registry
                .register(&mut peer, token, Interest::READABLE | Interest::WRITABLE)
        {
            log::error!("{}: cannot register tunnel peer: {e}", self.peer);
            self.phase = Phase::Linger;
            return;
        }
        entry.insert(SocketEntry::TunnelPeer {
            conn_key: env.key,
            conn_id: self.id,
        });
        let up = self.input.take_rest(env.bufs);
        self.tunnel = Some(Box::new(Tunnel {
            peer,
            peer_key,
            up,
            down: Vec::new(),
            peer_readable: true,
            peer_writable: true,
            client_eof: false,
            peer_eof: false,
        }));
        self.phase = Phase::Tunnel;
        self.deadline = Some(env.now + env.shared.config.timeouts.tunnel_idle);
    }

    /// Readiness of the tunnel's peer socket.
    pub fn peer_ready(&mut self, readable: bool, writable: bool) {
        if let Some(t) = self.tunnel.as_mut() {
            t.peer_readable |= readable;
            t.peer_writable |= writable;
        }
    }

    fn pump_tunnel(&mut self, env: &mut Env<'_>) -> Next {
        let Some(t) = self.tunnel.as_mut() else {
            return Next::Close;
        };
        let mut moved = false;
        loop {
            let mut progress = false;
            // client → peer
            match relay(
                &mut self.stream,
                &mut self.readable,
                &mut t.client_eof,
                &mut t.up,
                &mut t.peer,
                &mut t.peer_writable,
            ) {
                Ok(p) => progress |= p,
                Err(()) => return Next::Close,
            }
            // peer → client
            match relay(
                &mut t.peer,
                &mut t.peer_readable,
                &mut t.peer_eof,
                &mut t.down,
                &mut self.stream,
                &mut self.writable,
            ) {
                Ok(p) => progress |= p,
                Err(()) => return Next::Close,
            }
            moved |= progress;
            if t.client_eof && t.peer_eof && t.up.is_empty() && t.down.is_empty() {
                return Next::Close;
            }
            if !progress {
                break;
            }
        }
        if moved {
            self.deadline = Some(env.now + env.shared.config.timeouts.tunnel_idle);
        }
        Next::Keep
    }

    /// Releases what the connection holds in the reactor (a tunnel's peer socket).
    pub fn close(
        &mut self,
        registry: &Registry,
        sockets: &mut Slab<SocketEntry>,
        bufs: &mut BufPool,
    ) {
        self.input.consume(usize::MAX);
        self.input.release(bufs);
        if let Some(mut t) = self.tunnel.take() {
            let _ = registry.deregister(&mut t.peer);
            sockets.try_remove(t.peer_key);
        }
        // Closing the descriptor removes it from epoll, unless a sendfile job still holds a
        // duplicate of it: then the registration would outlive us, so remove it explicitly.
        if self.file.in_flight {
            let _ = registry.deregister(&mut self.stream);
        }
    }
}

enum Refill {
    More,
    Wait,
    Done,
}

/// Moves bytes from `src` to `dst` through `buf`; shuts `dst`'s write side when `src`
/// ends. Ok(true) when anything moved.
fn relay(
    src: &mut TcpStream,
    src_readable: &mut bool,
    src_eof: &mut bool,
    buf: &mut Vec<u8>,
    dst: &mut TcpStream,
    dst_writable: &mut bool,
) -> Result<bool, ()> {
    let mut progress = false;
    if !*src_eof && *src_readable && buf.len() < TUNNEL_BUF {
        let len = buf.len();
        buf.resize(TUNNEL_BUF, 0);
        match src.read(&mut buf[len..]) {
            Ok(0) => {
                buf.truncate(len);
                *src_eof = true;
                progress = true;
            }
            Ok(n) => {
                buf.truncate(len + n);
                progress = true;
            }
            Err(e) => {
                buf.truncate(len);
                match e.kind() {
                    io::ErrorKind::WouldBlock => *src_readable = false,
                    io::ErrorKind::Interrupted => {}
                    _ => return Err(()),
                }
            }
        }
    }
    if !buf.is_empty() && *dst_writable {
        match dst.write(buf) {
            Ok(n) => {
                buf.drain(..n);
                progress |= n > 0;
            }
            Err(e) => match e.kind() {
                io::ErrorKind::WouldBlock | io::ErrorKind::NotConnected => *dst_writable = false,
                io::ErrorKind::Interrupted => {}
                _ => return Err(()),
            },
        }
    }
    if *src_eof && buf.is_empty() {
        let _ = dst.shutdown(Shutdown::Write);
    }
    Ok(progress)
}
