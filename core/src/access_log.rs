//! The access log in Combined Log Format, one line per response, as nginx and Apache
//! write it. Each reactor formats lines into its own buffer and flushes it once per turn
//! of its event loop, so the shared writer is locked once per batch, not per line.

use std::io::Write;
use std::sync::{Arc, Mutex};

use crate::request::Request;

/// Where access-log lines go (stdout, a file, a test's buffer).
pub type LogSink = Arc<Mutex<Box<dyn Write + Send>>>;

/// What one log line says about one response.
pub struct Entry<'a> {
    /// The request, if one was parsed (`"-"` in the line otherwise).
    pub req: Option<&'a Request>,
    /// The client.
    pub peer: std::net::SocketAddr,
    /// Status sent.
    pub status: u16,
    /// Body bytes sent (`-` when 0, as nginx writes it).
    pub body_bytes: u64,
}

/// Appends one Combined Log Format line for `e` to `out`, newline included. `date` is an
/// IMF-fixdate (`Sun, 06 Nov 1994 08:49:37 GMT`, see [`crate::date::http_date_bytes`]),
/// rewritten as `[06/Nov/1994:08:49:37 +0000]`.
pub fn format_line(out: &mut Vec<u8>, e: &Entry<'_>, date: &[u8; 29]) {
    let _ = write!(out, "{} - - [", e.peer.ip());
    out.extend_from_slice(&date[5..7]);
    out.push(b'/');
    out.extend_from_slice(&date[8..11]);
    out.push(b'/');
    out.extend_from_slice(&date[12..16]);
    out.push(b':');
    out.extend_from_slice(&date[17..25]);
    out.extend_from_slice(b" +0000] \"");
    match e.req {
        Some(r) => {
            push_escaped(out, r.method.as_bytes());
            out.push(b' ');
            push_escaped(out, r.target.as_bytes());
            out.push(b' ');
            out.extend_from_slice(r.version.as_str().as_bytes());
        }
        None => out.push(b'-'),
    }
    let _ = write!(out, "\" {} ", e.status);
    if e.body_bytes == 0 {
        out.push(b'-');
    } else {
        let _ = write!(out, "{}", e.body_bytes);
    }
    for name in ["referer", "user-agent"] {
        out.extend_from_slice(b" \"");
        match e.req.and_then(|r| r.headers.get_bytes(name)) {
            Some(v) => push_escaped(out, v),
            None => out.push(b'-'),
        }
        out.push(b'"');
    }
    out.push(b'\n');
}

/// Copies `s`, escaping `"`, `\` and non-printable bytes as nginx does (`\xHH`).
fn push_escaped(out: &mut Vec<u8>, s: &[u8]) {
    for &b in s {
        if b == b'"' || b == b'\\' || !(0x20..0x7f).contains(&b) {
            let _ = write!(out, "\\x{b:02X}");
        } else {
            out.push(b);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parse::{parse_head, Limits};

    #[test]
    fn combined_format() {
        let raw = b"GET /a\"b HTTP/1.1\r\nHost: h\r\nUser-Agent: curl/8\r\n\r\n";
        let peer = "10.0.0.1:5".parse().unwrap();
        let (req, _) = parse_head(raw, &Limits::default(), peer).unwrap().unwrap();
        let mut out = Vec::new();
        let e = Entry {
            req: Some(&req),
            peer,
            status: 200,
            body_bytes: 12,
        };
        format_line(&mut out, &e, b"Sun, 06 Nov 1994 08:49:37 GMT");
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "10.0.0.1 - - [06/Nov/1994:08:49:37 +0000] \"GET /a\\x22b HTTP/1.1\" 200 12 \"-\" \"curl/8\"\n"
        );
    }
}
