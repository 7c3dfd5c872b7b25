//! Idle keep-alive connections to origins, kept off any reactor until reused: at most
//! `per_origin` per address, each for at most `idle_timeout`.

use std::collections::HashMap;
use std::net::{SocketAddr, TcpStream};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// A pool of idle origin connections. Thread-safe.
pub struct OriginPool {
    per_origin: usize,
    idle_timeout: Duration,
    idle: Mutex<HashMap<SocketAddr, Vec<(TcpStream, Instant)>>>,
}

impl OriginPool {
    /// A pool keeping `per_origin` idle connections per origin for `idle_timeout`.
    pub fn new(per_origin: usize, idle_timeout: Duration) -> Self {
        OriginPool {
            per_origin,
            idle_timeout,
            idle: Mutex::new(HashMap::new()),
        }
    }

    /// Returns a connection whose last response ended cleanly. It must be in non-blocking
    /// mode (as every socket taken from the reactor is).
    pub fn put(&self, addr: SocketAddr, stream: TcpStream) {
        let Ok(mut idle) = self.idle.lock() else {
            return;
        };
        let now = Instant::now();
        idle.retain(|_, v| {
            v.retain(|(_, at)| now.duration_since(*at) < self.idle_timeout);
            !v.is_empty()
        });
        let list = idle.entry(addr).or_default();
        if list.len() < self.per_origin {
            list.push((stream, now));
        }
    }

    /// The most recently used idle connection to `addr` that still looks open.
    pub fn take(&self, addr: SocketAddr) -> Option<TcpStream> {
        let mut idle = self.idle.lock().ok()?;
        let list = idle.get_mut(&addr)?;
        while let Some((stream, at)) = list.pop() {
            if at.elapsed() < self.idle_timeout && looks_open(&stream) {
                return Some(stream);
            }
        }
        None
    }

    /// Idle connections held for `addr`.
    pub fn idle_count(&self, addr: SocketAddr) -> usize {
        self.idle
            .lock()
            .map_or(0, |i| i.get(&addr).map_or(0, Vec::len))
    }
}

/// An idle connection must have nothing to read: EOF or stray bytes mean it is unusable.
/// (Pooled sockets are non-blocking: `put` takes them from the reactor as they are.)
fn looks_open(stream: &TcpStream) -> bool {
    let mut b = [0u8; 1];
    matches!(stream.peek(&mut b), Err(e) if e.kind() == std::io::ErrorKind::WouldBlock)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;

    #[test]
    fn reuse_bound_and_liveness() {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        let pool = OriginPool::new(2, Duration::from_secs(10));
        let mut peers = Vec::new();
        for _ in 0..3 {
            let c = TcpStream::connect(addr).unwrap();
            c.set_nonblocking(true).unwrap();
            peers.push(l.accept().unwrap().0);
            pool.put(addr, c);
        }
        assert_eq!(pool.idle_count(addr), 2);
        // The newest one is handed out first; close its peer so it is seen as dead.
        drop(peers.remove(1));
        std::thread::sleep(Duration::from_millis(50));
        let got = pool.take(addr).expect("a live connection");
        assert_eq!(got.peer_addr().unwrap(), addr);
        assert_eq!(pool.idle_count(addr), 0);
        let expired = OriginPool::new(2, Duration::ZERO);
        expired.put(addr, got);
        assert!(expired.take(addr).is_none());
    }
}
