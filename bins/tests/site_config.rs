//! reactor-httpd with `--config site.toml` over real sockets: virtual hosts, headers by
//! path, redirects, Basic auth against files made by `htpasswd` (apache2-utils, through
//! curl -u), SPA fallback, error pages, 421, `--check-config` and SIGHUP reload.

mod common;

use std::process::Command;
use std::time::{Duration, Instant};

use common::{Httpd, TempDir, HTTPD};
use reactor::testing::{Client, TestResponse};

const CONFIG: &str = r#"
# a site and a default site
status = "/from-file-status"

[[site]]
host = ["example.test", "WWW.Example.test"]
root = "a"
fallback = "/index.html"

[[site.headers]]
path = "/assets/**"
set = { "Cache-Control" = "public, max-age=31536000, immutable" }

[[site.redirect]]
from = "/old/*"
to = "/new/*"
status = 301

[[site.auth]]
path = "/private/"
htpasswd = "users.htpasswd"
realm = "Private"

[[site]]
root = "www"
listing = false
error_pages = { 404 = "/404.html" }
"#;

fn request(h: &Httpd, host: &str, path: &str, extra: &str) -> TestResponse {
    let mut c = Client::connect(h.addr);
    c.send(format!("GET {path} HTTP/1.1\r\nHost: {host}\r\n{extra}\r\n").as_bytes());
    c.response(false).expect("response")
}

fn htpasswd(args: &[&str]) {
    let ok = Command::new("htpasswd")
        .args(args)
        .status()
        .expect("htpasswd (apache2-utils)");
    assert!(ok.success());
}

fn setup() -> TempDir {
    let tmp = TempDir::new("site-config");
    for (p, data) in [
        ("a/index.html", "site A index"),
        ("a/assets/js/app.js", "console.log(1)"),
        ("a/private/s.txt", "secret of A"),
        ("a/plain.txt", "plain A"),
        ("www/index.html", "default site"),
        ("www/404.html", "<h1>custom not found</h1>"),
    ] {
        let path = tmp.join(p);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, data).unwrap();
    }
    let users = tmp.join("users.htpasswd");
    htpasswd(&["-cbB", users.to_str().unwrap(), "alice", "bcrypt pw"]);
    htpasswd(&["-bm", users.to_str().unwrap(), "bob", "apr1 pw"]);
    std::fs::write(tmp.join("site.toml"), CONFIG).unwrap();
    tmp
}

fn start(tmp: &TempDir, extra: &[&str]) -> Httpd {
    let config = tmp.join("site.toml");
    let mut args = vec!["--config", config.to_str().unwrap()];
    args.extend_from_slice(extra);
    Httpd::start(&tmp.join("www"), &args)
}

fn curl_status(h: &Httpd, url_path: &str, user: Option<&str>) -> String {
    let mut cmd = Command::new("curl");
    cmd.args([
        "-s",
        "-o",
        "/dev/null",
        "-w",
        "%{http_code}",
        "-H",
        "Host: example.test",
    ]);
    if let Some(u) = user {
        cmd.args(["-u", u]);
    }
    let out = cmd
        .arg(format!("http://{}{url_path}", h.addr))
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Pipelined requests for different hosts on one connection each get their own site
/// (the site is chosen once per request, not once per connection).
#[test]
fn pipelined_requests_for_different_hosts_each_get_their_site() {
    let tmp = setup();
    let h = start(&tmp, &[]);
    let mut c = Client::connect(h.addr);
    let mut batch = String::new();
    for host in [
        "example.test",
        "other.test",
        "WWW.EXAMPLE.TEST.",
        "other.test",
    ] {
        batch += &format!("GET /index.html HTTP/1.1\r\nHost: {host}\r\n\r\n");
    }
    c.send(batch.as_bytes());
    let texts: Vec<String> = (0..4)
        .map(|_| c.response(false).expect("response").text())
        .collect();
    assert_eq!(
        texts,
        [
            "site A index",
            "default site",
            "site A index",
            "default site"
        ]
    );
}

#[test]
fn hosts_headers_redirects_fallback_and_error_pages() {
    let tmp = setup();
    let h = start(&tmp, &[]);
    assert_eq!(
        request(&h, "example.test:8080", "/", "").text(),
        "site A index"
    );
    assert_eq!(
        request(&h, "www.EXAMPLE.test", "/plain.txt", "").text(),
        "plain A"
    );
    assert_eq!(request(&h, "other.test", "/", "").text(), "default site");

    let asset = request(&h, "example.test", "/assets/js/app.js", "");
    assert_eq!(
        asset.header("cache-control"),
        Some("public, max-age=31536000, immutable")
    );
    assert_eq!(
        request(&h, "example.test", "/plain.txt", "").header("cache-control"),
        None
    );

    let moved = request(&h, "example.test", "/old/page.html?x=1", "");
    assert_eq!(moved.status, 301);
    assert_eq!(moved.header("location"), Some("/new/page.html?x=1"));

    let spa = request(&h, "example.test", "/app/route/42", "");
    assert_eq!((spa.status, spa.text().as_str()), (200, "site A index"));

    let missing = request(&h, "other.test", "/nope", "");
    assert_eq!(missing.status, 404);
    assert_eq!(missing.text(), "<h1>custom not found</h1>");
    // listing = false on the default site: a directory without index is 404 too.
    std::fs::create_dir_all(tmp.join("www/dir")).unwrap();
    assert_eq!(request(&h, "other.test", "/dir/", "").status, 404);

    // The command line's --status wins over the file's.
    let h2 = start(&tmp, &["--status", "/cli-status"]);
    assert_eq!(request(&h2, "other.test", "/cli-status", "").status, 200);
    assert_eq!(
        request(&h2, "other.test", "/from-file-status", "").status,
        404
    );
    assert_eq!(
        request(&h, "other.test", "/from-file-status", "").status,
        200
    );
}

#[test]
fn basic_auth_with_htpasswd_files() {
    let tmp = setup();
    let h = start(&tmp, &[]);
    let denied = request(&h, "example.test", "/private/s.txt", "");
    assert_eq!(denied.status, 401);
    assert_eq!(
        denied.header("www-authenticate"),
        Some("Basic realm=\"Private\", charset=\"UTF-8\"")
    );
    assert_eq!(
        request(&h, "example.test", "/%70rivate/s.txt", "").status,
        401
    );
    assert_eq!(request(&h, "example.test", "/private", "").status, 401);
    assert_eq!(
        curl_status(&h, "/private/s.txt", Some("alice:bcrypt pw")),
        "200"
    );
    assert_eq!(
        curl_status(&h, "/private/s.txt", Some("alice:bcrypt pw")),
        "200"
    );
    assert_eq!(
        curl_status(&h, "/private/s.txt", Some("bob:apr1 pw")),
        "200"
    );
    assert_eq!(
        curl_status(&h, "/private/s.txt", Some("alice:wrong")),
        "401"
    );
    assert_eq!(
        curl_status(&h, "/private/s.txt", Some("mallory:bcrypt pw")),
        "401"
    );
    assert_eq!(curl_status(&h, "/plain.txt", None), "200");
    // Another host's /private/ is not protected.
    assert_eq!(request(&h, "other.test", "/private/x", "").status, 404);
}

#[test]
fn no_default_site_means_421() {
    let tmp = setup();
    let only_a = CONFIG.split("[[site]]\nroot = \"www\"").next().unwrap();
    std::fs::write(tmp.join("site.toml"), only_a).unwrap();
    let h = start(&tmp, &[]);
    assert_eq!(request(&h, "other.test", "/", "").status, 421);
    assert_eq!(request(&h, "example.test", "/", "").status, 200);
}

#[test]
fn check_config_reports_lines_and_exits_2() {
    let tmp = setup();
    let config = tmp.join("site.toml");
    let check = || {
        Command::new(HTTPD)
            .args(["--config", config.to_str().unwrap(), "--check-config"])
            .output()
            .unwrap()
    };
    let good = check();
    assert_eq!(
        good.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&good.stderr)
    );

    let broken = CONFIG
        .replace("status = 301", "status = 200")
        .replace("root = \"www\"", "root = \"nowhere\"")
        .replace(
            "status = \"/from-file-status\"",
            "status = \"/s\"\nworkerz = 2",
        );
    std::fs::write(&config, &broken).unwrap();
    let bad = check();
    assert_eq!(bad.status.code(), Some(2));
    let err = String::from_utf8_lossy(&bad.stderr);
    let line_of = |needle: &str| broken.lines().position(|l| l.contains(needle)).unwrap() + 1;
    for (needle, what) in [
        ("workerz", "unknown key"),
        ("status = 200", "status 200"),
        ("root = \"nowhere\"", "not a directory"),
    ] {
        let want = format!("site.toml:{}: ", line_of(needle));
        assert!(
            err.lines().any(|l| l.contains(&want) && l.contains(what)),
            "{want} {what} in:\n{err}"
        );
    }

    // acme = true needs host names, no wildcard, and no tls_cert beside it.
    std::fs::write(
        &config,
        "[[site]]\nroot = \"www\"\nacme = true\n\
         [[site]]\nhost = \"*.w.test\"\nroot = \"www\"\nacme = true\n",
    )
    .unwrap();
    let acme = check();
    assert_eq!(acme.status.code(), Some(2));
    let err = String::from_utf8_lossy(&acme.stderr);
    assert!(
        err.contains("site.toml:1: acme = true needs the site's host names")
            && err.contains("site.toml:4: acme = true cannot cover the wildcard"),
        "{err}"
    );

    std::fs::write(&config, "[[site]\nroot = 1\n").unwrap();
    let syntax = check();
    assert_eq!(syntax.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&syntax.stderr).contains("site.toml:1: "));
}

#[test]
fn sighup_rereads_the_file_and_keeps_the_old_one_when_broken() {
    let tmp = setup();
    let mut h = start(&tmp, &[]);
    assert_eq!(
        request(&h, "example.test", "/old/x", "").header("location"),
        Some("/new/x")
    );
    // The sites change at once; a changed thread count waits for a restart, and says so.
    let changed = CONFIG
        .replace("to = \"/new/*\"", "to = \"/newer/*\"")
        .replace(
            "status = \"/from-file-status\"",
            "status = \"/from-file-status\"\nthreads = 7",
        );
    std::fs::write(tmp.join("site.toml"), changed).unwrap();
    h.signal(libc::SIGHUP);
    let start = Instant::now();
    loop {
        let r = request(&h, "example.test", "/old/x", "");
        if r.header("location") == Some("/newer/x") {
            break;
        }
        assert!(start.elapsed() < Duration::from_secs(10), "reload not seen");
        std::thread::sleep(Duration::from_millis(50));
    }
    let log = h.stderr();
    assert!(
        log.contains("workers/threads/queue changed and take effect on restart"),
        "{log}"
    );
    // A broken file: the reload fails and the running configuration stays.
    std::fs::write(tmp.join("site.toml"), "[[site]]\nroot = \"nowhere\"\n").unwrap();
    h.signal(libc::SIGHUP);
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(
        request(&h, "example.test", "/old/x", "").header("location"),
        Some("/newer/x")
    );
    assert_eq!(request(&h, "other.test", "/", "").text(), "default site");
    assert_eq!(
        h.wait_exit(Duration::from_millis(10)),
        None,
        "still running"
    );
}
