//! The ACME client against pebble, Let's Encrypt's test CA (Debian package `pebble`), with
//! `pebble-challtestsrv` as the DNS server that points every name at 127.0.0.1.
//! Certificates are issued over HTTP-01 answered by a real reactor server, stored, reused
//! after a restart without a new order, renewed, and failures are retried and reported.

mod common;

use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{Httpd, TempDir};
use reactor::{Config, Server};
use reactor_bins::acme::{
    AcmeConfig, AcmeStatus, ChallengeKind, Challenges, Http01Handler, Issued, Manager,
};

/// A port free right now (pebble and its DNS server need them in their configuration).
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// A child process killed on drop.
struct Proc(Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn wait_for_port(port: u16, what: &str) {
    let start = Instant::now();
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "{what} did not start"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Pebble listening on `localhost`, validating HTTP-01 on `http_port`, plus its DNS.
struct Pebble {
    _dns: Proc,
    _ca: Proc,
    directory: String,
    management: u16,
    ca_pem: PathBuf,
}

fn pebble(dir: &TempDir, http_port: u16, env: &[(&str, &str)], validity_secs: u64) -> Pebble {
    pebble_with(dir, http_port, free_port(), env, validity_secs)
}

/// [`pebble`], validating TLS-ALPN-01 on `tls_port`.
fn pebble_with(
    dir: &TempDir,
    http_port: u16,
    tls_port: u16,
    env: &[(&str, &str)],
    validity_secs: u64,
) -> Pebble {
    // The CA's own HTTPS certificate, trusted by the client with `ca_file`.
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = rcgen::CertificateParams::new(vec!["localhost".to_string()])
        .unwrap()
        .self_signed(&key)
        .unwrap();
    let ca_pem = dir.join("pebble.pem");
    std::fs::write(&ca_pem, cert.pem()).unwrap();
    std::fs::write(dir.join("pebble.key"), key.serialize_pem()).unwrap();

    let dns_port = free_port();
    let dns = Command::new("pebble-challtestsrv")
        .args(["-dns01", &format!("127.0.0.1:{dns_port}")])
        .args(["-http01", "", "-https01", "", "-tlsalpn01", ""])
        .args(["-defaultIPv6", ""])
        .args(["-management", &format!("127.0.0.1:{}", free_port())])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("pebble-challtestsrv (Debian package pebble) is installed");
    let (listen, management) = (free_port(), free_port());
    let config = format!(
        r#"{{"pebble": {{"listenAddress": "127.0.0.1:{listen}",
            "managementListenAddress": "127.0.0.1:{management}",
            "certificate": "{cert}", "privateKey": "{key}",
            "httpPort": {http_port}, "tlsPort": {tls},
            "ocspResponderURL": "", "externalAccountBindingRequired": false,
            "certificateValidityPeriod": {validity_secs}}}}}"#,
        cert = ca_pem.display(),
        key = dir.join("pebble.key").display(),
        tls = tls_port,
    );
    std::fs::write(dir.join("pebble.json"), config).unwrap();
    let mut cmd = Command::new("pebble");
    cmd.arg("-config")
        .arg(dir.join("pebble.json"))
        .args(["-dnsserver", &format!("127.0.0.1:{dns_port}")])
        .env("PEBBLE_VA_NOSLEEP", "1")
        .env("PEBBLE_WFE_NONCEREJECT", "0")
        .env("PEBBLE_AUTHZREUSE", "0")
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let ca = cmd
        .spawn()
        .expect("pebble (Debian package pebble) is installed");
    wait_for_port(listen, "pebble");
    wait_for_port(management, "pebble management");
    Pebble {
        _dns: Proc(dns),
        _ca: Proc(ca),
        directory: format!("https://localhost:{listen}/dir"),
        management,
        ca_pem,
    }
}

/// Every certificate installed, in order.
type Installed = Arc<Mutex<Vec<(Vec<String>, Issued)>>>;

fn manager(
    pebble: &Pebble,
    state: &Path,
    challenges: Arc<Challenges>,
    certs: Vec<Vec<String>>,
    tune: impl FnOnce(&mut AcmeConfig),
) -> (Manager, Installed) {
    let mut config = AcmeConfig::new(&pebble.directory);
    config.ca_file = Some(pebble.ca_pem.clone());
    config.state_dir = state.to_path_buf();
    config.email = Some("admin@example.test".into());
    config.kinds = vec![ChallengeKind::Http01];
    config.retry_base = Duration::from_millis(300);
    tune(&mut config);
    let installed: Installed = Arc::default();
    let sink = installed.clone();
    let m = Manager::new(
        config,
        certs,
        challenges,
        Box::new(move |names, issued| {
            sink.lock().unwrap().push((names.to_vec(), issued.clone()));
            Ok(())
        }),
    );
    (m, installed)
}

fn wait_installed(installed: &Installed, status: &AcmeStatus, count: usize, limit: Duration) {
    let start = Instant::now();
    while installed.lock().unwrap().len() < count {
        assert!(
            start.elapsed() < limit,
            "only {} of {count} certificates after {limit:?}: {:?}",
            installed.lock().unwrap().len(),
            status.snapshot()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The reactor server answering HTTP-01 challenges.
fn challenge_server(challenges: &Arc<Challenges>) -> reactor::Running {
    Server::new(Config::default())
        .bind("127.0.0.1:0".parse().unwrap())
        .handler(Http01Handler(challenges.clone()))
        .start()
        .unwrap()
}

/// Pebble's issuing root (new at every start), saved as `root.pem` in `dir`.
fn pebble_root(pebble: &Pebble, dir: &TempDir) -> PathBuf {
    let root = Command::new("curl")
        .args(["-sS", "--cacert"])
        .arg(&pebble.ca_pem)
        .arg(format!("https://localhost:{}/roots/0", pebble.management))
        .output()
        .unwrap();
    assert!(root.status.success(), "cannot fetch pebble's root");
    std::fs::write(dir.join("root.pem"), &root.stdout).unwrap();
    dir.join("root.pem")
}

/// `openssl verify` of the leaf against pebble's root, with the chain's intermediates.
fn verify_chain(pebble: &Pebble, dir: &TempDir, issued: &Issued, name: &str) {
    pebble_root(pebble, dir);
    std::fs::write(dir.join("chain.pem"), &issued.chain_pem).unwrap();
    let out = Command::new("openssl")
        .args(["verify", "-CAfile"])
        .arg(dir.join("root.pem"))
        .arg("-untrusted")
        .arg(dir.join("chain.pem"))
        .args(["-verify_hostname", name])
        .arg(dir.join("chain.pem"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn issues_two_names_over_http01_then_reuses_them_after_restart() {
    let dir = TempDir::new("acme-issue");
    let challenges = Arc::new(Challenges::new());
    let server = challenge_server(&challenges);
    let pebble = pebble(&dir, server.local_addr().port(), &[], 3600);
    let state = dir.join("state");
    let certs = vec![vec!["a.test".to_string()], vec!["b.test".to_string()]];

    let (m, installed) = manager(&pebble, &state, challenges.clone(), certs.clone(), |_| {});
    let stop = m.stop_flag();
    let status = m.status();
    let thread = m.start().unwrap();
    wait_installed(&installed, &status, 2, Duration::from_secs(60));
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    thread.join().unwrap();
    let first: Vec<(Vec<String>, Issued)> = installed.lock().unwrap().clone();
    for (names, issued) in &first {
        verify_chain(&pebble, &dir, issued, &names[0]);
    }
    // Private key files are 0600.
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(state.join("a.test.key"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);

    // A restart installs the stored certificates before start() returns, orders nothing.
    let (m, again) = manager(&pebble, &state, challenges, certs, |_| {});
    let status = m.status();
    let stop = m.stop_flag();
    let thread = m.start().unwrap();
    assert_eq!(
        again.lock().unwrap().len(),
        2,
        "stored certificates used at once"
    );
    std::thread::sleep(Duration::from_secs(1));
    assert_eq!(
        again.lock().unwrap().len(),
        2,
        "no new order after a restart"
    );
    for (name, state) in status.snapshot() {
        assert!(state.contains("stored certificate"), "{name}: {state}");
    }
    let chains: Vec<String> = again
        .lock()
        .unwrap()
        .iter()
        .map(|(_, i)| i.chain_pem.clone())
        .collect();
    for (_, issued) in &first {
        assert!(chains.contains(&issued.chain_pem));
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    thread.join().unwrap();
}

#[test]
fn renews_a_short_lived_certificate_and_retries_bad_nonces() {
    let dir = TempDir::new("acme-renew");
    let challenges = Arc::new(Challenges::new());
    let server = challenge_server(&challenges);
    // Certificates valid 12 s: renewal is due after 8 s. Half the nonces are refused.
    let pebble = pebble(
        &dir,
        server.local_addr().port(),
        &[("PEBBLE_WFE_NONCEREJECT", "50")],
        12,
    );
    let (m, installed) = manager(
        &pebble,
        &dir.join("state"),
        challenges,
        vec![vec!["renew.test".to_string()]],
        |_| {},
    );
    let stop = m.stop_flag();
    let status = m.status();
    let thread = m.start().unwrap();
    wait_installed(&installed, &status, 2, Duration::from_secs(60));
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    thread.join().unwrap();
    let got = installed.lock().unwrap();
    assert_ne!(got[0].1.chain_pem, got[1].1.chain_pem, "a new certificate");
}

#[test]
fn a_failing_ca_is_retried_and_reported() {
    let dir = TempDir::new("acme-fail");
    let challenges = Arc::new(Challenges::new());
    let server = challenge_server(&challenges);
    // Nothing answers HTTP-01 on this port: every authorization fails.
    drop(server);
    let pebble = pebble(&dir, free_port(), &[], 3600);
    let (m, installed) = manager(
        &pebble,
        &dir.join("state"),
        challenges,
        vec![vec!["fail.test".to_string()]],
        |_| {},
    );
    let status = m.status();
    let stop = m.stop_flag();
    let thread = m.start().unwrap();
    let start = Instant::now();
    let mut seen = Vec::new();
    while start.elapsed() < Duration::from_secs(30) {
        if let Some((_, s)) = status.snapshot().into_iter().next() {
            if s.starts_with("failed") && !seen.contains(&s) {
                seen.push(s);
            }
        }
        if seen.len() >= 2 {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    thread.join().unwrap();
    assert!(installed.lock().unwrap().is_empty());
    assert!(seen.len() >= 2, "retried: {seen:?}");
    // The CA's problem document is in the report, and the delay grows.
    assert!(
        seen[0].contains("urn:ietf:params:acme:error"),
        "{}",
        seen[0]
    );
    assert!(seen.iter().any(|s| s.contains("retrying in")), "{seen:?}");
}

/// `curl --cacert ROOT https://NAME:PORT/` with NAME resolved to 127.0.0.1: the body, or
/// None while the handshake fails.
fn fetch(root: &Path, name: &str, port: u16) -> Option<String> {
    let out = Command::new("curl")
        .args(["-sS", "--max-time", "5", "--cacert"])
        .arg(root)
        .args(["--resolve", &format!("{name}:{port}:127.0.0.1")])
        .arg(format!("https://{name}:{port}/hello.txt"))
        .output()
        .unwrap();
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}

/// reactor-httpd with `--acme` gets its certificate from pebble over each challenge kind,
/// then serves the site to curl trusting pebble's root; a restart serves the stored
/// certificate at once.
#[test]
fn reactor_httpd_gets_its_certificates_from_the_ca() {
    for kind in ["tls-alpn-01", "http-01"] {
        let dir = TempDir::new("acme-httpd");
        let www = dir.join("www");
        std::fs::create_dir_all(&www).unwrap();
        std::fs::write(www.join("hello.txt"), "hello over acme\n").unwrap();
        let (https_port, http_port) = (free_port(), free_port());
        let pebble = pebble_with(&dir, http_port, https_port, &[], 3600);
        let state = dir.join("state");
        let bind = format!("127.0.0.1:{https_port}");
        let redirect = format!("127.0.0.1:{http_port}");
        let ca = pebble.ca_pem.display().to_string();
        let state_arg = state.display().to_string();
        let args = [
            "--bind",
            &bind,
            "--redirect-http",
            &redirect,
            "--acme",
            "site.test",
            "--acme-directory",
            &pebble.directory,
            "--acme-ca",
            &ca,
            "--acme-state",
            &state_arg,
            "--acme-challenge",
            kind,
            "--acme-email",
            "admin@site.test",
        ];
        let httpd = Httpd::start(&www, &args);
        let root = pebble_root(&pebble, &dir);
        let start = Instant::now();
        let body = loop {
            if let Some(body) = fetch(&root, "site.test", https_port) {
                break body;
            }
            assert!(
                start.elapsed() < Duration::from_secs(60),
                "{kind}: no certificate"
            );
            std::thread::sleep(Duration::from_millis(200));
        };
        assert_eq!(body, "hello over acme\n", "{kind}");
        drop(httpd);

        // Restarted: the stored certificate is served at once (the listener announces
        // itself after installing it), without a new order.
        let _httpd = Httpd::start(&www, &args);
        assert_eq!(
            fetch(&root, "site.test", https_port).as_deref(),
            Some("hello over acme\n"),
            "{kind}: stored certificate after a restart"
        );
    }
}

/// A TLS client connection kept alive across requests, trusting only `root`.
struct KeptAlive(rustls::StreamOwned<rustls::ClientConnection, TcpStream>);

impl KeptAlive {
    fn open(root: &Path, name: &str, port: u16) -> KeptAlive {
        use rustls::pki_types::pem::PemObject;
        let mut roots = rustls::RootCertStore::empty();
        for cert in rustls::pki_types::CertificateDer::pem_file_iter(root).unwrap() {
            roots.add(cert.unwrap()).unwrap();
        }
        let config = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
        let server_name = rustls::pki_types::ServerName::try_from(name.to_string()).unwrap();
        let conn = rustls::ClientConnection::new(Arc::new(config), server_name).unwrap();
        let tcp = TcpStream::connect(("127.0.0.1", port)).unwrap();
        tcp.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        KeptAlive(rustls::StreamOwned::new(conn, tcp))
    }

    /// GET `path` on this connection: the status line and the body.
    fn get(&mut self, host: &str, path: &str) -> (String, String) {
        use std::io::{Read, Write};
        let req = format!("GET {path} HTTP/1.1\r\nHost: {host}\r\n\r\n");
        self.0.write_all(req.as_bytes()).unwrap();
        let mut buf = Vec::new();
        let mut byte = [0u8; 1];
        while !buf.ends_with(b"\r\n\r\n") {
            self.0.read_exact(&mut byte).unwrap();
            buf.push(byte[0]);
        }
        let head = String::from_utf8(buf).unwrap();
        let length: usize = head
            .lines()
            .find_map(|l| {
                l.to_ascii_lowercase()
                    .strip_prefix("content-length:")
                    .map(|v| v.trim().parse().unwrap())
            })
            .expect("a Content-Length");
        let mut body = vec![0; length];
        self.0.read_exact(&mut body).unwrap();
        let status = head.lines().next().unwrap().to_string();
        (status, String::from_utf8(body).unwrap())
    }

    /// The leaf certificate the server presented.
    fn leaf(&self) -> Vec<u8> {
        self.0.conn.peer_certificates().unwrap()[0].to_vec()
    }
}

/// A site of the config file with `acme = true` gets one certificate for all its host
/// names; the status page says what the ACME client is doing; a renewal swaps the
/// certificate for new handshakes while a keep-alive connection opened before it goes on
/// being served.
#[test]
fn config_file_site_with_acme_renews_under_a_kept_alive_connection() {
    let dir = TempDir::new("acme-site");
    let www = dir.join("www");
    std::fs::create_dir_all(&www).unwrap();
    std::fs::write(www.join("hello.txt"), "hello over acme\n").unwrap();
    let (https_port, http_port) = (free_port(), free_port());
    // Valid one hour, renewed when 3,590 s are left: a new certificate about every 10 s.
    let pebble = pebble_with(&dir, http_port, https_port, &[], 3600);
    let config = format!(
        "redirect_http = \"127.0.0.1:{http_port}\"\n\
         acme_directory = \"{directory}\"\nacme_ca = \"pebble.pem\"\nacme_state = \"state\"\n\
         acme_challenge = \"tls-alpn-01\"\nacme_renew_before = 3590\nstatus = \"/status\"\n\
         [[site]]\nhost = [\"one.test\", \"www.one.test\"]\nroot = \"www\"\nacme = true\n",
        directory = pebble.directory,
    );
    std::fs::write(dir.join("site.toml"), config).unwrap();
    let config_arg = dir.join("site.toml").display().to_string();
    let bind = format!("127.0.0.1:{https_port}");
    let _httpd = Httpd::spawn(
        Command::new(common::HTTPD),
        &["--config", &config_arg, "--bind", &bind],
    );
    let root = pebble_root(&pebble, &dir);
    let start = Instant::now();
    while fetch(&root, "one.test", https_port).is_none() {
        assert!(start.elapsed() < Duration::from_secs(60), "no certificate");
        std::thread::sleep(Duration::from_millis(200));
    }
    // One certificate covers both names of the site.
    assert_eq!(
        fetch(&root, "www.one.test", https_port).as_deref(),
        Some("hello over acme\n")
    );
    let mut kept = KeptAlive::open(&root, "one.test", https_port);
    let (status, body) = kept.get("one.test", "/status?format=json");
    assert!(status.contains(" 200 "), "{status}");
    assert!(
        body.contains(r#""ACME":{"one.test":"#) && body.contains("renewal due"),
        "{body}"
    );
    let first = kept.leaf();
    // Wait for the renewal to reach new handshakes.
    let start = Instant::now();
    loop {
        let mut fresh = KeptAlive::open(&root, "one.test", https_port);
        assert_eq!(fresh.get("one.test", "/hello.txt").1, "hello over acme\n");
        if fresh.leaf() != first {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "the certificate was not renewed"
        );
        std::thread::sleep(Duration::from_millis(500));
    }
    // The connection opened before the swap is still served.
    let (status, body) = kept.get("one.test", "/hello.txt");
    assert!(status.contains(" 200 "), "{status}");
    assert_eq!(body, "hello over acme\n");
}

/// A CA with renewal information (RFC 9773): pebble 2.4 has none, so a TLS front serves
/// pebble's directory with `renewalInfo` added, answers each renewal-information request
/// with `window` (seconds relative to now) and records the certificate ids asked for.
struct AriFront {
    running: reactor::Running,
    asked: Arc<Mutex<Vec<String>>>,
}

struct AriHandler {
    directory: String,
    window: (i64, i64),
    asked: Arc<Mutex<Vec<String>>>,
}

impl reactor::Handler for AriHandler {
    fn handle(&self, req: &mut reactor::Request, _cx: &mut reactor::Context<'_>) -> reactor::Reply {
        let json = |body: String| {
            reactor::Reply::Response(reactor::Response::bytes(
                200,
                "application/json",
                body.into_bytes(),
            ))
        };
        if req.path() == "/dir" {
            return json(self.directory.clone());
        }
        let Some(id) = req.path().strip_prefix("/ari/") else {
            return reactor::Reply::Response(reactor::Response::text(404, "no\n"));
        };
        self.asked.lock().unwrap().push(id.to_string());
        let at = |offset: i64| {
            let now = std::time::SystemTime::now();
            let t = if offset >= 0 {
                now + Duration::from_secs(offset as u64)
            } else {
                now - Duration::from_secs(offset.unsigned_abs())
            };
            let c = reactor::date::civil(t);
            format!(
                "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
                c.year, c.month, c.day, c.hour, c.minute, c.second
            )
        };
        json(format!(
            r#"{{"suggestedWindow":{{"start":"{}","end":"{}"}}}}"#,
            at(self.window.0),
            at(self.window.1)
        ))
    }
}

fn ari_front(pebble: &Pebble, dir: &TempDir, window: (i64, i64)) -> AriFront {
    let fetched = Command::new("curl")
        .args(["-sS", "--cacert"])
        .arg(&pebble.ca_pem)
        .arg(&pebble.directory)
        .output()
        .unwrap();
    assert!(fetched.status.success(), "pebble's directory");
    let mut directory: serde_json::Value = serde_json::from_slice(&fetched.stdout).unwrap();
    // The front reuses pebble's own `localhost` certificate, already trusted by the client.
    let pair = reactor::tls::load_pair(&pebble.ca_pem, &dir.join("pebble.key")).unwrap();
    let store = Arc::new(reactor::tls::CertStore::new(vec![pair.key]));
    let config = Config {
        tls: Some(reactor::tls::Acceptor::new(store).unwrap()),
        ..Config::default()
    };
    let port = free_port();
    directory["renewalInfo"] = format!("https://localhost:{port}/ari").into();
    let asked = Arc::new(Mutex::new(Vec::new()));
    let running = Server::new(config)
        .bind(format!("127.0.0.1:{port}").parse().unwrap())
        .handler(AriHandler {
            directory: directory.to_string(),
            window,
            asked: asked.clone(),
        })
        .start()
        .unwrap();
    AriFront { running, asked }
}

/// The ARI identifier of a PEM chain's leaf, computed by openssl (serial and authority key
/// identifier, base64url), independently of the client's own DER reading.
fn openssl_ari_id(dir: &TempDir, chain_pem: &str) -> String {
    use base64::Engine;
    std::fs::write(dir.join("leaf.pem"), chain_pem).unwrap();
    let out = Command::new("openssl")
        .args([
            "x509",
            "-noout",
            "-serial",
            "-ext",
            "authorityKeyIdentifier",
            "-in",
        ])
        .arg(dir.join("leaf.pem"))
        .output()
        .unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    let hex = |s: &str| -> Vec<u8> {
        let s: String = s.chars().filter(char::is_ascii_hexdigit).collect();
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    };
    let serial_hex = text
        .lines()
        .find_map(|l| l.strip_prefix("serial="))
        .unwrap();
    let mut serial = hex(serial_hex);
    if serial[0] & 0x80 != 0 {
        serial.insert(0, 0); // DER INTEGERs are signed
    }
    let key_line = text
        .lines()
        .skip_while(|l| !l.contains("Authority Key Identifier"))
        .nth(1)
        .unwrap();
    let key_id = hex(key_line.trim().trim_start_matches("keyid:"));
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    format!("{}.{}", b64.encode(key_id), b64.encode(serial))
}

/// With a CA that offers renewal information, a stored certificate far from its default
/// renewal time is renewed at once when the CA's window has opened, and kept while the
/// window is in the future; the client names the certificate as openssl does.
#[test]
fn renewal_follows_the_cas_renewal_information() {
    let dir = TempDir::new("acme-ari");
    let challenges = Arc::new(Challenges::new());
    let server = challenge_server(&challenges);
    let pebble = pebble(&dir, server.local_addr().port(), &[], 3600);
    let names = vec![vec!["ari.test".to_string()]];
    let state = dir.join("state");
    // Runs a manager whose CA is behind `front` until `done` says so (60 s at most), and
    // returns what it installed.
    let run = |front: &AriFront, done: &dyn Fn(&Installed, &AcmeStatus) -> bool| {
        let port = front.running.local_addr().port();
        let (m, installed) = manager(&pebble, &state, challenges.clone(), names.clone(), |c| {
            c.directory = format!("https://localhost:{port}/dir");
            c.ari_first_check = Duration::ZERO;
        });
        let (status, stop) = (m.status(), m.stop_flag());
        let thread = m.start().unwrap();
        let start = Instant::now();
        while !done(&installed, &status) {
            let waited = start.elapsed();
            assert!(waited < Duration::from_secs(60), "{:?}", status.snapshot());
            std::thread::sleep(Duration::from_millis(50));
        }
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        thread.join().unwrap();
        let got = installed.lock().unwrap().clone();
        got
    };
    let count = |n: usize| move |i: &Installed, _: &AcmeStatus| i.lock().unwrap().len() >= n;

    // First issuance (a window in the future: nothing to renew yet).
    let later = ari_front(&pebble, &dir, (3000, 3300));
    let first = run(&later, &count(1))[0].1.chain_pem.clone();

    // Restarted with the window in the future: the stored certificate stays, and the
    // status says why.
    let waits = |_: &Installed, s: &AcmeStatus| {
        s.snapshot()
            .iter()
            .any(|(_, s)| s.contains("the CA's window"))
    };
    assert_eq!(run(&later, &waits).len(), 1, "only the stored one");
    let want = openssl_ari_id(&dir, &first);
    assert_eq!(later.asked.lock().unwrap().last(), Some(&want));

    // Restarted when the window has passed (e.g. the CA revoked the certificate): renewed
    // at once, long before the default third of its lifetime.
    let now = ari_front(&pebble, &dir, (-600, -1));
    let got = run(&now, &count(2));
    assert_ne!(got[1].1.chain_pem, first, "a new certificate");
    assert_eq!(now.asked.lock().unwrap().first(), Some(&want));
}
