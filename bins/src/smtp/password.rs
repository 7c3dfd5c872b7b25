//! Where the SMTP password comes from: a file, `$SMTP_PASSWORD`, the
//! account's `password_command` or `password`, or a prompt on the terminal
//! with echo off. Never the command line.

use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::os::fd::AsRawFd;
use std::path::Path;

/// Where an account's password comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// `password_command`: its first output line.
    Command(String),
    /// `password`, in the (private) accounts file.
    Literal(String),
}

/// Returns the secret for `user`: the first line of `file` if given, else
/// `$SMTP_PASSWORD`, else the account's `source`, else a no-echo prompt
/// when a terminal is attached.
pub fn obtain(user: &str, file: Option<&Path>, source: Option<&Source>) -> Result<String, String> {
    if let Some(path) = file {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("password file {}: {e}", path.display()))?;
        return Ok(text.lines().next().unwrap_or_default().to_string());
    }
    if let Ok(secret) = std::env::var("SMTP_PASSWORD") {
        return Ok(secret);
    }
    match source {
        Some(Source::Command(cmd)) => return super::accounts::run_password_command(cmd),
        Some(Source::Literal(p)) => return Ok(p.clone()),
        None => {}
    }
    prompt(&format!("Password for {user}: ")).map_err(|e| {
        format!("no password: set SMTP_PASSWORD, use --password-file, or run in a terminal ({e})")
    })
}

/// Restores the terminal settings when dropped.
struct EchoOff {
    fd: i32,
    saved: libc::termios,
}

impl EchoOff {
    fn new(tty: &File) -> std::io::Result<EchoOff> {
        let fd = tty.as_raw_fd();
        // SAFETY: `fd` is an open descriptor; termios is plain old data and
        // is fully written by tcgetattr before it is read.
        unsafe {
            if libc::isatty(fd) != 1 {
                return Err(std::io::Error::other("not a terminal"));
            }
            let mut saved: libc::termios = std::mem::zeroed();
            if libc::tcgetattr(fd, &mut saved) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            let mut quiet = saved;
            quiet.c_lflag &= !libc::ECHO;
            quiet.c_lflag |= libc::ECHONL;
            if libc::tcsetattr(fd, libc::TCSANOW, &quiet) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(EchoOff { fd, saved })
        }
    }
}

impl Drop for EchoOff {
    fn drop(&mut self) {
        // SAFETY: restores the settings read in `new` on the same descriptor.
        unsafe {
            libc::tcsetattr(self.fd, libc::TCSANOW, &self.saved);
        }
    }
}

fn prompt(text: &str) -> std::io::Result<String> {
    let mut tty = OpenOptions::new().read(true).write(true).open("/dev/tty")?;
    let guard = EchoOff::new(&tty)?;
    tty.write_all(text.as_bytes())?;
    tty.flush()?;
    let mut line = String::new();
    BufReader::new(&tty).read_line(&mut line)?;
    drop(guard);
    Ok(line.trim_end_matches(['\r', '\n']).to_string())
}
