//! What the cache's unit tests share: header lists and dates from short literals.

use std::time::{Duration, UNIX_EPOCH};

use reactor::date::format_http_date;

/// A moment to build test dates around (November 2023).
pub const T: u64 = 1_700_000_000;

/// Owned header pairs from literals.
pub fn h(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(n, v)| (n.to_string(), v.to_string()))
        .collect()
}

/// The HTTP date `t` seconds after the epoch.
pub fn date(t: u64) -> String {
    format_http_date(UNIX_EPOCH + Duration::from_secs(t))
}
