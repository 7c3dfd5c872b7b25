//! A streaming `multipart/form-data` parser (RFC 7578 over RFC 2046), without I/O.
//!
//! Bytes go in as they arrive, in chunks of any size split anywhere; events come out as
//! soon as they are known: a part's headers, its body bytes (slices of the input: nothing
//! of a part's body is kept, except up to a boundary's length held back while it might be
//! the start of the next boundary), the end of a part, the end of the body. So a file
//! upload is written out as it arrives, never buffered whole. Part headers are bounded
//! (8 KiB by default); the preamble and epilogue are skipped.
//!
//! ```
//! use reactor_handlers::multipart::{boundary, Event, Parser};
//!
//! let b = boundary("multipart/form-data; boundary=XyZ").unwrap();
//! let body = b"--XyZ\r\nContent-Disposition: form-data; name=\"f\"; filename=\"a.txt\"\r\n\r\n\
//!              hello\r\n--XyZ--\r\n";
//! let mut parser = Parser::new(&b);
//! let mut file = Vec::new();
//! for chunk in body.chunks(7) {
//!     parser.feed(chunk, &mut |event| match event {
//!         Event::Part(part) => assert_eq!(part.filename.as_deref(), Some("a.txt")),
//!         Event::Data(bytes) => file.extend_from_slice(bytes),
//!         Event::PartEnd | Event::End => {}
//!     }).unwrap();
//! }
//! parser.finish().unwrap(); // an error here: the body was cut short
//! assert_eq!(file, b"hello");
//! ```

mod disposition;
#[cfg(test)]
mod tests;

use std::fmt;

pub use disposition::boundary;

/// Default bound on one part's header block.
pub const MAX_HEADER_BYTES: usize = 8 * 1024;

/// The most a boundary line may carry between the boundary and its CRLF (padding).
const MAX_LINE: usize = 256;

/// A part's headers, as far as a form needs them. All of it comes from the client:
/// check `filename` with the path rules before using it as a name on disk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Part {
    /// The form field's name.
    pub name: String,
    /// The file's name, for file fields (possibly empty when no file was chosen).
    pub filename: Option<String>,
    /// The part's `Content-Type`, if given.
    pub content_type: Option<String>,
}

/// What the parser found.
#[derive(Debug, PartialEq, Eq)]
pub enum Event<'a> {
    /// A part begins; its body follows as [`Event::Data`].
    Part(Part),
    /// Body bytes of the current part (any number of these, possibly none).
    Data(&'a [u8]),
    /// The current part's body is complete.
    PartEnd,
    /// The closing boundary: the form is complete (what follows is ignored).
    End,
}

/// Why the body is not valid `multipart/form-data`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Error(pub &'static str);

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "multipart/form-data: {}", self.0)
    }
}

impl std::error::Error for Error {}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Before the first boundary (skipped).
    Preamble,
    /// After a boundary, before its CRLF (or the `--` that ends the body).
    Line,
    /// A part's header block.
    Headers,
    /// A part's body.
    Body,
    /// After the closing boundary (skipped).
    Epilogue,
    /// An error was reported; nothing more is read.
    Failed(Error),
}

/// The parser (see the [module docs](self)).
pub struct Parser {
    /// `\r\n--` followed by the boundary.
    delimiter: Vec<u8>,
    state: State,
    /// In `Preamble`/`Body`: a proper prefix of the delimiter held back from the last
    /// chunk. In `Line`/`Headers`: the line or header block so far.
    carry: Vec<u8>,
    max_header: usize,
}

impl Parser {
    /// A parser for `boundary` (from [`boundary`]).
    pub fn new(boundary: &str) -> Self {
        let mut delimiter = b"\r\n--".to_vec();
        delimiter.extend_from_slice(boundary.as_bytes());
        Parser {
            delimiter,
            state: State::Preamble,
            // The body may begin with the boundary itself: act as if a CRLF came first.
            carry: b"\r\n".to_vec(),
            max_header: MAX_HEADER_BYTES,
        }
    }

    /// Changes the bound on one part's header block.
    pub fn with_max_header(mut self, bytes: usize) -> Self {
        self.max_header = bytes;
        self
    }

    /// Parses the next chunk, calling `on` for each event. After an error, every call
    /// returns it again.
    pub fn feed(&mut self, mut input: &[u8], on: &mut dyn FnMut(Event<'_>)) -> Result<(), Error> {
        while !input.is_empty() {
            let step = match self.state {
                State::Preamble | State::Body => self.scan(input, on),
                State::Line => self.line(input, on),
                State::Headers => self.headers(input, on),
                State::Epilogue => return Ok(()),
                State::Failed(e) => return Err(e),
            };
            match step {
                Ok(rest) => input = rest,
                Err(e) => {
                    self.state = State::Failed(e);
                    return Err(e);
                }
            }
        }
        match self.state {
            State::Failed(e) => Err(e),
            _ => Ok(()),
        }
    }

    /// Says whether the body was complete: an error unless the closing boundary came.
    pub fn finish(&self) -> Result<(), Error> {
        match self.state {
            State::Epilogue => Ok(()),
            State::Failed(e) => Err(e),
            _ => Err(Error("the body ended before the closing boundary")),
        }
    }

    /// True once the closing boundary has been seen.
    pub fn is_complete(&self) -> bool {
        self.state == State::Epilogue
    }

    /// Preamble or body: passes bytes on (or skips them) up to the next delimiter.
    fn scan<'a>(
        &mut self,
        input: &'a [u8],
        on: &mut dyn FnMut(Event<'_>),
    ) -> Result<&'a [u8], Error> {
        let skip = self.state == State::Preamble;
        let d = &self.delimiter;
        if !self.carry.is_empty() {
            // The carry starts with the delimiter's only CR: only it can begin a match.
            let have = self.carry.len();
            let n = (d.len() - have).min(input.len());
            if input[..n] == d[have..have + n] {
                if have + n < d.len() {
                    self.carry.extend_from_slice(input);
                    return Ok(&[]);
                }
                self.carry.clear();
                return Ok(self.found(&input[n..], on));
            }
            if !skip {
                on(Event::Data(&self.carry));
            }
            self.carry.clear();
        }
        let mut from = 0;
        while let Some(i) = input[from..].iter().position(|&b| b == b'\r') {
            let i = from + i;
            let tail = &input[i..];
            let whole = tail.len() >= d.len() && tail[..d.len()] == d[..];
            let prefix = tail.len() < d.len() && d.starts_with(tail);
            if (whole || prefix) && !skip && i > 0 {
                on(Event::Data(&input[..i]));
            }
            if whole {
                let rest = &input[i + d.len()..];
                return Ok(self.found(rest, on));
            }
            if prefix {
                self.carry.extend_from_slice(tail);
                return Ok(&[]);
            }
            from = i + 1;
        }
        if !skip {
            on(Event::Data(input));
        }
        Ok(&[])
    }

    /// A delimiter ended the preamble or a part.
    fn found<'a>(&mut self, rest: &'a [u8], on: &mut dyn FnMut(Event<'_>)) -> &'a [u8] {
        if self.state == State::Body {
            on(Event::PartEnd);
        }
        self.state = State::Line;
        rest
    }

    /// The rest of a boundary line: `--` (the end), or optional padding then CRLF.
    fn line<'a>(
        &mut self,
        input: &'a [u8],
        on: &mut dyn FnMut(Event<'_>),
    ) -> Result<&'a [u8], Error> {
        for (k, &b) in input.iter().enumerate() {
            self.carry.push(b);
            let rest = &input[k + 1..];
            if self.carry == b"--" {
                self.carry.clear();
                self.state = State::Epilogue;
                on(Event::End);
                return Ok(rest);
            }
            let padding = self.carry.iter().take_while(|&&c| c == b' ' || c == b'\t');
            let after_padding = &self.carry[padding.count()..];
            if after_padding == b"\r\n" {
                self.carry.clear();
                self.state = State::Headers;
                return Ok(rest);
            }
            let fine = self.carry == b"-"
                || (b"\r\n".starts_with(after_padding) && self.carry.len() <= MAX_LINE);
            if !fine || self.carry.contains(&b'\n') {
                return Err(Error("a boundary is followed by something other than CRLF"));
            }
        }
        Ok(&[])
    }

    /// A part's header block, up to the blank line.
    fn headers<'a>(
        &mut self,
        input: &'a [u8],
        on: &mut dyn FnMut(Event<'_>),
    ) -> Result<&'a [u8], Error> {
        let old = self.carry.len();
        let take = input
            .len()
            .min(self.max_header + 1 - old.min(self.max_header));
        self.carry.extend_from_slice(&input[..take]);
        let mut fields = [httparse::EMPTY_HEADER; 16];
        let used = match httparse::parse_headers(&self.carry, &mut fields) {
            Ok(httparse::Status::Complete((used, _))) if used <= self.max_header => used,
            Ok(httparse::Status::Partial) if self.carry.len() <= self.max_header => {
                return Ok(&input[take..]);
            }
            Ok(_) | Err(httparse::Error::TooManyHeaders) => {
                return Err(Error("a part's headers are too large"))
            }
            Err(_) => return Err(Error("a part's headers are malformed")),
        };
        let value = |name: &str| -> Result<Option<String>, Error> {
            match fields.iter().find(|h| h.name.eq_ignore_ascii_case(name)) {
                None => Ok(None),
                Some(h) => String::from_utf8(h.value.to_vec())
                    .map(Some)
                    .map_err(|_| Error("a part's header is not UTF-8")),
            }
        };
        let (name, filename) = value("content-disposition")?
            .and_then(|v| disposition::form_data(&v))
            .ok_or(Error(
                "a part lacks Content-Disposition: form-data with a name",
            ))?;
        let content_type = value("content-type")?;
        self.carry.clear();
        self.state = State::Body;
        on(Event::Part(Part {
            name,
            filename,
            content_type,
        }));
        Ok(&input[used - old..])
    }
}
