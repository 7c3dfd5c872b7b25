//! Static files: safe path resolution, MIME types, validators, conditional and range
//! requests, index files. Every file-system call runs on the blocking pool.

use std::fs::{File, Metadata};
use std::io;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::SystemTime;

use reactor::{Body, Context, Handler, Part, Reply, Request, Response};

use crate::conditional::{
    evaluate, file_etag, if_range_matches, Conditions, Precondition, Validators,
};
use crate::path::{encode_path, resolve, within_root, PathError, ResolvedPath};
use crate::range::{
    content_range, content_range_unsatisfied, parse_range, ByteRange, RangeOutcome,
};
use crate::{read_only, FsRoot};

/// Serves files under a root directory. Directories without an index file are declined,
/// so a listing handler placed after this one can take them.
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
}

impl StaticFiles {
    /// Serves files under `root`.
    pub fn new(root: FsRoot) -> Self {
        StaticFiles { root }
    }
}

/// The request fields the blocking job needs, copied off the reactor.
struct Wanted {
    resolved: ResolvedPath,
    query: Option<String>,
    get_or_head: bool,
    range: Option<String>,
    if_range: Option<String>,
    if_match: Option<String>,
    if_none_match: Option<String>,
    if_modified_since: Option<String>,
    if_unmodified_since: Option<String>,
}

impl Handler for StaticFiles {
    fn handle(&self, req: &mut Request, cx: &mut Context<'_>) -> Reply {
        if let Some(reply) = read_only(req) {
            return reply;
        }
        let resolved = match resolve(req.path(), self.root.dotfiles) {
            Ok(r) => r,
            Err(e) => return Reply::Response(path_error(e)),
        };
        let h = |name: &str| req.header(name).map(str::to_owned);
        let wanted = Wanted {
            resolved,
            query: req.query().map(str::to_owned),
            get_or_head: req.is_get_or_head(),
            range: h("range"),
            if_range: h("if-range"),
            if_match: h("if-match"),
            if_none_match: h("if-none-match"),
            if_modified_since: h("if-modified-since"),
            if_unmodified_since: h("if-unmodified-since"),
        };
        let root = self.root.clone();
        cx.blocking(move || serve(&root, &wanted))
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

fn serve(root: &FsRoot, w: &Wanted) -> Option<Response> {
    let (mut path, meta) = match locate(root, &w.resolved) {
        Ok(found) => found,
        Err(r) => return Some(r),
    };
    if meta.is_dir() {
        if !w.resolved.trailing_slash {
            let mut location = encode_path(&w.resolved.decoded);
            location.push('/');
            if let Some(q) = &w.query {
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
    Some(send_file(&path, w).unwrap_or_else(|e| io_error(&path, &e)))
}

fn send_file(path: &Path, w: &Wanted) -> io::Result<Response> {
    // O_NONBLOCK: opening a FIFO must not hang a pool thread.
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)?;
    let meta = file.metadata()?;
    if !meta.is_file() {
        return Ok(Response::error(404));
    }
    let len = meta.len();
    let modified = meta.modified().unwrap_or(SystemTime::UNIX_EPOCH);
    let etag = file_etag(modified, len);
    let validators = Validators {
        etag: &etag,
        last_modified: modified,
    };
    let conditions = Conditions {
        if_match: w.if_match.as_deref(),
        if_none_match: w.if_none_match.as_deref(),
        if_modified_since: w.if_modified_since.as_deref(),
        if_unmodified_since: w.if_unmodified_since.as_deref(),
    };
    let last_modified = reactor::date::format_http_date(modified);
    let with_validators = |r: Response| {
        r.with_header("Last-Modified", last_modified.clone())
            .with_header("ETag", etag.clone())
    };
    match evaluate(w.get_or_head, &conditions, &validators) {
        Precondition::Proceed => {}
        Precondition::NotModified => return Ok(with_validators(Response::new(304))),
        Precondition::Failed => return Ok(Response::error(412)),
    }
    let content_type = content_type(path);
    let file = Arc::new(file);
    let outcome = match &w.range {
        Some(range) if if_range_matches(w.if_range.as_deref(), &validators) => {
            parse_range(range, len)
        }
        _ => RangeOutcome::Full,
    };
    let response = match outcome {
        RangeOutcome::Full => Response::new(200)
            .with_header("Content-Type", content_type)
            .with_body(Body::file(file, 0, len)),
        RangeOutcome::Partial(ranges) if ranges.len() == 1 => {
            let r = ranges[0];
            Response::new(206)
                .with_header("Content-Type", content_type)
                .with_header("Content-Range", content_range(r, len))
                .with_body(Body::file(file, r.start, r.len()))
        }
        RangeOutcome::Partial(ranges) => multipart(file, &ranges, len, &content_type),
        RangeOutcome::Unsatisfiable => {
            Response::error(416).with_header("Content-Range", content_range_unsatisfied(len))
        }
    };
    Ok(with_validators(response).with_header("Accept-Ranges", "bytes"))
}

/// A `multipart/byteranges` response for several ranges of one file.
fn multipart(file: Arc<File>, ranges: &[ByteRange], len: u64, content_type: &str) -> Response {
    let boundary = boundary();
    let mut body = Body::empty();
    for r in ranges {
        let head = format!(
            "\r\n--{boundary}\r\nContent-Type: {content_type}\r\nContent-Range: {}\r\n\r\n",
            content_range(*r, len)
        );
        body = body.and(Part::Bytes(head.into_bytes())).and(Part::File(
            reactor::response::FileRegion {
                file: file.clone(),
                offset: r.start,
                len: r.len(),
            },
        ));
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
