//! Request head + body framing: `parse_head` on arbitrary bytes, then the body decoder on
//! the rest. Checks that nothing panics, that lengths stay in bounds, and that feeding the
//! input in two pieces (as a connection does) gives the same result as all at once.
#![no_main]

use libfuzzer_sys::fuzz_target;
use reactor::body::BodyDecoder;
use reactor::parse::{parse_head, HttpError, Limits};
use reactor::request::Framing;

#[derive(Debug, PartialEq)]
enum Outcome {
    NeedMore,
    Refused(HttpError),
    Parsed {
        head: usize,
        method: String,
        target: String,
        framing: Framing,
        body: Result<(Vec<u8>, usize, bool), HttpError>,
    },
}

fn limits() -> Limits {
    Limits {
        max_head: 4096,
        max_headers: 32,
        max_uri: 1024,
        max_body: 64 * 1024,
    }
}

/// Parses the head from `data`, then decodes the body from the rest, feeding the decoder
/// the body bytes in two pieces split at `split`.
fn run(data: &[u8], split: usize) -> Outcome {
    let peer = "127.0.0.1:9".parse().expect("literal address");
    let limits = limits();
    let (req, used) = match parse_head(data, &limits, peer) {
        Ok(None) => return Outcome::NeedMore,
        Err(e) => {
            assert!((400..600).contains(&e.status), "{e:?}");
            return Outcome::Refused(e);
        }
        Ok(Some(found)) => found,
    };
    assert!(used <= data.len());
    assert!(used <= limits.max_head + 16);
    assert!(req.target.len() <= limits.max_uri);
    let rest = &data[used..];
    let mut decoder = BodyDecoder::new(req.framing(), limits.max_body);
    let mut out = Vec::new();
    let split = split.min(rest.len());
    let body = (|| {
        let a = decoder.decode(&rest[..split], &mut out)?;
        let mut n = a;
        if a == split && !decoder.is_done() {
            n += decoder.decode(&rest[split..], &mut out)?;
        }
        assert!(n <= rest.len());
        assert!(out.len() as u64 <= limits.max_body);
        if let Framing::Length(len) = req.framing() {
            assert_eq!(decoder.is_done(), out.len() as u64 == len);
        }
        Ok((out, n, decoder.is_done()))
    })();
    Outcome::Parsed {
        head: used,
        framing: req.framing(),
        method: req.method,
        target: req.target,
        body,
    }
}

fuzz_target!(|input: &[u8]| {
    let Some((&s, data)) = input.split_first() else {
        return;
    };
    let whole = run(data, usize::MAX);
    let split = run(data, usize::from(s) * 4);
    assert_eq!(whole, split);
    // A prefix never completes a different request than the whole.
    if let Outcome::Parsed { head, .. } = &whole {
        for cut in [*head / 2, head.saturating_sub(1)] {
            match run(&data[..cut], usize::MAX) {
                Outcome::NeedMore | Outcome::Refused(_) => {}
                Outcome::Parsed { head: h, .. } => assert!(h <= cut),
            }
        }
    }
});
