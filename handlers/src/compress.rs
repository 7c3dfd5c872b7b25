//! The compression filter: `br`, `zstd` or `gzip` for compressible static files, chosen by
//! `Accept-Encoding`, from a precompressed sibling, a cached variant, or a stream
//! compressed on the pool.

use std::sync::Arc;

use reactor::ascii::eq_ignore_case;
use reactor::{Body, Context, Filter, Request, Response};

use crate::compress_stream::{start_cached, start_file};
use crate::conditional::none_match;
use crate::encoding::{compressible, negotiate, Encoding};
use crate::file_cache::{CachedFile, FileCache};
use crate::path::decoded;

/// Responses smaller than this are sent as they are.
pub const MIN_SIZE: u64 = 1024;

/// Compresses the responses of the [`crate::StaticFiles`] handler that shares its
/// [`FileCache`].
///
/// - Only `200` answers to GET and HEAD without `Range`, of a compressible type
///   ([`compressible`]), of [`MIN_SIZE`] bytes or more, are compressed; `Vary:
///   Accept-Encoding` goes on every answer for a compressible resource.
/// - A compressed answer has its own ETag (`"tag-br"`); `If-None-Match` with it gets 304.
/// - Sources, best first: a precompressed sibling (when the cache opens them, see
///   [`FileCache::with_precompressed`]), the variant kept in the cache entry, then
///   compression on the pool (small files whole, then kept; big ones streamed).
///
/// ```no_run
/// use std::sync::Arc;
/// use std::time::Duration;
/// use reactor::{Config, Server};
/// use reactor_handlers::compress::Compression;
/// use reactor_handlers::file_cache::FileCache;
/// use reactor_handlers::{FsRoot, StaticFiles};
///
/// let root = FsRoot::new("www")?;
/// let cache = Arc::new(FileCache::new(1000, Duration::from_secs(1)).with_precompressed(true));
/// let server = Server::new(Config::default())
///     .filter(Compression::new(cache.clone(), &root))
///     .handler(StaticFiles::with_shared_cache(root, cache));
/// server.start()?.wait();
/// # Ok::<(), std::io::Error>(())
/// ```
pub struct Compression {
    cache: Arc<FileCache>,
    dotfiles: bool,
    on_the_fly: bool,
}

impl Compression {
    /// Compresses what the static-file handler over `root` with `cache` answers.
    pub fn new(cache: Arc<FileCache>, root: &crate::FsRoot) -> Self {
        Compression {
            cache,
            dotfiles: root.dotfiles,
            on_the_fly: true,
        }
    }

    /// With `false`, only precompressed siblings are served (`--no-compress` with
    /// precompressed files still on).
    pub fn on_the_fly(mut self, on: bool) -> Self {
        self.on_the_fly = on;
        self
    }

    /// The cache entry `resp` was made from, if any.
    fn entry(&self, req: &Request, resp: &Response) -> Option<Arc<CachedFile>> {
        let entry = self.cache.peek(&decoded(req.path(), self.dotfiles)?)?;
        (resp.header("etag") == Some(entry.etag.as_str())).then_some(entry)
    }
}

impl Filter for Compression {
    fn response(&self, req: &Request, resp: &mut Response, cx: &mut Context<'_>) {
        if !req.is_get_or_head() {
            return;
        }
        // Content-Encoding and Content-Type in one pass (the first of each counts).
        let (mut encoded, mut content_type) = (false, None);
        for (name, value) in &resp.headers {
            let is = |n: &str| eq_ignore_case(name.as_bytes(), n.as_bytes());
            match name.len() {
                16 if is("content-encoding") => encoded = true,
                12 if content_type.is_none() && is("content-type") => content_type = Some(value),
                _ => {}
            }
        }
        if encoded {
            return;
        }
        let kind_compressible = match content_type.map(|v| v.as_ref()) {
            Some(ct) if !resp.is_bodiless() => compressible(ct),
            _ => compressible(&crate::static_files::content_type(std::path::Path::new(
                req.path(),
            ))),
        };
        if !kind_compressible || !matches!(resp.status, 200 | 206 | 304 | 412 | 416) {
            return;
        }
        add_vary(resp);
        // Without Accept-Encoding there is nothing to choose (and no cache lookup to make).
        let Some(accept) = req.header("accept-encoding") else {
            return;
        };
        if resp.status != 200 || req.header("range").is_some() {
            return;
        }
        let Some(entry) = self.entry(req, resp) else {
            return;
        };
        let precompressed: Vec<Encoding> = Encoding::ALL
            .into_iter()
            .filter(|e| entry.siblings[e.index()].is_some())
            .collect();
        let chosen = match negotiate(Some(accept), &precompressed) {
            Some(e) => Some(e),
            None if self.on_the_fly && entry.len >= MIN_SIZE => {
                negotiate(Some(accept), &Encoding::ALL)
            }
            None => None,
        };
        let Some(encoding) = chosen else { return };
        let etag = encoding.etag(&entry.etag);
        if let Some(inm) = req.header("if-none-match") {
            if none_match(inm, &etag) {
                *resp = Response::new(304)
                    .with_header("ETag", etag)
                    .with_header("Last-Modified", entry.last_modified.clone());
                add_vary(resp);
                return;
            }
        }
        let Some(body) = compressed_body(cx, &entry, encoding, req.method == "HEAD") else {
            return;
        };
        resp.body = body;
        resp.headers.retain(|(n, _)| {
            !(n.eq_ignore_ascii_case("etag")
                || n.eq_ignore_ascii_case("accept-ranges")
                || n.eq_ignore_ascii_case("content-length"))
        });
        resp.headers.push(("ETag".into(), etag.into()));
        resp.headers
            .push(("Content-Encoding".into(), encoding.token().into()));
    }
}

/// The body of `entry` in `encoding`; `None` when it cannot be made now (pool full).
fn compressed_body(
    cx: &mut Context<'_>,
    entry: &Arc<CachedFile>,
    encoding: Encoding,
    head: bool,
) -> Option<Body> {
    if let Some(s) = &entry.siblings[encoding.index()] {
        return Some(match &s.content {
            Some(bytes) => Body::from(bytes.clone()),
            None => Body::file(s.file.clone(), 0, s.len),
        });
    }
    if let Some(bytes) = entry.variant(encoding) {
        return Some(Body::from(bytes));
    }
    let (body, sender) = Body::stream(None);
    let started = match &entry.content {
        Some(content) => start_cached(cx, encoding, entry.clone(), content.clone(), sender),
        // HEAD of a big file: the GET would stream with no length; nothing to compute.
        None if head => Ok(()),
        None => start_file(cx, encoding, entry.file.clone(), 0, entry.len, sender),
    };
    started.ok().map(|()| body)
}

/// Adds `Accept-Encoding` to the response's `Vary` unless it is there.
fn add_vary(resp: &mut Response) {
    let has = resp
        .headers
        .iter()
        .filter(|(n, _)| n.eq_ignore_ascii_case("vary"))
        .any(|(_, v)| {
            v.split(',')
                .any(|t| t.trim().eq_ignore_ascii_case("accept-encoding") || t.trim() == "*")
        });
    if !has {
        resp.headers.push(("Vary".into(), "Accept-Encoding".into()));
    }
}
