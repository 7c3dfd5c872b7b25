//! Path patterns for site rules: `/assets/**`, `/old/*`, `/docs/*/raw`. `*` matches one
//! path segment, `**` any number of segments (zero included); other segments match
//! literally. What the wildcards matched is captured, in order, for redirect targets.

use std::fmt;

/// One segment of a pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment {
    Literal(String),
    One,
    Any,
}

/// A compiled path pattern.
///
/// ```
/// use reactor_handlers::pattern::PathPattern;
/// let p = PathPattern::parse("/old/*").unwrap();
/// assert_eq!(p.captures("/old/page.html"), Some(vec!["page.html".to_string()]));
/// assert_eq!(p.captures("/old/a/b"), None);
/// let deep = PathPattern::parse("/assets/**").unwrap();
/// assert_eq!(deep.captures("/assets/js/app.js"), Some(vec!["js/app.js".to_string()]));
/// assert_eq!(PathPattern::parse("/old/*").unwrap().fill(&["x".into()]), "/old/x");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PathPattern {
    source: String,
    segments: Vec<Segment>,
}

impl fmt::Display for PathPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.source)
    }
}

impl PathPattern {
    /// Compiles `pattern`, which must start with `/`; `*` and `**` must be whole segments.
    pub fn parse(pattern: &str) -> Result<PathPattern, String> {
        let Some(rest) = pattern.strip_prefix('/') else {
            return Err(format!("pattern {pattern:?} must start with '/'"));
        };
        let segments = rest
            .split('/')
            .map(|s| match s {
                "*" => Ok(Segment::One),
                "**" => Ok(Segment::Any),
                s if s.contains('*') => Err(format!(
                    "pattern {pattern:?}: '*' and '**' must be whole path segments"
                )),
                s => Ok(Segment::Literal(s.to_string())),
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(PathPattern {
            source: pattern.to_string(),
            segments,
        })
    }

    /// The number of wildcards (`*` and `**`).
    pub fn wildcards(&self) -> usize {
        self.segments
            .iter()
            .filter(|s| !matches!(s, Segment::Literal(_)))
            .count()
    }

    /// True when `path` matches.
    pub fn matches(&self, path: &str) -> bool {
        self.captures(path).is_some()
    }

    /// What each wildcard matched (segments joined by `/` for `**`), or `None` when `path`
    /// does not match.
    pub fn captures(&self, path: &str) -> Option<Vec<String>> {
        let rest = path.strip_prefix('/')?;
        let parts: Vec<&str> = rest.split('/').collect();
        let mut caps = Vec::with_capacity(self.wildcards());
        match_from(&self.segments, &parts, &mut caps).then_some(caps)
    }

    /// The pattern with its wildcards replaced by `captures`, in order (missing ones by
    /// nothing).
    pub fn fill(&self, captures: &[String]) -> String {
        let mut out = String::new();
        let mut next = captures.iter();
        for s in &self.segments {
            out.push('/');
            match s {
                Segment::Literal(l) => out.push_str(l),
                Segment::One | Segment::Any => out.push_str(next.next().map_or("", |c| c)),
            }
        }
        out
    }
}

/// Backtracking match of `pat` against `parts`, pushing captures.
fn match_from(pat: &[Segment], parts: &[&str], caps: &mut Vec<String>) -> bool {
    match pat.split_first() {
        None => parts.is_empty(),
        Some((Segment::Literal(l), rest)) => {
            parts.first() == Some(&l.as_str()) && match_from(rest, &parts[1..], caps)
        }
        Some((Segment::One, rest)) => {
            let Some(first) = parts.first() else {
                return false;
            };
            caps.push((*first).to_string());
            if match_from(rest, &parts[1..], caps) {
                return true;
            }
            caps.pop();
            false
        }
        Some((Segment::Any, rest)) => {
            // Longest match first, so `/a/**` captures everything below `/a/`.
            for take in (0..=parts.len()).rev() {
                caps.push(parts[..take].join("/"));
                if match_from(rest, &parts[take..], caps) {
                    return true;
                }
                caps.pop();
            }
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn caps(p: &str, path: &str) -> Option<Vec<String>> {
        PathPattern::parse(p).unwrap().captures(path)
    }

    #[test]
    fn literals_stars_and_double_stars() {
        assert_eq!(caps("/a/b", "/a/b"), Some(vec![]));
        assert_eq!(caps("/a/b", "/a/b/"), None);
        assert_eq!(caps("/a/*", "/a/x"), Some(vec!["x".into()]));
        assert_eq!(caps("/a/*", "/a/x/y"), None);
        assert_eq!(caps("/a/*/c", "/a/x/c"), Some(vec!["x".into()]));
        assert_eq!(caps("/a/**", "/a/x/y/z"), Some(vec!["x/y/z".into()]));
        assert_eq!(caps("/a/**", "/a/"), Some(vec!["".into()]));
        assert_eq!(
            caps("/**/raw/*", "/p/q/raw/f"),
            Some(vec!["p/q".into(), "f".into()])
        );
        assert_eq!(
            caps("/**", "/anything/at/all"),
            Some(vec!["anything/at/all".into()])
        );
        assert_eq!(caps("/a/**", "/b/x"), None);
        assert_eq!(caps("/a", "a"), None);
    }

    #[test]
    fn bad_patterns_are_refused() {
        assert!(PathPattern::parse("a/b").is_err());
        assert!(PathPattern::parse("/a*").is_err());
        assert!(PathPattern::parse("/***").is_err());
    }

    #[test]
    fn fill_puts_captures_back() {
        let to = PathPattern::parse("/new/*/x/**").unwrap();
        assert_eq!(to.fill(&["a".into(), "b/c".into()]), "/new/a/x/b/c");
        assert_eq!(to.fill(&[]), "/new//x/");
    }
}
