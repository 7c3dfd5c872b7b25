//! The 101 takeover over real sockets: after the 101 head, the connection's bytes (those
//! sent right behind the request head included) belong to the handler's object, which
//! the reactor drives on readiness and on wake-ups from other threads.

use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use reactor::testing::serve;
use reactor::upgrade::{UpgradeIo, Upgraded};
use reactor::{Config, Context, Handler, Reply, Request, Response, Server};

/// Upper-cases what it reads; also writes what another thread leaves in `inbox`.
struct Shout {
    out: Vec<u8>,
    inbox: Arc<Mutex<Vec<u8>>>,
    started: bool,
}

impl Upgraded for Shout {
    fn ready(&mut self, io: &mut UpgradeIo<'_>) -> bool {
        if !self.started {
            self.started = true;
            let (waker, inbox) = (io.waker(), self.inbox.clone());
            std::thread::spawn(move || {
                std::thread::sleep(Duration::from_millis(50));
                inbox.lock().unwrap().extend_from_slice(b"<tick>");
                waker.wake();
            });
        }
        self.out.append(&mut self.inbox.lock().unwrap());
        loop {
            while !self.out.is_empty() {
                match io.write(&self.out) {
                    Ok(n) if n > 0 => drop(self.out.drain(..n)),
                    Err(e) if e.kind() == ErrorKind::WouldBlock => return true,
                    _ => return false,
                }
            }
            let mut buf = [0u8; 1024];
            match io.read(&mut buf) {
                Ok(0) => return false,
                Ok(n) => self.out.extend(buf[..n].iter().map(u8::to_ascii_uppercase)),
                Err(e) => return e.kind() == ErrorKind::WouldBlock,
            }
        }
    }
}

struct Switch;

impl Handler for Switch {
    fn handle(&self, req: &mut Request, _: &mut Context<'_>) -> Reply {
        let r = Response::new(101)
            .with_header("Upgrade", "x-shout")
            .with_header("Connection", "Upgrade");
        Reply::Response(match req.path() {
            "/shout" => r.upgrade(Shout {
                out: Vec::new(),
                inbox: Arc::default(),
                started: false,
            }),
            _ => r, // a 101 without a taker
        })
    }
}

fn read_until(s: &mut TcpStream, want: &[u8]) -> Vec<u8> {
    let mut got = Vec::new();
    let mut buf = [0u8; 1024];
    while !got.windows(want.len()).any(|w| w == want) {
        let n = s.read(&mut buf).unwrap();
        assert!(n > 0, "closed early: {}", String::from_utf8_lossy(&got));
        got.extend_from_slice(&buf[..n]);
    }
    got
}

#[test]
fn upgraded_connection_belongs_to_the_object() {
    let server = serve(Server::new(Config::default()).handler(Switch));
    let mut s = TcpStream::connect(server.local_addr()).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(
        b"GET /shout HTTP/1.1\r\nHost: t\r\nUpgrade: x-shout\r\nConnection: Upgrade\r\n\r\nabc",
    )
    .unwrap();
    let got = read_until(&mut s, b"ABC");
    let text = String::from_utf8_lossy(&got);
    let (head, rest) = text.split_once("\r\n\r\n").unwrap();
    assert!(
        head.starts_with("HTTP/1.1 101 Switching Protocols\r\n"),
        "{head}"
    );
    assert!(head.contains("\r\nConnection: Upgrade"), "{head}");
    assert!(head.contains("\r\nUpgrade: x-shout"), "{head}");
    assert!(
        !head.to_ascii_lowercase().contains("content-length"),
        "{head}"
    );
    assert!(!head.contains("close"), "{head}");
    assert!(rest.starts_with("ABC"), "{rest}");
    s.write_all(b"more").unwrap();
    read_until(&mut s, b"MORE");
    read_until(&mut s, b"<tick>");
    s.write_all(b"x").unwrap();
    read_until(&mut s, b"X");
}

#[test]
fn a_101_without_a_taker_is_a_500() {
    let server = serve(Server::new(Config::default()).handler(Switch));
    let mut s = TcpStream::connect(server.local_addr()).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(
        b"GET /none HTTP/1.1\r\nHost: t\r\nUpgrade: x-shout\r\nConnection: Upgrade\r\n\r\n",
    )
    .unwrap();
    let mut all = String::new();
    s.read_to_string(&mut all).unwrap();
    assert!(all.starts_with("HTTP/1.1 500 "), "{all}");
}

#[test]
fn no_takeover_for_http10() {
    let server = serve(Server::new(Config::default()).handler(Switch));
    let mut s = TcpStream::connect(server.local_addr()).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(b"GET /shout HTTP/1.0\r\nUpgrade: x-shout\r\nConnection: Upgrade\r\n\r\n")
        .unwrap();
    let mut all = String::new();
    s.read_to_string(&mut all).unwrap();
    assert!(all.starts_with("HTTP/1.1 500 "), "{all}");
}
