//! The reactor over real sockets: framing, keep-alive, pipelining, errors, deferred
//! replies, streamed bodies, handler-owned sockets, tunnels, stats, timeouts, shutdown.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use reactor::testing::{serve, Client, MemoryLog};
use reactor::{
    Body, Config, Context, Flow, Handler, Ready, Reply, Request, Response, Server, SocketHandler,
};

/// Echoes method, path and body: `METHOD PATH BODY`.
struct Echo;

impl Handler for Echo {
    fn handle(&self, req: &mut Request, _: &mut Context<'_>) -> Reply {
        let mut out = format!("{} {} ", req.method, req.target).into_bytes();
        out.extend_from_slice(&req.body);
        Reply::Response(Response::bytes(200, "text/plain; charset=utf-8", out))
    }
}

fn echo_server() -> reactor::Running {
    serve(Server::new(Config::default()).handler(Echo))
}

fn exchange(addr: std::net::SocketAddr, raw: &[u8]) -> String {
    let mut c = Client::connect(addr);
    c.send(raw);
    String::from_utf8_lossy(&c.read_to_end()).into_owned()
}

#[test]
fn get_has_standard_headers() {
    let s = echo_server();
    let r = Client::connect(s.local_addr()).get("/x?y");
    assert_eq!(r.status, 200);
    assert_eq!(r.text(), "GET /x?y ");
    assert_eq!(r.header("server"), Some("reactor"));
    assert_eq!(r.header("content-length"), Some("9"));
    assert_eq!(r.header("content-type"), Some("text/plain; charset=utf-8"));
    let date = r.header("date").expect("date header");
    assert!(reactor::date::parse_http_date(date).is_some(), "{date}");
}

#[test]
fn head_has_same_headers_and_no_body() {
    let s = echo_server();
    let raw = exchange(
        s.local_addr(),
        b"HEAD /abc HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
    );
    assert!(raw.starts_with("HTTP/1.1 200 OK\r\n"), "{raw}");
    assert!(raw.contains("Content-Length: 10\r\n"), "{raw}");
    assert!(
        raw.ends_with("\r\n\r\n"),
        "HEAD must not carry a body: {raw:?}"
    );
}

#[test]
fn pipelined_requests_answered_in_order() {
    let s = echo_server();
    let mut c = Client::connect(s.local_addr());
    let mut raw = Vec::new();
    for i in 0..20 {
        raw.extend_from_slice(format!("GET /{i} HTTP/1.1\r\nHost: a\r\n\r\n").as_bytes());
    }
    c.send(&raw);
    for i in 0..20 {
        assert_eq!(c.response(false).unwrap().text(), format!("GET /{i} "));
    }
}

#[test]
fn pipelined_answers_are_not_held_back_by_a_partial_head() {
    // Answers to pipelined requests wait in the queue for each other (one write for many);
    // a request still arriving must not keep the ones before it waiting.
    let s = echo_server();
    let mut c = Client::connect(s.local_addr());
    let mut raw = Vec::new();
    for i in 0..500 {
        raw.extend_from_slice(format!("GET /{i} HTTP/1.1\r\nHost: a\r\n\r\n").as_bytes());
    }
    raw.extend_from_slice(b"GET /last HTTP/1.1\r\nHo");
    c.send(&raw);
    for i in 0..500 {
        assert_eq!(c.response(false).unwrap().text(), format!("GET /{i} "));
    }
    c.send(b"st: a\r\n\r\n");
    assert_eq!(c.response(false).unwrap().text(), "GET /last ");
}

#[test]
fn http10_closes_unless_keep_alive() {
    let s = echo_server();
    let raw = exchange(
        s.local_addr(),
        b"GET /a HTTP/1.0\r\n\r\nGET /b HTTP/1.0\r\n\r\n",
    );
    assert_eq!(raw.matches("HTTP/1.1 200").count(), 1, "{raw}");
    assert!(raw.contains("Connection: close"));
    let mut c = Client::connect(s.local_addr());
    c.send(b"GET /a HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
    let r = c.response(false).unwrap();
    assert_eq!(r.header("connection"), Some("keep-alive"));
    c.send(b"GET /b HTTP/1.0\r\n\r\n");
    assert_eq!(c.response(false).unwrap().text(), "GET /b ");
}

#[test]
fn connection_close_honoured() {
    let s = echo_server();
    let raw = exchange(
        s.local_addr(),
        b"GET /a HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\nGET /b HTTP/1.1\r\nHost: a\r\n\r\n",
    );
    assert_eq!(raw.matches("HTTP/1.1 200").count(), 1, "{raw}");
}

#[test]
fn bodies_read_completely_keep_connection_in_sync() {
    let s = echo_server();
    let mut c = Client::connect(s.local_addr());
    c.send(b"POST /len HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello");
    c.send(b"POST /chunked HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2;x=y\r\nde\r\n0\r\nT: 1\r\n\r\n");
    c.send(b"POST /empty HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n");
    c.send(b"GET /after HTTP/1.1\r\nHost: a\r\n\r\n");
    assert_eq!(c.response(false).unwrap().text(), "POST /len hello");
    assert_eq!(c.response(false).unwrap().text(), "POST /chunked abcde");
    assert_eq!(c.response(false).unwrap().text(), "POST /empty ");
    assert_eq!(c.response(false).unwrap().text(), "GET /after ");
}

#[test]
fn expect_100_continue() {
    let s = echo_server();
    let mut c = Client::connect(s.local_addr());
    c.send(b"PUT /u HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\nExpect: 100-continue\r\n\r\n");
    let mut interim = [0u8; 25];
    c.stream().read_exact(&mut interim).unwrap();
    assert_eq!(&interim, b"HTTP/1.1 100 Continue\r\n\r\n");
    c.send(b"data");
    assert_eq!(c.response(false).unwrap().text(), "PUT /u data");
}

#[test]
fn malformed_requests_get_4xx_and_close() {
    let s = echo_server();
    let long_uri = format!("GET /{} HTTP/1.1\r\nHost: a\r\n\r\n", "a".repeat(9000));
    let big_head = format!(
        "GET / HTTP/1.1\r\nHost: a\r\nX: {}\r\n\r\n",
        "b".repeat(17_000)
    );
    let cases: Vec<(Vec<u8>, &str)> = vec![
        (b"GET / HTTP/1.1\r\n\r\n".to_vec(), "400"),
        (b"GARBAGE\r\n\r\n".to_vec(), "400"),
        (long_uri.into_bytes(), "414"),
        (big_head.into_bytes(), "431"),
        (
            b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n".to_vec(),
            "501",
        ),
        (b"GET / HTTP/2.0\r\nHost: a\r\n\r\n".to_vec(), "505"),
        (
            b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 99999999\r\n\r\n".to_vec(),
            "413",
        ),
        (
            b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n".to_vec(),
            "400",
        ),
    ];
    for (raw, want) in cases {
        let mut with_next = raw.clone();
        with_next.extend_from_slice(b"GET /second HTTP/1.1\r\nHost: a\r\n\r\n");
        let out = exchange(s.local_addr(), &with_next);
        assert!(
            out.starts_with(&format!("HTTP/1.1 {want} ")),
            "want {want}: {out:.200}"
        );
        assert!(out.contains("Connection: close"), "{out:.300}");
        assert!(
            out.contains("text/html"),
            "error pages are HTML: {out:.300}"
        );
        assert!(
            !out.contains("/second"),
            "no second response from the same bytes"
        );
    }
    // The server still serves everyone else.
    assert_eq!(Client::connect(s.local_addr()).get("/ok").status, 200);
}

struct Nothing;
impl Handler for Nothing {
    fn handle(&self, _: &mut Request, _: &mut Context<'_>) -> Reply {
        Reply::Decline
    }
}

#[test]
fn declined_everywhere_is_404() {
    let s = serve(
        Server::new(Config::default())
            .handler(Nothing)
            .handler(Nothing),
    );
    let r = Client::connect(s.local_addr()).get("/x");
    assert_eq!(r.status, 404);
    assert!(r.text().contains("404 Not Found"));
}

/// Answers from another thread after a delay; declines paths starting with /pass.
struct Later;
impl Handler for Later {
    fn handle(&self, req: &mut Request, cx: &mut Context<'_>) -> Reply {
        let responder = cx.responder();
        let pass = req.path().starts_with("/pass");
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(20));
            if pass {
                responder.decline();
            } else {
                responder.send(Response::text(200, "later"));
            }
        });
        Reply::Later
    }
}

#[test]
fn deferred_replies_and_late_decline() {
    let s = serve(Server::new(Config::default()).handler(Later).handler(Echo));
    let mut c = Client::connect(s.local_addr());
    assert_eq!(c.get("/a").text(), "later");
    assert_eq!(c.get("/pass/b").text(), "GET /pass/b ");
}

/// When a plugin that took a responder declines, the chain goes on after that plugin:
/// the ones passed over before it (inside one offer) do not run again, nor does it.
#[test]
fn a_late_decline_resumes_after_the_plugin_that_took_the_responder() {
    use std::sync::atomic::{AtomicUsize, Ordering};
    struct Counted(Arc<AtomicUsize>);
    impl Handler for Counted {
        fn handle(&self, req: &mut Request, cx: &mut Context<'_>) -> Reply {
            self.0.fetch_add(1, Ordering::SeqCst);
            Later.handle(req, cx)
        }
    }
    let calls = Arc::new(AtomicUsize::new(0));
    let server = Server::new(Config::default())
        .handler(Nothing)
        .handler(Nothing)
        .handler(Counted(calls.clone()))
        .handler(Echo);
    let s = serve(server);
    let mut c = Client::connect(s.local_addr());
    assert_eq!(c.get("/pass/b").text(), "GET /pass/b ");
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    // The same over HTTP/2 (curl, prior knowledge).
    let out = std::process::Command::new("curl")
        .args(["-sS", "--max-time", "10", "--http2-prior-knowledge"])
        .arg(format!("http://{}/pass/c", s.local_addr()))
        .output()
        .expect("curl is installed");
    assert_eq!(String::from_utf8_lossy(&out.stdout), "GET /pass/c ");
    assert_eq!(calls.load(Ordering::SeqCst), 2);
}

/// Streams `n` KiB from a thread, honouring backpressure.
struct Streamer;
impl Handler for Streamer {
    fn handle(&self, req: &mut Request, _: &mut Context<'_>) -> Reply {
        let kib: usize = req.path().trim_start_matches('/').parse().unwrap_or(1);
        let (body, tx) = Body::stream(None);
        std::thread::spawn(move || {
            let resume = Arc::new((Mutex::new(false), std::sync::Condvar::new()));
            let r2 = resume.clone();
            tx.on_resume(move || {
                *r2.0.lock().unwrap() = true;
                r2.1.notify_all();
            });
            for i in 0..kib {
                match tx.send(vec![(i % 251) as u8; 1024]) {
                    Ok(Flow::Continue) => {}
                    Ok(Flow::Pause) => {
                        let mut go = resume.0.lock().unwrap();
                        while !*go {
                            go = resume
                                .1
                                .wait_timeout(go, Duration::from_millis(50))
                                .unwrap()
                                .0;
                        }
                        *go = false;
                    }
                    Err(_) => return,
                }
            }
            tx.finish();
        });
        Reply::Response(Response::new(200).with_body(body))
    }
}

fn expected_stream(kib: usize) -> Vec<u8> {
    (0..kib).flat_map(|i| vec![(i % 251) as u8; 1024]).collect()
}

#[test]
fn streamed_body_chunked_for_11_and_close_delimited_for_10() {
    let s = serve(Server::new(Config::default()).handler(Streamer));
    let mut c = Client::connect(s.local_addr());
    let r = c.get("/2048");
    assert_eq!(r.header("transfer-encoding"), Some("chunked"));
    assert!(
        r.body == expected_stream(2048),
        "2 MiB streamed body intact"
    );
    // Keep-alive survives a chunked body.
    assert_eq!(c.get("/1").body, expected_stream(1));
    let mut c = Client::connect(s.local_addr());
    c.send(b"GET /300 HTTP/1.0\r\n\r\n");
    let r = c.response(false).unwrap();
    assert_eq!(r.header("connection"), Some("close"));
    assert!(r.body == expected_stream(300));
}

/// Asks a backend (a plain std listener) for a line through a reactor-owned socket.
struct Upstream {
    backend: std::net::SocketAddr,
}

struct UpstreamConn {
    stream: mio::net::TcpStream,
    responder: Option<reactor::Responder>,
    sent: bool,
    got: Vec<u8>,
}

impl SocketHandler for UpstreamConn {
    fn source(&mut self) -> &mut dyn mio::event::Source {
        &mut self.stream
    }
    fn ready(&mut self, ready: Ready, _: &mut Context<'_>) -> bool {
        if ready.writable && !self.sent && self.stream.write(b"ping\n").is_ok() {
            self.sent = true;
        }
        let mut buf = [0u8; 64];
        loop {
            match self.stream.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => self.got.extend_from_slice(&buf[..n]),
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return true,
                Err(_) => break,
            }
        }
        if let Some(r) = self.responder.take() {
            r.send(Response::bytes(
                200,
                "text/plain",
                std::mem::take(&mut self.got),
            ));
        }
        false
    }
}

impl Handler for Upstream {
    fn handle(&self, _: &mut Request, cx: &mut Context<'_>) -> Reply {
        let stream = match mio::net::TcpStream::connect(self.backend) {
            Ok(s) => s,
            Err(_) => return Reply::Response(Response::error(502)),
        };
        let conn = UpstreamConn {
            stream,
            responder: Some(cx.responder()),
            sent: false,
            got: Vec::new(),
        };
        match cx.register(
            Box::new(conn),
            mio::Interest::READABLE | mio::Interest::WRITABLE,
        ) {
            Ok(_) => Reply::Later,
            Err(_) => Reply::Response(Response::error(502)),
        }
    }
}

#[test]
fn handler_owned_socket_gets_readiness() {
    let backend = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = backend.local_addr().unwrap();
    std::thread::spawn(move || {
        for stream in backend.incoming().take(2) {
            let mut s = stream.unwrap();
            let mut line = [0u8; 5];
            s.read_exact(&mut line).unwrap();
            s.write_all(b"pong from backend").unwrap();
        }
    });
    let s = serve(Server::new(Config::default()).handler(Upstream { backend: addr }));
    let mut c = Client::connect(s.local_addr());
    assert_eq!(c.get("/").text(), "pong from backend");
    assert_eq!(c.get("/").text(), "pong from backend");
}

/// CONNECT to the echo backend named in the target.
struct Connect;
impl Handler for Connect {
    fn handle(&self, req: &mut Request, _: &mut Context<'_>) -> Reply {
        let peer = TcpStream::connect(req.target.as_str()).and_then(Response::tunnel);
        Reply::Response(peer.unwrap_or_else(|_| Response::error(502)))
    }
}

#[test]
fn tunnel_relays_both_ways() {
    let backend = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = backend.local_addr().unwrap();
    std::thread::spawn(move || {
        let (mut s, _) = backend.accept().unwrap();
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            match s.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => s.write_all(&buf[..n]).unwrap(),
            }
        }
    });
    let s = serve(Server::new(Config::default()).handler(Connect));
    let mut c = Client::connect(s.local_addr());
    // The first tunnel bytes arrive together with the CONNECT head.
    c.send(format!("CONNECT {addr} HTTP/1.1\r\nHost: {addr}\r\n\r\nearly").as_bytes());
    let r = c.response(true).unwrap();
    assert_eq!(r.status, 200);
    let payload: Vec<u8> = (0..300_000u32).map(|i| (i % 256) as u8).collect();
    let mut writer = c.stream().try_clone().unwrap();
    let p2 = payload.clone();
    let t = std::thread::spawn(move || {
        writer.write_all(&p2).unwrap();
        writer.shutdown(std::net::Shutdown::Write).unwrap();
    });
    let got = c.read_to_end();
    t.join().unwrap();
    assert_eq!(&got[..5], b"early");
    assert!(
        got[5..] == payload[..],
        "tunnelled bytes intact ({} bytes)",
        got.len()
    );
}

#[test]
fn stats_and_access_log_are_exact_under_concurrency() {
    let log = MemoryLog::default();
    let config = Config {
        workers: 2,
        access_log: Some(log.sink()),
        ..Config::default()
    };
    let server = Server::new(config).handler(Echo);
    let stats = server.stats();
    let s = serve(server);
    let addr = s.local_addr();
    let threads: Vec<_> = (0..8)
        .map(|t| {
            std::thread::spawn(move || {
                let mut c = Client::connect(addr);
                for i in 0..50 {
                    assert_eq!(c.get(&format!("/{t}/{i}")).status, 200);
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let deadline = Instant::now() + Duration::from_secs(5);
    while stats.snapshot().active_connections > 0 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    let snap = stats.snapshot();
    assert_eq!(snap.requests, 400);
    assert_eq!(snap.by_class[1], 400);
    assert_eq!(snap.accepted, 8);
    assert_eq!(snap.active_connections, 0);
    std::thread::sleep(Duration::from_millis(300));
    let text = log.text();
    assert_eq!(text.lines().count(), 400);
    let line = text
        .lines()
        .find(|l| l.contains("GET /3/7 "))
        .expect("line for /3/7");
    assert!(line.starts_with("127.0.0.1 - - ["), "{line}");
    assert!(
        line.ends_with("\"GET /3/7 HTTP/1.1\" 200 9 \"-\" \"-\""),
        "{line}"
    );
}

/// Holds a pool thread for as long as asked.
struct Slow;
impl Handler for Slow {
    fn handle(&self, _: &mut Request, cx: &mut Context<'_>) -> Reply {
        cx.blocking(|| {
            std::thread::sleep(Duration::from_millis(400));
            Some(Response::text(200, "slow"))
        })
    }
}

#[test]
fn saturated_pool_answers_503_then_recovers() {
    let config = Config {
        threads: 1,
        queue: 1,
        ..Config::default()
    };
    let s = serve(Server::new(config).handler(Slow));
    let addr = s.local_addr();
    let mut clients: Vec<Client> = (0..4).map(|_| Client::connect(addr)).collect();
    for c in &mut clients {
        c.send(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n");
        std::thread::sleep(Duration::from_millis(30));
    }
    let statuses: Vec<u16> = clients
        .iter_mut()
        .map(|c| c.response(false).unwrap().status)
        .collect();
    assert_eq!(
        statuses.iter().filter(|&&s| s == 200).count(),
        2,
        "{statuses:?}"
    );
    assert_eq!(
        statuses.iter().filter(|&&s| s == 503).count(),
        2,
        "{statuses:?}"
    );
    let mut c = Client::connect(addr);
    c.send(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n");
    let r = c.response(false).unwrap();
    assert_eq!(r.status, 200, "recovers once the load passes");
    let mut c = Client::connect(addr);
    c.send(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n");
    let mut c2 = Client::connect(addr);
    std::thread::sleep(Duration::from_millis(30));
    c2.send(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n");
    let mut c3 = Client::connect(addr);
    std::thread::sleep(Duration::from_millis(30));
    c3.send(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n");
    let r3 = c3.response(false).unwrap();
    assert_eq!(r3.status, 503);
    assert_eq!(r3.header("retry-after"), Some("1"));
    assert_eq!(c.response(false).unwrap().status, 200);
    assert_eq!(c2.response(false).unwrap().status, 200);
}

#[test]
fn header_timeout_gives_408_idle_connections_close_quietly() {
    let mut config = Config::default();
    config.timeouts.header = Duration::from_secs(1);
    config.timeouts.keep_alive = Duration::from_secs(1);
    let s = serve(Server::new(config).handler(Echo));
    let mut c = Client::connect(s.local_addr());
    c.send(b"GET / HTTP/1.1\r\nHost:");
    let out = String::from_utf8_lossy(&c.read_to_end()).into_owned();
    assert!(out.starts_with("HTTP/1.1 408 "), "{out}");
    let mut idle = Client::connect(s.local_addr());
    assert_eq!(idle.get("/").status, 200);
    let start = Instant::now();
    assert!(idle.read_to_end().is_empty(), "idle close sends nothing");
    assert!(start.elapsed() < Duration::from_secs(8));
}

#[test]
fn graceful_stop_finishes_in_flight_response() {
    let server = Server::new(Config::default()).handler(Streamer);
    let s = serve(server);
    let addr = s.local_addr();
    let stop = s.stop_handle();
    let mut c = Client::connect(addr);
    c.send(b"GET /20000 HTTP/1.1\r\nHost: a\r\n\r\n");
    let mut first = [0u8; 1];
    c.stream().read_exact(&mut first).unwrap();
    stop.stop();
    let waiter = std::thread::spawn(move || s.wait());
    let mut rest = c.read_to_end();
    rest.insert(0, first[0]);
    assert!(rest.ends_with(b"0\r\n\r\n"), "chunked body completed");
    assert!(rest.len() > 20_000 * 1024);
    waiter.join().unwrap();
    assert!(TcpStream::connect(addr).is_err(), "no longer accepting");
}

struct Panics;
impl Handler for Panics {
    fn handle(&self, req: &mut Request, _: &mut Context<'_>) -> Reply {
        if req.path() == "/boom" {
            panic!("handler bug");
        }
        Reply::Response(Response::text(200, "fine"))
    }
}

#[test]
fn a_panicking_handler_costs_one_500() {
    let s = serve(Server::new(Config::default()).handler(Panics));
    let mut c = Client::connect(s.local_addr());
    assert_eq!(c.get("/boom").status, 500);
    assert_eq!(Client::connect(s.local_addr()).get("/ok").text(), "fine");
}

/// Request filters run before the handlers (and may answer or pass on, now or later);
/// response filters run on every answer that came through the chain, 404 included.
#[test]
fn filters_wrap_the_handler_chain() {
    use reactor::Filter;

    struct Guard;
    impl Filter for Guard {
        fn request(&self, req: &mut Request, cx: &mut Context<'_>) -> Reply {
            match req.path() {
                "/secret" => Reply::Response(Response::error(403)),
                "/later" => {
                    let r = cx.responder();
                    std::thread::spawn(move || r.decline());
                    Reply::Later
                }
                _ => {
                    req.target = req.target.replace("/old", "/new");
                    Reply::Decline
                }
            }
        }
        fn response(&self, req: &Request, resp: &mut Response, _: &mut Context<'_>) {
            resp.headers
                .push(("X-Filtered".into(), req.path().to_string().into()));
        }
    }
    struct Only;
    impl Handler for Only {
        fn handle(&self, req: &mut Request, cx: &mut Context<'_>) -> Reply {
            if req.path() == "/missing" {
                return Reply::Decline;
            }
            Echo.handle(req, cx)
        }
    }
    let s = serve(Server::new(Config::default()).filter(Guard).handler(Only));
    let mut c = Client::connect(s.local_addr());
    let r = c.get("/old/x");
    assert_eq!((r.status, r.text().as_str()), (200, "GET /new/x "));
    assert_eq!(r.header("x-filtered"), Some("/new/x"));
    let r = c.get("/secret");
    assert_eq!(r.status, 403);
    assert_eq!(r.header("x-filtered"), Some("/secret"));
    let r = Client::connect(s.local_addr()).get("/later");
    assert_eq!((r.status, r.text().as_str()), (200, "GET /later "));
    let r = Client::connect(s.local_addr()).get("/missing");
    assert_eq!(r.status, 404);
    assert_eq!(r.header("x-filtered"), Some("/missing"));
}
