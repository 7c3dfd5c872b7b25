//! Compression in reactor-httpd over real sockets: br, zstd and gzip bodies checked with
//! Python's `brotli`, `zstandard` and `gzip` and with `curl --compressed`; q-values, Vary,
//! variant ETags, HEAD, ranges, types never compressed, precompressed siblings and the
//! flags that turn each off.

mod common;

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::{Duration, SystemTime};

use common::{Httpd, TempDir};
use reactor::testing::{Client, TestResponse};

/// Text that compresses well: `n` numbered lines.
fn text(n: usize) -> Vec<u8> {
    (0..n)
        .map(|i| format!("line {i}: the quick brown fox jumps over the lazy dog\n"))
        .collect::<String>()
        .into_bytes()
}

/// Decodes `data` in `coding` with Python's own modules (a peer implementation).
fn python_decode(coding: &str, data: &[u8]) -> Vec<u8> {
    let module = match coding {
        "br" => "import brotli as m; f = m.decompress",
        "zstd" => "import zstandard as m; f = lambda b: m.ZstdDecompressor().decompressobj().decompress(b)",
        "gzip" => "import gzip as m; f = m.decompress",
        other => panic!("{other}"),
    };
    let script =
        format!("import sys; {module}; sys.stdout.buffer.write(f(sys.stdin.buffer.read()))");
    let mut child = Command::new("python3")
        .args(["-c", &script])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("python3");
    child.stdin.take().unwrap().write_all(data).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "python could not decode {coding}");
    out.stdout
}

fn request(h: &Httpd, method: &str, path: &str, headers: &str) -> TestResponse {
    let mut c = Client::connect(h.addr);
    c.send(format!("{method} {path} HTTP/1.1\r\nHost: t\r\n{headers}\r\n").as_bytes());
    c.response(method == "HEAD").expect("response")
}

fn site() -> TempDir {
    let tmp = TempDir::new("site-compress");
    let w = |p: &str, data: &[u8]| std::fs::write(tmp.join(p), data).unwrap();
    w("page.html", &text(100));
    w("big.txt", &text(60_000)); // ~3.3 MB: streamed, not cached
    w("tiny.txt", b"small\n");
    w("image.png", &text(100));
    w("app.js", &text(50));
    w("old.js", &text(50));
    tmp
}

/// Writes a precompressed sibling with `content` as its (gzip) body.
fn gz_sibling(path: &std::path::Path, content: &[u8]) {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(content).unwrap();
    std::fs::write(path, e.finish().unwrap()).unwrap();
}

#[test]
fn each_coding_decodes_to_the_file_with_its_own_etag() {
    let tmp = site();
    let h = Httpd::start(&tmp.0, &[]);
    let plain = request(&h, "GET", "/page.html", "");
    assert_eq!(plain.status, 200);
    assert_eq!(plain.header("content-encoding"), None);
    assert_eq!(plain.header("vary"), Some("Accept-Encoding"));
    let identity_etag = plain.header("etag").unwrap().to_string();
    for coding in ["br", "zstd", "gzip"] {
        let ae = format!("Accept-Encoding: {coding}\r\n");
        let first = request(&h, "GET", "/page.html", &ae);
        assert_eq!(first.status, 200);
        assert_eq!(first.header("content-encoding"), Some(coding));
        assert_eq!(first.header("vary"), Some("Accept-Encoding"));
        assert_eq!(python_decode(coding, &first.body), text(100), "{coding}");
        let etag = first.header("etag").unwrap().to_string();
        let want = format!("{}-{coding}\"", identity_etag.trim_end_matches('"'));
        assert_eq!(etag, want);
        // The variant is now cached: a length, the same bytes, and HEAD agrees with GET.
        let second = request(&h, "GET", "/page.html", &ae);
        assert_eq!(second.body, first.body);
        assert_eq!(
            second.header("content-length"),
            Some(first.body.len().to_string().as_str())
        );
        let head = request(&h, "HEAD", "/page.html", &ae);
        for name in [
            "content-length",
            "content-encoding",
            "etag",
            "vary",
            "content-type",
        ] {
            assert_eq!(head.header(name), second.header(name), "{name}");
        }
        // Conditional requests work against the variant's own tag.
        let inm = format!("{ae}If-None-Match: {etag}\r\n");
        let not_modified = request(&h, "GET", "/page.html", &inm);
        assert_eq!(not_modified.status, 304);
        assert_eq!(not_modified.header("etag"), Some(etag.as_str()));
        assert_eq!(not_modified.header("vary"), Some("Accept-Encoding"));
    }
}

#[test]
fn q_values_ranges_small_files_and_images() {
    let tmp = site();
    let h = Httpd::start(&tmp.0, &[]);
    let pick = |ae: &str| {
        let r = request(
            &h,
            "GET",
            "/page.html",
            &format!("Accept-Encoding: {ae}\r\n"),
        );
        r.header("content-encoding").map(str::to_owned)
    };
    assert_eq!(pick("gzip, br").as_deref(), Some("br"));
    assert_eq!(pick("gzip;q=1, br;q=0.5").as_deref(), Some("gzip"));
    assert_eq!(pick("br;q=0, zstd;q=0, gzip;q=0"), None);
    assert_eq!(pick("identity"), None);
    assert_eq!(pick("*;q=0.1, br;q=0").as_deref(), Some("zstd"));

    let range = request(
        &h,
        "GET",
        "/page.html",
        "Accept-Encoding: br\r\nRange: bytes=0-9\r\n",
    );
    assert_eq!(range.status, 206);
    assert_eq!(range.header("content-encoding"), None);
    assert_eq!(range.body, &text(100)[..10]);

    let tiny = request(&h, "GET", "/tiny.txt", "Accept-Encoding: br\r\n");
    assert_eq!(tiny.header("content-encoding"), None, "under 1 KiB");
    assert_eq!(tiny.header("vary"), Some("Accept-Encoding"));

    let png = request(&h, "GET", "/image.png", "Accept-Encoding: br, gzip\r\n");
    assert_eq!(
        png.header("content-encoding"),
        None,
        "images are never compressed"
    );
    assert_eq!(png.header("vary"), None);
}

#[test]
fn big_files_stream_and_curl_decodes_every_coding() {
    let tmp = site();
    let h = Httpd::start(&tmp.0, &[]);
    let r = request(&h, "GET", "/big.txt", "Accept-Encoding: gzip\r\n");
    assert_eq!(r.header("content-encoding"), Some("gzip"));
    assert_eq!(r.header("transfer-encoding"), Some("chunked"));
    assert!(r.body.len() < text(60_000).len() / 5);
    assert_eq!(python_decode("gzip", &r.body), text(60_000));
    for coding in ["br", "zstd", "gzip"] {
        let out = Command::new("curl")
            .args(["-sS", "--compressed", "-H"])
            .arg(format!("Accept-Encoding: {coding}"))
            .arg("-D-")
            .arg(format!("http://{}/big.txt", h.addr))
            .output()
            .unwrap();
        assert!(out.status.success(), "curl {coding}");
        let all = out.stdout;
        let split = all.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
        let head = String::from_utf8_lossy(&all[..split]).to_ascii_lowercase();
        assert!(
            head.contains(&format!("content-encoding: {coding}")),
            "{head}"
        );
        assert_eq!(&all[split..], &text(60_000)[..], "curl decoded {coding}");
    }
}

/// 24 MiB of hexadecimal noise: compresses only by about half, so its stream outruns a
/// client that does not read, and the encoder must pause and resume.
fn noise() -> Vec<u8> {
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    (0..24 * 1024 * 1024)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            b"0123456789abcdef"[(x & 15) as usize]
        })
        .collect()
}

#[test]
fn a_slow_reader_gets_the_whole_stream() {
    let tmp = site();
    std::fs::write(tmp.join("noise.txt"), noise()).unwrap();
    let h = Httpd::start(&tmp.0, &[]);
    let mut c = Client::connect(h.addr);
    c.send(b"GET /noise.txt HTTP/1.1\r\nHost: t\r\nAccept-Encoding: zstd\r\n\r\n");
    // Not reading lets the socket buffers and the stream's queue fill: the job parks.
    std::thread::sleep(Duration::from_millis(500));
    let r = c.response(false).unwrap();
    assert_eq!(r.header("content-encoding"), Some("zstd"));
    assert_eq!(python_decode("zstd", &r.body), noise());
    // The connection is still good for the next request.
    assert_eq!(c.get("/tiny.txt").body, b"small\n");
}

#[test]
fn precompressed_siblings_are_preferred_unless_older_or_turned_off() {
    let tmp = site();
    gz_sibling(&tmp.join("app.js.gz"), b"from the sibling\n");
    gz_sibling(&tmp.join("old.js.gz"), b"stale sibling\n");
    let past = SystemTime::now() - Duration::from_secs(3600);
    std::fs::File::options()
        .write(true)
        .open(tmp.join("old.js.gz"))
        .unwrap()
        .set_modified(past)
        .unwrap();
    let h = Httpd::start(&tmp.0, &[]);
    let r = request(&h, "GET", "/app.js", "Accept-Encoding: gzip, br\r\n");
    assert_eq!(
        r.header("content-encoding"),
        Some("gzip"),
        "the sibling wins"
    );
    assert_eq!(python_decode("gzip", &r.body), b"from the sibling\n");
    let old = request(&h, "GET", "/old.js", "Accept-Encoding: gzip\r\n");
    assert_eq!(
        python_decode("gzip", &old.body),
        text(50),
        "older sibling ignored"
    );

    let no_fly = Httpd::start(&tmp.0, &["--no-compress"]);
    let r = request(&no_fly, "GET", "/app.js", "Accept-Encoding: gzip, br\r\n");
    assert_eq!(python_decode("gzip", &r.body), b"from the sibling\n");
    let r = request(
        &no_fly,
        "GET",
        "/page.html",
        "Accept-Encoding: gzip, br\r\n",
    );
    assert_eq!(r.header("content-encoding"), None, "--no-compress");

    let no_pre = Httpd::start(&tmp.0, &["--no-precompressed"]);
    let r = request(&no_pre, "GET", "/app.js", "Accept-Encoding: gzip\r\n");
    assert_eq!(
        python_decode("gzip", &r.body),
        text(50),
        "--no-precompressed"
    );
}
