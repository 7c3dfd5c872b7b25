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

#[path = "session_envelope.rs"]
mod envelope;
#[cfg(test)]
#[path = "session_tests.rs"]
mod tests;
