//! A least-recently-used map bounded by total bytes: a slab of nodes linked into a doubly
//! linked list (most recent at the head) plus a `HashMap` from key to slab index.

use std::collections::HashMap;

use slab::Slab;

const NIL: usize = usize::MAX;

struct Node<V> {
    key: String,
    value: V,
    size: usize,
    prev: usize,
    next: usize,
}

/// An LRU map whose entries each weigh `size` bytes; inserting evicts from the cold end
/// until the total fits `capacity`. Entries heavier than `max_item` are refused.
///
/// ```
/// use reactor_handlers::proxy::lru::Lru;
/// let mut lru = Lru::new(10, 10);
/// lru.insert("a".into(), 1, 4);
/// lru.insert("b".into(), 2, 4);
/// lru.get("a");                   // "a" is now the most recent
/// lru.insert("c".into(), 3, 4);   // evicts "b"
/// assert!(lru.peek("b").is_none() && lru.peek("a").is_some());
/// ```
pub struct Lru<V> {
    map: HashMap<String, usize>,
    nodes: Slab<Node<V>>,
    head: usize,
    tail: usize,
    bytes: usize,
    capacity: usize,
    max_item: usize,
}

impl<V> Lru<V> {
    /// An empty map holding at most `capacity` bytes, none of its entries over `max_item`.
    pub fn new(capacity: usize, max_item: usize) -> Self {
        Lru {
            map: HashMap::new(),
            nodes: Slab::new(),
            head: NIL,
            tail: NIL,
            bytes: 0,
            capacity,
            max_item: max_item.min(capacity),
        }
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// Total weight of the entries.
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// The value for `key`, marking it most recently used.
    pub fn get(&mut self, key: &str) -> Option<&V> {
        let idx = *self.map.get(key)?;
        self.unlink(idx);
        self.push_front(idx);
        Some(&self.nodes[idx].value)
    }

    /// The value for `key` without touching its recency.
    pub fn peek(&self, key: &str) -> Option<&V> {
        self.map.get(key).map(|&i| &self.nodes[i].value)
    }

    /// Inserts (or replaces) `key`, evicting least recently used entries until it fits.
    /// Returns false (and stores nothing, dropping any old value) when `size` is over the
    /// per-item limit.
    pub fn insert(&mut self, key: String, value: V, size: usize) -> bool {
        let fits = size <= self.max_item;
        self.insert_evicting(key, value, size);
        fits
    }

    /// Like [`Lru::insert`], returning what was evicted to make room (an entry over the
    /// per-item limit is dropped and not returned).
    pub fn insert_evicting(&mut self, key: String, value: V, size: usize) -> Vec<(String, V)> {
        let mut evicted = Vec::new();
        self.remove(&key);
        if size > self.max_item {
            return evicted;
        }
        while self.bytes + size > self.capacity && self.tail != NIL {
            let key = self.nodes[self.tail].key.clone();
            if let Some(v) = self.remove(&key) {
                evicted.push((key, v));
            }
        }
        let idx = self.nodes.insert(Node {
            key: key.clone(),
            value,
            size,
            prev: NIL,
            next: NIL,
        });
        self.push_front(idx);
        self.map.insert(key, idx);
        self.bytes += size;
        evicted
    }

    /// Removes `key`, returning its value.
    pub fn remove(&mut self, key: &str) -> Option<V> {
        let idx = self.map.remove(key)?;
        self.unlink(idx);
        let node = self.nodes.remove(idx);
        self.bytes -= node.size;
        Some(node.value)
    }

    /// Keys from most to least recently used (for tests and debugging).
    pub fn keys(&self) -> Vec<&str> {
        let mut out = Vec::with_capacity(self.len());
        let mut i = self.head;
        while i != NIL {
            out.push(self.nodes[i].key.as_str());
            i = self.nodes[i].next;
        }
        out
    }

    fn unlink(&mut self, idx: usize) {
        let (prev, next) = (self.nodes[idx].prev, self.nodes[idx].next);
        if prev == NIL {
            self.head = next;
        } else {
            self.nodes[prev].next = next;
        }
        if next == NIL {
            self.tail = prev;
        } else {
            self.nodes[next].prev = prev;
        }
        self.nodes[idx].prev = NIL;
        self.nodes[idx].next = NIL;
    }

    fn push_front(&mut self, idx: usize) {
        self.nodes[idx].next = self.head;
        self.nodes[idx].prev = NIL;
        if self.head != NIL {
            self.nodes[self.head].prev = idx;
        }
        self.head = idx;
        if self.tail == NIL {
            self.tail = idx;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn evicts_least_recent_by_bytes() {
        let mut l = Lru::new(100, 60);
        assert!(l.insert("a".into(), 'a', 40));
        assert!(l.insert("b".into(), 'b', 40));
        assert_eq!(l.get("a"), Some(&'a'));
        assert!(l.insert("c".into(), 'c', 40));
        assert_eq!(l.keys(), vec!["c", "a"]);
        assert_eq!(l.bytes(), 80);
        assert!(l.peek("b").is_none());
    }

    #[test]
    fn refuses_oversized_and_replaces() {
        let mut l = Lru::new(100, 50);
        assert!(l.insert("a".into(), 1, 10));
        assert!(!l.insert("a".into(), 2, 51));
        assert!(l.peek("a").is_none());
        assert_eq!(l.bytes(), 0);
        assert!(l.insert("a".into(), 3, 10));
        assert!(l.insert("a".into(), 4, 20));
        assert_eq!((l.len(), l.bytes(), l.peek("a")), (1, 20, Some(&4)));
    }

    #[test]
    fn big_item_evicts_many() {
        let mut l = Lru::new(100, 100);
        for i in 0..10 {
            l.insert(format!("k{i}"), i, 10);
        }
        l.insert("big".into(), 99, 95);
        assert_eq!(l.keys(), vec!["big"]);
        assert_eq!(l.remove("big"), Some(99));
        assert!(l.is_empty() && l.bytes() == 0 && l.keys().is_empty());
    }

    #[test]
    fn links_stay_consistent_under_random_ops() {
        let mut l = Lru::new(500, 100);
        let mut seed = 12345u64;
        for _ in 0..5000 {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let k = format!("k{}", (seed >> 33) % 40);
            match (seed >> 20) % 3 {
                0 => {
                    l.insert(k, 0u8, ((seed >> 40) % 120) as usize);
                }
                1 => {
                    l.get(&k);
                }
                _ => {
                    l.remove(&k);
                }
            }
            assert!(l.bytes() <= 500);
            assert_eq!(l.keys().len(), l.len());
        }
    }
}
