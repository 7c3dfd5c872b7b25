//! The accounts file, `~/.config/smtp-send/config.toml` (or
//! `$XDG_CONFIG_HOME/smtp-send/config.toml`, or `--config FILE`):
//!
//! ```toml
//! default = "work"
//!
//! [account.work]
//! server = "smtp.example.com:587"
//! user = "me@example.com"
//! password_command = "pass show mail/work"
//! from = "Me <me@example.com>"
//! tls = "starttls"
//! tls_ca = "/etc/ssl/mail-ca.pem"
//! ```
//!
//! A file holding a `password` must not be readable by group or others.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::io::Read;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde::Deserialize;

/// Largest accounts file read.
const MAX_FILE: u64 = 1 << 20;
/// Most output read from a `password_command`.
const MAX_COMMAND_OUTPUT: u64 = 64 * 1024;

/// One account: every field optional, command-line flags override them.
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Account {
    /// `HOST[:PORT]`, as `--server`.
    pub server: Option<String>,
    /// The login, as `--user`.
    pub user: Option<String>,
    /// The password itself (the file must then be private).
    pub password: Option<String>,
    /// A command run by `/bin/sh -c` whose first output line is the password.
    pub password_command: Option<String>,
    /// The sender, as `--from`.
    pub from: Option<String>,
    /// `starttls`, `implicit` or `none`, as `--tls`.
    pub tls: Option<String>,
    /// As `--tls-ca`.
    pub tls_ca: Option<PathBuf>,
    /// As `--tls-fingerprint`.
    pub tls_fingerprint: Option<String>,
    /// As `--tls-no-verify-name` when true.
    pub tls_no_verify_name: Option<bool>,
    /// `plain`, `login` or `xoauth2`, as `--auth`.
    pub auth: Option<String>,
    /// As `--helo`.
    pub helo: Option<String>,
    /// Seconds, as `--timeout`.
    pub timeout: Option<u64>,
    /// As `--allow-plaintext-auth` when true.
    pub allow_plaintext_auth: Option<bool>,
}

/// The whole file.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    default: Option<String>,
    #[serde(default)]
    account: BTreeMap<String, Account>,
}

/// Where the accounts file is: `explicit`, else under `$XDG_CONFIG_HOME`
/// (when absolute), else `$HOME/.config`. `env` looks up a variable.
pub fn locate(explicit: Option<&Path>, env: impl Fn(&str) -> Option<OsString>) -> Option<PathBuf> {
    if let Some(path) = explicit {
        return Some(path.to_path_buf());
    }
    let xdg = env("XDG_CONFIG_HOME")
        .map(PathBuf::from)
        .filter(|p| p.is_absolute());
    let base = xdg.or_else(|| env("HOME").map(|h| PathBuf::from(h).join(".config")))?;
    Some(base.join("smtp-send").join("config.toml"))
}

/// Loads the account `name` (or the file's default) from `path`. A missing
/// file is no account unless it was asked for (`required`, or a `name`).
pub fn load(path: &Path, required: bool, name: Option<&str>) -> Result<Option<Account>, String> {
    let shown = path.display();
    let mut file = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && !required && name.is_none() => {
            return Ok(None);
        }
        Err(e) => return Err(format!("accounts file {shown}: {e}")),
    };
    let meta = file.metadata().map_err(|e| format!("{shown}: {e}"))?;
    let mut text = String::new();
    file.by_ref()
        .take(MAX_FILE + 1)
        .read_to_string(&mut text)
        .map_err(|e| format!("accounts file {shown}: {e}"))?;
    if text.len() as u64 > MAX_FILE {
        return Err(format!("accounts file {shown}: over {MAX_FILE} octets"));
    }
    let parsed: File = toml::from_str(&text)
        .map_err(|e| format!("accounts file {shown}: {}", one_line(&e.to_string())))?;
    let mode = meta.permissions().mode() & 0o777;
    if mode & 0o077 != 0 && parsed.account.values().any(|a| a.password.is_some()) {
        return Err(format!(
            "accounts file {shown} holds a password but others can read it (mode {mode:03o}): \
             chmod 600 it, or use password_command"
        ));
    }
    let wanted = name.map(str::to_string).or(parsed.default.clone());
    let Some(wanted) = wanted else {
        return Ok(None);
    };
    match parsed.account.get(&wanted) {
        Some(account) => Ok(Some(account.clone())),
        None => {
            let known: Vec<&str> = parsed.account.keys().map(String::as_str).collect();
            Err(format!(
                "accounts file {shown}: no account {wanted:?} (has: {})",
                if known.is_empty() {
                    "none".to_string()
                } else {
                    known.join(", ")
                }
            ))
        }
    }
}

fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Runs `command` with `/bin/sh -c`, stdin closed, and returns the first
/// line it prints.
pub fn run_password_command(command: &str) -> Result<String, String> {
    let mut child = Command::new("/bin/sh")
        .args(["-c", command])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .map_err(|e| format!("password_command: {e}"))?;
    let mut out = Vec::new();
    if let Some(stdout) = child.stdout.take() {
        stdout
            .take(MAX_COMMAND_OUTPUT)
            .read_to_end(&mut out)
            .map_err(|e| format!("password_command: {e}"))?;
    }
    let status = child.wait().map_err(|e| format!("password_command: {e}"))?;
    if !status.success() {
        return Err(format!("password_command failed ({status})"));
    }
    let text = String::from_utf8(out).map_err(|_| "password_command: output is not UTF-8")?;
    Ok(text.lines().next().unwrap_or_default().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locates_by_flag_xdg_then_home() {
        let env = |vars: &'static [(&'static str, &'static str)]| {
            move |k: &str| {
                vars.iter()
                    .find(|(n, _)| *n == k)
                    .map(|(_, v)| OsString::from(v))
            }
        };
        let p = |s: &str| Some(PathBuf::from(s));
        assert_eq!(locate(Some(Path::new("/x.toml")), env(&[])), p("/x.toml"));
        let both = env(&[("XDG_CONFIG_HOME", "/xdg"), ("HOME", "/home/u")]);
        assert_eq!(locate(None, both), p("/xdg/smtp-send/config.toml"));
        let relative = env(&[("XDG_CONFIG_HOME", "rel"), ("HOME", "/home/u")]);
        assert_eq!(
            locate(None, relative),
            p("/home/u/.config/smtp-send/config.toml")
        );
        assert_eq!(locate(None, env(&[])), None);
    }

    #[test]
    fn password_command_first_line() {
        assert_eq!(
            run_password_command("printf 's3cret\\nsecond\\n'"),
            Ok("s3cret".into())
        );
        assert!(run_password_command("exit 3")
            .unwrap_err()
            .contains("failed"));
    }
}
