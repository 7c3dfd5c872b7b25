//! Apache `htpasswd` files: parse once, verify user/password pairs against them.
//!
//! Supported hash schemes, as `htpasswd` (apache2-utils) writes them: bcrypt
//! (`$2y$`, `$2b$`, `$2a$`; `-B`), apr1 MD5-crypt (`$apr1$`; the default, `-m`) and
//! SHA-crypt (`$5$` SHA-256, `-2`; `$6$` SHA-512, `-5`). bcrypt and SHA-crypt come from
//! the `pwhash` crate; apr1 (MD5-crypt with Apache's magic string, which `pwhash` does
//! not know) is computed here on the `md-5` crate. Other schemes (plain text, `{SHA}`,
//! DES crypt) are refused: a user whose hash is in one of them never verifies.
//! Every comparison of a computed hash with the stored one is constant-time.

use std::collections::HashMap;
use std::io;
use std::path::Path;

use md5::{Digest, Md5};

/// The users of an htpasswd file and their password hashes.
///
/// ```
/// use reactor_handlers::htpasswd::Htpasswd;
///
/// // Made with `htpasswd -nbm alice 's3cret pass'`.
/// let users = Htpasswd::parse("alice:$apr1$yNX36u4m$eEj0HDTOrluFGtRFZbXCi0\n");
/// assert!(users.verify("alice", "s3cret pass"));
/// assert!(!users.verify("alice", "wrong"));
/// assert!(!users.verify("mallory", "s3cret pass"));
/// ```
#[derive(Debug, Clone, Default)]
pub struct Htpasswd {
    users: HashMap<String, String>,
}

impl Htpasswd {
    /// Reads and parses the file at `path` (see [`Htpasswd::parse`]).
    pub fn load(path: &Path) -> io::Result<Htpasswd> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", path.display())))?;
        Ok(Htpasswd::parse(&text))
    }

    /// Parses `user:hash` lines. Blank lines and lines starting with `#` are skipped, and
    /// so are lines without a `:` or with an empty user name. A later line for the same
    /// user replaces an earlier one.
    pub fn parse(text: &str) -> Htpasswd {
        let mut users = HashMap::new();
        for line in text.lines() {
            let line = line.trim_end_matches('\r');
            if line.trim().is_empty() || line.starts_with('#') {
                continue;
            }
            if let Some((user, hash)) = line.split_once(':') {
                if !user.is_empty() {
                    users.insert(user.to_string(), hash.trim().to_string());
                }
            }
        }
        Htpasswd { users }
    }

    /// The number of users.
    pub fn len(&self) -> usize {
        self.users.len()
    }

    /// True when the file had no usable line.
    pub fn is_empty(&self) -> bool {
        self.users.is_empty()
    }

    /// True when `user` is listed and `password` matches their hash. bcrypt is slow by
    /// design (milliseconds): callers on an event loop run this on a worker pool.
    pub fn verify(&self, user: &str, password: &str) -> bool {
        match self.users.get(user) {
            Some(hash) => verify_hash(password, hash),
            None => false,
        }
    }

    /// True when `user`'s hash is bcrypt or SHA-crypt, whose check takes milliseconds
    /// (callers on an event loop send these to a pool and may verify apr1 inline).
    pub fn is_slow(&self, user: &str) -> bool {
        self.users
            .get(user)
            .is_some_and(|h| h.starts_with("$2") || h.starts_with("$5$") || h.starts_with("$6$"))
    }
}

/// Checks `password` against one stored hash, whatever its (supported) scheme.
pub fn verify_hash(password: &str, hash: &str) -> bool {
    if hash.starts_with("$2a$") || hash.starts_with("$2b$") || hash.starts_with("$2y$") {
        pwhash::bcrypt::verify(password, hash)
    } else if hash.starts_with("$5$") {
        pwhash::sha256_crypt::verify(password, hash)
    } else if hash.starts_with("$6$") {
        pwhash::sha512_crypt::verify(password, hash)
    } else if let Some(rest) = hash.strip_prefix(APR1_MAGIC) {
        match rest.split_once('$') {
            Some((salt, _)) => constant_time_eq(apr1(password, salt).as_bytes(), hash.as_bytes()),
            None => false,
        }
    } else {
        false
    }
}

/// Compares two byte strings in time that depends only on their lengths.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

const APR1_MAGIC: &str = "$apr1$";

/// The alphabet of crypt's base-64 encoding.
const CRYPT64: &[u8; 64] = b"./0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// Apache's MD5-crypt (`$apr1$salt$digest`): the FreeBSD MD5-crypt algorithm with the
/// magic string `$apr1$`. The salt is at most 8 characters.
fn apr1(password: &str, salt: &str) -> String {
    let pw = password.as_bytes();
    let salt = &salt.as_bytes()[..salt.len().min(8)];

    let alternate = Md5::new()
        .chain_update(pw)
        .chain_update(salt)
        .chain_update(pw)
        .finalize();

    let mut ctx = Md5::new()
        .chain_update(pw)
        .chain_update(APR1_MAGIC)
        .chain_update(salt);
    for chunk in pw.chunks(16) {
        ctx.update(&alternate[..chunk.len()]);
    }
    let mut n = pw.len();
    while n > 0 {
        if n & 1 == 1 {
            ctx.update([0u8]);
        } else {
            ctx.update(&pw[..1]);
        }
        n >>= 1;
    }
    let mut digest = ctx.finalize();

    for round in 0..1000 {
        let mut ctx = Md5::new();
        if round % 2 == 1 {
            ctx.update(pw);
        } else {
            ctx.update(digest);
        }
        if round % 3 != 0 {
            ctx.update(salt);
        }
        if round % 7 != 0 {
            ctx.update(pw);
        }
        if round % 2 == 1 {
            ctx.update(digest);
        } else {
            ctx.update(pw);
        }
        digest = ctx.finalize();
    }

    let mut out = String::with_capacity(37);
    out.push_str(APR1_MAGIC);
    out.push_str(&String::from_utf8_lossy(salt));
    out.push('$');
    let d = digest.as_slice();
    for (a, b, c) in [(0, 6, 12), (1, 7, 13), (2, 8, 14), (3, 9, 15), (4, 10, 5)] {
        crypt64(
            &mut out,
            (u32::from(d[a]) << 16) | (u32::from(d[b]) << 8) | u32::from(d[c]),
            4,
        );
    }
    crypt64(&mut out, u32::from(d[11]), 2);
    out
}

/// Appends the `chars` low 6-bit groups of `v` in crypt's base-64, least significant first.
fn crypt64(out: &mut String, mut v: u32, chars: usize) {
    for _ in 0..chars {
        out.push(char::from(CRYPT64[(v & 0x3f) as usize]));
        v >>= 6;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // All made by apache2-utils: `htpasswd -nb[m|B|2|5] alice 's3cret pass'` and
    // `htpasswd -nbB bob 'pw:with:colons'`.
    const FILE: &str = "\
# users of the test site
alice:$apr1$yNX36u4m$eEj0HDTOrluFGtRFZbXCi0
bcrypt:$2y$05$RfQ6dz/RYs2REUhivqVuVelq2c5.Km5E6SX5OqMLA7AJ38dQlwfVS
sha256:$5$Vqy7uQAD/akAS.Fx$ukGzZ8O9lX370sgiFx2OSeh0mCHdYDV2A3e5jXhdtH8
sha512:$6$quLUWHC1IsduZCbM$momPzbf5Uz2lPfn2ntAiMOQwofgWfpAGiUZW.iGnlAdiKn8/MsYieGiBVJ75ZhqSAhO96rFIi0xwiZjwual8H.\r
bob:$2y$05$J4zi0If50/VrkhXnNrdqZei/RevTOS83Bbb5Gh01eZXZ0WSxsEZt2

not a user line
:$apr1$yNX36u4m$eEj0HDTOrluFGtRFZbXCi0
plain:s3cret pass
";

    #[test]
    fn every_scheme_verifies_the_right_password_only() {
        let h = Htpasswd::parse(FILE);
        for user in ["alice", "bcrypt", "sha256", "sha512"] {
            assert!(h.verify(user, "s3cret pass"), "{user}");
            assert!(!h.verify(user, "s3cret pas"), "{user}");
            assert!(!h.verify(user, "s3cret pass "), "{user}");
            assert!(!h.verify(user, ""), "{user}");
        }
        assert!(h.verify("bob", "pw:with:colons"));
        assert!(!h.verify("bob", "pw"));
    }

    #[test]
    fn bcrypt_variants_2a_2b_2y_are_the_same_hash() {
        let hash = "$2y$05$RfQ6dz/RYs2REUhivqVuVelq2c5.Km5E6SX5OqMLA7AJ38dQlwfVS";
        for v in ["$2a$", "$2b$", "$2y$"] {
            let h = format!("{v}{}", &hash[4..]);
            assert!(verify_hash("s3cret pass", &h), "{v}");
        }
    }

    #[test]
    fn unknown_users_bad_lines_and_plain_text_never_verify() {
        let h = Htpasswd::parse(FILE);
        assert_eq!(
            h.len(),
            6,
            "comments, blanks, no-colon and empty-user lines skipped"
        );
        assert!(!h.verify("mallory", "s3cret pass"));
        assert!(!h.verify("", "s3cret pass"));
        assert!(!h.verify("plain", "s3cret pass"), "plain text is refused");
        assert!(!verify_hash("x", "$apr1$nodollar"));
        assert!(!verify_hash("x", "$2y$05$short"));
        assert!(!verify_hash("x", "$6$"));
        assert!(!verify_hash("x", ""));
    }

    #[test]
    fn apr1_matches_apache_for_long_and_empty_passwords() {
        // `htpasswd -nbm u 'a password longer than sixteen bytes, by far'` and `-nbm e ''`.
        assert!(verify_hash(
            "a password longer than sixteen bytes, by far",
            "$apr1$rjJQTR1i$RW7TZbGvaDj3EU9ozeZHQ/"
        ));
        assert!(verify_hash("", "$apr1$zFFj0GSw$9zXa1MEnicVvfS7taSTvf1"));
    }

    #[test]
    fn load_reads_a_file_and_names_it_in_errors() {
        let dir = std::env::temp_dir().join(format!("htpasswd-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("users");
        std::fs::write(&path, FILE).unwrap();
        assert!(Htpasswd::load(&path)
            .unwrap()
            .verify("alice", "s3cret pass"));
        let missing = dir.join("missing");
        let err = Htpasswd::load(&missing).unwrap_err();
        assert!(err.to_string().contains("missing"), "{err}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn constant_time_eq_compares_whole_strings() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"ab"));
        assert!(constant_time_eq(b"", b""));
    }
}
