//! reactor-proxy speaking HTTP/2 to its clients (origins stay HTTP/1.1), in reverse mode
//! in front of a real reactor-httpd origin: curl with prior knowledge on plaintext and by
//! ALPN h2 over TLS, the cache (a MISS then a HIT), request bodies forwarded, a large body
//! streamed byte for byte, 502 from a dead origin, and h2load with many concurrent streams.

mod common;
mod proxy_support;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Command, Output};

use common::{make_cert, Httpd, TempDir, HTTPD};
use proxy_support::proxy_binary;

/// Bytes of the large file: well past the proxy's largest cached object in the test that
/// streams it, and many flow-control windows of HTTP/2.
const BIG: usize = 6 << 20;

/// The origin's site: `/cached/*` fresh for ten minutes, `/fresh/*` never stored.
const ORIGIN_CONFIG: &str = r#"
[[site]]
root = "www"

[[site.headers]]
path = "/cached/**"
set = { "Cache-Control" = "max-age=600" }

[[site.headers]]
path = "/fresh/**"
set = { "Cache-Control" = "no-store" }
"#;

/// A reactor-httpd origin serving `dir/www` with [`ORIGIN_CONFIG`], its access log in
/// `dir/origin.log`.
fn origin(dir: &TempDir) -> Httpd {
    let www = dir.join("www");
    for sub in ["cached", "fresh"] {
        std::fs::create_dir_all(www.join(sub)).unwrap();
        std::fs::write(www.join(sub).join("hello.txt"), "hello\n").unwrap();
    }
    let big: Vec<u8> = (0..BIG).map(|i| (i * 13 % 253) as u8).collect();
    std::fs::write(www.join("fresh/big.bin"), big).unwrap();
    let config = dir.join("origin.toml");
    std::fs::write(&config, ORIGIN_CONFIG).unwrap();
    let log = dir.join("origin.log");
    let mut cmd = Command::new(HTTPD);
    cmd.arg("--config").arg(&config);
    cmd.arg("--access-log").arg(&log);
    Httpd::spawn(cmd, &[])
}

/// Requests the origin logged for `path`, once that count reaches `expected` (or a few
/// seconds have passed: the origin writes its log after it answers).
fn origin_hits(dir: &TempDir, path: &str, expected: usize) -> usize {
    let count = || {
        let log = std::fs::read_to_string(dir.join("origin.log")).unwrap_or_default();
        log.matches(&format!(" {path} HTTP/1.1\"")).count()
    };
    for _ in 0..100 {
        if count() >= expected {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    count()
}

/// reactor-proxy in reverse mode in front of `upstream`, with `args`.
fn reverse_proxy(upstream: SocketAddr, args: &[&str]) -> Httpd {
    let up = format!("http://{upstream}");
    let mut all = vec!["--upstream", &up];
    all.extend_from_slice(args);
    proxy_binary(&all)
}

/// A self-signed certificate for `localhost` in `dir`, as `--tls-cert/--tls-key` flags.
fn tls_flags(dir: &TempDir) -> (Vec<String>, String) {
    let (cert, key) = make_cert(dir, "localhost", &["localhost"], false);
    let cert = cert.to_str().unwrap().to_string();
    let flags = vec![
        "--tls-cert".into(),
        cert.clone(),
        "--tls-key".into(),
        key.to_str().unwrap().into(),
    ];
    (flags, cert)
}

fn curl(args: &[&str]) -> Output {
    Command::new("curl")
        .args(["-sS", "--max-time", "30"])
        .args(args)
        .output()
        .expect("curl runs")
}

/// curl with prior knowledge to `http://ADDR/PATH`; stdout as text.
fn curl_h2c(addr: SocketAddr, path: &str, args: &[&str]) -> String {
    let mut all = vec!["--http2-prior-knowledge"];
    all.extend_from_slice(args);
    let url = format!("http://{addr}{path}");
    all.push(&url);
    let out = curl(&all);
    assert!(out.status.success(), "{out:?}");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// curl over HTTPS (`--http2`: ALPN h2 if offered) to `https://localhost:PORT/PATH`,
/// trusting `cacert`; stdout as text.
fn curl_tls(addr: SocketAddr, cacert: &str, path: &str, args: &[&str]) -> String {
    let port = addr.port();
    let resolve = format!("localhost:{port}:127.0.0.1");
    let url = format!("https://localhost:{port}{path}");
    let mut all = vec!["--http2", "--cacert", cacert, "--resolve", &resolve];
    all.extend_from_slice(args);
    all.push(&url);
    let out = curl(&all);
    assert!(out.status.success(), "{out:?}");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The value of header `name` (lowercase, as HTTP/2 has it) in a head printed by curl -i.
fn header<'a>(head: &'a str, name: &str) -> Option<&'a str> {
    head.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(": "))
        .map(str::trim)
}

#[test]
fn prior_knowledge_miss_then_hit() {
    let dir = TempDir::new("proxy-h2-pk");
    let o = origin(&dir);
    let p = reverse_proxy(o.addr, &[]);
    let first = curl_h2c(p.addr, "/cached/hello.txt", &["-i"]);
    assert!(first.starts_with("HTTP/2 200"), "{first}");
    assert_eq!(header(&first, "x-cache"), Some("MISS"), "{first}");
    assert!(first.ends_with("\r\n\r\nhello\n"), "{first}");
    let second = curl_h2c(p.addr, "/cached/hello.txt", &["-i"]);
    assert!(second.starts_with("HTTP/2 200"), "{second}");
    assert_eq!(header(&second, "x-cache"), Some("HIT"), "{second}");
    assert!(header(&second, "age").is_some(), "{second}");
    assert!(second.ends_with("\r\n\r\nhello\n"), "{second}");
    assert_eq!(origin_hits(&dir, "/cached/hello.txt", 1), 1);
    // A no-store answer goes to the origin every time.
    for _ in 0..2 {
        let r = curl_h2c(p.addr, "/fresh/hello.txt", &["-i"]);
        assert_eq!(header(&r, "x-cache"), Some("MISS"), "{r}");
    }
    assert_eq!(origin_hits(&dir, "/fresh/hello.txt", 2), 2);
}

#[test]
fn alpn_h2_over_tls_streams_a_large_body_byte_for_byte() {
    let dir = TempDir::new("proxy-h2-tls");
    let o = origin(&dir);
    let (tls, cacert) = tls_flags(&dir);
    let mut args: Vec<&str> = tls.iter().map(String::as_str).collect();
    // Not cached: the body goes from the origin to the client as it comes.
    args.extend(["--max-object-size", "1048576"]);
    let p = reverse_proxy(o.addr, &args);
    let got = dir.join("got.bin");
    let got_s = got.to_str().unwrap();
    let w = [
        "-o",
        got_s,
        "-w",
        "%{http_version} %{http_code} %{size_download}",
    ];
    for _ in 0..2 {
        let out = curl_tls(p.addr, &cacert, "/fresh/big.bin", &w);
        assert_eq!(out, format!("2 200 {BIG}"));
        let sent = std::fs::read(dir.join("www/fresh/big.bin")).unwrap();
        assert!(std::fs::read(&got).unwrap() == sent, "bytes differ");
    }
    assert_eq!(origin_hits(&dir, "/fresh/big.bin", 2), 2);
    // The cache works the same over TLS.
    let r = curl_tls(p.addr, &cacert, "/cached/hello.txt", &["-i"]);
    assert!(r.starts_with("HTTP/2 200"), "{r}");
    assert_eq!(header(&r, "x-cache"), Some("MISS"), "{r}");
    let r = curl_tls(p.addr, &cacert, "/cached/hello.txt", &["-i"]);
    assert_eq!(header(&r, "x-cache"), Some("HIT"), "{r}");
}

#[test]
fn cancelled_streams_leave_the_connection_working() {
    let dir = TempDir::new("proxy-h2-cancel");
    let o = origin(&dir);
    let p = reverse_proxy(o.addr, &["--max-object-size", "1048576"]);
    // Cancelled while its answer is owed, cancelled mid-body, then a whole body.
    let out = common::python("h2_cancel.py", &[&p.addr.to_string(), "/fresh/big.bin"]);
    assert_eq!(out, format!("data3 yes\nwhole5 200 {BIG}\n"));
    // The proxy still serves new connections.
    let w = ["-o", "/dev/null", "-w", "%{http_code}"];
    assert_eq!(curl_h2c(p.addr, "/fresh/hello.txt", &w), "200");
}

#[test]
fn a_slow_reader_holds_back_the_origin_not_the_proxy_memory() {
    let dir = TempDir::new("proxy-h2-slow");
    let o = origin(&dir);
    std::fs::copy(dir.join("www/fresh/big.bin"), dir.join("www/big.bin")).unwrap();
    let p = reverse_proxy(o.addr, &["--max-object-size", "1048576"]);
    assert_eq!(
        curl_h2c(p.addr, "/cached/hello.txt", &["-o", "/dev/null"]),
        ""
    );
    let before = p.rss_kib();
    // A 1000-byte window that stays shut for a second, then opens wide.
    let out = common::python("h2_driver.py", &[&p.addr.to_string(), "small-window"]);
    assert!(out.contains("stalled_at 1000\n"), "{out}");
    assert!(out.contains(&format!("total {BIG}\n")), "{out}");
    // The body waited in the origin's socket, not in the proxy (6 MB would show).
    let grew = p.peak_rss_kib().saturating_sub(before);
    assert!(grew < 3 * 1024, "the proxy grew by {grew} KiB");
}

#[test]
fn http2_off_offers_http1_only() {
    let dir = TempDir::new("proxy-h2-off");
    let o = origin(&dir);
    let (tls, cacert) = tls_flags(&dir);
    let mut args: Vec<&str> = tls.iter().map(String::as_str).collect();
    args.extend(["--http2", "off"]);
    let p = reverse_proxy(o.addr, &args);
    let w = ["-o", "/dev/null", "-w", "%{http_version} %{http_code}"];
    assert_eq!(
        curl_tls(p.addr, &cacert, "/cached/hello.txt", &w),
        "1.1 200"
    );
    let bad = Command::new(env!("CARGO_BIN_EXE_reactor-proxy"))
        .args(["--http2", "maybe"])
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(2));
    assert_eq!(String::from_utf8_lossy(&bad.stderr).lines().count(), 1);
}

/// An origin answering each request with its own body (and its method and target in
/// `X-Echo`), never cacheable.
fn echo_origin() -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    std::thread::spawn(move || {
        for s in l.incoming().flatten() {
            std::thread::spawn(move || echo_all(s));
        }
    });
    addr
}

fn echo_all(mut s: TcpStream) {
    let mut buf = Vec::new();
    let mut chunk = vec![0u8; 64 * 1024];
    loop {
        let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") else {
            match s.read(&mut chunk) {
                Ok(0) | Err(_) => return,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
            continue;
        };
        let head = String::from_utf8_lossy(&buf[..end]).into_owned();
        let len: usize = head
            .lines()
            .find_map(|l| {
                let (k, v) = l.split_once(':')?;
                k.eq_ignore_ascii_case("content-length").then(|| v.trim())
            })
            .map_or(0, |v| v.parse().unwrap());
        while buf.len() < end + 4 + len {
            match s.read(&mut chunk) {
                Ok(0) | Err(_) => return,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        }
        let body: Vec<u8> = buf.drain(..end + 4 + len).skip(end + 4).collect();
        let line = head.lines().next().unwrap_or_default();
        let mut answer = format!(
            "HTTP/1.1 200 OK\r\nCache-Control: no-store\r\nX-Echo: {line}\r\n\
             Content-Length: {len}\r\n\r\n"
        )
        .into_bytes();
        answer.extend_from_slice(&body);
        if s.write_all(&answer).is_err() {
            return;
        }
    }
}

#[test]
fn request_bodies_are_forwarded() {
    let dir = TempDir::new("proxy-h2-post");
    let p = reverse_proxy(echo_origin(), &["--max-body", "8388608"]);
    let r = curl_h2c(p.addr, "/form", &["-i", "--data-binary", "a=1&b=2"]);
    assert!(r.starts_with("HTTP/2 200"), "{r}");
    assert_eq!(header(&r, "x-echo"), Some("POST /form HTTP/1.1"), "{r}");
    assert!(r.ends_with("\r\n\r\na=1&b=2"), "{r}");
    // A body of several MB, over many DATA frames, arrives whole.
    let body: Vec<u8> = (0..5_000_000u32).map(|i| (i % 241) as u8).collect();
    let sent = dir.join("sent.bin");
    std::fs::write(&sent, &body).unwrap();
    let got = dir.join("got.bin");
    let upload = format!("@{}", sent.to_str().unwrap());
    let w = [
        "-o",
        got.to_str().unwrap(),
        "-w",
        "%{http_version} %{http_code}",
    ];
    let mut args = vec!["-X", "PUT", "--data-binary", &upload];
    args.extend_from_slice(&w);
    assert_eq!(curl_h2c(p.addr, "/upload", &args), "2 200");
    assert!(std::fs::read(&got).unwrap() == body, "bytes differ");
    // Past --max-body: 413 on that stream, then RST_STREAM NO_ERROR to stop the upload
    // (RFC 9113 §8.1). nghttp, as curl 7.88 drops a response that ends that way.
    let big = dir.join("big.bin");
    std::fs::write(&big, vec![b'x'; 9_000_000]).unwrap();
    let out = Command::new("nghttp")
        .args(["-v", "-t", "20", "-d", big.to_str().unwrap()])
        .arg(format!("http://{}/upload", p.addr))
        .output()
        .expect("nghttp runs (Debian: nghttp2-client)");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains(":status: 413"), "{text}");
    assert!(text.contains("error_code=NO_ERROR"), "{text}");
}

#[test]
fn expect_100_continue_then_the_body_goes_to_the_origin() {
    let p = reverse_proxy(echo_origin(), &[]);
    let out = common::h2_continue(p.addr, "/upload", "100-continue", 200_000);
    assert_eq!(out, "interim 100\nstatus 200\nbody 200000 1\n");
}

#[test]
fn dead_origin_is_502_over_http2() {
    // A port that was free a moment ago: nothing listens there.
    let dead = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let p = reverse_proxy(dead, &[]);
    let out = curl_h2c(
        p.addr,
        "/x",
        &["-o", "/dev/null", "-w", "%{http_version} %{http_code}"],
    );
    assert_eq!(out, "2 502");
}

/// Runs h2load against `url` and asserts that all `n` requests succeeded with 2xx.
fn h2load(url: &str, n: usize, clients: usize, streams: usize) {
    let out = Command::new("h2load")
        .args(["-n", &n.to_string(), "-c", &clients.to_string()])
        .args(["-m", &streams.to_string(), "-T", "30", url])
        .output()
        .expect("h2load runs (Debian: nghttp2-client)");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    let done = format!("requests: {n} total, {n} started, {n} done, {n} succeeded, 0 failed");
    assert!(text.contains(&done), "{text}");
    assert!(text.contains(&format!("status codes: {n} 2xx")), "{text}");
}

#[test]
fn many_concurrent_streams_with_no_errors() {
    let dir = TempDir::new("proxy-h2-load");
    let o = origin(&dir);
    let (tls, _) = tls_flags(&dir);
    let args: Vec<&str> = tls.iter().map(String::as_str).collect();
    let p = reverse_proxy(o.addr, &args);
    let base = format!("https://127.0.0.1:{}", p.addr.port());
    // Every stream waits for its own origin answer (deferred replies, one per stream).
    h2load(&format!("{base}/fresh/hello.txt"), 1000, 2, 50);
    assert_eq!(origin_hits(&dir, "/fresh/hello.txt", 1000), 1000);
    // Cache hits, many at once.
    h2load(&format!("{base}/cached/hello.txt"), 1000, 2, 50);
    assert!(origin_hits(&dir, "/cached/hello.txt", 1) < 50);
    // Large bodies on several streams at once share the connection's window.
    h2load(&format!("{base}/fresh/big.bin"), 8, 1, 4);
}
