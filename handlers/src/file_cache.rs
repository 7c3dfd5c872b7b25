//! The open-file cache (nginx's `open_file_cache`): open descriptors, validators and the
//! content of small files, keyed by request path and revalidated at most once per
//! `validity` (one second by default) with a `stat` on the blocking pool.
//!
//! A hit is answered on the reactor thread with no system call but the socket write. A
//! file that changes is noticed at the next revalidation: its device, inode, size, mtime
//! and ctime (to the nanosecond) are compared, and any difference reloads the entry.

use std::collections::HashMap;
use std::fs::File;
use std::io::{self, Read};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use crate::conditional::file_etag;
use crate::static_files::content_type;

/// Files up to this size have their content cached (larger ones go out with sendfile).
pub const MAX_CACHED_CONTENT: u64 = 128 * 1024;
/// Most content bytes a cache holds; past it, new entries keep no content.
pub const CONTENT_BUDGET: u64 = 64 * 1024 * 1024;

/// What identifies one version of a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Identity {
    dev: u64,
    ino: u64,
    len: u64,
    mtime: (i64, i64),
    ctime: (i64, i64),
}

impl Identity {
    fn of(m: &std::fs::Metadata) -> Identity {
        Identity {
            dev: m.dev(),
            ino: m.ino(),
            len: m.len(),
            mtime: (m.mtime(), m.mtime_nsec()),
            ctime: (m.ctime(), m.ctime_nsec()),
        }
    }
}

/// One cached file: an open descriptor, its validators, maybe its content.
#[derive(Debug)]
pub struct CachedFile {
    /// The file on disk (after index resolution).
    pub path: PathBuf,
    /// The open file.
    pub file: Arc<File>,
    /// Its length.
    pub len: u64,
    /// Its modification time.
    pub modified: SystemTime,
    /// Strong ETag.
    pub etag: String,
    /// `Last-Modified` value.
    pub last_modified: String,
    /// `Content-Type` value.
    pub content_type: String,
    /// The whole content, for small files.
    pub content: Option<Arc<[u8]>>,
    identity: Identity,
    /// When the entry was last checked against the disk, in ms since the cache started.
    checked: AtomicU64,
}

/// The entries and the content bytes they hold.
#[derive(Debug, Default)]
struct Entries {
    map: HashMap<String, Arc<CachedFile>>,
    content_bytes: u64,
}

impl Entries {
    fn remove(&mut self, key: &str) {
        if let Some(old) = self.map.remove(key) {
            self.content_bytes -= old.content.as_ref().map_or(0, |c| c.len() as u64);
        }
    }
}

/// A bounded map from request path to [`CachedFile`]: at most `max_entries` open files
/// and [`CONTENT_BUDGET`] bytes of content.
#[derive(Debug)]
pub struct FileCache {
    entries: Mutex<Entries>,
    start: Instant,
    validity: Duration,
    max_entries: usize,
}

impl FileCache {
    /// A cache of at most `max_entries` files, each revalidated after `validity`.
    pub fn new(max_entries: usize, validity: Duration) -> Self {
        FileCache {
            entries: Mutex::default(),
            start: Instant::now(),
            validity,
            max_entries,
        }
    }

    fn now_ms(&self) -> u64 {
        self.start.elapsed().as_millis() as u64
    }

    /// The entry for `key` if it was validated within the validity period.
    pub fn fresh(&self, key: &str) -> Option<Arc<CachedFile>> {
        let entry = self.entries.lock().ok()?.map.get(key)?.clone();
        let age = self
            .now_ms()
            .saturating_sub(entry.checked.load(Ordering::Relaxed));
        (u128::from(age) < self.validity.as_millis()).then_some(entry)
    }

    /// Blocking: the entry for `key`, served from `path`, revalidated or (re)loaded.
    pub fn load(&self, key: &str, path: &Path) -> io::Result<Arc<CachedFile>> {
        let meta = std::fs::metadata(path)?;
        let identity = Identity::of(&meta);
        let (existing, content_room) = match self.entries.lock() {
            Ok(e) => (
                e.map.get(key).cloned(),
                e.content_bytes + meta.len() <= CONTENT_BUDGET,
            ),
            Err(_) => (None, false),
        };
        if let Some(e) = existing.filter(|e| e.identity == identity && e.path == path) {
            e.checked.store(self.now_ms(), Ordering::Relaxed);
            return Ok(e);
        }
        let entry = Arc::new(self.open(path, content_room)?);
        if let Ok(mut entries) = self.entries.lock() {
            entries.remove(key);
            if entries.map.len() >= self.max_entries {
                // Make room: drop an arbitrary tenth (cheap, and hot files come back).
                let victims: Vec<String> = entries
                    .map
                    .keys()
                    .take(self.max_entries / 10 + 1)
                    .cloned()
                    .collect();
                for v in victims {
                    entries.remove(&v);
                }
            }
            entries.content_bytes += entry.content.as_ref().map_or(0, |c| c.len() as u64);
            entries.map.insert(key.to_owned(), entry.clone());
        }
        Ok(entry)
    }

    /// Opens `path`, reading its content too if it is small and `content_room` allows.
    fn open(&self, path: &Path, content_room: bool) -> io::Result<CachedFile> {
        // O_NONBLOCK: opening a FIFO must not hang a pool thread.
        let mut file = std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NONBLOCK)
            .open(path)?;
        let meta = file.metadata()?;
        if !meta.is_file() {
            return Err(io::Error::new(
                io::ErrorKind::NotFound,
                "not a regular file",
            ));
        }
        let len = meta.len();
        let content = if len <= MAX_CACHED_CONTENT && content_room {
            let mut buf = Vec::with_capacity(len as usize);
            (&mut file).take(len).read_to_end(&mut buf)?;
            if buf.len() as u64 != len {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "file changed while read",
                ));
            }
            Some(Arc::from(buf))
        } else {
            None
        };
        let modified = meta.modified().unwrap_or(SystemTime::UNIX_EPOCH);
        Ok(CachedFile {
            path: path.to_owned(),
            file: Arc::new(file),
            len,
            modified,
            etag: file_etag(modified, len),
            last_modified: reactor::date::format_http_date(modified),
            content_type: content_type(path),
            content,
            identity: Identity::of(&meta),
            checked: AtomicU64::new(self.now_ms()),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reloads_changed_files_and_expires() {
        let dir = std::env::temp_dir().join(format!("reactor-fc-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("f.txt");
        std::fs::write(&p, "one").unwrap();
        let cache = FileCache::new(10, Duration::from_millis(50));
        let a = cache.load("/f.txt", &p).unwrap();
        assert_eq!(a.content.as_deref(), Some(&b"one"[..]));
        assert!(cache.fresh("/f.txt").is_some());
        std::fs::write(&p, "two!").unwrap();
        let b = cache.load("/f.txt", &p).unwrap();
        assert_eq!(b.content.as_deref(), Some(&b"two!"[..]));
        let c = cache.load("/f.txt", &p).unwrap();
        assert!(Arc::ptr_eq(&b, &c), "unchanged file reuses the entry");
        std::thread::sleep(Duration::from_millis(80));
        assert!(
            cache.fresh("/f.txt").is_none(),
            "stale after the validity period"
        );
        for i in 0..30 {
            let q = dir.join(format!("{i}"));
            std::fs::write(&q, "x").unwrap();
            cache.load(&format!("/{i}"), &q).unwrap();
        }
        let entries = cache.entries.lock().unwrap();
        assert!(entries.map.len() <= 10);
        let held: u64 = entries
            .map
            .values()
            .filter_map(|e| e.content.as_ref())
            .map(|c| c.len() as u64)
            .sum();
        assert_eq!(
            entries.content_bytes, held,
            "content accounting matches the entries"
        );
        let _ = std::fs::remove_dir_all(dir);
    }
}
