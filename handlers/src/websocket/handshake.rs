//! The opening handshake (RFC 6455 §4.2): checks an upgrade request and builds the 101
//! answer with `Sec-WebSocket-Accept` and the chosen subprotocol.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use reactor::{Request, Response, Version};
use ring::digest::{digest, SHA1_FOR_LEGACY_USE_ONLY};

/// The GUID RFC 6455 appends to the client's key.
pub const GUID: &str = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

/// The only protocol version there is.
pub const VERSION: &str = "13";

/// `Sec-WebSocket-Accept` for a client's `Sec-WebSocket-Key`: base64 of the SHA-1 of the key
/// followed by [`GUID`].
///
/// ```
/// use reactor_handlers::websocket::handshake::accept_key;
/// // The example of RFC 6455 §1.3.
/// assert_eq!(accept_key("dGhlIHNhbXBsZSBub25jZQ=="), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
/// ```
pub fn accept_key(key: &str) -> String {
    let mut input = Vec::with_capacity(key.len() + GUID.len());
    input.extend_from_slice(key.as_bytes());
    input.extend_from_slice(GUID.as_bytes());
    STANDARD.encode(digest(&SHA1_FOR_LEGACY_USE_ONLY, &input))
}

/// True when `req` asks for a WebSocket (`Upgrade: websocket`), valid or not: the cue for
/// a handler to call [`accept`] rather than answer it as plain HTTP.
pub fn is_upgrade(req: &Request) -> bool {
    req.headers.has_token("upgrade", "websocket")
}

/// An accepted handshake.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Accepted {
    /// The `Sec-WebSocket-Accept` value.
    pub accept: String,
    /// The subprotocol chosen, if the client offered one the server speaks.
    pub protocol: Option<String>,
}

impl Accepted {
    /// The 101 Switching Protocols answer.
    pub fn response(&self) -> Response {
        let r = Response::new(101)
            .with_header("Upgrade", "websocket")
            .with_header("Connection", "Upgrade")
            .with_header("Sec-WebSocket-Accept", self.accept.clone());
        match &self.protocol {
            Some(p) => r.with_header("Sec-WebSocket-Protocol", p.clone()),
            None => r,
        }
    }
}

/// Checks an upgrade request: `GET` over HTTP/1.1, `Upgrade: websocket`, `Connection:
/// upgrade`, a `Sec-WebSocket-Key` of 16 base64-encoded bytes and
/// `Sec-WebSocket-Version: 13`. The subprotocol is the first of `protocols` (the server's
/// preference order) that the client offered; none if there is no common one (the client
/// then decides whether to go on). No extension is ever negotiated. `Origin` is left to
/// the caller.
///
/// The refusal is the answer to send: 405 for another method, 426 with
/// `Sec-WebSocket-Version: 13` for another version, 400 for the rest.
///
/// ```
/// use reactor::parse::{parse_head, Limits};
/// use reactor_handlers::websocket::handshake::accept;
/// let raw = b"GET /chat HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
///             Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\
///             Sec-WebSocket-Protocol: superchat, chat\r\n\r\n";
/// let (req, _) = parse_head(raw, &Limits::default(), "127.0.0.1:9".parse().unwrap())
///     .unwrap().unwrap();
/// let ok = accept(&req, &["chat"]).unwrap();
/// assert_eq!(ok.accept, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
/// assert_eq!(ok.protocol.as_deref(), Some("chat"));
/// assert_eq!(ok.response().status, 101);
/// ```
pub fn accept(req: &Request, protocols: &[&str]) -> Result<Accepted, Response> {
    let refuse = |detail: &str| Response::error_with(400, detail);
    if req.method != "GET" {
        return Err(Response::method_not_allowed("GET"));
    }
    if req.version != Version::Http11 {
        return Err(refuse("A WebSocket handshake needs HTTP/1.1."));
    }
    if !is_upgrade(req) {
        return Err(refuse("Expected Upgrade: websocket."));
    }
    if !req.headers.has_token("connection", "upgrade") {
        return Err(refuse("Expected Connection: Upgrade."));
    }
    if req.header("sec-websocket-version") != Some(VERSION) {
        return Err(
            Response::error_with(426, "Only WebSocket version 13 is spoken here.")
                .with_header("Sec-WebSocket-Version", VERSION),
        );
    }
    let mut keys = req.headers.get_all("sec-websocket-key");
    let key = match (keys.next(), keys.next()) {
        (Some(k), None) => std::str::from_utf8(k).ok(),
        _ => None,
    };
    let key = key
        .filter(|k| STANDARD.decode(k).is_ok_and(|raw| raw.len() == 16))
        .ok_or_else(|| refuse("Sec-WebSocket-Key must be 16 bytes in base64."))?;
    let offered: Vec<&str> = req
        .headers
        .get_all("sec-websocket-protocol")
        .filter_map(|v| std::str::from_utf8(v).ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .collect();
    let protocol = protocols
        .iter()
        .find(|p| offered.contains(p))
        .map(|p| p.to_string());
    Ok(Accepted {
        accept: accept_key(key),
        protocol,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use reactor::parse::{parse_head, Limits};

    const KEY: &str = "dGhlIHNhbXBsZSBub25jZQ==";

    fn request(method: &str, version: &str, fields: &[(&str, &str)]) -> Request {
        let mut raw = format!("{method} /ws {version}\r\nHost: h\r\n");
        for (n, v) in fields {
            raw.push_str(&format!("{n}: {v}\r\n"));
        }
        raw.push_str("\r\n");
        let peer = "127.0.0.1:9".parse().unwrap();
        parse_head(raw.as_bytes(), &Limits::default(), peer)
            .unwrap()
            .unwrap()
            .0
    }

    fn good(extra: &[(&'static str, &'static str)]) -> Vec<(&'static str, &'static str)> {
        let mut f = vec![
            ("Upgrade", "websocket"),
            ("Connection", "keep-alive, Upgrade"),
            ("Sec-WebSocket-Key", KEY),
            ("Sec-WebSocket-Version", "13"),
        ];
        f.extend_from_slice(extra);
        f
    }

    fn without(name: &str) -> Vec<(&'static str, &'static str)> {
        good(&[]).into_iter().filter(|(n, _)| *n != name).collect()
    }

    fn status(r: Result<Accepted, Response>) -> u16 {
        r.err().map_or(101, |resp| resp.status)
    }

    #[test]
    fn accepts_a_valid_handshake() {
        let req = request("GET", "HTTP/1.1", &good(&[]));
        assert!(is_upgrade(&req));
        let ok = accept(&req, &[]).unwrap();
        assert_eq!(ok.protocol, None);
        let r = ok.response();
        assert_eq!(r.status, 101);
        assert_eq!(r.header("upgrade"), Some("websocket"));
        assert_eq!(r.header("connection"), Some("Upgrade"));
        assert_eq!(
            r.header("sec-websocket-accept"),
            Some("s3pPLMBiTxaQ9kYGzzhZRbK+xOo=")
        );
        assert_eq!(r.header("sec-websocket-protocol"), None);
    }

    #[test]
    fn refuses_what_is_not_a_handshake() {
        let get = |f: &[(&str, &str)]| status(accept(&request("GET", "HTTP/1.1", f), &[]));
        assert_eq!(
            status(accept(&request("POST", "HTTP/1.1", &good(&[])), &[])),
            405
        );
        assert_eq!(
            status(accept(&request("GET", "HTTP/1.0", &good(&[])), &[])),
            400
        );
        assert_eq!(get(&without("Upgrade")), 400);
        assert_eq!(get(&without("Connection")), 400);
        assert_eq!(get(&without("Sec-WebSocket-Key")), 400);
        let mut short_key = without("Sec-WebSocket-Key");
        short_key.push(("Sec-WebSocket-Key", "c2hvcnQ="));
        assert_eq!(get(&short_key), 400, "a key that is not 16 bytes");
        let mut not_b64 = without("Sec-WebSocket-Key");
        not_b64.push(("Sec-WebSocket-Key", "!!!!!!!!!!!!!!!!!!!!!!=="));
        assert_eq!(get(&not_b64), 400);
        assert_eq!(get(&good(&[("Sec-WebSocket-Key", KEY)])), 400, "two keys");
    }

    #[test]
    fn other_versions_get_426_naming_13() {
        for v in [None, Some("8"), Some("14")] {
            let mut f = without("Sec-WebSocket-Version");
            if let Some(v) = v {
                f.push(("Sec-WebSocket-Version", v));
            }
            let r = accept(&request("GET", "HTTP/1.1", &f), &[]).unwrap_err();
            assert_eq!(r.status, 426, "{v:?}");
            assert_eq!(r.header("sec-websocket-version"), Some("13"));
        }
    }

    #[test]
    fn subprotocol_by_server_preference() {
        let offer = good(&[
            ("Sec-WebSocket-Protocol", "v2.chat, v1.chat"),
            ("Sec-WebSocket-Protocol", "raw"),
        ]);
        let req = request("GET", "HTTP/1.1", &offer);
        let chosen = |mine: &[&str]| accept(&req, mine).unwrap().protocol;
        assert_eq!(chosen(&["v1.chat", "v2.chat"]).as_deref(), Some("v1.chat"));
        assert_eq!(chosen(&["raw"]).as_deref(), Some("raw"));
        assert_eq!(chosen(&["v3.chat"]), None);
        assert_eq!(chosen(&[]), None);
        let r = accept(&req, &["v2.chat"]).unwrap().response();
        assert_eq!(r.header("sec-websocket-protocol"), Some("v2.chat"));
    }
}
