//! Automatic HTTPS: an ACME client (RFC 8555) that obtains and renews certificates from a
//! CA such as Let's Encrypt, with HTTP-01 and TLS-ALPN-01 (RFC 8737) challenges.
//!
//! - [`jws`]: the ES256 account key and signed requests.
//! - [`http`]: blocking HTTPS requests to the CA (rustls).
//! - [`protocol`]: the conversation: account, order, authorizations, finalize, download.
//! - [`challenge`]: the challenge responses the server publishes.
//! - [`serve`]: issued and challenge certificates into a TLS listener's SNI store.
//! - [`store`]: the state directory (account key, certificates), written atomically.
//! - [`manager`]: the background thread that keeps certificates issued and renewed.
//! - [`ari`]: the CA's renewal information (RFC 9773), when it offers it.
//!
//! All of it is blocking code on its own thread; the reactor only serves challenges and
//! swaps certificates.

pub mod ari;
pub mod challenge;
pub mod http;
pub mod jws;
pub mod manager;
pub mod protocol;
pub mod serve;
pub mod store;

use std::fmt;

pub use challenge::{Challenges, Http01Handler};
pub use manager::{AcmeConfig, AcmeStatus, Manager};
pub use protocol::{ChallengeKind, Issued};

/// Why an ACME step failed.
#[derive(Debug)]
pub enum AcmeError {
    /// Talking to the CA failed (connect, TLS, I/O).
    Io(String),
    /// The CA answered with an error; its problem document, in one line.
    Ca {
        /// HTTP status.
        status: u16,
        /// `type: detail` of the problem document.
        problem: String,
    },
    /// The CA found an authorization or order invalid; its problem documents, in one line.
    Refused(String),
    /// The CA answered something this client does not understand.
    Protocol(String),
    /// A local failure (key, file, configuration).
    Local(String),
}

impl fmt::Display for AcmeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AcmeError::Io(s) => write!(f, "cannot reach the CA: {s}"),
            AcmeError::Ca { status, problem } => write!(f, "the CA said {status}: {problem}"),
            AcmeError::Refused(s) => write!(f, "the CA refused: {s}"),
            AcmeError::Protocol(s) => write!(f, "unexpected answer from the CA: {s}"),
            AcmeError::Local(s) => write!(f, "{s}"),
        }
    }
}

impl std::error::Error for AcmeError {}
