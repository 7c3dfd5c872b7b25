//! Tests of the date module (kept apart so the module stays short).

use super::*;
use proptest::prelude::*;

fn at(secs: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(secs)
}

#[test]
fn known_vectors_format() {
    let cases: &[(u64, &str)] = &[
        (0, "Thu, 01 Jan 1970 00:00:00 GMT"),
        (784_111_777, "Sun, 06 Nov 1994 08:49:37 GMT"),
        (951_782_400, "Tue, 29 Feb 2000 00:00:00 GMT"),
        (1_000_000_000, "Sun, 09 Sep 2001 01:46:40 GMT"),
        (1_234_567_890, "Fri, 13 Feb 2009 23:31:30 GMT"),
        (2_147_483_647, "Tue, 19 Jan 2038 03:14:07 GMT"),
        (4_107_542_399, "Sun, 28 Feb 2100 23:59:59 GMT"),
        (4_107_542_400, "Mon, 01 Mar 2100 00:00:00 GMT"),
        (MAX_SECS, "Fri, 31 Dec 9999 23:59:59 GMT"),
    ];
    for &(secs, s) in cases {
        assert_eq!(format_http_date(at(secs)), s, "{secs}");
        assert_eq!(&http_date_bytes(at(secs)), s.as_bytes());
        assert_eq!(parse_http_date(s), Some(at(secs)), "{s}");
    }
}

#[test]
fn format_ignores_subsecond_and_clamps() {
    let t = at(784_111_777) + Duration::from_millis(999);
    assert_eq!(format_http_date(t), "Sun, 06 Nov 1994 08:49:37 GMT");
    let before = UNIX_EPOCH - Duration::from_secs(86_400);
    assert_eq!(format_http_date(before), "Thu, 01 Jan 1970 00:00:00 GMT");
    assert_eq!(
        format_http_date(at(MAX_SECS + 1_000_000)),
        "Fri, 31 Dec 9999 23:59:59 GMT"
    );
}

#[test]
fn parse_three_formats() {
    let t = Some(at(784_111_777));
    assert_eq!(parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT"), t);
    // RFC 850 two-digit years depend on the current year; pin it.
    assert_eq!(
        parse_with_current_year("Sunday, 06-Nov-94 08:49:37 GMT", 2026),
        t
    );
    assert_eq!(parse_http_date("Sun Nov  6 08:49:37 1994"), t);
    assert_eq!(parse_http_date("Sun Nov 06 08:49:37 1994"), t);
    assert_eq!(parse_http_date("  Sun, 06 Nov 1994 08:49:37 GMT\t"), t);
    assert_eq!(
        parse_with_current_year("Wednesday, 31-Dec-99 23:59:59 GMT", 2026),
        Some(at(946_684_799))
    );
    assert_eq!(
        parse_http_date("Sat Jan  1 00:00:00 2000"),
        Some(at(946_684_800))
    );
}

#[test]
fn parse_leap_second_and_leap_day() {
    assert_eq!(
        parse_http_date("Sat, 31 Dec 2016 23:59:60 GMT"),
        Some(at(1_483_228_800))
    );
    assert!(parse_http_date("Tue, 29 Feb 2000 12:00:00 GMT").is_some());
    assert!(parse_http_date("Thu, 29 Feb 2024 12:00:00 GMT").is_some());
    assert_eq!(parse_http_date("Mon, 29 Feb 2100 12:00:00 GMT"), None);
    assert_eq!(parse_http_date("Tue, 29 Feb 2023 12:00:00 GMT"), None);
}

#[test]
fn parse_before_epoch() {
    assert_eq!(
        parse_http_date("Wed, 31 Dec 1969 23:59:59 GMT"),
        UNIX_EPOCH.checked_sub(Duration::from_secs(1))
    );
}

#[test]
fn rfc850_year_window() {
    assert_eq!(expand_two_digit_year(94, 2026), 1994);
    assert_eq!(expand_two_digit_year(26, 2026), 2026);
    assert_eq!(expand_two_digit_year(76, 2026), 2076);
    assert_eq!(expand_two_digit_year(77, 2026), 1977);
    assert_eq!(expand_two_digit_year(0, 2026), 2000);
    assert_eq!(expand_two_digit_year(10, 2080), 2110);
    assert_eq!(expand_two_digit_year(31, 2080), 2031);
    assert_eq!(expand_two_digit_year(30, 2080), 2130);
    assert_eq!(expand_two_digit_year(29, 2080), 2129);
    assert_eq!(
        parse_with_current_year("Sunday, 06-Nov-94 08:49:37 GMT", 2026),
        Some(at(784_111_777))
    );
}

#[test]
fn invalid_inputs() {
    let bad = [
        "",
        " ",
        "garbage",
        "Sun, 06 Nov 1994 08:49:37 GMT junk",
        "Sun, 06 Nov 1994 08:49:37 GMTx",
        "Sun, 06 Nov 1994 08:49:37 UTC",
        "Sun, 06 Nov 1994 08:49:37 gmt",
        "sun, 06 Nov 1994 08:49:37 GMT",
        "Sun, 06 nov 1994 08:49:37 GMT",
        "Xyz, 06 Nov 1994 08:49:37 GMT",
        "Sun, 06 Foo 1994 08:49:37 GMT",
        "Sun, 00 Nov 1994 08:49:37 GMT",
        "Sun, 31 Nov 1994 08:49:37 GMT",
        "Sun, 32 Jan 1994 08:49:37 GMT",
        "Sun, 06 Nov 1994 24:00:00 GMT",
        "Sun, 06 Nov 1994 08:60:00 GMT",
        "Sun, 06 Nov 1994 08:49:61 GMT",
        "Sun, 6 Nov 1994 08:49:37 GMT",
        "Sun, 06 Nov 94 08:49:37 GMT",
        "Sun, 06 Nov 1994 8:49:37 GMT",
        "Sun, 06 Nov 1994 08-49-37 GMT",
        "Sun, +6 Nov 1994 08:49:37 GMT",
        "Sun, 06 Nov 1994 08:49:3a GMT",
        "Sun,  06 Nov 1994 08:49:37 GMT",
        "Sun, 06 Nov 1994 08:49:37",
        "Sunday, 06-Nov-1994 08:49:37 GMT",
        "Sunday, 06-Nov-94 08:49:37 GMT junk",
        "Sunday, 06 Nov 94 08:49:37 GMT",
        "Sundae, 06-Nov-94 08:49:37 GMT",
        "Sunday, 31-Feb-94 08:49:37 GMT",
        "Sun Nov  6 08:49:37 1994 GMT",
        "Sun Nov 6 08:49:37 1994",
        "Sun Nov  6 08:49:37 94",
        "Sun Nov  6 25:49:37 1994",
        "Sun Nov  0 08:49:37 1994",
        "Sun Nov x6 08:49:37 1994",
        "Sun, 06 Nov 1994 08:49:37 GMT\n",
        "Sun, 06 Nov 1994 08:49:37 GMT\u{e9}",
        "\u{e9}\u{e9}, 06 Nov 1994 08:49:37 GMT",
        "Sun, 06 Nov 1994 08:49:37 GM\u{e9}",
        ",,,,",
        "Sunday,",
    ];
    for s in bad {
        assert_eq!(parse_http_date(s), None, "{s:?}");
    }
}

#[test]
fn calendar_helpers_agree() {
    for days in -800_000..800_000i64 {
        let (y, m, d) = civil_from_days(days);
        assert!((1..=12).contains(&m) && d >= 1 && d <= days_in_month(y, m));
        assert_eq!(days_from_civil(y, m, d), days);
    }
}

proptest! {
    #[test]
    fn round_trip(secs in 0u64..=MAX_SECS) {
        let s = format_http_date(at(secs));
        prop_assert_eq!(s.len(), 29);
        prop_assert_eq!(parse_http_date(&s), Some(at(secs)));
    }

    #[test]
    fn asctime_round_trip(secs in 0u64..=MAX_SECS) {
        let imf = format_http_date(at(secs));
        // "Sun, 06 Nov 1994 08:49:37 GMT" -> "Sun Nov  6 08:49:37 1994"
        let day = imf[5..7].trim_start_matches('0');
        let asc = format!("{} {} {:>2} {} {}", &imf[0..3], &imf[8..11], day, &imf[17..25], &imf[12..16]);
        prop_assert_eq!(parse_http_date(&asc), Some(at(secs)));
    }

    #[test]
    fn never_panics(s in "\\PC{0,40}") {
        let _ = parse_http_date(&s);
    }

    #[test]
    fn mutated_dates_never_panic(secs in 0u64..=MAX_SECS, pos in 0usize..29, byte in any::<u8>()) {
        let mut b = http_date_bytes(at(secs)).to_vec();
        b[pos] = byte;
        if let Ok(s) = String::from_utf8(b) {
            let _ = parse_http_date(&s);
        }
    }
}
