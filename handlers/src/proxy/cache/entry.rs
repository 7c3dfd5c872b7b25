//! A stored response: its age (RFC 9111 §4.2.3), what a request may do with it (§4, §4.2.4,
//! RFC 5861), and its update by a 304 (§3.2).

use std::sync::Arc;

use reactor::date::parse_http_date;
use reactor::Headers;

use super::{
    all_fields, delta_seconds, field, freshness_lifetime, secs, vary_names, CacheControl, DELTA_MAX,
};
use crate::proxy::vary::Selection;

/// A stored response.
#[derive(Debug, Clone)]
pub struct Entry {
    /// Status code.
    pub status: u16,
    /// End-to-end fields as received (no hop-by-hop, `Content-Length` or `Age`).
    pub headers: Vec<(String, String)>,
    /// The complete body, shared by every hit.
    pub body: Arc<[u8]>,
    /// The request's values of the `Vary` fields.
    pub vary: Selection,
    /// When the response was received (seconds since the epoch).
    pub response_time: u64,
    /// Its age then (RFC 9111 §4.2.3 `corrected_initial_age`).
    pub initial_age: u64,
    /// Freshness lifetime in seconds.
    pub lifetime: u64,
    /// The response's cache directives.
    pub cc: CacheControl,
}

impl Entry {
    /// Builds an entry from a complete response to a request sent at `request_time` and
    /// answered at `response_time`.
    pub fn new(
        status: u16,
        mut headers: Vec<(String, String)>,
        body: Arc<[u8]>,
        req: &Headers,
        request_time: u64,
        response_time: u64,
    ) -> Entry {
        let vary = vary_names(&headers)
            .map(|names| Selection::of(names, req))
            .unwrap_or_default();
        Entry::build(
            status,
            &mut headers,
            body,
            vary,
            request_time,
            response_time,
        )
    }

    fn build(
        status: u16,
        headers: &mut Vec<(String, String)>,
        body: Arc<[u8]>,
        vary: Selection,
        request_time: u64,
        response_time: u64,
    ) -> Entry {
        // A list (not valid, but seen) counts by its first member.
        let age_value = field(headers, "age")
            .and_then(|a| delta_seconds(a.split(',').next().unwrap_or("").trim()))
            .unwrap_or(0);
        headers.retain(|(n, _)| {
            !n.eq_ignore_ascii_case("age") && !n.eq_ignore_ascii_case("content-length")
        });
        let apparent_age = response_time.saturating_sub(date_of(headers, response_time));
        let corrected_age = age_value.saturating_add(response_time.saturating_sub(request_time));
        let mut entry = Entry {
            status,
            headers: std::mem::take(headers),
            body,
            vary,
            response_time,
            initial_age: apparent_age.max(corrected_age),
            lifetime: 0,
            cc: CacheControl::default(),
        };
        entry.retarget(CacheControl::parse(all_fields(
            &entry.headers,
            "cache-control",
        )));
        entry
    }

    /// Takes `cc` as the response's directives (a targeted field's instead of
    /// `Cache-Control`, say) and recomputes the freshness lifetime from them.
    pub fn retarget(&mut self, cc: CacheControl) {
        let date = date_of(&self.headers, self.response_time);
        self.lifetime = freshness_lifetime(self.status, &self.headers, &cc, date);
        self.cc = cc;
    }

    /// The entry after a 304: its fields updated with the 304's (RFC 9111 §3.2), times and
    /// freshness recomputed, the body kept.
    pub fn updated(
        &self,
        fresh: &[(String, String)],
        request_time: u64,
        response_time: u64,
    ) -> Entry {
        let mut headers: Vec<(String, String)> = self
            .headers
            .iter()
            .filter(|(n, _)| !fresh.iter().any(|(f, _)| f.eq_ignore_ascii_case(n)))
            .cloned()
            .collect();
        headers.extend(
            fresh
                .iter()
                .filter(|(n, _)| !n.eq_ignore_ascii_case("content-length"))
                .cloned(),
        );
        Entry::build(
            self.status,
            &mut headers,
            self.body.clone(),
            self.vary.clone(),
            request_time,
            response_time,
        )
    }

    /// Current age in seconds (the `Age` header of a hit).
    pub fn age(&self, now: u64) -> u64 {
        self.initial_age
            .saturating_add(now.saturating_sub(self.response_time))
            .min(DELTA_MAX)
    }

    /// Seconds past its freshness (0 while fresh).
    pub fn staleness(&self, now: u64) -> u64 {
        self.age(now).saturating_sub(self.lifetime)
    }

    /// `ETag`, if any.
    pub fn etag(&self) -> Option<&str> {
        field(&self.headers, "etag")
    }

    /// `Last-Modified`, if any.
    pub fn last_modified(&self) -> Option<&str> {
        field(&self.headers, "last-modified")
    }

    /// Stale content may never be served without revalidation (`must-revalidate`,
    /// `proxy-revalidate`, or `s-maxage`, which implies proxy-revalidate for shared caches).
    fn no_stale(&self) -> bool {
        self.cc.must_revalidate || self.cc.proxy_revalidate || self.cc.s_maxage.is_some()
    }

    /// May this stale entry answer a request whose origin fetch failed (`stale-if-error`)?
    pub fn stale_if_error(&self, now: u64) -> bool {
        !self.no_stale()
            && self
                .cc
                .stale_if_error
                .is_some_and(|w| self.staleness(now) <= w)
    }

    /// May this stale entry answer when the origin cannot be reached (a disconnected
    /// cache, RFC 9111 §4.2.4)? Not when it must be revalidated first (`must-revalidate`,
    /// `proxy-revalidate`, `s-maxage`, `no-cache`).
    pub fn stale_if_disconnected(&self) -> bool {
        !self.no_stale() && !self.cc.no_cache
    }

    /// Does the request's `Vary` selection match this entry?
    pub fn matches(&self, req: &Headers) -> bool {
        self.vary.matches(req)
    }

    /// Bytes this entry weighs in the cache.
    pub fn weight(&self) -> usize {
        self.body.len()
            + 256
            + self.vary.weight()
            + self
                .headers
                .iter()
                .map(|(n, v)| n.len() + v.len() + 4)
                .sum::<usize>()
    }

    /// What a request may do with this entry now (RFC 9111 §4, §4.2.4, RFC 5861).
    pub fn usable(&self, req: &CacheControl, now: u64) -> Use {
        if req.no_cache || self.cc.no_cache {
            return Use::Validate;
        }
        let age = self.age(now);
        if req.max_age.is_some_and(|m| age > m) {
            return Use::Validate;
        }
        let left = self.lifetime.saturating_sub(age);
        if self.lifetime > age && req.min_fresh.unwrap_or(0) <= left {
            return Use::Fresh;
        }
        if self.lifetime > age || self.no_stale() {
            return Use::Validate;
        }
        let stale = age.saturating_sub(self.lifetime);
        if req.max_stale.is_some_and(|m| stale <= m) {
            return Use::Stale;
        }
        if self.cc.stale_while_revalidate.is_some_and(|w| stale <= w) {
            return Use::StaleWhileRevalidate;
        }
        Use::Validate
    }
}

/// What a request may do with a stored entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Use {
    /// Serve it: it is fresh.
    Fresh,
    /// Serve it stale: the client allows it (`max-stale`).
    Stale,
    /// Serve it stale and revalidate in the background (`stale-while-revalidate`).
    StaleWhileRevalidate,
    /// Ask the origin first (conditionally).
    Validate,
}

/// The response's `Date` in seconds, or `default` when absent or invalid.
fn date_of(headers: &[(String, String)], default: u64) -> u64 {
    field(headers, "date")
        .and_then(parse_http_date)
        .map_or(default, secs)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proxy::cache::test_support::{date, h, T};

    #[test]
    fn age_and_use() {
        let none = Headers::default();
        let e = Entry::new(
            200,
            h(&[
                ("Date", &date(T - 10)),
                ("Age", "5"),
                ("Cache-Control", "max-age=60"),
            ]),
            Arc::from(&b"x"[..]),
            &none,
            T - 1,
            T,
        );
        // apparent age 10, corrected age 5 + 1: initial 10
        assert_eq!(e.age(T), 10);
        assert_eq!(e.age(T + 20), 30);
        let plain = CacheControl::default();
        assert_eq!(e.usable(&plain, T + 20), Use::Fresh);
        assert_eq!(e.usable(&plain, T + 51), Use::Validate);
        let req = CacheControl::parse(["max-age=20"]);
        assert_eq!(e.usable(&req, T + 20), Use::Validate);
        let req = CacheControl::parse(["max-stale=10"]);
        assert_eq!(e.usable(&req, T + 55), Use::Stale);
        let req = CacheControl::parse(["min-fresh=40"]);
        assert_eq!(e.usable(&req, T + 30), Use::Validate);
        assert!(e.headers.iter().all(|(n, _)| n != "Age"));
    }

    #[test]
    fn absurd_ages_are_stale_never_wrapped() {
        let none = Headers::default();
        let plain = CacheControl::default();
        for (age, max_age) in [
            ("18446744073709551615", "max-age=600"),
            ("99999999999999999999999", "max-age=600"),
            ("18446744073709551615", "max-age=18446744073709551615"),
            ("2147483648", "max-age=99999999999"),
        ] {
            let e = Entry::new(
                200,
                h(&[("Age", age), ("Cache-Control", max_age)]),
                Arc::from(&b"x"[..]),
                &none,
                0,
                u64::MAX,
            );
            assert_eq!(e.age(u64::MAX), DELTA_MAX, "{age}");
            assert_eq!(e.usable(&plain, u64::MAX), Use::Validate, "{age} {max_age}");
        }
        let e = Entry::new(200, h(&[("Age", "-5")]), Arc::from(&b""[..]), &none, T, T);
        assert_eq!(e.age(T), 0);
        // A list counts by its first member.
        let e = Entry::new(
            200,
            h(&[("Age", "7200, 0")]),
            Arc::from(&b""[..]),
            &none,
            T,
            T,
        );
        assert_eq!(e.age(T), 7200);
    }

    #[test]
    fn swr_sie_and_must_revalidate() {
        let none = Headers::default();
        let mk = |cc: &str| {
            Entry::new(
                200,
                h(&[("Date", &date(T)), ("Cache-Control", cc)]),
                Arc::from(&b""[..]),
                &none,
                T,
                T,
            )
        };
        let plain = CacheControl::default();
        let e = mk("max-age=1, stale-while-revalidate=10, stale-if-error=20");
        assert_eq!(e.usable(&plain, T + 5), Use::StaleWhileRevalidate);
        assert_eq!(e.usable(&plain, T + 15), Use::Validate);
        assert!(e.stale_if_error(T + 15) && !e.stale_if_error(T + 30));
        let e = mk("max-age=1, must-revalidate, stale-while-revalidate=10, stale-if-error=20");
        assert_eq!(e.usable(&plain, T + 5), Use::Validate);
        assert!(!e.stale_if_error(T + 5));
        assert_eq!(mk("no-cache, max-age=100").usable(&plain, T), Use::Validate);
    }

    #[test]
    fn update_on_304() {
        let none = Headers::default();
        let e = Entry::new(
            200,
            h(&[
                ("ETag", "\"1\""),
                ("Cache-Control", "max-age=1"),
                ("X-Old", "a"),
            ]),
            Arc::from(&b"body"[..]),
            &none,
            T,
            T,
        );
        let u = e.updated(
            &h(&[("Cache-Control", "max-age=100"), ("Content-Length", "0")]),
            T + 5,
            T + 5,
        );
        assert_eq!(u.lifetime, 100);
        assert_eq!(field(&u.headers, "x-old"), Some("a"));
        assert_eq!(field(&u.headers, "content-length"), None);
        assert_eq!(&u.body[..], b"body");
        assert_eq!(u.usable(&CacheControl::default(), T + 50), Use::Fresh);
    }
}
