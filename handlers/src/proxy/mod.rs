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
mod args;
pub mod auth;
pub mod balance;
pub mod cache;
pub mod cache_log;
mod collapse;
mod config;
pub mod disk;
mod disk_hit;
pub mod dns;
mod exchange;
pub mod fill;
pub mod head;
pub mod headers;
mod health;
pub mod lru;
pub mod pass;
pub mod pool;
mod purge;
mod serve;
pub mod target;
pub mod targeted;
pub mod tls;
mod tunnel;
mod upstream;
pub mod vary;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use reactor::{Context, Handler, Reply, Request, Responder, Response};

pub use args::{parse_parent, parse_ports, parse_response_head, parse_upstream};
use balance::Origins;
use cache::{unix_now, Cache, CacheControl, Use};
use collapse::{Slot, Waiter};
pub use config::ProxyConfig;
use dns::Dns;
use exchange::{Exchange, Mode};
use target::{parse_proxy_target, Target};

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

pub(crate) struct Inner {
    config: ProxyConfig,
    cache: Option<Cache>,
    dns: Arc<Dns>,
    inflight: Mutex<HashMap<String, Vec<Waiter>>>,
    /// The TLS client configuration for `https://` origins.
    tls: Option<Arc<rustls::ClientConfig>>,
    /// Reverse mode: the origins and their health.
    origins: Option<Arc<Origins>>,
    /// URLs whose requests are not collapsed (their last response was not storable).
    pass: pass::PassList,
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
        let targeted = config
            .upstream
            .as_ref()
            .and(config.cdn_cache_control.clone());
        let cache = (config.cache_size > 0).then(|| {
            Cache::new(config.cache_size, config.max_object_size)
                .targeting(targeted)
                .with_disk(config.disk.clone())
        });
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
                pass: pass::PassList::default(),
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
        if let Some(auth) = &inner.config.proxy_auth {
            if auth::required(inner, req) {
                return auth::gate(inner, auth, req, cx);
            }
        }
        inner.route(req, cx, None)
    }
}

/// Answers now, or through `responder` when there is one (the request was deferred).
fn answer(resp: Response, responder: Option<Responder>) -> Reply {
    match responder {
        Some(r) => {
            r.send(resp);
            Reply::Later
        }
        None => Reply::Response(resp),
    }
}

impl Inner {
    /// Where an admitted request goes: a tunnel, the cache or an origin. With `responder`
    /// (the request was deferred, e.g. for proxy authentication) every answer goes
    /// through it.
    fn route(
        self: &Arc<Self>,
        req: &mut Request,
        cx: &mut Context<'_>,
        responder: Option<Responder>,
    ) -> Reply {
        let inner = self;
        if req.method == "CONNECT" {
            return tunnel::connect(inner, req, cx, responder);
        }
        if req.method == "PURGE" {
            return answer(purge::purge(inner, req), responder);
        }
        let target = match &inner.config.upstream {
            Some(up) if req.target.starts_with('/') => Target {
                path: req.target.clone(),
                ..up.clone()
            },
            _ => match parse_proxy_target(&req.target) {
                Ok(t) => t,
                Err(e) => {
                    return answer(
                        Response::error_with(400, &format!("Bad request target: {e}."))
                            .with_header("Connection", "close"),
                        responder,
                    )
                }
            },
        };
        if let Some(local) = max_forwards_local(req) {
            return answer(local, responder);
        }
        // A request that went through us this often is going round in circles (a URL
        // naming the proxy itself, say).
        let hops = req
            .headers
            .get_all("via")
            .map(|v| String::from_utf8_lossy(v).matches("reactor-proxy").count())
            .sum::<usize>();
        if hops >= MAX_HOPS {
            let detail = "Forwarding loop detected: the request already passed through this proxy.";
            return answer(Response::error_with(502, detail), responder);
        }
        // A request that came through us already (a chain, or a loop back to us) must not
        // wait for the fetch it is part of: no collapsing for it.
        inner.dispatch(req, target, cx, responder, hops == 0)
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
        // The client's proxy credentials were for us: never echoed.
        for h in req
            .headers
            .iter()
            .filter(|h| !h.name.eq_ignore_ascii_case("proxy-authorization"))
        {
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
        let reply = answer;
        let url = target.url();
        let is_get = req.method == "GET";
        let req_cc = CacheControl::of_request(&req.headers);
        // A range is answered from a complete stored response, never stored itself.
        let ranged = req.headers.get_bytes("range").is_some();
        let cacheable = self.cache.is_some() && (is_get || req.method == "HEAD");
        let mut mode = Mode::Forward;
        if let (true, Some(cache)) = (cacheable, &self.cache) {
            if let Some(disk) = cache.disk_candidate(&url) {
                let disk = disk.clone();
                return self.from_disk(disk, req, target, url, cx, responder, collapse);
            }
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
                    Use::Validate if req_cc.only_if_cached || ranged => {}
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
        let storable_req = cacheable && !ranged && (is_get || revalidating) && !req_cc.no_store;
        // Past the cache: the exchange needs its own copy of the request.
        let mut owned = req.clone();
        owned.body = std::mem::take(&mut req.body);
        let req = owned;
        let collapse = collapse && !self.pass.contains(&url);
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
}
