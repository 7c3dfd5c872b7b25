//! The server's certificates, chosen per handshake by the client's SNI name, swappable
//! while the server runs (a reload, an ACME renewal) without touching connections in flight.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, RwLock};

use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;

/// The ALPN protocol of TLS-ALPN-01 challenges (RFC 8737).
pub const ACME_TLS_ALPN: &[u8] = b"acme-tls/1";

/// One configured certificate and the names it is valid for.
struct Pair {
    names: Vec<String>,
    key: Arc<CertifiedKey>,
}

#[derive(Default)]
struct Table {
    /// Configured pairs in order; the first is the default.
    pairs: Vec<Pair>,
    /// Certificates inserted by name (ACME issues them at run time).
    named: HashMap<String, Arc<CertifiedKey>>,
    /// TLS-ALPN-01 challenge certificates, offered only to `acme-tls/1` handshakes.
    challenges: HashMap<String, Arc<CertifiedKey>>,
}

/// Certificates by SNI name: the certificate whose names (subject alternative names,
/// wildcards included) match the client's SNI is used, the first configured one
/// otherwise. Every change is atomic: a handshake sees the old set or the new one.
///
/// ```no_run
/// # fn demo(a: std::sync::Arc<rustls::sign::CertifiedKey>,
/// #         b: std::sync::Arc<rustls::sign::CertifiedKey>) {
/// use reactor::tls::CertStore;
/// let store = CertStore::new(vec![a]);
/// store.insert("www.example.org", b); // e.g. a certificate ACME just issued
/// # }
/// ```
#[derive(Default)]
pub struct CertStore {
    table: RwLock<Table>,
}

impl fmt::Debug for CertStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<Vec<String>> = self
            .table
            .read()
            .map(|t| t.pairs.iter().map(|p| p.names.clone()).collect())
            .unwrap_or_default();
        f.debug_struct("CertStore").field("pairs", &names).finish()
    }
}

impl CertStore {
    /// A store of `pairs` (the first is the default).
    pub fn new(pairs: Vec<Arc<CertifiedKey>>) -> Self {
        let store = CertStore::default();
        store.replace(pairs);
        store
    }

    /// Replaces the configured pairs (a reload); inserted and challenge certificates stay.
    pub fn replace(&self, pairs: Vec<Arc<CertifiedKey>>) {
        let pairs = pairs
            .into_iter()
            .map(|key| Pair {
                names: names_of(&key),
                key,
            })
            .collect();
        if let Ok(mut t) = self.table.write() {
            t.pairs = pairs;
        }
    }

    /// Serves `key` for SNI `name` (exactly that name), ahead of the configured pairs.
    pub fn insert(&self, name: &str, key: Arc<CertifiedKey>) {
        if let Ok(mut t) = self.table.write() {
            t.named.insert(name.to_ascii_lowercase(), key);
        }
    }

    /// Stops serving the certificate inserted for `name`.
    pub fn remove(&self, name: &str) {
        if let Ok(mut t) = self.table.write() {
            t.named.remove(&name.to_ascii_lowercase());
        }
    }

    /// Answers TLS-ALPN-01 handshakes (ALPN `acme-tls/1`) for `name` with `key`.
    pub fn insert_challenge(&self, name: &str, key: Arc<CertifiedKey>) {
        if let Ok(mut t) = self.table.write() {
            t.challenges.insert(name.to_ascii_lowercase(), key);
        }
    }

    /// Removes the challenge certificate of `name`.
    pub fn remove_challenge(&self, name: &str) {
        if let Ok(mut t) = self.table.write() {
            t.challenges.remove(&name.to_ascii_lowercase());
        }
    }

    /// The certificate for a handshake with SNI `sni`; `acme` for an `acme-tls/1` one.
    pub fn choose(&self, sni: Option<&str>, acme: bool) -> Option<Arc<CertifiedKey>> {
        let t = self.table.read().ok()?;
        let sni = sni.map(str::to_ascii_lowercase);
        if acme {
            return t.challenges.get(sni.as_deref()?).cloned();
        }
        if let Some(name) = sni.as_deref() {
            if let Some(k) = t.named.get(name) {
                return Some(k.clone());
            }
            let exact = t.pairs.iter().find(|p| p.names.iter().any(|n| n == name));
            let wild = || {
                t.pairs
                    .iter()
                    .find(|p| p.names.iter().any(|n| wildcard_matches(n, name)))
            };
            if let Some(p) = exact.or_else(wild) {
                return Some(p.key.clone());
            }
        }
        t.pairs.first().map(|p| p.key.clone())
    }
}

impl ResolvesServerCert for CertStore {
    fn resolve(&self, hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        let acme = hello
            .alpn()
            .is_some_and(|mut protocols| protocols.any(|p| p == ACME_TLS_ALPN));
        self.choose(hello.server_name(), acme)
    }
}

/// The DNS names of a certificate's leaf (subject alternative names), lowercased.
fn names_of(key: &CertifiedKey) -> Vec<String> {
    let Some(leaf) = key.end_entity_cert().ok() else {
        return Vec::new();
    };
    match webpki::EndEntityCert::try_from(leaf) {
        Ok(cert) => cert
            .valid_dns_names()
            .map(str::to_ascii_lowercase)
            .collect(),
        Err(_) => Vec::new(),
    }
}

/// `*.example.org` matches `www.example.org` (exactly one label), not `example.org` nor
/// `a.b.example.org`.
///
/// ```
/// use reactor::tls::wildcard_matches;
/// assert!(wildcard_matches("*.example.org", "www.example.org"));
/// assert!(!wildcard_matches("*.example.org", "a.b.example.org"));
/// assert!(!wildcard_matches("*.example.org", "example.org"));
/// ```
pub fn wildcard_matches(pattern: &str, name: &str) -> bool {
    let Some(suffix) = pattern.strip_prefix("*.") else {
        return false;
    };
    match name.split_once('.') {
        Some((label, rest)) => !label.is_empty() && rest.eq_ignore_ascii_case(suffix),
        None => false,
    }
}
