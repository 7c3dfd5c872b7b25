//! reactor-client against real servers: reactor-httpd (in process) and canned responders.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::process::Command;

use reactor::testing::serve;
use reactor::{Config, Server};
use reactor_handlers::{FsRoot, StaticFiles};

const CLIENT: &str = env!("CARGO_BIN_EXE_reactor-client");

fn client(args: &[&str]) -> (i32, Vec<u8>, String) {
    let out = Command::new(CLIENT).args(args).output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        out.stdout,
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Serves one connection with `response` after reading the request head.
fn canned(response: &'static [u8]) -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    std::thread::spawn(move || {
        let (mut s, _) = l.accept().unwrap();
        let mut buf = [0u8; 4096];
        let mut got = Vec::new();
        while !got.windows(4).any(|w| w == b"\r\n\r\n") {
            let n = s.read(&mut buf).unwrap();
            if n == 0 {
                return;
            }
            got.extend_from_slice(&buf[..n]);
        }
        s.write_all(response).unwrap();
    });
    port
}

#[test]
fn fetches_from_reactor_httpd() {
    let dir = std::env::temp_dir().join(format!("reactor-client-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("index.html"), "<h1>hi</h1>").unwrap();
    let s =
        serve(Server::new(Config::default()).handler(StaticFiles::new(FsRoot::new(&dir).unwrap())));
    let port = s.local_addr().port().to_string();
    let (code, out, _) = client(&["GET", "127.0.0.1", &port, "/index.html"]);
    let text = String::from_utf8_lossy(&out);
    assert_eq!(code, 0);
    assert!(text.starts_with("HTTP/1.1 200 OK\r\n"), "{text}");
    assert!(text.contains("Content-Length: 11\r\n"));
    assert!(text.ends_with("\r\n\r\n<h1>hi</h1>"), "{text}");
    let (code, out, _) = client(&["HEAD", "localhost", &port, "/index.html"]);
    assert_eq!(code, 0);
    assert!(out.ends_with(b"\r\n\r\n"), "no body for HEAD");
    let (code, out, _) = client(&["GET", "127.0.0.1", &port, "/missing"]);
    assert_eq!(code, 0, "a 404 is a complete response");
    assert!(out.starts_with(b"HTTP/1.1 404"));
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn decodes_chunked_and_close_delimited_bodies() {
    let port = canned(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\nX-Trailer: t\r\n\r\n");
    let (code, out, _) = client(&["GET", "127.0.0.1", &port.to_string(), "/"]);
    assert_eq!(code, 0);
    assert!(out.ends_with(b"\r\n\r\nhello world"));
    let port = canned(b"HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\nuntil the end");
    let (code, out, _) = client(&["GET", "127.0.0.1", &port.to_string(), "/", "--http1.0"]);
    assert_eq!(code, 0);
    assert!(out.ends_with(b"\r\n\r\nuntil the end"));
}

#[test]
fn truncated_bodies_and_refused_connections_fail_with_one_line() {
    let port = canned(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly this");
    let (code, out, err) = client(&["GET", "127.0.0.1", &port.to_string(), "/"]);
    assert_eq!(code, 1);
    assert!(out.ends_with(b"only this"), "what arrived is printed");
    assert!(err.contains("truncated: got 9 of 100 bytes"), "{err}");
    assert_eq!(err.lines().count(), 1);
    let closed = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let (code, _, err) = client(&["GET", "127.0.0.1", &closed.to_string(), "/"]);
    assert_eq!(code, 1);
    assert!(
        err.starts_with("reactor-client: cannot connect to 127.0.0.1:"),
        "{err}"
    );
    assert_eq!(err.lines().count(), 1);
    for bad in [
        &["GET", "h"][..],
        &["GET", "h", "port", "/"][..],
        &["GET", "h", "80", "nopath"][..],
        &["--bogus"][..],
    ] {
        let (code, _, err) = client(bad);
        assert_eq!(code, 2, "{bad:?}");
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(!err.contains("panicked"));
    }
}

#[test]
fn sends_headers_and_body() {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    let server = std::thread::spawn(move || {
        let (mut s, _) = l.accept().unwrap();
        let mut got = Vec::new();
        let mut buf = [0u8; 1024];
        while !String::from_utf8_lossy(&got).ends_with("name=x") {
            let n = s.read(&mut buf).unwrap();
            got.extend_from_slice(&buf[..n]);
        }
        s.write_all(b"HTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n")
            .unwrap();
        String::from_utf8(got).unwrap()
    });
    let (code, out, _) = client(&[
        "POST",
        "127.0.0.1",
        &port.to_string(),
        "/f",
        "-H",
        "X-Test: yes",
        "-d",
        "name=x",
    ]);
    assert_eq!(code, 0);
    assert!(out.starts_with(b"HTTP/1.1 201"));
    let req = server.join().unwrap();
    assert!(req.starts_with("POST /f HTTP/1.1\r\n"), "{req}");
    assert!(req.contains("\r\nX-Test: yes\r\n") && req.contains("\r\nContent-Length: 6\r\n"));
}
