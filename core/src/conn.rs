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
//!
//! This module holds the state machine, the head and the dispatch; its children hold the
//! phases: `body_in` (reading the request body), `send` (writing the response and what
//! follows it), `relay` (tunnels and upgraded connections) and `h2_handoff` (the HTTP/2
//! driver's glue).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use mio::Registry;
use slab::Slab;

use crate::body::BodyDecoder;
use crate::body_budget::Reservation;
use crate::conn_h2::H2;
use crate::exchange::Step;
use crate::h1::{self, HeadReader};
use crate::h2::frame::PREFACE;
use crate::handler::{ConnRef, Context};
use crate::inbuf::{BufPool, InBuf};
use crate::notify::Notifier;
use crate::outbuf::{Jobs, Output};
use crate::parse::{HttpError, Limits};
use crate::recycle::Recycler;
use crate::request::{Request, Version};
use crate::request_body::BodyError;
use crate::response::Response;
use crate::shared::Shared;
use crate::sockets::{Ops, SocketEntry};
use crate::stats::Tally;
use crate::stream_in::StreamIn;
use crate::transport::Transport;
use crate::tunnel::Tunnel;
use crate::upgrade::Upgraded;

mod body_in;
mod h2_handoff;
mod relay;
mod send;

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
    /// Responses counted this turn (added to the shared stats at its end).
    pub tally: &'a mut Tally,
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
    /// After a 101: the object the connection is handed to, and the bytes read past the
    /// request (boxed together: few connections are ever upgraded).
    upgraded: Option<Box<Takeover>>,
    /// The share of the body budget the current request's buffered body holds.
    body_held: Option<Reservation>,
    /// A body read after dispatch, into a handler's sink (`Handler::streams_body`); boxed,
    /// so that the many connections without one stay small.
    stream: Option<Box<StreamIn>>,
    h2: Option<Box<H2>>,
    pub deadline: Option<Instant>,
}

/// What a connection becomes after a `101 Switching Protocols`.
struct Takeover {
    object: Box<dyn Upgraded>,
    /// Bytes that followed the head of the request that was upgraded.
    input: Vec<u8>,
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
            body_held: None,
            stream: None,
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
            self.out.release_queue();
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
        // The plugins that decline are passed inside `offer`; `Step::Next` comes back only
        // after one that left a responder or a sink in `cx`, and the next one gets a new
        // context on the state machine's next turn.
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
            Step::Later(at) if self.stream.as_deref().is_some_and(StreamIn::has_sink) => {
                let expects = self.current.as_ref().is_some_and(|r| r.expect_continue);
                if expects && self.input.is_empty() {
                    self.out.push(h1::CONTINUE.to_vec());
                }
                self.phase = Phase::Streaming(at)
            }
            Step::Later(at) => {
                self.abandon_stream();
                self.phase = Phase::Waiting(at);
                self.deadline = None;
                return Ok(false);
            }
        }
        Ok(true)
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
    fn answer(&mut self, env: &mut Env<'_>, mut resp: Response) {
        let conn = self.conn_ref(env);
        if let Some(req) = self.current.as_deref() {
            let (shared, now) = (env.shared, env.now);
            let mut ops = env.ops();
            let mut cx = Context::new(&mut ops, Some(conn), now);
            if shared.chain.filter_response(req, &mut resp, &mut cx) {
                self.keep_alive = false;
            }
        }
        self.respond(env, resp);
    }

    /// Answers a refused request and closes the connection afterwards.
    fn fail(&mut self, env: &mut Env<'_>, e: HttpError) {
        log::info!("{}: {} {}", self.peer, e.status, e.detail);
        self.refuse(env, Response::error_with(e.status, e.detail));
    }

    /// Answers with `resp`, the request perhaps not read completely, and closes afterwards.
    fn refuse(&mut self, env: &mut Env<'_>, resp: Response) {
        self.keep_alive = false;
        self.unread_request = true;
        self.respond(env, resp);
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
            Phase::Streaming(_) if self.stream.as_deref_mut().is_some_and(StreamIn::paused) => {
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
