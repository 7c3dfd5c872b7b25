//! TLS with rustls (ring provider): certificates verified against the
//! webpki roots plus an optional private CA or self-signed certificate, or
//! pinned (see `verify.rs`).

use std::path::Path;
use std::sync::Arc;

use rustls::client::WebPkiServerVerifier;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use rustls::{CertificateError, ClientConfig, ClientConnection, RootCertStore, StreamOwned};

use super::deadline::DeadlineSocket;
use super::error::{Error, Stage};
use super::verify::{Untrusted, Verifier};

/// A TLS session over TCP.
pub type TlsStream = StreamOwned<ClientConnection, DeadlineSocket>;

/// How the server certificate is trusted; see [`client_config`].
#[derive(Debug, Clone, Default)]
pub struct Trust<'a> {
    /// A PEM file of extra trusted CAs, or of the server's own certificate.
    pub ca_file: Option<&'a Path>,
    /// Trust only the certificate with this SHA-256 digest.
    pub fingerprint: Option<[u8; 32]>,
    /// Skip the name check (`--tls-no-verify-name`).
    pub skip_name: bool,
}

/// Builds the client configuration: webpki roots plus every certificate in
/// the CA file, each of which is also trusted as-is when the server presents
/// exactly it; or only a pinned fingerprint.
pub fn client_config(trust: &Trust<'_>) -> Result<Arc<ClientConfig>, Error> {
    let mut roots = RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    let mut own = Vec::new();
    if let Some(path) = trust.ca_file {
        let fail = |e: String| Error::other(Stage::Tls, format!("CA file {}: {e}", path.display()));
        for cert in CertificateDer::pem_file_iter(path).map_err(|e| fail(e.to_string()))? {
            let cert = cert.map_err(|e| fail(e.to_string()))?;
            // A self-signed end-entity certificate is not a usable anchor;
            // it is still trusted as-is below.
            if let Err(e) = roots.add(cert.clone()) {
                log::debug!("{}: not usable as a CA ({e})", path.display());
            }
            own.push(cert);
        }
        if own.is_empty() {
            return Err(fail("no certificates found".into()));
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let tls_err = |e: String| Error::other(Stage::Tls, e);
    let webpki = WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider.clone())
        .build()
        .map_err(|e| tls_err(e.to_string()))?;
    let verifier = Verifier::new(
        webpki,
        own,
        trust.fingerprint,
        !trust.skip_name,
        provider.clone(),
    );
    let config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| tls_err(e.to_string()))?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(verifier))
        .with_no_client_auth();
    Ok(Arc::new(config))
}

/// A handshake failure in words: a refused certificate says which check
/// failed, with its fingerprint and the flags that would trust it.
fn handshake_error(e: std::io::Error) -> Error {
    let untrusted = e
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<rustls::Error>())
        .and_then(|err| match err {
            rustls::Error::InvalidCertificate(CertificateError::Other(other)) => {
                other.0.downcast_ref::<Untrusted>().map(ToString::to_string)
            }
            _ => None,
        });
    match untrusted {
        Some(text) => Error::other(Stage::Tls, text),
        None => Error::io(Stage::Tls, e),
    }
}

/// Runs the TLS handshake over `sock` for `host` (a name or IP address),
/// verifying the certificate, within the socket's deadline (the whole
/// handshake, however slowly the server answers).
pub fn handshake(
    mut sock: DeadlineSocket,
    host: &str,
    config: Arc<ClientConfig>,
) -> Result<TlsStream, Error> {
    let bare = host
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_string();
    let name = ServerName::try_from(bare)
        .map_err(|e| Error::other(Stage::Tls, format!("bad server name {host:?}: {e}")))?;
    let mut conn =
        ClientConnection::new(config, name).map_err(|e| Error::other(Stage::Tls, e.to_string()))?;
    while conn.is_handshaking() {
        conn.complete_io(&mut sock).map_err(handshake_error)?;
    }
    Ok(StreamOwned::new(conn, sock))
}
