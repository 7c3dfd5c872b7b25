//! Name lookups for origins: IP literals at once, names through the system resolver on the
//! blocking pool, with a small cache that keeps answers for a fixed time.

use std::collections::HashMap;
use std::io;
use std::net::{IpAddr, SocketAddr, ToSocketAddrs};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Entries beyond which the cache is emptied (it only holds recent answers).
const MAX_ENTRIES: usize = 4096;

/// A resolver with a TTL cache. Thread-safe; `resolve` blocks and belongs on the pool.
pub struct Dns {
    ttl: Duration,
    cache: Mutex<HashMap<(String, u16), (SocketAddr, Instant)>>,
}

impl Dns {
    /// A resolver that remembers answers for `ttl`.
    pub fn new(ttl: Duration) -> Self {
        Dns {
            ttl,
            cache: Mutex::new(HashMap::new()),
        }
    }

    /// The address without blocking: IP literals and cached names; `None` means a lookup
    /// is needed.
    pub fn cached(&self, host: &str, port: u16) -> Option<SocketAddr> {
        if let Ok(ip) = host.parse::<IpAddr>() {
            return Some(SocketAddr::new(ip, port));
        }
        let cache = self.cache.lock().ok()?;
        let (addr, at) = cache.get(&(host.to_string(), port))?;
        (at.elapsed() < self.ttl).then_some(*addr)
    }

    /// Looks `host` up with the system resolver (blocking), preferring IPv4, and caches
    /// the answer.
    pub fn resolve(&self, host: &str, port: u16) -> io::Result<SocketAddr> {
        if let Some(a) = self.cached(host, port) {
            return Ok(a);
        }
        let addrs: Vec<SocketAddr> = (host, port).to_socket_addrs()?.collect();
        let addr = addrs
            .iter()
            .find(|a| a.is_ipv4())
            .or_else(|| addrs.first())
            .copied()
            .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, "no address found"))?;
        if let Ok(mut cache) = self.cache.lock() {
            if cache.len() >= MAX_ENTRIES {
                cache.clear();
            }
            cache.insert((host.to_string(), port), (addr, Instant::now()));
        }
        Ok(addr)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literals_and_cache() {
        let d = Dns::new(Duration::from_secs(30));
        assert_eq!(
            d.cached("127.0.0.1", 80),
            Some("127.0.0.1:80".parse().unwrap())
        );
        assert_eq!(d.cached("::1", 81), Some("[::1]:81".parse().unwrap()));
        assert_eq!(d.cached("localhost", 80), None);
        let a = d.resolve("localhost", 80).unwrap();
        assert!(a.ip().is_loopback());
        assert_eq!(d.cached("localhost", 80), Some(a));
        let expired = Dns::new(Duration::ZERO);
        expired.resolve("localhost", 80).unwrap();
        assert_eq!(expired.cached("localhost", 80), None);
    }
}
