//! reactor-proxy's disk tier (`--cache-dir`), against the binary: hits from disk after
//! memory eviction and after a restart (byte for byte, with the right `Age`), and crash
//! safety (`kill -9` mid-fill, a corrupted file) never serving a bad body.

mod common;
mod proxy_support;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{Httpd, TempDir};
use proxy_support::{get, origin, proxy_binary, x_cache};
use reactor::testing::TestResponse;

/// Deterministic bytes (an LCG), different per `seed`.
fn bytes(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    (0..len)
        .map(|_| {
            x = x
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            (x >> 33) as u8
        })
        .collect()
}

fn entries(dir: &Path) -> Vec<(String, u64)> {
    std::fs::read_dir(dir)
        .map(|d| {
            d.flatten()
                .map(|e| {
                    let len = e.metadata().map_or(0, |m| m.len());
                    (e.file_name().to_string_lossy().into_owned(), len)
                })
                .collect()
        })
        .unwrap_or_default()
}

/// Waits (bounded) until `dir` holds `n` finished entry files of at least `min` bytes.
fn wait_for_files(dir: &Path, n: usize, min: u64) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let done = entries(dir)
            .iter()
            .filter(|(name, len)| name.ends_with(".entry") && *len >= min)
            .count();
        if done >= n {
            return;
        }
        assert!(Instant::now() < deadline, "files: {:?}", entries(dir));
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// `GET`s until the answer is not a 502 (the index is rebuilt in the background while
/// the dead origin makes misses fail), bounded.
fn get_when_indexed(p: &Httpd, url: &str) -> TestResponse {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let r = get(p.addr, url, "");
        if r.status != 502 || Instant::now() > deadline {
            return r;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Origin of `/o{i}` objects (300 KB each, max-age=600) that can be taken down (it then
/// closes connections without answering).
fn objects_origin(down: Arc<AtomicBool>) -> std::net::SocketAddr {
    origin(move |target| {
        if down.load(Ordering::SeqCst) {
            return Vec::new();
        }
        let seed: u64 = target.trim_start_matches("/o").parse().unwrap_or(99);
        let body = bytes(seed, 300_000);
        let mut r = format!(
            "HTTP/1.1 200 OK\r\nCache-Control: max-age=600\r\nContent-Length: {}\r\n\r\n",
            body.len()
        )
        .into_bytes();
        r.extend_from_slice(&body);
        r
    })
}

/// Reverse mode in front of `origin` with its disk tier in `dir`, plus `extra`.
fn disk_args(origin: std::net::SocketAddr, dir: &TempDir, extra: &[&str]) -> Vec<String> {
    let mut args = vec![
        "--upstream".to_string(),
        format!("http://{origin}"),
        "--cache-dir".to_string(),
        dir.0.to_string_lossy().into_owned(),
    ];
    args.extend(extra.iter().map(|a| a.to_string()));
    args
}

#[test]
fn restart_with_a_populated_disk_cache_serves_hits_byte_for_byte() {
    let dir = TempDir::new("proxy-disk-restart");
    let down = Arc::new(AtomicBool::new(false));
    let o = objects_origin(down.clone());
    // Memory for two objects: the third pushes the first out to the disk tier alone.
    let args = disk_args(o, &dir, &["--cache-size", "700000"]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let p = proxy_binary(&args);
    for i in 0..3 {
        let r = get(p.addr, &format!("/o{i}"), "");
        assert_eq!((r.status, x_cache(&r).as_str()), (200, "MISS"));
        assert!(r.body == bytes(i, 300_000));
    }
    wait_for_files(&dir.0, 3, 300_000);
    down.store(true, Ordering::SeqCst);
    // Evicted from memory, read back from disk.
    let r = get(p.addr, "/o0", "");
    assert_eq!((r.status, x_cache(&r).as_str()), (200, "HIT"));
    assert!(r.body == bytes(0, 300_000));

    std::thread::sleep(Duration::from_millis(1100));
    p.signal(libc::SIGKILL);
    drop(p);
    let p = proxy_binary(&args);
    for i in [2, 1, 0] {
        let r = get_when_indexed(&p, &format!("/o{i}"));
        assert_eq!((r.status, x_cache(&r).as_str()), (200, "HIT"), "/o{i}");
        assert!(r.body == bytes(i, 300_000), "/o{i} differs");
        let age: u64 = r.header("age").unwrap().parse().unwrap();
        assert!((1..600).contains(&age), "Age {age}");
    }
    // PURGE removes both copies: with the origin down, the next GET fails.
    let purge = |path: &str| {
        let mut c = reactor::testing::Client::connect(p.addr);
        c.send(format!("PURGE {path} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes());
        c.response(false).unwrap().status
    };
    assert_eq!(purge("/o1"), 200);
    assert_eq!(purge("/o1"), 404);
    assert_eq!(get(p.addr, "/o1", "").status, 502);
    let deadline = Instant::now() + Duration::from_secs(10);
    while entries(&dir.0)
        .iter()
        .filter(|(n, _)| n.ends_with(".entry"))
        .count()
        > 2
    {
        assert!(
            Instant::now() < deadline,
            "purged file kept: {:?}",
            entries(&dir.0)
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn kill_9_mid_fill_and_corrupt_files_never_serve_a_bad_body() {
    const SIZE: usize = 100 << 20;
    let dir = TempDir::new("proxy-disk-crash");
    let body = Arc::new(bytes(7, SIZE));
    let served = Arc::new(AtomicUsize::new(0));
    let (b, n) = (body.clone(), served.clone());
    let o = origin(move |_| {
        n.fetch_add(1, Ordering::SeqCst);
        let mut r = format!(
            "HTTP/1.1 200 OK\r\nCache-Control: max-age=600\r\nContent-Length: {SIZE}\r\n\r\n"
        )
        .into_bytes();
        r.extend_from_slice(&b);
        r
    });
    // Room for the object and (a quarter) for a slow test client's queue during the
    // fill (see the fill budget in handlers/src/proxy/fill.rs).
    let args = disk_args(
        o,
        &dir,
        &[
            "--cache-size",
            "800000000",
            "--max-object-size",
            "150000000",
        ],
    );
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    // Kill the proxy when half the body has reached the client.
    let p = proxy_binary(&args);
    let mut c = TcpStream::connect(p.addr).unwrap();
    c.write_all(b"GET /big HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    let mut got = 0;
    let mut buf = vec![0u8; 1 << 16];
    while got < SIZE / 2 {
        let n = c.read(&mut buf).unwrap();
        assert!(n > 0);
        got += n;
    }
    p.signal(libc::SIGKILL);
    drop(p);
    drop(c);

    let p = proxy_binary(&args);
    let r = get(p.addr, "/big", "");
    assert_eq!(r.status, 200);
    assert!(r.body == *body, "a bad body after kill -9 mid-fill");
    // Now stored: wait for its file, then corrupt one byte in the middle of it.
    wait_for_files(&dir.0, 1, SIZE as u64);
    let before = served.load(Ordering::SeqCst);
    p.signal(libc::SIGKILL);
    drop(p);
    let (name, _) = entries(&dir.0)
        .into_iter()
        .find(|(n, _)| n.ends_with(".entry"))
        .unwrap();
    let path = dir.join(&name);
    let mut data = std::fs::read(&path).unwrap();
    data[SIZE / 2] ^= 0x01;
    std::fs::write(&path, &data).unwrap();
    drop(data);
    // A temporary file as a crash mid-write leaves it.
    std::fs::write(dir.join("tmp.0000000000000000.entry"), b"RPXDISK1 half").unwrap();

    let p = proxy_binary(&args);
    let deadline = Instant::now() + Duration::from_secs(20);
    while entries(&dir.0).iter().any(|(n, _)| n.starts_with("tmp.")) {
        assert!(Instant::now() < deadline, "temporary file kept");
        std::thread::sleep(Duration::from_millis(50));
    }
    let r = get(p.addr, "/big", "");
    assert_eq!(r.status, 200);
    assert!(r.body == *body, "the corrupted copy was served");
    assert_eq!(x_cache(&r), "MISS");
    assert_eq!(served.load(Ordering::SeqCst), before + 1, "refetched once");
}
