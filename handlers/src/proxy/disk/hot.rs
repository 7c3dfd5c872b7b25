//! Open files of the disk tier's small entries that memory does not hold, so that their
//! hits are read on the reactor thread instead of a round trip through the blocking pool.
//!
//! A file is opened, read, checked and decoded on the pool the first time ([`Opened`]);
//! when memory refuses the entry, the open file and its decoded head are kept here (a
//! small LRU: at most [`KEEP`] files). A later hit reads the whole file with
//! `preadv2(RWF_NOWAIT)`: the kernel copies it from the page cache, or answers `EAGAIN`
//! at once when any of it would have to come from the device. So the reactor never waits
//! on the disk (nor on a path lookup: the file is already open); whatever is not in the
//! page cache is read on the pool as before. Every hit still checks what it read: the
//! same head bytes as decoded, and the file's lengths and checksum, so a file changed in
//! place is refused (and then dropped and refetched by the pool's read).
//!
//! A kept file is forgotten when its URL's file is replaced or deleted. A read on the pool
//! that raced with such a change is not kept: it takes a ticket (the generation of its
//! URL's stripe) before opening the file, and [`HotFiles::keep`] refuses it when the
//! stripe moved on since.

use std::fs::File;
use std::io;
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use super::super::cache::Entry;
use super::super::lru::Lru;
use super::format::{fnv1a, verify, FNV_START};

/// Open files kept at most.
pub const KEEP: usize = 128;
/// Largest body whose file is kept (a hit copies it whole on the reactor).
pub const MAX_BODY: usize = 256 * 1024;
/// What one kept file weighs at least; the heads held total at most `KEEP` times this.
const WEIGHT: usize = 16 * 1024;
/// Generation stripes (URLs hashed onto them; a collision only refuses a keep).
const STRIPES: usize = 64;

/// The kept files of one disk tier.
pub(super) struct HotFiles {
    state: Mutex<State>,
    /// `preadv2(RWF_NOWAIT)` works here (cleared on `ENOSYS` / `EOPNOTSUPP`).
    nowait: AtomicBool,
}

struct State {
    files: Lru<Arc<Hot>>,
    generations: [u64; STRIPES],
}

struct Hot {
    file: File,
    /// The whole file's length when it was checked.
    size: usize,
    /// Its head's bytes as checked.
    head: Box<[u8]>,
    /// Its entry as decoded (and retargeted), with an empty body.
    entry: Arc<Entry>,
}

/// A file read whole and checked on the pool, which `HotFiles::keep` may keep open.
pub struct Opened {
    file: File,
    size: usize,
    head: Box<[u8]>,
    ticket: u64,
}

impl Opened {
    /// `file` read whole into `data` and checked, whose head is `head_len` bytes long;
    /// `ticket` was taken before it was opened.
    pub(super) fn new(file: File, data: &[u8], head_len: usize, ticket: u64) -> Opened {
        Opened {
            file,
            size: data.len(),
            head: data.get(..head_len).unwrap_or_default().into(),
            ticket,
        }
    }
}

fn stripe(url: &str) -> usize {
    (fnv1a(FNV_START, url.as_bytes()) % STRIPES as u64) as usize
}

impl HotFiles {
    pub(super) fn new() -> HotFiles {
        HotFiles {
            state: Mutex::new(State {
                files: Lru::new(KEEP * WEIGHT, KEEP * WEIGHT),
                generations: [0; STRIPES],
            }),
            nowait: AtomicBool::new(true),
        }
    }

    /// The ticket to take before opening the file of `url` on the pool.
    pub(super) fn ticket(&self, url: &str) -> u64 {
        self.state
            .lock()
            .map_or(u64::MAX, |s| s.generations[stripe(url)])
    }

    /// Keeps `opened` as the file of `url`, whose entry (as the cache uses it) is `entry`,
    /// unless the file of `url` changed since its ticket was taken.
    pub(super) fn keep(&self, url: &str, opened: Opened, entry: &Entry) {
        if !self.nowait.load(Ordering::Relaxed) || entry.body.len() > MAX_BODY {
            return;
        }
        let entry = Arc::new(Entry {
            body: Arc::from(&[][..]),
            ..entry.clone()
        });
        let weight = WEIGHT.max(2 * opened.head.len());
        let hot = Arc::new(Hot {
            file: opened.file,
            size: opened.size,
            head: opened.head,
            entry,
        });
        if let Ok(mut s) = self.state.lock() {
            if s.generations[stripe(url)] == opened.ticket {
                s.files.insert(url.to_string(), hot, weight);
            }
        }
    }

    /// Forgets the kept file of `url` (its file was replaced or deleted), and refuses
    /// keeping one read before now.
    pub(super) fn forget(&self, url: &str) {
        if let Ok(mut s) = self.state.lock() {
            let g = &mut s.generations[stripe(url)];
            *g = g.wrapping_add(1);
            s.files.remove(url);
        }
    }

    /// The entry of `url` (with an empty body) and its body, read from its kept file
    /// without blocking. `None` when no file is kept, when any of it is not in the page
    /// cache (read it on the pool), or when it is no longer what was checked (forgotten).
    pub(super) fn read(&self, url: &str) -> Option<(Arc<Entry>, Arc<[u8]>)> {
        if !self.nowait.load(Ordering::Relaxed) {
            return None;
        }
        let hot = self.state.lock().ok()?.files.get(url)?.clone();
        let mut data = vec![0u8; hot.size];
        match read_nowait(&hot.file, &mut data) {
            Ok(n) if n == hot.size => {}
            // Partly cached (or the file shrank): the pool's read decides.
            Ok(_) => return None,
            Err(e) => {
                if matches!(e.raw_os_error(), Some(libc::ENOSYS | libc::EOPNOTSUPP)) {
                    log::info!("cache disk: no RWF_NOWAIT reads here ({e}): hits use the pool");
                    self.nowait.store(false, Ordering::Relaxed);
                }
                return None;
            }
        }
        let body = match verify(&data) {
            Some((head, end)) if data.get(..head) == Some(&hot.head[..]) => data.get(head..end),
            _ => None,
        };
        match body {
            Some(body) => Some((hot.entry.clone(), Arc::from(body))),
            None => {
                self.forget(url);
                None
            }
        }
    }
}

/// `preadv2(fd, buf, 0, RWF_NOWAIT)`: what the page cache holds of the start of `file`,
/// or `EAGAIN` when the first page would need the device.
fn read_nowait(file: &File, buf: &mut [u8]) -> io::Result<usize> {
    let iov = libc::iovec {
        iov_base: buf.as_mut_ptr().cast(),
        iov_len: buf.len(),
    };
    // SAFETY: `iov` points into `buf`, valid and exclusively borrowed for the call; the
    // descriptor is open for as long as `file` lives.
    let n = unsafe { libc::preadv2(file.as_raw_fd(), &iov, 1, 0, libc::RWF_NOWAIT) };
    usize::try_from(n).map_err(|_| io::Error::last_os_error())
}

#[cfg(test)]
mod tests {
    use super::super::format::{decode, encode};
    use super::*;
    use std::io::{Seek, SeekFrom, Write};
    use std::path::Path;

    const URL: &str = "http://h/x";

    /// Writes the file of `body` at `path`, opens and checks it as the pool does.
    fn opened(hot: &HotFiles, path: &std::path::Path, body: &[u8]) -> (Entry, Opened) {
        let h = vec![("Cache-Control".to_string(), "max-age=60".to_string())];
        let e = Entry::new(200, h, Arc::from(body), &Default::default(), 1, 1);
        let ticket = hot.ticket(URL);
        std::fs::write(path, encode(URL, &e)).expect("temp file");
        let data = std::fs::read(path).expect("temp file");
        let (e, head) = decode(&data, URL).expect("decodes");
        let file = File::open(path).expect("temp file");
        (e, Opened::new(file, &data, head, ticket))
    }

    /// True on the file systems known to answer `RWF_NOWAIT` reads: ext4, XFS, Btrfs.
    fn nowait_promised(dir: &Path) -> bool {
        use std::os::unix::ffi::OsStrExt;
        let c = std::ffi::CString::new(dir.as_os_str().as_bytes()).expect("no NUL in path");
        // SAFETY: `c` is a NUL-terminated path and `st` a plain struct statfs fills in.
        let mut st: libc::statfs = unsafe { std::mem::zeroed() };
        if unsafe { libc::statfs(c.as_ptr(), &mut st) } != 0 {
            return false;
        }
        matches!(st.f_type as i64, 0xEF53 | 0x5846_5342 | 0x9123_683E)
    }

    #[test]
    fn kept_files_are_read_checked_and_forgotten() {
        // In the checkout, not the temporary directory: tmpfs has no RWF_NOWAIT reads.
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target");
        std::fs::create_dir_all(&dir).expect("target directory");
        let path = dir.join(format!("disk-hot-{}", std::process::id()));
        let hot = HotFiles::new();
        assert!(hot.read(URL).is_none());
        let (e, o) = opened(&hot, &path, b"hello");
        hot.keep(URL, o, &e);
        let read = hot.read(URL);
        if !hot.nowait.load(Ordering::Relaxed) {
            // Only the disk file systems promise RWF_NOWAIT reads; elsewhere (overlayfs
            // in a container, say) the kept file must simply never be used.
            assert!(
                !nowait_promised(&dir),
                "no RWF_NOWAIT reads on the disk file system of {}",
                dir.display()
            );
            assert!(read.is_none() && hot.read(URL).is_none());
            eprintln!(
                "{}: no RWF_NOWAIT reads; checked the fallback only",
                dir.display()
            );
            let _ = std::fs::remove_file(&path);
            return;
        }
        let (entry, body) = read.expect("kept and cached");
        assert_eq!((&body[..], entry.body.len()), (&b"hello"[..], 0));
        assert_eq!(entry.headers, e.headers);

        // Changed in place (same length): refused and forgotten.
        let mut f = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
        let at = std::fs::metadata(&path).unwrap().len() - 24 - 2;
        f.seek(SeekFrom::Start(at)).unwrap();
        f.write_all(b"L").unwrap();
        assert!(hot.read(URL).is_none());
        let (e, o) = opened(&hot, &path, b"again");
        hot.keep(URL, o, &e);
        assert!(hot.read(URL).is_some());

        // A read that started before its file was replaced is not kept.
        hot.forget(URL);
        let (e, o) = opened(&hot, &path, b"older");
        hot.forget(URL);
        hot.keep(URL, o, &e);
        assert!(hot.read(URL).is_none());

        // Nor is a body too big to copy on the reactor.
        let big = vec![7u8; MAX_BODY + 1];
        let (e, o) = opened(&hot, &path, &big);
        hot.keep(URL, o, &e);
        assert!(hot.read(URL).is_none());
        let _ = std::fs::remove_file(&path);
    }
}
