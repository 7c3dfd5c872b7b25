//! reactor-proxy's upstream side over real sockets: origin heads dripped byte by byte,
//! TLS origins, several origins with balancing and health, parent proxies, proxy auth.

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::{Httpd, TempDir};
use reactor::testing::{serve, Client, TestResponse};
use reactor::{Config, Running, Server};
use reactor_handlers::htpasswd::Htpasswd;
use reactor_handlers::proxy::auth::ProxyAuth;
use reactor_handlers::proxy::balance::Balance;
use reactor_handlers::proxy::{parse_parent, parse_upstream, tls, Proxy, ProxyConfig};

/// Reads one request head (no body expected) from `s`; `None` when the peer closed.
fn read_head(s: &mut TcpStream) -> Option<String> {
    let mut buf = Vec::new();
    let mut b = [0u8; 1];
    while !buf.ends_with(b"\r\n\r\n") {
        match s.read(&mut b) {
            Ok(1) => buf.push(b[0]),
            _ => return None,
        }
    }
    Some(String::from_utf8_lossy(&buf).into_owned())
}

/// An origin answering every request on every connection with `answer(head)`, written
/// `chunk` bytes per write.
fn origin(answer: fn(&str) -> Vec<u8>, chunk: usize) -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    std::thread::spawn(move || {
        for s in l.incoming() {
            let Ok(mut s) = s else { continue };
            std::thread::spawn(move || {
                let _ = s.set_nodelay(true);
                while let Some(head) = read_head(&mut s) {
                    for part in answer(&head).chunks(chunk) {
                        if s.write_all(part).is_err() {
                            return;
                        }
                    }
                }
            });
        }
    });
    addr
}

fn proxy_with(cfg: ProxyConfig) -> Running {
    serve(Server::new(Config::default()).handler(Proxy::new(cfg)))
}

fn get(p: &Running, target: &str) -> TestResponse {
    let mut c = Client::connect(p.local_addr());
    c.send(format!("GET {target} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes());
    c.response(false).expect("a response")
}

// ------------------------------------------------------------ heads in linear time

#[test]
fn heads_dripped_one_byte_per_write_with_interim_responses() {
    fn answer(_: &str) -> Vec<u8> {
        let mut w =
            b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </s>\r\n\r\n".to_vec();
        w.extend_from_slice(b"HTTP/1.1 200 OK\r\nCache-Control: no-store\r\n");
        for i in 0..40 {
            w.extend_from_slice(format!("X-Pad-{i}: {}\r\n", "p".repeat(30)).as_bytes());
        }
        w.extend_from_slice(b"Content-Length: 5\r\n\r\nhello");
        w
    }
    let o = origin(answer, 1);
    let p = proxy_with(ProxyConfig {
        upstream: Some(parse_upstream(&format!("http://{o}")).unwrap()),
        ..ProxyConfig::default()
    });
    for _ in 0..2 {
        let r = get(&p, "/dripped");
        assert_eq!(r.status, 200);
        assert_eq!(r.text(), "hello");
        assert_eq!(r.header("x-pad-39").map(str::len), Some(30));
    }
}

// ------------------------------------------------------------------ TLS origins

/// A test CA (`ca.pem`) and two P-256 leaves it signed: `good` for 127.0.0.1 and
/// localhost, `wrong` for other.example only. Made with the openssl CLI.
fn make_certs(dir: &TempDir) {
    let script = r#"set -e
ec="-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes"
openssl req -x509 $ec -days 2 -subj "/CN=proxyup test CA" \
  -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign \
  -keyout ca.key -out ca.pem 2>/dev/null
for leaf in good:DNS:localhost,IP:127.0.0.1 wrong:DNS:other.example; do
  name=${leaf%%:*}; san=${leaf#*:}
  openssl req $ec -subj /CN=$name -keyout $name.key -out $name.csr 2>/dev/null
  printf 'subjectAltName=%s\nbasicConstraints=critical,CA:FALSE\nextendedKeyUsage=serverAuth\n' \
    "$san" > $name.ext
  openssl x509 -req -days 2 -set_serial 7 -in $name.csr -CA ca.pem -CAkey ca.key \
    -extfile $name.ext -out $name.pem 2>/dev/null
done"#;
    let st = std::process::Command::new("sh")
        .args(["-c", script])
        .current_dir(&dir.0)
        .status()
        .expect("openssl (and sh) are needed for the TLS tests");
    assert!(st.success(), "openssl failed");
}

/// A TLS origin (rustls server on std threads) presenting `leaf`: answers every request
/// with `you asked PATH`, keep-alive; counts TCP connections.
fn tls_origin(dir: &TempDir, leaf: &str) -> (SocketAddr, Arc<AtomicUsize>) {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let certs: Vec<CertificateDer<'static>> =
        CertificateDer::pem_file_iter(dir.join(&format!("{leaf}.pem")))
            .unwrap()
            .map(Result::unwrap)
            .collect();
    let key = PrivateKeyDer::from_pem_file(dir.join(&format!("{leaf}.key"))).unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = Arc::new(
        rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(certs, key)
            .unwrap(),
    );
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    let conns = Arc::new(AtomicUsize::new(0));
    let conns2 = conns.clone();
    std::thread::spawn(move || {
        for s in l.incoming() {
            let Ok(s) = s else { continue };
            conns2.fetch_add(1, Ordering::SeqCst);
            let config = config.clone();
            std::thread::spawn(move || {
                let Ok(conn) = rustls::ServerConnection::new(config) else {
                    return;
                };
                let mut tls = rustls::StreamOwned::new(conn, s);
                loop {
                    let mut head = Vec::new();
                    let mut b = [0u8; 1];
                    while !head.ends_with(b"\r\n\r\n") {
                        match tls.read(&mut b) {
                            Ok(1) => head.push(b[0]),
                            _ => return,
                        }
                    }
                    let head = String::from_utf8_lossy(&head).into_owned();
                    let path = head.split(' ').nth(1).unwrap_or("").to_string();
                    let host = head
                        .lines()
                        .find_map(|l| l.strip_prefix("Host: "))
                        .unwrap_or("")
                        .to_string();
                    if path.starts_with("/close") {
                        // A close-delimited body, ended with or without close_notify.
                        let head = "HTTP/1.1 200 OK\r\nCache-Control: max-age=60\r\n\r\n";
                        let _ = tls.write_all(format!("{head}until close").as_bytes());
                        if path == "/close-notify" {
                            tls.conn.send_close_notify();
                        }
                        let _ = tls.flush();
                        return;
                    }
                    let body = format!("you asked {path} of {host}");
                    let resp = format!(
                        "HTTP/1.1 200 OK\r\nCache-Control: no-store\r\nContent-Length: {}\r\n\r\n{body}",
                        body.len()
                    );
                    if tls.write_all(resp.as_bytes()).is_err() || tls.flush().is_err() {
                        return;
                    }
                }
            });
        }
    });
    (addr, conns)
}

fn https_proxy(origin: &str, ca: Option<&Path>) -> Running {
    let upstream_tls = ca.map(|ca| tls::client_config(Some(ca)).unwrap());
    proxy_with(ProxyConfig {
        upstream: Some(parse_upstream(origin).unwrap()),
        upstream_tls,
        ..ProxyConfig::default()
    })
}

/// A TLS origin with a certificate of a test CA, and a proxy to it that trusts that CA
/// (the directory holding the certificates, the origin, its connection count, the proxy).
fn trusted_https_origin(name: &str) -> (TempDir, SocketAddr, Arc<AtomicUsize>, Running) {
    let dir = TempDir::new(name);
    make_certs(&dir);
    let (addr, conns) = tls_origin(&dir, "good");
    let p = https_proxy(
        &format!("https://127.0.0.1:{}", addr.port()),
        Some(&dir.join("ca.pem")),
    );
    (dir, addr, conns, p)
}

#[test]
fn https_upstream_verified_and_pooled() {
    let (_dir, addr, conns, p) = trusted_https_origin("tls-good");
    for i in 0..5 {
        let r = get(&p, &format!("/n{i}"));
        assert_eq!(r.status, 200, "{}", r.text());
        assert_eq!(
            r.text(),
            format!("you asked /n{i} of 127.0.0.1:{}", addr.port())
        );
    }
    // One TLS connection, reused across the requests.
    assert_eq!(conns.load(Ordering::SeqCst), 1);
}

#[test]
fn https_close_delimited_bodies_need_close_notify() {
    let (_dir, _, conns, p) = trusted_https_origin("tls-close");
    // Ended by close_notify: complete, and stored.
    assert_eq!(get(&p, "/close-notify").text(), "until close");
    assert_eq!(get(&p, "/close-notify").header("x-cache"), Some("HIT"));
    // Ended by a bare TCP close: possibly truncated, so never a complete 200 (the client
    // connection is closed mid-body) and never stored.
    for _ in 0..2 {
        let mut c = Client::connect(p.local_addr());
        c.send(b"GET /close HTTP/1.1\r\nHost: x\r\n\r\n");
        assert!(
            c.response(false).is_err(),
            "a truncated body passed as complete"
        );
    }
    assert_eq!(conns.load(Ordering::SeqCst), 3);
}

#[test]
fn https_upstream_failed_verification_is_a_502_naming_the_cause() {
    let dir = TempDir::new("tls-bad");
    make_certs(&dir);
    // Not signed by anything the proxy trusts (webpki roots only).
    let (addr, _) = tls_origin(&dir, "good");
    let p = https_proxy(&format!("https://127.0.0.1:{}", addr.port()), None);
    let r = get(&p, "/x");
    assert_eq!(r.status, 502);
    let page = r.text();
    assert!(page.contains("TLS handshake"), "{page}");
    assert!(page.contains("UnknownIssuer"), "{page}");
    // Trusted, but for another name.
    let (addr, _) = tls_origin(&dir, "wrong");
    let p = https_proxy(
        &format!("https://127.0.0.1:{}", addr.port()),
        Some(&dir.join("ca.pem")),
    );
    let r = get(&p, "/x");
    assert_eq!(r.status, 502);
    let page = r.text();
    assert!(page.contains("certificate not valid for name"), "{page}");
    // Plain HTTP where TLS was expected: a handshake failure too, not a hang.
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let plain = l.local_addr().unwrap();
    std::thread::spawn(move || {
        for mut s in l.incoming().flatten() {
            let _ = s.write_all(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n");
        }
    });
    let p = https_proxy(
        &format!("https://127.0.0.1:{}", plain.port()),
        Some(&dir.join("ca.pem")),
    );
    let r = get(&p, "/x");
    assert_eq!(r.status, 502);
    assert!(r.text().contains("TLS handshake"), "{}", r.text());
}

/// The reactor-proxy binary on a free port with `args`; killed on drop.
struct Binary(std::process::Child, u16);

impl Binary {
    fn start(args: &[&str]) -> Binary {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = std::process::Command::new(env!("CARGO_BIN_EXE_reactor-proxy"))
            .args(["--bind", &format!("127.0.0.1:{port}")])
            .args(args)
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let b = Binary(child, port);
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                std::time::Instant::now() < deadline,
                "the proxy did not start"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        b
    }

    fn addr(&self) -> SocketAddr {
        ([127, 0, 0, 1], self.1).into()
    }
}

impl Drop for Binary {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn binary_https_upstream_with_upstream_ca() {
    let dir = TempDir::new("tls-bin");
    make_certs(&dir);
    let (addr, _) = tls_origin(&dir, "good");
    let up = format!("https://127.0.0.1:{}", addr.port());
    let b = Binary::start(&[
        "--upstream",
        &up,
        "--upstream-ca",
        dir.join("ca.pem").to_str().unwrap(),
    ]);
    let mut c = Client::connect(b.addr());
    let r = c.get("/via-binary");
    assert_eq!(r.status, 200);
    assert!(
        r.text().starts_with("you asked /via-binary"),
        "{}",
        r.text()
    );
}

// ------------------------------------------------------------------ several origins

/// A thread origin answering `NAME PATH`; `/health` answers 200 or 503 after `healthy`.
/// Every request head is recorded.
struct Named {
    addr: SocketAddr,
    healthy: Arc<std::sync::atomic::AtomicBool>,
    heads: Arc<std::sync::Mutex<Vec<String>>>,
}

fn named(name: &'static str) -> Named {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    let healthy = Arc::new(std::sync::atomic::AtomicBool::new(true));
    let heads = Arc::new(std::sync::Mutex::new(Vec::new()));
    let (h2, heads2) = (healthy.clone(), heads.clone());
    std::thread::spawn(move || {
        for s in l.incoming() {
            let Ok(mut s) = s else { continue };
            let (healthy, heads) = (h2.clone(), heads2.clone());
            std::thread::spawn(move || {
                while let Some(head) = read_head(&mut s) {
                    let path = head.split(' ').nth(1).unwrap_or("").to_string();
                    let len: usize = head
                        .lines()
                        .find_map(|l| l.strip_prefix("Content-Length: "))
                        .and_then(|v| v.trim().parse().ok())
                        .unwrap_or(0);
                    let mut body = vec![0u8; len];
                    if s.read_exact(&mut body).is_err() {
                        return;
                    }
                    heads.lock().unwrap().push(head);
                    let status = if path == "/health" && !healthy.load(Ordering::SeqCst) {
                        "503 Down"
                    } else {
                        "200 OK"
                    };
                    let body = format!("{name} {path}");
                    let resp = format!(
                        "HTTP/1.1 {status}\r\nCache-Control: no-store\r\nContent-Length: {}\r\n\r\n{body}",
                        body.len()
                    );
                    if s.write_all(resp.as_bytes()).is_err() {
                        return;
                    }
                }
            });
        }
    });
    Named {
        addr,
        healthy,
        heads,
    }
}

fn balanced(addrs: &[SocketAddr], tweak: impl FnOnce(&mut ProxyConfig)) -> Running {
    let mut ups = addrs
        .iter()
        .map(|a| parse_upstream(&format!("http://{a}")).unwrap());
    let mut cfg = ProxyConfig {
        upstream: ups.next(),
        more_upstreams: ups.collect(),
        ..ProxyConfig::default()
    };
    tweak(&mut cfg);
    proxy_with(cfg)
}

/// The origin name in a `NAME PATH` answer.
fn who(r: &TestResponse) -> String {
    assert_eq!(r.status, 200, "{}", r.text());
    r.text().split(' ').next().unwrap_or("").to_string()
}

/// A port nothing listens on.
fn dead_addr() -> SocketAddr {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
}

#[test]
fn round_robin_uri_hash_and_forwarded_headers() {
    let (a, b, c) = (named("a"), named("b"), named("c"));
    let p = balanced(&[a.addr, b.addr, c.addr], |cfg| cfg.forwarded_for = true);
    let names: Vec<String> = (0..6).map(|i| who(&get(&p, &format!("/r{i}")))).collect();
    assert_eq!(names, ["a", "b", "c", "a", "b", "c"]);
    // Host names the site (the first upstream) on every origin.
    let head = c.heads.lock().unwrap()[0].clone();
    assert!(head.contains(&format!("Host: {}\r\n", a.addr)), "{head}");
    assert!(head.contains("X-Forwarded-For: 127.0.0.1\r\n"), "{head}");
    assert!(
        head.contains("Forwarded: for=127.0.0.1;proto=http\r\n"),
        "{head}"
    );
    assert!(head.contains("X-Forwarded-Proto: http\r\n"), "{head}");

    let p = balanced(&[a.addr, b.addr, c.addr], |cfg| {
        cfg.balance = Balance::UriHash
    });
    for i in 0..10 {
        let path = format!("/h{i}");
        let first = who(&get(&p, &path));
        for _ in 0..3 {
            assert_eq!(who(&get(&p, &path)), first, "{path}");
        }
    }
}

#[test]
fn refused_origins_are_skipped_and_left_out() {
    let live = named("live");
    // Both GET and POST: a refused connection never received the request.
    let p = balanced(&[dead_addr(), live.addr], |_| {});
    for i in 0..4 {
        assert_eq!(who(&get(&p, &format!("/g{i}"))), "live");
        let mut c = Client::connect(p.local_addr());
        c.send(b"POST /p HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\nhi");
        assert_eq!(who(&c.response(false).unwrap()), "live");
    }
    // Left out after its first failure (max_fails 1): later requests never try it, so
    // the live origin sees every one of them.
    assert_eq!(live.heads.lock().unwrap().len(), 8);
    // Every origin down: a 502 naming the cause.
    let p = balanced(&[dead_addr(), dead_addr()], |_| {});
    let r = get(&p, "/");
    assert_eq!(r.status, 502);
    assert!(r.text().contains("Cannot connect"), "{}", r.text());
}

#[test]
fn active_health_checks_take_origins_out_and_back() {
    let (a, b) = (named("a"), named("b"));
    let p = balanced(&[a.addr, b.addr], |cfg| {
        cfg.health_check = Some("/health".into());
        cfg.health_interval = Duration::from_millis(100);
    });
    b.healthy.store(false, Ordering::SeqCst);
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    // Once a check has seen b fail, every request goes to a.
    loop {
        assert!(std::time::Instant::now() < deadline, "b never taken out");
        let names: Vec<String> = (0..4).map(|_| who(&get(&p, "/x"))).collect();
        if names.iter().all(|n| n == "a") {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    b.healthy.store(true, Ordering::SeqCst);
    loop {
        assert!(std::time::Instant::now() < deadline, "b never back");
        let names: Vec<String> = (0..4).map(|_| who(&get(&p, "/x"))).collect();
        if names.iter().any(|n| n == "b") {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let checks = b.heads.lock().unwrap();
    assert!(checks
        .iter()
        .any(|h| h.starts_with("GET /health HTTP/1.1\r\n")));
}

#[test]
fn one_origin_of_three_killed_mid_run_no_client_errors_on_get() {
    let root = TempDir::new("proxyup-www");
    let page = "the same page on every origin\n".repeat(20);
    std::fs::write(root.join("page.html"), &page).unwrap();
    let origins: Vec<Httpd> = (0..3).map(|_| Httpd::start(&root.0, &[])).collect();
    let mut args = vec!["--cache-size".to_string(), "0".to_string()];
    for o in &origins {
        args.extend(["--upstream".to_string(), format!("http://{}", o.addr)]);
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let proxy = Binary::start(&args);
    let done = Arc::new(AtomicUsize::new(0));
    let clients: Vec<_> = (0..4)
        .map(|_| {
            let (done, addr, page) = (done.clone(), proxy.addr(), page.clone());
            std::thread::spawn(move || {
                let mut c = Client::connect(addr);
                let mut errors = Vec::new();
                for i in 0..150 {
                    let r = c.get("/page.html");
                    if r.status != 200 || r.text() != page {
                        errors.push(format!("request {i}: {} {}", r.status, r.text()));
                    }
                    done.fetch_add(1, Ordering::SeqCst);
                }
                errors
            })
        })
        .collect();
    while done.load(Ordering::SeqCst) < 150 {
        std::thread::sleep(Duration::from_millis(1));
    }
    origins[1].signal(libc::SIGKILL);
    let errors: Vec<String> = clients
        .into_iter()
        .flat_map(|c| c.join().unwrap())
        .collect();
    assert!(errors.is_empty(), "{errors:?}");
    assert_eq!(done.load(Ordering::SeqCst), 600);
}

// ------------------------------------------------------------------ parent proxies

/// A TCP echo server.
fn echo() -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    std::thread::spawn(move || {
        for s in l.incoming() {
            let Ok(mut s) = s else { continue };
            std::thread::spawn(move || {
                let mut b = [0u8; 4096];
                while let Ok(n @ 1..) = s.read(&mut b) {
                    if s.write_all(&b[..n]).is_err() {
                        return;
                    }
                }
            });
        }
    });
    addr
}

/// Asks `proxy` for a tunnel to `to` and checks bytes go both ways through it.
fn tunnel_echoes(proxy: SocketAddr, to: SocketAddr) {
    let mut s = TcpStream::connect(proxy).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(s, "CONNECT {to} HTTP/1.1\r\nHost: {to}\r\n\r\n").unwrap();
    let head = read_head(&mut s).expect("an answer to CONNECT");
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    s.write_all(b"ping through the chain").unwrap();
    let mut got = [0u8; 22];
    s.read_exact(&mut got).unwrap();
    assert_eq!(&got, b"ping through the chain");
}

/// The forward proxy with `parent`, CONNECT allowed to `port`.
fn child_of(parent: SocketAddr, port: u16) -> Running {
    proxy_with(ProxyConfig {
        parent: Some(parse_parent(&parent.to_string()).unwrap()),
        connect_ports: vec![port],
        ..ProxyConfig::default()
    })
}

#[test]
fn parent_chaining_through_a_second_reactor_proxy() {
    let o = named("origin");
    let e = echo();
    let parent = proxy_with(ProxyConfig {
        connect_ports: vec![e.port()],
        ..ProxyConfig::default()
    });
    let child = child_of(parent.local_addr(), e.port());
    let r = get(&child, &format!("http://{}/chained?q=1", o.addr));
    assert_eq!(r.text(), "origin /chained?q=1");
    let head = o.heads.lock().unwrap()[0].clone();
    assert_eq!(head.matches("reactor-proxy").count(), 2, "{head}");
    assert!(head.contains(&format!("Host: {}\r\n", o.addr)), "{head}");
    tunnel_echoes(child.local_addr(), e);
    // The parent refusing the tunnel (port not allowed there) is a 502 naming it.
    let strict = proxy_with(ProxyConfig::default());
    let child = child_of(strict.local_addr(), e.port());
    let mut c = Client::connect(child.local_addr());
    c.send(format!("CONNECT {e} HTTP/1.1\r\nHost: {e}\r\n\r\n").as_bytes());
    let r = c.response(false).unwrap();
    assert_eq!(r.status, 502);
    assert!(r.text().contains("parent proxy refused"), "{}", r.text());
    // A parent that is not there: 502.
    let child = child_of(dead_addr(), e.port());
    let r = get(&child, &format!("http://{}/x", o.addr));
    assert_eq!(r.status, 502);
}

/// squid on a free port with a generated configuration; stopped on drop.
struct Squid {
    child: std::process::Child,
    port: u16,
    _dir: TempDir,
}

impl Squid {
    fn start() -> Squid {
        let dir = TempDir::new("proxyup-squid");
        // squid drops root for its own user, which must write here.
        std::fs::set_permissions(&dir.0, std::os::unix::fs::PermissionsExt::from_mode(0o777))
            .unwrap();
        let port = dead_addr().port();
        let d = dir.0.display();
        let conf = format!(
            "http_port 127.0.0.1:{port}\npid_filename {d}/squid.pid\ncache_log {d}/cache.log\n\
             access_log none\ncache_store_log none\ncoredump_dir {d}\ncache deny all\n\
             http_access allow localhost\nhttp_access deny all\nshutdown_lifetime 0 seconds\n"
        );
        std::fs::write(dir.join("squid.conf"), conf).unwrap();
        let child = std::process::Command::new("squid")
            .args(["-N", "-f"])
            .arg(dir.join("squid.conf"))
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("squid is needed for this test (.ci/run installs it)");
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(std::time::Instant::now() < deadline, "squid did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
        Squid {
            child,
            port,
            _dir: dir,
        }
    }
}

impl Drop for Squid {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn parent_chaining_through_squid() {
    let squid = Squid::start();
    let o = named("origin");
    let e = echo();
    let child = child_of(([127, 0, 0, 1], squid.port).into(), e.port());
    for i in 0..3 {
        let r = get(&child, &format!("http://{}/sq{i}", o.addr));
        assert_eq!(r.text(), format!("origin /sq{i}"));
    }
    let head = o.heads.lock().unwrap()[0].clone();
    assert!(head.contains("squid"), "squid's Via is missing: {head}");
    assert!(head.contains("reactor-proxy"), "{head}");
    tunnel_echoes(child.local_addr(), e);
}

// ------------------------------------------------------------------ proxy authentication

/// Made with apache2-utils `htpasswd` (-B -C 5, -m, -5, -2, -B -C 13).
const USERS: &str = "\
bea:$2y$05$4Tm8k3DBu96fBmOKLwH6L.QNzDOOuZpw.EtkMz0gjKfinzXnFuXfq
amy:$apr1$XdYIiOZ5$OVYbQYXSCyfcT1tBlIH1y.
sid:$6$B00G4o.3iY/ZTQNK$vGExoVN7jbVQhEIpE0Mw7bDlTFd6RVgBeRZP/p4RsHCHoVuEa.44d2ZY/j4KhcTJsxZuzihyn/deRcmnFqAUC/
sam:$5$/m2zLFqzg9f6icTf$HBf3uIS25Ms583jKL2cJXOqhN9bLNhUMdmEX54Z4h/4
slow:$2y$13$zT4I7UxpXiesvgKA59LciOxTcsgUSM93eUmfjW8k.9fnNqWpHIANW
";

fn basic(user: &str, password: &str) -> String {
    use base64::Engine;
    let token = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
    format!("Proxy-Authorization: Basic {token}\r\n")
}

fn request(p: &Running, head: &str) -> TestResponse {
    let mut c = Client::connect(p.local_addr());
    c.send(head.as_bytes());
    c.response(false).expect("a response")
}

#[test]
fn proxy_auth_407_until_credentials_verify_never_forwarded_or_logged() {
    let o = named("origin");
    let e = echo();
    let log = reactor::testing::MemoryLog::default();
    let auth = Arc::new(ProxyAuth::new(Htpasswd::parse(USERS)));
    let p = proxy_with(ProxyConfig {
        proxy_auth: Some(auth.clone()),
        connect_ports: vec![e.port()],
        cache_log: Some(log.sink()),
        ..ProxyConfig::default()
    });
    let url = format!("http://{}/private", o.addr);
    for creds in ["".to_string(), basic("bea", "wrong"), basic("nobody", "x")] {
        let r = request(&p, &format!("GET {url} HTTP/1.1\r\nHost: o\r\n{creds}\r\n"));
        assert_eq!(r.status, 407, "{creds}");
        let challenge = r.header("proxy-authenticate").unwrap_or("");
        assert!(challenge.starts_with("Basic realm="), "{challenge}");
    }
    let r = request(
        &p,
        &format!("GET {url} HTTP/1.1\r\nHost: o\r\nProxy-Authorization: Bearer x\r\n\r\n"),
    );
    assert_eq!(r.status, 407);
    assert!(
        o.heads.lock().unwrap().is_empty(),
        "nothing reached the origin"
    );
    for (user, password) in [
        ("bea", "b-secret"),
        ("amy", "a-secret"),
        ("sid", "s-secret"),
        ("sam", "s2-secret"),
    ] {
        let creds = basic(user, password);
        for _ in 0..2 {
            let r = request(&p, &format!("GET {url} HTTP/1.1\r\nHost: o\r\n{creds}\r\n"));
            assert_eq!(r.text(), "origin /private", "{user}");
        }
    }
    assert_eq!(auth.remembered(), 4);
    // CONNECT too.
    let r = request(&p, &format!("CONNECT {e} HTTP/1.1\r\nHost: {e}\r\n\r\n"));
    assert_eq!(r.status, 407);
    let mut s = TcpStream::connect(p.local_addr()).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(
        s,
        "CONNECT {e} HTTP/1.1\r\nHost: {e}\r\n{}\r\n",
        basic("amy", "a-secret")
    )
    .unwrap();
    assert!(read_head(&mut s).unwrap().starts_with("HTTP/1.1 200"));
    s.write_all(b"hello").unwrap();
    let mut got = [0u8; 5];
    s.read_exact(&mut got).unwrap();
    assert_eq!(&got, b"hello");
    // Never forwarded, never logged.
    for head in o.heads.lock().unwrap().iter() {
        assert!(
            !head.to_ascii_lowercase().contains("proxy-authorization"),
            "{head}"
        );
    }
    let logged = log.text();
    assert!(logged.contains("/private"), "{logged}");
    for secret in ["secret", "YmVh", "Basic"] {
        assert!(!logged.contains(secret), "{secret} in {logged}");
    }
}

#[test]
fn proxy_auth_verifies_off_the_reactor_and_spares_reverse_requests() {
    let o = named("origin");
    let auth = Arc::new(ProxyAuth::new(Htpasswd::parse(USERS)));
    let p = proxy_with(ProxyConfig {
        proxy_auth: Some(auth),
        ..ProxyConfig::default()
    });
    let url = |path: &str| format!("http://{}{path}", o.addr);
    let fast = basic("bea", "b-secret");
    let r = request(
        &p,
        &format!("GET {} HTTP/1.1\r\nHost: o\r\n{fast}\r\n", url("/warm")),
    );
    assert_eq!(r.text(), "origin /warm");
    // bcrypt cost 13 takes a while: meanwhile the reactor serves someone else, all the
    // way to the origin and back (credentials remembered), before the slow request
    // reaches the origin.
    let mut slow = Client::connect(p.local_addr());
    let creds = basic("slow", "slow-secret");
    slow.send(format!("GET {} HTTP/1.1\r\nHost: o\r\n{creds}\r\n", url("/slow")).as_bytes());
    std::thread::sleep(Duration::from_millis(20));
    let r = request(
        &p,
        &format!("GET {} HTTP/1.1\r\nHost: o\r\n{fast}\r\n", url("/fast")),
    );
    assert_eq!(r.text(), "origin /fast");
    let seen: Vec<String> = o.heads.lock().unwrap().clone();
    assert!(
        !seen.iter().any(|h| h.starts_with("GET /slow")),
        "the slow verification held up the reactor"
    );
    assert_eq!(slow.response(false).unwrap().text(), "origin /slow");
    // A reverse proxy's own requests need no proxy credentials.
    let p = proxy_with(ProxyConfig {
        upstream: Some(parse_upstream(&format!("http://{}", o.addr)).unwrap()),
        proxy_auth: Some(Arc::new(ProxyAuth::new(Htpasswd::parse(USERS)))),
        ..ProxyConfig::default()
    });
    assert_eq!(get(&p, "/rev").text(), "origin /rev");
}

// ------------------------------------------------------------------ miss path

#[test]
fn unstorable_urls_are_not_collapsed_once_known() {
    // The origin holds each request until four are in at once (or gives up after 5 s and
    // says so): collapsed requests would arrive one at a time. `X-Warm: 1` is answered
    // at once.
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    let arrived = Arc::new((std::sync::Mutex::new(0usize), std::sync::Condvar::new()));
    std::thread::spawn(move || {
        for s in l.incoming() {
            let Ok(mut s) = s else { continue };
            let arrived = arrived.clone();
            std::thread::spawn(move || {
                while let Some(head) = read_head(&mut s) {
                    let together = head.contains("X-Warm: 1") || {
                        let (n, cv) = &*arrived;
                        let mut n = n.lock().unwrap();
                        *n += 1;
                        cv.notify_all();
                        let (n, _) = cv
                            .wait_timeout_while(n, Duration::from_secs(5), |n| *n < 4)
                            .unwrap();
                        *n >= 4
                    };
                    let body = if together { "together" } else { "alone" };
                    let resp = format!(
                        "HTTP/1.1 200 OK\r\nCache-Control: no-store\r\nContent-Length: {}\r\n\r\n{body}",
                        body.len()
                    );
                    if s.write_all(resp.as_bytes()).is_err() {
                        return;
                    }
                }
            });
        }
    });
    let p = Arc::new(proxy_with(ProxyConfig::default()));
    let url = format!("http://{addr}/page");
    // The first answer for the URL says it cannot be stored...
    let r = request(
        &p,
        &format!("GET {url} HTTP/1.1\r\nHost: o\r\nX-Warm: 1\r\n\r\n"),
    );
    assert_eq!(r.text(), "together");
    // ...so later requests for it go to the origin each at once, none waiting for another.
    let clients: Vec<_> = (0..4)
        .map(|_| {
            let (p, url) = (p.clone(), url.clone());
            std::thread::spawn(move || get(&p, &url).text())
        })
        .collect();
    let bodies: Vec<String> = clients.into_iter().map(|c| c.join().unwrap()).collect();
    assert_eq!(bodies, ["together"; 4]);
}
