//! Heap allocations per request on the server's threads, counted by a global allocator,
//! over 10,000 keep-alive requests of each kind: a cached small file, a 404, a range, a
//! 304 and a (cached) directory listing. The client's own thread is not counted.
//!
//! The figures are printed (`cargo test --release -p reactor-bins --test allocations --
//! --nocapture`). A cached GET and a 304 allocate nothing: the core recycles request
//! heads and response head buffers, responses lend their header list to the next one on
//! the thread (`core/src/spare.rs`) and keep a body's first part inline, the cache entry's header values are
//! shared (`HeaderValue::shared`), and a path already in normal form is looked up without
//! being resolved. The others keep a few, bounded here at today's figures plus one:
//! - range (3): the parsed range list, the `Content-Range` value, the copy of the range;
//! - 404 and listing (8 each): both look on disk on the blocking pool (nothing cached
//!   says a file is missing, and a directory first looks for its index file): resolving
//!   the path, the job sent to the pool and what it carries, the listing's HTML.
//!
//! Then 1,000 connections, each served once and left open, must hold no heap memory:
//! an idle connection is its slot in the reactor's slab and nothing else.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};

use reactor::testing::{serve, Client};
use reactor::{Config, Server};
use reactor_handlers::{DirectoryListing, FsRoot, StaticFiles};

mod common;

/// Counts every allocation (and reallocation) made outside a thread marked `quiet`, and
/// the bytes those threads hold.
struct Counting;

static ALLOCATIONS: AtomicU64 = AtomicU64::new(0);
static LIVE_BYTES: AtomicI64 = AtomicI64::new(0);

thread_local! {
    static QUIET: Cell<bool> = const { Cell::new(false) };
}

/// Counts an allocation (`allocates`) and a change of `grown` bytes held.
fn count(allocates: bool, grown: usize, shrunk: usize) {
    if !QUIET.try_with(Cell::get).unwrap_or(false) {
        if allocates {
            ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        }
        LIVE_BYTES.fetch_add(grown as i64 - shrunk as i64, Ordering::Relaxed);
    }
}

// SAFETY: every method forwards to the system allocator unchanged; counting touches only
// an atomic and a const-initialised thread-local (neither allocates).
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count(true, layout.size(), 0);
        System.alloc(layout)
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        count(true, layout.size(), 0);
        System.alloc_zeroed(layout)
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count(true, new_size, layout.size());
        System.realloc(ptr, layout, new_size)
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        count(false, 0, layout.size());
        System.dealloc(ptr, layout)
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

const REQUESTS: u64 = 10_000;

/// Allocations per request on the server while one keep-alive client sends `raw`
/// `REQUESTS` times, each answer checked for `status`.
fn per_request(client: &mut Client, raw: &str, status: u16) -> f64 {
    for _ in 0..100 {
        client.send(raw.as_bytes()); // warm-up: caches filled, buffers grown
        assert_eq!(client.response(false).unwrap().status, status, "{raw}");
    }
    let before = ALLOCATIONS.load(Ordering::Relaxed);
    for _ in 0..REQUESTS {
        client.send(raw.as_bytes());
        assert_eq!(client.response(false).unwrap().status, status, "{raw}");
    }
    (ALLOCATIONS.load(Ordering::Relaxed) - before) as f64 / REQUESTS as f64
}

#[test]
fn allocations_per_request_stay_within_todays_figures() {
    let tmp = common::TempDir::new("reactor-alloc-test");
    std::fs::write(tmp.join("small.txt"), [b'x'; 1024]).unwrap();
    std::fs::create_dir(tmp.join("dir")).unwrap();
    for i in 0..20 {
        std::fs::write(tmp.join(&format!("dir/f{i}.txt")), b"x").unwrap();
    }
    let root = FsRoot::new(&tmp.0).unwrap();
    let server = Server::new(Config::default())
        .handler(StaticFiles::new(root.clone()))
        .handler(DirectoryListing::new(root));
    let running = serve(server);
    QUIET.with(|q| q.set(true)); // this thread is the client: its allocations do not count
    let mut client = Client::connect(running.local_addr());
    let etag = client.get("/small.txt").header("etag").unwrap().to_owned();

    let get = "GET /small.txt HTTP/1.1\r\nHost: t\r\n\r\n";
    let missing = "GET /missing.txt HTTP/1.1\r\nHost: t\r\n\r\n";
    let range = "GET /small.txt HTTP/1.1\r\nHost: t\r\nRange: bytes=0-99\r\n\r\n";
    let not_modified =
        format!("GET /small.txt HTTP/1.1\r\nHost: t\r\nIf-None-Match: {etag}\r\n\r\n");
    let listing = "GET /dir/ HTTP/1.1\r\nHost: t\r\n\r\n";
    // (kind, request, status, bound): at most 100 allocations in 10,000 requests for the
    // two that allocate nothing (a timer tick or a log line); today's figure plus one for
    // the others.
    let cases: [(&str, &str, u16, f64); 5] = [
        ("GET, cached 1 KB file", get, 200, 0.01),
        ("404", missing, 404, 9.0),
        ("range", range, 206, 4.0),
        ("304", &not_modified, 304, 0.01),
        ("listing (cached)", listing, 200, 9.0),
    ];
    let mut failures = Vec::new();
    for (kind, raw, status, bound) in cases {
        let n = per_request(&mut client, raw, status);
        println!("allocations per request, {kind}: {n:.4} (bound {bound})");
        if n > bound {
            failures.push(format!("{kind}: {n:.2} > {bound}"));
        }
    }

    // Connections served once and left open: an idle connection holds no heap memory
    // (its read buffer, head buffer and write queue went back to the reactor's spares).
    let addr = running.local_addr();
    let mut idle = Vec::new();
    let open_one = || {
        let mut c = Client::connect(addr);
        assert_eq!(c.get("/small.txt").status, 200);
        c
    };
    for _ in 0..100 {
        idle.push(open_one()); // warm-up: the spare lists filled
    }
    std::thread::sleep(std::time::Duration::from_millis(200));
    let before = LIVE_BYTES.load(Ordering::Relaxed);
    for _ in 0..IDLE {
        idle.push(open_one());
    }
    std::thread::sleep(std::time::Duration::from_millis(200));
    let held = (LIVE_BYTES.load(Ordering::Relaxed) - before) as f64 / IDLE as f64;
    println!("heap bytes held per idle connection: {held:.1} (bound 8)");
    if held > 8.0 {
        failures.push(format!("idle connection: {held:.1} heap bytes > 8"));
    }
    assert!(failures.is_empty(), "{failures:?}");
}

/// Idle connections opened for the held-memory check.
const IDLE: i64 = 1000;
