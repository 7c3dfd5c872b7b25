//! Integration tests for the SMTP client and `smtp-send` against real
//! servers on 127.0.0.1: aiosmtpd with STARTTLS and AUTH required and a
//! certificate made here with `openssl`, plus small raw Python servers for
//! failure modes. What the server received is parsed with Python's `email`
//! package (tests/smtp/check.py).
//!
//! python3 with aiosmtpd, and openssl, are required: tests fail without them.

mod common;
#[path = "smtp/support.rs"]
mod support;

use common::TempDir;
use std::fs;
use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use support::*;

use reactor_bins::smtp::{Attachment, Client, Config, Credentials, Mail, Stage, TlsMode};

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
    let out = send_plain(
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
    let out = send_plain(
        &[
            "--server",
            &server.addr(),
            "--tls",
            "none",
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
    let out = send_plain(
        &["--server", &server.addr(), "--user", "tester"],
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
    let out = send_plain(&["--server", &addr], None);
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
    let out = send_plain(&["--server", &addr, "--timeout", "1"], None);
    assert_fails(&out, 4, "greeting: timed out");
    drop(listener);
}
