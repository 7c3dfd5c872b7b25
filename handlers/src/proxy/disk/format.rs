//! The disk tier's file format, written as a stream and checked before use.
//!
//! A file is its head (magic, URL, status, times, fields, `Vary` selection), the body as
//! it arrived, then the body's length, the length of everything so far and an FNV-1a
//! checksum of it. The head comes first and the lengths last, so a body of any size is
//! written as it arrives ([`FileWriter`]) and never has to be whole in memory; a reader
//! finds the body from the end, and refuses any file whose lengths or checksum are wrong.

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::Path;
use std::sync::Arc;

use super::super::cache::{CacheControl, Entry};
use super::super::vary::Selection;

/// The first bytes of every file (version 2: the streamable layout).
pub(super) const MAGIC: &[u8; 8] = b"RPXDISK2";
/// Bytes after the body: its length, the content length, the checksum.
const TRAILER: u64 = 24;
/// A head larger than this is not ours.
const MAX_HEAD: u64 = 4 << 20;
/// Bytes read at a time while checking a large file.
const CHUNK: usize = 256 * 1024;
pub(super) const FNV_START: u64 = 0xcbf2_9ce4_8422_2325;

/// FNV-1a over `bytes`, continuing from `h`.
pub(super) fn fnv1a(mut h: u64, bytes: &[u8]) -> u64 {
    for &b in bytes {
        h = (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

/// The file name of `url`: 64-bit FNV-1a of it, in hex.
pub(super) fn file_name(url: &str) -> String {
    format!("{:016x}.entry", fnv1a(FNV_START, url.as_bytes()))
}

fn put(out: &mut Vec<u8>, bytes: &[u8]) {
    out.extend_from_slice(&(bytes.len() as u64).to_le_bytes());
    out.extend_from_slice(bytes);
}

/// The head of the file for `url` holding `e` (its body is not part of it).
pub(super) fn encode_head(url: &str, e: &Entry) -> Vec<u8> {
    let mut out = Vec::with_capacity(1024);
    out.extend_from_slice(MAGIC);
    put(&mut out, url.as_bytes());
    for n in [u64::from(e.status), e.response_time, e.initial_age] {
        out.extend_from_slice(&n.to_le_bytes());
    }
    out.extend_from_slice(&(e.headers.len() as u64).to_le_bytes());
    for (n, v) in &e.headers {
        put(&mut out, n.as_bytes());
        put(&mut out, v.as_bytes());
    }
    let vary: Vec<(&str, &[u8])> = e.vary.fields().collect();
    out.extend_from_slice(&(vary.len() as u64).to_le_bytes());
    for (n, v) in vary {
        put(&mut out, n.as_bytes());
        put(&mut out, v);
    }
    out
}

/// Writes one file as a stream: the head, the body in pieces, then the trailer.
pub(super) struct FileWriter<W: Write> {
    out: W,
    sum: u64,
    len: u64,
    body: u64,
}

impl<W: Write> FileWriter<W> {
    /// Starts the file with `head` (from [`encode_head`]).
    pub(super) fn new(mut out: W, head: &[u8]) -> io::Result<Self> {
        out.write_all(head)?;
        Ok(FileWriter {
            out,
            sum: fnv1a(FNV_START, head),
            len: head.len() as u64,
            body: 0,
        })
    }

    /// Appends body bytes.
    pub(super) fn body(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.out.write_all(bytes)?;
        self.sum = fnv1a(self.sum, bytes);
        self.len += bytes.len() as u64;
        self.body += bytes.len() as u64;
        Ok(())
    }

    /// Body bytes so far.
    pub(super) fn body_len(&self) -> u64 {
        self.body
    }

    /// Writes the trailer; returns the writer and the file's total length.
    pub(super) fn finish(mut self) -> io::Result<(W, u64)> {
        let body = self.body.to_le_bytes();
        self.out.write_all(&body)?;
        let sum = fnv1a(self.sum, &body);
        let len = self.len + 8;
        self.out.write_all(&len.to_le_bytes())?;
        self.out.write_all(&sum.to_le_bytes())?;
        self.out.flush()?;
        Ok((self.out, len + 16))
    }
}

/// The whole file for `url` holding `e`, in memory.
pub(super) fn encode(url: &str, e: &Entry) -> Vec<u8> {
    let head = encode_head(url, e);
    let out = Vec::with_capacity(head.len() + e.body.len() + 24);
    FileWriter::new(out, &head)
        .and_then(|mut w| w.body(&e.body).map(|()| w))
        .and_then(FileWriter::finish)
        // Writing into a Vec cannot fail.
        .map_or_else(|_| Vec::new(), |(v, _)| v)
}

/// A cursor over a file's bytes; every read is bounds-checked.
struct Cursor<'a>(&'a [u8]);

impl<'a> Cursor<'a> {
    fn u64(&mut self) -> Option<u64> {
        let (head, rest) = self.0.split_first_chunk::<8>()?;
        self.0 = rest;
        Some(u64::from_le_bytes(*head))
    }

    fn bytes(&mut self) -> Option<&'a [u8]> {
        let n = usize::try_from(self.u64()?).ok()?;
        if n > self.0.len() {
            return None;
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Some(head)
    }

    fn text(&mut self) -> Option<String> {
        String::from_utf8(self.bytes()?.to_vec()).ok()
    }
}

/// Where a file's parts lie: `(head length, body length)`, from the trailer's lengths
/// (`content` is everything before the last 16 bytes, ending in the body length).
fn layout(content_len: u64, body_len: u64) -> Option<(u64, u64)> {
    let head = content_len.checked_sub(8)?.checked_sub(body_len)?;
    (head <= MAX_HEAD).then_some((head, body_len))
}

/// Decodes a head that must hold exactly the fields of `want_url`'s entry.
fn decode_head(head: &[u8], want_url: &str, body: Arc<[u8]>) -> Option<Entry> {
    let mut c = Cursor(head.strip_prefix(MAGIC)?);
    if c.bytes()? != want_url.as_bytes() {
        return None;
    }
    let status = u16::try_from(c.u64()?).ok()?;
    let (response_time, initial_age) = (c.u64()?, c.u64()?);
    let n = c.u64()?;
    let mut headers = Vec::new();
    for _ in 0..n {
        headers.push((c.text()?, c.text()?));
    }
    let n = c.u64()?;
    let mut vary = Vec::new();
    for _ in 0..n {
        vary.push((c.text()?, c.bytes()?.to_vec()));
    }
    if !c.0.is_empty() {
        return None;
    }
    let mut e = Entry {
        status,
        headers,
        body,
        vary: Selection::from_fields(vary),
        response_time,
        initial_age,
        lifetime: 0,
        cc: CacheControl::default(),
    };
    let cc = CacheControl::parse(
        e.headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case("cache-control"))
            .map(|(_, v)| v.as_str()),
    );
    e.retarget(cc);
    Some(e)
}

/// Checks lengths and checksum of a whole file in memory: where its head ends and its
/// body ends (`data[..head]`, `data[head..body]`). `None` for anything wrong.
pub(super) fn verify(data: &[u8]) -> Option<(usize, usize)> {
    let content_end = data.len().checked_sub(16)?;
    let (content, trailer) = data.split_at(content_end);
    let mut t = Cursor(trailer);
    if t.u64()? != content.len() as u64 || t.u64()? != fnv1a(FNV_START, content) {
        return None;
    }
    let mut b = Cursor(content.get(content.len().checked_sub(8)?..)?);
    let (head, body) = layout(content.len() as u64, b.u64()?)?;
    let head = usize::try_from(head).ok()?;
    Some((head, head.checked_add(usize::try_from(body).ok()?)?))
}

/// Checks a whole file in memory ([`verify`]), then decodes it: the entry and its head's
/// length. `None` for anything wrong.
pub(super) fn decode(data: &[u8], want_url: &str) -> Option<(Entry, usize)> {
    let (head, body_end) = verify(data)?;
    let body = Arc::from(data.get(head..body_end)?);
    Some((decode_head(data.get(..head)?, want_url, body)?, head))
}

/// A large file checked in place: its entry (with an empty body), and where the body lies
/// in the file.
pub struct FileEntry {
    /// The stored response; its `body` is empty, the bytes are in `file`.
    pub entry: Entry,
    /// The open file.
    pub file: File,
    /// Where the body starts in it.
    pub offset: u64,
    /// The body's length.
    pub len: u64,
}

/// Opens the file at `path` for `url`, checks its lengths and (reading it in chunks, on
/// the caller's thread) its checksum, and decodes its head. `None` for anything wrong.
pub(super) fn open_checked(path: &Path, url: &str) -> Option<FileEntry> {
    let mut file = File::open(path).ok()?;
    let total = file.metadata().ok()?.len();
    let content_len = total.checked_sub(16)?;
    file.seek(SeekFrom::Start(content_len.checked_sub(8)?))
        .ok()?;
    let mut tail = [0u8; 24];
    file.read_exact(&mut tail).ok()?;
    let mut t = Cursor(&tail);
    let (body_len, stated_len, stated_sum) = (t.u64()?, t.u64()?, t.u64()?);
    if stated_len != content_len {
        return None;
    }
    let (head_len, body_len) = layout(content_len, body_len)?;
    file.seek(SeekFrom::Start(0)).ok()?;
    let mut head = vec![0u8; usize::try_from(head_len).ok()?];
    file.read_exact(&mut head).ok()?;
    let mut sum = fnv1a(FNV_START, &head);
    let mut left = content_len - head_len;
    let mut buf = vec![0u8; CHUNK];
    while left > 0 {
        let n = usize::try_from(left.min(CHUNK as u64)).ok()?;
        file.read_exact(&mut buf[..n]).ok()?;
        sum = fnv1a(sum, &buf[..n]);
        left -= n as u64;
    }
    if sum != stated_sum {
        return None;
    }
    let entry = decode_head(&head, url, Arc::from(&[][..]))?;
    Some(FileEntry {
        entry,
        file,
        offset: head_len,
        len: body_len,
    })
}

/// The body length a file says it holds (from its trailer), without checking it.
pub(super) fn stated_body_len(path: &Path) -> Option<u64> {
    let mut file = File::open(path).ok()?;
    let total = file.metadata().ok()?.len();
    file.seek(SeekFrom::Start(total.checked_sub(TRAILER)?))
        .ok()?;
    let mut b = [0u8; 8];
    file.read_exact(&mut b).ok()?;
    Some(u64::from_le_bytes(b))
}

/// The URL a file says it holds (its first field).
pub(super) fn read_url(path: &Path) -> Option<String> {
    let mut f = File::open(path).ok()?;
    let mut head = [0u8; 16];
    f.read_exact(&mut head).ok()?;
    if &head[..8] != MAGIC {
        return None;
    }
    let n = u64::from_le_bytes(head[8..16].try_into().ok()?);
    if n > 64 * 1024 {
        return None;
    }
    let mut url = vec![0u8; n as usize];
    f.read_exact(&mut url).ok()?;
    String::from_utf8(url).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use reactor::Headers;
    use std::sync::Arc;

    fn entry(body: &[u8]) -> Entry {
        let h = vec![
            ("Cache-Control".to_string(), "max-age=60".to_string()),
            ("X-A".to_string(), "b".to_string()),
        ];
        Entry::new(200, h, Arc::from(body), &Headers::default(), 100, 101)
    }

    #[test]
    fn round_trip_and_every_corruption_is_refused() {
        let e = entry(b"hello body");
        let bytes = encode("http://h/x", &e);
        let (back, head) = decode(&bytes, "http://h/x").expect("decodes");
        assert_eq!(&bytes[head..head + 10], b"hello body");
        assert_eq!(&back.body[..], b"hello body");
        assert_eq!(back.headers, e.headers);
        assert_eq!((back.lifetime, back.age(200)), (60, e.age(200)));
        assert!(decode(&bytes, "http://h/other").is_none());
        for cut in 0..bytes.len() {
            assert!(decode(&bytes[..cut], "http://h/x").is_none(), "cut {cut}");
        }
        for i in (0..bytes.len()).step_by(7) {
            let mut bad = bytes.clone();
            bad[i] ^= 0x40;
            assert!(decode(&bad, "http://h/x").is_none(), "flip {i}");
        }
    }

    #[test]
    fn a_file_is_checked_in_place_and_refused_when_corrupt() {
        let body: Vec<u8> = (0..700_000u32).map(|i| (i % 251) as u8).collect();
        let e = entry(&body);
        let bytes = encode("http://h/big", &e);
        let path = std::env::temp_dir().join(format!("disk-format-{}", std::process::id()));
        std::fs::write(&path, &bytes).expect("temp file");
        let f = open_checked(&path, "http://h/big").expect("a good file");
        assert_eq!(
            (f.len, f.entry.headers.clone()),
            (body.len() as u64, e.headers)
        );
        assert_eq!(stated_body_len(&path), Some(body.len() as u64));
        let start = f.offset as usize;
        assert_eq!(&bytes[start..start + body.len()], &body[..]);
        assert!(open_checked(&path, "http://h/other").is_none());
        let mut bad = bytes.clone();
        bad[start + 500_000] ^= 1;
        std::fs::write(&path, &bad).expect("temp file");
        assert!(open_checked(&path, "http://h/big").is_none());
        std::fs::write(&path, &bytes[..bytes.len() - 1]).expect("temp file");
        assert!(open_checked(&path, "http://h/big").is_none());
        let _ = std::fs::remove_file(&path);
    }
}
