//! Idle keep-alive connections to origins. They stay registered with the reactor that used
//! them (no deregister/re-register or descriptor juggling per request): each reactor thread
//! keeps an [`IdleSet`] of `(socket, hand-off)` pairs, at most `per_origin` per origin
//! address. The idle socket's handler closes itself when the origin closes, sends stray
//! bytes, or its idle deadline passes, and leaves the set then ([`IdleSet::forget`]).

use std::collections::HashMap;
use std::hash::Hash;

use reactor::SocketId;

/// Idle connections of one reactor thread by origin key `K` (an address, say), most
/// recently parked last.
pub struct IdleSet<K, T> {
    map: HashMap<K, Vec<(SocketId, T)>>,
}

impl<K, T> Default for IdleSet<K, T> {
    fn default() -> Self {
        IdleSet {
            map: HashMap::new(),
        }
    }
}

impl<K: Hash + Eq, T> IdleSet<K, T> {
    /// Parks socket `id` (its hand-off `t`) for `key`; false when `per_origin` are
    /// already idle (the caller then closes it).
    pub fn park(&mut self, key: K, id: SocketId, t: T, per_origin: usize) -> bool {
        let list = self.map.entry(key).or_default();
        if list.len() >= per_origin {
            return false;
        }
        list.push((id, t));
        true
    }

    /// The most recently parked connection for `key` (warmest, least likely closed).
    pub fn unpark(&mut self, key: &K) -> Option<(SocketId, T)> {
        let list = self.map.get_mut(key)?;
        let got = list.pop();
        if list.is_empty() {
            self.map.remove(key);
        }
        got
    }

    /// Removes socket `id` (it is closing).
    pub fn forget(&mut self, key: &K, id: SocketId) {
        if let Some(list) = self.map.get_mut(key) {
            list.retain(|(i, _)| *i != id);
            if list.is_empty() {
                self.map.remove(key);
            }
        }
    }

    /// Idle connections held for `key`.
    pub fn count(&self, key: &K) -> usize {
        self.map.get(key).map_or(0, Vec::len)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::SocketAddr;

    #[test]
    fn bounded_lifo_and_forget() {
        let a: SocketAddr = "127.0.0.1:1".parse().unwrap();
        let b: SocketAddr = "127.0.0.1:2".parse().unwrap();
        let mut s: IdleSet<SocketAddr, u8> = IdleSet::default();
        let ids = test_ids();
        assert!(s.park(a, ids[0], 0, 2));
        assert!(s.park(a, ids[1], 1, 2));
        assert!(!s.park(a, ids[2], 2, 2));
        assert!(s.park(b, ids[2], 2, 2));
        assert_eq!(s.count(&a), 2);
        assert_eq!(s.unpark(&a).map(|(_, t)| t), Some(1));
        s.forget(&a, ids[0]);
        assert_eq!(s.count(&a), 0);
        assert!(s.unpark(&a).is_none());
        assert_eq!(s.unpark(&b).map(|(_, t)| t), Some(2));
    }

    /// Three distinct socket ids, taken from a real reactor's registrations.
    fn test_ids() -> Vec<SocketId> {
        use std::sync::mpsc;
        struct Grab(mpsc::Sender<Vec<SocketId>>);
        struct Dummy(mio::net::UdpSocket);
        impl reactor::SocketHandler for Dummy {
            fn source(&mut self) -> &mut dyn mio::event::Source {
                &mut self.0
            }
            fn ready(&mut self, _: reactor::Ready, _: &mut reactor::Context<'_>) -> bool {
                true
            }
        }
        impl reactor::Handler for Grab {
            fn handle(
                &self,
                _: &mut reactor::Request,
                cx: &mut reactor::Context<'_>,
            ) -> reactor::Reply {
                let ids = (0..3)
                    .map(|_| {
                        let s = mio::net::UdpSocket::bind("127.0.0.1:0".parse().unwrap()).unwrap();
                        cx.register(Box::new(Dummy(s)), mio::Interest::READABLE)
                            .unwrap()
                    })
                    .collect();
                let _ = self.0.send(ids);
                reactor::Reply::Response(reactor::Response::text(200, "ok"))
            }
        }
        let (tx, rx) = mpsc::channel();
        let server =
            reactor::testing::serve(reactor::Server::new(Default::default()).handler(Grab(tx)));
        reactor::testing::Client::connect(server.local_addr()).get("/");
        rx.recv().unwrap()
    }
}
