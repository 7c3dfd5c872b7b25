//! The Range header parser against a representation length: no panics, and every range
//! it returns lies inside the representation, with overlapping ranges merged.
#![no_main]

use libfuzzer_sys::fuzz_target;
use reactor_handlers::range::{content_range, parse_range, RangeOutcome, MAX_RANGES};

fuzz_target!(|input: &[u8]| {
    if input.len() < 8 {
        return;
    }
    let (len_bytes, header) = input.split_at(8);
    let mut len = u64::from_le_bytes(len_bytes.try_into().expect("8 bytes"));
    // Mostly small lengths (where ranges interact), sometimes huge ones.
    if len_bytes[7] & 0x80 == 0 {
        len %= 4096;
    }
    let header = String::from_utf8_lossy(header);
    if let RangeOutcome::Partial(ranges) = parse_range(&header, len) {
        assert!(!ranges.is_empty() && ranges.len() <= MAX_RANGES);
        for r in &ranges {
            assert!(r.start <= r.end && r.end < len, "{r:?} of {len}");
            assert!(r.len() >= 1 && r.len() <= len);
            let _ = content_range(*r, len);
        }
        let mut sorted = ranges.clone();
        sorted.sort_by_key(|r| r.start);
        for w in sorted.windows(2) {
            assert!(w[0].end + 1 < w[1].start, "{ranges:?}");
        }
    }
});
