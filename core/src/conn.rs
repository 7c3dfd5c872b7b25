//! One client connection: glue between a [`Transport`] (plain TCP or TLS), the HTTP/1.1
//! codec ([`crate::h1`], [`crate::parse`], [`crate::body`]), the plugin chain
//! ([`crate::exchange`]) and the write queue ([`crate::outbuf`]).
//!
//! ```text
//!  Head ──▶ Body ──▶ Dispatch ──▶ (Waiting) ──▶ Writing ──▶ Head (keep-alive)
//!                                                  │──────▶ Linger ──▶ closed
//!                                                  └──────▶ Tunnel ──▶ closed
//! ```
//! Requests are handled one at a time; pipelined bytes wait in the read buffer, so
//! responses go out in order. Every read and write loops until `WouldBlock` (the
//! reactor's readiness is edge-triggered) and remembers that it blocked.
//!
//! The protocol seam: the transport tells which protocol the client chose by ALPN; this
//! state machine is the HTTP/1.1 driver, and an HTTP/2 codec would be a second driver over
//! the same transport, exchange and write queue.

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
use crate::parse::HttpError;
use crate::request::{Framing, Request, Version};
use crate::response::Response;
use crate::sendfile::Sent;
use crate::shared::Shared;
use crate::sockets::{Ops, SocketEntry};
use crate::transport::Transport;
use crate::tunnel::Tunnel;

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
    /// Sending the response.
    Writing,
    /// Relaying bytes between the client and a peer.
    Tunnel,
    /// Response sent and our side shut: draining the client until it closes.
    Linger,
    /// Response sent and nothing left unread: close now.
    Done,
    /// The client spoke HTTP/2 (prior knowledge): the [`H2`] driver runs the connection.
    H2,
}

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
        if !self.transport.readable {
            return Ok(false);
        }
        let large = matches!(self.phase, Phase::Body(_));
        match self.input.read_from(&mut self.transport, env.bufs, large) {
            Ok((0, _)) => Err(()),
            Ok((_, filled)) => {
                // A read that did not fill the buffer took all the socket had: with
                // edge-triggered readiness, new data brings a new event, so skip the read
                // that would only say WouldBlock (as nginx does). Not once the peer has
                // shut its side: no event would announce that end of stream.
                if !filled && !self.transport.read_closed {
                    self.transport.readable = false;
                }
                Ok(true)
            }
            Err(e) => match e.kind() {
                io::ErrorKind::WouldBlock => {
                    self.transport.readable = false;
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
            let limits = &env.shared.config.limits;
            match self.heads.next(self.input.data(), limits, self.peer) {
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
            self.out.push(h1::CONTINUE.to_vec());
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
        let (shared, now) = (env.shared, env.now);
        let mut ops = env.ops();
        let mut cx = Context::new(&mut ops, Some(conn), now);
        match shared.chain.offer(index, req, &mut cx) {
            Step::Answer { resp, close } => {
                if close {
                    self.keep_alive = false;
                }
                self.answer(env, resp);
            }
            Step::Next(i) => self.phase = Phase::Dispatch(i),
            Step::Later => {
                self.phase = Phase::Waiting(index);
                self.deadline = None;
                return Ok(false);
            }
        }
        Ok(true)
    }

    /// The connection began with the HTTP/2 preface: hand it to the HTTP/2 driver.
    fn start_h2(&mut self, env: &mut Env<'_>) {
        let h2 = H2::new(&env.shared.config, self.input.data(), env.now);
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
    pub fn file_read(&mut self, env: &mut Env<'_>, stream: u32, read: io::Result<Vec<u8>>) {
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
        if let Phase::Waiting(i) = self.phase {
            match reply {
                Some(r) => self.answer(env, r),
                None => self.phase = Phase::Dispatch(i + 1),
            }
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
        let x = h1::Exchange {
            version: req.map_or(Version::Http11, |r| r.version),
            head_only: req.is_some_and(|r| r.method == "HEAD"),
            keep_alive: self.keep_alive && !env.stopping,
            tunnel: self.tunnel_peer.is_some(),
            date: env.date,
        };
        let mut head = Vec::with_capacity(256);
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
            let before = self.out.queued();
            let flushed = self.out.flush(&mut self.transport)?;
            if self.out.queued() < before {
                self.deadline = Some(env.now + env.shared.config.timeouts.send);
            }
            match self.out.refill(&self.transport, &self.jobs(env))? {
                Refill::More => continue,
                Refill::Done if flushed => {
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
            self.transport.shutdown_write();
            self.phase = Phase::Linger;
            self.deadline = Some(env.now + env.shared.config.timeouts.linger);
        } else {
            self.phase = Phase::Done;
        }
    }

    fn linger(&mut self) -> Next {
        let mut sink = [0u8; 4096];
        loop {
            match self.transport.read(&mut sink) {
                Ok(0) => return Next::Close,
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Next::Keep,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => return Next::Close,
            }
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

    /// Releases what the connection holds in the reactor (a tunnel's peer socket).
    pub fn close(
        &mut self,
        registry: &Registry,
        sockets: &mut Slab<SocketEntry>,
        bufs: &mut BufPool,
    ) {
        self.input.consume(usize::MAX);
        self.input.release(bufs);
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
