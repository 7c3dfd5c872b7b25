//! The textbook pinger's wire format: `Ping <seq> <send time>`.
//!
//! The send time is wall-clock seconds since the Unix epoch with microsecond
//! precision (`1700000000.123456`). Requests may be padded to a requested
//! size; the padding is a space followed by lowercase letters. Replies are
//! recognised case-insensitively, because the textbook server uppercases
//! what it echoes while an RFC 862 server echoes bytes unchanged.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Builds the datagram for sequence number `seq` sent at wall-clock `sent`,
/// padded to `size` bytes when the bare message is shorter.
///
/// ```
/// use reactor_bins::ping::wire::{encode, parse};
/// use std::time::{Duration, UNIX_EPOCH};
/// let msg = encode(7, UNIX_EPOCH + Duration::from_micros(1_500_000), 0);
/// assert_eq!(msg, b"Ping 7 1.500000");
/// assert_eq!(encode(7, UNIX_EPOCH, 40).len(), 40);
/// assert_eq!(parse(b"PING 7 1.500000").map(|m| m.seq), Some(7));
/// ```
pub fn encode(seq: u64, sent: SystemTime, size: usize) -> Vec<u8> {
    let since = sent.duration_since(UNIX_EPOCH).unwrap_or_default();
    let mut msg = format!(
        "Ping {} {}.{:06}",
        seq,
        since.as_secs(),
        since.subsec_micros()
    )
    .into_bytes();
    if msg.len() < size {
        msg.push(b' ');
        let fill = (b'a'..=b'z').cycle().take(size - msg.len());
        msg.extend(fill);
    }
    msg
}

/// A parsed ping message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Message {
    /// Sequence number.
    pub seq: u64,
    /// Send time as wall-clock time since the Unix epoch, when present and valid.
    pub sent: Option<Duration>,
}

/// Parses a ping message (request or echoed reply), ignoring case and padding.
/// Returns `None` for anything that is not a ping message.
pub fn parse(datagram: &[u8]) -> Option<Message> {
    let mut words = datagram
        .split(u8::is_ascii_whitespace)
        .filter(|w| !w.is_empty());
    if !words.next()?.eq_ignore_ascii_case(b"ping") {
        return None;
    }
    let seq = parse_digits(words.next()?)?;
    let sent = words.next().and_then(parse_time);
    Some(Message { seq, sent })
}

/// Parses a non-empty run of ASCII digits.
fn parse_digits(word: &[u8]) -> Option<u64> {
    if word.is_empty() || !word.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(word).ok()?.parse().ok()
}

/// Parses `SECS[.FRACTION]`, keeping microsecond precision.
fn parse_time(word: &[u8]) -> Option<Duration> {
    let (secs, frac) = match word.iter().position(|&b| b == b'.') {
        Some(dot) => (&word[..dot], &word[dot + 1..]),
        None => (word, &b""[..]),
    };
    let secs = parse_digits(secs)?;
    let mut micros = 0u32;
    for i in 0..6 {
        let digit = match frac.get(i) {
            Some(d) if d.is_ascii_digit() => u32::from(d - b'0'),
            Some(_) => return None,
            None => 0,
        };
        micros = micros * 10 + digit;
    }
    if frac.iter().skip(6).any(|d| !d.is_ascii_digit()) {
        return None;
    }
    Some(Duration::from_secs(secs) + Duration::from_micros(u64::from(micros)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn uppercased_and_padded_replies_parse() {
        let msg = encode(42, UNIX_EPOCH + Duration::from_micros(12_345_678), 64);
        assert_eq!(msg.len(), 64);
        let upper = msg.to_ascii_uppercase();
        let parsed = parse(&upper).expect("reply");
        assert_eq!(parsed.seq, 42);
        assert_eq!(parsed.sent, Some(Duration::from_micros(12_345_678)));
    }

    #[test]
    fn short_size_leaves_message_unpadded() {
        assert_eq!(encode(1, UNIX_EPOCH, 3), b"Ping 1 0.000000");
    }

    #[test]
    fn non_replies_are_rejected() {
        for bad in [
            &b""[..],
            b"Pong 1 2",
            b"Ping",
            b"Ping x 1",
            b"Ping -1",
            b"\xff\xfe",
        ] {
            assert_eq!(parse(bad), None, "{:?}", bad);
        }
        assert_eq!(
            parse(b"ping 3 garbage").map(|m| (m.seq, m.sent)),
            Some((3, None))
        );
    }

    proptest! {
        #[test]
        fn round_trip(seq in any::<u64>(), micros in 0u64..4_000_000_000_000_000, size in 0usize..200) {
            let sent = UNIX_EPOCH + Duration::from_micros(micros);
            let msg = encode(seq, sent, size);
            prop_assert!(msg.len() >= size);
            let parsed = parse(&msg).unwrap();
            prop_assert_eq!(parsed.seq, seq);
            prop_assert_eq!(parsed.sent, Some(Duration::from_micros(micros)));
        }

        #[test]
        fn parse_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
            let _ = parse(&bytes);
        }
    }
}
