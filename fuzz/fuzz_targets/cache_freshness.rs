//! The cache's freshness, age and `Vary` code on arbitrary response fields, request fields
//! and clock readings (debug assertions on, so any overflow panics): no panic; an age never
//! exceeds 2^31 and never decreases as the clock moves on; a fresh answer is younger than
//! its lifetime; Vary names are distinct, lower-case and at most 32; a stored selection
//! matches the request it was taken from.
//!
//! Input: three 8-byte clock readings, then text: response field lines, a blank line,
//! request field lines (`Name: value`, one per line).
#![no_main]

use libfuzzer_sys::fuzz_target;
use reactor::parse::{parse_head, Limits};
use reactor_handlers::proxy::cache::{CacheControl, Entry, Use, DELTA_MAX};
use reactor_handlers::proxy::vary::{vary_names, Selection, MAX_VARY_NAMES};
use std::sync::Arc;

fn fields(text: &str) -> Vec<(String, String)> {
    text.lines()
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_string(), v.trim().to_string()))
        .filter(|(n, _)| !n.is_empty())
        .collect()
}

fuzz_target!(|input: &[u8]| {
    if input.len() < 24 {
        return;
    }
    let clock = |i: usize| u64::from_le_bytes(input[i * 8..i * 8 + 8].try_into().unwrap());
    let (request_time, response_time, now) = (clock(0), clock(1), clock(2));
    let text = String::from_utf8_lossy(&input[24..]);
    let (resp, req) = text.split_once("\n\n").unwrap_or((&text, ""));
    let resp = fields(resp);
    let mut raw = b"GET / HTTP/1.1\r\nHost: a\r\n".to_vec();
    for (n, v) in fields(req) {
        raw.extend_from_slice(format!("{n}: {v}\r\n").as_bytes());
    }
    raw.extend_from_slice(b"\r\n");
    let peer = "127.0.0.1:1".parse().unwrap();
    let Ok(Some((req, _))) = parse_head(&raw, &Limits::default(), peer) else {
        return;
    };

    if let Some(names) = vary_names(&resp) {
        assert!(names.len() <= MAX_VARY_NAMES);
        for (i, n) in names.iter().enumerate() {
            assert_eq!(*n, n.to_ascii_lowercase());
            assert!(!names[..i].contains(n), "{names:?}");
        }
        assert!(Selection::of(names, &req.headers).matches(&req.headers));
    }

    let e = Entry::new(
        200,
        resp,
        Arc::from(&b"body"[..]),
        &req.headers,
        request_time,
        response_time,
    );
    assert!(e.vary.matches(&req.headers));
    let _ = e.weight();
    let age = e.age(now);
    assert!(age <= DELTA_MAX);
    assert!(e.age(now.saturating_add(1)) >= age);
    let _ = e.staleness(now);
    let _ = e.stale_if_error(now);
    let cc = CacheControl::of_request(&req.headers);
    if e.usable(&cc, now) == Use::Fresh {
        assert!(age < e.lifetime, "age {age} lifetime {}", e.lifetime);
    }
    let _ = e.updated(&e.headers, request_time, now);
});
