//! reactor-httpd's handlers over real sockets: static files, validators, ranges, path
//! safety, listings, the status page, and the binary itself (flags, curl).

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use common::{Httpd, TempDir, HTTPD};

use reactor::testing::{serve, Client, TestResponse};
use reactor::{Config, Running, Server};
use reactor_handlers::{DirectoryListing, FsRoot, StaticFiles, StatusPage};

const SECRET: &str = "TOP-SECRET-OUTSIDE-THE-ROOT";

/// The content of `big.bin`: 3 MiB of a simple pseudo-random sequence.
fn big_content() -> Vec<u8> {
    let mut x: u32 = 12345;
    (0..3 * 1024 * 1024)
        .map(|_| {
            x = x.wrapping_mul(1_103_515_245).wrapping_add(12345);
            (x >> 16) as u8
        })
        .collect()
}

/// A site: `<tmp>/outside.txt` (a secret) and `<tmp>/root/` (the document root).
fn site() -> (TempDir, PathBuf) {
    let tmp = TempDir::new("reactor-httpd-test");
    let root = tmp.0.join("root");
    let w = |p: &str, data: &[u8]| {
        let path = root.join(p);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, data).unwrap();
    };
    std::fs::write(tmp.0.join("outside.txt"), SECRET).unwrap();
    w("hello.txt", b"hello world\n");
    w("big.bin", &big_content());
    w("sub/index.html", b"<h1>sub index</h1>");
    w(".secret", SECRET.as_bytes());
    for name in [
        "a b.txt",
        "hash#.txt",
        "q?.txt",
        "pct%.txt",
        "<lt>.txt",
        "café.txt",
        ".hidden",
    ] {
        w(&format!("list/{name}"), name.as_bytes());
    }
    w("list/dir/inner.txt", b"inner");
    w("list/zz-large.txt", &[b'z'; 5000]);
    std::os::unix::fs::symlink(tmp.0.join("outside.txt"), root.join("escape")).unwrap();
    std::os::unix::fs::symlink(&tmp.0, root.join("escape-dir")).unwrap();
    std::os::unix::fs::symlink(root.join("hello.txt"), root.join("inside")).unwrap();
    (tmp, root)
}

fn file_server(root: &Path) -> (Running, std::sync::Arc<reactor::Stats>) {
    let root = FsRoot::new(root).unwrap();
    let server = Server::new(Config::default());
    let stats = server.stats();
    let server = server
        .handler(StatusPage::new("/server-status", stats.clone()))
        .handler(StaticFiles::new(root.clone()))
        .handler(DirectoryListing::new(root));
    (serve(server), stats)
}

fn request(s: &Running, raw: &str) -> TestResponse {
    let mut c = Client::connect(s.local_addr());
    c.send(raw.as_bytes());
    c.response(raw.starts_with("HEAD ")).unwrap()
}

fn get_with(s: &Running, path: &str, headers: &str) -> TestResponse {
    request(
        s,
        &format!("GET {path} HTTP/1.1\r\nHost: t\r\n{headers}\r\n"),
    )
}

#[test]
fn static_file_with_validators() {
    let (_tmp, root) = site();
    let (s, _) = file_server(&root);
    let r = get_with(&s, "/hello.txt", "");
    assert_eq!(r.status, 200);
    assert_eq!(r.body, b"hello world\n");
    assert_eq!(r.header("content-type"), Some("text/plain; charset=utf-8"));
    assert_eq!(r.header("accept-ranges"), Some("bytes"));
    assert!(r.header("etag").is_some_and(|e| e.starts_with('"')));
    assert!(r.header("last-modified").is_some());
    let head = request(&s, "HEAD /hello.txt HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_eq!(head.header("content-length"), Some("12"));
    assert_eq!(head.header("etag"), r.header("etag"));
}

#[test]
fn conditional_requests() {
    let (_tmp, root) = site();
    let (s, _) = file_server(&root);
    let r = get_with(&s, "/hello.txt", "");
    let etag = r.header("etag").unwrap();
    let lm = r.header("last-modified").unwrap();
    let cases = [
        (format!("If-None-Match: {etag}\r\n"), 304),
        (format!("If-None-Match: \"other\", {etag}\r\n"), 304),
        ("If-None-Match: \"other\"\r\n".to_string(), 200),
        (format!("If-Modified-Since: {lm}\r\n"), 304),
        (
            "If-Modified-Since: Thu, 01 Jan 1998 00:00:00 GMT\r\n".to_string(),
            200,
        ),
        ("If-Match: \"other\"\r\n".to_string(), 412),
        (format!("If-Match: {etag}\r\n"), 200),
        (
            "If-Unmodified-Since: Thu, 01 Jan 1998 00:00:00 GMT\r\n".to_string(),
            412,
        ),
    ];
    for (header, want) in cases {
        let r = get_with(&s, "/hello.txt", &header);
        assert_eq!(r.status, want, "{header}");
        if want == 304 {
            assert!(r.body.is_empty());
            assert_eq!(r.header("etag"), Some(etag));
        }
    }
}

#[test]
fn range_requests() {
    let (_tmp, root) = site();
    let (s, _) = file_server(&root);
    let r = get_with(&s, "/hello.txt", "Range: bytes=0-4\r\n");
    assert_eq!((r.status, r.body.as_slice()), (206, &b"hello"[..]));
    assert_eq!(r.header("content-range"), Some("bytes 0-4/12"));
    let r = get_with(&s, "/hello.txt", "Range: bytes=-6\r\n");
    assert_eq!((r.status, r.body.as_slice()), (206, &b"world\n"[..]));
    let r = get_with(&s, "/hello.txt", "Range: bytes=0-1, 6-7\r\n");
    assert_eq!(r.status, 206);
    let ct = r.header("content-type").unwrap();
    let boundary = ct
        .strip_prefix("multipart/byteranges; boundary=")
        .expect(ct);
    let text = r.text();
    assert_eq!(
        text.matches(&format!("--{boundary}\r\n")).count(),
        2,
        "{text}"
    );
    assert!(
        text.contains("Content-Range: bytes 0-1/12\r\n\r\nhe\r\n"),
        "{text}"
    );
    assert!(
        text.contains("Content-Range: bytes 6-7/12\r\n\r\nwo\r\n"),
        "{text}"
    );
    assert!(text.ends_with(&format!("--{boundary}--\r\n")));
    let r = get_with(&s, "/hello.txt", "Range: bytes=100-\r\n");
    assert_eq!(r.status, 416);
    assert_eq!(r.header("content-range"), Some("bytes */12"));
    let etag = get_with(&s, "/hello.txt", "")
        .header("etag")
        .unwrap()
        .to_string();
    let r = get_with(
        &s,
        "/hello.txt",
        &format!("Range: bytes=0-0\r\nIf-Range: {etag}\r\n"),
    );
    assert_eq!((r.status, r.body.as_slice()), (206, &b"h"[..]));
    let r = get_with(
        &s,
        "/hello.txt",
        "Range: bytes=0-0\r\nIf-Range: \"stale\"\r\n",
    );
    assert_eq!((r.status, r.body.len()), (200, 12));
    // A range inside the big file, which is read on the pool in chunks.
    let r = get_with(&s, "/big.bin", "Range: bytes=1000000-1300000\r\n");
    assert_eq!(r.status, 206);
    assert!(r.body == big_content()[1_000_000..=1_300_000]);
}

#[test]
fn large_file_streamed_intact_and_keep_alive_after() {
    let (_tmp, root) = site();
    let (s, _) = file_server(&root);
    let mut c = Client::connect(s.local_addr());
    let r = c.get("/big.bin");
    assert_eq!(r.header("content-type"), Some("application/octet-stream"));
    assert!(r.body == big_content(), "3 MiB body intact");
    assert_eq!(c.get("/hello.txt").body, b"hello world\n");
}

#[test]
fn directories_index_and_redirect() {
    let (_tmp, root) = site();
    let (s, _) = file_server(&root);
    assert_eq!(get_with(&s, "/sub/", "").body, b"<h1>sub index</h1>");
    let r = get_with(&s, "/sub?x=1", "");
    assert_eq!(r.status, 301);
    assert_eq!(r.header("location"), Some("/sub/?x=1"));
    assert!(r.text().contains("301"));
    let r = get_with(&s, "/list/caf%C3%A9.txt", "");
    assert_eq!(r.body, "café.txt".as_bytes());
    let r = get_with(&s, "/list/a%20b.txt", "");
    assert_eq!(r.body, b"a b.txt");
    assert_eq!(get_with(&s, "/nope.txt", "").status, 404);
}

#[test]
fn paths_never_leave_the_root() {
    let (_tmp, root) = site();
    let (s, _) = file_server(&root);
    let hostile = [
        "/../outside.txt",
        "/%2e%2e/outside.txt",
        "/%2E%2E%2Foutside.txt",
        "/..%2foutside.txt",
        "/%252e%252e/outside.txt",
        "/sub/../../outside.txt",
        "/..\\outside.txt",
        "/%5c..%5coutside.txt",
        "/hello.txt%00",
        "/%c0%ae%c0%ae/outside.txt",
        "/escape",
        "/escape-dir/outside.txt",
        "/escape-dir/",
        "/.secret",
        "/./.secret",
        "/sub/..%2f.secret",
        "//../outside.txt",
    ];
    for path in hostile {
        let r = get_with(&s, path, "");
        assert!(
            (400..500).contains(&r.status),
            "{path}: status {}",
            r.status
        );
        assert!(!r.text().contains(SECRET), "{path} leaked the secret");
    }
    assert_eq!(get_with(&s, "/inside", "").body, b"hello world\n");
}

#[test]
fn methods_405_and_options() {
    let (_tmp, root) = site();
    let (s, _) = file_server(&root);
    let r = request(
        &s,
        "POST /hello.txt HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\n\r\n",
    );
    assert_eq!(r.status, 405);
    assert_eq!(r.header("allow"), Some("GET, HEAD, OPTIONS"));
    let r = request(&s, "OPTIONS /hello.txt HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_eq!(r.status, 204);
    assert_eq!(r.header("allow"), Some("GET, HEAD, OPTIONS"));
}

#[test]
fn listing_html_escapes_encodes_and_sorts() {
    let (_tmp, root) = site();
    let (s, _) = file_server(&root);
    let r = get_with(&s, "/list/", "");
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-type"), Some("text/html; charset=utf-8"));
    let html = r.text();
    for (href, text) in [
        ("a%20b.txt", "a b.txt"),
        ("hash%23.txt", "hash#.txt"),
        ("q%3F.txt", "q?.txt"),
        ("pct%25.txt", "pct%.txt"),
        ("%3Clt%3E.txt", "&lt;lt&gt;.txt"),
        ("caf%C3%A9.txt", "café.txt"),
    ] {
        assert!(
            html.contains(&format!("href=\"{href}\"")),
            "{href} in {html}"
        );
        assert!(html.contains(text), "{text}");
    }
    assert!(!html.contains("<lt>"), "names are escaped");
    assert!(!html.contains(".hidden"), "dotfiles are not listed");
    assert!(html.contains("href=\"../\""), "parent link");
    assert!(html.contains("href=\"dir/\""));
    // Size descending puts the 5000-byte file first among files.
    let html = get_with(&s, "/list/?C=S;O=D", "").text();
    let big = html.find("zz-large.txt").unwrap();
    let small = html.find("a%20b.txt").unwrap();
    assert!(big < small, "size descending");
    let html = get_with(&s, "/list/?C=N;O=D", "").text();
    assert!(html.find("q%3F.txt").unwrap() < html.find("a%20b.txt").unwrap());
}

#[test]
fn listing_json() {
    let (_tmp, root) = site();
    let (s, _) = file_server(&root);
    for r in [
        get_with(&s, "/list/?format=json", ""),
        get_with(&s, "/list/", "Accept: application/json\r\n"),
    ] {
        assert_eq!(r.status, 200);
        assert_eq!(r.header("content-type"), Some("application/json"));
        let json = r.text();
        assert!(json.contains("\"name\":\"a b.txt\""), "{json}");
        assert!(json.contains("\"name\":\"dir\""), "{json}");
        assert!(!json.contains(".hidden"));
    }
}

#[test]
fn status_page_counts() {
    let (_tmp, root) = site();
    let (s, stats) = file_server(&root);
    for _ in 0..3 {
        get_with(&s, "/hello.txt", "");
    }
    get_with(&s, "/missing", "");
    let html = get_with(&s, "/server-status", "").text();
    assert!(html.contains("http-equiv=\"refresh\""));
    assert!(html.contains("Active connections"));
    let json = get_with(&s, "/server-status?format=json", "").text();
    let snap = stats.snapshot();
    assert!(json.contains("\"2xx\":4"), "{json}"); // 3 files + the HTML status page
    assert!(json.contains("\"4xx\":1"), "{json}");
    assert!(json.contains("\"active_connections\":1"), "{json}");
    assert_eq!(snap.by_class[3], 1);
}

// ---- the binary ----

fn run_fail(args: &[&str]) -> (i32, String) {
    let out = Command::new(HTTPD).args(args).output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn bad_flags_and_missing_root_exit_2_with_one_line() {
    for args in [
        &["--bogus"][..],
        &["--root"][..],
        &[][..],
        &["--root", "/no/such/dir"][..],
        &["--root", ".", "--port", "notaport"][..],
        &["--root", ".", "--log-level", "loud"][..],
    ] {
        let (code, err) = run_fail(args);
        assert_eq!(code, 2, "{args:?}: {err}");
        assert_eq!(err.lines().count(), 1, "{args:?}: {err}");
        assert!(err.starts_with("reactor-httpd: "), "{err}");
        assert!(!err.contains("panicked"));
    }
    let out = Command::new(HTTPD).arg("--help").output().unwrap();
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("--root DIR"));
}

fn curl(args: &[&str]) -> (String, String) {
    let out = Command::new("curl")
        .args(["-sS", "--max-time", "20"])
        .args(args)
        .output()
        .expect("curl is installed (.ci/run installs it)");
    assert!(
        out.status.success(),
        "curl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn binary_serves_with_curl_keep_alive_http10_and_access_log() {
    let (tmp, root) = site();
    let log = tmp.0.join("access.log");
    let mut h = Httpd::start(
        &root,
        &[
            "--access-log",
            log.to_str().unwrap(),
            "--status",
            "/server-status",
        ],
    );
    let url = |p: &str| format!("http://{}{p}", h.addr);
    let (body, err) = curl(&["-v", &url("/hello.txt"), &url("/hello.txt")]);
    assert_eq!(body, "hello world\nhello world\n");
    assert!(
        err.contains("Re-using existing connection") || err.contains("Reusing existing connection"),
        "{err}"
    );
    let (body, _) = curl(&["-0", &url("/hello.txt")]);
    assert_eq!(body, "hello world\n");
    let (body, _) = curl(&["-r", "0-4", &url("/hello.txt")]);
    assert_eq!(body, "hello");
    let (head, _) = curl(&["-I", &url("/list")]);
    assert!(head.starts_with("HTTP/1.1 301"), "{head}");
    let (listing, _) = curl(&["-L", &url("/list")]);
    assert!(listing.contains("Index of /list/"));
    let saved = tmp.0.join("big.copy");
    curl(&["-o", saved.to_str().unwrap(), &url("/big.bin")]);
    assert!(
        std::fs::read(&saved).unwrap() == big_content(),
        "curl got the big file intact"
    );
    let (status, _) = curl(&[&url("/server-status?format=json")]);
    assert!(status.contains("\"requests\":"), "{status}");
    h.signal(libc::SIGTERM);
    assert_eq!(h.wait_exit(Duration::from_secs(10)), Some(0));
    let log = std::fs::read_to_string(log).unwrap();
    assert!(log.lines().count() >= 8, "{log}");
    assert!(
        log.lines().all(|l| l.starts_with("127.0.0.1 - - [")),
        "{log}"
    );
    assert!(
        log.contains("\"GET /hello.txt HTTP/1.0\" 200 12 \"-\" \"curl/"),
        "{log}"
    );
}

#[test]
fn binary_no_listing_and_workers() {
    let (_tmp, root) = site();
    let h = Httpd::start(&root, &["--no-listing", "--workers", "2"]);
    let out = Command::new("curl")
        .args(["-s", "-o", "/dev/null", "-w", "%{http_code}"])
        .arg(format!("http://{}/list/", h.addr))
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), "404");
    for _ in 0..10 {
        let (body, _) = curl(&[&format!("http://{}/hello.txt", h.addr)]);
        assert_eq!(body, "hello world\n");
    }
}

#[test]
fn sigterm_exits_zero() {
    let (_tmp, root) = site();
    let mut h = Httpd::start(&root, &[]);
    h.signal(libc::SIGTERM);
    assert_eq!(h.wait_exit(Duration::from_secs(10)), Some(0));
}

/// Polls `path` until its body satisfies `ok`, for at most 5 s (caches revalidate every 1 s).
fn eventually(s: &Running, path: &str, ok: impl Fn(&TestResponse) -> bool) -> TestResponse {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    loop {
        let r = get_with(s, path, "");
        if ok(&r) || std::time::Instant::now() > deadline {
            return r;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}

#[test]
fn caches_notice_changes_within_their_validity() {
    let (_tmp, root) = site();
    let (s, _) = file_server(&root);
    assert_eq!(get_with(&s, "/hello.txt", "").body, b"hello world\n");
    assert!(!get_with(&s, "/list/", "").text().contains("fresh.txt"));
    std::fs::write(root.join("hello.txt"), b"changed, and longer\n").unwrap();
    std::fs::write(root.join("list/fresh.txt"), b"new").unwrap();
    let r = eventually(&s, "/hello.txt", |r| r.body == b"changed, and longer\n");
    assert_eq!(r.body, b"changed, and longer\n", "file cache revalidates");
    assert_eq!(r.header("content-length"), Some("20"));
    let r = eventually(&s, "/list/", |r| r.text().contains("fresh.txt"));
    assert!(r.text().contains("fresh.txt"), "listing cache revalidates");
    std::fs::remove_file(root.join("hello.txt")).unwrap();
    assert_eq!(
        eventually(&s, "/hello.txt", |r| r.status == 404).status,
        404
    );
}
