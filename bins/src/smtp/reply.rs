//! Server replies (single and multi-line) and EHLO capabilities.

use std::fmt;

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

/// Extensions a server announced in its EHLO reply.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Capabilities {
    /// STARTTLS is offered.
    pub starttls: bool,
    /// AUTH mechanisms offered, upper-cased.
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
        for line in reply.lines.iter().skip(1) {
            let mut words = line.split([' ', '=']).filter(|w| !w.is_empty());
            let Some(keyword) = words.next() else {
                continue;
            };
            match keyword.to_ascii_uppercase().as_str() {
                "STARTTLS" => caps.starttls = true,
                "AUTH" => {
                    for mech in words.map(str::to_ascii_uppercase) {
                        if !caps.auth.contains(&mech) {
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
}
