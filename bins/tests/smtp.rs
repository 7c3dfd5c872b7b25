//! Integration tests for the SMTP client and `smtp-send` against real
//! servers on 127.0.0.1: aiosmtpd with STARTTLS and AUTH required and a
//! certificate made here with `openssl`, plus small raw Python servers for
//! failure modes. What the server received is parsed with Python's `email`
//! package (tests/smtp/check.py).
//!
//! python3 with aiosmtpd, and openssl, are required: tests fail without them.

mod common;

use common::TempDir;
use std::fs;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Output, Stdio};

use reactor_bins::smtp::{Attachment, Client, Config, Credentials, Mail, Stage, TlsMode};

const PASSWORD: &str = "correct horse battery staple";
const SCRIPTS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/smtp");
const BIN: &str = env!("CARGO_BIN_EXE_smtp-send");

/// A scratch directory with an `out/` folder the test server writes into.
fn scratch() -> TempDir {
    let dir = TempDir::new("smtp-test");
    fs::create_dir_all(dir.join("out")).unwrap();
    dir
}

fn run_ok(cmd: &mut Command) -> Output {
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
fn make_certs(dir: &TempDir) -> (PathBuf, PathBuf, PathBuf) {
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
struct Server {
    child: Child,
    _stdin: ChildStdin,
    port: u16,
}

impl Server {
    fn start(mode: &str, dir: &TempDir) -> (Server, PathBuf) {
        let (ca, cert, key) = make_certs(dir);
        let mut child = Command::new("python3")
            .arg(format!("{SCRIPTS}/server.py"))
            .args(["--mode", mode, "--password", PASSWORD, "--cert"])
            .arg(&cert)
            .arg("--key")
            .arg(&key)
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
        let server = Server {
            child,
            _stdin: stdin,
            port,
        };
        (server, ca)
    }

    fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs smtp-send with `args`, no inherited password, stdin closed.
fn smtp_send(args: &[&str], password: Option<&str>) -> Output {
    let mut cmd = Command::new(BIN);
    cmd.args(args)
        .env_remove("SMTP_PASSWORD")
        .stdin(Stdio::null());
    if let Some(p) = password {
        cmd.env("SMTP_PASSWORD", p);
    }
    cmd.output().unwrap()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Asserts the exit code, a one-line error, no panic, and `needle` in it.
fn assert_fails(out: &Output, code: i32, needle: &str) {
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
struct PartInfo {
    content_type: String,
    filename: String,
    cid: String,
    disposition: String,
    data: Vec<u8>,
}

/// The parse of a received message by check.py.
#[derive(Debug)]
struct Parsed {
    raw: String,
    defects: String,
    headers: Vec<(String, String)>,
    structure: String,
    parts: Vec<PartInfo>,
}

impl Parsed {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    fn part(&self, filename: &str) -> &PartInfo {
        self.parts
            .iter()
            .find(|p| p.filename == filename)
            .unwrap_or_else(|| panic!("no part {filename:?} in {:?}", self.parts))
    }

    fn text(&self, content_type: &str) -> String {
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
    fn assert_clean(&self) {
        assert_eq!(self.raw, "ok");
        assert_eq!(self.defects, "0\t", "defects found");
    }
}

fn parse_message(eml: &Path, dir: &TempDir) -> Parsed {
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
fn noise(len: usize, seed: u64) -> Vec<u8> {
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

#[test]
fn library_send_mail_over_starttls_with_auth() {
    let dir = scratch();
    let (server, ca) = Server::start("starttls", &dir);

    let pdf = noise(300_000, 1);
    let odd_name = "Grüße – naïve résumé with a rather long file name.txt";
    let odd_data = b".leading dot\r\n..two\nno final newline".to_vec();
    let logo = noise(2_000, 2);
    fs::write(dir.join("report.pdf"), &pdf).unwrap();
    fs::write(dir.join("odd.txt"), &odd_data).unwrap();
    let mut odd = Attachment::from_path(dir.join("odd.txt"));
    odd.filename = odd_name.to_string();
    let mut inline = Attachment::from_bytes("logo.png", logo.clone());
    inline.cid = Some("logo@test".into());
    let text = format!(
        "Hello Zoë,\n.leading dot\n..two dots\n.\nA long line: {}\nend",
        "wörd ".repeat(400)
    );
    let html = "<p>Hi <img src=\"cid:logo@test\"></p>\n<p>café</p>\n".to_string();
    let mail = Mail {
        from: "Zoë Sender <sender@example.com>".into(),
        to: vec![
            "\"Doe, Ann\" <ann@example.org>".into(),
            "reject-me@example.org".into(),
        ],
        cc: vec!["Björn <bjorn@example.net>".into()],
        bcc: vec!["secret@example.com".into()],
        reply_to: vec!["replies@example.com".into()],
        subject: "Grüße aus Köln — ünïcödé subject that is long enough to need folding".into(),
        text: Some(text.clone()),
        html: Some(html.clone()),
        attachments: vec![Attachment::from_path(dir.join("report.pdf")), odd, inline],
    };
    let mut config = Config::new("127.0.0.1", server.port);
    config.tls_ca = Some(ca);
    config.credentials = Some(Credentials::new("tester", PASSWORD));
    let report = Client::new(config).unwrap().send_mail(&mail).unwrap();

    assert_eq!(
        report.accepted,
        ["ann@example.org", "bjorn@example.net", "secret@example.com"]
    );
    assert_eq!(report.rejected.len(), 1);
    assert_eq!(report.rejected[0].0, "reject-me@example.org");
    assert_eq!(report.rejected[0].1.code, 550);
    assert_eq!(report.reply.code, 250);
    assert!(report.reply.text().contains("queued as 1"));

    let envelope = fs::read_to_string(dir.join("out").join("msg1.env")).unwrap();
    assert_eq!(
        envelope.lines().collect::<Vec<_>>(),
        [
            "sender@example.com",
            "ann@example.org",
            "bjorn@example.net",
            "secret@example.com"
        ]
    );
    assert_eq!(
        fs::read_to_string(dir.join("out").join("auth.log")).unwrap(),
        "PLAIN ok\n"
    );

    let m = parse_message(&dir.join("out").join("msg1.eml"), &dir);
    m.assert_clean();
    assert_eq!(m.header("subject"), Some(mail.subject.as_str()));
    assert_eq!(m.header("from"), Some("Zoë Sender <sender@example.com>"));
    assert_eq!(
        m.header("to"),
        Some("\"Doe, Ann\" <ann@example.org>, reject-me@example.org")
    );
    assert_eq!(m.header("cc"), Some("Björn <bjorn@example.net>"));
    assert_eq!(m.header("reply-to"), Some("replies@example.com"));
    assert_eq!(m.header("message-id"), Some(report.message_id.as_str()));
    assert_eq!(m.header("mime-version"), Some("1.0"));
    assert!(m.header("date").is_some());
    assert_eq!(m.header("bcc"), None);
    assert!(!fs::read_to_string(dir.join("out").join("msg1.eml"))
        .unwrap()
        .contains("secret@"));
    assert_eq!(
        m.structure,
        "multipart/mixed,multipart/alternative,text/plain,multipart/related,text/html,\
         image/png,application/pdf,text/plain"
    );
    assert_eq!(m.text("text/plain"), text);
    assert_eq!(m.text("text/html"), html);
    let pdf_part = m.part("report.pdf");
    assert_eq!(pdf_part.data, pdf);
    assert_eq!(pdf_part.disposition, "attachment");
    let odd_part = m.part(odd_name);
    assert_eq!(odd_part.data, odd_data);
    assert_eq!(odd_part.content_type, "text/plain");
    let logo_part = m.part("logo.png");
    assert_eq!(logo_part.data, logo);
    assert_eq!(logo_part.cid, "logo@test");
    assert_eq!(logo_part.disposition, "inline");
}

fn write_attachments(dir: &TempDir) -> (PathBuf, PathBuf, Vec<u8>, Vec<u8>) {
    let (a, b) = (dir.join("notes.txt"), dir.join("photo é.jpg"));
    let (da, db) = (b"line one\n.line two\n".to_vec(), noise(70_000, 3));
    fs::write(&a, &da).unwrap();
    fs::write(&b, &db).unwrap();
    (a, b, da, db)
}

#[test]
fn cli_sends_over_starttls_with_password_from_env() {
    let dir = scratch();
    let (server, ca) = Server::start("starttls", &dir);
    let (a, b, da, db) = write_attachments(&dir);
    let html = dir.join("body.html");
    fs::write(&html, "<h1>Ünïcode</h1>").unwrap();
    let out = smtp_send(
        &[
            "--server",
            &server.addr(),
            "--user",
            "tester",
            "--tls-ca",
            ca.to_str().unwrap(),
            "--from",
            "Me <me@example.com>",
            "--to",
            "a@x.org",
            "--to",
            "b@y.org",
            "--bcc",
            "hidden@z.org",
            "--subject",
            "Zwei Anhänge",
            "--text",
            "Hi\n.\nBye",
            "--html-file",
            html.to_str().unwrap(),
            "--attach",
            a.to_str().unwrap(),
            "--attach",
            b.to_str().unwrap(),
            "-v",
        ],
        Some(PASSWORD),
    );
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(0), "{err}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.starts_with("sent <") && stdout.contains("to 3 recipient(s): 250"),
        "{stdout}"
    );
    // The transcript is logged, with the AUTH secret redacted.
    assert!(
        err.contains("C: STARTTLS") && err.contains("C: AUTH PLAIN <redacted>"),
        "{err}"
    );
    assert!(err.contains("S: 235"), "{err}");
    assert!(
        !err.contains(PASSWORD) && !err.contains("Y29ycmVjd"),
        "secret leaked: {err}"
    );

    let m = parse_message(&dir.join("out").join("msg1.eml"), &dir);
    m.assert_clean();
    assert_eq!(m.header("subject"), Some("Zwei Anhänge"));
    assert_eq!(
        m.structure,
        "multipart/mixed,multipart/alternative,text/plain,text/html,text/plain,image/jpeg"
    );
    assert_eq!(m.text("text/plain"), "Hi\n.\nBye");
    assert_eq!(m.part("notes.txt").data, da);
    assert_eq!(m.part("photo é.jpg").data, db);
}

#[test]
fn cli_implicit_tls_with_password_file() {
    let dir = scratch();
    let (server, ca) = Server::start("implicit", &dir);
    let pw = dir.join("pw");
    fs::write(&pw, format!("{PASSWORD}\n")).unwrap();
    let out = smtp_send(
        &[
            "--server",
            &server.addr(),
            "--tls",
            "implicit",
            "--tls-ca",
            ca.to_str().unwrap(),
            "--user",
            "tester",
            "--password-file",
            pw.to_str().unwrap(),
            "--auth",
            "login",
            "--from",
            "me@example.com",
            "--to",
            "a@x.org",
            "--subject",
            "s",
            "--text",
            "t",
        ],
        Some("wrong password in env is ignored"),
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(
        fs::read_to_string(dir.join("out").join("auth.log")).unwrap(),
        "LOGIN ok\n"
    );
    parse_message(&dir.join("out").join("msg1.eml"), &dir).assert_clean();
}

fn basic_args<'a>(server: &'a str, ca: &'a str) -> Vec<&'a str> {
    vec![
        "--server",
        server,
        "--tls-ca",
        ca,
        "--user",
        "tester",
        "--from",
        "me@example.com",
        "--subject",
        "s",
        "--text",
        "t",
    ]
}

#[test]
fn wrong_password_fails_at_auth_with_server_reply() {
    let dir = scratch();
    let (server, ca) = Server::start("starttls", &dir);
    let (addr, ca) = (server.addr(), ca.to_str().unwrap().to_string());
    let mut args = basic_args(&addr, &ca);
    args.extend(["--to", "a@x.org"]);
    let out = smtp_send(&args, Some("wrong"));
    assert_fails(&out, 6, "AUTH PLAIN failed: 535");
    assert!(!dir.join("out").join("msg1.eml").exists());
}

#[test]
fn rejected_recipients() {
    let dir = scratch();
    let (server, ca) = Server::start("starttls", &dir);
    let (addr, ca) = (server.addr(), ca.to_str().unwrap().to_string());

    // All refused: RCPT stage.
    let mut args = basic_args(&addr, &ca);
    args.extend(["--to", "reject1@x.org", "--cc", "reject2@x.org"]);
    let out = smtp_send(&args, Some(PASSWORD));
    assert_fails(&out, 8, "RCPT TO:<reject2@x.org> failed: 550 5.1.1");

    // Some refused: sent, with a warning naming the refused one.
    let mut args = basic_args(&addr, &ca);
    args.extend(["--to", "reject1@x.org", "--to", "ok@x.org"]);
    let out = smtp_send(&args, Some(PASSWORD));
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(stderr(&out).contains("recipient reject1@x.org refused: 550"));
    let envelope = fs::read_to_string(dir.join("out").join("msg1.env")).unwrap();
    assert_eq!(envelope, "me@example.com\nok@x.org\n");
}

#[test]
fn server_dropping_the_connection_mid_data() {
    let dir = scratch();
    let (server, _ca) = Server::start("drop", &dir);
    let big = dir.join("big.bin");
    fs::write(&big, noise(4_000_000, 4)).unwrap();
    let out = smtp_send(
        &[
            "--server",
            &server.addr(),
            "--tls",
            "none",
            "--from",
            "me@example.com",
            "--to",
            "a@x.org",
            "--subject",
            "s",
            "--text",
            "t",
            "--attach",
            big.to_str().unwrap(),
        ],
        None,
    );
    assert_fails(&out, 9, "DATA: ");
}

#[test]
fn server_without_starttls() {
    let dir = scratch();
    let (server, ca) = Server::start("plain", &dir);
    let (addr, ca) = (server.addr(), ca.to_str().unwrap().to_string());
    let mut args = basic_args(&addr, &ca);
    args.extend(["--to", "a@x.org"]);

    let out = smtp_send(&args, Some(PASSWORD));
    assert_fails(&out, 5, "server does not offer STARTTLS");

    // Without TLS, credentials stay home unless explicitly allowed.
    args.extend(["--tls", "none"]);
    let out = smtp_send(&args, Some(PASSWORD));
    assert_fails(
        &out,
        6,
        "refusing to send credentials over an unencrypted connection",
    );
    assert!(
        !dir.join("out").join("auth.log").exists(),
        "AUTH must not be sent"
    );

    args.push("--allow-plaintext-auth");
    let out = smtp_send(&args, Some(PASSWORD));
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(
        fs::read_to_string(dir.join("out").join("auth.log")).unwrap(),
        "PLAIN ok\n"
    );
}

#[test]
fn untrusted_certificate_is_refused() {
    let dir = scratch();
    let (server, _ca) = Server::start("starttls", &dir);
    let out = smtp_send(
        &[
            "--server",
            &server.addr(),
            "--user",
            "tester",
            "--from",
            "me@example.com",
            "--to",
            "a@x.org",
            "--subject",
            "s",
            "--text",
            "t",
        ],
        Some(PASSWORD),
    );
    assert_fails(&out, 5, "TLS: ");
    assert!(
        stderr(&out).to_lowercase().contains("certificate"),
        "{}",
        stderr(&out)
    );
    assert!(!dir.join("out").join("auth.log").exists());
}

#[test]
fn library_errors_name_the_stage() {
    let dir = scratch();
    let (server, ca) = Server::start("starttls", &dir);
    let mut config = Config::new("127.0.0.1", server.port);
    config.tls_ca = Some(ca);
    config.tls = TlsMode::StartTls;
    config.credentials = Some(Credentials::new("tester", "nope"));
    let mail = Mail {
        from: "me@example.com".into(),
        to: vec!["a@x.org".into()],
        text: Some("t".into()),
        ..Mail::default()
    };
    let err = Client::new(config).unwrap().send_mail(&mail).unwrap_err();
    assert_eq!(err.stage, Stage::Auth);
    assert_eq!(err.reply().map(|r| r.code), Some(535));
}

#[test]
fn connection_refused_is_a_connect_error() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let addr = format!("127.0.0.1:{port}");
    let out = smtp_send(
        &[
            "--server",
            &addr,
            "--from",
            "me@x.org",
            "--to",
            "a@x.org",
            "--subject",
            "s",
            "--text",
            "t",
        ],
        None,
    );
    assert_fails(&out, 3, "connect: cannot connect to 127.0.0.1");
}

#[test]
fn bad_input_is_refused_before_connecting() {
    let cases: [(&[&str], &str); 5] = [
        (
            &["--to", "a@x.org", "--subject", "hi\r\nBcc: evil@x.org"],
            "subject contains a line break",
        ),
        (
            &["--to", "a@x.org\nBcc: evil@x.org", "--subject", "s"],
            "contains a line break",
        ),
        (
            &["--to", "not-an-address", "--subject", "s"],
            "invalid address",
        ),
        (
            &[
                "--to",
                "a@x.org",
                "--subject",
                "s",
                "--attach",
                "/nonexistent/x.pdf",
            ],
            "/nonexistent/x.pdf",
        ),
        (
            &["--to", "a@x.org", "--subject", "s", "--password-file"],
            "missing argument",
        ),
    ];
    for (extra, needle) in cases {
        // Port 9 on 127.0.0.1 is never contacted: validation comes first.
        let mut args = vec![
            "--server",
            "127.0.0.1:9",
            "--from",
            "me@x.org",
            "--text",
            "t",
        ];
        args.extend_from_slice(extra);
        assert_fails(&smtp_send(&args, None), 2, needle);
    }
    assert_fails(&smtp_send(&["--bogus"], None), 2, "bogus");
}

#[test]
fn dry_run_prints_the_message() {
    let dir = scratch();
    let (a, b, da, db) = write_attachments(&dir);
    let out = smtp_send(
        &[
            "--dry-run",
            "--from",
            "Zoë <me@example.com>",
            "--to",
            "a@x.org",
            "--bcc",
            "h@x.org",
            "--subject",
            "Dry — run",
            "--text",
            "plain",
            "--attach",
            a.to_str().unwrap(),
            "--attach",
            b.to_str().unwrap(),
        ],
        None,
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let eml = dir.join("dry.eml");
    fs::write(&eml, &out.stdout).unwrap();
    let m = parse_message(&eml, &dir);
    m.assert_clean();
    assert_eq!(m.header("subject"), Some("Dry — run"));
    assert_eq!(m.header("bcc"), None);
    assert_eq!(m.part("notes.txt").data, da);
    assert_eq!(m.part("photo é.jpg").data, db);
}

/// The child's VmHWM (peak resident set of its current address space) in
/// KiB, or `None` once it has exited.
fn vm_hwm_kib(pid: u32) -> Option<u64> {
    let status = fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// Runs smtp-send, requires success, returns (stdout, peak RSS in KiB).
///
/// The peak is VmHWM read from /proc while the child runs: a high-water
/// mark of the child's own post-exec address space. (wait4's ru_maxrss is
/// not used: Linux carries the parent's RSS over the vfork+exec into it.)
fn run_measured(args: &[&str], dir: &TempDir) -> (String, u64) {
    let (out_file, err_file) = (dir.join("stdout"), dir.join("stderr"));
    let mut child = Command::new(BIN)
        .args(args)
        .env("SMTP_PASSWORD", PASSWORD)
        .stdin(Stdio::null())
        .stdout(fs::File::create(&out_file).unwrap())
        .stderr(fs::File::create(&err_file).unwrap())
        .spawn()
        .unwrap();
    let mut peak = 0;
    let status = loop {
        if let Some(kib) = vm_hwm_kib(child.id()) {
            peak = peak.max(kib);
        }
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        std::thread::sleep(std::time::Duration::from_millis(5));
    };
    let err = fs::read_to_string(&err_file).unwrap();
    assert_eq!(status.code(), Some(0), "{err}");
    assert!(peak > 0, "VmHWM was never read");
    (fs::read_to_string(&out_file).unwrap(), peak)
}

#[test]
fn hundred_megabyte_attachment_streams_in_bounded_memory() {
    let dir = scratch();
    let (server, ca) = Server::start("sink", &dir);
    let big = dir.join("big.bin");
    let mut f = fs::File::create(&big).unwrap();
    let block = noise(1 << 20, 5);
    for _ in 0..100 {
        f.write_all(&block).unwrap();
    }
    drop(f);
    let args = [
        "--server",
        &server.addr(),
        "--tls-ca",
        ca.to_str().unwrap(),
        "--user",
        "tester",
        "--from",
        "me@example.com",
        "--to",
        "a@x.org",
        "--subject",
        "big",
        "--text",
        "t",
        "--attach",
        big.to_str().unwrap(),
    ];
    let (stdout, peak_kib) = run_measured(&args, &dir);
    // 100 MiB in base64 is over 141 million octets on the wire.
    let octets: u64 = stdout
        .rsplit("received ")
        .next()
        .and_then(|s| s.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("unexpected output {stdout:?}"));
    assert!(octets > 141_000_000, "{octets}");
    eprintln!("peak RSS sending 100 MiB: {peak_kib} KiB");
    assert!(peak_kib < 32 * 1024, "peak RSS {peak_kib} KiB");
}

#[test]
fn silent_server_times_out_at_the_greeting() {
    // Accepts connections (through the backlog) but never says a word.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let out = smtp_send(
        &[
            "--server",
            &addr,
            "--timeout",
            "1",
            "--from",
            "me@x.org",
            "--to",
            "a@x.org",
            "--subject",
            "s",
            "--text",
            "t",
        ],
        None,
    );
    assert_fails(&out, 4, "greeting: timed out");
    drop(listener);
}
