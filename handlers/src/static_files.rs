//! Static files: safe path resolution, MIME types, validators, conditional and range
//! requests, index files. Every file-system call runs on the blocking pool.

use std::fs::Metadata;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use reactor::ascii::eq_ignore_case;
use reactor::{Body, Context, Handler, Part, Reply, Request, Response};

use crate::conditional::{evaluate, if_range_matches, Conditions, Precondition, Validators};
use crate::file_cache::{CachedFile, FileCache};
use crate::path::{canonical, encode_path, resolve, within_root, PathError, ResolvedPath};
use crate::range::{
    content_range, content_range_unsatisfied, parse_range, ByteRange, RangeOutcome,
};
use crate::{read_only, FsRoot};

/// Serves files under a root directory. Directories without an index file are declined,
/// so a listing handler placed after this one can take them.
///
/// Hot files are answered from an open-file cache ([`FileCache`]) on the reactor thread;
/// the rest, and every revalidation, run on the blocking pool.
///
/// ```no_run
/// use reactor::{Config, Server};
/// use reactor_handlers::{DirectoryListing, FsRoot, StaticFiles};
/// let root = FsRoot::new("www")?;
/// let server = Server::new(Config::default())
///     .handler(StaticFiles::new(root.clone()))
///     .handler(DirectoryListing::new(root));
/// server.start()?.wait();
/// # Ok::<(), std::io::Error>(())
/// ```
pub struct StaticFiles {
    root: FsRoot,
    cache: Arc<FileCache>,
    fallback: Option<Arc<ResolvedPath>>,
}

impl StaticFiles {
    /// Serves files under `root`, caching up to 1,000 open files for one second.
    pub fn new(root: FsRoot) -> Self {
        StaticFiles::with_cache(root, FileCache::new(1000, Duration::from_secs(1)))
    }

    /// Serves files under `root` with the given cache.
    pub fn with_cache(root: FsRoot, cache: FileCache) -> Self {
        StaticFiles::with_shared_cache(root, Arc::new(cache))
    }

    /// Serves files under `root` with a cache shared with others (the compression filter
    /// finds compressed variants and precompressed siblings in it).
    pub fn with_shared_cache(root: FsRoot, cache: Arc<FileCache>) -> Self {
        StaticFiles {
            root,
            cache,
            fallback: None,
        }
    }

    /// Serves the file at `path` (e.g. `/index.html`), with 200, for every GET or HEAD
    /// that would get 404 because nothing is there (single-page applications).
    pub fn with_fallback(mut self, path: &str) -> Result<Self, String> {
        let resolved = resolve(path, self.root.dotfiles)
            .map_err(|_| format!("fallback {path:?} is not a valid path under the root"))?;
        self.fallback = Some(Arc::new(resolved));
        Ok(self)
    }
}

/// The request fields a file response depends on: borrowed on the reactor, owned when the
/// work moves to the pool.
#[derive(Default)]
struct Wanted<S> {
    get_or_head: bool,
    range: Option<S>,
    if_range: Option<S>,
    if_match: Option<S>,
    if_none_match: Option<S>,
    if_modified_since: Option<S>,
    if_unmodified_since: Option<S>,
}

impl<'a> Wanted<&'a str> {
    /// The fields of `req`, found in one pass over its headers (only the first of each
    /// name counts, as with [`Request::header`]).
    fn of(req: &'a Request) -> Self {
        let mut w = Wanted {
            get_or_head: req.is_get_or_head(),
            ..Wanted::default()
        };
        let mut seen = 0u8;
        for h in req.headers.iter() {
            let name = h.name.as_str();
            let is = |n: &str| eq_ignore_case(name.as_bytes(), n.as_bytes());
            let (bit, slot) = match name.len() {
                5 if is("range") => (1, &mut w.range),
                8 if is("if-range") => (2, &mut w.if_range),
                8 if is("if-match") => (4, &mut w.if_match),
                13 if is("if-none-match") => (8, &mut w.if_none_match),
                17 if is("if-modified-since") => (16, &mut w.if_modified_since),
                19 if is("if-unmodified-since") => (32, &mut w.if_unmodified_since),
                _ => continue,
            };
            if seen & bit == 0 {
                seen |= bit;
                *slot = std::str::from_utf8(&h.value).ok();
            }
        }
        w
    }

    fn to_owned(&self) -> Wanted<String> {
        let o = |v: Option<&str>| v.map(str::to_owned);
        Wanted {
            get_or_head: self.get_or_head,
            range: o(self.range),
            if_range: o(self.if_range),
            if_match: o(self.if_match),
            if_none_match: o(self.if_none_match),
            if_modified_since: o(self.if_modified_since),
            if_unmodified_since: o(self.if_unmodified_since),
        }
    }
}

impl Wanted<String> {
    fn borrow(&self) -> Wanted<&str> {
        Wanted {
            get_or_head: self.get_or_head,
            range: self.range.as_deref(),
            if_range: self.if_range.as_deref(),
            if_match: self.if_match.as_deref(),
            if_none_match: self.if_none_match.as_deref(),
            if_modified_since: self.if_modified_since.as_deref(),
            if_unmodified_since: self.if_unmodified_since.as_deref(),
        }
    }
}

impl Handler for StaticFiles {
    fn handle(&self, req: &mut Request, cx: &mut Context<'_>) -> Reply {
        if let Some(reply) = read_only(req) {
            return reply;
        }
        // A path already in normal form is its own cache key: no resolving on a hit.
        if let Some(key) = canonical(req.path(), self.root.dotfiles) {
            if let Some(entry) = self.cache.fresh(key, cx.now()) {
                return Reply::Response(respond(&entry, &Wanted::of(req)));
            }
        }
        let resolved = match resolve(req.path(), self.root.dotfiles) {
            Ok(r) => r,
            Err(e) => return Reply::Response(path_error(e)),
        };
        let wanted = Wanted::of(req);
        if let Some(entry) = self.cache.fresh(&resolved.decoded, cx.now()) {
            return Reply::Response(respond(&entry, &wanted));
        }
        let wanted = wanted.to_owned();
        let query = req.query().map(str::to_owned);
        let root = self.root.clone();
        let cache = self.cache.clone();
        let fallback = self.fallback.clone();
        cx.blocking(move || {
            let found = serve(&root, &cache, &resolved, query.as_deref(), &wanted);
            match (found, fallback) {
                (Some(r), Some(fallback)) if r.status == 404 => {
                    serve(&root, &cache, &fallback, None, &wanted)
                }
                (found, _) => found,
            }
        })
    }
}

/// The answer to a path refused by [`resolve`].
pub(crate) fn path_error(e: PathError) -> Response {
    match e {
        PathError::BadRequest => Response::error_with(400, "The request path is not valid."),
        PathError::Hidden => Response::error(404),
    }
}

/// The answer to a failed file-system call on `path`.
pub(crate) fn io_error(path: &Path, e: &io::Error) -> Response {
    match e.kind() {
        io::ErrorKind::NotFound | io::ErrorKind::NotADirectory => Response::error(404),
        io::ErrorKind::PermissionDenied => Response::error(403),
        // A name too long to exist, or a symlink loop: nothing there to serve.
        _ if matches!(e.raw_os_error(), Some(libc::ENAMETOOLONG | libc::ELOOP)) => {
            Response::error(404)
        }
        _ => {
            log::error!("{}: {e}", path.display());
            Response::error(500)
        }
    }
}

/// Looks `resolved` up under the root: the path, and its metadata, provided it stays
/// inside the root (symlinks included). `Err` is the response to send instead.
pub(crate) fn locate(
    root: &FsRoot,
    resolved: &ResolvedPath,
) -> Result<(PathBuf, Metadata), Response> {
    let path = root.dir.join(&resolved.relative);
    let meta = std::fs::metadata(&path).map_err(|e| io_error(&path, &e))?;
    if !root.follow_symlinks {
        match within_root(&root.dir, &path) {
            Ok(true) => {}
            Ok(false) => {
                log::warn!("{}: refused, leads outside the root", path.display());
                return Err(Response::error(404));
            }
            Err(e) => return Err(io_error(&path, &e)),
        }
    }
    Ok((path, meta))
}

/// Blocking: finds the file for `resolved` (an index file for a directory), loads or
/// revalidates its cache entry, and answers. `None` declines a directory without index.
fn serve(
    root: &FsRoot,
    cache: &FileCache,
    resolved: &ResolvedPath,
    query: Option<&str>,
    w: &Wanted<String>,
) -> Option<Response> {
    let (mut path, meta) = match locate(root, resolved) {
        Ok(found) => found,
        Err(r) => return Some(r),
    };
    if meta.is_dir() {
        if !resolved.trailing_slash {
            let mut location = encode_path(&resolved.decoded);
            location.push('/');
            if let Some(q) = query {
                location.push('?');
                location.push_str(q);
            }
            return Some(Response::error(301).with_header("Location", location));
        }
        path.push("index.html");
        match std::fs::metadata(&path) {
            Ok(m) if m.is_file() => {}
            _ => return None,
        }
        if !root.follow_symlinks && !within_root(&root.dir, &path).unwrap_or(false) {
            return None;
        }
    }
    Some(match cache.load(&resolved.decoded, &path) {
        Ok(entry) => respond(&entry, &w.borrow()),
        Err(e) => io_error(&path, &e),
    })
}

/// The response for `entry` given the request's conditions and range.
fn respond(entry: &CachedFile, w: &Wanted<&str>) -> Response {
    let validators = Validators {
        etag: &entry.etag,
        last_modified: entry.modified,
    };
    let conditions = Conditions {
        if_match: w.if_match,
        if_none_match: w.if_none_match,
        if_modified_since: w.if_modified_since,
        if_unmodified_since: w.if_unmodified_since,
    };
    match evaluate(w.get_or_head, &conditions, &validators) {
        Precondition::Proceed => {}
        Precondition::NotModified => {
            let mut resp = Response::new(304);
            add_validators(&mut resp, entry);
            return resp;
        }
        Precondition::Failed => return Response::error(412),
    }
    let len = entry.len;
    let outcome = match w.range {
        Some(range) if if_range_matches(w.if_range, &validators) => parse_range(range, len),
        _ => RangeOutcome::Full,
    };
    let mut resp = match outcome {
        RangeOutcome::Full => {
            let body = match &entry.content {
                Some(bytes) => Body::from(bytes.clone()),
                None => Body::file(entry.file.clone(), 0, len),
            };
            let mut resp = Response::new(200).with_body(body);
            resp.add_header("Content-Type", entry.content_type.clone());
            resp
        }
        RangeOutcome::Partial(ranges) if ranges.len() == 1 => Response::new(206)
            .with_header("Content-Type", entry.content_type.clone())
            .with_header("Content-Range", content_range(ranges[0], len))
            .with_body(Body::empty().and(region(entry, ranges[0]))),
        RangeOutcome::Partial(ranges) => multipart(entry, &ranges),
        RangeOutcome::Unsatisfiable => {
            Response::error(416).with_header("Content-Range", content_range_unsatisfied(len))
        }
    };
    add_validators(&mut resp, entry);
    resp.add_header("Accept-Ranges", "bytes");
    resp
}

/// Adds the entry's `Last-Modified` and `ETag`.
fn add_validators(resp: &mut Response, entry: &CachedFile) {
    resp.add_header("Last-Modified", entry.last_modified.clone());
    resp.add_header("ETag", entry.etag.clone());
}

/// The bytes of range `r` of the file: copied from the cached content, or a file region.
fn region(entry: &CachedFile, r: ByteRange) -> Part {
    match &entry.content {
        Some(bytes) => Part::Bytes(bytes[r.start as usize..=r.end as usize].to_vec()),
        None => Part::File(reactor::response::FileRegion {
            file: entry.file.clone(),
            offset: r.start,
            len: r.len(),
        }),
    }
}

/// A `multipart/byteranges` response for several ranges of one file.
fn multipart(entry: &CachedFile, ranges: &[ByteRange]) -> Response {
    let boundary = boundary();
    let mut body = Body::empty();
    for r in ranges {
        let head = format!(
            "\r\n--{boundary}\r\nContent-Type: {}\r\nContent-Range: {}\r\n\r\n",
            entry.content_type,
            content_range(*r, entry.len)
        );
        body = body
            .and(Part::Bytes(head.into_bytes()))
            .and(region(entry, *r));
    }
    body = body.and(Part::Bytes(format!("\r\n--{boundary}--\r\n").into_bytes()));
    Response::new(206)
        .with_header(
            "Content-Type",
            format!("multipart/byteranges; boundary={boundary}"),
        )
        .with_body(body)
}

/// A boundary that differs per response. It cannot collide with the file's content in a
/// way that matters: each part's length is fixed by its Content-Range.
fn boundary() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let t = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    format!("reactor-{t:016x}-{n:08x}")
}

/// The Content-Type for `path`, from its extension, with `charset=utf-8` on text types.
pub fn content_type(path: &Path) -> String {
    let mime = mime_guess::from_path(path).first_or_octet_stream();
    let textual = mime.type_() == mime_guess::mime::TEXT
        || matches!(
            mime.essence_str(),
            "application/javascript" | "application/json" | "application/xml" | "image/svg+xml"
        );
    if textual && mime.get_param(mime_guess::mime::CHARSET).is_none() {
        format!("{}; charset=utf-8", mime.essence_str())
    } else {
        mime.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_types() {
        assert_eq!(
            content_type(Path::new("a.html")),
            "text/html; charset=utf-8"
        );
        assert_eq!(content_type(Path::new("a.css")), "text/css; charset=utf-8");
        assert_eq!(content_type(Path::new("a.png")), "image/png");
        assert_eq!(content_type(Path::new("noext")), "application/octet-stream");
    }

    #[test]
    fn boundaries_differ() {
        assert_ne!(boundary(), boundary());
    }
}
