//! Shared by the SMTP integration tests: the Python test servers
//! (tests/smtp/server.py), test certificates made with `openssl`, the
//! `smtp-send` binary as a child, and the message checker (check.py).
#![allow(dead_code)] // each test file uses a different part

use super::common::TempDir;
use std::fs;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Output, Stdio};

pub const PASSWORD: &str = "correct horse battery staple";
pub const SCRIPTS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/smtp");
pub const BIN: &str = env!("CARGO_BIN_EXE_smtp-send");

/// A scratch directory with an `out/` folder the test server writes into.
pub fn scratch() -> TempDir {
    let dir = TempDir::new("smtp-test");
    fs::create_dir_all(dir.join("out")).unwrap();
    dir
}

pub fn run_ok(cmd: &mut Command) -> Output {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// Makes a private CA and a server certificate for localhost/127.0.0.1.
/// Returns (ca.pem, cert.pem, key.pem).
pub fn make_certs(dir: &TempDir) -> (PathBuf, PathBuf, PathBuf) {
    let (ca, ca_key) = (dir.join("ca.pem"), dir.join("ca.key"));
    let (cert, key, csr) = (
        dir.join("cert.pem"),
        dir.join("key.pem"),
        dir.join("cert.csr"),
    );
    let ext = dir.join("ext.cnf");
    fs::write(
        &ext,
        "subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=critical,CA:FALSE\n\
         extendedKeyUsage=serverAuth\n",
    )
    .unwrap();
    let ec = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
    ];
    run_ok(
        Command::new("openssl")
            .args(["req", "-x509"])
            .args(ec)
            .args([
                "-days",
                "2",
                "-subj",
                "/CN=reactor test CA",
                "-addext",
                "basicConstraints=critical,CA:TRUE",
                "-addext",
                "keyUsage=critical,keyCertSign",
                "-keyout",
            ])
            .arg(&ca_key)
            .arg("-out")
            .arg(&ca),
    );
    run_ok(
        Command::new("openssl")
            .arg("req")
            .args(ec)
            .args(["-subj", "/CN=localhost", "-keyout"])
            .arg(&key)
            .arg("-out")
            .arg(&csr),
    );
    run_ok(
        Command::new("openssl")
            .args(["x509", "-req", "-days", "2", "-set_serial", "7", "-in"])
            .arg(&csr)
            .arg("-CA")
            .arg(&ca)
            .arg("-CAkey")
            .arg(&ca_key)
            .arg("-extfile")
            .arg(&ext)
            .arg("-out")
            .arg(&cert),
    );
    (ca, cert, key)
}

/// A Python test server; killed on drop.
pub struct Server {
    pub child: Child,
    _stdin: ChildStdin,
    pub port: u16,
}

impl Server {
    /// Starts server.py in `mode` with a certificate from a private CA;
    /// returns the server and the CA file.
    pub fn start(mode: &str, dir: &TempDir) -> (Server, PathBuf) {
        let (ca, cert, key) = make_certs(dir);
        (Server::start_with(mode, dir, &cert, &key, &[]), ca)
    }

    /// Starts server.py in `mode` with this certificate and extra flags.
    pub fn start_with(
        mode: &str,
        dir: &TempDir,
        cert: &Path,
        key: &Path,
        extra: &[&str],
    ) -> Server {
        let mut child = Command::new("python3")
            .arg(format!("{SCRIPTS}/server.py"))
            .args(["--mode", mode, "--password", PASSWORD, "--cert"])
            .arg(cert)
            .arg("--key")
            .arg(key)
            .args(extra)
            .arg("--out")
            .arg(dir.join("out"))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(fs::File::create(dir.join("server.log")).unwrap())
            .spawn()
            .expect("python3 is required for the SMTP tests");
        let stdin = child.stdin.take().unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let port = line
            .trim()
            .strip_prefix("PORT ")
            .and_then(|p| p.parse().ok());
        let Some(port) = port else {
            let log = fs::read_to_string(dir.join("server.log")).unwrap_or_default();
            panic!("test server did not start (is aiosmtpd installed?): {line:?}\n{log}");
        };
        Server {
            child,
            _stdin: stdin,
            port,
        }
    }

    pub fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Makes a self-signed certificate the way people do
/// (`openssl req -x509`, which marks it CA:TRUE) for localhost and
/// 127.0.0.1 (or `san`). Returns (cert, key).
pub fn self_signed(dir: &TempDir, name: &str, san: &str) -> (PathBuf, PathBuf) {
    let (cert, key) = (
        dir.join(&format!("{name}.pem")),
        dir.join(&format!("{name}.key")),
    );
    let mut cmd = Command::new("openssl");
    cmd.args([
        "req",
        "-x509",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
    ])
    .args(["-nodes", "-subj", "/CN=localhost"])
    .args([
        "-days",
        "2",
        "-addext",
        &format!("subjectAltName={san}"),
        "-keyout",
    ])
    .arg(&key)
    .arg("-out")
    .arg(&cert);
    run_ok(&mut cmd);
    (cert, key)
}

/// The SHA-256 fingerprint of a PEM certificate, as `openssl x509` prints it
/// (upper-case hex pairs joined by colons).
pub fn fingerprint(cert: &Path) -> String {
    let out = run_ok(
        Command::new("openssl")
            .args(["x509", "-noout", "-fingerprint", "-sha256", "-in"])
            .arg(cert),
    );
    let text = String::from_utf8(out.stdout).unwrap();
    text.trim().rsplit('=').next().unwrap().to_string()
}

/// Runs smtp-send with `args`, no inherited password, stdin closed.
pub fn smtp_send(args: &[&str], password: Option<&str>) -> Output {
    let mut cmd = Command::new(BIN);
    cmd.args(args)
        .env_remove("SMTP_PASSWORD")
        .stdin(Stdio::null());
    if let Some(p) = password {
        cmd.env("SMTP_PASSWORD", p);
    }
    cmd.output().unwrap()
}

/// A one-recipient text message (`--from`, `--to`, `--subject`, `--text`), for tests about
/// anything but the message.
pub const PLAIN_MESSAGE: [&str; 8] = [
    "--from",
    "me@example.com",
    "--to",
    "a@x.org",
    "--subject",
    "s",
    "--text",
    "t",
];

/// `smtp_send` with `args` and [`PLAIN_MESSAGE`].
pub fn send_plain(args: &[&str], password: Option<&str>) -> Output {
    smtp_send(&[args, &PLAIN_MESSAGE[..]].concat(), password)
}

pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Asserts the exit code, a one-line error, no panic, and `needle` in it.
pub fn assert_fails(out: &Output, code: i32, needle: &str) {
    let err = stderr(out);
    assert_eq!(out.status.code(), Some(code), "stderr: {err}");
    assert_eq!(err.lines().count(), 1, "one-line error expected: {err}");
    assert!(err.contains(needle), "{err:?} lacks {needle:?}");
    assert!(
        !err.contains("panicked") && !err.contains("RUST_BACKTRACE"),
        "{err}"
    );
}

/// One leaf part as seen by Python's `email`.
#[derive(Debug)]
pub struct PartInfo {
    pub content_type: String,
    pub filename: String,
    pub cid: String,
    pub disposition: String,
    pub data: Vec<u8>,
}

/// The parse of a received message by check.py.
#[derive(Debug)]
pub struct Parsed {
    pub raw: String,
    pub defects: String,
    pub headers: Vec<(String, String)>,
    pub structure: String,
    pub parts: Vec<PartInfo>,
}

impl Parsed {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    pub fn part(&self, filename: &str) -> &PartInfo {
        self.parts
            .iter()
            .find(|p| p.filename == filename)
            .unwrap_or_else(|| panic!("no part {filename:?} in {:?}", self.parts))
    }

    pub fn text(&self, content_type: &str) -> String {
        let p = self
            .parts
            .iter()
            .find(|p| p.content_type == content_type)
            .unwrap();
        String::from_utf8(p.data.clone())
            .unwrap()
            .replace("\r\n", "\n")
    }

    /// No defects, clean CRLF lines within 998 octets.
    pub fn assert_clean(&self) {
        assert_eq!(self.raw, "ok");
        assert_eq!(self.defects, "0\t", "defects found");
    }
}

pub fn parse_message(eml: &Path, dir: &TempDir) -> Parsed {
    let parts_dir = dir.join("parts");
    fs::create_dir_all(&parts_dir).unwrap();
    let out = run_ok(
        Command::new("python3")
            .arg(format!("{SCRIPTS}/check.py"))
            .arg(eml)
            .arg(&parts_dir)
            .env("PYTHONIOENCODING", "utf-8"),
    );
    let mut parsed = Parsed {
        raw: String::new(),
        defects: String::new(),
        headers: Vec::new(),
        structure: String::new(),
        parts: Vec::new(),
    };
    for line in String::from_utf8(out.stdout).unwrap().lines() {
        let f: Vec<&str> = line.split('\t').collect();
        match f[0] {
            "raw" => parsed.raw = f[1].to_string(),
            "defects" => parsed.defects = f[1..].join("\t"),
            "header" => parsed.headers.push((f[1].to_string(), f[2..].join("\t"))),
            "structure" => parsed.structure = f[1].to_string(),
            "part" => parsed.parts.push(PartInfo {
                content_type: f[2].to_string(),
                filename: f[3].to_string(),
                cid: f[4].to_string(),
                disposition: f[5].to_string(),
                data: fs::read(f[6]).unwrap(),
            }),
            other => panic!("unexpected checker output {other:?}"),
        }
    }
    parsed
}

/// Deterministic pseudo-random bytes.
pub fn noise(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}
