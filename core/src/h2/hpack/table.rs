//! The HPACK static table (RFC 7541 Appendix A) and the dynamic table (§4) with its size
//! accounting and eviction.

use std::collections::VecDeque;

/// The static table; index 1 is the first entry.
pub const STATIC: [(&str, &str); 61] = [
    (":authority", ""),
    (":method", "GET"),
    (":method", "POST"),
    (":path", "/"),
    (":path", "/index.html"),
    (":scheme", "http"),
    (":scheme", "https"),
    (":status", "200"),
    (":status", "204"),
    (":status", "206"),
    (":status", "304"),
    (":status", "400"),
    (":status", "404"),
    (":status", "500"),
    ("accept-charset", ""),
    ("accept-encoding", "gzip, deflate"),
    ("accept-language", ""),
    ("accept-ranges", ""),
    ("accept", ""),
    ("access-control-allow-origin", ""),
    ("age", ""),
    ("allow", ""),
    ("authorization", ""),
    ("cache-control", ""),
    ("content-disposition", ""),
    ("content-encoding", ""),
    ("content-language", ""),
    ("content-length", ""),
    ("content-location", ""),
    ("content-range", ""),
    ("content-type", ""),
    ("cookie", ""),
    ("date", ""),
    ("etag", ""),
    ("expect", ""),
    ("expires", ""),
    ("from", ""),
    ("host", ""),
    ("if-match", ""),
    ("if-modified-since", ""),
    ("if-none-match", ""),
    ("if-range", ""),
    ("if-unmodified-since", ""),
    ("last-modified", ""),
    ("link", ""),
    ("location", ""),
    ("max-forwards", ""),
    ("proxy-authenticate", ""),
    ("proxy-authorization", ""),
    ("range", ""),
    ("referer", ""),
    ("refresh", ""),
    ("retry-after", ""),
    ("server", ""),
    ("set-cookie", ""),
    ("strict-transport-security", ""),
    ("transfer-encoding", ""),
    ("user-agent", ""),
    ("vary", ""),
    ("via", ""),
    ("www-authenticate", ""),
];

/// Per-entry overhead counted in the table size (RFC 7541 §4.1).
pub const ENTRY_OVERHEAD: usize = 32;

/// The size an entry counts for: name + value + 32.
pub fn entry_size(name: &[u8], value: &[u8]) -> usize {
    name.len() + value.len() + ENTRY_OVERHEAD
}

/// A dynamic table: newest entry first, evicting the oldest to stay within `max_size`.
#[derive(Debug, Clone)]
pub struct DynamicTable {
    entries: VecDeque<(Vec<u8>, Vec<u8>)>,
    size: usize,
    max_size: usize,
}

impl DynamicTable {
    /// An empty table holding at most `max_size` bytes (as counted by [`entry_size`]).
    pub fn new(max_size: usize) -> Self {
        DynamicTable {
            entries: VecDeque::new(),
            size: 0,
            max_size,
        }
    }

    /// Current size in bytes.
    pub fn size(&self) -> usize {
        self.size
    }

    /// Current maximum size.
    pub fn max_size(&self) -> usize {
        self.max_size
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True when the table holds nothing.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Changes the maximum size, evicting entries that no longer fit.
    pub fn set_max_size(&mut self, max_size: usize) {
        self.max_size = max_size;
        self.evict_to(max_size);
    }

    /// Adds an entry at the front. An entry larger than the table empties it (§4.4).
    pub fn insert(&mut self, name: Vec<u8>, value: Vec<u8>) {
        let size = entry_size(&name, &value);
        if size > self.max_size {
            self.entries.clear();
            self.size = 0;
            return;
        }
        self.evict_to(self.max_size - size);
        self.size += size;
        self.entries.push_front((name, value));
    }

    fn evict_to(&mut self, limit: usize) {
        while self.size > limit {
            match self.entries.pop_back() {
                Some((n, v)) => self.size -= entry_size(&n, &v),
                None => self.size = 0,
            }
        }
    }

    /// Entry `i` of the dynamic table, 0 being the newest.
    pub fn get(&self, i: usize) -> Option<(&[u8], &[u8])> {
        self.entries
            .get(i)
            .map(|(n, v)| (n.as_slice(), v.as_slice()))
    }

    /// Iterates entries newest first.
    pub fn iter(&self) -> impl Iterator<Item = (&[u8], &[u8])> {
        self.entries
            .iter()
            .map(|(n, v)| (n.as_slice(), v.as_slice()))
    }
}

/// Looks up index `index` (1-based) in the static table then the dynamic one.
pub fn lookup(dynamic: &DynamicTable, index: usize) -> Option<(&[u8], &[u8])> {
    match index {
        0 => None,
        1..=61 => {
            let (n, v) = STATIC[index - 1];
            Some((n.as_bytes(), v.as_bytes()))
        }
        _ => dynamic.get(index - 62),
    }
}

/// Where a field can be found: the whole field, or only its name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Found {
    /// Index of an entry with this name and value.
    Field(usize),
    /// Index of an entry with this name.
    Name(usize),
    /// Not in either table.
    None,
}

/// Finds the best index for `name: value` in the static and dynamic tables.
pub fn find(dynamic: &DynamicTable, name: &[u8], value: &[u8]) -> Found {
    let mut found = Found::None;
    for (i, (n, v)) in STATIC.iter().enumerate() {
        if n.as_bytes() == name {
            if v.as_bytes() == value {
                return Found::Field(i + 1);
            }
            if found == Found::None {
                found = Found::Name(i + 1);
            }
        }
    }
    for (i, (n, v)) in dynamic.iter().enumerate() {
        if n == name {
            if v == value {
                return Found::Field(i + 62);
            }
            if found == Found::None {
                found = Found::Name(i + 62);
            }
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn eviction_keeps_size_within_max() {
        let mut t = DynamicTable::new(100);
        t.insert(b"aaaa".to_vec(), b"1111".to_vec()); // 40
        t.insert(b"bbbb".to_vec(), b"2222".to_vec()); // 80
        assert_eq!((t.len(), t.size()), (2, 80));
        t.insert(b"cccc".to_vec(), b"3333".to_vec()); // evicts aaaa
        assert_eq!((t.len(), t.size()), (2, 80));
        assert_eq!(t.get(0), Some((&b"cccc"[..], &b"3333"[..])));
        assert_eq!(t.get(1), Some((&b"bbbb"[..], &b"2222"[..])));
        t.set_max_size(40);
        assert_eq!((t.len(), t.size()), (1, 40));
        // Too large for the table: empties it.
        t.insert(vec![b'x'; 10], vec![b'y'; 10]);
        assert!(t.is_empty());
        assert_eq!(t.size(), 0);
    }

    #[test]
    fn lookup_and_find_cover_both_tables() {
        let mut t = DynamicTable::new(4096);
        t.insert(b"x-a".to_vec(), b"1".to_vec());
        assert_eq!(lookup(&t, 2), Some((&b":method"[..], &b"GET"[..])));
        assert_eq!(lookup(&t, 62), Some((&b"x-a"[..], &b"1"[..])));
        assert_eq!(lookup(&t, 0), None);
        assert_eq!(lookup(&t, 63), None);
        assert_eq!(find(&t, b":method", b"POST"), Found::Field(3));
        assert_eq!(find(&t, b":method", b"PUT"), Found::Name(2));
        assert_eq!(find(&t, b"x-a", b"1"), Found::Field(62));
        assert_eq!(find(&t, b"x-a", b"2"), Found::Name(62));
        assert_eq!(find(&t, b"x-b", b"2"), Found::None);
    }
}
