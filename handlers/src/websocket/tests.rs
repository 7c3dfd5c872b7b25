//! The codec's rules, one test each, with a client codec (or raw frames) as the peer.

use proptest::prelude::*;

use super::frame::{encode, Opcode};
use super::*;

const KEY: Option<[u8; 4]> = Some([0x11, 0x22, 0x33, 0x44]);

fn server() -> Codec {
    Codec::new(Role::Server, Limits::default())
}

fn client() -> Codec {
    Codec::new(Role::Client, Limits::default())
}

/// A masked client frame.
fn frame(fin: bool, op: Opcode, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    encode(fin, op, payload, KEY, &mut out);
    out
}

fn events(c: &mut Codec) -> Vec<Event> {
    std::iter::from_fn(|| c.next_event()).collect()
}

fn text(s: &str) -> Event {
    Event::Message(Message::Text(s.into()))
}

/// What a client makes of the server's output.
fn replies(s: &mut Codec) -> Vec<Event> {
    let mut c = client();
    c.feed(s.output());
    let n = s.output().len();
    s.consume(n);
    events(&mut c)
}

fn failed(code: u16) -> impl Fn(&[Event]) -> bool {
    move |ev| matches!(ev.last(), Some(Event::Failed(e)) if e.code == code)
}

/// Feeds `bytes`, expects the server to fail with `code` and to tell the client so.
fn assert_fails(bytes: &[u8], code: u16) {
    let mut s = server();
    s.feed(bytes);
    let ev = events(&mut s);
    assert!(failed(code)(&ev), "{ev:?}");
    assert!(s.is_done() && s.close_sent());
    let told = replies(&mut s);
    assert!(
        matches!(told.as_slice(), [Event::Closed(Close { code: c, .. })] if *c == code),
        "{told:?}"
    );
}

#[test]
fn messages_both_ways_at_every_length_form() {
    for len in [0usize, 1, 125, 126, 65_535, 65_536, 1 << 20] {
        let mut c = client();
        let mut s = server();
        let data: Vec<u8> = (0..len).map(|i| (i * 7) as u8).collect();
        let txt: String = (0..len).map(|i| (b'a' + (i % 26) as u8) as char).collect();
        c.send(&Message::Binary(data.clone())).unwrap();
        c.send(&Message::Text(txt.clone())).unwrap();
        s.feed(c.output());
        let want = vec![
            Event::Message(Message::Binary(data.clone())),
            Event::Message(Message::Text(txt)),
        ];
        assert_eq!(events(&mut s), want, "client to server, {len} bytes");
        s.send(&Message::Binary(data.clone())).unwrap();
        assert_eq!(
            replies(&mut s),
            vec![Event::Message(Message::Binary(data))],
            "server to client"
        );
    }
}

#[test]
fn server_output_is_unmasked_and_client_output_masked() {
    let mut s = server();
    s.send(&Message::Text("hi".into())).unwrap();
    assert_eq!(s.output(), [0x81, 0x02, b'h', b'i']);
    let mut c = client();
    c.send(&Message::Text("hi".into())).unwrap();
    assert_eq!(c.output()[1], 0x82, "mask bit set");
    assert_eq!(c.output().len(), 8);
}

#[test]
fn unmasked_client_frame_is_1002() {
    let mut raw = Vec::new();
    encode(true, Opcode::Text, b"hi", None, &mut raw);
    assert_fails(&raw, close::PROTOCOL_ERROR);
}

#[test]
fn masked_server_frame_is_1002_for_a_client() {
    let mut c = client();
    c.feed(&frame(true, Opcode::Text, b"hi"));
    assert!(failed(close::PROTOCOL_ERROR)(&events(&mut c)));
}

#[test]
fn fragments_join_with_control_frames_between() {
    let mut s = server();
    let mut bytes = frame(false, Opcode::Text, b"Hel");
    bytes.extend(frame(true, Opcode::Ping, b"p"));
    bytes.extend(frame(false, Opcode::Continuation, b"lo, "));
    bytes.extend(frame(true, Opcode::Continuation, b"world"));
    bytes.extend(frame(false, Opcode::Binary, &[1]));
    bytes.extend(frame(true, Opcode::Continuation, &[2, 3]));
    s.feed(&bytes);
    assert_eq!(
        events(&mut s),
        vec![
            Event::Ping(b"p".to_vec()),
            text("Hello, world"),
            Event::Message(Message::Binary(vec![1, 2, 3])),
        ]
    );
    assert_eq!(
        replies(&mut s),
        vec![Event::Pong(b"p".to_vec())],
        "ping answered"
    );
}

#[test]
fn continuation_rules_are_1002() {
    assert_fails(
        &frame(true, Opcode::Continuation, b"x"),
        close::PROTOCOL_ERROR,
    );
    let mut two_starts = frame(false, Opcode::Text, b"a");
    two_starts.extend(frame(true, Opcode::Binary, b"b"));
    assert_fails(&two_starts, close::PROTOCOL_ERROR);
}

#[test]
fn control_frames_are_short_and_whole() {
    assert_fails(&frame(false, Opcode::Ping, b"x"), close::PROTOCOL_ERROR);
    assert_fails(&frame(true, Opcode::Ping, &[0; 126]), close::PROTOCOL_ERROR);
    let mut s = server();
    s.feed(&frame(true, Opcode::Ping, &[7; 125]));
    assert_eq!(events(&mut s), vec![Event::Ping(vec![7; 125])]);
    assert_eq!(s.ping(&[0; 126]), Err(SendError::TooLong));
    assert_fails(&[0xC1, 0x80, 1, 2, 3, 4], close::PROTOCOL_ERROR); // RSV1
    assert_fails(&[0x83, 0x80, 1, 2, 3, 4], close::PROTOCOL_ERROR); // opcode 3
}

#[test]
fn text_must_be_utf8_even_across_fragments() {
    let e_acute = "é".as_bytes();
    let mut split = frame(false, Opcode::Text, &[b'x', e_acute[0]]);
    split.extend(frame(true, Opcode::Continuation, &[e_acute[1], b'y']));
    let mut s = server();
    s.feed(&split);
    assert_eq!(
        events(&mut s),
        vec![text("xéy")],
        "a character split by fragments"
    );

    assert_fails(&frame(true, Opcode::Text, b"ok\xFFno"), close::INVALID_DATA);
    assert_fails(
        &frame(true, Opcode::Text, &[b'a', e_acute[0]]),
        close::INVALID_DATA,
    );
    let mut cut = frame(false, Opcode::Text, &[e_acute[0]]);
    cut.extend(frame(true, Opcode::Continuation, b""));
    assert_fails(&cut, close::INVALID_DATA);
    assert_fails(
        &frame(true, Opcode::Text, b"\xED\xA0\x80"),
        close::INVALID_DATA,
    ); // surrogate

    // Fail fast: the bad first fragment is refused before the message ends.
    let mut s = server();
    s.feed(&frame(false, Opcode::Text, b"\xC0\xAF"));
    assert!(failed(close::INVALID_DATA)(&events(&mut s)));
    // Binary messages are not checked.
    let mut s = server();
    s.feed(&frame(true, Opcode::Binary, b"\xFF"));
    assert_eq!(
        events(&mut s),
        vec![Event::Message(Message::Binary(vec![0xFF]))]
    );
}

#[test]
fn close_handshake_started_by_the_peer() {
    let mut c = client();
    let mut s = server();
    c.close(close::NORMAL, "bye").unwrap();
    assert_eq!(
        c.send(&Message::Text("late".into())),
        Err(SendError::Closing)
    );
    s.feed(c.output());
    s.feed(&frame(true, Opcode::Text, b"after close")); // ignored
    assert_eq!(
        events(&mut s),
        vec![Event::Closed(Close {
            code: close::NORMAL,
            reason: "bye".into()
        })]
    );
    assert!(s.is_done() && s.close_sent());
    assert_eq!(s.ping(b""), Err(SendError::Closing));
    c.feed(s.output());
    assert_eq!(
        events(&mut c),
        vec![Event::Closed(Close {
            code: close::NORMAL,
            reason: String::new()
        })],
        "the code is echoed"
    );
}

#[test]
fn close_handshake_started_by_us() {
    let mut s = server();
    s.close(close::GOING_AWAY, "restart").unwrap();
    assert_eq!(
        replies(&mut s),
        vec![Event::Closed(Close {
            code: close::GOING_AWAY,
            reason: "restart".into()
        })]
    );
    s.feed(&frame(true, Opcode::Text, b"in flight"));
    s.feed(&frame(true, Opcode::Close, &1000u16.to_be_bytes()));
    assert_eq!(
        events(&mut s).len(),
        2,
        "message still delivered, then the close"
    );
    assert!(s.is_done());
    assert!(s.output().is_empty(), "no second close frame");
    assert_eq!(s.close(999, ""), Err(SendError::BadCode));
    assert_eq!(s.close(1000, &"x".repeat(124)), Err(SendError::TooLong));
}

#[test]
fn close_payload_rules() {
    let mut s = server();
    s.feed(&frame(true, Opcode::Close, b""));
    let closed = Close {
        code: close::NO_STATUS,
        reason: String::new(),
    };
    assert_eq!(events(&mut s), vec![Event::Closed(closed)]);
    assert_eq!(
        s.output(),
        [0x88, 0x00],
        "an empty close answered with an empty one"
    );
    assert_fails(&frame(true, Opcode::Close, &[3]), close::PROTOCOL_ERROR);
    for bad in [0u16, 999, 1004, 1005, 1006, 1015, 2999, 5000] {
        assert_fails(
            &frame(true, Opcode::Close, &bad.to_be_bytes()),
            close::PROTOCOL_ERROR,
        );
    }
    let mut bad_reason = 1000u16.to_be_bytes().to_vec();
    bad_reason.push(0xFF);
    assert_fails(
        &frame(true, Opcode::Close, &bad_reason),
        close::INVALID_DATA,
    );
}

#[test]
fn size_limits_are_1009() {
    let limits = Limits {
        max_frame: 10,
        max_message: 15,
    };
    let at_limit = |bytes: &[u8]| {
        let mut s = Codec::new(Role::Server, limits);
        s.feed(bytes);
        events(&mut s)
    };
    assert_eq!(at_limit(&frame(true, Opcode::Binary, &[0; 10])).len(), 1);
    assert!(failed(close::TOO_BIG)(&at_limit(&frame(
        true,
        Opcode::Binary,
        &[0; 11]
    ))));
    let mut fifteen = frame(false, Opcode::Text, b"0123456789");
    fifteen.extend(frame(true, Opcode::Continuation, b"01234"));
    assert_eq!(at_limit(&fifteen), vec![text("012345678901234")]);
    let mut sixteen = frame(false, Opcode::Text, b"0123456789");
    sixteen.extend(frame(true, Opcode::Continuation, b"012345"));
    assert!(failed(close::TOO_BIG)(&at_limit(&sixteen)));
    // Refused from the header alone: a huge announced frame costs nothing.
    let mut s = server();
    s.feed(&[0x82, 0xFF, 0, 0, 0, 1, 0, 0, 0, 0, 1, 2, 3, 4]);
    assert!(failed(close::TOO_BIG)(&events(&mut s)));
}

proptest! {
    /// Any split of the input gives the same events as feeding it whole.
    #[test]
    fn any_chunking_decodes_the_same(cuts in proptest::collection::vec(0usize..400, 0..12)) {
        let mut bytes = frame(false, Opcode::Text, "añb€".as_bytes());
        bytes.extend(frame(true, Opcode::Ping, b"ping"));
        bytes.extend(frame(true, Opcode::Continuation, &"😀".repeat(40).into_bytes()));
        bytes.extend(frame(true, Opcode::Binary, &[9; 130]));
        bytes.extend(frame(true, Opcode::Close, b"\x03\xe8done"));
        let mut whole = server();
        whole.feed(&bytes);
        let want = events(&mut whole);
        prop_assert_eq!(want.len(), 4);
        let mut cuts: Vec<usize> = cuts.into_iter().map(|c| c.min(bytes.len())).collect();
        cuts.sort_unstable();
        let mut s = server();
        let mut at = 0;
        for c in cuts.into_iter().chain([bytes.len()]) {
            s.feed(&bytes[at..c]);
            at = c;
        }
        prop_assert_eq!(events(&mut s), want);
        prop_assert_eq!(s.output(), whole.output());
    }
}
