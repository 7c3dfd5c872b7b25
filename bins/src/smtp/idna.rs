//! Envelope addresses for servers without SMTPUTF8: a non-ASCII domain
//! becomes its IDNA A-label form (`xn--…`, RFC 5890/5891) with a small
//! Punycode encoder (RFC 3492). Only the encoder is needed, and only for
//! domains: the `idna` crate would bring Unicode normalisation tables
//! (ICU4X) for UTS 46 mapping, which this client limits to lower-casing
//! (a domain typed in NFC, as nearly all are, encodes the same).

const BASE: u32 = 36;
const T_MIN: u32 = 1;
const T_MAX: u32 = 26;
const SKEW: u32 = 38;
const DAMP: u32 = 700;
const INITIAL_BIAS: u32 = 72;
const INITIAL_N: u32 = 128;

fn adapt(delta: u32, points: u32, first: bool) -> u32 {
    let mut delta = if first { delta / DAMP } else { delta / 2 };
    delta += delta / points;
    let mut k = 0;
    while delta > ((BASE - T_MIN) * T_MAX) / 2 {
        delta /= BASE - T_MIN;
        k += BASE;
    }
    k + (BASE - T_MIN + 1) * delta / (delta + SKEW)
}

fn digit(d: u32) -> char {
    let d = d as u8;
    char::from(if d < 26 { b'a' + d } else { b'0' + d - 26 })
}

/// Punycode of `input` (RFC 3492 section 6.3); `None` on overflow.
pub fn punycode(input: &str) -> Option<String> {
    let points: Vec<u32> = input.chars().map(u32::from).collect();
    let mut out: String = input.chars().filter(char::is_ascii).collect();
    let basic = out.len() as u32;
    let mut handled = basic;
    if basic > 0 {
        out.push('-');
    }
    let (mut n, mut delta, mut bias) = (INITIAL_N, 0u32, INITIAL_BIAS);
    while (handled as usize) < points.len() {
        let m = points.iter().copied().filter(|&c| c >= n).min()?;
        delta = delta.checked_add((m - n).checked_mul(handled + 1)?)?;
        n = m;
        for &c in &points {
            if c < n {
                delta = delta.checked_add(1)?;
            }
            if c == n {
                let mut q = delta;
                let mut k = BASE;
                loop {
                    let t = if k <= bias {
                        T_MIN
                    } else if k >= bias + T_MAX {
                        T_MAX
                    } else {
                        k - bias
                    };
                    if q < t {
                        break;
                    }
                    out.push(digit(t + (q - t) % (BASE - t)));
                    q = (q - t) / (BASE - t);
                    k += BASE;
                }
                out.push(digit(q));
                bias = adapt(delta, handled + 1, handled == basic);
                delta = 0;
                handled += 1;
            }
        }
        delta = delta.checked_add(1)?;
        n = n.checked_add(1)?;
    }
    Some(out)
}

/// The ASCII form of a domain: each non-ASCII label lower-cased and
/// encoded as `xn--` + Punycode.
pub fn domain_to_ascii(domain: &str) -> Result<String, String> {
    let labels: Result<Vec<String>, String> = domain
        .split('.')
        .map(|label| {
            if label.is_ascii() {
                return Ok(label.to_string());
            }
            let encoded = punycode(&label.to_lowercase())
                .map(|p| format!("xn--{p}"))
                .ok_or_else(|| format!("cannot encode domain label {label:?}"))?;
            if encoded.len() > 63 {
                return Err(format!("domain label {label:?} is too long once encoded"));
            }
            Ok(encoded)
        })
        .collect();
    Ok(labels?.join("."))
}

/// The address as sent in MAIL/RCPT: as is when the server takes UTF-8
/// (`smtputf8`), else with its domain in ASCII; a non-ASCII local part
/// then has no ASCII form and is an error.
pub fn envelope_addr(addr: &str, smtputf8: bool) -> Result<String, String> {
    if smtputf8 || addr.is_ascii() {
        return Ok(addr.to_string());
    }
    let (local, domain) = addr.rsplit_once('@').unwrap_or((addr, ""));
    if !local.is_ascii() {
        return Err(format!(
            "{addr}: a non-ASCII local part needs SMTPUTF8, which the server does not offer"
        ));
    }
    Ok(format!("{local}@{}", domain_to_ascii(domain)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3492_samples() {
        // RFC 3492 section 7.1 (A) Arabic, (B) Chinese, (L) Japanese mixed.
        let samples = [
            ("ليهمابتكلموشعربي؟", "egbpdaj6bu4bxfgehfvwxn"),
            ("他们为什么不说中文", "ihqwcrb4cv8a8dqg056pqjye"),
            ("3年B組金八先生", "3B-ww4c5e180e575a65lsy2b"),
            ("bücher", "bcher-kva"),
            ("münchen", "mnchen-3ya"),
        ];
        for (input, want) in samples {
            assert_eq!(punycode(input).as_deref(), Some(want), "{input}");
        }
    }

    #[test]
    fn envelope_forms() {
        assert_eq!(
            envelope_addr("a@Bücher.example", false),
            Ok("a@xn--bcher-kva.example".into())
        );
        assert_eq!(
            envelope_addr("a@bücher.example", true),
            Ok("a@bücher.example".into())
        );
        assert_eq!(envelope_addr("a@x.org", false), Ok("a@x.org".into()));
        assert!(envelope_addr("zoë@x.org", false)
            .unwrap_err()
            .contains("SMTPUTF8"));
        assert!(domain_to_ascii(&"ü".repeat(60)).is_err());
    }
}
