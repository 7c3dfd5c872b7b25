//! Wiring the ACME manager into a TLS server: issued certificates go into the listener's
//! SNI store, TLS-ALPN-01 challenge certificates into its `acme-tls/1` table.

use std::sync::Arc;

use reactor::tls::{pair_from_pem, CertStore};
use rustls::crypto::ring;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use rustls::sign::CertifiedKey;

use super::challenge::{AlpnCert, Challenges};
use super::manager::{AcmeStatus, Install};

/// Challenge responses whose TLS-ALPN-01 certificates are served from `store`.
pub fn challenges_for(store: Arc<CertStore>) -> Challenges {
    Challenges::with_alpn(Box::new(move |domain, cert: Option<AlpnCert>| {
        match cert.map(|c| alpn_key(&c)) {
            Some(Ok(key)) => store.insert_challenge(domain, key),
            Some(Err(e)) => log::error!("acme: {domain}: challenge certificate unusable: {e}"),
            None => store.remove_challenge(domain),
        }
    }))
}

/// Installs each issued certificate in `store` under every name it covers.
pub fn install_into(store: Arc<CertStore>) -> Install {
    Box::new(move |names, issued| {
        let first = names.first().map_or("?", String::as_str);
        let loaded = pair_from_pem(
            issued.chain_pem.as_bytes(),
            issued.key_pem.as_bytes(),
            &format!("issued for {first}"),
            &format!("key for {first}"),
        )
        .map_err(|e| e.to_string())?;
        for name in names {
            store.insert(name, loaded.key.clone());
        }
        Ok(())
    })
}

fn alpn_key(cert: &AlpnCert) -> Result<Arc<CertifiedKey>, rustls::Error> {
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(cert.key_der.clone()));
    let signing = ring::default_provider()
        .key_provider
        .load_private_key(key)?;
    Ok(Arc::new(CertifiedKey::new(
        vec![CertificateDer::from(cert.cert_der.clone())],
        signing,
    )))
}

/// The ACME settings of a server's command line (`--acme NAME`, …).
#[derive(Debug, Clone, Default)]
pub struct AcmeFlags {
    /// One certificate per name.
    pub names: Vec<String>,
    /// One certificate per group of names (the config file's sites with `acme = true`).
    pub sites: Vec<Vec<String>>,
    /// `--acme-email`.
    pub email: Option<String>,
    /// `--acme-directory`, or the staging one with `--acme-staging`.
    pub directory: Option<String>,
    /// `--acme-ca`: an extra root for talking to the CA.
    pub ca: Option<std::path::PathBuf>,
    /// `--acme-state`.
    pub state: Option<std::path::PathBuf>,
    /// `--acme-challenge`: one kind only.
    pub challenge: Option<super::ChallengeKind>,
    /// `--acme-renew-before SECS`.
    pub renew_before: Option<std::time::Duration>,
}

impl AcmeFlags {
    /// Parses an `--acme-challenge` value.
    pub fn parse_challenge(v: &str) -> Result<super::ChallengeKind, String> {
        match v {
            "http-01" => Ok(super::ChallengeKind::Http01),
            "tls-alpn-01" => Ok(super::ChallengeKind::TlsAlpn01),
            _ => Err(format!(
                "--acme-challenge: {v:?} is not http-01 or tls-alpn-01"
            )),
        }
    }

    /// Whether any certificate is to come from the CA.
    pub fn any(&self) -> bool {
        !self.names.is_empty() || !self.sites.is_empty()
    }

    /// Installs the stored certificates into `store` now, and starts the thread that
    /// orders missing ones and renews them. Returns the challenges to serve over HTTP and
    /// the client's status.
    pub fn start(&self, store: &Arc<CertStore>) -> Result<(Arc<Challenges>, AcmeStatus), String> {
        let directory = self
            .directory
            .clone()
            .unwrap_or_else(|| super::manager::LETS_ENCRYPT.to_string());
        let mut config = super::AcmeConfig::new(&directory);
        config.email = self.email.clone();
        config.ca_file = self.ca.clone();
        if let Some(dir) = &self.state {
            config.state_dir = dir.clone();
        }
        if let Some(kind) = self.challenge {
            config.kinds = vec![kind];
        }
        config.renew_before = self.renew_before;
        let challenges = Arc::new(challenges_for(store.clone()));
        let singles = self.names.iter().map(|n| vec![n.clone()]);
        let certs = singles.chain(self.sites.iter().cloned()).collect();
        let manager = super::Manager::new(
            config,
            certs,
            challenges.clone(),
            install_into(store.clone()),
        );
        let status = manager.status();
        manager.start().map_err(|e| format!("--acme: {e}"))?;
        Ok((challenges, status))
    }
}
