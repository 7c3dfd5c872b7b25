//! Allocations a reactor reuses from one request to the next: request heads (their
//! method, target and header strings keep their capacity) and response head buffers.
//! Kept per reactor rather than per connection, so an idle connection holds none.

use std::net::SocketAddr;

use crate::request::Request;

/// Most spare requests and head buffers kept (more are dropped).
const MAX_SPARE: usize = 64;
/// A request whose body buffer grew beyond this gives the buffer up when recycled.
const MAX_KEPT_BODY: usize = 16 * 1024;
/// Head buffers that grew beyond this are not kept.
const MAX_KEPT_HEAD: usize = 8 * 1024;
/// Except that this many buffers that held a batch of pipelined answers are kept (up to
/// twice the batch size), so that pipelining clients do not cost an allocation a batch.
const MAX_BIG_HEADS: usize = 8;
const MAX_KEPT_BIG_HEAD: usize = 2 * crate::outbuf::JOIN_LIMIT;

/// The spare allocations of one reactor.
#[derive(Default)]
pub(crate) struct Recycler {
    // Boxed because they move to and from a connection's `current: Option<Box<Request>>`
    // as they are: no allocation either way.
    #[allow(clippy::vec_box)]
    requests: Vec<Box<Request>>,
    heads: Vec<Vec<u8>>,
    big_heads: Vec<Vec<u8>>,
}

impl Recycler {
    /// A request to parse into: a recycled one, or a new empty one.
    pub fn request(&mut self, peer: SocketAddr) -> Box<Request> {
        match self.requests.pop() {
            Some(mut r) => {
                r.peer = peer;
                r
            }
            None => Box::new(Request::empty(peer)),
        }
    }

    /// Takes back a request that is done with; its body is emptied.
    pub fn give_request(&mut self, mut req: Box<Request>) {
        if self.requests.len() < MAX_SPARE {
            if req.body.capacity() > MAX_KEPT_BODY {
                req.body = Vec::new();
            } else {
                req.body.clear();
            }
            self.requests.push(req);
        }
    }

    /// An empty buffer to encode a response head into.
    pub fn head(&mut self) -> Vec<u8> {
        // A big one first: it may become the buffer of a batch of pipelined answers.
        self.big_heads
            .pop()
            .or_else(|| self.heads.pop())
            .unwrap_or_else(|| Vec::with_capacity(256))
    }

    /// Takes back a head buffer that has been written.
    pub fn give_head(&mut self, mut buf: Vec<u8>) {
        buf.clear();
        if buf.capacity() <= MAX_KEPT_HEAD {
            if self.heads.len() < MAX_SPARE {
                self.heads.push(buf);
            }
        } else if buf.capacity() <= MAX_KEPT_BIG_HEAD && self.big_heads.len() < MAX_BIG_HEADS {
            self.big_heads.push(buf);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reuses_and_bounds() {
        let peer = "127.0.0.1:1".parse().unwrap();
        let mut r = Recycler::default();
        let mut req = r.request(peer);
        req.target.push_str("/some/long/target");
        req.body = vec![0; MAX_KEPT_BODY + 1];
        let target_ptr = req.target.as_ptr();
        r.give_request(req);
        let again = r.request(peer);
        assert_eq!(again.target.as_ptr(), target_ptr);
        assert_eq!(again.body.capacity(), 0);
        r.give_head(Vec::with_capacity(MAX_KEPT_BIG_HEAD + 1));
        assert_eq!(r.head().capacity(), 256);
        r.give_head(Vec::with_capacity(100));
        r.give_head(Vec::with_capacity(MAX_KEPT_HEAD + 1));
        assert_eq!(r.head().capacity(), MAX_KEPT_HEAD + 1);
        assert_eq!(r.head().capacity(), 100);
    }
}
