//! Handlers for the reactor: static files, directory listings and a status page, plus
//! the pure HTTP helpers they are built from (paths, ranges, preconditions).

pub mod basic_auth;
pub mod compress;
mod compress_stream;
pub mod conditional;
pub mod encoding;
pub mod error_pages;
pub mod file_cache;
pub mod htpasswd;
pub mod json_log;
pub mod listing;
pub mod listing_page;
pub mod metrics;
pub mod multipart;
pub mod path;
pub mod pattern;
pub mod proxy;
pub mod range;
pub mod redirect;
pub mod router;
pub mod set_headers;
pub mod static_files;
pub mod status;
pub mod upload;
pub mod vhost;
pub mod websocket;

use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use reactor::{Reply, Request, Response};

pub use listing::DirectoryListing;
pub use proxy::{Proxy, ProxyConfig};
pub use router::Router;
pub use static_files::StaticFiles;
pub use status::StatusPage;

/// A document root shared by the file handlers, with the policies that apply under it.
#[derive(Debug, Clone)]
pub struct FsRoot {
    /// The root, canonicalised once at startup.
    pub(crate) dir: Arc<PathBuf>,
    /// Serve and list names starting with '.' (default: no).
    pub dotfiles: bool,
    /// Follow symlinks that lead outside the root (default: no).
    pub follow_symlinks: bool,
}

impl FsRoot {
    /// A root at `dir`, which must be an existing directory.
    pub fn new(dir: impl AsRef<Path>) -> io::Result<Self> {
        let dir = dir.as_ref();
        let canonical = dir
            .canonicalize()
            .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", dir.display())))?;
        if !canonical.is_dir() {
            return Err(io::Error::new(
                io::ErrorKind::NotADirectory,
                format!("{}: not a directory", dir.display()),
            ));
        }
        Ok(FsRoot {
            dir: Arc::new(canonical),
            dotfiles: false,
            follow_symlinks: false,
        })
    }

    /// The canonical root directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

/// Methods the read-only handlers accept.
pub const READ_ONLY_METHODS: &str = "GET, HEAD, OPTIONS";

/// For handlers that only read: `None` for GET and HEAD, the `OPTIONS` answer, or 405.
pub fn read_only(req: &Request) -> Option<Reply> {
    match req.method.as_str() {
        "GET" | "HEAD" => None,
        "OPTIONS" => Some(Reply::Response(Response::options(READ_ONLY_METHODS))),
        _ => Some(Reply::Response(Response::method_not_allowed(
            READ_ONLY_METHODS,
        ))),
    }
}
