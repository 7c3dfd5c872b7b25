//! Writing frames: [`Frame::write`] for every type, and header blocks split into
//! HEADERS + CONTINUATION.

use super::*;

impl Frame<'_> {
    /// Appends the frame to `out` (padding as zeros). `Unknown` frames are written with an
    /// empty payload.
    pub fn write(&self, out: &mut Vec<u8>) {
        let start = out.len();
        out.extend_from_slice(&[0; HEADER_LEN]);
        let (kind, mut flags, stream) = match self {
            Frame::Data {
                stream,
                data,
                end_stream,
                pad,
            } => {
                write_padded(out, *pad, |o| o.extend_from_slice(data));
                (kind::DATA, bit(*end_stream, flag::END_STREAM), *stream)
            }
            Frame::Headers {
                stream,
                block,
                end_stream,
                end_headers,
                priority,
                pad,
            } => {
                write_padded(out, *pad, |o| {
                    if let Some(p) = priority {
                        p.write(o);
                    }
                    o.extend_from_slice(block);
                });
                let f = bit(*end_stream, flag::END_STREAM)
                    | bit(*end_headers, flag::END_HEADERS)
                    | bit(priority.is_some(), flag::PRIORITY);
                (kind::HEADERS, f, *stream)
            }
            Frame::Priority { stream, priority } => {
                priority.write(out);
                (kind::PRIORITY, 0, *stream)
            }
            Frame::RstStream { stream, code } => {
                out.extend_from_slice(&code.to_u32().to_be_bytes());
                (kind::RST_STREAM, 0, *stream)
            }
            Frame::Settings { ack, params } => {
                for (id, v) in params {
                    out.extend_from_slice(&id.to_be_bytes());
                    out.extend_from_slice(&v.to_be_bytes());
                }
                (kind::SETTINGS, bit(*ack, flag::ACK), 0)
            }
            Frame::PushPromise {
                stream,
                promised,
                block,
                end_headers,
                pad,
            } => {
                write_padded(out, *pad, |o| {
                    o.extend_from_slice(&(promised & MAX_WINDOW).to_be_bytes());
                    o.extend_from_slice(block);
                });
                (
                    kind::PUSH_PROMISE,
                    bit(*end_headers, flag::END_HEADERS),
                    *stream,
                )
            }
            Frame::Ping { ack, data } => {
                out.extend_from_slice(data);
                (kind::PING, bit(*ack, flag::ACK), 0)
            }
            Frame::GoAway {
                last_stream,
                code,
                debug,
            } => {
                out.extend_from_slice(&(last_stream & MAX_WINDOW).to_be_bytes());
                out.extend_from_slice(&code.to_u32().to_be_bytes());
                out.extend_from_slice(debug);
                (kind::GOAWAY, 0, 0)
            }
            Frame::WindowUpdate { stream, increment } => {
                out.extend_from_slice(&(increment & MAX_WINDOW).to_be_bytes());
                (kind::WINDOW_UPDATE, 0, *stream)
            }
            Frame::Continuation {
                stream,
                block,
                end_headers,
            } => {
                out.extend_from_slice(block);
                (
                    kind::CONTINUATION,
                    bit(*end_headers, flag::END_HEADERS),
                    *stream,
                )
            }
            Frame::Unknown { kind, stream } => (*kind, 0, *stream),
        };
        if matches!(
            self,
            Frame::Data { pad: Some(_), .. }
                | Frame::Headers { pad: Some(_), .. }
                | Frame::PushPromise { pad: Some(_), .. }
        ) {
            flags |= flag::PADDED;
        }
        let len = (out.len() - start - HEADER_LEN) as u32;
        let mut head = Vec::with_capacity(HEADER_LEN);
        FrameHeader {
            len,
            kind,
            flags,
            stream,
        }
        .write(&mut head);
        out[start..start + HEADER_LEN].copy_from_slice(&head);
    }
}

fn bit(on: bool, f: u8) -> u8 {
    if on {
        f
    } else {
        0
    }
}

fn write_padded(out: &mut Vec<u8>, pad: Option<u8>, body: impl FnOnce(&mut Vec<u8>)) {
    if let Some(p) = pad {
        out.push(p);
    }
    body(out);
    out.resize(out.len() + pad.unwrap_or(0) as usize, 0);
}

/// Appends a header block as one HEADERS frame followed by CONTINUATION frames, none with
/// a payload above `max_frame`.
pub fn write_header_block(
    out: &mut Vec<u8>,
    stream: u32,
    block: &[u8],
    end_stream: bool,
    max_frame: usize,
) {
    let max_frame = max_frame.max(1);
    let mut chunks = block.chunks(max_frame);
    let first = chunks.next().unwrap_or(&[]);
    let rest = block.len().saturating_sub(first.len());
    Frame::Headers {
        stream,
        block: first,
        end_stream,
        end_headers: rest == 0,
        priority: None,
        pad: None,
    }
    .write(out);
    let mut left = rest;
    for c in chunks {
        left -= c.len();
        Frame::Continuation {
            stream,
            block: c,
            end_headers: left == 0,
        }
        .write(out);
    }
}
