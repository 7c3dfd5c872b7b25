//! Response headers by path pattern (`Cache-Control` for `/assets/**`, say).

use reactor::{Context, Filter, Request, Response};

use crate::pattern::PathPattern;

/// Headers to set on responses whose request path matches `path`.
#[derive(Debug, Clone)]
pub struct HeaderRule {
    /// The request paths it applies to.
    pub path: PathPattern,
    /// Header fields, each replacing any field of the same name.
    pub set: Vec<(String, String)>,
}

impl HeaderRule {
    /// A rule, refusing names and values that are not valid header fields.
    pub fn new(path: &str, set: Vec<(String, String)>) -> Result<HeaderRule, String> {
        for (name, value) in &set {
            let token = !name.is_empty()
                && name
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b));
            if !token {
                return Err(format!("{name:?} is not a valid header name"));
            }
            if value.bytes().any(|b| b < 0x20 && b != b'\t' || b == 0x7f) {
                return Err(format!("the value of {name} has control characters"));
            }
        }
        Ok(HeaderRule {
            path: PathPattern::parse(path)?,
            set,
        })
    }
}

/// Sets the headers of every rule that matches the request path, in order (a later rule
/// overrides an earlier one for the same name).
///
/// ```
/// use reactor_handlers::set_headers::{HeaderRule, SetHeaders};
/// let rule = HeaderRule::new("/assets/**", vec![("Cache-Control".into(), "max-age=60".into())]);
/// let filter = SetHeaders(vec![rule.unwrap()]);
/// # let _ = filter;
/// ```
#[derive(Debug, Clone, Default)]
pub struct SetHeaders(pub Vec<HeaderRule>);

impl Filter for SetHeaders {
    fn response(&self, req: &Request, resp: &mut Response, _cx: &mut Context<'_>) {
        if self.0.is_empty() {
            return;
        }
        let path = req.path();
        for rule in self.0.iter().filter(|r| r.path.matches(path)) {
            for (name, value) in &rule.set {
                resp.headers.retain(|(n, _)| !n.eq_ignore_ascii_case(name));
                resp.headers
                    .push((name.clone().into(), value.clone().into()));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invalid_fields_are_refused() {
        let f = |n: &str, v: &str| HeaderRule::new("/", vec![(n.into(), v.into())]);
        assert!(f("X-Ok", "fine; value").is_ok());
        assert!(f("Bad Name", "v").is_err());
        assert!(f("", "v").is_err());
        assert!(f("X", "a\r\nInjected: 1").is_err());
    }
}
