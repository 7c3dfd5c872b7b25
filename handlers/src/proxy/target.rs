//! Request targets a proxy accepts (RFC 9112 §3.2): absolute-form `http://host:port/path`,
//! the path form `/http://host/path` (for clients that cannot be configured with a proxy),
//! and authority-form `host:port` for CONNECT. Pure functions.

use std::fmt;

/// Where a request goes: an origin (`http`, or `https` for a reverse proxy's upstream)
/// and the origin-form path to ask it for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// `https`: TLS to the origin (only upstreams of a reverse proxy).
    pub tls: bool,
    /// Host name (lower-cased) or IP literal (IPv6 without brackets).
    pub host: String,
    /// TCP port.
    pub port: u16,
    /// Origin-form target: path plus query, never empty (at least `/`).
    pub path: String,
}

impl Target {
    /// `host[:port]` as it goes in `Host` (port omitted when the scheme's default, IPv6
    /// in brackets).
    pub fn authority(&self) -> String {
        let mut s = String::with_capacity(self.host.len() + 8);
        self.push_authority(&mut s);
        s
    }

    /// The normalised absolute URL (the cache key).
    pub fn url(&self) -> String {
        let scheme = if self.tls { "https://" } else { "http://" };
        let mut s = String::with_capacity(scheme.len() + self.host.len() + 8 + self.path.len());
        s.push_str(scheme);
        self.push_authority(&mut s);
        s.push_str(&self.path);
        s
    }

    /// Appends the authority (no `format!`: this runs for every proxied request).
    fn push_authority(&self, s: &mut String) {
        let v6 = self.host.contains(':');
        if v6 {
            s.push('[');
        }
        s.push_str(&self.host);
        if v6 {
            s.push(']');
        }
        if self.port != self.default_port() {
            use std::fmt::Write;
            let _ = write!(s, ":{}", self.port);
        }
    }

    fn default_port(&self) -> u16 {
        if self.tls {
            443
        } else {
            80
        }
    }
}

/// Why a target was refused (the detail of a 400).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadTarget(pub &'static str);

impl fmt::Display for BadTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }
}

/// Parses a proxy request target: absolute-form or the path form `/http://...`.
pub fn parse_proxy_target(target: &str) -> Result<Target, BadTarget> {
    let t = target
        .strip_prefix('/')
        .filter(|r| has_scheme(r))
        .unwrap_or(target);
    if !has_scheme(t) {
        return Err(BadTarget(
            "not a proxy request: the target must be an absolute http:// URL",
        ));
    }
    parse_absolute(t)
}

fn has_scheme(t: &str) -> bool {
    let lower = |n: usize| t.get(..n).map(|s| s.to_ascii_lowercase());
    lower(7).as_deref() == Some("http://") || lower(8).as_deref() == Some("https://")
}

/// Parses `http://host[:port][/path][?query]` (a fragment is dropped).
pub fn parse_absolute(url: &str) -> Result<Target, BadTarget> {
    let lower = url
        .get(..8)
        .map(|s| s.to_ascii_lowercase())
        .unwrap_or_default();
    if lower.starts_with("https://") {
        return Err(BadTarget("https URLs must be requested through CONNECT"));
    }
    if !lower.starts_with("http://") {
        return Err(BadTarget("only http:// URLs can be proxied"));
    }
    parse_after_scheme(&url[7..], false)
}

/// `host[:port][/path][?query]` after `http://` (`tls`: after `https://`).
fn parse_after_scheme(rest: &str, tls: bool) -> Result<Target, BadTarget> {
    let rest = rest.split('#').next().unwrap_or("");
    let end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, path) = rest.split_at(end);
    if authority.contains('@') {
        return Err(BadTarget("user information in URLs is not allowed"));
    }
    let (host, port) = parse_host_port(authority, Some(if tls { 443 } else { 80 }))?;
    // Any control or white space, not only ASCII's (U+0085 and the C1 controls too).
    if path.chars().any(|c| c.is_control() || c.is_whitespace()) {
        return Err(BadTarget("invalid character in the URL path"));
    }
    let path = if path.is_empty() {
        "/".to_string()
    } else if path.starts_with('?') {
        format!("/{path}")
    } else {
        path.to_string()
    };
    Ok(Target {
        tls,
        host,
        port,
        path,
    })
}

/// Parses an origin URL `http://…` or `https://…` (a reverse proxy's upstream).
pub fn parse_origin_url(url: &str) -> Result<Target, BadTarget> {
    let https = url
        .get(..8)
        .is_some_and(|s| s.eq_ignore_ascii_case("https://"));
    if !https {
        return parse_absolute(url);
    }
    parse_after_scheme(&url[8..], true)
}

/// Parses the authority-form target of CONNECT: `host:port` (the port is required).
pub fn parse_authority(target: &str) -> Result<(String, u16), BadTarget> {
    parse_host_port(target, None)
}

fn parse_host_port(authority: &str, default_port: Option<u16>) -> Result<(String, u16), BadTarget> {
    let (host, port) = if let Some(rest) = authority.strip_prefix('[') {
        let close = rest
            .find(']')
            .ok_or(BadTarget("unterminated IPv6 address"))?;
        let host = &rest[..close];
        // An address, not just its characters: `[2A]` would come back as the name `2a`.
        if host.parse::<std::net::Ipv6Addr>().is_err() {
            return Err(BadTarget("invalid IPv6 address"));
        }
        let after = &rest[close + 1..];
        let port = match after.strip_prefix(':') {
            Some(p) => Some(p),
            None if after.is_empty() => None,
            None => return Err(BadTarget("invalid authority")),
        };
        (host.to_string(), port)
    } else {
        let (h, p) = match authority.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (authority, None),
        };
        let valid = !h.is_empty()
            && h.len() <= 253
            && h.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-' || b == b'_');
        if !valid {
            return Err(BadTarget("invalid host name"));
        }
        (h.to_ascii_lowercase(), p)
    };
    let port = match port {
        Some(p) => parse_port(p)?,
        None => default_port.ok_or(BadTarget("CONNECT needs host:port"))?,
    };
    Ok((host, port))
}

fn parse_port(p: &str) -> Result<u16, BadTarget> {
    if p.is_empty() || p.len() > 5 || !p.bytes().all(|b| b.is_ascii_digit()) {
        return Err(BadTarget("invalid port"));
    }
    match p.parse::<u16>() {
        Ok(0) | Err(_) => Err(BadTarget("invalid port")),
        Ok(n) => Ok(n),
    }
}

/// Resolves a `Location`/`Content-Location` value against `base`; `Some` only when it
/// names a URL on the same origin (the only ones an unsafe request may invalidate).
pub fn same_origin_url(base: &Target, location: &str) -> Option<String> {
    if location.starts_with('/') && !location.starts_with("//") {
        let t = Target {
            path: location.to_string(),
            ..base.clone()
        };
        return Some(t.url());
    }
    let t = parse_origin_url(location).ok()?;
    (t.tls == base.tls && t.host == base.host && t.port == base.port).then(|| t.url())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn t(host: &str, port: u16, path: &str) -> Target {
        Target {
            tls: false,
            host: host.into(),
            port,
            path: path.into(),
        }
    }

    #[test]
    fn absolute_form() {
        assert_eq!(
            parse_proxy_target("http://Example.COM/a?b"),
            Ok(t("example.com", 80, "/a?b"))
        );
        assert_eq!(parse_proxy_target("HTTP://h:8080"), Ok(t("h", 8080, "/")));
        assert_eq!(parse_proxy_target("http://h?q=1"), Ok(t("h", 80, "/?q=1")));
        assert_eq!(
            parse_proxy_target("http://[::1]:81/x#frag"),
            Ok(t("::1", 81, "/x"))
        );
        assert_eq!(t("::1", 81, "/x").url(), "http://[::1]:81/x");
        assert_eq!(t("h", 80, "/x").url(), "http://h/x");
    }

    #[test]
    fn path_form() {
        assert_eq!(
            parse_proxy_target("/http://example.com:8000/p"),
            Ok(t("example.com", 8000, "/p"))
        );
    }

    #[test]
    fn refusals() {
        for bad in [
            "/index.html",
            "https://h/",
            "/https://h/",
            "ftp://h/",
            "http:///x",
            "http://h:0/",
            "http://h:99999/",
            "http://h:x/",
            "http://u:p@h/",
            "http://h h/",
            "http://h/a\u{9a}",
            "http://h/a\u{85}b",
            "http://h/a\u{a0}",
            "http://[zz]/",
            "http://[2A]/",
            "http://[1.2.3.4]/",
            "http://[::1/",
            "*",
        ] {
            assert!(parse_proxy_target(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn authority_form() {
        assert_eq!(
            parse_authority("h.example:443"),
            Ok(("h.example".into(), 443))
        );
        assert_eq!(parse_authority("[::1]:8443"), Ok(("::1".into(), 8443)));
        assert!(parse_authority("h.example").is_err());
        assert!(parse_authority(":443").is_err());
        assert!(parse_authority("/x").is_err());
    }

    #[test]
    fn locations() {
        let base = t("h", 8080, "/a");
        assert_eq!(same_origin_url(&base, "/b"), Some("http://h:8080/b".into()));
        assert_eq!(
            same_origin_url(&base, "http://h:8080/c"),
            Some("http://h:8080/c".into())
        );
        assert_eq!(same_origin_url(&base, "http://other/c"), None);
        assert_eq!(same_origin_url(&base, "//other/c"), None);
    }

    #[test]
    fn origin_urls_http_and_https() {
        let h = parse_origin_url("https://Origin.example").unwrap();
        assert_eq!(
            (h.tls, h.port, h.url()),
            (true, 443, "https://origin.example/".into())
        );
        let h = parse_origin_url("HTTPS://[::1]:8443/").unwrap();
        assert_eq!(
            (h.tls, h.port, h.authority()),
            (true, 8443, "[::1]:8443".into())
        );
        let h = parse_origin_url("https://[::1]").unwrap();
        assert_eq!(h.port, 443);
        assert_eq!(parse_origin_url("http://h:81"), Ok(t("h", 81, "/")));
        assert!(parse_origin_url("https://h:0/").is_err());
        assert!(parse_origin_url("ftp://h/").is_err());
        let base = parse_origin_url("https://h/a").unwrap();
        assert_eq!(
            same_origin_url(&base, "https://h/b"),
            Some("https://h/b".into())
        );
        assert_eq!(same_origin_url(&base, "http://h:443/b"), None);
    }

    proptest! {
        #[test]
        fn never_panics_and_urls_round_trip(s in ".{0,64}") {
            if let Ok(t) = parse_proxy_target(&s) {
                prop_assert_eq!(parse_absolute(&t.url()), Ok(t));
            }
            let _ = parse_authority(&s);
        }
    }
}
