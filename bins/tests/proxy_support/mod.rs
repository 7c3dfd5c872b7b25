//! Support for the reactor-proxy cache tests: a scripted origin, the binary, requests.
#![allow(dead_code)] // each test file uses a different part

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::Command;
use std::sync::Arc;

use super::common::Httpd;
use reactor::testing::{Client, TestResponse};

/// An origin answering every request with `respond(target)` (a whole response; empty:
/// close the connection instead), on keep-alive connections, one thread each.
pub fn origin(respond: impl Fn(&str) -> Vec<u8> + Send + Sync + 'static) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let respond = Arc::new(respond);
    std::thread::spawn(move || {
        for s in listener.incoming().flatten() {
            let respond = respond.clone();
            std::thread::spawn(move || answer_all(s, &*respond));
        }
    });
    addr
}

fn answer_all(mut s: TcpStream, respond: &(dyn Fn(&str) -> Vec<u8> + Send + Sync)) {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 16 * 1024];
    loop {
        while let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..end]).into_owned();
            buf.drain(..end + 4);
            let target = head.split(' ').nth(1).unwrap_or("/").to_string();
            // An empty answer: close without answering.
            let answer = respond(&target);
            if answer.is_empty() || s.write_all(&answer).is_err() {
                return;
            }
        }
        match s.read(&mut chunk) {
            Ok(0) | Err(_) => return,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
}

/// reactor-proxy on a free port with `args`.
pub fn proxy_binary(args: &[&str]) -> Httpd {
    Httpd::spawn(Command::new(env!("CARGO_BIN_EXE_reactor-proxy")), args)
}

/// `GET url` through the proxy at `proxy` with extra header lines.
pub fn get(proxy: SocketAddr, url: &str, extra: &str) -> TestResponse {
    let mut c = Client::connect(proxy);
    c.send(format!("GET {url} HTTP/1.1\r\nHost: x\r\n{extra}\r\n").as_bytes());
    c.response(false).expect("a response")
}

/// The `X-Cache` state of an answer.
pub fn x_cache(r: &TestResponse) -> String {
    r.header("x-cache").unwrap_or("").to_string()
}
