//! Complete RFC 5322 messages, as sendmail takes them (`-t`, a symlink
//! named `sendmail`, `--message FILE`): read once into a private spool
//! file with CRLF line endings, `Bcc` removed, `Date`, `Message-ID` (and
//! `From`) added when missing, and sent byte for byte otherwise.

use std::fs::{File, OpenOptions};
use std::io::{self, BufRead, BufReader, BufWriter, Read, Write};
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::time::SystemTime;

use super::address::Mailbox;
use super::addrlist::parse_list;
use super::error::{Error, Stage};
use super::payload::Payload;
use super::{date, random};

/// Largest header section accepted.
pub const MAX_HEADER: usize = 1 << 20;
/// Longest piece of a line handled at once (longer lines pass in pieces).
const PIECE: u64 = 64 * 1024;

/// How to read a complete message.
#[derive(Debug, Clone, Default)]
pub struct RawOptions {
    /// Take recipients from `To`, `Cc` and `Bcc` (`-t`).
    pub recipients_from_headers: bool,
    /// Extra envelope recipients (command-line arguments).
    pub recipients: Vec<String>,
    /// The envelope sender (`-f`); the `From` header's address otherwise.
    pub sender: Option<String>,
    /// A line holding only `.` is data, not the end (`-i`, `-oi`). Always
    /// true for a file.
    pub ignore_dots: bool,
}

/// A complete message read from stdin or a file, spooled on disk.
#[derive(Debug)]
pub struct RawMessage {
    spool: File,
    size: u64,
    eight_bit: bool,
    sender: Mailbox,
    recipients: Vec<Mailbox>,
    message_id: String,
}

fn input_error(msg: impl Into<String>) -> Error {
    Error::other(Stage::Input, msg)
}

/// An unlinked temporary file only this process can reach.
fn spool_file() -> io::Result<File> {
    let path = std::env::temp_dir().join(format!(
        "smtp-send-{}-{}",
        std::process::id(),
        random::hex_token(8)?
    ));
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&path)?;
    std::fs::remove_file(&path)?;
    Ok(file)
}

/// Reads the next line, or a piece of at most [`PIECE`] octets of a longer
/// one, into `buf` (cleared first). Empty at the end of input.
fn next_piece(reader: &mut impl BufRead, buf: &mut Vec<u8>) -> io::Result<usize> {
    buf.clear();
    reader.by_ref().take(PIECE).read_until(b'\n', buf)
}

/// Writes `piece` with a bare LF turned into CRLF; `after_cr` tells if the
/// previous piece ended with CR.
fn write_crlf(w: &mut impl Write, piece: &[u8], after_cr: bool) -> io::Result<()> {
    let line = match piece.strip_suffix(b"\n") {
        Some(line) if line.is_empty() => (!after_cr).then_some(line),
        Some(line) => (!line.ends_with(b"\r")).then_some(line),
        None => None,
    };
    match line {
        Some(line) => {
            w.write_all(line)?;
            w.write_all(b"\r\n")
        }
        None => w.write_all(piece),
    }
}

/// A header field, unfolded: its name and its value as text.
struct Field {
    name: String,
    value: String,
}

fn field(raw: &[u8]) -> Option<Field> {
    let text = String::from_utf8_lossy(raw);
    let (name, value) = text.split_once(':')?;
    let name = name.trim_end();
    if name.is_empty() || !name.bytes().all(|b| b.is_ascii_graphic()) {
        return None;
    }
    let value = value.replace(['\r', '\n'], "");
    Some(Field {
        name: name.to_ascii_lowercase(),
        value: value.trim().to_string(),
    })
}

impl RawMessage {
    /// Reads a message from `input` (stdin or a file) and prepares its
    /// envelope: fails with [`Stage::Input`] on an unreadable message, a
    /// header section over `MAX_HEADER`, a bad address, no sender or no
    /// recipient.
    ///
    /// ```
    /// use reactor_bins::smtp::{Payload, RawMessage, RawOptions};
    /// let text = "From: a@x.org\nTo: b@y.org\nBcc: c@z.org\nSubject: hi\n\nbody\n";
    /// let opts = RawOptions { recipients_from_headers: true, ..RawOptions::default() };
    /// let msg = RawMessage::read(text.as_bytes(), &opts).unwrap();
    /// let rcpts: Vec<&str> = msg.recipients().iter().map(|m| m.addr.as_str()).collect();
    /// assert_eq!(rcpts, ["b@y.org", "c@z.org"]);
    /// let mut out = Vec::new();
    /// msg.write_content(&mut out).unwrap();
    /// let out = String::from_utf8(out).unwrap();
    /// assert!(out.starts_with("From: a@x.org\r\nTo: b@y.org\r\nSubject: hi\r\nDate: "));
    /// assert!(out.ends_with("\r\n\r\nbody\r\n") && !out.contains("Bcc"));
    /// ```
    pub fn read(input: impl Read, opts: &RawOptions) -> Result<RawMessage, Error> {
        let io_err = |e: io::Error| input_error(format!("reading the message: {e}"));
        let mut reader = BufReader::with_capacity(64 * 1024, input);
        let mut buf = Vec::new();

        // The header section: fields (with their continuation lines) up to
        // the blank line, or a line that is not a field.
        let mut fields: Vec<Vec<u8>> = Vec::new();
        let (mut header_size, mut first_body_piece, mut ended) = (0, None, false);
        loop {
            if next_piece(&mut reader, &mut buf).map_err(io_err)? == 0 {
                ended = true;
                break;
            }
            header_size += buf.len();
            if header_size > MAX_HEADER {
                return Err(input_error(format!(
                    "the header section is over {MAX_HEADER} octets"
                )));
            }
            if buf == b"\n" || buf == b"\r\n" {
                break;
            }
            let continuation = matches!(buf[0], b' ' | b'\t');
            match fields.last_mut() {
                Some(last) if continuation => last.extend_from_slice(&buf),
                _ if field(&buf).is_some() => fields.push(buf.clone()),
                // An mbox "From " line before the header: dropped.
                None if buf.starts_with(b"From ") => {}
                _ => {
                    first_body_piece = Some(buf.clone());
                    break;
                }
            }
            if !buf.ends_with(b"\n") {
                return Err(input_error("a header line is longer than 64 KiB"));
            }
        }

        let parsed: Vec<Field> = fields.iter().filter_map(|f| field(f)).collect();
        let has = |name: &str| parsed.iter().any(|f| f.name == name);
        let list = |names: &[&str]| -> Result<Vec<Mailbox>, Error> {
            let mut out = Vec::new();
            for f in parsed.iter().filter(|f| names.contains(&f.name.as_str())) {
                let mut found = parse_list(&f.value)
                    .map_err(|e| input_error(format!("{} header: {e}", f.name)))?;
                out.append(&mut found);
            }
            Ok(out)
        };

        let sender = match &opts.sender {
            Some(s) => Mailbox::parse(s).map_err(|e| input_error(e.to_string()))?,
            None => list(&["from"])?
                .into_iter()
                .next()
                .ok_or_else(|| input_error("no sender: give -f ADDR or a From: header"))?,
        };
        let mut wanted = Vec::new();
        if opts.recipients_from_headers {
            wanted = list(&["to", "cc", "bcc"])?;
        }
        for r in &opts.recipients {
            wanted.push(Mailbox::parse(r).map_err(|e| input_error(e.to_string()))?);
        }
        let mut recipients: Vec<Mailbox> = Vec::new();
        for m in wanted {
            if !recipients
                .iter()
                .any(|r| r.addr.eq_ignore_ascii_case(&m.addr))
            {
                recipients.push(m);
            }
        }
        if recipients.is_empty() {
            return Err(input_error(
                "no recipients: give addresses as arguments, or -t to read To/Cc/Bcc",
            ));
        }
        let message_id = match parsed.iter().find(|f| f.name == "message-id") {
            Some(f) => f.value.clone(),
            None => {
                let domain = Some(sender.domain())
                    .filter(|d| d.is_ascii())
                    .unwrap_or("localhost");
                let token = random::hex_token(16).map_err(io_err)?;
                format!("<{token}@{domain}>")
            }
        };

        let spool = spool_file().map_err(io_err)?;
        let mut out = BufWriter::with_capacity(64 * 1024, &spool);
        let mut eight_bit = false;
        let spool_err = |e: io::Error| input_error(format!("spooling the message: {e}"));
        for (raw, f) in fields.iter().zip(&parsed) {
            if f.name == "bcc" || f.name == "resent-bcc" {
                continue;
            }
            eight_bit |= raw.iter().any(|&b| b > 127);
            // Each physical line of the field, with CRLF.
            let mut after_cr = false;
            for line in raw.split_inclusive(|&b| b == b'\n') {
                write_crlf(&mut out, line, after_cr).map_err(spool_err)?;
                after_cr = line.ends_with(b"\r");
            }
        }
        let mut added = String::new();
        if !has("from") {
            added.push_str(&format!("From: {}\r\n", sender.to_header()));
        }
        if !has("date") {
            added.push_str(&format!("Date: {}\r\n", date::rfc5322(SystemTime::now())));
        }
        if !has("message-id") {
            added.push_str(&format!("Message-ID: {message_id}\r\n"));
        }
        added.push_str("\r\n");
        out.write_all(added.as_bytes()).map_err(spool_err)?;

        // The body, piece by piece.
        let (mut at_line_start, mut after_cr) = (true, false);
        let mut piece = first_body_piece;
        if !ended {
            loop {
                let data = match piece.take() {
                    Some(p) => p,
                    None => {
                        if next_piece(&mut reader, &mut buf).map_err(io_err)? == 0 {
                            break;
                        }
                        std::mem::take(&mut buf)
                    }
                };
                if at_line_start && !opts.ignore_dots && (data == b".\n" || data == b".\r\n") {
                    break;
                }
                eight_bit |= data.iter().any(|&b| b > 127);
                write_crlf(&mut out, &data, after_cr).map_err(spool_err)?;
                at_line_start = data.ends_with(b"\n");
                after_cr = data.ends_with(b"\r");
                buf = data;
            }
        }
        out.flush().map_err(spool_err)?;
        drop(out);
        let size = spool.metadata().map_err(spool_err)?.len();
        Ok(RawMessage {
            spool,
            size,
            eight_bit,
            sender,
            recipients,
            message_id,
        })
    }
}

impl Payload for RawMessage {
    fn sender(&self) -> &Mailbox {
        &self.sender
    }

    fn recipients(&self) -> &[Mailbox] {
        &self.recipients
    }

    fn message_id(&self) -> &str {
        &self.message_id
    }

    fn eight_bit(&self) -> bool {
        self.eight_bit
    }

    fn size(&self) -> io::Result<u64> {
        Ok(self.size)
    }

    fn write_content(&self, w: &mut dyn Write) -> io::Result<()> {
        let mut buf = vec![0u8; 64 * 1024];
        let mut offset = 0;
        while offset < self.size {
            let n = self.spool.read_at(&mut buf, offset)?;
            if n == 0 {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "spool file shrank",
                ));
            }
            w.write_all(&buf[..n])?;
            offset += n as u64;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(text: &[u8], opts: &RawOptions) -> (RawMessage, Vec<u8>) {
        let msg = RawMessage::read(text, opts).unwrap();
        let mut out = Vec::new();
        msg.write_content(&mut out).unwrap();
        assert_eq!(out.len() as u64, msg.size().unwrap());
        (msg, out)
    }

    fn opts_t() -> RawOptions {
        RawOptions {
            recipients_from_headers: true,
            ..RawOptions::default()
        }
    }

    #[test]
    fn kept_byte_for_byte_with_crlf() {
        let text = b"From: A <a@x.org>\r\nTo: b@y.org,\n  c@y.org\nDate: Mon, 1 Jan 2024 00:00:00 +0000\nMessage-ID: <id@x>\nX-8: caf\xc3\xa9\n\n.leading dot\r\nlong \xff line\nno newline at end";
        let (msg, out) = read(text, &opts_t());
        assert_eq!(
            out,
            b"From: A <a@x.org>\r\nTo: b@y.org,\r\n  c@y.org\r\nDate: Mon, 1 Jan 2024 00:00:00 +0000\r\nMessage-ID: <id@x>\r\nX-8: caf\xc3\xa9\r\n\r\n.leading dot\r\nlong \xff line\r\nno newline at end"
        );
        assert!(msg.eight_bit());
        assert_eq!(msg.message_id(), "<id@x>");
        assert_eq!(msg.sender().addr, "a@x.org");
        assert_eq!(msg.recipients().len(), 2);
    }

    #[test]
    fn lone_dot_ends_input_unless_ignored() {
        let text = b"From: a@x.org\n\none\n.\ntwo\n";
        let mut opts = RawOptions {
            recipients: vec!["r@x.org".into()],
            ..RawOptions::default()
        };
        let (msg, out) = read(text, &opts);
        assert!(out.ends_with(b"\r\n\r\none\r\n") && !msg.eight_bit());
        opts.ignore_dots = true;
        let (_, out) = read(text, &opts);
        assert!(out.ends_with(b"\r\n\r\none\r\n.\r\ntwo\r\n"));
    }

    #[test]
    fn envelope_rules() {
        // -f wins over From; arguments add to -t; duplicates merged; Bcc gone.
        let text = b"From: a@x.org\nTo: b@y.org\nBcc: hidden@z.org,\n B@Y.ORG\nSubject: s\n\nx\n";
        let opts = RawOptions {
            recipients_from_headers: true,
            recipients: vec!["extra@w.org".into()],
            sender: Some("bounce@x.org".into()),
            ignore_dots: false,
        };
        let (msg, out) = read(text, &opts);
        let out = String::from_utf8(out).unwrap();
        assert_eq!(msg.sender().addr, "bounce@x.org");
        let rcpts: Vec<&str> = msg.recipients().iter().map(|m| m.addr.as_str()).collect();
        assert_eq!(rcpts, ["b@y.org", "hidden@z.org", "extra@w.org"]);
        assert!(!out.contains("hidden") && !out.contains("B@Y.ORG"), "{out}");
        assert!(out.contains("\r\nMessage-ID: <") && out.contains("\r\nDate: "));

        for (text, opts, needle) in [
            (&b"To: b@y.org\n\nx"[..], opts_t(), "no sender"),
            (b"From: a@x.org\n\nx", opts_t(), "no recipients"),
            (b"From: a@x.org\nTo: nonsense\n\nx", opts_t(), "to header"),
        ] {
            let err = RawMessage::read(text, &opts).unwrap_err();
            assert_eq!(err.stage, Stage::Input);
            assert!(err.to_string().contains(needle), "{err}");
        }
    }

    #[test]
    fn header_section_is_bounded() {
        let mut text = b"From: a@x.org\nTo: b@y.org\n".to_vec();
        for _ in 0..20_000 {
            text.extend_from_slice(
                b"X-Junk: 0123456789012345678901234567890123456789012345678901234567890123\n",
            );
        }
        let err = RawMessage::read(&text[..], &opts_t()).unwrap_err();
        assert!(err.to_string().contains("header section is over"), "{err}");
    }
}
