//! The HTTP/2 driver of a connection: the sans-I/O [`crate::h2::Session`] between the
//! transport and the plugin chain. Each stream is one exchange: its request (body read
//! completely, as for HTTP/1.1) goes through the same filters and handlers, deferred
//! replies included, and its response body goes out as the flow-control windows allow:
//! bytes at once, files read on the pool a piece at a time, streams as the producer feeds
//! them. The session's output never holds much more than [`HIGH_WATER`] of body.

use std::collections::{BTreeMap, VecDeque};
use std::io::{self, IoSlice};
use std::net::SocketAddr;
use std::os::unix::fs::FileExt;
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
use crate::request::{Request, Version};
use crate::response::{Part, Response};
use crate::shared::Config;
use crate::tls::TlsInfo;
use crate::transport::Transport;

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
        self.tasks
            .values()
            .any(|t| matches!(t.state, State::Waiting(_)) || t.reading)
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
                    let too_large = head.content_length.is_some_and(|n| n > max_body);
                    // As on HTTP/1.1: the body holds a share of the budget from the start.
                    let limit = ceiling(head.content_length, max_body);
                    let mut held = Reservation::new(&env.shared.body_budget);
                    let over_budget = !end_stream && !held.cover(limit.min(STEP), limit);
                    let mut req = to_request(head, Vec::new(), who.peer);
                    req.version = Version::Http2;
                    req.tls = self.tls.clone();
                    let state = if end_stream {
                        State::Dispatch(0)
                    } else {
                        State::Body
                    };
                    self.tasks
                        .insert(stream, Task::new(req, state, held, limit));
                    if too_large {
                        self.respond(stream, Response::error(413), env, who);
                    } else if over_budget {
                        self.respond(stream, busy(), env, who);
                    }
                }
                Event::Data {
                    stream,
                    data,
                    end_stream,
                } => {
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
            let index = match task.state {
                State::Dispatch(i) => i,
                State::Sending => return self.pump(stream, env, who),
                State::Body | State::Waiting(_) => return,
            };
            let (shared, now) = (env.shared, env.now);
            let mut ops = env.ops();
            let mut cx = Context::new(&mut ops, Some(who.conn(stream)), now);
            match shared.chain.offer(index, &mut task.req, &mut cx) {
                Step::Answer { resp, .. } => self.answer(stream, resp, env, who),
                Step::Next(i) => task.state = State::Dispatch(i),
                Step::Later => {
                    task.state = State::Waiting(index);
                    return;
                }
            }
        }
    }

    /// A deferred reply for `stream` arrived.
    pub fn deliver(&mut self, stream: u32, reply: Option<Response>, env: &mut Env<'_>, who: &Who) {
        let Some(task) = self.tasks.get_mut(&stream) else {
            return;
        };
        if let State::Waiting(i) = task.state {
            match reply {
                Some(r) => self.answer(stream, r, env, who),
                None => task.state = State::Dispatch(i + 1),
            }
        }
    }

    /// Runs the response filters over the answer, then sends it.
    fn answer(&mut self, stream: u32, resp: Response, env: &mut Env<'_>, who: &Who) {
        let Some(task) = self.tasks.get(&stream) else {
            return;
        };
        let (shared, now) = (env.shared, env.now);
        let mut ops = env.ops();
        let mut cx = Context::new(&mut ops, Some(who.conn(stream)), now);
        let (resp, _) = shared.chain.filter_response(&task.req, resp, &mut cx);
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
        let body = std::mem::take(&mut resp.body);
        let empty = task.req.method == "HEAD" || resp.is_bodiless() || body.is_empty();
        match self.session.send_headers(stream, status, &fields, empty) {
            Ok(true) => {
                for part in body.parts {
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

    /// Offers body bytes to the session while its output is below the high-water mark
    /// and the windows take them.
    fn pump(&mut self, stream: u32, env: &mut Env<'_>, who: &Who) {
        while self.session.output().len() < HIGH_WATER {
            let Some(task) = self.tasks.get_mut(&stream) else {
                return;
            };
            if let Some((chunk, pos, last)) = &mut task.chunk {
                let last = *last;
                match self.session.send_data(stream, &chunk.bytes()[*pos..], last) {
                    Ok(n) => {
                        *pos += n;
                        task.body_sent += n as u64;
                        if *pos < chunk.bytes().len() {
                            return; // windows closed: SendReady brings us back
                        }
                        task.chunk = None;
                        if last {
                            return self.finish(stream, env, who);
                        }
                    }
                    Err(_) => {
                        self.tasks.remove(&stream);
                        return;
                    }
                }
                continue;
            }
            let more_after = task.parts.len() > 1;
            match task.parts.front_mut() {
                None => {
                    let _ = self.session.send_trailers::<&str, &str>(stream, &[]);
                    return self.finish(stream, env, who);
                }
                Some(Part::Bytes(_) | Part::Shared(_)) => {
                    let chunk = match task.parts.pop_front() {
                        Some(Part::Bytes(b)) => Chunk::Owned(b),
                        Some(Part::Shared(s)) => Chunk::Shared(s),
                        _ => return,
                    };
                    task.chunk = Some((chunk, 0, !more_after));
                }
                Some(Part::File(region)) => {
                    if task.reading {
                        return;
                    }
                    if task.file_pos >= region.len {
                        task.parts.pop_front();
                        task.file_pos = 0;
                        continue;
                    }
                    let count = (region.len - task.file_pos).min(READ_CHUNK) as usize;
                    let (file, offset) = (region.file.clone(), region.offset + task.file_pos);
                    let (notifier, conn) = (env.notifier.clone(), who.conn(stream));
                    task.reading = true;
                    env.shared.pool.execute(move || {
                        let mut buf = vec![0; count];
                        let read = file.read_exact_at(&mut buf, offset).map(|()| buf);
                        notifier.send(Msg::Read(conn, read));
                    });
                    return;
                }
                Some(Part::Stream(rx)) => {
                    let mut data = Vec::new();
                    match rx.take(&mut data) {
                        Some(true) => {
                            task.parts.pop_front();
                            task.chunk = Some((Chunk::Owned(data), 0, !more_after));
                        }
                        Some(false) => {
                            return self.abort(stream, who, "streamed body aborted");
                        }
                        None if data.is_empty() => return,
                        None => task.chunk = Some((Chunk::Owned(data), 0, false)),
                    }
                }
            }
        }
    }

    /// A pool job read a piece of the file at the front of a stream's body.
    pub fn file_read(&mut self, stream: u32, read: io::Result<Vec<u8>>, who: &Who) {
        let Some(task) = self.tasks.get_mut(&stream) else {
            return;
        };
        task.reading = false;
        let data = match read {
            Ok(d) => d,
            Err(e) => {
                let why = format!("reading a file body failed: {e}");
                return self.abort(stream, who, &why);
            }
        };
        task.file_pos += data.len() as u64;
        let done = match task.parts.front() {
            Some(Part::File(region)) => task.file_pos >= region.len,
            _ => true,
        };
        if done {
            task.parts.pop_front();
            task.file_pos = 0;
        }
        let last = done && task.parts.is_empty();
        task.chunk = Some((Chunk::Owned(data), 0, last));
    }

    /// The body of `stream` cannot be completed: reset the stream so the client sees a
    /// truncated response, not a complete one.
    fn abort(&mut self, stream: u32, who: &Who, why: &str) {
        log::warn!("{}: {why}; resetting stream {stream}", who.peer);
        self.session.reset(stream, ErrorCode::InternalError);
        self.tasks.remove(&stream);
    }

    /// The response on `stream` is complete: log it and forget the stream.
    fn finish(&mut self, stream: u32, env: &mut Env<'_>, who: &Who) {
        let Some(task) = self.tasks.remove(&stream) else {
            return;
        };
        if env.shared.config.access_log.is_some() {
            let entry = Entry {
                req: Some(&task.req),
                peer: who.peer,
                status: task.status,
                body_bytes: task.body_sent,
            };
            access_log::format_line(env.log, &entry, env.date);
        }
        env.shared.stats.responded(task.status, task.body_sent);
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
            held,
            limit,
        }
    }
}
