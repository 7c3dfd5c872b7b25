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
/// say, see `proxy/targeted.rs`).
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
        return lenient_date(expires).map_or(0, |e| e.saturating_sub(date).min(DELTA_MAX));
    }
    if heuristically_cacheable(status) || cc.public {
        if let Some(lm) = field(headers, "last-modified").and_then(parse_http_date) {
            return (date.saturating_sub(secs(lm)) / 10).min(HEURISTIC_CAP);
        }
    }
    0
}

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];
const WEEKDAYS: [&str; 7] = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];

/// An HTTP date in seconds since the epoch, read a little robustly (RFC 9110 §5.6.7
/// encourages it): names in any case, and in the ANSI C format a weekday that does not
/// match the date. Otherwise the formats are exact: anything else (`0`, a 2-digit year in
/// IMF-fixdate, another zone, …) is `None`, i.e. already expired.
///
/// ```
/// use reactor_handlers::proxy::cache::lenient_date;
/// assert_eq!(lenient_date("Thu, 01 Jan 1970 00:01:00 GMT"), Some(60));
/// assert_eq!(lenient_date("THU, 01 JAN 1970 00:01:00 gmt"), Some(60));
/// assert_eq!(lenient_date("Mon Jan  1 00:01:00 1970"), Some(60));
/// assert_eq!(lenient_date("Thu, 01 Jan 1970 00:01:00 UTC"), None);
/// assert_eq!(lenient_date("0"), None);
/// ```
pub fn lenient_date(s: &str) -> Option<u64> {
    if let Some(t) = parse_http_date(s) {
        return Some(secs(t));
    }
    let canon = canonical_case(s);
    if let Some(t) = parse_http_date(&canon) {
        return Some(secs(t));
    }
    asctime(&canon)
}

/// Every word of letters as HTTP dates spell it: `GMT`, else capitalised.
fn canonical_case(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut start_of_word = true;
    for c in s.chars() {
        if c.is_ascii_alphabetic() {
            out.push(if start_of_word {
                c.to_ascii_uppercase()
            } else {
                c.to_ascii_lowercase()
            });
            start_of_word = false;
        } else {
            out.push(c);
            start_of_word = true;
        }
    }
    out.replace("Gmt", "GMT")
}

/// The ANSI C format exactly (`Www Mmm dd hh:mm:ss yyyy`, the day space-padded), any
/// weekday name.
fn asctime(s: &str) -> Option<u64> {
    let b = s.as_bytes();
    if b.len() != 24
        || [3, 7, 10, 19].iter().any(|&i| b[i] != b' ')
        || b[13] != b':'
        || b[16] != b':'
    {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<u64> {
        let t = s.get(r)?.trim_start_matches(' ');
        (!t.is_empty() && t.bytes().all(|c| c.is_ascii_digit())).then(|| t.parse().ok())?
    };
    WEEKDAYS.iter().position(|w| Some(*w) == s.get(0..3))?;
    let month = MONTHS.iter().position(|m| Some(*m) == s.get(4..7))? as u64 + 1;
    let (day, year) = (num(8..10)?, num(20..24)?);
    let (h, m, sec) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if !(1..=31).contains(&day) || year < 1970 || h > 23 || m > 59 || sec > 60 {
        return None;
    }
    let field = |n: u64| u32::try_from(n).ok();
    let t = reactor::date::from_civil(
        i64::try_from(year).ok()?,
        field(month)?,
        field(day)?,
        field(h)?,
        field(m)?,
        field(sec)?,
    )?;
    Some(secs(t))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proxy::cache::test_support::{date, h, T};

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

    #[test]
    fn expires_is_read_robustly() {
        for t in (0..4_000_000_000u64).step_by(7_654_321) {
            let d = date(t);
            assert_eq!(lenient_date(&d.to_uppercase()), Some(t), "{d}");
            assert_eq!(lenient_date(&d.to_lowercase()), Some(t), "{d}");
        }
        // ANSI C format, with a weekday that does not match the date.
        assert_eq!(
            lenient_date("Thu Aug  8 02:01:18 2050"),
            lenient_date("Mon, 08 Aug 2050 02:01:18 GMT")
        );
        assert_eq!(
            lenient_date("Sunday, 06-Nov-94 08:49:37 GMT"),
            Some(784_111_777)
        );
        for bad in [
            "0",
            "",
            "-1",
            "Thu, 32 Aug 2050 02:01:18 GMT",
            "tomorrow",
            "Aug 2050",
        ] {
            assert_eq!(lenient_date(bad), None, "{bad:?}");
        }
        let f =
            |e: &str| freshness_lifetime(200, &h(&[("Expires", e)]), &CacheControl::default(), T);
        assert_eq!(f(&date(T + 100).to_uppercase()), 100);
    }
}
