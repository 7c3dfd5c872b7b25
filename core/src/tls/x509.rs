//! The little of X.509 the server reads itself: a certificate's expiry (`notAfter`), to
//! warn about an expired certificate at startup. A minimal DER walk; anything unexpected
//! is `None` (rustls and webpki do the real validation).

use std::time::SystemTime;

use crate::date;

/// One DER element: (tag, contents, what follows).
fn element(input: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, rest) = input.split_first()?;
    let (&first, rest) = rest.split_first()?;
    let (len, rest) = if first < 0x80 {
        (usize::from(first), rest)
    } else {
        let n = usize::from(first & 0x7f);
        if n == 0 || n > 4 || rest.len() < n {
            return None;
        }
        let len = rest[..n]
            .iter()
            .fold(0usize, |l, &b| (l << 8) | usize::from(b));
        (len, &rest[n..])
    };
    if rest.len() < len {
        return None;
    }
    Some((tag, &rest[..len], &rest[len..]))
}

const SEQUENCE: u8 = 0x30;
const UTC_TIME: u8 = 0x17;
const GENERALIZED_TIME: u8 = 0x18;
const EXPLICIT_VERSION: u8 = 0xa0;

/// The end of a DER certificate's validity period.
///
/// ```
/// // Not a certificate: no answer, no panic.
/// assert!(reactor::tls::not_after(b"\x30\x03\x02\x01\x01").is_none());
/// ```
pub fn not_after(der: &[u8]) -> Option<SystemTime> {
    let (SEQUENCE, cert, _) = element(der)? else {
        return None;
    };
    let (SEQUENCE, tbs, _) = element(cert)? else {
        return None;
    };
    let (tag, _, mut rest) = element(tbs)?;
    if tag == EXPLICIT_VERSION {
        rest = element(rest)?.2; // the serial number
    }
    rest = element(rest)?.2; // the signature algorithm
    rest = element(rest)?.2; // the issuer
    let (SEQUENCE, validity, _) = element(rest)? else {
        return None;
    };
    let (_, _, after) = element(validity)?; // notBefore
    let (tag, time, _) = element(after)?;
    parse_time(tag, time)
}

/// `YYMMDDHHMMSSZ` (UTCTime, years 1950–2049) or `YYYYMMDDHHMMSSZ` (GeneralizedTime).
fn parse_time(tag: u8, t: &[u8]) -> Option<SystemTime> {
    let (year, rest) = match tag {
        UTC_TIME if t.len() == 13 => {
            let yy = i64::from(date::digits(&t[..2])?);
            (if yy < 50 { 2000 + yy } else { 1900 + yy }, &t[2..])
        }
        GENERALIZED_TIME if t.len() == 15 => (i64::from(date::digits(&t[..4])?), &t[4..]),
        _ => return None,
    };
    if rest.last() != Some(&b'Z') {
        return None;
    }
    let two = |i: usize| date::digits(&rest[i..i + 2]);
    date::utc(year, two(0)?, two(2)?, two(4)?, two(6)?, two(8)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, UNIX_EPOCH};

    #[test]
    fn reads_the_expiry_of_a_generated_certificate() {
        let key = rcgen::KeyPair::generate().unwrap();
        let mut params = rcgen::CertificateParams::new(vec!["a.test".into()]).unwrap();
        params.not_after = rcgen::date_time_ymd(2031, 2, 3);
        let cert = params.self_signed(&key).unwrap();
        let t = not_after(cert.der()).unwrap();
        // 2031-02-03T00:00:00Z
        assert_eq!(t, UNIX_EPOCH + Duration::from_secs(1_927_843_200));
        params.not_after = rcgen::date_time_ymd(2051, 1, 1);
        let cert = params.self_signed(&key).unwrap();
        assert!(
            not_after(cert.der()).is_some(),
            "GeneralizedTime after 2049"
        );
    }

    #[test]
    fn garbage_is_none() {
        for bad in [&b""[..], b"\x30", b"\x30\x84\xff\xff\xff\xff", b"\x30\x80"] {
            assert!(not_after(bad).is_none());
        }
    }
}
