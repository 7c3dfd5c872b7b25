//! The accounts file (issue 15 §3): `$XDG_CONFIG_HOME` and `~/.config`,
//! `--config`, `--account`, `password_command`, flags overriding the file,
//! and a readable file holding a password refused. Against aiosmtpd.

mod common;
#[path = "smtp/support.rs"]
mod support;

use std::fs;
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Output, Stdio};

use common::TempDir;
use support::*;

/// Runs smtp-send with HOME and XDG_CONFIG_HOME in `dir`, stdin `input`.
fn run(dir: &TempDir, args: &[&str], input: &[u8], xdg: bool) -> Output {
    let mut cmd = Command::new(BIN);
    cmd.args(args)
        .env_remove("SMTP_PASSWORD")
        .env("HOME", dir.join("home"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    if xdg {
        cmd.env("XDG_CONFIG_HOME", dir.join("xdg"));
    } else {
        cmd.env_remove("XDG_CONFIG_HOME");
    }
    let mut child = cmd.spawn().unwrap();
    child.stdin.take().unwrap().write_all(input).unwrap();
    child.wait_with_output().unwrap()
}

fn write_config(path: &Path, text: &str, mode: u32) {
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    fs::write(path, text).unwrap();
    fs::set_permissions(path, fs::Permissions::from_mode(mode)).unwrap();
}

fn account(name: &str, server: &Server, ca: &Path, secret: &str) -> String {
    format!(
        "[account.{name}]\nserver = \"{}\"\nuser = \"tester\"\n{secret}\n\
         from = \"Me <me@example.com>\"\ntls = \"starttls\"\ntls_ca = \"{}\"\n",
        server.addr(),
        ca.display()
    )
}

const MAIL: [&str; 6] = ["--to", "a@x.org", "--subject", "acct", "--text", "t"];

#[test]
fn default_account_from_xdg_config_home_with_password_command() {
    let dir = scratch();
    let (server, ca) = Server::start("starttls", &dir);
    // The command prints the password, then more lines that are ignored.
    let secret = format!("password_command = \"printf '%s\\\\nnoise\\\\n' '{PASSWORD}'\"");
    let text = format!(
        "default = \"work\"\n\n{}",
        account("work", &server, &ca, &secret)
    );
    write_config(&dir.join("xdg/smtp-send/config.toml"), &text, 0o644);
    let out = run(&dir, &MAIL, b"", true);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(
        fs::read_to_string(dir.join("out/auth.log")).unwrap(),
        "PLAIN ok\n"
    );
    let env = fs::read_to_string(dir.join("out/msg1.env")).unwrap();
    assert!(env.starts_with("me@example.com\n"), "{env}");

    // sendmail mode needs nothing but the message: the msmtp use.
    let link = dir.join("sendmail");
    std::os::unix::fs::symlink(BIN, &link).unwrap();
    let out = Command::new(&link)
        .args(["-t", "-i"])
        .env_remove("SMTP_PASSWORD")
        .env("XDG_CONFIG_HOME", dir.join("xdg"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .and_then(|mut c| {
            c.stdin
                .take()
                .unwrap()
                .write_all(b"To: b@x.org\nSubject: cron\n\nhi\n")?;
            c.wait_with_output()
        })
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let env = fs::read_to_string(dir.join("out/msg2.env")).unwrap();
    assert_eq!(env, "me@example.com\nb@x.org\n");
}

#[test]
fn home_config_account_choice_and_flag_overrides() {
    let dir = scratch();
    let (server, ca) = Server::start("starttls", &dir);
    let good = account("good", &server, &ca, &format!("password = \"{PASSWORD}\""));
    // "broken" points at port 9, where nothing listens.
    let broken = good
        .replace("[account.good]", "[account.broken]")
        .replace(&server.addr(), "127.0.0.1:9");
    let text = format!("default = \"broken\"\n{good}{broken}");
    write_config(
        &dir.join("home/.config/smtp-send/config.toml"),
        &text,
        0o600,
    );

    assert_fails(&run(&dir, &MAIL, b"", false), 3, "127.0.0.1:9");
    let mut args = vec!["--account", "good"];
    args.extend(MAIL);
    let out = run(&dir, &args, b"", false);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    // A flag beats the account.
    let addr = server.addr();
    let mut args = vec!["--server", &addr];
    args.extend(MAIL);
    let out = run(&dir, &args, b"", false);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let mut args = vec!["--account", "nope"];
    args.extend(MAIL);
    assert_fails(
        &run(&dir, &args, b"", false),
        2,
        "no account \"nope\" (has: broken, good)",
    );
}

#[test]
fn readable_file_with_a_password_is_refused() {
    let dir = scratch();
    let config = dir.join("conf.toml");
    let text = "[account.a]\nserver = \"127.0.0.1:9\"\nfrom = \"me@x.org\"\nuser = \"u\"\npassword = \"p\"\n";
    for mode in [0o644, 0o640, 0o604] {
        write_config(&config, text, mode);
        let mut args = vec!["--config", config.to_str().unwrap(), "--account", "a"];
        args.extend(MAIL);
        let out = run(&dir, &args, b"", false);
        assert_fails(&out, 2, "holds a password but others can read it");
        assert!(stderr(&out).contains("chmod 600"), "{}", stderr(&out));
    }
    // Without a password the same mode is fine (it fails later, connecting).
    let public = text.replace("user = \"u\"\npassword = \"p\"\n", "");
    write_config(&config, &public, 0o644);
    let args = ["--config", config.to_str().unwrap(), "--account", "a"];
    let out = run(
        &dir,
        &[&args[..], &MAIL[..], &["--tls", "none"]].concat(),
        b"",
        false,
    );
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    // A missing --config file, bad TOML and unknown keys are errors too.
    for (text, needle) in [
        (None, "No such file"),
        (Some("[account.a]\nserver = 1\n"), "accounts file"),
        (Some("[account.a]\nsrever = \"x\"\n"), "unknown field"),
    ] {
        match text {
            Some(t) => write_config(&config, t, 0o600),
            None => fs::remove_file(&config).unwrap(),
        }
        let args = [
            "--config",
            config.to_str().unwrap(),
            "--server",
            "127.0.0.1:9",
        ];
        assert_fails(
            &run(&dir, &[&args[..], &MAIL[..]].concat(), b"", false),
            2,
            needle,
        );
    }
}
