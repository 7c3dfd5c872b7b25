//! Frame parsing and writing: every type round-trips, and each size or stream rule of
//! RFC 9113 §6 gives its error code.

use super::*;

fn round_trip(f: Frame) {
    let mut wire = Vec::new();
    f.write(&mut wire);
    let h = FrameHeader::parse(&wire).unwrap();
    assert_eq!(h.len as usize, wire.len() - HEADER_LEN);
    assert_eq!(Frame::parse(&h, &wire[HEADER_LEN..]).unwrap(), f);
}

fn parse_raw(kind: u8, flags: u8, stream: u32, payload: &[u8]) -> Result<Frame<'_>, H2Error> {
    let h = FrameHeader {
        len: payload.len() as u32,
        kind,
        flags,
        stream,
    };
    Frame::parse(&h, payload)
}

#[test]
fn every_frame_type_round_trips() {
    let pr = Priority {
        exclusive: true,
        dependency: 3,
        weight: 15,
    };
    round_trip(Frame::Data {
        stream: 1,
        data: b"hello",
        end_stream: true,
        pad: Some(4),
    });
    round_trip(Frame::Data {
        stream: 1,
        data: b"",
        end_stream: false,
        pad: None,
    });
    round_trip(Frame::Headers {
        stream: 5,
        block: b"\x82\x84",
        end_stream: false,
        end_headers: true,
        priority: Some(pr),
        pad: Some(2),
    });
    round_trip(Frame::Priority {
        stream: 7,
        priority: pr,
    });
    round_trip(Frame::RstStream {
        stream: 7,
        code: ErrorCode::Cancel,
    });
    round_trip(Frame::Settings {
        ack: false,
        params: vec![(setting::MAX_CONCURRENT_STREAMS, 100), (0x99, 7)],
    });
    round_trip(Frame::Settings {
        ack: true,
        params: vec![],
    });
    round_trip(Frame::PushPromise {
        stream: 1,
        promised: 2,
        block: b"\x82",
        end_headers: true,
        pad: Some(1),
    });
    round_trip(Frame::Ping {
        ack: true,
        data: *b"abcdefgh",
    });
    round_trip(Frame::GoAway {
        last_stream: 9,
        code: ErrorCode::EnhanceYourCalm,
        debug: b"calm down",
    });
    round_trip(Frame::WindowUpdate {
        stream: 0,
        increment: MAX_WINDOW,
    });
    round_trip(Frame::Continuation {
        stream: 3,
        block: b"\x86",
        end_headers: false,
    });
    round_trip(Frame::Unknown {
        kind: 0xfa,
        stream: 3,
    });
}

#[test]
fn reserved_bits_are_ignored() {
    let mut wire = vec![0, 0, 4, kind::WINDOW_UPDATE, 0, 0x80, 0, 0, 1];
    wire.extend_from_slice(&[0x80, 0, 0, 5]);
    let h = FrameHeader::parse(&wire).unwrap();
    assert_eq!(h.stream, 1);
    assert_eq!(
        Frame::parse(&h, &wire[9..]).unwrap(),
        Frame::WindowUpdate {
            stream: 1,
            increment: 5
        }
    );
    assert_eq!(FrameHeader::parse(&wire[..8]), None);
}

#[test]
fn stream_zero_rules() {
    use kind::*;
    for k in [
        DATA,
        HEADERS,
        PRIORITY,
        RST_STREAM,
        PUSH_PROMISE,
        CONTINUATION,
    ] {
        let e = parse_raw(k, 0, 0, &[0; 5]).unwrap_err();
        assert_eq!((e.code, e.stream), (ErrorCode::ProtocolError, None), "{k}");
    }
    for (k, len) in [(SETTINGS, 0), (PING, 8), (GOAWAY, 8)] {
        let e = parse_raw(k, 0, 1, &vec![0; len]).unwrap_err();
        assert_eq!((e.code, e.stream), (ErrorCode::ProtocolError, None), "{k}");
    }
}

#[test]
fn size_rules() {
    use kind::*;
    let fse = |r: Result<Frame, H2Error>| r.unwrap_err().code;
    assert_eq!(
        fse(parse_raw(RST_STREAM, 0, 1, &[0; 3])),
        ErrorCode::FrameSizeError
    );
    assert_eq!(
        fse(parse_raw(PING, 0, 0, &[0; 7])),
        ErrorCode::FrameSizeError
    );
    assert_eq!(
        fse(parse_raw(SETTINGS, 0, 0, &[0; 5])),
        ErrorCode::FrameSizeError
    );
    assert_eq!(
        fse(parse_raw(SETTINGS, flag::ACK, 0, &[0; 6])),
        ErrorCode::FrameSizeError
    );
    assert_eq!(
        fse(parse_raw(GOAWAY, 0, 0, &[0; 7])),
        ErrorCode::FrameSizeError
    );
    assert_eq!(
        fse(parse_raw(WINDOW_UPDATE, 0, 0, &[0; 5])),
        ErrorCode::FrameSizeError
    );
    // PRIORITY of the wrong size is a stream error.
    let e = parse_raw(PRIORITY, 0, 3, &[0; 4]).unwrap_err();
    assert_eq!((e.code, e.stream), (ErrorCode::FrameSizeError, Some(3)));
    // Padding: the pad length byte missing, or padding longer than the payload.
    assert_eq!(
        fse(parse_raw(DATA, flag::PADDED, 1, &[])),
        ErrorCode::FrameSizeError
    );
    assert_eq!(
        fse(parse_raw(DATA, flag::PADDED, 1, &[3, 0, 0])),
        ErrorCode::ProtocolError
    );
    assert_eq!(
        fse(parse_raw(HEADERS, flag::PADDED, 1, &[1])),
        ErrorCode::ProtocolError
    );
    // Padding that fills the payload exactly is fine.
    assert!(parse_raw(DATA, flag::PADDED, 1, &[2, 0, 0]).is_ok());
}

#[test]
fn settings_values_are_checked_and_unknown_ones_kept() {
    let one = |id: u16, v: u32| {
        let mut p = id.to_be_bytes().to_vec();
        p.extend_from_slice(&v.to_be_bytes());
        parse_raw(kind::SETTINGS, 0, 0, &p).map(|f| match f {
            Frame::Settings { params, .. } => params,
            _ => unreachable!(),
        })
    };
    assert_eq!(
        one(setting::ENABLE_PUSH, 2).unwrap_err().code,
        ErrorCode::ProtocolError
    );
    assert_eq!(
        one(setting::INITIAL_WINDOW_SIZE, MAX_WINDOW + 1)
            .unwrap_err()
            .code,
        ErrorCode::FlowControlError
    );
    assert_eq!(
        one(setting::MAX_FRAME_SIZE, 16_383).unwrap_err().code,
        ErrorCode::ProtocolError
    );
    assert_eq!(
        one(setting::MAX_FRAME_SIZE, MAX_FRAME_SIZE_LIMIT + 1)
            .unwrap_err()
            .code,
        ErrorCode::ProtocolError
    );
    assert_eq!(one(0x4242, 1).unwrap(), vec![(0x4242, 1)]);
}

#[test]
fn window_update_of_zero() {
    let e = parse_raw(kind::WINDOW_UPDATE, 0, 0, &[0; 4]).unwrap_err();
    assert_eq!((e.code, e.stream), (ErrorCode::ProtocolError, None));
    let e = parse_raw(kind::WINDOW_UPDATE, 0, 5, &[0; 4]).unwrap_err();
    assert_eq!((e.code, e.stream), (ErrorCode::ProtocolError, Some(5)));
}

#[test]
fn self_dependency_is_a_stream_error() {
    let e = parse_raw(kind::PRIORITY, 0, 3, &[0, 0, 0, 3, 16]).unwrap_err();
    assert_eq!((e.code, e.stream), (ErrorCode::ProtocolError, Some(3)));
    // HEADERS parses: its block must still reach the decoder (the session refuses it).
    assert!(parse_raw(kind::HEADERS, flag::PRIORITY, 5, &[0, 0, 0, 5, 16]).is_ok());
}

#[test]
fn header_blocks_split_into_continuations() {
    let block: Vec<u8> = (0..40).collect();
    let mut out = Vec::new();
    write_header_block(&mut out, 3, &block, true, 16);
    let mut pos = 0;
    let mut got = Vec::new();
    let mut kinds = Vec::new();
    while pos < out.len() {
        let h = FrameHeader::parse(&out[pos..]).unwrap();
        assert!(h.len <= 16);
        let f = Frame::parse(&h, &out[pos + 9..pos + 9 + h.len as usize]).unwrap();
        match f {
            Frame::Headers {
                block,
                end_stream,
                end_headers,
                ..
            } => {
                assert!(end_stream && !end_headers);
                got.extend_from_slice(block);
            }
            Frame::Continuation {
                block, end_headers, ..
            } => {
                assert_eq!(end_headers, pos + 9 + h.len as usize == out.len());
                got.extend_from_slice(block);
            }
            other => panic!("{other:?}"),
        }
        kinds.push(h.kind);
        pos += 9 + h.len as usize;
    }
    assert_eq!(got, block);
    assert_eq!(
        kinds,
        [kind::HEADERS, kind::CONTINUATION, kind::CONTINUATION]
    );
}
