//! Hostile origins and clients against reactor-proxy's cache (issue 18, items 1–3): each
//! test replays the attack against the release binary on 127.0.0.1 and asserts the bound
//! (peak RSS from `/proc`, the cache's own weight, or the cache state a client sees).
//! Also: byte ranges and `If-Modified-Since` answered from a stored complete response.

mod common;
mod proxy_support;

use std::io::Write;
use std::net::{SocketAddr, TcpStream};
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use common::Httpd;
use proxy_support::{get, origin, proxy_binary, x_cache};
use reactor::testing::{serve, Client, TestResponse};
use reactor::{Config, Server};
use reactor_handlers::proxy::{Proxy, ProxyConfig};

/// 30,000 `Vary` names (one distinct) and a 14 KB request header: the entry holds the
/// value once, counted in its weight, and hits stay cheap.
fn vary_bomb_origin() -> SocketAddr {
    let names = vec!["a"; 30_000].join(",");
    origin(move |_| {
        format!(
            "HTTP/1.1 200 OK\r\nCache-Control: max-age=600\r\nVary: {names}\r\n\
             Content-Length: 5\r\n\r\nhello"
        )
        .into_bytes()
    })
}

#[test]
fn vary_bomb_is_stored_once_and_weighed() {
    let o = vary_bomb_origin();
    let value = "x".repeat(14_000);
    let p = proxy_binary(&["--cache-size", "16777216"]);
    for i in 0..8 {
        let url = format!("http://{o}/bomb{i}");
        let r = get(p.addr, &url, &format!("a: {value}\r\n"));
        assert_eq!((r.status, x_cache(&r).as_str()), (200, "MISS"));
        let r = get(p.addr, &url, &format!("A:   {value} \r\n"));
        assert_eq!((x_cache(&r).as_str(), r.text().as_str()), ("HIT", "hello"));
        let r = get(p.addr, &url, "a: other\r\n");
        assert_eq!(x_cache(&r), "MISS");
    }
    // Before the fix each entry held 30,000 copies of the value (about 403 MiB).
    let peak = p.peak_rss_kib();
    assert!(peak < 64 * 1024, "peak RSS {peak} KiB");
}

#[test]
fn vary_values_count_in_the_entry_weight() {
    let o = vary_bomb_origin();
    let proxy = Proxy::new(ProxyConfig {
        cache_size: 16 << 20,
        ..ProxyConfig::default()
    });
    let p = serve(Server::new(Config::default()).handler(proxy.clone()));
    let value = "x".repeat(14_000);
    get(
        p.local_addr(),
        &format!("http://{o}/w"),
        &format!("a: {value}\r\n"),
    );
    let (urls, bytes) = proxy.cache_usage();
    assert_eq!(urls, 1);
    // The 60 KB Vary field itself, plus the 14 KB value once.
    assert!(
        (74_000..128 * 1024).contains(&bytes),
        "one entry weighs {bytes} bytes"
    );
}

#[test]
fn too_many_vary_names_are_not_stored() {
    let names: Vec<String> = (0..100).map(|i| format!("h{i}")).collect();
    let names = names.join(", ");
    let o = origin(move |_| {
        format!(
            "HTTP/1.1 200 OK\r\nCache-Control: max-age=600\r\nVary: {names}\r\n\
             Content-Length: 2\r\n\r\nok"
        )
        .into_bytes()
    });
    let p = proxy_binary(&[]);
    let url = format!("http://{o}/many");
    for _ in 0..2 {
        let r = get(p.addr, &url, "");
        assert_eq!((r.status, r.text().as_str()), (200, "ok"));
        assert_eq!(x_cache(&r), "MISS");
    }
}

#[test]
fn an_overflowing_age_is_stale_never_a_fresh_hit() {
    let o = origin(|_| {
        b"HTTP/1.1 200 OK\r\nCache-Control: max-age=600\r\nAge: 18446744073709551615\r\n\
          Content-Length: 3\r\n\r\nold"
            .to_vec()
    });
    let p = proxy_binary(&[]);
    let url = format!("http://{o}/age");
    let first = get(p.addr, &url, "");
    assert_eq!((first.status, first.text().as_str()), (200, "old"));
    // A second later the old sum `initial_age + elapsed` wrapped to a small age.
    std::thread::sleep(Duration::from_millis(1100));
    for _ in 0..2 {
        let r = get(p.addr, &url, "");
        assert_eq!(r.status, 200);
        assert_ne!(x_cache(&r), "HIT", "{:?}", r.headers);
        if let Some(age) = r.header("age") {
            assert!(age.parse::<u64>().unwrap() >= 1 << 31, "Age {age}");
        }
    }
    // Still serving.
    assert_eq!(get(p.addr, &url, "").status, 200);
}

#[test]
fn stalled_clients_of_distinct_fills_stay_within_the_fill_budget() {
    use std::sync::atomic::{AtomicUsize, Ordering};
    const SIZE: usize = 8 << 20;
    let body = Arc::new(vec![b'f'; SIZE]);
    let served = Arc::new(AtomicUsize::new(0));
    let counter = served.clone();
    let o = origin(move |target| {
        if target == "/small" {
            return b"HTTP/1.1 200 OK\r\nCache-Control: max-age=600\r\nContent-Length: 2\r\n\r\nok"
                .to_vec();
        }
        counter.fetch_add(1, Ordering::SeqCst);
        let mut r = format!(
            "HTTP/1.1 200 OK\r\nCache-Control: max-age=600\r\nContent-Length: {SIZE}\r\n\r\n"
        )
        .into_bytes();
        r.extend_from_slice(&body);
        r
    });
    let p = proxy_binary(&["--cache-size", "16777216"]);
    let base = p.peak_rss_kib();
    // Twenty clients each ask for a distinct 8 MiB object and never read a byte.
    let stalled: Vec<TcpStream> = (0..20)
        .map(|i| {
            let mut s = TcpStream::connect(p.addr).unwrap();
            let req = format!("GET http://{o}/big{i} HTTP/1.1\r\nHost: x\r\n\r\n");
            s.write_all(req.as_bytes()).unwrap();
            s
        })
        .collect();
    while served.load(Ordering::SeqCst) < 20 {
        std::thread::sleep(Duration::from_millis(50));
    }
    // Let every fill run as far as it will.
    std::thread::sleep(Duration::from_secs(2));
    let peak = p.peak_rss_kib();
    eprintln!("20 stalled fills: peak RSS grew by {} KiB", peak - base);
    // Before: about 7 MiB each outside the cache (some 160 MiB). Now the fill budget
    // (4 MiB) plus a stream window per client, the 16 MiB cache and partial fills.
    assert!(
        peak - base < 80 * 1024,
        "peak RSS grew by {} KiB",
        peak - base
    );
    let url = format!("http://{o}/small");
    assert_eq!(get(p.addr, &url, "").text(), "ok");
    assert_eq!(x_cache(&get(p.addr, &url, "")), "HIT");
    drop(stalled);
}

fn request(proxy: SocketAddr, method: &str, target: &str) -> TestResponse {
    let mut c = Client::connect(proxy);
    c.send(format!("{method} {target} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes());
    c.response(false).expect("a response")
}

#[test]
fn purge_removes_a_url_200_then_404_forward_and_reverse() {
    let o = origin(|target| {
        format!(
            "HTTP/1.1 200 OK\r\nCache-Control: max-age=600\r\nContent-Length: {}\r\n\r\n{target}",
            target.len()
        )
        .into_bytes()
    });
    let p = proxy_binary(&[]);
    let url = format!("http://{o}/p");
    get(p.addr, &url, "");
    assert_eq!(x_cache(&get(p.addr, &url, "")), "HIT");
    assert_eq!(request(p.addr, "PURGE", &url).status, 200);
    assert_eq!(request(p.addr, "PURGE", &url).status, 404);
    assert_eq!(x_cache(&get(p.addr, &url, "")), "MISS");
    assert_eq!(request(p.addr, "PURGE", "/not-a-url").status, 400);

    let up = format!("http://{o}");
    let r = proxy_binary(&["--upstream", &up]);
    assert_eq!(get(r.addr, "/q", "").text(), "/q");
    assert_eq!(x_cache(&get(r.addr, "/q", "")), "HIT");
    assert_eq!(request(r.addr, "PURGE", "/q").status, 200);
    assert_eq!(x_cache(&get(r.addr, "/q", "")), "MISS");
}

#[test]
fn purge_only_from_the_purge_list() {
    let o = origin(|_| {
        b"HTTP/1.1 200 OK\r\nCache-Control: max-age=600\r\nContent-Length: 1\r\n\r\nx".to_vec()
    });
    // Loopback may use the proxy but is not on this purge list.
    let p = proxy_binary(&["--purge-allow", "10.1.2.0/24"]);
    let url = format!("http://{o}/guarded");
    get(p.addr, &url, "");
    assert_eq!(request(p.addr, "PURGE", &url).status, 403);
    assert_eq!(x_cache(&get(p.addr, &url, "")), "HIT");
    let bad = Command::new(env!("CARGO_BIN_EXE_reactor-proxy"))
        .args(["--purge-allow", "nonsense"])
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(2));
    assert_eq!(String::from_utf8_lossy(&bad.stderr).lines().count(), 1);
}

#[test]
fn reverse_mode_obeys_cdn_cache_control_over_cache_control() {
    let o = origin(|target| {
        let fields = match target {
            "/cdn-long" => "Cache-Control: no-store\r\nCDN-Cache-Control: max-age=600\r\n",
            "/cdn-private" => "Cache-Control: max-age=600\r\nCDN-Cache-Control: private\r\n",
            "/cdn-invalid" => "Cache-Control: no-store\r\nCDN-Cache-Control: max-age=\"600\"\r\n",
            "/mine" => "Cache-Control: no-store\r\nMy-CC: max-age=600\r\n",
            _ => "Cache-Control: max-age=600\r\n",
        };
        format!("HTTP/1.1 200 OK\r\n{fields}Content-Length: 1\r\n\r\nx").into_bytes()
    });
    let up = format!("http://{o}");
    let p = proxy_binary(&["--upstream", &up]);
    let twice = |p: &Httpd, path: &str| {
        get(p.addr, path, "");
        x_cache(&get(p.addr, path, ""))
    };
    assert_eq!(twice(&p, "/cdn-long"), "HIT");
    assert_eq!(twice(&p, "/cdn-private"), "MISS");
    assert_eq!(twice(&p, "/cdn-invalid"), "MISS");
    assert_eq!(twice(&p, "/mine"), "MISS");
    // The client still sees the origin's fields.
    let r = get(p.addr, "/cdn-long", "");
    assert_eq!(r.header("cache-control"), Some("no-store"));

    let mine = proxy_binary(&["--upstream", &up, "--cdn-cache-control", "My-CC"]);
    assert_eq!(twice(&mine, "/mine"), "HIT");
    assert_eq!(twice(&mine, "/cdn-long"), "MISS");
    // A forward proxy is no CDN: Cache-Control rules.
    let fwd = proxy_binary(&[]);
    let url = format!("{up}/cdn-long");
    assert_eq!(twice(&fwd, &url), "MISS");
}

#[test]
fn a_stale_entry_answers_when_the_origin_is_gone_unless_it_must_revalidate() {
    use std::sync::atomic::{AtomicBool, Ordering};
    let down = Arc::new(AtomicBool::new(false));
    let d = down.clone();
    let o = origin(move |target| {
        if d.load(Ordering::SeqCst) {
            return Vec::new();
        }
        let cc = if target == "/strict" {
            "max-age=1, must-revalidate"
        } else {
            "max-age=1"
        };
        format!("HTTP/1.1 200 OK\r\nCache-Control: {cc}\r\nContent-Length: 4\r\n\r\nkept")
            .into_bytes()
    });
    let p = proxy_binary(&["--upstream", &format!("http://{o}")]);
    assert_eq!(get(p.addr, "/easy", "").text(), "kept");
    assert_eq!(get(p.addr, "/strict", "").text(), "kept");
    // Stale after a second; then the origin closes every connection without answering.
    std::thread::sleep(Duration::from_millis(2100));
    down.store(true, Ordering::SeqCst);
    let r = get(p.addr, "/easy", "");
    assert_eq!(
        (r.status, x_cache(&r).as_str(), r.text().as_str()),
        (200, "STALE", "kept")
    );
    assert_eq!(get(p.addr, "/strict", "").status, 502);
}

#[test]
fn ranges_are_answered_from_a_stored_complete_response() {
    let origin_hits = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let n = origin_hits.clone();
    let o = origin(move |_| {
        n.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        b"HTTP/1.1 200 OK\r\nCache-Control: max-age=600\r\nETag: \"v1\"\r\n\
          Content-Length: 10\r\n\r\n0123456789"
            .to_vec()
    });
    let p = proxy_binary(&[]);
    let url = format!("http://{o}/r");
    assert_eq!(x_cache(&get(p.addr, &url, "")), "MISS");
    let ranged = |range: &str| get(p.addr, &url, &format!("Range: {range}\r\n"));
    for (range, text, content_range) in [
        ("bytes=2-4", "234", "bytes 2-4/10"),
        ("bytes=7-", "789", "bytes 7-9/10"),
        ("bytes=-1", "9", "bytes 9-9/10"),
        ("bytes=5-100", "56789", "bytes 5-9/10"),
    ] {
        let r = ranged(range);
        assert_eq!((r.status, x_cache(&r).as_str()), (206, "HIT"), "{range}");
        assert_eq!(r.text(), text, "{range}");
        assert_eq!(r.header("content-range"), Some(content_range), "{range}");
    }
    let r = ranged("bytes=20-");
    assert_eq!(r.status, 416);
    assert_eq!(r.header("content-range"), Some("bytes */10"));
    // Several ranges, or an If-Range that does not match: the whole response.
    let r = ranged("bytes=0-0, 5-5");
    assert_eq!((r.status, r.text().as_str()), (200, "0123456789"));
    let r = get(p.addr, &url, "Range: bytes=0-1\r\nIf-Range: \"v0\"\r\n");
    assert_eq!((r.status, r.text().as_str()), (200, "0123456789"));
    let r = get(p.addr, &url, "Range: bytes=0-1\r\nIf-Range: \"v1\"\r\n");
    assert_eq!((r.status, r.text().as_str()), (206, "01"));
    // No Last-Modified: If-Modified-Since is weighed against when it was received.
    let now = reactor::date::format_http_date(std::time::SystemTime::now());
    let r = get(p.addr, &url, &format!("If-Modified-Since: {now}\r\n"));
    assert_eq!((r.status, x_cache(&r).as_str()), (304, "HIT"));
    assert_eq!(origin_hits.load(std::sync::atomic::Ordering::SeqCst), 1);
}

/// Everything the proxy sends for one `GET` on a fresh connection, until it closes.
fn raw_exchange(proxy: SocketAddr, version: &str, target: &str) -> String {
    use std::io::Read;
    let mut s = TcpStream::connect(proxy).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let req = format!("GET {target} {version}\r\nHost: x\r\nConnection: close\r\n\r\n");
    s.write_all(req.as_bytes()).unwrap();
    let mut all = String::new();
    let _ = s.read_to_string(&mut all);
    all
}

/// An origin's `103 Early Hints` (and `102`) reach HTTP/1.1 clients ahead of the answer and
/// are never stored: the cached answer comes without them; an HTTP/1.0 client never sees
/// them; an origin sending hundreds of them cannot flood the client.
#[test]
fn interim_responses_are_relayed_never_cached() {
    let o = origin(|target| {
        let interims = if target.ends_with("/flood") { 500 } else { 1 };
        let mut r = String::new();
        r.push_str("HTTP/1.1 102 Processing\r\n\r\n");
        for _ in 0..interims {
            r.push_str("HTTP/1.1 103 Early Hints\r\nLink: </s.css>; rel=preload\r\n\r\n");
        }
        r.push_str("HTTP/1.1 200 OK\r\nCache-Control: max-age=600\r\nContent-Length: 2\r\n\r\nok");
        r.into_bytes()
    });
    let p = proxy_binary(&[]);
    let first = raw_exchange(p.addr, "HTTP/1.1", &format!("http://{o}/page"));
    let hints = "HTTP/1.1 103 Early Hints\r\nLink: </s.css>; rel=preload\r\n\r\n";
    assert!(
        first.starts_with("HTTP/1.1 102 Processing\r\n\r\n") && first.contains(hints),
        "{first}"
    );
    assert!(
        first.contains("HTTP/1.1 200 OK\r\n") && first.ends_with("ok"),
        "{first}"
    );
    let hit = raw_exchange(p.addr, "HTTP/1.1", &format!("http://{o}/page"));
    assert!(hit.starts_with("HTTP/1.1 200 OK\r\n"), "{hit}");
    assert!(hit.to_ascii_lowercase().contains("x-cache: hit"), "{hit}");
    let old = raw_exchange(p.addr, "HTTP/1.0", &format!("http://{o}/other"));
    assert!(old.starts_with("HTTP/1.1 200 OK\r\n"), "{old}");
    let flood = raw_exchange(p.addr, "HTTP/1.1", &format!("http://{o}/flood"));
    assert_eq!(flood.matches("HTTP/1.1 1").count(), 8, "{flood}");
    assert!(flood.ends_with("ok"), "{flood}");
}
