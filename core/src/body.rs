//! Request-body framing: Content-Length and chunked decoding, incremental and bounded.

use crate::parse::HttpError;
use crate::request::Framing;

/// Longest chunk-extension or trailer section accepted, in bytes.
const MAX_META: usize = 8 * 1024;

/// Incremental decoder for one request body.
#[derive(Debug, Clone)]
pub struct BodyDecoder {
    state: State,
    /// Body bytes produced so far.
    total: u64,
    /// Extension and trailer bytes seen so far.
    meta: usize,
    max_body: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Length(u64),
    Size { size: u64, digits: u8 },
    SizeWhitespace(u64),
    Extension(u64),
    SizeLf(u64),
    Data(u64),
    DataCr,
    DataLf,
    TrailerStart,
    TrailerLine,
    TrailerLf,
    FinalLf,
    Done,
}

fn bad(detail: &'static str) -> HttpError {
    HttpError::new(400, detail)
}

impl BodyDecoder {
    /// A decoder for `framing`, refusing bodies over `max_body` bytes with 413.
    pub fn new(framing: Framing, max_body: u64) -> Self {
        let state = match framing {
            Framing::None | Framing::Length(0) => State::Done,
            Framing::Length(n) => State::Length(n),
            Framing::Chunked => State::Size { size: 0, digits: 0 },
        };
        BodyDecoder {
            state,
            total: 0,
            meta: 0,
            max_body,
        }
    }

    /// True once the whole body has been decoded.
    pub fn is_done(&self) -> bool {
        self.state == State::Done
    }

    /// Decodes from `input`, appending body bytes to `out`. Returns how many input bytes
    /// were used; stops right after the body ends, so pipelined bytes stay unread.
    pub fn decode(&mut self, input: &[u8], out: &mut Vec<u8>) -> Result<usize, HttpError> {
        let mut i = 0;
        while i < input.len() && self.state != State::Done {
            if let State::Length(n) | State::Data(n) = self.state {
                let take = (input.len() - i).min(usize::try_from(n).unwrap_or(usize::MAX));
                out.extend_from_slice(&input[i..i + take]);
                i += take;
                let left = n - take as u64;
                self.state = match (self.state, left) {
                    (State::Length(_), 0) => State::Done,
                    (State::Length(_), _) => State::Length(left),
                    (_, 0) => State::DataCr,
                    _ => State::Data(left),
                };
                continue;
            }
            self.step(input[i])?;
            i += 1;
        }
        Ok(i)
    }

    fn step(&mut self, b: u8) -> Result<(), HttpError> {
        self.state = match self.state {
            State::Size { size, digits } => match b {
                b'0'..=b'9' | b'a'..=b'f' | b'A'..=b'F' => {
                    if digits >= 16 {
                        return Err(bad("chunk size overflows"));
                    }
                    let d = (b as char).to_digit(16).unwrap_or(0);
                    State::Size {
                        size: size << 4 | u64::from(d),
                        digits: digits + 1,
                    }
                }
                _ if digits == 0 => return Err(bad("invalid chunk size")),
                b'\r' => State::SizeLf(size),
                b';' => State::Extension(size),
                b' ' | b'\t' => State::SizeWhitespace(size),
                _ => return Err(bad("invalid chunk size")),
            },
            State::SizeWhitespace(size) => match b {
                b' ' | b'\t' => self.meta_byte(State::SizeWhitespace(size))?,
                b';' => State::Extension(size),
                b'\r' => State::SizeLf(size),
                _ => return Err(bad("invalid chunk size")),
            },
            State::Extension(size) => match b {
                b'\r' => State::SizeLf(size),
                b'\n' | 0 => return Err(bad("invalid chunk extension")),
                _ => self.meta_byte(State::Extension(size))?,
            },
            State::SizeLf(size) => {
                if b != b'\n' {
                    return Err(bad("chunk size line not ended by CRLF"));
                }
                if size == 0 {
                    State::TrailerStart
                } else {
                    self.total = self.total.saturating_add(size);
                    if self.total > self.max_body {
                        return Err(HttpError::new(413, "request body too large"));
                    }
                    State::Data(size)
                }
            }
            State::DataCr if b == b'\r' => State::DataLf,
            State::DataLf if b == b'\n' => State::Size { size: 0, digits: 0 },
            State::DataCr | State::DataLf => return Err(bad("chunk data not ended by CRLF")),
            State::TrailerStart => match b {
                b'\r' => State::FinalLf,
                b'\n' => return Err(bad("bare LF in trailer")),
                _ => self.meta_byte(State::TrailerLine)?,
            },
            State::TrailerLine => match b {
                b'\r' => State::TrailerLf,
                b'\n' | 0 => return Err(bad("invalid trailer field")),
                _ => self.meta_byte(State::TrailerLine)?,
            },
            State::TrailerLf if b == b'\n' => State::TrailerStart,
            State::FinalLf if b == b'\n' => State::Done,
            State::TrailerLf | State::FinalLf => return Err(bad("trailer not ended by CRLF")),
            State::Length(_) | State::Data(_) | State::Done => self.state,
        };
        Ok(())
    }

    fn meta_byte(&mut self, next: State) -> Result<State, HttpError> {
        self.meta += 1;
        if self.meta > MAX_META {
            return Err(bad("chunk extensions or trailers too large"));
        }
        Ok(next)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode_all(framing: Framing, input: &[u8]) -> Result<(Vec<u8>, usize, bool), HttpError> {
        let mut d = BodyDecoder::new(framing, 1 << 20);
        let mut out = Vec::new();
        let n = d.decode(input, &mut out)?;
        Ok((out, n, d.is_done()))
    }

    #[test]
    fn content_length() {
        let (out, n, done) = decode_all(Framing::Length(3), b"abcGET").unwrap();
        assert_eq!((out.as_slice(), n, done), (&b"abc"[..], 3, true));
        let (out, n, done) = decode_all(Framing::Length(5), b"ab").unwrap();
        assert_eq!((out.as_slice(), n, done), (&b"ab"[..], 2, false));
    }

    #[test]
    fn chunked_whole_and_split() {
        let raw =
            b"4;ext=1\r\nWiki\r\n5 \r\npedia\r\nE\r\n in\r\n\r\nchunks.\r\n0\r\nX-T: 1\r\n\r\nNEXT";
        let (out, n, done) = decode_all(Framing::Chunked, raw).unwrap();
        assert_eq!(out, b"Wikipedia in\r\n\r\nchunks.");
        assert_eq!(n, raw.len() - 4);
        assert!(done);
        // Any split point gives the same result.
        for split in 0..raw.len() {
            let mut d = BodyDecoder::new(Framing::Chunked, 1 << 20);
            let mut out2 = Vec::new();
            let a = d.decode(&raw[..split], &mut out2).unwrap();
            assert_eq!(a, split.min(n));
            let b = d.decode(&raw[split..], &mut out2).unwrap();
            assert_eq!(a + b, n);
            assert_eq!(out2, out);
        }
    }

    #[test]
    fn chunked_errors() {
        let cases: &[(&[u8], u16)] = &[
            (b"x\r\n", 400),
            (b"\r\n", 400),
            (b"-1\r\n", 400),
            (b"+1\r\n", 400),
            (b"11111111111111111\r\n", 400),
            (b"1\r\nab\r\n", 400),
            (b"1\nab", 400),
            (b"0\r\n\n", 400),
            (b"200000\r\n", 413),
        ];
        for (raw, want) in cases {
            let mut d = BodyDecoder::new(Framing::Chunked, 1 << 20);
            let err = d.decode(raw, &mut Vec::new()).unwrap_err();
            assert_eq!(err.status, *want, "{:?}", String::from_utf8_lossy(raw));
        }
    }

    #[test]
    fn extension_bounded() {
        let mut raw = b"1;".to_vec();
        raw.extend(std::iter::repeat_n(b'a', MAX_META + 1));
        let mut d = BodyDecoder::new(Framing::Chunked, 1 << 20);
        assert!(d.decode(&raw, &mut Vec::new()).is_err());
    }
}
