//! A shared HTTP cache (RFC 9111): what may be stored (§3), how long it stays fresh (§4.2),
//! its age (§4.2.3), selecting a variant by `Vary` (§4.1), updating on 304 (§4.3.4) and
//! the request directives a client may send (§5.2.1). Entries live in our own [`Lru`],
//! bounded by total bytes and object size; bodies are `Arc<[u8]>`, shared by every hit.

use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use reactor::date::parse_http_date;
use reactor::Headers;

use super::fill::FillBudget;
use super::lru::Lru;
pub use super::vary::vary_names;
use super::vary::Selection;

/// Heuristic freshness never exceeds a day.
const HEURISTIC_CAP: u64 = 24 * 3600;
/// The largest delta-seconds value we keep apart (RFC 9111 §1.2.2): bigger ones,
/// overflowing ones included, count as this, so an absurd `Age` makes a response stale.
pub const DELTA_MAX: u64 = 1 << 31;
/// Variants kept per URL.
const MAX_VARIANTS: usize = 8;

/// Seconds since the epoch.
pub fn unix_now() -> u64 {
    secs(SystemTime::now())
}

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

fn secs(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
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
                let num = arg.and_then(delta_seconds);
                match name.to_ascii_lowercase().as_str() {
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
        }
        cc
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

/// The first value of `name` in a response's fields.
pub fn field<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

fn all_fields<'a>(headers: &'a [(String, String)], name: &'a str) -> impl Iterator<Item = &'a str> {
    headers
        .iter()
        .filter(move |(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

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
        let age_value = field(headers, "age")
            .and_then(|a| delta_seconds(a.trim()))
            .unwrap_or(0);
        headers.retain(|(n, _)| {
            !n.eq_ignore_ascii_case("age") && !n.eq_ignore_ascii_case("content-length")
        });
        let date = field(headers, "date")
            .and_then(parse_http_date)
            .map_or(response_time, secs);
        let apparent_age = response_time.saturating_sub(date);
        let corrected_age = age_value.saturating_add(response_time.saturating_sub(request_time));
        let cc = CacheControl::parse(all_fields(headers, "cache-control"));
        let lifetime = freshness_lifetime(status, headers, &cc, date);
        Entry {
            status,
            headers: std::mem::take(headers),
            body,
            vary,
            response_time,
            initial_age: apparent_age.max(corrected_age),
            lifetime,
            cc,
        }
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

/// The stored variants of one URL, oldest first; shared so that a lookup holds the lock
/// only to clone this.
type Variants = Arc<Vec<Arc<Entry>>>;

/// The shared cache: URL → its stored variants, in an LRU bounded by bytes.
pub struct Cache {
    lru: Mutex<Lru<Variants>>,
    max_object: usize,
    fill: FillBudget,
}

impl Cache {
    /// A cache of `capacity` bytes holding no object over `max_object` bytes.
    pub fn new(capacity: usize, max_object: usize) -> Self {
        Cache {
            lru: Mutex::new(Lru::new(capacity, max_object.saturating_add(64 * 1024))),
            max_object,
            fill: FillBudget::new(capacity / 4),
        }
    }

    /// What fills may queue for stalled clients beyond the cache's bytes: a quarter of
    /// its capacity (see [`super::fill`]).
    pub fn fill_budget(&self) -> &FillBudget {
        &self.fill
    }

    /// Largest body stored.
    pub fn max_object(&self) -> usize {
        self.max_object
    }

    /// The stored variant of `url` that matches the request's `Vary` fields (selected
    /// after the lock is released).
    pub fn lookup(&self, url: &str, req: &Headers) -> Option<Arc<Entry>> {
        let variants = self.lru.lock().ok()?.get(url)?.clone();
        variants.iter().rev().find(|e| e.matches(req)).cloned()
    }

    /// Stores `entry` for `url`, replacing the variant with the same `Vary` values. The
    /// new variant list is built outside the lock.
    pub fn insert(&self, url: &str, entry: Entry) {
        if entry.body.len() > self.max_object {
            return;
        }
        let entry = Arc::new(entry);
        let old = self
            .lru
            .lock()
            .ok()
            .and_then(|l| l.peek(url).cloned())
            .unwrap_or_default();
        let mut variants: Vec<Arc<Entry>> = old
            .iter()
            .filter(|e| e.vary != entry.vary)
            .cloned()
            .collect();
        variants.push(entry);
        if variants.len() > MAX_VARIANTS {
            variants.remove(0);
        }
        let weight = variants.iter().map(|e| e.weight()).sum();
        if let Ok(mut lru) = self.lru.lock() {
            lru.insert(url.to_string(), Arc::new(variants), weight);
        }
    }

    /// Removes every variant of `url`; true if there was one.
    pub fn invalidate(&self, url: &str) -> bool {
        self.lru
            .lock()
            .is_ok_and(|mut lru| lru.remove(url).is_some())
    }

    /// `(URLs, bytes)` held.
    pub fn usage(&self) -> (usize, usize) {
        self.lru.lock().map_or((0, 0), |l| (l.len(), l.bytes()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use reactor::date::format_http_date;
    use std::time::Duration;

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

    #[test]
    fn cache_bounds_and_invalidation() {
        let none = Headers::default();
        let c = Cache::new(4096, 1000);
        let big = Entry::new(200, vec![], Arc::from(vec![0u8; 1001]), &none, T, T);
        c.insert("http://h/big", big);
        assert!(c.lookup("http://h/big", &none).is_none());
        for i in 0..20 {
            c.insert(
                &format!("http://h/{i}"),
                Entry::new(200, vec![], Arc::from(vec![0u8; 500]), &none, T, T),
            );
        }
        let (n, bytes) = c.usage();
        assert!(bytes <= 4096 && n < 20 && n > 0);
        assert!(c.lookup("http://h/19", &none).is_some());
        assert!(c.lookup("http://h/0", &none).is_none());
        c.invalidate("http://h/19");
        assert!(c.lookup("http://h/19", &none).is_none());
    }
}
