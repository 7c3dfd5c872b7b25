//! The floor: the smallest HTTP/1.1 server this kernel allows, as a ceiling for `bench/run`.
//!
//! One thread, mio (edge-triggered epoll), one read buffer per connection. It finds the end
//! of each request head (`\r\n\r\n`) and answers every request with the same prebuilt
//! response ([`RESPONSE`], a 1 KB body); the answers to all requests found in one read go
//! out in one write. It does no other parsing (request bodies are not supported): it is the
//! ceiling reactor-httpd is measured against, not a server to use.
//!
//! ```no_run
//! let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
//! reactor_floor::serve(listener).unwrap(); // runs until an I/O error on the poll itself
//! ```
use std::io::{self, Read, Write};
use std::net::TcpListener as StdListener;

use mio::net::{TcpListener, TcpStream};
use mio::{Events, Interest, Poll, Token};
use slab::Slab;

/// Size of the body every answer carries.
pub const BODY_LEN: usize = 1024;
/// Bytes of one read; a request head longer than this closes the connection.
const READ_BUF: usize = 64 * 1024;
const LISTENER: Token = Token(usize::MAX);

/// The one answer, head and 1 KB body: `HTTP/1.1 200 OK`, keep-alive.
pub static RESPONSE: std::sync::LazyLock<Vec<u8>> = std::sync::LazyLock::new(|| {
    let mut r = format!(
        "HTTP/1.1 200 OK\r\nServer: floor\r\nContent-Type: application/octet-stream\r\n\
         Content-Length: {BODY_LEN}\r\n\r\n"
    )
    .into_bytes();
    r.extend_from_slice(&[b'x'; BODY_LEN]);
    r
});

/// One client connection: the start of a request head that has not fully arrived, and the
/// part of an answer the socket did not take. Both are usually empty (no memory held).
struct Conn {
    stream: TcpStream,
    partial: Vec<u8>,
    pending: Vec<u8>,
}

/// Buffers shared by all connections (one thread): the read buffer and the batch of answers.
struct Scratch {
    read: Box<[u8]>,
    batch: Vec<u8>,
}

/// Serves on `listener` forever (until polling itself fails).
pub fn serve(listener: StdListener) -> io::Result<()> {
    listener.set_nonblocking(true)?;
    let mut listener = TcpListener::from_std(listener);
    let mut poll = Poll::new()?;
    poll.registry()
        .register(&mut listener, LISTENER, Interest::READABLE)?;
    let mut conns: Slab<Conn> = Slab::new();
    let mut events = Events::with_capacity(1024);
    let mut scratch = Scratch {
        read: vec![0; READ_BUF].into_boxed_slice(),
        batch: Vec::new(),
    };
    loop {
        if let Err(e) = poll.poll(&mut events, None) {
            if e.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return Err(e);
        }
        for event in &events {
            if event.token() == LISTENER {
                accept_all(&listener, &poll, &mut conns);
                continue;
            }
            let key = event.token().0;
            let Some(conn) = conns.get_mut(key) else {
                continue;
            };
            if drive(conn, &mut scratch).is_err() {
                let mut conn = conns.remove(key);
                let _ = poll.registry().deregister(&mut conn.stream);
            }
        }
    }
}

/// Accepts every pending connection (edge-triggered: until `WouldBlock`).
fn accept_all(listener: &TcpListener, poll: &Poll, conns: &mut Slab<Conn>) {
    loop {
        match listener.accept() {
            Ok((mut stream, _)) => {
                let _ = stream.set_nodelay(true);
                let entry = conns.vacant_entry();
                let token = Token(entry.key());
                let interest = Interest::READABLE | Interest::WRITABLE;
                if poll
                    .registry()
                    .register(&mut stream, token, interest)
                    .is_ok()
                {
                    entry.insert(Conn {
                        stream,
                        partial: Vec::new(),
                        pending: Vec::new(),
                    });
                }
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            // Out of descriptors or the like: the rest wait for the next readiness edge.
            Err(_) => return,
        }
    }
}

/// Writes what is pending, then reads and answers until the socket would block.
/// `Err` means the connection is finished (closed by the peer or failed).
fn drive(conn: &mut Conn, scratch: &mut Scratch) -> io::Result<()> {
    loop {
        if !conn.pending.is_empty() {
            let pending = std::mem::take(&mut conn.pending);
            if !write_or_keep(conn, &pending)? {
                return Ok(());
            }
        }
        let n = match conn.stream.read(&mut scratch.read) {
            Ok(0) => return Err(io::ErrorKind::UnexpectedEof.into()),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        let requests = if conn.partial.is_empty() {
            let (requests, used) = count_heads(&scratch.read[..n]);
            conn.partial.extend_from_slice(&scratch.read[used..n]);
            requests
        } else {
            conn.partial.extend_from_slice(&scratch.read[..n]);
            let (requests, used) = count_heads(&conn.partial);
            conn.partial.drain(..used);
            requests
        };
        if conn.partial.len() > READ_BUF {
            return Err(io::ErrorKind::InvalidData.into()); // a head over 64 KiB
        }
        let answers: &[u8] = match requests {
            0 => continue,
            1 => &RESPONSE,
            _ => {
                scratch.batch.clear();
                for _ in 0..requests {
                    scratch.batch.extend_from_slice(&RESPONSE);
                }
                &scratch.batch
            }
        };
        if !write_or_keep(conn, answers)? {
            return Ok(());
        }
    }
}

/// Writes `bytes` in one call if the socket takes them; what it does not take is kept in
/// `conn.pending` (then `Ok(false)`: wait for the socket to become writable).
fn write_or_keep(conn: &mut Conn, bytes: &[u8]) -> io::Result<bool> {
    let mut at = 0;
    while at < bytes.len() {
        match conn.stream.write(&bytes[at..]) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => at += n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                conn.pending = bytes[at..].to_vec();
                return Ok(false);
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(true)
}

/// Complete request heads in `buf` (each ends with `\r\n\r\n`) and the bytes they span.
///
/// ```
/// assert_eq!(reactor_floor::count_heads(b"GET / HTTP/1.1\r\n\r\nGET /a HTTP/1.1\r\n\r\nGE"), (2, 37));
/// ```
pub fn count_heads(buf: &[u8]) -> (usize, usize) {
    let (mut count, mut end, mut at) = (0, 0, 0);
    while let Some(i) = buf[at..].iter().position(|&b| b == b'\n') {
        let nl = at + i;
        if nl >= 3 && &buf[nl - 3..=nl] == b"\r\n\r\n" && nl - 3 >= end {
            count += 1;
            end = nl + 1;
        }
        at = nl + 1;
    }
    (count, end)
}
