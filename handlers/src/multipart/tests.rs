//! The parser against hand-written bodies, fed whole, byte by byte and chunked at random.

use proptest::prelude::*;

use super::*;

/// An event with its bytes owned, adjacent data joined (chunking may split it anywhere).
#[derive(Debug, Clone, PartialEq, Eq)]
enum Owned {
    Part(Part),
    Data(Vec<u8>),
    PartEnd,
    End,
}

/// Parses `body` fed in pieces of `sizes` (cycled; a 0 means "the rest").
fn parse_chunked(boundary: &str, body: &[u8], sizes: &[usize]) -> (Vec<Owned>, Result<(), Error>) {
    let mut p = Parser::new(boundary).with_max_header(256);
    let mut out: Vec<Owned> = Vec::new();
    let mut on = |e: Event<'_>| match (e, out.last_mut()) {
        (Event::Data(d), Some(Owned::Data(prev))) => prev.extend_from_slice(d),
        (Event::Data(d), _) => out.push(Owned::Data(d.to_vec())),
        (Event::Part(part), _) => out.push(Owned::Part(part)),
        (Event::PartEnd, _) => out.push(Owned::PartEnd),
        (Event::End, _) => out.push(Owned::End),
    };
    let mut at = 0;
    let mut i = 0;
    let mut result = Ok(());
    while at < body.len() && result.is_ok() {
        let size = sizes.get(i % sizes.len().max(1)).copied().unwrap_or(0);
        let end = if size == 0 {
            body.len()
        } else {
            (at + size).min(body.len())
        };
        result = p.feed(&body[at..end], &mut on);
        at = end;
        i += 1;
    }
    let result = result.and_then(|()| p.finish());
    (out, result)
}

fn parse(body: &[u8]) -> (Vec<Owned>, Result<(), Error>) {
    let whole = parse_chunked("XyZ", body, &[0]);
    let bytewise = parse_chunked("XyZ", body, &[1]);
    assert_eq!(whole, bytewise, "byte by byte differs from whole");
    whole
}

fn part(name: &str, filename: Option<&str>, ct: Option<&str>) -> Owned {
    Owned::Part(Part {
        name: name.into(),
        filename: filename.map(Into::into),
        content_type: ct.map(Into::into),
    })
}

fn data(d: &[u8]) -> Owned {
    Owned::Data(d.to_vec())
}

const THREE: &[u8] = b"preamble to skip\r\n--XyZ\r\n\
Content-Disposition: form-data; name=\"title\"\r\n\r\n\
Holiday\r\n--XyZ  \t\r\n\
content-disposition: form-data; name=\"file\"; filename=\"a.bin\"\r\n\
Content-Type: application/octet-stream\r\n\r\n\
\r\n--Xy-not-quite\r\n\r--\r\n--X\r\n--XyZ\r\n\
Content-Disposition: form-data; name=\"empty\"; filename=\"\"\r\n\r\n\
\r\n--XyZ--\r\nepilogue, skipped too --XyZ\r\n";

#[test]
fn three_parts_with_preamble_padding_and_epilogue() {
    let (events, result) = parse(THREE);
    assert_eq!(result, Ok(()));
    assert_eq!(
        events,
        vec![
            part("title", None, None),
            data(b"Holiday"),
            Owned::PartEnd,
            part("file", Some("a.bin"), Some("application/octet-stream")),
            data(b"\r\n--Xy-not-quite\r\n\r--\r\n--X"),
            Owned::PartEnd,
            part("empty", Some(""), None),
            Owned::PartEnd,
            Owned::End,
        ]
    );
}

#[test]
fn body_may_start_with_the_boundary_and_parts_may_lack_headers_or_data() {
    let body = b"--XyZ\r\nContent-Disposition: form-data; name=a\r\n\r\n\r\n--XyZ--";
    let (events, result) = parse(body);
    assert_eq!(result, Ok(()));
    assert_eq!(
        events,
        vec![part("a", None, None), Owned::PartEnd, Owned::End]
    );
    let (_, result) = parse(b"--XyZ\r\n\r\nno headers\r\n--XyZ--");
    assert_eq!(
        result,
        Err(Error(
            "a part lacks Content-Disposition: form-data with a name"
        ))
    );
}

#[test]
fn a_cut_body_is_an_error_not_a_short_form() {
    let cut = &THREE[..THREE.len() - 40];
    let (events, result) = parse(cut);
    assert_eq!(
        result,
        Err(Error("the body ended before the closing boundary"))
    );
    assert!(!events.contains(&Owned::End));
    for n in [0, 5, 30] {
        assert!(parse(&THREE[..n]).1.is_err(), "{n} bytes");
    }
}

#[test]
fn malformed_bodies() {
    let bad = |body: &[u8]| parse(body).1.unwrap_err().0;
    assert_eq!(
        bad(b"--XyZjunk\r\n"),
        "a boundary is followed by something other than CRLF"
    );
    assert_eq!(
        bad(b"--XyZ\n"),
        "a boundary is followed by something other than CRLF"
    );
    assert_eq!(
        bad(b"--XyZ\r\nBad Header\r\n\r\n"),
        "a part's headers are malformed"
    );
    assert_eq!(
        bad(b"--XyZ\r\nContent-Disposition: form-data; name=\"\xff\"\r\n\r\n"),
        "a part's header is not UTF-8"
    );
    let mut big = b"--XyZ\r\nContent-Disposition: form-data; name=a\r\nX-Pad: ".to_vec();
    big.extend_from_slice(&[b'p'; 300]);
    big.extend_from_slice(b"\r\n\r\nbody\r\n--XyZ--");
    assert_eq!(bad(&big), "a part's headers are too large");
    let mut endless = b"--XyZ\r\n".to_vec();
    endless.extend_from_slice(&[b'h'; 10_000]);
    assert_eq!(bad(&endless), "a part's headers are too large");
    let mut p = Parser::new("XyZ");
    let e = p.feed(b"--XyZ!", &mut |_| {}).unwrap_err();
    assert_eq!(p.feed(b"more", &mut |_| {}), Err(e), "errors stick");
}

#[test]
fn body_bytes_are_passed_on_not_kept() {
    // A megabyte of body in 64 KiB chunks: every chunk comes out (nearly) whole as it
    // goes in, and the parser holds back no more than a delimiter's length.
    let mut p = Parser::new("XyZ");
    let head = b"--XyZ\r\nContent-Disposition: form-data; name=f; filename=big\r\n\r\n";
    p.feed(head, &mut |_| {}).unwrap();
    let chunk = vec![b'\r'; 64 * 1024];
    let mut total = 0;
    for _ in 0..16 {
        let mut got = 0;
        p.feed(&chunk, &mut |e| {
            if let Event::Data(d) = e {
                got += d.len();
            }
        })
        .unwrap();
        assert!(got + p.delimiter.len() >= chunk.len(), "{got}");
        assert!(p.carry.len() < p.delimiter.len());
        total += got;
    }
    let mut tail = 0;
    p.feed(b"\r\n--XyZ--", &mut |e| {
        if let Event::Data(d) = e {
            tail += d.len();
        }
    })
    .unwrap();
    assert_eq!(total + tail, 16 * 64 * 1024);
    assert!(p.is_complete());
}

proptest! {
    /// Any chunking of any body gives the same events as feeding it whole.
    #[test]
    fn any_chunking_parses_the_same(
        parts in proptest::collection::vec(
            proptest::collection::vec(prop_oneof![
                Just(b'\r'), Just(b'\n'), Just(b'-'), Just(b'X'), Just(b'y'), Just(b'Z'), any::<u8>()
            ], 0..80),
            1..4),
        sizes in proptest::collection::vec(1usize..20, 1..8),
    ) {
        let mut body = b"--XyZ\r\n".to_vec();
        let mut want = Vec::new();
        for (i, content) in parts.iter().enumerate() {
            let mut probe = b"\r\n".to_vec();
            probe.extend_from_slice(content);
            probe.extend_from_slice(b"\r\n");
            prop_assume!(!probe.windows(7).any(|w| w == b"\r\n--XyZ"));
            body.extend_from_slice(
                format!("Content-Disposition: form-data; name=\"p{i}\"\r\n\r\n").as_bytes(),
            );
            body.extend_from_slice(content);
            body.extend_from_slice(b"\r\n--XyZ");
            body.extend_from_slice(if i + 1 == parts.len() { b"--" } else { b"\r\n" });
            want.push(part(&format!("p{i}"), None, None));
            if !content.is_empty() {
                want.push(data(content));
            }
            want.push(Owned::PartEnd);
        }
        want.push(Owned::End);
        let (events, result) = parse_chunked("XyZ", &body, &sizes);
        prop_assert_eq!(result, Ok(()));
        prop_assert_eq!(&events, &want);
    }
}
