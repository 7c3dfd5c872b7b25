//! The cache's disk tier (`--cache-dir DIR --cache-disk-size BYTES`): every stored
//! response is also written to a file (write-through), so objects evicted from memory, and
//! everything after a restart, are still hits. One file per URL (its latest variant),
//! named by a hash of the URL, in an LRU index bounded by bytes; the least recently used
//! files are deleted past the limit.
//!
//! Crash safety: a file is written under a temporary name and renamed into place, and
//! holds its own length and checksum; a read that finds either wrong drops the file
//! (the request is a miss and refetches). Temporary files left by a crash are deleted
//! when the index is rebuilt, which happens on a thread at start while requests are
//! served (as misses until their file is indexed).
//!
//! Writes and deletions run on one writer thread behind a bounded queue (when it is full
//! a write is skipped: the disk tier is best effort); reads run on the server's blocking
//! pool. The reactor never touches the disk.

use std::fs;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::mpsc::{sync_channel, SyncSender};
use std::sync::{Arc, Mutex};

use super::cache::{CacheControl, Entry};
use super::lru::Lru;
use super::vary::Selection;

const MAGIC: &[u8; 8] = b"RPXDISK1";
/// Writes queued for the writer thread at most.
const QUEUE: usize = 64;

/// The disk tier. Cheap to share (`Arc`).
pub struct DiskTier {
    dir: PathBuf,
    index: Arc<Mutex<Lru<u64>>>,
    jobs: Mutex<SyncSender<Job>>,
}

enum Job {
    Write(String, Arc<Entry>),
    Remove(String),
}

impl DiskTier {
    /// Opens (creating it if needed) `dir` as a disk tier of at most `limit` bytes and
    /// starts rebuilding its index in the background.
    pub fn open(dir: &Path, limit: u64) -> io::Result<Arc<DiskTier>> {
        fs::create_dir_all(dir)?;
        let limit = usize::try_from(limit).unwrap_or(usize::MAX);
        let index = Arc::new(Mutex::new(Lru::new(limit, limit)));
        let (tx, rx) = sync_channel::<Job>(QUEUE);
        let tier = Arc::new(DiskTier {
            dir: dir.to_path_buf(),
            index: index.clone(),
            jobs: Mutex::new(tx),
        });
        let (dir2, index2) = (dir.to_path_buf(), index.clone());
        std::thread::Builder::new()
            .name("cache-disk".into())
            .spawn(move || {
                rebuild(&dir2, &index2);
                for job in rx {
                    match job {
                        Job::Write(url, entry) => write_entry(&dir2, &index2, &url, &entry),
                        Job::Remove(url) => remove_file(&dir2, &url),
                    }
                }
            })?;
        Ok(tier)
    }

    /// Queues `entry` for writing as the disk copy of `url` (skipped when the queue is
    /// full).
    pub fn store(&self, url: &str, entry: Arc<Entry>) {
        if let Ok(tx) = self.jobs.lock() {
            let _ = tx.try_send(Job::Write(url.to_string(), entry));
        }
    }

    /// True when `url` has a file (as far as the index knows yet).
    pub fn has(&self, url: &str) -> bool {
        self.index.lock().is_ok_and(|i| i.peek(url).is_some())
    }

    /// Reads the disk copy of `url` (blocking: call it on the pool). A missing, short,
    /// corrupt or foreign file is dropped from the index and deleted: `None`.
    pub fn load(&self, url: &str) -> Option<Entry> {
        let entry = read_entry(&self.dir.join(file_name(url)), url);
        match &entry {
            Some(_) => {
                if let Ok(mut i) = self.index.lock() {
                    i.get(url);
                }
            }
            None => {
                self.remove(url);
            }
        }
        entry
    }

    /// Drops `url` from the disk tier; true if it was indexed.
    pub fn remove(&self, url: &str) -> bool {
        let had = self.index.lock().is_ok_and(|mut i| i.remove(url).is_some());
        if let Ok(tx) = self.jobs.lock() {
            // A full queue: the file stays, unindexed, until the next rebuild drops it.
            let _ = tx.try_send(Job::Remove(url.to_string()));
        }
        had
    }

    /// `(files, bytes)` indexed.
    pub fn usage(&self) -> (usize, usize) {
        self.index.lock().map_or((0, 0), |i| (i.len(), i.bytes()))
    }
}

/// The file name of `url`: 64-bit FNV-1a of it, in hex.
fn file_name(url: &str) -> String {
    format!(
        "{:016x}.entry",
        fnv1a(0xcbf2_9ce4_8422_2325, url.as_bytes())
    )
}

/// FNV-1a over `bytes`, continuing from `h`.
fn fnv1a(mut h: u64, bytes: &[u8]) -> u64 {
    for &b in bytes {
        h = (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

fn put(out: &mut Vec<u8>, bytes: &[u8]) {
    out.extend_from_slice(&(bytes.len() as u64).to_le_bytes());
    out.extend_from_slice(bytes);
}

/// The file's bytes: magic, URL, status, times, fields, Vary selection, body, then the
/// length of everything before the checksum and its FNV-1a checksum.
fn encode(url: &str, e: &Entry) -> Vec<u8> {
    let mut out = Vec::with_capacity(e.body.len() + 1024);
    out.extend_from_slice(MAGIC);
    put(&mut out, url.as_bytes());
    for n in [u64::from(e.status), e.response_time, e.initial_age] {
        out.extend_from_slice(&n.to_le_bytes());
    }
    out.extend_from_slice(&(e.headers.len() as u64).to_le_bytes());
    for (n, v) in &e.headers {
        put(&mut out, n.as_bytes());
        put(&mut out, v.as_bytes());
    }
    let vary: Vec<(&str, &[u8])> = e.vary.fields().collect();
    out.extend_from_slice(&(vary.len() as u64).to_le_bytes());
    for (n, v) in vary {
        put(&mut out, n.as_bytes());
        put(&mut out, v);
    }
    put(&mut out, &e.body);
    let (len, sum) = (out.len() as u64, fnv1a(0xcbf2_9ce4_8422_2325, &out));
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(&sum.to_le_bytes());
    out
}

/// A cursor over a file's bytes; every read is bounds-checked.
struct Cursor<'a>(&'a [u8]);

impl<'a> Cursor<'a> {
    fn u64(&mut self) -> Option<u64> {
        let (head, rest) = self.0.split_first_chunk::<8>()?;
        self.0 = rest;
        Some(u64::from_le_bytes(*head))
    }

    fn bytes(&mut self) -> Option<&'a [u8]> {
        let n = usize::try_from(self.u64()?).ok()?;
        if n > self.0.len() {
            return None;
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Some(head)
    }

    fn text(&mut self) -> Option<String> {
        String::from_utf8(self.bytes()?.to_vec()).ok()
    }
}

/// Checks magic, length and checksum, then decodes. `None` for anything wrong.
fn decode(data: &[u8], want_url: &str) -> Option<Entry> {
    let body_end = data.len().checked_sub(16)?;
    let (content, trailer) = data.split_at(body_end);
    let mut t = Cursor(trailer);
    if t.u64()? != content.len() as u64 || t.u64()? != fnv1a(0xcbf2_9ce4_8422_2325, content) {
        return None;
    }
    let mut c = Cursor(content.strip_prefix(MAGIC)?);
    if c.bytes()? != want_url.as_bytes() {
        return None;
    }
    let status = u16::try_from(c.u64()?).ok()?;
    let (response_time, initial_age) = (c.u64()?, c.u64()?);
    let n = c.u64()?;
    let mut headers = Vec::new();
    for _ in 0..n {
        headers.push((c.text()?, c.text()?));
    }
    let n = c.u64()?;
    let mut vary = Vec::new();
    for _ in 0..n {
        vary.push((c.text()?, c.bytes()?.to_vec()));
    }
    let body: Arc<[u8]> = Arc::from(c.bytes()?);
    if !c.0.is_empty() {
        return None;
    }
    let mut e = Entry {
        status,
        headers,
        body,
        vary: Selection::from_fields(vary),
        response_time,
        initial_age,
        lifetime: 0,
        cc: CacheControl::default(),
    };
    let cc = CacheControl::parse(
        e.headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case("cache-control"))
            .map(|(_, v)| v.as_str()),
    );
    e.retarget(cc);
    Some(e)
}

fn read_entry(path: &Path, url: &str) -> Option<Entry> {
    let mut data = Vec::new();
    fs::File::open(path).ok()?.read_to_end(&mut data).ok()?;
    decode(&data, url)
}

fn write_entry(dir: &Path, index: &Mutex<Lru<u64>>, url: &str, e: &Entry) {
    let bytes = encode(url, e);
    let name = file_name(url);
    let tmp = dir.join(format!("tmp.{name}"));
    let written = fs::File::create(&tmp)
        .and_then(|mut f| f.write_all(&bytes))
        .and_then(|()| fs::rename(&tmp, dir.join(&name)));
    if let Err(err) = written {
        log::warn!("cache disk: cannot write {}: {err}", tmp.display());
        let _ = fs::remove_file(&tmp);
        return;
    }
    let evicted = match index.lock() {
        Ok(mut i) => i.insert_evicting(url.to_string(), bytes.len() as u64, bytes.len()),
        Err(_) => return,
    };
    for (old, _) in evicted {
        remove_file(dir, &old);
    }
}

fn remove_file(dir: &Path, url: &str) {
    let _ = fs::remove_file(dir.join(file_name(url)));
}

/// Indexes the files already in `dir`, oldest first (so the newest are the most recently
/// used), deleting temporary files and files that do not start like ours.
fn rebuild(dir: &Path, index: &Mutex<Lru<u64>>) {
    let Ok(listing) = fs::read_dir(dir) else {
        return;
    };
    let mut found = Vec::new();
    for item in listing.flatten() {
        let path = item.path();
        let name = item.file_name().to_string_lossy().into_owned();
        if name.starts_with("tmp.") {
            let _ = fs::remove_file(&path);
            continue;
        }
        if !name.ends_with(".entry") {
            continue;
        }
        let Ok(meta) = item.metadata() else { continue };
        match read_url(&path) {
            Some(url) if file_name(&url) == name => {
                found.push((meta.modified().ok(), url, meta.len()));
            }
            _ => {
                let _ = fs::remove_file(&path);
            }
        }
    }
    found.sort_by_key(|(t, _, _)| *t);
    let mut evicted = Vec::new();
    if let Ok(mut i) = index.lock() {
        for (_, url, len) in found {
            if i.peek(&url).is_none() {
                let size = usize::try_from(len).unwrap_or(usize::MAX);
                evicted.extend(i.insert_evicting(url, len, size));
            }
        }
    }
    for (old, _) in evicted {
        remove_file(dir, &old);
    }
}

/// The URL a file says it holds (its first field).
fn read_url(path: &Path) -> Option<String> {
    let mut f = fs::File::open(path).ok()?;
    let mut head = [0u8; 16];
    f.read_exact(&mut head).ok()?;
    if &head[..8] != MAGIC {
        return None;
    }
    let n = u64::from_le_bytes(head[8..16].try_into().ok()?);
    if n > 64 * 1024 {
        return None;
    }
    let mut url = vec![0u8; n as usize];
    f.read_exact(&mut url).ok()?;
    String::from_utf8(url).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use reactor::Headers;

    fn entry(body: &[u8]) -> Entry {
        let h = vec![
            ("Cache-Control".to_string(), "max-age=60".to_string()),
            ("X-A".to_string(), "b".to_string()),
        ];
        Entry::new(200, h, Arc::from(body), &Headers::default(), 100, 101)
    }

    #[test]
    fn round_trip_and_every_corruption_is_refused() {
        let e = entry(b"hello body");
        let bytes = encode("http://h/x", &e);
        let back = decode(&bytes, "http://h/x").expect("decodes");
        assert_eq!(&back.body[..], b"hello body");
        assert_eq!(back.headers, e.headers);
        assert_eq!((back.lifetime, back.age(200)), (60, e.age(200)));
        assert!(decode(&bytes, "http://h/other").is_none());
        for cut in 0..bytes.len() {
            assert!(decode(&bytes[..cut], "http://h/x").is_none(), "cut {cut}");
        }
        for i in (0..bytes.len()).step_by(7) {
            let mut bad = bytes.clone();
            bad[i] ^= 0x40;
            assert!(decode(&bad, "http://h/x").is_none(), "flip {i}");
        }
    }
}
