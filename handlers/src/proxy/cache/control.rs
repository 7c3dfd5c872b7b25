//! The `Cache-Control` field (RFC 9111 §5.2): its directives, parsed from a request or a
//! response, and the delta-seconds values they carry (§1.2.2).

use reactor::Headers;

/// The largest delta-seconds value we keep apart (RFC 9111 §1.2.2): bigger ones,
/// overflowing ones included, count as this, so an absurd `Age` makes a response stale.
pub const DELTA_MAX: u64 = 1 << 31;

/// A delta-seconds value (RFC 9111 §1.2.2): digits only, at most [`DELTA_MAX`] (more
/// digits, overflow included, saturate there); `None` for anything else.
///
/// ```
/// use reactor_handlers::proxy::cache::{delta_seconds, DELTA_MAX};
/// assert_eq!(delta_seconds("60"), Some(60));
/// assert_eq!(delta_seconds("18446744073709551616"), Some(DELTA_MAX));
/// assert_eq!(delta_seconds("-1"), None);
/// assert_eq!(delta_seconds("1.5"), None);
/// ```
pub fn delta_seconds(s: &str) -> Option<u64> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some(s.parse::<u64>().map_or(DELTA_MAX, |n| n.min(DELTA_MAX)))
}

/// The `Cache-Control` directives we act on, from a request or a response.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CacheControl {
    /// `no-store`
    pub no_store: bool,
    /// `no-cache` (qualified forms are treated as unqualified: stricter, allowed)
    pub no_cache: bool,
    /// `private` (qualified forms too: a shared cache then stores nothing)
    pub private: bool,
    /// `public`
    pub public: bool,
    /// `must-revalidate`
    pub must_revalidate: bool,
    /// `proxy-revalidate`
    pub proxy_revalidate: bool,
    /// `only-if-cached`
    pub only_if_cached: bool,
    /// `max-age=N`
    pub max_age: Option<u64>,
    /// `s-maxage=N`
    pub s_maxage: Option<u64>,
    /// `max-stale[=N]` (no value: any staleness)
    pub max_stale: Option<u64>,
    /// `min-fresh=N`
    pub min_fresh: Option<u64>,
    /// `stale-while-revalidate=N`
    pub stale_while_revalidate: Option<u64>,
    /// `stale-if-error=N`
    pub stale_if_error: Option<u64>,
}

impl CacheControl {
    /// Parses every value of the field (comma-separated directives, case-insensitive
    /// names, optionally quoted arguments). Unknown directives are ignored; a malformed
    /// delta-seconds ignores the directive, except `max-age` which then counts as 0
    /// (stale), as RFC 9111 §4.2.1 suggests.
    pub fn parse<'a>(values: impl IntoIterator<Item = &'a str>) -> Self {
        let mut cc = CacheControl::default();
        for value in values {
            for d in split_directives(value) {
                let (name, arg) = match d.split_once('=') {
                    Some((n, a)) => (n.trim(), Some(a.trim().trim_matches('"'))),
                    None => (d.trim(), None),
                };
                cc.directive(&name.to_ascii_lowercase(), arg);
            }
        }
        cc
    }

    /// Applies one directive (`name` lower-case, `arg` unquoted).
    pub(crate) fn directive(&mut self, name: &str, arg: Option<&str>) {
        let num = arg.and_then(delta_seconds);
        let cc = self;
        match name {
            "no-store" => cc.no_store = true,
            "no-cache" => cc.no_cache = true,
            "private" => cc.private = true,
            "public" => cc.public = true,
            "must-revalidate" => cc.must_revalidate = true,
            "proxy-revalidate" => cc.proxy_revalidate = true,
            "only-if-cached" => cc.only_if_cached = true,
            "max-age" => cc.max_age = Some(num.unwrap_or(0)),
            "s-maxage" => cc.s_maxage = num.or(cc.s_maxage),
            "max-stale" => {
                cc.max_stale = Some(if arg.is_some() {
                    num.unwrap_or(0)
                } else {
                    u64::MAX
                })
            }
            "min-fresh" => cc.min_fresh = num.or(cc.min_fresh),
            "stale-while-revalidate" => cc.stale_while_revalidate = num,
            "stale-if-error" => cc.stale_if_error = num,
            _ => {}
        }
    }

    /// The directives of a request, honouring `Pragma: no-cache` when there is no
    /// `Cache-Control` (RFC 9111 §5.4).
    pub fn of_request(h: &Headers) -> Self {
        let values: Vec<&str> = h
            .get_all("cache-control")
            .filter_map(|v| std::str::from_utf8(v).ok())
            .collect();
        let mut cc = CacheControl::parse(values.iter().copied());
        if values.is_empty() && h.has_token("pragma", "no-cache") {
            cc.no_cache = true;
        }
        cc
    }
}

/// Splits on commas outside quoted strings.
fn split_directives(v: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let (mut start, mut quoted) = (0, false);
    for (i, c) in v.char_indices() {
        match c {
            '"' => quoted = !quoted,
            ',' if !quoted => {
                out.push(&v[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push(&v[start..]);
    out.into_iter()
        .map(str::trim)
        .filter(|d| !d.is_empty())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn directives() {
        let cc = CacheControl::parse(["max-age=60, S-MAXAGE=\"30\", private=\"x, y\"", "no-cache"]);
        assert_eq!(
            (cc.max_age, cc.s_maxage, cc.private, cc.no_cache),
            (Some(60), Some(30), true, true)
        );
        let cc = CacheControl::parse(["max-age=abc, max-stale, stale-if-error=5"]);
        assert_eq!(
            (cc.max_age, cc.max_stale, cc.stale_if_error),
            (Some(0), Some(u64::MAX), Some(5))
        );
    }
}
