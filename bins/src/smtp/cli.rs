//! The `smtp-send` command line: flags, password sources, exit codes.

use std::ffi::OsString;
use std::io::{self, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use super::accounts::{self, Account};
use super::client::{AuthMechanism, Client, Config, Credentials, TlsMode};
use super::error::{Error, Stage};
use super::mail::{Attachment, Mail};
use super::mime::Message;
use super::password;
use super::payload::Payload;
use super::raw::{RawMessage, RawOptions};

const USAGE: &str = "\
usage: smtp-send --server HOST[:PORT] --from ADDR --to ADDR [--to ADDR]...
                 --subject S (--text T | --text-file F) [options]
       smtp-send [options] [-t] [-f ADDR] [-i] [ADDR]... < message.eml
       smtp-send [options] --message FILE [ADDR]...
       sendmail [-t] [-f ADDR] [-i] [ADDR]...   (through a symlink named sendmail)

  --server HOST[:PORT]    SMTP server (port: 587, 465 with --tls implicit)
  --user NAME             log in as NAME; the password comes from
                          --password-file, $SMTP_PASSWORD or a prompt
  --password-file FILE    read the password (or XOAUTH2 token) from FILE
  --auth plain|login|xoauth2   force an AUTH mechanism
  --from ADDR             'Name <me@example.com>' or 'me@example.com'
  --to/--cc/--bcc ADDR    recipients (repeatable); Bcc is envelope-only
  --reply-to ADDR         Reply-To (repeatable)
  --subject S             subject (any Unicode)
  --text T | --text-file F    plain-text body
  --html-file F           HTML body
  --attach FILE           attachment (repeatable)
  --inline CID=FILE       inline image for <img src=\"cid:CID\"> (repeatable)
  --tls starttls|implicit|none   default starttls (implicit on port 465)
  --tls-ca FILE           also trust the CA certificates in this PEM file; a
                          certificate in it that the server presents as its
                          own (self-signed) is trusted as-is
  --tls-fingerprint sha256:HEX   trust only the server certificate with this
                          SHA-256 fingerprint (as `openssl x509 -fingerprint
                          -sha256` prints it)
  --tls-no-verify-name    do not check the certificate's name
  --allow-plaintext-auth  allow AUTH without TLS
  --timeout SECS          time allowed per protocol step, the whole message
                          transfer included (default 120)
  --helo NAME             name sent in EHLO (default: host name)
  --dry-run               print the message instead of sending it

sendmail mode (a complete RFC 5322 message; on stdin unless --message):
  -t                      recipients from To/Cc/Bcc (plus any ADDR given)
  -f ADDR, -r ADDR        envelope sender (default: the From header)
  -i, -oi                 a line holding only '.' is not the end of input
  --message FILE          send this .eml file
  Bcc is removed; Date, Message-ID and From are added when missing; the
  rest is sent byte for byte (8-bit as BODY=8BITMIME when offered).
  Ignored for compatibility: -bm -F NAME -oX -B TYPE -V ID -X FILE -L TAG
  -O OPT=VAL -U -G -m -N DSN -R RET.
  -v, --verbose           log the SMTP transcript (secrets redacted)
  --config FILE           accounts file (default: $XDG_CONFIG_HOME or
                          ~/.config, then smtp-send/config.toml)
  --account NAME          use this account of the file (default: its
                          `default`); flags override its settings

exit codes: 0 sent, 2 usage or message error, 3 connect, 4 greeting/EHLO,
5 TLS, 6 AUTH, 7 MAIL FROM, 8 RCPT (all refused), 9 DATA";

/// Parsed command-line options.
#[derive(Debug, Default)]
pub struct Options {
    server: Option<String>,
    user: Option<String>,
    password_file: Option<PathBuf>,
    auth: Option<AuthMechanism>,
    tls: Option<TlsMode>,
    tls_ca: Option<PathBuf>,
    tls_fingerprint: Option<[u8; 32]>,
    tls_no_verify_name: bool,
    allow_plaintext_auth: bool,
    timeout: Option<Duration>,
    helo: Option<String>,
    dry_run: bool,
    verbose: bool,
    text: Option<String>,
    text_file: Option<PathBuf>,
    html_file: Option<PathBuf>,
    mail: Mail,
    config: Option<PathBuf>,
    account: Option<String>,
    /// The password source an account gives.
    secret: Option<password::Source>,
    /// sendmail mode: a complete message on stdin or in `message`.
    raw: bool,
    message: Option<PathBuf>,
    raw_opts: RawOptions,
}

/// What the command line asks for.
#[derive(Debug)]
pub enum Command {
    /// Print the usage text.
    Help,
    /// Send (or print) a mail.
    Send(Box<Options>),
}

fn string(v: OsString) -> Result<String, String> {
    v.into_string()
        .map_err(|v| format!("argument is not UTF-8: {v:?}"))
}

fn value(p: &mut lexopt::Parser) -> Result<String, String> {
    p.value().map_err(|e| e.to_string()).and_then(string)
}

/// Parses the arguments (without the program name).
pub fn parse_args(args: impl IntoIterator<Item = OsString>) -> Result<Command, String> {
    parse_invocation(false, args)
}

/// True when the program was started as `sendmail` (through a symlink).
pub fn invoked_as_sendmail(argv0: Option<&OsString>) -> bool {
    argv0
        .and_then(|a| std::path::Path::new(a).file_name())
        .is_some_and(|n| n == "sendmail")
}

/// Parses the arguments; `sendmail` when invoked under that name, which
/// reads a complete message from stdin.
pub fn parse_invocation(
    sendmail: bool,
    args: impl IntoIterator<Item = OsString>,
) -> Result<Command, String> {
    use lexopt::prelude::*;
    let mut o = Options {
        raw: sendmail,
        ..Options::default()
    };
    let mut p = lexopt::Parser::from_args(args);
    while let Some(arg) = p.next().map_err(|e| e.to_string())? {
        match arg {
            Short('h') | Long("help") => return Ok(Command::Help),
            Short('v') | Long("verbose") => o.verbose = true,
            Long("server") => o.server = Some(value(&mut p)?),
            Long("user") => o.user = Some(value(&mut p)?),
            Long("password-file") => o.password_file = Some(value(&mut p)?.into()),
            Long("auth") => o.auth = Some(parse_auth(&value(&mut p)?)?),
            Long("tls") => o.tls = Some(parse_tls(&value(&mut p)?)?),
            Long("config") => o.config = Some(value(&mut p)?.into()),
            Long("account") => o.account = Some(value(&mut p)?),
            Long("tls-ca") => o.tls_ca = Some(value(&mut p)?.into()),
            Long("tls-fingerprint") => {
                o.tls_fingerprint = Some(super::verify::parse_fingerprint(&value(&mut p)?)?)
            }
            Long("tls-no-verify-name") => o.tls_no_verify_name = true,
            Long("allow-plaintext-auth") => o.allow_plaintext_auth = true,
            Long("timeout") => {
                let v = value(&mut p)?;
                let secs: u64 = v.parse().map_err(|_| format!("bad --timeout {v:?}"))?;
                if secs == 0 {
                    return Err("--timeout must be positive".into());
                }
                o.timeout = Some(Duration::from_secs(secs));
            }
            Long("helo") => o.helo = Some(value(&mut p)?),
            Long("dry-run") => o.dry_run = true,
            Long("from") => o.mail.from = value(&mut p)?,
            Long("to") => o.mail.to.push(value(&mut p)?),
            Long("cc") => o.mail.cc.push(value(&mut p)?),
            Long("bcc") => o.mail.bcc.push(value(&mut p)?),
            Long("reply-to") => o.mail.reply_to.push(value(&mut p)?),
            Long("subject") => o.mail.subject = value(&mut p)?,
            Long("text") => o.text = Some(value(&mut p)?),
            Long("text-file") => o.text_file = Some(value(&mut p)?.into()),
            Long("html-file") => o.html_file = Some(value(&mut p)?.into()),
            Long("attach") => o
                .mail
                .attachments
                .push(Attachment::from_path(value(&mut p)?)),
            Long("inline") => {
                let v = value(&mut p)?;
                let (cid, file) = v
                    .split_once('=')
                    .ok_or_else(|| format!("--inline wants CID=FILE, got {v:?}"))?;
                let mut a = Attachment::from_path(file);
                a.cid = Some(cid.to_string());
                o.mail.attachments.push(a);
            }
            Short('t') => {
                o.raw = true;
                o.raw_opts.recipients_from_headers = true;
            }
            Short('i') => o.raw_opts.ignore_dots = true,
            Short('o') => {
                if value(&mut p)? == "i" {
                    o.raw_opts.ignore_dots = true;
                }
            }
            Short('f') | Short('r') => o.raw_opts.sender = Some(value(&mut p)?),
            Short('b') => {
                let mode = value(&mut p)?;
                if mode != "m" {
                    return Err(format!("-b{mode} is not supported (only -bm, send mail)"));
                }
            }
            Short('F' | 'B' | 'V' | 'X' | 'L' | 'O' | 'N' | 'R') => drop(value(&mut p)?),
            Short('U' | 'G' | 'm') => {}
            Long("message") => {
                o.raw = true;
                o.message = Some(value(&mut p)?.into());
            }
            Value(v) => {
                o.raw = true;
                o.raw_opts.recipients.push(string(v)?);
            }
            _ => return Err(arg.unexpected().to_string()),
        }
    }
    let path = accounts::locate(o.config.as_deref(), |k| std::env::var_os(k));
    if let Some(path) = path {
        if let Some(account) = accounts::load(&path, o.config.is_some(), o.account.as_deref())? {
            o.apply(account)?;
        }
    } else if o.account.is_some() {
        return Err("--account needs an accounts file (set HOME or use --config)".into());
    }
    if o.raw {
        return check_raw(o);
    }
    if o.mail.from.is_empty() {
        return Err("--from is required".into());
    }
    if o.mail.to.is_empty() && o.mail.cc.is_empty() && o.mail.bcc.is_empty() {
        return Err("at least one --to, --cc or --bcc is required".into());
    }
    if o.text.is_some() && o.text_file.is_some() {
        return Err("--text and --text-file are exclusive".into());
    }
    if o.text.is_none() && o.text_file.is_none() && o.html_file.is_none() {
        return Err("a body is required: --text, --text-file or --html-file".into());
    }
    if o.server.is_none() && !o.dry_run {
        return Err("--server is required (or use --dry-run)".into());
    }
    Ok(Command::Send(Box::new(o)))
}

fn parse_auth(v: &str) -> Result<AuthMechanism, String> {
    match v.to_ascii_lowercase().as_str() {
        "plain" => Ok(AuthMechanism::Plain),
        "login" => Ok(AuthMechanism::Login),
        "xoauth2" => Ok(AuthMechanism::XOAuth2),
        other => Err(format!("unknown --auth {other:?}")),
    }
}

fn parse_tls(v: &str) -> Result<TlsMode, String> {
    match v {
        "starttls" => Ok(TlsMode::StartTls),
        "implicit" => Ok(TlsMode::Implicit),
        "none" => Ok(TlsMode::None),
        other => Err(format!("unknown --tls {other:?}")),
    }
}

impl Options {
    /// Fills what the command line left unset from an account.
    fn apply(&mut self, a: Account) -> Result<(), String> {
        self.server = self.server.take().or(a.server);
        self.user = self.user.take().or(a.user);
        if self.mail.from.is_empty() {
            self.mail.from = a.from.unwrap_or_default();
        }
        if self.tls.is_none() {
            self.tls = a.tls.as_deref().map(parse_tls).transpose()?;
        }
        if self.auth.is_none() {
            self.auth = a.auth.as_deref().map(parse_auth).transpose()?;
        }
        self.tls_ca = self.tls_ca.take().or(a.tls_ca);
        if self.tls_fingerprint.is_none() {
            let pin = a.tls_fingerprint.as_deref();
            self.tls_fingerprint = pin.map(super::verify::parse_fingerprint).transpose()?;
        }
        self.tls_no_verify_name |= a.tls_no_verify_name.unwrap_or(false);
        self.allow_plaintext_auth |= a.allow_plaintext_auth.unwrap_or(false);
        self.helo = self.helo.take().or(a.helo);
        if self.timeout.is_none() {
            self.timeout = match a.timeout {
                Some(0) => return Err("accounts file: timeout must be positive".into()),
                t => t.map(Duration::from_secs),
            };
        }
        self.secret = match (a.password_command, a.password) {
            (Some(cmd), _) => Some(password::Source::Command(cmd)),
            (None, Some(p)) => Some(password::Source::Literal(p)),
            (None, None) => None,
        };
        Ok(())
    }
}

/// Completes and checks the options of sendmail mode.
fn check_raw(mut o: Options) -> Result<Command, String> {
    let m = &o.mail;
    if !m.subject.is_empty()
        || !m.reply_to.is_empty()
        || !m.attachments.is_empty()
        || o.text.is_some()
        || o.text_file.is_some()
        || o.html_file.is_some()
    {
        return Err(
            "--subject, --text, --attach and the other message flags do not apply to a \
             complete message (-t, --message, sendmail mode)"
                .into(),
        );
    }
    if o.raw_opts.sender.is_none() && !m.from.is_empty() {
        o.raw_opts.sender = Some(m.from.clone());
    }
    let extra = m.to.iter().chain(&m.cc).chain(&m.bcc).cloned();
    o.raw_opts.recipients.extend(extra.collect::<Vec<_>>());
    if o.message.is_some() {
        // A file has no end-of-input line.
        o.raw_opts.ignore_dots = true;
    }
    if o.server.is_none() && !o.dry_run {
        return Err("--server is required (or use --dry-run)".into());
    }
    Ok(Command::Send(Box::new(o)))
}

/// Splits `host[:port]` / `[v6]:port`; the port defaults per TLS mode.
fn split_server(server: &str, tls: Option<TlsMode>) -> Result<(String, u16, TlsMode), String> {
    let (host, port) = match server.rsplit_once(':') {
        Some((h, p)) if !h.contains(':') || h.ends_with(']') => {
            let port = p
                .parse()
                .map_err(|_| format!("bad port in --server {server:?}"))?;
            (h, Some(port))
        }
        _ => (server, None),
    };
    if host.is_empty() {
        return Err(format!("bad --server {server:?}"));
    }
    let tls = tls.unwrap_or(if port == Some(465) {
        TlsMode::Implicit
    } else {
        TlsMode::StartTls
    });
    let host = host.trim_start_matches('[').trim_end_matches(']');
    Ok((host.to_string(), port.unwrap_or(tls.default_port()), tls))
}

fn read_text(path: &PathBuf) -> Result<String, Error> {
    std::fs::read_to_string(path)
        .map_err(|e| Error::other(Stage::Input, format!("{}: {e}", path.display())))
}

/// Reads the complete message of sendmail mode.
fn read_raw(o: &Options) -> Result<RawMessage, Error> {
    match &o.message {
        Some(path) => {
            let file = std::fs::File::open(path)
                .map_err(|e| Error::other(Stage::Input, format!("{}: {e}", path.display())))?;
            RawMessage::read(file, &o.raw_opts)
        }
        None => RawMessage::read(io::stdin().lock(), &o.raw_opts),
    }
}

/// Prints the message (`--dry-run`).
fn print(message: &dyn Payload) -> Result<(), Error> {
    let stdout = io::stdout();
    let mut out = io::BufWriter::new(stdout.lock());
    message
        .write_content(&mut out)
        .and_then(|()| out.flush())
        .map_err(|e| Error::other(Stage::Input, format!("writing the message: {e}")))
}

/// Builds the message (or reads it, in sendmail mode), then sends or
/// prints it.
pub fn run(mut o: Options) -> Result<(), Error> {
    if o.raw {
        let message = read_raw(&o)?;
        return send(&o, &message);
    }
    o.mail.text = match (o.text.take(), &o.text_file) {
        (Some(t), _) => Some(t),
        (None, Some(path)) => Some(read_text(path)?),
        (None, None) => None,
    };
    if let Some(path) = &o.html_file {
        o.mail.html = Some(read_text(path)?);
    }
    let message = Message::new(&o.mail)?;
    send(&o, &message)
}

/// Sends `message` as the options say, or prints it with `--dry-run`.
fn send(o: &Options, message: &dyn Payload) -> Result<(), Error> {
    if o.dry_run {
        return print(message);
    }
    let server = o.server.as_deref().unwrap_or_default();
    let (host, port, tls) =
        split_server(server, o.tls).map_err(|e| Error::other(Stage::Input, e))?;
    let mut config = Config::new(host, port);
    config.tls = tls;
    config.tls_ca = o.tls_ca.clone();
    config.tls_fingerprint = o.tls_fingerprint;
    config.tls_verify_name = !o.tls_no_verify_name;
    config.allow_plaintext_auth = o.allow_plaintext_auth;
    config.helo_name = o.helo.clone();
    if let Some(t) = o.timeout {
        config.timeout = t;
    }
    if let Some(user) = &o.user {
        let secret = password::obtain(user, o.password_file.as_deref(), o.secret.as_ref())
            .map_err(|e| Error::other(Stage::Input, e))?;
        config.credentials = Some(Credentials {
            user: user.clone(),
            secret,
            mechanism: o.auth,
        });
    }
    let report = Client::new(config)?.send_message(message)?;
    for (addr, reply) in &report.rejected {
        eprintln!("smtp-send: warning: recipient {addr} refused: {reply}");
    }
    if o.raw {
        // Like sendmail: silent on success (cron mails any output).
        return Ok(());
    }
    println!(
        "sent {} to {} recipient(s): {}",
        report.message_id,
        report.accepted.len(),
        report.reply
    );
    Ok(())
}

/// The whole program: parse, run, report one line on failure.
pub fn main() -> ExitCode {
    std::panic::set_hook(Box::new(|info| {
        let text = info.to_string().replace('\n', " ");
        eprintln!("smtp-send: internal error: {text}");
    }));
    let sendmail = invoked_as_sendmail(std::env::args_os().next().as_ref());
    let opts = match parse_invocation(sendmail, std::env::args_os().skip(1)) {
        Ok(Command::Help) => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Ok(Command::Send(o)) => o,
        Err(e) => {
            eprintln!("smtp-send: {e} (see --help)");
            return ExitCode::from(Stage::Input.exit_code());
        }
    };
    let level = if opts.verbose {
        log::LevelFilter::Debug
    } else {
        log::LevelFilter::Error
    };
    let _ = simplelog::WriteLogger::init(level, simplelog::Config::default(), io::stderr());
    match run(*opts) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("smtp-send: {e}");
            ExitCode::from(e.stage.exit_code())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Command, String> {
        parse_args(args.iter().map(OsString::from))
    }

    #[test]
    fn server_ports_and_modes() {
        let s = |v, t| split_server(v, t).unwrap();
        assert_eq!(
            s("smtp.gmail.com", None),
            ("smtp.gmail.com".into(), 587, TlsMode::StartTls)
        );
        assert_eq!(s("h:465", None), ("h".into(), 465, TlsMode::Implicit));
        assert_eq!(
            s("h", Some(TlsMode::Implicit)),
            ("h".into(), 465, TlsMode::Implicit)
        );
        assert_eq!(
            s("[::1]:2525", None),
            ("::1".into(), 2525, TlsMode::StartTls)
        );
        assert!(split_server("h:x", None).is_err());
    }

    #[test]
    fn required_flags_are_checked() {
        let base = [
            "--server",
            "h",
            "--from",
            "a@b.c",
            "--to",
            "d@e.f",
            "--subject",
            "s",
        ];
        assert!(parse(&base).is_err(), "no body");
        let mut ok = base.to_vec();
        ok.extend(["--text", "hi"]);
        assert!(matches!(parse(&ok), Ok(Command::Send(_))));
        ok.extend(["--text-file", "x"]);
        assert!(parse(&ok).is_err(), "both text flags");
        assert!(parse(&["--bogus"]).is_err());
        assert!(parse(&["--tls", "maybe"]).is_err());
        assert!(matches!(parse(&["--help"]), Ok(Command::Help)));
    }
}
