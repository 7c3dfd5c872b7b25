//! SMTP client: a nodemailer-style [`Client::send_mail`], the protocol as an
//! explicit state machine ([`client::State`]), a streaming MIME builder
//! ([`Message`]) and TLS via rustls.
//!
//! ```no_run
//! use reactor_bins::smtp::{Attachment, Client, Config, Credentials, Mail};
//!
//! let mut config = Config::new("smtp.gmail.com", 587);
//! config.credentials = Some(Credentials::new("me@gmail.com", "app password"));
//! let client = Client::new(config)?;
//! let report = client.send_mail(&Mail {
//!     from: "Me <me@gmail.com>".into(),
//!     to: vec!["you@example.org".into()],
//!     subject: "Report".into(),
//!     text: Some("See attached.".into()),
//!     attachments: vec![Attachment::from_path("report.pdf")],
//!     ..Mail::default()
//! })?;
//! println!("sent {} to {:?}", report.message_id, report.accepted);
//! # Ok::<(), reactor_bins::smtp::Error>(())
//! ```

#![warn(missing_docs)]

pub mod accounts;
mod address;
pub mod addrlist;
pub mod cli;
pub mod client;
mod date;
pub mod deadline;
mod dotstuff;
pub mod encoding;
mod error;
mod mail;
mod mime;
mod password;
mod payload;
mod random;
mod raw;
pub mod reply;
pub mod tls;
mod transport;
mod verify;

pub use address::{AddressError, Mailbox};
pub use client::{AuthMechanism, Client, Config, Credentials, SendReport, TlsMode};
pub use error::{Error, ErrorKind, Stage};
pub use mail::{Attachment, AttachmentSource, Mail};
pub use mime::Message;
pub use payload::Payload;
pub use raw::{RawMessage, RawOptions};
pub use reply::{Capabilities, Reply, ReplyError, ReplyParser};
