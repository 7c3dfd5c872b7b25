//! Conditional requests (RFC 9110 §13): preconditions, `If-Range` and file
//! entity-tags.
//!
//! Policy details:
//! * Dates are compared at one-second precision: `last_modified` is truncated
//!   (towards the past) to whole seconds.
//! * Entity-tag lists are parsed properly: a tag is `"..."` or `W/"..."`, it
//!   may contain commas, and list members are separated by commas with
//!   optional whitespace (empty members are skipped). `*` is only valid on
//!   its own.
//! * A malformed `If-Match` matches nothing (so the request fails with 412:
//!   we cannot prove the precondition holds); a malformed `If-None-Match`
//!   matches nothing (so the request proceeds) but, being present, still
//!   causes `If-Modified-Since` to be ignored.
//! * Invalid dates in `If-Unmodified-Since` / `If-Modified-Since` are ignored,
//!   as RFC 9110 requires. A date in the future is not treated specially.
//!
//! ```
//! use std::time::{Duration, UNIX_EPOCH};
//! use reactor_handlers::conditional::{evaluate, file_etag, Conditions, Precondition, Validators};
//!
//! let mtime = UNIX_EPOCH + Duration::from_secs(784111777);
//! let etag = file_etag(mtime, 4096);
//! assert_eq!(etag, "\"2ebc98a1-1000\"");
//! let v = Validators { etag: &etag, last_modified: mtime };
//! let c = Conditions { if_none_match: Some("W/\"2ebc98a1-1000\""), ..Default::default() };
//! assert_eq!(evaluate(true, &c, &v), Precondition::NotModified);
//! assert_eq!(evaluate(false, &c, &v), Precondition::Failed);
//! ```
use reactor::date::parse_http_date;
use std::time::{SystemTime, UNIX_EPOCH};

/// The validators of the selected representation.
#[derive(Debug, Clone, Copy)]
pub struct Validators<'a> {
    /// The representation's entity-tag including quotes, e.g. `"5f3a-1a2b"`
    /// (strong) or `W/"x"` (weak).
    pub etag: &'a str,
    /// The representation's modification time.
    pub last_modified: SystemTime,
}

/// Request header values (raw) relevant to preconditions.
#[derive(Debug, Clone, Copy, Default)]
pub struct Conditions<'a> {
    /// `If-Match`.
    pub if_match: Option<&'a str>,
    /// `If-None-Match`.
    pub if_none_match: Option<&'a str>,
    /// `If-Modified-Since`.
    pub if_modified_since: Option<&'a str>,
    /// `If-Unmodified-Since`.
    pub if_unmodified_since: Option<&'a str>,
}

/// The result of evaluating preconditions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Precondition {
    /// Carry on with the request (maybe honouring `Range`).
    Proceed,
    /// 304 Not Modified.
    NotModified,
    /// 412 Precondition Failed.
    Failed,
}

/// A parsed entity-tag: weakness and the opaque tag including its quotes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct EntityTag<'a> {
    weak: bool,
    opaque: &'a str,
}

/// Parses one entity-tag at the start of `s`; returns it and the rest.
fn parse_etag_prefix(s: &str) -> Option<(EntityTag<'_>, &str)> {
    let (weak, body) = match s.strip_prefix("W/") {
        Some(rest) => (true, rest),
        None => (false, s),
    };
    let inner = body.strip_prefix('"')?;
    let close = inner.find('"')?;
    // etagc = %x21 / %x23-7E / obs-text: no controls, spaces or DEL inside.
    if inner[..close].bytes().any(|b| b <= 0x20 || b == 0x7f) {
        return None;
    }
    let opaque = &body[..close + 2];
    Some((EntityTag { weak, opaque }, &inner[close + 1..]))
}

/// Parses a whole entity-tag (`v.etag`), refusing trailing junk.
fn parse_etag(s: &str) -> Option<EntityTag<'_>> {
    match parse_etag_prefix(s.trim_matches(is_ows))? {
        (tag, "") => Some(tag),
        _ => None,
    }
}

fn is_ows(c: char) -> bool {
    c == ' ' || c == '\t'
}

/// An `If-Match` / `If-None-Match` value.
enum EtagList<'a> {
    Any,
    /// A well-formed, non-empty list of entity-tags (walked again by [`EtagList::tags`],
    /// so that checking a condition allocates nothing).
    Tags(&'a str),
}

impl<'a> EtagList<'a> {
    /// The tags of a `Tags` list (none for `Any`).
    fn tags(&self) -> impl Iterator<Item = EntityTag<'a>> {
        let list = match self {
            EtagList::Any => "",
            EtagList::Tags(list) => list,
        };
        EtagIter(list).flatten()
    }
}

/// Walks `1#entity-tag`: each item is a tag, or `None` (then the end) where the list is
/// malformed.
struct EtagIter<'a>(&'a str);

impl<'a> Iterator for EtagIter<'a> {
    type Item = Option<EntityTag<'a>>;
    fn next(&mut self) -> Option<Self::Item> {
        let rest = self.0.trim_start_matches(|c| is_ows(c) || c == ',');
        if rest.is_empty() {
            return None;
        }
        self.0 = "";
        let (tag, after) = match parse_etag_prefix(rest) {
            Some(parsed) => parsed,
            None => return Some(None),
        };
        let after = after.trim_start_matches(is_ows);
        if !(after.is_empty() || after.starts_with(',')) {
            return Some(None);
        }
        self.0 = after;
        Some(Some(tag))
    }
}

/// Parses `"*"` or `1#entity-tag`; `None` if malformed.
fn parse_etag_list(s: &str) -> Option<EtagList<'_>> {
    let s = s.trim_matches(is_ows);
    if s == "*" {
        return Some(EtagList::Any);
    }
    let mut count = 0;
    for tag in EtagIter(s) {
        tag?;
        count += 1;
    }
    (count > 0).then_some(EtagList::Tags(s))
}

fn strong_eq(a: EntityTag, b: EntityTag) -> bool {
    !a.weak && !b.weak && a.opaque == b.opaque
}

fn weak_eq(a: EntityTag, b: EntityTag) -> bool {
    a.opaque == b.opaque
}

/// Does the list header `value` match the current tag under `cmp`?
/// Malformed values match nothing.
fn list_matches(value: &str, current: &str, cmp: fn(EntityTag, EntityTag) -> bool) -> bool {
    match parse_etag_list(value) {
        Some(EtagList::Any) => true,
        Some(list) => parse_etag(current).is_some_and(|cur| list.tags().any(|t| cmp(t, cur))),
        None => false,
    }
}

/// True when an `If-None-Match` value matches entity-tag `current` (weak comparison;
/// `*` matches; a malformed value matches nothing).
pub fn none_match(value: &str, current: &str) -> bool {
    list_matches(value, current, weak_eq)
}

/// Whole seconds since the epoch, rounded towards the past.
fn unix_secs(t: SystemTime) -> i128 {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => i128::from(d.as_secs()),
        Err(e) => {
            let d = e.duration();
            let whole = i128::from(d.as_secs());
            if d.subsec_nanos() > 0 {
                -whole - 1
            } else {
                -whole
            }
        }
    }
}

fn parse_secs(s: &str) -> Option<i128> {
    parse_http_date(s).map(unix_secs)
}

/// Evaluates in RFC 9110 §13.2.2 order: If-Match (strong compare; `*`
/// matches) → else If-Unmodified-Since; then If-None-Match (weak compare;
/// `*`) → 304 for GET/HEAD, 412 otherwise; else If-Modified-Since (GET/HEAD
/// only; ignored when If-None-Match present; invalid dates ignored).
pub fn evaluate(is_get_or_head: bool, c: &Conditions, v: &Validators) -> Precondition {
    // Only a date condition needs it (most requests have none).
    let modified = || unix_secs(v.last_modified);
    // Steps 1 and 2.
    if let Some(im) = c.if_match {
        if !list_matches(im, v.etag, strong_eq) {
            return Precondition::Failed;
        }
    } else if let Some(date) = c.if_unmodified_since.and_then(parse_secs) {
        if modified() > date {
            return Precondition::Failed;
        }
    }
    // Steps 3 and 4.
    if let Some(inm) = c.if_none_match {
        if list_matches(inm, v.etag, weak_eq) {
            return if is_get_or_head {
                Precondition::NotModified
            } else {
                Precondition::Failed
            };
        }
    } else if is_get_or_head {
        if let Some(date) = c.if_modified_since.and_then(parse_secs) {
            if modified() <= date {
                return Precondition::NotModified;
            }
        }
    }
    Precondition::Proceed
}

/// If-Range: true when the Range header should be honoured (absent
/// If-Range, strong ETag match, or an HTTP-date exactly equal to
/// Last-Modified at one-second precision). A weak or malformed entity-tag,
/// or an invalid date, means "do not honour Range" (send the full
/// representation).
///
/// ```
/// use std::time::UNIX_EPOCH;
/// use reactor_handlers::conditional::{if_range_matches, Validators};
/// let v = Validators { etag: "\"a-1\"", last_modified: UNIX_EPOCH };
/// assert!(if_range_matches(None, &v));
/// assert!(if_range_matches(Some("\"a-1\""), &v));
/// assert!(!if_range_matches(Some("W/\"a-1\""), &v));
/// assert!(if_range_matches(Some("Thu, 01 Jan 1970 00:00:00 GMT"), &v));
/// ```
pub fn if_range_matches(if_range: Option<&str>, v: &Validators) -> bool {
    let Some(value) = if_range else {
        return true;
    };
    let value = value.trim_matches(is_ows);
    if value.starts_with('"') || value.starts_with("W/") {
        return match (parse_etag(value), parse_etag(v.etag)) {
            (Some(a), Some(b)) => strong_eq(a, b),
            _ => false,
        };
    }
    parse_secs(value) == Some(unix_secs(v.last_modified))
}

/// Strong ETag for a file: `"<mtime secs hex>-<len hex>"` (nginx style).
/// Times before 1970 use 0 seconds.
///
/// ```
/// use std::time::{Duration, UNIX_EPOCH};
/// let t = UNIX_EPOCH + Duration::from_secs(0x5f3a);
/// assert_eq!(reactor_handlers::conditional::file_etag(t, 0x1a2b), "\"5f3a-1a2b\"");
/// ```
pub fn file_etag(mtime: SystemTime, len: u64) -> String {
    let secs = mtime.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    format!("\"{secs:x}-{len:x}\"")
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::time::Duration;
    use Precondition::*;

    const T: u64 = 784_111_777; // Sun, 06 Nov 1994 08:49:37 GMT
    const AT: &str = "Sun, 06 Nov 1994 08:49:37 GMT";
    const BEFORE: &str = "Sun, 06 Nov 1994 08:49:36 GMT";
    const AFTER: &str = "Sun, 06 Nov 1994 08:49:38 GMT";

    fn v() -> Validators<'static> {
        Validators {
            etag: "\"abc\"",
            // Sub-second part must be ignored.
            last_modified: UNIX_EPOCH + Duration::from_secs(T) + Duration::from_millis(700),
        }
    }

    fn eval(get: bool, c: Conditions) -> Precondition {
        evaluate(get, &c, &v())
    }

    #[test]
    fn no_conditions() {
        assert_eq!(eval(true, Conditions::default()), Proceed);
        assert_eq!(eval(false, Conditions::default()), Proceed);
    }

    #[test]
    fn if_match() {
        let c = |s| Conditions {
            if_match: Some(s),
            ..Default::default()
        };
        for (value, want) in [
            ("\"abc\"", Proceed),
            ("*", Proceed),
            (" * ", Proceed),
            ("\"x\", \"abc\"", Proceed),
            ("\"x\",\"abc\"", Proceed),
            (",\"abc\",", Proceed),
            ("\"a,b\", \"abc\"", Proceed),
            ("\"xyz\"", Failed),
            ("W/\"abc\"", Failed), // weak never matches strongly
            ("\"ABC\"", Failed),
            ("abc", Failed),   // malformed
            ("\"abc", Failed), // malformed
            ("\"abc\" junk", Failed),
            ("\"abc\"\"abc\"", Failed),
            ("*, \"abc\"", Failed),
            ("", Failed),
            ("\"a b\"", Failed),
        ] {
            assert_eq!(eval(true, c(value)), want, "{value:?}");
            assert_eq!(eval(false, c(value)), want, "{value:?}");
        }
    }

    #[test]
    fn if_match_takes_precedence_over_if_unmodified_since() {
        // If-Match passes: If-Unmodified-Since (which would fail) is not evaluated.
        let c = Conditions {
            if_match: Some("\"abc\""),
            if_unmodified_since: Some(BEFORE),
            ..Default::default()
        };
        assert_eq!(eval(false, c), Proceed);
        // If-Match fails even though If-Unmodified-Since would pass.
        let c = Conditions {
            if_match: Some("\"nope\""),
            if_unmodified_since: Some(AFTER),
            ..Default::default()
        };
        assert_eq!(eval(false, c), Failed);
    }

    #[test]
    fn if_unmodified_since() {
        let c = |s| Conditions {
            if_unmodified_since: Some(s),
            ..Default::default()
        };
        assert_eq!(eval(false, c(AT)), Proceed); // equal at 1 s precision
        assert_eq!(eval(false, c(AFTER)), Proceed);
        assert_eq!(eval(false, c(BEFORE)), Failed);
        assert_eq!(eval(true, c(BEFORE)), Failed);
        assert_eq!(eval(false, c("Sunday, 06-Nov-94 08:49:37 GMT")), Proceed);
        assert_eq!(eval(false, c("Sun Nov  6 08:49:36 1994")), Failed);
        assert_eq!(eval(false, c("garbage")), Proceed); // invalid → ignored
        assert_eq!(eval(false, c("")), Proceed);
    }

    #[test]
    fn if_none_match() {
        let c = |s| Conditions {
            if_none_match: Some(s),
            ..Default::default()
        };
        for (value, hit) in [
            ("\"abc\"", true),
            ("W/\"abc\"", true), // weak comparison
            ("*", true),
            ("\"x\", W/\"abc\"", true),
            ("\"a,\\\", \"abc\"", true),
            ("\"xyz\"", false),
            ("W/\"xyz\", \"q\"", false),
            ("abc", false), // malformed
            ("\"abc\" x", false),
            ("", false),
        ] {
            let (get, other) = if hit {
                (NotModified, Failed)
            } else {
                (Proceed, Proceed)
            };
            assert_eq!(eval(true, c(value)), get, "{value:?}");
            assert_eq!(eval(false, c(value)), other, "{value:?}");
        }
    }

    #[test]
    fn weak_current_etag() {
        let v = Validators {
            etag: "W/\"abc\"",
            last_modified: UNIX_EPOCH,
        };
        let inm = Conditions {
            if_none_match: Some("\"abc\""),
            ..Default::default()
        };
        assert_eq!(evaluate(true, &inm, &v), NotModified);
        let im = Conditions {
            if_match: Some("\"abc\""),
            ..Default::default()
        };
        assert_eq!(evaluate(true, &im, &v), Failed);
        let star = Conditions {
            if_match: Some("*"),
            ..Default::default()
        };
        assert_eq!(evaluate(true, &star, &v), Proceed);
    }

    #[test]
    fn if_modified_since() {
        let c = |s| Conditions {
            if_modified_since: Some(s),
            ..Default::default()
        };
        assert_eq!(eval(true, c(AT)), NotModified);
        assert_eq!(eval(true, c(AFTER)), NotModified);
        assert_eq!(eval(true, c(BEFORE)), Proceed);
        assert_eq!(eval(true, c("Sun Nov  6 08:49:37 1994")), NotModified);
        assert_eq!(eval(true, c("nonsense")), Proceed);
        assert_eq!(
            eval(true, c("Sun, 06 Nov 1994 08:49:37 GMT; length=12")),
            Proceed
        );
        // Only for GET/HEAD.
        assert_eq!(eval(false, c(AT)), Proceed);
    }

    #[test]
    fn if_none_match_overrides_if_modified_since() {
        // Non-matching If-None-Match: If-Modified-Since is ignored → full response.
        let c = Conditions {
            if_none_match: Some("\"other\""),
            if_modified_since: Some(AFTER),
            ..Default::default()
        };
        assert_eq!(eval(true, c), Proceed);
        // Malformed If-None-Match is still "present".
        let c = Conditions {
            if_none_match: Some("garbage"),
            if_modified_since: Some(AFTER),
            ..Default::default()
        };
        assert_eq!(eval(true, c), Proceed);
        // Matching If-None-Match with old If-Modified-Since: still 304.
        let c = Conditions {
            if_none_match: Some("\"abc\""),
            if_modified_since: Some(BEFORE),
            ..Default::default()
        };
        assert_eq!(eval(true, c), NotModified);
    }

    #[test]
    fn failed_if_unmodified_since_wins_over_if_none_match() {
        let c = Conditions {
            if_unmodified_since: Some(BEFORE),
            if_none_match: Some("\"abc\""),
            ..Default::default()
        };
        assert_eq!(eval(true, c), Failed);
        let c = Conditions {
            if_match: Some("\"abc\""),
            if_none_match: Some("\"abc\""),
            ..Default::default()
        };
        assert_eq!(eval(true, c), NotModified);
        assert_eq!(eval(false, c), Failed);
    }

    #[test]
    fn if_range() {
        let v = v();
        assert!(if_range_matches(None, &v));
        assert!(if_range_matches(Some("\"abc\""), &v));
        assert!(if_range_matches(Some(" \"abc\" "), &v));
        assert!(!if_range_matches(Some("W/\"abc\""), &v));
        assert!(!if_range_matches(Some("\"xyz\""), &v));
        assert!(!if_range_matches(Some("\"abc\", \"xyz\""), &v));
        assert!(!if_range_matches(Some("\"abc"), &v));
        assert!(if_range_matches(Some(AT), &v));
        assert!(if_range_matches(Some("Sunday, 06-Nov-94 08:49:37 GMT"), &v));
        assert!(!if_range_matches(Some(AFTER), &v));
        assert!(!if_range_matches(Some(BEFORE), &v));
        assert!(!if_range_matches(Some("garbage"), &v));
        assert!(!if_range_matches(Some(""), &v));
        let weak = Validators {
            etag: "W/\"abc\"",
            ..v
        };
        assert!(!if_range_matches(Some("\"abc\""), &weak));
        assert!(!if_range_matches(Some("W/\"abc\""), &weak));
    }

    #[test]
    fn etag_format() {
        assert_eq!(file_etag(UNIX_EPOCH, 0), "\"0-0\"");
        let t = UNIX_EPOCH + Duration::from_secs(0x5f3a) + Duration::from_millis(5);
        assert_eq!(file_etag(t, 0x1a2b), "\"5f3a-1a2b\"");
        assert_eq!(file_etag(UNIX_EPOCH - Duration::from_secs(5), 1), "\"0-1\"");
        assert_eq!(file_etag(UNIX_EPOCH, u64::MAX), "\"0-ffffffffffffffff\"");
        assert!(parse_etag(&file_etag(t, 7)).is_some_and(|e| !e.weak));
    }

    #[test]
    fn etag_list_parsing() {
        let tags = |s| match parse_etag_list(s) {
            Some(list @ EtagList::Tags(_)) => list.tags().map(|t| (t.weak, t.opaque)).collect(),
            Some(EtagList::Any) => vec![(false, "*")],
            None => vec![],
        };
        assert_eq!(
            tags("\"a\", W/\"b,c\" ,\t\"\""),
            vec![(false, "\"a\""), (true, "\"b,c\""), (false, "\"\"")]
        );
        assert_eq!(tags("*"), vec![(false, "*")]);
        assert!(tags("w/\"a\"").is_empty());
        assert!(tags("\"a\" \"b\"").is_empty());
        assert!(tags(", ,").is_empty());
    }

    #[test]
    fn pre_epoch_truncation() {
        let t = UNIX_EPOCH - Duration::from_millis(500);
        assert_eq!(unix_secs(t), -1);
        assert_eq!(unix_secs(UNIX_EPOCH - Duration::from_secs(2)), -2);
        let v = Validators {
            etag: "\"x\"",
            last_modified: t,
        };
        // HTTP dates before 1970 are not parsed (reactor::date): If-Range fails safe and the
        // whole representation is sent.
        assert!(!if_range_matches(Some("Wed, 31 Dec 1969 23:59:59 GMT"), &v));
    }

    proptest! {
        #[test]
        fn never_panics(a in "\\PC{0,40}", b in "\\PC{0,40}", c in "\\PC{0,40}", d in "\\PC{0,40}",
                        e in "\\PC{0,20}", get in any::<bool>(), secs in any::<u32>()) {
            let cond = Conditions {
                if_match: Some(&a),
                if_none_match: Some(&b),
                if_modified_since: Some(&c),
                if_unmodified_since: Some(&d),
            };
            let v = Validators { etag: &e, last_modified: UNIX_EPOCH + Duration::from_secs(u64::from(secs)) };
            let _ = evaluate(get, &cond, &v);
            let _ = if_range_matches(Some(&a), &v);
        }

        #[test]
        fn own_etag_always_matches(secs in any::<u32>(), len in any::<u64>()) {
            let t = UNIX_EPOCH + Duration::from_secs(u64::from(secs));
            let tag = file_etag(t, len);
            let v = Validators { etag: &tag, last_modified: t };
            let c = Conditions { if_match: Some(&tag), if_none_match: Some(&tag), ..Default::default() };
            prop_assert_eq!(evaluate(true, &c, &v), NotModified);
            prop_assert!(if_range_matches(Some(&tag), &v));
            let date = reactor::date::format_http_date(t);
            prop_assert!(if_range_matches(Some(&date), &v));
        }
    }
}
