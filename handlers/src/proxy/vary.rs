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
                let mut value = Vec::new();
                pieces(req, &n, |p| {
                    value.extend_from_slice(p);
                    true
                });
                (n, value)
            })
            .collect();
        Selection { fields }
    }

    /// Does `req` select the same variant? O(names + the request's values), no allocation.
    pub fn matches(&self, req: &Headers) -> bool {
        self.fields.iter().all(|(name, stored)| {
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

    /// Number of names.
    pub fn len(&self) -> usize {
        self.fields.len()
    }

    /// True when the response varies on nothing.
    pub fn is_empty(&self) -> bool {
        self.fields.is_empty()
    }
}

/// Feeds `f` the normalised value of `name` in `req` piece by piece (words, single spaces,
/// `", "` between field lines) until it returns false; false if it did.
fn pieces(req: &Headers, name: &str, mut f: impl FnMut(&[u8]) -> bool) -> bool {
    for (i, line) in req.get_all(name).enumerate() {
        if i > 0 && !f(b", ") {
            return false;
        }
        let words = line
            .split(|b| b.is_ascii_whitespace())
            .filter(|w| !w.is_empty());
        for (j, w) in words.enumerate() {
            if (j > 0 && !f(b" ")) || !f(w) {
                return false;
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
    }
}
