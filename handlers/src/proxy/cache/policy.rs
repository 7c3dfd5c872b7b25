//! What a shared cache may store (RFC 9111 §3) and for how long it stays fresh (§4.2.1,
//! heuristics included, §4.2.2).

use reactor::date::parse_http_date;
use reactor::Headers;

use super::{all_fields, field, secs, vary_names, CacheControl, DELTA_MAX};

/// Heuristic freshness never exceeds a day.
const HEURISTIC_CAP: u64 = 24 * 3600;

/// Status codes cacheable by default, i.e. heuristically (RFC 9110 §15.1).
pub fn heuristically_cacheable(status: u16) -> bool {
    matches!(
        status,
        200 | 203 | 204 | 206 | 300 | 301 | 308 | 404 | 405 | 410 | 414 | 501
    )
}

/// May a shared cache store this response to a GET (RFC 9111 §3, §3.5)? Partial (206)
/// and 304 responses are not stored: this cache does not combine ranges.
pub fn storable(req: &Headers, status: u16, headers: &[(String, String)]) -> bool {
    let cc = CacheControl::parse(all_fields(headers, "cache-control"));
    storable_as(req, status, headers, &cc)
}

/// [`storable`] with the response's directives `cc` already chosen (a targeted field's,
/// say, see [`super::targeted`]).
pub fn storable_as(
    req: &Headers,
    status: u16,
    headers: &[(String, String)],
    cc: &CacheControl,
) -> bool {
    let req_cc = CacheControl::of_request(req);
    if !(200..600).contains(&status) || status == 206 || status == 304 {
        return false;
    }
    if cc.no_store || req_cc.no_store || cc.private || vary_names(headers).is_none() {
        return false;
    }
    if req.get_bytes("authorization").is_some()
        && !(cc.must_revalidate || cc.public || cc.s_maxage.is_some())
    {
        return false;
    }
    field(headers, "expires").is_some()
        || cc.max_age.is_some()
        || cc.s_maxage.is_some()
        || cc.public
        || heuristically_cacheable(status)
}

/// Freshness lifetime (RFC 9111 §4.2.1): s-maxage, max-age, Expires − Date, or for
/// heuristically cacheable statuses 10% of (Date − Last-Modified), capped at a day.
pub fn freshness_lifetime(
    status: u16,
    headers: &[(String, String)],
    cc: &CacheControl,
    date: u64,
) -> u64 {
    if let Some(s) = cc.s_maxage {
        return s.min(DELTA_MAX);
    }
    if let Some(m) = cc.max_age {
        return m.min(DELTA_MAX);
    }
    if let Some(expires) = field(headers, "expires") {
        // An invalid Expires (e.g. "0") means already expired.
        return parse_http_date(expires).map_or(0, |e| secs(e).saturating_sub(date).min(DELTA_MAX));
    }
    if heuristically_cacheable(status) || cc.public {
        if let Some(lm) = field(headers, "last-modified").and_then(parse_http_date) {
            return (date.saturating_sub(secs(lm)) / 10).min(HEURISTIC_CAP);
        }
    }
    0
}

#[cfg(test)]
mod tests {
    use super::*;
    use reactor::date::format_http_date;
    use std::time::{Duration, UNIX_EPOCH};

    fn h(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect()
    }

    fn date(t: u64) -> String {
        format_http_date(UNIX_EPOCH + Duration::from_secs(t))
    }

    const T: u64 = 1_700_000_000;

    #[test]
    fn storability() {
        let none = Headers::default();
        assert!(storable(&none, 200, &h(&[])));
        assert!(!storable(&none, 200, &h(&[("Cache-Control", "no-store")])));
        assert!(!storable(
            &none,
            200,
            &h(&[("Cache-Control", "private, max-age=60")])
        ));
        assert!(!storable(&none, 302, &h(&[])));
        assert!(storable(&none, 302, &h(&[("Cache-Control", "max-age=60")])));
        assert!(!storable(&none, 200, &h(&[("Vary", "*")])));
        assert!(!storable(
            &none,
            206,
            &h(&[("Cache-Control", "max-age=60")])
        ));
        assert!(storable(&none, 404, &h(&[])));
    }

    #[test]
    fn lifetimes() {
        let f = |hs: &[(&str, &str)], status| {
            let hs = h(hs);
            let cc = CacheControl::parse(all_fields(&hs, "cache-control"));
            freshness_lifetime(status, &hs, &cc, T)
        };
        assert_eq!(f(&[("Cache-Control", "max-age=60, s-maxage=10")], 200), 10);
        assert_eq!(
            f(
                &[("Cache-Control", "max-age=60"), ("Expires", &date(T + 5))],
                200
            ),
            60
        );
        assert_eq!(f(&[("Expires", &date(T + 100))], 200), 100);
        assert_eq!(f(&[("Expires", "0")], 200), 0);
        assert_eq!(f(&[("Last-Modified", &date(T - 1000))], 200), 100);
        assert_eq!(
            f(&[("Last-Modified", &date(T - 10_000_000))], 200),
            HEURISTIC_CAP
        );
        assert_eq!(f(&[("Last-Modified", &date(T - 1000))], 302), 0);
    }
}
