//! reactor-proxy's upstream side over real sockets: origin heads dripped byte by byte,
//! TLS origins, several origins with balancing and health, parent proxies, proxy auth.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};

use reactor::testing::{serve, Client, TestResponse};
use reactor::{Config, Running, Server};
use reactor_handlers::proxy::{parse_upstream, Proxy, ProxyConfig};

/// Reads one request head (no body expected) from `s`; `None` when the peer closed.
fn read_head(s: &mut TcpStream) -> Option<String> {
    let mut buf = Vec::new();
    let mut b = [0u8; 1];
    while !buf.ends_with(b"\r\n\r\n") {
        match s.read(&mut b) {
            Ok(1) => buf.push(b[0]),
            _ => return None,
        }
    }
    Some(String::from_utf8_lossy(&buf).into_owned())
}

/// An origin answering every request on every connection with `answer(head)`, written
/// `chunk` bytes per write.
fn origin(answer: fn(&str) -> Vec<u8>, chunk: usize) -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    std::thread::spawn(move || {
        for s in l.incoming() {
            let Ok(mut s) = s else { continue };
            std::thread::spawn(move || {
                let _ = s.set_nodelay(true);
                while let Some(head) = read_head(&mut s) {
                    for part in answer(&head).chunks(chunk) {
                        if s.write_all(part).is_err() {
                            return;
                        }
                    }
                }
            });
        }
    });
    addr
}

fn proxy_with(cfg: ProxyConfig) -> Running {
    serve(Server::new(Config::default()).handler(Proxy::new(cfg)))
}

fn get(p: &Running, target: &str) -> TestResponse {
    let mut c = Client::connect(p.local_addr());
    c.send(format!("GET {target} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes());
    c.response(false).expect("a response")
}

// ------------------------------------------------------------ heads in linear time

#[test]
fn heads_dripped_one_byte_per_write_with_interim_responses() {
    fn answer(_: &str) -> Vec<u8> {
        let mut w =
            b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </s>\r\n\r\n".to_vec();
        w.extend_from_slice(b"HTTP/1.1 200 OK\r\nCache-Control: no-store\r\n");
        for i in 0..40 {
            w.extend_from_slice(format!("X-Pad-{i}: {}\r\n", "p".repeat(30)).as_bytes());
        }
        w.extend_from_slice(b"Content-Length: 5\r\n\r\nhello");
        w
    }
    let o = origin(answer, 1);
    let p = proxy_with(ProxyConfig {
        upstream: Some(parse_upstream(&format!("http://{o}")).unwrap()),
        ..ProxyConfig::default()
    });
    for _ in 0..2 {
        let r = get(&p, "/dripped");
        assert_eq!(r.status, 200);
        assert_eq!(r.text(), "hello");
        assert_eq!(r.header("x-pad-39").map(str::len), Some(30));
    }
}
