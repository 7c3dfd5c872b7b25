//! A frame-level HTTP/2 client for the session's unit tests.

use super::error::ErrorCode;
use super::frame::{kind, Frame, FrameHeader, HEADER_LEN, PREFACE};
use super::hpack::{Decoder, Encoder, Field, Indexing};
use super::session::{Config, Event, Session};

/// A frame the server wrote, owned.
#[derive(Debug, Clone)]
pub struct Out {
    pub head: FrameHeader,
    pub payload: Vec<u8>,
}

impl Out {
    pub fn frame(&self) -> Frame<'_> {
        Frame::parse(&self.head, &self.payload).expect("server frames parse")
    }
}

/// A test client talking to a session.
pub struct Client {
    pub s: Session,
    pub enc: Encoder,
    pub dec: Decoder,
}

impl Client {
    /// A session with `cfg` after the preface and an empty SETTINGS (output drained).
    pub fn new(cfg: Config) -> Client {
        let mut c = Client::raw(cfg);
        let mut wire = PREFACE.to_vec();
        Frame::Settings {
            ack: false,
            params: vec![],
        }
        .write(&mut wire);
        c.s.recv(&wire);
        c.drain();
        c
    }

    /// A session before any input.
    pub fn raw(cfg: Config) -> Client {
        Client {
            s: Session::new(cfg),
            enc: Encoder::new(4096),
            dec: Decoder::new(4096),
        }
    }

    /// Sends one frame.
    pub fn send(&mut self, f: Frame) {
        let mut wire = Vec::new();
        f.write(&mut wire);
        self.s.recv(&wire);
    }

    /// Encodes a header block.
    pub fn block(&mut self, fields: &[(&str, &str)]) -> Vec<u8> {
        let mut b = Vec::new();
        self.enc.encode(
            &mut b,
            fields
                .iter()
                .map(|(n, v)| (n.as_bytes(), v.as_bytes(), Indexing::Without)),
        );
        b
    }

    /// Sends HEADERS with `fields` on `stream`.
    pub fn headers(&mut self, stream: u32, fields: &[(&str, &str)], end_stream: bool) {
        let block = self.block(fields);
        self.send(headers_frame(stream, &block, end_stream, true));
    }

    /// Sends a GET for `path`.
    pub fn get(&mut self, stream: u32, path: &str) {
        self.request(stream, "GET", path, &[], true);
    }

    /// Sends a request head with extra fields.
    pub fn request(
        &mut self,
        stream: u32,
        method: &str,
        path: &str,
        extra: &[(&str, &str)],
        end: bool,
    ) {
        let mut f = vec![
            (":method", method),
            (":scheme", "http"),
            (":path", path),
            (":authority", "test"),
        ];
        f.extend_from_slice(extra);
        self.headers(stream, &f, end);
    }

    /// Sends DATA.
    pub fn data(&mut self, stream: u32, data: &[u8], end_stream: bool) {
        self.send(Frame::Data {
            stream,
            data,
            end_stream,
            pad: None,
        });
    }

    /// Takes every frame the server wrote.
    pub fn drain(&mut self) -> Vec<Out> {
        let out = self.s.output().to_vec();
        self.s.consume(out.len());
        let mut v = Vec::new();
        let mut pos = 0;
        while let Some(head) = FrameHeader::parse(&out[pos..]) {
            let end = pos + HEADER_LEN + head.len as usize;
            v.push(Out {
                head,
                payload: out[pos + HEADER_LEN..end].to_vec(),
            });
            pos = end;
        }
        assert_eq!(pos, out.len(), "output is whole frames");
        v
    }

    /// Every pending event.
    pub fn events(&mut self) -> Vec<Event> {
        std::iter::from_fn(|| self.s.poll_event()).collect()
    }

    /// Decodes a response header block.
    pub fn decode(&mut self, block: &[u8]) -> Vec<Field> {
        self.dec
            .decode(block, 1 << 20)
            .expect("response block decodes")
    }
}

/// A HEADERS frame without priority or padding.
pub fn headers_frame(stream: u32, block: &[u8], end_stream: bool, end_headers: bool) -> Frame<'_> {
    Frame::Headers {
        stream,
        block,
        end_stream,
        end_headers,
        priority: None,
        pad: None,
    }
}

/// The GOAWAY code among `frames`, if any.
pub fn goaway(frames: &[Out]) -> Option<ErrorCode> {
    frames.iter().find_map(|f| match f.frame() {
        Frame::GoAway { code, .. } => Some(code),
        _ => None,
    })
}

/// The RST_STREAM code for `stream` among `frames`, if any.
pub fn rst(frames: &[Out], stream: u32) -> Option<ErrorCode> {
    frames.iter().find_map(|f| match f.frame() {
        Frame::RstStream { stream: s, code } if s == stream => Some(code),
        _ => None,
    })
}

/// Frames of type `k`.
pub fn of_kind(frames: &[Out], k: u8) -> Vec<&Out> {
    frames.iter().filter(|f| f.head.kind == k).collect()
}

/// Shorthand for DATA frames.
pub fn data_frames(frames: &[Out]) -> Vec<&Out> {
    of_kind(frames, kind::DATA)
}
