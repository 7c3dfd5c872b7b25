//! smtp-send against hostile servers (issue 18, items 8-10): each test runs
//! a malicious server on 127.0.0.1:0 in a thread, replays the attack against
//! the release binary, and asserts the bound (peak RSS of the child, or that
//! it gave up well before the attacker would have stopped).

mod common;

use std::fs;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use common::TempDir;

const BIN: &str = env!("CARGO_BIN_EXE_smtp-send");

/// How long an attacker keeps going at most: far beyond any timeout used
/// here, so a client that is not bounded by its deadline would outlast it.
const ATTACK: Duration = Duration::from_secs(60);

/// Runs `attack` on the first connection to a fresh listener.
fn hostile(attack: impl FnOnce(TcpStream) + Send + 'static) -> (SocketAddr, JoinHandle<()>) {
    hostile_on(TcpListener::bind("127.0.0.1:0").unwrap(), attack)
}

fn hostile_on(
    listener: TcpListener,
    attack: impl FnOnce(TcpStream) + Send + 'static,
) -> (SocketAddr, JoinHandle<()>) {
    let addr = listener.local_addr().unwrap();
    let handle = thread::spawn(move || {
        if let Ok((sock, _)) = listener.accept() {
            attack(sock);
        }
    });
    (addr, handle)
}

/// Reads one command line from the client.
fn read_command(reader: &mut BufReader<TcpStream>) -> String {
    let mut line = String::new();
    let _ = reader.read_line(&mut line);
    line
}

/// Answers greeting and EHLO as a plain server offering `extra` capabilities.
fn greet(sock: &TcpStream, extra: &[&str]) -> BufReader<TcpStream> {
    let mut w = sock.try_clone().unwrap();
    let mut reader = BufReader::new(sock.try_clone().unwrap());
    w.write_all(b"220 hostile.test ESMTP\r\n").unwrap();
    read_command(&mut reader);
    let mut ehlo = String::from("250-hostile.test\r\n");
    for cap in extra {
        ehlo.push_str(&format!("250-{cap}\r\n"));
    }
    ehlo.push_str("250 8BITMIME\r\n");
    w.write_all(ehlo.as_bytes()).unwrap();
    reader
}

/// The child's peak resident set (VmHWM) in KiB, `None` once it has exited.
fn vm_hwm_kib(pid: u32) -> Option<u64> {
    let status = fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// Runs smtp-send to `addr` with `extra` flags; returns its output, peak
/// RSS in KiB and wall time.
fn run(addr: SocketAddr, extra: &[&str], dir: &TempDir) -> (Output, u64, Duration) {
    let (out_file, err_file) = (dir.join("stdout"), dir.join("stderr"));
    let start = Instant::now();
    let mut child = Command::new(BIN)
        .args(["--server", &addr.to_string(), "--tls", "none", "--from"])
        .args(["me@x.org", "--to", "a@x.org", "--subject", "s"])
        .args(extra)
        .env_remove("SMTP_PASSWORD")
        .stdin(Stdio::null())
        .stdout(fs::File::create(&out_file).unwrap())
        .stderr(fs::File::create(&err_file).unwrap())
        .spawn()
        .unwrap();
    let mut peak = 0;
    let status = loop {
        if let Some(kib) = vm_hwm_kib(child.id()) {
            peak = peak.max(kib);
        }
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if start.elapsed() > ATTACK {
            let _ = child.kill();
        }
        thread::sleep(Duration::from_millis(5));
    };
    let out = Output {
        status,
        stdout: fs::read(&out_file).unwrap(),
        stderr: fs::read(&err_file).unwrap(),
    };
    (out, peak, start.elapsed())
}

fn assert_fails(out: &Output, code: i32, needle: &str) {
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(code), "stderr: {err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains(needle), "{err:?} lacks {needle:?}");
}

#[test]
fn endless_multiline_reply_is_capped() {
    let dir = TempDir::new("smtp-hostile");
    let (addr, server) = hostile(|sock| {
        let mut w = sock.try_clone().unwrap();
        let mut reader = BufReader::new(sock);
        w.write_all(b"220 hostile.test\r\n").unwrap();
        read_command(&mut reader);
        // 250- lines for as long as the client reads them.
        let line = format!("250-{}\r\n", "X".repeat(1000));
        let block = line.repeat(64);
        let start = Instant::now();
        while start.elapsed() < ATTACK && w.write_all(block.as_bytes()).is_ok() {}
    });
    let (out, peak, _) = run(addr, &["--text", "t", "--timeout", "30"], &dir);
    assert_fails(&out, 4, "reply too long");
    eprintln!("peak RSS against an endless EHLO reply: {peak} KiB");
    assert!(peak < 16 * 1024, "peak RSS {peak} KiB");
    server.join().unwrap();
}

#[test]
fn huge_auth_list_costs_little() {
    let dir = TempDir::new("smtp-hostile");
    let (addr, server) = hostile(|sock| {
        // As many distinct mechanisms as fit in one reply (6,300).
        let lines: Vec<String> = (0..7)
            .map(|l| {
                let mechs: Vec<String> = (0..900).map(|i| format!("M{l}x{i}")).collect();
                format!("AUTH {}", mechs.join(" "))
            })
            .collect();
        let mut caps: Vec<&str> = lines.iter().map(String::as_str).collect();
        caps.push("AUTH PLAIN");
        let mut reader = greet(&sock, &caps);
        let mut w = sock.try_clone().unwrap();
        let auth = read_command(&mut reader);
        assert!(auth.starts_with("AUTH PLAIN "), "{auth}");
        w.write_all(b"535 5.7.8 no\r\n").unwrap();
        read_command(&mut reader);
        let _ = w.write_all(b"221 bye\r\n");
    });
    let (out, _, elapsed) = run(
        addr,
        &[
            "--text",
            "t",
            "--user",
            "u",
            "--password-file",
            "/dev/null",
            "--allow-plaintext-auth",
        ],
        &dir,
    );
    assert_fails(&out, 6, "535 5.7.8 no");
    eprintln!("AUTH against 6,300 mechanisms: {elapsed:?}");
    server.join().unwrap();
}

/// Sends one byte every 200 ms until the client goes away (or ATTACK ends).
fn drip(mut w: TcpStream, bytes: &[u8]) {
    let start = Instant::now();
    for b in bytes.iter().cycle() {
        if start.elapsed() > ATTACK || w.write_all(&[*b]).is_err() {
            return;
        }
        thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn dripping_tls_handshake_is_bounded_by_the_step_deadline() {
    let dir = TempDir::new("smtp-hostile");
    let (addr, server) = hostile(|sock| {
        let mut reader = greet(&sock, &["STARTTLS"]);
        let mut w = sock.try_clone().unwrap();
        read_command(&mut reader);
        w.write_all(b"220 go ahead\r\n").unwrap();
        // A handshake record header announcing 16 KiB, then zeros, slowly.
        let mut record = vec![0x16, 0x03, 0x03, 0x40, 0x00];
        record.resize(16 * 1024, 0);
        drip(w, &record);
    });
    let args = ["--text", "t", "--timeout", "2", "--tls", "starttls"];
    let (out, _, elapsed) = run(addr, &args, &dir);
    assert_fails(&out, 5, "TLS: timed out");
    // A per-read timeout would wait for the whole drip (ATTACK).
    assert!(elapsed < ATTACK / 4, "{elapsed:?}");
    server.join().unwrap();
}

#[test]
fn slow_reader_during_data_is_bounded_by_the_step_deadline() {
    let dir = TempDir::new("smtp-hostile");
    let big = dir.join("big.bin");
    fs::write(&big, vec![0x5a; 8 << 20]).unwrap();
    let sock = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    sock.set_recv_buffer_size(4096).unwrap();
    sock.bind(&SocketAddr::from(([127, 0, 0, 1], 0)).into())
        .unwrap();
    sock.listen(1).unwrap();
    let done = Arc::new(AtomicBool::new(false));
    let over = done.clone();
    let (addr, server) = hostile_on(sock.into(), move |sock| {
        let mut reader = greet(&sock, &[]);
        let mut w = sock.try_clone().unwrap();
        for reply in ["250 ok\r\n", "250 ok\r\n", "354 go\r\n"] {
            read_command(&mut reader);
            w.write_all(reply.as_bytes()).unwrap();
        }
        // Takes the message 1 KiB every 100 ms: 10 KiB/s, never stalling
        // long enough for a per-write timeout to fire.
        let start = Instant::now();
        let mut buf = [0u8; 1024];
        while start.elapsed() < ATTACK && !over.load(Ordering::Relaxed) {
            match reader.get_mut().read(&mut buf) {
                Ok(0) | Err(_) => return,
                Ok(_) => thread::sleep(Duration::from_millis(100)),
            }
        }
    });
    let args = [
        "--text",
        "t",
        "--timeout",
        "2",
        "--attach",
        big.to_str().unwrap(),
    ];
    let (out, _, elapsed) = run(addr, &args, &dir);
    done.store(true, Ordering::Relaxed);
    assert_fails(&out, 9, "DATA: timed out");
    assert!(elapsed < ATTACK / 4, "{elapsed:?}");
    server.join().unwrap();
}
