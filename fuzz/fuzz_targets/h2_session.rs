//! The HTTP/2 server session on arbitrary client bytes after the preface, with an
//! application that answers every request: no panic, output is always whole frames,
//! never more streams than allowed, and a dead session's last frame is GOAWAY.
#![no_main]

use libfuzzer_sys::fuzz_target;
use reactor::h2::frame::{kind, FrameHeader, HEADER_LEN, PREFACE};
use reactor::h2::{Config, ErrorCode, Event, Session};

/// Checks that `out` is a sequence of whole frames; returns the kind of the last one.
fn check_frames(out: &[u8]) -> Option<u8> {
    let mut pos = 0;
    let mut last = None;
    while pos < out.len() {
        let h = FrameHeader::parse(&out[pos..]).expect("whole frame header");
        assert!(h.len < 1 << 24);
        pos += HEADER_LEN + h.len as usize;
        last = Some(h.kind);
    }
    assert_eq!(pos, out.len(), "output ends on a frame boundary");
    last
}

fuzz_target!(|input: &[u8]| {
    let Some((&mode, input)) = input.split_first() else {
        return;
    };
    let cfg = Config {
        max_concurrent_streams: 8,
        stream_window: 1000 + mode as u32 * 64,
        ..Config::default()
    };
    let mut s = Session::new(cfg);
    s.recv(PREFACE);
    // Feed the input in pieces of a size chosen by the first byte, to exercise partial
    // frames.
    let piece = (mode as usize % 64) + 1;
    let body = vec![b'x'; 40_000];
    let mut pending: Vec<(u32, usize)> = Vec::new();
    for (i, chunk) in input.chunks(piece).enumerate() {
        s.set_clock(i as u64);
        s.recv(chunk);
        while let Some(ev) = s.poll_event() {
            match ev {
                Event::Request { stream, end_stream, head } => {
                    let _ = (end_stream, head.method.len());
                    let status = if head.method == "HEAD" { 200 } else { 200 + (stream % 3) as u16 * 102 };
                    if let Ok(true) = s.send_headers(stream, status, &[("content-type", "text/plain")], false) {
                        pending.push((stream, 0));
                    }
                }
                Event::Data { stream, data, .. } => s.release(stream, data.len()),
                Event::Reset { stream, .. } => pending.retain(|(id, _)| *id != stream),
                Event::SendReady { .. } | Event::GoAway { .. } => {}
                Event::ConnectionError { reason, .. } => {
                    assert!(s.is_dead());
                    if std::env::var_os("H2_FUZZ_DEBUG").is_some() {
                        eprintln!("connection error: {reason}");
                    }
                }
            }
        }
        pending.retain_mut(|(stream, sent)| match s.send_data(*stream, &body[*sent..], true) {
            Ok(n) => {
                *sent += n;
                *sent < body.len()
            }
            Err(_) => false,
        });
        if s.is_dead() {
            break; // the GOAWAY must still be the last frame of the output
        }
        if i % 3 == 0 {
            let out = s.output();
            check_frames(out);
            let n = out.len();
            s.consume(n);
        }
        for id in s.stalled(i as u64) {
            s.reset(id, ErrorCode::Cancel);
        }
        assert!(s.open_streams() <= 8);
        if mode & 0x80 != 0 && i == 4 {
            s.go_away();
        }
    }
    let last = check_frames(s.output());
    if s.is_dead() {
        assert_eq!(last, Some(kind::GOAWAY));
    }
});
