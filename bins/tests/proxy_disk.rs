//! reactor-proxy's disk tier (`--cache-dir`), against the binary: hits from disk after
//! memory eviction and after a restart (byte for byte, with the right `Age`), and crash
//! safety (`kill -9` mid-fill, a corrupted file) never serving a bad body; objects too
//! big for memory spilled to disk as they arrive (RSS bounded), and the index rebuilt at
//! start while requests are served.

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
use reactor_handlers::proxy::cache::Entry;
use reactor_handlers::proxy::disk::write_file;

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

/// Flips one bit of the byte at `at(file length)` of the one entry file in `dir`, in
/// place: the same file, the same length.
fn flip_a_byte(dir: &Path, at: impl FnOnce(usize) -> usize) {
    let (name, len) = entries(dir)
        .into_iter()
        .find(|(n, _)| n.ends_with(".entry"))
        .unwrap();
    let path = dir.join(name);
    let mut data = std::fs::read(&path).unwrap();
    let at = at(data.len());
    data[at] ^= 0x01;
    let mut f = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
    f.write_all(&data).unwrap();
    drop(f);
    assert_eq!(std::fs::metadata(&path).unwrap().len(), len);
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
    flip_a_byte(&dir.0, |_| SIZE / 2);
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

/// `GET` with `Cache-Control: only-if-cached` until it is a hit (bounded): the index is
/// rebuilt in the background, and such a request never fetches or stores.
fn hit_when_indexed(p: &Httpd, url: &str) -> TestResponse {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let r = get(p.addr, url, "Cache-Control: only-if-cached\r\n");
        if r.status != 504 || Instant::now() > deadline {
            return r;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn a_response_too_big_for_memory_is_spilled_to_disk_and_served_from_it() {
    const SIZE: usize = 100 << 20;
    let dir = TempDir::new("proxy-disk-spill");
    let body = Arc::new(bytes(11, SIZE));
    let served = Arc::new(AtomicUsize::new(0));
    let (b, n) = (body.clone(), served.clone());
    let o = origin(move |target| {
        n.fetch_add(1, Ordering::SeqCst);
        let mut r = Vec::with_capacity(SIZE + 4096);
        if target == "/chunked" {
            // No length up front: the fill starts in memory and moves to disk.
            r.extend_from_slice(
                b"HTTP/1.1 200 OK\r\nCache-Control: max-age=600\r\n\
                  Transfer-Encoding: chunked\r\n\r\n",
            );
            for piece in b.chunks(1 << 20) {
                r.extend_from_slice(format!("{:x}\r\n", piece.len()).as_bytes());
                r.extend_from_slice(piece);
                r.extend_from_slice(b"\r\n");
            }
            r.extend_from_slice(b"0\r\n\r\n");
        } else {
            r.extend_from_slice(
                format!("HTTP/1.1 200 OK\r\nCache-Control: max-age=600\r\nContent-Length: {SIZE}\r\n\r\n")
                    .as_bytes(),
            );
            r.extend_from_slice(&b);
        }
        r
    });
    // Memory for 32 MB (a quarter of it for slow clients' queues during fills, see
    // handlers/src/proxy/fill.rs); objects up to 200 MB are stored, on disk alone when
    // bigger than memory.
    let args = disk_args(
        o,
        &dir,
        &["--cache-size", "32000000", "--max-object-size", "200000000"],
    );
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let p = proxy_binary(&args);
    for path in ["/big", "/chunked"] {
        let r = get(p.addr, path, "");
        assert_eq!((r.status, x_cache(&r).as_str()), (200, "MISS"), "{path}");
        assert!(r.body == *body, "{path}: the first answer differs");
    }
    wait_for_files(&dir.0, 2, SIZE as u64);
    for path in ["/big", "/chunked"] {
        let r = get(p.addr, path, "");
        assert_eq!((r.status, x_cache(&r).as_str()), (200, "HIT"), "{path}");
        assert!(r.body == *body, "{path}: the hit from disk differs");
        let r = get(p.addr, path, "Range: bytes=40000000-40000999\r\n");
        assert_eq!((r.status, x_cache(&r).as_str()), (206, "HIT"), "{path}");
        assert!(
            r.body[..] == body[40_000_000..40_001_000],
            "{path}: the range differs"
        );
    }
    assert_eq!(served.load(Ordering::SeqCst), 2, "each object fetched once");
    // Never whole in memory: well below the 100 MiB of one object.
    let peak = p.peak_rss_kib();
    assert!(peak < 64 * 1024, "peak RSS {peak} KiB");
    drop(p);

    // After a restart, still there (and still not in memory).
    let p = proxy_binary(&args);
    let r = hit_when_indexed(&p, "/big");
    assert_eq!((r.status, x_cache(&r).as_str()), (200, "HIT"));
    assert!(r.body == *body, "the hit after a restart differs");
    assert_eq!(served.load(Ordering::SeqCst), 2);
}

/// Rebuilding the disk index at start does not hold up service. `REBUILD_ENTRIES` sets how
/// many entries are written beforehand (with the proxy's own file writer); the times are
/// printed (run with `--nocapture`), never asserted.
#[test]
fn the_index_is_rebuilt_while_requests_are_served() {
    let count: usize = std::env::var("REBUILD_ENTRIES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20_000);
    let dir = TempDir::new("proxy-disk-rebuild");
    let served = Arc::new(AtomicUsize::new(0));
    let n = served.clone();
    let o = origin(move |_| {
        n.fetch_add(1, Ordering::SeqCst);
        b"HTTP/1.1 200 OK\r\nCache-Control: max-age=600\r\nContent-Length: 5\r\n\r\nfresh".to_vec()
    });
    let base = format!("http://{o}");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let written = Instant::now();
    for i in 0..count {
        let h = vec![("Cache-Control".to_string(), "max-age=3600".to_string())];
        let body: Arc<[u8]> = Arc::from(format!("stored {i}").into_bytes());
        let e = Entry::new(200, h, body, &Default::default(), now, now);
        write_file(&dir.0, &format!("{base}/k{i}"), &e).unwrap();
    }
    let written = written.elapsed();

    let started = Instant::now();
    let args = disk_args(o, &dir, &[]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let p = proxy_binary(&args);
    let listening = started.elapsed();
    // Served at once, while the index is being rebuilt: a plain fetch.
    let r = get(p.addr, "/not-stored", "");
    assert_eq!((r.status, r.text().as_str()), (200, "fresh"));
    let first = started.elapsed();
    let last = format!("/k{}", count - 1);
    let r = hit_when_indexed(&p, &last);
    let indexed = started.elapsed();
    assert_eq!((r.status, x_cache(&r).as_str()), (200, "HIT"));
    assert_eq!(r.text(), format!("stored {}", count - 1));
    for i in [0, count / 2] {
        let r = get(p.addr, &format!("/k{i}"), "");
        assert_eq!(
            (x_cache(&r).as_str(), r.text()),
            ("HIT", format!("stored {i}"))
        );
    }
    assert_eq!(
        served.load(Ordering::SeqCst),
        1,
        "only /not-stored was fetched"
    );
    eprintln!(
        "rebuild: {count} entries written in {written:?}; proxy listening after \
         {listening:?}, first request answered after {first:?}, all indexed (a hit for \
         the last) after {indexed:?}"
    );
}

/// A small entry that memory cannot hold keeps its file open, and its hits read it on the
/// reactor: a byte changed in place (same file, same size) is still never served, and a
/// refetched copy replaces the one read before.
#[test]
fn a_small_entry_read_on_the_reactor_is_checked_and_replaced() {
    const SIZE: usize = 1000;
    let dir = TempDir::new("proxy-disk-open");
    let served = Arc::new(AtomicUsize::new(0));
    let n = served.clone();
    // Each fetch gets a different body: `bytes(k, SIZE)` for the k-th.
    let o = origin(move |_| {
        let k = n.fetch_add(1, Ordering::SeqCst) as u64 + 1;
        let mut r = format!(
            "HTTP/1.1 200 OK\r\nCache-Control: max-age=600\r\nContent-Length: {SIZE}\r\n\r\n"
        )
        .into_bytes();
        r.extend_from_slice(&bytes(k, SIZE));
        r
    });
    // Memory holds nothing: every hit is from the disk tier.
    let args = disk_args(o, &dir, &["--cache-size", "512"]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let p = proxy_binary(&args);
    let hits = |k: u64| {
        // The first read of a file is on the pool (and keeps it open), the next ones not.
        for _ in 0..3 {
            let r = hit_when_indexed(&p, "/s");
            assert_eq!((r.status, x_cache(&r).as_str()), (200, "HIT"));
            assert!(r.body == bytes(k, SIZE), "not the body of fetch {k}");
        }
    };
    let r = get(p.addr, "/s", "");
    assert_eq!(
        (x_cache(&r).as_str(), r.body == bytes(1, SIZE)),
        ("MISS", true)
    );
    wait_for_files(&dir.0, 1, SIZE as u64);
    hits(1);

    // One body byte flipped in place: refused, dropped and refetched.
    // (The body ends 24 bytes before the file does.)
    flip_a_byte(&dir.0, |len| len - 24 - SIZE / 2);
    let r = get(p.addr, "/s", "");
    assert_eq!((r.status, x_cache(&r).as_str()), (200, "MISS"));
    assert!(r.body == bytes(2, SIZE), "the changed copy was served");
    assert_eq!(served.load(Ordering::SeqCst), 2);
    // The new copy's file (a new one, renamed into place) is what the hits read.
    wait_for_files(&dir.0, 1, SIZE as u64);
    hits(2);

    // A client's no-cache refetches; the hits after it read the new file.
    let r = get(p.addr, "/s", "Cache-Control: no-cache\r\n");
    assert!(r.body == bytes(3, SIZE));
    let deadline = Instant::now() + Duration::from_secs(20);
    while hit_when_indexed(&p, "/s").body != bytes(3, SIZE) {
        assert!(Instant::now() < deadline, "the old copy is still served");
        std::thread::sleep(Duration::from_millis(20));
    }
    hits(3);
    assert_eq!(served.load(Ordering::SeqCst), 3);
}
