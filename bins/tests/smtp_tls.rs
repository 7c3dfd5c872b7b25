//! Certificates people actually meet (issue 15 §1): a self-signed server
//! certificate given with `--tls-ca`, a pinned fingerprint, and errors that
//! name the failed check. Against aiosmtpd with STARTTLS and AUTH required.

mod common;
#[path = "smtp/support.rs"]
mod support;

use std::fs;

use support::*;

/// smtp-send over STARTTLS to `server` with `tls` flags.
fn send(server: &Server, tls: &[&str]) -> std::process::Output {
    let addr = server.addr();
    let mut args = vec![
        "--server",
        &addr,
        "--user",
        "tester",
        "--from",
        "me@example.com",
    ];
    args.extend(["--to", "a@x.org", "--subject", "tls", "--text", "t"]);
    args.extend_from_slice(tls);
    smtp_send(&args, Some(PASSWORD))
}

fn delivered(dir: &common::TempDir) -> bool {
    dir.join("out").join("msg1.eml").exists()
}

#[test]
fn self_signed_certificate_given_with_tls_ca_is_trusted_as_is() {
    let dir = scratch();
    let (cert, key) = self_signed(&dir, "self", "DNS:localhost,IP:127.0.0.1");
    let server = Server::start_with("starttls", &dir, &cert, &key, &[]);
    let out = send(&server, &["--tls-ca", cert.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(delivered(&dir));
}

#[test]
fn the_name_is_still_checked_unless_told_not_to() {
    let dir = scratch();
    let (cert, key) = self_signed(&dir, "other", "DNS:mail.other.example");
    let server = Server::start_with("starttls", &dir, &cert, &key, &[]);
    let ca = cert.to_str().unwrap();
    let out = send(&server, &["--tls-ca", ca]);
    assert_fails(&out, 5, "name mismatch");
    assert!(!dir.join("out").join("auth.log").exists(), "no AUTH sent");
    let out = send(&server, &["--tls-ca", ca, "--tls-no-verify-name"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(delivered(&dir));
}

#[test]
fn pinned_fingerprint_right_and_wrong() {
    let dir = scratch();
    let (cert, key) = self_signed(&dir, "self", "DNS:localhost,IP:127.0.0.1");
    let (other, _) = self_signed(&dir, "unrelated", "DNS:localhost");
    let server = Server::start_with("starttls", &dir, &cert, &key, &[]);

    let wrong = format!("sha256:{}", fingerprint(&other));
    let out = send(&server, &["--tls-fingerprint", &wrong]);
    assert_fails(&out, 5, "fingerprint mismatch");
    // The error shows the presented certificate's fingerprint, to pin it.
    let right = format!("sha256:{}", fingerprint(&cert));
    assert!(stderr(&out).contains(&right), "{}", stderr(&out));
    assert!(!dir.join("out").join("auth.log").exists(), "no AUTH sent");

    // Lower case without colons works too.
    let compact = right
        .replace(':', "")
        .replacen("sha256", "sha256:", 1)
        .to_lowercase();
    let out = send(&server, &["--tls-fingerprint", &compact]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(delivered(&dir));

    let out = send(&server, &["--tls-fingerprint", "sha256:12:34"]);
    assert_fails(&out, 2, "--tls-fingerprint wants sha256:HEX");
}

#[test]
fn unknown_issuer_is_named_and_tls_ca_suggested() {
    let dir = scratch();
    let (cert, key) = self_signed(&dir, "self", "DNS:localhost,IP:127.0.0.1");
    let server = Server::start_with("starttls", &dir, &cert, &key, &[]);
    let out = send(&server, &[]);
    assert_fails(&out, 5, "unknown issuer");
    let err = stderr(&out);
    assert!(
        err.contains("--tls-ca FILE") && err.contains("sha256:"),
        "{err}"
    );
    assert!(!fs::exists(dir.join("out").join("auth.log")).unwrap());
}
