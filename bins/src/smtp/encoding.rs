//! Content and header encodings: base64 in 76-column lines, quoted-printable,
//! RFC 2047 encoded-words, RFC 2231 parameters and header folding.

use std::io::{self, Read, Write};

use base64::engine::general_purpose::STANDARD;
use base64::Engine;

/// Raw bytes per base64 line: 57 bytes become exactly 76 characters.
const B64_LINE_BYTES: usize = 57;
/// Lines encoded per read from the source (about 57 KiB of input at a time).
const B64_LINES_PER_CHUNK: usize = 1024;
/// Longest header line we produce before folding (RFC 5322 recommends 78).
const FOLD_AT: usize = 78;
/// Longest raw text (in bytes) carried by one RFC 2047 encoded-word; its
/// base64 form (60 chars) plus `=?UTF-8?B??=` stays within 75 characters.
const WORD_BYTES: usize = 45;

/// Copies `src` to `dst` as base64 lines of 76 characters separated by CRLF,
/// reading one bounded chunk at a time so the source never sits in memory.
/// No CRLF follows the last line. Returns the number of source bytes read.
pub fn copy_base64<R: Read, W: Write + ?Sized>(src: &mut R, dst: &mut W) -> io::Result<u64> {
    let mut input = vec![0u8; B64_LINE_BYTES * B64_LINES_PER_CHUNK];
    let mut line = [0u8; 80];
    let mut total = 0u64;
    let mut first = true;
    loop {
        let filled = fill(src, &mut input)?;
        if filled == 0 {
            return Ok(total);
        }
        total += filled as u64;
        for chunk in input[..filled].chunks(B64_LINE_BYTES) {
            if !first {
                dst.write_all(b"\r\n")?;
            }
            first = false;
            let n = STANDARD
                .encode_slice(chunk, &mut line)
                .map_err(|e| io::Error::other(e.to_string()))?;
            dst.write_all(&line[..n])?;
        }
        if filled < input.len() {
            return Ok(total);
        }
    }
}

/// The length of [`copy_base64`]'s output for `n` input bytes.
pub fn base64_len(n: u64) -> u64 {
    let chars = n.div_ceil(3) * 4;
    let lines = chars.div_ceil(76);
    chars + 2 * lines.saturating_sub(1)
}

/// Reads until `buf` is full or the source ends; returns the bytes read.
fn fill<R: Read>(src: &mut R, buf: &mut [u8]) -> io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match src.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

/// Encodes text as quoted-printable with CRLF hard line breaks (`\n` and
/// `\r\n` in the input both count as one) and soft breaks keeping every
/// line within 76 characters. The output never contains the sequence `=_`,
/// which is what keeps MIME boundaries starting with `=_` collision-free.
pub fn quoted_printable(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + text.len() / 8);
    let mut lines = text.split('\n').peekable();
    while let Some(raw) = lines.next() {
        let line = raw.strip_suffix('\r').unwrap_or(raw);
        qp_line(line.as_bytes(), &mut out);
        if lines.peek().is_some() {
            out.push_str("\r\n");
        }
    }
    out
}

/// Encodes one logical line (without its line break) into `out`.
fn qp_line(line: &[u8], out: &mut String) {
    let mut col = 0;
    for (i, &b) in line.iter().enumerate() {
        let last = i + 1 == line.len();
        let literal =
            matches!(b, b'!'..=b'<' | b'>'..=b'~') || (matches!(b, b' ' | b'\t') && !last);
        let width = if literal { 1 } else { 3 };
        // Keep room for the trailing `=` of a soft break (76 columns total),
        // except on the last token of the line which needs no soft break.
        let limit = if last { 76 } else { 75 };
        if col + width > limit {
            out.push_str("=\r\n");
            col = 0;
        }
        if literal {
            out.push(b as char);
        } else {
            out.push_str(&format!("={b:02X}"));
        }
        col += width;
    }
}

/// True when a header text must be sent as RFC 2047 encoded-words: it holds
/// non-ASCII or control characters, or a word too long to fold.
pub fn needs_encoded_words(text: &str) -> bool {
    text.chars()
        .any(|c| !(c == ' ' || c == '\t' || c.is_ascii_graphic()))
        || text.split([' ', '\t']).any(|w| w.len() > 60)
}

/// Encodes `text` as a space-separated run of `=?UTF-8?B?...?=` words of at
/// most 75 characters each, split on character boundaries.
pub fn encoded_words(text: &str) -> String {
    let mut words = Vec::new();
    let mut start = 0;
    let mut end = 0;
    for (i, c) in text.char_indices() {
        if i + c.len_utf8() - start > WORD_BYTES {
            words.push(encoded_word(&text[start..end]));
            start = i;
        }
        end = i + c.len_utf8();
    }
    if end > start || words.is_empty() {
        words.push(encoded_word(&text[start..end]));
    }
    words.join(" ")
}

fn encoded_word(chunk: &str) -> String {
    format!("=?UTF-8?B?{}?=", STANDARD.encode(chunk))
}

/// Encodes unstructured header text (such as a Subject): plain when it is
/// printable ASCII, otherwise RFC 2047 encoded-words.
pub fn unstructured(text: &str) -> String {
    if needs_encoded_words(text) {
        encoded_words(text)
    } else {
        text.to_string()
    }
}

/// Renders a MIME parameter as one or more `; `-separated segments: a quoted
/// string when the value is short printable ASCII, otherwise RFC 2231
/// extended (`name*=UTF-8''%..`) form, split into numbered continuations.
pub fn mime_param(name: &str, value: &str) -> String {
    if value.len() <= 60 && value.chars().all(|c| c == ' ' || c.is_ascii_graphic()) {
        let escaped = value.replace('\\', "\\\\").replace('"', "\\\"");
        return format!("{name}=\"{escaped}\"");
    }
    let mut pieces = vec![String::new()];
    for c in value.chars() {
        let mut utf8 = [0u8; 4];
        let encoded: String = c
            .encode_utf8(&mut utf8)
            .bytes()
            .map(|b| {
                if b.is_ascii_alphanumeric() || b"!#$&+-.^_`|~".contains(&b) {
                    (b as char).to_string()
                } else {
                    format!("%{b:02X}")
                }
            })
            .collect();
        let current = pieces.last_mut().expect("pieces is never empty");
        if current.len() + encoded.len() > 54 {
            pieces.push(encoded);
        } else {
            current.push_str(&encoded);
        }
    }
    if pieces.len() == 1 {
        return format!("{name}*=UTF-8''{}", pieces[0]);
    }
    pieces
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let charset = if i == 0 { "UTF-8''" } else { "" };
            format!("{name}*{i}*={charset}{p}")
        })
        .collect::<Vec<_>>()
        .join("; ")
}

/// Formats `Name: value` folded at spaces into lines of at most 78
/// characters, each continuation starting with a space, ending in CRLF.
/// The value must already be encoded (ASCII, no CR or LF).
pub fn fold_header(name: &str, value: &str) -> String {
    let mut out = format!("{name}:");
    let mut col = out.len();
    let mut pending_spaces = 1;
    for word in value.split(' ') {
        if word.is_empty() {
            pending_spaces += 1;
            continue;
        }
        if col + pending_spaces + word.len() > FOLD_AT && col > name.len() + 1 {
            out.push_str("\r\n");
            col = 0;
        }
        out.extend(std::iter::repeat_n(' ', pending_spaces));
        out.push_str(word);
        col += pending_spaces + word.len();
        pending_spaces = 1;
    }
    out.push_str("\r\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_lines_are_76_columns_with_crlf() {
        let data: Vec<u8> = (0..1000u32).map(|i| (i * 7) as u8).collect();
        let mut out = Vec::new();
        assert_eq!(copy_base64(&mut &data[..], &mut out).unwrap(), 1000);
        let text = String::from_utf8(out).unwrap();
        let lines: Vec<&str> = text.split("\r\n").collect();
        assert!(lines[..lines.len() - 1].iter().all(|l| l.len() == 76));
        assert!(!text.contains('\n') || text.matches('\n').count() == text.matches("\r\n").count());
        assert_eq!(STANDARD.decode(lines.concat()).unwrap(), data);
    }

    #[test]
    fn base64_len_predicts_output() {
        for n in [0usize, 1, 2, 3, 56, 57, 58, 114, 115, 5000, 58_369] {
            let mut out = Vec::new();
            copy_base64(&mut vec![1u8; n].as_slice(), &mut out).unwrap();
            assert_eq!(base64_len(n as u64), out.len() as u64, "n = {n}");
        }
    }

    #[test]
    fn base64_of_nothing_is_empty() {
        let mut out = Vec::new();
        copy_base64(&mut &b""[..], &mut out).unwrap();
        assert!(out.is_empty());
    }

    #[test]
    fn quoted_printable_escapes_and_wraps() {
        let qp = quoted_printable("caf\u{e9} = ok \nline2\r\n");
        assert_eq!(qp, "caf=C3=A9 =3D ok=20\r\nline2\r\n");
        let long = "x".repeat(200);
        let qp = quoted_printable(&long);
        assert!(qp.split("\r\n").all(|l| l.len() <= 76));
        assert_eq!(qp.replace("=\r\n", ""), long);
    }

    #[test]
    fn encoded_words_split_on_characters() {
        let text = "\u{1F600}".repeat(30);
        let enc = encoded_words(&text);
        for w in enc.split(' ') {
            assert!(w.len() <= 75, "{w}");
            let b64 = w.trim_start_matches("=?UTF-8?B?").trim_end_matches("?=");
            String::from_utf8(STANDARD.decode(b64).unwrap()).unwrap();
        }
    }

    #[test]
    fn params_quote_or_extend() {
        assert_eq!(
            mime_param("filename", "a \"b\".txt"),
            "filename=\"a \\\"b\\\".txt\""
        );
        assert_eq!(
            mime_param("filename", "\u{e9}.txt"),
            "filename*=UTF-8''%C3%A9.txt"
        );
        let long = mime_param("filename", &"\u{e9}".repeat(40));
        assert!(long.starts_with("filename*0*=UTF-8''%C3%A9"));
        assert!(long.contains("; filename*1*=%C3%A9"));
    }

    #[test]
    fn headers_fold_at_spaces() {
        let value = "word ".repeat(40);
        let h = fold_header("Subject", value.trim_end());
        assert!(h.ends_with("\r\n"));
        for line in h.trim_end().split("\r\n") {
            assert!(line.len() <= 78, "{line}");
        }
        assert_eq!(
            h.replace("\r\n", "").trim_end(),
            format!("Subject: {}", value.trim_end())
        );
    }
}
