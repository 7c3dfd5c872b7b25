//! Directory listings (Apache style): HTML for browsers, JSON on request. The directory
//! is read on the blocking pool.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use reactor::{Body, Context, Handler, Reply, Request, Response};

use crate::listing_page::{parse_query, render_html_with, render_json, sort_entries, Entry, Sort};
use crate::path::{canonical, resolve};
use crate::static_files::{io_error, locate, path_error};
use crate::{read_only, FsRoot};

/// Most entries a listing shows; beyond it the listing says it was cut short.
pub const MAX_ENTRIES: usize = 200_000;
/// Listings with more entries than this are big: their pages are rendered on the blocking
/// pool, never on the reactor, and only [`MAX_CACHED_BIG`] of them are cached at once.
const BIG: usize = 20_000;
/// Directories whose listing is cached.
const MAX_CACHED_DIRS: usize = 256;
/// Big listings cached at once (each up to [`MAX_ENTRIES`] entries and its pages).
const MAX_CACHED_BIG: usize = 4;
/// How long a cached listing is served before the directory is read again.
const VALIDITY: Duration = Duration::from_secs(1);

/// Lists directories under a root. Sort with Apache's query (`?C=N|M|S;O=A|D`); get JSON
/// with `?format=json` or `Accept: application/json`. Place it after [`crate::StaticFiles`]
/// so that directories with an `index.html` show the index instead.
///
/// A directory is read (on the blocking pool) at most once a second; in between, the
/// rendered pages are served from memory on the reactor. Each page is rendered once per
/// directory read, sort order and format, and its bytes are shared by every client it is
/// sent to, so clients that stall hold no copy of their own.
pub struct DirectoryListing {
    root: FsRoot,
    cache: Arc<Cache>,
    /// Directories being read, each with a gate: clients that ask at once wait for one
    /// read and rendering instead of each making their own.
    reading: Arc<Mutex<HashMap<String, Arc<Mutex<()>>>>>,
    /// Show the upload form ([`crate::upload`]).
    upload_form: bool,
}

/// Rendered pages by variant: (sort order, JSON?).
type Pages = HashMap<(Sort, bool), Arc<[u8]>>;

/// Listings by decoded directory path.
type Cache = Mutex<HashMap<String, Arc<Listing>>>;

/// One directory's entries as last read, and the pages rendered from them.
struct Listing {
    entries: Vec<Entry>,
    /// The HTML page shows the upload form.
    upload_form: bool,
    /// When the read of the directory started.
    read_at: Instant,
    pages: Mutex<Pages>,
}

impl Listing {
    /// The page for `sort` (HTML) or JSON, rendered once per variant.
    fn page(&self, url_path: &str, sort: Sort, json: bool) -> Response {
        let key = page_key(sort, json);
        let bytes = self.rendered(key).unwrap_or_else(|| {
            let text = if json {
                render_json(url_path, &self.entries)
            } else {
                let mut entries = self.entries.clone();
                sort_entries(&mut entries, sort);
                let form = match self.upload_form {
                    true => crate::upload::form_html(url_path),
                    false => String::new(),
                };
                render_html_with(url_path, &entries, sort, &form)
            };
            let bytes: Arc<[u8]> = Arc::from(text.into_bytes());
            match self.pages.lock() {
                // Another thread may have rendered it meanwhile: keep one copy, the first.
                Ok(mut p) => p.entry(key).or_insert(bytes).clone(),
                Err(_) => bytes,
            }
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

    /// The page for `key` if it has been rendered already.
    fn rendered(&self, key: (Sort, bool)) -> Option<Arc<[u8]>> {
        self.pages.lock().ok().and_then(|p| p.get(&key).cloned())
    }

    fn is_big(&self) -> bool {
        self.entries.len() > BIG
    }
}

/// The variant a page is stored under: JSON has a single order.
fn page_key(sort: Sort, json: bool) -> (Sort, bool) {
    (if json { Sort::default() } else { sort }, json)
}

/// The listing of `key` if its read started less than [`VALIDITY`] ago or after `since`.
fn fresh(cache: &Cache, key: &str, since: Option<Instant>) -> Option<Arc<Listing>> {
    cache
        .lock()
        .ok()
        .and_then(|c| c.get(key).cloned())
        .filter(|l| l.read_at.elapsed() < VALIDITY || since.is_some_and(|t| l.read_at >= t))
}

/// Keeps `listing` for `key`, within [`MAX_CACHED_DIRS`] and [`MAX_CACHED_BIG`].
fn store(cache: &Cache, key: &str, listing: &Arc<Listing>) {
    let Ok(mut c) = cache.lock() else { return };
    let full = |c: &HashMap<String, Arc<Listing>>| {
        c.len() >= MAX_CACHED_DIRS
            || (listing.is_big() && c.values().filter(|l| l.is_big()).count() >= MAX_CACHED_BIG)
    };
    if full(&c) {
        c.retain(|_, l| l.read_at.elapsed() < VALIDITY);
    }
    if !full(&c)
        || c.get(key)
            .is_some_and(|old| old.is_big() || !listing.is_big())
    {
        c.insert(key.to_owned(), listing.clone());
    }
}

impl DirectoryListing {
    /// The page from a fresh cached listing of `key`, if it can be served on the reactor
    /// (pages of big listings are rendered on the pool, never on the reactor).
    fn cached_page(&self, key: &str, sort: Sort, json: bool) -> Option<Response> {
        let listing = fresh(&self.cache, key, None)?;
        (!listing.is_big() || listing.rendered(page_key(sort, json)).is_some())
            .then(|| listing.page(key, sort, json))
    }

    /// Lists directories under `root`.
    pub fn new(root: FsRoot) -> Self {
        DirectoryListing {
            root,
            cache: Arc::default(),
            reading: Arc::default(),
            upload_form: false,
        }
    }

    /// Shows (or not) the upload form under each HTML listing, for a root that takes
    /// uploads ([`crate::upload::Upload`]).
    pub fn with_upload_form(mut self, on: bool) -> Self {
        self.upload_form = on;
        self
    }

    /// A function that drops the cached listing of a directory (its decoded path, ending in
    /// `/`), so that the next request reads it again: for [`crate::upload::Upload::on_change`].
    pub fn invalidator(&self) -> impl Fn(&str) + Send + Sync + 'static {
        let cache = self.cache.clone();
        move |dir: &str| {
            if let Ok(mut c) = cache.lock() {
                c.remove(dir);
            }
        }
    }
}

impl Handler for DirectoryListing {
    fn handle(&self, req: &mut Request, cx: &mut Context<'_>) -> Reply {
        if let Some(reply) = read_only(req) {
            return reply;
        }
        let (sort, json_query) = parse_query(req.query());
        let json = json_query
            || req
                .header("accept")
                .is_some_and(|a| a.contains("application/json"));
        // A path already in normal form is its own cache key: no resolving on a hit.
        let canonical_dir = canonical(req.path(), self.root.dotfiles).filter(|p| p.ends_with('/'));
        if let Some(page) = canonical_dir.and_then(|key| self.cached_page(key, sort, json)) {
            return Reply::Response(page);
        }
        let resolved = match resolve(req.path(), self.root.dotfiles) {
            Ok(r) if r.trailing_slash => r,
            Ok(_) => return Reply::Decline,
            Err(e) => return Reply::Response(path_error(e)),
        };
        let key = resolved.decoded.clone();
        if let Some(page) = self.cached_page(&key, sort, json) {
            return Reply::Response(page);
        }
        let root = self.root.clone();
        let cache = self.cache.clone();
        let reading = self.reading.clone();
        let asked = Instant::now();
        let form = self.upload_form;
        cx.blocking(move || {
            let (path, meta) = match locate(&root, &resolved) {
                Ok(found) => found,
                Err(r) => return Some(r),
            };
            if !meta.is_dir() {
                return None;
            }
            let gate = reading
                .lock()
                .ok()
                .map(|mut r| r.entry(key.clone()).or_default().clone());
            let page = {
                let _one_at_a_time = gate.as_ref().map(|g| g.lock());
                read_and_render(&root, &path, &cache, &key, asked, (sort, json, form))
            };
            if let (Some(gate), Ok(mut r)) = (gate, reading.lock()) {
                if Arc::strong_count(&gate) <= 2 {
                    r.remove(&key); // nobody else waits at this gate
                }
            }
            Some(page)
        })
    }
}

/// The page from the cached listing if it was read after the client asked (another client's
/// read) or is fresh; otherwise reads the directory, caches the listing and renders the page.
fn read_and_render(
    root: &FsRoot,
    path: &std::path::Path,
    cache: &Cache,
    key: &str,
    asked: Instant,
    (sort, json, upload_form): (Sort, bool, bool),
) -> Response {
    if let Some(listing) = fresh(cache, key, Some(asked)) {
        return listing.page(key, sort, json);
    }
    let read_at = Instant::now();
    let entries = match read_entries(path, root.dotfiles) {
        Ok(e) => e,
        Err(e) => return io_error(path, &e),
    };
    let listing = Arc::new(Listing {
        entries,
        upload_form,
        read_at,
        pages: Mutex::default(),
    });
    store(cache, key, &listing);
    listing.page(key, sort, json)
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
