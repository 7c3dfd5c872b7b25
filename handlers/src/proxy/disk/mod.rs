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
//! served (as misses until their file is indexed); spills (below) write theirs in a
//! directory of their own, [`SPILLING`], emptied when the tier opens, so the rebuild
//! never takes a spill under way for a leftover.
//!
//! Writes and deletions run on one writer thread behind a bounded queue (when it is full
//! a write is skipped: the disk tier is best effort), so they happen in the order they
//! were decided: a file found bad and refetched is deleted before its new copy takes its
//! name, never after (spills, below, hand their finished file to that thread too); and a
//! read that finds a file bad deletes only that file (by inode and change time), not a
//! copy that replaced it while the read ran. Reads run on the server's blocking pool. The
//! one exception never waits on the disk either: a small entry that memory does not hold
//! keeps its file open after its first read, and its hits read it on the reactor with
//! `RWF_NOWAIT`, which copies from the page cache or fails at once (then the pool reads
//! it); see `hot`.
//!
//! A response too big for the memory tier (but within `--max-object-size`) lives here
//! alone: its fill is written to the file as it arrives ([`Spill`], never whole in
//! memory), and its hits are served from the file after its checksum is checked in place
//! ([`Loaded::File`]). The file layout is in `format`.

mod format;
mod hot;
mod spill;

use std::fs;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::mpsc::{sync_channel, SyncSender};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use super::cache::Entry;
use super::lru::Lru;
pub use format::FileEntry;
use format::{decode, encode, file_name, open_checked, read_url, stated_body_len};
use hot::HotFiles;
pub use hot::Opened;
pub use spill::{Queued, Spill, Wake};

/// Writes queued for the writer thread at most.
const QUEUE: usize = 64;
/// The subdirectory where spills write their files until they are complete.
pub const SPILLING: &str = "spilling";

/// What a read of the disk tier found.
pub enum Loaded {
    /// A body small enough to hold in memory, read whole, and its open file (to give
    /// [`DiskTier::keep_open`] if memory does not take the entry).
    Memory(Entry, Opened),
    /// A larger body, checked in place and served from the file.
    File(FileEntry),
}

/// The disk tier. Cheap to share (`Arc`).
pub struct DiskTier {
    dir: PathBuf,
    index: Arc<Mutex<Lru<u64>>>,
    hot: Arc<HotFiles>,
    jobs: Mutex<SyncSender<Job>>,
}

enum Job {
    Write(String, Arc<Entry>),
    /// Deletes the file of `url`; with `only`, if it is still that file (a copy found bad
    /// may have been replaced since, and the new one must stay).
    Remove {
        url: String,
        only: Option<FileId>,
    },
    /// A spilled file written under a temporary name: renamed into place and indexed.
    Place {
        tmp: PathBuf,
        url: String,
        len: u64,
    },
}

impl DiskTier {
    /// Opens (creating it if needed) `dir` as a disk tier of at most `limit` bytes and
    /// starts rebuilding its index in the background.
    pub fn open(dir: &Path, limit: u64) -> io::Result<Arc<DiskTier>> {
        fs::create_dir_all(dir)?;
        let spilling = dir.join(SPILLING);
        if spilling.exists() {
            fs::remove_dir_all(&spilling)?;
        }
        fs::create_dir(&spilling)?;
        let limit = usize::try_from(limit).unwrap_or(usize::MAX);
        let index = Arc::new(Mutex::new(Lru::new(limit, limit)));
        let (tx, rx) = sync_channel::<Job>(QUEUE);
        let hot = Arc::new(HotFiles::new());
        let tier = Arc::new(DiskTier {
            dir: dir.to_path_buf(),
            index: index.clone(),
            hot: hot.clone(),
            jobs: Mutex::new(tx),
        });
        let (dir2, index2) = (dir.to_path_buf(), index.clone());
        std::thread::Builder::new()
            .name("cache-disk".into())
            .spawn(move || {
                rebuild(&dir2, &index2, &hot);
                for job in rx {
                    match job {
                        Job::Write(url, entry) => {
                            write_entry(&dir2, &index2, &hot, &url, &entry);
                        }
                        Job::Remove { url, only } => remove_file_if(&dir2, &hot, &url, only),
                        Job::Place { tmp, url, len } => {
                            place_file(&dir2, &index2, &hot, &tmp, &url, len);
                        }
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

    /// Reads the disk copy of `url` (blocking: call it on the pool): whole when its body
    /// is at most `in_memory` bytes, else checked in place. A missing, short, corrupt or
    /// foreign file is dropped from the index and deleted: `None`.
    pub fn load(&self, url: &str, in_memory: usize) -> Option<Loaded> {
        let path = self.dir.join(file_name(url));
        // Which file this read is about, should it find it bad.
        let found = file_id(&path);
        let small = stated_body_len(&path).is_some_and(|n| n <= in_memory as u64);
        let loaded = if small {
            let ticket = self.hot.ticket(url);
            read_entry(&path, url, ticket).map(|(e, opened)| Loaded::Memory(e, opened))
        } else {
            open_checked(&path, url).map(Loaded::File)
        };
        match &loaded {
            Some(_) => {
                if let Ok(mut i) = self.index.lock() {
                    i.get(url);
                }
            }
            None => {
                self.drop_from_index(url);
                if let Some(id) = found {
                    self.queue_removal(url, Some(id));
                }
            }
        }
        loaded
    }

    /// Keeps the file of `url` (read whole by [`DiskTier::load`]) open, because memory did
    /// not take its `entry`: its next hits read it on the reactor ([`DiskTier::read_open`]).
    pub fn keep_open(&self, url: &str, opened: Opened, entry: &Entry) {
        self.hot.keep(url, opened, entry);
    }

    /// The entry of `url` (with an empty body) and its body, from its file kept open,
    /// read only if the page cache holds all of it (never blocks on the disk) and checked
    /// like every read. `None`: read it with [`DiskTier::load`] on the pool.
    pub fn read_open(&self, url: &str) -> Option<(Arc<Entry>, Arc<[u8]>)> {
        let found = self.hot.read(url)?;
        if let Ok(mut i) = self.index.lock() {
            i.get(url);
        }
        Some(found)
    }

    /// Starts writing a response to `url` straight to disk as it arrives (`entry` holds
    /// its head; the body goes through the [`Spill`], `wake` is called when a full queue
    /// has room again). `None` when too many spills run.
    pub fn spill(self: &Arc<Self>, url: &str, entry: &Entry, wake: Wake) -> Option<Spill> {
        Spill::start(self, url, entry, wake)
    }

    /// Drops `url` from the disk tier; true if it was indexed.
    pub fn remove(&self, url: &str) -> bool {
        let had = self.drop_from_index(url);
        self.queue_removal(url, None);
        had
    }

    /// Forgets `url` in the index and the open files; true if it was indexed.
    fn drop_from_index(&self, url: &str) -> bool {
        let had = self.index.lock().is_ok_and(|mut i| i.remove(url).is_some());
        self.hot.forget(url);
        had
    }

    /// Asks the writer thread to delete the file of `url` (`only` that one, if given).
    fn queue_removal(&self, url: &str, only: Option<FileId>) {
        if let Ok(tx) = self.jobs.lock() {
            // A full queue: the file stays, unindexed, until the next rebuild drops it.
            let _ = tx.try_send(Job::Remove {
                url: url.to_string(),
                only,
            });
        }
    }

    /// `(files, bytes)` indexed.
    pub fn usage(&self) -> (usize, usize) {
        self.index.lock().map_or((0, 0), |i| (i.len(), i.bytes()))
    }
}

/// Which file a name stood for: its device, inode and change time (an inode number freed
/// by a deletion can come back for the next file; not in the same instant too).
type FileId = (u64, u64, i64, i64);

fn file_id(path: &Path) -> Option<FileId> {
    use std::os::unix::fs::MetadataExt;
    let m = fs::metadata(path).ok()?;
    Some((m.dev(), m.ino(), m.ctime(), m.ctime_nsec()))
}

/// Reads and checks the file at `path` of `url` whole; `ticket` from [`HotFiles::ticket`]
/// taken before.
fn read_entry(path: &Path, url: &str, ticket: u64) -> Option<(Entry, Opened)> {
    let mut data = Vec::new();
    let mut file = fs::File::open(path).ok()?;
    file.read_to_end(&mut data).ok()?;
    let (entry, head) = decode(&data, url)?;
    Some((entry, Opened::new(file, &data, head, ticket)))
}

fn write_entry(dir: &Path, index: &Mutex<Lru<u64>>, hot: &HotFiles, url: &str, e: &Entry) {
    match write_file(dir, url, e) {
        Ok(len) => index_file(dir, index, hot, url, len),
        Err(err) => log::warn!("cache disk: cannot write {url}: {err}"),
    }
}

/// Writes `entry` as the disk copy of `url` in `dir` (under a temporary name, then
/// renamed into place) and returns the file's length. Blocking. A tier opened on `dir`
/// afterwards indexes it; this is also how a disk cache can be filled ahead of time.
///
/// ```
/// use std::sync::Arc;
/// use reactor_handlers::proxy::cache::Entry;
/// use reactor_handlers::proxy::disk::write_file;
///
/// let dir = std::env::temp_dir().join(format!("disk-doc-{}", std::process::id()));
/// std::fs::create_dir_all(&dir)?;
/// let headers = vec![("Cache-Control".to_string(), "max-age=60".to_string())];
/// let e = Entry::new(200, headers, Arc::from(&b"hi"[..]), &Default::default(), 1, 1);
/// assert!(write_file(&dir, "http://h/x", &e)? > 2);
/// # std::fs::remove_dir_all(&dir)?;
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn write_file(dir: &Path, url: &str, entry: &Entry) -> io::Result<u64> {
    let bytes = encode(url, entry);
    let name = file_name(url);
    let tmp = dir.join(format!("tmp.{name}"));
    let written = fs::File::create(&tmp)
        .and_then(|mut f| f.write_all(&bytes))
        .and_then(|()| fs::rename(&tmp, dir.join(&name)));
    if written.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    written.map(|()| bytes.len() as u64)
}

/// Renames the finished file `tmp` of `url` into place and indexes it.
fn place_file(
    dir: &Path,
    index: &Mutex<Lru<u64>>,
    hot: &HotFiles,
    tmp: &Path,
    url: &str,
    len: u64,
) {
    match fs::rename(tmp, dir.join(file_name(url))) {
        Ok(()) => index_file(dir, index, hot, url, len),
        Err(e) => {
            log::warn!("cache disk: cannot place {}: {e}", tmp.display());
            let _ = fs::remove_file(tmp);
        }
    }
}

/// Indexes the file of `url`, `len` bytes, now in place (forgetting the one kept open
/// before); deletes what that evicts.
fn index_file(dir: &Path, index: &Mutex<Lru<u64>>, hot: &HotFiles, url: &str, len: u64) {
    hot.forget(url);
    let size = usize::try_from(len).unwrap_or(usize::MAX);
    let evicted = match index.lock() {
        Ok(mut i) => i.insert_evicting(url.to_string(), len, size),
        Err(_) => return,
    };
    for (old, _) in evicted {
        remove_file(dir, hot, &old);
    }
}

/// Deletes the file of `url` if it is still the one `only` names (any, without).
fn remove_file_if(dir: &Path, hot: &HotFiles, url: &str, only: Option<FileId>) {
    if only.is_none_or(|id| file_id(&dir.join(file_name(url))) == Some(id)) {
        remove_file(dir, hot, url);
    }
}

fn remove_file(dir: &Path, hot: &HotFiles, url: &str) {
    let _ = fs::remove_file(dir.join(file_name(url)));
    hot.forget(url);
}

/// Indexes the files already in `dir`, oldest first (so the newest are the most recently
/// used), deleting temporary files and files that do not start like ours.
fn rebuild(dir: &Path, index: &Mutex<Lru<u64>>, hot: &HotFiles) {
    let started = Instant::now();
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
    let files = found.len();
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
        remove_file(dir, hot, &old);
    }
    log::info!(
        "cache disk: index rebuilt, {files} files in {} ms",
        started.elapsed().as_millis()
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_rebuild_deletes_leftovers_but_not_a_spill_under_way() {
        let dir = std::env::temp_dir().join(format!("disk-rebuild-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(dir.join(SPILLING)).expect("temp dir");
        fs::write(dir.join(SPILLING).join("crashed"), b"x").expect("temp file");
        let tier = DiskTier::open(&dir, 1 << 20).expect("opens");
        assert!(
            !dir.join(SPILLING).join("crashed").exists(),
            "a crashed spill's file is gone once the tier is open"
        );
        // A spill writing while the index is rebuilt, and a crashed plain write.
        fs::write(dir.join(SPILLING).join("0.under-way"), b"x").expect("temp file");
        fs::write(dir.join("tmp.left.entry"), b"x").expect("temp file");
        let hot = HotFiles::new();
        rebuild(&dir, &tier.index, &hot);
        assert!(dir.join(SPILLING).join("0.under-way").exists());
        assert!(!dir.join("tmp.left.entry").exists());
        let _ = fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_removal_decided_on_one_file_spares_its_replacement() {
        let dir = std::env::temp_dir().join(format!("disk-removal-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).expect("temp dir");
        let (url, hot) = ("http://h/x", HotFiles::new());
        let path = dir.join(file_name(url));
        fs::write(&path, b"bad").expect("temp file");
        let bad = file_id(&path);
        // The new copy takes the name (as the writer renames it) before the removal runs.
        fs::write(dir.join("new"), b"good").expect("temp file");
        fs::rename(dir.join("new"), &path).expect("rename");
        remove_file_if(&dir, &hot, url, bad);
        assert_eq!(fs::read(&path).expect("kept"), b"good");
        // Decided on the file that is there: deleted.
        remove_file_if(&dir, &hot, url, file_id(&path));
        assert!(!path.exists());
        let _ = fs::remove_dir_all(&dir);
    }
}
