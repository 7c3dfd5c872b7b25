//! Per-thread spare lists for the two collections every [`Response`](crate::Response) fills: its header
//! list and its body's part list. A response gives them back when it is dropped (after
//! the connection has encoded it), and the next response on the same thread takes them,
//! so a keep-alive request served from a cache allocates nothing for them. Connections
//! going idle leave their write queue here too, so an idle connection holds none.
//!
//! Thread-local rather than per reactor because handlers build responses without a
//! handle on their reactor; a response built on a pool thread and dropped on a reactor
//! simply leaves its lists with the reactor.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::thread::LocalKey;

use crate::outbuf::Chunk;
use crate::response::{HeaderValue, Part};

/// Most spare lists of each kind kept per thread.
const MAX_SPARE: usize = 32;
/// Lists that grew beyond this many entries are not kept.
const MAX_KEPT_LEN: usize = 32;

type Headers = Vec<(HeaderValue, HeaderValue)>;

thread_local! {
    static HEADERS: RefCell<Vec<Headers>> = const { RefCell::new(Vec::new()) };
    static PARTS: RefCell<Vec<Vec<Part>>> = const { RefCell::new(Vec::new()) };
    static WRITE_QUEUES: RefCell<Vec<VecDeque<Chunk>>> = const { RefCell::new(Vec::new()) };
}

/// An empty header list with room, recycled when there is one.
pub(crate) fn headers() -> Headers {
    take(&HEADERS).unwrap_or_else(|| Vec::with_capacity(8))
}

/// An empty part list with room, recycled when there is one.
pub(crate) fn parts() -> Vec<Part> {
    take(&PARTS).unwrap_or_else(|| Vec::with_capacity(2))
}

/// An empty write queue with room, recycled when there is one.
pub(crate) fn write_queue() -> VecDeque<Chunk> {
    take(&WRITE_QUEUES).unwrap_or_else(|| VecDeque::with_capacity(4))
}

/// Keeps the (empty) write queue of a connection going idle.
pub(crate) fn give_write_queue(queue: VecDeque<Chunk>) {
    if queue.is_empty() && queue.capacity() != 0 && queue.capacity() <= MAX_KEPT_LEN {
        give(&WRITE_QUEUES, queue);
    }
}

/// Keeps the (emptied) header list of a response that is done with.
pub(crate) fn give_headers(mut list: Headers) {
    if list.capacity() != 0 && list.capacity() <= MAX_KEPT_LEN {
        list.clear();
        give(&HEADERS, list);
    }
}

/// Keeps the (emptied) part list of a body that is done with.
pub(crate) fn give_parts(mut list: Vec<Part>) {
    if list.capacity() != 0 && list.capacity() <= MAX_KEPT_LEN {
        list.clear();
        give(&PARTS, list);
    }
}

fn take<T>(key: &'static LocalKey<RefCell<Vec<T>>>) -> Option<T> {
    key.try_with(|s| s.try_borrow_mut().ok()?.pop())
        .ok()
        .flatten()
}

fn give<T>(key: &'static LocalKey<RefCell<Vec<T>>>, item: T) {
    // During thread teardown, or if the list is busy, the item is simply dropped.
    let _ = key.try_with(|s| {
        if let Ok(mut s) = s.try_borrow_mut() {
            if s.len() < MAX_SPARE {
                s.push(item);
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::response::{Body, Response};

    #[test]
    fn a_dropped_response_lends_its_lists_to_the_next() {
        let r = Response::new(200)
            .with_header("A", "1")
            .with_body(Body::from(b"x".to_vec()));
        let headers_ptr = r.headers.as_ptr();
        drop(r);
        let again = Response::new(200).with_header("B", "2");
        assert_eq!(again.headers.as_ptr(), headers_ptr);
        assert_eq!(again.headers.len(), 1);
    }

    #[test]
    fn big_lists_are_not_kept() {
        let mut big = Vec::with_capacity(MAX_KEPT_LEN + 1);
        big.push(("A".into(), "1".into()));
        give_headers(big);
        assert!(headers().capacity() <= MAX_KEPT_LEN);
    }
}
