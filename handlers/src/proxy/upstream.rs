//! Talking to origins on the reactor: name lookup (pool, cached), non-blocking connect,
//! writing the request, parsing the response head, relaying the body (Content-Length,
//! chunked or close-delimited) into a stream with backpressure, storing it in the cache
//! when allowed, and handing the connection back to the pool. Also CONNECT tunnels.

use std::io::{self, Read, Write};
use std::net::SocketAddr;
use std::os::fd::AsFd;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use mio::net::TcpStream;
use mio::Interest;
use reactor::body::BodyDecoder;
use reactor::request::Framing;
use reactor::{
    Body, BodySender, Context, Flow, Ready, Reply, Request, Responder, Response, SocketHandler,
    SocketId,
};

use super::cache::{self, field, unix_now, Entry};
use super::head::{Head, HeadScanner};
use super::headers::{build_request, connection_tokens, response_fields, Outgoing, VIA};
use super::pool::IdleSet;
use super::target::{parse_authority, same_origin_url, Target};
use super::{CacheState, Inner, Slot};

/// Largest response head accepted from an origin.
const MAX_HEAD: usize = 64 * 1024;
/// Bytes read from an origin at a time.
const READ_SIZE: usize = 64 * 1024;

thread_local! {
    /// The reactor thread's read buffer (allocated and zeroed once, not per event).
    static READ_BUF: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// What the exchange is for.
#[derive(Clone)]
pub(crate) enum Mode {
    /// A plain forward (a miss, or an uncacheable request).
    Forward,
    /// Validate this stale entry (without a responder: in the background).
    Revalidate(Arc<Entry>),
}

/// One request to an origin and everyone interested in its outcome.
pub(crate) struct Exchange {
    inner: Arc<Inner>,
    req: Request,
    target: Target,
    url: String,
    mode: Mode,
    responder: Option<Responder>,
    slot: Option<Slot>,
    storable_req: bool,
    wire: Vec<u8>,
    upstream_head: bool,
    idempotent: bool,
    request_time: u64,
}

impl Exchange {
    pub(crate) fn new(
        inner: Arc<Inner>,
        req: Request,
        target: Target,
        mode: Mode,
        responder: Option<Responder>,
        slot: Option<Slot>,
        storable_req: bool,
    ) -> Exchange {
        let method = match mode {
            Mode::Revalidate(_) => "GET",
            Mode::Forward => req.method.as_str(),
        };
        let trace_like = req.method == "OPTIONS" || req.method == "TRACE";
        let max_forwards = req
            .header("max-forwards")
            .and_then(|v| v.trim().parse::<u32>().ok())
            .map(|n| if trace_like { n.saturating_sub(1) } else { n });
        let host = match &inner.config.upstream {
            Some(up) => up.authority(),
            None => target.authority(),
        };
        let validators = match &mode {
            Mode::Revalidate(e) => Some((e.etag(), e.last_modified())),
            Mode::Forward => None,
        };
        let wire = build_request(
            &req,
            &Outgoing {
                method,
                path: &target.path,
                host: &host,
                forwarded_for: inner.config.forwarded_for,
                max_forwards,
                validators,
                with_body: true,
            },
        );
        let upstream_head = method == "HEAD";
        let idempotent = matches!(
            method,
            "GET" | "HEAD" | "PUT" | "DELETE" | "OPTIONS" | "TRACE"
        );
        Exchange {
            url: target.url(),
            inner,
            req,
            target,
            mode,
            responder,
            slot,
            storable_req,
            wire,
            upstream_head,
            idempotent,
            request_time: unix_now(),
        }
    }

    /// Answers with an error page (or a stale entry that allows `stale-if-error`).
    fn fail(&mut self, status: u16, detail: &str) {
        let now = unix_now();
        if let Some(r) = self.responder.take() {
            match &self.mode {
                Mode::Revalidate(e) if e.stale_if_error(now) => {
                    r.send(self.inner.serve(e, &self.req, CacheState::Stale));
                }
                _ => {
                    log::warn!(
                        "{} \"{} {}\" {status} {detail}",
                        self.req.peer,
                        self.req.method,
                        self.url
                    );
                    self.inner
                        .log(&self.req, status, None, CacheState::Miss.as_str());
                    r.send(Response::error_with(status, detail));
                }
            }
        }
        if let Some(s) = self.slot.take() {
            s.fail(status, detail);
        }
    }

    /// A copy to try again on a fresh connection (the interested parties move over).
    fn retry(&mut self) -> Exchange {
        Exchange {
            inner: self.inner.clone(),
            req: self.req.clone(),
            target: self.target.clone(),
            url: self.url.clone(),
            mode: self.mode.clone(),
            responder: self.responder.take(),
            slot: self.slot.take(),
            storable_req: self.storable_req,
            wire: std::mem::take(&mut self.wire),
            upstream_head: self.upstream_head,
            idempotent: self.idempotent,
            request_time: self.request_time,
        }
    }
}

impl Drop for Exchange {
    fn drop(&mut self) {
        if self.responder.is_some() || self.slot.is_some() {
            self.fail(502, "The proxy lost its connection to the origin.");
        }
    }
}

/// Looks `host` up (at once when cached, else on the blocking pool) and continues with
/// `then` on this reactor.
fn resolve_then<T: Send + 'static>(
    inner: &Arc<Inner>,
    host: String,
    port: u16,
    cx: &mut Context<'_>,
    state: T,
    then: fn(T, Result<SocketAddr, String>, &mut Context<'_>),
) {
    if let Some(addr) = inner.dns.cached(&host, port) {
        return then(state, Ok(addr), cx);
    }
    let dns = inner.dns.clone();
    let handle = cx.handle();
    let cell = Arc::new(Mutex::new(Some(state)));
    let cell2 = cell.clone();
    let job = move || {
        let r = dns
            .resolve(&host, port)
            .map_err(|e| format!("Cannot resolve {host}: {e}."));
        if let Some(state) = cell2.lock().ok().and_then(|mut c| c.take()) {
            handle.run(move |cx| then(state, r, cx));
        }
    };
    if cx.spawn_blocking(job).is_err() {
        if let Some(state) = cell.lock().ok().and_then(|mut c| c.take()) {
            then(
                state,
                Err("The proxy is busy; try again shortly.".into()),
                cx,
            );
        }
    }
}

/// Starts an exchange: resolve, connect (or reuse a pooled connection), register.
pub(crate) fn start(ex: Exchange, cx: &mut Context<'_>) {
    let inner = ex.inner.clone();
    let (host, port) = (ex.target.host.clone(), ex.target.port);
    resolve_then(&inner, host, port, cx, ex, |mut ex, r, cx| match r {
        Ok(addr) => connect_origin(ex, addr, cx, true),
        Err(e) => ex.fail(502, &e),
    });
}

/// Hands a new exchange to an idle connection: the connection's `ready` takes it.
type Handoff = Arc<Mutex<Option<Exchange>>>;

thread_local! {
    /// This reactor thread's idle origin connections.
    static IDLE: std::cell::RefCell<IdleSet<Handoff>> = std::cell::RefCell::new(IdleSet::default());
}

fn connect_origin(mut ex: Exchange, addr: SocketAddr, cx: &mut Context<'_>, pooled: bool) {
    if pooled && ex.idempotent {
        while let Some((id, handoff)) = IDLE.with(|p| p.borrow_mut().unpark(addr)) {
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
    let stream = match TcpStream::connect(addr) {
        Ok(s) => s,
        Err(e) => {
            let what = ex.target.authority();
            return ex.fail(502, &format!("Cannot connect to {what}: {e}."));
        }
    };
    let _ = stream.set_nodelay(true);
    let timeout = ex.inner.config.upstream_timeout;
    let fetch = Fetch {
        ex,
        stream,
        addr,
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
    stream: TcpStream,
    addr: SocketAddr,
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
    paused: bool,
    resume: Arc<AtomicBool>,
    reusable: bool,
    got_bytes: bool,
    timeout: Duration,
}

/// A second descriptor for the same socket (to tunnel it once the reactor deregisters
/// and closes the first).
fn dup(s: &TcpStream) -> io::Result<std::net::TcpStream> {
    Ok(std::net::TcpStream::from(s.as_fd().try_clone_to_owned()?))
}

impl SocketHandler for Fetch {
    fn source(&mut self) -> &mut dyn mio::event::Source {
        &mut self.stream
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
            match self.stream.take_error() {
                Ok(None) => {}
                Ok(Some(e)) | Err(e) => return self.failed(e, cx),
            }
            match self.stream.peer_addr() {
                Ok(_) => self.phase = Phase::Writing,
                Err(e) if e.kind() == io::ErrorKind::NotConnected => return true,
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
        let parked = IDLE.with(|p| p.borrow_mut().park(self.addr, id, handoff.clone(), limit));
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
        let mut b = [0u8; 1];
        let alive = !ready.timed_out
            && matches!(self.stream.peek(&mut b), Err(e) if e.kind() == io::ErrorKind::WouldBlock);
        if !alive {
            IDLE.with(|p| p.borrow_mut().forget(self.addr, ready.id));
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
            connect_origin(self.ex.retry(), self.addr, cx, false);
            return false;
        }
        let what = self.ex.target.authority();
        let detail = if self.phase == Phase::Connecting {
            format!("Cannot connect to {what}: {e}.")
        } else {
            format!("The connection to {what} failed: {e}.")
        };
        self.ex.fail(502, &detail);
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
                connect_origin(self.ex.retry(), self.addr, cx, false);
                false
            }
            _ => {
                let what = self.ex.target.authority();
                let detail = if self.got_bytes {
                    format!("{what} closed the connection in the middle of the response head.")
                } else {
                    format!("{what} closed the connection without answering.")
                };
                self.ex.fail(502, &detail);
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
        let what = self.ex.target.authority();
        let secs = self.timeout.as_secs_f64();
        self.ex
            .fail(504, &format!("{what} did not answer within {secs} s."));
        false
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
                    let what = self.ex.target.authority();
                    self.ex
                        .fail(502, &format!("{what} sent an invalid response: {e}."));
                    return false;
                }
                Some(Ok((n, _))) if n > MAX_HEAD => {
                    let what = self.ex.target.authority();
                    self.ex.fail(
                        502,
                        &format!("{what} sent a response head that is too large."),
                    );
                    return false;
                }
                None => {
                    if self.buf.len() > MAX_HEAD {
                        let what = self.ex.target.authority();
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
                    let what = self.ex.target.authority();
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
                tx.on_resume(move || {
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
                self.store = None;
                if let Some(s) = self.ex.slot.take() {
                    s.done();
                }
            } else {
                st.body.extend_from_slice(&out);
            }
        }
        if let Some((r, resp)) = self.pending.take() {
            r.send(resp.with_body(Body::from(out)));
            return true;
        }
        if let Some(tx) = &self.sender {
            match tx.send(out) {
                // While the body is being stored (at most --max-object-size), a slow
                // client does not hold back the cache fill or the clients waiting for it.
                Ok(Flow::Pause) => self.paused = self.store.is_none(),
                Ok(Flow::Continue) => {}
                Err(_) => self.sender = None,
            }
        }
        self.sender.is_some() || self.store.is_some()
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
        let what = self.ex.target.authority();
        self.ex.fail(502, &format!("{what}: {detail}."));
    }
}

/// CONNECT: check the port, resolve, connect without blocking, then turn the client
/// connection into a tunnel.
pub(crate) fn connect(inner: &Arc<Inner>, req: &Request, cx: &mut Context<'_>) -> Reply {
    let (host, port) = match parse_authority(&req.target) {
        Ok(x) => x,
        Err(e) => {
            return Reply::Response(
                Response::error_with(400, &format!("Bad CONNECT target: {e}."))
                    .with_header("Connection", "close"),
            )
        }
    };
    if !inner.config.connect_ports.contains(&port) {
        log::info!("{}: CONNECT to port {port} refused", req.peer);
        return Reply::Response(Response::error_with(
            403,
            &format!("CONNECT to port {port} is not allowed."),
        ));
    }
    let state = (
        format!("{host}:{port}"),
        cx.responder(),
        inner.config.upstream_timeout,
    );
    resolve_then(
        inner,
        host,
        port,
        cx,
        state,
        |(what, responder, timeout), r, cx| {
            let addr = match r {
                Ok(a) => a,
                Err(e) => return responder.send(Response::error_with(502, &e)),
            };
            match TcpStream::connect(addr) {
                Ok(stream) => {
                    let t = Tunnel {
                        what,
                        responder: Some(responder),
                        stream,
                        timeout,
                    };
                    match cx.register(Box::new(t), Interest::WRITABLE) {
                        Ok(id) => {
                            let at = cx.now() + timeout;
                            cx.set_deadline(id, Some(at));
                        }
                        Err(e) => log::error!("cannot register a tunnel socket: {e}"),
                    }
                }
                Err(e) => {
                    let detail = format!("Cannot connect to {what}: {e}.");
                    responder.send(Response::error_with(502, &detail));
                }
            }
        },
    );
    Reply::Later
}

/// A CONNECT target being connected to.
struct Tunnel {
    what: String,
    responder: Option<Responder>,
    stream: TcpStream,
    timeout: Duration,
}

impl Tunnel {
    fn answer(&mut self, r: Response) {
        if let Some(responder) = self.responder.take() {
            responder.send(r);
        }
    }
}

impl SocketHandler for Tunnel {
    fn source(&mut self) -> &mut dyn mio::event::Source {
        &mut self.stream
    }

    fn ready(&mut self, ready: Ready, _cx: &mut Context<'_>) -> bool {
        let stream = &self.stream;
        if ready.timed_out {
            let detail = format!(
                "{} did not accept the connection within {} s.",
                self.what,
                self.timeout.as_secs_f64()
            );
            self.answer(Response::error_with(504, &detail));
            return false;
        }
        let err = match stream.take_error() {
            Ok(None) => match stream.peer_addr() {
                Ok(_) => None,
                Err(e) if e.kind() == io::ErrorKind::NotConnected => return true,
                Err(e) => Some(e),
            },
            Ok(Some(e)) | Err(e) => Some(e),
        };
        let resp = match err {
            Some(e) => Response::error_with(502, &format!("Cannot connect to {}: {e}.", self.what)),
            None => match dup(stream).and_then(Response::tunnel) {
                Ok(r) => r,
                Err(e) => Response::error_with(502, &format!("Cannot open the tunnel: {e}.")),
            },
        };
        self.answer(resp);
        false
    }
}
