//! The `Range` request header (RFC 9110 §14), byte ranges only.
//!
//! Policy:
//! * a range unit other than `bytes` (compared case-insensitively) is
//!   ignored: [`RangeOutcome::Full`];
//! * any syntax error, including `a-b` with `b < a`, a number too large for
//!   `u64`, or whitespace inside a range-spec, ignores the whole header
//!   ([`RangeOutcome::Full`]), as RFC 9110 §14.2 permits;
//! * optional whitespace around commas and empty list elements (`0-1,,2-3`)
//!   are accepted (RFC 9110 §5.6.1);
//! * more than [`MAX_RANGES`] range-specs ignores the header: a cheap guard
//!   against many-small-ranges amplification (RFC 9110 §14.2 allows ignoring
//!   or rejecting such requests);
//! * unsatisfiable specs (`start >= len`, `-0`, any spec when `len == 0`) are
//!   dropped; if none remains the outcome is [`RangeOutcome::Unsatisfiable`]
//!   (416);
//! * if any two satisfiable ranges overlap or are adjacent, all ranges are
//!   sorted and coalesced; otherwise the client's order is kept.
//!
//! ```
//! use reactor_handlers::range::{content_range, parse_range, ByteRange, RangeOutcome};
//!
//! let r = parse_range("bytes=0-99, -50", 1000);
//! let want = vec![ByteRange { start: 0, end: 99 }, ByteRange { start: 950, end: 999 }];
//! assert_eq!(r, RangeOutcome::Partial(want));
//! assert_eq!(content_range(ByteRange { start: 0, end: 99 }, 1000), "bytes 0-99/1000");
//! assert_eq!(parse_range("bytes=5000-", 1000), RangeOutcome::Unsatisfiable);
//! assert_eq!(parse_range("lines=1-2", 1000), RangeOutcome::Full);
//! ```

/// At most this many range-specs are considered; more ignores the header.
pub const MAX_RANGES: usize = 32;

/// One satisfiable byte range, inclusive bounds, already clipped to the
/// representation length.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ByteRange {
    /// First byte offset (inclusive).
    pub start: u64,
    /// Last byte offset (inclusive).
    pub end: u64,
}

impl ByteRange {
    /// Number of bytes in the range (`end - start + 1`; 0 if malformed with
    /// `end < start`).
    #[allow(clippy::len_without_is_empty)]
    pub fn len(&self) -> u64 {
        if self.end < self.start {
            0
        } else {
            (self.end - self.start).saturating_add(1)
        }
    }
}

/// What to send for a Range header against a representation of `len` bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RangeOutcome {
    /// Ignore the header: send the whole representation (200).
    Full,
    /// Send these ranges (206); one range is a single part, several are
    /// `multipart/byteranges`. Never empty.
    Partial(Vec<ByteRange>),
    /// No range is satisfiable (416 with `Content-Range: bytes */len`).
    Unsatisfiable,
}

/// A syntactically valid range-spec, before applying the length.
enum Spec {
    /// `first-` or `first-last`.
    From(u64, Option<u64>),
    /// `-suffix`.
    Suffix(u64),
}

fn number(s: &str) -> Option<u64> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

fn parse_spec(s: &str) -> Option<Spec> {
    let (first, last) = s.split_once('-')?;
    if first.is_empty() {
        return Some(Spec::Suffix(number(last)?));
    }
    let first = number(first)?;
    if last.is_empty() {
        return Some(Spec::From(first, None));
    }
    let last = number(last)?;
    if last < first {
        return None;
    }
    Some(Spec::From(first, Some(last)))
}

fn satisfiable(spec: Spec, len: u64) -> Option<ByteRange> {
    if len == 0 {
        return None;
    }
    match spec {
        Spec::From(start, _) if start >= len => None,
        Spec::From(start, last) => Some(ByteRange {
            start,
            end: last.map_or(len - 1, |l| l.min(len - 1)),
        }),
        Spec::Suffix(0) => None,
        Spec::Suffix(n) => Some(ByteRange {
            start: len.saturating_sub(n),
            end: len - 1,
        }),
    }
}

/// Parses a `Range` header value against a representation of `len` bytes.
/// See the module docs for the policy.
pub fn parse_range(header: &str, len: u64) -> RangeOutcome {
    let ows = |c: char| c == ' ' || c == '\t';
    let Some((unit, set)) = header.trim_matches(ows).split_once('=') else {
        return RangeOutcome::Full;
    };
    if !unit.eq_ignore_ascii_case("bytes") {
        return RangeOutcome::Full;
    }
    let mut specs = Vec::new();
    for element in set.split(',') {
        let element = element.trim_matches(ows);
        if element.is_empty() {
            continue;
        }
        if specs.len() == MAX_RANGES {
            return RangeOutcome::Full;
        }
        match parse_spec(element) {
            Some(spec) => specs.push(spec),
            None => return RangeOutcome::Full,
        }
    }
    if specs.is_empty() {
        return RangeOutcome::Full;
    }
    let mut ranges: Vec<ByteRange> = specs
        .into_iter()
        .filter_map(|s| satisfiable(s, len))
        .collect();
    if ranges.is_empty() {
        return RangeOutcome::Unsatisfiable;
    }
    coalesce_if_needed(&mut ranges);
    RangeOutcome::Partial(ranges)
}

/// If any two ranges overlap or touch, replaces `ranges` by the sorted union;
/// otherwise leaves the client's order alone.
fn coalesce_if_needed(ranges: &mut Vec<ByteRange>) {
    if ranges.len() < 2 {
        return;
    }
    let mut sorted = ranges.clone();
    sorted.sort_by_key(|r| (r.start, r.end));
    let touches = sorted
        .windows(2)
        .any(|w| w[1].start <= w[0].end.saturating_add(1));
    if !touches {
        return;
    }
    let mut merged: Vec<ByteRange> = Vec::with_capacity(sorted.len());
    for r in sorted {
        match merged.last_mut() {
            Some(last) if r.start <= last.end.saturating_add(1) => {
                last.end = last.end.max(r.end);
            }
            _ => merged.push(r),
        }
    }
    *ranges = merged;
}

/// The `Content-Range` value for a 206 part: `bytes START-END/LEN`.
///
/// ```
/// use reactor_handlers::range::{content_range, ByteRange};
/// assert_eq!(content_range(ByteRange { start: 5, end: 9 }, 10), "bytes 5-9/10");
/// ```
pub fn content_range(r: ByteRange, len: u64) -> String {
    format!("bytes {}-{}/{}", r.start, r.end, len)
}

/// The `Content-Range` value for a 416 response: `bytes */LEN`.
///
/// ```
/// assert_eq!(reactor_handlers::range::content_range_unsatisfied(10), "bytes */10");
/// ```
pub fn content_range_unsatisfied(len: u64) -> String {
    format!("bytes */{len}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn br(start: u64, end: u64) -> ByteRange {
        ByteRange { start, end }
    }
    fn partial(v: &[(u64, u64)]) -> RangeOutcome {
        RangeOutcome::Partial(v.iter().map(|&(s, e)| br(s, e)).collect())
    }
    use RangeOutcome::{Full, Unsatisfiable};

    #[test]
    fn vectors() {
        let cases: Vec<(&str, u64, RangeOutcome)> = vec![
            // Basic forms.
            ("bytes=0-499", 10_000, partial(&[(0, 499)])),
            ("bytes=500-999", 10_000, partial(&[(500, 999)])),
            ("bytes=-500", 10_000, partial(&[(9500, 9999)])),
            ("bytes=9500-", 10_000, partial(&[(9500, 9999)])),
            ("bytes=0-0", 10_000, partial(&[(0, 0)])),
            ("bytes=-1", 10_000, partial(&[(9999, 9999)])),
            ("bytes=0-", 10_000, partial(&[(0, 9999)])),
            // Clipping.
            ("bytes=0-99999", 10_000, partial(&[(0, 9999)])),
            ("bytes=-99999", 10_000, partial(&[(0, 9999)])),
            ("bytes=9999-20000", 10_000, partial(&[(9999, 9999)])),
            ("bytes=0-18446744073709551615", 10, partial(&[(0, 9)])),
            ("bytes=-18446744073709551615", 10, partial(&[(0, 9)])),
            // Unit case-insensitive, whitespace.
            ("BYTES=0-1", 10, partial(&[(0, 1)])),
            ("Bytes=0-1", 10, partial(&[(0, 1)])),
            ("  bytes=0-1  ", 10, partial(&[(0, 1)])),
            ("bytes=0-1 , 5-6", 10, partial(&[(0, 1), (5, 6)])),
            ("bytes=0-1,\t5-6", 10, partial(&[(0, 1), (5, 6)])),
            ("bytes= 0-1", 10, partial(&[(0, 1)])),
            ("bytes=0-1,,5-6,", 10, partial(&[(0, 1), (5, 6)])),
            ("bytes=,0-1", 10, partial(&[(0, 1)])),
            // Client order kept when disjoint.
            ("bytes=5-6,0-1", 10, partial(&[(5, 6), (0, 1)])),
            ("bytes=-2,0-1", 10, partial(&[(8, 9), (0, 1)])),
            // Coalescing: overlap, adjacency, containment, duplicates.
            ("bytes=0-5,3-8", 10, partial(&[(0, 8)])),
            ("bytes=0-4,5-9", 10, partial(&[(0, 9)])),
            ("bytes=5-9,0-4", 10, partial(&[(0, 9)])),
            ("bytes=0-9,2-3", 10, partial(&[(0, 9)])),
            ("bytes=1-1,1-1", 10, partial(&[(1, 1)])),
            ("bytes=8-9,0-1,1-2", 10, partial(&[(0, 2), (8, 9)])),
            ("bytes=0-1,-5,4-4", 10, partial(&[(0, 1), (4, 9)])),
            ("bytes=0-,5-", 10, partial(&[(0, 9)])),
            // Unsatisfiable specs are dropped.
            ("bytes=20-30,0-1", 10, partial(&[(0, 1)])),
            ("bytes=-0,0-1", 10, partial(&[(0, 1)])),
            ("bytes=10-", 10, Unsatisfiable),
            ("bytes=10-20", 10, Unsatisfiable),
            ("bytes=-0", 10, Unsatisfiable),
            ("bytes=10-,11-12", 10, Unsatisfiable),
            ("bytes=0-0", 0, Unsatisfiable),
            ("bytes=-5", 0, Unsatisfiable),
            ("bytes=0-", 0, Unsatisfiable),
            // Syntax errors ignore the header.
            ("", 10, Full),
            ("bytes", 10, Full),
            ("bytes=", 10, Full),
            ("bytes=,", 10, Full),
            ("bytes=-", 10, Full),
            ("bytes=5", 10, Full),
            ("bytes=5-3", 10, Full),
            ("bytes=0-1,5-3", 10, Full),
            ("bytes=0-1,junk", 10, Full),
            ("bytes=a-b", 10, Full),
            ("bytes=0 - 1", 10, Full),
            ("bytes=0--1", 10, Full),
            ("bytes=--1", 10, Full),
            ("bytes=+1-2", 10, Full),
            ("bytes=1-+2", 10, Full),
            ("bytes=0x1-2", 10, Full),
            ("bytes=1-2-3", 10, Full),
            ("bytes=1-2;3-4", 10, Full),
            ("bytes =0-1", 10, Full),
            ("bytes==0-1", 10, Full),
            ("bytes=0-1=", 10, Full),
            ("bites=0-1", 10, Full),
            ("items=0-1", 10, Full),
            ("none", 10, Full),
            ("=0-1", 10, Full),
            ("bytes=\u{661}-2", 10, Full),
            // Overflow.
            ("bytes=18446744073709551616-", 10, Full),
            ("bytes=0-18446744073709551616", 10, Full),
            ("bytes=-18446744073709551616", 10, Full),
            ("bytes=99999999999999999999999999-", 10, Full),
            // Large lengths.
            (
                "bytes=-1",
                u64::MAX,
                partial(&[(u64::MAX - 1, u64::MAX - 1)]),
            ),
            ("bytes=0-", u64::MAX, partial(&[(0, u64::MAX - 1)])),
        ];
        for (header, len, want) in cases {
            assert_eq!(parse_range(header, len), want, "{header:?} len {len}");
        }
    }

    #[test]
    fn range_count_limit() {
        let at_limit: Vec<String> = (0..MAX_RANGES)
            .map(|i| format!("{}-{}", i * 3, i * 3))
            .collect();
        let header = format!("bytes={}", at_limit.join(","));
        match parse_range(&header, 1000) {
            RangeOutcome::Partial(v) => assert_eq!(v.len(), MAX_RANGES),
            other => panic!("{other:?}"),
        }
        let over = format!("{header},500-501");
        assert_eq!(parse_range(&over, 1000), Full);
        // Empty elements do not count.
        let padded = format!("bytes=,,{},,", at_limit.join(",,"));
        assert!(matches!(
            parse_range(&padded, 1000),
            RangeOutcome::Partial(_)
        ));
    }

    #[test]
    fn byte_range_len() {
        assert_eq!(br(0, 0).len(), 1);
        assert_eq!(br(5, 9).len(), 5);
        assert_eq!(br(0, u64::MAX).len(), u64::MAX);
        assert_eq!(br(9, 5).len(), 0);
    }

    #[test]
    fn content_range_format() {
        assert_eq!(content_range(br(0, 499), 1234), "bytes 0-499/1234");
        assert_eq!(content_range(br(0, 0), 1), "bytes 0-0/1");
        assert_eq!(content_range_unsatisfied(0), "bytes */0");
    }

    fn check_outcome(header: &str, len: u64) -> Result<(), TestCaseError> {
        match parse_range(header, len) {
            RangeOutcome::Partial(v) => {
                prop_assert!(!v.is_empty() && v.len() <= MAX_RANGES);
                for r in &v {
                    prop_assert!(r.start <= r.end && r.end < len, "{:?} len {}", r, len);
                }
                // Either client order with no overlap/adjacency, or sorted and merged.
                let mut sorted = v.clone();
                sorted.sort_by_key(|r| r.start);
                for w in sorted.windows(2) {
                    prop_assert!(w[0].end + 1 < w[1].start, "{:?}", v);
                }
            }
            RangeOutcome::Full | RangeOutcome::Unsatisfiable => {}
        }
        Ok(())
    }

    proptest! {
        #[test]
        fn arbitrary_headers_never_panic(header in "\\PC{0,64}", len in any::<u64>()) {
            check_outcome(&header, len)?;
        }

        #[test]
        fn rangy_headers_are_well_formed(
            header in "(bytes|BYTES|x)=([0-9]{0,3}-[0-9]{0,3}|-[0-9]{1,2}| |,){0,40}",
            len in 0u64..1200,
        ) {
            check_outcome(&header, len)?;
        }

        #[test]
        fn single_valid_range(start in 0u64..2000, extra in 0u64..2000, len in 0u64..2000) {
            let end = start + extra;
            let got = parse_range(&format!("bytes={start}-{end}"), len);
            if start >= len {
                prop_assert_eq!(got, Unsatisfiable);
            } else {
                prop_assert_eq!(got, partial(&[(start, end.min(len - 1))]));
            }
        }
    }
}
