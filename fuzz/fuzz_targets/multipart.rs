//! The multipart parser on arbitrary bodies: no panics; fed in two pieces it finds what it
//! finds fed whole; parts' bodies never exceed the input; the held-back tail stays small.
#![no_main]

use libfuzzer_sys::fuzz_target;
use reactor_handlers::multipart::{Event, Parser};

#[derive(Debug, PartialEq)]
enum Owned {
    Part(String, Option<String>),
    Data(Vec<u8>),
    PartEnd,
    End,
}

fn run(pieces: &[&[u8]]) -> (Vec<Owned>, bool) {
    let mut parser = Parser::new("XyZ").with_max_header(200);
    let mut out: Vec<Owned> = Vec::new();
    let mut ok = true;
    for p in pieces {
        let r = parser.feed(p, &mut |e| match (e, out.last_mut()) {
            (Event::Data(d), Some(Owned::Data(prev))) => prev.extend_from_slice(d),
            (Event::Data(d), _) => out.push(Owned::Data(d.to_vec())),
            (Event::Part(part), _) => out.push(Owned::Part(part.name, part.filename)),
            (Event::PartEnd, _) => out.push(Owned::PartEnd),
            (Event::End, _) => out.push(Owned::End),
        });
        ok &= r.is_ok();
    }
    (out, ok && parser.finish().is_ok())
}

fuzz_target!(|input: &[u8]| {
    let Some((&cut, data)) = input.split_first() else {
        return;
    };
    let cut = usize::from(cut) * data.len() / 256;
    let whole = run(&[data]);
    let split = run(&[&data[..cut], &data[cut..]]);
    assert_eq!(whole, split);
    let body: usize = whole
        .0
        .iter()
        .map(|e| match e {
            Owned::Data(d) => d.len(),
            _ => 0,
        })
        .sum();
    assert!(body <= data.len());
    if whole.1 {
        assert_eq!(whole.0.last(), Some(&Owned::End));
    }
});
