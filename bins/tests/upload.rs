//! `reactor-httpd --upload` over real sockets, with curl, Python's http.client and raw TCP:
//! PUT small and big (byte for byte), a 2 GiB PUT streamed from a generator with the
//! server's RSS read from /proc, cut uploads that leave nothing behind, a three-file
//! multipart form, traversal attempts in paths and file names, 409 without --overwrite,
//! --max-upload's 413 (up front and mid-stream), uploads off by default, and per-site
//! `upload = true` in the config file.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use common::{Httpd, TempDir};

/// A scratch dir with the document root `www/` (with `www/sub/`) inside, so that files
/// escaping the root would show up next to it.
fn site() -> TempDir {
    let tmp = TempDir::new("upload");
    std::fs::create_dir_all(tmp.join("www/sub")).unwrap();
    std::fs::write(tmp.join("www/sub/old.txt"), "old").unwrap();
    tmp
}

/// Every path under `dir` (relative, sorted), hidden ones included.
fn tree(dir: &Path) -> Vec<String> {
    fn walk(base: &Path, dir: &Path, out: &mut Vec<String>) {
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            out.push(p.strip_prefix(base).unwrap().display().to_string());
            if p.is_dir() {
                walk(base, &p, out);
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, dir, &mut out);
    out.sort();
    out
}

/// Bytes that are not text: every value, CRLFs and a would-be boundary among them.
fn payload(len: usize, seed: u32) -> Vec<u8> {
    let mut x = seed.wrapping_mul(2_654_435_761).max(1);
    let mut v: Vec<u8> = (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            x as u8
        })
        .collect();
    if len > 64 {
        v[10..40].copy_from_slice(b"\r\n--reactor-test-boundary-7f\r\n");
    }
    v
}

/// curl with `args`; its stdout (with `-w` output) as text.
fn curl(args: &[&str]) -> String {
    let out = Command::new("curl")
        .args(["-sS", "--max-time", "120"])
        .args(args)
        .output()
        .expect("curl");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// curl -T `src` to `url` (with `extra` flags): the status code.
fn curl_put(src: &Path, url: &str, extra: &[&str]) -> String {
    let mut args = vec![
        "-T",
        src.to_str().unwrap(),
        "-w",
        "%{http_code}",
        "-o",
        "/dev/null",
    ];
    args.extend_from_slice(extra);
    args.push(url);
    curl(&args)
}

/// The Python http.client peer: (status, Location or "-").
fn python(args: &[&str]) -> (u16, String) {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/upload_client.py");
    let out = Command::new("python3")
        .arg(script)
        .args(args)
        .output()
        .expect("python3");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let mut lines = text.lines();
    let status = lines.next().and_then(|s| s.parse().ok());
    let status = status.unwrap_or_else(|| {
        panic!("{text} {}", String::from_utf8_lossy(&out.stderr));
    });
    (status, lines.next().unwrap_or("").to_owned())
}

fn url(h: &Httpd, path: &str) -> String {
    format!("http://{}{path}", h.addr)
}

/// Waits (up to 10 s) until `done` holds; false if it never did.
fn eventually(mut done: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(10) {
        if done() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    false
}

#[test]
fn put_small_and_big_with_curl_then_409_without_overwrite() {
    let tmp = site();
    let h = Httpd::start(&tmp.join("www"), &["--upload"]);
    let small = tmp.join("small.bin");
    std::fs::write(&small, payload(1000, 1)).unwrap();
    let head = curl(&[
        "-T",
        small.to_str().unwrap(),
        "-D",
        "-",
        "-o",
        "/dev/null",
        &url(&h, "/sub/a%20b.bin"),
    ]);
    assert!(head.contains("HTTP/1.1 201 Created\r\n"), "{head}");
    assert!(head.contains("Location: /sub/a%20b.bin\r\n"), "{head}");
    assert_eq!(
        std::fs::read(tmp.join("www/sub/a b.bin")).unwrap(),
        payload(1000, 1)
    );
    // Big: curl sends Expect: 100-continue and waits for it.
    let big = tmp.join("big.bin");
    std::fs::write(&big, payload(48 << 20, 2)).unwrap();
    let out = curl_put(&big, &url(&h, "/big.bin"), &[]);
    assert_eq!(out, "201");
    let stored = std::fs::read(tmp.join("www/big.bin")).unwrap();
    assert!(stored == payload(48 << 20, 2), "the big file differs");
    // The same name again: 409, and the file is untouched.
    let out = curl_put(&small, &url(&h, "/big.bin"), &[]);
    assert_eq!(out, "409");
    assert_eq!(
        std::fs::metadata(tmp.join("www/big.bin")).unwrap().len(),
        48 << 20
    );
    // GET serves what was uploaded.
    let got = curl(&[
        "-w",
        "%{http_code} %{size_download}",
        "-o",
        "/dev/null",
        &url(&h, "/big.bin"),
    ]);
    assert_eq!(got, format!("200 {}", 48 << 20));
    let want = ["big.bin", "sub", "sub/a b.bin", "sub/old.txt"];
    assert_eq!(tree(&tmp.join("www")), want, "no temporary file is left");
}

#[test]
fn overwrite_replaces_with_204() {
    let tmp = site();
    let h = Httpd::start(&tmp.join("www"), &["--upload", "--overwrite"]);
    let new = tmp.join("new.txt");
    std::fs::write(&new, "new content").unwrap();
    assert_eq!(curl_put(&new, &url(&h, "/sub/old.txt"), &[]), "204");
    assert_eq!(
        std::fs::read_to_string(tmp.join("www/sub/old.txt")).unwrap(),
        "new content"
    );
    // A directory is never replaced.
    assert_eq!(curl_put(&new, &url(&h, "/sub"), &[]), "409");
    assert!(tmp.join("www/sub").is_dir());
}

/// Sends a PUT head and part of its body, checks that the part went to a hidden temporary
/// file, closes, and checks that nothing is left.
fn cut(h: &Httpd, www: &Path, head: &str, part: &[u8]) {
    let mut s = TcpStream::connect(h.addr).unwrap();
    s.write_all(head.as_bytes()).unwrap();
    s.write_all(part).unwrap();
    let temp_written = eventually(|| {
        tree(www).iter().any(|p| {
            let name = p.rsplit('/').next().unwrap_or(p);
            name.starts_with(".cut.bin.upload-")
                && std::fs::metadata(www.join(p)).is_ok_and(|m| m.len() > 0)
        })
    });
    assert!(
        temp_written,
        "the body goes to a temporary file: {:?}",
        tree(www)
    );
    drop(s);
    let clean = eventually(|| tree(www) == ["sub", "sub/old.txt"]);
    assert!(clean, "a cut upload leaves nothing: {:?}", tree(www));
}

#[test]
fn a_cut_upload_leaves_no_file_and_no_temporary_file() {
    let tmp = site();
    let www = tmp.join("www");
    let h = Httpd::start(&www, &["--upload"]);
    let head = "PUT /sub/cut.bin HTTP/1.1\r\nHost: t\r\nContent-Length: 10000000\r\n\r\n";
    cut(&h, &www, head, &payload(3 << 20, 3));
    let chunked = "PUT /sub/cut.bin HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n";
    let mut part = format!("{:x}\r\n", 1 << 20).into_bytes();
    part.extend_from_slice(&payload(1 << 20, 4));
    part.extend_from_slice(b"\r\n");
    cut(&h, &www, chunked, &part);
    // A form cut in its second file: the first, complete, is not stored either.
    let boundary = "cutcutcut";
    let form = format!(
        "POST /sub/ HTTP/1.1\r\nHost: t\r\nContent-Type: multipart/form-data; boundary={boundary}\r\n\
         Content-Length: 100000000\r\n\r\n"
    );
    let mut body = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"f\"; filename=\"first.bin\"\r\n\r\n"
    )
    .into_bytes();
    body.extend_from_slice(&payload(1 << 20, 5));
    body.extend_from_slice(
        format!("\r\n--{boundary}\r\nContent-Disposition: form-data; name=\"f\"; filename=\"cut.bin\"\r\n\r\n")
            .as_bytes(),
    );
    body.extend_from_slice(&payload(2 << 20, 6));
    cut(&h, &www, &form, &body);
}

#[test]
fn multipart_three_files_byte_for_byte_then_303_to_the_listing() {
    let tmp = site();
    let h = Httpd::start(&tmp.join("www"), &["--upload"]);
    // Cache the listing first: the upload must make it show the new files.
    let listing = curl(&[&url(&h, "/sub/")]);
    assert!(
        listing.contains("enctype=\"multipart/form-data\""),
        "{listing}"
    );
    assert!(
        listing.contains("<input type=\"file\" name=\"file\" multiple"),
        "{listing}"
    );
    let sizes = [0usize, 3 << 20, 70_001];
    let names = ["empty.bin", "three MB.bin", "ünïcode <&>.dat"];
    let mut args = vec!["form".to_string(), h.addr.to_string(), "/sub/".into()];
    for (i, (size, name)) in sizes.iter().zip(names).enumerate() {
        let src = tmp.join(&format!("src{i}"));
        std::fs::write(&src, payload(*size, 10 + i as u32)).unwrap();
        args.push(format!("{name}={}", src.display()));
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    assert_eq!(python(&args), (303, "/sub/".into()));
    for (i, (size, name)) in sizes.iter().zip(names).enumerate() {
        let got = std::fs::read(tmp.join("www/sub").join(name)).unwrap();
        assert!(got == payload(*size, 10 + i as u32), "{name} differs");
    }
    let listing = curl(&[&url(&h, "/sub/")]);
    assert!(listing.contains("three%20MB.bin"), "{listing}");
    assert!(
        listing.contains("ünïcode &lt;&amp;&gt;.dat"),
        "escaped: {listing}"
    );
    let mut want = vec!["sub".to_string(), "sub/old.txt".into()];
    want.extend(names.iter().map(|n| format!("sub/{n}")));
    want.sort();
    assert_eq!(tree(&tmp.join("www")), want);
    // One name taken already: 409 and none of the form's files is stored.
    let src = tmp.join("src0");
    let fresh = format!("fresh.bin={}", src.display());
    let taken = format!("old.txt={}", src.display());
    let (status, _) = python(&["form", &h.addr.to_string(), "/sub/", &fresh, &taken]);
    assert_eq!(status, 409);
    assert_eq!(tree(&tmp.join("www")), want);
    // More than 1,000 files in one form: 413, and none is stored.
    let mut body = String::new();
    for i in 0..1001 {
        body += &format!(
            "--b\r\nContent-Disposition: form-data; name=\"f\"; filename=\"f{i}\"\r\n\r\nx\r\n"
        );
    }
    body += "--b--\r\n";
    let mut s = TcpStream::connect(h.addr).unwrap();
    let head = format!(
        "POST /sub/ HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\
         Content-Type: multipart/form-data; boundary=b\r\n\
         Content-Length: {}\r\n\r\n",
        body.len()
    );
    s.write_all(head.as_bytes()).unwrap();
    let _ = s.write_all(body.as_bytes()); // the server may answer and close first
    let mut answer = String::new();
    let _ = s.read_to_string(&mut answer);
    assert!(answer.starts_with("HTTP/1.1 413 "), "{answer}");
    assert!(eventually(|| tree(&tmp.join("www")) == want));
    // To a directory that does not exist: 404.
    let (status, _) = python(&["form", &h.addr.to_string(), "/nope/", &fresh]);
    assert_eq!(status, 404);
    assert_eq!(tree(&tmp.join("www")), want);
}

#[test]
fn traversal_in_put_paths_and_form_names_is_refused_and_creates_nothing() {
    let tmp = site();
    let h = Httpd::start(&tmp.join("www"), &["--upload", "--dotfiles"]);
    let src = tmp.join("evil");
    std::fs::write(&src, "evil").unwrap();
    let before = tree(&tmp.0);
    let addr = h.addr.to_string();
    let src_s = src.to_str().unwrap();
    for target in [
        "/../evil.txt",
        "/sub/../../evil.txt",
        "/%2e%2e/evil.txt",
        "/%2E%2E%2Fevil.txt",
        "/sub%2F..%2F..%2Fevil.txt",
        "/sub%2fevil.txt",
        "/sub%5cevil.txt",
        "/.evil",
        "/sub/.htaccess",
        "/.sub/x",
        "/sub/%00evil",
        "/sub/evil%0d%0a.txt",
        "/C:/evil.txt",
        "evil.txt",
    ] {
        let (status, _) = python(&["put", &addr, target, src_s]);
        assert!([400, 403].contains(&status), "PUT {target}: {status}");
    }
    for name in [
        "../evil.txt",
        "..",
        ".",
        "sub/evil.txt",
        "/etc/evil.txt",
        "..\\evil.txt",
        "C:",
        ".htaccess",
        "evil\u{1}.txt",
    ] {
        let part = format!("{name}={src_s}");
        let (status, _) = python(&["form", &addr, "/sub/", &part]);
        assert!([400, 403].contains(&status), "filename {name:?}: {status}");
    }
    assert_eq!(tree(&tmp.0), before, "nothing was created anywhere");
}

#[test]
fn max_upload_413_up_front_and_mid_stream() {
    let tmp = site();
    let www = tmp.join("www");
    let h = Httpd::start(&www, &["--upload", "--max-upload", "100000"]);
    // Content-Length over the limit: 413 at once, and no 100 Continue before it.
    let mut s = TcpStream::connect(h.addr).unwrap();
    s.write_all(
        b"PUT /x.bin HTTP/1.1\r\nHost: t\r\nContent-Length: 100001\r\nExpect: 100-continue\r\n\r\n",
    )
    .unwrap();
    let mut answer = String::new();
    s.read_to_string(&mut answer).unwrap();
    assert!(answer.starts_with("HTTP/1.1 413 "), "{answer}");
    // Chunked (no length up front): 413 once past the limit; nothing is left.
    let src = tmp.join("src");
    std::fs::write(&src, payload(300_000, 7)).unwrap();
    let out = curl_put(
        &src,
        &url(&h, "/x.bin"),
        &["-H", "Transfer-Encoding: chunked"],
    );
    assert_eq!(out, "413");
    assert!(
        eventually(|| tree(&www) == ["sub", "sub/old.txt"]),
        "{:?}",
        tree(&www)
    );
    // At the limit: fine.
    std::fs::write(&src, payload(100_000, 7)).unwrap();
    let out = curl_put(&src, &url(&h, "/x.bin"), &[]);
    assert_eq!(out, "201");
}

#[test]
fn uploads_are_off_by_default_and_per_site_in_the_config_file() {
    let tmp = site();
    let h = Httpd::start(&tmp.join("www"), &[]);
    let src = tmp.join("src");
    std::fs::write(&src, "data").unwrap();
    let put = |h: &Httpd, host: &str| {
        let host = format!("Host: {host}");
        curl(&[
            "-T",
            src.to_str().unwrap(),
            "-H",
            &host,
            "-D",
            "-",
            "-o",
            "/dev/null",
            &url(h, "/sub/new.txt"),
        ])
    };
    let head = put(&h, "t");
    assert!(head.contains("HTTP/1.1 405 "), "{head}");
    assert!(head.contains("Allow: GET, HEAD, OPTIONS\r\n"), "{head}");
    assert!(
        !curl(&[&url(&h, "/sub/")]).contains("<form"),
        "no form without --upload"
    );
    drop(h);
    std::fs::create_dir_all(tmp.join("other/sub")).unwrap();
    let config = tmp.join("site.toml");
    let text = "[[site]]\nhost = \"up.test\"\nroot = \"www\"\nupload = true\nmax_upload = 3\n\n\
         [[site]]\nhost = \"ro.test\"\nroot = \"other\"\n";
    std::fs::write(&config, text).unwrap();
    let h = Httpd::start(&tmp.join("www"), &["--config", config.to_str().unwrap()]);
    assert!(put(&h, "ro.test").contains("HTTP/1.1 405 "));
    assert!(
        put(&h, "up.test").starts_with("HTTP/1.1 413 "), // no 100 Continue before it
        "max_upload = 3"
    );
    std::fs::write(&src, "abc").unwrap();
    assert!(put(&h, "up.test").contains("HTTP/1.1 201 "));
    assert_eq!(
        std::fs::read_to_string(tmp.join("www/sub/new.txt")).unwrap(),
        "abc"
    );
    assert!(!tmp.join("other/sub/new.txt").exists());
}

#[test]
fn put_conflicts_missing_directories_and_directory_paths() {
    let tmp = site();
    let h = Httpd::start(&tmp.join("www"), &["--upload"]);
    let src = tmp.join("src");
    std::fs::write(&src, "data").unwrap();
    let status = |path: &str| curl_put(&src, &url(&h, path), &[]);
    assert_eq!(status("/nope/x.txt"), "409", "missing parent (as WebDAV)");
    assert_eq!(status("/sub/old.txt/x"), "409", "a file as parent");
    assert_eq!(status("/sub"), "409", "a directory's name");
    let (code, _) = python(&["put", &h.addr.to_string(), "/sub/", src.to_str().unwrap()]);
    assert_eq!(code, 405, "PUT to a directory path");
    let head = curl(&["-X", "OPTIONS", "-D", "-", "-o", "/dev/null", &url(&h, "/")]);
    assert!(
        head.contains("Allow: GET, HEAD, OPTIONS, PUT, POST\r\n"),
        "{head}"
    );
    let ct = curl(&[
        "-d",
        "a=1",
        "-w",
        "%{http_code}",
        "-o",
        "/dev/null",
        &url(&h, "/sub/"),
    ]);
    assert_eq!(ct, "415", "a form that is not multipart");
    assert_eq!(tree(&tmp.join("www")), ["sub", "sub/old.txt"]);
}

/// A reader of `len` generated bytes, never stored anywhere.
struct Generated {
    left: u64,
    block: Vec<u8>,
    at: usize,
}

impl Read for Generated {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = (buf.len() as u64)
            .min(self.left)
            .min((self.block.len() - self.at) as u64) as usize;
        buf[..n].copy_from_slice(&self.block[self.at..self.at + n]);
        self.at = (self.at + n) % self.block.len();
        self.left -= n as u64;
        Ok(n)
    }
}

#[test]
fn two_gigabytes_put_streamed_with_bounded_server_memory() {
    const TOTAL: u64 = 2 << 30;
    let tmp = site();
    let www = tmp.join("www");
    let h = Httpd::start(&www, &["--upload"]);
    assert_eq!(h.get("/sub/old.txt").status, 200); // buffers in use once
    let (rss_before, hwm_before) = (h.rss_kib(), h.peak_rss_kib());
    let mut s = TcpStream::connect(h.addr).unwrap();
    let head = format!(
        "PUT /huge.bin HTTP/1.1\r\nHost: t\r\nContent-Length: {TOTAL}\r\nConnection: close\r\n\r\n"
    );
    s.write_all(head.as_bytes()).unwrap();
    let block = payload(1 << 20, 9);
    let mut body = Generated {
        left: TOTAL,
        block: block.clone(),
        at: 0,
    };
    let mut rss_max = 0;
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = body.read(&mut buf).unwrap();
        if n == 0 {
            break;
        }
        s.write_all(&buf[..n]).unwrap();
        if body.left.is_multiple_of(64 << 20) {
            rss_max = rss_max.max(h.rss_kib());
        }
    }
    let mut answer = String::new();
    s.read_to_string(&mut answer).unwrap();
    assert!(answer.starts_with("HTTP/1.1 201 "), "{answer}");
    let grew = h.peak_rss_kib().saturating_sub(hwm_before);
    eprintln!(
        "2 GiB PUT: server VmRSS {rss_before} KiB before, at most {rss_max} KiB while \
         streaming; VmHWM {hwm_before} KiB -> +{grew} KiB"
    );
    assert!(grew < 16 * 1024, "the server's peak RSS grew by {grew} KiB");
    // Byte for byte, read back block by block (the file is removed with the scratch dir).
    let path: PathBuf = www.join("huge.bin");
    assert_eq!(std::fs::metadata(&path).unwrap().len(), TOTAL);
    let mut f = std::fs::File::open(&path).unwrap();
    for i in 0..TOTAL / block.len() as u64 {
        f.read_exact(&mut buf).unwrap();
        assert!(buf == block, "block {i} differs");
    }
    std::fs::remove_file(&path).unwrap();
    assert_eq!(tree(&www), ["sub", "sub/old.txt"]);
}

#[test]
fn a_router_passes_streamed_bodies_on_to_the_upload_handler() {
    use reactor::testing::serve;
    use reactor::{Config, Server};
    use reactor_handlers::upload::Upload;
    use reactor_handlers::{FsRoot, Router};

    let tmp = site();
    std::fs::create_dir_all(tmp.join("www/files")).unwrap();
    let upload = Upload::new(FsRoot::new(tmp.join("www")).unwrap());
    let router = Router::new().handler("PUT", "/files/*rest", upload);
    let srv = serve(Server::new(Config::default()).handler(router));
    // 3 MiB: over the default --max-body, so only a streamed body gets through.
    let src = tmp.join("src");
    std::fs::write(&src, payload(3 << 20, 8)).unwrap();
    let to = format!("http://{}/files/three.bin", srv.local_addr());
    assert_eq!(curl_put(&src, &to, &[]), "201");
    let stored = std::fs::read(tmp.join("www/files/three.bin")).unwrap();
    assert!(stored == payload(3 << 20, 8));
}

#[test]
fn put_and_form_over_http2_prior_knowledge() {
    let tmp = site();
    let h = Httpd::start(&tmp.join("www"), &["--upload"]);
    let src = tmp.join("src");
    std::fs::write(&src, payload(500_000, 11)).unwrap();
    let h2 = ["--http2-prior-knowledge"];
    assert_eq!(curl_put(&src, &url(&h, "/sub/h2.bin"), &h2), "201");
    let stored = std::fs::read(tmp.join("www/sub/h2.bin")).unwrap();
    assert!(stored == payload(500_000, 11), "h2.bin differs");
    let form = format!("file=@{};filename=form.bin", src.display());
    let out = curl(&[
        "--http2-prior-knowledge",
        "-F",
        &form,
        "-w",
        "%{http_code} %{http_version}",
        "-o",
        "/dev/null",
        &url(&h, "/sub/"),
    ]);
    assert_eq!(out, "303 2");
    let stored = std::fs::read(tmp.join("www/sub/form.bin")).unwrap();
    assert!(stored == payload(500_000, 11), "form.bin differs");
    let want = ["sub", "sub/form.bin", "sub/h2.bin", "sub/old.txt"];
    assert_eq!(tree(&tmp.join("www")), want, "no temporary file is left");
}
