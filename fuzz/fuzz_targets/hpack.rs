//! The HPACK decoder on arbitrary header blocks: no panic, bounded output, and whatever
//! decodes re-encodes and decodes again to the same fields.
#![no_main]

use libfuzzer_sys::fuzz_target;
use reactor::h2::hpack::{entry_size, Decoder, Encoder, Indexing};

const LIMIT: usize = 8 * 1024;

fuzz_target!(|input: &[u8]| {
    let mut dec = Decoder::new(4096);
    let mut enc = Encoder::new(4096);
    let mut check = Decoder::new(4096);
    // Several blocks in one input, split at a backslash, share the dynamic table.
    for block in input.split(|&b| b == 0x5c) {
        match dec.decode(block, LIMIT) {
            Ok(fields) => {
                let size: usize = fields.iter().map(|(n, v)| entry_size(n, v)).sum();
                assert!(size <= LIMIT);
                assert!(dec.table().size() <= dec.table().max_size());
                let mut out = Vec::new();
                enc.encode(
                    &mut out,
                    fields
                        .iter()
                        .map(|(n, v)| (n.as_slice(), v.as_slice(), Indexing::for_response(n))),
                );
                assert_eq!(check.decode(&out, usize::MAX).expect("our own block decodes"), fields);
            }
            Err(e) if e.is_compression_error() => return,
            Err(_) => {}
        }
    }
});
