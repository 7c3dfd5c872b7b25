//! The proxy's request-target parsers on arbitrary text: no panics; an accepted absolute or
//! path-form target has a non-empty host, an origin-form path starting with '/', no
//! whitespace or control characters, and parses again to itself from its normalised URL;
//! an accepted CONNECT authority has a non-empty host.
#![no_main]

use libfuzzer_sys::fuzz_target;
use reactor_handlers::proxy::target::{parse_absolute, parse_authority, parse_proxy_target};

fuzz_target!(|input: &[u8]| {
    let text = String::from_utf8_lossy(input);
    if let Ok(t) = parse_proxy_target(&text) {
        assert!(!t.host.is_empty(), "{text:?}");
        assert!(t.path.starts_with('/'), "{text:?} -> {t:?}");
        assert!(
            !t.path.chars().chain(t.host.chars()).any(|c| c.is_whitespace() || c.is_control()),
            "{text:?} -> {t:?}"
        );
        let again = parse_absolute(&t.url()).expect("a normalised URL parses");
        assert_eq!(again, t, "{text:?}");
    }
    if let Ok((host, _port)) = parse_authority(&text) {
        assert!(!host.is_empty(), "{text:?}");
    }
});
