//! Server replies (single and multi-line), their bounded incremental
//! parser [`ReplyParser`], and EHLO capabilities.

use std::collections::HashSet;
use std::fmt;

/// Longest reply line accepted from a server, in octets (RFC 5321 allows
/// 512; real servers send longer text).
pub const MAX_LINE: usize = 8192;
/// Most lines one reply may have.
pub const MAX_REPLY_LINES: usize = 512;
/// Most octets one reply may have, all lines together.
pub const MAX_REPLY_BYTES: usize = 64 * 1024;
/// Most AUTH mechanisms remembered from EHLO, besides the ones this client
/// knows (PLAIN, LOGIN, XOAUTH2), which are always kept.
pub const MAX_AUTH_MECHANISMS: usize = 32;
/// Longest SASL mechanism name (RFC 4422 section 3.1: 20 characters).
const MAX_MECHANISM_NAME: usize = 20;

/// A complete server reply: a three-digit code and its text lines.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    /// The reply code, e.g. 250.
    pub code: u16,
    /// The text of each line, without the code and separator.
    pub lines: Vec<String>,
}

impl Reply {
    /// True for 2xx codes.
    pub fn is_positive(&self) -> bool {
        (200..300).contains(&self.code)
    }

    /// All text lines joined by a space.
    pub fn text(&self) -> String {
        self.lines.join(" ")
    }
}

impl fmt::Display for Reply {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.code, self.text())
    }
}

/// One parsed reply line: its code, whether it ends the reply, and its text.
#[derive(Debug, PartialEq, Eq)]
pub struct ReplyLine<'a> {
    /// The three-digit code.
    pub code: u16,
    /// True for `250 text` (last line), false for `250-text`.
    pub last: bool,
    /// The text after the separator.
    pub text: &'a str,
}

/// Parses one reply line (without its CRLF); `None` if it is malformed.
pub fn parse_line(line: &str) -> Option<ReplyLine<'_>> {
    let digits = line.get(..3)?;
    if !digits.bytes().all(|b| b.is_ascii_digit()) || !(b'2'..=b'5').contains(&digits.as_bytes()[0])
    {
        return None;
    }
    let code = digits.parse().ok()?;
    let (last, text) = match line.as_bytes().get(3) {
        None => (true, ""),
        Some(b' ') => (true, &line[4..]),
        Some(b'-') => (false, &line[4..]),
        Some(_) => return None,
    };
    Some(ReplyLine { code, last, text })
}

/// Why a reply could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReplyError {
    /// A line that is not `NNN`, `NNN text` or `NNN-text` with a 2xx-5xx code.
    Malformed(String),
    /// A continuation line with a different code than the first line.
    InconsistentCode(String),
    /// A line longer than [`MAX_LINE`].
    LineTooLong,
    /// More than [`MAX_REPLY_LINES`] lines or [`MAX_REPLY_BYTES`] octets.
    TooLong,
}

impl fmt::Display for ReplyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ReplyError::Malformed(line) => write!(f, "malformed reply {line:?}"),
            ReplyError::InconsistentCode(line) => write!(f, "inconsistent reply code in {line:?}"),
            ReplyError::LineTooLong => write!(f, "reply line too long (over {MAX_LINE} octets)"),
            ReplyError::TooLong => write!(
                f,
                "reply too long (over {MAX_REPLY_LINES} lines or {MAX_REPLY_BYTES} octets)"
            ),
        }
    }
}

impl std::error::Error for ReplyError {}

/// Assembles replies from bytes as they arrive, within [`MAX_LINE`],
/// [`MAX_REPLY_LINES`] and [`MAX_REPLY_BYTES`]. Bytes after a complete reply
/// stay buffered for the next one (pipelined replies).
///
/// ```
/// use reactor_bins::smtp::ReplyParser;
/// let mut p = ReplyParser::new();
/// p.push(b"250-mx.example.com\r\n250 SIZE");
/// assert_eq!(p.next_reply(), Ok(None));
/// p.push(b" 1000\r\n354 go\r\n");
/// assert_eq!(p.next_reply().unwrap().unwrap().lines, ["mx.example.com", "SIZE 1000"]);
/// assert_eq!(p.next_reply().unwrap().unwrap().code, 354);
/// ```
#[derive(Debug, Default)]
pub struct ReplyParser {
    buf: Vec<u8>,
    lines: Vec<String>,
    code: Option<u16>,
    bytes: usize,
}

impl ReplyParser {
    /// An empty parser.
    pub fn new() -> ReplyParser {
        ReplyParser::default()
    }

    /// Adds received bytes. The caller reads at most a few KiB at a time and
    /// calls [`ReplyParser::next_reply`] after each push, which keeps the
    /// buffer within [`MAX_LINE`] plus one read.
    pub fn push(&mut self, data: &[u8]) {
        self.buf.extend_from_slice(data);
    }

    /// True when no received byte is waiting to be parsed.
    pub fn is_empty(&self) -> bool {
        self.buf.is_empty() && self.lines.is_empty()
    }

    /// The next complete reply, `Ok(None)` if more bytes are needed.
    /// After an error the parser is unusable (the dialogue is out of step).
    pub fn next_reply(&mut self) -> Result<Option<Reply>, ReplyError> {
        let mut start = 0;
        let result = self.parse_lines(&mut start);
        self.buf.drain(..start);
        if result.is_err() {
            self.buf.clear();
        }
        result
    }

    fn parse_lines(&mut self, start: &mut usize) -> Result<Option<Reply>, ReplyError> {
        while let Some(len) = self.buf[*start..].iter().position(|&b| b == b'\n') {
            let raw = &self.buf[*start..*start + len];
            *start += len + 1;
            if raw.len() > MAX_LINE {
                return Err(ReplyError::LineTooLong);
            }
            self.bytes += raw.len() + 1;
            if self.lines.len() >= MAX_REPLY_LINES || self.bytes > MAX_REPLY_BYTES {
                return Err(ReplyError::TooLong);
            }
            let text = String::from_utf8_lossy(raw);
            let line = text.trim_end_matches('\r');
            log::debug!("S: {line}");
            let parsed = parse_line(line).ok_or_else(|| ReplyError::Malformed(line.into()))?;
            if *self.code.get_or_insert(parsed.code) != parsed.code {
                return Err(ReplyError::InconsistentCode(line.into()));
            }
            self.lines.push(parsed.text.to_string());
            if parsed.last {
                self.code = None;
                self.bytes = 0;
                return Ok(Some(Reply {
                    code: parsed.code,
                    lines: std::mem::take(&mut self.lines),
                }));
            }
        }
        if self.buf.len() - *start > MAX_LINE {
            return Err(ReplyError::LineTooLong);
        }
        Ok(None)
    }
}

/// Extensions a server announced in its EHLO reply.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Capabilities {
    /// STARTTLS is offered.
    pub starttls: bool,
    /// AUTH mechanisms offered, upper-cased, without duplicates, in the
    /// order announced: at most [`MAX_AUTH_MECHANISMS`], plus PLAIN, LOGIN
    /// and XOAUTH2 whenever offered.
    pub auth: Vec<String>,
    /// SIZE limit in octets (`Some(0)` means no fixed limit).
    pub size: Option<u64>,
    /// 8BITMIME is offered.
    pub eight_bit_mime: bool,
    /// SMTPUTF8 is offered.
    pub smtputf8: bool,
    /// PIPELINING is offered.
    pub pipelining: bool,
}

impl Capabilities {
    /// Parses the lines of a 250 EHLO reply; the first line (the server's
    /// name) is skipped, unknown extensions are ignored.
    pub fn from_ehlo(reply: &Reply) -> Capabilities {
        let mut caps = Capabilities::default();
        let mut seen = HashSet::new();
        for line in reply.lines.iter().skip(1) {
            let mut words = line.split([' ', '=']).filter(|w| !w.is_empty());
            let Some(keyword) = words.next() else {
                continue;
            };
            match keyword.to_ascii_uppercase().as_str() {
                "STARTTLS" => caps.starttls = true,
                "AUTH" => {
                    for mech in words.map(str::to_ascii_uppercase) {
                        let known = matches!(mech.as_str(), "PLAIN" | "LOGIN" | "XOAUTH2");
                        let room = seen.len() < MAX_AUTH_MECHANISMS;
                        if mech.len() <= MAX_MECHANISM_NAME
                            && (known || room)
                            && seen.insert(mech.clone())
                        {
                            caps.auth.push(mech);
                        }
                    }
                }
                "SIZE" => caps.size = Some(words.next().and_then(|n| n.parse().ok()).unwrap_or(0)),
                "8BITMIME" => caps.eight_bit_mime = true,
                "SMTPUTF8" => caps.smtputf8 = true,
                "PIPELINING" => caps.pipelining = true,
                _ => {}
            }
        }
        caps
    }

    /// True when the server offers the named AUTH mechanism.
    pub fn has_auth(&self, mechanism: &str) -> bool {
        self.auth.iter().any(|m| m == mechanism)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_reply_lines() {
        assert_eq!(
            parse_line("250-PIPELINING"),
            Some(ReplyLine {
                code: 250,
                last: false,
                text: "PIPELINING"
            })
        );
        assert_eq!(
            parse_line("220 hi"),
            Some(ReplyLine {
                code: 220,
                last: true,
                text: "hi"
            })
        );
        assert_eq!(
            parse_line("354"),
            Some(ReplyLine {
                code: 354,
                last: true,
                text: ""
            })
        );
        for bad in ["", "25", "abc def", "2500 x", "650 x", "250_x"] {
            assert_eq!(parse_line(bad), None, "{bad}");
        }
    }

    #[test]
    fn parses_ehlo_capabilities() {
        let reply = Reply {
            code: 250,
            lines: [
                "smtp.example.com at your service",
                "SIZE 35882577",
                "8BITMIME",
                "STARTTLS",
                "AUTH LOGIN PLAIN XOAUTH2",
                "AUTH=LOGIN",
                "pipelining",
                "SMTPUTF8",
            ]
            .map(String::from)
            .to_vec(),
        };
        let caps = Capabilities::from_ehlo(&reply);
        assert!(caps.starttls && caps.eight_bit_mime && caps.smtputf8 && caps.pipelining);
        assert_eq!(caps.size, Some(35882577));
        assert_eq!(caps.auth, ["LOGIN", "PLAIN", "XOAUTH2"]);
        assert!(caps.has_auth("PLAIN"));
    }

    fn parse_all(input: &[u8]) -> Result<Vec<Reply>, ReplyError> {
        let mut p = ReplyParser::new();
        let mut out = Vec::new();
        for chunk in input.chunks(3) {
            p.push(chunk);
            while let Some(r) = p.next_reply()? {
                out.push(r);
            }
        }
        Ok(out)
    }

    #[test]
    fn parser_reassembles_pipelined_replies() {
        let replies = parse_all(b"250 ok\r\n250-a\n250 b\r\n354\r\n").unwrap();
        assert_eq!(replies.len(), 3);
        assert_eq!(replies[1].lines, ["a", "b"]);
        assert_eq!(replies[2].code, 354);
        assert_eq!(
            parse_all(b"250-a\r\n251 b\r\n"),
            Err(ReplyError::InconsistentCode("251 b".into()))
        );
        assert!(matches!(
            parse_all(b"hello\r\n"),
            Err(ReplyError::Malformed(_))
        ));
    }

    #[test]
    fn parser_caps_lines_and_replies() {
        let long = [b'2'; MAX_LINE + 10];
        assert_eq!(parse_all(&long), Err(ReplyError::LineTooLong));
        let many = "250-x\r\n".repeat(MAX_REPLY_LINES + 1);
        assert_eq!(parse_all(many.as_bytes()), Err(ReplyError::TooLong));
        let big = format!("250-{}\r\n", "y".repeat(4000)).repeat(20);
        assert_eq!(parse_all(big.as_bytes()), Err(ReplyError::TooLong));
        // Just under both limits is fine.
        let ok = format!("{}250 end\r\n", "250-x\r\n".repeat(MAX_REPLY_LINES - 1));
        assert_eq!(
            parse_all(ok.as_bytes()).unwrap()[0].lines.len(),
            MAX_REPLY_LINES
        );
    }

    #[test]
    fn auth_list_is_a_capped_set() {
        let mut lines = vec!["mx".to_string()];
        let junk: Vec<String> = (0..5000).map(|i| format!("M{i}")).collect();
        lines.push(format!("AUTH {} PLAIN", junk.join(" ")));
        lines.push(format!("AUTH {} LOGIN", junk.join(" ")));
        lines.push(format!("AUTH {}", "Z".repeat(21)));
        let caps = Capabilities::from_ehlo(&Reply { code: 250, lines });
        assert_eq!(caps.auth.len(), MAX_AUTH_MECHANISMS + 2);
        assert!(caps.has_auth("PLAIN") && caps.has_auth("LOGIN"));
        assert!(!caps.has_auth("M40"));
    }
}
