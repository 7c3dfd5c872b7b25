//! Errors tagged with the protocol stage that failed.

use std::fmt;
use std::io;

use super::reply::Reply;

/// The stage of sending a mail; each maps to a distinct CLI exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// Building the message: bad address, header injection, unreadable file.
    Input,
    /// Resolving and connecting to the server.
    Connect,
    /// The greeting and EHLO/HELO.
    Greeting,
    /// STARTTLS or the TLS handshake.
    Tls,
    /// Authentication.
    Auth,
    /// MAIL FROM.
    Mail,
    /// RCPT TO (every recipient refused).
    Rcpt,
    /// DATA, the message transfer and the final reply.
    Data,
}

impl Stage {
    /// The process exit code for a failure at this stage.
    pub fn exit_code(self) -> u8 {
        match self {
            Stage::Input => 2,
            Stage::Connect => 3,
            Stage::Greeting => 4,
            Stage::Tls => 5,
            Stage::Auth => 6,
            Stage::Mail => 7,
            Stage::Rcpt => 8,
            Stage::Data => 9,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Stage::Input => "message",
            Stage::Connect => "connect",
            Stage::Greeting => "greeting",
            Stage::Tls => "TLS",
            Stage::Auth => "AUTH",
            Stage::Mail => "MAIL",
            Stage::Rcpt => "RCPT",
            Stage::Data => "DATA",
        }
    }
}

/// What went wrong.
#[derive(Debug)]
pub enum ErrorKind {
    /// The server answered `command` with an unexpected reply.
    Rejected {
        /// The command as sent (secrets redacted).
        command: String,
        /// The server's reply.
        reply: Reply,
    },
    /// An I/O error (including a dropped connection).
    Io(io::Error),
    /// The step did not finish within its timeout.
    Timeout,
    /// Anything else, described in words.
    Other(String),
}

/// A failure to send, with the stage it happened in.
#[derive(Debug)]
pub struct Error {
    /// Where it failed.
    pub stage: Stage,
    /// What failed.
    pub kind: ErrorKind,
}

impl Error {
    /// An error described in words.
    pub fn other(stage: Stage, msg: impl Into<String>) -> Error {
        Error {
            stage,
            kind: ErrorKind::Other(msg.into()),
        }
    }

    /// An I/O error at `stage`; timeouts become [`ErrorKind::Timeout`].
    pub fn io(stage: Stage, err: io::Error) -> Error {
        let kind = match err.kind() {
            io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut => ErrorKind::Timeout,
            _ => ErrorKind::Io(err),
        };
        Error { stage, kind }
    }

    /// The server's reply, when the error is a rejection.
    pub fn reply(&self) -> Option<&Reply> {
        match &self.kind {
            ErrorKind::Rejected { reply, .. } => Some(reply),
            _ => None,
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let stage = self.stage.name();
        match &self.kind {
            ErrorKind::Rejected { command, reply } => {
                write!(f, "{stage}: {command} failed: {reply}")
            }
            ErrorKind::Io(e) => write!(f, "{stage}: {e}"),
            ErrorKind::Timeout => write!(f, "{stage}: timed out"),
            ErrorKind::Other(msg) => write!(f, "{stage}: {msg}"),
        }
    }
}

impl std::error::Error for Error {}
