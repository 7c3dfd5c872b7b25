//! Telling TLS from plaintext on a TLS port by the first bytes (nginx does the same to
//! answer plain HTTP with a readable 400 rather than a TLS alert).

/// What the first bytes of a connection say.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sniff {
    /// Nothing received yet.
    NeedMore,
    /// A TLS handshake record (content type 22).
    Tls,
    /// Anything else: plaintext (HTTP, most likely) or garbage.
    Plain,
}

/// Classifies a connection by its first bytes: a TLS record of a handshake starts with
/// the byte 0x16.
///
/// ```
/// use reactor::tls::{sniff, Sniff};
/// assert_eq!(sniff(b"\x16\x03\x01\x02\x00"), Sniff::Tls);
/// assert_eq!(sniff(b"GET / HTTP/1.1\r\n"), Sniff::Plain);
/// assert_eq!(sniff(b""), Sniff::NeedMore);
/// ```
pub fn sniff(first: &[u8]) -> Sniff {
    match first.first() {
        None => Sniff::NeedMore,
        Some(0x16) => Sniff::Tls,
        Some(_) => Sniff::Plain,
    }
}
