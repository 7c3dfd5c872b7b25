//! The WebSocket codec (server role) on arbitrary bytes: no panics; fed in two pieces it
//! says exactly what it says fed whole; messages respect the limits; nothing follows the
//! end; and what it writes back on its own (pongs, close) is a valid frame stream for a client.
#![no_main]

use libfuzzer_sys::fuzz_target;
use reactor_handlers::websocket::{Codec, Event, Limits, Message, Role};

const LIMITS: Limits = Limits {
    max_frame: 300,
    max_message: 700,
};

fn run(pieces: &[&[u8]]) -> (Vec<Event>, Vec<u8>) {
    let mut codec = Codec::new(Role::Server, LIMITS);
    let mut events = Vec::new();
    for p in pieces {
        codec.feed(p);
        events.extend(std::iter::from_fn(|| codec.next_event()));
    }
    (events, codec.output().to_vec())
}

fuzz_target!(|input: &[u8]| {
    let Some((&cut, data)) = input.split_first() else {
        return;
    };
    let cut = usize::from(cut) * data.len() / 256;
    let whole = run(&[data]);
    let split = run(&[&data[..cut], &data[cut..]]);
    assert_eq!(whole, split);
    let (events, output) = whole;
    for (i, e) in events.iter().enumerate() {
        match e {
            Event::Message(Message::Text(t)) => assert!(t.len() <= LIMITS.max_message),
            Event::Message(Message::Binary(b)) => assert!(b.len() <= LIMITS.max_message),
            Event::Ping(p) | Event::Pong(p) => assert!(p.len() <= 125),
            Event::Closed(_) | Event::Failed(_) => assert_eq!(i + 1, events.len()),
        }
    }
    let mut client = Codec::new(Role::Client, Limits::default());
    client.feed(&output);
    while let Some(e) = client.next_event() {
        assert!(!matches!(e, Event::Failed(_)), "server wrote an invalid stream: {e:?}");
    }
});
