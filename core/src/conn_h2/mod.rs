//! The HTTP/2 driver of a connection: the sans-I/O [`crate::h2::Session`] between the
//! transport and the plugin chain. Each stream is one exchange: its request (body read
//! completely, as for HTTP/1.1, after a `100` interim answer to `expect: 100-continue`,
//! or streamed into a handler's sink through [`inbound`]) goes through the same filters
//! and handlers, deferred replies included, and its response body goes out as the
//! flow-control windows allow: bytes at once, files read on the pool a piece at a time,
//! streams as the producer feeds them. The session's output never holds much more than
//! [`HIGH_WATER`] of body.

use std::collections::{BTreeMap, VecDeque};
use std::io::{self, IoSlice};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use crate::access_log::{self, Entry};
use crate::body_budget::{ceiling, Reservation, STEP};
use crate::conn::Env;
use crate::exchange::Step;
use crate::h2::convert::{response_fields, to_request};
use crate::h2::{self, ErrorCode, Event, Session};
use crate::handler::{busy, ConnRef, Context};
use crate::notify::Msg;
use crate::outbuf::Chunk;
use crate::parse::expectation;
use crate::request::{Request, Version};
use crate::response::{Part, Response};
use crate::shared::Config;
use crate::tls::TlsInfo;
use crate::transport::Transport;
use inbound::Inbound;

mod inbound;
mod send;

/// Session output above which no more body is offered (the socket must take some first).
const HIGH_WATER: usize = 64 * 1024;
/// Bytes of a file read by one pool job.
const READ_CHUNK: u64 = 256 * 1024;
/// Bytes read from the socket at a time.
const READ_BUF: usize = 32 * 1024;

enum State {
    /// Reading the request body.
    Body,
    /// Offering the request to step `i` of the chain.
    Dispatch(usize),
    /// Step `i` answers later.
    Waiting(usize),
    /// Sending the response body.
    Sending,
}

/// One stream's exchange.
struct Task {
    req: Box<Request>,
    state: State,
    parts: VecDeque<Part>,
    /// Bytes being sent, how far, and whether they end the body.
    chunk: Option<(Chunk, usize, bool)>,
    /// Progress through the file part at the front of `parts`.
    file_pos: u64,
    /// A pool job is reading that file.
    reading: bool,
    status: u16,
    body_sent: u64,
    /// The request body, when a handler takes it as a stream.
    inbound: Option<Inbound>,
    /// The share of the body budget the request body holds, and the longest it can be.
    held: Reservation,
    limit: usize,
}

/// What identifies the connection to the driver.
pub(crate) struct Who {
    pub key: usize,
    pub id: u64,
    pub peer: SocketAddr,
}

impl Who {
    fn conn(&self, stream: u32) -> ConnRef {
        ConnRef {
            key: self.key,
            id: self.id,
            stream,
        }
    }
}

/// What [`H2::drive`] made of the connection.
pub(crate) enum Drove {
    /// Still running; `true` when bytes moved either way.
    Running(bool),
    /// GOAWAY is out and no stream is left: close (after draining the client).
    Finished,
}

/// The HTTP/2 side of a connection.
pub(crate) struct H2 {
    session: Session,
    tasks: BTreeMap<u32, Task>,
    buf: Vec<u8>,
    going_away: bool,
    epoch: Instant,
    /// The TLS session that carries the connection, told to every request.
    tls: Option<TlsInfo>,
}

impl H2 {
    /// A session whose first input is `preface_and_more` (what the connection read), over
    /// the TLS session `tls` if any.
    pub fn new(
        config: &Config,
        preface_and_more: &[u8],
        now: Instant,
        tls: Option<TlsInfo>,
    ) -> Self {
        let cfg = h2::Config {
            max_header_list_size: config.limits.max_head.min(u32::MAX as usize) as u32,
            ..h2::Config::default()
        };
        let mut session = Session::new(cfg);
        session.recv(preface_and_more);
        H2 {
            session,
            tasks: BTreeMap::new(),
            buf: vec![0; READ_BUF],
            going_away: false,
            epoch: now,
            tls,
        }
    }

    /// True while a handler or a pool job owes an answer (no timeout applies then).
    pub fn waiting(&self) -> bool {
        // A handler waiting for a streamed body is waiting for the client: the
        // connection's timeout applies then.
        self.tasks.values().any(|t| {
            let on_client = t.inbound.as_ref().is_some_and(Inbound::awaits_client);
            matches!(t.state, State::Waiting(_)) && !on_client || t.reading
        })
    }

    /// True when no stream is open.
    pub fn is_idle(&self) -> bool {
        self.tasks.is_empty() && self.session.open_streams() == 0
    }

    /// Moves bytes both ways and runs the exchanges. `Err`: the socket failed or the
    /// client closed it.
    pub fn drive(&mut self, t: &mut Transport, env: &mut Env<'_>, who: &Who) -> Result<Drove, ()> {
        if env.stopping && !self.going_away {
            self.going_away = true;
            self.session.go_away();
        }
        self.reset_stalled(env, who);
        let mut moved = false;
        loop {
            let read = self.read(t)?;
            self.events(env, who);
            let keys: Vec<u32> = self.tasks.keys().copied().collect();
            for stream in keys {
                self.advance(stream, env, who);
            }
            let wrote = self.flush(t)?;
            moved |= read || wrote;
            if self.session.wants_close() && self.session.output().is_empty() {
                return Ok(Drove::Finished);
            }
            if !read && !wrote {
                return Ok(Drove::Running(moved));
            }
        }
    }

    /// Resets the streams that waited for flow-control window longer than the send
    /// timeout (a client that never opens its window cannot hold them). Returns how many.
    pub fn reset_stalled(&mut self, env: &Env<'_>, who: &Who) -> usize {
        let clock = env.now.saturating_duration_since(self.epoch).as_millis() as u64;
        self.session.set_clock(clock);
        let send_ms = env.shared.config.timeouts.send.as_millis() as u64;
        let Some(since) = clock.checked_sub(send_ms) else {
            return 0; // younger than the timeout: nothing can have stalled that long
        };
        let stalled = self.session.stalled(since);
        for &stream in &stalled {
            log::info!("{}: HTTP/2 stream {stream}: send timeout", who.peer);
            self.session.reset(stream, ErrorCode::Cancel);
            self.tasks.remove(&stream);
        }
        stalled.len()
    }

    fn read(&mut self, t: &mut Transport) -> Result<bool, ()> {
        let mut got = false;
        // `may_read`: over TLS, decrypted bytes may wait while the socket is drained.
        while t.may_read() && !self.session.is_dead() {
            match t.read(&mut self.buf) {
                Ok(0) => return Err(()),
                Ok(n) => {
                    self.session.recv(&self.buf[..n]);
                    got = true;
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    t.readable = false;
                    break;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => return Err(()),
            }
        }
        Ok(got)
    }

    fn flush(&mut self, t: &mut Transport) -> Result<bool, ()> {
        let mut wrote = false;
        while !self.session.output().is_empty() && t.writable {
            let out = self.session.output();
            match t.write_vectored(&[IoSlice::new(out)]) {
                Ok(0) => return Err(()),
                Ok(n) => {
                    if n < out.len() {
                        t.writable = false;
                    }
                    self.session.consume(n);
                    wrote = true;
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => t.writable = false,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => return Err(()),
            }
        }
        Ok(wrote)
    }

    fn events(&mut self, env: &mut Env<'_>, who: &Who) {
        let max_body = env.shared.config.limits.max_body;
        while let Some(ev) = self.session.poll_event() {
            match ev {
                Event::Request {
                    stream,
                    head,
                    end_stream,
                } => {
                    env.shared.stats.h2_stream();
                    let declared = head.content_length;
                    let mut req = to_request(head, Vec::new(), who.peer);
                    req.version = Version::Http2;
                    req.tls = self.tls.clone();
                    let expect = expectation(req.headers.get_bytes("expect"));
                    let streams = !end_stream && env.shared.chain.streams_body(&req);
                    let too_large = !streams && declared.is_some_and(|n| n > max_body);
                    // As on HTTP/1.1: a body read whole holds a share of the budget from the
                    // start.
                    let limit = ceiling(declared, max_body);
                    let mut held = Reservation::new(&env.shared.body_budget);
                    let over_budget = !end_stream
                        && !streams
                        && !too_large
                        && !held.cover(limit.min(STEP), limit);
                    let state = if end_stream || streams {
                        State::Dispatch(0)
                    } else {
                        State::Body
                    };
                    let mut task = Task::new(req, state, held, limit);
                    task.inbound = streams.then(Inbound::default);
                    self.tasks.insert(stream, task);
                    match expect {
                        Err(e) => {
                            self.respond(stream, Response::error_with(e.status, e.detail), env, who)
                        }
                        Ok(_) if too_large => self.respond(stream, Response::error(413), env, who),
                        Ok(_) if over_budget => self.respond(stream, busy(), env, who),
                        // RFC 9113 §8.1: the interim answer is a HEADERS with :status 100.
                        Ok(true) if !end_stream => {
                            let _ =
                                self.session
                                    .send_headers::<&str, &str>(stream, 100, &[], false);
                        }
                        Ok(_) => {}
                    }
                }
                Event::Data {
                    stream,
                    data,
                    end_stream,
                } => {
                    let task = self.tasks.get_mut(&stream);
                    if let Some(inbound) = task.and_then(|t| t.inbound.as_mut()) {
                        // Its window comes back as the sink takes it (see `advance`).
                        let free = inbound.data(data, end_stream);
                        self.session.release(stream, free);
                        continue;
                    }
                    self.session.release(stream, data.len());
                    let Some(task) = self.tasks.get_mut(&stream) else {
                        continue;
                    };
                    if !matches!(task.state, State::Body) {
                        continue;
                    }
                    if task.req.body.len() as u64 + data.len() as u64 > max_body {
                        self.respond(stream, Response::error(413), env, who);
                        continue;
                    }
                    let needed = task.req.body.len() + data.len();
                    if !task.held.cover(needed, task.limit) {
                        self.respond(stream, busy(), env, who);
                        continue;
                    }
                    task.req.body.extend_from_slice(&data);
                    if end_stream {
                        task.state = State::Dispatch(0);
                    }
                }
                Event::Reset { stream, .. } => {
                    self.tasks.remove(&stream);
                }
                Event::ConnectionError { code, reason } => {
                    log::info!("{}: HTTP/2 connection error {code:?}: {reason}", who.peer);
                }
                Event::SendReady { .. } | Event::GoAway { .. } => {}
            }
        }
    }

    /// Runs the chain for a stream whose request is complete, or sends its body.
    fn advance(&mut self, stream: u32, env: &mut Env<'_>, who: &Who) {
        loop {
            let Some(task) = self.tasks.get_mut(&stream) else {
                return;
            };
            if let Some(inbound) = task.inbound.as_mut() {
                let taken = inbound.feed();
                self.session.release(stream, taken);
            }
            let index = match task.state {
                State::Dispatch(i) => i,
                State::Sending => return self.pump(stream, env, who),
                State::Body | State::Waiting(_) => return,
            };
            let (shared, now) = (env.shared, env.now);
            let mut ops = env.ops();
            let mut cx = Context::new(&mut ops, Some(who.conn(stream)), now);
            let step = shared.chain.offer(index, &mut task.req, &mut cx);
            if let Some(mut sink) = cx.take_sink() {
                match task.inbound.as_mut() {
                    Some(inbound) => inbound.set_sink(sink),
                    None => sink.end(Ok(())), // the body was read already
                }
            }
            match step {
                Step::Answer { resp, .. } => {
                    self.abandon_body(stream);
                    self.answer(stream, resp, env, who)
                }
                Step::Next(i) => task.state = State::Dispatch(i),
                Step::Later(index) => {
                    task.state = State::Waiting(index);
                    if !task.inbound.as_ref().is_some_and(Inbound::has_sink) {
                        self.abandon_body(stream);
                    }
                    return;
                }
            }
        }
    }

    /// Nobody takes the rest of the streamed body of `stream`: its held bytes return to
    /// the window, and what still arrives is dropped.
    fn abandon_body(&mut self, stream: u32) {
        let inbound = self.tasks.get_mut(&stream).and_then(|t| t.inbound.as_mut());
        if let Some(inbound) = inbound {
            let free = inbound.abandon();
            self.session.release(stream, free);
        }
    }

    /// A deferred reply for `stream` arrived.
    pub fn deliver(&mut self, stream: u32, reply: Option<Response>, env: &mut Env<'_>, who: &Who) {
        let Some(task) = self.tasks.get_mut(&stream) else {
            return;
        };
        if let State::Waiting(i) = task.state {
            match reply {
                Some(r) => {
                    self.abandon_body(stream);
                    self.answer(stream, r, env, who)
                }
                None => task.state = State::Dispatch(i + 1),
            }
        }
    }

    /// An interim (`1xx`) response for a stream still waiting for its answer: a HEADERS
    /// frame without END_STREAM (RFC 9113 §8.1).
    pub fn interim(&mut self, stream: u32, resp: &Response) {
        if let Some(State::Waiting(_)) = self.tasks.get(&stream).map(|t| &t.state) {
            let fields: Vec<_> = resp.headers.iter().map(|(n, v)| (&**n, &**v)).collect();
            let _ = self
                .session
                .send_headers(stream, resp.status, &fields, false);
        }
    }

    /// Runs the response filters over the answer, then sends it.
    fn answer(&mut self, stream: u32, mut resp: Response, env: &mut Env<'_>, who: &Who) {
        let Some(task) = self.tasks.get(&stream) else {
            return;
        };
        let (shared, now) = (env.shared, env.now);
        let mut ops = env.ops();
        let mut cx = Context::new(&mut ops, Some(who.conn(stream)), now);
        // A panicking filter's 500 ends only its stream.
        shared.chain.filter_response(&task.req, &mut resp, &mut cx);
        self.respond(stream, resp, env, who);
    }

    /// Sends the head of `resp` and queues its body.
    fn respond(&mut self, stream: u32, mut resp: Response, env: &mut Env<'_>, who: &Who) {
        if resp.tunnel.take().is_some() {
            // CONNECT tunnels over HTTP/2 (RFC 9113 §8.5) are not supported.
            resp = Response::error(501);
        }
        let date = std::str::from_utf8(env.date).unwrap_or_default();
        let (status, fields) = response_fields(&resp, date);
        let Some(task) = self.tasks.get_mut(&stream) else {
            return;
        };
        task.status = status;
        let mut body = std::mem::take(&mut resp.body);
        let empty = task.req.method == "HEAD" || resp.is_bodiless() || body.is_empty();
        match self.session.send_headers(stream, status, &fields, empty) {
            Ok(true) => {
                for part in body.drain() {
                    if let Part::Stream(s) = &part {
                        let (notifier, conn) = (env.notifier.clone(), who.conn(stream));
                        s.attach(Arc::new(move || notifier.send(Msg::Stream(conn))));
                    }
                    task.parts.push_back(part);
                }
                task.state = State::Sending;
            }
            Ok(false) => self.finish(stream, env, who),
            Err(_) => {
                self.tasks.remove(&stream);
            }
        }
    }

    /// The response on `stream` is complete: log it and forget the stream.
    fn finish(&mut self, stream: u32, env: &mut Env<'_>, who: &Who) {
        let Some(task) = self.tasks.remove(&stream) else {
            return;
        };
        if task.inbound.as_ref().is_some_and(|b| !b.is_complete()) {
            // Answered before the client finished sending: it may stop now (§8.1).
            self.session.reset(stream, ErrorCode::NoError);
        }
        if env.shared.config.access_log.is_some() {
            let entry = Entry {
                req: Some(&task.req),
                peer: who.peer,
                status: task.status,
                body_bytes: task.body_sent,
            };
            access_log::format_line(env.log, &entry, env.date);
        }
        env.tally.responded(task.status, task.body_sent);
    }
}

impl Task {
    fn new(req: Request, state: State, held: Reservation, limit: usize) -> Self {
        Task {
            req: Box::new(req),
            state,
            parts: VecDeque::new(),
            chunk: None,
            file_pos: 0,
            reading: false,
            status: 0,
            body_sent: 0,
            inbound: None,
            held,
            limit,
        }
    }
}
