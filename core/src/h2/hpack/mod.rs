//! HPACK, the header compression of HTTP/2 (RFC 7541): a [`Decoder`] for request header
//! blocks and an [`Encoder`] for response ones, each with its dynamic table.
//!
//! ```
//! use reactor::h2::hpack::{Decoder, Encoder, Indexing};
//!
//! let mut enc = Encoder::new(4096);
//! let mut block = Vec::new();
//! enc.encode(&mut block, [(&b":status"[..], &b"200"[..], Indexing::Incremental)]);
//! let mut dec = Decoder::new(4096);
//! let fields = dec.decode(&block, 16 * 1024).unwrap();
//! assert_eq!(fields, vec![(b":status".to_vec(), b"200".to_vec())]);
//! ```

mod huffman;
mod prim;
mod table;
#[cfg(test)]
mod tests;

pub use huffman::HuffmanError;
pub use table::{entry_size, DynamicTable};

use prim::{decode_int, decode_str, encode_int, encode_str};
use table::{find, lookup, Found};

/// One decoded header field: name and value as bytes.
pub type Field = (Vec<u8>, Vec<u8>);

/// Why a header block could not be decoded. Every variant but
/// [`DecodeError::ListTooLarge`] is a COMPRESSION_ERROR for the connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DecodeError {
    /// The block ends inside a representation.
    Truncated,
    /// An integer is larger than any HPACK value we accept.
    IntegerOverflow,
    /// A string literal is longer than allowed.
    StringTooLong,
    /// A Huffman string is malformed.
    Huffman(HuffmanError),
    /// An index that is in neither table (or is zero).
    BadIndex,
    /// A dynamic table size update after a field, or above the allowed maximum.
    BadSizeUpdate,
    /// The decoded list is larger than the bound given to [`Decoder::decode`]. The block
    /// was still decoded to the end, so the dynamic table is intact: this is not a
    /// compression error, the request can be refused alone.
    ListTooLarge,
}

impl DecodeError {
    /// True when the decoder state is lost (COMPRESSION_ERROR, RFC 7541 §2.3.3 / RFC 9113
    /// §4.3), false for a list that was merely too large.
    pub fn is_compression_error(self) -> bool {
        self != DecodeError::ListTooLarge
    }
}

/// Decodes header blocks, keeping the dynamic table across them.
#[derive(Debug, Clone)]
pub struct Decoder {
    table: DynamicTable,
    max_allowed: usize,
}

impl Decoder {
    /// A decoder whose table may grow to `max_allowed` bytes (the SETTINGS_HEADER_TABLE_SIZE
    /// we advertise; 4096 by default).
    pub fn new(max_allowed: usize) -> Self {
        Decoder {
            table: DynamicTable::new(max_allowed),
            max_allowed,
        }
    }

    /// The dynamic table (for inspection).
    pub fn table(&self) -> &DynamicTable {
        &self.table
    }

    /// Decodes one complete header block. Fields beyond `max_list_size` (counted as in
    /// SETTINGS_MAX_HEADER_LIST_SIZE: name + value + 32 each) are dropped and the result is
    /// [`DecodeError::ListTooLarge`], after the whole block has updated the table.
    pub fn decode(
        &mut self,
        block: &[u8],
        max_list_size: usize,
    ) -> Result<Vec<Field>, DecodeError> {
        let mut fields = Vec::new();
        let mut list_size = 0usize;
        let mut too_large = false;
        let mut seen_field = false;
        let mut pos = 0;
        while pos < block.len() {
            let rest = &block[pos..];
            let b = rest[0];
            let (name, value) = if b & 0x80 != 0 {
                let (index, n) = decode_int(rest, 7)?;
                pos += n;
                let (name, value) = lookup(&self.table, index).ok_or(DecodeError::BadIndex)?;
                seen_field = true;
                list_size = list_size.saturating_add(entry_size(name, value));
                if list_size > max_list_size {
                    too_large = true;
                } else {
                    fields.push((name.to_vec(), value.to_vec()));
                }
                continue;
            } else if b & 0xe0 == 0x20 {
                let (size, n) = decode_int(rest, 5)?;
                if seen_field || size > self.max_allowed {
                    return Err(DecodeError::BadSizeUpdate);
                }
                self.table.set_max_size(size);
                pos += n;
                continue;
            } else {
                let prefix = if b & 0x40 != 0 { 6 } else { 4 };
                let (index, mut n) = decode_int(rest, prefix)?;
                let name = if index == 0 {
                    let (name, used) = decode_str(&rest[n..], block.len())?;
                    n += used;
                    name
                } else {
                    lookup(&self.table, index)
                        .ok_or(DecodeError::BadIndex)?
                        .0
                        .to_vec()
                };
                let (value, used) = decode_str(&rest[n..], block.len())?;
                pos += n + used;
                if b & 0x40 != 0 {
                    self.table.insert(name.clone(), value.clone());
                }
                (name, value)
            };
            seen_field = true;
            list_size = list_size.saturating_add(entry_size(&name, &value));
            if list_size > max_list_size {
                too_large = true;
            } else {
                fields.push((name, value));
            }
        }
        if too_large {
            return Err(DecodeError::ListTooLarge);
        }
        Ok(fields)
    }
}

/// How a field is represented by the [`Encoder`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Indexing {
    /// Added to the dynamic table (for fields that repeat: `server`, `content-type`).
    Incremental,
    /// Not added (values that rarely repeat: `etag`, `last-modified`).
    Without,
    /// Not added, and intermediaries must not add it either (secrets: `set-cookie`).
    Never,
}

impl Indexing {
    /// The representation the server uses for a response field named `name`
    /// (lowercase).
    pub fn for_response(name: &[u8]) -> Indexing {
        match name {
            b"set-cookie" | b"authorization" | b"proxy-authorization" | b"cookie" => {
                Indexing::Never
            }
            b"etag" | b"last-modified" | b"content-range" | b"location" => Indexing::Without,
            _ => Indexing::Incremental,
        }
    }
}

/// Encodes header blocks, keeping the dynamic table across them.
#[derive(Debug, Clone)]
pub struct Encoder {
    table: DynamicTable,
    /// The smallest and the last maximum set since the previous block (§4.2).
    pending: Option<(usize, usize)>,
    huffman: bool,
}

impl Encoder {
    /// An encoder whose table holds at most `max_size` bytes.
    pub fn new(max_size: usize) -> Self {
        Encoder {
            table: DynamicTable::new(max_size),
            pending: None,
            huffman: true,
        }
    }

    /// Whether string literals may be Huffman-encoded (when shorter; on by default).
    pub fn set_huffman(&mut self, on: bool) {
        self.huffman = on;
    }

    /// Changes the table's maximum size (after the peer's SETTINGS_HEADER_TABLE_SIZE);
    /// the next block starts with the size update(s) the decoder needs.
    pub fn set_max_size(&mut self, max_size: usize) {
        self.table.set_max_size(max_size);
        self.pending = Some(match self.pending {
            Some((min, _)) => (min.min(max_size), max_size),
            None => (max_size, max_size),
        });
    }

    /// The dynamic table (for inspection).
    pub fn table(&self) -> &DynamicTable {
        &self.table
    }

    /// Appends one complete header block holding `fields` to `out`.
    pub fn encode<'a>(
        &mut self,
        out: &mut Vec<u8>,
        fields: impl IntoIterator<Item = (&'a [u8], &'a [u8], Indexing)>,
    ) {
        if let Some((min, last)) = self.pending.take() {
            if min < last {
                encode_int(min, 5, 0x20, out);
            }
            encode_int(last, 5, 0x20, out);
        }
        for (name, value, indexing) in fields {
            self.field(out, name, value, indexing);
        }
    }

    fn field(&mut self, out: &mut Vec<u8>, name: &[u8], value: &[u8], indexing: Indexing) {
        let found = find(&self.table, name, value);
        if let Found::Field(i) = found {
            if indexing != Indexing::Never {
                encode_int(i, 7, 0x80, out);
                return;
            }
        }
        let (first, prefix) = match indexing {
            Indexing::Incremental => (0x40, 6),
            Indexing::Without => (0x00, 4),
            Indexing::Never => (0x10, 4),
        };
        match found {
            Found::Field(i) | Found::Name(i) => encode_int(i, prefix, first, out),
            Found::None => {
                encode_int(0, prefix, first, out);
                self.string(out, name);
            }
        }
        self.string(out, value);
        if indexing == Indexing::Incremental {
            self.table.insert(name.to_vec(), value.to_vec());
        }
    }

    fn string(&self, out: &mut Vec<u8>, s: &[u8]) {
        if self.huffman {
            encode_str(s, out);
        } else {
            encode_int(s.len(), 7, 0, out);
            out.extend_from_slice(s);
        }
    }
}
