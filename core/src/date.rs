//! HTTP dates (RFC 9110 §5.6.7): formatting and parsing.
use std::time::SystemTime;

/// Formats `t` as an IMF-fixdate, e.g. `Sun, 06 Nov 1994 08:49:37 GMT`.
pub fn format_http_date(t: SystemTime) -> String {
    let _ = t;
    String::from("Thu, 01 Jan 1970 00:00:00 GMT")
}

/// Parses an HTTP date in any of the three formats RFC 9110 accepts.
pub fn parse_http_date(s: &str) -> Option<SystemTime> {
    let _ = s;
    None
}
