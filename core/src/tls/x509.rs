//! The little of X.509 the server reads itself: a certificate's validity period
//! (RFC 5280 §4.1.2.5), to warn about an expired certificate at startup and to schedule
//! ACME renewals. A minimal DER walk; anything unexpected is `None` (rustls and webpki do
//! the real validation).

use std::time::{Duration, SystemTime};

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
    let month = u32::try_from(num(at..at + 2)?).ok()?;
    let day = u32::try_from(num(at + 2..at + 4)?).ok()?;
    let h = u32::try_from(num(at + 4..at + 6)?).ok()?;
    let m = u32::try_from(num(at + 6..at + 8)?).ok()?;
    let s = u32::try_from(num(at + 8..at + 10)?).ok()?;
    Some((crate::date::from_civil(year, month, day, h, m, s)?, rest))
}

/// A certificate's serial number (the DER INTEGER's content bytes, leading zero kept)
/// and its authority key identifier (RFC 5280 §4.2.1.1), as ACME renewal information
/// (RFC 9773) names the certificate. None when either is missing.
pub fn serial_and_authority_key_id(der: &[u8]) -> Option<(&[u8], &[u8])> {
    let (cert, _) = element(der, 0x30)?;
    let (mut tbs, _) = element(cert, 0x30)?;
    if tbs.first() == Some(&0xa0) {
        tbs = skip(tbs)?;
    }
    let (serial, rest) = element(tbs, 0x02)?;
    // signature, issuer, validity, subject, subjectPublicKeyInfo.
    let mut rest = rest;
    for _ in 0..5 {
        rest = skip(rest)?;
    }
    // Optional [1] and [2] unique identifiers, then [3] extensions.
    while let Some(&tag) = rest.first() {
        if tag == 0xa3 {
            let (explicit, _) = element(rest, 0xa3)?;
            let (mut exts, _) = element(explicit, 0x30)?;
            while !exts.is_empty() {
                let (ext, next) = element(exts, 0x30)?;
                exts = next;
                let (oid, mut body) = element(ext, 0x06)?;
                if oid != [0x55, 0x1d, 0x23] {
                    continue; // not 2.5.29.35, authorityKeyIdentifier
                }
                if body.first() == Some(&0x01) {
                    body = skip(body)?; // critical
                }
                let (value, _) = element(body, 0x04)?;
                let (aki, _) = element(value, 0x30)?;
                let (key_id, _) = element(aki, 0x80)?;
                return Some((serial, key_id));
            }
            return None;
        }
        rest = skip(rest)?;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::UNIX_EPOCH;

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
    fn reads_serial_and_authority_key_id() {
        // The values of RFC 9773's example certificate identifier.
        let aki = vec![
            0x69, 0x88, 0x5b, 0x6b, 0x87, 0x46, 0x40, 0x41, 0xe1, 0xb3, 0x7b, 0x84, 0x7b, 0xa0,
            0xae, 0x2c, 0xde, 0x01, 0xc8, 0xd4,
        ];
        let mut ca = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        ca.key_identifier_method = rcgen::KeyIdMethod::PreSpecified(aki.clone());
        let ca_key = rcgen::KeyPair::generate().unwrap();
        let issuer = rcgen::Issuer::new(ca, ca_key);
        let mut leaf = rcgen::CertificateParams::new(vec!["a.test".to_string()]).unwrap();
        leaf.serial_number = Some(rcgen::SerialNumber::from(vec![
            0x00, 0x87, 0x65, 0x43, 0x21,
        ]));
        leaf.use_authority_key_identifier_extension = true;
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = leaf.signed_by(&key, &issuer).unwrap();
        let (serial, key_id) = serial_and_authority_key_id(cert.der()).unwrap();
        assert_eq!(serial, [0x00, 0x87, 0x65, 0x43, 0x21]);
        assert_eq!(key_id, &aki[..]);
        // A self-signed certificate without the extension has no identifier.
        let plain = rcgen::CertificateParams::new(vec!["b.test".to_string()])
            .unwrap()
            .self_signed(&key)
            .unwrap();
        assert_eq!(serial_and_authority_key_id(plain.der()), None);
        assert_eq!(serial_and_authority_key_id(b"\x30\x00"), None);
    }

    #[test]
    fn garbage_is_none() {
        assert_eq!(validity(b""), None);
        assert_eq!(validity(&[0x30, 0x82, 0xff]), None);
        assert_eq!(validity(&[0x30, 0x03, 0x30, 0x01, 0x00]), None);
    }
}
