//! The request-path resolver: no panics, and whatever it accepts stays under the root —
//! a relative path of normal components without NUL, control characters or backslashes,
//! that resolves to itself again once re-encoded.
#![no_main]

use std::path::Component;

use libfuzzer_sys::fuzz_target;
use reactor_handlers::path::{encode_path, resolve};

fuzz_target!(|input: &[u8]| {
    let Some((&flags, rest)) = input.split_first() else {
        return;
    };
    let Ok(raw) = std::str::from_utf8(rest) else {
        return;
    };
    let dotfiles = flags & 1 == 1;
    let Ok(r) = resolve(raw, dotfiles) else {
        return;
    };
    assert!(r.decoded.starts_with('/'));
    for c in r.relative.components() {
        let Component::Normal(name) = c else {
            panic!("{raw:?} resolved to {:?}", r.relative);
        };
        let name = name.to_str().expect("resolved names are UTF-8");
        assert!(!name.is_empty() && name != "." && name != "..");
        assert!(!name.bytes().any(|b| b < 0x20 || b == 0x7f || b == b'\\'));
        assert!(dotfiles || !name.starts_with('.'));
    }
    // Re-encoding the decoded path gives a path that resolves to the same place.
    let again = resolve(&encode_path(&r.decoded), dotfiles).expect("re-encoded path resolves");
    assert_eq!(again.relative, r.relative);
    assert_eq!(again.decoded, r.decoded);
});
