//! A caching forward proxy (and, with an upstream, a caching reverse proxy) on the reactor.
//!
//! Requests in absolute form (`GET http://host/path`) or path form (`GET /http://host/path`)
//! are forwarded to the origin over non-blocking sockets the reactor drives (`upstream`),
//! kept alive between requests ([`pool`]); `CONNECT host:port` becomes a two-way tunnel.
//! GET responses are kept in a shared RFC 9111 cache ([`cache`]) in our own LRU
//! ([`lru`]), variants selected by [`vary`]; hits are answered on the reactor thread from shared bytes, without copying.
//! Targets are parsed by [`target`], names looked up by [`dns`], clients admitted by
//! [`access`], headers rewritten by [`headers`], and [`cache_log`] records cache states.
//!
//! ```
//! use reactor::testing::{serve, Client};
//! use reactor::{Config, Server};
//! use reactor_handlers::proxy::{Proxy, ProxyConfig};
//!
//! let proxy = serve(Server::new(Config::default()).handler(Proxy::new(ProxyConfig::default())));
//! let mut c = Client::connect(proxy.local_addr());
//! // Not a proxy request: 400 with a page naming the cause.
//! let r = c.get("/index.html");
//! assert_eq!(r.status, 400);
//! assert!(r.text().contains("absolute http:// URL"));
//! ```

pub mod access;
pub mod balance;
pub mod cache;
pub mod cache_log;
pub mod dns;
mod exchange;
pub mod fill;
pub mod head;
pub mod headers;
mod health;
pub mod lru;
pub mod pool;
mod purge;
pub mod target;
pub mod tls;
mod tunnel;
mod upstream;
pub mod vary;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, UNIX_EPOCH};

use reactor::date::parse_http_date;
use reactor::{Body, Context, Handler, ReactorHandle, Reply, Request, Responder, Response};

use crate::conditional::{evaluate, Conditions, Precondition, Validators};
use access::AccessList;
use balance::{Balance, Origins};
use cache::{unix_now, Cache, CacheControl, Entry, Use};
use dns::Dns;
use exchange::{Exchange, Mode};
use target::{parse_proxy_target, Target};

/// How the proxy behaves.
#[derive(Clone)]
pub struct ProxyConfig {
    /// Ports CONNECT may reach (others get 403). Default: 443.
    pub connect_ports: Vec<u16>,
    /// Append the client address to `X-Forwarded-For`.
    pub forwarded_for: bool,
    /// How long an origin may take to connect, or to send the next bytes (504 after).
    pub upstream_timeout: Duration,
    /// Cache size in bytes (0 disables the cache). Default 256 MiB.
    pub cache_size: usize,
    /// Largest body stored. Default 8 MiB.
    pub max_object_size: usize,
    /// Who may use the proxy besides loopback clients.
    pub access: AccessList,
    /// Reverse mode: origin-form requests all go to this origin.
    pub upstream: Option<Target>,
    /// Idle connections kept per origin (per worker).
    pub pool_per_origin: usize,
    /// How long an idle origin connection is kept.
    pub pool_idle_timeout: Duration,
    /// How long name lookups are remembered.
    pub dns_ttl: Duration,
    /// Where to write one line per proxied request with its cache state, if anywhere.
    pub cache_log: Option<reactor::access_log::LogSink>,
    /// TLS towards `https://` upstreams ([`tls::client_config`]); `None`: the webpki
    /// roots only.
    pub upstream_tls: Option<Arc<rustls::ClientConfig>>,
    /// Further origins of the same site, balanced with `upstream` (which still names the
    /// site: cache keys and `Host`).
    pub more_upstreams: Vec<Target>,
    /// How an origin is chosen among several.
    pub balance: Balance,
    /// Failed connections in a row that take an origin out (0: never). Default 1.
    pub max_fails: u32,
    /// How long an origin stays out after `max_fails`. Default 10 s.
    pub fail_timeout: Duration,
    /// Active health checks: `GET` this path of every origin every `health_interval`
    /// (2xx or 3xx: up; anything else or no answer: down until a check passes).
    pub health_check: Option<String>,
    /// Time between active health checks. Default 5 s.
    pub health_interval: Duration,
    /// Forward-proxy misses (and CONNECT) go through this parent proxy
    /// ([`parse_parent`]).
    pub parent: Option<Target>,
    /// Who may `PURGE` (default: loopback clients only).
    pub purge_allow: AccessList,
}

impl Default for ProxyConfig {
    fn default() -> Self {
        ProxyConfig {
            connect_ports: vec![443],
            forwarded_for: false,
            upstream_timeout: Duration::from_secs(30),
            cache_size: 256 << 20,
            max_object_size: 8 << 20,
            access: AccessList::default(),
            upstream: None,
            pool_per_origin: 64,
            pool_idle_timeout: Duration::from_secs(30),
            dns_ttl: Duration::from_secs(30),
            cache_log: None,
            upstream_tls: None,
            more_upstreams: Vec::new(),
            balance: Balance::RoundRobin,
            max_fails: 1,
            fail_timeout: Duration::from_secs(10),
            health_check: None,
            health_interval: Duration::from_secs(5),
            parent: None,
            purge_allow: AccessList::default(),
        }
    }
}

/// The proxy handler. Shared by every reactor of a server (one cache, one origin pool);
/// clones share it too.
///
/// A caching reverse proxy in front of one origin, on two reactors:
///
/// ```no_run
/// use reactor::{Config, Server};
/// use reactor_handlers::proxy::{parse_upstream, Proxy, ProxyConfig};
///
/// let config = ProxyConfig {
///     upstream: Some(parse_upstream("http://127.0.0.1:8080").expect("valid upstream")),
///     cache_size: 64 << 20,
///     ..ProxyConfig::default()
/// };
/// let server = Server::new(Config { workers: 2, ..Config::default() });
/// server.handler(Proxy::new(config)).start()?.wait();
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Clone)]
pub struct Proxy {
    inner: Arc<Inner>,
}

/// A client waiting for another request's fetch of the same URL (request collapsing).
struct Waiter {
    req: Request,
    target: Target,
    responder: Responder,
    handle: ReactorHandle,
}

pub(crate) struct Inner {
    config: ProxyConfig,
    cache: Option<Cache>,
    dns: Arc<Dns>,
    inflight: Mutex<HashMap<String, Vec<Waiter>>>,
    /// The TLS client configuration for `https://` origins.
    tls: Option<Arc<rustls::ClientConfig>>,
    /// Reverse mode: the origins and their health.
    origins: Option<Arc<Origins>>,
}

/// The `X-Cache` states.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CacheState {
    Hit,
    Miss,
    Revalidated,
    Stale,
}

impl CacheState {
    fn as_str(self) -> &'static str {
        match self {
            CacheState::Hit => "HIT",
            CacheState::Miss => "MISS",
            CacheState::Revalidated => "REVALIDATED",
            CacheState::Stale => "STALE",
        }
    }
}

/// `Via` entries of ours beyond which a request is taken to be looping.
const MAX_HOPS: usize = 3;

const ALLOW: &str = "GET, HEAD, POST, PUT, DELETE, PATCH, OPTIONS, TRACE, CONNECT";

impl Proxy {
    /// A proxy configured by `config`.
    pub fn new(config: ProxyConfig) -> Self {
        let cache =
            (config.cache_size > 0).then(|| Cache::new(config.cache_size, config.max_object_size));
        let tls = config
            .upstream_tls
            .clone()
            .or_else(|| tls::client_config(None).ok());
        let origins = config.upstream.as_ref().map(|first| {
            let mut all = vec![first.clone()];
            all.extend(config.more_upstreams.iter().cloned());
            let (max, timeout) = (config.max_fails, config.fail_timeout);
            Arc::new(Origins::new(all, config.balance, max, timeout))
        });
        if let (Some(origins), Some(path)) = (&origins, &config.health_check) {
            health::spawn(origins, path.clone(), &config, tls.clone());
        }
        Proxy {
            inner: Arc::new(Inner {
                origins,
                tls,
                dns: Arc::new(Dns::new(config.dns_ttl)),
                cache,
                config,
                inflight: Mutex::new(HashMap::new()),
            }),
        }
    }

    /// `(URLs, bytes)` in the cache.
    pub fn cache_usage(&self) -> (usize, usize) {
        self.inner.cache.as_ref().map_or((0, 0), Cache::usage)
    }
}

impl Handler for Proxy {
    fn handle(&self, req: &mut Request, cx: &mut Context<'_>) -> Reply {
        let inner = &self.inner;
        if !inner.config.access.allows(req.peer.ip()) {
            log::info!("{}: refused by the allow list", req.peer);
            return Reply::Response(
                Response::error_with(403, "Your address is not allowed to use this proxy.")
                    .with_header("Connection", "close"),
            );
        }
        if req.method == "CONNECT" {
            return tunnel::connect(inner, req, cx);
        }
        if req.method == "PURGE" {
            return Reply::Response(purge::purge(inner, req));
        }
        let target = match &inner.config.upstream {
            Some(up) if req.target.starts_with('/') => Target {
                path: req.target.clone(),
                ..up.clone()
            },
            _ => match parse_proxy_target(&req.target) {
                Ok(t) => t,
                Err(e) => {
                    return Reply::Response(
                        Response::error_with(400, &format!("Bad request target: {e}."))
                            .with_header("Connection", "close"),
                    )
                }
            },
        };
        if let Some(local) = max_forwards_local(req) {
            return Reply::Response(local);
        }
        // A request that went through us this often is going round in circles (a URL
        // naming the proxy itself, say).
        let hops = req
            .headers
            .get_all("via")
            .map(|v| String::from_utf8_lossy(v).matches("reactor-proxy").count())
            .sum::<usize>();
        if hops >= MAX_HOPS {
            return Reply::Response(Response::error_with(
                502,
                "Forwarding loop detected: the request already passed through this proxy.",
            ));
        }
        // A request that came through us already (a chain, or a loop back to us) must not
        // wait for the fetch it is part of: no collapsing for it.
        inner.dispatch(req, target, cx, None, hops == 0)
    }
}

/// OPTIONS and TRACE with `Max-Forwards: 0` are answered here (RFC 9110 §7.6.2).
fn max_forwards_local(req: &Request) -> Option<Response> {
    if req.method != "OPTIONS" && req.method != "TRACE" {
        return None;
    }
    let n: u32 = req.header("max-forwards")?.trim().parse().ok()?;
    if n > 0 {
        return None;
    }
    Some(if req.method == "OPTIONS" {
        Response::new(200)
            .with_header("Allow", ALLOW)
            .with_header("Content-Length", "0")
    } else {
        let mut echo = format!("TRACE {} {}\r\n", req.target, req.version.as_str()).into_bytes();
        for h in req.headers.iter() {
            echo.extend_from_slice(h.name.as_bytes());
            echo.extend_from_slice(b": ");
            echo.extend_from_slice(&h.value);
            echo.extend_from_slice(b"\r\n");
        }
        echo.extend_from_slice(b"\r\n");
        Response::bytes(200, "message/http", echo)
    })
}

impl Inner {
    /// One line for the cache log (and the error log at info level).
    pub(crate) fn log(&self, req: &Request, status: u16, bytes: Option<u64>, state: &str) {
        cache_log::write(self.config.cache_log.as_ref(), req, status, bytes, state);
    }

    /// Answers `req` from the cache or starts the upstream exchange. With `responder`
    /// (a re-run for a collapsed waiter) every answer goes through it.
    fn dispatch(
        self: &Arc<Self>,
        req: &mut Request,
        target: Target,
        cx: &mut Context<'_>,
        responder: Option<Responder>,
        collapse: bool,
    ) -> Reply {
        let reply = |resp: Response, responder: Option<Responder>| match responder {
            Some(r) => {
                r.send(resp);
                Reply::Later
            }
            None => Reply::Response(resp),
        };
        let url = target.url();
        let is_get = req.method == "GET";
        let req_cc = CacheControl::of_request(&req.headers);
        let cacheable = self.cache.is_some()
            && (is_get || req.method == "HEAD")
            && req.headers.get_bytes("range").is_none();
        let mut mode = Mode::Forward;
        if let (true, Some(cache)) = (cacheable, &self.cache) {
            let now = unix_now();
            if let Some(entry) = cache.lookup(&url, &req.headers) {
                match entry.usable(&req_cc, now) {
                    Use::Fresh => {
                        return reply(self.serve(&entry, req, CacheState::Hit), responder);
                    }
                    Use::Stale => {
                        return reply(self.serve(&entry, req, CacheState::Stale), responder);
                    }
                    Use::StaleWhileRevalidate => {
                        let resp = self.serve(&entry, req, CacheState::Stale);
                        self.background_revalidate(req, &target, &url, entry, cx);
                        return reply(resp, responder);
                    }
                    Use::Validate if req_cc.only_if_cached => {}
                    Use::Validate => mode = Mode::Revalidate(entry),
                }
            }
            if req_cc.only_if_cached && matches!(mode, Mode::Forward) {
                let resp =
                    Response::error_with(504, "The response is not in the cache (only-if-cached).");
                self.log(req, 504, None, CacheState::Miss.as_str());
                return reply(resp, responder);
            }
        }
        // A revalidation is a GET even for a HEAD, so its full answer may be stored too.
        let revalidating = matches!(mode, Mode::Revalidate(_));
        let storable_req = cacheable && (is_get || revalidating) && !req_cc.no_store;
        // Past the cache: the exchange needs its own copy of the request.
        let mut owned = req.clone();
        owned.body = std::mem::take(&mut req.body);
        let req = owned;
        if storable_req && collapse && matches!(mode, Mode::Forward) {
            // Concurrent misses for one URL: the first leads, the others wait for it.
            return match self.join_or_lead(&url, req, target, cx, responder) {
                Some((req, target, responder, slot)) => {
                    let slot = Some(slot);
                    self.start_exchange(req, target, cx, responder, mode, slot, storable_req)
                }
                None => Reply::Later,
            };
        }
        self.start_exchange(req, target, cx, responder, mode, None, storable_req)
    }

    #[allow(clippy::too_many_arguments)]
    fn start_exchange(
        self: &Arc<Self>,
        req: Request,
        target: Target,
        cx: &mut Context<'_>,
        responder: Option<Responder>,
        mode: Mode,
        slot: Option<Slot>,
        storable_req: bool,
    ) -> Reply {
        let responder = responder.unwrap_or_else(|| cx.responder());
        let ex = Exchange::new(
            self.clone(),
            req,
            target,
            mode,
            Some(responder),
            slot,
            storable_req,
        );
        exchange::start(ex, cx);
        Reply::Later
    }

    /// Joins an in-flight fetch of `url` (`None`: queued as a waiter) or becomes its
    /// leader (everything handed back, with the leadership).
    #[allow(clippy::type_complexity)]
    fn join_or_lead(
        self: &Arc<Self>,
        url: &str,
        req: Request,
        target: Target,
        cx: &mut Context<'_>,
        responder: Option<Responder>,
    ) -> Option<(Request, Target, Option<Responder>, Slot)> {
        let Ok(mut inflight) = self.inflight.lock() else {
            return Some((req, target, responder, Slot::detached(self.clone())));
        };
        if let Some(waiters) = inflight.get_mut(url) {
            let responder = responder.unwrap_or_else(|| cx.responder());
            waiters.push(Waiter {
                req,
                target,
                responder,
                handle: cx.handle(),
            });
            return None;
        }
        inflight.insert(url.to_string(), Vec::new());
        Some((
            req,
            target,
            responder,
            Slot {
                inner: self.clone(),
                key: Some(url.to_string()),
            },
        ))
    }

    /// Starts a revalidation nobody waits for, unless one is already running.
    fn background_revalidate(
        self: &Arc<Self>,
        req: &Request,
        target: &Target,
        url: &str,
        entry: Arc<Entry>,
        cx: &mut Context<'_>,
    ) {
        let slot = {
            let Ok(mut inflight) = self.inflight.lock() else {
                return;
            };
            if inflight.contains_key(url) {
                return;
            }
            inflight.insert(url.to_string(), Vec::new());
            Slot {
                inner: self.clone(),
                key: Some(url.to_string()),
            }
        };
        let mut req = req.clone();
        req.method = "GET".into();
        let ex = Exchange::new(
            self.clone(),
            req,
            target.clone(),
            Mode::Revalidate(entry),
            None,
            Some(slot),
            true,
        );
        exchange::start(ex, cx);
    }

    /// A response from a stored entry: the client's conditionals answered (304), `Age`,
    /// `Via` and `X-Cache` added, the body shared.
    pub(crate) fn serve(&self, entry: &Entry, req: &Request, state: CacheState) -> Response {
        let now = unix_now();
        let age = entry.age(now).to_string();
        if entry.status == 200 && not_modified(entry, req) {
            self.log(req, 304, None, state.as_str());
            let mut r = Response::new(304);
            for (n, v) in &entry.headers {
                let keep = [
                    "etag",
                    "last-modified",
                    "cache-control",
                    "expires",
                    "vary",
                    "content-location",
                    "date",
                ]
                .iter()
                .any(|k| n.eq_ignore_ascii_case(k));
                if keep {
                    r.headers.push((n.clone().into(), v.clone().into()));
                }
            }
            return r
                .with_header("Age", age)
                .with_header("Via", headers::VIA)
                .with_header("X-Cache", state.as_str());
        }
        let bytes = (req.method != "HEAD").then_some(entry.body.len() as u64);
        self.log(req, entry.status, bytes, state.as_str());
        let mut r = Response::new(entry.status);
        r.headers.reserve(entry.headers.len() + 3);
        for (n, v) in &entry.headers {
            r.headers.push((n.clone().into(), v.clone().into()));
        }
        if entry.body.is_empty() {
            r.headers.push(("Content-Length".into(), "0".into()));
        } else {
            r.body = Body::from(entry.body.clone());
        }
        r.with_header("Age", age)
            .with_header("Via", headers::VIA)
            .with_header("X-Cache", state.as_str())
    }
}

/// The client's If-None-Match / If-Modified-Since against a stored entry.
fn not_modified(entry: &Entry, req: &Request) -> bool {
    if !req.is_get_or_head() {
        return false;
    }
    let inm = req.header("if-none-match");
    let lm = entry.last_modified().and_then(parse_http_date);
    let ims = req.header("if-modified-since").filter(|_| lm.is_some());
    if inm.is_none() && ims.is_none() {
        return false;
    }
    let c = Conditions {
        if_none_match: inm,
        if_modified_since: ims,
        ..Default::default()
    };
    let v = Validators {
        etag: entry.etag().unwrap_or(""),
        last_modified: lm.unwrap_or(UNIX_EPOCH),
    };
    evaluate(true, &c, &v) == Precondition::NotModified
}

/// Leadership of an in-flight fetch: when it ends, the waiters are answered. Dropped
/// without an outcome, they get 502.
pub(crate) struct Slot {
    inner: Arc<Inner>,
    key: Option<String>,
}

impl Slot {
    fn detached(inner: Arc<Inner>) -> Slot {
        Slot { inner, key: None }
    }

    fn take_waiters(&mut self) -> Vec<Waiter> {
        let Some(key) = self.key.take() else {
            return Vec::new();
        };
        self.inner
            .inflight
            .lock()
            .ok()
            .and_then(|mut m| m.remove(&key))
            .unwrap_or_default()
    }

    /// The fetch is over (stored or not): each waiter looks in the cache again, on its own
    /// reactor, and fetches for itself if there is nothing usable.
    pub(crate) fn done(mut self) {
        for w in self.take_waiters() {
            let inner = self.inner.clone();
            let Waiter {
                req,
                target,
                responder,
                handle,
            } = w;
            handle.run(move |cx| {
                let mut req = req;
                inner.dispatch(&mut req, target, cx, Some(responder), false);
            });
        }
    }

    /// The fetch failed: every waiter gets the same error.
    pub(crate) fn fail(mut self, status: u16, detail: &str) {
        for w in self.take_waiters() {
            w.responder.send(Response::error_with(status, detail));
        }
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        for w in self.take_waiters() {
            w.responder
                .send(Response::error_with(502, "The origin fetch was abandoned."));
        }
    }
}

/// An origin's response head as the proxy parses it: `(bytes used, status, HTTP/1.x minor
/// version, fields)`, `None` while incomplete. Public for fuzzing.
///
/// ```
/// use reactor_handlers::proxy::parse_response_head;
/// let (used, status, _, fields) = parse_response_head(b"HTTP/1.1 200 OK\r\nAge: 1\r\n\r\nxy")
///     .unwrap()
///     .unwrap();
/// assert_eq!((used, status, fields.len()), (29, 200, 1));
/// assert!(parse_response_head(b"HTTP/1.1 200 OK\r\n").unwrap().is_none());
/// ```
#[allow(clippy::type_complexity)]
pub fn parse_response_head(
    buf: &[u8],
) -> Result<Option<(usize, u16, u8, Vec<(String, String)>)>, String> {
    Ok(head::parse_head(buf)?.map(|(n, h)| (n, h.status, h.version, h.headers)))
}

/// Parses `--upstream http://HOST:PORT` (or `https://`) for reverse mode.
pub fn parse_upstream(s: &str) -> Result<Target, String> {
    let t = target::parse_origin_url(s).map_err(|e| e.to_string())?;
    if t.path != "/" {
        return Err("the upstream must be http(s)://HOST:PORT without a path".into());
    }
    Ok(t)
}

/// Parses `--parent HOST:PORT` (a parent proxy, spoken to in plain HTTP).
///
/// ```
/// let p = reactor_handlers::proxy::parse_parent("squid.example:3128").expect("valid");
/// assert_eq!((p.host.as_str(), p.port), ("squid.example", 3128));
/// assert!(reactor_handlers::proxy::parse_parent("squid.example").is_err());
/// ```
pub fn parse_parent(s: &str) -> Result<Target, String> {
    let (host, port) = target::parse_authority(s).map_err(|e| e.to_string())?;
    Ok(Target {
        tls: false,
        host,
        port,
        path: "/".into(),
    })
}

/// Parses a comma-separated port list such as `443,8443`.
pub fn parse_ports(s: &str) -> Result<Vec<u16>, String> {
    s.split(',')
        .map(|p| {
            p.trim()
                .parse::<u16>()
                .ok()
                .filter(|&n| n > 0)
                .ok_or_else(|| format!("invalid port {p:?}"))
        })
        .collect()
}
