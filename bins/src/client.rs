//! A tiny HTTP/1.1 client (the library side of `reactor-client`): send one request, copy
//! the response — status line, headers, de-framed body — to a writer.
//!
//! ```
//! use reactor_bins::client::read_response;
//! let raw = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi";
//! let mut out = Vec::new();
//! let info = read_response(&mut &raw[..], false, &mut out).unwrap();
//! assert_eq!(info.status, 200);
//! assert!(out.ends_with(b"\r\n\r\nhi"));
//! ```

use std::fmt;
use std::io::{self, BufRead, Read, Write};

/// Longest response head accepted.
pub const MAX_HEAD: usize = 64 * 1024;

/// What went wrong reading a response.
#[derive(Debug)]
pub enum ClientError {
    /// The connection failed.
    Io(io::Error),
    /// The response is not valid HTTP/1.x.
    Protocol(String),
    /// The body ended before its declared end.
    Truncated {
        /// Body bytes received.
        got: u64,
        /// What was announced (None for chunked).
        expected: Option<u64>,
    },
}

impl fmt::Display for ClientError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ClientError::Io(e) => write!(f, "{e}"),
            ClientError::Protocol(s) => write!(f, "invalid response: {s}"),
            ClientError::Truncated {
                got,
                expected: Some(n),
            } => write!(f, "body truncated: got {got} of {n} bytes"),
            ClientError::Truncated {
                got,
                expected: None,
            } => write!(f, "chunked body truncated after {got} bytes"),
        }
    }
}

impl From<io::Error> for ClientError {
    fn from(e: io::Error) -> Self {
        ClientError::Io(e)
    }
}

/// The parts of a response the caller may need after it was copied out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResponseInfo {
    /// Status code.
    pub status: u16,
    /// Body bytes (after de-chunking).
    pub body_len: u64,
}

/// Reads one response from `r`, writing the status line and headers as received and the
/// body de-framed (Content-Length, chunked, or until close) to `out`. `head_only` is for
/// HEAD requests (no body follows). Interim 1xx responses are copied and skipped.
pub fn read_response<R: BufRead>(
    r: &mut R,
    head_only: bool,
    out: &mut impl Write,
) -> Result<ResponseInfo, ClientError> {
    loop {
        let head = read_head(r)?;
        out.write_all(&head.raw)?;
        if (100..200).contains(&head.status) && head.status != 101 {
            continue;
        }
        let no_body = head_only || head.status == 204 || head.status == 304;
        let body_len = if no_body {
            0
        } else if head.chunked {
            copy_chunked(r, out)?
        } else if let Some(n) = head.length {
            let got = io::copy(&mut r.take(n), out)?;
            if got < n {
                return Err(ClientError::Truncated {
                    got,
                    expected: Some(n),
                });
            }
            got
        } else {
            io::copy(r, out)?
        };
        out.flush()?;
        return Ok(ResponseInfo {
            status: head.status,
            body_len,
        });
    }
}

struct Head {
    raw: Vec<u8>,
    status: u16,
    length: Option<u64>,
    chunked: bool,
}

fn read_head<R: BufRead>(r: &mut R) -> Result<Head, ClientError> {
    let mut raw = Vec::new();
    loop {
        let start = raw.len();
        let n = r
            .by_ref()
            .take((MAX_HEAD - raw.len()) as u64 + 1)
            .read_until(b'\n', &mut raw)?;
        if n == 0 {
            return Err(if raw.is_empty() {
                ClientError::Protocol("connection closed before a response".into())
            } else {
                ClientError::Protocol("connection closed inside the response head".into())
            });
        }
        if raw.len() > MAX_HEAD {
            return Err(ClientError::Protocol("response head over 64 KiB".into()));
        }
        let line = &raw[start..];
        if line == b"\r\n" || line == b"\n" {
            break;
        }
    }
    let text = String::from_utf8_lossy(&raw);
    let mut lines = text.lines();
    let status_line = lines.next().unwrap_or_default();
    let mut parts = status_line.splitn(3, ' ');
    let version = parts.next().unwrap_or_default();
    let status = parts
        .next()
        .and_then(|s| s.parse::<u16>().ok())
        .filter(|s| (100..1000).contains(s));
    let Some(status) = status.filter(|_| version.starts_with("HTTP/1.")) else {
        return Err(ClientError::Protocol(format!(
            "bad status line {status_line:?}"
        )));
    };
    let mut length = None;
    let mut chunked = false;
    for line in lines {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        let value = value.trim();
        if name.eq_ignore_ascii_case("content-length") {
            let n = value
                .parse::<u64>()
                .map_err(|_| ClientError::Protocol(format!("bad Content-Length {value:?}")))?;
            if length.is_some_and(|l| l != n) {
                return Err(ClientError::Protocol("conflicting Content-Length".into()));
            }
            length = Some(n);
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            chunked = value
                .rsplit(',')
                .next()
                .is_some_and(|c| c.trim().eq_ignore_ascii_case("chunked"));
        }
    }
    Ok(Head {
        raw,
        status,
        length: if chunked { None } else { length },
        chunked,
    })
}

/// Copies a chunked body (skipping extensions and trailers); returns its length.
fn copy_chunked<R: BufRead>(r: &mut R, out: &mut impl Write) -> Result<u64, ClientError> {
    let mut total = 0u64;
    let truncated = |got| ClientError::Truncated {
        got,
        expected: None,
    };
    loop {
        let mut line = Vec::new();
        if r.by_ref().take(4096).read_until(b'\n', &mut line)? == 0 {
            return Err(truncated(total));
        }
        let text = String::from_utf8_lossy(&line);
        let size_text = text.split(';').next().unwrap_or_default().trim();
        let size = u64::from_str_radix(size_text, 16)
            .map_err(|_| ClientError::Protocol(format!("bad chunk size {size_text:?}")))?;
        if size == 0 {
            // Trailers, up to the empty line.
            loop {
                let mut t = Vec::new();
                if r.by_ref().take(8192).read_until(b'\n', &mut t)? == 0 {
                    return Err(truncated(total));
                }
                if t == b"\r\n" || t == b"\n" {
                    return Ok(total);
                }
            }
        }
        let got = io::copy(&mut r.take(size), out)?;
        total += got;
        if got < size {
            return Err(truncated(total));
        }
        let mut crlf = [0u8; 2];
        r.read_exact(&mut crlf).map_err(|_| truncated(total))?;
        if &crlf != b"\r\n" {
            return Err(ClientError::Protocol("chunk not followed by CRLF".into()));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(raw: &[u8], head_only: bool) -> (Result<ResponseInfo, ClientError>, Vec<u8>) {
        let mut out = Vec::new();
        let r = read_response(&mut &raw[..], head_only, &mut out);
        (r, out)
    }

    #[test]
    fn framings() {
        let (r, out) = read(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3;x\r\nabc\r\n1\r\nd\r\n0\r\nT: v\r\n\r\n", false);
        assert_eq!(r.unwrap().body_len, 4);
        assert!(out.ends_with(b"\r\n\r\nabcd"));
        let (r, out) = read(b"HTTP/1.0 200 OK\r\n\r\nuntil close", false);
        assert_eq!(r.unwrap().body_len, 11);
        assert!(out.ends_with(b"until close"));
        let (r, _) = read(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n", true);
        assert_eq!(r.unwrap().body_len, 0);
        let (r, out) = read(
            b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n",
            false,
        );
        assert_eq!(r.unwrap().status, 204);
        assert!(out.starts_with(b"HTTP/1.1 100"));
    }

    #[test]
    fn truncation_and_garbage() {
        let (r, _) = read(b"HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\nabc", false);
        assert!(matches!(
            r,
            Err(ClientError::Truncated {
                got: 3,
                expected: Some(9)
            })
        ));
        let (r, _) = read(
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab",
            false,
        );
        assert!(matches!(r, Err(ClientError::Truncated { .. })));
        let (r, _) = read(b"SSH-2.0-OpenSSH\r\n\r\n", false);
        assert!(matches!(r, Err(ClientError::Protocol(_))));
        let (r, _) = read(b"", false);
        assert!(matches!(r, Err(ClientError::Protocol(_))));
        let big = format!("HTTP/1.1 200 OK\r\nX: {}\r\n\r\n", "a".repeat(70_000));
        let (r, _) = read(big.as_bytes(), false);
        assert!(matches!(r, Err(ClientError::Protocol(_))));
    }
}
