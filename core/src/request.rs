//! The request a handler sees: method, target, version, headers, body.

use crate::ascii::eq_ignore_case;
use std::net::SocketAddr;

use crate::tls::TlsInfo;

/// HTTP protocol version of a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Version {
    /// HTTP/1.0
    Http10,
    /// HTTP/1.1
    Http11,
    /// HTTP/2 (shown as `HTTP/2.0` in the access log, as nginx does).
    Http2,
}

impl Version {
    /// The version as it appears on the wire, e.g. `HTTP/1.1`.
    pub fn as_str(self) -> &'static str {
        match self {
            Version::Http10 => "HTTP/1.0",
            Version::Http11 => "HTTP/1.1",
            Version::Http2 => "HTTP/2.0",
        }
    }
}

/// One header field as received. Names keep their original case; lookups ignore it.
#[derive(Debug, Clone)]
pub struct Header {
    /// Field name.
    pub name: String,
    /// Field value, raw bytes (HTTP allows obs-text), surrounding whitespace removed.
    pub value: Vec<u8>,
}

/// The header fields of a request, in the order received.
#[derive(Debug, Clone, Default)]
pub struct Headers(pub(crate) Vec<Header>);

impl Headers {
    /// The first value of `name` (case-insensitive), if present and valid UTF-8.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.get_bytes(name)
            .and_then(|v| std::str::from_utf8(v).ok())
    }

    /// The first value of `name` as raw bytes.
    pub fn get_bytes(&self, name: &str) -> Option<&[u8]> {
        self.0
            .iter()
            .find(|h| eq_ignore_case(h.name.as_bytes(), name.as_bytes()))
            .map(|h| h.value.as_slice())
    }

    /// Every value of `name`, in order.
    pub fn get_all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a [u8]> + 'a {
        self.0
            .iter()
            .filter(move |h| eq_ignore_case(h.name.as_bytes(), name.as_bytes()))
            .map(|h| h.value.as_slice())
    }

    /// True when some value of `name` holds `token` in its comma-separated list.
    pub fn has_token(&self, name: &str, token: &str) -> bool {
        self.get_all(name).any(|v| {
            v.split(|&b| b == b',')
                .any(|t| t.trim_ascii().eq_ignore_ascii_case(token.as_bytes()))
        })
    }

    /// All fields in order.
    pub fn iter(&self) -> impl Iterator<Item = &Header> {
        self.0.iter()
    }

    /// Number of fields.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// True when there are no fields.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// How the request body is delimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    /// No body.
    None,
    /// `Content-Length: n`.
    Length(u64),
    /// `Transfer-Encoding: chunked`.
    Chunked,
}

/// A parsed request. The body has been read completely before a handler sees it.
#[derive(Debug, Clone)]
pub struct Request {
    /// Method token, e.g. `GET`.
    pub method: String,
    /// Request target exactly as sent (origin, absolute, authority or asterisk form).
    pub target: String,
    /// Protocol version.
    pub version: Version,
    /// Header fields.
    pub headers: Headers,
    /// The request body (empty when there is none).
    pub body: Vec<u8>,
    /// The client's address.
    pub peer: SocketAddr,
    pub(crate) framing: Framing,
    pub(crate) keep_alive: bool,
    pub(crate) expect_continue: bool,
    pub(crate) tls: Option<TlsInfo>,
    pub(crate) serial: u64,
}

impl Request {
    /// A request with nothing in it yet, to parse into.
    pub(crate) fn empty(peer: SocketAddr) -> Request {
        Request {
            method: String::new(),
            target: String::new(),
            version: Version::Http11,
            headers: Headers::default(),
            body: Vec::new(),
            peer,
            framing: Framing::None,
            keep_alive: true,
            expect_continue: false,
            tls: None,
            serial: next_serial(),
        }
    }

    /// A number no other request read by this process has had (a recycled `Request`
    /// gets a new one with each request parsed into it): a plugin can key work it does
    /// once per request on it, such as a routing decision.
    pub fn serial(&self) -> u64 {
        self.serial
    }

    /// The path of the target, without the query (for absolute-form targets, the part after
    /// the authority; `/` when it is empty). Still percent-encoded.
    pub fn path(&self) -> &str {
        let t = self.target_without_authority();
        // A plain loop: targets are short, and a call to memchr costs more here.
        let p = match t.bytes().position(|b| b == b'?') {
            Some(i) => &t[..i],
            None => t,
        };
        if p.is_empty() {
            "/"
        } else {
            p
        }
    }

    /// The query string after `?`, if any.
    pub fn query(&self) -> Option<&str> {
        let t = self.target_without_authority();
        t.find('?').map(|i| &t[i + 1..])
    }

    fn target_without_authority(&self) -> &str {
        let t = self.target.as_str();
        if t.starts_with('/') {
            return t;
        }
        match t.find("://") {
            Some(i) => {
                let rest = &t[i + 3..];
                match rest.find(['/', '?']) {
                    Some(j) => &rest[j..],
                    None => "",
                }
            }
            None => t,
        }
    }

    /// The first value of header `name` (case-insensitive), if valid UTF-8.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name)
    }

    /// True for `GET` and `HEAD`.
    pub fn is_get_or_head(&self) -> bool {
        self.method == "GET" || self.method == "HEAD"
    }

    /// Whether the connection stays open after this request (as the client asked).
    pub fn keep_alive(&self) -> bool {
        self.keep_alive
    }

    /// True when the request came over TLS (HTTPS).
    pub fn is_tls(&self) -> bool {
        self.tls.is_some()
    }

    /// The SNI name the client sent in its TLS handshake, if any.
    pub fn sni(&self) -> Option<&str> {
        self.tls.as_ref()?.sni.as_deref()
    }

    /// How the body was delimited (what a [`crate::body::BodyDecoder`] for it needs).
    pub fn framing(&self) -> Framing {
        self.framing
    }
}

/// The next request serial: each thread takes blocks of them from a shared counter, so
/// numbering a request costs no atomic operation.
pub(crate) fn next_serial() -> u64 {
    use std::cell::Cell;
    use std::sync::atomic::{AtomicU64, Ordering};
    const BLOCK: u64 = 1 << 20;
    static BLOCKS: AtomicU64 = AtomicU64::new(0);
    thread_local! {
        /// The next serial of this thread's block and the block's end.
        static NEXT: Cell<(u64, u64)> = const { Cell::new((0, 0)) };
    }
    NEXT.with(|next| {
        let (mut n, mut end) = next.get();
        if n == end {
            n = BLOCKS.fetch_add(1, Ordering::Relaxed) * BLOCK + 1;
            end = n + BLOCK - 1;
        }
        next.set((n + 1, end));
        n
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(target: &str) -> Request {
        let mut r = Request::empty("127.0.0.1:1".parse().unwrap());
        r.method = "GET".into();
        r.target = target.into();
        r
    }

    #[test]
    fn every_request_parsed_gets_a_new_serial() {
        let limits = crate::parse::Limits::default();
        let mut r = req("/");
        let mut seen = vec![r.serial()];
        for _ in 0..3 {
            let head = b"GET / HTTP/1.1\r\nHost: a\r\n\r\n";
            crate::parse::parse_head_into(head, &limits, &mut r).unwrap();
            seen.push(r.serial());
        }
        seen.push(std::thread::spawn(|| req("/").serial()).join().unwrap());
        seen.sort_unstable();
        seen.dedup();
        assert_eq!(seen.len(), 5, "{seen:?}");
        assert!(!seen.contains(&0));
    }

    #[test]
    fn path_and_query() {
        assert_eq!(req("/a/b?x=1").path(), "/a/b");
        assert_eq!(req("/a/b?x=1").query(), Some("x=1"));
        assert_eq!(req("/a").query(), None);
        assert_eq!(req("http://h:1/p?q").path(), "/p");
        assert_eq!(req("http://h:1/p?q").query(), Some("q"));
        assert_eq!(req("http://h").path(), "/");
        assert_eq!(req("http://h?q").path(), "/");
    }

    #[test]
    fn tokens() {
        let h = Headers(vec![Header {
            name: "Connection".into(),
            value: b"Keep-Alive, Upgrade".to_vec(),
        }]);
        assert!(h.has_token("connection", "keep-alive"));
        assert!(h.has_token("connection", "upgrade"));
        assert!(!h.has_token("connection", "close"));
    }
}
