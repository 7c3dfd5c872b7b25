//! Challenge responses the server publishes while the CA checks them: HTTP-01 tokens
//! (served by [`Http01Handler`] under `/.well-known/acme-challenge/`) and TLS-ALPN-01
//! certificates (RFC 8737, handed to the TLS layer through a hook).

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use reactor::{Context, Handler, Reply, Request, Response};

use super::protocol::{ChallengeKind, Solver};

/// The path prefix of HTTP-01 tokens.
pub const HTTP01_PREFIX: &str = "/.well-known/acme-challenge/";

/// A TLS-ALPN-01 challenge certificate: DER certificate and PKCS#8 DER key.
#[derive(Debug, Clone)]
pub struct AlpnCert {
    /// The self-signed certificate with the `acmeIdentifier` extension.
    pub cert_der: Vec<u8>,
    /// Its private key.
    pub key_der: Vec<u8>,
}

/// Installs (`Some`) or removes (`None`) the TLS-ALPN-01 certificate for a domain.
pub type AlpnHook = Box<dyn Fn(&str, Option<AlpnCert>) + Send + Sync>;

/// The challenge responses currently published.
#[derive(Default)]
pub struct Challenges {
    http: RwLock<HashMap<String, String>>,
    alpn: Option<AlpnHook>,
}

impl Challenges {
    /// HTTP-01 only.
    pub fn new() -> Self {
        Self::default()
    }

    /// HTTP-01, and TLS-ALPN-01 through `hook` (the TLS listener's certificate store).
    pub fn with_alpn(hook: AlpnHook) -> Self {
        Challenges {
            http: RwLock::default(),
            alpn: Some(hook),
        }
    }

    /// The key authorization published for an HTTP-01 `token`.
    pub fn http01(&self, token: &str) -> Option<String> {
        self.http.read().ok()?.get(token).cloned()
    }
}

impl Solver for Challenges {
    fn present(&self, kind: ChallengeKind, domain: &str, token: &str, key_auth: &str) -> bool {
        match kind {
            ChallengeKind::Http01 => match self.http.write() {
                Ok(mut m) => {
                    m.insert(token.to_string(), key_auth.to_string());
                    true
                }
                Err(_) => false,
            },
            ChallengeKind::TlsAlpn01 => {
                let Some(hook) = &self.alpn else {
                    return false;
                };
                match alpn_certificate(domain, key_auth) {
                    Ok(cert) => {
                        hook(domain, Some(cert));
                        true
                    }
                    Err(e) => {
                        log::error!("acme: cannot make the tls-alpn-01 certificate: {e}");
                        false
                    }
                }
            }
        }
    }

    fn cleanup(&self, kind: ChallengeKind, domain: &str, token: &str) {
        match kind {
            ChallengeKind::Http01 => {
                if let Ok(mut m) = self.http.write() {
                    m.remove(token);
                }
            }
            ChallengeKind::TlsAlpn01 => {
                if let Some(hook) = &self.alpn {
                    hook(domain, None);
                }
            }
        }
    }
}

/// The RFC 8737 challenge certificate for `domain`: self-signed, the domain as its only
/// SAN, and a critical `acmeIdentifier` extension holding SHA-256 of the key authorization.
pub fn alpn_certificate(domain: &str, key_auth: &str) -> Result<AlpnCert, rcgen::Error> {
    let digest = ring::digest::digest(&ring::digest::SHA256, key_auth.as_bytes());
    let mut params = rcgen::CertificateParams::new(vec![domain.to_string()])?;
    params
        .custom_extensions
        .push(rcgen::CustomExtension::new_acme_identifier(digest.as_ref()));
    let key = rcgen::KeyPair::generate()?;
    let cert = params.self_signed(&key)?;
    Ok(AlpnCert {
        cert_der: cert.der().to_vec(),
        key_der: key.serialize_der(),
    })
}

/// Serves published HTTP-01 tokens; declines every other path (so it goes first in a
/// chain, before any redirect to HTTPS).
pub struct Http01Handler(pub Arc<Challenges>);

impl Handler for Http01Handler {
    fn handle(&self, req: &mut Request, _cx: &mut Context<'_>) -> Reply {
        let Some(token) = req.path().strip_prefix(HTTP01_PREFIX) else {
            return Reply::Decline;
        };
        if !req.is_get_or_head() {
            return Reply::Response(Response::method_not_allowed("GET, HEAD"));
        }
        match self.0.http01(token) {
            Some(key_auth) => Reply::Response(Response::bytes(
                200,
                "application/octet-stream",
                key_auth.into_bytes(),
            )),
            None => Reply::Response(Response::error(404)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    #[test]
    fn http01_published_then_withdrawn() {
        let c = Challenges::new();
        assert!(c.present(ChallengeKind::Http01, "a.test", "tok", "tok.thumb"));
        assert_eq!(c.http01("tok").as_deref(), Some("tok.thumb"));
        c.cleanup(ChallengeKind::Http01, "a.test", "tok");
        assert_eq!(c.http01("tok"), None);
        assert!(!c.present(ChallengeKind::TlsAlpn01, "a.test", "tok", "k"));
    }

    #[test]
    fn alpn_certificate_goes_through_the_hook() {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let s = seen.clone();
        let c = Challenges::with_alpn(Box::new(move |d, cert| {
            s.lock().unwrap().push((d.to_string(), cert.is_some()));
        }));
        assert!(c.present(ChallengeKind::TlsAlpn01, "a.test", "tok", "tok.thumb"));
        c.cleanup(ChallengeKind::TlsAlpn01, "a.test", "tok");
        assert_eq!(
            *seen.lock().unwrap(),
            vec![("a.test".to_string(), true), ("a.test".to_string(), false)]
        );
        let cert = alpn_certificate("a.test", "k").unwrap();
        // The acmeIdentifier OID 1.3.6.1.5.5.7.1.31 is in the certificate.
        let oid = [0x06, 0x08, 0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x01, 0x1f];
        assert!(cert.cert_der.windows(oid.len()).any(|w| w == oid));
    }
}
