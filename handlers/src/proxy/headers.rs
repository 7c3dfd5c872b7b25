//! Header rewriting between client and origin: hop-by-hop fields (RFC 9110 §7.6.1) and
//! every field named in `Connection` are dropped in both directions; `Via` is added.

use reactor::Request;

/// The `Via` value this proxy adds.
pub const VIA: &str = "1.1 reactor-proxy";

/// Fields that only concern one connection, never forwarded.
const HOP_BY_HOP: &[&str] = &[
    "connection",
    "keep-alive",
    "proxy-connection",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
];

/// True for a hop-by-hop field or one listed in `connection_tokens`.
pub fn is_hop_by_hop(name: &str, connection_tokens: &[String]) -> bool {
    HOP_BY_HOP.iter().any(|h| name.eq_ignore_ascii_case(h))
        || connection_tokens
            .iter()
            .any(|t| name.eq_ignore_ascii_case(t))
}

/// Lower-cased tokens of every `Connection` (and `Proxy-Connection`) value.
pub fn connection_tokens<'a>(values: impl Iterator<Item = &'a [u8]>) -> Vec<String> {
    values
        .flat_map(|v| v.split(|&b| b == b','))
        .filter_map(|t| std::str::from_utf8(t).ok())
        .map(|t| t.trim().to_ascii_lowercase())
        .filter(|t| !t.is_empty())
        .collect()
}

/// What to put in front of the forwarded request.
#[derive(Debug, Clone, Default)]
pub struct Outgoing<'a> {
    /// Method to send (a revalidation sends GET for a HEAD).
    pub method: &'a str,
    /// Origin-form path.
    pub path: &'a str,
    /// `Host` value.
    pub host: &'a str,
    /// Append the client to `X-Forwarded-For` and `Forwarded` (RFC 7239) and say the
    /// client's scheme in `X-Forwarded-Proto` (replacing the client's own).
    pub forwarded_for: bool,
    /// The scheme the client used (`http` or `https`), for `forwarded_for`.
    pub proto: &'a str,
    /// `Max-Forwards` to send (already decremented), if any.
    pub max_forwards: Option<u32>,
    /// Validators replacing the client's conditionals: `(ETag, Last-Modified)`.
    pub validators: Option<(Option<&'a str>, Option<&'a str>)>,
    /// Send the request body.
    pub with_body: bool,
}

const CONDITIONALS: &[&str] = &[
    "if-none-match",
    "if-modified-since",
    "if-match",
    "if-unmodified-since",
    "if-range",
];

/// Serialises the request to send to the origin.
pub fn build_request(req: &Request, out: &Outgoing<'_>) -> Vec<u8> {
    let tokens = connection_tokens(
        req.headers
            .get_all("connection")
            .chain(req.headers.get_all("proxy-connection")),
    );
    let mut w = Vec::with_capacity(512 + req.body.len());
    w.extend_from_slice(out.method.as_bytes());
    w.push(b' ');
    w.extend_from_slice(out.path.as_bytes());
    w.extend_from_slice(b" HTTP/1.1\r\nHost: ");
    w.extend_from_slice(out.host.as_bytes());
    w.extend_from_slice(b"\r\n");
    let (mut xff, mut fwd): (Option<Vec<u8>>, Option<Vec<u8>>) = (None, None);
    for h in req.headers.iter() {
        let n = h.name.as_str();
        if is_hop_by_hop(n, &tokens)
            || n.eq_ignore_ascii_case("host")
            || n.eq_ignore_ascii_case("content-length")
            || n.eq_ignore_ascii_case("expect")
            || n.eq_ignore_ascii_case("max-forwards")
            || (out.validators.is_some() && CONDITIONALS.iter().any(|c| n.eq_ignore_ascii_case(c)))
        {
            continue;
        }
        if out.forwarded_for {
            let list = if n.eq_ignore_ascii_case("x-forwarded-for") {
                &mut xff
            } else if n.eq_ignore_ascii_case("forwarded") {
                &mut fwd
            } else if n.eq_ignore_ascii_case("x-forwarded-proto") {
                continue;
            } else {
                header(&mut w, n, &h.value);
                continue;
            };
            append(list.get_or_insert_with(Vec::new), &h.value);
            continue;
        }
        header(&mut w, n, &h.value);
    }
    if let Some((etag, lm)) = out.validators {
        if let Some(e) = etag {
            header(&mut w, "If-None-Match", e.as_bytes());
        }
        if let Some(l) = lm {
            header(&mut w, "If-Modified-Since", l.as_bytes());
        }
    }
    if let Some(n) = out.max_forwards {
        header(&mut w, "Max-Forwards", n.to_string().as_bytes());
    }
    header(&mut w, "Via", VIA.as_bytes());
    if out.forwarded_for {
        let ip = req.peer.ip();
        let mut x = xff.unwrap_or_default();
        append(&mut x, ip.to_string().as_bytes());
        header(&mut w, "X-Forwarded-For", &x);
        let node = match ip {
            std::net::IpAddr::V4(v4) => v4.to_string(),
            std::net::IpAddr::V6(v6) => format!("\"[{v6}]\""),
        };
        let mut f = fwd.unwrap_or_default();
        append(&mut f, format!("for={node};proto={}", out.proto).as_bytes());
        header(&mut w, "Forwarded", &f);
        header(&mut w, "X-Forwarded-Proto", out.proto.as_bytes());
    }
    let had_framing = req.headers.get("content-length").is_some()
        || req.headers.get("transfer-encoding").is_some();
    if out.with_body && (!req.body.is_empty() || had_framing) {
        header(
            &mut w,
            "Content-Length",
            req.body.len().to_string().as_bytes(),
        );
    }
    w.extend_from_slice(b"\r\n");
    if out.with_body {
        w.extend_from_slice(&req.body);
    }
    w
}

/// Appends `value` to a comma-separated list.
fn append(list: &mut Vec<u8>, value: &[u8]) {
    if !list.is_empty() {
        list.extend_from_slice(b", ");
    }
    list.extend_from_slice(value);
}

fn header(w: &mut Vec<u8>, name: &str, value: &[u8]) {
    w.extend_from_slice(name.as_bytes());
    w.extend_from_slice(b": ");
    w.extend_from_slice(value);
    w.extend_from_slice(b"\r\n");
}

/// The end-to-end fields of an origin response (hop-by-hop and `Content-Length` removed;
/// `keep_length` keeps `Content-Length`, for answers without a body such as HEAD's).
pub fn response_fields(headers: &[(String, String)], keep_length: bool) -> Vec<(String, String)> {
    let tokens = connection_tokens(
        headers
            .iter()
            .filter(|(n, _)| {
                n.eq_ignore_ascii_case("connection") || n.eq_ignore_ascii_case("proxy-connection")
            })
            .map(|(_, v)| v.as_bytes()),
    );
    headers
        .iter()
        .filter(|(n, _)| {
            !is_hop_by_hop(n, &tokens) && (keep_length || !n.eq_ignore_ascii_case("content-length"))
        })
        .cloned()
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use reactor::parse::{parse_head, Limits};

    fn req(raw: &str) -> Request {
        let (mut r, _) = parse_head(
            raw.as_bytes(),
            &Limits::default(),
            "10.9.8.7:1".parse().unwrap(),
        )
        .unwrap()
        .unwrap();
        r.body = b"body".to_vec();
        r
    }

    fn text(r: &Request, out: &Outgoing<'_>) -> String {
        String::from_utf8(build_request(r, out)).unwrap()
    }

    #[test]
    fn request_rewritten_for_the_origin() {
        let r = req(
            "POST http://o:81/p?q HTTP/1.1\r\nHost: wrong\r\nConnection: keep-alive, X-Hop\r\n\
             X-Hop: 1\r\nProxy-Connection: keep-alive\r\nProxy-Authorization: x\r\nTE: trailers\r\n\
             Upgrade: h2c\r\nExpect: 100-continue\r\nContent-Length: 4\r\nMax-Forwards: 5\r\n\
             X-Forwarded-For: 1.2.3.4\r\nIf-None-Match: \"c\"\r\nX-End: e\r\n\
             Forwarded: for=1.2.3.4\r\nX-Forwarded-Proto: https\r\n\r\n",
        );
        let out = Outgoing {
            method: "POST",
            path: "/p?q",
            host: "o:81",
            forwarded_for: true,
            proto: "http",
            max_forwards: Some(4),
            with_body: true,
            ..Default::default()
        };
        let t = text(&r, &out);
        assert!(t.starts_with("POST /p?q HTTP/1.1\r\nHost: o:81\r\n"), "{t}");
        for gone in [
            "wrong",
            "X-Hop",
            "Proxy-",
            "TE:",
            "Upgrade",
            "Expect",
            "Connection",
            "https",
        ] {
            assert!(!t.contains(gone), "{gone} in {t}");
        }
        for kept in [
            "If-None-Match: \"c\"\r\n",
            "X-End: e\r\n",
            "Max-Forwards: 4\r\n",
            "Via: 1.1 reactor-proxy\r\n",
            "X-Forwarded-For: 1.2.3.4, 10.9.8.7\r\n",
            "Forwarded: for=1.2.3.4, for=10.9.8.7;proto=http\r\n",
            "X-Forwarded-Proto: http\r\n",
        ] {
            assert!(t.contains(kept), "{kept} missing in {t}");
        }
        assert!(t.ends_with("Content-Length: 4\r\n\r\nbody"), "{t}");
    }

    #[test]
    fn revalidation_replaces_client_conditionals() {
        let r = req("GET http://o/ HTTP/1.1\r\nHost: o\r\nIf-None-Match: \"client\"\r\nIf-Modified-Since: x\r\n\r\n");
        let out = Outgoing {
            method: "GET",
            path: "/",
            host: "o",
            validators: Some((Some("\"stored\""), None)),
            ..Default::default()
        };
        let t = text(&r, &out);
        assert!(
            t.contains("If-None-Match: \"stored\"\r\n") && !t.contains("client"),
            "{t}"
        );
        assert!(
            !t.contains("If-Modified-Since") && !t.contains("X-Forwarded-For"),
            "{t}"
        );
        assert!(
            !t.contains("Content-Length") && t.ends_with("\r\n\r\n"),
            "{t}"
        );
    }

    fn h(n: &str, v: &str) -> (String, String) {
        (n.into(), v.into())
    }

    #[test]
    fn response_hop_by_hop_removed() {
        let got = response_fields(
            &[
                h("Connection", "close, X-Secret"),
                h("X-Secret", "1"),
                h("Keep-Alive", "timeout=5"),
                h("Transfer-Encoding", "chunked"),
                h("Content-Length", "5"),
                h("ETag", "\"a\""),
            ],
            false,
        );
        assert_eq!(got, vec![h("ETag", "\"a\"")]);
    }
}
