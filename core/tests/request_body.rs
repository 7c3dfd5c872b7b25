//! Streamed request bodies over real sockets: chunks reach the handler's sink as they are
//! read, reading pauses while the sink is slow (memory stays flat for a 2 GB body), and a
//! body that does not arrive whole reaches the sink as an error.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use reactor::request_body::{BodyError, BodySink};
use reactor::testing::serve;
use reactor::{Config, Context, Handler, Reply, Request, Responder, Response, Server};

/// Hands chunks to a "disk" thread that is slow; pauses while 256 KiB are in flight.
struct SlowSink {
    to_disk: mpsc::Sender<Vec<u8>>,
    in_flight: Arc<AtomicU64>,
    responder: Option<Responder>,
    seen: u64,
    sum: u64,
    report: mpsc::Sender<Result<u64, BodyError>>,
}

const HIGH: u64 = 256 * 1024;

impl BodySink for SlowSink {
    fn data(&mut self, chunk: &[u8]) {
        self.seen += chunk.len() as u64;
        self.sum = chunk.iter().fold(self.sum, |s, &b| {
            s.wrapping_mul(31).wrapping_add(u64::from(b))
        });
        self.in_flight
            .fetch_add(chunk.len() as u64, Ordering::SeqCst);
        let _ = self.to_disk.send(chunk.to_vec());
    }

    fn wants_data(&mut self) -> bool {
        self.in_flight.load(Ordering::SeqCst) < HIGH
    }

    fn end(&mut self, result: Result<(), BodyError>) {
        let _ = self.report.send(result.map(|()| self.seen));
        if let Some(r) = self.responder.take() {
            r.send(Response::text(200, format!("{} {}\n", self.seen, self.sum)));
        }
    }
}

struct Upload {
    report: Mutex<mpsc::Sender<Result<u64, BodyError>>>,
    limit: u64,
}

impl Handler for Upload {
    fn streams_body(&self, req: &Request) -> bool {
        req.method == "PUT"
    }

    fn handle(&self, req: &mut Request, cx: &mut Context<'_>) -> Reply {
        if req.method != "PUT" {
            return Reply::Response(Response::text(
                200,
                format!("buffered {}\n", req.body.len()),
            ));
        }
        if req
            .header("content-length")
            .and_then(|v| v.parse::<u64>().ok())
            > Some(self.limit)
        {
            return Reply::Response(Response::error(413));
        }
        let (to_disk, disk) = mpsc::channel::<Vec<u8>>();
        let in_flight = Arc::new(AtomicU64::new(0));
        let waker = cx.waker().unwrap();
        let (flight, wake) = (in_flight.clone(), waker);
        std::thread::spawn(move || {
            for chunk in disk {
                std::thread::sleep(Duration::from_micros(10)); // a slow disk
                let before = flight.fetch_sub(chunk.len() as u64, Ordering::SeqCst);
                if before >= HIGH && before - (chunk.len() as u64) < HIGH {
                    wake.wake();
                }
            }
        });
        let report = self.report.lock().unwrap().clone();
        let responder = Some(cx.responder());
        cx.stream_body(SlowSink {
            to_disk,
            in_flight,
            responder,
            seen: 0,
            sum: 0,
            report,
        });
        Reply::Later
    }
}

fn server(limit: u64) -> (reactor::Running, mpsc::Receiver<Result<u64, BodyError>>) {
    server_with(Config::default(), limit)
}

fn server_with(
    config: Config,
    limit: u64,
) -> (reactor::Running, mpsc::Receiver<Result<u64, BodyError>>) {
    let (tx, rx) = mpsc::channel();
    let upload = Upload {
        report: Mutex::new(tx),
        limit,
    };
    (serve(Server::new(config).handler(upload)), rx)
}

fn vm_rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

fn response(s: &mut TcpStream) -> String {
    let mut all = String::new();
    s.read_to_string(&mut all).unwrap();
    all
}

#[test]
fn two_gigabytes_streamed_with_flat_memory() {
    const TOTAL: u64 = 2 << 30;
    let (srv, report) = server(u64::MAX);
    let mut s = TcpStream::connect(srv.local_addr()).unwrap();
    s.write_all(
        format!(
            "PUT /big HTTP/1.1\r\nHost: t\r\nContent-Length: {TOTAL}\r\nConnection: close\r\n\r\n"
        )
        .as_bytes(),
    )
    .unwrap();
    let before = vm_rss_kib();
    let peak = Arc::new(AtomicU64::new(before));
    let done = Arc::new(AtomicBool::new(false));
    let (p, d) = (peak.clone(), done.clone());
    let sampler = std::thread::spawn(move || {
        while !d.load(Ordering::SeqCst) {
            p.fetch_max(vm_rss_kib(), Ordering::SeqCst);
            std::thread::sleep(Duration::from_millis(20));
        }
    });
    let block: Vec<u8> = (0..1 << 20).map(|i: u32| (i % 251) as u8).collect();
    let mut sum = 0u64;
    for _ in 0..TOTAL / block.len() as u64 {
        s.write_all(&block).unwrap();
    }
    for _ in 0..TOTAL / block.len() as u64 {
        sum = block
            .iter()
            .fold(sum, |s, &b| s.wrapping_mul(31).wrapping_add(u64::from(b)));
    }
    let answer = response(&mut s);
    done.store(true, Ordering::SeqCst);
    sampler.join().unwrap();
    assert!(
        answer.ends_with(&format!("\r\n\r\n{TOTAL} {sum}\n")),
        "{answer}"
    );
    assert_eq!(report.recv().unwrap(), Ok(TOTAL));
    let grew = peak.load(Ordering::SeqCst).saturating_sub(before);
    eprintln!("2 GiB streamed: VmRSS {before} KiB before, +{grew} KiB at the peak");
    assert!(grew < 16 * 1024, "RSS grew by {grew} KiB");
}

#[test]
fn chunked_body_streams_and_keeps_the_connection() {
    let (srv, report) = server(u64::MAX);
    let mut s = TcpStream::connect(srv.local_addr()).unwrap();
    s.write_all(b"PUT /c HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n")
        .unwrap();
    s.write_all(
        b"POST /b HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\nConnection: close\r\n\r\nabc",
    )
    .unwrap();
    let all = response(&mut s);
    let sum = b"hello world"
        .iter()
        .fold(0u64, |s, &b| s.wrapping_mul(31).wrapping_add(u64::from(b)));
    assert!(all.contains(&format!("\r\n\r\n11 {sum}\n")), "{all}");
    assert!(
        all.ends_with("\r\n\r\nbuffered 3\n"),
        "buffered handlers unchanged: {all}"
    );
    assert_eq!(report.recv().unwrap(), Ok(11));
}

#[test]
fn a_client_that_vanishes_mid_body_is_an_error_not_a_short_body() {
    let (srv, report) = server(u64::MAX);
    let mut s = TcpStream::connect(srv.local_addr()).unwrap();
    s.write_all(b"PUT /cut HTTP/1.1\r\nHost: t\r\nContent-Length: 1000\r\n\r\nonly part of it")
        .unwrap();
    std::thread::sleep(Duration::from_millis(100));
    drop(s);
    let got = report.recv_timeout(Duration::from_secs(10)).unwrap();
    assert_eq!(got.unwrap_err().status, 0);
}

#[test]
fn bad_chunked_framing_reaches_the_sink_as_an_error() {
    let (srv, report) = server(u64::MAX);
    let mut s = TcpStream::connect(srv.local_addr()).unwrap();
    s.write_all(
        b"PUT /bad HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\nzz\r\n",
    )
    .unwrap();
    let got = report.recv_timeout(Duration::from_secs(10)).unwrap();
    assert_eq!(got.unwrap_err().status, 400);
    assert!(response(&mut s).starts_with("HTTP/1.1 400 "));
}

#[test]
fn an_early_answer_leaves_the_body_unread_and_closes() {
    let (srv, _report) = server(10);
    let mut s = TcpStream::connect(srv.local_addr()).unwrap();
    s.write_all(b"PUT /big HTTP/1.1\r\nHost: t\r\nContent-Length: 100\r\n\r\n0123456789")
        .unwrap();
    let all = response(&mut s);
    assert!(all.starts_with("HTTP/1.1 413 "), "{all}");
    assert!(all.contains("Connection: close"), "{all}");
}

/// `curl --http2-prior-knowledge -T -` (a PUT over HTTP/2 with the body on its stdin).
fn h2_put(addr: std::net::SocketAddr) -> std::process::Child {
    std::process::Command::new("curl")
        .args(["-sS", "--http2-prior-knowledge", "-T", "-"])
        .arg(format!("http://{addr}/big"))
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("curl is installed")
}

/// Over HTTP/2 the sink's pace is the client's: the stream window comes back only as the
/// sink takes data, so 256 MiB through a slow sink keep memory flat.
#[test]
fn http2_bodies_stream_with_flow_control() {
    const TOTAL: u64 = 256 << 20;
    let (srv, report) = server(u64::MAX);
    let mut curl = h2_put(srv.local_addr());
    let mut stdin = curl.stdin.take().unwrap();
    let before = vm_rss_kib();
    let block: Vec<u8> = (0..1 << 20).map(|i: u32| (i % 251) as u8).collect();
    let mut sum = 0u64;
    for _ in 0..TOTAL / block.len() as u64 {
        stdin.write_all(&block).unwrap();
        sum = block
            .iter()
            .fold(sum, |s, &b| s.wrapping_mul(31).wrapping_add(u64::from(b)));
    }
    drop(stdin);
    let out = curl.wait_with_output().unwrap();
    let grew = vm_rss_kib().saturating_sub(before);
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        format!("{TOTAL} {sum}\n")
    );
    assert_eq!(report.recv().unwrap(), Ok(TOTAL));
    eprintln!("256 MiB over HTTP/2: VmRSS +{grew} KiB");
    assert!(grew < 16 * 1024, "RSS grew by {grew} KiB");
}

/// A client that goes away mid-body over HTTP/2: the sink hears an error.
#[test]
fn http2_client_gone_mid_body_is_an_error() {
    let (srv, report) = server(u64::MAX);
    let mut curl = h2_put(srv.local_addr());
    let mut stdin = curl.stdin.take().unwrap();
    stdin.write_all(&vec![7u8; 1 << 20]).unwrap();
    std::thread::sleep(Duration::from_millis(300));
    curl.kill().unwrap();
    let _ = curl.wait();
    let got = report.recv_timeout(Duration::from_secs(10)).unwrap();
    assert!(matches!(got, Err(e) if e.status == 0), "{got:?}");
}

#[test]
fn continue_is_sent_only_once_a_handler_takes_the_body() {
    let (srv, report) = server(10);
    // Refused from the head alone: no 100 Continue, so the client need not send the body.
    let mut s = TcpStream::connect(srv.local_addr()).unwrap();
    s.write_all(
        b"PUT /big HTTP/1.1\r\nHost: t\r\nContent-Length: 100\r\nExpect: 100-continue\r\n\r\n",
    )
    .unwrap();
    let all = response(&mut s);
    assert!(all.starts_with("HTTP/1.1 413 "), "{all}");
    // Taken: 100 Continue first, then the body is read and answered.
    let mut s = TcpStream::connect(srv.local_addr()).unwrap();
    s.write_all(b"PUT /small HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\nExpect: 100-continue\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut interim = [0u8; 25];
    s.read_exact(&mut interim).unwrap();
    assert_eq!(&interim, b"HTTP/1.1 100 Continue\r\n\r\n");
    s.write_all(b"hello").unwrap();
    let all = response(&mut s);
    assert!(all.starts_with("HTTP/1.1 200 "), "{all}");
    assert_eq!(report.recv().unwrap(), Ok(5));
}

#[test]
fn buffered_bodies_past_the_memory_budget_get_503_and_streamed_ones_are_not_counted() {
    let config = Config {
        max_body_memory: 8,
        ..Config::default()
    };
    let (srv, report) = server_with(config, u64::MAX);
    let mut s = TcpStream::connect(srv.local_addr()).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    // Within the budget, twice on one connection (the first body's share came back); a
    // streamed body far larger than the budget; then a body past it, which waits for
    // 100 Continue: refused before it is sent.
    s.write_all(b"POST /a HTTP/1.1\r\nHost: t\r\nContent-Length: 8\r\n\r\n12345678")
        .unwrap();
    s.write_all(b"POST /b HTTP/1.1\r\nHost: t\r\nContent-Length: 8\r\n\r\n12345678")
        .unwrap();
    s.write_all(b"PUT /c HTTP/1.1\r\nHost: t\r\nContent-Length: 100\r\n\r\n")
        .unwrap();
    s.write_all(&[b'x'; 100]).unwrap();
    s.write_all(
        b"POST /d HTTP/1.1\r\nHost: t\r\nExpect: 100-continue\r\nContent-Length: 9\r\n\r\n",
    )
    .unwrap();
    let all = response(&mut s);
    assert_eq!(all.matches("\r\n\r\nbuffered 8\n").count(), 2, "{all}");
    assert_eq!(report.recv().unwrap(), Ok(100));
    let refused = &all[all.find("HTTP/1.1 503 ").expect(&all)..];
    assert!(refused.contains("\r\nRetry-After: 1\r\n"), "{refused}");
    assert!(refused.contains("\r\nConnection: close\r\n"), "{refused}");
    assert!(!all.contains("100 Continue"), "{all}");
    // A chunked body needs a step of the budget to start.
    let mut s = TcpStream::connect(srv.local_addr()).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    s.write_all(
        b"POST /e HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n1\r\na\r\n0\r\n\r\n",
    )
    .unwrap();
    assert!(response(&mut s).starts_with("HTTP/1.1 503 "));
}
