//! Mailboxes: `Name <user@example.com>` or a bare `user@example.com`,
//! validated (no line breaks, a sane address) and rendered for headers.

use std::fmt;

use super::encoding;

/// A parsed mailbox: an optional display name plus the address itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mailbox {
    /// Display name, if any (may contain any Unicode except line breaks).
    pub name: Option<String>,
    /// The address used in the SMTP envelope, `local@domain`.
    pub addr: String,
}

/// Why a string was refused as a mailbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddressError {
    /// The offending input (with line breaks escaped).
    pub input: String,
    /// What is wrong with it.
    pub reason: &'static str,
}

impl fmt::Display for AddressError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid address {:?}: {}", self.input, self.reason)
    }
}

impl std::error::Error for AddressError {}

impl Mailbox {
    /// Parses `Name <addr>`, `"Quoted, Name" <addr>`, `<addr>` or `addr`.
    ///
    /// ```
    /// use reactor_bins::smtp::Mailbox;
    /// let m = Mailbox::parse("Ann Example <ann@example.com>").unwrap();
    /// assert_eq!(m.addr, "ann@example.com");
    /// assert!(Mailbox::parse("ann@example.com\r\nBcc: evil@x").is_err());
    /// ```
    pub fn parse(input: &str) -> Result<Mailbox, AddressError> {
        let err = |reason| AddressError {
            input: input.to_string(),
            reason,
        };
        if input.contains(['\r', '\n']) {
            return Err(err("contains a line break"));
        }
        let s = input.trim();
        let (name, addr) = match (s.rfind('<'), s.strip_suffix('>')) {
            (Some(open), Some(inner)) => (unquote(s[..open].trim()), &inner[open + 1..]),
            (None, None) => (None, s),
            _ => return Err(err("unbalanced angle brackets")),
        };
        validate_addr(addr).map_err(err)?;
        if name
            .as_deref()
            .is_some_and(|n| n.chars().any(char::is_control))
        {
            return Err(err("display name contains a control character"));
        }
        Ok(Mailbox {
            name,
            addr: addr.to_string(),
        })
    }

    /// The address part's domain (after the last `@`).
    pub fn domain(&self) -> &str {
        self.addr.rsplit('@').next().unwrap_or_default()
    }

    /// Renders the mailbox for a header: the display name as atoms, a quoted
    /// string, or RFC 2047 encoded-words as needed, then `<addr>`; a bare
    /// address when there is no name.
    pub fn to_header(&self) -> String {
        match self.name.as_deref() {
            None | Some("") => self.addr.clone(),
            Some(name) if encoding::needs_encoded_words(name) => {
                format!("{} <{}>", encoding::encoded_words(name), self.addr)
            }
            Some(name) if name.chars().all(|c| c == ' ' || is_atext(c)) => {
                format!("{name} <{}>", self.addr)
            }
            Some(name) => {
                let quoted = name.replace('\\', "\\\\").replace('"', "\\\"");
                format!("\"{quoted}\" <{}>", self.addr)
            }
        }
    }
}

impl fmt::Display for Mailbox {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_header())
    }
}

/// Strips surrounding double quotes (and backslash escapes) from a name.
fn unquote(name: &str) -> Option<String> {
    if name.is_empty() {
        return None;
    }
    match name.strip_prefix('"').and_then(|n| n.strip_suffix('"')) {
        Some(inner) => {
            let mut out = String::new();
            let mut chars = inner.chars();
            while let Some(c) = chars.next() {
                out.push(if c == '\\' {
                    chars.next().unwrap_or('\\')
                } else {
                    c
                });
            }
            Some(out)
        }
        None => Some(name.to_string()),
    }
}

/// RFC 5322 `atext`: characters allowed unquoted in a display-name word.
fn is_atext(c: char) -> bool {
    c.is_ascii_alphanumeric() || "!#$%&'*+-/=?^_`{|}~".contains(c)
}

fn validate_addr(addr: &str) -> Result<(), &'static str> {
    let Some((local, domain)) = addr.rsplit_once('@') else {
        return Err("missing @");
    };
    if local.is_empty() || domain.is_empty() {
        return Err("empty local part or domain");
    }
    if addr.len() > 254 {
        return Err("longer than 254 octets");
    }
    if addr
        .chars()
        .any(|c| c.is_whitespace() || c.is_control() || "<>()[],;:\\\"".contains(c))
    {
        return Err("contains a space, control or special character");
    }
    if domain.starts_with('.') || domain.ends_with('.') || domain.contains("..") {
        return Err("malformed domain");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_common_forms() {
        let m = Mailbox::parse("  \"Doe, John\" <j@x.org> ").unwrap();
        assert_eq!(m.name.as_deref(), Some("Doe, John"));
        assert_eq!(m.addr, "j@x.org");
        assert_eq!(m.to_header(), "\"Doe, John\" <j@x.org>");
        assert_eq!(Mailbox::parse("<j@x.org>").unwrap().name, None);
        assert_eq!(Mailbox::parse("j@x.org").unwrap().to_header(), "j@x.org");
        assert_eq!(
            Mailbox::parse("Ann B <a@b.c>").unwrap().to_header(),
            "Ann B <a@b.c>"
        );
    }

    #[test]
    fn non_ascii_names_become_encoded_words() {
        let m = Mailbox::parse("Zoë Ünïcode <z@x.org>").unwrap();
        assert!(m.to_header().starts_with("=?UTF-8?B?"));
        assert!(m.to_header().ends_with(" <z@x.org>"));
    }

    #[test]
    fn refuses_injection_and_garbage() {
        for bad in [
            "a@b\r\nBcc: c@d",
            "Name\n <a@b>",
            "no-at-sign",
            "a b@c",
            "<a@b",
            "@b",
            "a@",
            "a@b..c",
            "a,b@c",
        ] {
            assert!(Mailbox::parse(bad).is_err(), "{bad}");
        }
    }
}
