//! Unpredictable tokens for MIME boundaries and Message-IDs, from
//! `/dev/urandom`.

use std::fs::File;
use std::io::{self, Read};

/// `bytes` random bytes rendered as lowercase hex.
pub fn hex_token(bytes: usize) -> io::Result<String> {
    let mut buf = vec![0u8; bytes];
    File::open("/dev/urandom")?.read_exact(&mut buf)?;
    Ok(buf.iter().map(|b| format!("{b:02x}")).collect())
}
