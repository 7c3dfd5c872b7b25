//! Answers from stored entries: the client's conditionals (304), `Age`, `Via`, `X-Cache`.

use std::time::UNIX_EPOCH;

use reactor::date::parse_http_date;
use reactor::{Body, Request, Response};

use super::cache::{unix_now, Entry};
use super::{headers, CacheState, Inner};
use crate::conditional::{evaluate, Conditions, Precondition, Validators};

impl Inner {
    /// A response from a stored entry: the client's conditionals answered (304), `Age`,
    /// `Via` and `X-Cache` added, the body shared.
    pub(crate) fn serve(&self, entry: &Entry, req: &Request, state: CacheState) -> Response {
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
        let bytes = (req.method != "HEAD").then_some(entry.body.len() as u64);
        self.log(req, entry.status, bytes, state.as_str());
        let mut r = Response::new(entry.status);
        r.headers.reserve(entry.headers.len() + 3);
        for (n, v) in &entry.headers {
            r.headers.push((n.clone().into(), v.clone().into()));
        }
        if entry.body.is_empty() {
            r.headers.push(("Content-Length".into(), "0".into()));
        } else {
            r.body = Body::from(entry.body.clone());
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
    let lm = entry.last_modified().and_then(parse_http_date);
    let ims = req.header("if-modified-since").filter(|_| lm.is_some());
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
        last_modified: lm.unwrap_or(UNIX_EPOCH),
    };
    evaluate(true, &c, &v) == Precondition::NotModified
}
