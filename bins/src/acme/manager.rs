//! Keeps certificates issued: uses stored ones at once, orders missing ones, renews each
//! when a third of its lifetime is left, and retries failures with exponential backoff.
//! Runs on a thread of its own (blocking HTTPS calls), never on a reactor.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, SystemTime};

use super::challenge::Challenges;
use super::http::Https;
use super::jws::AccountKey;
use super::protocol::{Account, ChallengeKind, Issued};
use super::store::Store;
use super::AcmeError;
use reactor::tls::x509::{validity, Validity};

/// Let's Encrypt's production directory.
pub const LETS_ENCRYPT: &str = "https://acme-v02.api.letsencrypt.org/directory";
/// Let's Encrypt's staging directory.
pub const LETS_ENCRYPT_STAGING: &str = "https://acme-staging-v02.api.letsencrypt.org/directory";

/// What the manager needs to know.
#[derive(Debug, Clone)]
pub struct AcmeConfig {
    /// The CA's directory URL.
    pub directory: String,
    /// Contact address for the account.
    pub email: Option<String>,
    /// An extra root (PEM) trusted for talking to the CA (tests: pebble's).
    pub ca_file: Option<PathBuf>,
    /// Where the account key and certificates live.
    pub state_dir: PathBuf,
    /// Challenge kinds to try, in order.
    pub kinds: Vec<ChallengeKind>,
    /// Renew when this much validity is left (default: a third of the lifetime).
    pub renew_before: Option<Duration>,
    /// First retry delay after a failure; doubles up to `retry_max`.
    pub retry_base: Duration,
    /// Longest delay between retries.
    pub retry_max: Duration,
    /// How soon after start the renewal information of stored certificates is asked for
    /// (when the CA offers it; default 60 s).
    pub ari_first_check: Duration,
}

impl AcmeConfig {
    /// Defaults for `directory`: state in [`Store::default_dir`], TLS-ALPN-01 then HTTP-01,
    /// retries from 30 s up to 6 h.
    pub fn new(directory: &str) -> Self {
        AcmeConfig {
            directory: directory.to_string(),
            email: None,
            ca_file: None,
            state_dir: Store::default_dir(),
            kinds: vec![ChallengeKind::TlsAlpn01, ChallengeKind::Http01],
            renew_before: None,
            retry_base: Duration::from_secs(30),
            retry_max: Duration::from_secs(6 * 3600),
            ari_first_check: Duration::from_secs(60),
        }
    }
}

/// Receives each certificate to serve: the names it covers and the PEM chain and key.
pub type Install = Box<dyn Fn(&[String], &Issued) -> Result<(), String> + Send + Sync>;

/// What the ACME client is doing, per certificate (keyed by its first name), for logs and
/// the status page.
#[derive(Clone, Default)]
pub struct AcmeStatus(Arc<Mutex<HashMap<String, String>>>);

impl AcmeStatus {
    /// The current state of every certificate, sorted by name.
    pub fn snapshot(&self) -> Vec<(String, String)> {
        let mut v: Vec<_> = self
            .0
            .lock()
            .map(|m| m.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
            .unwrap_or_default();
        v.sort();
        v
    }

    fn set(&self, name: &str, state: String) {
        log::info!("acme: {name}: {state}");
        if let Ok(mut m) = self.0.lock() {
            m.insert(name.to_string(), state);
        }
    }
}

/// The background certificate keeper.
pub struct Manager {
    config: AcmeConfig,
    certs: Vec<Vec<String>>,
    challenges: Arc<Challenges>,
    install: Install,
    status: AcmeStatus,
    stop: Arc<AtomicBool>,
}

/// One certificate's schedule.
struct Slot {
    names: Vec<String>,
    due: SystemTime,
    failures: u32,
}

impl Manager {
    /// A manager for `certs` (each a list of names sharing one certificate).
    pub fn new(
        config: AcmeConfig,
        certs: Vec<Vec<String>>,
        challenges: Arc<Challenges>,
        install: Install,
    ) -> Self {
        Manager {
            config,
            certs,
            challenges,
            install,
            status: AcmeStatus::default(),
            stop: Arc::new(AtomicBool::new(false)),
        }
    }

    /// The shared status (clone it before [`Manager::start`]).
    pub fn status(&self) -> AcmeStatus {
        self.status.clone()
    }

    /// A flag that ends the manager's thread when set.
    pub fn stop_flag(&self) -> Arc<AtomicBool> {
        self.stop.clone()
    }

    /// Installs every stored certificate that is still valid (at once, on the caller's
    /// thread, so a restart serves them before anything else), then starts the thread that
    /// orders and renews.
    pub fn start(self) -> Result<JoinHandle<()>, AcmeError> {
        let store = Store::open(&self.config.state_dir)
            .map_err(|e| AcmeError::Local(format!("{}: {e}", self.config.state_dir.display())))?;
        let now = SystemTime::now();
        let mut slots = Vec::new();
        for names in &self.certs {
            let Some(first) = names.first() else { continue };
            let mut due = now;
            match store.certificate(first) {
                Ok(Some(issued)) => match issued_validity(&issued) {
                    Some(v) if v.not_after > now => match (self.install)(names, &issued) {
                        Ok(()) => {
                            due = v.renew_at(self.config.renew_before);
                            self.status.set(
                                first,
                                format!(
                                    "serving the stored certificate; renewal due {}",
                                    when(due)
                                ),
                            );
                        }
                        Err(e) => log::warn!("acme: {first}: stored certificate unusable: {e}"),
                    },
                    _ => log::info!("acme: {first}: the stored certificate has expired"),
                },
                Ok(None) => {}
                Err(e) => log::warn!("acme: {first}: cannot read the stored certificate: {e}"),
            }
            if due <= now {
                self.status
                    .set(first, "no certificate yet; ordering one".into());
            }
            // A CA's renewal information (if it offers any) is asked for soon after start.
            if self.config.renew_before.is_none() {
                due = due.min(now + self.config.ari_first_check);
            }
            slots.push(Slot {
                names: names.clone(),
                due,
                failures: 0,
            });
        }
        thread::Builder::new()
            .name("acme".into())
            .spawn(move || self.run(store, slots))
            .map_err(|e| AcmeError::Local(e.to_string()))
    }

    fn run(self, store: Store, mut slots: Vec<Slot>) {
        let mut account: Option<Account> = None;
        while !self.stop.load(Ordering::Relaxed) {
            let Some(slot) = slots.iter_mut().min_by_key(|s| s.due) else {
                return;
            };
            let wait = slot
                .due
                .duration_since(SystemTime::now())
                .unwrap_or_default();
            if !wait.is_zero() {
                // Sleep in short steps so a stop is noticed.
                thread::sleep(wait.min(Duration::from_millis(200)));
                continue;
            }
            let first = slot.names[0].clone();
            let replaces = match self.still_serving(&store, &mut account, &first) {
                Advice::Wait(due, why) => {
                    slot.due = due;
                    self.status.set(
                        &first,
                        format!("serving; renewal due {} ({why})", when(due)),
                    );
                    continue;
                }
                Advice::Renew(replaces) => replaces,
            };
            self.status.set(&first, "ordering a certificate".into());
            let result = self.account(&store, &mut account).and_then(|acct| {
                let ari = acct.offers_renewal_info() && self.config.renew_before.is_none();
                let issued = acct.issue(
                    &slot.names,
                    &self.config.kinds,
                    &*self.challenges,
                    replaces.as_deref(),
                )?;
                Ok((issued, ari))
            });
            let kept = result.and_then(|(issued, ari)| {
                let due = self.keep(&store, &slot.names, issued)?;
                // With ARI, the CA's advice is asked again before the default time.
                let recheck = SystemTime::now() + super::ari::DEFAULT_RECHECK;
                Ok(if ari { due.min(recheck) } else { due })
            });
            match kept {
                Ok(due) => {
                    slot.due = due;
                    slot.failures = 0;
                    self.status.set(
                        &first,
                        format!("certificate issued; renewal due {}", when(due)),
                    );
                }
                Err(e) => {
                    // A new account session next time (the nonce or account may be stale).
                    account = None;
                    let delay = self
                        .config
                        .retry_base
                        .saturating_mul(1 << slot.failures.min(20))
                        .min(self.config.retry_max);
                    slot.failures += 1;
                    slot.due = SystemTime::now() + delay;
                    self.status.set(
                        &first,
                        format!("failed ({e}); retrying in {} s", delay.as_secs()),
                    );
                }
            }
        }
    }

    /// Whether the stored certificate of `first` may still be served for now: when it is
    /// valid and neither the CA's renewal window (ARI, RFC 9773, unless
    /// `--acme-renew-before` overrides it) nor the default margin says to renew yet.
    /// Otherwise the ARI identifier of the certificate being replaced, if any.
    fn still_serving(&self, store: &Store, account: &mut Option<Account>, first: &str) -> Advice {
        let now = SystemTime::now();
        let Some((leaf, validity)) = store.certificate(first).ok().flatten().and_then(|i| {
            let leaf = leaf_der(&i)?;
            let v = validity(&leaf)?;
            Some((leaf, v))
        }) else {
            return Advice::Renew(None);
        };
        if validity.not_after <= now {
            return Advice::Renew(None);
        }
        let default_due = validity.renew_at(self.config.renew_before);
        let id = super::ari::cert_id(&leaf);
        if let (None, Some(id)) = (self.config.renew_before, &id) {
            let asked = self
                .account(store, account)
                .and_then(|acct| acct.renewal_window(id));
            match asked {
                Ok(Some((window, recheck))) => {
                    let pick = window.pick(now);
                    if pick > now {
                        return Advice::Wait(pick.min(now + recheck), "the CA's window");
                    }
                    return Advice::Renew(Some(id.clone()));
                }
                Ok(None) => {}
                Err(e) => log::warn!("acme: {first}: renewal information unavailable: {e}"),
            }
        }
        if default_due > now {
            return Advice::Wait(default_due, "default margin");
        }
        Advice::Renew(id)
    }

    /// The logged-in account, opened (and its key created and stored) on first use.
    fn account<'a>(
        &self,
        store: &Store,
        account: &'a mut Option<Account>,
    ) -> Result<&'a mut Account, AcmeError> {
        if account.is_none() {
            let https = Https::new(self.config.ca_file.as_deref())?;
            let dir = &self.config.directory;
            let stored = store
                .account_key(dir)
                .map_err(|e| AcmeError::Local(e.to_string()))?;
            let key = match stored {
                Some(der) => AccountKey::from_pkcs8(&der)?,
                None => {
                    let key = AccountKey::generate()?;
                    store
                        .save_account_key(dir, key.pkcs8())
                        .map_err(|e| AcmeError::Local(e.to_string()))?;
                    key
                }
            };
            *account = Some(Account::open(
                https,
                dir,
                key,
                self.config.email.as_deref(),
            )?);
        }
        account
            .as_mut()
            .ok_or_else(|| AcmeError::Local("no account".into()))
    }

    /// Stores and installs a new certificate; returns when to renew it.
    fn keep(
        &self,
        store: &Store,
        names: &[String],
        issued: Issued,
    ) -> Result<SystemTime, AcmeError> {
        let v = issued_validity(&issued)
            .ok_or_else(|| AcmeError::Protocol("the CA sent an unreadable certificate".into()))?;
        store
            .save_certificate(&names[0], &issued)
            .map_err(|e| AcmeError::Local(format!("cannot store the certificate: {e}")))?;
        (self.install)(names, &issued).map_err(AcmeError::Local)?;
        Ok(v.renew_at(self.config.renew_before))
    }
}

/// What to do with a certificate that has come due.
enum Advice {
    /// Keep serving it; look again then (and why).
    Wait(SystemTime, &'static str),
    /// Order a new one (replacing the certificate with this ARI identifier).
    Renew(Option<String>),
}

fn leaf_der(issued: &Issued) -> Option<Vec<u8>> {
    use rustls::pki_types::{pem::PemObject, CertificateDer};
    let leaf = CertificateDer::pem_slice_iter(issued.chain_pem.as_bytes()).next()?;
    Some(leaf.ok()?.to_vec())
}

fn issued_validity(issued: &Issued) -> Option<Validity> {
    validity(&leaf_der(issued)?)
}

/// A time for humans: seconds from now.
fn when(t: SystemTime) -> String {
    match t.duration_since(SystemTime::now()) {
        Ok(d) => format!("in {} s", d.as_secs()),
        Err(_) => "now".into(),
    }
}
