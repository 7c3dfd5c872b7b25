//! TLS with rustls (ring provider): certificates verified against the
//! webpki roots plus an optional private CA.

use std::path::Path;
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use rustls::{ClientConfig, ClientConnection, RootCertStore, StreamOwned};

use super::deadline::DeadlineSocket;
use super::error::{Error, Stage};

/// A TLS session over TCP.
pub type TlsStream = StreamOwned<ClientConnection, DeadlineSocket>;

/// Builds the client configuration: webpki roots, plus every certificate in
/// the PEM file `extra_ca` when given.
pub fn client_config(extra_ca: Option<&Path>) -> Result<Arc<ClientConfig>, Error> {
    let mut roots = RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    if let Some(path) = extra_ca {
        let fail = |e: String| Error::other(Stage::Tls, format!("CA file {}: {e}", path.display()));
        let mut added = 0;
        for cert in CertificateDer::pem_file_iter(path).map_err(|e| fail(e.to_string()))? {
            let cert = cert.map_err(|e| fail(e.to_string()))?;
            roots.add(cert).map_err(|e| fail(e.to_string()))?;
            added += 1;
        }
        if added == 0 {
            return Err(fail("no certificates found".into()));
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::other(Stage::Tls, e.to_string()))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
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
        conn.complete_io(&mut sock)
            .map_err(|e| Error::io(Stage::Tls, e))?;
    }
    Ok(StreamOwned::new(conn, sock))
}
