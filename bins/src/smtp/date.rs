//! RFC 5322 `Date:` values.

use std::time::SystemTime;

/// Formats `time` as e.g. `Tue, 03 Mar 2026 07:05:09 +0000` (UTC): the HTTP date with a
/// numeric zone, which RFC 5322 prefers to `GMT`.
pub fn rfc5322(time: SystemTime) -> String {
    let http = reactor::date::format_http_date(time);
    format!("{} +0000", http.trim_end_matches(" GMT"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, UNIX_EPOCH};

    #[test]
    fn formats_known_dates() {
        assert_eq!(rfc5322(UNIX_EPOCH), "Thu, 01 Jan 1970 00:00:00 +0000");
        let t = UNIX_EPOCH + Duration::from_secs(1_709_251_200 + 3_723);
        assert_eq!(rfc5322(t), "Fri, 01 Mar 2024 01:02:03 +0000");
    }
}
