//! TLS for the reactor's connections, with rustls (ring provider).
//!
//! An [`Acceptor`] holds the rustls server configuration (TLS 1.2 and 1.3 only, rustls'
//! default cipher suites, ALPN, session tickets and a bounded session cache; rustls never
//! renegotiates) and a [`CertStore`] that picks the certificate by SNI and can be changed
//! while the server runs. Put it in [`crate::Config::tls`] and every connection of that
//! server speaks TLS; handlers see [`crate::Request::is_tls`] and
//! [`crate::Request::sni`], and nothing else changes for them.
//!
//! ```no_run
//! use std::sync::Arc;
//! use reactor::tls::{load_pair, Acceptor, CertStore};
//! let pair = load_pair("cert.pem".as_ref(), "key.pem".as_ref())?;
//! let store = Arc::new(CertStore::new(vec![pair.key]));
//! let config = reactor::Config {
//!     tls: Some(Acceptor::new(store)?),
//!     ..reactor::Config::default()
//! };
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod load;
pub(crate) mod session;
mod sniff;
mod store;
pub mod x509;

use std::sync::Arc;

use rustls::crypto::ring;
use rustls::server::ServerSessionMemoryCache;
use rustls::{ServerConfig, ServerConnection};

pub use load::{load_pair, pair_from_pem, LoadError, Loaded};
pub use sniff::{sniff, Sniff};
pub use store::{wildcard_matches, CertStore, ACME_TLS_ALPN};
pub use x509::not_after;

/// Sessions the server remembers for resumption by session id (TLS 1.2 and stateful
/// TLS 1.3 resumption); tickets need no server memory.
pub const SESSION_CACHE: usize = 4096;

/// Plaintext rustls buffers before it asks the writer to wait (per connection).
const BUFFER_LIMIT: usize = 64 * 1024;

/// Accepts TLS connections: a rustls server configuration plus its certificate store.
#[derive(Clone)]
pub struct Acceptor {
    config: Arc<ServerConfig>,
    store: Arc<CertStore>,
}

impl std::fmt::Debug for Acceptor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Acceptor")
            .field("alpn", &self.config.alpn_protocols)
            .field("store", &self.store)
            .finish()
    }
}

/// The ALPN name of HTTP/1.1.
pub const ALPN_HTTP11: &[u8] = b"http/1.1";

/// The ALPN name of HTTP/2 over TLS (RFC 9113 §3.2).
pub const ALPN_H2: &[u8] = b"h2";

/// The ALPN protocols the server speaks, most preferred first: `h2` (when `http2`) and
/// `http/1.1`. Extend the list (e.g. with [`ACME_TLS_ALPN`]) before
/// [`Acceptor::with_alpn`].
///
/// ```
/// use reactor::tls::http_alpn;
///
/// assert_eq!(http_alpn(true), vec![b"h2".to_vec(), b"http/1.1".to_vec()]);
/// assert_eq!(http_alpn(false), vec![b"http/1.1".to_vec()]);
/// ```
pub fn http_alpn(http2: bool) -> Vec<Vec<u8>> {
    let h2 = http2.then(|| ALPN_H2.to_vec());
    h2.into_iter().chain([ALPN_HTTP11.to_vec()]).collect()
}

/// The ring provider with the AES-128-GCM suites first (the server's order is used, as Go's
/// crypto/tls does): with AES and SHA instructions, as on any recent x86 server, they cost
/// least: their handshake hashes with SHA-256, which ring runs on the SHA extensions, where
/// the AES-256 suites' SHA-384 runs in plain code (13 % of a full handshake's CPU with it).
fn provider() -> rustls::crypto::CryptoProvider {
    use rustls::CipherSuite::{
        TLS13_AES_128_GCM_SHA256, TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
        TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
    };
    let mut provider = ring::default_provider();
    provider.cipher_suites.sort_by_key(|s| {
        !matches!(
            s.suite(),
            TLS13_AES_128_GCM_SHA256
                | TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256
                | TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256
        )
    });
    provider
}

impl Acceptor {
    /// An acceptor offering ALPN `http/1.1` only.
    pub fn new(store: Arc<CertStore>) -> Result<Acceptor, rustls::Error> {
        Acceptor::with_alpn(store, http_alpn(false))
    }

    /// An acceptor offering the ALPN protocols `alpn`, most preferred first (add
    /// [`ACME_TLS_ALPN`] to answer TLS-ALPN-01 challenges from the store).
    pub fn with_alpn(store: Arc<CertStore>, alpn: Vec<Vec<u8>>) -> Result<Acceptor, rustls::Error> {
        let mut config = ServerConfig::builder_with_provider(Arc::new(provider()))
            .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])?
            .with_no_client_auth()
            .with_cert_resolver(store.clone());
        config.alpn_protocols = alpn;
        config.ignore_client_order = true;
        config.session_storage = ServerSessionMemoryCache::new(SESSION_CACHE);
        config.ticketer = ring::Ticketer::new()?;
        Ok(Acceptor {
            config: Arc::new(config),
            store,
        })
    }

    /// The certificates (replace or add some while the server runs).
    pub fn store(&self) -> &Arc<CertStore> {
        &self.store
    }

    /// A new server-side TLS session.
    pub(crate) fn session(&self) -> Result<ServerConnection, rustls::Error> {
        let mut conn = ServerConnection::new(self.config.clone())?;
        conn.set_buffer_limit(Some(BUFFER_LIMIT));
        Ok(conn)
    }
}

/// What a request knows of the TLS session that carried it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsInfo {
    /// The SNI name the client asked for, if any.
    pub sni: Option<Arc<str>>,
}
