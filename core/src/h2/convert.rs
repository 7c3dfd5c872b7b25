//! Mapping between HTTP/2 messages and the core's [`Request`] and [`Response`], so a
//! [`crate::Handler`] sees the same request whichever protocol carried it.

use std::net::SocketAddr;

use super::request_head::RequestHead;
use crate::request::{Framing, Header, Headers, Request, Version};
use crate::response::Response;

/// Builds the [`Request`] a handler sees from a request head and its complete body.
/// `:authority` becomes the `host` field (first) when the client sent no `host`; the
/// target is `:path` (the authority for CONNECT). The version reads as HTTP/1.1 until
/// [`Version`] has an HTTP/2 variant.
///
/// ```
/// use reactor::h2::{convert::to_request, RequestHead};
///
/// let head = RequestHead {
///     method: "GET".into(),
///     scheme: Some("https".into()),
///     authority: Some("example.com".into()),
///     path: Some("/a?b=1".into()),
///     headers: vec![("accept".into(), b"*/*".to_vec())],
///     content_length: None,
/// };
/// let req = to_request(head, Vec::new(), "127.0.0.1:9".parse().unwrap());
/// assert_eq!((req.path(), req.query()), ("/a", Some("b=1")));
/// assert_eq!(req.header("Host"), Some("example.com"));
/// ```
pub fn to_request(head: RequestHead, body: Vec<u8>, peer: SocketAddr) -> Request {
    let mut fields = Vec::with_capacity(head.headers.len() + 1);
    let has_host = head.headers.iter().any(|(n, _)| n == "host");
    if let (false, Some(a)) = (has_host, &head.authority) {
        fields.push(Header {
            name: "host".to_string(),
            value: a.as_bytes().to_vec(),
        });
    }
    fields.extend(
        head.headers
            .into_iter()
            .map(|(name, value)| Header { name, value }),
    );
    let framing = match head.content_length {
        Some(n) => Framing::Length(n),
        None if !body.is_empty() => Framing::Length(body.len() as u64),
        None => Framing::None,
    };
    let target = head
        .path
        .or(head.authority)
        .unwrap_or_else(|| "/".to_string());
    Request {
        method: head.method,
        target,
        version: Version::Http11,
        headers: Headers(fields),
        body,
        peer,
        framing,
        keep_alive: true,
        expect_continue: false,
        tls: None,
        serial: crate::request::next_serial(),
    }
}

/// The response head as HTTP/2 fields: the status and (name, value) pairs with `server`
/// and `date` added when the handler set none, and `content-length` from the body when
/// its length is known (the handler's own is kept only for an empty body, as a HEAD
/// answer). Connection-specific fields are dropped later by
/// [`super::Session::send_headers`].
///
/// ```
/// use reactor::h2::convert::response_fields;
/// use reactor::Response;
///
/// let r = Response::text(200, "hi");
/// let (status, fields) = response_fields(&r, "Mon, 30 Nov 2026 01:00:00 GMT");
/// assert_eq!(status, 200);
/// assert!(fields.contains(&("content-length".to_string(), "2".to_string())));
/// ```
pub fn response_fields(resp: &Response, date: &str) -> (u16, Vec<(String, String)>) {
    let body_len = resp.body.len();
    let mut fields = Vec::with_capacity(resp.headers.len() + 3);
    if resp.header("server").is_none() {
        fields.push(("server".to_string(), "reactor".to_string()));
    }
    if resp.header("date").is_none() {
        fields.push(("date".to_string(), date.to_string()));
    }
    for (name, value) in &resp.headers {
        let name = name.to_ascii_lowercase();
        if name == "content-length" && body_len != Some(0) {
            continue;
        }
        fields.push((name, value.to_string()));
    }
    let handler_length = resp.header("content-length").is_some();
    if let Some(n) = body_len {
        if !(resp.is_bodiless() || n == 0 && handler_length) {
            fields.push(("content-length".to_string(), n.to_string()));
        }
    }
    (resp.status, fields)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::response::Body;

    fn head(authority: Option<&str>, headers: &[(&str, &str)]) -> RequestHead {
        RequestHead {
            method: "POST".into(),
            scheme: Some("http".into()),
            authority: authority.map(String::from),
            path: Some("/up".into()),
            headers: headers
                .iter()
                .map(|(n, v)| (n.to_string(), v.as_bytes().to_vec()))
                .collect(),
            content_length: Some(3),
        }
    }

    #[test]
    fn request_mapping() {
        let peer = "127.0.0.1:1".parse().unwrap();
        let r = to_request(
            head(Some("a.example"), &[("x", "1")]),
            b"abc".to_vec(),
            peer,
        );
        assert_eq!(r.method, "POST");
        assert_eq!(r.target, "/up");
        assert_eq!(r.body, b"abc");
        assert_eq!(r.framing(), Framing::Length(3));
        assert!(r.keep_alive());
        let names: Vec<&str> = r.headers.iter().map(|h| h.name.as_str()).collect();
        assert_eq!(names, ["host", "x"]);
        // An explicit host is not duplicated.
        let r = to_request(
            head(Some("a.example"), &[("host", "a.example")]),
            vec![],
            peer,
        );
        assert_eq!(r.headers.get_all("host").count(), 1);
        // CONNECT: the authority is the target.
        let mut c = head(Some("h:443"), &[]);
        c.method = "CONNECT".into();
        c.path = None;
        assert_eq!(to_request(c, vec![], peer).target, "h:443");
    }

    #[test]
    fn response_mapping() {
        let date = "Mon, 30 Nov 2026 01:00:00 GMT";
        let r = Response::text(200, "hello")
            .with_header("Content-Length", "99")
            .with_header("X-Thing", "1");
        let (s, f) = response_fields(&r, date);
        assert_eq!(s, 200);
        assert!(f.contains(&("server".into(), "reactor".into())));
        assert!(f.contains(&("date".into(), date.into())));
        assert!(f.contains(&("x-thing".into(), "1".into())));
        assert!(f.contains(&("content-length".into(), "5".into())));
        assert!(!f.contains(&("content-length".into(), "99".into())));
        // 304: no content-length made up.
        let (_, f) = response_fields(&Response::new(304), date);
        assert!(!f.iter().any(|(n, _)| n == "content-length"));
        // A HEAD-style answer keeps the handler's length for its empty body.
        let r = Response::new(200).with_header("Content-Length", "42");
        let (_, f) = response_fields(&r, date);
        assert_eq!(f.iter().filter(|(n, _)| n == "content-length").count(), 1);
        assert!(f.contains(&("content-length".into(), "42".into())));
        // A stream of unknown length: no content-length.
        let (body, _tx) = Body::stream(None);
        let (_, f) = response_fields(&Response::new(200).with_body(body), date);
        assert!(!f.iter().any(|(n, _)| n == "content-length"));
        // The handler's server and date win.
        let r = Response::new(204)
            .with_header("Server", "x")
            .with_header("Date", "d");
        let (_, f) = response_fields(&r, date);
        assert_eq!(
            f,
            vec![("server".into(), "x".into()), ("date".into(), "d".into())]
        );
    }
}
