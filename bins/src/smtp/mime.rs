//! The MIME builder: validates a [`Mail`] into a [`Message`] and streams
//! it out as RFC 5322 / MIME text (CRLF, 7-bit, lines within 998 octets).
//!
//! Structure: text only is `text/plain`; text and HTML are
//! `multipart/alternative`; HTML with `cid:` images is `multipart/related`;
//! any other attachment wraps it all in `multipart/mixed`.

use std::fs::File;
use std::io::{self, Write};
use std::time::SystemTime;

use super::address::Mailbox;
use super::encoding::{
    base64_len, copy_base64, fold_header, mime_param, quoted_printable, unstructured,
};
use super::error::{Error, Stage};
use super::mail::{Attachment, AttachmentSource, Mail};
use super::{date, random};

/// A validated message, ready to be written any number of times.
#[derive(Debug)]
pub struct Message<'a> {
    sender: Mailbox,
    recipients: Vec<Mailbox>,
    message_id: String,
    headers: String,
    root: Part<'a>,
}

/// A node of the MIME tree.
#[derive(Debug)]
enum Part<'a> {
    Multipart {
        subtype: &'static str,
        boundary: String,
        parts: Vec<Part<'a>>,
    },
    Text {
        subtype: &'static str,
        text: &'a str,
    },
    File {
        attachment: &'a Attachment,
        content_type: String,
    },
}

fn input_error(msg: impl Into<String>) -> Error {
    Error::other(Stage::Input, msg)
}

/// Refuses values that could inject headers.
fn no_line_breaks(what: &str, value: &str) -> Result<(), Error> {
    if value.contains(['\r', '\n']) {
        return Err(input_error(format!(
            "{what} contains a line break: {value:?}"
        )));
    }
    Ok(())
}

fn parse_all(list: &[String]) -> Result<Vec<Mailbox>, Error> {
    list.iter()
        .map(|s| Mailbox::parse(s).map_err(|e| input_error(e.to_string())))
        .collect()
}

fn address_header(name: &str, list: &[Mailbox]) -> String {
    let value: Vec<String> = list.iter().map(Mailbox::to_header).collect();
    fold_header(name, &value.join(", "))
}

/// True for a `type/subtype` made of MIME token characters.
fn is_mime_type(s: &str) -> bool {
    let token = |t: &str| {
        (1..=127).contains(&t.len())
            && t.chars()
                .all(|c| c.is_ascii_alphanumeric() || "!#$&^_.+-".contains(c))
    };
    s.split_once('/')
        .is_some_and(|(t, sub)| token(t) && token(sub))
}

impl<'a> Message<'a> {
    /// Validates `mail` and plans its MIME structure: addresses parse, no
    /// header value holds CR or LF, attachment files can be opened.
    ///
    /// ```
    /// use reactor_bins::smtp::{Mail, Message};
    /// let mail = Mail {
    ///     from: "Me <me@example.com>".into(),
    ///     to: vec!["you@example.org".into()],
    ///     subject: "Hello".into(),
    ///     text: Some("Hi!\n".into()),
    ///     ..Mail::default()
    /// };
    /// let mut out = Vec::new();
    /// Message::new(&mail).unwrap().write_to(&mut out).unwrap();
    /// assert!(String::from_utf8(out).unwrap().contains("Subject: Hello\r\n"));
    /// ```
    pub fn new(mail: &'a Mail) -> Result<Message<'a>, Error> {
        let sender = Mailbox::parse(&mail.from).map_err(|e| input_error(e.to_string()))?;
        let (to, cc, bcc) = (
            parse_all(&mail.to)?,
            parse_all(&mail.cc)?,
            parse_all(&mail.bcc)?,
        );
        let reply_to = parse_all(&mail.reply_to)?;
        let mut recipients: Vec<Mailbox> = Vec::new();
        for m in to.iter().chain(&cc).chain(&bcc) {
            if !recipients
                .iter()
                .any(|r| r.addr.eq_ignore_ascii_case(&m.addr))
            {
                recipients.push(m.clone());
            }
        }
        if recipients.is_empty() {
            return Err(input_error("no recipients"));
        }
        no_line_breaks("subject", &mail.subject)?;
        for a in &mail.attachments {
            check_attachment(a)?;
        }

        let domain = if sender.domain().is_ascii() {
            sender.domain()
        } else {
            "localhost"
        };
        let message_id = format!("<{}@{}>", token(16)?, domain);
        let mut headers = address_header("From", std::slice::from_ref(&sender));
        for (name, list) in [("To", &to), ("Cc", &cc), ("Reply-To", &reply_to)] {
            if !list.is_empty() {
                headers.push_str(&address_header(name, list));
            }
        }
        headers.push_str(&fold_header("Subject", &unstructured(&mail.subject)));
        headers.push_str(&fold_header("Date", &date::rfc5322(SystemTime::now())));
        headers.push_str(&fold_header("Message-ID", &message_id));
        headers.push_str("MIME-Version: 1.0\r\n");

        Ok(Message {
            sender,
            recipients,
            message_id,
            headers,
            root: plan(mail)?,
        })
    }

    /// The envelope sender (`MAIL FROM`).
    pub fn sender(&self) -> &Mailbox {
        &self.sender
    }

    /// The envelope recipients: To, Cc and Bcc without duplicates.
    pub fn recipients(&self) -> &[Mailbox] {
        &self.recipients
    }

    /// The generated Message-ID, with angle brackets.
    pub fn message_id(&self) -> &str {
        &self.message_id
    }

    /// Streams the whole message to `w`; attachment files are read in
    /// bounded chunks. Ends with CRLF.
    pub fn write_to<W: Write + ?Sized>(&self, w: &mut W) -> io::Result<()> {
        self.write(w, Files::Read).map(drop)
    }

    /// The size in octets of what [`Message::write_to`] produces (before
    /// dot-stuffing), for the SIZE extension. Files are only measured.
    pub fn encoded_size(&self) -> io::Result<u64> {
        let mut counter = Counter(0);
        let measured = self.write(&mut counter, Files::Measure)?;
        Ok(counter.0 + measured)
    }

    fn write<W: Write + ?Sized>(&self, w: &mut W, files: Files) -> io::Result<u64> {
        w.write_all(self.headers.as_bytes())?;
        let measured = write_part(&self.root, w, files)?;
        w.write_all(b"\r\n")?;
        Ok(measured)
    }
}

/// Whether attachment files are streamed (sending) or only measured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Files {
    Read,
    Measure,
}

/// A writer that only counts.
struct Counter(u64);

impl Write for Counter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0 += buf.len() as u64;
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

fn token(bytes: usize) -> Result<String, Error> {
    random::hex_token(bytes).map_err(|e| input_error(format!("cannot read /dev/urandom: {e}")))
}

fn check_attachment(a: &Attachment) -> Result<(), Error> {
    no_line_breaks("attachment filename", &a.filename)?;
    if let Some(ct) = &a.content_type {
        if !is_mime_type(ct) {
            return Err(input_error(format!("invalid content type {ct:?}")));
        }
    }
    if let Some(cid) = &a.cid {
        if cid.is_empty()
            || cid.len() > 200
            || cid
                .chars()
                .any(|c| "<>\"\\".contains(c) || !c.is_ascii_graphic())
        {
            return Err(input_error(format!("invalid content id {cid:?}")));
        }
    }
    if let AttachmentSource::Path(path) = &a.source {
        let meta = std::fs::metadata(path)
            .map_err(|e| input_error(format!("attachment {}: {e}", path.display())))?;
        if !meta.is_file() {
            return Err(input_error(format!(
                "attachment {}: not a file",
                path.display()
            )));
        }
    }
    Ok(())
}

fn multipart<'a>(subtype: &'static str, parts: Vec<Part<'a>>) -> Result<Part<'a>, Error> {
    Ok(Part::Multipart {
        subtype,
        boundary: format!("=_reactor_{}", token(16)?),
        parts,
    })
}

fn file_part(attachment: &Attachment) -> Part<'_> {
    let content_type = attachment.content_type.clone().unwrap_or_else(|| {
        mime_guess::from_path(&attachment.filename)
            .first_or_octet_stream()
            .essence_str()
            .to_string()
    });
    Part::File {
        attachment,
        content_type,
    }
}

/// Builds the MIME tree for `mail`.
fn plan(mail: &Mail) -> Result<Part<'_>, Error> {
    let has_html = mail.html.is_some();
    let (inline, attached): (Vec<&Attachment>, Vec<&Attachment>) = mail
        .attachments
        .iter()
        .partition(|a| a.cid.is_some() && has_html);
    let html = match mail.html.as_deref() {
        None => None,
        Some(text) => {
            let html = Part::Text {
                subtype: "html",
                text,
            };
            if inline.is_empty() {
                Some(html)
            } else {
                let mut parts = vec![html];
                parts.extend(inline.into_iter().map(file_part));
                Some(multipart("related", parts)?)
            }
        }
    };
    let text = mail.text.as_deref().map(|text| Part::Text {
        subtype: "plain",
        text,
    });
    let body = match (text, html) {
        (Some(t), Some(h)) => multipart("alternative", vec![t, h])?,
        (Some(only), None) | (None, Some(only)) => only,
        (None, None) => Part::Text {
            subtype: "plain",
            text: "",
        },
    };
    if attached.is_empty() {
        return Ok(body);
    }
    let mut parts = vec![body];
    parts.extend(attached.into_iter().map(file_part));
    multipart("mixed", parts)
}

/// Writes a part's own headers, the blank line and its body.
/// Returns the encoded size of file bodies that were measured, not written.
fn write_part<W: Write + ?Sized>(part: &Part<'_>, w: &mut W, files: Files) -> io::Result<u64> {
    match part {
        Part::Multipart {
            subtype,
            boundary,
            parts,
        } => {
            // RFC 2387: multipart/related names the type of its root part.
            let root = if *subtype == "related" {
                "; type=\"text/html\""
            } else {
                ""
            };
            let ct = format!("multipart/{subtype}; boundary=\"{boundary}\"{root}");
            w.write_all(fold_header("Content-Type", &ct).as_bytes())?;
            w.write_all(b"\r\n")?;
            let mut measured = 0;
            for child in parts {
                write!(w, "--{boundary}\r\n")?;
                measured += write_part(child, w, files)?;
                w.write_all(b"\r\n")?;
            }
            write!(w, "--{boundary}--")?;
            Ok(measured)
        }
        Part::Text { subtype, text } => {
            let ct = format!("text/{subtype}; charset=utf-8");
            w.write_all(fold_header("Content-Type", &ct).as_bytes())?;
            w.write_all(b"Content-Transfer-Encoding: quoted-printable\r\n\r\n")?;
            w.write_all(quoted_printable(text).as_bytes())?;
            Ok(0)
        }
        Part::File {
            attachment,
            content_type,
        } => {
            let ct = format!(
                "{content_type}; {}",
                mime_param("name", &attachment.filename)
            );
            w.write_all(fold_header("Content-Type", &ct).as_bytes())?;
            w.write_all(b"Content-Transfer-Encoding: base64\r\n")?;
            let disposition = if attachment.cid.is_some() {
                "inline"
            } else {
                "attachment"
            };
            let cd = format!(
                "{disposition}; {}",
                mime_param("filename", &attachment.filename)
            );
            w.write_all(fold_header("Content-Disposition", &cd).as_bytes())?;
            if let Some(cid) = &attachment.cid {
                w.write_all(fold_header("Content-ID", &format!("<{cid}>")).as_bytes())?;
            }
            w.write_all(b"\r\n")?;
            match (&attachment.source, files) {
                (AttachmentSource::Bytes(bytes), _) => {
                    copy_base64(&mut bytes.as_slice(), w)?;
                    Ok(0)
                }
                (AttachmentSource::Path(path), Files::Read) => {
                    copy_base64(&mut File::open(path)?, w)?;
                    Ok(0)
                }
                (AttachmentSource::Path(path), Files::Measure) => {
                    Ok(base64_len(std::fs::metadata(path)?.len()))
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::engine::general_purpose::STANDARD;
    use base64::Engine;

    fn mail() -> Mail {
        Mail {
            from: "Zoë Sender <me@example.com>".into(),
            to: vec!["a@x.org".into(), "B <b@y.org>".into()],
            cc: vec!["c@z.org".into()],
            bcc: vec!["hidden@secret.org".into(), "a@x.org".into()],
            subject: "Grüße — a long subject line that goes on and on and on".into(),
            text: Some("Hello\n.dot line\nbye".into()),
            ..Mail::default()
        }
    }

    fn render(mail: &Mail) -> String {
        let mut out = Vec::new();
        Message::new(mail).unwrap().write_to(&mut out).unwrap();
        String::from_utf8(out).unwrap()
    }

    fn assert_wire_clean(text: &str) {
        assert!(text.ends_with("\r\n"));
        for line in text.split("\r\n") {
            assert!(!line.contains(['\r', '\n']), "bare CR/LF in {line:?}");
            assert!(line.len() <= 998);
            assert!(line.is_ascii(), "{line}");
        }
    }

    #[test]
    fn text_only_is_text_plain_and_bcc_is_hidden() {
        let m = mail();
        let msg = Message::new(&m).unwrap();
        let rcpts: Vec<&str> = msg.recipients().iter().map(|r| r.addr.as_str()).collect();
        assert_eq!(
            rcpts,
            ["a@x.org", "b@y.org", "c@z.org", "hidden@secret.org"]
        );
        let out = render(&m);
        assert_wire_clean(&out);
        assert!(!out.contains("hidden"));
        assert!(out.contains("Content-Type: text/plain; charset=utf-8\r\n"));
        assert!(out.contains("\r\nSubject: =?UTF-8?B?"));
        assert!(out.contains("From: =?UTF-8?B?"));
        assert!(out.contains("\r\nMIME-Version: 1.0\r\n"));
        assert!(out.contains("\r\nMessage-ID: <"));
        assert!(out.contains("\r\n\r\nHello\r\n.dot line\r\nbye\r\n"));
    }

    #[test]
    fn structure_follows_content() {
        let mut m = mail();
        m.html = Some("<p>Hi <img src=\"cid:logo\"></p>".into());
        let out = render(&m);
        assert!(out.contains("Content-Type: multipart/alternative;"));
        assert!(!out.contains("multipart/mixed"));

        let mut logo = Attachment::from_bytes("logo.png", vec![1, 2, 3]);
        logo.cid = Some("logo".into());
        m.attachments = vec![logo, Attachment::from_bytes("ñandú.pdf", vec![0u8; 300])];
        let out = render(&m);
        assert_wire_clean(&out);
        let mixed = out.find("multipart/mixed").unwrap();
        let alt = out.find("multipart/alternative").unwrap();
        let related = out.find("multipart/related").unwrap();
        assert!(mixed < alt && alt < related);
        assert!(out.contains("Content-ID: <logo>\r\n"));
        assert!(
            out.contains("type=\"text/html\""),
            "RFC 2387 type parameter"
        );
        assert!(out.contains("Content-Type: image/png; name=\"logo.png\"\r\n"));
        assert!(out.contains("filename*=UTF-8''%C3%B1and%C3%BA.pdf"));
        assert!(out.contains("Content-Type: application/pdf;"));
    }

    #[test]
    fn attachment_bytes_round_trip_through_base64() {
        let data: Vec<u8> = (0..5000u32).map(|i| (i % 251) as u8).collect();
        let mut m = mail();
        m.attachments = vec![Attachment::from_bytes("d.bin", data.clone())];
        let out = render(&m);
        let start = out.find("Content-Disposition: attachment").unwrap();
        let body_start = start + out[start..].find("\r\n\r\n").unwrap() + 4;
        let body_end = body_start + out[body_start..].find("\r\n--").unwrap();
        let b64: String = out[body_start..body_end].split("\r\n").collect();
        assert_eq!(STANDARD.decode(b64).unwrap(), data);
    }

    #[test]
    fn encoded_size_matches_the_written_message() {
        let dir = std::env::temp_dir().join(format!("mime-size-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let mut m = mail();
        m.html = Some("<p>x</p>".into());
        for (i, len) in [0usize, 1, 56, 57, 58, 1000, 100_000]
            .into_iter()
            .enumerate()
        {
            let path = dir.join(format!("f{i}.bin"));
            std::fs::write(&path, vec![7u8; len]).unwrap();
            m.attachments.push(Attachment::from_path(path));
            m.attachments
                .push(Attachment::from_bytes("b.bin", vec![9u8; len]));
        }
        let msg = Message::new(&m).unwrap();
        let mut out = Vec::new();
        msg.write_to(&mut out).unwrap();
        assert_eq!(msg.encoded_size().unwrap(), out.len() as u64);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn boundaries_are_random_and_absent_from_content() {
        let mut m = mail();
        m.html = Some("--=_reactor_ in html".into());
        let a = render(&m);
        let b = render(&m);
        let boundary = |s: &str| {
            let i = s.find("boundary=\"").unwrap() + 10;
            s[i..i + s[i..].find('"').unwrap()].to_string()
        };
        assert_ne!(boundary(&a), boundary(&b));
        // The `=` in the content is quoted-printable encoded as `=3D`.
        assert!(a.contains("--=3D_reactor_ in html"));
    }

    #[test]
    fn refuses_header_injection() {
        type Mutation = Box<dyn Fn(&mut Mail)>;
        let cases: Vec<Mutation> = vec![
            Box::new(|m| m.subject = "hi\r\nBcc: x@y.z".into()),
            Box::new(|m| m.to.push("x@y.z\nBcc: e@f.g".into())),
            Box::new(|m| m.from = "Me\r\n <me@example.com>".into()),
            Box::new(|m| {
                m.attachments
                    .push(Attachment::from_bytes("a\r\nX: y", vec![]))
            }),
            Box::new(|m| {
                let mut a = Attachment::from_bytes("a.txt", vec![]);
                a.content_type = Some("text/plain\r\nX-Evil: 1".into());
                m.attachments.push(a)
            }),
            Box::new(|m| {
                let mut a = Attachment::from_bytes("a.png", vec![]);
                a.cid = Some("x>\r\nX-Evil: 1".into());
                m.attachments.push(a)
            }),
        ];
        for case in cases {
            let mut m = mail();
            case(&mut m);
            let err = Message::new(&m).unwrap_err();
            assert_eq!(err.stage, Stage::Input, "{err}");
        }
    }

    #[test]
    fn missing_attachment_file_is_an_input_error() {
        let mut m = mail();
        m.attachments
            .push(Attachment::from_path("/nonexistent/file.txt"));
        let err = Message::new(&m).unwrap_err();
        assert_eq!(err.stage, Stage::Input);
        assert!(err.to_string().contains("/nonexistent/file.txt"));
    }

    proptest::proptest! {
        #[test]
        fn any_subject_and_text_render_clean(subject in "[^\r\n]{0,300}", text in "\\PC{0,500}") {
            let mut m = mail();
            m.subject = subject;
            m.text = Some(text);
            let out = render(&m);
            assert_wire_clean(&out);
        }
    }
}
