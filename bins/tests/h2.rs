//! HTTP/2 with prior knowledge on the plaintext listener and by ALPN over TLS, against real
//! peers: curl (`--http2-prior-knowledge`, `--http2`), nghttp, and a frame-level driver on
//! the Python `hpack` package (`h2_driver.py`) for the protocol violations and the known
//! attacks, one case per rule of RFC 9113.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::time::Duration;

use common::{make_cert, Httpd, TempDir};

const BIG: usize = 1 << 20;

fn site() -> TempDir {
    let dir = TempDir::new("h2");
    std::fs::write(dir.join("hello.txt"), "hello\n").unwrap();
    let big: Vec<u8> = (0..BIG).map(|i| (i * 7 % 251) as u8).collect();
    std::fs::write(dir.join("big.bin"), big).unwrap();
    dir
}

fn curl(args: &[&str]) -> std::process::Output {
    Command::new("curl")
        .args(["-sS", "--http2-prior-knowledge", "--max-time", "20"])
        .args(args)
        .output()
        .expect("curl runs")
}

/// Runs one case of the Python driver; its observations, one per line.
fn driver(h: &Httpd, case: &str) -> String {
    common::python("h2_driver.py", &[&h.addr.to_string(), case])
}

fn has(out: &str, line: &str) -> bool {
    out.lines().any(|l| l == line)
}

#[test]
fn curl_gets_files_over_http2() {
    let dir = site();
    let log = dir.join("access.log");
    let h = Httpd::start(
        &dir.0,
        &["--access-log", log.to_str().unwrap(), "--status", "/status"],
    );
    let got = dir.join("got.bin");
    let out = curl(&[
        "-o",
        got.to_str().unwrap(),
        "-w",
        "%{http_version} %{http_code}",
        &format!("http://{}/big.bin", h.addr),
    ]);
    assert_eq!(String::from_utf8_lossy(&out.stdout), "2 200");
    assert_eq!(
        std::fs::read(&got).unwrap(),
        std::fs::read(dir.join("big.bin")).unwrap()
    );
    let out = curl(&["-i", &format!("http://{}/hello.txt", h.addr)]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.starts_with("HTTP/2 200"), "{text}");
    assert!(text.contains("content-length: 6"), "{text}");
    assert!(text.ends_with("\r\n\r\nhello\n"), "{text}");
    // The status page counts HTTP/2 connections and streams.
    let out = curl(&[&format!("http://{}/status?format=json", h.addr)]);
    let json = String::from_utf8_lossy(&out.stdout);
    assert!(json.contains("\"http2_connections\":3,"), "{json}");
    assert!(json.contains("\"http2_streams\":3}"), "{json}");
    // The access log names the protocol.
    drop(h);
    let log = std::fs::read_to_string(&log).unwrap();
    assert!(
        log.contains("\"GET /big.bin HTTP/2.0\" 200 1048576"),
        "{log}"
    );
}

#[test]
fn nghttp_multiplexes_streams() {
    let dir = site();
    let h = Httpd::start(&dir.0, &[]);
    let base = format!("http://{}", h.addr);
    let out = Command::new("nghttp")
        .args(["-nv", "-t", "20"])
        .args([
            format!("{base}/hello.txt"),
            format!("{base}/big.bin"),
            format!("{base}/missing"),
            format!("{base}/"),
        ])
        .output()
        .expect("nghttp runs (Debian: nghttp2-client)");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    let count = |s: &str| text.matches(s).count();
    assert_eq!(count(":status: 200"), 3, "{text}");
    assert_eq!(count(":status: 404"), 1, "{text}");
    // One connection, four streams.
    assert_eq!(count("; Open new stream"), 4, "{text}");
}

#[test]
fn http2_off_leaves_http1_only() {
    let dir = site();
    let h = Httpd::start(&dir.0, &["--http2", "off"]);
    let out = curl(&["-o", "/dev/null", &format!("http://{}/hello.txt", h.addr)]);
    assert!(!out.status.success());
    // HTTP/1.1 still works.
    assert_eq!(h.get("/hello.txt").status, 200);
}

#[test]
fn bad_http2_flag_is_one_line_and_exit_2() {
    let dir = site();
    let out = Command::new(common::HTTPD)
        .args(["--root", dir.0.to_str().unwrap(), "--http2", "maybe"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(String::from_utf8_lossy(&out.stderr).lines().count(), 1);
}

#[test]
fn expect_100_continue_gets_an_interim_headers_8_1() {
    let dir = site();
    let h = Httpd::start(&dir.0, &["--max-body", "5000"]);
    // As over HTTP/1.1: 100 first, then the final answer (a file takes no POST).
    let out = common::h2_continue(h.addr, "/hello.txt", "100-continue", 1000);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[..2], ["interim 100", "status 405"], "{out}");
    // A body too large for --max-body: 413 at once, no 100.
    let out = common::h2_continue(h.addr, "/hello.txt", "100-Continue", 6000);
    assert!(out.starts_with("status 413\n"), "{out}");
    // Any other expectation: 417.
    let out = common::h2_continue(h.addr, "/hello.txt", "magic", 10);
    assert!(out.starts_with("status 417\n"), "{out}");
}

#[test]
fn requests_and_head() {
    let dir = site();
    let h = Httpd::start(&dir.0, &[]);
    let out = driver(&h, "get");
    assert!(has(&out, "status 1 200") && has(&out, "data 1 6"), "{out}");
    let out = driver(&h, "head");
    assert!(has(&out, "status 1 200"), "{out}");
    assert!(!out.contains("data"), "HEAD has no DATA: {out}");
}

#[test]
fn stream_id_rules_5_1_1() {
    let dir = site();
    let h = Httpd::start(&dir.0, &[]);
    assert!(has(&driver(&h, "reuse"), "goaway 1"));
    assert!(has(&driver(&h, "even"), "goaway 1"));
}

#[test]
fn malformed_requests_8_2_and_8_3() {
    let dir = site();
    let h = Httpd::start(&dir.0, &[]);
    let out = driver(&h, "uppercase");
    assert!(has(&out, "rst 1 1") && has(&out, "status 3 200"), "{out}");
    let out = driver(&h, "connection-header");
    assert!(has(&out, "rst 1 1") && has(&out, "rst 3 1"), "{out}");
    assert!(has(&out, "status 5 200"), "{out}");
    assert!(has(&driver(&h, "no-path"), "rst 1 1"));
    assert!(has(&driver(&h, "content-length"), "rst 1 1"));
}

#[test]
fn frame_rules_4_2_6_9_8_4() {
    let dir = site();
    let h = Httpd::start(&dir.0, &[]);
    assert!(
        has(&driver(&h, "oversized"), "goaway 6"),
        "FRAME_SIZE_ERROR"
    );
    assert!(
        has(&driver(&h, "push-promise"), "goaway 1"),
        "PROTOCOL_ERROR"
    );
    assert!(
        has(&driver(&h, "window-overflow"), "goaway 3"),
        "FLOW_CONTROL_ERROR"
    );
}

#[test]
fn attacks_get_enhance_your_calm() {
    let dir = site();
    let h = Httpd::start(&dir.0, &[]);
    assert!(has(&driver(&h, "continuation-flood"), "goaway 11"));
    assert!(has(&driver(&h, "rapid-reset"), "goaway 11"));
    // Others are still served.
    assert!(has(&driver(&h, "get"), "status 1 200"));
}

#[test]
fn hpack_bomb_gets_431() {
    let dir = site();
    let h = Httpd::start(&dir.0, &[]);
    let out = driver(&h, "hpack-bomb");
    assert!(
        has(&out, "status 1 431") && has(&out, "status 3 200"),
        "{out}"
    );
}

#[test]
fn max_concurrent_streams_128() {
    let dir = site();
    let h = Httpd::start(&dir.0, &[]);
    let out = driver(&h, "max-streams");
    assert!(
        has(&out, "rst 257 7"),
        "REFUSED_STREAM for the 129th: {out}"
    );
    assert!(!out.contains("rst 255"), "{out}");
}

#[test]
fn large_file_through_a_small_window() {
    let dir = site();
    let h = Httpd::start(&dir.0, &[]);
    let out = driver(&h, "small-window");
    assert!(has(&out, "stalled_at 1000"), "{out}");
    assert!(has(&out, &format!("total {BIG}")), "{out}");
}

#[test]
fn graceful_stop_sends_goaway_and_finishes_open_streams() {
    let dir = site();
    let mut h = Httpd::start(&dir.0, &[]);
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/h2_driver.py");
    let mut py = Command::new("python3")
        .args([script, &h.addr.to_string(), "graceful-stop"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("python3 runs");
    let mut out = BufReader::new(py.stdout.take().unwrap());
    let mut line = String::new();
    out.read_line(&mut line).unwrap();
    assert_eq!(line, "ready\n");
    h.signal(libc::SIGTERM);
    py.stdin.take().unwrap().write_all(b"go\n").unwrap();
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut out, &mut rest).unwrap();
    assert!(py.wait().unwrap().success());
    assert!(has(&rest, "goaway 0"), "{rest}");
    assert!(has(&rest, &format!("total {BIG}")), "{rest}");
    assert!(!rest.contains("answered 3"), "{rest}");
    assert_eq!(h.wait_exit(Duration::from_secs(10)), Some(0));
}

#[test]
fn zero_window_stall_resets_the_stream_only() {
    let dir = site();
    let h = Httpd::start(&dir.0, &["--send-timeout", "1"]);
    let out = driver(&h, "zero-window");
    assert!(has(&out, "rst 1 8"), "CANCEL after the send timeout: {out}");
    assert!(has(&out, "status 3 200") && has(&out, "data 3 6"), "{out}");
}

/// reactor-httpd serving `dir` over TLS with a certificate for `localhost`; the server and
/// the CA file (the self-signed certificate) for curl.
fn https(dir: &TempDir, extra: &[&str]) -> (Httpd, std::path::PathBuf) {
    let (cert, key) = make_cert(dir, "localhost", &["localhost"], false);
    let mut args = vec![
        "--tls-cert",
        cert.to_str().unwrap(),
        "--tls-key",
        key.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    (Httpd::start(&dir.0, &args), cert)
}

/// curl over HTTPS to `https://localhost:PORT/PATH` (resolved to the server): the head
/// and body it printed.
fn curl_tls(h: &Httpd, ca: &std::path::Path, path: &str, extra: &[&str]) -> String {
    let port = h.addr.port();
    let out = Command::new("curl")
        .args([
            "-sS",
            "-i",
            "--max-time",
            "20",
            "--cacert",
            ca.to_str().unwrap(),
        ])
        .args(["--resolve", &format!("localhost:{port}:127.0.0.1")])
        .args(extra)
        .arg(format!("https://localhost:{port}{path}"))
        .output()
        .expect("curl runs");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    text
}

#[test]
fn alpn_h2_over_tls_for_curl_and_nghttp() {
    let dir = site();
    let (h, ca) = https(&dir, &["--hsts", "600"]);
    let text = curl_tls(&h, &ca, "/hello.txt", &["--http2"]);
    assert!(text.starts_with("HTTP/2 200"), "{text}");
    // Filters see the TLS facts of an HTTP/2 request (HSTS goes on HTTPS answers only).
    assert!(
        text.contains("strict-transport-security: max-age=600"),
        "{text}"
    );
    assert!(text.ends_with("\r\n\r\nhello\n"), "{text}");
    // A big body through TLS records and flow control, byte for byte.
    let got = dir.join("got.bin");
    let port = h.addr.port();
    let out = Command::new("curl")
        .args([
            "-sS",
            "--http2",
            "--max-time",
            "20",
            "--cacert",
            ca.to_str().unwrap(),
        ])
        .args(["--resolve", &format!("localhost:{port}:127.0.0.1")])
        .args(["-w", "%{http_version}", "-o", got.to_str().unwrap()])
        .arg(format!("https://localhost:{port}/big.bin"))
        .output()
        .expect("curl runs");
    assert_eq!(String::from_utf8_lossy(&out.stdout), "2");
    assert_eq!(
        std::fs::read(&got).unwrap(),
        std::fs::read(dir.join("big.bin")).unwrap()
    );
    // nghttp negotiates h2 by ALPN (it fails if the server does not select h2).
    let base = format!("https://127.0.0.1:{port}");
    let out = Command::new("nghttp")
        .args(["-nv", "-t", "20"])
        .args([format!("{base}/hello.txt"), format!("{base}/missing")])
        .output()
        .expect("nghttp runs (Debian: nghttp2-client)");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    assert!(text.contains("The negotiated protocol: h2"), "{text}");
    assert_eq!(text.matches(":status: 200").count(), 1, "{text}");
    assert_eq!(text.matches(":status: 404").count(), 1, "{text}");
}

#[test]
fn http1_over_tls_still_works_and_http2_off_offers_no_h2() {
    let dir = site();
    let (h, ca) = https(&dir, &[]);
    let text = curl_tls(&h, &ca, "/hello.txt", &["--http1.1"]);
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
    assert!(text.ends_with("\r\n\r\nhello\n"), "{text}");
    drop(h);
    let (h, ca) = https(&dir, &["--http2", "off"]);
    let text = curl_tls(&h, &ca, "/hello.txt", &["--http2"]);
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
}

/// Headless Chromium loads a page with its stylesheet and image over HTTPS, and the
/// access log shows every request came over HTTP/2 (ALPN h2).
#[test]
fn chromium_loads_the_site_over_http2() {
    let dir = TempDir::new("h2-chromium");
    let www = site();
    std::fs::write(
        www.join("index.html"),
        "<!DOCTYPE html><html><head><link rel=stylesheet href=/s.css></head>\
         <body><p id=p>page over h2</p><img src=/i.svg></body></html>",
    )
    .unwrap();
    std::fs::write(www.join("s.css"), "p { color: green }").unwrap();
    std::fs::write(
        www.join("i.svg"),
        "<svg xmlns='http://www.w3.org/2000/svg' width='1' height='1'/>",
    )
    .unwrap();
    let (cert, key) = make_cert(&dir, "site", &["localhost", "127.0.0.1"], false);
    let log = dir.join("access.log");
    let args = [
        "--tls-cert",
        cert.to_str().unwrap(),
        "--tls-key",
        key.to_str().unwrap(),
        "--access-log",
        log.to_str().unwrap(),
    ];
    let h = Httpd::start(&www.0, &args);
    let profile = dir.join("profile");
    let chromium = ["chromium", "chromium-browser"]
        .into_iter()
        .find(|c| Command::new(c).arg("--version").output().is_ok())
        .expect("chromium is installed (.ci/run installs it)");
    let out = Command::new(chromium)
        .args([
            "--headless",
            "--no-sandbox", // CI runs as root
            "--disable-gpu",
            "--no-proxy-server",
            "--no-first-run",
            "--ignore-certificate-errors", // the test's own certificate
            "--virtual-time-budget=5000",
            "--dump-dom",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg(format!("https://127.0.0.1:{}/", h.addr.port()))
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let dom = String::from_utf8_lossy(&out.stdout);
    assert!(dom.contains("page over h2"), "{dom}");
    let logged = std::fs::read_to_string(&log).unwrap();
    for path in ["/ ", "/s.css ", "/i.svg "] {
        let line = logged
            .lines()
            .find(|l| l.contains(&format!("\"GET {path}")))
            .unwrap_or_else(|| panic!("{path} not requested:\n{logged}"));
        assert!(line.contains("HTTP/2.0\" 200"), "{line}");
    }
}
