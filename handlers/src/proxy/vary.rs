//! Selecting a stored variant by `Vary` (RFC 9111 §4.1), at a bounded cost whatever the
//! origin sends: the names are deduplicated and lower-cased once, when the response is
//! stored, and a response varying on more than [`MAX_VARY_NAMES`] distinct fields is not
//! stored at all. The request's values are kept with the entry (and counted in its
//! weight); matching a later request walks them once, without allocating.

use reactor::Headers;

/// Most distinct field names a stored response may vary on. Over it (or with `Vary: *`)
/// the response is passed on but not stored.
pub const MAX_VARY_NAMES: usize = 32;

/// The distinct `Vary` field names of a response, lower-cased, in order of first
/// appearance; `None` when it must not be stored: `Vary: *`, or more than
/// [`MAX_VARY_NAMES`] distinct names.
///
/// ```
/// use reactor_handlers::proxy::vary::vary_names;
/// let h = vec![("Vary".to_string(), "Accept, accept,ACCEPT-Language".to_string())];
/// assert_eq!(vary_names(&h), Some(vec!["accept".to_string(), "accept-language".to_string()]));
/// let star = vec![("Vary".to_string(), "*".to_string())];
/// assert_eq!(vary_names(&star), None);
/// ```
pub fn vary_names(headers: &[(String, String)]) -> Option<Vec<String>> {
    let mut names: Vec<String> = Vec::new();
    let values = headers
        .iter()
        .filter(|(n, _)| n.eq_ignore_ascii_case("vary"))
        .map(|(_, v)| v.as_str());
    for v in values {
        for n in v.split(',').map(str::trim).filter(|n| !n.is_empty()) {
            if n == "*" {
                return None;
            }
            if names.iter().any(|have| have.eq_ignore_ascii_case(n)) {
                continue;
            }
            if names.len() == MAX_VARY_NAMES {
                return None;
            }
            names.push(n.to_ascii_lowercase());
        }
    }
    Some(names)
}

/// The request's values of the fields a stored response varies on: one normalised value
/// per name (several field lines joined with `", "`, runs of whitespace as one space).
///
/// ```
/// use reactor::parse::{parse_head, Limits};
/// use reactor_handlers::proxy::vary::Selection;
/// let headers = |h: &str| {
///     let raw = format!("GET / HTTP/1.1\r\nHost: a\r\n{h}\r\n");
///     let peer = "127.0.0.1:9".parse().unwrap();
///     parse_head(raw.as_bytes(), &Limits::default(), peer).unwrap().unwrap().0.headers
/// };
/// let a = headers("Accept-Encoding:  gzip,   br\r\n");
/// let b = headers("accept-encoding: gzip, br\r\n");
/// let c = headers("Accept-Encoding: zstd\r\n");
/// let sel = Selection::of(vec!["accept-encoding".into()], &a);
/// assert!(sel.matches(&b) && !sel.matches(&c));
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Selection {
    fields: Vec<(String, Vec<u8>)>,
}

impl Selection {
    /// The selection of `req` for the (already deduplicated) `names`.
    pub fn of(names: Vec<String>, req: &Headers) -> Selection {
        let fields = names
            .into_iter()
            .map(|n| {
                let value = normalised(req, &n);
                (n, value)
            })
            .collect();
        Selection { fields }
    }

    /// Does `req` select the same variant? O(names + the request's values), without
    /// allocating except for the few fields whose members are sorted ([`UNORDERED`]).
    pub fn matches(&self, req: &Headers) -> bool {
        self.fields.iter().all(|(name, stored)| {
            if UNORDERED.contains(&name.as_str()) {
                return normalised(req, name) == *stored;
            }
            let mut rest: &[u8] = stored;
            let same = pieces(req, name, |p| match rest.strip_prefix(p) {
                Some(r) => {
                    rest = r;
                    true
                }
                None => false,
            });
            same && rest.is_empty()
        })
    }

    /// Bytes the stored names and values take.
    pub fn weight(&self) -> usize {
        self.fields
            .iter()
            .map(|(n, v)| n.len() + v.len() + 48)
            .sum()
    }

    /// The stored `(name, value)` pairs.
    pub fn fields(&self) -> impl Iterator<Item = (&str, &[u8])> {
        self.fields.iter().map(|(n, v)| (n.as_str(), v.as_slice()))
    }

    /// A selection from stored pairs (as [`Selection::fields`] gave them).
    pub fn from_fields(fields: Vec<(String, Vec<u8>)>) -> Selection {
        Selection { fields }
    }

    /// Number of names.
    pub fn len(&self) -> usize {
        self.fields.len()
    }

    /// True when the response varies on nothing.
    pub fn is_empty(&self) -> bool {
        self.fields.is_empty()
    }
}

/// Fields whose members are case-insensitive and whose order carries no meaning (the
/// weights say it): their normalised value is lower-cased and its members sorted, so
/// `en, de` and `De, EN` select the same variant (RFC 9111 §4.1 allows such
/// normalisation).
pub const UNORDERED: &[&str] = &["accept-language", "accept-encoding", "accept-charset"];

/// The normalised value of `name` in `req` (see [`pieces`]; for [`UNORDERED`] fields,
/// lower-cased with its members sorted).
fn normalised(req: &Headers, name: &str) -> Vec<u8> {
    let mut value = Vec::new();
    pieces(req, name, |p| {
        value.extend_from_slice(p);
        true
    });
    if !UNORDERED.contains(&name) {
        return value;
    }
    value.make_ascii_lowercase();
    let mut members: Vec<&[u8]> = value
        .split(|&b| b == b',')
        .map(|m| m.trim_ascii())
        .collect();
    members.sort_unstable();
    members.join(&b", "[..])
}

/// Feeds `f` the normalised value of `name` in `req` piece by piece until it returns
/// false; false if it did. The value is its list members (from every field line, empty
/// ones dropped) joined by `", "`, each member's runs of whitespace as one space.
fn pieces(req: &Headers, name: &str, mut f: impl FnMut(&[u8]) -> bool) -> bool {
    let mut first = true;
    for line in req.get_all(name) {
        for member in line.split(|&b| b == b',') {
            let mut words = member
                .split(|b| b.is_ascii_whitespace())
                .filter(|w| !w.is_empty())
                .peekable();
            if words.peek().is_none() {
                continue;
            }
            if !std::mem::take(&mut first) && !f(b", ") {
                return false;
            }
            for (j, w) in words.enumerate() {
                if (j > 0 && !f(b" ")) || !f(w) {
                    return false;
                }
            }
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use reactor::parse::{parse_head, Limits};

    fn parse_headers(h: &str) -> Headers {
        let raw = format!("GET / HTTP/1.1\r\nHost: a\r\n{h}\r\n");
        let peer = "127.0.0.1:9".parse().unwrap();
        let (req, _) = parse_head(raw.as_bytes(), &Limits::default(), peer)
            .unwrap()
            .unwrap();
        req.headers
    }

    fn vary(v: &str) -> Vec<(String, String)> {
        vec![("Vary".into(), v.into())]
    }

    #[test]
    fn names_deduplicated_and_capped() {
        let bomb = vec!["a"; 30_000].join(",");
        assert_eq!(vary_names(&vary(&bomb)), Some(vec!["a".to_string()]));
        let many: Vec<String> = (0..=MAX_VARY_NAMES).map(|i| format!("x{i}")).collect();
        assert_eq!(vary_names(&vary(&many.join(","))), None);
        let just: Vec<String> = (0..MAX_VARY_NAMES).map(|i| format!("X{i}")).collect();
        assert_eq!(
            vary_names(&vary(&just.join(", "))).map(|n| n.len()),
            Some(MAX_VARY_NAMES)
        );
        assert_eq!(vary_names(&vary(" , ,")), Some(vec![]));
        assert_eq!(vary_names(&vary("a, *")), None);
    }

    #[test]
    fn matching_normalises_whitespace_and_lines() {
        let stored = parse_headers("Accept: a\r\nAccept: b  c\r\nX: 1\r\n");
        let sel = Selection::of(vec!["accept".into(), "missing".into()], &stored);
        assert!(sel.matches(&parse_headers("accept: a\r\naccept:   b c \r\n")));
        assert!(sel.matches(&parse_headers("accept: a, b c\r\n")));
        assert!(!sel.matches(&parse_headers("accept: a\r\n")));
        assert!(!sel.matches(&parse_headers("accept: a\r\naccept: b c d\r\n")));
        assert!(!sel.matches(&parse_headers("accept: a\r\naccept: b c\r\nmissing: x\r\n")));
        assert_eq!(sel.len(), 2);
        assert!(sel.weight() >= "accept".len() + "a, b c".len());
        // Spaces around commas do not matter; the members' order does, except in the
        // fields where it carries no meaning (and there case does not matter either).
        let sel = Selection::of(vec!["foo".into()], &parse_headers("Foo: 1,2\r\n"));
        assert!(sel.matches(&parse_headers("foo:  1 ,  2 \r\n")));
        assert!(sel.matches(&parse_headers("foo: 1\r\nfoo: ,2\r\n")));
        assert!(!sel.matches(&parse_headers("foo: 2, 1\r\n")));
        let lang = Selection::of(
            vec!["accept-language".into()],
            &parse_headers("Accept-Language: en, de\r\n"),
        );
        assert!(lang.matches(&parse_headers("accept-language: De,eN\r\n")));
        assert!(!lang.matches(&parse_headers("accept-language: de, en, fr\r\n")));
    }
}
