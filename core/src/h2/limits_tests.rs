//! Limits and the known HTTP/2 attacks, one test each: each is answered without the
//! session growing without bound.

use super::*;
use crate::h2::frame::{kind, PREFACE};
use crate::h2::hpack::Indexing;
use crate::h2::test_client::*;
use ErrorCode::*;

fn client() -> Client {
    Client::new(Config::default())
}

#[test]
fn max_concurrent_streams_default_128() {
    let mut c = client();
    for i in 0..129u32 {
        c.get(2 * i + 1, "/");
    }
    let ev = c.events();
    assert_eq!(ev.len(), 128);
    assert_eq!(rst(&c.drain(), 257), Some(RefusedStream));
    assert_eq!(c.s.open_streams(), 128);
    // Finishing one makes room for the next.
    c.s.send_headers(1, 204, &[] as &[(&str, &str)], true)
        .unwrap();
    c.get(259, "/");
    assert!(matches!(
        c.events()[..],
        [Event::Request { stream: 259, .. }]
    ));
}

#[test]
fn rapid_reset_gets_enhance_your_calm() {
    let mut c = client();
    let mut id = 1;
    while !c.s.is_dead() && id < 1000 {
        c.get(id, "/");
        c.send(Frame::RstStream {
            stream: id,
            code: Cancel,
        });
        id += 2;
    }
    // 100 resets are tolerated, the 101st is not.
    assert_eq!(id, 2 * 101 + 1);
    assert_eq!(goaway(&c.drain()), Some(EnhanceYourCalm));
}

#[test]
fn completed_responses_earn_resets_back() {
    let mut c = client();
    for i in 0..300u32 {
        let (a, b) = (4 * i + 1, 4 * i + 3);
        c.get(a, "/");
        c.send(Frame::RstStream {
            stream: a,
            code: Cancel,
        });
        c.get(b, "/");
        c.s.send_headers(b, 204, &[] as &[(&str, &str)], true)
            .unwrap();
    }
    c.drain();
    assert!(
        !c.s.is_dead(),
        "a client that also completes requests is not an attacker"
    );
}

#[test]
fn streams_we_must_reset_count_too() {
    // Malformed requests make the server reset streams ("MadeYouReset").
    let mut c = client();
    for i in 0..101u32 {
        c.request(2 * i + 1, "GET", "/", &[("Bad", "x")], true);
    }
    assert_eq!(goaway(&c.drain()), Some(EnhanceYourCalm));
}

#[test]
fn continuation_flood_is_bounded() {
    let mut c = client();
    c.send(headers_frame(1, b"", true, false));
    let chunk = [0x40u8; 1000];
    let mut n = 0;
    while !c.s.is_dead() && n < 1000 {
        c.send(Frame::Continuation {
            stream: 1,
            block: &chunk,
            end_headers: false,
        });
        n += 1;
    }
    assert!(n <= 66, "stopped after {n} CONTINUATION frames");
    assert_eq!(goaway(&c.drain()), Some(EnhanceYourCalm));
    // Empty CONTINUATION frames are bounded too.
    let mut c = client();
    c.send(headers_frame(1, b"", true, false));
    let mut n = 0;
    while !c.s.is_dead() && n < 100_000 {
        c.send(Frame::Continuation {
            stream: 1,
            block: b"",
            end_headers: false,
        });
        n += 1;
    }
    assert!(n < 10_000, "{n}");
}

#[test]
fn header_block_must_not_be_interrupted() {
    let mut c = client();
    c.send(headers_frame(1, b"\x82", true, false));
    c.send(Frame::Ping {
        ack: false,
        data: [0; 8],
    });
    assert_eq!(goaway(&c.drain()), Some(ProtocolError));
    let mut c = client();
    c.send(Frame::Continuation {
        stream: 1,
        block: b"\x82",
        end_headers: true,
    });
    assert_eq!(goaway(&c.drain()), Some(ProtocolError));
    let mut c = client();
    c.send(headers_frame(1, b"\x82", true, false));
    c.send(Frame::Continuation {
        stream: 3,
        block: b"\x84",
        end_headers: true,
    });
    assert_eq!(goaway(&c.drain()), Some(ProtocolError));
}

#[test]
fn a_block_split_over_continuations_is_one_request() {
    let mut c = client();
    let block = c.block(&[
        (":method", "GET"),
        (":scheme", "http"),
        (":path", "/split"),
        (":authority", "a"),
    ]);
    let (a, b) = block.split_at(5);
    c.send(Frame::Headers {
        stream: 1,
        block: a,
        end_stream: true,
        end_headers: false,
        priority: None,
        pad: Some(3),
    });
    c.send(Frame::Continuation {
        stream: 1,
        block: b,
        end_headers: true,
    });
    let ev = c.events();
    let [Event::Request { head, .. }] = &ev[..] else {
        panic!("{ev:?}")
    };
    assert_eq!(head.path.as_deref(), Some("/split"));
}

#[test]
fn hpack_bomb_gets_431_and_the_connection_lives() {
    let mut c = client();
    let big = "a".repeat(4000);
    let mut block = Vec::new();
    c.enc.encode(
        &mut block,
        [
            (&b":method"[..], &b"GET"[..], Indexing::Incremental),
            (b":scheme", b"http", Indexing::Incremental),
            (b":path", b"/", Indexing::Incremental),
            (b"x-bomb", big.as_bytes(), Indexing::Incremental),
        ],
    );
    // The x-bomb entry is index 62; reference it 1000 times (4 MB from 1 KB).
    block.extend(std::iter::repeat_n(0xbe, 1000));
    c.send(headers_frame(1, &block, true, true));
    let out = c.drain();
    let Frame::Headers {
        block,
        end_stream: true,
        ..
    } = out[0].frame()
    else {
        panic!("{out:?}")
    };
    let block = block.to_vec();
    assert_eq!(
        c.decode(&block),
        vec![(b":status".to_vec(), b"431".to_vec())]
    );
    assert!(c.events().is_empty());
    // The dynamic tables are still in step: the next request decodes.
    c.get(3, "/");
    assert!(matches!(c.events()[..], [Event::Request { stream: 3, .. }]));
}

#[test]
fn bad_hpack_is_a_compression_error() {
    let mut c = client();
    c.send(headers_frame(1, b"\xff\xff\xff\xff\xff\x0f", true, true));
    assert_eq!(goaway(&c.drain()), Some(CompressionError));
}

#[test]
fn ping_and_settings_floods_are_bounded() {
    for flood in [
        Frame::Ping {
            ack: false,
            data: [1; 8],
        },
        Frame::Settings {
            ack: false,
            params: vec![],
        },
    ] {
        let mut c = client();
        let mut wire = Vec::new();
        for _ in 0..2000 {
            flood.write(&mut wire);
        }
        c.s.recv(&wire);
        assert!(c.s.is_dead());
        assert!(c.s.output().len() < 20_000, "{}", c.s.output().len());
        assert_eq!(goaway(&c.drain()), Some(EnhanceYourCalm));
    }
    // A client that reads its answers may ping as much as it likes.
    let mut c = client();
    for _ in 0..5000 {
        c.send(Frame::Ping {
            ack: false,
            data: [1; 8],
        });
        c.drain();
    }
    assert!(!c.s.is_dead());
}

#[test]
fn stream_ids_must_increase_and_be_odd() {
    let mut c = client();
    c.get(5, "/");
    c.get(3, "/");
    assert_eq!(goaway(&c.drain()), Some(ProtocolError));
    let mut c = client();
    c.get(1, "/");
    c.events();
    c.s.send_headers(1, 204, &[] as &[(&str, &str)], true)
        .unwrap();
    c.get(1, "/");
    assert_eq!(goaway(&c.drain()), Some(ProtocolError));
    let mut c = client();
    c.get(2, "/");
    assert_eq!(goaway(&c.drain()), Some(ProtocolError));
}

#[test]
fn headers_after_end_stream_and_trailers_without_end() {
    let mut c = client();
    c.get(1, "/");
    c.get(1, "/");
    assert_eq!(rst(&c.drain(), 1), Some(StreamClosed));
    c.request(3, "POST", "/", &[], false);
    c.headers(3, &[("x-t", "1")], false);
    assert_eq!(rst(&c.drain(), 3), Some(ProtocolError));
    c.request(5, "POST", "/", &[], false);
    c.headers(5, &[(":path", "/")], true);
    assert_eq!(rst(&c.drain(), 5), Some(ProtocolError));
}

#[test]
fn oversized_frames() {
    let mut c = client();
    let mut wire = Vec::new();
    frame::FrameHeader {
        len: 16_385,
        kind: kind::DATA,
        flags: 0,
        stream: 1,
    }
    .write(&mut wire);
    c.s.recv(&wire);
    assert_eq!(goaway(&c.drain()), Some(FrameSizeError));
}

#[test]
fn self_dependent_headers_reset_the_stream_but_keep_hpack() {
    let mut c = client();
    let block = c.block(&[
        (":method", "GET"),
        (":scheme", "http"),
        (":path", "/"),
        ("x", "y"),
    ]);
    let pr = frame::Priority {
        exclusive: false,
        dependency: 1,
        weight: 0,
    };
    c.send(Frame::Headers {
        stream: 1,
        block: &block,
        end_stream: true,
        end_headers: true,
        priority: Some(pr),
        pad: None,
    });
    assert_eq!(rst(&c.drain(), 1), Some(ProtocolError));
    c.get(3, "/");
    assert_eq!(c.events().len(), 1);
}

#[test]
fn input_after_a_connection_error_is_ignored() {
    let mut c = Client::raw(Config::default());
    c.drain();
    let mut wire = PREFACE.to_vec();
    wire.extend_from_slice(&[0, 0, 0, kind::GOAWAY, 0, 0, 0, 0, 1]);
    c.s.recv(&wire);
    assert!(c.s.is_dead());
    c.drain();
    c.s.recv(&[0; 100]);
    assert!(c.s.output().is_empty());
    assert_eq!(
        c.s.send_headers(1, 200, &[] as &[(&str, &str)], true),
        Err(SendError::ConnectionClosed)
    );
}

#[test]
fn frames_in_flight_after_our_reset_are_ignored() {
    // A HEAD with a body: the response ends the stream, RST_STREAM(NO_ERROR) stops the
    // body, and what the client had already sent is dropped quietly.
    let mut c = client();
    c.request(1, "HEAD", "/", &[], false);
    c.events();
    assert_eq!(
        c.s.send_headers(1, 200, &[] as &[(&str, &str)], false),
        Ok(false)
    );
    assert_eq!(rst(&c.drain(), 1), Some(NoError));
    c.data(1, &[b'x'; 100], false);
    c.headers(1, &[("x-trailer", "1")], true);
    assert!(c.drain().is_empty());
    assert!(!c.s.is_dead());
    assert!(c.events().is_empty());
    // The same after a reset of our own.
    c.request(3, "POST", "/", &[], false);
    c.events();
    c.s.reset(3, Cancel);
    c.data(3, b"late", true);
    assert_eq!(rst(&c.drain(), 3), Some(Cancel));
    assert!(!c.s.is_dead());
}
