//! Request header validation (RFC 9113 §8.2 and §8.3): a decoded header list becomes a
//! [`RequestHead`] or is malformed (a PROTOCOL_ERROR stream error).

use super::hpack::Field;

/// A validated request head.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestHead {
    /// `:method`.
    pub method: String,
    /// `:scheme` (absent for CONNECT).
    pub scheme: Option<String>,
    /// `:authority`, or else the `host` field; the target of CONNECT.
    pub authority: Option<String>,
    /// `:path` (absent for CONNECT).
    pub path: Option<String>,
    /// Regular fields in order, names lowercase; `cookie` crumbs joined into one field
    /// (§8.2.3).
    pub headers: Vec<(String, Vec<u8>)>,
    /// The `content-length`, if sent.
    pub content_length: Option<u64>,
}

/// Fields a HTTP/2 message must not carry (§8.2.2); `te` is allowed only as `trailers`.
const CONNECTION_SPECIFIC: [&[u8]; 5] = [
    b"connection",
    b"proxy-connection",
    b"keep-alive",
    b"transfer-encoding",
    b"upgrade",
];

fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// A regular field name: a token without uppercase letters (§8.2.1).
fn check_name(name: &[u8]) -> Result<(), &'static str> {
    if name.is_empty() {
        return Err("empty field name");
    }
    if name.iter().any(|&b| !is_tchar(b) || b.is_ascii_uppercase()) {
        return Err("invalid or uppercase field name");
    }
    Ok(())
}

/// A field value: no NUL, CR or LF, no leading or trailing whitespace (§8.2.1).
fn check_value(value: &[u8]) -> Result<(), &'static str> {
    if value.iter().any(|&b| b == 0 || b == b'\r' || b == b'\n') {
        return Err("NUL, CR or LF in a field value");
    }
    let ws = |b: Option<&u8>| matches!(b, Some(b' ' | b'\t'));
    if ws(value.first()) || ws(value.last()) {
        return Err("whitespace around a field value");
    }
    Ok(())
}

/// Checks a regular field (both in heads and trailers).
fn check_regular(name: &[u8], value: &[u8]) -> Result<(), &'static str> {
    check_name(name)?;
    check_value(value)?;
    if CONNECTION_SPECIFIC.contains(&name) {
        return Err("connection-specific field");
    }
    if name == b"te" && value != b"trailers" {
        return Err("te other than trailers");
    }
    Ok(())
}

/// Visible ASCII without spaces: what `:method`, `:path`, `:authority` may hold.
fn visible(v: &[u8], what: &'static str) -> Result<String, &'static str> {
    if v.is_empty() || v.iter().any(|&b| !(0x21..0x7f).contains(&b)) {
        return Err(what);
    }
    String::from_utf8(v.to_vec()).map_err(|_| what)
}

fn content_length(v: &[u8]) -> Result<u64, &'static str> {
    if v.is_empty() || v.len() > 19 || !v.iter().all(u8::is_ascii_digit) {
        return Err("invalid content-length");
    }
    std::str::from_utf8(v)
        .ok()
        .and_then(|s| s.parse().ok())
        .ok_or("invalid content-length")
}

/// Validates a request header list.
pub(crate) fn validate(fields: Vec<Field>) -> Result<RequestHead, &'static str> {
    let (mut method, mut scheme, mut authority, mut path) = (None, None, None, None);
    let mut headers = Vec::with_capacity(fields.len());
    let mut cookie: Option<Vec<u8>> = None;
    let mut length: Option<u64> = None;
    let mut host: Option<Vec<u8>> = None;
    let mut regular_seen = false;
    for (name, value) in fields {
        if let Some(pseudo) = name.strip_prefix(b":") {
            if regular_seen {
                return Err("pseudo-header after a regular field");
            }
            let slot = match pseudo {
                b"method" => &mut method,
                b"scheme" => &mut scheme,
                b"authority" => &mut authority,
                b"path" => &mut path,
                _ => return Err("unknown or response pseudo-header"),
            };
            if slot.replace(value).is_some() {
                return Err("duplicate pseudo-header");
            }
            continue;
        }
        regular_seen = true;
        check_regular(&name, &value)?;
        match name.as_slice() {
            b"cookie" => {
                match &mut cookie {
                    Some(c) => {
                        c.extend_from_slice(b"; ");
                        c.extend_from_slice(&value);
                    }
                    None => cookie = Some(value),
                }
                continue;
            }
            b"content-length" => {
                let n = content_length(&value)?;
                if length.replace(n).is_some_and(|old| old != n) {
                    return Err("conflicting content-length");
                }
            }
            b"host" => {
                host.get_or_insert_with(|| value.clone());
            }
            _ => {}
        }
        // check_name admitted only ASCII, so this never fails.
        let name = String::from_utf8(name).map_err(|_| "invalid field name")?;
        headers.push((name, value));
    }
    if let Some(c) = cookie {
        headers.push(("cookie".to_string(), c));
    }
    let method = visible(&method.ok_or("missing :method")?, "invalid :method")?;
    if !method.bytes().all(is_tchar) {
        return Err("invalid :method");
    }
    let authority = match authority {
        Some(a) => {
            if host.as_ref().is_some_and(|h| *h != a) {
                return Err("host differs from :authority");
            }
            Some(visible(&a, "invalid :authority")?)
        }
        None => host.map(|h| visible(&h, "invalid host")).transpose()?,
    };
    let (scheme, path) = if method == "CONNECT" {
        if scheme.is_some() || path.is_some() {
            return Err(":scheme or :path in CONNECT");
        }
        if authority.is_none() {
            return Err("CONNECT without :authority");
        }
        (None, None)
    } else {
        let scheme = visible(&scheme.ok_or("missing :scheme")?, "invalid :scheme")?;
        let path = visible(&path.ok_or("missing :path")?, "invalid :path")?;
        if !(path.starts_with('/') || path == "*" && method == "OPTIONS") {
            return Err("invalid :path");
        }
        (Some(scheme), Some(path))
    };
    Ok(RequestHead {
        method,
        scheme,
        authority,
        path,
        headers,
        content_length: length,
    })
}

/// Validates a trailer list: regular fields only (§8.1).
pub(crate) fn validate_trailers(fields: &[Field]) -> Result<(), &'static str> {
    for (name, value) in fields {
        if name.first() == Some(&b':') {
            return Err("pseudo-header in trailers");
        }
        check_regular(name, value)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f(list: &[(&str, &str)]) -> Vec<Field> {
        list.iter()
            .map(|(n, v)| (n.as_bytes().to_vec(), v.as_bytes().to_vec()))
            .collect()
    }

    const BASE: [(&str, &str); 3] = [(":method", "GET"), (":scheme", "https"), (":path", "/a?b")];

    fn with(extra: &[(&str, &str)]) -> Result<RequestHead, &'static str> {
        let mut l = BASE.to_vec();
        l.extend_from_slice(extra);
        validate(f(&l))
    }

    #[test]
    fn valid_heads_and_authority_as_host() {
        let mut l = BASE.to_vec();
        l.insert(0, (":authority", "example.com"));
        l.push(("accept", "*/*"));
        l.push(("content-length", "3"));
        let h = validate(f(&l)).unwrap();
        assert_eq!(h.method, "GET");
        assert_eq!(h.scheme.as_deref(), Some("https"));
        assert_eq!(h.path.as_deref(), Some("/a?b"));
        assert_eq!(h.authority.as_deref(), Some("example.com"));
        assert_eq!(h.content_length, Some(3));
        // Host without :authority stands in for it.
        let h = with(&[("host", "h.example")]).unwrap();
        assert_eq!(h.authority.as_deref(), Some("h.example"));
        // Both, differing: malformed.
        let mut l = BASE.to_vec();
        l.push((":authority", "a.example"));
        l.push(("host", "b.example"));
        assert!(validate(f(&l)).is_err());
    }

    #[test]
    fn pseudo_header_rules() {
        assert!(validate(f(&[(":method", "GET"), (":path", "/")])).is_err());
        assert!(validate(f(&[(":method", "GET"), (":scheme", "http")])).is_err());
        assert!(validate(f(&[(":scheme", "http"), (":path", "/")])).is_err());
        assert!(with(&[(":method", "GET")]).is_err());
        let mut l = BASE.to_vec();
        l.push((":status", "200"));
        assert!(validate(f(&l)).is_err());
        l.pop();
        l.push((":foo", "x"));
        assert!(validate(f(&l)).is_err());
        assert!(validate(f(&[(":method", "GET"), (":scheme", "http"), (":path", "")])).is_err());
        assert!(validate(f(&[
            (":method", "GET"),
            (":scheme", "http"),
            (":path", "a")
        ]))
        .is_err());
        assert!(validate(f(&[
            (":method", "OPTIONS"),
            (":scheme", "http"),
            (":path", "*")
        ]))
        .is_ok());
        assert!(validate(f(&[
            (":method", "G T"),
            (":scheme", "http"),
            (":path", "/")
        ]))
        .is_err());
        // CONNECT: authority only.
        let c = validate(f(&[(":method", "CONNECT"), (":authority", "h:443")])).unwrap();
        assert_eq!((c.path, c.scheme), (None, None));
        assert!(validate(f(&[
            (":method", "CONNECT"),
            (":authority", "h:443"),
            (":path", "/")
        ]))
        .is_err());
        assert!(validate(f(&[(":method", "CONNECT")])).is_err());
    }

    #[test]
    fn field_rules() {
        assert!(with(&[("Accept", "x")]).is_err(), "uppercase");
        assert!(with(&[("acc ept", "x")]).is_err());
        assert!(with(&[("", "x")]).is_err());
        for name in [
            "connection",
            "keep-alive",
            "proxy-connection",
            "transfer-encoding",
            "upgrade",
        ] {
            assert!(with(&[(name, "x")]).is_err(), "{name}");
        }
        assert!(with(&[("te", "trailers")]).is_ok());
        assert!(with(&[("te", "gzip")]).is_err());
        assert!(with(&[("x", "a\r\nb")]).is_err());
        assert!(with(&[("x", "a\0")]).is_err());
        assert!(with(&[("x", " a")]).is_err());
        assert!(with(&[("x", "a\t")]).is_err());
        assert!(with(&[("x", "a b")]).is_ok());
        assert!(with(&[("content-length", "1x")]).is_err());
        assert!(with(&[("content-length", "1"), ("content-length", "2")]).is_err());
        assert!(with(&[("content-length", "1"), ("content-length", "1")]).is_ok());
    }

    #[test]
    fn cookie_crumbs_are_joined() {
        let h = with(&[("cookie", "a=1"), ("x", "y"), ("cookie", "b=2")]).unwrap();
        assert_eq!(
            h.headers,
            vec![
                ("x".to_string(), b"y".to_vec()),
                ("cookie".to_string(), b"a=1; b=2".to_vec())
            ]
        );
    }

    #[test]
    fn trailers() {
        assert!(validate_trailers(&f(&[("x-checksum", "1")])).is_ok());
        assert!(validate_trailers(&f(&[(":path", "/")])).is_err());
        assert!(validate_trailers(&f(&[("connection", "close")])).is_err());
    }
}
