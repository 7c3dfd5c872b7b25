//! Flow control in both directions (RFC 9113 §5.2, §6.9) and stalled streams.

use super::*;
use crate::h2::frame::flag;
use crate::h2::test_client::*;
use ErrorCode::*;

fn client() -> Client {
    Client::new(Config::default())
}

#[test]
fn release_returns_window() {
    let cfg = Config {
        stream_window: 1000,
        connection_window: 4000,
        ..Config::default()
    };
    let mut c = Client::new(cfg);
    c.send(Frame::Settings {
        ack: true,
        params: vec![],
    });
    c.request(1, "POST", "/", &[], false);
    c.data(1, &[0; 600], false);
    c.events();
    c.s.release(1, 600);
    let out = c.drain();
    assert!(out.iter().any(|f| f.frame()
        == Frame::WindowUpdate {
            stream: 1,
            increment: 600
        }));
    // The connection window is returned once half of it is due.
    assert!(!out
        .iter()
        .any(|f| matches!(f.frame(), Frame::WindowUpdate { stream: 0, .. })));
    c.data(1, &[0; 1000], false);
    c.data(1, &[0; 600], false);
    c.s.release(1, 1600);
    let out = c.drain();
    assert!(out.iter().any(|f| f.frame()
        == Frame::WindowUpdate {
            stream: 0,
            increment: 2200
        }));
}

#[test]
fn request_body_beyond_the_windows() {
    let cfg = Config {
        stream_window: 1000,
        connection_window: 2000,
        ..Config::default()
    };
    let mut c = Client::new(cfg.clone());
    c.send(Frame::Settings {
        ack: true,
        params: vec![],
    });
    c.request(1, "POST", "/", &[], false);
    c.data(1, &[0; 1001], false);
    assert_eq!(rst(&c.drain(), 1), Some(FlowControlError));
    // The connection window never starts below the default 65535: overrun that.
    let mut c = Client::new(Config {
        stream_window: 70_000,
        connection_window: 60_000,
        ..cfg
    });
    c.request(1, "POST", "/", &[], false);
    for _ in 0..4 {
        c.data(1, &[0; 16_384], false);
    }
    assert_eq!(goaway(&c.drain()), Some(FlowControlError));
}

#[test]
fn send_flow_control_and_window_updates() {
    let mut c = client();
    c.send(Frame::Settings {
        ack: false,
        params: vec![(setting::INITIAL_WINDOW_SIZE, 10)],
    });
    c.get(1, "/");
    c.events();
    c.drain();
    c.s.send_headers(1, 200, &[] as &[(&str, &str)], false)
        .unwrap();
    assert_eq!(c.s.send_capacity(1), 10);
    assert_eq!(c.s.send_data(1, &[7; 100], true), Ok(10));
    assert_eq!(c.s.send_data(1, &[7; 90], true), Ok(0));
    assert_eq!(data_frames(&c.drain()).len(), 1);
    c.send(Frame::WindowUpdate {
        stream: 1,
        increment: 50,
    });
    assert_eq!(c.events(), vec![Event::SendReady { stream: 1 }]);
    assert_eq!(c.s.send_data(1, &[7; 90], true), Ok(50));
    // A larger INITIAL_WINDOW_SIZE applies to the open stream too.
    c.send(Frame::Settings {
        ack: false,
        params: vec![(setting::INITIAL_WINDOW_SIZE, 100)],
    });
    assert_eq!(c.events(), vec![Event::SendReady { stream: 1 }]);
    assert_eq!(c.s.send_capacity(1), 40 + 50);
    assert_eq!(c.s.send_data(1, &[7; 40], true), Ok(40));
    let out = c.drain();
    assert_eq!(
        data_frames(&out).last().unwrap().head.flags & flag::END_STREAM,
        flag::END_STREAM
    );
}

#[test]
fn connection_window_limits_all_streams() {
    let mut c = client();
    c.get(1, "/");
    c.get(3, "/");
    c.events();
    for s in [1, 3] {
        c.s.send_headers(s, 200, &[] as &[(&str, &str)], false)
            .unwrap();
    }
    assert_eq!(c.s.send_data(1, &[0; 40_000], false), Ok(40_000));
    assert_eq!(c.s.send_data(3, &[0; 40_000], false), Ok(65_535 - 40_000));
    // Frames respect the peer's MAX_FRAME_SIZE (16384).
    assert!(data_frames(&c.drain()).iter().all(|f| f.head.len <= 16_384));
    c.send(Frame::WindowUpdate {
        stream: 0,
        increment: 1000,
    });
    assert_eq!(c.events(), vec![Event::SendReady { stream: 3 }]);
}

#[test]
fn window_overflow() {
    let mut c = client();
    c.get(1, "/");
    c.events();
    c.send(Frame::WindowUpdate {
        stream: 1,
        increment: MAX_WINDOW,
    });
    assert_eq!(rst(&c.drain(), 1), Some(FlowControlError));
    assert_eq!(
        c.events(),
        vec![Event::Reset {
            stream: 1,
            code: FlowControlError
        }]
    );
    c.get(3, "/");
    c.send(Frame::Settings {
        ack: false,
        params: vec![(setting::INITIAL_WINDOW_SIZE, MAX_WINDOW)],
    });
    c.send(Frame::WindowUpdate {
        stream: 3,
        increment: 1,
    });
    assert_eq!(rst(&c.drain(), 3), Some(FlowControlError));
    c.send(Frame::WindowUpdate {
        stream: 0,
        increment: MAX_WINDOW,
    });
    assert_eq!(goaway(&c.drain()), Some(FlowControlError));
}

#[test]
fn stalled_streams_are_reported() {
    let mut c = client();
    c.send(Frame::Settings {
        ack: false,
        params: vec![(setting::INITIAL_WINDOW_SIZE, 0)],
    });
    c.get(1, "/");
    c.get(3, "/");
    c.events();
    c.s.set_clock(100);
    c.s.send_headers(1, 200, &[] as &[(&str, &str)], false)
        .unwrap();
    c.s.send_headers(3, 200, &[] as &[(&str, &str)], false)
        .unwrap();
    assert_eq!(c.s.send_data(1, b"x", true), Ok(0));
    c.s.set_clock(5000);
    assert_eq!(c.s.stalled(1000), vec![1]);
    c.s.reset(1, Cancel);
    assert_eq!(rst(&c.drain(), 1), Some(Cancel));
    assert!(c.s.stalled(10_000).is_empty());
}
