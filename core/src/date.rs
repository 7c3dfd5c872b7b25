//! HTTP dates (RFC 9110 §5.6.7): formatting and parsing, without chrono.
//!
//! Formatting always produces the preferred IMF-fixdate form
//! (`Sun, 06 Nov 1994 08:49:37 GMT`). Parsing accepts IMF-fixdate and the two
//! obsolete forms recipients must still understand: RFC 850
//! (`Sunday, 06-Nov-94 08:49:37 GMT`) and ANSI C `asctime()`
//! (`Sun Nov  6 08:49:37 1994`).
//!
//! Range policy:
//! * Formatting clamps times before 1970-01-01 to the epoch and times after
//!   9999-12-31 23:59:59 to that instant (the format has a four-digit year).
//! * Parsing accepts years 0000..=9999 (two-digit RFC 850 years are expanded
//!   per RFC 9110 §5.6.7) and returns times before 1970 as `SystemTime`s before
//!   `UNIX_EPOCH`; `None` only if the platform cannot represent the instant.
//! * Names (`Sun`, `Nov`, `GMT`) are case-sensitive, as the grammar says. The
//!   day name must be a valid one but is not checked against the date.
//! * A seconds value of `60` (leap second) is accepted and counts as the first
//!   second of the next minute.
//! * Surrounding optional whitespace (spaces, tabs) is ignored; anything else
//!   that does not fit the grammar, including trailing junk, yields `None`.
//!
//! ```
//! use std::time::{Duration, UNIX_EPOCH};
//! use reactor::date::{format_http_date, parse_http_date};
//!
//! let t = UNIX_EPOCH + Duration::from_secs(784111777);
//! assert_eq!(format_http_date(t), "Sun, 06 Nov 1994 08:49:37 GMT");
//! assert_eq!(parse_http_date("Sunday, 06-Nov-94 08:49:37 GMT"), Some(t));
//! assert_eq!(parse_http_date("Sun Nov  6 08:49:37 1994"), Some(t));
//! ```
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Largest instant IMF-fixdate can express: 9999-12-31T23:59:59Z.
const MAX_SECS: u64 = 253_402_300_799;

const DAY_NAMES: [&[u8; 3]; 7] = [b"Sun", b"Mon", b"Tue", b"Wed", b"Thu", b"Fri", b"Sat"];
const LONG_DAY_NAMES: [&str; 7] = [
    "Sunday",
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
];
const MONTH_NAMES: [&[u8; 3]; 12] = [
    b"Jan", b"Feb", b"Mar", b"Apr", b"May", b"Jun", b"Jul", b"Aug", b"Sep", b"Oct", b"Nov", b"Dec",
];

/// Days since 1970-01-01 of the civil date `y-m-d` (proleptic Gregorian).
/// Howard Hinnant's `days_from_civil`. `m` in 1..=12, `d` in 1..=31.
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400; // [0, 399]
    let mp = i64::from((m + 9) % 12); // March = 0
    let doy = (153 * mp + 2) / 5 + i64::from(d) - 1; // [0, 365]
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy; // [0, 146096]
    era * 146_097 + doe - 719_468
}

/// Civil date `(year, month 1..=12, day 1..=31)` of a day count since
/// 1970-01-01. Howard Hinnant's `civil_from_days`.
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = if z >= 0 { z } else { z - 146_096 } / 146_097;
    let doe = z - era * 146_097; // [0, 146096]
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365; // [0, 399]
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100); // [0, 365]
    let mp = (5 * doy + 2) / 153; // [0, 11]
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32; // [1, 31]
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32; // [1, 12]
    (if m <= 2 { y + 1 } else { y }, m, d)
}

fn is_leap(y: i64) -> bool {
    y % 4 == 0 && (y % 100 != 0 || y % 400 == 0)
}

fn days_in_month(y: i64, m: u32) -> u32 {
    match m {
        2 if is_leap(y) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Seconds since the epoch, clamped to `0..=MAX_SECS`.
fn clamped_secs(t: SystemTime) -> u64 {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => d.as_secs().min(MAX_SECS),
        Err(_) => 0,
    }
}

fn put2(out: &mut [u8], v: u32) {
    out[0] = b'0' + (v / 10 % 10) as u8;
    out[1] = b'0' + (v % 10) as u8;
}

/// A UTC calendar date and time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Civil {
    /// Year (0..=9999).
    pub year: i64,
    /// Month, 1..=12.
    pub month: u32,
    /// Day of the month, 1..=31.
    pub day: u32,
    /// Hour, 0..=23.
    pub hour: u32,
    /// Minute, 0..=59.
    pub minute: u32,
    /// Second, 0..=59.
    pub second: u32,
    /// Day of the week, 0 = Sunday.
    pub weekday: u32,
}

/// The UTC calendar date and time of `t`, clamped to 0000-01-01 ..= 9999-12-31 23:59:59
/// (a time before the epoch with a fraction of a second rounds towards the past).
///
/// ```
/// use std::time::{Duration, UNIX_EPOCH};
/// let c = reactor::date::civil(UNIX_EPOCH + Duration::from_secs(951_782_400));
/// assert_eq!((c.year, c.month, c.day, c.weekday), (2000, 2, 29, 2));
/// ```
pub fn civil(t: SystemTime) -> Civil {
    const MIN: i64 = -62_167_219_200; // 0000-01-01T00:00:00Z
    const MAX: i64 = MAX_SECS as i64;
    let secs = match t.duration_since(UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_secs()).unwrap_or(MAX),
        Err(e) => {
            let d = e.duration();
            let s = i64::try_from(d.as_secs()).unwrap_or(i64::MAX);
            let s = if d.subsec_nanos() > 0 {
                s.saturating_add(1)
            } else {
                s
            };
            s.saturating_neg()
        }
    }
    .clamp(MIN, MAX);
    let days = secs.div_euclid(86_400);
    let sod = secs.rem_euclid(86_400) as u32;
    let (year, month, day) = civil_from_days(days);
    Civil {
        year,
        month,
        day,
        hour: sod / 3600,
        minute: sod / 60 % 60,
        second: sod % 60,
        weekday: (days + 4).rem_euclid(7) as u32, // 1970-01-01 was a Thursday
    }
}

/// IMF-fixdate bytes, e.g. `b"Sun, 06 Nov 1994 08:49:37 GMT"` (always 29
/// bytes). Times outside 1970..=9999 are clamped (see the module docs).
///
/// ```
/// use std::time::UNIX_EPOCH;
/// assert_eq!(&reactor::date::http_date_bytes(UNIX_EPOCH), b"Thu, 01 Jan 1970 00:00:00 GMT");
/// ```
pub fn http_date_bytes(t: SystemTime) -> [u8; 29] {
    let c = civil(UNIX_EPOCH + std::time::Duration::from_secs(clamped_secs(t)));
    let mut out = *b"Thu, 01 Jan 1970 00:00:00 GMT";
    out[0..3].copy_from_slice(DAY_NAMES[c.weekday as usize]);
    put2(&mut out[5..7], c.day);
    out[8..11].copy_from_slice(MONTH_NAMES[(c.month - 1) as usize]);
    let year = c.year as u32; // 1970..=9999 thanks to the clamp
    put2(&mut out[12..14], year / 100);
    put2(&mut out[14..16], year % 100);
    put2(&mut out[17..19], c.hour);
    put2(&mut out[20..22], c.minute);
    put2(&mut out[23..25], c.second);
    out
}

/// Formats `t` as an IMF-fixdate, e.g. `Sun, 06 Nov 1994 08:49:37 GMT`.
/// Times outside 1970..=9999 are clamped (see the module docs).
pub fn format_http_date(t: SystemTime) -> String {
    let bytes = http_date_bytes(t);
    // All bytes written are ASCII.
    bytes.iter().map(|&b| char::from(b)).collect()
}

/// Parses an HTTP date in any of the three formats RFC 9110 accepts:
/// IMF-fixdate, obsolete RFC 850 and asctime. Returns `None` for anything
/// invalid (bad ranges, garbage, trailing junk).
///
/// ```
/// use std::time::{Duration, UNIX_EPOCH};
/// let t = reactor::date::parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT");
/// assert_eq!(t, Some(UNIX_EPOCH + Duration::from_secs(784111777)));
/// assert_eq!(reactor::date::parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT x"), None);
/// ```
pub fn parse_http_date(s: &str) -> Option<SystemTime> {
    parse_with_current_year(s, current_year())
}

fn current_year() -> i64 {
    let secs = match SystemTime::now().duration_since(UNIX_EPOCH) {
        Ok(d) => d.as_secs(),
        Err(_) => 0,
    };
    civil_from_days((secs / 86_400) as i64).0
}

/// The broken-down fields of a parsed date, before validation.
struct Fields {
    year: i64,
    month: u32,
    day: u32,
    hour: u32,
    minute: u32,
    second: u32,
}

fn parse_with_current_year(s: &str, current_year: i64) -> Option<SystemTime> {
    let s = s.trim_matches(|c| c == ' ' || c == '\t').as_bytes();
    let fields = if s.get(3) == Some(&b',') {
        parse_imf_fixdate(s)?
    } else if s.get(3) == Some(&b' ') {
        parse_asctime(s)?
    } else {
        parse_rfc850(s, current_year)?
    };
    to_system_time(&fields)
}

/// The instant of a UTC civil date and time, if it is a valid one.
pub(crate) fn utc(
    year: i64,
    month: u32,
    day: u32,
    hour: u32,
    minute: u32,
    second: u32,
) -> Option<SystemTime> {
    to_system_time(&Fields {
        year,
        month,
        day,
        hour,
        minute,
        second,
    })
}

fn to_system_time(f: &Fields) -> Option<SystemTime> {
    if !(0..=9999).contains(&f.year)
        || !(1..=12).contains(&f.month)
        || f.day < 1
        || f.day > days_in_month(f.year, f.month)
        || f.hour > 23
        || f.minute > 59
        || f.second > 60
    {
        return None;
    }
    let days = days_from_civil(f.year, f.month, f.day);
    let secs =
        days * 86_400 + i64::from(f.hour) * 3600 + i64::from(f.minute) * 60 + i64::from(f.second);
    if secs >= 0 {
        UNIX_EPOCH.checked_add(Duration::from_secs(secs as u64))
    } else {
        UNIX_EPOCH.checked_sub(Duration::from_secs(secs.unsigned_abs()))
    }
}

/// A non-empty run of ASCII digits (at most 9) as a number.
pub(crate) fn digits(b: &[u8]) -> Option<u32> {
    if b.is_empty() || b.len() > 9 {
        return None;
    }
    b.iter().try_fold(0u32, |acc, &c| {
        if c.is_ascii_digit() {
            Some(acc * 10 + u32::from(c - b'0'))
        } else {
            None
        }
    })
}

fn short_day(b: &[u8]) -> Option<()> {
    DAY_NAMES.iter().any(|d| &d[..] == b).then_some(())
}

fn month(b: &[u8]) -> Option<u32> {
    MONTH_NAMES
        .iter()
        .position(|m| &m[..] == b)
        .map(|i| i as u32 + 1)
}

/// `HH:MM:SS` (exactly 8 bytes) → (hour, minute, second).
fn time_of_day(b: &[u8]) -> Option<(u32, u32, u32)> {
    if b.len() != 8 || b[2] != b':' || b[5] != b':' {
        return None;
    }
    Some((digits(&b[0..2])?, digits(&b[3..5])?, digits(&b[6..8])?))
}

/// `Sun, 06 Nov 1994 08:49:37 GMT`
fn parse_imf_fixdate(s: &[u8]) -> Option<Fields> {
    if s.len() != 29
        || &s[3..5] != b", "
        || s[7] != b' '
        || s[11] != b' '
        || s[16] != b' '
        || &s[25..] != b" GMT"
    {
        return None;
    }
    short_day(&s[0..3])?;
    let (hour, minute, second) = time_of_day(&s[17..25])?;
    Some(Fields {
        year: i64::from(digits(&s[12..16])?),
        month: month(&s[8..11])?,
        day: digits(&s[5..7])?,
        hour,
        minute,
        second,
    })
}

/// `Sun Nov  6 08:49:37 1994` (day may also be `06`).
fn parse_asctime(s: &[u8]) -> Option<Fields> {
    if s.len() != 24 || s[3] != b' ' || s[7] != b' ' || s[10] != b' ' || s[19] != b' ' {
        return None;
    }
    short_day(&s[0..3])?;
    let day = match s[8] {
        b' ' => digits(&s[9..10])?,
        _ => digits(&s[8..10])?,
    };
    let (hour, minute, second) = time_of_day(&s[11..19])?;
    Some(Fields {
        year: i64::from(digits(&s[20..24])?),
        month: month(&s[4..7])?,
        day,
        hour,
        minute,
        second,
    })
}

/// `Sunday, 06-Nov-94 08:49:37 GMT`
fn parse_rfc850(s: &[u8], current_year: i64) -> Option<Fields> {
    let comma = s.iter().position(|&c| c == b',')?;
    let name = &s[..comma];
    if !LONG_DAY_NAMES.iter().any(|d| d.as_bytes() == name) {
        return None;
    }
    let rest = &s[comma..];
    // ", 06-Nov-94 08:49:37 GMT"
    if rest.len() != 24
        || &rest[0..2] != b", "
        || rest[4] != b'-'
        || rest[8] != b'-'
        || rest[11] != b' '
        || &rest[20..] != b" GMT"
    {
        return None;
    }
    let yy = i64::from(digits(&rest[9..11])?);
    let (hour, minute, second) = time_of_day(&rest[12..20])?;
    Some(Fields {
        year: expand_two_digit_year(yy, current_year),
        month: month(&rest[5..8])?,
        day: digits(&rest[2..4])?,
        hour,
        minute,
        second,
    })
}

/// RFC 9110 §5.6.7: a two-digit year that appears to be more than 50 years in
/// the future is the most recent past year with the same last two digits.
fn expand_two_digit_year(yy: i64, current_year: i64) -> i64 {
    let century = current_year - current_year.rem_euclid(100);
    let candidate = century + yy;
    // Pick the year with those digits in (current_year - 50, current_year + 50].
    if candidate > current_year + 50 {
        candidate - 100
    } else if candidate <= current_year - 50 {
        candidate + 100
    } else {
        candidate
    }
}

#[cfg(test)]
#[path = "date_tests.rs"]
mod tests;
