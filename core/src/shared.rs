//! What every reactor of a server shares: the configuration, the plugin chain, the
//! blocking pool, the counters and the stop flag.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU8};
use std::sync::Arc;
use std::time::Duration;

use crate::access_log::LogSink;
use crate::body_budget::BodyBudget;
use crate::exchange::Chain;
use crate::notify::Notifier;
use crate::parse::Limits;
use crate::pool::Pool;
use crate::stats::Stats;
use crate::tls::Acceptor;

/// Timeouts, as nginx names them where it has them.
#[derive(Debug, Clone, Copy)]
pub struct Timeouts {
    /// Time to receive a whole request head (nginx `client_header_timeout`).
    pub header: Duration,
    /// Longest pause between two reads of a request body (`client_body_timeout`).
    pub body: Duration,
    /// How long an idle keep-alive connection stays open (`keepalive_timeout`).
    pub keep_alive: Duration,
    /// Longest pause between two writes of a response (`send_timeout`).
    pub send: Duration,
    /// How long we drain a client after our last response before closing (`lingering_timeout`).
    pub linger: Duration,
    /// How long a tunnel may stay silent in both directions.
    pub tunnel_idle: Duration,
    /// On graceful shutdown, how long in-flight responses may take.
    pub shutdown_grace: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts {
            header: Duration::from_secs(20),
            body: Duration::from_secs(60),
            keep_alive: Duration::from_secs(60),
            send: Duration::from_secs(60),
            linger: Duration::from_secs(5),
            tunnel_idle: Duration::from_secs(300),
            shutdown_grace: Duration::from_secs(30),
        }
    }
}

/// Everything that shapes a server.
#[derive(Clone)]
pub struct Config {
    /// Address to listen on.
    pub bind: SocketAddr,
    /// Independent reactors (threads), each with its own `SO_REUSEPORT` listener.
    pub workers: usize,
    /// Threads in the blocking pool.
    pub threads: usize,
    /// Jobs the blocking pool may queue before new requests get 503 (default 4,096: a
    /// burst of a few thousand clients is queued, a sustained overload is shed).
    pub queue: usize,
    /// Request size limits.
    pub limits: Limits,
    /// Timeouts.
    pub timeouts: Timeouts,
    /// Open connections per reactor beyond which new ones are closed at once.
    pub max_connections: usize,
    /// Bytes of request bodies that all connections together may hold in memory while
    /// reading them whole (default 256 MiB); a body past it is refused with 503 and
    /// `Retry-After`. Streamed bodies ([`crate::Handler::streams_body`]) do not count.
    pub max_body_memory: usize,
    /// Where the access log goes, if anywhere.
    pub access_log: Option<LogSink>,
    /// Whether a connection that starts with the HTTP/2 preface speaks HTTP/2 (prior
    /// knowledge, RFC 9113 §3.3); otherwise it gets HTTP/1.1's answer to a bad request.
    pub http2: bool,
    /// TLS for every connection (`None`: plain HTTP).
    pub tls: Option<Acceptor>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            bind: SocketAddr::from(([127, 0, 0, 1], 8080)),
            workers: 1,
            threads: 4,
            queue: 4096,
            limits: Limits::default(),
            timeouts: Timeouts::default(),
            max_connections: 10_000,
            max_body_memory: 256 * 1024 * 1024,
            access_log: None,
            http2: true,
            tls: None,
        }
    }
}

/// What every reactor of a server shares (read-only, or atomics).
pub(crate) struct Shared {
    pub chain: Chain,
    pub config: Config,
    pub pool: Pool,
    pub stats: Arc<Stats>,
    /// Request-body bytes held by every connection, bounded by `config.max_body_memory`.
    pub body_budget: Arc<BodyBudget>,
}

pub(crate) const STOP_GRACEFUL: u8 = 1;
pub(crate) const STOP_FORCE: u8 = 2;

/// Shared stop flag plus the wakers of every reactor.
pub(crate) struct StopState {
    pub state: AtomicU8,
    /// A reactor died (the process should exit with a failure status).
    pub failed: AtomicBool,
    wakers: Vec<Arc<Notifier>>,
}

impl StopState {
    pub(crate) fn new(wakers: Vec<Arc<Notifier>>) -> Self {
        StopState {
            state: AtomicU8::new(0),
            failed: AtomicBool::new(false),
            wakers,
        }
    }

    /// Wakes every reactor (to notice a change of `state`).
    pub(crate) fn wake_all(&self) {
        for n in &self.wakers {
            n.wake();
        }
    }
}
