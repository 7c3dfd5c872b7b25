//! Case-insensitive comparison of ASCII field names, eight bytes at a time, and lower-case
//! copies without allocating.
//!
//! Every header lookup compares names without case; the standard library's
//! `eq_ignore_ascii_case` folds one byte at a time, which made name comparisons a
//! measurable share of a small request. This folds a whole word with a few integer
//! operations. Bytes outside ASCII are compared as they are, as the standard one does.

/// True when `a` and `b` are equal ignoring ASCII case.
///
/// ```
/// use reactor::ascii::eq_ignore_case;
/// assert!(eq_ignore_case(b"Content-Type", b"content-type"));
/// assert!(!eq_ignore_case(b"Content-Type", b"content-typo"));
/// assert!(!eq_ignore_case(b"[", b"{"));
/// ```
#[inline]
pub fn eq_ignore_case(a: &[u8], b: &[u8]) -> bool {
    let n = a.len();
    if n != b.len() {
        return false;
    }
    if n < 8 {
        return a.eq_ignore_ascii_case(b);
    }
    let mut i = 0;
    while i + 8 <= n {
        if fold(word(a, i)) != fold(word(b, i)) {
            return false;
        }
        i += 8;
    }
    // The last word may overlap the one before: comparing bytes twice is harmless.
    i == n || fold(word(a, n - 8)) == fold(word(b, n - 8))
}

/// `s` lower-cased into `buf`, without allocating (for looking a name up in a table of
/// lower-case ones); `None` when `s` is longer than `buf`.
///
/// ```
/// use reactor::ascii::lowercase_into;
/// let mut buf = [0u8; 16];
/// assert_eq!(lowercase_into(b"Example.ORG", &mut buf), Some(&b"example.org"[..]));
/// assert_eq!(lowercase_into(&[b'x'; 17], &mut buf), None);
/// ```
pub fn lowercase_into<'b>(s: &[u8], buf: &'b mut [u8]) -> Option<&'b [u8]> {
    let out = buf.get_mut(..s.len())?;
    out.copy_from_slice(s);
    out.make_ascii_lowercase();
    Some(out)
}

/// The eight bytes of `s` from `at`.
#[inline]
fn word(s: &[u8], at: usize) -> u64 {
    let mut w = [0u8; 8];
    w.copy_from_slice(&s[at..at + 8]);
    u64::from_le_bytes(w)
}

/// Every byte of `x` in `A..=Z` turned into lower case; all others unchanged.
#[inline]
fn fold(x: u64) -> u64 {
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let low7 = x & !HIGH;
    // Per byte, the high bit of `low7 + (0x80 - c)` says `low7 >= c`; no carry crosses
    // bytes (0x7f + 0x3f < 0x100).
    let at_least_a = low7.wrapping_add(0x3f3f_3f3f_3f3f_3f3f); // 0x80 - b'A'
    let past_z = low7.wrapping_add(0x2525_2525_2525_2525); // 0x80 - (b'Z' + 1)
    let upper = at_least_a & !past_z & !x & HIGH;
    x | (upper >> 2)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn agrees_with_the_standard_comparison_on_every_byte_pair() {
        for a in 0..=255u8 {
            for b in 0..=255u8 {
                // Each byte at each position of a word, with a longer tail.
                for at in [0, 3, 7, 8, 12] {
                    let mut x = *b"content-type-ish";
                    let mut y = x;
                    x[at] = a;
                    y[at] = b;
                    assert_eq!(
                        eq_ignore_case(&x, &y),
                        x.eq_ignore_ascii_case(&y),
                        "{a:#x} {b:#x} at {at}"
                    );
                }
            }
        }
        assert!(eq_ignore_case(b"TRANSFER-ENCODING", b"transfer-encoding"));
        assert!(!eq_ignore_case(b"transfer-encoding", b"transfer-encodinG2"));
    }
}
