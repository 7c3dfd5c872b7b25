//! What to send: the [`Mail`] and its [`Attachment`]s, in the spirit of
//! nodemailer's `sendMail` options.

use std::path::PathBuf;

/// A mail to send. Addresses are `Name <user@host>` or `user@host` strings;
/// they are validated when the message is built.
#[derive(Debug, Clone, Default)]
pub struct Mail {
    /// The author; also the envelope sender.
    pub from: String,
    /// Primary recipients.
    pub to: Vec<String>,
    /// Carbon-copy recipients.
    pub cc: Vec<String>,
    /// Blind recipients: in the envelope only, never in a header.
    pub bcc: Vec<String>,
    /// Where replies should go.
    pub reply_to: Vec<String>,
    /// The subject (any Unicode; encoded as needed).
    pub subject: String,
    /// Plain-text body.
    pub text: Option<String>,
    /// HTML body; inline images refer to attachments as `cid:<cid>`.
    pub html: Option<String>,
    /// Files attached to the mail.
    pub attachments: Vec<Attachment>,
}

/// One attached file.
#[derive(Debug, Clone)]
pub struct Attachment {
    /// The file name shown to the recipient (any Unicode).
    pub filename: String,
    /// Where the content comes from.
    pub source: AttachmentSource,
    /// MIME type; guessed from `filename` when `None`.
    pub content_type: Option<String>,
    /// Content-ID for inline images referenced from the HTML as `cid:..`.
    pub cid: Option<String>,
}

/// The content of an attachment.
#[derive(Debug, Clone)]
pub enum AttachmentSource {
    /// Streamed from this file while sending, never loaded whole.
    Path(PathBuf),
    /// These bytes.
    Bytes(Vec<u8>),
}

impl Attachment {
    /// An attachment read from `path`, named after its last component.
    ///
    /// ```
    /// use reactor_bins::smtp::Attachment;
    /// let a = Attachment::from_path("/tmp/report.pdf");
    /// assert_eq!(a.filename, "report.pdf");
    /// ```
    pub fn from_path(path: impl Into<PathBuf>) -> Attachment {
        let path = path.into();
        let filename = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "attachment".to_string());
        Attachment {
            filename,
            source: AttachmentSource::Path(path),
            content_type: None,
            cid: None,
        }
    }

    /// An attachment holding `bytes` under `filename`.
    pub fn from_bytes(filename: impl Into<String>, bytes: impl Into<Vec<u8>>) -> Attachment {
        Attachment {
            filename: filename.into(),
            source: AttachmentSource::Bytes(bytes.into()),
            content_type: None,
            cid: None,
        }
    }
}
