//! Content codings: which ones a client accepts (`Accept-Encoding` with q-values), which
//! media types are worth compressing, and incremental encoders for `br`, `zstd` and
//! `gzip`.
//!
//! Backends: `brotli` (a pure-Rust port of Google's reference encoder), `zstd` (bindings to
//! the reference C library, the only maintained encoder) and `flate2` on its default
//! `miniz_oxide` backend (pure Rust: no C toolchain needed, and as fast as zlib at the
//! levels used here).

use std::cell::RefCell;
use std::io::{self, Write};

use reactor::ascii::lowercase_into;

/// A content coding the server produces.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Encoding {
    /// Brotli (`br`).
    Br,
    /// Zstandard (`zstd`).
    Zstd,
    /// gzip (`gzip`).
    Gzip,
}

impl Encoding {
    /// Every coding, in the server's order of preference when q-values tie.
    pub const ALL: [Encoding; 3] = [Encoding::Br, Encoding::Zstd, Encoding::Gzip];

    /// The token in `Accept-Encoding` and `Content-Encoding`.
    pub fn token(self) -> &'static str {
        match self {
            Encoding::Br => "br",
            Encoding::Zstd => "zstd",
            Encoding::Gzip => "gzip",
        }
    }

    /// The file-name extension of a precompressed sibling (`app.js.br`).
    pub fn extension(self) -> &'static str {
        match self {
            Encoding::Br => "br",
            Encoding::Zstd => "zst",
            Encoding::Gzip => "gz",
        }
    }

    /// A small index (0, 1, 2) for per-coding tables.
    pub fn index(self) -> usize {
        self as usize
    }

    /// The ETag of the variant in this coding: `"tag"` becomes `"tag-br"` (weak tags stay
    /// weak).
    pub fn etag(self, identity: &str) -> String {
        match identity.strip_suffix('"') {
            Some(open) => format!("{open}-{}\"", self.token()),
            None => format!("{identity}-{}", self.token()),
        }
    }
}

/// The coding to use for a client that sent `accept` (the `Accept-Encoding` value, or
/// `None` when absent), among those `available`. `None` means identity.
///
/// Follows RFC 9110 §12.5.3: the highest q wins, `q=0` refuses, `*` stands for codings
/// not named; ties go to the order of `available`.
///
/// ```
/// use reactor_handlers::encoding::{negotiate, Encoding};
/// let all = &Encoding::ALL;
/// assert_eq!(negotiate(Some("gzip, br"), all), Some(Encoding::Br));
/// assert_eq!(negotiate(Some("br;q=0.5, gzip"), all), Some(Encoding::Gzip));
/// assert_eq!(negotiate(Some("*;q=0, identity"), all), None);
/// assert_eq!(negotiate(None, all), None);
/// ```
pub fn negotiate(accept: Option<&str>, available: &[Encoding]) -> Option<Encoding> {
    let accept = accept?;
    let mut star: Option<u16> = None;
    let mut named: [Option<u16>; 3] = [None; 3];
    for item in accept.split(',') {
        let mut parts = item.split(';');
        let coding = parts.next().unwrap_or("").trim();
        if coding.is_empty() {
            continue;
        }
        let mut q = 1000;
        for param in parts {
            if let Some((k, v)) = param.split_once('=') {
                if k.trim().eq_ignore_ascii_case("q") {
                    q = parse_q(v.trim()).unwrap_or(0);
                }
            }
        }
        if coding == "*" {
            star = Some(q);
        } else if let Some(e) = Encoding::ALL
            .iter()
            .find(|e| coding.eq_ignore_ascii_case(e.token()))
        {
            named[e.index()] = Some(q);
        } else if coding.eq_ignore_ascii_case("x-gzip") {
            named[Encoding::Gzip.index()].get_or_insert(q);
        }
    }
    let mut best: Option<(u16, Encoding)> = None;
    for &e in available {
        let q = named[e.index()].or(star).unwrap_or(0);
        let better = match best {
            Some((bq, _)) => q > bq,
            None => true,
        };
        if q > 0 && better {
            best = Some((q, e));
        }
    }
    best.map(|(_, e)| e)
}

/// A q-value in thousandths (`0.5` → 500); `None` when malformed.
fn parse_q(v: &str) -> Option<u16> {
    let (int, frac) = v.split_once('.').unwrap_or((v, ""));
    if frac.len() > 3 || !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let whole = match int {
        "0" => 0,
        "1" => 1000,
        _ => return None,
    };
    let mut thousandths = 0u16;
    for (i, b) in frac.bytes().enumerate() {
        thousandths += u16::from(b - b'0') * [100, 10, 1][i];
    }
    (whole + thousandths <= 1000).then_some(whole + thousandths)
}

/// True for media types that compress well: text, JavaScript, JSON, XML, SVG, wasm and
/// a few more. Images, video, audio, archives and fonts that are already compressed
/// (woff/woff2) are not.
pub fn compressible(content_type: &str) -> bool {
    thread_local! {
        /// The last type asked about and the answer: a server answers most requests with
        /// a handful of types, and comparing is cheaper than classifying.
        static LAST: RefCell<(String, bool)> = const { RefCell::new((String::new(), false)) };
    }
    let memo = |last: &mut (String, bool)| {
        if last.0 != content_type {
            let answer = classify(content_type);
            if content_type.len() > 64 {
                return answer;
            }
            last.0.clear();
            last.0.push_str(content_type);
            last.1 = answer;
        }
        last.1
    };
    LAST.with(|last| match last.try_borrow_mut() {
        Ok(mut last) => memo(&mut last),
        Err(_) => classify(content_type),
    })
}

/// [`compressible`] without the memo.
fn classify(content_type: &str) -> bool {
    let bytes = content_type.as_bytes();
    let end = bytes.iter().position(|&b| b == b';').unwrap_or(bytes.len());
    let essence = bytes[..end].trim_ascii();
    // Compared without case and without allocating (this runs per response).
    let starts = |p: &[u8]| {
        essence
            .get(..p.len())
            .is_some_and(|e| e.eq_ignore_ascii_case(p))
    };
    let ends = |s: &[u8]| {
        let from = essence.len().checked_sub(s.len());
        from.is_some_and(|i| essence[i..].eq_ignore_ascii_case(s))
    };
    if starts(b"text/") || ends(b"+json") || ends(b"+xml") {
        return true;
    }
    let mut buf = [0u8; 32]; // longer than any of the types below
    let Some(lower) = lowercase_into(essence, &mut buf) else {
        return false;
    };
    matches!(
        lower,
        b"application/javascript"
            | b"application/x-javascript"
            | b"application/ecmascript"
            | b"application/json"
            | b"application/manifest+json"
            | b"application/xml"
            | b"application/wasm"
            | b"application/x-tar"
            | b"application/rtf"
            | b"application/x-sh"
            | b"application/vnd.ms-fontobject"
            | b"font/ttf"
            | b"font/otf"
            | b"application/x-font-ttf"
            | b"image/svg+xml"
            | b"image/x-icon"
            | b"image/vnd.microsoft.icon"
            | b"image/bmp"
    )
}

/// How hard to compress.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Effort {
    /// For output computed once and cached: smaller, slower.
    Cached,
    /// For streams computed per request: fast.
    Stream,
}

/// An incremental encoder writing into a buffer that the caller drains.
pub enum Encoder {
    /// gzip through flate2.
    Gzip(flate2::write::GzEncoder<Vec<u8>>),
    /// Brotli.
    Br(Box<brotli::CompressorWriter<Vec<u8>>>),
    /// Zstandard.
    Zstd(zstd::stream::write::Encoder<'static, Vec<u8>>),
}

impl Encoder {
    /// A new encoder for `encoding`.
    pub fn new(encoding: Encoding, effort: Effort) -> io::Result<Encoder> {
        let cached = effort == Effort::Cached;
        Ok(match encoding {
            Encoding::Gzip => Encoder::Gzip(flate2::write::GzEncoder::new(
                Vec::new(),
                flate2::Compression::new(if cached { 9 } else { 6 }),
            )),
            Encoding::Br => Encoder::Br(Box::new(brotli::CompressorWriter::new(
                Vec::new(),
                16 * 1024,
                if cached { 9 } else { 4 },
                22,
            ))),
            Encoding::Zstd => Encoder::Zstd(zstd::stream::write::Encoder::new(
                Vec::new(),
                if cached { 15 } else { 3 },
            )?),
        })
    }

    /// Feeds `data` in.
    pub fn write(&mut self, data: &[u8]) -> io::Result<()> {
        match self {
            Encoder::Gzip(e) => e.write_all(data),
            Encoder::Br(e) => e.write_all(data),
            Encoder::Zstd(e) => e.write_all(data),
        }
    }

    /// Takes the output produced so far.
    pub fn take_output(&mut self) -> Vec<u8> {
        let buf = match self {
            Encoder::Gzip(e) => e.get_mut(),
            Encoder::Br(e) => e.get_mut(),
            Encoder::Zstd(e) => e.get_mut(),
        };
        std::mem::take(buf)
    }

    /// Ends the stream and returns the rest of the output.
    pub fn finish(self) -> io::Result<Vec<u8>> {
        match self {
            Encoder::Gzip(e) => e.finish(),
            Encoder::Br(mut e) => {
                e.flush()?;
                Ok(e.into_inner())
            }
            Encoder::Zstd(e) => e.finish(),
        }
    }
}

/// Compresses all of `data` at once.
pub fn compress(encoding: Encoding, effort: Effort, data: &[u8]) -> io::Result<Vec<u8>> {
    let mut e = Encoder::new(encoding, effort)?;
    e.write(data)?;
    let mut out = e.take_output();
    out.extend(e.finish()?);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    #[test]
    fn compressible_types_any_case() {
        for yes in [
            "text/html; charset=utf-8",
            "TEXT/CSS",
            "application/ld+JSON",
            " Image/SVG+XML ;q",
            "application/json",
        ] {
            assert!(compressible(yes), "{yes}");
        }
        for no in [
            "image/png",
            "application/zip",
            "",
            "+json/x",
            "font/woff2",
            "tex",
        ] {
            assert!(!compressible(no), "{no}");
        }
    }

    const ALL: &[Encoding] = &Encoding::ALL;

    #[test]
    fn q_values_pick_refuse_and_tie_break() {
        assert_eq!(negotiate(Some("gzip"), ALL), Some(Encoding::Gzip));
        assert_eq!(negotiate(Some("gzip, zstd"), ALL), Some(Encoding::Zstd));
        assert_eq!(negotiate(Some("br;q=0, gzip"), ALL), Some(Encoding::Gzip));
        assert_eq!(
            negotiate(Some("br;q=0.9, gzip;q=1.0"), ALL),
            Some(Encoding::Gzip)
        );
        assert_eq!(negotiate(Some("BR ; Q=0.001"), ALL), Some(Encoding::Br));
        assert_eq!(negotiate(Some("*"), ALL), Some(Encoding::Br));
        assert_eq!(
            negotiate(Some("*;q=0.5, br;q=0"), ALL),
            Some(Encoding::Zstd)
        );
        assert_eq!(negotiate(Some("identity"), ALL), None);
        assert_eq!(negotiate(Some(""), ALL), None);
        assert_eq!(negotiate(Some("gzip;q=2"), ALL), None, "bad q is 0");
        assert_eq!(negotiate(Some("gzip;q=0.1234"), ALL), None);
        assert_eq!(negotiate(Some("x-gzip"), ALL), Some(Encoding::Gzip));
        assert_eq!(
            negotiate(Some("br, gzip"), &[Encoding::Gzip]),
            Some(Encoding::Gzip)
        );
        assert_eq!(negotiate(Some("deflate"), ALL), None);
    }

    #[test]
    fn compressible_types() {
        for t in [
            "text/html; charset=utf-8",
            "application/javascript",
            "application/json",
            "image/svg+xml",
            "application/wasm",
            "application/ld+json",
        ] {
            assert!(compressible(t), "{t}");
        }
        for t in [
            "image/png",
            "application/zip",
            "video/mp4",
            "font/woff2",
            "",
        ] {
            assert!(!compressible(t), "{t}");
        }
    }

    #[test]
    fn variant_etags() {
        assert_eq!(Encoding::Br.etag("\"5f-10\""), "\"5f-10-br\"");
        assert_eq!(Encoding::Gzip.etag("W/\"x\""), "W/\"x-gzip\"");
    }

    #[test]
    fn every_encoder_round_trips() {
        let data: Vec<u8> = (0..200_000u32)
            .flat_map(|i| (i % 251).to_le_bytes())
            .collect();
        for e in Encoding::ALL {
            for effort in [Effort::Cached, Effort::Stream] {
                let mut enc = Encoder::new(e, effort).unwrap();
                let mut out = Vec::new();
                for chunk in data.chunks(7000) {
                    enc.write(chunk).unwrap();
                    out.extend(enc.take_output());
                }
                out.extend(enc.finish().unwrap());
                assert!(out.len() < data.len() / 4, "{e:?} compresses");
                let mut back = Vec::new();
                match e {
                    Encoding::Gzip => flate2::read::GzDecoder::new(&out[..]).read_to_end(&mut back),
                    Encoding::Br => {
                        brotli::Decompressor::new(&out[..], 4096).read_to_end(&mut back)
                    }
                    Encoding::Zstd => zstd::stream::read::Decoder::new(&out[..])
                        .unwrap()
                        .read_to_end(&mut back),
                }
                .unwrap();
                assert_eq!(back, data, "{e:?} {effort:?}");
            }
        }
    }
}
