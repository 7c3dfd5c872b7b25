//! Directory listings (Apache style): HTML for browsers, JSON on request. The directory
//! is read on the blocking pool.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use reactor::{Body, Context, Handler, Reply, Request, Response};

use crate::listing_page::{parse_query, render_html, render_json, sort_entries, Entry, Sort};
use crate::path::resolve;
use crate::static_files::{io_error, locate, path_error};
use crate::{read_only, FsRoot};

/// Most entries a listing shows; beyond it the listing says it was cut short.
pub const MAX_ENTRIES: usize = 200_000;
/// Listings with more entries than this are not cached.
const MAX_CACHED_ENTRIES: usize = 20_000;
/// Directories whose listing is cached.
const MAX_CACHED_DIRS: usize = 256;
/// How long a cached listing is served before the directory is read again.
const VALIDITY: Duration = Duration::from_secs(1);

/// Lists directories under a root. Sort with Apache's query (`?C=N|M|S;O=A|D`); get JSON
/// with `?format=json` or `Accept: application/json`. Place it after [`crate::StaticFiles`]
/// so that directories with an `index.html` show the index instead.
///
/// A directory is read (on the blocking pool) at most once a second; in between, the
/// rendered pages are served from memory on the reactor.
pub struct DirectoryListing {
    root: FsRoot,
    cache: Arc<Mutex<HashMap<String, Arc<Listing>>>>,
}

/// Rendered pages by variant: (sort order, JSON?).
type Pages = HashMap<(Sort, bool), Arc<[u8]>>;

/// One directory's entries as last read, and the pages rendered from them.
struct Listing {
    entries: Vec<Entry>,
    read_at: Instant,
    pages: Mutex<Pages>,
}

impl Listing {
    /// The page for `sort` (HTML) or JSON, rendered once per variant.
    fn page(&self, url_path: &str, sort: Sort, json: bool) -> Response {
        let key = (if json { Sort::default() } else { sort }, json);
        let cached = self.pages.lock().ok().and_then(|p| p.get(&key).cloned());
        let bytes = cached.unwrap_or_else(|| {
            let text = if json {
                render_json(url_path, &self.entries)
            } else {
                let mut entries = self.entries.clone();
                sort_entries(&mut entries, sort);
                render_html(url_path, &entries, sort)
            };
            let bytes: Arc<[u8]> = Arc::from(text.into_bytes());
            if let Ok(mut p) = self.pages.lock() {
                p.insert(key, bytes.clone());
            }
            bytes
        });
        let content_type = if json {
            "application/json"
        } else {
            "text/html; charset=utf-8"
        };
        Response::new(200)
            .with_header("Content-Type", content_type)
            .with_body(Body::from(bytes))
    }
}

impl DirectoryListing {
    /// Lists directories under `root`.
    pub fn new(root: FsRoot) -> Self {
        DirectoryListing {
            root,
            cache: Arc::default(),
        }
    }
}

impl Handler for DirectoryListing {
    fn handle(&self, req: &mut Request, cx: &mut Context<'_>) -> Reply {
        if let Some(reply) = read_only(req) {
            return reply;
        }
        let resolved = match resolve(req.path(), self.root.dotfiles) {
            Ok(r) if r.trailing_slash => r,
            Ok(_) => return Reply::Decline,
            Err(e) => return Reply::Response(path_error(e)),
        };
        let (sort, json_query) = parse_query(req.query());
        let json = json_query
            || req
                .header("accept")
                .is_some_and(|a| a.contains("application/json"));
        let key = resolved.decoded.clone();
        let fresh = self
            .cache
            .lock()
            .ok()
            .and_then(|c| c.get(&key).cloned())
            .filter(|l| l.read_at.elapsed() < VALIDITY);
        if let Some(listing) = fresh {
            return Reply::Response(listing.page(&key, sort, json));
        }
        let root = self.root.clone();
        let cache = self.cache.clone();
        cx.blocking(move || {
            let (path, meta) = match locate(&root, &resolved) {
                Ok(found) => found,
                Err(r) => return Some(r),
            };
            if !meta.is_dir() {
                return None;
            }
            let entries = match read_entries(&path, root.dotfiles) {
                Ok(e) => e,
                Err(e) => return Some(io_error(&path, &e)),
            };
            let listing = Arc::new(Listing {
                entries,
                read_at: Instant::now(),
                pages: Mutex::default(),
            });
            if listing.entries.len() <= MAX_CACHED_ENTRIES {
                if let Ok(mut c) = cache.lock() {
                    if c.len() >= MAX_CACHED_DIRS {
                        c.retain(|_, l| l.read_at.elapsed() < VALIDITY);
                    }
                    if c.len() < MAX_CACHED_DIRS {
                        c.insert(key.clone(), listing.clone());
                    }
                }
            }
            Some(listing.page(&key, sort, json))
        })
    }
}

/// Reads a directory's entries, skipping dotfiles (unless allowed) and names that are not
/// UTF-8 (they could not be linked faithfully).
fn read_entries(dir: &std::path::Path, dotfiles: bool) -> std::io::Result<Vec<Entry>> {
    let mut entries = Vec::new();
    for item in std::fs::read_dir(dir)? {
        let item = item?;
        let Ok(name) = item.file_name().into_string() else {
            log::debug!("{}: skipping a name that is not UTF-8", dir.display());
            continue;
        };
        if !dotfiles && name.starts_with('.') {
            continue;
        }
        // Follow symlinks for size and type; a dangling one is shown as an empty file.
        let meta = std::fs::metadata(item.path()).or_else(|_| item.metadata());
        let (is_dir, size, modified) = match meta {
            Ok(m) => (
                m.is_dir(),
                m.len(),
                m.modified().unwrap_or(SystemTime::UNIX_EPOCH),
            ),
            Err(_) => (false, 0, SystemTime::UNIX_EPOCH),
        };
        entries.push(Entry {
            name,
            is_dir,
            size,
            modified,
        });
        if entries.len() >= MAX_ENTRIES {
            log::warn!("{}: listing cut at {MAX_ENTRIES} entries", dir.display());
            break;
        }
    }
    Ok(entries)
}
