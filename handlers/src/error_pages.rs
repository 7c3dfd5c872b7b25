//! Custom error pages: the body of a 404 (or any error status) replaced by a page of the
//! site, sent with the original status. Pages are read when the site is built (and
//! again on reload), so answering never touches the disk.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use reactor::{Body, Context, Filter, Request, Response};

/// A loaded error page.
#[derive(Debug, Clone)]
pub struct ErrorPage {
    /// Its content.
    pub body: Arc<[u8]>,
    /// Its `Content-Type`.
    pub content_type: String,
}

impl ErrorPage {
    /// Reads the page at `file`.
    pub fn load(file: &Path) -> std::io::Result<ErrorPage> {
        let body = std::fs::read(file)
            .map_err(|e| std::io::Error::new(e.kind(), format!("{}: {e}", file.display())))?;
        Ok(ErrorPage {
            body: Arc::from(body),
            content_type: crate::static_files::content_type(file),
        })
    }
}

/// Replaces the body of error responses that have a page, keeping their status and the
/// headers that matter (`Allow`, `Location`, `WWW-Authenticate`, `Retry-After`, …).
#[derive(Debug, Clone, Default)]
pub struct ErrorPages(pub HashMap<u16, ErrorPage>);

impl Filter for ErrorPages {
    fn response(&self, _req: &Request, resp: &mut Response, _cx: &mut Context<'_>) {
        if resp.status < 400 {
            return;
        }
        let Some(page) = self.0.get(&resp.status) else {
            return;
        };
        resp.headers.retain(|(n, _)| {
            !(n.eq_ignore_ascii_case("content-type") || n.eq_ignore_ascii_case("content-length"))
        });
        resp.headers
            .push(("Content-Type".into(), page.content_type.clone().into()));
        resp.body = Body::from(page.body.clone());
    }
}
