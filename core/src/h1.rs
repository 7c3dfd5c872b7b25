//! The HTTP/1.1 codec: bytes ↔ request heads and bodies, responses ↔ bytes. Pure: no
//! sockets, no reactor. [`crate::parse`] validates one head and [`crate::body`] decodes
//! body framing; this module adds what a connection needs around them: finding complete
//! heads in linear time, and framing responses.

use crate::ascii::eq_ignore_case;
use crate::parse::{check_partial_len, parse_head_into, HttpError, Limits};
use crate::request::{Request, Version};
use crate::response::{reason, Response};

/// The interim answer to `Expect: 100-continue`.
pub(crate) const CONTINUE: &[u8] = b"HTTP/1.1 100 Continue\r\n\r\n";
/// The end of a chunked body.
pub(crate) const LAST_CHUNK: &[u8] = b"0\r\n\r\n";

/// Finds request heads in bytes that arrive in pieces, keeping a scan position so a head
/// that arrives one byte per read costs linear time in total (the end of the head is
/// searched once per byte, and the head is parsed only once it is complete, plus once
/// when its request line is, to refuse garbage early).
#[derive(Debug, Default)]
pub(crate) struct HeadReader {
    /// Bytes of the buffered head already searched for its end.
    scan: usize,
    /// The first line has ended.
    line_seen: bool,
}

impl HeadReader {
    /// Looks for a complete head at the start of `buf`, which holds everything received
    /// since the previous head (or the connection) began, and parses it into `req` (whose
    /// allocations are reused). Returns the bytes the head used.
    pub fn next(
        &mut self,
        buf: &[u8],
        limits: &Limits,
        req: &mut Request,
    ) -> Result<Option<usize>, HttpError> {
        let start = self.scan.min(buf.len());
        if start == 0 {
            // A head's first bytes: most often the whole head is there (and pipelined
            // ones after it), so parse at once rather than search for its end first.
            if let Some(used) = parse_head_into(buf, limits, req)? {
                return Ok(Some(used));
            }
        }
        self.scan = buf.len();
        if head_end(buf, start.saturating_sub(3)) {
            if let Some(used) = parse_head_into(buf, limits, req)? {
                *self = HeadReader::default();
                return Ok(Some(used));
            }
            // Only empty lines so far: they are ignored before a request line.
        } else if !self.line_seen && buf[start..].contains(&b'\n') {
            self.line_seen = true;
            parse_head_into(buf, limits, req)?;
        }
        check_partial_len(buf.len(), self.line_seen, limits)?;
        Ok(None)
    }
}

/// True when `buf[from..]` holds the end of a head: an empty line (`\n\n` or `\n\r\n`).
fn head_end(buf: &[u8], from: usize) -> bool {
    let mut i = from;
    while let Some(off) = buf
        .get(i..)
        .and_then(|b| b.iter().position(|&c| c == b'\n'))
    {
        let nl = i + off;
        let before = &buf[..nl];
        if before.ends_with(b"\n") || before.ends_with(b"\n\r") {
            return true;
        }
        i = nl + 1;
    }
    false
}

/// How a response goes on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Plan {
    /// The connection stays open after this response.
    pub keep_alive: bool,
    /// The body is sent with chunked transfer coding.
    pub chunked: bool,
    /// The body is sent at all (not for HEAD, 1xx, 204, 304).
    pub with_body: bool,
}

/// What the response head depends on besides the response itself.
pub(crate) struct Exchange<'a> {
    /// The request's version (HTTP/1.1 when the request could not be read).
    pub version: Version,
    /// The request was HEAD.
    pub head_only: bool,
    /// The client and server both want the connection kept.
    pub keep_alive: bool,
    /// The connection becomes a tunnel after this response.
    pub tunnel: bool,
    /// The `Date` value.
    pub date: &'a [u8; 29],
}

/// The head of an interim (`1xx`) response: its status line and its own fields, nothing
/// the core adds to final responses.
pub(crate) fn encode_interim(resp: &Response, out: &mut Vec<u8>) {
    status_line(resp.status, out);
    for (name, value) in &resp.headers {
        field(name.as_bytes(), value.as_bytes(), out);
    }
    out.extend_from_slice(b"\r\n");
}

/// Appends the head of `resp` to `out`, adding `Server`, `Date`, the body framing and
/// `Connection`, and says how the body must follow. One pass over the handler's fields:
/// the ones the core adds follow them.
pub(crate) fn encode_head(resp: &Response, x: &Exchange<'_>, out: &mut Vec<u8>) -> Plan {
    let bodiless = resp.is_bodiless();
    let body_len = resp.body.len();
    // Room for a typical head, so that the appends below rarely grow the buffer.
    out.reserve(512);
    status_line(resp.status, out);
    let mut present = Present::default();
    for (name, value) in &resp.headers {
        let (name, value) = (name.as_bytes(), value.as_bytes());
        if present.note(name, value, resp.status, body_len) {
            field(name, value, out);
        }
    }
    let mut keep_alive = x.keep_alive && !present.connection_close && !x.tunnel;
    let mut chunked = false;
    if body_len.is_none() && !bodiless && !x.head_only {
        if x.version == Version::Http11 {
            chunked = true;
        } else {
            keep_alive = false;
        }
    }
    if !present.server {
        out.extend_from_slice(b"Server: reactor\r\n");
    }
    if !present.date {
        out.extend_from_slice(b"Date: ");
        out.extend_from_slice(x.date);
        out.extend_from_slice(b"\r\n");
    }
    if !bodiless && !x.tunnel {
        match body_len {
            Some(0) if present.content_length => {}
            Some(n) => {
                out.extend_from_slice(b"Content-Length: ");
                push_decimal(n, out);
                out.extend_from_slice(b"\r\n");
            }
            None if chunked => out.extend_from_slice(b"Transfer-Encoding: chunked\r\n"),
            None => {}
        }
        if body_len != Some(0) && !present.content_type {
            out.extend_from_slice(b"Content-Type: application/octet-stream\r\n");
        }
    }
    if !keep_alive && !x.tunnel {
        out.extend_from_slice(b"Connection: close\r\n");
    } else if keep_alive && x.version == Version::Http10 {
        out.extend_from_slice(b"Connection: keep-alive\r\n");
    }
    out.extend_from_slice(b"\r\n");
    Plan {
        keep_alive,
        chunked,
        with_body: !x.head_only && !bodiless,
    }
}

/// Appends `name: value\r\n`.
fn field(name: &[u8], value: &[u8], out: &mut Vec<u8>) {
    out.extend_from_slice(name);
    out.extend_from_slice(b": ");
    out.extend_from_slice(value);
    out.extend_from_slice(b"\r\n");
}

/// Which of the fields the core may add the handler already set.
#[derive(Default)]
struct Present {
    server: bool,
    date: bool,
    content_length: bool,
    content_type: bool,
    connection: bool,
    connection_close: bool,
}

impl Present {
    /// Notes the handler's field `name`; false when the core frames the message itself and
    /// the field must not be sent (`Connection` except on a 101, `Transfer-Encoding`, and
    /// a `Content-Length` unless the body is empty).
    fn note(&mut self, name: &[u8], value: &[u8], status: u16, body_len: Option<u64>) -> bool {
        let is = |n: &str| eq_ignore_case(name, n.as_bytes());
        match name.len() {
            4 if is("date") => self.date = true,
            6 if is("server") => self.server = true,
            10 if is("connection") => {
                // Only the first one counts, as `Response::header` would say.
                if !self.connection {
                    self.connection = true;
                    self.connection_close = value.eq_ignore_ascii_case(b"close");
                }
                return status == 101;
            }
            12 if is("content-type") => self.content_type = true,
            14 if is("content-length") => {
                self.content_length = true;
                return body_len == Some(0);
            }
            17 if is("transfer-encoding") => return false,
            _ => {}
        }
        true
    }
}

/// Appends `HTTP/1.1 NNN Reason\r\n`.
fn status_line(status: u16, out: &mut Vec<u8>) {
    // The most frequent ones whole.
    let line: &[u8] = match status {
        200 => b"HTTP/1.1 200 OK\r\n",
        206 => b"HTTP/1.1 206 Partial Content\r\n",
        304 => b"HTTP/1.1 304 Not Modified\r\n",
        404 => b"HTTP/1.1 404 Not Found\r\n",
        _ => b"",
    };
    if !line.is_empty() {
        return out.extend_from_slice(line);
    }
    out.extend_from_slice(b"HTTP/1.1 ");
    push_decimal(u64::from(status), out);
    out.push(b' ');
    out.extend_from_slice(reason(status).as_bytes());
    out.extend_from_slice(b"\r\n");
}

/// Appends `n` in decimal, without the formatting machinery (two digits per division).
fn push_decimal(mut n: u64, out: &mut Vec<u8>) {
    const PAIRS: &[u8; 200] = b"0001020304050607080910111213141516171819\
        2021222324252627282930313233343536373839404142434445464748495051525354555657585960\
        6162636465666768697071727374757677787980818283848586878889909192939495969798\
        99";
    let mut digits = [0u8; 20];
    let mut at = digits.len();
    while n >= 100 {
        let pair = (n % 100) as usize * 2;
        n /= 100;
        at -= 2;
        digits[at..at + 2].copy_from_slice(&PAIRS[pair..pair + 2]);
    }
    if n >= 10 {
        let pair = n as usize * 2;
        at -= 2;
        digits[at..at + 2].copy_from_slice(&PAIRS[pair..pair + 2]);
    } else {
        at -= 1;
        digits[at] = b'0' + n as u8;
    }
    out.extend_from_slice(&digits[at..]);
}

/// The line that starts a chunk of `len` bytes.
pub(crate) fn chunk_start(len: usize) -> Vec<u8> {
    format!("{len:x}\r\n").into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimals_and_status_lines() {
        let mut out = Vec::new();
        for n in [0, 7, 9, 10, 99, 100, 1024, 12_345, u64::MAX] {
            out.clear();
            push_decimal(n, &mut out);
            assert_eq!(out, n.to_string().as_bytes());
        }
        for status in [200, 206, 304, 404, 418, 503] {
            out.clear();
            status_line(status, &mut out);
            let line = format!("HTTP/1.1 {status} {}\r\n", reason(status));
            assert_eq!(String::from_utf8_lossy(&out), line);
        }
    }

    fn peer() -> std::net::SocketAddr {
        "127.0.0.1:1".parse().unwrap()
    }

    fn feed_one_byte_at_a_time(raw: &[u8]) -> (Option<Request>, usize) {
        let mut r = HeadReader::default();
        let mut req = Request::empty(peer());
        for i in 1..=raw.len() {
            if let Some(used) = r.next(&raw[..i], &Limits::default(), &mut req).unwrap() {
                return (Some(req), used);
            }
        }
        (None, 0)
    }

    #[test]
    fn heads_found_byte_by_byte() {
        let raw = b"\r\nGET /a HTTP/1.1\r\nHost: x\r\n\r\n";
        let (req, used) = feed_one_byte_at_a_time(raw);
        assert_eq!((req.unwrap().path(), used), ("/a", raw.len()));
        let raw = b"GET /b HTTP/1.1\nHost: x\n\n";
        let (req, used) = feed_one_byte_at_a_time(raw);
        assert_eq!((req.unwrap().path(), used), ("/b", raw.len()));
    }

    #[test]
    fn garbage_refused_once_its_first_line_ends() {
        let mut r = HeadReader::default();
        let mut req = Request::empty(peer());
        assert!(r
            .next(b"GARB", &Limits::default(), &mut req)
            .unwrap()
            .is_none());
        assert_eq!(
            r.next(b"GARBAGE\r\n", &Limits::default(), &mut req)
                .unwrap_err()
                .status,
            400
        );
    }

    #[test]
    fn framing() {
        let date = [b'D'; 29];
        let x = Exchange {
            version: Version::Http11,
            head_only: false,
            keep_alive: true,
            tunnel: false,
            date: &date,
        };
        let mut out = Vec::new();
        let (body, _tx) = crate::response::Body::stream(None);
        let plan = encode_head(&Response::new(200).with_body(body), &x, &mut out);
        assert!(plan.chunked && plan.keep_alive);
        assert!(String::from_utf8_lossy(&out).contains("Transfer-Encoding: chunked\r\n"));
        let x = Exchange {
            version: Version::Http10,
            ..x
        };
        let (body, _tx) = crate::response::Body::stream(None);
        let plan = encode_head(&Response::new(200).with_body(body), &x, &mut out);
        assert!(!plan.chunked && !plan.keep_alive);
    }
}
