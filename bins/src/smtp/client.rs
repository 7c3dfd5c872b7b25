//! The SMTP client: configuration and [`Client::send_mail`]; the protocol
//! itself is in [`super::session`] ([`State`], [`deliver`]).

use std::path::PathBuf;
use std::time::Duration;

use super::error::Error;
use super::mail::Mail;
use super::mime::Message;
use super::payload::Payload;
use super::reply::Reply;
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
    pub(crate) fn name(self) -> &'static str {
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
    /// Send MAIL, RCPT and DATA in one write when the server offers
    /// PIPELINING (on by default).
    pub pipelining: bool,
    /// DSN `NOTIFY=` for every recipient, when the server offers DSN.
    pub dsn_notify: Option<DsnNotify>,
    /// DSN `RET=` (what a bounce includes), when the server offers DSN.
    pub dsn_return: Option<DsnReturn>,
}

/// When to send delivery status notifications (RFC 3461 `NOTIFY=`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct DsnNotify {
    /// On successful delivery.
    pub success: bool,
    /// On failure.
    pub failure: bool,
    /// On delay.
    pub delay: bool,
}

impl DsnNotify {
    /// Parses `never` or a comma list of `success`, `failure`, `delay`.
    ///
    /// ```
    /// use reactor_bins::smtp::client::DsnNotify;
    /// assert_eq!(DsnNotify::parse("failure,delay").unwrap().param(), "FAILURE,DELAY");
    /// assert_eq!(DsnNotify::parse("never").unwrap().param(), "NEVER");
    /// assert!(DsnNotify::parse("never,success").is_err());
    /// ```
    pub fn parse(text: &str) -> Result<DsnNotify, String> {
        let mut n = DsnNotify::default();
        if text.eq_ignore_ascii_case("never") {
            return Ok(n);
        }
        for word in text.split(',') {
            match word.trim().to_ascii_lowercase().as_str() {
                "success" => n.success = true,
                "failure" => n.failure = true,
                "delay" => n.delay = true,
                _ => {
                    return Err(format!(
                        "DSN notify wants never or success,failure,delay: {text:?}"
                    ))
                }
            }
        }
        Ok(n)
    }

    /// The `NOTIFY=` value.
    pub fn param(&self) -> String {
        let words: Vec<&str> = [
            (self.success, "SUCCESS"),
            (self.failure, "FAILURE"),
            (self.delay, "DELAY"),
        ]
        .iter()
        .filter(|(on, _)| *on)
        .map(|(_, w)| *w)
        .collect();
        if words.is_empty() {
            "NEVER".into()
        } else {
            words.join(",")
        }
    }
}

/// What a bounce carries (RFC 3461 `RET=`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DsnReturn {
    /// The whole message.
    Full,
    /// Its headers only.
    Headers,
}

impl DsnReturn {
    /// Parses `full` or `headers` (`hdrs`).
    pub fn parse(text: &str) -> Result<DsnReturn, String> {
        match text.to_ascii_lowercase().as_str() {
            "full" => Ok(DsnReturn::Full),
            "headers" | "hdrs" => Ok(DsnReturn::Headers),
            _ => Err(format!("DSN return wants full or headers: {text:?}")),
        }
    }
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
            pipelining: true,
            dsn_notify: None,
            dsn_return: None,
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

    /// Sends several messages over one connection, with RSET between them;
    /// one result each, in order. A refused message does not stop the
    /// others; a broken connection fails the rest.
    pub fn send_all(&self, messages: &[&dyn Payload]) -> Vec<Result<SendReport, Error>> {
        let c = &self.config;
        match SocketTransport::connect(&c.host, c.port, c.timeout, self.tls.clone()) {
            Ok(io) => deliver_all(io, c, messages),
            Err(e) => super::session::fail_all(e, messages.len()),
        }
    }
}

pub use super::session::{deliver, deliver_all, State};
