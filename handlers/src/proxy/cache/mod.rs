//! A shared HTTP cache (RFC 9111): what may be stored (§3), how long it stays fresh (§4.2),
//! its age (§4.2.3), selecting a variant by `Vary` (§4.1), updating on 304 (§4.3.4) and
//! the request directives a client may send (§5.2.1). Entries live in our own [`Lru`],
//! bounded by total bytes and object size; bodies are `Arc<[u8]>`, shared by every hit.
//! The directives are parsed in `control`, storability and freshness decided in `policy`,
//! a stored response and its age kept in `entry`; this module is the store itself.

mod control;
mod entry;
mod policy;
#[cfg(test)]
mod test_support;

use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use reactor::Headers;

use super::disk::{DiskTier, Spill, Wake};
use super::fill::FillBudget;
use super::lru::Lru;
use super::targeted::targeted_cc;
pub use super::vary::vary_names;
pub use control::{delta_seconds, CacheControl, DELTA_MAX};
pub use entry::{Entry, Use};
pub use policy::{
    freshness_lifetime, heuristically_cacheable, lenient_date, storable, storable_as,
};

/// Variants kept per URL.
const MAX_VARIANTS: usize = 8;

/// Seconds since the epoch.
pub fn unix_now() -> u64 {
    secs(SystemTime::now())
}

fn secs(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

/// The first value of `name` in a response's fields.
pub fn field<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

fn all_fields<'a>(headers: &'a [(String, String)], name: &'a str) -> impl Iterator<Item = &'a str> {
    headers
        .iter()
        .filter(move |(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

/// The stored variants of one URL, oldest first; shared so that a lookup holds the lock
/// only to clone this.
type Variants = Arc<Vec<Arc<Entry>>>;

/// The shared cache: URL → its stored variants, in an LRU bounded by bytes.
pub struct Cache {
    lru: Mutex<Lru<Variants>>,
    max_object: usize,
    /// Largest body the memory tier holds (bigger ones live on disk only).
    max_in_memory: usize,
    fill: FillBudget,
    targeted: Option<String>,
    disk: Option<Arc<DiskTier>>,
}

impl Cache {
    /// A cache of `capacity` bytes holding no object over `max_object` bytes.
    pub fn new(capacity: usize, max_object: usize) -> Self {
        Cache {
            lru: Mutex::new(Lru::new(capacity, max_object.saturating_add(64 * 1024))),
            max_object,
            max_in_memory: max_object.min(capacity.saturating_sub(64 * 1024)),
            fill: FillBudget::new(capacity / 4),
            targeted: None,
            disk: None,
        }
    }

    /// The cache obeying the targeted field `name` (RFC 9213, e.g. `CDN-Cache-Control`)
    /// over `Cache-Control` where it is present and valid.
    pub fn targeting(mut self, name: Option<String>) -> Self {
        self.targeted = name;
        self
    }

    /// The valid targeted directives of a response, if the cache has a targeted field.
    fn targeted_cc(&self, headers: &[(String, String)]) -> Option<CacheControl> {
        targeted_cc(headers, self.targeted.as_deref()?)
    }

    /// May this response to `req` be stored here ([`storable`], with a valid targeted
    /// field in place of `Cache-Control`)?
    pub fn storable(&self, req: &Headers, status: u16, headers: &[(String, String)]) -> bool {
        match self.targeted_cc(headers) {
            Some(cc) => storable_as(req, status, headers, &cc),
            None => storable(req, status, headers),
        }
    }

    /// What fills may queue for stalled clients beyond the cache's bytes: a quarter of
    /// its capacity (see [`super::fill`]).
    pub fn fill_budget(&self) -> &FillBudget {
        &self.fill
    }

    /// Largest body stored.
    pub fn max_object(&self) -> usize {
        self.max_object
    }

    /// Largest body the memory tier holds: a bigger one (up to [`Cache::max_object`]) is
    /// stored on the disk tier alone, if there is one.
    pub fn max_in_memory(&self) -> usize {
        self.max_in_memory
    }

    /// Starts storing a response too big for memory straight to the disk tier: `entry`
    /// holds its head (directives retargeted here), the body goes through the returned
    /// [`Spill`] as it arrives (`wake` runs when a full spill queue has room again). Any copy of `url` in memory is dropped, so that the new
    /// one on disk is found. `None`: no disk tier, or it is busy.
    pub fn spill(&self, url: &str, mut entry: Entry, wake: Wake) -> Option<Spill> {
        let disk = self.disk.as_ref()?;
        if let Some(cc) = self.targeted_cc(&entry.headers) {
            entry.retarget(cc);
        }
        if let Ok(mut lru) = self.lru.lock() {
            lru.remove(url);
        }
        disk.spill(url, &entry, wake)
    }

    /// The stored variant of `url` that matches the request's `Vary` fields (selected
    /// after the lock is released).
    pub fn lookup(&self, url: &str, req: &Headers) -> Option<Arc<Entry>> {
        let variants = self.lru.lock().ok()?.get(url)?.clone();
        variants.iter().rev().find(|e| e.matches(req)).cloned()
    }

    /// Stores `entry` for `url`, replacing the variant with the same `Vary` values, and
    /// writes it through to the disk tier if there is one.
    pub fn insert(&self, url: &str, entry: Entry) {
        if entry.body.len() > self.max_object {
            return;
        }
        let mut entry = entry;
        if let Some(cc) = self.targeted_cc(&entry.headers) {
            entry.retarget(cc);
        }
        let entry = Arc::new(entry);
        self.insert_memory(url, entry.clone());
        if let Some(disk) = &self.disk {
            disk.store(url, entry);
        }
    }

    /// Puts an entry read back from the disk tier into memory (directives retargeted);
    /// it comes back when memory cannot hold it.
    pub fn promote(&self, url: &str, mut entry: Entry) -> Result<(), Arc<Entry>> {
        if let Some(cc) = self.targeted_cc(&entry.headers) {
            entry.retarget(cc);
        }
        let entry = Arc::new(entry);
        if entry.body.len() <= self.max_object && self.insert_memory(url, entry.clone()) {
            return Ok(());
        }
        Err(entry)
    }

    /// The disk tier to look in for `url`: when memory has nothing for it and the disk
    /// index has.
    pub fn disk_candidate(&self, url: &str) -> Option<&Arc<DiskTier>> {
        let disk = self.disk.as_ref()?;
        let in_memory = self.lru.lock().is_ok_and(|l| l.peek(url).is_some());
        (!in_memory && disk.has(url)).then_some(disk)
    }

    /// The cache with a disk tier under its memory.
    pub fn with_disk(mut self, disk: Option<Arc<DiskTier>>) -> Self {
        self.disk = disk;
        self
    }

    /// `(files, bytes)` in the disk tier.
    pub fn disk_usage(&self) -> (usize, usize) {
        self.disk.as_ref().map_or((0, 0), |d| d.usage())
    }

    /// The new variant list is built outside the lock. False if memory refused it.
    fn insert_memory(&self, url: &str, entry: Arc<Entry>) -> bool {
        let old = self
            .lru
            .lock()
            .ok()
            .and_then(|l| l.peek(url).cloned())
            .unwrap_or_default();
        let mut variants: Vec<Arc<Entry>> = old
            .iter()
            .filter(|e| e.vary != entry.vary)
            .cloned()
            .collect();
        variants.push(entry);
        if variants.len() > MAX_VARIANTS {
            variants.remove(0);
        }
        let weight = variants.iter().map(|e| e.weight()).sum();
        self.lru
            .lock()
            .is_ok_and(|mut lru| lru.insert(url.to_string(), Arc::new(variants), weight))
    }

    /// Removes every variant of `url` from both tiers; true if there was one.
    pub fn invalidate(&self, url: &str) -> bool {
        let memory = self
            .lru
            .lock()
            .is_ok_and(|mut lru| lru.remove(url).is_some());
        let disk = self.disk.as_ref().is_some_and(|d| d.remove(url));
        memory || disk
    }

    /// `(URLs, bytes)` held.
    pub fn usage(&self) -> (usize, usize) {
        self.lru.lock().map_or((0, 0), |l| (l.len(), l.bytes()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    const T: u64 = 1_700_000_000;

    #[test]
    fn cache_bounds_and_invalidation() {
        let none = Headers::default();
        let c = Cache::new(4096, 1000);
        let big = Entry::new(200, vec![], Arc::from(vec![0u8; 1001]), &none, T, T);
        c.insert("http://h/big", big);
        assert!(c.lookup("http://h/big", &none).is_none());
        for i in 0..20 {
            c.insert(
                &format!("http://h/{i}"),
                Entry::new(200, vec![], Arc::from(vec![0u8; 500]), &none, T, T),
            );
        }
        let (n, bytes) = c.usage();
        assert!(bytes <= 4096 && n < 20 && n > 0);
        assert!(c.lookup("http://h/19", &none).is_some());
        assert!(c.lookup("http://h/0", &none).is_none());
        c.invalidate("http://h/19");
        assert!(c.lookup("http://h/19", &none).is_none());
    }
}
