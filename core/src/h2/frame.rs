//! HTTP/2 frames (RFC 9113 §4 and §6): the 9-byte header, every frame type parsed from a
//! payload and written back, with the size rules and error codes of the RFC.
//!
//! ```
//! use reactor::h2::frame::{Frame, FrameHeader};
//!
//! let mut wire = Vec::new();
//! Frame::Ping { ack: false, data: *b"12345678" }.write(&mut wire);
//! let head = FrameHeader::parse(&wire).unwrap();
//! let frame = Frame::parse(&head, &wire[9..]).unwrap();
//! assert_eq!(frame, Frame::Ping { ack: false, data: *b"12345678" });
//! ```

use super::error::{ErrorCode, H2Error};

/// The client connection preface (§3.4).
pub const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
/// Length of a frame header.
pub const HEADER_LEN: usize = 9;
/// SETTINGS_MAX_FRAME_SIZE until the peer says otherwise, and the smallest allowed.
pub const DEFAULT_MAX_FRAME_SIZE: u32 = 16_384;
/// The largest SETTINGS_MAX_FRAME_SIZE allowed.
pub const MAX_FRAME_SIZE_LIMIT: u32 = (1 << 24) - 1;
/// The largest flow-control window (§6.9.1).
pub const MAX_WINDOW: u32 = (1 << 31) - 1;
/// The initial window of every connection and stream before SETTINGS (§6.9.2).
pub const DEFAULT_WINDOW: u32 = 65_535;

/// Frame type codes.
pub mod kind {
    /// DATA
    pub const DATA: u8 = 0x0;
    /// HEADERS
    pub const HEADERS: u8 = 0x1;
    /// PRIORITY
    pub const PRIORITY: u8 = 0x2;
    /// RST_STREAM
    pub const RST_STREAM: u8 = 0x3;
    /// SETTINGS
    pub const SETTINGS: u8 = 0x4;
    /// PUSH_PROMISE
    pub const PUSH_PROMISE: u8 = 0x5;
    /// PING
    pub const PING: u8 = 0x6;
    /// GOAWAY
    pub const GOAWAY: u8 = 0x7;
    /// WINDOW_UPDATE
    pub const WINDOW_UPDATE: u8 = 0x8;
    /// CONTINUATION
    pub const CONTINUATION: u8 = 0x9;
}

/// Flag bits.
pub mod flag {
    /// END_STREAM (DATA, HEADERS).
    pub const END_STREAM: u8 = 0x1;
    /// ACK (SETTINGS, PING).
    pub const ACK: u8 = 0x1;
    /// END_HEADERS (HEADERS, PUSH_PROMISE, CONTINUATION).
    pub const END_HEADERS: u8 = 0x4;
    /// PADDED (DATA, HEADERS, PUSH_PROMISE).
    pub const PADDED: u8 = 0x8;
    /// PRIORITY (HEADERS).
    pub const PRIORITY: u8 = 0x20;
}

/// SETTINGS parameter identifiers (§6.5.2).
pub mod setting {
    /// SETTINGS_HEADER_TABLE_SIZE
    pub const HEADER_TABLE_SIZE: u16 = 0x1;
    /// SETTINGS_ENABLE_PUSH
    pub const ENABLE_PUSH: u16 = 0x2;
    /// SETTINGS_MAX_CONCURRENT_STREAMS
    pub const MAX_CONCURRENT_STREAMS: u16 = 0x3;
    /// SETTINGS_INITIAL_WINDOW_SIZE
    pub const INITIAL_WINDOW_SIZE: u16 = 0x4;
    /// SETTINGS_MAX_FRAME_SIZE
    pub const MAX_FRAME_SIZE: u16 = 0x5;
    /// SETTINGS_MAX_HEADER_LIST_SIZE
    pub const MAX_HEADER_LIST_SIZE: u16 = 0x6;
}

/// The 9-byte frame header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameHeader {
    /// Payload length.
    pub len: u32,
    /// Frame type.
    pub kind: u8,
    /// Flags.
    pub flags: u8,
    /// Stream identifier (reserved bit cleared).
    pub stream: u32,
}

impl FrameHeader {
    /// Reads a header from the first 9 bytes of `buf` (`None` if shorter).
    pub fn parse(buf: &[u8]) -> Option<Self> {
        let b: &[u8; HEADER_LEN] = buf.get(..HEADER_LEN)?.try_into().ok()?;
        Some(FrameHeader {
            len: u32::from_be_bytes([0, b[0], b[1], b[2]]),
            kind: b[3],
            flags: b[4],
            stream: u31(&b[5..9]),
        })
    }

    /// Appends the header to `out`.
    pub fn write(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.len.to_be_bytes()[1..]);
        out.push(self.kind);
        out.push(self.flags);
        out.extend_from_slice(&(self.stream & MAX_WINDOW).to_be_bytes());
    }

    fn has(&self, f: u8) -> bool {
        self.flags & f != 0
    }
}

fn u31(b: &[u8]) -> u32 {
    u32::from_be_bytes([b[0], b[1], b[2], b[3]]) & MAX_WINDOW
}

fn u32_at(b: &[u8]) -> u32 {
    u32::from_be_bytes([b[0], b[1], b[2], b[3]])
}

/// Stream dependency and weight (parsed, then ignored: RFC 9113 deprecates the scheme).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Priority {
    /// Exclusive flag.
    pub exclusive: bool,
    /// Stream this one depends on.
    pub dependency: u32,
    /// Weight minus one, as on the wire.
    pub weight: u8,
}

impl Priority {
    fn parse(b: &[u8]) -> Self {
        Priority {
            exclusive: b[0] & 0x80 != 0,
            dependency: u31(b),
            weight: b[4],
        }
    }

    fn write(&self, out: &mut Vec<u8>) {
        let dep = self.dependency & MAX_WINDOW | if self.exclusive { 1 << 31 } else { 0 };
        out.extend_from_slice(&dep.to_be_bytes());
        out.push(self.weight);
    }
}

/// One frame, borrowing its payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frame<'a> {
    /// DATA; `pad` is the padding length when PADDED was set.
    Data {
        /// Stream.
        stream: u32,
        /// Payload without padding.
        data: &'a [u8],
        /// END_STREAM flag.
        end_stream: bool,
        /// Padding length, if padded.
        pad: Option<u8>,
    },
    /// HEADERS (the first piece of a header block).
    Headers {
        /// Stream.
        stream: u32,
        /// Header block fragment.
        block: &'a [u8],
        /// END_STREAM flag.
        end_stream: bool,
        /// END_HEADERS flag.
        end_headers: bool,
        /// Priority fields, if the PRIORITY flag was set.
        priority: Option<Priority>,
        /// Padding length, if padded.
        pad: Option<u8>,
    },
    /// PRIORITY.
    Priority {
        /// Stream.
        stream: u32,
        /// Dependency and weight.
        priority: Priority,
    },
    /// RST_STREAM.
    RstStream {
        /// Stream.
        stream: u32,
        /// Why.
        code: ErrorCode,
    },
    /// SETTINGS (parameters in order; unknown identifiers kept, to be ignored).
    Settings {
        /// ACK flag.
        ack: bool,
        /// (identifier, value) pairs.
        params: Vec<(u16, u32)>,
    },
    /// PUSH_PROMISE (a server never accepts one).
    PushPromise {
        /// Stream.
        stream: u32,
        /// Promised stream.
        promised: u32,
        /// Header block fragment.
        block: &'a [u8],
        /// END_HEADERS flag.
        end_headers: bool,
        /// Padding length, if padded.
        pad: Option<u8>,
    },
    /// PING.
    Ping {
        /// ACK flag.
        ack: bool,
        /// Opaque data.
        data: [u8; 8],
    },
    /// GOAWAY.
    GoAway {
        /// Last stream the sender may have processed.
        last_stream: u32,
        /// Why.
        code: ErrorCode,
        /// Debug data.
        debug: &'a [u8],
    },
    /// WINDOW_UPDATE (stream 0: the connection window).
    WindowUpdate {
        /// Stream.
        stream: u32,
        /// Window increment, 1 to 2^31-1.
        increment: u32,
    },
    /// CONTINUATION.
    Continuation {
        /// Stream.
        stream: u32,
        /// Header block fragment.
        block: &'a [u8],
        /// END_HEADERS flag.
        end_headers: bool,
    },
    /// A frame type this implementation does not know: ignored (§4.1).
    Unknown {
        /// Frame type.
        kind: u8,
        /// Stream.
        stream: u32,
    },
}

use ErrorCode::{FlowControlError, FrameSizeError, ProtocolError};

/// Splits off the padding of a PADDED frame: returns the payload after the pad-length
/// byte and before the padding, and the padding length.
fn unpad<'a>(h: &FrameHeader, p: &'a [u8]) -> Result<(&'a [u8], Option<u8>), H2Error> {
    if !h.has(flag::PADDED) {
        return Ok((p, None));
    }
    let (&pad, rest) = p.split_first().ok_or(H2Error::conn(
        FrameSizeError,
        "padded frame without pad length",
    ))?;
    if pad as usize > rest.len() {
        return Err(H2Error::conn(
            ProtocolError,
            "padding longer than the payload",
        ));
    }
    Ok((&rest[..rest.len() - pad as usize], Some(pad)))
}

impl<'a> Frame<'a> {
    /// Parses the payload of the frame `h` (its length already checked against
    /// SETTINGS_MAX_FRAME_SIZE by the caller).
    pub fn parse(h: &FrameHeader, p: &'a [u8]) -> Result<Frame<'a>, H2Error> {
        let stream = h.stream;
        let need_stream = |what| {
            if stream == 0 {
                Err(H2Error::conn(ProtocolError, what))
            } else {
                Ok(())
            }
        };
        let need_conn = |what| {
            if stream != 0 {
                Err(H2Error::conn(ProtocolError, what))
            } else {
                Ok(())
            }
        };
        Ok(match h.kind {
            kind::DATA => {
                need_stream("DATA on stream 0")?;
                let (data, pad) = unpad(h, p)?;
                Frame::Data {
                    stream,
                    data,
                    end_stream: h.has(flag::END_STREAM),
                    pad,
                }
            }
            kind::HEADERS => {
                need_stream("HEADERS on stream 0")?;
                let (mut block, pad) = unpad(h, p)?;
                let mut priority = None;
                if h.has(flag::PRIORITY) {
                    if block.len() < 5 {
                        return Err(H2Error::conn(FrameSizeError, "HEADERS too short"));
                    }
                    // A dependency on itself is a stream error, but the block must
                    // still be decoded: the session checks it afterwards.
                    priority = Some(Priority::parse(block));
                    block = &block[5..];
                }
                Frame::Headers {
                    stream,
                    block,
                    end_stream: h.has(flag::END_STREAM),
                    end_headers: h.has(flag::END_HEADERS),
                    priority,
                    pad,
                }
            }
            kind::PRIORITY => {
                need_stream("PRIORITY on stream 0")?;
                if p.len() != 5 {
                    return Err(H2Error::stream(stream, FrameSizeError, "PRIORITY size"));
                }
                let priority = Priority::parse(p);
                if priority.dependency == stream {
                    return Err(H2Error::stream(stream, ProtocolError, "depends on itself"));
                }
                Frame::Priority { stream, priority }
            }
            kind::RST_STREAM => {
                need_stream("RST_STREAM on stream 0")?;
                if p.len() != 4 {
                    return Err(H2Error::conn(FrameSizeError, "RST_STREAM size"));
                }
                Frame::RstStream {
                    stream,
                    code: ErrorCode::from_u32(u32_at(p)),
                }
            }
            kind::SETTINGS => {
                need_conn("SETTINGS on a stream")?;
                let ack = h.has(flag::ACK);
                if ack && !p.is_empty() {
                    return Err(H2Error::conn(FrameSizeError, "SETTINGS ACK with payload"));
                }
                if !p.len().is_multiple_of(6) {
                    return Err(H2Error::conn(FrameSizeError, "SETTINGS size"));
                }
                let mut params = Vec::with_capacity(p.len() / 6);
                for c in p.chunks_exact(6) {
                    let (id, v) = (u16::from_be_bytes([c[0], c[1]]), u32_at(&c[2..]));
                    check_setting(id, v)?;
                    params.push((id, v));
                }
                Frame::Settings { ack, params }
            }
            kind::PUSH_PROMISE => {
                need_stream("PUSH_PROMISE on stream 0")?;
                let (block, pad) = unpad(h, p)?;
                if block.len() < 4 {
                    return Err(H2Error::conn(FrameSizeError, "PUSH_PROMISE too short"));
                }
                Frame::PushPromise {
                    stream,
                    promised: u31(block),
                    block: &block[4..],
                    end_headers: h.has(flag::END_HEADERS),
                    pad,
                }
            }
            kind::PING => {
                need_conn("PING on a stream")?;
                let data: [u8; 8] = p
                    .try_into()
                    .map_err(|_| H2Error::conn(FrameSizeError, "PING size"))?;
                Frame::Ping {
                    ack: h.has(flag::ACK),
                    data,
                }
            }
            kind::GOAWAY => {
                need_conn("GOAWAY on a stream")?;
                if p.len() < 8 {
                    return Err(H2Error::conn(FrameSizeError, "GOAWAY too short"));
                }
                Frame::GoAway {
                    last_stream: u31(p),
                    code: ErrorCode::from_u32(u32_at(&p[4..])),
                    debug: &p[8..],
                }
            }
            kind::WINDOW_UPDATE => {
                if p.len() != 4 {
                    return Err(H2Error::conn(FrameSizeError, "WINDOW_UPDATE size"));
                }
                let increment = u31(p);
                if increment == 0 {
                    let why = "WINDOW_UPDATE of 0";
                    return Err(match stream {
                        0 => H2Error::conn(ProtocolError, why),
                        s => H2Error::stream(s, ProtocolError, why),
                    });
                }
                Frame::WindowUpdate { stream, increment }
            }
            kind::CONTINUATION => {
                need_stream("CONTINUATION on stream 0")?;
                Frame::Continuation {
                    stream,
                    block: p,
                    end_headers: h.has(flag::END_HEADERS),
                }
            }
            kind => Frame::Unknown { kind, stream },
        })
    }
}

/// Checks the value of a known setting (§6.5.2); unknown identifiers are accepted.
fn check_setting(id: u16, v: u32) -> Result<(), H2Error> {
    match id {
        setting::ENABLE_PUSH if v > 1 => Err(H2Error::conn(ProtocolError, "ENABLE_PUSH not 0/1")),
        setting::INITIAL_WINDOW_SIZE if v > MAX_WINDOW => Err(H2Error::conn(
            FlowControlError,
            "INITIAL_WINDOW_SIZE too large",
        )),
        setting::MAX_FRAME_SIZE
            if !(DEFAULT_MAX_FRAME_SIZE..=MAX_FRAME_SIZE_LIMIT).contains(&v) =>
        {
            Err(H2Error::conn(ProtocolError, "MAX_FRAME_SIZE out of range"))
        }
        _ => Ok(()),
    }
}

#[path = "frame_write.rs"]
mod write;
pub use write::write_header_block;

#[cfg(test)]
#[path = "frame_tests.rs"]
mod tests;
