//! How the proxy is configured: [`ProxyConfig`] and its defaults.

use std::sync::Arc;
use std::time::Duration;

use super::access::AccessList;
use super::balance::Balance;
use super::target::Target;
use super::{auth, disk};

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
    /// TLS towards `https://` upstreams ([`super::tls::client_config`]); `None`: the webpki
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
    /// ([`super::parse_parent`]).
    pub parent: Option<Target>,
    /// Who may `PURGE` (default: loopback clients only).
    pub purge_allow: AccessList,
    /// Forward-proxy clients must authenticate (`Proxy-Authorization: Basic`) against
    /// these credentials.
    pub proxy_auth: Option<Arc<auth::ProxyAuth>>,
    /// The disk tier under the memory cache (`--cache-dir`), if any.
    pub disk: Option<Arc<disk::DiskTier>>,
    /// Reverse mode: the targeted cache-control field obeyed over `Cache-Control`
    /// (RFC 9213). Default `CDN-Cache-Control`; `None` turns it off.
    pub cdn_cache_control: Option<String>,
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
            proxy_auth: None,
            disk: None,
            cdn_cache_control: Some("CDN-Cache-Control".into()),
        }
    }
}
