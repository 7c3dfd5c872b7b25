//! Request-head parsing: bytes in, a validated [`Request`] out. No sockets in sight.
//!
//! `httparse` does the tokenising; this module adds the rules a server must enforce on
//! top of it (RFC 9112): size limits, Host, and unambiguous body framing.

use crate::request::{Framing, Header, Headers, Request, Version};
use std::net::SocketAddr;

/// Size limits applied while reading a request.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Largest request head (request line plus headers) in bytes; beyond it: 431.
    pub max_head: usize,
    /// Most header fields; beyond it: 431.
    pub max_headers: usize,
    /// Longest request target in bytes; beyond it: 414.
    pub max_uri: usize,
    /// Largest request body in bytes; beyond it: 413.
    pub max_body: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_head: 16 * 1024,
            max_headers: 100,
            max_uri: 8 * 1024,
            max_body: 1024 * 1024,
        }
    }
}

/// Hard cap on header fields, whatever the configured limit (sizes a stack array).
const HEADER_CAP: usize = 256;

/// A request the server must refuse: the status to answer with and why.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HttpError {
    /// Status code to answer with (4xx or 5xx).
    pub status: u16,
    /// Short human-readable cause, shown in the error page and the error log.
    pub detail: &'static str,
}

impl HttpError {
    /// A new error with `status` and `detail`.
    pub const fn new(status: u16, detail: &'static str) -> Self {
        HttpError { status, detail }
    }
}

fn bad(detail: &'static str) -> HttpError {
    HttpError::new(400, detail)
}

/// Parses one request head from the start of `buf`.
///
/// Returns `Ok(None)` when more bytes are needed, or the request (with an empty body) and
/// the number of bytes the head took.
///
/// ```
/// use reactor::parse::{parse_head, Limits};
/// let raw = b"GET /x HTTP/1.1\r\nHost: a\r\n\r\n";
/// let (req, used) = parse_head(raw, &Limits::default(), "127.0.0.1:9".parse().unwrap())
///     .unwrap().unwrap();
/// assert_eq!((req.method.as_str(), req.path(), used), ("GET", "/x", raw.len()));
/// ```
pub fn parse_head(
    buf: &[u8],
    limits: &Limits,
    peer: SocketAddr,
) -> Result<Option<(Request, usize)>, HttpError> {
    let mut req = Request::empty(peer);
    Ok(parse_head_into(buf, limits, &mut req)?.map(|used| (req, used)))
}

/// [`parse_head`] into `req`, reusing its allocations: the method, target and header
/// strings keep their capacity, so a connection's requests of the same shape allocate
/// nothing. Returns the bytes the head used; on `Ok(None)` or an error `req` holds junk.
pub(crate) fn parse_head_into(
    buf: &[u8],
    limits: &Limits,
    req: &mut Request,
) -> Result<Option<usize>, HttpError> {
    // RFC 9112 §2.2: ignore at least one empty line before a request-line.
    let skip = leading_empty_lines(buf);
    let buf = &buf[skip..];
    // Left uninitialised: httparse writes the fields it finds (zeroing 256 of them cost
    // more than parsing a small head).
    let mut storage = [const { std::mem::MaybeUninit::uninit() }; HEADER_CAP];
    let cap = limits.max_headers.clamp(1, HEADER_CAP);
    let mut parsed = httparse::Request::new(&mut []);
    let used = match parsed.parse_with_uninit_headers(buf, &mut storage[..cap]) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) => {
            check_partial(buf, limits)?;
            return Ok(None);
        }
        Err(httparse::Error::TooManyHeaders) => {
            return Err(HttpError::new(431, "too many header fields"))
        }
        Err(httparse::Error::Version) => return Err(version_error(buf)),
        Err(_) => {
            check_partial(buf, limits)?;
            return Err(bad("malformed request head"));
        }
    };
    if used > limits.max_head {
        return Err(HttpError::new(431, "request head too large"));
    }
    let method = parsed.method.unwrap_or_default();
    let target = parsed.path.unwrap_or_default();
    if target.len() > limits.max_uri {
        return Err(HttpError::new(414, "request target too long"));
    }
    let version = match parsed.version {
        Some(0) => Version::Http10,
        _ => Version::Http11,
    };
    check_target(method, target)?;
    let seen = fill_headers(&mut req.headers, parsed.headers);
    let headers = &req.headers;
    let framing = match seen.length_or_coding {
        true => framing(headers, version)?,
        false => Framing::None,
    };
    if let Framing::Length(n) = framing {
        if n > limits.max_body {
            return Err(HttpError::new(413, "request body too large"));
        }
    }
    if seen.hosts > 1 {
        return Err(bad("more than one Host header"));
    }
    if seen.hosts == 0 && version == Version::Http11 {
        return Err(bad("HTTP/1.1 request without Host"));
    }
    let expect_continue = seen.expect && expectation(headers.get_bytes("expect"))?;
    let keep_alive = match version {
        Version::Http11 => !(seen.connection && headers.has_token("connection", "close")),
        Version::Http10 | Version::Http2 => {
            seen.connection && headers.has_token("connection", "keep-alive")
        }
    };
    req.method.clear();
    req.method.push_str(method);
    req.target.clear();
    req.target.push_str(target);
    req.version = version;
    req.body.clear();
    req.framing = framing;
    req.keep_alive = keep_alive;
    req.expect_continue = expect_continue && framing != Framing::None;
    req.tls = None;
    req.serial = crate::request::next_serial();
    Ok(Some(skip + used))
}

/// What an `Expect` field value asks for: `Ok(true)` for `100-continue` (any case),
/// `Ok(false)` without the field, 417 for any other expectation (RFC 9110 §10.1.1). Shared
/// by HTTP/1.1 and HTTP/2.
pub(crate) fn expectation(value: Option<&[u8]>) -> Result<bool, HttpError> {
    match value {
        None => Ok(false),
        Some(v) if v.eq_ignore_ascii_case(b"100-continue") => Ok(true),
        Some(_) => Err(HttpError::new(417, "unsupported expectation")),
    }
}

/// Which of the fields the parser acts on a head has: noted while copying the fields, so
/// that a head without them is not searched for them again.
#[derive(Default)]
struct Seen {
    hosts: usize,
    /// `Content-Length` or `Transfer-Encoding`.
    length_or_coding: bool,
    expect: bool,
    connection: bool,
}

impl Seen {
    fn note(&mut self, name: &str) {
        let is = |n: &str| crate::ascii::eq_ignore_case(name.as_bytes(), n.as_bytes());
        match name.len() {
            4 if is("host") => self.hosts += 1,
            6 if is("expect") => self.expect = true,
            10 if is("connection") => self.connection = true,
            14 if is("content-length") => self.length_or_coding = true,
            17 if is("transfer-encoding") => self.length_or_coding = true,
            _ => {}
        }
    }
}

/// Copies the parsed fields into `headers`, reusing the strings already there.
fn fill_headers(headers: &mut Headers, parsed: &[httparse::Header<'_>]) -> Seen {
    let mut seen = Seen::default();
    let fields = &mut headers.0;
    for (i, h) in parsed.iter().enumerate() {
        seen.note(h.name);
        match fields.get_mut(i) {
            Some(f) => {
                f.name.clear();
                f.name.push_str(h.name);
                f.value.clear();
                f.value.extend_from_slice(h.value);
            }
            None => fields.push(Header {
                name: h.name.to_owned(),
                value: h.value.to_vec(),
            }),
        }
    }
    fields.truncate(parsed.len());
    seen
}

fn leading_empty_lines(buf: &[u8]) -> usize {
    let mut i = 0;
    while i < buf.len() && i < 8 {
        match buf[i..] {
            [b'\r', b'\n', ..] => i += 2,
            [b'\n', ..] => i += 1,
            _ => break,
        }
    }
    i
}

/// For an incomplete (or unparseable) head: is it already over a limit?
fn check_partial(buf: &[u8], limits: &Limits) -> Result<(), HttpError> {
    check_partial_len(buf.len(), buf.contains(&b'\n'), limits)
}

/// [`check_partial`] for a head of `len` bytes whose first line is (or is not) complete.
pub(crate) fn check_partial_len(
    len: usize,
    line_seen: bool,
    limits: &Limits,
) -> Result<(), HttpError> {
    if !line_seen && len > limits.max_uri + 32 {
        return Err(HttpError::new(414, "request target too long"));
    }
    if len >= limits.max_head {
        return Err(HttpError::new(431, "request head too large"));
    }
    Ok(())
}

/// `HTTP/2.0` and the like get 505; anything that is not a version at all gets 400.
fn version_error(buf: &[u8]) -> HttpError {
    let line = buf.split(|&b| b == b'\n').next().unwrap_or_default();
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    let version = line.rsplit(|&b| b == b' ').next().unwrap_or_default();
    match version {
        [b'H', b'T', b'T', b'P', b'/', major, b'.', minor]
            if major.is_ascii_digit() && minor.is_ascii_digit() =>
        {
            HttpError::new(505, "HTTP version not supported")
        }
        _ => bad("malformed HTTP version"),
    }
}

fn check_target(method: &str, target: &str) -> Result<(), HttpError> {
    let ok = if method == "CONNECT" {
        !target.is_empty() && !target.starts_with('/')
    } else {
        target.starts_with('/')
            || (target == "*" && method == "OPTIONS")
            || target.starts_with("http://")
            || target.starts_with("https://")
    };
    if ok {
        Ok(())
    } else {
        Err(bad("invalid request target"))
    }
}

/// Decides how the body is delimited, refusing every ambiguous case (request smuggling).
fn framing(headers: &Headers, version: Version) -> Result<Framing, HttpError> {
    let mut length: Option<u64> = None;
    for value in headers.get_all("content-length") {
        for part in value.split(|&b| b == b',') {
            let n = parse_decimal(part.trim_ascii()).ok_or(bad("invalid Content-Length"))?;
            if length.is_some_and(|l| l != n) {
                return Err(bad("conflicting Content-Length values"));
            }
            length = Some(n);
        }
    }
    let mut codings = headers
        .get_all("transfer-encoding")
        .flat_map(|v| v.split(|&b| b == b','))
        .map(|c| c.trim_ascii())
        .peekable();
    if codings.peek().is_none() {
        return Ok(length.map_or(Framing::None, Framing::Length));
    }
    if length.is_some() {
        return Err(bad("both Content-Length and Transfer-Encoding"));
    }
    if version == Version::Http10 {
        return Err(bad("Transfer-Encoding in an HTTP/1.0 request"));
    }
    let codings: Vec<&[u8]> = codings.collect();
    let chunked = |c: &&[u8]| c.eq_ignore_ascii_case(b"chunked");
    if !codings.last().is_some_and(chunked) {
        return Err(bad("final transfer coding is not chunked"));
    }
    if codings.len() > 1 {
        return Err(HttpError::new(501, "unsupported transfer coding"));
    }
    Ok(Framing::Chunked)
}

/// Digits only (no sign, no spaces), at most 19 of them so it fits in u64.
pub(crate) fn parse_decimal(s: &[u8]) -> Option<u64> {
    if s.is_empty() || s.len() > 19 || !s.iter().all(u8::is_ascii_digit) {
        return None;
    }
    Some(s.iter().fold(0u64, |n, &d| n * 10 + u64::from(d - b'0')))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn peer() -> SocketAddr {
        "127.0.0.1:1".parse().unwrap()
    }

    fn parse(raw: &[u8]) -> Result<Option<(Request, usize)>, HttpError> {
        parse_head(raw, &Limits::default(), peer())
    }

    fn status(raw: &str) -> u16 {
        match parse(raw.as_bytes()) {
            Ok(Some(_)) => 200,
            Ok(None) => 0,
            Err(e) => e.status,
        }
    }

    #[test]
    fn simple_get() {
        let raw = b"GET /a?b HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\nrest";
        let (r, n) = parse(raw).unwrap().unwrap();
        assert_eq!(n, raw.len() - 4);
        assert_eq!(r.path(), "/a");
        assert_eq!(r.header("HOST"), Some("x"));
        assert!(!r.keep_alive);
        assert_eq!(r.framing, Framing::None);
    }

    #[test]
    fn byte_by_byte_equals_whole() {
        let raw = b"POST /f HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc";
        for i in 0..raw.len() - 3 {
            assert!(parse(&raw[..i]).unwrap().is_none(), "prefix {i}");
        }
        let (r, n) = parse(raw).unwrap().unwrap();
        assert_eq!(n, raw.len() - 3);
        assert_eq!(r.framing, Framing::Length(3));
    }

    #[test]
    fn keep_alive_rules() {
        let r = |s: &str| parse(s.as_bytes()).unwrap().unwrap().0.keep_alive;
        assert!(r("GET / HTTP/1.1\r\nHost: a\r\n\r\n"));
        assert!(!r("GET / HTTP/1.0\r\n\r\n"));
        assert!(r("GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n"));
        assert!(!r("GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n"));
    }

    #[test]
    fn refusals() {
        let cases: &[(&str, u16)] = &[
            ("GET / HTTP/1.1\r\n\r\n", 400),
            ("GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400),
            ("GET / HTTP/2.0\r\nHost: a\r\n\r\n", 505),
            ("GET / HTTP/1.2\r\nHost: a\r\n\r\n", 505),
            ("GET / HTTP/11.1\r\nHost: a\r\n\r\n", 400),
            ("GET / FOO\r\nHost: a\r\n\r\n", 400),
            ("GET nopath HTTP/1.1\r\nHost: a\r\n\r\n", 400),
            ("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n", 400),
            ("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n", 400),
            ("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1, 2\r\n\r\n", 400),
            ("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: -1\r\n\r\n", 400),
            ("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: +1\r\n\r\n", 400),
            ("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 99999999999999999999\r\n\r\n", 400),
            ("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 2000000\r\n\r\n", 413),
            ("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, gzip\r\n\r\n", 400),
            ("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n\r\n", 400),
            ("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", 501),
            ("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding : chunked\r\n\r\n", 400),
            ("GET / HTTP/1.1\r\nHost: a\r\nX: a\r\n b\r\n\r\n", 400),
            ("GET / HTTP/1.1\r\nHost: a\r\nX: a\0b\r\n\r\n", 400),
            ("GET / HTTP/1.1\r\nHost: a\r\nX: a\rb\r\n\r\n", 400),
            ("GET / HTTP/1.1\r\nHost: a\r\nExpect: magic\r\n\r\n", 417),
            ("POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", 400),
        ];
        for (raw, want) in cases {
            assert_eq!(status(raw), *want, "{raw:?}");
        }
    }

    #[test]
    fn limits() {
        let long_uri = format!("GET /{} HTTP/1.1\r\nHost: a\r\n\r\n", "a".repeat(9000));
        assert_eq!(status(&long_uri), 414);
        let partial_long_uri = format!("GET /{}", "a".repeat(9000));
        assert_eq!(status(&partial_long_uri), 414);
        let big = format!(
            "GET / HTTP/1.1\r\nHost: a\r\nX: {}\r\n\r\n",
            "a".repeat(17000)
        );
        assert_eq!(status(&big), 431);
        let many: String = (0..120).map(|i| format!("X{i}: v\r\n")).collect();
        assert_eq!(
            status(&format!("GET / HTTP/1.1\r\nHost: a\r\n{many}\r\n")),
            431
        );
    }

    #[test]
    fn chunked_and_continue() {
        let raw = b"PUT / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nExpect: 100-continue\r\n\r\n";
        let (r, _) = parse(raw).unwrap().unwrap();
        assert_eq!(r.framing, Framing::Chunked);
        assert!(r.expect_continue);
    }

    #[test]
    fn leading_crlf_ignored() {
        let (r, n) = parse(b"\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n")
            .unwrap()
            .unwrap();
        assert_eq!((r.method.as_str(), n), ("GET", 29));
    }
}
