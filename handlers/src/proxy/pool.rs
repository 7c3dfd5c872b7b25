//! Idle keep-alive connections to origins. They stay registered with the reactor that used
//! them (no deregister/re-register or descriptor juggling per request): each reactor thread
//! keeps an [`IdleSet`] of `(socket, hand-off)` pairs, at most `per_origin` per origin
//! address. The idle socket's handler closes itself when the origin closes, sends stray
//! bytes, or its idle deadline passes, and leaves the set then ([`IdleSet::forget`]).

use std::collections::HashMap;
use std::net::SocketAddr;

use reactor::SocketId;

/// Idle connections of one reactor thread, most recently parked last.
pub struct IdleSet<T> {
    map: HashMap<SocketAddr, Vec<(SocketId, T)>>,
}

impl<T> Default for IdleSet<T> {
    fn default() -> Self {
        IdleSet {
            map: HashMap::new(),
        }
    }
}

impl<T> IdleSet<T> {
    /// Parks socket `id` (its hand-off `t`) for `addr`; false when `per_origin` are
    /// already idle (the caller then closes it).
    pub fn park(&mut self, addr: SocketAddr, id: SocketId, t: T, per_origin: usize) -> bool {
        let list = self.map.entry(addr).or_default();
        if list.len() >= per_origin {
            return false;
        }
        list.push((id, t));
        true
    }

    /// The most recently parked connection to `addr` (warmest, least likely closed).
    pub fn unpark(&mut self, addr: SocketAddr) -> Option<(SocketId, T)> {
        let list = self.map.get_mut(&addr)?;
        let got = list.pop();
        if list.is_empty() {
            self.map.remove(&addr);
        }
        got
    }

    /// Removes socket `id` (it is closing).
    pub fn forget(&mut self, addr: SocketAddr, id: SocketId) {
        if let Some(list) = self.map.get_mut(&addr) {
            list.retain(|(i, _)| *i != id);
            if list.is_empty() {
                self.map.remove(&addr);
            }
        }
    }

    /// Idle connections held for `addr`.
    pub fn count(&self, addr: SocketAddr) -> usize {
        self.map.get(&addr).map_or(0, Vec::len)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounded_lifo_and_forget() {
        let a: SocketAddr = "127.0.0.1:1".parse().unwrap();
        let b: SocketAddr = "127.0.0.1:2".parse().unwrap();
        let mut s: IdleSet<u8> = IdleSet::default();
        let ids = test_ids();
        assert!(s.park(a, ids[0], 0, 2));
        assert!(s.park(a, ids[1], 1, 2));
        assert!(!s.park(a, ids[2], 2, 2));
        assert!(s.park(b, ids[2], 2, 2));
        assert_eq!(s.count(a), 2);
        assert_eq!(s.unpark(a).map(|(_, t)| t), Some(1));
        s.forget(a, ids[0]);
        assert_eq!(s.count(a), 0);
        assert!(s.unpark(a).is_none());
        assert_eq!(s.unpark(b).map(|(_, t)| t), Some(2));
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
