//! ACME Renewal Information (ARI, RFC 9773): the CA's suggested window for renewing a
//! certificate, so that renewals spread out and follow the CA's advice (early, e.g. after
//! a revocation event, or later than a third of the lifetime).

use std::time::{Duration, SystemTime};

use ring::rand::{SecureRandom, SystemRandom};
use serde_json::Value;

use super::jws::b64u;
use reactor::tls::x509::serial_and_authority_key_id;

/// How long to wait before asking again when the CA does not say (`Retry-After`).
pub const DEFAULT_RECHECK: Duration = Duration::from_secs(6 * 3600);

/// The ARI identifier of a DER certificate: `base64url(authority key id) "."
/// base64url(serial)`, or None when the certificate lacks either.
pub fn cert_id(leaf_der: &[u8]) -> Option<String> {
    let (serial, key_id) = serial_and_authority_key_id(leaf_der)?;
    Some(id_of(key_id, serial))
}

fn id_of(key_id: &[u8], serial: &[u8]) -> String {
    format!("{}.{}", b64u(key_id), b64u(serial))
}

/// The window in which the CA suggests renewing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    /// Renew no earlier than this.
    pub start: SystemTime,
    /// Renew before this.
    pub end: SystemTime,
}

impl Window {
    /// Reads `{"suggestedWindow": {"start": RFC 3339, "end": RFC 3339}}`; None when it is
    /// missing, unreadable, or ends before it starts.
    pub fn from_json(v: &Value) -> Option<Window> {
        let w = v.get("suggestedWindow")?;
        let start = rfc3339(w.get("start")?.as_str()?)?;
        let end = rfc3339(w.get("end")?.as_str()?)?;
        (start <= end).then_some(Window { start, end })
    }

    /// A uniformly random instant in the window, or `now` when that instant has passed,
    /// as RFC 9773 §4.2 asks (so clients spread their renewals out).
    pub fn pick(&self, now: SystemTime) -> SystemTime {
        let span = self.end.duration_since(self.start).unwrap_or_default();
        let mut bytes = [0u8; 8];
        let fraction = match SystemRandom::new().fill(&mut bytes) {
            Ok(()) => u64::from_le_bytes(bytes) as f64 / u64::MAX as f64,
            Err(_) => 0.5,
        };
        (self.start + span.mul_f64(fraction)).max(now)
    }
}

/// An RFC 3339 timestamp (`2025-01-02T03:04:05Z`, with optional fractional seconds and a
/// numeric offset), whole seconds.
pub fn rfc3339(s: &str) -> Option<SystemTime> {
    let b = s.as_bytes();
    let digits = |r: std::ops::Range<usize>| -> Option<u32> {
        let part = b.get(r)?;
        if !part.iter().all(u8::is_ascii_digit) {
            return None;
        }
        std::str::from_utf8(part).ok()?.parse().ok()
    };
    if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || !matches!(b[10], b'T' | b't' | b' ') {
        return None;
    }
    if b[13] != b':' || b[16] != b':' {
        return None;
    }
    let t = reactor::date::from_civil(
        i64::from(digits(0..4)?),
        digits(5..7)?,
        digits(8..10)?,
        digits(11..13)?,
        digits(14..16)?,
        digits(17..19)?,
    )?;
    let mut rest = &b[19..];
    if rest.first() == Some(&b'.') {
        let frac = rest[1..].iter().take_while(|c| c.is_ascii_digit()).count();
        if frac == 0 {
            return None;
        }
        rest = &rest[1 + frac..];
    }
    match rest {
        [b'Z' | b'z'] => Some(t),
        [sign @ (b'+' | b'-'), h1, h2, b':', m1, m2] => {
            let num = |a: u8, b: u8| -> Option<u64> {
                (a.is_ascii_digit() && b.is_ascii_digit())
                    .then(|| u64::from(a - b'0') * 10 + u64::from(b - b'0'))
            };
            let offset = Duration::from_secs(num(*h1, *h2)? * 3600 + num(*m1, *m2)? * 60);
            // Local time minus the offset is UTC.
            match sign {
                b'+' => t.checked_sub(offset),
                _ => t.checked_add(offset),
            }
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::time::UNIX_EPOCH;

    fn at(secs: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(secs)
    }

    #[test]
    fn the_rfc_example_identifier() {
        let key_id = [
            0x69, 0x88, 0x5b, 0x6b, 0x87, 0x46, 0x40, 0x41, 0xe1, 0xb3, 0x7b, 0x84, 0x7b, 0xa0,
            0xae, 0x2c, 0xde, 0x01, 0xc8, 0xd4,
        ];
        let serial = [0x00, 0x87, 0x65, 0x43, 0x21];
        assert_eq!(
            id_of(&key_id, &serial),
            "aYhba4dGQEHhs3uEe6CuLN4ByNQ.AIdlQyE"
        );
        assert_eq!(cert_id(b"not a certificate"), None);
    }

    #[test]
    fn reads_rfc3339() {
        assert_eq!(rfc3339("2000-02-29T00:00:00Z"), Some(at(951_782_400)));
        assert_eq!(
            rfc3339("2000-02-29T00:00:00.123456Z"),
            Some(at(951_782_400))
        );
        assert_eq!(rfc3339("2000-02-29T02:30:00+02:30"), Some(at(951_782_400)));
        assert_eq!(rfc3339("2000-02-28T23:00:00-01:00"), Some(at(951_782_400)));
        for bad in [
            "",
            "2000-02-29",
            "2000-02-29T00:00:00",
            "2000-13-29T00:00:00Z",
            "2000-02-29T00:00:00.Z",
            "2000-02-29T00:00:00+0200",
            "+000-02-29T00:00:00Z",
            "2000-02-29T00:00:00Zjunk",
        ] {
            assert_eq!(rfc3339(bad), None, "{bad}");
        }
    }

    #[test]
    fn window_and_pick() {
        let v = json!({"suggestedWindow": {"start": "2000-02-29T00:00:00Z",
                                           "end": "2000-02-29T01:00:00Z"}});
        let w = Window::from_json(&v).unwrap();
        assert_eq!((w.start, w.end), (at(951_782_400), at(951_786_000)));
        for _ in 0..100 {
            let p = w.pick(at(0));
            assert!(p >= w.start && p <= w.end, "{p:?}");
        }
        // Never in the past; past the end: now.
        let half = at(951_784_200);
        assert!(w.pick(half) >= half);
        assert_eq!(w.pick(at(951_790_000)), at(951_790_000));
        let reversed = json!({"suggestedWindow": {"start": "2000-02-29T01:00:00Z",
                                                  "end": "2000-02-29T00:00:00Z"}});
        assert_eq!(Window::from_json(&reversed), None);
        assert_eq!(Window::from_json(&json!({})), None);
    }
}
