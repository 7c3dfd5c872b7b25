//! WebSocket frames (RFC 6455 §5.2): header parse and encode, masking. Pure functions.

use super::{close, Error};

/// A frame's opcode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Opcode {
    /// Continues a fragmented message.
    Continuation,
    /// First (or only) frame of a text message.
    Text,
    /// First (or only) frame of a binary message.
    Binary,
    /// Close (control).
    Close,
    /// Ping (control).
    Ping,
    /// Pong (control).
    Pong,
}

impl Opcode {
    /// The opcode for the 4-bit value `n`; `None` for reserved values.
    pub fn from_bits(n: u8) -> Option<Opcode> {
        Some(match n {
            0x0 => Opcode::Continuation,
            0x1 => Opcode::Text,
            0x2 => Opcode::Binary,
            0x8 => Opcode::Close,
            0x9 => Opcode::Ping,
            0xA => Opcode::Pong,
            _ => return None,
        })
    }

    /// The 4-bit value on the wire.
    pub fn bits(self) -> u8 {
        match self {
            Opcode::Continuation => 0x0,
            Opcode::Text => 0x1,
            Opcode::Binary => 0x2,
            Opcode::Close => 0x8,
            Opcode::Ping => 0x9,
            Opcode::Pong => 0xA,
        }
    }

    /// Close, ping and pong: at most 125 bytes, never fragmented.
    pub fn is_control(self) -> bool {
        matches!(self, Opcode::Close | Opcode::Ping | Opcode::Pong)
    }
}

/// The most a control frame's payload may hold.
pub const MAX_CONTROL: usize = 125;

/// The longest a frame header can be: 2 + 8 (length) + 4 (mask).
pub const MAX_HEADER: usize = 14;

/// A frame header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    /// Final fragment of its message.
    pub fin: bool,
    /// What the frame carries.
    pub opcode: Opcode,
    /// The masking key (client-to-server frames must have one).
    pub mask: Option<[u8; 4]>,
    /// Payload length.
    pub len: u64,
}

fn protocol(reason: &'static str) -> Error {
    Error {
        code: close::PROTOCOL_ERROR,
        reason,
    }
}

/// Parses a frame header from the start of `buf`: `Ok(None)` when more bytes are needed,
/// else the header and its length in bytes. Refuses (1002) reserved bits (no extension is
/// ever negotiated), reserved opcodes, fragmented or long control frames, lengths with the
/// top bit set and lengths not in their shortest encoding.
///
/// ```
/// use reactor_handlers::websocket::frame::{parse_header, Opcode};
/// let (h, used) = parse_header(&[0x81, 0x05]).unwrap().unwrap();
/// assert_eq!((h.fin, h.opcode, h.mask, h.len, used), (true, Opcode::Text, None, 5, 2));
/// assert!(parse_header(&[0x81]).unwrap().is_none());
/// ```
pub fn parse_header(buf: &[u8]) -> Result<Option<(Header, usize)>, Error> {
    let [b0, b1, ..] = *buf else {
        return Ok(None);
    };
    if b0 & 0x70 != 0 {
        return Err(protocol("reserved bits set without a negotiated extension"));
    }
    let opcode = Opcode::from_bits(b0 & 0x0F).ok_or(protocol("reserved opcode"))?;
    let fin = b0 & 0x80 != 0;
    let masked = b1 & 0x80 != 0;
    let (len, mut at) = match b1 & 0x7F {
        126 => {
            let Some(b) = buf.get(2..4) else {
                return Ok(None);
            };
            let n = u64::from(u16::from_be_bytes([b[0], b[1]]));
            if n < 126 {
                return Err(protocol("frame length not in its shortest form"));
            }
            (n, 4)
        }
        127 => {
            let Some(b) = buf.get(2..10) else {
                return Ok(None);
            };
            let mut be = [0u8; 8];
            be.copy_from_slice(b);
            let n = u64::from_be_bytes(be);
            if n >> 63 != 0 {
                return Err(protocol("frame length with the top bit set"));
            }
            if n <= u64::from(u16::MAX) {
                return Err(protocol("frame length not in its shortest form"));
            }
            (n, 10)
        }
        n => (u64::from(n), 2),
    };
    if opcode.is_control() {
        if !fin {
            return Err(protocol("fragmented control frame"));
        }
        if len > MAX_CONTROL as u64 {
            return Err(protocol("control frame longer than 125 bytes"));
        }
    }
    let mask = if masked {
        let Some(k) = buf.get(at..at + 4) else {
            return Ok(None);
        };
        at += 4;
        Some([k[0], k[1], k[2], k[3]])
    } else {
        None
    };
    Ok(Some((
        Header {
            fin,
            opcode,
            mask,
            len,
        },
        at,
    )))
}

/// Appends the encoding of `header` to `out` (shortest length form).
pub fn encode_header(header: &Header, out: &mut Vec<u8>) {
    out.push(u8::from(header.fin) << 7 | header.opcode.bits());
    let m = if header.mask.is_some() { 0x80 } else { 0 };
    match header.len {
        n @ 0..=125 => out.push(m | n as u8),
        n @ 126..=0xFFFF => {
            out.push(m | 126);
            out.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            out.push(m | 127);
            out.extend_from_slice(&n.to_be_bytes());
        }
    }
    if let Some(k) = header.mask {
        out.extend_from_slice(&k);
    }
}

/// Appends a whole frame to `out`: header, then `payload` masked with `mask` if given.
///
/// ```
/// use reactor_handlers::websocket::frame::{encode, Opcode};
/// let mut out = Vec::new();
/// encode(true, Opcode::Text, b"hi", None, &mut out);
/// assert_eq!(out, [0x81, 0x02, b'h', b'i']);
/// ```
pub fn encode(fin: bool, opcode: Opcode, payload: &[u8], mask: Option<[u8; 4]>, out: &mut Vec<u8>) {
    let header = Header {
        fin,
        opcode,
        mask,
        len: payload.len() as u64,
    };
    encode_header(&header, out);
    let start = out.len();
    out.extend_from_slice(payload);
    if let Some(k) = mask {
        apply_mask(&mut out[start..], k, 0);
    }
}

/// XORs `data` with `key` (RFC 6455 §5.3), where `data` starts `offset` bytes into the
/// payload. Masking and unmasking are the same operation.
pub fn apply_mask(data: &mut [u8], key: [u8; 4], offset: usize) {
    for (i, b) in data.iter_mut().enumerate() {
        *b ^= key[(offset + i) % 4];
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(buf: &[u8]) -> Result<Option<(Header, usize)>, &'static str> {
        parse_header(buf).map_err(|e| {
            assert_eq!(e.code, close::PROTOCOL_ERROR);
            e.reason
        })
    }

    #[test]
    fn round_trips_every_length_form() {
        for len in [0u64, 1, 125, 126, 127, 0xFFFF, 0x1_0000, 1 << 40] {
            for mask in [None, Some([1, 2, 3, 4])] {
                let h = Header {
                    fin: len % 2 == 0,
                    opcode: Opcode::Binary,
                    mask,
                    len,
                };
                let mut out = Vec::new();
                encode_header(&h, &mut out);
                let (back, used) = parse(&out).unwrap().unwrap();
                assert_eq!((back, used), (h, out.len()));
                for cut in 0..out.len() {
                    assert_eq!(parse(&out[..cut]).unwrap(), None, "{len} cut at {cut}");
                }
            }
        }
    }

    #[test]
    fn refuses_what_rfc_6455_forbids() {
        assert_eq!(
            parse(&[0xC1, 0]),
            Err("reserved bits set without a negotiated extension")
        );
        assert_eq!(
            parse(&[0x91, 0]),
            Err("reserved bits set without a negotiated extension")
        );
        for op in [3u8, 7, 0xB, 0xF] {
            assert_eq!(parse(&[0x80 | op, 0]), Err("reserved opcode"));
        }
        assert_eq!(
            parse(&[0x09, 0]),
            Err("fragmented control frame"),
            "ping without FIN"
        );
        assert_eq!(
            parse(&[0x88, 126, 0, 126]),
            Err("control frame longer than 125 bytes")
        );
        assert!(parse(&[0x89, 125]).unwrap().is_some());
        assert_eq!(
            parse(&[0x82, 126, 0, 125]),
            Err("frame length not in its shortest form")
        );
        let mut long = vec![0x82, 127];
        long.extend_from_slice(&0xFFFFu64.to_be_bytes());
        assert_eq!(parse(&long), Err("frame length not in its shortest form"));
        let mut top = vec![0x82, 127];
        top.extend_from_slice(&(1u64 << 63).to_be_bytes());
        assert_eq!(parse(&top), Err("frame length with the top bit set"));
    }

    #[test]
    fn masking_is_its_own_inverse_at_any_offset() {
        let key = [0x37, 0xfa, 0x21, 0x3d];
        // RFC 6455 §5.7: a masked "Hello".
        let mut out = Vec::new();
        encode(true, Opcode::Text, b"Hello", Some(key), &mut out);
        assert_eq!(
            out,
            [0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58]
        );
        let mut payload = out[6..].to_vec();
        let (a, b) = payload.split_at_mut(2);
        apply_mask(a, key, 0);
        apply_mask(b, key, 2);
        assert_eq!(payload, b"Hello");
    }
}
