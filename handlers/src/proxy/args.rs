//! Parsing the proxy's settings from text: upstreams, parents, port lists, and (for
//! fuzzing) an origin's response head.

use super::head;
use super::target::{self, Target};

/// An origin's response head as the proxy parses it: `(bytes used, status, HTTP/1.x minor
/// version, fields)`, `None` while incomplete. Public for fuzzing.
///
/// ```
/// use reactor_handlers::proxy::parse_response_head;
/// let (used, status, _, fields) = parse_response_head(b"HTTP/1.1 200 OK\r\nAge: 1\r\n\r\nxy")
///     .unwrap()
///     .unwrap();
/// assert_eq!((used, status, fields.len()), (27, 200, 1));
/// assert!(parse_response_head(b"HTTP/1.1 200 OK\r\n").unwrap().is_none());
/// ```
#[allow(clippy::type_complexity)]
pub fn parse_response_head(
    buf: &[u8],
) -> Result<Option<(usize, u16, u8, Vec<(String, String)>)>, String> {
    Ok(head::parse_head(buf)?.map(|(n, h)| (n, h.status, h.version, h.headers)))
}

/// Parses `--upstream http://HOST:PORT` (or `https://`) for reverse mode.
pub fn parse_upstream(s: &str) -> Result<Target, String> {
    let t = target::parse_origin_url(s).map_err(|e| e.to_string())?;
    if t.path != "/" {
        return Err("the upstream must be http(s)://HOST:PORT without a path".into());
    }
    Ok(t)
}

/// Parses `--parent HOST:PORT` (a parent proxy, spoken to in plain HTTP).
///
/// ```
/// let p = reactor_handlers::proxy::parse_parent("squid.example:3128").expect("valid");
/// assert_eq!((p.host.as_str(), p.port), ("squid.example", 3128));
/// assert!(reactor_handlers::proxy::parse_parent("squid.example").is_err());
/// ```
pub fn parse_parent(s: &str) -> Result<Target, String> {
    let (host, port) = target::parse_authority(s).map_err(|e| e.to_string())?;
    Ok(Target {
        tls: false,
        host,
        port,
        path: "/".into(),
    })
}

/// Parses a comma-separated port list such as `443,8443`.
pub fn parse_ports(s: &str) -> Result<Vec<u16>, String> {
    s.split(',')
        .map(|p| {
            p.trim()
                .parse::<u16>()
                .ok()
                .filter(|&n| n > 0)
                .ok_or_else(|| format!("invalid port {p:?}"))
        })
        .collect()
}
