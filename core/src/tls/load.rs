//! Reading a certificate chain and its private key from PEM files, with the checks a
//! server should make before it serves them.

use std::fmt;
use std::path::Path;
use std::sync::Arc;
use std::time::SystemTime;

use rustls::crypto::ring;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::sign::CertifiedKey;

/// Why a certificate/key pair cannot be used: one line, naming the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoadError(pub String);

impl fmt::Display for LoadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for LoadError {}

/// A certificate/key pair ready to serve.
#[derive(Debug)]
pub struct Loaded {
    /// The chain and the signing key.
    pub key: Arc<CertifiedKey>,
    /// When the leaf certificate expires (if its validity could be read).
    pub not_after: Option<SystemTime>,
}

impl Loaded {
    /// True when the leaf certificate has expired (serving it still works; clients will
    /// complain).
    pub fn is_expired(&self) -> bool {
        self.not_after.is_some_and(|t| t < SystemTime::now())
    }
}

/// Reads a PEM certificate chain (leaf first) and its private key (PKCS#8, PKCS#1 RSA or
/// SEC1 EC) and checks that the key belongs to the certificate.
///
/// ```no_run
/// let pair = reactor::tls::load_pair("cert.pem".as_ref(), "key.pem".as_ref())?;
/// if pair.is_expired() {
///     eprintln!("warning: cert.pem has expired");
/// }
/// # Ok::<(), reactor::tls::LoadError>(())
/// ```
pub fn load_pair(cert: &Path, key: &Path) -> Result<Loaded, LoadError> {
    let c = cert.display();
    let k = key.display();
    let chain = CertificateDer::pem_file_iter(cert)
        .map_err(|e| LoadError(format!("cannot read certificate {c}: {}", pem_error(&e))))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| LoadError(format!("cannot read certificate {c}: {}", pem_error(&e))))?;
    let Some(leaf) = chain.first() else {
        return Err(LoadError(format!("no certificate in {c}")));
    };
    let not_after = super::not_after(leaf);
    let der = PrivateKeyDer::from_pem_file(key)
        .map_err(|e| LoadError(format!("cannot read private key {k}: {}", pem_error(&e))))?;
    let signing = ring::default_provider()
        .key_provider
        .load_private_key(der)
        .map_err(|e| LoadError(format!("unusable private key {k}: {e}")))?;
    let pair = CertifiedKey::new(chain, signing);
    match pair.keys_match() {
        Err(rustls::Error::InconsistentKeys(rustls::InconsistentKeys::KeyMismatch)) => {
            return Err(LoadError(format!(
                "private key {k} does not match certificate {c}"
            )))
        }
        Err(rustls::Error::InconsistentKeys(rustls::InconsistentKeys::Unknown)) | Ok(()) => {}
        Err(e) => return Err(LoadError(format!("certificate {c}: {e}"))),
    }
    Ok(Loaded {
        key: Arc::new(pair),
        not_after,
    })
}

fn pem_error(e: &rustls::pki_types::pem::Error) -> String {
    use rustls::pki_types::pem::Error;
    match e {
        Error::Io(io) => io.to_string(),
        Error::NoItemsFound => "no PEM section of the expected kind".into(),
        other => format!("malformed PEM ({other:?})"),
    }
}
