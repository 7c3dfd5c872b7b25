//! One SMTP session: the protocol as an explicit finite state machine
//! ([`State`]) whose transitions are driven by the server's replies, with
//! PIPELINING, RSET between messages, and each step under one deadline.

use std::io::{self, BufWriter, Write};
use std::time::Instant;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;

use super::client::{AuthMechanism, Config, DsnReturn, SendReport, TlsMode};
use super::dotstuff::DotStuffer;
use super::error::{Error, ErrorKind, Stage};
use super::idna::envelope_addr;
use super::payload::Payload;
use super::reply::{Capabilities, Reply, ReplyParser};
use super::transport::Transport;

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
    /// RSET before the second and later messages of a connection.
    Reset,
    /// MAIL FROM (with PIPELINING, MAIL, every RCPT and DATA at once).
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
            State::Reset | State::MailFrom => Stage::Mail,
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
    deliver_all(io, config, &[message])
        .pop()
        .unwrap_or_else(|| Err(Error::other(Stage::Data, "no result")))
}

/// `err` for the first of `n` messages, and "not sent" for the others.
pub(crate) fn fail_all(err: Error, n: usize) -> Vec<Result<SendReport, Error>> {
    let mut out: Vec<Result<SendReport, Error>> = (1..n)
        .map(|_| Err(Error::other(err.stage, format!("not sent: {err}"))))
        .collect();
    out.insert(0, Err(err));
    out
}

/// Sends `messages` in one conversation over `io`, RSET between them: one
/// result each. A refused message does not stop the others; a broken
/// connection fails the rest.
pub fn deliver_all<T: Transport>(
    io: T,
    config: &Config,
    messages: &[&dyn Payload],
) -> Vec<Result<SendReport, Error>> {
    let Some(&first) = messages.first() else {
        return Vec::new();
    };
    if let Some(name) = &config.helo_name {
        if name.is_empty() || !name.chars().all(|c| c.is_ascii_graphic()) {
            let err = Error::other(Stage::Input, format!("invalid EHLO name {name:?}"));
            return fail_all(err, messages.len());
        }
    }
    let mut session = Session {
        io,
        replies: ReplyParser::new(),
        config,
        message: first,
        caps: Capabilities::default(),
        deadline: Instant::now(),
        accepted: Vec::new(),
        rejected: Vec::new(),
        final_reply: None,
    };
    let start = if config.tls == TlsMode::Implicit {
        State::TlsHandshake
    } else {
        State::Greeting
    };
    if let Err(e) = session.run(start, State::MailFrom) {
        session.quit_after(&e);
        return fail_all(e, messages.len());
    }
    let mut results = Vec::with_capacity(messages.len());
    for (i, &message) in messages.iter().enumerate() {
        session.message = message;
        session.accepted.clear();
        session.rejected.clear();
        session.final_reply = None;
        let from = if i == 0 {
            State::MailFrom
        } else {
            State::Reset
        };
        let result = session
            .run(from, State::Quit)
            .and_then(|()| session.report());
        if let Err(e) = &result {
            if !matches!(e.kind, ErrorKind::Rejected { .. }) {
                // The connection is unusable: the rest are not sent.
                let why = format!("not sent: an earlier message failed ({e})");
                let stage = e.stage;
                results.push(result);
                results
                    .extend((i + 1..messages.len()).map(|_| Err(Error::other(stage, why.clone()))));
                return results;
            }
        }
        results.push(result);
    }
    session.start_step();
    let _ = session.step(State::Quit);
    results
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
    /// Steps from `from` until the next state is `until`.
    fn run(&mut self, from: State, until: State) -> Result<(), Error> {
        let mut state = from;
        while state != until && state != State::Done {
            log::trace!("state {state:?}");
            self.start_step();
            state = self.step(state)?;
        }
        Ok(())
    }

    /// Says goodbye after a refusal (the dialogue is still in step).
    fn quit_after(&mut self, err: &Error) {
        if matches!(err.kind, ErrorKind::Rejected { .. }) {
            self.start_step();
            let _ = self.step(State::Quit);
        }
    }

    /// The report of the message just sent.
    fn report(&mut self) -> Result<SendReport, Error> {
        let reply = self
            .final_reply
            .take()
            .ok_or_else(|| Error::other(Stage::Data, "no final reply"))?;
        Ok(SendReport {
            accepted: std::mem::take(&mut self.accepted),
            rejected: std::mem::take(&mut self.rejected),
            message_id: self.message.message_id().to_string(),
            reply,
        })
    }
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
            State::Reset => {
                self.command(stage, "RSET", &[250])?;
                Ok(State::MailFrom)
            }
            State::MailFrom if self.config.pipelining && self.caps.pipelining => {
                self.pipelined_envelope()
            }
            State::MailFrom => {
                let cmd = self.mail_command()?;
                self.command(stage, &cmd, &[250])?;
                Ok(State::RcptTo(0))
            }
            State::RcptTo(i) => {
                let count = self.message.recipients().len();
                let (addr, cmd) = self.rcpt_command(i)?;
                self.send(stage, &cmd, &cmd)?;
                let reply = self.read_reply(stage)?;
                self.rcpt_reply(addr, &reply);
                if i + 1 < count {
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

    /// The MAIL FROM command with its parameters (SMTPUTF8, BODY, SIZE, RET).
    fn mail_command(&self) -> Result<String, Error> {
        let stage = Stage::Mail;
        let utf8 = self.message.needs_smtputf8();
        if utf8 && !self.caps.smtputf8 {
            return Err(Error::other(
                stage,
                "an address has a non-ASCII local part, which needs SMTPUTF8, \
                 and the server does not offer it",
            ));
        }
        let sender = envelope_addr(&self.message.sender().addr, self.caps.smtputf8)
            .map_err(|e| Error::other(Stage::Input, e))?;
        let mut cmd = format!("MAIL FROM:<{sender}>");
        if utf8 {
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
        if let Some(ret) = self.config.dsn_return {
            if self.dsn_offered() {
                cmd.push_str(match ret {
                    DsnReturn::Full => " RET=FULL",
                    DsnReturn::Headers => " RET=HDRS",
                });
            }
        }
        Ok(cmd)
    }

    fn dsn_offered(&self) -> bool {
        if !self.caps.dsn {
            log::warn!("the server does not offer DSN: delivery notifications not requested");
        }
        self.caps.dsn
    }

    /// The address of recipient `i` and its RCPT TO command (with NOTIFY).
    fn rcpt_command(&self, i: usize) -> Result<(String, String), Error> {
        let addr = &self
            .message
            .recipients()
            .get(i)
            .ok_or_else(|| Error::other(Stage::Rcpt, "no recipients"))?
            .addr;
        let wire =
            envelope_addr(addr, self.caps.smtputf8).map_err(|e| Error::other(Stage::Input, e))?;
        let mut cmd = format!("RCPT TO:<{wire}>");
        if let Some(notify) = self.config.dsn_notify {
            if self.dsn_offered() {
                cmd.push_str(&format!(" NOTIFY={}", notify.param()));
            }
        }
        Ok((addr.clone(), cmd))
    }

    /// Records a recipient's acceptance or refusal.
    fn rcpt_reply(&mut self, addr: String, reply: &Reply) {
        if matches!(reply.code, 250 | 251) {
            self.accepted.push(addr);
        } else {
            log::warn!("recipient {addr} refused: {reply}");
            self.rejected.push((addr, reply.clone()));
        }
    }

    /// RFC 2920: MAIL, every RCPT and DATA in one write, then their replies
    /// in order. Returns [`State::Message`] once DATA got 354.
    fn pipelined_envelope(&mut self) -> Result<State, Error> {
        let mail = self.mail_command()?;
        let mut rcpts = Vec::new();
        for i in 0..self.message.recipients().len() {
            rcpts.push(self.rcpt_command(i)?);
        }
        let mut batch = String::new();
        for cmd in std::iter::once(&mail).chain(rcpts.iter().map(|(_, c)| c)) {
            log::debug!("C: {cmd}");
            batch.push_str(cmd);
            batch.push_str("\r\n");
        }
        log::debug!("C: DATA");
        batch.push_str("DATA\r\n");
        self.io
            .write_all(batch.as_bytes())
            .and_then(|()| self.io.flush())
            .map_err(|e| Error::io(Stage::Mail, e))?;

        let mail_reply = self.read_reply(Stage::Mail)?;
        let mut last_rcpt = None;
        for (addr, cmd) in rcpts {
            let reply = self.read_reply(Stage::Rcpt)?;
            self.rcpt_reply(addr, &reply);
            last_rcpt = Some((cmd, reply));
        }
        let data_reply = self.read_reply(Stage::Data)?;
        let failure = if mail_reply.code != 250 {
            Some(rejected(Stage::Mail, &mail, mail_reply))
        } else if self.accepted.is_empty() {
            let (cmd, reply) =
                last_rcpt.ok_or_else(|| Error::other(Stage::Rcpt, "no recipients"))?;
            Some(rejected(Stage::Rcpt, &cmd, reply))
        } else {
            None
        };
        match (failure, data_reply.code) {
            (None, 354) => Ok(State::Message),
            (None, _) => Err(rejected(Stage::Data, "DATA", data_reply)),
            (Some(err), 354) => {
                // DATA was accepted anyway: end it empty, then report.
                self.send(Stage::Data, ".", ".")?;
                let _ = self.read_reply(Stage::Data)?;
                Err(err)
            }
            (Some(err), _) => Err(err),
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
    use super::super::client::Credentials;
    use super::super::client::{DsnNotify, DsnReturn};
    use super::super::{Mail, Message};
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

    #[test]
    fn pipelined_envelopes_dsn_and_rset_between_messages() {
        let ok = "250 ok\n";
        let first = format!("{ok}{ok}550 no such user\n{ok}354 go\n250 queued 1\n");
        let second = format!("{ok}{ok}{ok}{ok}354 go\n250 queued 2\n");
        let script =
            format!("220 hi\n250-mx\n250-PIPELINING\n250 DSN\n{first}{ok}{second}221 bye\n");
        let mut server = Scripted::new(&script);
        let mut c = config(TlsMode::None);
        c.credentials = None;
        c.dsn_notify = Some(DsnNotify::parse("failure").unwrap());
        c.dsn_return = Some(DsnReturn::Headers);
        let m = mail();
        let msg = Message::new(&m).unwrap();
        let results = deliver_all(&mut server, &c, &[&msg, &msg]);
        let sent = String::from_utf8_lossy(&server.written).into_owned();
        assert_eq!(results.len(), 2);
        let first = results[0].as_ref().unwrap();
        assert_eq!(first.accepted, ["a@x.org", "c@x.org"]);
        assert_eq!(first.rejected[0].0, "bad@x.org");
        assert_eq!(
            results[1].as_ref().unwrap().reply.to_string(),
            "250 queued 2"
        );
        let envelope = "MAIL FROM:<me@example.com> RET=HDRS\r\n\
                        RCPT TO:<a@x.org> NOTIFY=FAILURE\r\n\
                        RCPT TO:<bad@x.org> NOTIFY=FAILURE\r\n\
                        RCPT TO:<c@x.org> NOTIFY=FAILURE\r\nDATA\r\n";
        assert_eq!(sent.matches(envelope).count(), 2, "{sent}");
        assert!(sent.contains("\r\n.\r\nRSET\r\nMAIL FROM"), "{sent}");
        assert!(sent.ends_with("\r\n.\r\nQUIT\r\n"), "{sent}");
    }

    #[test]
    fn pipelined_refusals_keep_the_dialogue_in_step() {
        // MAIL refused: RCPT and DATA replies are still read, then QUIT.
        let script = "220 hi\n250-mx\n250 PIPELINING\n553 bad sender\n503 a\n503 b\n503 c\n503 no\n221 bye\n";
        let mut server = Scripted::new(script);
        let mut c = config(TlsMode::None);
        c.credentials = None;
        let (result, sent) = run(&mut server, &c);
        let err = result.unwrap_err();
        assert_eq!(err.stage, Stage::Mail);
        assert!(err.to_string().contains("553 bad sender"), "{err}");
        assert!(sent.ends_with("DATA\r\nQUIT\r\n"), "{sent}");
        // Every recipient refused but DATA accepted: an empty DATA ends it.
        let script = "220 hi\n250-mx\n250 PIPELINING\n250 ok\n550 a\n550 b\n550 c\n354 go\n554 no\n221 bye\n";
        let mut server = Scripted::new(script);
        let (result, sent) = run(&mut server, &c);
        assert_eq!(result.unwrap_err().stage, Stage::Rcpt);
        assert!(sent.ends_with("DATA\r\n.\r\nQUIT\r\n"), "{sent}");
    }
}
