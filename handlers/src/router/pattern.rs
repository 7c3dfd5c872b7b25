//! Path patterns: literal segments, named parameters (`:id`) and a trailing wildcard
//! (`*rest`), matched against a request path as sent (still percent-encoded).

use std::cmp::Ordering;
use std::fmt;

/// One segment of a pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment {
    /// Must equal the path segment exactly (compared as sent, percent-encoded).
    Literal(String),
    /// Captures one non-empty segment under this name.
    Param(String),
    /// Captures the rest of the path (possibly empty) under this name; always last.
    Rest(String),
}

impl Segment {
    /// Specificity rank: literals beat parameters, parameters beat the wildcard.
    fn rank(&self) -> u8 {
        match self {
            Segment::Literal(_) => 0,
            Segment::Param(_) => 1,
            Segment::Rest(_) => 2,
        }
    }
}

/// Why a pattern was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PatternError {
    /// The pattern as written.
    pub pattern: String,
    /// What is wrong with it.
    pub reason: &'static str,
}

impl fmt::Display for PatternError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "route pattern {:?}: {}", self.pattern, self.reason)
    }
}

impl std::error::Error for PatternError {}

/// A parsed path pattern such as `/api/items/:id` or `/static/*rest`.
///
/// Segments are separated by `/`. A segment `:name` matches one non-empty path segment;
/// `*name`, allowed only as the last segment, matches everything after the preceding `/`
/// (possibly nothing, so `/static/*rest` matches `/static/` but not `/static`). Any other
/// segment must equal the path's segment exactly; the path is compared as sent, so write
/// literals percent-encoded. A trailing `/` is significant.
///
/// ```
/// use reactor_handlers::router::Pattern;
/// let p = Pattern::parse("/api/items/:id").unwrap();
/// assert_eq!(p.matches("/api/items/42"), Some(vec![("id", "42")]));
/// assert_eq!(p.matches("/api/items/"), None);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pattern {
    text: String,
    segments: Vec<Segment>,
}

impl Pattern {
    /// Parses `pattern`; it must start with `/`, name every parameter once, put `*` only
    /// last, and contain no `?` or `#`.
    pub fn parse(pattern: &str) -> Result<Pattern, PatternError> {
        let fail = |reason| PatternError {
            pattern: pattern.to_string(),
            reason,
        };
        let Some(body) = pattern.strip_prefix('/') else {
            return Err(fail("must start with '/'"));
        };
        if pattern.contains(['?', '#']) {
            return Err(fail("a path pattern has no query or fragment"));
        }
        let raw: Vec<&str> = body.split('/').collect();
        let mut segments = Vec::with_capacity(raw.len());
        for (i, s) in raw.iter().enumerate() {
            let seg = if let Some(name) = s.strip_prefix(':') {
                Segment::Param(name.to_string())
            } else if let Some(name) = s.strip_prefix('*') {
                if i + 1 != raw.len() {
                    return Err(fail("'*' is allowed only in the last segment"));
                }
                Segment::Rest(name.to_string())
            } else {
                Segment::Literal(s.to_string())
            };
            if let Segment::Param(name) | Segment::Rest(name) = &seg {
                if name.is_empty() {
                    return Err(fail("a parameter needs a name"));
                }
                if segments
                    .iter()
                    .any(|s| matches!(s, Segment::Param(n) | Segment::Rest(n) if n == name))
                {
                    return Err(fail("a parameter name is used twice"));
                }
            }
            segments.push(seg);
        }
        Ok(Pattern {
            text: pattern.to_string(),
            segments,
        })
    }

    /// The pattern as written.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The parameters captured from `path` (in pattern order), or `None` when it does not
    /// match. Values are slices of `path`, still percent-encoded.
    pub fn matches<'p>(&self, path: &'p str) -> Option<Vec<(&str, &'p str)>> {
        let mut rest = path.strip_prefix('/')?;
        let mut params = Vec::new();
        for (i, seg) in self.segments.iter().enumerate() {
            if let Segment::Rest(name) = seg {
                params.push((name.as_str(), rest));
                return Some(params);
            }
            let (this, next) = match rest.find('/') {
                Some(j) => (&rest[..j], Some(&rest[j + 1..])),
                None => (rest, None),
            };
            match seg {
                Segment::Literal(lit) if lit != this => return None,
                Segment::Param(_) if this.is_empty() => return None,
                Segment::Param(name) => params.push((name.as_str(), this)),
                _ => {}
            }
            let last = i + 1 == self.segments.len();
            match (next, last) {
                (None, true) => return Some(params),
                (Some(n), false) => rest = n,
                _ => return None,
            }
        }
        None
    }

    /// Orders two patterns that match the same path: the more specific first (segment by
    /// segment, a literal before a parameter before the wildcard).
    pub fn specificity(&self, other: &Pattern) -> Ordering {
        let a = self.segments.iter().map(Segment::rank);
        let b = other.segments.iter().map(Segment::rank);
        a.cmp(b)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m<'p>(pattern: &str, path: &'p str) -> Option<Vec<(String, &'p str)>> {
        let p = Pattern::parse(pattern).unwrap();
        p.matches(path)
            .map(|v| v.into_iter().map(|(k, v)| (k.to_string(), v)).collect())
    }

    fn p(pairs: &[(&str, &'static str)]) -> Option<Vec<(String, &'static str)>> {
        Some(pairs.iter().map(|(k, v)| (k.to_string(), *v)).collect())
    }

    #[test]
    fn literals() {
        assert_eq!(m("/", "/"), p(&[]));
        assert_eq!(m("/", "/a"), None);
        assert_eq!(m("/a/b", "/a/b"), p(&[]));
        assert_eq!(m("/a/b", "/a/b/"), None);
        assert_eq!(m("/a/b/", "/a/b"), None);
        assert_eq!(m("/a/b/", "/a/b/"), p(&[]));
        assert_eq!(m("/a/b", "/a/c"), None);
        assert_eq!(m("/a/b", "/a"), None);
        assert_eq!(m("/a", "a"), None);
        assert_eq!(m("/caf%C3%A9", "/caf%C3%A9"), p(&[]));
        assert_eq!(m("/a/b", "/a//b"), None);
    }

    #[test]
    fn params() {
        assert_eq!(m("/items/:id", "/items/42"), p(&[("id", "42")]));
        assert_eq!(
            m("/items/:id", "/items/"),
            None,
            "a parameter is never empty"
        );
        assert_eq!(m("/items/:id", "/items"), None);
        assert_eq!(m("/items/:id", "/items/4/2"), None);
        assert_eq!(m("/items/:id", "/items/a%2Fb"), p(&[("id", "a%2Fb")]));
        assert_eq!(
            m("/u/:user/posts/:post", "/u/ann/posts/7"),
            p(&[("user", "ann"), ("post", "7")])
        );
        assert_eq!(m("/:a/:b/", "/x/y/"), p(&[("a", "x"), ("b", "y")]));
        assert_eq!(m("/:a/:b/", "/x/y"), None);
    }

    #[test]
    fn rest() {
        assert_eq!(
            m("/static/*rest", "/static/a/b.css"),
            p(&[("rest", "a/b.css")])
        );
        assert_eq!(m("/static/*rest", "/static/"), p(&[("rest", "")]));
        assert_eq!(m("/static/*rest", "/static"), None);
        assert_eq!(m("/static/*rest", "/staticx/a"), None);
        assert_eq!(m("/*all", "/"), p(&[("all", "")]));
        assert_eq!(m("/*all", "/x/y/"), p(&[("all", "x/y/")]));
        assert_eq!(
            m("/u/:id/*path", "/u/3/a/b"),
            p(&[("id", "3"), ("path", "a/b")])
        );
    }

    #[test]
    fn bad_patterns() {
        for bad in [
            "", "a/b", "/a/:", "/a/*", "/*r/x", "/:a/:a", "/:a/*a", "/a?x", "/a#f",
        ] {
            assert!(Pattern::parse(bad).is_err(), "{bad:?} accepted");
        }
        let e = Pattern::parse("x").unwrap_err();
        assert_eq!(e.to_string(), "route pattern \"x\": must start with '/'");
    }

    #[test]
    fn specificity_prefers_literals_then_params() {
        let order = |a: &str, b: &str| {
            Pattern::parse(a)
                .unwrap()
                .specificity(&Pattern::parse(b).unwrap())
        };
        assert_eq!(order("/a/new", "/a/:id"), Ordering::Less);
        assert_eq!(order("/a/:id", "/a/*rest"), Ordering::Less);
        assert_eq!(order("/a/*rest", "/*all"), Ordering::Less);
        assert_eq!(order("/:x/b", "/a/:y"), Ordering::Greater);
    }
}
