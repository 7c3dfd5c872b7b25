//! reactor-proxy's upstream side over real sockets: origin heads dripped byte by byte,
//! TLS origins, several origins with balancing and health, parent proxies, proxy auth.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use reactor::testing::{serve, Client, TestResponse};
use reactor::{Config, Running, Server};
use reactor_handlers::proxy::{parse_upstream, tls, Proxy, ProxyConfig};

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

/// A scratch directory removed on drop.
struct Scratch(std::path::PathBuf);

impl Scratch {
    fn new(name: &str) -> Scratch {
        let d = std::env::temp_dir().join(format!("proxyup-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        Scratch(d)
    }

    fn path(&self, f: &str) -> String {
        self.0.join(f).to_string_lossy().into_owned()
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A test CA (`ca.pem`) and two P-256 leaves it signed: `good` for 127.0.0.1 and
/// localhost, `wrong` for other.example only. Made with the openssl CLI.
fn make_certs(dir: &Scratch) {
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
fn tls_origin(dir: &Scratch, leaf: &str) -> (SocketAddr, Arc<AtomicUsize>) {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let certs: Vec<CertificateDer<'static>> =
        CertificateDer::pem_file_iter(dir.path(&format!("{leaf}.pem")))
            .unwrap()
            .map(Result::unwrap)
            .collect();
    let key = PrivateKeyDer::from_pem_file(dir.path(&format!("{leaf}.key"))).unwrap();
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

fn https_proxy(origin: &str, ca: Option<&str>) -> Running {
    let upstream_tls = ca.map(|ca| tls::client_config(Some(ca.as_ref())).unwrap());
    proxy_with(ProxyConfig {
        upstream: Some(parse_upstream(origin).unwrap()),
        upstream_tls,
        ..ProxyConfig::default()
    })
}

#[test]
fn https_upstream_verified_and_pooled() {
    let dir = Scratch::new("tls-good");
    make_certs(&dir);
    let (addr, conns) = tls_origin(&dir, "good");
    let p = https_proxy(
        &format!("https://127.0.0.1:{}", addr.port()),
        Some(&dir.path("ca.pem")),
    );
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
fn https_upstream_failed_verification_is_a_502_naming_the_cause() {
    let dir = Scratch::new("tls-bad");
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
        Some(&dir.path("ca.pem")),
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
        Some(&dir.path("ca.pem")),
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
    let dir = Scratch::new("tls-bin");
    make_certs(&dir);
    let (addr, _) = tls_origin(&dir, "good");
    let up = format!("https://127.0.0.1:{}", addr.port());
    let b = Binary::start(&["--upstream", &up, "--upstream-ca", &dir.path("ca.pem")]);
    let mut c = Client::connect(b.addr());
    let r = c.get("/via-binary");
    assert_eq!(r.status, 200);
    assert!(
        r.text().starts_with("you asked /via-binary"),
        "{}",
        r.text()
    );
}
