//! Redirect rules: `from = "/old/*"`, `to = "/new/*"`, a status; what the wildcards of
//! `from` matched fills those of `to`, and the query string is kept.

use reactor::{Context, Filter, Reply, Request, Response};

use crate::pattern::PathPattern;

/// One redirect rule.
#[derive(Debug, Clone)]
pub struct Redirect {
    /// The request paths it applies to.
    pub from: PathPattern,
    /// The target: a path pattern, or an absolute URL (`https://…`) used as it is, with
    /// `*` filled from left to right.
    pub to: String,
    /// 301, 302, 303, 307 or 308.
    pub status: u16,
}

impl Redirect {
    /// A rule, checking the status and that `to` has no more wildcards than `from`.
    pub fn new(from: &str, to: &str, status: u16) -> Result<Redirect, String> {
        if !matches!(status, 301 | 302 | 303 | 307 | 308) {
            return Err(format!(
                "redirect status {status} is not one of 301, 302, 303, 307, 308"
            ));
        }
        let from = PathPattern::parse(from)?;
        let stars = to.split('/').filter(|s| *s == "*" || *s == "**").count();
        if stars > from.wildcards() {
            return Err(format!(
                "redirect to {to:?} has more wildcards than from {from}"
            ));
        }
        if to.contains(char::is_control) || to.contains(' ') {
            return Err(format!(
                "redirect target {to:?} has spaces or control characters"
            ));
        }
        Ok(Redirect {
            from,
            to: to.to_string(),
            status,
        })
    }

    /// The `Location` for `path` (with `query`), if this rule applies.
    pub fn location(&self, path: &str, query: Option<&str>) -> Option<String> {
        let caps = self.from.captures(path)?;
        let mut next = caps.iter();
        let mut out = self
            .to
            .split('/')
            .map(|s| match s {
                "*" | "**" => next.next().map_or("", String::as_str),
                s => s,
            })
            .collect::<Vec<_>>()
            .join("/");
        if let Some(q) = query {
            out.push(if out.contains('?') { '&' } else { '?' });
            out.push_str(q);
        }
        Some(out)
    }
}

/// Answers requests that match a rule with a redirect (the first matching rule wins).
///
/// ```
/// use reactor_handlers::redirect::Redirect;
/// let r = Redirect::new("/old/*", "/new/*", 301).unwrap();
/// assert_eq!(r.location("/old/a.html", Some("x=1")).as_deref(), Some("/new/a.html?x=1"));
/// ```
#[derive(Debug, Clone, Default)]
pub struct Redirects(pub Vec<Redirect>);

impl Filter for Redirects {
    fn request(&self, req: &mut Request, _cx: &mut Context<'_>) -> Reply {
        if self.0.is_empty() {
            return Reply::Decline;
        }
        let path = req.path();
        for rule in &self.0 {
            if let Some(location) = rule.location(path, req.query()) {
                return Reply::Response(
                    Response::error(rule.status).with_header("Location", location),
                );
            }
        }
        Reply::Decline
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_and_errors() {
        let r = Redirect::new("/a/**", "https://example.test/b/**", 308).unwrap();
        assert_eq!(
            r.location("/a/x/y", None).as_deref(),
            Some("https://example.test/b/x/y")
        );
        assert_eq!(r.location("/c", None), None);
        assert!(Redirect::new("/a", "/b", 200).is_err());
        assert!(Redirect::new("/a", "/b/*", 301).is_err());
        assert!(Redirect::new("/a/*", "/b c", 301).is_err());
    }
}
