//! sendmail mode (issue 15 §2): complete messages on stdin or from a file,
//! `-t`, a symlink named `sendmail`, the options cron, mutt and msmtp users
//! pass, and `git send-email --sendmail-cmd`. Against aiosmtpd (STARTTLS
//! and AUTH required); what it received is compared byte for byte.

mod common;
#[path = "smtp/support.rs"]
mod support;

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use common::TempDir;
use support::*;

/// The message of the tests: LF line endings, a Bcc, a line holding only
/// a dot (with -i), a dot-led line, 8-bit UTF-8, no Date or Message-ID.
const MESSAGE: &str = "From: Zoë <me@example.com>\n\
To: a@x.org, \"Doe, B.\" <b@x.org>\n\
Cc: c@x.org\n\
Bcc: hidden@x.org\n\
Subject: sendmail mode\n\
Content-Type: text/plain; charset=utf-8\n\
Content-Transfer-Encoding: 8bit\n\
\n\
Grüße,\n\
.\n\
..two dots\n\
end\n";

/// The server's connection flags for smtp-send.
fn conn_args(server: &Server, ca: &Path) -> Vec<String> {
    let args = ["--server", &server.addr(), "--tls-ca", ca.to_str().unwrap()];
    let mut v: Vec<String> = args.iter().map(|s| s.to_string()).collect();
    v.extend(["--user".into(), "tester".into()]);
    v
}

/// Runs `program` with `args`, `stdin` piped in.
fn run_with_stdin(program: &Path, args: &[String], stdin: &[u8]) -> Output {
    let mut child = Command::new(program)
        .args(args)
        .env("SMTP_PASSWORD", PASSWORD)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // A refusal decided from the arguments alone may come before the input is read: the
    // pipe is then closed, which is not the test's failure.
    match child.stdin.take().unwrap().write_all(stdin) {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => {}
        other => other.unwrap(),
    }
    child.wait_with_output().unwrap()
}

fn received(dir: &TempDir, n: usize) -> (Vec<u8>, Vec<String>, String) {
    let out = dir.join("out");
    let eml = fs::read(out.join(format!("msg{n}.eml"))).unwrap();
    let env = fs::read_to_string(out.join(format!("msg{n}.env"))).unwrap();
    let opts = fs::read_to_string(out.join(format!("msg{n}.opts"))).unwrap();
    (eml, env.lines().map(String::from).collect(), opts)
}

fn assert_silent_success(out: &Output) {
    assert_eq!(out.status.code(), Some(0), "{}", stderr(out));
    assert!(out.stdout.is_empty() && out.stderr.is_empty(), "{out:?}");
}

/// The header and body as received, split at the blank line.
fn split(eml: &[u8]) -> (String, Vec<u8>) {
    let at = eml.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
    (
        String::from_utf8_lossy(&eml[..at + 2]).into_owned(),
        eml[at + 4..].to_vec(),
    )
}

#[test]
fn dash_t_reads_recipients_and_removes_bcc() {
    let dir = scratch();
    let (server, ca) = Server::start("starttls", &dir);
    let mut args = conn_args(&server, &ca);
    args.extend(["-t", "-i"].map(String::from));
    assert_silent_success(&run_with_stdin(Path::new(BIN), &args, MESSAGE.as_bytes()));

    let (eml, env, opts) = received(&dir, 1);
    assert_eq!(
        env,
        [
            "me@example.com",
            "a@x.org",
            "b@x.org",
            "c@x.org",
            "hidden@x.org"
        ]
    );
    assert!(opts.starts_with("MAIL BODY=8BITMIME"), "{opts}");
    let (head, body) = split(&eml);
    assert!(
        !head.contains("hidden") && !head.to_lowercase().contains("bcc"),
        "{head}"
    );
    assert!(
        head.starts_with("From: Zoë <me@example.com>\r\nTo: a@x.org, \"Doe, B.\" <b@x.org>\r\n")
    );
    assert!(
        head.contains("\r\nDate: ") && head.contains("\r\nMessage-ID: <"),
        "{head}"
    );
    // Byte for byte, CRLF, the lone dot kept (-i), dot-stuffing undone.
    assert_eq!(body, "Grüße,\r\n.\r\n..two dots\r\nend\r\n".as_bytes());
}

#[test]
fn invoked_as_sendmail_through_a_symlink_with_mutt_style_options() {
    let dir = scratch();
    let (server, ca) = Server::start("starttls", &dir);
    let link = dir.join("sendmail");
    std::os::unix::fs::symlink(BIN, &link).unwrap();
    // What mutt runs: sendmail -oem -oi -- ADDR...; cron: sendmail -FCronDaemon -i -odi -oem -oi -t
    let mut args = conn_args(&server, &ca);
    args.extend(
        [
            "-oem",
            "-oi",
            "-odi",
            "-FCron Daemon",
            "-bm",
            "--",
            "only@x.org",
        ]
        .map(String::from),
    );
    assert_silent_success(&run_with_stdin(&link, &args, MESSAGE.as_bytes()));
    let (_, env, _) = received(&dir, 1);
    // Recipients from the arguments only, without -t.
    assert_eq!(env, ["me@example.com", "only@x.org"]);

    // Without -i, a lone dot ends the message (what sendmail does).
    let mut args = conn_args(&server, &ca);
    args.extend(["-f", "bounces@example.com", "only@x.org"].map(String::from));
    assert_silent_success(&run_with_stdin(&link, &args, MESSAGE.as_bytes()));
    let (eml, env, _) = received(&dir, 2);
    assert_eq!(env[0], "bounces@example.com");
    assert!(
        eml.ends_with("Grüße,\r\n".as_bytes()),
        "{}",
        String::from_utf8_lossy(&eml)
    );

    // Modes that are not sending are refused in one line.
    let out = run_with_stdin(&link, &["-bp".to_string()], b"");
    assert_fails(&out, 2, "-bp is not supported");
}

#[test]
fn message_file_is_sent_as_is() {
    let dir = scratch();
    let (server, ca) = Server::start("starttls", &dir);
    let eml = dir.join("saved.eml");
    let text = "From: me@example.com\r\nTo: a@x.org\r\nDate: Mon, 01 Jan 2024 00:00:00 +0000\r\n\
                Message-ID: <kept@example.com>\r\nSubject: saved\r\n\r\n.\r\nlast\r\n";
    fs::write(&eml, text).unwrap();
    let mut args = conn_args(&server, &ca);
    args.extend([
        "--message".into(),
        eml.to_str().unwrap().into(),
        "-t".into(),
    ]);
    let out = run_with_stdin(Path::new(BIN), &args, b"");
    assert_silent_success(&out);
    let (got, _, opts) = received(&dir, 1);
    assert_eq!(String::from_utf8(got).unwrap(), text);
    assert!(!opts.contains("8BITMIME"), "7-bit message: {opts}");
}

#[test]
fn sendmail_mode_errors_are_one_line() {
    let dir = scratch();
    let cases: [(&[&str], &str, &str); 4] = [
        (&["-t"], "To: a@x.org\n\nx\n", "no sender"),
        (&["-t"], "From: a@x.org\n\nx\n", "no recipients"),
        (
            &["-t", "--subject", "s"],
            "From: a@x.org\n\nx\n",
            "do not apply",
        ),
        (&["-t"], "From: a@x.org\nTo: <broken\n\nx\n", "to header"),
    ];
    for (args, stdin, needle) in cases {
        let mut all: Vec<String> = ["--server", "127.0.0.1:9"].map(String::from).to_vec();
        all.extend(args.iter().map(|s| s.to_string()));
        let out = run_with_stdin(Path::new(BIN), &all, stdin.as_bytes());
        assert_fails(&out, 2, needle);
    }
    drop(dir);
}

/// A git repository with one commit, as a patch file from format-patch.
fn make_patch(dir: &TempDir) -> PathBuf {
    let repo = dir.join("repo");
    fs::create_dir_all(&repo).unwrap();
    let git = |args: &[&str]| {
        run_ok(
            Command::new("git")
                .args([
                    "-c",
                    "user.name=Zoë Tester",
                    "-c",
                    "user.email=me@example.com",
                ])
                .args(args)
                .current_dir(&repo),
        )
    };
    git(&["init", "-q"]);
    fs::write(repo.join("file.txt"), "one\n.\ntwo\n").unwrap();
    git(&["add", "file.txt"]);
    git(&["commit", "-q", "-m", "Add file: naïve test"]);
    let out = git(&[
        "format-patch",
        "-1",
        "-o",
        dir.join("patches").to_str().unwrap(),
    ]);
    PathBuf::from(String::from_utf8(out.stdout).unwrap().trim())
}

#[test]
fn git_send_email_with_sendmail_cmd() {
    // git-email is installed by .ci/run; this fails loudly without it.
    let dir = scratch();
    let (server, ca) = Server::start("starttls", &dir);
    let patch = make_patch(&dir);
    let cmd = format!("{BIN} {}", conn_args(&server, &ca).join(" "));
    let out = run_ok(
        Command::new("git")
            .args([
                "-c",
                "user.name=Zoë Tester",
                "-c",
                "user.email=me@example.com",
            ])
            .arg("send-email")
            .arg(format!("--sendmail-cmd={cmd}"))
            .args(["--to=a@x.org", "--cc=c@x.org", "--bcc=hidden@x.org"])
            .args(["--confirm=never", "--suppress-cc=all", "--no-validate"])
            .arg(&patch)
            .env("SMTP_PASSWORD", PASSWORD)
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("HOME", dir.join("home"))
            .stdin(Stdio::null()),
    );
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("OK"),
        "{out:?}"
    );
    let (eml, env, _) = received(&dir, 1);
    assert_eq!(env[1..], ["a@x.org", "c@x.org", "hidden@x.org"]);
    let text = String::from_utf8_lossy(&eml);
    assert!(
        text.contains("Subject: [PATCH] =?UTF-8?q?Add=20file") && !text.contains("hidden"),
        "{text}"
    );
    // The patch's lone "." line arrives intact (git passes -i).
    assert!(text.contains("\r\n+.\r\n+two\r\n"), "{text}");
}
