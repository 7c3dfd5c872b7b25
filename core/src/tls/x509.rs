//! The little of X.509 the server reads itself: a certificate's validity period
//! (RFC 5280 §4.1.2.5), to warn about an expired certificate at startup and to schedule
//! ACME renewals. A minimal DER walk; anything unexpected is `None` (rustls and webpki do
//! the real validation).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// When a certificate starts and stops being valid.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Validity {
    /// notBefore.
    pub not_before: SystemTime,
    /// notAfter.
    pub not_after: SystemTime,
}

impl Validity {
    /// The point at which to renew: when `before` is left, or by default when a third of
    /// the lifetime is left (Let's Encrypt's advice).
    pub fn renew_at(&self, before: Option<Duration>) -> SystemTime {
        let lifetime = self
            .not_after
            .duration_since(self.not_before)
            .unwrap_or_default();
        let margin = before.unwrap_or(lifetime / 3);
        self.not_after
            .checked_sub(margin)
            .unwrap_or(self.not_before)
    }
}

/// The end of a DER certificate's validity period.
///
/// ```
/// // Not a certificate: no answer, no panic.
/// assert!(reactor::tls::not_after(b"\x30\x03\x02\x01\x01").is_none());
/// ```
pub fn not_after(der: &[u8]) -> Option<SystemTime> {
    validity(der).map(|v| v.not_after)
}

/// The validity of a DER certificate, or None when the DER is not a certificate.
pub fn validity(der: &[u8]) -> Option<Validity> {
    let (cert, _) = element(der, 0x30)?;
    let (mut tbs, _) = element(cert, 0x30)?;
    // [0] version, optional.
    if tbs.first() == Some(&0xa0) {
        tbs = skip(tbs)?;
    }
    tbs = skip(tbs)?; // serialNumber
    tbs = skip(tbs)?; // signature AlgorithmIdentifier
    tbs = skip(tbs)?; // issuer
    let (validity, _) = element(tbs, 0x30)?;
    let (not_before, rest) = time(validity)?;
    let (not_after, _) = time(rest)?;
    Some(Validity {
        not_before,
        not_after,
    })
}

/// The content of the element at the start of `der` if its tag is `tag`, and what follows.
fn element(der: &[u8], tag: u8) -> Option<(&[u8], &[u8])> {
    if *der.first()? != tag {
        return None;
    }
    let (len, header): (usize, usize) = match *der.get(1)? {
        n if n < 0x80 => (n as usize, 2),
        0x81 => (*der.get(2)? as usize, 3),
        0x82 => (u16::from_be_bytes([*der.get(2)?, *der.get(3)?]) as usize, 4),
        0x83 => (
            u32::from_be_bytes([0, *der.get(2)?, *der.get(3)?, *der.get(4)?]) as usize,
            5,
        ),
        _ => return None,
    };
    let end = header.checked_add(len)?;
    Some((der.get(header..end)?, der.get(end..)?))
}

/// Skips the element at the start of `der`, whatever its tag.
fn skip(der: &[u8]) -> Option<&[u8]> {
    let tag = *der.first()?;
    element(der, tag).map(|(_, rest)| rest)
}

/// A UTCTime (`YYMMDDHHMMSSZ`) or GeneralizedTime (`YYYYMMDDHHMMSSZ`).
fn time(der: &[u8]) -> Option<(SystemTime, &[u8])> {
    let (tag, digits_year) = match der.first()? {
        0x17 => (0x17, 2),
        0x18 => (0x18, 4),
        _ => return None,
    };
    let (text, rest) = element(der, tag)?;
    if text.len() != digits_year + 11 || text.last() != Some(&b'Z') {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<i64> {
        std::str::from_utf8(text.get(r)?).ok()?.parse().ok()
    };
    let mut year = num(0..digits_year)?;
    if digits_year == 2 {
        year += if year >= 50 { 1900 } else { 2000 };
    }
    let at = digits_year;
    let (month, day) = (num(at..at + 2)?, num(at + 2..at + 4)?);
    let (h, m, s) = (
        num(at + 4..at + 6)?,
        num(at + 6..at + 8)?,
        num(at + 8..at + 10)?,
    );
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) || h > 23 || m > 59 || s > 60 {
        return None;
    }
    let secs = days_from_civil(year, month, day) * 86_400 + h * 3600 + m * 60 + s;
    let t = if secs >= 0 {
        UNIX_EPOCH + Duration::from_secs(secs as u64)
    } else {
        UNIX_EPOCH - Duration::from_secs(secs.unsigned_abs())
    };
    Some((t, rest))
}

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_rcgen_validity() {
        let mut params = rcgen::CertificateParams::new(vec!["a.test".to_string()]).unwrap();
        params.not_before = rcgen::date_time_ymd(2024, 2, 29);
        params.not_after = rcgen::date_time_ymd(2051, 1, 1);
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = params.self_signed(&key).unwrap();
        let v = validity(cert.der()).unwrap();
        let secs = |t: SystemTime| t.duration_since(UNIX_EPOCH).unwrap().as_secs();
        assert_eq!(secs(v.not_before), 1_709_164_800); // 2024-02-29T00:00:00Z
        assert_eq!(secs(v.not_after), 2_556_144_000); // 2051-01-01T00:00:00Z (GeneralizedTime)
        let third = v.renew_at(None);
        assert!(third < v.not_after && third > v.not_before);
        assert_eq!(
            v.renew_at(Some(Duration::from_secs(10))),
            v.not_after - Duration::from_secs(10)
        );
    }

    #[test]
    fn garbage_is_none() {
        assert_eq!(validity(b""), None);
        assert_eq!(validity(&[0x30, 0x82, 0xff]), None);
        assert_eq!(validity(&[0x30, 0x03, 0x30, 0x01, 0x00]), None);
    }
}
