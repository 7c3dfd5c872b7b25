//! reactor-proxy over real sockets: scripted origins on std threads (with hit counters),
//! the proxy in-process or as the binary, `python3 -m http.server` and curl where present.
//! One test per forwarding item and per cache rule.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use reactor::testing::{serve, Client, MemoryLog, TestResponse};
use reactor::{Config, Running, Server};
use reactor_handlers::proxy::access::AccessList;
use reactor_handlers::proxy::{parse_upstream, Proxy, ProxyConfig};

/// A request as the origin saw it.
#[derive(Debug, Clone)]
struct Seen {
    method: String,
    target: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Seen {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// What the origin does.
struct Answer {
    raw: Vec<u8>,
    close: bool,
    delay: Duration,
}

fn answer(raw: impl Into<Vec<u8>>) -> Answer {
    Answer {
        raw: raw.into(),
        close: false,
        delay: Duration::ZERO,
    }
}

/// `HTTP/1.1 200` with `headers` (each ending in CRLF) and a Content-Length body.
fn ok(headers: &str, body: &str) -> Answer {
    answer(format!(
        "HTTP/1.1 200 OK\r\nContent-Length: {}\r\n{headers}\r\n{body}",
        body.len()
    ))
}

/// A scripted origin: every request is recorded and answered by `script(request, n)`
/// where n counts requests from 0.
struct Origin {
    addr: SocketAddr,
    seen: Arc<Mutex<Vec<Seen>>>,
    connections: Arc<AtomicUsize>,
}

impl Origin {
    fn start(script: impl Fn(&Seen, usize) -> Answer + Send + Sync + 'static) -> Origin {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let connections = Arc::new(AtomicUsize::new(0));
        let script = Arc::new(script);
        let (seen2, conns2) = (seen.clone(), connections.clone());
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { continue };
                conns2.fetch_add(1, Ordering::SeqCst);
                let (script, seen) = (script.clone(), seen2.clone());
                std::thread::spawn(move || serve_origin_conn(stream, &*script, &seen));
            }
        });
        Origin {
            addr,
            seen,
            connections,
        }
    }

    fn hits(&self) -> usize {
        self.seen.lock().unwrap().len()
    }

    fn last(&self) -> Seen {
        self.seen
            .lock()
            .unwrap()
            .last()
            .cloned()
            .expect("a request")
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }
}

fn serve_origin_conn(
    mut s: TcpStream,
    script: &(dyn Fn(&Seen, usize) -> Answer + Send + Sync),
    seen: &Mutex<Vec<Seen>>,
) {
    let mut buf = Vec::new();
    loop {
        let head_end = loop {
            if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break i + 4;
            }
            let mut chunk = [0u8; 8192];
            match s.read(&mut chunk) {
                Ok(0) | Err(_) => return,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        };
        let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
        let mut lines = head.split("\r\n");
        let mut first = lines.next().unwrap_or("").split(' ');
        let method = first.next().unwrap_or("").to_string();
        let target = first.next().unwrap_or("").to_string();
        let headers: Vec<(String, String)> = lines
            .filter_map(|l| l.split_once(':'))
            .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_string()))
            .collect();
        let len: usize = headers
            .iter()
            .find(|(n, _)| n == "content-length")
            .and_then(|(_, v)| v.parse().ok())
            .unwrap_or(0);
        while buf.len() < head_end + len {
            let mut chunk = [0u8; 8192];
            match s.read(&mut chunk) {
                Ok(0) | Err(_) => return,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        }
        let body = buf[head_end..head_end + len].to_vec();
        buf.drain(..head_end + len);
        let req = Seen {
            method,
            target,
            headers,
            body,
        };
        let n = {
            let mut seen = seen.lock().unwrap();
            seen.push(req.clone());
            seen.len() - 1
        };
        let a = script(&req, n);
        std::thread::sleep(a.delay);
        if s.write_all(&a.raw).is_err() || a.close {
            return;
        }
    }
}

fn proxy_with(cfg: ProxyConfig) -> Running {
    serve(Server::new(Config::default()).handler(Proxy::new(cfg)))
}

fn proxy() -> Running {
    proxy_with(ProxyConfig::default())
}

/// One request on a fresh connection: `METHOD target` plus extra header lines.
fn request(p: &Running, method: &str, target: &str, extra: &str) -> TestResponse {
    let mut c = Client::connect(p.local_addr());
    c.send(format!("{method} {target} HTTP/1.1\r\nHost: x\r\n{extra}\r\n").as_bytes());
    c.response(method == "HEAD").expect("a response")
}

fn get(p: &Running, url: &str) -> TestResponse {
    request(p, "GET", url, "")
}

fn x_cache(r: &TestResponse) -> &str {
    r.header("x-cache").unwrap_or("")
}

// ---------------------------------------------------------------- forwarding

#[test]
fn absolute_and_path_form_rewritten_to_origin_form() {
    let o = Origin::start(|r, _| {
        ok(
            "Cache-Control: no-store\r\n",
            &format!("you asked {}", r.target),
        )
    });
    let p = proxy();
    let r = get(&p, &o.url("/a/b?c=d"));
    assert_eq!((r.status, r.text().as_str()), (200, "you asked /a/b?c=d"));
    let seen = o.last();
    assert_eq!(seen.header("host"), Some(o.addr.to_string().as_str()));
    assert_eq!(seen.header("via"), Some("1.1 reactor-proxy"));
    assert_eq!(r.header("via"), Some("1.1 reactor-proxy"));
    let r = get(&p, &format!("/{}", o.url("/path-form")));
    assert_eq!(r.text(), "you asked /path-form");
    let r = get(&p, &format!("http://{}", o.addr));
    assert_eq!(r.text(), "you asked /");
    // A name, looked up on the blocking pool (then cached).
    for _ in 0..2 {
        let r = get(&p, &format!("http://localhost:{}/by-name", o.addr.port()));
        assert_eq!(r.text(), "you asked /by-name");
    }
    assert_eq!(
        o.last().header("host"),
        Some(format!("localhost:{}", o.addr.port()).as_str())
    );
}

#[test]
fn a_reverse_proxy_in_front_of_itself_stops_as_a_loop() {
    let port = free_port();
    let cfg = ProxyConfig {
        upstream: Some(parse_upstream(&format!("http://127.0.0.1:{port}")).unwrap()),
        ..Default::default()
    };
    let config = Config {
        bind: ([127, 0, 0, 1], port).into(),
        ..Config::default()
    };
    let p = Server::new(config)
        .handler(Proxy::new(cfg))
        .start()
        .unwrap();
    let mut c = Client::connect(p.local_addr());
    let r = c.get("/x");
    assert_eq!(r.status, 502);
    assert!(r.text().contains("loop"), "{}", r.text());
}

#[test]
fn bad_targets_are_400_with_the_cause() {
    let p = proxy();
    for (target, cause) in [
        ("/index.html", "absolute http:// URL"),
        ("http://h:99999/", "invalid port"),
        ("https://h/", "CONNECT"),
        ("http://u:p@h/", "user information"),
    ] {
        let r = get(&p, target);
        assert_eq!(r.status, 400, "{target}");
        assert!(r.text().contains(cause), "{target}: {}", r.text());
    }
}

fn echo_server() -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    std::thread::spawn(move || {
        for s in l.incoming() {
            let Ok(mut s) = s else { continue };
            std::thread::spawn(move || {
                let mut buf = vec![0u8; 65536];
                loop {
                    match s.read(&mut buf) {
                        Ok(0) | Err(_) => break,
                        Ok(n) => {
                            if s.write_all(&buf[..n]).is_err() {
                                break;
                            }
                        }
                    }
                }
            });
        }
    });
    addr
}

#[test]
fn connect_tunnels_both_ways_on_allowed_ports_only() {
    let echo = echo_server();
    let p = proxy_with(ProxyConfig {
        connect_ports: vec![echo.port()],
        ..Default::default()
    });
    let mut c = Client::connect(p.local_addr());
    c.send(format!("CONNECT {echo} HTTP/1.1\r\nHost: {echo}\r\n\r\n").as_bytes());
    let r = c.response(true).unwrap();
    assert_eq!(r.status, 200);
    let payload: Vec<u8> = (0..2_000_000u32).map(|i| (i * 7 % 251) as u8).collect();
    let mut w = c.stream().try_clone().unwrap();
    let p2 = payload.clone();
    let t = std::thread::spawn(move || {
        w.write_all(&p2).unwrap();
        w.shutdown(std::net::Shutdown::Write).unwrap();
    });
    let got = c.read_to_end();
    t.join().unwrap();
    assert!(
        got == payload,
        "tunnelled {} of {} bytes intact",
        got.len(),
        payload.len()
    );

    // Another port: 403. A dead port that is allowed: 502.
    let r = request(&p, "CONNECT", "127.0.0.1:443", "");
    assert_eq!(r.status, 403);
    assert!(r.text().contains("443"));
    let dead = TcpListener::bind("127.0.0.1:0").unwrap();
    let dead_addr = dead.local_addr().unwrap();
    drop(dead);
    let p = proxy_with(ProxyConfig {
        connect_ports: vec![dead_addr.port()],
        ..Default::default()
    });
    assert_eq!(
        request(&p, "CONNECT", &dead_addr.to_string(), "").status,
        502
    );
}

#[test]
fn any_method_forwarded_with_its_body() {
    let o = Origin::start(|r, _| {
        ok(
            "",
            &format!(
                "{} {} {}",
                r.method,
                r.body.len(),
                String::from_utf8_lossy(&r.body)
            ),
        )
    });
    let p = proxy();
    let url = o.url("/m");
    let r = request(&p, "POST", &url, "Content-Length: 5\r\n\r\nhello");
    assert_eq!(r.text(), "POST 5 hello");
    let r = request(
        &p,
        "PUT",
        &url,
        "Transfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n",
    );
    assert_eq!(r.text(), "PUT 5 abcde");
    assert_eq!(o.last().header("content-length"), Some("5"));
    assert!(o.last().header("transfer-encoding").is_none());
    let r = request(&p, "BREW", &url, "Content-Length: 3\r\n\r\ntea");
    assert_eq!(r.text(), "BREW 3 tea");
    // Expect: 100-continue is answered by the proxy and not forwarded.
    let mut c = Client::connect(p.local_addr());
    c.send(
        format!(
            "PATCH {url} HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nExpect: 100-continue\r\n\r\n"
        )
        .as_bytes(),
    );
    let mut interim = [0u8; 25];
    c.stream().read_exact(&mut interim).unwrap();
    assert!(interim.starts_with(b"HTTP/1.1 100"));
    c.send(b"data");
    assert_eq!(c.response(false).unwrap().text(), "PATCH 4 data");
    assert!(o.last().header("expect").is_none());
}

#[test]
fn hop_by_hop_removed_both_ways_via_and_forwarded_for() {
    let o = Origin::start(|_, _| {
        ok(
            "Connection: X-Origin-Secret\r\nX-Origin-Secret: 1\r\nKeep-Alive: timeout=5\r\nX-Kept: yes\r\nCache-Control: no-store\r\n",
            "ok",
        )
    });
    let p = proxy_with(ProxyConfig {
        forwarded_for: true,
        ..Default::default()
    });
    let r = request(
        &p,
        "GET",
        &o.url("/"),
        "Connection: keep-alive, X-Client-Secret\r\nX-Client-Secret: 2\r\nProxy-Authorization: Basic eA==\r\nTE: trailers\r\nX-Forwarded-For: 10.1.1.1\r\nX-Other: kept\r\n",
    );
    assert_eq!(r.status, 200);
    assert!(r.header("x-origin-secret").is_none() && r.header("keep-alive").is_none());
    assert_eq!(r.header("x-kept"), Some("yes"));
    let s = o.last();
    for h in ["x-client-secret", "proxy-authorization", "te"] {
        assert!(s.header(h).is_none(), "{h} forwarded");
    }
    assert_eq!(s.header("x-other"), Some("kept"));
    assert_eq!(s.header("x-forwarded-for"), Some("10.1.1.1, 127.0.0.1"));
    // Without --forwarded-for nothing is added.
    let p = proxy();
    get(&p, &o.url("/"));
    assert!(o.last().header("x-forwarded-for").is_none());
}

#[test]
fn max_forwards_for_options_and_trace() {
    let o = Origin::start(|r, _| {
        ok(
            "",
            &format!("origin saw max-forwards={:?}", r.header("max-forwards")),
        )
    });
    let p = proxy();
    let r = request(&p, "OPTIONS", &o.url("/"), "Max-Forwards: 0\r\n");
    assert_eq!(r.status, 200);
    assert!(r.header("allow").unwrap().contains("CONNECT"));
    let r = request(
        &p,
        "TRACE",
        &o.url("/t"),
        "Max-Forwards: 0\r\nX-Probe: 1\r\n",
    );
    assert_eq!(r.header("content-type"), Some("message/http"));
    assert!(r.text().contains("X-Probe: 1"));
    assert_eq!(o.hits(), 0);
    let r = request(&p, "OPTIONS", &o.url("/"), "Max-Forwards: 3\r\n");
    assert_eq!(r.text(), "origin saw max-forwards=Some(\"2\")");
}

#[test]
fn keep_alive_pooled_origin_connections_and_framings() {
    let o = Origin::start(|r, _| {
        match r.target.as_str() {
        "/chunked" => answer("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nCache-Control: no-store\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n"),
        "/close" => Answer {
            close: true,
            ..answer("HTTP/1.1 200 OK\r\nConnection: close\r\nCache-Control: no-store\r\n\r\nuntil close")
        },
        "/quietly-closed" => Answer {
            close: true,
            ..ok("Cache-Control: no-store\r\n", "then closed")
        },
        _ => ok("Cache-Control: no-store\r\n", "plain"),
    }
    });
    let p = proxy();
    let mut c = Client::connect(p.local_addr());
    for _ in 0..5 {
        c.send(format!("GET {} HTTP/1.1\r\nHost: x\r\n\r\n", o.url("/")).as_bytes());
        assert_eq!(c.response(false).unwrap().text(), "plain");
    }
    // One client connection, one origin connection for all five.
    assert_eq!(o.connections.load(Ordering::SeqCst), 1);
    c.send(format!("GET {} HTTP/1.1\r\nHost: x\r\n\r\n", o.url("/chunked")).as_bytes());
    let r = c.response(false).unwrap();
    assert_eq!(
        (r.header("transfer-encoding"), r.text().as_str()),
        (Some("chunked"), "hello world")
    );
    c.send(format!("GET {} HTTP/1.1\r\nHost: x\r\n\r\n", o.url("/close")).as_bytes());
    assert_eq!(c.response(false).unwrap().text(), "until close");
    // The client connection survives an origin that closes.
    c.send(format!("GET {} HTTP/1.1\r\nHost: x\r\n\r\n", o.url("/")).as_bytes());
    assert_eq!(c.response(false).unwrap().text(), "plain");
    // An origin that closes a kept-alive connection without saying so: the next
    // request still gets through (the idle connection is dropped, or retried once).
    for _ in 0..5 {
        c.send(
            format!(
                "GET {} HTTP/1.1\r\nHost: x\r\n\r\n",
                o.url("/quietly-closed")
            )
            .as_bytes(),
        );
        assert_eq!(c.response(false).unwrap().text(), "then closed");
    }
}

#[test]
fn slow_client_pauses_the_origin_read_backpressure() {
    const TOTAL: usize = 64 << 20;
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    let written = Arc::new(AtomicUsize::new(0));
    let w2 = written.clone();
    std::thread::spawn(move || {
        let (mut s, _) = l.accept().unwrap();
        let mut head = [0u8; 4096];
        let _ = s.read(&mut head).unwrap();
        let h = format!(
            "HTTP/1.1 200 OK\r\nContent-Length: {TOTAL}\r\nCache-Control: no-store\r\n\r\n"
        );
        s.write_all(h.as_bytes()).unwrap();
        let chunk: Vec<u8> = (0..65536u32).map(|i| (i % 253) as u8).collect();
        for _ in 0..TOTAL / chunk.len() {
            if s.write_all(&chunk).is_err() {
                return;
            }
            w2.fetch_add(chunk.len(), Ordering::SeqCst);
        }
    });
    let p = proxy();
    let mut c = Client::connect(p.local_addr());
    c.send(format!("GET http://{addr}/big HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes());
    std::thread::sleep(Duration::from_millis(1500));
    let early = written.load(Ordering::SeqCst);
    assert!(
        early < 48 << 20,
        "the proxy kept reading from the origin: {early} bytes"
    );
    let r = c.response(false).unwrap();
    assert_eq!(r.body.len(), TOTAL);
    assert!(r
        .body
        .iter()
        .enumerate()
        .all(|(i, &b)| b == ((i % 65536) % 253) as u8));
}

#[test]
fn slow_origin_does_not_slow_hits_or_other_origins() {
    let slow = Origin::start(|_, _| Answer {
        delay: Duration::from_secs(4),
        ..ok("", "slow")
    });
    let fast = Origin::start(|r, _| {
        ok(
            "Cache-Control: max-age=600\r\n",
            &format!("fast {}", r.target),
        )
    });
    let p = proxy();
    assert_eq!(x_cache(&get(&p, &fast.url("/cached"))), "MISS");
    let mut hanging = Vec::new();
    for i in 0..50 {
        let mut c = Client::connect(p.local_addr());
        c.send(
            format!(
                "GET {} HTTP/1.1\r\nHost: x\r\n\r\n",
                slow.url(&format!("/{i}"))
            )
            .as_bytes(),
        );
        hanging.push(c);
    }
    std::thread::sleep(Duration::from_millis(300));
    let t = Instant::now();
    let hit = get(&p, &fast.url("/cached"));
    let hit_time = t.elapsed();
    let t = Instant::now();
    let other = get(&p, &fast.url("/other"));
    let other_time = t.elapsed();
    assert_eq!(
        (x_cache(&hit), hit.text().as_str()),
        ("HIT", "fast /cached")
    );
    assert_eq!(other.text(), "fast /other");
    assert!(hit_time < Duration::from_secs(1), "hit took {hit_time:?}");
    assert!(
        other_time < Duration::from_secs(1),
        "other origin took {other_time:?}"
    );
    for mut c in hanging {
        assert_eq!(c.response(false).unwrap().text(), "slow");
    }
}

#[test]
fn errors_502_504_and_truncated_bodies() {
    let dead = TcpListener::bind("127.0.0.1:0").unwrap();
    let dead_addr = dead.local_addr().unwrap();
    drop(dead);
    let p = proxy_with(ProxyConfig {
        upstream_timeout: Duration::from_secs(1),
        ..Default::default()
    });
    let r = get(&p, &format!("http://{dead_addr}/"));
    assert_eq!(r.status, 502);
    assert!(r.text().contains("Cannot connect"), "{}", r.text());

    let garbage = Origin::start(|_, _| Answer {
        close: true,
        ..answer("SMTP READY\r\n\r\n")
    });
    let r = get(&p, &garbage.url("/"));
    assert_eq!(r.status, 502);
    assert!(r.text().contains("invalid response"), "{}", r.text());

    let silent = Origin::start(|_, _| Answer {
        delay: Duration::from_secs(3),
        ..ok("", "late")
    });
    let t = Instant::now();
    let r = get(&p, &silent.url("/"));
    assert_eq!(r.status, 504);
    assert!(r.text().contains("did not answer"), "{}", r.text());
    assert!(t.elapsed() < Duration::from_millis(2900));

    // Mid-body close: the client sees a closed connection, never a complete short 200,
    // and nothing is cached.
    let short = Origin::start(|_, _| Answer {
        close: true,
        ..answer(
            "HTTP/1.1 200 OK\r\nContent-Length: 100\r\nCache-Control: max-age=600\r\n\r\nonly part",
        )
    });
    for _ in 0..2 {
        let mut c = Client::connect(p.local_addr());
        c.send(format!("GET {} HTTP/1.1\r\nHost: x\r\n\r\n", short.url("/")).as_bytes());
        assert!(
            c.response(false).is_err(),
            "a truncated body must not look complete"
        );
    }
    assert_eq!(short.hits(), 2, "a truncated response was cached");
}

#[test]
fn garbage_from_origins_is_502_or_a_closed_connection_never_a_crash() {
    let big_head = format!("HTTP/1.1 200 OK\r\nX-Big: {}\r\n\r\n", "a".repeat(70_000));
    let cases: Vec<(Vec<u8>, Option<u16>)> = vec![
        (
            b"HTTP/1.1 200 OK\r\nContent-Length: abc\r\n\r\n".to_vec(),
            Some(502),
        ),
        (
            b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello".to_vec(),
            Some(502),
        ),
        (
            b"HTTP/1.1 200 OK\r\nContent-Length: -5\r\n\r\n".to_vec(),
            Some(502),
        ),
        (b"HTTP/9.9 200 OK\r\n\r\n".to_vec(), Some(502)),
        (
            b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: x\r\n\r\n".to_vec(),
            Some(502),
        ),
        (big_head.into_bytes(), Some(502)),
        (b"\x00\x01\x02garbage".to_vec(), Some(502)),
        (b"HTTP/1.1 200 OK\r\n".to_vec(), Some(502)),
        // A broken chunked body after a good head: the client connection is closed.
        (
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\nzz\r\n".to_vec(),
            None,
        ),
        // 1xx interim responses are skipped.
        (
            b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok".to_vec(),
            Some(200),
        ),
    ];
    let p = proxy();
    for (raw, want) in cases {
        let shown = String::from_utf8_lossy(&raw[..raw.len().min(80)]).into_owned();
        let o = Origin::start(move |_, _| Answer {
            close: true,
            ..answer(raw.clone())
        });
        let mut c = Client::connect(p.local_addr());
        c.send(format!("GET {} HTTP/1.1\r\nHost: x\r\n\r\n", o.url("/")).as_bytes());
        let got = c.response(false).ok().map(|r| r.status);
        assert_eq!(got, want, "origin sent {shown:?}");
    }
    // The proxy is still fine.
    let o = Origin::start(|_, _| ok("", "fine"));
    assert_eq!(get(&p, &o.url("/")).text(), "fine");
}

// ---------------------------------------------------------------- cache rules

#[test]
fn rule7_lru_bounds_object_size_and_total_bytes() {
    let o = Origin::start(|r, _| {
        if let Some(size) = r.target.strip_prefix("/chunked/") {
            let size: usize = size.parse().unwrap_or(1);
            let mut raw = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nCache-Control: max-age=600\r\n\r\n".to_vec();
            for _ in 0..size / 1000 {
                raw.extend_from_slice(format!("3e8\r\n{}\r\n", "y".repeat(1000)).as_bytes());
            }
            raw.extend_from_slice(b"0\r\n\r\n");
            return answer(raw);
        }
        let size: usize = r.target.trim_start_matches("/size/").parse().unwrap_or(1);
        ok("Cache-Control: max-age=600\r\n", &"x".repeat(size))
    });
    let p = proxy_with(ProxyConfig {
        cache_size: 100_000,
        max_object_size: 20_000,
        ..Default::default()
    });
    // Over the object limit (known length): never stored.
    for _ in 0..2 {
        assert_eq!(x_cache(&get(&p, &o.url("/size/30000"))), "MISS");
    }
    // Unknown length (chunked) found to be over the limit while streaming: not stored,
    // and the client still gets all of it.
    for _ in 0..2 {
        let r = get(&p, &o.url("/chunked/30000"));
        assert_eq!((x_cache(&r), r.body.len()), ("MISS", 30000));
    }
    let r = get(&p, &o.url("/chunked/5000"));
    assert_eq!((x_cache(&r), r.body.len()), ("MISS", 5000));
    assert_eq!(x_cache(&get(&p, &o.url("/chunked/5000"))), "HIT");
    // Fits: stored and served from shared bytes.
    assert_eq!(x_cache(&get(&p, &o.url("/size/10000"))), "MISS");
    let hit = get(&p, &o.url("/size/10000"));
    assert_eq!((x_cache(&hit), hit.body.len()), ("HIT", 10000));
    // Filling past the total evicts the least recently used.
    for i in 0..12 {
        get(&p, &o.url(&format!("/size/{}", 10001 + i)));
    }
    assert_eq!(x_cache(&get(&p, &o.url("/size/10000"))), "MISS");
    assert_eq!(x_cache(&get(&p, &o.url("/size/10011"))), "HIT");
}

#[test]
fn rule8_storage_rules() {
    let o = Origin::start(|r, _| {
        match r.target.as_str() {
        "/no-store" => ok("Cache-Control: no-store, max-age=600\r\n", "a"),
        "/private" => ok("Cache-Control: private, max-age=600\r\n", "b"),
        "/auth" => ok("Cache-Control: max-age=600\r\n", "c"),
        "/auth-public" => ok("Cache-Control: public, max-age=600\r\n", "d"),
        "/no-cache" if r.header("if-none-match") == Some("\"nc\"") => {
            answer("HTTP/1.1 304 Not Modified\r\nETag: \"nc\"\r\n\r\n")
        }
        "/no-cache" => ok("Cache-Control: no-cache, max-age=600\r\nETag: \"nc\"\r\n", "e"),
        "/302" => answer("HTTP/1.1 302 Found\r\nLocation: /x\r\nContent-Length: 0\r\n\r\n"),
        "/404" => answer("HTTP/1.1 404 Not Found\r\nLast-Modified: Mon, 01 Jan 2001 00:00:00 GMT\r\nContent-Length: 2\r\n\r\nno"),
        "/vary" => ok(
            "Cache-Control: max-age=600\r\nVary: Accept-Language\r\n",
            &format!("lang={}", r.header("accept-language").unwrap_or("-")),
        ),
        "/vary-star" => ok("Cache-Control: max-age=600\r\nVary: *\r\n", "f"),
        "/becomes-no-store" if r.header("cache-control") == Some("no-cache") => {
            ok("Cache-Control: no-store\r\n", "new")
        }
        "/becomes-no-store" => ok("Cache-Control: max-age=600\r\n", "old"),
        _ => ok("", "?"),
    }
    });
    let p = proxy();
    let twice = |path: &str, extra: &str| {
        let a = request(&p, "GET", &o.url(path), extra);
        let b = request(&p, "GET", &o.url(path), extra);
        (x_cache(&a).to_string(), x_cache(&b).to_string())
    };
    assert_eq!(twice("/no-store", "").1, "MISS");
    assert_eq!(twice("/private", "").1, "MISS");
    assert_eq!(twice("/auth", "Authorization: Basic eDp5\r\n").1, "MISS");
    assert_eq!(
        twice("/auth-public", "Authorization: Basic eDp5\r\n").1,
        "HIT"
    );
    assert_eq!(twice("/302", "").1, "MISS");
    assert_eq!(twice("/404", "").1, "HIT", "404 is cacheable by default");
    assert_eq!(twice("/vary-star", "").1, "MISS");
    // no-cache: stored, but validated on every use.
    let before = o.hits();
    assert_eq!(twice("/no-cache", "").1, "REVALIDATED");
    assert_eq!(o.hits() - before, 2);
    assert_eq!(o.last().header("if-none-match"), Some("\"nc\""));
    // A revalidation answered with something unstorable drops the stored entry.
    assert_eq!(twice("/becomes-no-store", "").1, "HIT");
    let r = request(
        &p,
        "GET",
        &o.url("/becomes-no-store"),
        "Cache-Control: no-cache\r\n",
    );
    assert_eq!((x_cache(&r), r.text().as_str()), ("MISS", "new"));
    let r = request(
        &p,
        "GET",
        &o.url("/becomes-no-store"),
        "Cache-Control: only-if-cached\r\n",
    );
    assert_eq!(r.status, 504, "the old entry was kept");
    // Vary: one variant per Accept-Language.
    let en = request(&p, "GET", &o.url("/vary"), "Accept-Language: en\r\n");
    let fr = request(&p, "GET", &o.url("/vary"), "Accept-Language: fr\r\n");
    let en2 = request(&p, "GET", &o.url("/vary"), "Accept-Language: en\r\n");
    let fr2 = request(&p, "GET", &o.url("/vary"), "Accept-Language: fr\r\n");
    assert_eq!((en.text(), fr.text()), ("lang=en".into(), "lang=fr".into()));
    assert_eq!((x_cache(&en2), en2.text().as_str()), ("HIT", "lang=en"));
    assert_eq!((x_cache(&fr2), fr2.text().as_str()), ("HIT", "lang=fr"));
}

fn http_date(offset_secs: i64) -> String {
    let now = std::time::SystemTime::now();
    let t = if offset_secs >= 0 {
        now + Duration::from_secs(offset_secs as u64)
    } else {
        now - Duration::from_secs((-offset_secs) as u64)
    };
    reactor::date::format_http_date(t)
}

#[test]
fn rule9_freshness_and_age() {
    let o = Origin::start(|r, _| match r.target.as_str() {
        "/max-age" | "/max-age?head" => ok("Cache-Control: max-age=1\r\n", "m"),
        "/s-maxage" => ok("Cache-Control: max-age=0, s-maxage=600\r\n", "s"),
        "/expires" => ok(
            &format!("Date: {}\r\nExpires: {}\r\n", http_date(0), http_date(600)),
            "e",
        ),
        "/heuristic" => ok(
            &format!(
                "Date: {}\r\nLast-Modified: {}\r\n",
                http_date(0),
                http_date(-100_000)
            ),
            "h",
        ),
        "/heuristic-302" => answer(format!(
            "HTTP/1.1 302 Found\r\nLocation: /\r\nLast-Modified: {}\r\nContent-Length: 0\r\n\r\n",
            http_date(-100_000)
        )),
        "/aged" => ok("Cache-Control: max-age=600\r\nAge: 100\r\n", "a"),
        _ => ok("", "?"),
    });
    let p = proxy();
    for path in ["/s-maxage", "/expires", "/heuristic"] {
        get(&p, &o.url(path));
        let r = get(&p, &o.url(path));
        assert_eq!(x_cache(&r), "HIT", "{path}");
        assert!(r.header("age").is_some(), "{path}: Age on every hit");
    }
    get(&p, &o.url("/heuristic-302"));
    assert_eq!(
        x_cache(&get(&p, &o.url("/heuristic-302"))),
        "MISS",
        "302 gets no heuristic freshness"
    );
    get(&p, &o.url("/aged"));
    let age: u64 = get(&p, &o.url("/aged"))
        .header("age")
        .unwrap()
        .parse()
        .unwrap();
    assert!(
        (100..110).contains(&age),
        "Age carries the origin's age: {age}"
    );
    get(&p, &o.url("/max-age"));
    get(&p, &o.url("/max-age?head"));
    assert_eq!(x_cache(&get(&p, &o.url("/max-age"))), "HIT");
    std::thread::sleep(Duration::from_millis(2100));
    assert_eq!(
        x_cache(&get(&p, &o.url("/max-age"))),
        "MISS",
        "stale without validators: refetched"
    );
    // A HEAD on a stale entry refreshes it with a GET, whose answer is stored.
    let head = request(&p, "HEAD", &o.url("/max-age?head"), "");
    assert_eq!((head.status, x_cache(&head)), (200, "MISS"));
    assert_eq!(o.last().method, "GET");
    assert_eq!(x_cache(&get(&p, &o.url("/max-age?head"))), "HIT");
}

#[test]
fn rule10_validation_conditionals_and_head() {
    let o = Origin::start(|r, _| {
        if r.header("if-none-match") == Some("\"v1\"") {
            answer("HTTP/1.1 304 Not Modified\r\nCache-Control: max-age=600\r\nETag: \"v1\"\r\nX-Updated: yes\r\n\r\n")
        } else {
            ok(
                "Cache-Control: max-age=1\r\nETag: \"v1\"\r\nLast-Modified: Mon, 01 Jan 2001 00:00:00 GMT\r\nContent-Type: text/plain\r\n",
                "the body",
            )
        }
    });
    let p = proxy();
    let url = o.url("/doc");
    assert_eq!(x_cache(&get(&p, &url)), "MISS");
    // HEAD from the stored GET.
    let head = request(&p, "HEAD", &url, "");
    assert_eq!(
        (x_cache(&head), head.header("content-length")),
        ("HIT", Some("8"))
    );
    // Client conditionals answered from the fresh entry.
    let r = request(&p, "GET", &url, "If-None-Match: \"v1\"\r\n");
    assert_eq!((r.status, x_cache(&r)), (304, "HIT"));
    let r = request(
        &p,
        "GET",
        &url,
        "If-Modified-Since: Tue, 02 Jan 2001 00:00:00 GMT\r\n",
    );
    assert_eq!(r.status, 304);
    let r = request(&p, "GET", &url, "If-None-Match: \"other\"\r\n");
    assert_eq!((r.status, r.text().as_str()), (200, "the body"));
    assert_eq!(o.hits(), 1);
    std::thread::sleep(Duration::from_millis(2100));
    // Stale: revalidated with If-None-Match; the 304 updates the headers, body kept.
    let r = get(&p, &url);
    assert_eq!(
        (x_cache(&r), r.text().as_str()),
        ("REVALIDATED", "the body")
    );
    assert_eq!(r.header("x-updated"), Some("yes"));
    assert_eq!(o.last().header("if-none-match"), Some("\"v1\""));
    assert_eq!(
        o.last().header("if-modified-since"),
        Some("Mon, 01 Jan 2001 00:00:00 GMT")
    );
    let r = get(&p, &url);
    assert_eq!((x_cache(&r), r.header("x-updated")), ("HIT", Some("yes")));
    assert_eq!(o.hits(), 2);
}

#[test]
fn rule11_unsafe_methods_invalidate() {
    let o = Origin::start(|r, _| match r.method.as_str() {
        "POST" => answer("HTTP/1.1 201 Created\r\nLocation: /other\r\nContent-Length: 0\r\n\r\n"),
        "DELETE" => answer("HTTP/1.1 500 Oops\r\nContent-Length: 0\r\n\r\n"),
        _ => ok("Cache-Control: max-age=600\r\n", &r.target),
    });
    let p = proxy();
    for path in ["/res", "/other"] {
        get(&p, &o.url(path));
        assert_eq!(x_cache(&get(&p, &o.url(path))), "HIT");
    }
    // An error does not invalidate.
    request(&p, "DELETE", &o.url("/res"), "");
    assert_eq!(x_cache(&get(&p, &o.url("/res"))), "HIT");
    request(&p, "POST", &o.url("/res"), "Content-Length: 1\r\n\r\nx");
    assert_eq!(x_cache(&get(&p, &o.url("/res"))), "MISS");
    assert_eq!(
        x_cache(&get(&p, &o.url("/other"))),
        "MISS",
        "Location invalidated"
    );
}

#[test]
fn rule12_concurrent_misses_collapse_into_one_fetch() {
    // Four reactors share one cache: waiters on other reactors are answered there.
    let o = Origin::start(|_, _| Answer {
        delay: Duration::from_millis(500),
        ..ok("Cache-Control: max-age=600\r\n", "shared")
    });
    let server = Server::new(Config {
        workers: 4,
        ..Config::default()
    });
    let p = Arc::new(serve(server.handler(Proxy::new(ProxyConfig::default()))));
    for round in 0..2 {
        let url = o.url(&format!("/popular/{round}"));
        let threads: Vec<_> = (0..20)
            .map(|_| {
                let (p, url) = (p.clone(), url.clone());
                std::thread::spawn(move || get(&p, &url))
            })
            .collect();
        for t in threads {
            let r = t.join().unwrap();
            assert_eq!((r.status, r.text().as_str()), (200, "shared"));
        }
    }
    assert_eq!(
        o.hits(),
        2,
        "one origin fetch per URL for twenty concurrent misses"
    );
}

#[test]
fn rule12_a_slow_first_client_does_not_hold_back_the_others() {
    let body = "z".repeat(4 << 20);
    let o = Origin::start(move |_, _| Answer {
        delay: Duration::from_millis(300),
        ..ok("Cache-Control: max-age=600\r\n", &body)
    });
    let p = proxy();
    let url = o.url("/big");
    // The first client asks and then reads nothing.
    let mut slow = Client::connect(p.local_addr());
    slow.send(format!("GET {url} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes());
    std::thread::sleep(Duration::from_millis(100));
    let t = Instant::now();
    let r = get(&p, &url);
    assert_eq!(r.body.len(), 4 << 20);
    assert!(
        t.elapsed() < Duration::from_secs(5),
        "waited {:?}",
        t.elapsed()
    );
    assert_eq!(x_cache(&get(&p, &url)), "HIT");
    assert_eq!(slow.response(false).unwrap().body.len(), 4 << 20);
    assert_eq!(o.hits(), 1);
}

#[test]
fn rule13_stale_while_revalidate_and_stale_if_error() {
    let down = Arc::new(AtomicUsize::new(0));
    let d2 = down.clone();
    let o = Origin::start(move |r, n| {
        if d2.load(Ordering::SeqCst) == 1 {
            return answer("HTTP/1.1 503 Down\r\nContent-Length: 0\r\n\r\n");
        }
        match r.target.as_str() {
            "/swr" => ok(
                "Cache-Control: max-age=1, stale-while-revalidate=60\r\n",
                &format!("v{n}"),
            ),
            _ => ok("Cache-Control: max-age=1, stale-if-error=60\r\n", "keep me"),
        }
    });
    let p = proxy();
    assert_eq!(get(&p, &o.url("/swr")).text(), "v0");
    get(&p, &o.url("/sie"));
    std::thread::sleep(Duration::from_millis(2100));
    let r = get(&p, &o.url("/swr"));
    assert_eq!((x_cache(&r), r.text().as_str()), ("STALE", "v0"));
    // The background revalidation replaces the entry soon.
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let r = get(&p, &o.url("/swr"));
        if r.text() != "v0" {
            assert_eq!(x_cache(&r), "HIT");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "background revalidation never landed"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    down.store(1, Ordering::SeqCst);
    let r = get(&p, &o.url("/sie"));
    assert_eq!(
        (r.status, x_cache(&r), r.text().as_str()),
        (200, "STALE", "keep me")
    );
}

#[test]
fn rule14_x_cache_states_cache_log_and_only_if_cached() {
    let o = Origin::start(|_, _| ok("Cache-Control: max-age=600\r\nETag: \"e\"\r\n", "x"));
    let log = MemoryLog::default();
    let p = proxy_with(ProxyConfig {
        cache_log: Some(log.sink()),
        ..Default::default()
    });
    let url = o.url("/s");
    let r = request(&p, "GET", &url, "Cache-Control: only-if-cached\r\n");
    assert_eq!(r.status, 504);
    assert_eq!(x_cache(&get(&p, &url)), "MISS");
    assert_eq!(x_cache(&get(&p, &url)), "HIT");
    let r = request(&p, "GET", &url, "Cache-Control: no-cache\r\n");
    assert_eq!(
        x_cache(&r),
        "MISS",
        "a 200 to a revalidation replaces the entry"
    );
    let r = request(&p, "GET", &url, "Pragma: no-cache\r\n");
    assert!(matches!(x_cache(&r), "MISS" | "REVALIDATED"));
    assert_eq!(o.hits(), 3);
    let log = log.text();
    let states: Vec<&str> = log.lines().map(|l| l.rsplit(' ').next().unwrap()).collect();
    assert_eq!(states, ["MISS", "MISS", "HIT", "MISS", "MISS"], "{log}");
    assert!(
        log.lines()
            .nth(2)
            .unwrap()
            .contains(&format!("\"GET {url} HTTP/1.1\" 200 1 ")),
        "{log}"
    );
}

// ---------------------------------------------------------------- modes and access

#[test]
fn allow_list_refuses_others_with_403() {
    let o = Origin::start(|_, _| ok("", "x"));
    let p = proxy_with(ProxyConfig {
        access: AccessList {
            loopback: false,
            allow: vec!["10.0.0.0/8".parse().unwrap()],
        },
        ..Default::default()
    });
    let r = get(&p, &o.url("/"));
    assert_eq!(r.status, 403);
    assert_eq!(o.hits(), 0);
    let p = proxy_with(ProxyConfig {
        access: AccessList {
            loopback: false,
            allow: vec!["127.0.0.0/8".parse().unwrap()],
        },
        ..Default::default()
    });
    assert_eq!(get(&p, &o.url("/")).status, 200);
}

#[test]
fn reverse_mode_sends_origin_form_requests_upstream_and_caches() {
    let o = Origin::start(|r, _| {
        ok(
            "Cache-Control: max-age=600\r\n",
            &format!("origin {}", r.target),
        )
    });
    let p = proxy_with(ProxyConfig {
        upstream: Some(parse_upstream(&format!("http://{}", o.addr)).unwrap()),
        ..Default::default()
    });
    let mut c = Client::connect(p.local_addr());
    let r = c.get("/page?x=1");
    assert_eq!(
        (r.text().as_str(), x_cache(&r)),
        ("origin /page?x=1", "MISS")
    );
    assert_eq!(o.last().header("host"), Some(o.addr.to_string().as_str()));
    let r = c.get("/page?x=1");
    assert_eq!(x_cache(&r), "HIT");
    assert_eq!(o.hits(), 1);
}

// ---------------------------------------------------------------- with real clients

fn have(cmd: &str) -> bool {
    Command::new(cmd)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

struct Kill(Child);
impl Drop for Kill {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn wait_for(port: u16) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "nothing listening on {port}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn start_binary(args: &[&str]) -> (Kill, u16) {
    let port = free_port();
    let bind = format!("127.0.0.1:{port}");
    let child = Command::new(env!("CARGO_BIN_EXE_reactor-proxy"))
        .args(["--bind", &bind])
        .args(args)
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let k = Kill(child);
    wait_for(port);
    (k, port)
}

#[test]
fn binary_flags_fail_with_one_line_and_exit_2() {
    for args in [
        &["--cache-size", "lots"][..],
        &["--allow", "10.0.0.0/99"],
        &["--upstream", "ftp://x"],
        &["--upstream-ca", "/nonexistent.pem"],
        &["--connect-ports", "443,x"],
        &["--bogus"],
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_reactor-proxy"))
            .args(args)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(err.lines().count(), 1, "{args:?}: {err}");
    }
    let out = Command::new(env!("CARGO_BIN_EXE_reactor-proxy"))
        .arg("--help")
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&out.stdout).contains("--connect-ports"));
}

#[test]
fn binary_stops_cleanly_on_sigterm() {
    use std::io::{BufRead, BufReader};
    let port = free_port();
    let mut child = Command::new(env!("CARGO_BIN_EXE_reactor-proxy"))
        .args(["--bind", &format!("127.0.0.1:{port}")])
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stderr.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert!(line.contains("forward proxy on"), "{line}");
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    assert_eq!(child.wait().unwrap().code(), Some(0));
}

#[test]
fn curl_x_and_curl_p_through_the_binary() {
    if !have("curl") {
        eprintln!("curl not installed: skipped");
        return;
    }
    let o = Origin::start(|r, _| {
        ok(
            "Cache-Control: max-age=600\r\n",
            &format!("curl got {}", r.target),
        )
    });
    let (_k, port) = start_binary(&["--connect-ports", &o.addr.port().to_string()]);
    let proxy = format!("http://127.0.0.1:{port}");
    let curl = |args: &[&str]| {
        let out = Command::new("curl")
            .args(["-s", "--max-time", "10"])
            .args(args)
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    assert_eq!(curl(&["-x", &proxy, &o.url("/c")]), "curl got /c");
    let headers = curl(&["-x", &proxy, "-D", "-", "-o", "/dev/null", &o.url("/c")]);
    assert!(headers.contains("X-Cache: HIT"), "{headers}");
    assert_eq!(
        curl(&[&format!("{proxy}/{}", o.url("/pathform"))]),
        "curl got /pathform"
    );
    // curl -p tunnels through CONNECT: the proxy never sees the request inside.
    let out = curl(&["-p", "-x", &proxy, "-D", "-", &o.url("/tunnelled")]);
    assert!(out.ends_with("curl got /tunnelled"), "{out}");
    assert!(!out.contains("X-Cache"), "{out}");
}

#[test]
fn python_http_server_through_the_proxy() {
    if !have("python3") {
        eprintln!("python3 not installed: skipped");
        return;
    }
    let dir = std::env::temp_dir().join(format!("reactor-proxy-py-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("hello.txt"), "hello from python\n").unwrap();
    let port = free_port();
    let child = Command::new("python3")
        .args([
            "-m",
            "http.server",
            &port.to_string(),
            "--bind",
            "127.0.0.1",
        ])
        .current_dir(&dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let _k = Kill(child);
    wait_for(port);
    let p = proxy();
    let url = format!("http://127.0.0.1:{port}/hello.txt");
    let r = get(&p, &url);
    assert_eq!((r.status, r.text().as_str()), (200, "hello from python\n"));
    // Heuristic freshness is short for a new file: a revalidation with
    // If-Modified-Since gets 304 from python and the stored body is served.
    let r = get(&p, &url);
    assert!(
        matches!(x_cache(&r), "HIT" | "REVALIDATED"),
        "{:?}",
        r.headers
    );
    assert_eq!(r.text(), "hello from python\n");
    let _ = std::fs::remove_dir_all(&dir);
}
