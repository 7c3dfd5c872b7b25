//! One request to an origin and everyone interested in its outcome: the request as it
//! goes on the wire, the responder and the collapsed waiters, which origin of several
//! serves it (balancing, passive health, retries on another origin), and the start of
//! it all: name lookup on the pool, then a connection ([`super::upstream`]).

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use reactor::{Context, Request, Responder, Response};

use super::balance::Lease;
use super::cache::{unix_now, Entry};
use super::headers::{build_request, strip_response_fields, Outgoing};
use super::target::Target;
use super::upstream::connect_origin;
use super::{CacheState, Inner, Slot};

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
    pub(crate) inner: Arc<Inner>,
    pub(crate) req: Request,
    /// The URL asked for (in reverse mode: the first upstream's, whichever origin serves).
    pub(crate) target: Target,
    /// The cache key.
    pub(crate) url: String,
    pub(crate) mode: Mode,
    pub(crate) responder: Option<Responder>,
    pub(crate) slot: Option<Slot>,
    pub(crate) storable_req: bool,
    pub(crate) wire: Vec<u8>,
    pub(crate) upstream_head: bool,
    pub(crate) idempotent: bool,
    pub(crate) request_time: u64,
    /// Served by the reverse proxy's origins (balanced), not by the URL's own host.
    balanced: bool,
    /// The origin this attempt uses, when balanced.
    lease: Option<Lease>,
    /// Origins tried so far, when balanced.
    tried: Vec<usize>,
    /// Sent to the parent proxy (absolute-form), not to the origin.
    via_parent: bool,
    /// Interim responses relayed so far.
    interims: u8,
}

/// Interim responses relayed per exchange at most.
const MAX_INTERIM: u8 = 8;

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
        let balanced = inner.origins.is_some()
            && inner.config.upstream.as_ref().is_some_and(|up| {
                (up.tls, &up.host, up.port) == (target.tls, &target.host, target.port)
            });
        let host = target.authority();
        let via_parent = !balanced && inner.config.parent.is_some();
        let absolute;
        let path = if via_parent {
            absolute = target.url();
            &absolute
        } else {
            &target.path
        };
        let validators = match &mode {
            Mode::Revalidate(e) => Some((e.etag(), e.last_modified())),
            Mode::Forward => None,
        };
        let wire = build_request(
            &req,
            &Outgoing {
                method,
                path,
                host: &host,
                forwarded_for: inner.config.forwarded_for,
                // The client's scheme: plain HTTP to this proxy (until the core tells of
                // TLS connections).
                proto: "http",
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
            balanced,
            lease: None,
            tried: Vec::new(),
            via_parent,
            interims: 0,
        }
    }

    /// Where this attempt connects: the chosen origin when balanced, else the target.
    pub(crate) fn dest(&self) -> &Target {
        match (&self.lease, &self.inner.origins, &self.inner.config.parent) {
            (Some(l), Some(o), _) => o.target(l.index()),
            (_, _, Some(parent)) if self.via_parent => parent,
            _ => &self.target,
        }
    }

    /// The origin answered: its failure count starts again.
    pub(crate) fn origin_answered(&self) {
        if let (Some(l), Some(o)) = (&self.lease, &self.inner.origins) {
            o.succeeded(l.index());
        }
    }

    /// Relays an origin's interim response (`102`, `103`, …; never stored) to the client
    /// that asked, if it is still waiting; at most [`MAX_INTERIM`] per exchange, so an
    /// origin cannot flood a client that does not read.
    pub(crate) fn interim(&mut self, status: u16, headers: Vec<(String, String)>) {
        if self.interims >= MAX_INTERIM || !matches!(status, 102..=199) {
            return;
        }
        let Some(r) = &self.responder else { return };
        self.interims += 1;
        let mut resp = Response::new(status);
        for (n, v) in strip_response_fields(headers, false) {
            resp = resp.with_header(n, v);
        }
        r.interim(resp);
    }

    /// Answers with an error page (or a stale entry that allows `stale-if-error`).
    pub(crate) fn fail(&mut self, status: u16, detail: &str) {
        let now = unix_now();
        if let Some(r) = self.responder.take() {
            match &self.mode {
                Mode::Revalidate(e) if e.stale_if_error(now) || e.stale_if_disconnected() => {
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

    /// A copy to try again on a fresh connection to the same origin (the interested
    /// parties move over).
    pub(crate) fn retry(&mut self) -> Exchange {
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
            balanced: self.balanced,
            lease: self.lease.take(),
            tried: std::mem::take(&mut self.tried),
            via_parent: self.via_parent,
            interims: self.interims,
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
pub(crate) fn resolve_then<T: Send + 'static>(
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

/// Starts an exchange: pick an origin (when balanced), resolve, connect (or reuse a
/// pooled connection), register.
pub(crate) fn start(mut ex: Exchange, cx: &mut Context<'_>) {
    let inner = ex.inner.clone();
    if let (true, None, Some(origins)) = (ex.balanced, &ex.lease, &inner.origins) {
        match origins.pick(&ex.target.path, &ex.tried) {
            Some(i) => {
                ex.tried.push(i);
                ex.lease = Some(origins.lease(i));
            }
            None => return ex.fail(502, "No origin is left to try."),
        }
    }
    let dest = ex.dest();
    let (host, port) = (dest.host.clone(), dest.port);
    resolve_then(&inner, host, port, cx, ex, |mut ex, r, cx| match r {
        Ok(addr) => connect_origin(ex, addr, cx, true),
        Err(e) => fail_or_retry(&mut ex, 502, &e, false, cx),
    });
}

/// The origin failed before answering: counted against it (passive health) and, when
/// balanced and the request may be sent again (it was not sent, or it is idempotent),
/// tried on another origin; otherwise answered with `status`.
pub(crate) fn fail_or_retry(
    ex: &mut Exchange,
    status: u16,
    detail: &str,
    sent: bool,
    cx: &mut Context<'_>,
) {
    if let (Some(lease), Some(origins)) = (&ex.lease, &ex.inner.origins) {
        origins.failed(lease.index());
        let again = !sent || ex.idempotent;
        if again && origins.pick(&ex.target.path, &ex.tried).is_some() {
            log::info!(
                "\"{} {}\": {detail} Trying another origin.",
                ex.req.method,
                ex.url
            );
            let mut next = ex.retry();
            next.lease = None;
            return start(next, cx);
        }
    }
    ex.fail(status, detail);
}
