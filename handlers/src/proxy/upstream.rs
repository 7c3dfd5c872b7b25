//! Talking to origins on the reactor: name lookup (pool, cached), non-blocking connect,
//! writing the request, parsing the response head, relaying the body (Content-Length,
//! chunked or close-delimited) into a stream with backpressure, storing it in the cache
//! when allowed, and handing the connection back to the pool. What is asked, and of
//! which origin, is the [`Exchange`]'s business (`exchange.rs`).

use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use mio::net::TcpStream;
use mio::Interest;
use reactor::body::BodyDecoder;
use reactor::request::Framing;
use reactor::{
    Body, BodySender, Context, Flow, Ready, Responder, Response, SocketHandler, SocketId,
};

use super::cache::{self, field, unix_now, Entry};
use super::exchange::{fail_or_retry, Exchange, Mode};
use super::fill::Backlog;
use super::head::{Head, HeadScanner};
use super::headers::{connection_tokens, response_fields, VIA};
use super::pool::IdleSet;
use super::target::same_origin_url;
use super::tls::OriginStream;
use super::CacheState;

/// Largest response head accepted from an origin.
const MAX_HEAD: usize = 64 * 1024;
/// Bytes read from an origin at a time.
const READ_SIZE: usize = 64 * 1024;

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

struct Stored {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
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

    /// Bytes from the origin. False: this connection is finished.
    fn data(&mut self, bytes: &[u8], id: SocketId, cx: &mut Context<'_>) -> bool {
        if self.phase == Phase::Body {
            return self.body(bytes);
        }
        self.buf.extend_from_slice(bytes);
        loop {
            match self.scanner.next(&self.buf) {
                Some(Err(e)) => {
                    let what = self.ex.dest().authority();
                    self.ex
                        .fail(502, &format!("{what} sent an invalid response: {e}."));
                    return false;
                }
                Some(Ok((n, _))) if n > MAX_HEAD => {
                    let what = self.ex.dest().authority();
                    self.ex.fail(
                        502,
                        &format!("{what} sent a response head that is too large."),
                    );
                    return false;
                }
                None => {
                    if self.buf.len() > MAX_HEAD {
                        let what = self.ex.dest().authority();
                        self.ex.fail(
                            502,
                            &format!("{what} sent a response head that is too large."),
                        );
                        return false;
                    }
                    return true;
                }
                Some(Ok((n, head))) => {
                    self.buf.drain(..n);
                    self.scanner.reset();
                    if (100..200).contains(&head.status) {
                        if head.status == 101 {
                            self.ex.fail(
                                502,
                                "The origin switched protocols, which this proxy does not relay.",
                            );
                            return false;
                        }
                        continue;
                    }
                    if !self.head(head, id, cx) {
                        return false;
                    }
                    self.phase = Phase::Body;
                    let rest = std::mem::take(&mut self.buf);
                    return self.body(&rest);
                }
            }
        }
    }

    /// The final response head arrived: decide framing, cacheability, and answer.
    fn head(&mut self, h: Head, id: SocketId, cx: &mut Context<'_>) -> bool {
        self.ex.origin_answered();
        let inner = self.ex.inner.clone();
        let tokens = connection_tokens(
            h.headers
                .iter()
                .filter(|(n, _)| n.eq_ignore_ascii_case("connection"))
                .map(|(_, v)| v.as_bytes()),
        );
        let has = |t: &str| tokens.iter().any(|x| x == t);
        self.reusable = if h.version == 1 {
            !has("close")
        } else {
            has("keep-alive")
        };
        let no_body = self.ex.upstream_head || h.status == 204 || h.status == 304;
        let mut length = None;
        self.decoder = if no_body {
            Decoder::Empty
        } else if let Some(te) = field(&h.headers, "transfer-encoding") {
            let last = te.rsplit(',').next().unwrap_or("").trim();
            if field(&h.headers, "content-length").is_some() {
                // Both: chunked wins, and the connection is not trusted afterwards.
                self.reusable = false;
            }
            if last.eq_ignore_ascii_case("chunked") {
                Decoder::Framed(BodyDecoder::new(Framing::Chunked, u64::MAX))
            } else {
                self.reusable = false;
                Decoder::Close
            }
        } else if field(&h.headers, "content-length").is_some() {
            let mut lens = h
                .headers
                .iter()
                .filter(|(n, _)| n.eq_ignore_ascii_case("content-length"))
                .flat_map(|(_, v)| v.split(','))
                .map(|v| {
                    let v = v.trim();
                    (!v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()))
                        .then(|| v.parse::<u64>().ok())
                        .flatten()
                });
            let first = lens.next().flatten();
            match first {
                Some(n) if lens.all(|l| l == Some(n)) => {
                    length = Some(n);
                    Decoder::Framed(BodyDecoder::new(Framing::Length(n), u64::MAX))
                }
                _ => {
                    let what = self.ex.dest().authority();
                    self.ex
                        .fail(502, &format!("{what} sent an invalid Content-Length."));
                    return false;
                }
            }
        } else {
            self.reusable = false;
            Decoder::Close
        };
        let body_len = match self.decoder {
            Decoder::Empty => Some(0),
            _ => length,
        };

        // An unsafe method that succeeded invalidates what it may have changed.
        let safe = matches!(
            self.ex.req.method.as_str(),
            "GET" | "HEAD" | "OPTIONS" | "TRACE"
        );
        if let (false, true, Some(cache)) = (safe, h.status < 400, &inner.cache) {
            cache.invalidate(&self.ex.url);
            for name in ["location", "content-location"] {
                if let Some(u) =
                    field(&h.headers, name).and_then(|l| same_origin_url(&self.ex.target, l))
                {
                    cache.invalidate(&u);
                }
            }
        }

        let now = unix_now();
        if let Mode::Revalidate(entry) = &self.ex.mode {
            if h.status == 304 {
                let updated = entry.updated(
                    &response_fields(&h.headers, false),
                    self.ex.request_time,
                    now,
                );
                if let Some(r) = self.ex.responder.take() {
                    r.send(inner.serve(&updated, &self.ex.req, CacheState::Revalidated));
                }
                if let Some(cache) = &inner.cache {
                    cache.insert(&self.ex.url, updated);
                }
                if let Some(s) = self.ex.slot.take() {
                    s.done();
                }
                return true;
            }
            if h.status >= 500 && entry.stale_if_error(now) {
                if let Some(r) = self.ex.responder.take() {
                    r.send(inner.serve(entry, &self.ex.req, CacheState::Stale));
                }
                if let Some(s) = self.ex.slot.take() {
                    s.done();
                }
                return false;
            }
        }

        let fields = response_fields(&h.headers, self.ex.upstream_head);
        let max = inner.cache.as_ref().map_or(0, |c| c.max_object());
        let storable = self.ex.storable_req
            && inner.cache.is_some()
            && cache::storable(&self.ex.req.headers, h.status, &fields)
            && body_len.unwrap_or(0) <= max as u64;
        if storable {
            self.store = Some(Stored {
                status: h.status,
                headers: fields.clone(),
                body: Vec::with_capacity(body_len.unwrap_or(0) as usize),
            });
        } else {
            if let (Mode::Revalidate(_), Some(cache)) = (&self.ex.mode, &inner.cache) {
                // The origin replaced the stale entry with something we may not keep.
                cache.invalidate(&self.ex.url);
            }
            if let Some(s) = self.ex.slot.take() {
                s.done();
            }
        }
        if let Some(r) = self.ex.responder.take() {
            inner.log(&self.ex.req, h.status, body_len, CacheState::Miss.as_str());
            let mut resp = Response::new(h.status);
            resp.headers.reserve(fields.len() + 2);
            for (n, v) in fields {
                resp.headers.push((n.into(), v.into()));
            }
            resp = resp
                .with_header("Via", VIA)
                .with_header("X-Cache", CacheState::Miss.as_str());
            let whole_body_here = length.is_some_and(|n| self.buf.len() as u64 >= n);
            if body_len == Some(0) {
                r.send(resp);
            } else if whole_body_here {
                // Small responses arrive with their head: answer with plain bytes.
                self.pending = Some((r, resp));
            } else {
                let (body, tx) = Body::stream(body_len);
                let flag = self.resume.clone();
                let handle = cx.handle();
                self.backlog = inner
                    .cache
                    .as_ref()
                    .filter(|_| self.store.is_some())
                    .map(|c| Arc::new(c.fill_budget().backlog()));
                let backlog = self.backlog.clone();
                tx.on_resume(move || {
                    if let Some(b) = &backlog {
                        b.release();
                    }
                    flag.store(true, Ordering::Release);
                    handle.run(move |cx| cx.poke(id));
                });
                self.sender = Some(tx);
                r.send(resp.with_body(body));
            }
        }
        true
    }

    /// Body bytes (still framed). False: this connection is finished.
    fn body(&mut self, data: &[u8]) -> bool {
        let mut out = Vec::new();
        let finished = match &mut self.decoder {
            Decoder::Empty => {
                if !data.is_empty() {
                    self.reusable = false;
                }
                true
            }
            Decoder::Close => {
                out.extend_from_slice(data);
                false
            }
            Decoder::Framed(d) => match d.decode(data, &mut out) {
                Ok(used) => {
                    if used < data.len() {
                        self.reusable = false;
                    }
                    d.is_done()
                }
                Err(e) => {
                    let detail = format!("the origin sent a badly framed body: {}", e.detail);
                    self.abort(&detail);
                    return false;
                }
            },
        };
        if !out.is_empty() && !self.deliver(out) {
            return false;
        }
        if finished {
            self.complete();
            return false;
        }
        true
    }

    /// Passes decoded body bytes to the client and the cache. False: nobody wants them.
    fn deliver(&mut self, out: Vec<u8>) -> bool {
        let max = self.ex.inner.cache.as_ref().map_or(0, |c| c.max_object());
        if let Some(st) = &mut self.store {
            if st.body.len() + out.len() > max {
                self.give_up_store();
            } else {
                st.body.extend_from_slice(&out);
            }
        }
        if let Some((r, resp)) = self.pending.take() {
            r.send(resp.with_body(Body::from(out)));
            return true;
        }
        if let Some(tx) = &self.sender {
            let len = out.len();
            match tx.send(out) {
                // While the body is being stored, a slow client does not hold back the
                // cache fill or the clients waiting for it, as long as its queue fits the
                // fill budget; past it, the fill gives up storing and pauses the origin.
                Ok(Flow::Pause) => {
                    let held = self.backlog.as_ref().is_some_and(|b| b.hold(len));
                    if self.store.is_some() && !held {
                        self.give_up_store();
                    }
                    self.paused = self.store.is_none();
                }
                Ok(Flow::Continue) => {}
                Err(_) => self.sender = None,
            }
        }
        self.sender.is_some() || self.store.is_some()
    }

    /// Stops storing this response; the clients waiting for it fetch for themselves.
    fn give_up_store(&mut self) {
        self.store = None;
        self.backlog = None;
        if let Some(s) = self.ex.slot.take() {
            s.done();
        }
    }

    /// The body ended exactly: finish the client's stream, store, pool the connection.
    fn complete(&mut self) {
        if let Some(tx) = self.sender.take() {
            tx.finish();
        }
        if let (Some(st), Some(cache)) = (self.store.take(), &self.ex.inner.cache) {
            let entry = Entry::new(
                st.status,
                st.headers,
                Arc::from(st.body),
                &self.ex.req.headers,
                self.ex.request_time,
                unix_now(),
            );
            cache.insert(&self.ex.url, entry);
        }
        if let Some(s) = self.ex.slot.take() {
            s.done();
        }
        self.park = self.reusable && self.buf.is_empty();
    }

    /// The body broke off: the client's connection is closed (never a short 200) and
    /// nothing is stored.
    fn abort(&mut self, detail: &str) {
        log::warn!(
            "{} \"{} {}\": {detail}",
            self.ex.req.peer,
            self.ex.req.method,
            self.ex.url
        );
        if let Some(tx) = self.sender.take() {
            tx.abort();
        }
        if let Some((r, _)) = self.pending.take() {
            r.send(Response::error_with(502, detail));
        }
        self.store = None;
        if let Some(s) = self.ex.slot.take() {
            s.done();
        }
        let what = self.ex.dest().authority();
        self.ex.fail(502, &format!("{what}: {detail}."));
    }
}
