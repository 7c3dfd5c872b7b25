//! The proxy's origin-response path on arbitrary bytes: the response-head parser, the
//! end-to-end field filter, the storability rules and building a cache entry (debug
//! assertions on): no panic; a parsed head is no longer than the input; the filtered
//! fields hold no hop-by-hop field.
#![no_main]

use libfuzzer_sys::fuzz_target;
use reactor::Headers;
use reactor_handlers::proxy::cache::{storable, Entry};
use reactor_handlers::proxy::headers::response_fields;
use reactor_handlers::proxy::parse_response_head;
use std::sync::Arc;

fuzz_target!(|input: &[u8]| {
    let Ok(Some((used, status, _version, headers))) = parse_response_head(input) else {
        return;
    };
    assert!(used <= input.len());
    let fields = response_fields(&headers, false);
    for (n, _) in &fields {
        for hop in ["connection", "keep-alive", "transfer-encoding", "content-length"] {
            assert!(!n.eq_ignore_ascii_case(hop), "{n} kept");
        }
    }
    let none = Headers::default();
    if storable(&none, status, &fields) {
        let body: Arc<[u8]> = Arc::from(&input[used..]);
        let e = Entry::new(status, fields, body, &none, 1_700_000_000, 1_700_000_001);
        let _ = e.age(1_700_000_100);
    }
});
