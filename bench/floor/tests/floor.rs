//! The floor answers each request head once, pipelined ones included, over a real socket.
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};

#[test]
fn answers_every_pipelined_request_once() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || reactor_floor::serve(listener));
    let mut s = TcpStream::connect(addr).unwrap();
    let one = b"GET /1k.bin HTTP/1.1\r\nHost: b\r\n\r\n";
    // 16 requests in one write, then one split across two writes.
    s.write_all(&one.repeat(16)).unwrap();
    s.write_all(&one[..10]).unwrap();
    std::thread::sleep(std::time::Duration::from_millis(50));
    s.write_all(&one[10..]).unwrap();
    let want = reactor_floor::RESPONSE.len() * 17;
    let mut got = vec![0; want];
    s.read_exact(&mut got).unwrap();
    assert_eq!(got, reactor_floor::RESPONSE.repeat(17));
    // Nothing more: the peer closing gets end-of-file, not a stray 18th answer.
    s.shutdown(std::net::Shutdown::Write).unwrap();
    let mut rest = Vec::new();
    s.read_to_end(&mut rest).unwrap();
    assert!(rest.is_empty(), "{} stray bytes", rest.len());
}

#[test]
fn counts_heads_not_lone_line_ends() {
    assert_eq!(reactor_floor::count_heads(b""), (0, 0));
    assert_eq!(reactor_floor::count_heads(b"\r\n\r"), (0, 0));
    assert_eq!(reactor_floor::count_heads(b"A\r\n\r\n\r\n\r\n"), (2, 9));
    assert_eq!(reactor_floor::count_heads(b"A\r\nB: c\r\n\r\nX"), (1, 11));
}
