//! The SMTP client: configuration, [`Client::send_mail`], and the protocol
//! as an explicit finite state machine ([`State`]) whose transitions are
//! driven by the server's replies.

use std::io::{self, BufWriter, Write};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use base64::engine::general_purpose::STANDARD;
use base64::Engine;

use super::dotstuff::DotStuffer;
use super::error::{Error, ErrorKind, Stage};
use super::mail::Mail;
use super::mime::Message;
use super::payload::Payload;
use super::reply::{Capabilities, Reply, ReplyParser};
use super::tls;
pub use super::transport::{SocketTransport, Transport};

/// How the connection is secured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TlsMode {
    /// Plain connect, then STARTTLS, which is required (port 587).
    StartTls,
    /// TLS from the first byte (port 465).
    Implicit,
    /// No TLS at all (local relays and tests only).
    None,
}

impl TlsMode {
    /// The conventional port for this mode: 587, 465 or 25.
    pub fn default_port(self) -> u16 {
        match self {
            TlsMode::StartTls => 587,
            TlsMode::Implicit => 465,
            TlsMode::None => 25,
        }
    }
}

/// A SASL mechanism for AUTH.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthMechanism {
    /// AUTH PLAIN with an initial response.
    Plain,
    /// AUTH LOGIN (user and password in two steps).
    Login,
    /// AUTH XOAUTH2; the secret is an OAuth 2 bearer token.
    XOAuth2,
}

impl AuthMechanism {
    fn name(self) -> &'static str {
        match self {
            AuthMechanism::Plain => "PLAIN",
            AuthMechanism::Login => "LOGIN",
            AuthMechanism::XOAuth2 => "XOAUTH2",
        }
    }
}

/// Login credentials.
#[derive(Clone)]
pub struct Credentials {
    /// The user name.
    pub user: String,
    /// The password (or bearer token for XOAUTH2). Never logged.
    pub secret: String,
    /// The mechanism; `None` picks PLAIN, else LOGIN, as offered.
    pub mechanism: Option<AuthMechanism>,
}

impl Credentials {
    /// User and password, mechanism chosen from what the server offers.
    pub fn new(user: impl Into<String>, secret: impl Into<String>) -> Credentials {
        Credentials {
            user: user.into(),
            secret: secret.into(),
            mechanism: None,
        }
    }
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("user", &self.user)
            .field("secret", &"<redacted>")
            .field("mechanism", &self.mechanism)
            .finish()
    }
}

/// Where and how to connect.
#[derive(Debug, Clone)]
pub struct Config {
    /// Server host name or IP address (also the TLS server name).
    pub host: String,
    /// Server port.
    pub port: u16,
    /// TLS mode; STARTTLS by default.
    pub tls: TlsMode,
    /// A PEM file of extra trusted CA certificates, or of the server's own
    /// (self-signed) certificate, which is then trusted as-is.
    pub tls_ca: Option<PathBuf>,
    /// Trust only the server certificate with this SHA-256 digest.
    pub tls_fingerprint: Option<[u8; 32]>,
    /// Check that the certificate is for `host` (on by default).
    pub tls_verify_name: bool,
    /// Credentials for AUTH, if the server needs them.
    pub credentials: Option<Credentials>,
    /// Allow AUTH over an unencrypted connection (off by default).
    pub allow_plaintext_auth: bool,
    /// Time allowed for each protocol step.
    pub timeout: Duration,
    /// Name sent in EHLO/HELO; the host name by default.
    pub helo_name: Option<String>,
}

impl Config {
    /// STARTTLS to `host:port`, no credentials, 2 minutes per step.
    pub fn new(host: impl Into<String>, port: u16) -> Config {
        Config {
            host: host.into(),
            port,
            tls: TlsMode::StartTls,
            tls_ca: None,
            tls_fingerprint: None,
            tls_verify_name: true,
            credentials: None,
            allow_plaintext_auth: false,
            timeout: Duration::from_secs(120),
            helo_name: None,
        }
    }
}

/// The outcome of a successful send.
#[derive(Debug, Clone)]
pub struct SendReport {
    /// Recipients the server accepted.
    pub accepted: Vec<String>,
    /// Recipients the server refused, with its reply.
    pub rejected: Vec<(String, Reply)>,
    /// The message's Message-ID header value.
    pub message_id: String,
    /// The server's reply to the end of DATA.
    pub reply: Reply,
}

/// Sends mail with a fixed configuration.
pub struct Client {
    config: Config,
    tls: std::sync::Arc<rustls::ClientConfig>,
}

impl Client {
    /// Prepares a client; fails if the CA file cannot be loaded.
    pub fn new(config: Config) -> Result<Client, Error> {
        let tls = tls::client_config(&tls::Trust {
            ca_file: config.tls_ca.as_deref(),
            fingerprint: config.tls_fingerprint,
            skip_name: !config.tls_verify_name,
        })?;
        Ok(Client { config, tls })
    }

    /// Builds and sends `mail`: see [`Message::new`] for validation.
    pub fn send_mail(&self, mail: &Mail) -> Result<SendReport, Error> {
        self.send_message(&Message::new(mail)?)
    }

    /// Connects and sends an already built message: a [`Message`] or a
    /// complete one read by [`super::RawMessage`].
    pub fn send_message(&self, message: &dyn Payload) -> Result<SendReport, Error> {
        let c = &self.config;
        let io = SocketTransport::connect(&c.host, c.port, c.timeout, self.tls.clone())?;
        deliver(io, c, message)
    }
}

/// The protocol steps. Each state sends its command (if any), reads the
/// reply and picks the next state from it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    /// Implicit TLS: handshake before anything else.
    TlsHandshake,
    /// Waiting for the 220 greeting.
    Greeting,
    /// EHLO.
    Ehlo,
    /// HELO, after EHLO was not understood.
    Helo,
    /// STARTTLS and the handshake.
    StartTls,
    /// EHLO again over TLS.
    EhloAgain,
    /// AUTH.
    Auth,
    /// MAIL FROM.
    MailFrom,
    /// RCPT TO for the recipient at this index.
    RcptTo(usize),
    /// DATA, expecting 354.
    Data,
    /// The message itself, then the final reply.
    Message,
    /// QUIT.
    Quit,
    /// Finished.
    Done,
}

impl State {
    /// The stage reported if this state fails.
    pub fn stage(self) -> Stage {
        match self {
            State::TlsHandshake | State::StartTls => Stage::Tls,
            State::Greeting | State::Ehlo | State::Helo | State::EhloAgain => Stage::Greeting,
            State::Auth => Stage::Auth,
            State::MailFrom => Stage::Mail,
            State::RcptTo(_) => Stage::Rcpt,
            State::Data | State::Message | State::Quit | State::Done => Stage::Data,
        }
    }
}

/// Runs the whole conversation for `message` over `io` (already connected).
pub fn deliver<T: Transport>(
    io: T,
    config: &Config,
    message: &dyn Payload,
) -> Result<SendReport, Error> {
    let mut session = Session {
        io,
        replies: ReplyParser::new(),
        config,
        message,
        caps: Capabilities::default(),
        deadline: Instant::now(),
        accepted: Vec::new(),
        rejected: Vec::new(),
        final_reply: None,
    };
    if let Some(name) = &config.helo_name {
        if name.is_empty() || !name.chars().all(|c| c.is_ascii_graphic()) {
            return Err(Error::other(
                Stage::Input,
                format!("invalid EHLO name {name:?}"),
            ));
        }
    }
    let mut state = if config.tls == TlsMode::Implicit {
        State::TlsHandshake
    } else {
        State::Greeting
    };
    while state != State::Done {
        log::trace!("state {state:?}");
        session.start_step();
        state = match session.step(state) {
            Ok(next) => next,
            Err(e) => {
                // The dialogue is still in step after a refusal: say goodbye.
                if matches!(e.kind, ErrorKind::Rejected { .. }) {
                    session.start_step();
                    let _ = session.step(State::Quit);
                }
                return Err(e);
            }
        };
    }
    let reply = session
        .final_reply
        .ok_or_else(|| Error::other(Stage::Data, "no final reply"))?;
    Ok(SendReport {
        accepted: session.accepted,
        rejected: session.rejected,
        message_id: message.message_id().to_string(),
        reply,
    })
}

struct Session<'a, T> {
    io: T,
    replies: ReplyParser,
    config: &'a Config,
    message: &'a dyn Payload,
    caps: Capabilities,
    deadline: Instant,
    accepted: Vec<String>,
    rejected: Vec<(String, Reply)>,
    final_reply: Option<Reply>,
}

impl<T: Transport> Session<'_, T> {
    /// Gives the next step its whole time budget: every read, write and
    /// handshake in it must be done by then.
    fn start_step(&mut self) {
        self.deadline = Instant::now() + self.config.timeout;
        self.io.set_deadline(self.deadline);
    }

    /// Performs `state` and returns the next one.
    fn step(&mut self, state: State) -> Result<State, Error> {
        let stage = state.stage();
        match state {
            State::TlsHandshake => {
                self.io.start_tls()?;
                Ok(State::Greeting)
            }
            State::Greeting => {
                self.expect(stage, "(greeting)", &[220])?;
                Ok(State::Ehlo)
            }
            State::Ehlo | State::EhloAgain => {
                let cmd = format!("EHLO {}", self.helo_name());
                self.send(stage, &cmd, &cmd)?;
                let reply = self.read_reply(stage)?;
                if reply.code == 250 {
                    self.caps = Capabilities::from_ehlo(&reply);
                    self.after_hello()
                } else if state == State::Ehlo && matches!(reply.code, 500 | 502 | 504 | 550) {
                    Ok(State::Helo)
                } else {
                    Err(rejected(stage, &cmd, reply))
                }
            }
            State::Helo => {
                let cmd = format!("HELO {}", self.helo_name());
                self.command(stage, &cmd, &[250])?;
                self.caps = Capabilities::default();
                self.after_hello()
            }
            State::StartTls => {
                self.command(stage, "STARTTLS", &[220])?;
                if !self.replies.is_empty() {
                    return Err(Error::other(
                        stage,
                        "server sent data before the TLS handshake",
                    ));
                }
                self.io.start_tls()?;
                log::debug!("TLS established");
                Ok(State::EhloAgain)
            }
            State::Auth => {
                self.authenticate()?;
                Ok(State::MailFrom)
            }
            State::MailFrom => {
                let mut cmd = format!("MAIL FROM:<{}>", self.message.sender().addr);
                if self.message.needs_smtputf8() {
                    if !self.caps.smtputf8 {
                        return Err(Error::other(
                            stage,
                            "non-ASCII address but no SMTPUTF8 support",
                        ));
                    }
                    cmd.push_str(" SMTPUTF8");
                }
                if self.message.eight_bit() {
                    if self.caps.eight_bit_mime {
                        cmd.push_str(" BODY=8BITMIME");
                    } else {
                        log::warn!("8-bit message but the server does not offer 8BITMIME");
                    }
                }
                if let Some(limit) = self.caps.size {
                    let size = self
                        .message
                        .size()
                        .map_err(|e| Error::io(Stage::Input, e))?;
                    if limit > 0 && size > limit {
                        return Err(Error::other(
                            stage,
                            format!("message is {size} octets, server accepts at most {limit}"),
                        ));
                    }
                    cmd.push_str(&format!(" SIZE={size}"));
                }
                self.command(stage, &cmd, &[250])?;
                Ok(State::RcptTo(0))
            }
            State::RcptTo(i) => {
                let rcpts = self.message.recipients();
                let addr = &rcpts
                    .get(i)
                    .ok_or_else(|| Error::other(stage, "no recipients"))?
                    .addr;
                let cmd = format!("RCPT TO:<{addr}>");
                self.send(stage, &cmd, &cmd)?;
                let reply = self.read_reply(stage)?;
                if matches!(reply.code, 250 | 251) {
                    self.accepted.push(addr.clone());
                } else {
                    log::warn!("recipient {addr} refused: {reply}");
                    self.rejected.push((addr.clone(), reply.clone()));
                }
                if i + 1 < rcpts.len() {
                    Ok(State::RcptTo(i + 1))
                } else if self.accepted.is_empty() {
                    Err(rejected(stage, &cmd, reply))
                } else {
                    Ok(State::Data)
                }
            }
            State::Data => {
                self.command(stage, "DATA", &[354])?;
                Ok(State::Message)
            }
            State::Message => {
                self.send_body()?;
                self.start_step();
                let reply = self.read_reply(stage)?;
                if reply.code != 250 {
                    return Err(rejected(stage, "(end of DATA)", reply));
                }
                self.final_reply = Some(reply);
                Ok(State::Quit)
            }
            State::Quit => {
                // The mail is already accepted: a failing QUIT is not an error.
                if let Err(e) = self.command(stage, "QUIT", &[221]) {
                    log::debug!("QUIT: {e}");
                }
                Ok(State::Done)
            }
            State::Done => Ok(State::Done),
        }
    }

    /// Where to go after a successful EHLO or HELO.
    fn after_hello(&self) -> Result<State, Error> {
        if self.config.tls == TlsMode::StartTls && !self.io.is_encrypted() {
            if !self.caps.starttls {
                return Err(Error::other(Stage::Tls, "server does not offer STARTTLS"));
            }
            return Ok(State::StartTls);
        }
        Ok(if self.config.credentials.is_some() {
            State::Auth
        } else {
            State::MailFrom
        })
    }

    fn helo_name(&self) -> String {
        self.config.helo_name.clone().unwrap_or_else(local_hostname)
    }

    fn authenticate(&mut self) -> Result<(), Error> {
        let stage = Stage::Auth;
        let Some(creds) = self.config.credentials.clone() else {
            return Ok(());
        };
        if !self.io.is_encrypted() && !self.config.allow_plaintext_auth {
            return Err(Error::other(
                stage,
                "refusing to send credentials over an unencrypted connection",
            ));
        }
        let mech = match creds.mechanism {
            Some(m) => m,
            None if self.caps.has_auth("PLAIN") => AuthMechanism::Plain,
            None if self.caps.has_auth("LOGIN") => AuthMechanism::Login,
            None => {
                let offered = if self.caps.auth.is_empty() {
                    "none".to_string()
                } else {
                    self.caps.auth.join(" ")
                };
                return Err(Error::other(
                    stage,
                    format!("no supported AUTH mechanism (server offers: {offered})"),
                ));
            }
        };
        let shown = format!("AUTH {}", mech.name());
        let b64 = |s: &str| STANDARD.encode(s);
        match mech {
            AuthMechanism::Plain => {
                let token = b64(&format!("\0{}\0{}", creds.user, creds.secret));
                let cmd = format!("AUTH PLAIN {token}");
                self.send(stage, &cmd, "AUTH PLAIN <redacted>")?;
                self.expect(stage, &shown, &[235])?;
            }
            AuthMechanism::Login => {
                self.command(stage, "AUTH LOGIN", &[334])?;
                let user = b64(&creds.user);
                self.send(stage, &user, &user)?;
                self.expect(stage, &shown, &[334])?;
                self.send(stage, &b64(&creds.secret), "<redacted>")?;
                self.expect(stage, &shown, &[235])?;
            }
            AuthMechanism::XOAuth2 => {
                let token = b64(&format!(
                    "user={}\x01auth=Bearer {}\x01\x01",
                    creds.user, creds.secret
                ));
                self.send(
                    stage,
                    &format!("AUTH XOAUTH2 {token}"),
                    "AUTH XOAUTH2 <redacted>",
                )?;
                let reply = self.read_reply(stage)?;
                if reply.code == 334 {
                    // An error challenge: answer empty to get the final code.
                    self.send(stage, "", "")?;
                    self.expect(stage, &shown, &[235])?;
                } else if reply.code != 235 {
                    return Err(rejected(stage, &shown, reply));
                }
            }
        }
        Ok(())
    }

    /// Streams the message, dot-stuffed, and the terminating `.` line.
    fn send_body(&mut self) -> Result<(), Error> {
        let fail = |e| Error::io(Stage::Data, e);
        log::debug!("C: <message {}>", self.message.message_id());
        let mut wire = DotStuffer::new(BufWriter::with_capacity(64 * 1024, &mut self.io));
        self.message.write_content(&mut wire).map_err(fail)?;
        wire.finish().map_err(fail)?.flush().map_err(fail)?;
        log::debug!("C: .");
        Ok(())
    }

    /// Sends a command and requires one of `codes` in reply.
    fn command(&mut self, stage: Stage, cmd: &str, codes: &[u16]) -> Result<Reply, Error> {
        self.send(stage, cmd, cmd)?;
        self.expect(stage, cmd, codes)
    }

    /// Reads a reply and requires one of `codes`; `cmd` names it in errors.
    fn expect(&mut self, stage: Stage, cmd: &str, codes: &[u16]) -> Result<Reply, Error> {
        let reply = self.read_reply(stage)?;
        if codes.contains(&reply.code) {
            Ok(reply)
        } else {
            Err(rejected(stage, cmd, reply))
        }
    }

    /// Writes `line` and CRLF; the transcript shows `shown` instead.
    fn send(&mut self, stage: Stage, line: &str, shown: &str) -> Result<(), Error> {
        log::debug!("C: {shown}");
        let mut data = Vec::with_capacity(line.len() + 2);
        data.extend_from_slice(line.as_bytes());
        data.extend_from_slice(b"\r\n");
        self.io
            .write_all(&data)
            .and_then(|()| self.io.flush())
            .map_err(|e| Error::io(stage, e))
    }

    /// Reads one complete (possibly multi-line) reply, within the limits
    /// of [`ReplyParser`] and the step's deadline.
    fn read_reply(&mut self, stage: Stage) -> Result<Reply, Error> {
        loop {
            match self.replies.next_reply() {
                Ok(Some(reply)) => return Ok(reply),
                Ok(None) => {}
                Err(e) => return Err(Error::other(stage, e.to_string())),
            }
            let mut chunk = [0u8; 4096];
            match self.io.read(&mut chunk) {
                Ok(0) => {
                    let eof =
                        io::Error::new(io::ErrorKind::UnexpectedEof, "connection closed by server");
                    return Err(Error::io(stage, eof));
                }
                Ok(n) => self.replies.push(&chunk[..n]),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(Error::io(stage, e)),
            }
        }
    }
}

fn rejected(stage: Stage, command: &str, reply: Reply) -> Error {
    Error {
        stage,
        kind: ErrorKind::Rejected {
            command: command.to_string(),
            reply,
        },
    }
}

/// This machine's host name for EHLO, or `localhost` if it is unusable.
fn local_hostname() -> String {
    let mut buf = [0u8; 256];
    // SAFETY: the buffer is valid for its full length; gethostname writes
    // at most that many bytes.
    let rc = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) };
    let len = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
    let name = String::from_utf8_lossy(&buf[..len]).into_owned();
    let valid = rc == 0
        && !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.');
    if valid {
        name
    } else {
        "localhost".into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    /// A scripted server: canned reply bytes in, everything written out.
    struct Scripted {
        replies: io::Cursor<Vec<u8>>,
        written: Vec<u8>,
        tls: bool,
        offers_tls: bool,
    }

    impl Scripted {
        fn new(replies: &str) -> Scripted {
            Scripted {
                replies: io::Cursor::new(replies.replace('\n', "\r\n").into_bytes()),
                written: Vec::new(),
                tls: false,
                offers_tls: true,
            }
        }
    }

    impl Read for Scripted {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            // One byte at a time, to exercise reassembly of lines.
            let n = buf.len().min(1);
            self.replies.read(&mut buf[..n])
        }
    }

    impl Write for Scripted {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.written.write(buf)
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    impl Transport for &mut Scripted {
        fn start_tls(&mut self) -> Result<(), Error> {
            if !self.offers_tls {
                return Err(Error::other(Stage::Tls, "handshake failed"));
            }
            self.tls = true;
            Ok(())
        }
        fn is_encrypted(&self) -> bool {
            self.tls
        }
        fn set_deadline(&mut self, _: Instant) {}
    }

    fn mail() -> Mail {
        Mail {
            from: "Me <me@example.com>".into(),
            to: vec!["a@x.org".into(), "bad@x.org".into()],
            bcc: vec!["c@x.org".into()],
            subject: "Hi".into(),
            text: Some("hello\n.\n".into()),
            ..Mail::default()
        }
    }

    fn config(tls: TlsMode) -> Config {
        let mut c = Config::new("mx.example.com", 587);
        c.tls = tls;
        c.helo_name = Some("client.test".into());
        c.credentials = Some(Credentials::new("me", "s3cret"));
        c
    }

    const EHLO_TLS: &str = "250-mx.example.com\n250-PIPELINING\n250-STARTTLS\n250 SIZE 1000\n";
    const EHLO_AUTH: &str = "250-mx.example.com\n250-AUTH LOGIN PLAIN\n250 8BITMIME\n";
    const TAIL: &str =
        "250 ok\n250 ok\n550 no such user\n250 ok\n354 go\n250 queued as 42\n221 bye\n";

    fn run(server: &mut Scripted, config: &Config) -> (Result<SendReport, Error>, String) {
        let m = mail();
        let msg = Message::new(&m).unwrap();
        let result = deliver(&mut *server, config, &msg);
        (
            result,
            String::from_utf8_lossy(&server.written).into_owned(),
        )
    }

    #[test]
    fn full_starttls_auth_conversation() {
        let script = format!("220 hi\n{EHLO_TLS}220 go ahead\n{EHLO_AUTH}235 ok\n{TAIL}");
        let mut server = Scripted::new(&script);
        let (result, sent) = run(&mut server, &config(TlsMode::StartTls));
        let report = result.unwrap();
        assert_eq!(report.accepted, ["a@x.org", "c@x.org"]);
        assert_eq!(report.rejected.len(), 1);
        assert_eq!(report.rejected[0].0, "bad@x.org");
        assert_eq!(report.rejected[0].1.code, 550);
        assert_eq!(report.reply.to_string(), "250 queued as 42");
        let commands: Vec<&str> = sent.split("\r\n").filter(|l| l.len() < 60).collect();
        let plain = STANDARD.encode("\0me\0s3cret");
        assert_eq!(
            &commands[..8],
            [
                "EHLO client.test",
                "STARTTLS",
                "EHLO client.test",
                &format!("AUTH PLAIN {plain}") as &str,
                "MAIL FROM:<me@example.com>",
                "RCPT TO:<a@x.org>",
                "RCPT TO:<bad@x.org>",
                "RCPT TO:<c@x.org>",
            ]
        );
        assert!(sent.contains("DATA\r\n"));
        // Dot-stuffed body, then the terminator and QUIT.
        assert!(sent.contains("\r\nhello\r\n..\r\n"));
        assert!(sent.ends_with("\r\n.\r\nQUIT\r\n"));
        assert!(
            !sent.contains("c@x.org>\r\nTo"),
            "Bcc must stay out of the headers"
        );
    }

    #[test]
    fn helo_fallback_and_login_over_plaintext_when_allowed() {
        let script = format!(
            "220 hi\n500 what\n250 hello\n334 VXNlcm5hbWU6\n334 UGFzc3dvcmQ6\n235 ok\n{TAIL}"
        );
        let mut server = Scripted::new(&script);
        let mut c = config(TlsMode::None);
        c.allow_plaintext_auth = true;
        c.credentials.as_mut().unwrap().mechanism = Some(AuthMechanism::Login);
        let (result, sent) = run(&mut server, &c);
        result.unwrap();
        assert!(sent.starts_with("EHLO client.test\r\nHELO client.test\r\nAUTH LOGIN\r\n"));
        assert!(sent.contains(&format!("\r\n{}\r\n", STANDARD.encode("s3cret"))));
    }

    #[test]
    fn refuses_auth_without_tls() {
        let mut server = Scripted::new(&format!("220 hi\n{EHLO_AUTH}221 bye\n"));
        let (result, sent) = run(&mut server, &config(TlsMode::None));
        let err = result.unwrap_err();
        assert_eq!(err.stage, Stage::Auth);
        assert!(!sent.contains("AUTH"), "{sent}");
    }

    #[test]
    fn missing_starttls_is_a_tls_error() {
        let mut server = Scripted::new(&format!("220 hi\n{EHLO_AUTH}"));
        let (result, _) = run(&mut server, &config(TlsMode::StartTls));
        assert_eq!(result.unwrap_err().stage, Stage::Tls);
    }

    #[test]
    fn errors_carry_stage_command_and_reply() {
        let cases = [
            ("554 go away\n", Stage::Greeting, "554 go away"),
            (
                "220 hi\n250 ok\n535 5.7.8 bad credentials\n221 bye\n",
                Stage::Auth,
                "AUTH PLAIN failed: 535",
            ),
            (
                "220 hi\n250 ok\n235 ok\n553 sender refused\n221 bye\n",
                Stage::Mail,
                "MAIL FROM:<me@example.com> failed: 553",
            ),
            (
                "220 hi\n250 ok\n235 ok\n250 ok\n550 a\n550 b\n550 c\n221 bye\n",
                Stage::Rcpt,
                "RCPT TO:<c@x.org> failed: 550 c",
            ),
            (
                "220 hi\n250 ok\n235 ok\n250 ok\n250 ok\n250 ok\n250 ok\n451 later\n221 bye\n",
                Stage::Data,
                "DATA failed: 451",
            ),
            (
                "220 hi\n250 ok\n235 ok\n250 ok\n250 ok\n250 ok\n250 ok\n354 go\n552 too big\n",
                Stage::Data,
                "552 too big",
            ),
            (
                "220 hi\n250 ok\n235 ok\n250 ok\n250 ok\n250 ok\n250 ok\n354 go\n",
                Stage::Data,
                "connection closed",
            ),
            (
                "220 hi\n250 ok\n235 ok\n250 ok\n250 ok\n250 ok\n250 ok\n354 go\nXYZ\n",
                Stage::Data,
                "malformed",
            ),
        ];
        for (script, stage, text) in cases {
            let mut server = Scripted::new(script);
            let mut c = config(TlsMode::None);
            c.allow_plaintext_auth = true;
            c.credentials.as_mut().unwrap().mechanism = Some(AuthMechanism::Plain);
            let (result, sent) = run(&mut server, &c);
            let err = result.unwrap_err();
            assert_eq!(err.stage, stage, "{err}");
            assert!(err.to_string().contains(text), "{err} lacks {text}");
            assert!(!err.to_string().contains("s3cret"));
            if err.reply().is_some() && stage != Stage::Data {
                assert!(sent.ends_with("QUIT\r\n"), "{sent}");
            }
        }
    }

    #[test]
    fn xoauth2_error_challenge_gets_an_empty_answer() {
        let script = "220 hi\n250-mx\n250 AUTH XOAUTH2\n334 eyJzdGF0dXMiOiI0MDEifQ==\n535 bad token\n221 bye\n";
        let mut server = Scripted::new(script);
        let mut c = config(TlsMode::None);
        c.allow_plaintext_auth = true;
        c.credentials = Some(Credentials {
            user: "me@example.com".into(),
            secret: "tok".into(),
            mechanism: Some(AuthMechanism::XOAuth2),
        });
        let (result, sent) = run(&mut server, &c);
        let err = result.unwrap_err();
        assert_eq!(err.stage, Stage::Auth);
        assert!(
            err.to_string()
                .contains("AUTH XOAUTH2 failed: 535 bad token"),
            "{err}"
        );
        let token = STANDARD.encode("user=me@example.com\x01auth=Bearer tok\x01\x01");
        assert!(
            sent.contains(&format!("AUTH XOAUTH2 {token}\r\n\r\nQUIT\r\n")),
            "{sent}"
        );
    }

    #[test]
    fn size_is_declared_and_enforced() {
        let m = mail();
        let size = Message::new(&m).unwrap().encoded_size().unwrap();
        let ehlo = |limit: u64| format!("220 hi\n250-mx\n250-AUTH PLAIN\n250 SIZE {limit}\n");
        let mut c = config(TlsMode::None);
        c.allow_plaintext_auth = true;

        let mut server = Scripted::new(&format!("{}235 ok\n{TAIL}", ehlo(size)));
        let (result, sent) = run(&mut server, &c);
        result.unwrap();
        assert!(sent.contains(&format!("MAIL FROM:<me@example.com> SIZE={size}\r\n")));

        let mut server = Scripted::new(&format!("{}235 ok\n", ehlo(size - 1)));
        let (result, sent) = run(&mut server, &c);
        let err = result.unwrap_err();
        assert_eq!(err.stage, Stage::Mail);
        assert!(err.to_string().contains("server accepts at most"), "{err}");
        assert!(!sent.contains("MAIL FROM"));
    }

    #[test]
    fn helo_name_cannot_inject_commands() {
        let mut server = Scripted::new("220 hi\n");
        let mut c = config(TlsMode::None);
        c.helo_name = Some("x\r\nRSET".into());
        let (result, sent) = run(&mut server, &c);
        assert_eq!(result.unwrap_err().stage, Stage::Input);
        assert!(sent.is_empty());
    }

    #[test]
    fn multiline_replies_and_implicit_tls() {
        let script = format!("220-first\n220 second\n{EHLO_AUTH}235 ok\n{TAIL}");
        let mut server = Scripted::new(&script);
        let (result, sent) = run(&mut server, &config(TlsMode::Implicit));
        assert!(server.tls);
        result.unwrap();
        assert!(sent.starts_with("EHLO client.test\r\nAUTH PLAIN "));
    }
}
