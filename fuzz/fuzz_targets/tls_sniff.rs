//! The parts of the TLS path that are the server's own code rather than rustls': the
//! first-byte sniffing that tells TLS from plaintext, the DER walk that reads a
//! certificate's expiry, and SNI wildcard matching. No panics; and the answers agree with
//! what they must mean.
#![no_main]

use libfuzzer_sys::fuzz_target;
use reactor::tls::{not_after, sniff, wildcard_matches, Sniff};

fuzz_target!(|input: &[u8]| {
    match sniff(input) {
        Sniff::NeedMore => assert!(input.is_empty()),
        Sniff::Tls => assert_eq!(input[0], 0x16),
        Sniff::Plain => assert_ne!(input[0], 0x16),
    }
    let _ = not_after(input);
    let text = String::from_utf8_lossy(input);
    let (pattern, name) = text.split_once('\n').unwrap_or((&text, ""));
    if wildcard_matches(pattern, name) {
        // One non-empty label in front of the pattern's suffix.
        let suffix = &pattern[2..];
        let (label, rest) = name.split_once('.').expect("a dot");
        assert!(!label.is_empty() && rest.eq_ignore_ascii_case(suffix));
    }
});
