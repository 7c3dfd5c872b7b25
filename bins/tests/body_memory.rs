//! The process-wide bound on buffered request bodies (`--max-body-memory`), over real
//! sockets on 127.0.0.1 against the reactor-httpd binary: 1,000 connections that each send
//! all but one byte of a 1 MiB body and stall hold at most the budget (VmHWM from /proc),
//! the others get 503 with `Retry-After`, clients without a body are served meanwhile, an
//! HTTP/2 body (nghttp) counts against the same budget, and the budget comes back when the
//! stalled connections go.

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::Command;
use std::time::Duration;

mod common;

use common::{raise_nofile, Httpd, TempDir};

const ATTACKERS: usize = 1000;
/// `--max-body`'s default.
const BODY: usize = 1024 * 1024;
const BUDGET: usize = 64 * 1024 * 1024;

fn post_head(len: usize) -> String {
    format!("POST /hello.txt HTTP/1.1\r\nHost: t\r\nContent-Length: {len}\r\n\r\n")
}

/// Connects and sends a head for a `BODY`-byte body and all but its last byte. Write
/// errors are expected (a refused connection is closed after its 503).
fn stall(addr: SocketAddr) -> TcpStream {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_write_timeout(Some(Duration::from_secs(60))).unwrap();
    let mut raw = post_head(BODY).into_bytes();
    raw.resize(raw.len() + BODY - 1, b'x');
    let _ = s.write_all(&raw);
    s
}

/// Sends a whole `BODY`-byte POST on a new connection; its status and head.
fn post_whole(addr: SocketAddr) -> (u16, String) {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    let mut raw = post_head(BODY).into_bytes();
    raw.resize(raw.len() + BODY, b'y');
    let _ = s.write_all(&raw);
    let mut out = Vec::new();
    let mut buf = [0; 4096];
    while !out.windows(4).any(|w| w == b"\r\n\r\n") {
        match s.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => out.extend_from_slice(&buf[..n]),
        }
    }
    let head = String::from_utf8_lossy(&out).into_owned();
    let status = head.get(9..12).and_then(|s| s.parse().ok()).unwrap_or(0);
    (status, head)
}

/// What became of a stalled connection: it was answered (with this status; 0 when it was
/// reset before the answer could be read), or it is still waiting.
fn outcome(s: &mut TcpStream) -> Option<u16> {
    s.set_nonblocking(true).unwrap();
    let mut buf = [0; 64];
    match s.read(&mut buf) {
        Ok(n) if n >= 12 => Some(
            std::str::from_utf8(&buf[9..12])
                .ok()
                .and_then(|v| v.parse().ok())
                .unwrap_or(0),
        ),
        Ok(_) => Some(0),
        Err(e) if e.kind() == ErrorKind::WouldBlock => None,
        Err(_) => Some(0),
    }
}

/// A 1 MiB POST over HTTP/2 with prior knowledge (nghttp; curl 7.88 takes the
/// `RST_STREAM(NO_ERROR)` after an early answer for an error): the status.
fn h2_post(addr: SocketAddr, file: &std::path::Path) -> u16 {
    let out = Command::new("nghttp")
        .arg("-v")
        .arg("-d")
        .arg(file)
        .arg(format!("http://{addr}/hello.txt"))
        .output()
        .expect("nghttp runs");
    let text = String::from_utf8_lossy(&out.stdout);
    text.lines()
        .find_map(|l| l.split(" :status: ").nth(1))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no status from nghttp: {text}"))
}

#[test]
fn a_thousand_stalled_bodies_hold_at_most_the_budget() {
    let limit = raise_nofile();
    assert!(
        limit > ATTACKERS as libc::rlim_t + 100,
        "RLIMIT_NOFILE {limit}"
    );
    let tmp = TempDir::new("reactor-body-memory");
    let root = tmp.join("root");
    std::fs::create_dir_all(&root).unwrap();
    std::fs::write(root.join("hello.txt"), b"hello world\n").unwrap();
    let upload = tmp.join("upload");
    std::fs::write(&upload, vec![b'z'; BODY]).unwrap();
    let budget = BUDGET.to_string();
    let h = Httpd::start(&root, &["--max-body-memory", &budget]);
    let rss_before = h.rss_kib();

    // The attack: four threads open 250 connections each, every one stalling one byte
    // short of its body.
    let addr = h.addr;
    let threads: Vec<_> = (0..4)
        .map(|_| {
            std::thread::spawn(move || (0..ATTACKERS / 4).map(|_| stall(addr)).collect::<Vec<_>>())
        })
        .collect();
    let mut attackers: Vec<TcpStream> = threads
        .into_iter()
        .flat_map(|t| t.join().unwrap())
        .collect::<Vec<_>>();

    // Meanwhile clients without a body are served.
    let r = h.get("/hello.txt");
    assert_eq!((r.status, r.body.as_slice()), (200, &b"hello world\n"[..]));

    // The bytes sent may still wait in the sockets: look again until no more answers come,
    // so that every attacker holds its share or was refused.
    let mut outcomes = vec![None; attackers.len()];
    let mut waiting = usize::MAX;
    for _ in 0..60 {
        for (s, o) in attackers.iter_mut().zip(outcomes.iter_mut()) {
            if o.is_none() {
                *o = outcome(s);
            }
        }
        let now = outcomes.iter().filter(|o| o.is_none()).count();
        if now == waiting {
            break;
        }
        waiting = now;
        std::thread::sleep(Duration::from_secs(1));
    }
    // A client beyond the budget gets 503 with Retry-After. The refused attackers may
    // have left room for a whole body; each round adds one more staller, so the budget is
    // full within its size in bodies.
    let mut refused = None;
    for _ in 0..=BUDGET / BODY {
        match post_whole(addr) {
            (503, head) => {
                refused = Some(head);
                break;
            }
            (status, _) => assert_eq!(status, 405, "a POST within the budget"),
        }
        attackers.push(stall(addr));
    }
    let head = refused.expect("a POST beyond the budget is refused");
    assert!(head.contains("\r\nRetry-After: "), "{head}");
    // HTTP/2 bodies count against the same budget (less than a body's worth is left).
    assert_eq!(h2_post(addr, &upload), 503);

    let answered_503 = outcomes.iter().filter(|o| **o == Some(503)).count();
    let other = outcomes.len() - waiting - answered_503;
    let peak = h.peak_rss_kib();
    let during = h.rss_kib();
    println!(
        "body memory: {} stalled 1 MiB bodies: {waiting} held, {answered_503} answered 503, \
         {other} reset ({} more to fill the budget); RSS {rss_before} → {during} KiB, peak \
         {peak} KiB (budget {} KiB)",
        outcomes.len(),
        attackers.len() - outcomes.len(),
        BUDGET / 1024
    );
    assert!(waiting <= BUDGET / (BODY - 1), "{waiting} bodies held");
    assert!(answered_503 > 0);
    // The bound: the budget, plus per-connection buffers and the allocator's slack.
    let slack_kib = 48 * 1024;
    assert!(
        peak < rss_before + (BUDGET / 1024) as u64 + slack_kib,
        "peak RSS {peak} KiB from {rss_before} KiB"
    );

    // The stalled connections go: their share comes back, bodies are taken again.
    drop(attackers);
    let mut status = 0;
    for _ in 0..100 {
        status = post_whole(addr).0;
        if status != 503 {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(status, 405, "a POST once the stalled bodies are gone");
    assert_eq!(h2_post(addr, &upload), 405);
}
