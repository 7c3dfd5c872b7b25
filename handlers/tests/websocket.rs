//! The WebSocket handshake and codec against a real client (Python `websockets`, driven by
//! `ws_peer.py`) over real sockets. Until the core can hand an upgraded connection to a
//! handler, the connection is driven here by blocking I/O on a thread: the codec does not
//! care who moves its bytes.

use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::process::Command;
use std::time::{Duration, Instant};

use reactor::parse::{parse_head, Limits as HeadLimits};
use reactor::response::reason;
use reactor_handlers::websocket::{handshake, Codec, Event, Limits, Role};

/// The status line and header fields of a handshake answer (which never has a body).
fn head(r: &reactor::Response) -> String {
    let mut head = format!("HTTP/1.1 {} {}\r\n", r.status, reason(r.status));
    for (n, v) in &r.headers {
        head.push_str(&format!("{n}: {v}\r\n"));
    }
    if r.status != 101 {
        head.push_str("Content-Length: 0\r\nConnection: close\r\n");
    }
    head + "\r\n"
}

/// One connection: handshake, then echo every message until the close handshake or a
/// protocol error, then a short lingering close so the peer reads our close frame.
fn echo(mut stream: TcpStream) -> io::Result<()> {
    stream.set_read_timeout(Some(Duration::from_secs(30)))?;
    let peer = stream.peer_addr()?;
    let mut buf = Vec::new();
    let mut chunk = vec![0u8; 64 * 1024];
    let (req, used) = loop {
        let n = stream.read(&mut chunk)?;
        if n == 0 {
            return Ok(());
        }
        buf.extend_from_slice(&chunk[..n]);
        match parse_head(&buf, &HeadLimits::default(), peer) {
            Ok(Some(found)) => break found,
            Ok(None) => continue,
            Err(_) => return Ok(()),
        }
    };
    match handshake::accept(&req, &[]) {
        Ok(accepted) => stream.write_all(head(&accepted.response()).as_bytes())?,
        Err(refusal) => return stream.write_all(head(&refusal).as_bytes()),
    }
    let mut codec = Codec::new(Role::Server, Limits::default());
    codec.feed(&buf[used..]);
    loop {
        while let Some(event) = codec.next_event() {
            if let Event::Message(m) = event {
                let _ = codec.send(&m);
            }
        }
        stream.write_all(codec.output())?;
        codec.consume(codec.output().len());
        if codec.is_done() {
            break;
        }
        let n = stream.read(&mut chunk)?;
        if n == 0 {
            return Ok(());
        }
        codec.feed(&chunk[..n]);
    }
    stream.shutdown(Shutdown::Write)?;
    stream.set_read_timeout(Some(Duration::from_millis(500)))?;
    let until = Instant::now() + Duration::from_secs(5);
    while Instant::now() < until && matches!(stream.read(&mut chunk), Ok(n) if n > 0) {}
    Ok(())
}

#[test]
fn python_websockets_client_against_the_codec() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            std::thread::spawn(move || echo(stream));
        }
    });
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/ws_peer.py");
    let out = Command::new("python3")
        .arg(script)
        .arg(format!("ws://{addr}/echo"))
        .output()
        .expect("python3 runs (and has websockets: see .ci/run)");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    for check in [
        "text",
        "text-unicode",
        "binary",
        "binary-1MiB",
        "text-big",
        "fragmented-text",
        "fragmented-binary",
        "ping-pong",
        "close-code",
        "invalid-utf8-1007",
        "utf8-joined",
        "oversized-1009",
        "unmasked-1002",
        "long-ping-1002",
    ] {
        assert!(
            stdout.lines().any(|l| l == format!("ok {check}")),
            "{check}: {stdout}"
        );
    }
    assert!(stdout.ends_with("done\n"), "{stdout}");
}
