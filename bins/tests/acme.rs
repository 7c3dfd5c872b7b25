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

use common::TempDir;
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
        tls = free_port(),
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

/// `openssl verify` of the leaf against pebble's root, with the chain's intermediates.
fn verify_chain(pebble: &Pebble, dir: &TempDir, issued: &Issued, name: &str) {
    let root = Command::new("curl")
        .args(["-sS", "--cacert"])
        .arg(&pebble.ca_pem)
        .arg(format!("https://localhost:{}/roots/0", pebble.management))
        .output()
        .unwrap();
    assert!(root.status.success(), "cannot fetch pebble's root");
    std::fs::write(dir.join("root.pem"), &root.stdout).unwrap();
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
