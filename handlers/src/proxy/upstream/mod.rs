//! Talking to origins on the reactor: name lookup (pool, cached), non-blocking connect,
//! writing the request, parsing the response head, relaying the body (Content-Length,
//! chunked or close-delimited) into a stream with backpressure, storing it in the cache
//! when allowed, and handing the connection back to the pool. What is asked, and of
//! which origin, is the [`Exchange`]'s business (`exchange.rs`). This module holds the
//! connection's life (connect, write, read, pool); `response` handles the head and
//! `relay` the body.

mod relay;
mod response;

use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use mio::net::TcpStream;
use mio::Interest;
use reactor::body::BodyDecoder;
use reactor::{BodySender, Context, Ready, Responder, Response, SocketHandler, SocketId};

use super::disk::{Spill, Wake};
use super::exchange::{fail_or_retry, Exchange};
use super::fill::Backlog;
use super::head::HeadScanner;
use super::pool::IdleSet;
use super::tls::OriginStream;

/// Largest response head accepted from an origin.
const MAX_HEAD: usize = 64 * 1024;
/// Bytes read from an origin at a time.
const READ_SIZE: usize = 64 * 1024;
/// Bytes a storing fill reads per event before letting the client's connection write.
const YIELD_AFTER: usize = 1 << 20;

thread_local! {
    /// The reactor thread's read buffer (allocated and zeroed once, not per event).
    static READ_BUF: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// Hands a new exchange to an idle connection: the connection's `ready` takes it.
type Handoff = Arc<Mutex<Option<Exchange>>>;

thread_local! {
    /// This reactor thread's idle origin connections.
    static IDLE: std::cell::RefCell<IdleSet<PoolKey, Handoff>> = std::cell::RefCell::new(IdleSet::default());
}

/// What makes idle connections interchangeable: the address, and for TLS the server name.
type PoolKey = (SocketAddr, Option<String>);

/// Connects to `addr` for `ex`, or hands `ex` to an idle connection there (`pooled`).
pub(crate) fn connect_origin(
    mut ex: Exchange,
    addr: SocketAddr,
    cx: &mut Context<'_>,
    pooled: bool,
) {
    let dest = ex.dest();
    let key: PoolKey = (addr, dest.tls.then(|| dest.host.clone()));
    if pooled && ex.idempotent {
        while let Some((id, handoff)) = IDLE.with(|p| p.borrow_mut().unpark(&key)) {
            match handoff.lock() {
                Ok(mut h) => *h = Some(ex),
                Err(_) => return,
            }
            cx.poke(id);
            // Still there: that socket was gone. Try the next one.
            match handoff.lock().ok().and_then(|mut h| h.take()) {
                Some(back) => ex = back,
                None => return,
            }
        }
    }
    let tcp = match TcpStream::connect(addr) {
        Ok(s) => s,
        Err(e) => {
            let what = ex.dest().authority();
            let detail = format!("Cannot connect to {what}: {e}.");
            return fail_or_retry(&mut ex, 502, &detail, false, cx);
        }
    };
    let _ = tcp.set_nodelay(true);
    let stream = match (&key.1, &ex.inner.tls) {
        (None, _) => OriginStream::Plain(tcp),
        (Some(name), Some(config)) => match OriginStream::tls(tcp, config, name) {
            Ok(s) => s,
            Err(e) => return ex.fail(502, &format!("Cannot start TLS: {e}.")),
        },
        (Some(_), None) => {
            return ex.fail(502, "TLS to the origin is not configured (no TLS roots).")
        }
    };
    let timeout = ex.inner.config.upstream_timeout;
    let fetch = Fetch {
        ex,
        stream,
        key,
        reused: false,
        idle: None,
        park: false,
        phase: Phase::Connecting,
        written: 0,
        buf: Vec::new(),
        scanner: HeadScanner::default(),
        decoder: Decoder::Empty,
        sender: None,
        pending: None,
        store: None,
        backlog: None,
        paused: false,
        resume: Arc::new(AtomicBool::new(false)),
        reusable: false,
        got_bytes: false,
        timeout,
    };
    match cx.register(Box::new(fetch), Interest::READABLE | Interest::WRITABLE) {
        Ok(id) => {
            let at = cx.now() + timeout;
            cx.set_deadline(id, Some(at));
        }
        Err(e) => log::error!("cannot register an origin socket: {e}"),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Connecting,
    Handshake,
    Writing,
    Head,
    Body,
}

enum Decoder {
    /// No body (HEAD, 204, 304).
    Empty,
    /// Content-Length or chunked.
    Framed(BodyDecoder),
    /// Until the origin closes.
    Close,
}

/// A response being stored: in memory, or (once it is known to be too big for memory)
/// written straight to the disk tier.
struct Stored {
    status: u16,
    headers: Vec<(String, String)>,
    /// The body's length, when the origin said.
    expected: Option<u64>,
    /// The body so far (while in memory).
    body: Vec<u8>,
    /// Body bytes so far.
    len: usize,
    /// Where the body goes once it is too big for memory.
    spill: Option<Spill>,
    /// Body bytes the spill's full queue could not take yet (the origin is paused).
    held: Vec<u8>,
    /// Resumes this fetch when the spill's queue has room again.
    wake: Wake,
}

/// An origin connection working on one exchange, driven by the reactor.
struct Fetch {
    ex: Exchange,
    stream: OriginStream,
    key: PoolKey,
    reused: bool,
    /// Parked in this thread's idle set, waiting for an exchange.
    idle: Option<Handoff>,
    /// The exchange ended cleanly: park the connection.
    park: bool,
    phase: Phase,
    written: usize,
    buf: Vec<u8>,
    scanner: HeadScanner,
    decoder: Decoder,
    sender: Option<BodySender>,
    /// The answer, held until its body (all of it already read) is decoded.
    pending: Option<(Responder, Response)>,
    store: Option<Stored>,
    /// While storing: this client's queue beyond its window, held against the fill budget.
    backlog: Option<Arc<Backlog>>,
    paused: bool,
    resume: Arc<AtomicBool>,
    reusable: bool,
    got_bytes: bool,
    timeout: Duration,
}

impl SocketHandler for Fetch {
    fn source(&mut self) -> &mut dyn mio::event::Source {
        self.stream.tcp()
    }

    fn ready(&mut self, ready: Ready, cx: &mut Context<'_>) -> bool {
        if let Some(handoff) = &self.idle {
            match handoff.lock().ok().and_then(|mut h| h.take()) {
                Some(ex) => self.reuse(ex, ready.id, cx),
                None => return self.idle_event(ready),
            }
        }
        if ready.timed_out {
            return self.timed_out(ready.id, cx);
        }
        if self.paused && self.resume.swap(false, Ordering::AcqRel) {
            self.paused = false;
            let at = cx.now() + self.timeout;
            cx.set_deadline(ready.id, Some(at));
        }
        if !self.paused {
            // Body bytes a full spill queue could not take: first those (the origin
            // stays paused while they are still held).
            self.spill_held();
        }
        if self.phase == Phase::Connecting {
            match self.stream.tcp().take_error() {
                Ok(None) => {}
                Ok(Some(e)) | Err(e) => return self.failed(e, cx),
            }
            match self.stream.tcp().peer_addr() {
                Ok(_) => self.phase = Phase::Handshake,
                Err(e) if e.kind() == io::ErrorKind::NotConnected => return true,
                Err(e) => return self.failed(e, cx),
            }
        }
        if self.phase == Phase::Handshake {
            match self.stream.handshake() {
                Ok(true) => self.phase = Phase::Writing,
                Ok(false) => return true,
                Err(e) => return self.failed(e, cx),
            }
        }
        if self.phase == Phase::Writing {
            while self.written < self.ex.wire.len() {
                match self.stream.write(&self.ex.wire[self.written..]) {
                    Ok(0) => return self.failed(io::ErrorKind::WriteZero.into(), cx),
                    Ok(n) => self.written += n,
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => return true,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => return self.failed(e, cx),
                }
            }
            match self.stream.flushed() {
                Ok(true) => {}
                Ok(false) => return true,
                Err(e) => return self.failed(e, cx),
            }
            self.phase = Phase::Head;
            let at = cx.now() + self.timeout;
            cx.set_deadline(ready.id, Some(at));
        }
        let mut buf = READ_BUF.with(|b| std::mem::take(&mut *b.borrow_mut()));
        buf.resize(READ_SIZE, 0);
        let mut progressed = false;
        let mut keep = None;
        let mut read_now = 0;
        while !self.paused {
            match self.stream.read(&mut buf) {
                Ok(0) => {
                    keep = Some(self.eof(cx));
                    break;
                }
                Ok(n) => {
                    progressed = true;
                    self.got_bytes = true;
                    if !self.data(&buf[..n], ready.id, cx) {
                        keep = Some(false);
                        break;
                    }
                    read_now += n;
                    if read_now >= YIELD_AFTER && self.store.is_some() && self.sender.is_some() {
                        // A fill ignores the client's pace: let its connection write what
                        // was queued before reading on, so only a stalled client's queue
                        // grows (against the fill budget).
                        let id = ready.id;
                        cx.handle().run(move |cx| cx.poke(id));
                        break;
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    keep = Some(self.failed(e, cx));
                    break;
                }
            }
        }
        READ_BUF.with(|b| *b.borrow_mut() = buf);
        if let Some(keep) = keep {
            return keep || self.park(ready.id, cx);
        }
        if progressed {
            let at = cx.now() + self.timeout;
            cx.set_deadline(ready.id, Some(at));
        }
        true
    }
}

impl Fetch {
    /// Parks a connection whose exchange ended cleanly. False: close it instead.
    fn park(&mut self, id: SocketId, cx: &mut Context<'_>) -> bool {
        if !std::mem::take(&mut self.park) {
            return false;
        }
        let config = &self.ex.inner.config;
        let (limit, idle_timeout) = (config.pool_per_origin, config.pool_idle_timeout);
        let handoff: Handoff = Arc::new(Mutex::new(None));
        let parked = IDLE.with(|p| {
            p.borrow_mut()
                .park(self.key.clone(), id, handoff.clone(), limit)
        });
        if parked {
            self.idle = Some(handoff);
            let at = cx.now() + idle_timeout;
            cx.set_deadline(id, Some(at));
        }
        parked
    }

    /// An event while parked: only a timeout or the origin closing (or sending stray
    /// bytes) is expected, and each ends the connection.
    fn idle_event(&mut self, ready: Ready) -> bool {
        let alive = !ready.timed_out && self.stream.still_idle();
        if !alive {
            IDLE.with(|p| p.borrow_mut().forget(&self.key, ready.id));
            self.idle = None;
        }
        alive
    }

    /// Takes a new exchange on this idle connection.
    fn reuse(&mut self, ex: Exchange, id: SocketId, cx: &mut Context<'_>) {
        self.idle = None;
        self.ex = ex;
        self.reused = true;
        self.park = false;
        self.phase = Phase::Writing;
        self.written = 0;
        self.buf.clear();
        self.scanner.reset();
        self.decoder = Decoder::Empty;
        self.sender = None;
        self.pending = None;
        self.store = None;
        self.backlog = None;
        self.paused = false;
        self.resume = Arc::new(AtomicBool::new(false));
        self.reusable = false;
        self.got_bytes = false;
        let at = cx.now() + self.timeout;
        cx.set_deadline(id, Some(at));
    }

    /// Connect, write or read failed.
    fn failed(&mut self, e: io::Error, cx: &mut Context<'_>) -> bool {
        if self.phase == Phase::Body {
            self.abort(&format!("origin connection failed mid-body: {e}"));
            return false;
        }
        if self.reused && !self.got_bytes {
            connect_origin(self.ex.retry(), self.key.0, cx, false);
            return false;
        }
        let what = self.ex.dest().authority();
        let detail = if self.phase == Phase::Connecting {
            format!("Cannot connect to {what}: {e}.")
        } else if self.phase == Phase::Handshake {
            format!("The TLS handshake with {what} failed: {e}.")
        } else {
            format!("The connection to {what} failed: {e}.")
        };
        if self.got_bytes {
            self.ex.fail(502, &detail);
        } else {
            let sent = self.sent();
            fail_or_retry(&mut self.ex, 502, &detail, sent, cx);
        }
        false
    }

    fn eof(&mut self, cx: &mut Context<'_>) -> bool {
        match self.phase {
            Phase::Body => {
                if matches!(self.decoder, Decoder::Close) {
                    self.reusable = false;
                    self.complete();
                } else {
                    self.abort("the origin closed the connection in the middle of the body");
                }
                false
            }
            _ if self.reused && !self.got_bytes => {
                connect_origin(self.ex.retry(), self.key.0, cx, false);
                false
            }
            _ => {
                let what = self.ex.dest().authority();
                if self.got_bytes {
                    let detail =
                        format!("{what} closed the connection in the middle of the response head.");
                    self.ex.fail(502, &detail);
                } else {
                    let detail = format!("{what} closed the connection without answering.");
                    let sent = self.sent();
                    fail_or_retry(&mut self.ex, 502, &detail, sent, cx);
                }
                false
            }
        }
    }

    fn timed_out(&mut self, id: SocketId, cx: &mut Context<'_>) -> bool {
        if self.paused && self.store.as_ref().is_some_and(|st| !st.held.is_empty()) {
            // The disk is slow, not the origin.
            let at = cx.now() + self.timeout;
            cx.set_deadline(id, Some(at));
            return true;
        }
        if self.paused {
            // The client is slow, not the origin: carry on while it is still there.
            if self.sender.as_ref().is_some_and(|s| !s.is_closed()) {
                let at = cx.now() + self.timeout;
                cx.set_deadline(id, Some(at));
                return true;
            }
            self.abort("the client went away");
            return false;
        }
        if self.phase == Phase::Body {
            self.abort("the origin stalled in the middle of the body");
            return false;
        }
        let what = self.ex.dest().authority();
        let secs = self.timeout.as_secs_f64();
        let detail = format!("{what} did not answer within {secs} s.");
        if self.got_bytes {
            self.ex.fail(504, &detail);
        } else {
            let sent = self.sent();
            fail_or_retry(&mut self.ex, 504, &detail, sent, cx);
        }
        false
    }

    /// True once (part of) the request may have reached the origin.
    fn sent(&self) -> bool {
        !matches!(self.phase, Phase::Connecting | Phase::Handshake)
    }
}
