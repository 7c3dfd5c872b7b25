//! HTTPS with reactor-httpd (and reactor-proxy, reactor-client) over real sockets, against
//! curl, openssl s_client and a rustls client. Certificates are made here with rcgen and
//! converted with openssl.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use common::{make_cert, Httpd, TempDir, HTTPD};
use reactor::testing::Client;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::CertificateDer;

fn der(cert: &Path) -> CertificateDer<'static> {
    CertificateDer::from_pem_file(cert).unwrap()
}

fn root() -> TempDir {
    let dir = TempDir::new("reactor-tls-www");
    std::fs::write(dir.join("index.html"), "hello over tls\n").unwrap();
    dir
}

fn https(www: &TempDir, pairs: &[(&Path, &Path)], extra: &[&str]) -> Httpd {
    let mut args: Vec<String> = Vec::new();
    for (c, k) in pairs {
        args.push("--tls-cert".into());
        args.push(c.display().to_string());
        args.push("--tls-key".into());
        args.push(k.display().to_string());
    }
    args.extend(extra.iter().map(|s| s.to_string()));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    Httpd::start(&www.0, &args)
}

fn run(cmd: &mut Command) -> Output {
    cmd.stdin(Stdio::null()).output().expect("tool runs")
}

/// `curl` for `https://NAME:PORT/PATH` resolved to the server, trusting `ca`.
fn curl(addr: SocketAddr, name: &str, path: &str, ca: &Path, extra: &[&str]) -> Output {
    let port = addr.port();
    run(Command::new("curl")
        .args(["-sS", "--max-time", "10", "-i", "--cacert"])
        .arg(ca)
        .arg("--resolve")
        .arg(format!("{name}:{port}:127.0.0.1"))
        .args(extra)
        .arg(format!("https://{name}:{port}{path}")))
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// `openssl s_client` to the server with SNI `name` and the extra flags; its output.
fn s_client(addr: SocketAddr, name: &str, extra: &[&str]) -> String {
    let mut child = Command::new("openssl")
        .args([
            "s_client",
            "-connect",
            &addr.to_string(),
            "-servername",
            name,
        ])
        .args(extra)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let _ = stdin.write_all(b"GET / HTTP/1.1\r\nHost: a.test\r\nConnection: close\r\n\r\n");
    std::thread::sleep(Duration::from_millis(300));
    drop(stdin);
    text(&child.wait_with_output().unwrap())
}

#[test]
fn serves_https_to_curl_openssl_and_reactor_client() {
    let dir = TempDir::new("reactor-tls-certs");
    let www = root();
    let (c, k) = make_cert(&dir, "a", &["a.test"], false);
    let s = https(&www, &[(&c, &k)], &["--hsts", "600"]);
    // (curl would choose h2 by ALPN; bins/tests/h2.rs covers that.)
    let out = curl(s.addr, "a.test", "/index.html", &c, &["--http1.1"]);
    let t = text(&out);
    assert!(out.status.success(), "{t}");
    assert!(
        t.contains("HTTP/1.1 200") && t.contains("hello over tls"),
        "{t}"
    );
    assert!(t.contains("Strict-Transport-Security: max-age=600"), "{t}");
    // TLS 1.3 and 1.2 with ALPN http/1.1 (h2 is offered too); nothing older.
    let o = s_client(s.addr, "a.test", &["-alpn", "http/1.1"]);
    assert!(o.contains("ALPN protocol: http/1.1"), "{o}");
    assert!(o.contains("TLSv1.3") && o.contains("hello over tls"), "{o}");
    let o = s_client(s.addr, "a.test", &["-tls1_2"]);
    assert!(
        o.contains("Protocol  : TLSv1.2") && o.contains("hello over tls"),
        "{o}"
    );
    // The server's order wins: AES-128-GCM even for a client that lists AES-256 first
    // (cheaper handshakes: SHA-256 where the other needs SHA-384); AES-256 when asked alone.
    let first = [
        "-ciphersuites",
        "TLS_AES_256_GCM_SHA384:TLS_AES_128_GCM_SHA256",
    ];
    let o = s_client(s.addr, "a.test", &first);
    assert!(o.contains("Cipher is TLS_AES_128_GCM_SHA256"), "{o}");
    let o = s_client(
        s.addr,
        "a.test",
        &["-ciphersuites", "TLS_AES_256_GCM_SHA384"],
    );
    assert!(o.contains("Cipher is TLS_AES_256_GCM_SHA384"), "{o}");
    // Session tickets travel with the first answer (not in a packet of their own), and a
    // second connection resumes with one.
    let session = dir.join("session.pem");
    let session = session.to_str().unwrap();
    let o = s_client(s.addr, "a.test", &["-sess_out", session]);
    assert!(o.contains("hello over tls"), "{o}");
    let o = s_client(s.addr, "a.test", &["-sess_in", session]);
    assert!(
        o.contains("Reused, TLSv1.3") && o.contains("hello over tls"),
        "{o}"
    );
    let o = s_client(
        s.addr,
        "a.test",
        &["-tls1_1", "-cipher", "DEFAULT:@SECLEVEL=0"],
    );
    assert!(!o.contains("hello over tls"), "TLS 1.1 refused: {o}");
    // The tiny curl.
    let out = run(Command::new(env!("CARGO_BIN_EXE_reactor-client"))
        .args(["--ca"])
        .arg(&c)
        .args([
            "GET",
            "localhost",
            &s.addr.port().to_string(),
            "/index.html",
        ]));
    let t = text(&out);
    // The certificate names a.test, not localhost: verification must fail, and say so.
    assert!(
        !out.status.success() && t.contains("reactor-client:"),
        "{t}"
    );
    let (lc, lk) = make_cert(&dir, "local", &["localhost"], false);
    let s2 = https(&www, &[(&lc, &lk)], &[]);
    let out = run(Command::new(env!("CARGO_BIN_EXE_reactor-client"))
        .args(["--ca"])
        .arg(&lc)
        .args([
            "GET",
            "localhost",
            &s2.addr.port().to_string(),
            "/index.html",
        ]));
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("hello over tls"));
}

#[test]
fn sni_picks_the_pair_and_the_first_is_the_default() {
    let dir = TempDir::new("reactor-tls-certs");
    let www = root();
    let (a, ak) = make_cert(&dir, "a", &["a.test"], false);
    let (b, bk) = make_cert(&dir, "b", &["*.b.test"], false);
    let log = dir.join("access.json");
    let log_arg = log.display().to_string();
    let json = ["--access-log", &log_arg, "--access-log-format", "json"];
    let s = https(&www, &[(&a, &ak), (&b, &bk)], &json);
    let ok = |name: &str, ca: &Path| curl(s.addr, name, "/", ca, &[]).status.success();
    assert!(ok("a.test", &a));
    assert!(ok("www.b.test", &b), "wildcard pair chosen by SNI");
    assert!(!ok("x.y.b.test", &b), "a wildcard covers one label only");
    let o = s_client(s.addr, "other.test", &[]);
    let pem = std::fs::read_to_string(&a).unwrap();
    let body_line = pem.lines().nth(1).unwrap();
    assert!(o.contains(body_line), "default pair: {o}");
    // The access log tells which requests came over TLS, and under which SNI name.
    let logged = std::fs::read_to_string(&log).unwrap();
    assert!(
        logged.contains(r#""tls":true,"sni":"a.test""#)
            && logged.contains(r#""tls":true,"sni":"www.b.test""#),
        "{logged}"
    );
}

#[test]
fn key_formats_and_startup_errors() {
    let dir = TempDir::new("reactor-tls-certs");
    let www = root();
    let (c, k) = make_cert(&dir, "ec", &["a.test"], false);
    // SEC1 ("EC PRIVATE KEY") from the PKCS#8 key.
    let sec1 = dir.join("sec1.key");
    assert!(run(Command::new("openssl")
        .args(["ec", "-in"])
        .arg(&k)
        .arg("-out")
        .arg(&sec1))
    .status
    .success());
    assert!(std::fs::read_to_string(&sec1)
        .unwrap()
        .contains("BEGIN EC PRIVATE KEY"));
    // RSA with a PKCS#1 ("RSA PRIVATE KEY") key.
    let (rc, rk) = (dir.join("rsa.crt"), dir.join("rsa.key"));
    assert!(run(Command::new("openssl")
        .args(["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2"])
        .args([
            "-subj",
            "/CN=a.test",
            "-addext",
            "subjectAltName=DNS:a.test"
        ])
        .arg("-keyout")
        .arg(&rk)
        .arg("-out")
        .arg(&rc))
    .status
    .success());
    let pkcs1 = dir.join("pkcs1.key");
    assert!(run(Command::new("openssl")
        .args(["rsa", "-traditional", "-in"])
        .arg(&rk)
        .arg("-out")
        .arg(&pkcs1))
    .status
    .success());
    assert!(std::fs::read_to_string(&pkcs1)
        .unwrap()
        .contains("BEGIN RSA PRIVATE KEY"));
    for (cert, key) in [(&c, &k), (&c, &sec1), (&rc, &pkcs1)] {
        let s = https(&www, &[(cert, key)], &[]);
        let out = curl(s.addr, "a.test", "/", cert, &[]);
        assert!(out.status.success(), "{}: {}", key.display(), text(&out));
    }
    // Errors: one line, exit 2.
    let (other, other_key) = make_cert(&dir, "other", &["a.test"], false);
    let missing = dir.join("missing.pem");
    let cases: [(&Path, &Path, &str); 3] = [
        (&missing, &k, "cannot read certificate"),
        (&c, &missing, "cannot read private key"),
        (&c, &other_key, "does not match"),
    ];
    for (cert, key, want) in cases {
        let out = run(Command::new(HTTPD)
            .args(["--root"])
            .arg(&www.0)
            .args(["--bind", "127.0.0.1:0", "--tls-cert"])
            .arg(cert)
            .arg("--tls-key")
            .arg(key));
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{err}");
        assert!(err.contains(want) && err.lines().count() == 1, "{err}");
    }
    let out = run(Command::new(HTTPD)
        .args(["--root", "/", "--tls-cert"])
        .arg(&other));
    assert_eq!(out.status.code(), Some(2), "a certificate without its key");
    // Expired: a warning, and it serves.
    let (ec, ek) = make_cert(&dir, "expired", &["a.test"], true);
    let mut cmd = Command::new(HTTPD);
    cmd.args(["--tls-cert"])
        .arg(&ec)
        .arg("--tls-key")
        .arg(&ek)
        .stderr(Stdio::piped());
    let mut child = cmd
        .args(["--bind", "127.0.0.1:0", "--root"])
        .arg(&www.0)
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let mut err = BufReader::new(child.stderr.take().unwrap());
    let mut line = String::new();
    err.read_line(&mut line).unwrap();
    assert!(line.contains("has expired"), "{line}");
    line.clear();
    err.read_line(&mut line).unwrap();
    assert!(line.contains("https://"), "still serves: {line}");
    let _ = child.kill();
    let _ = child.wait();
}

#[test]
fn sighup_reloads_certificates_without_dropping_anyone() {
    let dir = TempDir::new("reactor-tls-certs");
    let www = root();
    let (a, ak) = make_cert(&dir, "a", &["a.test"], false);
    let (live_c, live_k) = (dir.join("live.crt"), dir.join("live.key"));
    std::fs::copy(&a, &live_c).unwrap();
    std::fs::copy(&ak, &live_k).unwrap();
    let s = https(&www, &[(&live_c, &live_k)], &[]);
    let mut old = Client::connect_tls(s.addr, "a.test", &der(&a)).unwrap();
    assert_eq!(old.get("/").status, 200);
    // New files, SIGHUP: new handshakes get them.
    let (b, bk) = make_cert(&dir, "b", &["a.test"], false);
    std::fs::copy(&b, &live_c).unwrap();
    std::fs::copy(&bk, &live_k).unwrap();
    s.signal(libc::SIGHUP);
    let switched = (0..100).any(|_| {
        std::thread::sleep(Duration::from_millis(50));
        Client::connect_tls(s.addr, "a.test", &der(&b)).is_ok()
    });
    assert!(switched, "new certificate served after SIGHUP");
    assert_eq!(old.get("/").status, 200, "the connection in flight goes on");
    // A broken file: logged, the certificates in use stay.
    std::fs::write(&live_k, "not a key").unwrap();
    s.signal(libc::SIGHUP);
    std::thread::sleep(Duration::from_millis(300));
    let mut c = Client::connect_tls(s.addr, "a.test", &der(&b)).unwrap();
    assert_eq!(c.get("/").status, 200);
}

#[test]
fn http_redirects_to_https_and_plain_http_on_the_tls_port_gets_400() {
    let dir = TempDir::new("reactor-tls-certs");
    let www = root();
    let (c, k) = make_cert(&dir, "a", &["a.test"], false);
    let mut child = Command::new(HTTPD)
        .args([
            "--bind",
            "127.0.0.1:0",
            "--redirect-http",
            "127.0.0.1:0",
            "--hsts",
            "60",
        ])
        .arg("--root")
        .arg(&www.0)
        .arg("--tls-cert")
        .arg(&c)
        .arg("--tls-key")
        .arg(&k)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut err = BufReader::new(child.stderr.take().unwrap());
    let addr_after = |line: &str| -> SocketAddr {
        let rest = line.split("://").nth(1).unwrap();
        rest.split('/').next().unwrap().parse().unwrap()
    };
    let mut line = String::new();
    err.read_line(&mut line).unwrap();
    let tls_addr = addr_after(&line);
    line.clear();
    err.read_line(&mut line).unwrap();
    let plain_addr = addr_after(&line);
    let mut plain = Client::connect(plain_addr);
    plain.send(b"GET /a/b?x=1&y=2 HTTP/1.1\r\nHost: a.test:8080\r\n\r\n");
    let r = plain.response(false).unwrap();
    assert_eq!(r.status, 308);
    let want = format!("https://a.test:{}/a/b?x=1&y=2", tls_addr.port());
    assert_eq!(r.header("location"), Some(want.as_str()));
    assert_eq!(
        r.header("strict-transport-security"),
        None,
        "no HSTS on plain HTTP"
    );
    // Plain HTTP to the TLS port.
    let r = Client::connect(tls_addr).get("/");
    assert_eq!(r.status, 400);
    assert!(r.text().contains("expects HTTPS"), "{}", r.text());
    // HTTPS itself, with HSTS.
    let mut c2 = Client::connect_tls(tls_addr, "a.test", &der(&c)).unwrap();
    let r = c2.get("/");
    assert_eq!(r.header("strict-transport-security"), Some("max-age=60"));
    let _ = child.kill();
    let _ = child.wait();
}

fn open_fds(pid: i32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap()
        .count()
}

#[test]
fn hostile_handshakes_cost_only_themselves() {
    let dir = TempDir::new("reactor-tls-certs");
    let www = root();
    let (c, k) = make_cert(&dir, "a", &["a.test"], false);
    let s = https(&www, &[(&c, &k)], &["--header-timeout", "3"]);
    let root_der = der(&c);
    let mut warm = Client::connect_tls(s.addr, "a.test", &root_der).unwrap();
    assert_eq!(warm.get("/").status, 200);
    drop(warm);
    std::thread::sleep(Duration::from_millis(200));
    let baseline = open_fds(s.pid());
    // 1,000 half-open handshakes: a ClientHello's first bytes, then silence.
    let mut half: Vec<TcpStream> = (0..1000)
        .map(|_| {
            let mut t = TcpStream::connect(s.addr).unwrap();
            t.write_all(b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03")
                .unwrap();
            t
        })
        .collect();
    // One fed a byte a second, garbage, a vanishing client.
    let slow = std::thread::spawn({
        let addr = s.addr;
        move || {
            let mut t = TcpStream::connect(addr).unwrap();
            for b in b"\x16\x03\x01\x02\x00\x01" {
                if t.write_all(&[*b]).is_err() {
                    return true;
                }
                std::thread::sleep(Duration::from_secs(1));
            }
            t.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
            let mut buf = [0u8; 64];
            match t.read(&mut buf) {
                Ok(0) => true,
                Err(e) => e.kind() == std::io::ErrorKind::ConnectionReset,
                Ok(_) => false,
            }
        }
    });
    let mut g = TcpStream::connect(s.addr).unwrap();
    g.write_all(&[0x16; 64]).unwrap();
    drop(TcpStream::connect(s.addr).unwrap());
    // Everyone else is served meanwhile.
    for _ in 0..5 {
        let mut c = Client::connect_tls(s.addr, "a.test", &root_der).unwrap();
        assert_eq!(c.get("/").status, 200);
    }
    assert!(
        slow.join().unwrap(),
        "the byte-a-second handshake was cut off"
    );
    half.clear();
    drop(g);
    // Every descriptor comes back.
    let settled = (0..100).any(|_| {
        std::thread::sleep(Duration::from_millis(100));
        open_fds(s.pid()) <= baseline
    });
    assert!(settled, "{} fds open, {baseline} before", open_fds(s.pid()));
}

#[test]
fn reactor_proxy_speaks_tls_to_clients() {
    let dir = TempDir::new("reactor-tls-certs");
    let www = root();
    let origin = Httpd::start(&www.0, &[]);
    let (c, k) = make_cert(&dir, "a", &["a.test"], false);
    let mut proxy = Command::new(env!("CARGO_BIN_EXE_reactor-proxy"))
        .args(["--bind", "127.0.0.1:0", "--upstream"])
        .arg(format!("http://{}", origin.addr))
        .arg("--tls-cert")
        .arg(&c)
        .arg("--tls-key")
        .arg(&k)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(proxy.stderr.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let addr: SocketAddr = line
        .split("https://")
        .nth(1)
        .unwrap_or_else(|| panic!("{line}"))
        .trim()
        .trim_end_matches('/')
        .parse()
        .unwrap();
    let out = curl(addr, "a.test", "/index.html", &c, &[]);
    let _ = proxy.kill();
    let _ = proxy.wait();
    assert!(text(&out).contains("hello over tls"), "{}", text(&out));
}

/// `tls_cert`/`tls_key` of `[[site]]`s in the config file are served by SNI like the
/// command line's pairs, each site answering under its own name.
#[test]
fn config_file_sites_bring_their_certificates() {
    let dir = TempDir::new("reactor-tls-sites");
    let (a, ak) = make_cert(&dir, "a", &["a.test"], false);
    let (b, bk) = make_cert(&dir, "b", &["b.test"], false);
    for (site, body) in [("a", "site a\n"), ("b", "site b\n")] {
        std::fs::create_dir_all(dir.join(site)).unwrap();
        std::fs::write(dir.join(site).join("index.html"), body).unwrap();
    }
    let config = dir.join("site.toml");
    std::fs::write(
        &config,
        format!(
            "[[site]]\nhost = [\"a.test\"]\nroot = \"a\"\ntls_cert = \"{}\"\ntls_key = \"{}\"\n\n\
             [[site]]\nhost = [\"b.test\"]\nroot = \"b\"\ntls_cert = \"{}\"\ntls_key = \"{}\"\n",
            a.display(),
            ak.display(),
            b.display(),
            bk.display()
        ),
    )
    .unwrap();
    let www = root();
    let s = https(&www, &[], &["--config", config.to_str().unwrap()]);
    for (name, ca, body) in [("a.test", &a, "site a\n"), ("b.test", &b, "site b\n")] {
        let o = curl(s.addr, name, "/", ca, &[]);
        assert!(o.status.success(), "{name}: {}", text(&o));
        assert!(text(&o).ends_with(body), "{name}: {}", text(&o));
    }
}
