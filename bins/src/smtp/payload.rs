//! What the protocol needs of a message: its envelope and its bytes.
//! Implemented by the MIME builder's [`super::Message`] and by
//! [`super::RawMessage`] (a complete message from sendmail mode).

use std::io::{self, Write};

use super::address::Mailbox;

/// A message ready to send: envelope, size and content.
pub trait Payload {
    /// The envelope sender (`MAIL FROM`).
    fn sender(&self) -> &Mailbox;
    /// The envelope recipients (`RCPT TO`), without duplicates.
    fn recipients(&self) -> &[Mailbox];
    /// The Message-ID header value, with angle brackets.
    fn message_id(&self) -> &str;
    /// True when the content has octets over 127 (sent as `BODY=8BITMIME`
    /// when the server offers it).
    fn eight_bit(&self) -> bool;
    /// The size in octets of what [`Payload::write_content`] writes, for
    /// the SIZE extension.
    fn size(&self) -> io::Result<u64>;
    /// Writes the message with CRLF line endings (not yet dot-stuffed).
    fn write_content(&self, w: &mut dyn Write) -> io::Result<()>;

    /// True when an envelope address needs the SMTPUTF8 extension (a
    /// non-ASCII local part; non-ASCII domains are sent as A-labels).
    fn needs_smtputf8(&self) -> bool {
        std::iter::once(self.sender())
            .chain(self.recipients())
            .any(|m| !m.addr.is_ascii())
    }
}

impl Payload for super::Message<'_> {
    fn sender(&self) -> &Mailbox {
        super::Message::sender(self)
    }

    fn recipients(&self) -> &[Mailbox] {
        super::Message::recipients(self)
    }

    fn message_id(&self) -> &str {
        super::Message::message_id(self)
    }

    fn eight_bit(&self) -> bool {
        // The MIME builder encodes everything as 7-bit.
        false
    }

    fn size(&self) -> io::Result<u64> {
        self.encoded_size()
    }

    fn write_content(&self, w: &mut dyn Write) -> io::Result<()> {
        self.write_to(w)
    }
}
