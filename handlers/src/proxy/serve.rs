//! Answers from stored entries: the client's conditionals (304), a single byte range of a
//! complete stored response (206, RFC 9111 §3.4 allows a cache to answer ranges from what
//! it holds), `Age`, `Via`, `X-Cache`.

use std::fs::File;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use reactor::date::parse_http_date;
use reactor::{Body, Request, Response};

use super::cache::{field, unix_now, Entry};
use super::{headers, CacheState, Inner};
use crate::conditional::{evaluate, if_range_matches, Conditions, Precondition, Validators};
use crate::range::{
    content_range, content_range_unsatisfied, parse_range, ByteRange, RangeOutcome,
};

impl Inner {
    /// A response from a stored entry: the client's conditionals answered (304), `Age`,
    /// `Via` and `X-Cache` added, the body shared.
    pub(crate) fn serve(&self, entry: &Entry, req: &Request, state: CacheState) -> Response {
        self.serve_from(entry, &Payload::Shared(entry.body.clone()), req, state)
    }

    /// [`Inner::serve`] with the body in `payload` (a disk-tier file, say) rather than in
    /// the entry.
    pub(crate) fn serve_from(
        &self,
        entry: &Entry,
        payload: &Payload,
        req: &Request,
        state: CacheState,
    ) -> Response {
        let now = unix_now();
        let age = entry.age(now).to_string();
        if entry.status == 200 && not_modified(entry, req) {
            self.log(req, 304, None, state.as_str());
            let mut r = Response::new(304);
            for (n, v) in &entry.headers {
                let keep = [
                    "etag",
                    "last-modified",
                    "cache-control",
                    "expires",
                    "vary",
                    "content-location",
                    "date",
                ]
                .iter()
                .any(|k| n.eq_ignore_ascii_case(k));
                if keep {
                    r.headers.push((n.clone().into(), v.clone().into()));
                }
            }
            return r
                .with_header("Age", age)
                .with_header("Via", headers::VIA)
                .with_header("X-Cache", state.as_str());
        }
        let len = payload.len();
        let ranged = ranged_answer(entry, len, req);
        let status = ranged.as_ref().map_or(entry.status, |(s, _, _)| *s);
        let range = ranged.as_ref().and_then(|(_, _, r)| *r);
        let sent = range.map_or(len, |r| r.len());
        let bytes = (req.method != "HEAD").then_some(sent);
        self.log(req, status, bytes, state.as_str());
        let mut r = Response::new(status);
        r.headers.reserve(entry.headers.len() + 4);
        for (n, v) in &entry.headers {
            r.headers.push((n.clone().into(), v.clone().into()));
        }
        if let Some((_, content_range, _)) = ranged {
            r.headers
                .push(("Content-Range".into(), content_range.into()));
        }
        if sent == 0 {
            r.headers.push(("Content-Length".into(), "0".into()));
        } else {
            r.body = payload.part(range.map_or(0, |r| r.start), sent);
        }
        r.with_header("Age", age)
            .with_header("Via", headers::VIA)
            .with_header("X-Cache", state.as_str())
    }
}

/// The client's If-None-Match / If-Modified-Since against a stored entry.
fn not_modified(entry: &Entry, req: &Request) -> bool {
    if !req.is_get_or_head() {
        return false;
    }
    let inm = req.header("if-none-match");
    let lm = modified(entry);
    let ims = req.header("if-modified-since");
    if inm.is_none() && ims.is_none() {
        return false;
    }
    let c = Conditions {
        if_none_match: inm,
        if_modified_since: ims,
        ..Default::default()
    };
    let v = Validators {
        etag: entry.etag().unwrap_or(""),
        last_modified: lm,
    };
    evaluate(true, &c, &v) == Precondition::NotModified
}

/// When the stored response last changed, for `If-Modified-Since` (RFC 9110 §13.1.3): its
/// `Last-Modified`, else its `Date`, else when it was received.
fn modified(entry: &Entry) -> SystemTime {
    entry
        .last_modified()
        .and_then(parse_http_date)
        .or_else(|| field(&entry.headers, "date").and_then(parse_http_date))
        .unwrap_or(UNIX_EPOCH + Duration::from_secs(entry.response_time))
}

/// A GET's single byte range of a complete stored 200 of `len` bytes (`If-Range`
/// permitting): the status (206, or 416 when unsatisfiable), `Content-Range` and the
/// range. `None`: the whole response (no range, several ranges, or not a 200).
fn ranged_answer(
    entry: &Entry,
    len: u64,
    req: &Request,
) -> Option<(u16, String, Option<ByteRange>)> {
    let range = req.header("range")?;
    if entry.status != 200 || req.method != "GET" {
        return None;
    }
    let v = Validators {
        etag: entry.etag().unwrap_or(""),
        last_modified: entry
            .last_modified()
            .and_then(parse_http_date)
            .unwrap_or(UNIX_EPOCH),
    };
    if !if_range_matches(req.header("if-range"), &v) {
        return None;
    }
    match parse_range(range, len) {
        RangeOutcome::Partial(r) if r.len() == 1 => {
            Some((206, content_range(r[0], len), Some(r[0])))
        }
        RangeOutcome::Unsatisfiable => Some((416, content_range_unsatisfied(len), None)),
        _ => None,
    }
}

/// Where a stored body is.
pub(crate) enum Payload {
    /// In memory, shared by every hit.
    Shared(Arc<[u8]>),
    /// In a disk-tier file: the file, where the body starts, its length.
    File(Arc<File>, u64, u64),
}

impl Payload {
    fn len(&self) -> u64 {
        match self {
            Payload::Shared(b) => b.len() as u64,
            Payload::File(_, _, len) => *len,
        }
    }

    /// `len` bytes from `start` (within the body) as a response body: the shared bytes
    /// themselves when whole, a copy of a part, or a region of the file.
    fn part(&self, start: u64, len: u64) -> Body {
        match self {
            Payload::Shared(b) if start == 0 && len == b.len() as u64 => Body::from(b.clone()),
            Payload::Shared(b) => {
                let (from, to) = (start as usize, (start + len) as usize);
                Body::from(b.get(from..to).unwrap_or_default().to_vec())
            }
            Payload::File(f, offset, _) => Body::file(f.clone(), offset + start, len),
        }
    }
}
