//! Responses: status, headers and a body made of bytes, file regions and streams.

use std::fs::File;
use std::sync::Arc;

pub use crate::body_stream::{
    BodySender, Closed, Flow, StreamReceiver, STREAM_HIGH_WATER, STREAM_LOW_WATER,
};
use crate::upgrade::Upgraded;

pub use crate::header_value::HeaderValue;

/// A response a handler returns. `core` adds `Date`, `Server`, `Content-Length` or
/// `Transfer-Encoding`, and `Connection`.
pub struct Response {
    /// Status code.
    pub status: u16,
    /// Header fields, in order.
    pub headers: Vec<(HeaderValue, HeaderValue)>,
    /// The body (dropped for HEAD, 1xx, 204 and 304 responses).
    pub body: Body,
    pub(crate) tunnel: Option<mio::net::TcpStream>,
    pub(crate) upgrade: Option<Box<dyn Upgraded>>,
}

impl std::fmt::Debug for Response {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Response")
            .field("status", &self.status)
            .field("headers", &self.headers)
            .field("body_len", &self.body.len())
            .finish()
    }
}

impl Response {
    /// An empty response with `status`.
    pub fn new(status: u16) -> Self {
        Response {
            status,
            headers: Vec::new(),
            body: Body::empty(),
            tunnel: None,
            upgrade: None,
        }
    }

    /// A `text/html; charset=utf-8` response.
    pub fn html(status: u16, html: impl Into<String>) -> Self {
        Response::bytes(status, "text/html; charset=utf-8", html.into().into_bytes())
    }

    /// A `text/plain; charset=utf-8` response.
    pub fn text(status: u16, text: impl Into<String>) -> Self {
        Response::bytes(
            status,
            "text/plain; charset=utf-8",
            text.into().into_bytes(),
        )
    }

    /// A response with a body of `bytes` and the given content type.
    pub fn bytes(status: u16, content_type: impl Into<HeaderValue>, bytes: Vec<u8>) -> Self {
        Response::new(status)
            .with_header("Content-Type", content_type)
            .with_body(Body::from(bytes))
    }

    /// The standard small HTML error page for `status` (built once per thread and status,
    /// then shared).
    pub fn error(status: u16) -> Self {
        thread_local! {
            static PAGES: std::cell::RefCell<Vec<(u16, Arc<[u8]>)>> =
                const { std::cell::RefCell::new(Vec::new()) };
        }
        let page = PAGES.with_borrow_mut(|pages| {
            if let Some((_, page)) = pages.iter().find(|(s, _)| *s == status) {
                return page.clone();
            }
            let page: Arc<[u8]> = error_page(status, "").into_bytes().into();
            if pages.len() < 64 {
                pages.push((status, page.clone()));
            }
            page
        });
        Response::new(status)
            .with_header("Content-Type", "text/html; charset=utf-8")
            .with_body(Body::from(page))
    }

    /// An HTML error page for `status` with a sentence explaining the cause.
    pub fn error_with(status: u16, detail: &str) -> Self {
        Response::html(status, error_page(status, detail))
    }

    /// 405 with an `Allow` header listing `allowed` (e.g. `"GET, HEAD, OPTIONS"`).
    pub fn method_not_allowed(allowed: &'static str) -> Self {
        Response::error(405).with_header("Allow", allowed)
    }

    /// The answer to `OPTIONS`: 204 with `Allow`.
    pub fn options(allowed: &'static str) -> Self {
        Response::new(204).with_header("Allow", allowed)
    }

    /// A 200 answer to CONNECT after which the connection becomes a two-way byte tunnel to
    /// `peer` (already connected, or connecting; it is switched to non-blocking mode).
    pub fn tunnel(peer: std::net::TcpStream) -> std::io::Result<Self> {
        peer.set_nonblocking(true)?;
        let mut r = Response::new(200);
        r.tunnel = Some(mio::net::TcpStream::from_std(peer));
        Ok(r)
    }

    /// Hands the connection to `object` once this response is written: for a
    /// `101 Switching Protocols` answer (the status must be 101; any other ignores it).
    /// The handler supplies the `Upgrade` and `Connection: Upgrade` fields.
    pub fn upgrade(mut self, object: impl Upgraded) -> Self {
        self.upgrade = Some(Box::new(object));
        self
    }

    /// Adds a header field.
    #[inline]
    pub fn with_header(
        mut self,
        name: impl Into<HeaderValue>,
        value: impl Into<HeaderValue>,
    ) -> Self {
        self.add_header(name, value);
        self
    }

    /// Adds a header field to a response being built in place (what
    /// [`with_header`](Response::with_header) does, without moving the response).
    #[inline]
    pub fn add_header(&mut self, name: impl Into<HeaderValue>, value: impl Into<HeaderValue>) {
        if self.headers.capacity() == 0 {
            self.headers = crate::spare::headers();
        }
        self.headers.push((name.into(), value.into()));
    }

    /// Replaces the body.
    #[inline]
    pub fn with_body(mut self, body: Body) -> Self {
        let old = std::mem::replace(&mut self.body, body);
        if old.is_vacant() {
            // It owns nothing: its drop would only look.
            std::mem::forget(old);
        }
        self
    }

    /// The first value of header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| crate::ascii::eq_ignore_case(n.as_bytes(), name.as_bytes()))
            .map(|(_, v)| v.as_ref())
    }

    /// True when the status allows no body (1xx, 204, 304).
    pub fn is_bodiless(&self) -> bool {
        matches!(self.status, 100..=199 | 204 | 304)
    }
}

impl Drop for Response {
    fn drop(&mut self) {
        crate::spare::give_headers(std::mem::take(&mut self.headers));
    }
}

/// A region of an open file, sent with `sendfile(2)` from the blocking pool.
#[derive(Debug, Clone)]
pub struct FileRegion {
    /// The open file (shared: several regions of one file need one descriptor).
    pub file: Arc<File>,
    /// First byte to send.
    pub offset: u64,
    /// Number of bytes to send.
    pub len: u64,
}

/// One piece of a body.
pub enum Part {
    /// Owned bytes.
    Bytes(Vec<u8>),
    /// Shared bytes (a cache entry, say), sent without copying.
    Shared(Arc<[u8]>),
    /// A file region.
    File(FileRegion),
    /// Bytes produced over time by a [`BodySender`].
    Stream(StreamReceiver),
}

impl Part {
    fn len(&self) -> Option<u64> {
        match self {
            Part::Bytes(b) => Some(b.len() as u64),
            Part::Shared(b) => Some(b.len() as u64),
            Part::File(f) => Some(f.len),
            Part::Stream(s) => s.len,
        }
    }
}

/// A response body: a sequence of parts sent one after another.
#[derive(Default)]
pub struct Body {
    /// The first part, kept inline: most bodies have just one (`None`: no parts, and
    /// then `rest` is empty too).
    first: Option<Part>,
    /// The parts after the first.
    rest: Vec<Part>,
}

impl Body {
    /// No body.
    pub fn empty() -> Self {
        Body::default()
    }

    /// A body that is one file region.
    pub fn file(file: Arc<File>, offset: u64, len: u64) -> Self {
        Body::empty().and(Part::File(FileRegion { file, offset, len }))
    }

    /// A body fed over time through the returned sender; `len` is its length if known
    /// (otherwise HTTP/1.1 clients get chunked encoding and HTTP/1.0 ones a closed
    /// connection at the end).
    pub fn stream(len: Option<u64>) -> (Body, BodySender) {
        let (rx, tx) = crate::body_stream::channel(len);
        (Body::empty().and(Part::Stream(rx)), tx)
    }

    /// Appends a part.
    #[inline]
    pub fn and(mut self, part: Part) -> Self {
        if self.first.is_none() {
            self.first = Some(part);
            return self;
        }
        if self.rest.capacity() == 0 {
            self.rest = crate::spare::parts();
        }
        self.rest.push(part);
        self
    }

    /// Total length, or None when a stream of unknown length is part of it.
    pub fn len(&self) -> Option<u64> {
        self.parts().try_fold(0u64, |n, p| Some(n + p.len()?))
    }

    /// True when the body has no bytes at all.
    pub fn is_empty(&self) -> bool {
        self.len() == Some(0)
    }

    /// True when the body holds no part and no list: dropping it frees nothing.
    #[inline]
    fn is_vacant(&self) -> bool {
        self.first.is_none() && self.rest.capacity() == 0
    }

    /// The parts, in order.
    pub(crate) fn parts(&self) -> impl Iterator<Item = &Part> {
        self.first.iter().chain(self.rest.iter())
    }

    /// The first part, if any.
    #[cfg(test)]
    pub(crate) fn front(&self) -> Option<&Part> {
        self.first.as_ref()
    }

    /// Takes the parts out, in order, leaving the body empty.
    pub(crate) fn drain(&mut self) -> impl Iterator<Item = Part> + '_ {
        self.first.take().into_iter().chain(self.rest.drain(..))
    }
}

impl Drop for Body {
    fn drop(&mut self) {
        if self.rest.capacity() != 0 {
            crate::spare::give_parts(std::mem::take(&mut self.rest));
        }
    }
}

impl From<Vec<u8>> for Body {
    fn from(b: Vec<u8>) -> Self {
        if b.is_empty() {
            Body::empty()
        } else {
            Body::empty().and(Part::Bytes(b))
        }
    }
}

impl From<Arc<[u8]>> for Body {
    #[inline]
    fn from(b: Arc<[u8]>) -> Self {
        Body::empty().and(Part::Shared(b))
    }
}

impl From<&'static str> for Body {
    fn from(s: &'static str) -> Self {
        Body::from(s.as_bytes().to_vec())
    }
}

/// The HTML of an error page: the status, its reason, and `detail` (escaped) if any.
fn error_page(status: u16, detail: &str) -> String {
    let title = format!("{status} {}", reason(status));
    let detail = if detail.is_empty() {
        String::new()
    } else {
        format!("<p>{}</p>", escape_html(detail))
    };
    format!(
        "<!DOCTYPE html>\n<html><head><title>{title}</title></head>\
         <body><h1>{title}</h1>{detail}<hr><address>reactor</address></body></html>\n"
    )
}

/// The reason phrase for a status code.
pub fn reason(status: u16) -> &'static str {
    match status {
        100 => "Continue",
        101 => "Switching Protocols",
        102 => "Processing",
        103 => "Early Hints",
        200 => "OK",
        201 => "Created",
        202 => "Accepted",
        203 => "Non-Authoritative Information",
        204 => "No Content",
        206 => "Partial Content",
        301 => "Moved Permanently",
        302 => "Found",
        303 => "See Other",
        304 => "Not Modified",
        307 => "Temporary Redirect",
        308 => "Permanent Redirect",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        406 => "Not Acceptable",
        407 => "Proxy Authentication Required",
        408 => "Request Timeout",
        409 => "Conflict",
        410 => "Gone",
        411 => "Length Required",
        412 => "Precondition Failed",
        413 => "Content Too Large",
        414 => "URI Too Long",
        415 => "Unsupported Media Type",
        416 => "Range Not Satisfiable",
        417 => "Expectation Failed",
        421 => "Misdirected Request",
        422 => "Unprocessable Content",
        426 => "Upgrade Required",
        429 => "Too Many Requests",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        505 => "HTTP Version Not Supported",
        _ => "Unknown",
    }
}

/// Escapes `& < > " '` for HTML text and attributes.
pub fn escape_html(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_error_pages_are_built_once() {
        let page = |r: Response| match r.body.front() {
            Some(Part::Shared(b)) => b.clone(),
            _ => panic!("shared body expected"),
        };
        let (a, b) = (page(Response::error(404)), page(Response::error(404)));
        assert!(Arc::ptr_eq(&a, &b));
        assert!(String::from_utf8_lossy(&a).contains("<h1>404 Not Found</h1>"));
        assert!(!Arc::ptr_eq(&a, &page(Response::error(403))));
    }

    #[test]
    fn error_page_is_escaped() {
        let r = Response::error_with(400, "<x>");
        assert_eq!(r.header("content-type"), Some("text/html; charset=utf-8"));
        let Some(Part::Bytes(b)) = r.body.front() else {
            panic!("bytes body expected")
        };
        let s = String::from_utf8_lossy(b);
        assert!(s.contains("400 Bad Request") && s.contains("&lt;x&gt;"));
    }

    #[test]
    fn lengths() {
        assert_eq!(Body::empty().len(), Some(0));
        assert_eq!(Body::from(vec![1, 2, 3]).len(), Some(3));
        let (b, _tx) = Body::stream(None);
        assert_eq!(b.len(), None);
        let (b, _tx) = Body::stream(Some(5));
        assert_eq!(b.and(Part::Bytes(vec![1])).len(), Some(6));
    }
}
