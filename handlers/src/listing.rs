//! Directory listings (Apache style): HTML for browsers, JSON on request. The directory
//! is read on the blocking pool.

use std::time::SystemTime;

use reactor::{Context, Handler, Reply, Request, Response};

use crate::listing_page::{parse_query, render_html, render_json, sort_entries, Entry};
use crate::path::resolve;
use crate::static_files::{io_error, locate, path_error};
use crate::{read_only, FsRoot};

/// Most entries a listing shows; beyond it the listing says it was cut short.
pub const MAX_ENTRIES: usize = 200_000;

/// Lists directories under a root. Sort with Apache's query (`?C=N|M|S;O=A|D`); get JSON
/// with `?format=json` or `Accept: application/json`. Place it after [`crate::StaticFiles`]
/// so that directories with an `index.html` show the index instead.
pub struct DirectoryListing {
    root: FsRoot,
}

impl DirectoryListing {
    /// Lists directories under `root`.
    pub fn new(root: FsRoot) -> Self {
        DirectoryListing { root }
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
        let root = self.root.clone();
        cx.blocking(move || {
            let (path, meta) = match locate(&root, &resolved) {
                Ok(found) => found,
                Err(r) => return Some(r),
            };
            if !meta.is_dir() {
                return None;
            }
            let mut entries = match read_entries(&path, root.dotfiles) {
                Ok(e) => e,
                Err(e) => return Some(io_error(&path, &e)),
            };
            let url_path = resolved.decoded.clone();
            Some(if json {
                Response::bytes(
                    200,
                    "application/json",
                    render_json(&url_path, &entries).into_bytes(),
                )
            } else {
                sort_entries(&mut entries, sort);
                Response::html(200, render_html(&url_path, &entries, sort))
            })
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
