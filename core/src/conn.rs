//! One client connection: glue between a [`Transport`] (plain TCP or TLS), the HTTP/1.1
//! codec ([`crate::h1`], [`crate::parse`], [`crate::body`]), the plugin chain
//! ([`crate::exchange`]) and the write queue ([`crate::outbuf`]).
//!
//! ```text
//!  Head ──▶ Body ──▶ Dispatch ──▶ (Waiting) ──▶ Writing ──▶ Head (keep-alive)
//!    └─────────────▶ Dispatch ──▶ Streaming ──┘     │──────▶ Linger ──▶ closed
//!     (a handler streams the body: read into its sink) ├──────▶ Tunnel ──▶ closed
//!                                                  └──────▶ Upgraded ──▶ closed (after a 101)
//! ```
//! Requests are handled one at a time; pipelined bytes wait in the read buffer, so
//! responses go out in order. The answers to pipelined requests already received are
//! queued whole and written together (up to [`PIPELINE_BATCH`] bytes): one write for
//! many. Every read and write loops until `WouldBlock` (the reactor's readiness is
//! edge-triggered) and remembers that it blocked.
//!
//! The protocol seam: the transport tells which protocol the client chose by ALPN; this
//! state machine is the HTTP/1.1 driver, and [`H2`] the HTTP/2 one over the same
//! transport and exchange, started by ALPN `h2` or, on plaintext, by the preface.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use mio::Registry;
use slab::Slab;

use crate::access_log::{self, Entry};
use crate::body::BodyDecoder;
use crate::conn_h2::{Drove, Who, H2};
use crate::exchange::Step;
use crate::h1::{self, HeadReader};
use crate::h2::frame::PREFACE;
use crate::handler::{ConnRef, Context};
use crate::inbuf::{BufPool, InBuf};
use crate::notify::Notifier;
use crate::outbuf::{Jobs, Output, Refill};
use crate::parse::{HttpError, Limits};
use crate::recycle::Recycler;
use crate::request::{Framing, Request, Version};
use crate::request_body::BodyError;
use crate::response::Response;
use crate::sendfile::Sent;
use crate::shared::Shared;
use crate::sockets::{Ops, SocketEntry};
use crate::stream_in::{Fed, StreamIn};
use crate::transport::Transport;
use crate::tunnel::Tunnel;
use crate::upgrade::{UpgradeIo, Upgraded, Waker};

/// Most bytes of answers to pipelined requests held back to go out in one write.
const PIPELINE_BATCH: usize = 64 * 1024;

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
    pub spares: &'a mut Recycler,
}

impl Env<'_> {
    /// What a plugin's [`Context`] may use of the reactor.
    pub fn ops(&mut self) -> Ops<'_> {
        Ops {
            registry: self.registry,
            sockets: &mut *self.sockets,
            shared: self.shared,
            notifier: self.notifier,
        }
    }
}

#[derive(Debug)]
enum Phase {
    /// Reading a request head; `started` once a byte of it has arrived.
    Head { started: bool },
    /// Reading the body of the current request.
    Body(BodyDecoder),
    /// Offering the current request to step `i` of the chain.
    Dispatch(usize),
    /// Step `i` promised to answer later.
    Waiting(usize),
    /// Step `i` took the body as a stream: reading it into the sink, answer to come.
    Streaming(usize),
    /// Sending the response.
    Writing,
    /// Relaying bytes between the client and a peer.
    Tunnel,
    /// After a 101: the connection belongs to a handler-owned object.
    Upgraded,
    /// Response sent and our side shut: draining the client until it closes.
    Linger,
    /// Response sent and nothing left unread: close now.
    Done,
    /// The client spoke HTTP/2 (prior knowledge): the [`H2`] driver runs the connection.
    H2,
}

/// The ALPN name of HTTP/1.1, the protocol this connection speaks.
use crate::tls::{ALPN_H2 as H2_ALPN, ALPN_HTTP11 as HTTP11};

/// The 400 page's sentence for plain HTTP sent to a TLS port.
const PLAIN_ON_TLS: &str =
    "This port expects HTTPS: the plain HTTP request was sent to a TLS port.";

/// What the reactor should do with the connection after driving it.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Next {
    Keep,
    Close,
}

pub(crate) struct Conn {
    pub id: u64,
    pub transport: Transport,
    peer: SocketAddr,
    input: InBuf,
    heads: HeadReader,
    out: Output,
    phase: Phase,
    current: Option<Box<Request>>,
    keep_alive: bool,
    /// The request may not have been read completely (an error answer): linger on close.
    unread_request: bool,
    status: u16,
    tunnel_peer: Option<mio::net::TcpStream>,
    tunnel: Option<Box<Tunnel>>,
    upgraded: Option<Box<dyn Upgraded>>,
    /// A body read after dispatch, into a handler's sink (`Handler::streams_body`).
    stream: Option<StreamIn>,
    /// Bytes that followed the head of the request that was upgraded.
    upgrade_input: Vec<u8>,
    h2: Option<Box<H2>>,
    pub deadline: Option<Instant>,
}

impl Conn {
    pub fn new(id: u64, transport: Transport, peer: SocketAddr, deadline: Instant) -> Self {
        Conn {
            id,
            transport,
            peer,
            input: InBuf::default(),
            heads: HeadReader::default(),
            out: Output::default(),
            phase: Phase::Head { started: false },
            current: None,
            keep_alive: false,
            unread_request: false,
            status: 0,
            tunnel_peer: None,
            tunnel: None,
            upgraded: None,
            stream: None,
            upgrade_input: Vec::new(),
            h2: None,
            deadline: Some(deadline),
        }
    }

    fn conn_ref(&self, env: &Env<'_>) -> ConnRef {
        ConnRef {
            key: env.key,
            id: self.id,
            stream: 0,
        }
    }

    fn jobs<'e>(&self, env: &'e Env<'_>) -> Jobs<'e> {
        Jobs {
            pool: &env.shared.pool,
            notifier: env.notifier,
            conn: self.conn_ref(env),
            peer: self.peer,
        }
    }

    /// True when nothing is in progress: no request, no buffered bytes.
    pub fn is_idle(&self) -> bool {
        matches!(self.phase, Phase::Head { started: false }) && self.input.is_empty()
    }

    /// Advances the state machine as far as the socket and handlers allow.
    pub fn drive(&mut self, env: &mut Env<'_>) -> Next {
        if self.transport.flush().is_err() {
            return Next::Close;
        }
        loop {
            let progressed = match self.phase {
                Phase::Head { started } => self.read_head(env, started),
                Phase::Body(_) => self.read_body(env),
                Phase::Dispatch(i) => self.dispatch(env, i),
                Phase::Waiting(_) => return Next::Keep,
                Phase::Streaming(i) => self.read_stream(env, i),
                Phase::Writing => self.write(env),
                Phase::Tunnel => return self.pump_tunnel(env),
                Phase::Upgraded => return self.run_upgraded(env, false),
                Phase::Linger => return self.linger(),
                Phase::Done => return Next::Close,
                Phase::H2 => return self.drive_h2(env),
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
        let large = matches!(self.phase, Phase::Body(_) | Phase::Streaming(_));
        let got = self.input.fill(&mut self.transport, env.bufs, large);
        if matches!(got, Ok(false)) && self.input.is_empty() {
            // An idle connection holds no buffer.
            if let Some(buf) = self.out.take_spare() {
                env.spares.give_head(buf);
            }
        }
        got
    }

    fn read_head(&mut self, env: &mut Env<'_>, started: bool) -> Result<bool, ()> {
        if !self.input.is_empty() {
            if !started {
                match self.transport.alpn() {
                    // The client chose HTTP/2 by ALPN: it still sends the preface, which
                    // the session checks.
                    Some(H2_ALPN) if env.shared.config.http2 => {
                        self.start_h2(env);
                        return Ok(true);
                    }
                    Some(p) if p != HTTP11 => {
                        // A protocol with no codec here (the acceptor should not offer it).
                        log::warn!("{}: ALPN protocol without a codec; closing", self.peer);
                        return Err(());
                    }
                    _ => {}
                }
                self.phase = Phase::Head { started: true };
                // The first head's time runs from accept (its deadline is already set);
                // after a response (status != 0) the idle keep-alive wait gives way to it.
                if self.status != 0 {
                    self.deadline = Some(env.now + env.shared.config.timeouts.header);
                }
            }
            if self.status == 0 && env.shared.config.http2 {
                let data = self.input.data();
                let n = data.len().min(PREFACE.len());
                if data[..n] == PREFACE[..n] {
                    if n == PREFACE.len() {
                        self.start_h2(env);
                        return Ok(true);
                    }
                    return self.fill(env);
                }
            }
            // A streamed body is not bound by max_body: begin_request applies it to the rest.
            let limits = Limits {
                max_body: u64::MAX,
                ..env.shared.config.limits
            };
            let mut req = env.spares.request(self.peer);
            match self.heads.next(self.input.data(), &limits, &mut req) {
                Ok(Some(used)) => {
                    self.input.consume(used);
                    self.begin_request(env, req);
                    return Ok(true);
                }
                Ok(None) => env.spares.give_request(req),
                Err(e) => {
                    env.spares.give_request(req);
                    self.fail(env, e);
                    return Ok(true);
                }
            }
        }
        // Answers held back for pipelined requests go out before waiting for more input.
        let flushed = self.out.queued() == 0 || self.out.flush(&mut self.transport)?;
        if self.input.is_empty() && env.stopping {
            return if flushed { Err(()) } else { Ok(false) };
        }
        let got = self.fill(env)?;
        if self.transport.plain_on_tls {
            self.transport.plain_on_tls = false;
            self.fail(env, HttpError::new(400, PLAIN_ON_TLS));
            return Ok(true);
        }
        Ok(got)
    }

    fn begin_request(&mut self, env: &mut Env<'_>, mut req: Box<Request>) {
        req.tls = self.transport.tls_info();
        self.keep_alive = req.keep_alive;
        self.unread_request = false;
        let framing = req.framing;
        let streams = framing != Framing::None && env.shared.chain.streams_body(&req);
        let max_body = env.shared.config.limits.max_body;
        let too_large = matches!(framing, Framing::Length(n) if n > max_body) && !streams;
        // A streamed body's 100 Continue waits for a handler to take the body (see
        // `dispatch`): a handler that refuses at once spares the client sending it.
        if req.expect_continue && self.input.is_empty() && !too_large && !streams {
            self.out.push(h1::CONTINUE.to_vec());
        }
        self.current = Some(req);
        if too_large {
            self.fail(env, HttpError::new(413, "request body too large"));
            return;
        }
        self.phase = if framing == Framing::None {
            Phase::Dispatch(0)
        } else {
            self.deadline = Some(env.now + env.shared.config.timeouts.body);
            if streams {
                self.stream = Some(StreamIn::new(framing));
                Phase::Dispatch(0)
            } else {
                Phase::Body(BodyDecoder::new(framing, max_body))
            }
        };
    }

    fn read_body(&mut self, env: &mut Env<'_>) -> Result<bool, ()> {
        // The 100 Continue interim response goes out before we wait for the body.
        if self.out.queued() > 0 {
            self.out.flush(&mut self.transport)?;
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

    /// Offers the current request to step `index` of the chain.
    fn dispatch(&mut self, env: &mut Env<'_>, index: usize) -> Result<bool, ()> {
        let conn = self.conn_ref(env);
        let Some(req) = self.current.as_mut() else {
            return Err(());
        };
        let mut ops = Ops {
            registry: env.registry,
            sockets: &mut *env.sockets,
            shared: env.shared,
            notifier: env.notifier,
        };
        let mut cx = Context::new(&mut ops, Some(conn), env.now);
        let step = env.shared.chain.offer(index, req, &mut cx);
        if let Some(mut sink) = cx.take_sink() {
            match self.stream.as_mut() {
                Some(stream) => stream.set_sink(sink),
                None => sink.end(Ok(())), // the body was read already
            }
        }
        match step {
            Step::Answer { resp, close } => {
                if close {
                    self.keep_alive = false;
                }
                self.abandon_stream();
                self.answer(env, resp);
            }
            Step::Next(i) => self.phase = Phase::Dispatch(i),
            Step::Later if self.stream.as_ref().is_some_and(StreamIn::has_sink) => {
                let expects = self.current.as_ref().is_some_and(|r| r.expect_continue);
                if expects && self.input.is_empty() {
                    self.out.push(h1::CONTINUE.to_vec());
                }
                self.phase = Phase::Streaming(index)
            }
            Step::Later => {
                self.abandon_stream();
                self.phase = Phase::Waiting(index);
                self.deadline = None;
                return Ok(false);
            }
        }
        Ok(true)
    }

    /// The connection began with the HTTP/2 preface: hand it to the HTTP/2 driver.
    fn start_h2(&mut self, env: &mut Env<'_>) {
        let tls = self.transport.tls_info();
        let h2 = H2::new(&env.shared.config, self.input.data(), env.now, tls);
        self.input.consume(usize::MAX);
        self.input.release(env.bufs);
        self.h2 = Some(Box::new(h2));
        self.phase = Phase::H2;
        env.shared.stats.h2_connection();
        self.deadline = Some(env.now + env.shared.config.timeouts.keep_alive);
    }

    fn who(&self, env: &Env<'_>) -> Who {
        Who {
            key: env.key,
            id: self.id,
            peer: self.peer,
        }
    }

    /// Runs the HTTP/2 driver and keeps the connection's deadline: the send timeout while
    /// streams are open, the keep-alive timeout when idle, none while a handler owes an
    /// answer.
    fn drive_h2(&mut self, env: &mut Env<'_>) -> Next {
        let who = self.who(env);
        let Some(h2) = self.h2.as_mut() else {
            return Next::Close;
        };
        match h2.drive(&mut self.transport, env, &who) {
            Err(()) => Next::Close,
            Ok(Drove::Finished) => {
                // As after a last HTTP/1.1 response: shut our side and drain theirs, so
                // the GOAWAY is read before the close could reset the connection.
                self.transport.shutdown_write();
                self.phase = Phase::Linger;
                self.deadline = Some(env.now + env.shared.config.timeouts.linger);
                self.linger()
            }
            Ok(Drove::Running(moved)) => {
                let t = &env.shared.config.timeouts;
                if h2.waiting() {
                    self.deadline = None;
                } else if moved || self.deadline.is_none() {
                    let wait = if h2.is_idle() { t.keep_alive } else { t.send };
                    self.deadline = Some(env.now + wait);
                }
                Next::Keep
            }
        }
    }

    /// A pool job read part of a file body for an HTTP/2 stream.
    pub fn h2_file_read(&mut self, env: &mut Env<'_>, stream: u32, read: io::Result<Vec<u8>>) {
        let who = self.who(env);
        if let Some(h2) = self.h2.as_mut() {
            h2.file_read(stream, read, &who);
        }
    }

    /// A deferred reply arrived (for `stream`, on an HTTP/2 connection).
    pub fn deliver(&mut self, env: &mut Env<'_>, stream: u32, reply: Option<Response>) {
        let who = self.who(env);
        if let Some(h2) = self.h2.as_mut() {
            return h2.deliver(stream, reply, env, &who);
        }
        if let Phase::Streaming(i) = self.phase {
            self.abandon_stream();
            self.phase = Phase::Waiting(i);
        }
        if let Phase::Waiting(i) = self.phase {
            match reply {
                Some(r) => self.answer(env, r),
                None => self.phase = Phase::Dispatch(i + 1),
            }
        }
    }

    /// An interim (`1xx`) response for the request waiting for its answer (HTTP/1.1
    /// clients only: HTTP/1.0 ones do not expect them).
    pub fn interim(&mut self, stream: u32, resp: &Response) {
        if let Some(h2) = self.h2.as_mut() {
            return h2.interim(stream, resp);
        }
        let waiting = matches!(self.phase, Phase::Waiting(_) | Phase::Streaming(_));
        let http11 = self
            .current
            .as_ref()
            .is_some_and(|r| r.version == Version::Http11);
        if waiting && http11 {
            let mut head = Vec::new();
            h1::encode_interim(resp, &mut head);
            self.out.push(head);
            // Out now; what does not fit goes first when the final answer is written.
            let _ = self.out.flush(&mut self.transport);
        }
    }

    /// Runs the response filters over the answer to the current request, then sends it.
    fn answer(&mut self, env: &mut Env<'_>, resp: Response) {
        let conn = self.conn_ref(env);
        let resp = match self.current.as_deref() {
            Some(req) => {
                let (shared, now) = (env.shared, env.now);
                let mut ops = env.ops();
                let mut cx = Context::new(&mut ops, Some(conn), now);
                let (resp, close) = shared.chain.filter_response(req, resp, &mut cx);
                if close {
                    self.keep_alive = false;
                }
                resp
            }
            None => resp,
        };
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
            Phase::Upgraded => self.run_upgraded(env, true),
            Phase::Streaming(_) if self.stream.as_mut().is_some_and(StreamIn::paused) => {
                Next::Keep // the sink is slow, not the client
            }
            Phase::Streaming(_) => {
                self.end_stream(Err(BodyError {
                    status: 408,
                    detail: "request body not received in time",
                }));
                self.fail(
                    env,
                    HttpError::new(408, "request body not received in time"),
                );
                self.drive(env)
            }
            Phase::H2 => {
                // Streams stalled on a closed window are reset and the others go on;
                // otherwise the client is idle or not reading at all: close.
                let who = self.who(env);
                let reset = self.h2.as_mut().map_or(0, |h2| h2.reset_stalled(env, &who));
                if reset > 0 {
                    self.drive_h2(env)
                } else {
                    Next::Close
                }
            }
            _ => Next::Close,
        }
    }

    /// Starts sending `resp` for the current request.
    fn respond(&mut self, env: &mut Env<'_>, mut resp: Response) {
        let req = self.current.as_deref();
        if resp.tunnel.is_some() && resp.status / 100 == 2 {
            self.tunnel_peer = resp.tunnel.take();
        }
        if resp.status == 101 && req.is_some_and(|r| r.version == Version::Http11) {
            self.upgraded = resp.upgrade.take();
        }
        if resp.status == 101 && self.upgraded.is_none() {
            // A 101 nobody takes the connection over for: refuse instead.
            resp = Response::error_with(500, "The handler switched protocols without a taker.");
            self.keep_alive = false;
        }
        let x = h1::Exchange {
            version: req.map_or(Version::Http11, |r| r.version),
            head_only: req.is_some_and(|r| r.method == "HEAD"),
            keep_alive: self.keep_alive && !env.stopping,
            tunnel: self.tunnel_peer.is_some() || self.upgraded.is_some(),
            date: env.date,
        };
        let mut head = env.spares.head();
        let plan = h1::encode_head(&resp, &x, &mut head);
        self.keep_alive = plan.keep_alive;
        self.status = resp.status;
        let body = std::mem::take(&mut resp.body);
        self.out.start(head, body, plan, &self.jobs(env));
        self.phase = Phase::Writing;
        self.deadline = Some(env.now + env.shared.config.timeouts.send);
    }

    fn write(&mut self, env: &mut Env<'_>) -> Result<bool, ()> {
        loop {
            // Pipelined requests: an answer queued whole waits for the answers to the
            // requests already received, so that they go out together in one write.
            if self.keep_alive
                && self.tunnel_peer.is_none()
                && !self.input.is_empty()
                && self.out.is_whole()
                && self.out.queued() < PIPELINE_BATCH
            {
                self.finish(env);
                return Ok(true);
            }
            let before = self.out.queued();
            let flushed = self.out.flush(&mut self.transport)?;
            if self.out.queued() < before {
                self.deadline = Some(env.now + env.shared.config.timeouts.send);
            }
            match self.out.refill(&self.transport, &self.jobs(env))? {
                Refill::More => continue,
                Refill::Done if flushed && self.transport.drained() => {
                    self.finish(env);
                    return Ok(true);
                }
                Refill::Done | Refill::Wait => return Ok(false),
            }
        }
    }

    /// A sendfile job finished. Err: the connection must close.
    pub fn file_sent(&mut self, env: &Env<'_>, sent: Sent) -> Result<(), ()> {
        let bytes = self.out.file_sent(&mut self.transport, sent, self.peer)?;
        if bytes > 0 {
            self.deadline = Some(env.now + env.shared.config.timeouts.send);
        }
        Ok(())
    }

    /// A pool job read the next chunk of a file body. Err: the connection must close.
    pub fn file_read(&mut self, chunk: io::Result<Vec<u8>>) -> Result<(), ()> {
        self.out.file_read(chunk, self.peer)
    }

    /// The response has been written completely.
    fn finish(&mut self, env: &mut Env<'_>) {
        let entry = Entry {
            req: self.current.as_deref(),
            peer: self.peer,
            status: self.status,
            body_bytes: self.out.body_sent,
        };
        if env.shared.config.access_log.is_some() {
            access_log::format_line(env.log, &entry, env.date);
        }
        env.shared.stats.responded(self.status, self.out.body_sent);
        if let Some(req) = self.current.take() {
            env.spares.give_request(req);
        }
        if let Some(buf) = self.out.take_spare() {
            env.spares.give_head(buf);
        }
        if let Some(peer) = self.tunnel_peer.take() {
            self.start_tunnel(env, peer);
        } else if self.upgraded.is_some() {
            self.upgrade_input = self.input.take_rest(env.bufs);
            self.phase = Phase::Upgraded;
            self.deadline = None;
        } else if self.keep_alive {
            self.phase = Phase::Head { started: false };
            self.deadline = Some(env.now + env.shared.config.timeouts.keep_alive);
            self.input.release(env.bufs);
        } else if self.unread_request || !self.input.is_empty() {
            // Closing with unread input would reset the connection and could destroy the
            // response before the client reads it: shut our side and drain theirs first.
            self.transport.shutdown_write();
            self.phase = Phase::Linger;
            self.deadline = Some(env.now + env.shared.config.timeouts.linger);
        } else {
            self.transport.close_notify();
            self.phase = Phase::Done;
        }
    }

    fn linger(&mut self) -> Next {
        match self.transport.discard_input() {
            Ok(()) => Next::Keep,
            Err(()) => Next::Close,
        }
    }

    fn start_tunnel(&mut self, env: &mut Env<'_>, peer: mio::net::TcpStream) {
        let up = self.input.take_rest(env.bufs);
        match Tunnel::open(peer, up, env.registry, env.sockets, env.key, self.id) {
            Ok(t) => {
                self.tunnel = Some(Box::new(t));
                self.phase = Phase::Tunnel;
                self.deadline = Some(env.now + env.shared.config.timeouts.tunnel_idle);
            }
            Err(e) => {
                log::error!("{}: cannot register tunnel peer: {e}", self.peer);
                self.phase = Phase::Linger;
            }
        }
    }

    /// Readiness of the tunnel's peer socket.
    pub fn peer_ready(&mut self, readable: bool, writable: bool) {
        if let Some(t) = self.tunnel.as_mut() {
            t.peer_ready(readable, writable);
        }
    }

    fn pump_tunnel(&mut self, env: &mut Env<'_>) -> Next {
        let Some(t) = self.tunnel.as_mut() else {
            return Next::Close;
        };
        match t.pump(&mut self.transport) {
            Ok(Some(moved)) => {
                if moved {
                    self.deadline = Some(env.now + env.shared.config.timeouts.tunnel_idle);
                }
                Next::Keep
            }
            Ok(None) | Err(()) => Next::Close,
        }
    }

    /// Reads a streamed body into the handler's sink, while the sink wants data.
    fn read_stream(&mut self, env: &mut Env<'_>, index: usize) -> Result<bool, ()> {
        if self.out.queued() > 0 {
            self.out.flush(&mut self.transport)?; // 100 Continue
        }
        let Some(stream) = self.stream.as_mut() else {
            return Err(());
        };
        if stream.paused() {
            self.deadline = None;
            return Ok(false);
        }
        if !self.input.is_empty() {
            let (used, fed) = stream.feed(self.input.data());
            self.input.consume(used);
            match fed {
                Fed::More => return Ok(true),
                Fed::Done => {
                    self.stream = None;
                    self.phase = Phase::Waiting(index);
                    self.deadline = None;
                    return Ok(false);
                }
                Fed::Bad(e) => {
                    self.stream = None;
                    self.fail(env, e);
                    return Ok(true);
                }
            }
        }
        let got = self.fill(env);
        self.deadline = Some(env.now + env.shared.config.timeouts.body);
        if got.is_err() {
            self.end_stream(Err(BodyError {
                status: 0,
                detail: "the client went away mid-body",
            }));
        }
        got
    }

    /// Tells the sink how its body ended; the stream is over.
    fn end_stream(&mut self, result: Result<(), BodyError>) {
        if let Some(mut stream) = self.stream.take() {
            stream.end(result);
        }
    }

    /// An answer came before a streamed body was read: the rest stays unread (the
    /// connection closes after the answer).
    fn abandon_stream(&mut self) {
        if self.stream.is_some() {
            self.end_stream(Err(BodyError {
                status: 0,
                detail: "answered before the body was read",
            }));
            self.keep_alive = false;
            self.unread_request = true;
        }
    }

    /// Calls the upgraded object (on readiness, a wake-up, a stop, or its deadline).
    fn run_upgraded(&mut self, env: &mut Env<'_>, timed_out: bool) -> Next {
        let Some(object) = self.upgraded.as_mut() else {
            return Next::Close;
        };
        let mut io = UpgradeIo {
            stream: &mut self.transport,
            pending: &mut self.upgrade_input,
            deadline: &mut self.deadline,
            now: env.now,
            timed_out,
            stopping: env.stopping,
            waker: Waker {
                mailbox: env.notifier.clone(),
                conn: ConnRef {
                    key: env.key,
                    id: self.id,
                    stream: 0,
                },
            },
        };
        if object.ready(&mut io) {
            Next::Keep
        } else {
            Next::Close
        }
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
        self.end_stream(Err(BodyError {
            status: 0,
            detail: "the connection closed mid-body",
        }));
        if let Some(t) = self.tunnel.take() {
            t.close(registry, sockets);
        }
        // Closing the descriptor removes it from epoll, unless a sendfile job still holds a
        // duplicate of it: then the registration would outlive us, so remove it explicitly.
        if self.out.file_in_flight() {
            let _ = registry.deregister(self.transport.socket());
        }
    }
}
