//! The open-file cache (nginx's `open_file_cache`): open descriptors, validators and the
//! content of small files, keyed by request path and revalidated at most once per
//! `validity` (one second by default) with a `stat` on the blocking pool.
//!
//! A hit is answered on the reactor thread with no system call but the socket write. A
//! file that changes is noticed at the next revalidation: its device, inode, size, mtime
//! and ctime (to the nanosecond) are compared, and any difference reloads the entry.
//!
//! For the compression filter an entry also keeps the compressed variants of its content
//! (computed once, within [`VARIANT_BUDGET`]) and, when precompressed siblings are on, the
//! open `.br`/`.zst`/`.gz` siblings that are regular files not older than the file; their
//! identities join the revalidation, so a sibling added, changed or removed is noticed.

use std::collections::HashMap;
use std::fs::File;
use std::hash::{BuildHasherDefault, Hasher};
use std::io::{self, Read};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use reactor::response::HeaderValue;

use crate::conditional::file_etag;
use crate::encoding::Encoding;
use crate::static_files::content_type;

/// Files up to this size have their content cached (larger ones go out with sendfile).
pub const MAX_CACHED_CONTENT: u64 = 128 * 1024;
/// Most content bytes a cache holds; past it, new entries keep no content.
pub const CONTENT_BUDGET: u64 = 64 * 1024 * 1024;
/// Most bytes of compressed variants a cache holds; past it, variants are not kept.
pub const VARIANT_BUDGET: u64 = 32 * 1024 * 1024;

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

/// A precompressed sibling of a cached file (`app.js.br` next to `app.js`).
#[derive(Debug)]
pub struct Sibling {
    /// The open sibling.
    pub file: Arc<File>,
    /// Its length.
    pub len: u64,
    /// Its whole content, when small.
    pub content: Option<Arc<[u8]>>,
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
    /// Strong ETag (shared: a response carries it without a copy).
    pub etag: HeaderValue,
    /// `Last-Modified` value (shared).
    pub last_modified: HeaderValue,
    /// `Content-Type` value (shared).
    pub content_type: HeaderValue,
    /// The whole content, for small files.
    pub content: Option<Arc<[u8]>>,
    /// Precompressed siblings, by [`Encoding::index`].
    pub siblings: [Option<Sibling>; 3],
    /// Compressed variants of `content`, by [`Encoding::index`].
    variants: Mutex<[Option<Arc<[u8]>>; 3]>,
    variant_bytes: Arc<AtomicU64>,
    identity: Identity,
    sibling_ids: [Option<Identity>; 3],
    /// When the entry was last checked against the disk, in ms since the cache started.
    checked: AtomicU64,
}

impl CachedFile {
    /// Content bytes held in memory: the file's and its siblings'.
    fn held_bytes(&self) -> u64 {
        let len = |c: &Option<Arc<[u8]>>| c.as_ref().map_or(0, |c| c.len() as u64);
        len(&self.content)
            + self
                .siblings
                .iter()
                .flatten()
                .map(|s| len(&s.content))
                .sum::<u64>()
    }

    /// The compressed variant of the content in `encoding`, if computed already.
    pub fn variant(&self, encoding: Encoding) -> Option<Arc<[u8]>> {
        self.variants.lock().ok()?[encoding.index()].clone()
    }

    /// Keeps `bytes` as the variant in `encoding` if the cache's variant budget allows.
    pub fn store_variant(&self, encoding: Encoding, bytes: Arc<[u8]>) {
        let len = bytes.len() as u64;
        if self.variant_bytes.fetch_add(len, Ordering::Relaxed) + len > VARIANT_BUDGET {
            self.variant_bytes.fetch_sub(len, Ordering::Relaxed);
            return;
        }
        if let Ok(mut v) = self.variants.lock() {
            if let Some(old) = v[encoding.index()].replace(bytes) {
                self.variant_bytes
                    .fetch_sub(old.len() as u64, Ordering::Relaxed);
            }
        }
    }
}

impl Drop for CachedFile {
    fn drop(&mut self) {
        if let Ok(v) = self.variants.get_mut() {
            let held: u64 = v.iter().flatten().map(|b| b.len() as u64).sum();
            self.variant_bytes.fetch_sub(held, Ordering::Relaxed);
        }
    }
}

/// The identities of the precompressed siblings of `path` usable next to a file with
/// metadata `main`: regular files (not symlinks) not older than it.
fn sibling_identities(path: &Path, main: &std::fs::Metadata) -> [Option<Identity>; 3] {
    Encoding::ALL.map(|e| {
        let mut name = path.as_os_str().to_owned();
        name.push(".");
        name.push(e.extension());
        let m = std::fs::symlink_metadata(PathBuf::from(name)).ok()?;
        let newer = (m.mtime(), m.mtime_nsec()) >= (main.mtime(), main.mtime_nsec());
        (m.is_file() && newer).then(|| Identity::of(&m))
    })
}

/// A fast hash for request paths (FxHash's mixing, a word at a time). SipHash's defence
/// against chosen collisions is not needed: only files that exist become keys.
#[derive(Default)]
struct PathHasher(u64);

impl Hasher for PathHasher {
    fn write(&mut self, bytes: &[u8]) {
        let mut words = bytes.chunks_exact(8);
        for w in &mut words {
            self.mix(u64::from_le_bytes(w.try_into().unwrap_or_default()));
        }
        let mut last = [0u8; 8];
        let rest = words.remainder();
        last[..rest.len()].copy_from_slice(rest);
        self.mix(u64::from_le_bytes(last) ^ rest.len() as u64);
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

impl PathHasher {
    fn mix(&mut self, word: u64) {
        self.0 = (self.0.rotate_left(5) ^ word).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }
}

/// The entries and the content bytes they hold.
#[derive(Debug, Default)]
struct Entries {
    map: HashMap<String, Arc<CachedFile>, BuildHasherDefault<PathHasher>>,
    content_bytes: u64,
}

impl Entries {
    fn remove(&mut self, key: &str) {
        if let Some(old) = self.map.remove(key) {
            self.content_bytes -= old.held_bytes();
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
    precompressed: bool,
    variant_bytes: Arc<AtomicU64>,
}

impl FileCache {
    /// A cache of at most `max_entries` files, each revalidated after `validity`.
    pub fn new(max_entries: usize, validity: Duration) -> Self {
        FileCache {
            entries: Mutex::default(),
            start: Instant::now(),
            validity,
            max_entries,
            precompressed: false,
            variant_bytes: Arc::default(),
        }
    }

    /// Also opens the precompressed siblings (`.br`, `.zst`, `.gz`) of cached files, for
    /// the compression filter to serve.
    pub fn with_precompressed(mut self, on: bool) -> Self {
        self.precompressed = on;
        self
    }

    /// The entry for `key` whatever its age (the compression filter looks up the entry a
    /// response was just made from).
    pub fn peek(&self, key: &str) -> Option<Arc<CachedFile>> {
        self.entries.lock().ok()?.map.get(key).cloned()
    }

    /// Milliseconds from the cache's creation to `at`.
    fn ms_at(&self, at: Instant) -> u64 {
        at.saturating_duration_since(self.start).as_millis() as u64
    }

    /// The entry for `key` if it was validated within the validity period before `now`
    /// (a handler passes its reactor's clock, `Context::now`, read once per turn).
    pub fn fresh(&self, key: &str, now: Instant) -> Option<Arc<CachedFile>> {
        let entry = self.entries.lock().ok()?.map.get(key)?.clone();
        let age = self
            .ms_at(now)
            .saturating_sub(entry.checked.load(Ordering::Relaxed));
        (u128::from(age) < self.validity.as_millis()).then_some(entry)
    }

    /// Blocking: the entry for `key`, served from `path`, revalidated or (re)loaded.
    pub fn load(&self, key: &str, path: &Path) -> io::Result<Arc<CachedFile>> {
        let meta = std::fs::metadata(path)?;
        let identity = Identity::of(&meta);
        let sibling_ids = if self.precompressed {
            sibling_identities(path, &meta)
        } else {
            [None; 3]
        };
        let (existing, content_room) = match self.entries.lock() {
            Ok(e) => (
                e.map.get(key).cloned(),
                e.content_bytes + meta.len() <= CONTENT_BUDGET,
            ),
            Err(_) => (None, false),
        };
        if let Some(e) = existing
            .filter(|e| e.identity == identity && e.sibling_ids == sibling_ids && e.path == path)
        {
            e.checked
                .store(self.ms_at(Instant::now()), Ordering::Relaxed);
            return Ok(e);
        }
        let entry = Arc::new(self.open(path, content_room, sibling_ids)?);
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
            entries.content_bytes += entry.held_bytes();
            entries.map.insert(key.to_owned(), entry.clone());
        }
        Ok(entry)
    }

    /// Opens `path`, reading its content too if it is small and `content_room` allows,
    /// and the siblings named by `sibling_ids`.
    fn open(
        &self,
        path: &Path,
        content_room: bool,
        sibling_ids: [Option<Identity>; 3],
    ) -> io::Result<CachedFile> {
        let (file, meta, content) = open_regular(path, content_room)?;
        let mut siblings = [None, None, None];
        for (e, id) in Encoding::ALL.iter().zip(sibling_ids) {
            if id.is_none() {
                continue;
            }
            let mut name = path.as_os_str().to_owned();
            name.push(".");
            name.push(e.extension());
            // A sibling that cannot be opened is simply not offered.
            if let Ok((file, meta, content)) = open_regular(Path::new(&name), content_room) {
                siblings[e.index()] = Some(Sibling {
                    file: Arc::new(file),
                    len: meta.len(),
                    content,
                });
            }
        }
        let len = meta.len();
        let modified = meta.modified().unwrap_or(SystemTime::UNIX_EPOCH);
        Ok(CachedFile {
            path: path.to_owned(),
            file: Arc::new(file),
            len,
            modified,
            etag: HeaderValue::shared(file_etag(modified, len)),
            last_modified: HeaderValue::shared(reactor::date::format_http_date(modified)),
            content_type: content_type_value(path),
            content,
            siblings,
            variants: Mutex::default(),
            variant_bytes: self.variant_bytes.clone(),
            identity: Identity::of(&meta),
            sibling_ids,
            checked: AtomicU64::new(self.ms_at(Instant::now())),
        })
    }
}

/// The `Content-Type` of `path` as a value that costs no reference count per response:
/// each distinct type is kept once for the life of the process. They all come from
/// `mime_guess`'s table, a few hundred at most; past [`MAX_STATIC_TYPES`] they are shared.
fn content_type_value(path: &Path) -> HeaderValue {
    static KEPT: Mutex<Vec<&'static str>> = Mutex::new(Vec::new());
    let ct = content_type(path);
    let Ok(mut kept) = KEPT.lock() else {
        return HeaderValue::shared(ct);
    };
    if let Some(s) = kept.iter().find(|s| **s == ct) {
        return HeaderValue::from(*s);
    }
    if kept.len() >= MAX_STATIC_TYPES {
        return HeaderValue::shared(ct);
    }
    let s: &'static str = Box::leak(ct.into_boxed_str());
    kept.push(s);
    HeaderValue::from(s)
}

/// Most content types [`content_type_value`] keeps.
const MAX_STATIC_TYPES: usize = 512;

/// An open regular file, its metadata and maybe its content.
type Opened = (File, std::fs::Metadata, Option<Arc<[u8]>>);

/// Opens the regular file at `path` without blocking on FIFOs, and reads its content if it
/// is small and `content_room` allows.
fn open_regular(path: &Path, content_room: bool) -> io::Result<Opened> {
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
    Ok((file, meta, content))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_types_are_kept_once() {
        let a = content_type_value(Path::new("/x/a.html"));
        let b = content_type_value(Path::new("/y/b.html"));
        assert_eq!(a, "text/html; charset=utf-8");
        assert_eq!(a.as_ptr(), b.as_ptr(), "one string for one type");
        assert_ne!(a, content_type_value(Path::new("c.png")));
    }

    #[test]
    fn reloads_changed_files_and_expires() {
        let dir = std::env::temp_dir().join(format!("reactor-fc-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("f.txt");
        std::fs::write(&p, "one").unwrap();
        let cache = FileCache::new(10, Duration::from_millis(50));
        let a = cache.load("/f.txt", &p).unwrap();
        assert_eq!(a.content.as_deref(), Some(&b"one"[..]));
        assert!(cache.fresh("/f.txt", Instant::now()).is_some());
        std::fs::write(&p, "two!").unwrap();
        let b = cache.load("/f.txt", &p).unwrap();
        assert_eq!(b.content.as_deref(), Some(&b"two!"[..]));
        let c = cache.load("/f.txt", &p).unwrap();
        assert!(Arc::ptr_eq(&b, &c), "unchanged file reuses the entry");
        std::thread::sleep(Duration::from_millis(80));
        assert!(
            cache.fresh("/f.txt", Instant::now()).is_none(),
            "stale after the validity period"
        );
        for i in 0..30 {
            let q = dir.join(format!("{i}"));
            std::fs::write(&q, "x").unwrap();
            cache.load(&format!("/{i}"), &q).unwrap();
        }
        let entries = cache.entries.lock().unwrap();
        assert!(entries.map.len() <= 10);
        let held: u64 = entries.map.values().map(|e| e.held_bytes()).sum();
        assert_eq!(
            entries.content_bytes, held,
            "content accounting matches the entries"
        );
        let _ = std::fs::remove_dir_all(dir);
    }
}
