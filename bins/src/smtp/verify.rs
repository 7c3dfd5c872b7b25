//! Server certificate checks: the webpki chain check against the public
//! roots plus `--tls-ca`, a certificate from the `--tls-ca` file trusted
//! as-is when it is exactly the one presented (self-signed servers), a
//! SHA-256 pin (`--tls-fingerprint`), and failures that name the check.

use std::fmt;
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::{verify_server_name, WebPkiServerVerifier};
use rustls::crypto::{verify_tls12_signature, verify_tls13_signature, CryptoProvider};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::server::ParsedCertificate;
use rustls::{CertificateError, DigitallySignedStruct, OtherError, SignatureScheme};

/// The SHA-256 digest of `data`, from the ring provider rustls already uses.
pub fn sha256(data: &[u8]) -> Option<[u8; 32]> {
    let suite = rustls::crypto::ring::cipher_suite::TLS13_AES_128_GCM_SHA256.tls13()?;
    suite
        .common
        .hash_provider
        .hash(data)
        .as_ref()
        .try_into()
        .ok()
}

/// `sha256:AB:CD:…`, the form `--tls-fingerprint` takes and errors show.
pub fn format_fingerprint(digest: &[u8; 32]) -> String {
    let hex: Vec<String> = digest.iter().map(|b| format!("{b:02X}")).collect();
    format!("sha256:{}", hex.join(":"))
}

/// Parses `sha256:HEX` (hex pairs with or without colons, any case).
pub fn parse_fingerprint(text: &str) -> Result<[u8; 32], String> {
    let bad = || format!("--tls-fingerprint wants sha256:HEX (64 hex digits), got {text:?}");
    let hex = text
        .strip_prefix("sha256:")
        .or_else(|| text.strip_prefix("SHA256:"))
        .ok_or_else(bad)?;
    let digits: Vec<u8> = hex.bytes().filter(|&b| b != b':').collect();
    if digits.len() != 64 {
        return Err(bad());
    }
    let mut out = [0u8; 32];
    for (byte, pair) in out.iter_mut().zip(digits.chunks(2)) {
        let pair = std::str::from_utf8(pair).map_err(|_| bad())?;
        *byte = u8::from_str_radix(pair, 16).map_err(|_| bad())?;
    }
    Ok(out)
}

/// Why a server certificate was refused, with its fingerprint so that a
/// user who trusts it can pin it.
#[derive(Debug)]
pub struct Untrusted {
    /// The failed check, in words.
    pub why: String,
    /// The presented certificate's `sha256:…` fingerprint.
    pub fingerprint: String,
}

impl fmt::Display for Untrusted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "server certificate refused: {} (certificate {}); to trust a private CA or the \
             server's own certificate use --tls-ca FILE, or pin it with --tls-fingerprint",
            self.why, self.fingerprint
        )
    }
}

impl std::error::Error for Untrusted {}

/// Words for a rustls certificate error.
fn describe(err: &rustls::Error) -> String {
    let rustls::Error::InvalidCertificate(e) = err else {
        return err.to_string();
    };
    match e {
        CertificateError::UnknownIssuer => "unknown issuer".into(),
        CertificateError::NotValidForName => "name mismatch".into(),
        CertificateError::NotValidForNameContext {
            expected,
            presented,
        } => {
            format!("name mismatch: wanted {expected:?}, certificate is for {presented:?}")
        }
        CertificateError::Expired | CertificateError::ExpiredContext { .. } => "expired".into(),
        CertificateError::NotValidYet | CertificateError::NotValidYetContext { .. } => {
            "not valid yet".into()
        }
        CertificateError::Other(other) if other.to_string().contains("CaUsedAsEndEntity") => {
            "unknown issuer (the server presents a self-signed CA certificate)".into()
        }
        other => format!("{other:?}"),
    }
}

/// How the server certificate is checked.
#[derive(Debug)]
pub struct Verifier {
    webpki: Arc<WebPkiServerVerifier>,
    /// Certificates from `--tls-ca`, each trusted as-is when presented.
    pinned_certs: Vec<CertificateDer<'static>>,
    fingerprint: Option<[u8; 32]>,
    verify_name: bool,
    provider: Arc<CryptoProvider>,
}

impl Verifier {
    /// A verifier over `webpki`, trusting `pinned_certs` as-is, or only the
    /// certificate with `fingerprint` when given.
    pub fn new(
        webpki: Arc<WebPkiServerVerifier>,
        pinned_certs: Vec<CertificateDer<'static>>,
        fingerprint: Option<[u8; 32]>,
        verify_name: bool,
        provider: Arc<CryptoProvider>,
    ) -> Verifier {
        Verifier {
            webpki,
            pinned_certs,
            fingerprint,
            verify_name,
            provider,
        }
    }

    fn refuse(why: String, fingerprint: &str) -> rustls::Error {
        let untrusted = Untrusted {
            why,
            fingerprint: fingerprint.to_string(),
        };
        rustls::Error::InvalidCertificate(CertificateError::Other(OtherError(Arc::new(untrusted))))
    }

    fn check_name(
        &self,
        end_entity: &CertificateDer<'_>,
        name: &ServerName<'_>,
    ) -> Result<(), rustls::Error> {
        if !self.verify_name {
            return Ok(());
        }
        verify_server_name(&ParsedCertificate::try_from(end_entity)?, name)
    }
}

impl ServerCertVerifier for Verifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let digest = sha256(end_entity).unwrap_or_default();
        let shown = format_fingerprint(&digest);
        if let Some(pin) = self.fingerprint {
            // A pin replaces every other check: it names the one certificate.
            return if pin == digest {
                Ok(ServerCertVerified::assertion())
            } else {
                Err(Self::refuse("fingerprint mismatch".into(), &shown))
            };
        }
        if self
            .pinned_certs
            .iter()
            .any(|c| c.as_ref() == end_entity.as_ref())
        {
            return match self.check_name(end_entity, server_name) {
                Ok(()) => Ok(ServerCertVerified::assertion()),
                Err(e) => Err(Self::refuse(describe(&e), &shown)),
            };
        }
        let result = self.webpki.verify_server_cert(
            end_entity,
            intermediates,
            server_name,
            ocsp_response,
            now,
        );
        match result {
            // The chain is checked before the name: only the name failed.
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) if !self.verify_name => Ok(ServerCertVerified::assertion()),
            Err(e) => Err(Self::refuse(describe(&e), &shown)),
            Ok(ok) => Ok(ok),
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        let algs = &self.provider.signature_verification_algorithms;
        verify_tls12_signature(message, cert, dss, algs)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        let algs = &self.provider.signature_verification_algorithms;
        verify_tls13_signature(message, cert, dss, algs)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprints_round_trip() {
        let digest = sha256(b"abc").unwrap();
        // FIPS 180-2 test vector.
        assert_eq!(
            format_fingerprint(&digest),
            "sha256:BA:78:16:BF:8F:01:CF:EA:41:41:40:DE:5D:AE:22:23:B0:03:61:A3:96:17:7A:9C:B4:10:FF:61:F2:00:15:AD"
        );
        assert_eq!(parse_fingerprint(&format_fingerprint(&digest)), Ok(digest));
        let plain = "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
        assert_eq!(parse_fingerprint(plain), Ok(digest));
        for bad in [
            "",
            "sha256:",
            "md5:ab",
            "sha256:zz7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
            "sha256:ab",
        ] {
            assert!(parse_fingerprint(bad).is_err(), "{bad}");
        }
    }
}
