//! The session's protocol behaviour: exchange, requests, bodies, flow control, order
//! of frames, errors (RFC 9113 §5–§8).

use super::*;
use crate::h2::frame::{flag, kind, PREFACE};
use crate::h2::test_client::*;
use ErrorCode::*;

fn client() -> Client {
    Client::new(Config::default())
}

#[test]
fn settings_exchange_and_ack() {
    let mut c = Client::raw(Config::default());
    let first = c.drain();
    // Our SETTINGS come first, then the connection window.
    match first[0].frame() {
        Frame::Settings { ack: false, params } => {
            assert!(params.contains(&(setting::MAX_CONCURRENT_STREAMS, 128)));
            assert!(params.contains(&(setting::INITIAL_WINDOW_SIZE, 256 * 1024)));
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        first[1].frame(),
        Frame::WindowUpdate { stream: 0, .. }
    ));
    let mut wire = PREFACE.to_vec();
    Frame::Settings {
        ack: false,
        params: vec![(0x77, 1), (setting::MAX_FRAME_SIZE, 20000)],
    }
    .write(&mut wire);
    Frame::Settings {
        ack: true,
        params: vec![],
    }
    .write(&mut wire);
    // Byte by byte: partial input is kept.
    for b in &wire {
        c.s.recv(std::slice::from_ref(b));
    }
    let out = c.drain();
    assert_eq!(out.len(), 1);
    assert!(matches!(out[0].frame(), Frame::Settings { ack: true, .. }));
}

#[test]
fn bad_preface_and_missing_settings() {
    let mut c = Client::raw(Config::default());
    c.drain();
    c.s.recv(b"GET / HTTP/1.1\r\n\r\n");
    assert_eq!(goaway(&c.drain()), Some(ProtocolError));
    assert!(c.s.wants_close());
    assert!(matches!(
        c.events()[..],
        [Event::ConnectionError {
            code: ProtocolError,
            ..
        }]
    ));

    let mut c = Client::raw(Config::default());
    c.drain();
    let mut wire = PREFACE.to_vec();
    Frame::Ping {
        ack: false,
        data: [0; 8],
    }
    .write(&mut wire);
    c.s.recv(&wire);
    assert_eq!(goaway(&c.drain()), Some(ProtocolError));
}

#[test]
fn get_and_respond() {
    let mut c = client();
    c.request(
        1,
        "GET",
        "/x?y",
        &[("accept", "*/*"), ("cookie", "a=1"), ("cookie", "b=2")],
        true,
    );
    let ev = c.events();
    let [Event::Request {
        stream: 1,
        head,
        end_stream: true,
    }] = &ev[..]
    else {
        panic!("{ev:?}")
    };
    assert_eq!(head.path.as_deref(), Some("/x?y"));
    assert_eq!(head.authority.as_deref(), Some("test"));
    assert!(head
        .headers
        .contains(&("cookie".into(), b"a=1; b=2".to_vec())));
    let more = c.s.send_headers(
        1,
        200,
        &[("Content-Type", "text/plain"), ("Connection", "close")],
        false,
    );
    assert_eq!(more, Ok(true));
    assert_eq!(c.s.send_data(1, b"hello", true), Ok(5));
    let out = c.drain();
    assert_eq!(out.len(), 2);
    let Frame::Headers {
        block,
        end_stream: false,
        end_headers: true,
        ..
    } = out[0].frame()
    else {
        panic!()
    };
    let block = block.to_vec();
    let fields = c.decode(&block);
    assert_eq!(
        fields,
        vec![
            (b":status".to_vec(), b"200".to_vec()),
            (b"content-type".to_vec(), b"text/plain".to_vec())
        ]
    );
    assert_eq!(
        out[1].frame(),
        Frame::Data {
            stream: 1,
            data: b"hello",
            end_stream: true,
            pad: None
        }
    );
    assert_eq!(c.s.open_streams(), 0);
    assert_eq!(
        c.s.send_data(1, b"more", true),
        Err(SendError::StreamClosed)
    );
}

#[test]
fn head_204_304_have_no_body() {
    let mut c = client();
    c.request(1, "HEAD", "/", &[], true);
    c.get(3, "/");
    c.get(5, "/");
    c.events();
    assert_eq!(
        c.s.send_headers(1, 200, &[("content-length", "10")], false),
        Ok(false)
    );
    assert_eq!(
        c.s.send_headers(3, 204, &[] as &[(&str, &str)], false),
        Ok(false)
    );
    assert_eq!(
        c.s.send_headers(5, 304, &[] as &[(&str, &str)], false),
        Ok(false)
    );
    let out = c.drain();
    assert_eq!(out.len(), 3);
    assert!(out
        .iter()
        .all(|f| f.head.kind == kind::HEADERS && f.head.flags & flag::END_STREAM != 0));
    assert_eq!(c.s.send_data(1, b"x", true), Err(SendError::StreamClosed));
}

#[test]
fn interim_then_final_and_trailers() {
    let mut c = client();
    c.get(1, "/");
    c.events();
    assert_eq!(c.s.send_data(1, b"x", false), Err(SendError::BadOrder));
    assert_eq!(
        c.s.send_headers(1, 103, &[("link", "</a>")], false),
        Ok(false)
    );
    assert_eq!(
        c.s.send_headers(1, 200, &[] as &[(&str, &str)], false),
        Ok(true)
    );
    assert_eq!(
        c.s.send_headers(1, 200, &[] as &[(&str, &str)], false),
        Err(SendError::BadOrder)
    );
    c.s.send_trailers(1, &[("x-sum", "1")]).unwrap();
    let out = c.drain();
    assert_eq!(out.len(), 3);
    assert!(out[2].head.flags & flag::END_STREAM != 0 && out[2].head.kind == kind::HEADERS);
}

#[test]
fn request_body_and_trailers() {
    let mut c = client();
    c.request(1, "POST", "/up", &[("content-length", "6")], false);
    c.data(1, b"abc", false);
    c.send(Frame::Data {
        stream: 1,
        data: b"def",
        end_stream: false,
        pad: Some(10),
    });
    let t = c.block(&[("x-checksum", "0")]);
    c.send(headers_frame(1, &t, true, true));
    let ev = c.events();
    assert!(matches!(
        ev[0],
        Event::Request {
            stream: 1,
            end_stream: false,
            ..
        }
    ));
    assert_eq!(
        ev[1],
        Event::Data {
            stream: 1,
            data: b"abc".to_vec(),
            end_stream: false
        }
    );
    assert_eq!(
        ev[2],
        Event::Data {
            stream: 1,
            data: b"def".to_vec(),
            end_stream: false
        }
    );
    assert_eq!(
        ev[3],
        Event::Data {
            stream: 1,
            data: vec![],
            end_stream: true
        }
    );
    assert!(
        c.drain().is_empty(),
        "nothing sent for a body within the windows"
    );
}

#[test]
fn content_length_is_checked_against_data() {
    let mut c = client();
    c.request(1, "POST", "/", &[("content-length", "2")], false);
    c.data(1, b"abc", false);
    assert_eq!(rst(&c.drain(), 1), Some(ProtocolError));
    c.request(3, "POST", "/", &[("content-length", "5")], false);
    c.data(3, b"abc", true);
    assert_eq!(rst(&c.drain(), 3), Some(ProtocolError));
    c.request(5, "POST", "/", &[("content-length", "5")], true);
    assert_eq!(rst(&c.drain(), 5), Some(ProtocolError));
    let ev = c.events();
    assert!(ev.contains(&Event::Reset {
        stream: 1,
        code: ProtocolError
    }));
    assert!(ev.contains(&Event::Reset {
        stream: 3,
        code: ProtocolError
    }));
    // The connection lives on.
    c.get(7, "/");
    assert!(matches!(c.events()[..], [Event::Request { stream: 7, .. }]));
}

#[test]
fn malformed_requests_are_stream_errors() {
    let mut c = client();
    c.request(1, "GET", "/", &[("Upper", "x")], true);
    c.request(3, "GET", "/", &[("connection", "keep-alive")], true);
    c.request(5, "GET", "/", &[("te", "gzip")], true);
    c.headers(7, &[(":method", "GET"), (":path", "/")], true);
    let out = c.drain();
    for s in [1, 3, 5, 7] {
        assert_eq!(rst(&out, s), Some(ProtocolError), "stream {s}");
    }
    assert!(c.events().is_empty());
    assert!(!c.s.is_dead());
}

#[test]
fn ping_priority_unknown_and_push_promise() {
    let mut c = client();
    c.send(Frame::Ping {
        ack: false,
        data: *b"pingpong",
    });
    c.send(Frame::Ping {
        ack: true,
        data: *b"ignored!",
    });
    c.send(Frame::Priority {
        stream: 9,
        priority: frame::Priority {
            exclusive: false,
            dependency: 0,
            weight: 1,
        },
    });
    c.send(Frame::Unknown {
        kind: 0x42,
        stream: 0,
    });
    let out = c.drain();
    assert_eq!(out.len(), 1);
    assert_eq!(
        out[0].frame(),
        Frame::Ping {
            ack: true,
            data: *b"pingpong"
        }
    );
    // PRIORITY did not open stream 9: stream 1 is still acceptable.
    c.get(1, "/");
    assert_eq!(c.events().len(), 1);
    c.send(Frame::PushPromise {
        stream: 1,
        promised: 2,
        block: b"",
        end_headers: true,
        pad: None,
    });
    assert_eq!(goaway(&c.drain()), Some(ProtocolError));
}

#[test]
fn peer_reset_and_goaway() {
    let mut c = client();
    c.get(1, "/");
    c.events();
    c.send(Frame::RstStream {
        stream: 1,
        code: Cancel,
    });
    assert_eq!(
        c.events(),
        vec![Event::Reset {
            stream: 1,
            code: Cancel
        }]
    );
    assert_eq!(
        c.s.send_headers(1, 200, &[] as &[(&str, &str)], true),
        Err(SendError::StreamClosed)
    );
    // Frames on the closed stream: WINDOW_UPDATE and RST ignored, DATA is STREAM_CLOSED.
    c.send(Frame::WindowUpdate {
        stream: 1,
        increment: 1,
    });
    c.send(Frame::RstStream {
        stream: 1,
        code: Cancel,
    });
    assert!(c.drain().is_empty());
    c.data(1, b"late", false);
    assert_eq!(rst(&c.drain(), 1), Some(StreamClosed));
    c.send(Frame::GoAway {
        last_stream: 0,
        code: NoError,
        debug: b"",
    });
    assert_eq!(c.events(), vec![Event::GoAway { code: NoError }]);
    assert!(c.s.wants_close());
}

#[test]
fn frames_on_idle_streams() {
    for f in [
        Frame::Data {
            stream: 5,
            data: b"",
            end_stream: false,
            pad: None,
        },
        Frame::RstStream {
            stream: 5,
            code: Cancel,
        },
        Frame::WindowUpdate {
            stream: 5,
            increment: 1,
        },
    ] {
        let mut c = client();
        c.send(f.clone());
        assert_eq!(goaway(&c.drain()), Some(ProtocolError), "{f:?}");
    }
}

#[test]
fn graceful_goaway_lets_open_streams_finish() {
    let mut c = client();
    c.get(1, "/");
    c.events();
    c.s.go_away();
    let out = c.drain();
    assert!(out.iter().any(|f| f.frame()
        == Frame::GoAway {
            last_stream: 1,
            code: NoError,
            debug: b""
        }));
    assert!(!c.s.wants_close());
    c.get(3, "/");
    assert!(c.events().is_empty(), "a stream after GOAWAY is ignored");
    c.s.send_headers(1, 200, &[] as &[(&str, &str)], true)
        .unwrap();
    assert!(c.s.wants_close());
}

#[test]
fn header_table_size_from_the_client() {
    let mut c = client();
    c.send(Frame::Settings {
        ack: false,
        params: vec![(setting::HEADER_TABLE_SIZE, 0)],
    });
    c.get(1, "/");
    c.events();
    c.drain();
    c.s.send_headers(1, 200, &[("server", "reactor")], true)
        .unwrap();
    let out = c.drain();
    let Frame::Headers { block, .. } = out[0].frame() else {
        panic!()
    };
    assert_eq!(block[0], 0x20, "size update to 0 first");
    let block = block.to_vec();
    assert_eq!(c.decode(&block).len(), 2);
    assert_eq!(c.dec.table().len(), 0);
}

#[test]
fn large_response_heads_use_continuation() {
    let mut c = client();
    c.get(1, "/");
    c.events();
    let big = "x".repeat(40_000);
    c.s.send_headers(1, 200, &[("x-big", big.as_str())], true)
        .unwrap();
    let out = c.drain();
    assert_eq!(out[0].head.kind, kind::HEADERS);
    assert!(out[1..].iter().all(|f| f.head.kind == kind::CONTINUATION));
    let block: Vec<u8> = out.iter().flat_map(|f| f.payload.clone()).collect();
    assert_eq!(c.decode(&block)[1].1.len(), 40_000);
}
