//! reactor-httpd under attack and faults, over real sockets on 127.0.0.1: slowloris,
//! timeouts, the connection cap and descriptor exhaustion, request smuggling, path
//! traversal, limits, slow readers, integrity under load, pool saturation and graceful
//! shutdown. Memory is measured as the server process's VmRSS, so most tests run the
//! binary as a child process. The tests take a shared lock and run one at a time, so the
//! figures (printed with `--nocapture`) are not skewed by each other.

use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use reactor::testing::{serve, Client};
use reactor::{Config, Context, Handler, Reply, Request, Response, Server};

mod common;

use common::{raise_nofile, Httpd, TempDir, HTTPD};
const SECRET: &str = "TOP-SECRET-OUTSIDE-THE-ROOT";

/// One test at a time: they measure memory, CPU time and latency of their own server.
fn serial() -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    LOCK.lock().unwrap_or_else(|e| e.into_inner())
}

/// Deterministic content for file `seed` (an LCG; every byte differs between files).
fn content(seed: u32, len: usize) -> Vec<u8> {
    let mut x: u32 = seed.wrapping_mul(2_654_435_761).wrapping_add(1);
    (0..len)
        .map(|_| {
            x = x.wrapping_mul(1_103_515_245).wrapping_add(12345);
            (x >> 16) as u8
        })
        .collect()
}

/// `<tmp>/outside.txt` holds the secret; `<tmp>/root/` is the document root, with a small
/// file, a subdirectory and symlinks that lead out of the root.
fn site() -> (TempDir, PathBuf) {
    let tmp = TempDir::new("reactor-attacks");
    let root = tmp.0.join("root");
    std::fs::create_dir_all(root.join("sub")).unwrap();
    std::fs::write(tmp.0.join("outside.txt"), SECRET).unwrap();
    std::fs::create_dir_all(tmp.0.join("outdir")).unwrap();
    std::fs::write(tmp.0.join("outdir/secret.txt"), SECRET).unwrap();
    std::fs::write(root.join("hello.txt"), b"hello world\n").unwrap();
    std::fs::write(root.join("sub/index.html"), b"<h1>sub</h1>").unwrap();
    std::fs::write(root.join(".secret"), SECRET).unwrap();
    let link = |to: &Path, at: &str| std::os::unix::fs::symlink(to, root.join(at)).unwrap();
    link(&tmp.0.join("outside.txt"), "escape");
    link(&tmp.0, "escape-dir");
    link(&tmp.0.join("outdir"), "escape-outdir");
    link(Path::new("../outside.txt"), "rel-escape");
    link(Path::new("escape"), "chain");
    link(Path::new("/etc"), "etc-link");
    std::os::unix::fs::symlink("../../outside.txt", root.join("sub/up")).unwrap();
    link(Path::new("loop-b"), "loop-a");
    link(Path::new("loop-a"), "loop-b");
    (tmp, root)
}

/// A sparse file of `len` zero bytes (cheap to make; content does not matter).
fn sparse(path: &Path, len: u64) {
    std::fs::File::create(path).unwrap().set_len(len).unwrap();
}

/// Sends `raw` on a fresh connection, half-closes, and reads everything the server sends
/// until it closes (a reset after the answer counts as the end).
fn exchange(addr: SocketAddr, raw: &[u8]) -> Vec<u8> {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let _ = s.write_all(raw);
    let _ = s.shutdown(Shutdown::Write);
    let mut out = Vec::new();
    let mut buf = [0u8; 16 * 1024];
    loop {
        match s.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => out.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == ErrorKind::ConnectionReset => break,
            Err(e) => panic!(
                "reading the answer to {:?}: {e}",
                String::from_utf8_lossy(raw)
            ),
        }
    }
    out
}

/// Header fields of a response, names lower-cased.
type Fields = Vec<(String, String)>;

/// Parses one response from the front of `bytes`: status, headers (names lower-cased),
/// the length of its head, and the length of the whole response (head plus Content-Length
/// body). None while the head is incomplete or not a response.
fn split_response(bytes: &[u8]) -> Option<(u16, Fields, usize)> {
    let (_, headers, _, total) = parse_response_head(bytes)?;
    Some((status_of(bytes)?, headers, total))
}

fn status_of(bytes: &[u8]) -> Option<u16> {
    let line = bytes.strip_prefix(b"HTTP/1.1 ")?;
    std::str::from_utf8(line.get(..3)?).ok()?.parse().ok()
}

/// Status, fields, head length, head plus body length.
fn parse_response_head(bytes: &[u8]) -> Option<(u16, Fields, usize, usize)> {
    let head = bytes.windows(4).position(|w| w == b"\r\n\r\n")? + 4;
    let text = std::str::from_utf8(&bytes[..head]).ok()?;
    let mut lines = text.split("\r\n");
    let status = status_of(lines.next()?.as_bytes())?;
    let headers: Fields = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    let len: usize = headers
        .iter()
        .find(|(n, _)| n == "content-length")
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0);
    Some((status, headers, head, head + len))
}

// ---------------------------------------------------------------------------------------
// 1. Slowloris
// ---------------------------------------------------------------------------------------

#[test]
fn slowloris_does_not_starve_other_clients() {
    let _g = serial();
    const ATTACKERS: usize = 1000;
    let limit = raise_nofile();
    assert!(
        limit > 2 * ATTACKERS as libc::rlim_t + 100,
        "RLIMIT_NOFILE {limit}"
    );
    let (_tmp, root) = site();
    let h = Httpd::start(&root, &["--header-timeout", "6"]);
    let server_limits = std::fs::read_to_string(format!("/proc/{}/limits", h.pid())).unwrap();
    let open_files = server_limits
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .and_then(|l| l.split_whitespace().nth(3))
        .and_then(|v| v.parse::<u64>().ok())
        .unwrap();
    assert!(
        open_files > ATTACKERS as u64 + 100,
        "server limit {open_files}"
    );

    let rss_before = h.rss_kib();
    let started = Instant::now();
    let mut attackers: Vec<TcpStream> = (0..ATTACKERS)
        .map(|_| {
            let mut s = TcpStream::connect(h.addr).unwrap();
            s.write_all(b"GET /hello.txt HTTP/1.1\r\n").unwrap();
            s
        })
        .collect();
    let connected = started.elapsed();

    // Every connection trickles one header line a second until the server hangs up.
    let stop = Arc::new(AtomicBool::new(false));
    let trickler = {
        let stop = stop.clone();
        let mut socks: Vec<TcpStream> = attackers.iter().map(|s| s.try_clone().unwrap()).collect();
        std::thread::spawn(move || {
            let mut line = 0;
            while !stop.load(Ordering::Relaxed) {
                for s in &mut socks {
                    let _ = s.write_all(format!("X-Slow-{line}: a\r\n").as_bytes());
                }
                line += 1;
                for _ in 0..10 {
                    if stop.load(Ordering::Relaxed) {
                        break;
                    }
                    std::thread::sleep(Duration::from_millis(100));
                }
            }
        })
    };

    // A normal client, new connection per request, while the attack runs.
    let mut latencies = Vec::new();
    while started.elapsed() < Duration::from_secs(5) {
        let t = Instant::now();
        let r = h.get("/hello.txt");
        latencies.push(t.elapsed());
        assert_eq!((r.status, r.body.as_slice()), (200, &b"hello world\n"[..]));
        std::thread::sleep(Duration::from_millis(20));
    }
    let rss_during = h.rss_kib();
    let max = latencies.iter().max().copied().unwrap();
    let mean = latencies.iter().sum::<Duration>() / latencies.len() as u32;
    println!(
        "slowloris: {ATTACKERS} connections opened in {connected:?}; {} requests during the \
         attack, mean {mean:?}, max {max:?}; RSS {rss_before} → {rss_during} KiB",
        latencies.len()
    );
    assert!(max < Duration::from_secs(1), "max latency {max:?}");
    // A trickling connection with a short partial head holds a small (2 KiB) read buffer,
    // not a head-sized one: allow 4 KiB each.
    assert!(
        rss_during < rss_before + 4 * ATTACKERS as u64,
        "RSS {rss_before} → {rss_during} KiB for {ATTACKERS} slow connections"
    );

    // Past the header timeout, every attacker got 408 and was closed.
    let mut got_408 = 0;
    for s in &mut attackers {
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let mut out = Vec::new();
        let _ = s.read_to_end(&mut out);
        if out.starts_with(b"HTTP/1.1 408 ") {
            got_408 += 1;
        }
    }
    let closed_after = started.elapsed();
    stop.store(true, Ordering::Relaxed);
    trickler.join().unwrap();
    println!("slowloris: {got_408}/{ATTACKERS} got 408, all closed {closed_after:?} after start");
    assert_eq!(got_408, ATTACKERS);
    assert_eq!(h.get("/hello.txt").status, 200);
}

// ---------------------------------------------------------------------------------------
// 2. Timeouts
// ---------------------------------------------------------------------------------------

/// Reads until EOF or reset (at most `limit`); the bytes read, or None if still open.
fn read_until_closed(s: &mut TcpStream, limit: Duration) -> Option<Vec<u8>> {
    s.set_read_timeout(Some(limit)).unwrap();
    let mut out = Vec::new();
    let mut buf = vec![0u8; 256 * 1024];
    loop {
        match s.read(&mut buf) {
            Ok(0) => return Some(out),
            Ok(n) => out.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == ErrorKind::ConnectionReset => return Some(out),
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                return None
            }
            Err(e) => panic!("{e}"),
        }
    }
}

#[test]
fn header_body_keepalive_and_send_timeouts() {
    let _g = serial();
    let (_tmp, root) = site();
    sparse(&root.join("huge.bin"), 64 << 20);
    let h = Httpd::start(
        &root,
        &[
            "--header-timeout",
            "1",
            "--body-timeout",
            "1",
            "--keepalive-timeout",
            "1",
            "--send-timeout",
            "2",
        ],
    );
    let wait = Duration::from_secs(8);

    // Header: part of a head, then silence → 408 and closed.
    let mut s = TcpStream::connect(h.addr).unwrap();
    s.write_all(b"GET /hello.txt HTTP/1.1\r\nHost:").unwrap();
    let out = read_until_closed(&mut s, wait).expect("closed after the header timeout");
    assert!(
        out.starts_with(b"HTTP/1.1 408 "),
        "{}",
        String::from_utf8_lossy(&out)
    );

    // A connection that never sends a byte is closed without an answer.
    let mut s = TcpStream::connect(h.addr).unwrap();
    let out = read_until_closed(&mut s, wait).expect("silent connection closed");
    assert!(out.is_empty());

    // Body: 3 of 10 bytes, then silence → 408 and closed.
    let mut s = TcpStream::connect(h.addr).unwrap();
    s.write_all(b"POST /hello.txt HTTP/1.1\r\nHost: t\r\nContent-Length: 10\r\n\r\nabc")
        .unwrap();
    let out = read_until_closed(&mut s, wait).expect("closed after the body timeout");
    assert!(
        out.starts_with(b"HTTP/1.1 408 "),
        "{}",
        String::from_utf8_lossy(&out)
    );

    // Idle keep-alive: one answer, then closed quietly.
    let mut c = Client::connect(h.addr);
    assert_eq!(c.get("/hello.txt").status, 200);
    let out = read_until_closed(c.stream(), wait).expect("idle connection closed");
    assert!(out.is_empty());

    // Send: a client that stops reading a 64 MB response is dropped, memory released.
    let before = h.rss_kib();
    let mut s = TcpStream::connect(h.addr).unwrap();
    small_rcvbuf(&s);
    s.write_all(b"GET /huge.bin HTTP/1.1\r\nHost: t\r\n\r\n")
        .unwrap();
    std::thread::sleep(Duration::from_millis(1500));
    let stuck = h.rss_kib();
    std::thread::sleep(Duration::from_secs(3));
    let got = read_until_closed(&mut s, wait).expect("stalled download dropped");
    let after = h.rss_kib();
    println!(
        "send timeout: stalled client got {} of {} bytes before the drop; RSS {before} KiB \
         → {stuck} KiB stuck → {after} KiB after",
        got.len(),
        64 << 20
    );
    assert!(got.len() < 64 << 20);
    assert!(stuck < before + 16 * 1024, "{before} → {stuck} KiB");
    assert!(after < before + 16 * 1024, "{before} → {after} KiB");
    assert_eq!(h.get("/hello.txt").status, 200);
}

#[test]
fn header_timeout_counts_from_accept_not_from_the_first_byte() {
    let _g = serial();
    let (_tmp, root) = site();
    let h = Httpd::start(&root, &["--header-timeout", "4"]);
    // Silent for most of the header timeout, then part of a head: the head was still due
    // 4 s after the connection opened, so the answer (408) is there well before 4 s after
    // the first byte.
    let mut s = TcpStream::connect(h.addr).unwrap();
    std::thread::sleep(Duration::from_millis(3500));
    s.write_all(b"GET /hello.txt HTTP/1.1\r\n").unwrap();
    std::thread::sleep(Duration::from_millis(2500));
    s.set_nonblocking(true).unwrap();
    let mut buf = [0u8; 512];
    let n = s.read(&mut buf).unwrap_or(0);
    let out = String::from_utf8_lossy(&buf[..n]);
    assert!(out.starts_with("HTTP/1.1 408 "), "{out:?}");
    // After a response, the next head gets its own header timeout.
    let mut c = Client::connect(h.addr);
    assert_eq!(c.get("/hello.txt").status, 200);
    std::thread::sleep(Duration::from_millis(1000));
    c.send(b"GET /hello.txt HTTP/1.1\r\n");
    std::thread::sleep(Duration::from_millis(1000));
    c.send(b"Host: t\r\n\r\n");
    assert_eq!(c.response(false).unwrap().status, 200);
}

/// Shrinks the receive buffer, so that not reading stalls the server quickly.
fn small_rcvbuf(s: &TcpStream) {
    socket2::SockRef::from(s)
        .set_recv_buffer_size(64 * 1024)
        .unwrap();
}

// ---------------------------------------------------------------------------------------
// 3. Connection cap and descriptor exhaustion
// ---------------------------------------------------------------------------------------

#[test]
fn connection_cap_closes_new_connections_and_keeps_existing() {
    let _g = serial();
    let (_tmp, root) = site();
    let h = Httpd::start(&root, &["--max-connections", "10"]);
    let mut existing: Vec<Client> = (0..10).map(|_| Client::connect(h.addr)).collect();
    for c in &mut existing {
        assert_eq!(c.get("/hello.txt").status, 200);
    }
    for _ in 0..5 {
        let mut s = TcpStream::connect(h.addr).unwrap();
        let _ = s.write_all(b"GET /hello.txt HTTP/1.1\r\nHost: t\r\n\r\n");
        let out = read_until_closed(&mut s, Duration::from_secs(5)).expect("closed at once");
        assert!(out.is_empty(), "{}", String::from_utf8_lossy(&out));
    }
    for c in &mut existing {
        assert_eq!(
            c.get("/hello.txt").status,
            200,
            "existing ones keep working"
        );
    }
    drop(existing.pop());
    // The freed slot is taken by the next connection (once the server saw the close).
    served_again(h.addr, Duration::from_secs(5), "slot never freed");
}

/// Waits until a new connection to `addr` gets a 200 for `/hello.txt`, for at most `limit`.
fn served_again(addr: std::net::SocketAddr, limit: Duration, why: &str) {
    let start = Instant::now();
    loop {
        let mut s = TcpStream::connect(addr).unwrap();
        let _ = s.write_all(b"GET /hello.txt HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
        let out = read_until_closed(&mut s, Duration::from_secs(5)).unwrap_or_default();
        if out.starts_with(b"HTTP/1.1 200 ") {
            return;
        }
        assert!(start.elapsed() < limit, "{why}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn fd_exhaustion_pauses_accepting_without_spinning() {
    let _g = serial();
    raise_nofile();
    let (_tmp, root) = site();
    let mut cmd = Command::new("prlimit");
    cmd.args(["--nofile=48:48", HTTPD]);
    let h = Httpd::start_with(cmd, &root, &["--threads", "1"]);
    assert_eq!(h.get("/hello.txt").status, 200);
    // Far more connections than descriptors: accept fails with EMFILE.
    let flood: Vec<TcpStream> = (0..200)
        .map(|_| TcpStream::connect(h.addr).unwrap())
        .collect();
    std::thread::sleep(Duration::from_millis(300));
    let fds = std::fs::read_dir(format!("/proc/{}/fd", h.pid()))
        .unwrap()
        .count();
    assert!(
        fds >= 44,
        "the server is at its descriptor limit: {fds} open of 48"
    );
    let t0 = h.cpu_ticks();
    std::thread::sleep(Duration::from_secs(2));
    let used = h.cpu_ticks() - t0;
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as u64;
    println!(
        "EMFILE: {fds} of 48 descriptors open, 200 connections pending; the server used \
         {used} ticks ({hz}/s) of CPU in 2 s"
    );
    assert!(used < hz / 2, "server spins: {used} ticks in 2 s");
    drop(flood);
    // Descriptors come back; accepting resumes.
    served_again(h.addr, Duration::from_secs(10), "never recovered");
}

// ---------------------------------------------------------------------------------------
// 4. Request smuggling and framing
// ---------------------------------------------------------------------------------------

#[test]
fn smuggling_and_framing_attempts_are_refused_and_closed() {
    let _g = serial();
    let (_tmp, root) = site();
    let h = Httpd::start(&root, &[]);
    const H: &str = "POST /hello.txt HTTP/1.1\r\nHost: t\r\n";
    let cases: &[(&str, String)] = &[
        (
            "CL + TE",
            format!("{H}Content-Length: 6\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"),
        ),
        (
            "TE + CL",
            format!("{H}Transfer-Encoding: chunked\r\nContent-Length: 6\r\n\r\n0\r\n\r\n"),
        ),
        (
            "TE + CL 0",
            format!("{H}Transfer-Encoding: chunked\r\nContent-Length: 0\r\n\r\n0\r\n\r\n"),
        ),
        (
            "two differing CLs",
            format!("{H}Content-Length: 3\r\nContent-Length: 5\r\n\r\nabcde"),
        ),
        (
            "CL list that differs",
            format!("{H}Content-Length: 3, 5\r\n\r\nabcde"),
        ),
        (
            "TE last not chunked",
            format!("{H}Transfer-Encoding: chunked, identity\r\n\r\n0\r\n\r\n"),
        ),
        (
            "TE gzip only",
            format!("{H}Transfer-Encoding: gzip\r\n\r\n0\r\n\r\n"),
        ),
        (
            "TE split over two lines",
            format!("{H}Transfer-Encoding: chunked\r\nTransfer-Encoding: gzip\r\n\r\n0\r\n\r\n"),
        ),
        (
            "TE xchunked",
            format!("{H}Transfer-Encoding: xchunked\r\n\r\n0\r\n\r\n"),
        ),
        (
            "TE space before colon",
            format!("{H}Transfer-Encoding : chunked\r\n\r\n0\r\n\r\n"),
        ),
        (
            "TE tab before colon",
            format!("{H}Transfer-Encoding\t: chunked\r\n\r\n0\r\n\r\n"),
        ),
        (
            "CL space before colon",
            format!("{H}Content-Length : 5\r\n\r\nabcde"),
        ),
        (
            "TE in HTTP/1.0",
            "POST /hello.txt HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n".into(),
        ),
        (
            "chunk size not hex",
            format!("{H}Transfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n"),
        ),
        (
            "chunk size 0x prefix",
            format!("{H}Transfer-Encoding: chunked\r\n\r\n0x3\r\nabc\r\n0\r\n\r\n"),
        ),
        (
            "chunk size negative",
            format!("{H}Transfer-Encoding: chunked\r\n\r\n-3\r\nabc\r\n0\r\n\r\n"),
        ),
        (
            "chunk size overflow",
            format!("{H}Transfer-Encoding: chunked\r\n\r\n10000000000000003\r\nabc\r\n0\r\n\r\n"),
        ),
        (
            "chunk size empty",
            format!("{H}Transfer-Encoding: chunked\r\n\r\n\r\nabc\r\n0\r\n\r\n"),
        ),
        (
            "chunk data too long",
            format!("{H}Transfer-Encoding: chunked\r\n\r\n3\r\nabcdef\r\n0\r\n\r\n"),
        ),
        (
            "chunk size bare LF",
            format!("{H}Transfer-Encoding: chunked\r\n\r\n3\nabc\r\n0\r\n\r\n"),
        ),
        ("CL negative", format!("{H}Content-Length: -5\r\n\r\nabcde")),
        ("CL signed", format!("{H}Content-Length: +5\r\n\r\nabcde")),
        ("CL hex", format!("{H}Content-Length: 0x5\r\n\r\nabcde")),
        (
            "CL two numbers",
            format!("{H}Content-Length: 5 5\r\n\r\nabcde"),
        ),
        (
            "CL overflow",
            format!("{H}Content-Length: 99999999999999999999\r\n\r\nabcde"),
        ),
        (
            "obs-fold",
            format!("{H}X-A: a\r\n b\r\nContent-Length: 0\r\n\r\n"),
        ),
        (
            "obs-fold on TE",
            format!("{H}Transfer-Encoding:\r\n chunked\r\n\r\n0\r\n\r\n"),
        ),
        (
            "NUL in header",
            format!("{H}X-A: a\0b\r\nContent-Length: 0\r\n\r\n"),
        ),
        (
            "bare CR in header",
            format!("{H}X-A: a\rContent-Length: 5\r\n\r\nabcde"),
        ),
        (
            "bare CR line end",
            "GET /hello.txt HTTP/1.1\rHost: t\r\n\r\n".into(),
        ),
        (
            "two Host headers",
            "GET /hello.txt HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n".into(),
        ),
        ("no Host in 1.1", "GET /hello.txt HTTP/1.1\r\n\r\n".into()),
        (
            "version HTTP/11.1",
            "GET /hello.txt HTTP/11.1\r\nHost: t\r\n\r\n".into(),
        ),
        (
            "version HTTP/1.1.1",
            "GET /hello.txt HTTP/1.1.1\r\nHost: t\r\n\r\n".into(),
        ),
        (
            "version HTTX/1.1",
            "GET /hello.txt HTTX/1.1\r\nHost: t\r\n\r\n".into(),
        ),
        (
            "version missing",
            "GET /hello.txt\r\nHost: t\r\n\r\n".into(),
        ),
        (
            "space in header name",
            format!("{H}Content Length: 5\r\n\r\nabcde"),
        ),
        (
            "request line junk",
            "GET  /hello.txt  HTTP/1.1\r\nHost: t\r\n\r\n".into(),
        ),
    ];
    let second = b"GET /hello.txt HTTP/1.1\r\nHost: t\r\n\r\n";
    let mut rows = Vec::new();
    for (name, raw) in cases {
        let mut bytes = raw.as_bytes().to_vec();
        bytes.extend_from_slice(second);
        let out = exchange(h.addr, &bytes);
        let (status, headers, len) = split_response(&out)
            .unwrap_or_else(|| panic!("{name}: no response: {:?}", String::from_utf8_lossy(&out)));
        assert!((400..500).contains(&status), "{name}: status {status}");
        assert!(
            headers
                .iter()
                .any(|(n, v)| n == "connection" && v == "close"),
            "{name}: no Connection: close"
        );
        assert_eq!(
            out.len(),
            len,
            "{name}: a second response came back: {:?}",
            String::from_utf8_lossy(&out)
        );
        rows.push(format!("{name}: {status}"));
    }
    println!(
        "smuggling: {} cases refused: {}",
        rows.len(),
        rows.join("; ")
    );
    // The same second request alone is answered: the refusals were not spurious.
    let out = exchange(h.addr, second);
    assert!(out.starts_with(b"HTTP/1.1 200 "));
}

// ---------------------------------------------------------------------------------------
// 5. Traversal corpus
// ---------------------------------------------------------------------------------------

#[test]
fn traversal_corpus_never_leaves_the_root() {
    let _g = serial();
    let (_tmp, root) = site();
    let h = Httpd::start(&root, &[]);
    let mut corpus: Vec<Vec<u8>> = [
        "/../outside.txt",
        "/../../outside.txt",
        "/../../../../../../etc/passwd",
        "/..%2foutside.txt",
        "/..%2Foutside.txt",
        "/%2e%2e/outside.txt",
        "/%2E%2E/outside.txt",
        "/%2e%2e%2foutside.txt",
        "/.%2e/outside.txt",
        "/%2e./outside.txt",
        "/.%2e/.%2e/outside.txt",
        "/%252e%252e/outside.txt",
        "/%252e%252e%252foutside.txt",
        "/..%252foutside.txt",
        "/%25%32%65%25%32%65/outside.txt",
        "/%c0%ae%c0%ae/outside.txt",
        "/%c0%ae%c0%ae%c0%afoutside.txt",
        "/..%c0%afoutside.txt",
        "/%e0%80%ae%e0%80%ae/outside.txt",
        "/%c1%9c..%c1%9coutside.txt",
        "/%f0%80%80%ae%f0%80%80%ae/outside.txt",
        "/..\\outside.txt",
        "/..%5coutside.txt",
        "/..%5Coutside.txt",
        "/%5c..%5coutside.txt",
        "/..%255coutside.txt",
        "/sub/../../outside.txt",
        "/sub/%2e%2e/%2e%2e/outside.txt",
        "/./../outside.txt",
        "//../outside.txt",
        "/%2f%2e%2e%2foutside.txt",
        "/%2fetc%2fpasswd",
        "/hello.txt%00/../../outside.txt",
        "/%00../outside.txt",
        "/..%00/outside.txt",
        "/C:/outside.txt",
        "/C:%5coutside.txt",
        "/c:/windows/win.ini",
        "/%u002e%u002e/outside.txt",
        "/%2e%2e%5c%2e%2e%5coutside.txt",
        "/escape",
        "/chain",
        "/rel-escape",
        "/escape-dir/outside.txt",
        "/escape-dir/",
        "/escape-dir/outdir/secret.txt",
        "/escape-outdir/secret.txt",
        "/escape-outdir/",
        "/etc-link/passwd",
        "/etc-link/",
        "/sub/up",
        "/loop-a",
        "/loop-a/x",
        "/sub/../escape",
        "/.secret",
        "/%2esecret",
        "/sub/../.secret",
        "http://t/../outside.txt",
        "http://t/escape",
    ]
    .iter()
    .map(|p| p.as_bytes().to_vec())
    .collect();
    corpus.push(b"/hello.txt\0/../../outside.txt".to_vec());
    corpus.push(b"/..\xc0\xafoutside.txt".to_vec());
    corpus.push(format!("/{}outside.txt", "../".repeat(3000)).into_bytes());
    corpus.push(format!("/{}outside.txt", "%2e%2e/".repeat(1100)).into_bytes());
    corpus.push(format!("/{}../../outside.txt", "a/".repeat(2000)).into_bytes());
    corpus.push(format!("/{}", "x".repeat(5000)).into_bytes());
    corpus.push(format!("/{}/../../outside.txt", "y".repeat(300)).into_bytes());
    assert!(corpus.len() >= 60);
    let mut by_status = std::collections::BTreeMap::<u16, usize>::new();
    for path in &corpus {
        let mut raw = b"GET ".to_vec();
        raw.extend_from_slice(path);
        raw.extend_from_slice(b" HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
        let out = exchange(h.addr, &raw);
        let shown = String::from_utf8_lossy(&path[..path.len().min(80)]).into_owned();
        let (status, _, _) = split_response(&out).unwrap_or_else(|| panic!("{shown}: no answer"));
        let text = String::from_utf8_lossy(&out);
        assert!(!text.contains(SECRET), "{shown}: leaked the secret");
        assert!(!text.contains("root:x:0:0"), "{shown}: leaked /etc/passwd");
        assert!(
            !text.contains("secret.txt"),
            "{shown}: listed outside the root"
        );
        assert!((400..500).contains(&status), "{shown}: status {status}");
        *by_status.entry(status).or_default() += 1;
    }
    println!(
        "traversal: {} hostile paths, answers {by_status:?}",
        corpus.len()
    );
    assert_eq!(h.get("/hello.txt").status, 200, "the server still serves");
    assert_eq!(h.get("/sub/").status, 200);
}

// ---------------------------------------------------------------------------------------
// 6. Limits
// ---------------------------------------------------------------------------------------

#[test]
fn size_limits_431_414_413() {
    let _g = serial();
    let (_tmp, root) = site();
    let h = Httpd::start(&root, &["--max-body", "1000"]);
    let status = |raw: String| {
        let out = exchange(h.addr, raw.as_bytes());
        split_response(&out).map(|(s, _, _)| s).unwrap_or(0)
    };
    let big_header = format!(
        "GET / HTTP/1.1\r\nHost: t\r\nX-Big: {}\r\n\r\n",
        "a".repeat(17_000)
    );
    assert_eq!(status(big_header), 431);
    let many: String = (0..101).map(|i| format!("X-{i}: v\r\n")).collect();
    assert_eq!(
        status(format!("GET / HTTP/1.1\r\nHost: t\r\n{many}\r\n")),
        431
    );
    let fine: String = (0..90).map(|i| format!("X-{i}: v\r\n")).collect();
    assert_eq!(
        status(format!("GET /hello.txt HTTP/1.1\r\nHost: t\r\n{fine}\r\n")),
        200
    );
    let uri = format!("GET /{} HTTP/1.1\r\nHost: t\r\n\r\n", "a".repeat(9000));
    assert_eq!(status(uri), 414);
    let body = format!(
        "POST /hello.txt HTTP/1.1\r\nHost: t\r\nContent-Length: 1001\r\n\r\n{}",
        "a".repeat(1001)
    );
    assert_eq!(status(body), 413);
    let chunks = "100\r\n".to_string() + &"b".repeat(256) + "\r\n";
    let chunked = format!(
        "POST /hello.txt HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n{}0\r\n\r\n",
        chunks.repeat(4)
    );
    assert_eq!(status(chunked), 413);
    let ok = format!(
        "POST /hello.txt HTTP/1.1\r\nHost: t\r\nContent-Length: 1000\r\n\r\n{}",
        "a".repeat(1000)
    );
    assert_eq!(
        status(ok),
        405,
        "a body within the limit is read, then refused by method"
    );
}

#[test]
fn pipelined_requests_are_answered_in_order_and_buffering_is_bounded() {
    let _g = serial();
    let (_tmp, root) = site();
    sparse(&root.join("big.bin"), 32 << 20);
    let h = Httpd::start(&root, &[]);

    // 2,000 pipelined requests in one write: 2,000 answers, in order.
    let mut c = Client::connect(h.addr);
    let mut raw = Vec::new();
    for i in 0..2000 {
        let path = if i % 2 == 0 { "/hello.txt" } else { "/missing" };
        raw.extend_from_slice(format!("GET {path} HTTP/1.1\r\nHost: t\r\n\r\n").as_bytes());
    }
    let writer = {
        let mut s = c.stream().try_clone().unwrap();
        std::thread::spawn(move || s.write_all(&raw).unwrap())
    };
    for i in 0..2000 {
        let r = c.response(false).unwrap();
        assert_eq!(r.status, if i % 2 == 0 { 200 } else { 404 }, "response {i}");
    }
    writer.join().unwrap();

    // Clients that pipeline megabytes behind a response they never read: the server stops
    // reading, so its memory does not grow with what they send.
    let before = h.rss_kib();
    let sent = Arc::new(AtomicUsize::new(0));
    let mut hogs = Vec::new();
    for _ in 0..8 {
        let mut s = TcpStream::connect(h.addr).unwrap();
        small_rcvbuf(&s);
        s.write_all(b"GET /big.bin HTTP/1.1\r\nHost: t\r\n\r\n")
            .unwrap();
        s.set_write_timeout(Some(Duration::from_millis(1500)))
            .unwrap();
        let sent = sent.clone();
        let mut w = s.try_clone().unwrap();
        hogs.push(s);
        std::thread::spawn(move || {
            let block = b"GET /hello.txt HTTP/1.1\r\nHost: t\r\n\r\n".repeat(1000);
            for _ in 0..500 {
                match w.write(&block) {
                    Ok(n) => sent.fetch_add(n, Ordering::Relaxed),
                    Err(_) => return,
                };
            }
        });
    }
    std::thread::sleep(Duration::from_secs(3));
    let after = h.rss_kib();
    let sent = sent.load(Ordering::Relaxed);
    println!(
        "pipelining: 8 clients pushed {} MiB of requests behind unread 32 MiB answers; \
         RSS {before} → {after} KiB",
        sent >> 20
    );
    assert!(after < before + 24 * 1024, "RSS {before} → {after} KiB");
    drop(hogs);
    assert_eq!(h.get("/hello.txt").status, 200);
}

#[test]
fn directory_of_100k_files_lists_in_bounded_time_and_memory() {
    let _g = serial();
    let (tmp, root) = site();
    let dir = root.join("many");
    std::fs::create_dir(&dir).unwrap();
    let t = Instant::now();
    for i in 0..100_000 {
        std::fs::File::create(dir.join(format!("file-{i:06}.txt"))).unwrap();
    }
    let made = t.elapsed();
    let h = Httpd::start(&root, &[]);
    let before = h.rss_kib();
    let peak = Arc::new(AtomicUsize::new(0));
    let done = Arc::new(AtomicBool::new(false));
    let sampler = {
        let (peak, done, pid) = (peak.clone(), done.clone(), h.pid());
        std::thread::spawn(move || {
            while !done.load(Ordering::Relaxed) {
                if let Ok(s) = std::fs::read_to_string(format!("/proc/{pid}/status")) {
                    let kib = s
                        .lines()
                        .find_map(|l| l.strip_prefix("VmRSS:"))
                        .and_then(|v| v.split_whitespace().next())
                        .and_then(|v| v.parse::<usize>().ok())
                        .unwrap_or(0);
                    peak.fetch_max(kib, Ordering::Relaxed);
                }
                std::thread::sleep(Duration::from_millis(10));
            }
        })
    };
    let t = Instant::now();
    let mut c = Client::connect(h.addr);
    c.stream()
        .set_read_timeout(Some(Duration::from_secs(60)))
        .unwrap();
    let html = c.get("/many/");
    let html_time = t.elapsed();
    let t = Instant::now();
    let json = c.get("/many/?format=json");
    let json_time = t.elapsed();
    done.store(true, Ordering::Relaxed);
    sampler.join().unwrap();
    let peak = peak.load(Ordering::Relaxed) as u64;
    println!(
        "listing: 100,000 files (made in {made:?}); HTML {} KiB in {html_time:?}, JSON {} KiB \
         in {json_time:?}; RSS {before} KiB, peak {peak} KiB",
        html.body.len() >> 10,
        json.body.len() >> 10
    );
    assert_eq!((html.status, json.status), (200, 200));
    let text = html.text();
    assert!(text.contains("file-000000.txt") && text.contains("file-099999.txt"));
    assert_eq!(json.text().matches("\"name\"").count(), 100_000);
    assert!(peak < before + 256 * 1024, "RSS {before} → peak {peak} KiB");
    drop(h);
    drop(tmp);
}

// ---------------------------------------------------------------------------------------
// 7. Memory under slow readers
// ---------------------------------------------------------------------------------------

#[test]
fn slow_readers_of_large_files_use_bounded_memory() {
    let _g = serial();
    let (_tmp, root) = site();
    sparse(&root.join("big.bin"), 32 << 20);
    let h = Httpd::start(&root, &[]);
    assert_eq!(h.get("/hello.txt").status, 200);
    let before = h.rss_kib();
    let readers: Vec<TcpStream> = (0..20)
        .map(|_| {
            let mut s = TcpStream::connect(h.addr).unwrap();
            s.write_all(b"GET /big.bin HTTP/1.1\r\nHost: t\r\n\r\n")
                .unwrap();
            s
        })
        .collect();
    std::thread::sleep(Duration::from_secs(2));
    let during = h.rss_kib();
    println!(
        "slow readers: 20 × 32 MiB unread; RSS {before} → {during} KiB (+{} KiB)",
        during.saturating_sub(before)
    );
    assert!(during < before + 64 * 1024, "RSS {before} → {during} KiB");
    // They are still being served: one of them reads its whole answer now.
    let mut first = readers.into_iter().next().unwrap();
    let got = read_until_closed_or(&mut first, 32 << 20);
    assert!(got >= 32 << 20);
}

/// Reads until at least `want` bytes arrived (or EOF); how many came.
fn read_until_closed_or(s: &mut TcpStream, want: usize) -> usize {
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let mut buf = vec![0u8; 256 * 1024];
    let mut total = 0;
    while total < want {
        match s.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => total += n,
        }
    }
    total
}

// ---------------------------------------------------------------------------------------
// 8. Integrity under load
// ---------------------------------------------------------------------------------------

#[test]
fn two_thousand_concurrent_clients_get_every_byte_right() {
    let _g = serial();
    raise_nofile();
    const CLIENTS: usize = 2000;
    const THREADS: usize = 40;
    let (_tmp, root) = site();
    let mut files = Vec::new();
    for i in 0..60u32 {
        // Mostly small files; every tenth is 1–3 MiB.
        let len = if i % 10 == 0 {
            (1 << 20) + (i as usize * 37_337) % (2 << 20)
        } else {
            1 + (i as usize * 7919) % 40_000
        };
        let data = content(i, len);
        std::fs::write(root.join(format!("f{i}.bin")), &data).unwrap();
        files.push(data);
    }
    let files = Arc::new(files);
    let h = Httpd::start(&root, &["--workers", "2"]);
    let errors = Arc::new(Mutex::new(Vec::<String>::new()));
    let mismatches = Arc::new(AtomicUsize::new(0));
    let bytes = Arc::new(AtomicUsize::new(0));
    let start = Instant::now();
    let threads: Vec<_> = (0..THREADS)
        .map(|t| {
            let (files, errors, mismatches, bytes) = (
                files.clone(),
                errors.clone(),
                mismatches.clone(),
                bytes.clone(),
            );
            let addr = h.addr;
            std::thread::spawn(move || {
                // Each thread opens its share of connections and sends every request
                // before reading any answer, so all 2,000 are in flight at once.
                let per = CLIENTS / THREADS;
                let mut conns = Vec::with_capacity(per);
                for k in 0..per {
                    let n = t * per + k;
                    // One request in 20 is for a large file.
                    let file = match (n % 20, 1 + n % 59) {
                        (0, _) => (n / 20 % 6) * 10,
                        (_, f) if f % 10 == 0 => f + 1,
                        (_, f) => f,
                    };
                    match TcpStream::connect(addr) {
                        Ok(mut s) => {
                            s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
                            let req = format!("GET /f{file}.bin HTTP/1.1\r\nHost: t\r\n\r\n");
                            match s.write_all(req.as_bytes()) {
                                Ok(()) => conns.push((s, file)),
                                Err(e) => errors.lock().unwrap().push(format!("send {n}: {e}")),
                            }
                        }
                        Err(e) => errors.lock().unwrap().push(format!("connect {n}: {e}")),
                    }
                }
                for (s, file) in conns {
                    let mut c = ClientOn(s, Vec::new());
                    match c.read_response() {
                        Ok((200, body)) => {
                            bytes.fetch_add(body.len(), Ordering::Relaxed);
                            if body != files[file] {
                                mismatches.fetch_add(1, Ordering::Relaxed);
                            }
                        }
                        Ok((status, _)) => {
                            errors.lock().unwrap().push(format!("/f{file}: {status}"))
                        }
                        Err(e) => errors.lock().unwrap().push(format!("/f{file}: {e}")),
                    }
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let took = start.elapsed();
    let errors = errors.lock().unwrap();
    let mismatches = mismatches.load(Ordering::Relaxed);
    println!(
        "integrity: {CLIENTS} concurrent clients, {} MiB in {took:?}: {} errors, \
         {mismatches} mismatches",
        bytes.load(Ordering::Relaxed) >> 20,
        errors.len()
    );
    assert!(errors.is_empty(), "{:?}", &errors[..errors.len().min(10)]);
    assert_eq!(mismatches, 0);
}

/// A blocking connection and its unread bytes.
struct ClientOn(TcpStream, Vec<u8>);

impl ClientOn {
    /// Reads one Content-Length response: status and body.
    fn read_response(&mut self) -> std::io::Result<(u16, Vec<u8>)> {
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            if let Some((status, _, head, total)) = parse_response_head(&self.1) {
                while self.1.len() < total {
                    self.fill(&mut buf)?;
                }
                let body = self.1[head..total].to_vec();
                self.1.drain(..total);
                return Ok((status, body));
            }
            self.fill(&mut buf)?;
        }
    }

    fn fill(&mut self, buf: &mut [u8]) -> std::io::Result<()> {
        match self.0.read(buf)? {
            0 => Err(std::io::Error::new(
                ErrorKind::UnexpectedEof,
                format!("closed after {} bytes", self.1.len()),
            )),
            n => {
                self.1.extend_from_slice(&buf[..n]);
                Ok(())
            }
        }
    }
}

// ---------------------------------------------------------------------------------------
// 9. Blocking-pool saturation
// ---------------------------------------------------------------------------------------

/// Every request takes 200 ms on the pool.
struct SlowDisk;

impl Handler for SlowDisk {
    fn handle(&self, _: &mut Request, cx: &mut Context<'_>) -> Reply {
        cx.blocking(|| {
            std::thread::sleep(Duration::from_millis(200));
            Some(Response::text(200, "done"))
        })
    }
}

#[test]
fn saturated_pool_answers_503_with_retry_after_and_recovers() {
    let _g = serial();
    let config = Config {
        threads: 2,
        queue: 4,
        ..Config::default()
    };
    let s = serve(Server::new(config).handler(SlowDisk));
    let addr = s.local_addr();
    // 40 clients at once: 2 running + 4 queued at most; the rest get 503 at once.
    let mut clients: Vec<Client> = (0..40).map(|_| Client::connect(addr)).collect();
    for c in &mut clients {
        c.send(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n");
    }
    let mut ok = 0;
    let mut busy = 0;
    for c in &mut clients {
        let r = c.response(false).unwrap();
        match r.status {
            200 => ok += 1,
            503 => {
                busy += 1;
                let retry: u64 = r.header("retry-after").unwrap().parse().unwrap();
                assert!(retry >= 1);
            }
            other => panic!("status {other}"),
        }
    }
    println!("pool saturation: 40 at once on 2 threads + 4 queued: {ok} × 200, {busy} × 503");
    assert!(ok >= 2 && busy >= 20, "{ok} ok, {busy} busy");
    // Once the load has passed, everyone is served again (on the same connections too).
    for c in clients.iter_mut().take(3) {
        assert_eq!(c.get("/").status, 200);
    }
    let mut c = Client::connect(addr);
    assert_eq!(c.get("/").status, 200);
}

// ---------------------------------------------------------------------------------------
// 10. Graceful shutdown
// ---------------------------------------------------------------------------------------

#[test]
fn sigterm_lets_a_50mb_download_finish_then_exits_zero() {
    let _g = serial();
    let (_tmp, root) = site();
    let data = content(7, 50 << 20);
    std::fs::write(root.join("50m.bin"), &data).unwrap();
    let mut h = Httpd::start(&root, &[]);
    let mut s = TcpStream::connect(h.addr).unwrap();
    small_rcvbuf(&s);
    s.write_all(b"GET /50m.bin HTTP/1.1\r\nHost: t\r\n\r\n")
        .unwrap();
    let mut c = ClientOn(s, Vec::new());
    let mut buf = vec![0u8; 64 * 1024];
    let n = c.0.read(&mut buf).unwrap();
    c.1.extend_from_slice(&buf[..n]);
    h.signal(libc::SIGTERM);
    std::thread::sleep(Duration::from_millis(300));
    let early = h.child.try_wait().unwrap();
    assert!(
        early.is_none(),
        "still running for the download, but exited: {early:?}"
    );
    assert!(TcpStream::connect(h.addr).is_err(), "no longer accepting");
    let (status, body) = c.read_response().expect("the download completes");
    assert_eq!(status, 200);
    assert!(body == data, "50 MB arrived intact");
    assert_eq!(h.wait_exit(Duration::from_secs(10)), Some(0));
}

#[test]
fn second_signal_or_grace_period_forces_the_exit() {
    let _g = serial();
    let (_tmp, root) = site();
    sparse(&root.join("big.bin"), 64 << 20);
    let stalled = |h: &Httpd| {
        let mut s = TcpStream::connect(h.addr).unwrap();
        small_rcvbuf(&s);
        s.write_all(b"GET /big.bin HTTP/1.1\r\nHost: t\r\n\r\n")
            .unwrap();
        let mut first = [0u8; 1];
        s.read_exact(&mut first).unwrap();
        s
    };

    // A second signal: out at once although a download is stalled.
    let mut h = Httpd::start(&root, &[]);
    let _s = stalled(&h);
    h.signal(libc::SIGTERM);
    std::thread::sleep(Duration::from_millis(500));
    let early = h.child.try_wait().unwrap();
    assert!(
        early.is_none(),
        "waits for the download, but exited: {early:?}"
    );
    h.signal(libc::SIGINT);
    assert!(
        h.wait_exit(Duration::from_secs(10)).is_some(),
        "second signal forces the exit"
    );

    // The grace period: out after it although the download never finishes.
    let mut h = Httpd::start(&root, &["--shutdown-grace", "1"]);
    let _s = stalled(&h);
    let t = Instant::now();
    h.signal(libc::SIGTERM);
    let code = h.wait_exit(Duration::from_secs(20));
    println!(
        "shutdown: grace 1 s, stalled download, exited {code:?} after {:?}",
        t.elapsed()
    );
    assert_eq!(code, Some(0));
}
