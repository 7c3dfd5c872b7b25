//! HPACK primitive types: prefix integers (RFC 7541 §5.1) and string literals (§5.2).

use super::huffman;
use super::DecodeError;

/// Largest integer accepted while decoding; every HPACK integer we need (indices, sizes,
/// string lengths) is far below it, and it keeps the arithmetic from overflowing.
pub const MAX_INT: usize = (1 << 28) - 1;

/// Appends `value` as an integer with an `n`-bit prefix; `first` holds the bits above the
/// prefix in the first byte.
pub fn encode_int(value: usize, n: u8, first: u8, out: &mut Vec<u8>) {
    let max = (1usize << n) - 1;
    if value < max {
        out.push(first | value as u8);
        return;
    }
    out.push(first | max as u8);
    let mut rest = value - max;
    while rest >= 128 {
        out.push((rest % 128) as u8 | 0x80);
        rest /= 128;
    }
    out.push(rest as u8);
}

/// Decodes an integer with an `n`-bit prefix at the start of `buf`; returns it and the
/// number of bytes used.
pub fn decode_int(buf: &[u8], n: u8) -> Result<(usize, usize), DecodeError> {
    let max = (1usize << n) - 1;
    let first = *buf.first().ok_or(DecodeError::Truncated)?;
    let mut value = (first as usize) & max;
    if value < max {
        return Ok((value, 1));
    }
    let mut shift = 0;
    for (i, &b) in buf[1..].iter().enumerate() {
        value += ((b & 0x7f) as usize) << shift;
        if value > MAX_INT {
            return Err(DecodeError::IntegerOverflow);
        }
        if b & 0x80 == 0 {
            return Ok((value, i + 2));
        }
        shift += 7;
        if shift > 28 {
            return Err(DecodeError::IntegerOverflow);
        }
    }
    Err(DecodeError::Truncated)
}

/// Appends `data` as a string literal, Huffman-encoded when that is shorter.
pub fn encode_str(data: &[u8], out: &mut Vec<u8>) {
    let hlen = huffman::encoded_len(data);
    if hlen <= data.len() {
        encode_int(hlen, 7, 0x80, out);
        huffman::encode(data, out);
    } else {
        encode_int(data.len(), 7, 0, out);
        out.extend_from_slice(data);
    }
}

/// Decodes a string literal at the start of `buf`; returns it and the bytes used.
/// `limit` bounds the encoded length (a Huffman string decodes to at most 8/5 of it).
pub fn decode_str(buf: &[u8], limit: usize) -> Result<(Vec<u8>, usize), DecodeError> {
    let huff = buf.first().ok_or(DecodeError::Truncated)? & 0x80 != 0;
    let (len, used) = decode_int(buf, 7)?;
    let data = buf.get(used..used + len).ok_or(DecodeError::Truncated)?;
    if len > limit {
        return Err(DecodeError::StringTooLong);
    }
    let mut out = Vec::new();
    if huff {
        huffman::decode(data, &mut out).map_err(DecodeError::Huffman)?;
    } else {
        out.extend_from_slice(data);
    }
    Ok((out, used + len))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn int(value: usize, n: u8) -> Vec<u8> {
        let mut v = Vec::new();
        encode_int(value, n, 0, &mut v);
        v
    }

    #[test]
    fn rfc_c1_integers() {
        // C.1.1: 10 with a 5-bit prefix.
        assert_eq!(int(10, 5), [0b01010]);
        // C.1.2: 1337 with a 5-bit prefix.
        assert_eq!(int(1337, 5), [0b11111, 0b10011010, 0b00001010]);
        // C.1.3: 42 at an octet boundary.
        assert_eq!(int(42, 8), [42]);
        assert_eq!(
            decode_int(&[0b11111, 0b10011010, 0b00001010], 5),
            Ok((1337, 3))
        );
        assert_eq!(decode_int(&[0b01010], 5), Ok((10, 1)));
    }

    #[test]
    fn integers_round_trip_and_refuse_overflow() {
        for n in 1..=8u8 {
            for v in [0, 1, 30, 31, 127, 128, 255, 256, 16383, 1 << 20, MAX_INT] {
                let e = int(v, n);
                assert_eq!(decode_int(&e, n), Ok((v, e.len())), "{v} {n}");
                assert_eq!(
                    decode_int(&e[..e.len() - 1], n),
                    Err(DecodeError::Truncated)
                );
            }
        }
        assert_eq!(
            decode_int(&[0xff, 0xff, 0xff, 0xff, 0xff, 0x0f], 8),
            Err(DecodeError::IntegerOverflow)
        );
        // Endless continuation bytes of zero stop at the shift limit.
        assert_eq!(
            decode_int(&[0x1f, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80], 5),
            Err(DecodeError::IntegerOverflow)
        );
        assert_eq!(decode_int(&[], 5), Err(DecodeError::Truncated));
    }

    #[test]
    fn strings_round_trip() {
        for s in [&b""[..], b"a", b"custom-key", b"\x00\xff\x10 binary"] {
            let mut e = Vec::new();
            encode_str(s, &mut e);
            assert_eq!(decode_str(&e, 100), Ok((s.to_vec(), e.len())));
        }
        assert_eq!(decode_str(&[0x05, b'a'], 100), Err(DecodeError::Truncated));
        assert_eq!(
            decode_str(&[0x03, b'a', b'b', b'c'], 2),
            Err(DecodeError::StringTooLong)
        );
    }
}
