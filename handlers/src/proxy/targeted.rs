//! Targeted cache control (RFC 9213): in reverse mode the proxy is the CDN, and a valid
//! `CDN-Cache-Control` (or the field named by `--cdn-cache-control`) replaces
//! `Cache-Control` for it. The field is a Structured Field dictionary (RFC 8941); one that
//! does not parse, or whose `max-age`/`s-maxage` is not an integer, is ignored whole.

use super::cache::{delta_seconds, CacheControl};

/// The directives of the targeted field `name` in `headers`, if present and valid.
///
/// ```
/// use reactor_handlers::proxy::targeted::targeted_cc;
/// let h = |v: &str| vec![("CDN-Cache-Control".to_string(), v.to_string())];
/// let cc = targeted_cc(&h("max-age=60, foo;bar=1"), "cdn-cache-control").unwrap();
/// assert_eq!(cc.max_age, Some(60));
/// assert!(targeted_cc(&h("max-age =60"), "cdn-cache-control").is_none());
/// assert!(targeted_cc(&h("max-age=\"60\""), "cdn-cache-control").is_none());
/// assert!(targeted_cc(&h("MaX-aGe=60"), "cdn-cache-control").is_none());
/// ```
pub fn targeted_cc(headers: &[(String, String)], name: &str) -> Option<CacheControl> {
    let mut lines = headers
        .iter()
        .filter(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
        .peekable();
    lines.peek()?;
    let mut cc = CacheControl::default();
    for line in lines {
        for member in split_members(line)? {
            let (key, value) = parse_member(member)?;
            let numeric = matches!(key, "max-age" | "s-maxage");
            if numeric && value.and_then(delta_seconds).is_none() {
                return None;
            }
            cc.directive(key, value);
        }
    }
    Some(cc)
}

/// Dictionary members: split on commas outside strings, optional spaces around each; an
/// empty member (or an unterminated string) makes the field invalid.
fn split_members(v: &str) -> Option<Vec<&str>> {
    let v = v.trim_matches([' ', '\t']);
    if v.is_empty() {
        return Some(Vec::new());
    }
    let mut out = Vec::new();
    let (mut start, mut quoted, mut escaped) = (0, false, false);
    for (i, c) in v.char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' if quoted => escaped = true,
            '"' => quoted = !quoted,
            ',' if !quoted => {
                out.push(v[start..i].trim_matches([' ', '\t']));
                start = i + 1;
            }
            _ => {}
        }
    }
    if quoted {
        return None;
    }
    out.push(v[start..].trim_matches([' ', '\t']));
    out.iter().all(|m| !m.is_empty()).then_some(out)
}

/// `key[=bare-item](;key[=bare-item])*` → the key and its bare item (`None` for `true`).
/// Only integers are handed on as values; other valid items stand for "not a number".
fn parse_member(m: &str) -> Option<(&str, Option<&str>)> {
    let mut params = m.split(';');
    let first = params.next()?;
    let (key, value) = match first.split_once('=') {
        Some((k, v)) => (k, Some(v)),
        None => (first, None),
    };
    if !is_key(key) || value.is_some_and(|v| !is_bare_item(v)) {
        return None;
    }
    for p in params {
        let p = p.trim_start_matches(' ');
        let (k, v) = p.split_once('=').map_or((p, None), |(k, v)| (k, Some(v)));
        if !is_key(k) || v.is_some_and(|v| !is_bare_item(v)) {
            return None;
        }
    }
    let int = value.filter(|v| v.bytes().all(|b| b.is_ascii_digit()));
    Some((
        key,
        if value.is_some() && int.is_none() {
            Some("x")
        } else {
            int
        },
    ))
}

fn is_key(k: &str) -> bool {
    let mut b = k.bytes();
    matches!(b.next(), Some(c) if c.is_ascii_lowercase() || c == b'*')
        && b.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || b"_-.*".contains(&c))
}

/// An RFC 8941 bare item: integer, decimal, string, token, byte sequence or boolean.
fn is_bare_item(v: &str) -> bool {
    let b = v.as_bytes();
    match b.first() {
        Some(b'-' | b'0'..=b'9') => {
            let digits = v.strip_prefix('-').unwrap_or(v);
            let (int, frac) = digits
                .split_once('.')
                .map_or((digits, None), |(i, f)| (i, Some(f)));
            let all = |s: &str| !s.is_empty() && s.bytes().all(|c| c.is_ascii_digit());
            match frac {
                None => all(int) && int.len() <= 15,
                Some(f) => all(int) && int.len() <= 12 && all(f) && f.len() <= 3,
            }
        }
        Some(b'"') => {
            v.len() >= 2
                && v.ends_with('"')
                && v[1..v.len() - 1]
                    .bytes()
                    .all(|c| (b' '..=b'~').contains(&c))
        }
        Some(b':') => v.len() >= 2 && v.ends_with(':'),
        Some(b'?') => v == "?0" || v == "?1",
        Some(c) if c.is_ascii_alphabetic() || *c == b'*' => v
            .bytes()
            .all(|c| c.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~:/".contains(&c)),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cc(v: &str) -> Option<CacheControl> {
        targeted_cc(
            &[("CDN-Cache-Control".into(), v.into())],
            "cdn-cache-control",
        )
    }

    #[test]
    fn valid_dictionaries() {
        assert_eq!(cc("max-age=3600").unwrap().max_age, Some(3600));
        assert_eq!(cc("foobar, max-age=3600").unwrap().max_age, Some(3600));
        assert!(cc("private").unwrap().private);
        assert!(cc("no-store").unwrap().no_store);
        assert_eq!(cc("max-age=99999999999").unwrap().max_age, Some(1 << 31));
        assert_eq!(cc("foo=\"a, b\", max-age=5").unwrap().max_age, Some(5));
        assert!(cc("foo").is_some());
        assert!(targeted_cc(&[], "cdn-cache-control").is_none());
    }

    #[test]
    fn invalid_fields_are_ignored_whole() {
        for bad in [
            "max-age=10000, &&&&&",
            "max-age=\"10000\"",
            "max-age =100",
            "max-age= 100",
            "MaX-aGe=3600",
            "max-age=1,,",
            "a=\"open",
            "max-age=-1",
        ] {
            assert!(cc(bad).is_none(), "{bad}");
        }
    }
}
