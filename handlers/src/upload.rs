//! Uploads under a document root: `PUT /dir/name` with the file as the body, and
//! `POST /dir/` with a `multipart/form-data` form of one or more files (what the directory
//! listing's upload form sends).
//!
//! The body is streamed ([`Handler::streams_body`]), never buffered: each file is written
//! on the blocking pool, in order, into a hidden temporary file in the target directory
//! (`.NAME.upload-<random>`, which listings and GET never show), and reading the client
//! pauses while more than a megabyte waits for the disk. When the body is complete the
//! files are synced and renamed into place (`renameat2(RENAME_NOREPLACE)`, so two uploads
//! of one name cannot clobber each other); a body that is cut short, refused or over the
//! limit leaves nothing behind. A form's files are stored all or none.
//!
//! Answers:
//! * `PUT`: 201 with `Location` (204 when `overwrite` replaced a file); 409 when the file
//!   exists (without `overwrite`), when the name is a directory, or when the directory
//!   does not exist (as WebDAV answers a PUT with missing parents); 405 for a path ending
//!   in `/`.
//! * `POST` to a directory: 303 back to it (its listing); 404 when it does not exist; 415
//!   for a body that is not `multipart/form-data`; 400 for a form without a file.
//! * Names (the path, and each part's `filename`) follow the path rules of GET
//!   ([`crate::path`]): 400 for traversal, encoded separators, control characters; 403
//!   for names starting with '.', which are never uploaded, even where dotfiles are served.
//! * 413 when `Content-Length` exceeds the limit, or as soon as a chunked body does; 413
//!   for a form of more than 1,000 files.
//!
//! ```no_run
//! use reactor::{Config, Server};
//! use reactor_handlers::upload::Upload;
//! use reactor_handlers::{DirectoryListing, FsRoot, StaticFiles};
//!
//! let root = FsRoot::new("www")?;
//! let listing = DirectoryListing::new(root.clone()).with_upload_form(true);
//! let upload = Upload::new(root.clone())
//!     .max_upload(10 << 30)
//!     .on_change(listing.invalidator());
//! let server = Server::new(Config::default())
//!     .handler(upload)
//!     .handler(StaticFiles::new(root))
//!     .handler(listing);
//! server.start()?.wait();
//! # Ok::<(), std::io::Error>(())
//! ```

mod disk;
mod sink;
mod writer;

use std::sync::Arc;

use reactor::handler::busy;
use reactor::request::Framing;
use reactor::response::escape_html;
use reactor::{Context, Handler, Reply, Request, Response};

use crate::multipart::boundary;
use crate::path::{encode_path, resolve, ResolvedPath};
use crate::FsRoot;
use sink::{bad_name, too_large, Form, UploadSink};
use writer::{Answer, OnChange, Op, Target, Writer};

/// The methods a root with uploads accepts.
pub const UPLOAD_METHODS: &str = "GET, HEAD, OPTIONS, PUT, POST";

/// Takes uploads under a root (see the [module docs](self)). Place it before the read-only
/// handlers; it declines every other method.
pub struct Upload {
    root: FsRoot,
    overwrite: bool,
    max_upload: u64,
    on_change: Option<OnChange>,
}

impl Upload {
    /// Uploads under `root`: no size limit, existing files kept.
    pub fn new(root: FsRoot) -> Self {
        Upload {
            root,
            overwrite: false,
            max_upload: u64::MAX,
            on_change: None,
        }
    }

    /// Replace existing files (default: 409 Conflict instead).
    pub fn overwrite(mut self, on: bool) -> Self {
        self.overwrite = on;
        self
    }

    /// The largest request body taken (413 beyond).
    pub fn max_upload(mut self, bytes: u64) -> Self {
        self.max_upload = bytes;
        self
    }

    /// Calls `f` with the decoded path of a directory (ending in `/`) after files were
    /// stored in it, e.g. [`crate::DirectoryListing::invalidator`] so that the listing the
    /// form returns to shows them.
    pub fn on_change(mut self, f: impl Fn(&str) + Send + Sync + 'static) -> Self {
        self.on_change = Some(Arc::new(f));
        self
    }

    /// `PUT /dir/name`: the body is the file.
    fn put(&self, req: &mut Request, cx: &mut Context<'_>) -> Reply {
        let resolved = match resolve(req.path(), false) {
            Ok(r) if r.trailing_slash => {
                let allow = "GET, HEAD, OPTIONS, POST";
                return Reply::Response(Response::method_not_allowed(allow));
            }
            Ok(r) => r,
            Err(e) => return Reply::Response(bad_name(e)),
        };
        let Some(name) = resolved.relative.file_name().and_then(|n| n.to_str()) else {
            return Reply::Response(Response::error(400));
        };
        let op = Op::Open(name.to_owned());
        let cut = resolved.decoded.rfind('/').map_or(0, |i| i + 1);
        let dir = ResolvedPath {
            relative: resolved
                .relative
                .parent()
                .unwrap_or(&resolved.relative)
                .into(),
            trailing_slash: true,
            decoded: resolved.decoded[..cut].to_owned(),
        };
        let location = encode_path(&resolved.decoded);
        let answer: Answer = Box::new(move |stored| match stored.first() {
            Some((_, true)) => Response::new(204),
            _ => Response::text(201, format!("Created {location}\n"))
                .with_header("Location", location),
        });
        self.start(req, cx, dir, op, None, answer)
    }

    /// `POST /dir/` with a `multipart/form-data` body.
    fn post(&self, req: &mut Request, cx: &mut Context<'_>) -> Reply {
        let dir = match resolve(req.path(), false) {
            Ok(r) if r.trailing_slash => r,
            Ok(_) => {
                let allow = "GET, HEAD, OPTIONS, PUT";
                return Reply::Response(Response::method_not_allowed(allow));
            }
            Err(e) => return Reply::Response(bad_name(e)),
        };
        let Some(b) = req.header("content-type").and_then(boundary) else {
            let detail = "Send files as multipart/form-data (with a boundary).";
            return Reply::Response(Response::error_with(415, detail));
        };
        let location = encode_path(&dir.decoded);
        let answer: Answer = Box::new(move |stored| {
            let n = stored.len();
            let s = if n == 1 { "" } else { "s" };
            Response::text(303, format!("Stored {n} file{s}.\n")).with_header("Location", location)
        });
        self.start(
            req,
            cx,
            dir,
            Op::Directory(404),
            Some(Form::new(&b)),
            answer,
        )
    }

    /// Starts writing: the first op on the pool, then the body into the sink.
    fn start(
        &self,
        req: &mut Request,
        cx: &mut Context<'_>,
        dir: ResolvedPath,
        first: Op,
        form: Option<Form>,
        answer: Answer,
    ) -> Reply {
        let declared = match req.framing() {
            Framing::Length(n) => n,
            _ => 0,
        };
        if declared.max(req.body.len() as u64) > self.max_upload {
            return Reply::Response(too_large());
        }
        let target = Target {
            root: self.root.clone(),
            dir,
            overwrite: self.overwrite,
            on_change: self.on_change.clone(),
        };
        let Ok(writer) = Writer::start(target, cx.pool(), cx.waker(), first) else {
            return Reply::Response(busy());
        };
        writer.respond_with(cx.responder());
        let mut sink = UploadSink::new(writer, form, self.max_upload, answer);
        if !req.body.is_empty() {
            // A body read already (not streamed by this connection): it goes first.
            let body = std::mem::take(&mut req.body);
            reactor::request_body::BodySink::data(&mut sink, &body);
        }
        cx.stream_body(sink);
        Reply::Later
    }
}

/// The upload form a listing of directory `url_path` (decoded, ending in `/`) shows: a
/// plain HTML form (no JavaScript) that posts the chosen files back to the directory.
///
/// ```
/// let html = reactor_handlers::upload::form_html("/a b/<x>/");
/// assert!(html.contains(r#"action="/a%20b/%3Cx%3E/""#));
/// assert!(html.contains(r#"enctype="multipart/form-data""#));
/// assert!(html.contains("<input type=\"file\" name=\"file\" multiple required>"));
/// ```
pub fn form_html(url_path: &str) -> String {
    let action = escape_html(&encode_path(url_path));
    format!(
        "<form method=\"post\" action=\"{action}\" enctype=\"multipart/form-data\" \
         style=\"margin-top:1em\"><label>Upload files: \
         <input type=\"file\" name=\"file\" multiple required></label> \
         <button type=\"submit\">Upload</button></form>\n"
    )
}

/// True for a request whose content type is `multipart/form-data`.
fn is_multipart(req: &Request) -> bool {
    req.header("content-type").is_some_and(|t| {
        t.split(';')
            .next()
            .is_some_and(|k| k.trim().eq_ignore_ascii_case("multipart/form-data"))
    })
}

impl Handler for Upload {
    fn handle(&self, req: &mut Request, cx: &mut Context<'_>) -> Reply {
        match req.method.as_str() {
            "PUT" => self.put(req, cx),
            "POST" => self.post(req, cx),
            "OPTIONS" => Reply::Response(Response::options(UPLOAD_METHODS)),
            _ => Reply::Decline,
        }
    }

    fn streams_body(&self, req: &Request) -> bool {
        req.method == "PUT" || (req.method == "POST" && is_multipart(req))
    }
}
