//! Origin response heads (final and `1xx`), found and parsed in linear time: a head that
//! arrives one byte per read is scanned for its end from where the previous read stopped
//! ([`HeadScanner`]), and handed to `httparse` once, when its blank line is there.

/// A parsed response head.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Head {
    /// Status code.
    pub status: u16,
    /// Minor HTTP version (1 for HTTP/1.1, 0 for HTTP/1.0).
    pub version: u8,
    /// Fields in order, values trimmed (invalid UTF-8 replaced).
    pub headers: Vec<(String, String)>,
}

/// Fields a response head may carry.
const MAX_FIELDS: usize = 128;

/// Finds the end of a response head across reads, remembering how far it looked.
///
/// ```
/// use reactor_handlers::proxy::head::HeadScanner;
///
/// let mut s = HeadScanner::default();
/// let wire = b"HTTP/1.1 204 No Content\r\nServer: o\r\n\r\n";
/// let mut buf = Vec::new();
/// let mut got = None;
/// for &b in wire.iter() {
///     buf.push(b);
///     if let Some(r) = s.next(&buf) {
///         got = Some(r);
///     }
/// }
/// let (len, head) = got.expect("a complete head").expect("a valid head");
/// assert_eq!((len, head.status), (wire.len(), 204));
/// assert_eq!(s.parses(), 1);
/// assert_eq!(s.scanned(), wire.len());
/// ```
#[derive(Debug, Default)]
pub struct HeadScanner {
    /// Bytes of the buffer already known to hold no end of head.
    pos: usize,
    scanned: usize,
    parses: usize,
}

impl HeadScanner {
    /// Looks at `buf` (the bytes of a head so far, the earlier ones unchanged since the
    /// last call): `None` while the head is incomplete, else its length and the parsed
    /// head, or the parse error. After `Some`, call [`HeadScanner::reset`] before
    /// scanning the next head (a `1xx` is followed by another head).
    pub fn next(&mut self, buf: &[u8]) -> Option<Result<(usize, Head), String>> {
        while let Some(end) = self.find_end(buf) {
            self.parses += 1;
            match parse_head(&buf[..end]) {
                Ok(Some((n, head))) => return Some(Ok((n, head))),
                // Empty lines before the status line: the head goes on.
                Ok(None) => continue,
                Err(e) => return Some(Err(e)),
            }
        }
        None
    }

    /// Ready for a new head at the start of the (drained) buffer.
    pub fn reset(&mut self) {
        self.pos = 0;
    }

    /// Bytes examined so far (each byte of a head once, whatever the read sizes).
    pub fn scanned(&self) -> usize {
        self.scanned
    }

    /// Times `httparse` was run so far.
    pub fn parses(&self) -> usize {
        self.parses
    }

    /// The length of the head through its blank line, if it is in `buf` past `pos`.
    fn find_end(&mut self, buf: &[u8]) -> Option<usize> {
        let start = self.pos.min(buf.len());
        for (i, &b) in buf.iter().enumerate().skip(start) {
            self.scanned += 1;
            if b == b'\n'
                && ((i >= 1 && buf[i - 1] == b'\n') || (i >= 2 && &buf[i - 2..i] == b"\n\r"))
            {
                self.pos = i + 1;
                return Some(i + 1);
            }
        }
        self.pos = buf.len();
        None
    }
}

/// Parses one response head: `Ok(None)` when incomplete.
pub fn parse_head(buf: &[u8]) -> Result<Option<(usize, Head)>, String> {
    let mut hs = [httparse::EMPTY_HEADER; MAX_FIELDS];
    let mut r = httparse::Response::new(&mut hs);
    match r.parse(buf) {
        Ok(httparse::Status::Complete(n)) => {
            let headers = r
                .headers
                .iter()
                .map(|h| {
                    (
                        h.name.to_string(),
                        String::from_utf8_lossy(h.value).trim().to_string(),
                    )
                })
                .collect();
            Ok(Some((
                n,
                Head {
                    status: r.code.unwrap_or(0),
                    version: r.version.unwrap_or(1),
                    headers,
                },
            )))
        }
        Ok(httparse::Status::Partial) => Ok(None),
        Err(e) => Err(e.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A head of `fields` fields, each line 40 bytes or so.
    fn big_head(status: &str, fields: usize) -> Vec<u8> {
        let mut h = format!("HTTP/1.1 {status}\r\n").into_bytes();
        for i in 0..fields {
            h.extend_from_slice(format!("X-Field-{i:04}: {}\r\n", "v".repeat(24)).as_bytes());
        }
        h.extend_from_slice(b"\r\n");
        h
    }

    #[test]
    fn one_byte_per_read_costs_each_byte_once_and_one_parse() {
        let wire = big_head("200 OK", 120);
        assert!(wire.len() > 4000);
        let mut s = HeadScanner::default();
        let mut buf = Vec::new();
        let mut got = None;
        for &b in &wire {
            buf.push(b);
            if let Some(r) = s.next(&buf) {
                got = Some(r.unwrap());
            }
        }
        let (n, head) = got.unwrap();
        assert_eq!(n, wire.len());
        assert_eq!(head.headers.len(), 120);
        // Linear: every byte looked at once, httparse run once (quadratic would be
        // about wire.len()^2 / 2 bytes and one parse per byte).
        assert_eq!(s.scanned(), wire.len());
        assert_eq!(s.parses(), 1);
    }

    #[test]
    fn interim_heads_then_the_final_one_from_one_buffer() {
        let mut wire =
            b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n".to_vec();
        wire.extend_from_slice(&big_head("200 OK", 3));
        wire.extend_from_slice(b"body");
        let mut s = HeadScanner::default();
        let mut buf = Vec::new();
        let mut statuses = Vec::new();
        for &b in &wire {
            buf.push(b);
            while let Some(r) = s.next(&buf) {
                let (n, head) = r.unwrap();
                statuses.push(head.status);
                buf.drain(..n);
                s.reset();
            }
        }
        assert_eq!(statuses, [100, 103, 200]);
        assert_eq!(buf, b"body");
        assert_eq!(s.parses(), 3);
        // Each head byte once; the body bytes after the last head once more each.
        assert!(s.scanned() <= wire.len(), "{}", s.scanned());
    }

    #[test]
    fn bare_lf_heads_leading_blank_lines_and_errors() {
        let mut s = HeadScanner::default();
        let (n, h) = s.next(b"HTTP/1.0 200 OK\nA: b\n\nrest").unwrap().unwrap();
        assert_eq!((n, h.status, h.version), (22, 200, 0));
        let mut s = HeadScanner::default();
        let wire = b"\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n";
        let (n, h) = s.next(wire).unwrap().unwrap();
        assert_eq!((n, h.status), (wire.len(), 204));
        let mut s = HeadScanner::default();
        assert!(s
            .next(b"HTTP/1.1 200 OK\r\nBad Field\r\n\r\n")
            .unwrap()
            .is_err());
        assert!(HeadScanner::default()
            .next(b"HTTP/1.1 200 OK\r\n")
            .is_none());
    }
}
