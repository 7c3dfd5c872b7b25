//! The TLS side of the command-line servers: `--tls-cert`/`--tls-key` pairs, loading and
//! reloading them (SIGHUP), the HTTP→HTTPS redirect and the HSTS header.

use std::path::PathBuf;
use std::sync::Arc;

use reactor::tls::{load_pair, Acceptor, CertStore};
use reactor::{Context, Filter, Handler, Reply, Request, Response};
use rustls::sign::CertifiedKey;

/// Certificate/key file pairs as given on the command line.
#[derive(Debug, Clone, Default)]
pub struct CertFlags {
    certs: Vec<PathBuf>,
    keys: Vec<PathBuf>,
}

impl CertFlags {
    /// Records a `--tls-cert FILE`.
    pub fn cert(&mut self, path: PathBuf) {
        self.certs.push(path);
    }

    /// Records a `--tls-key FILE`.
    pub fn key(&mut self, path: PathBuf) {
        self.keys.push(path);
    }

    /// True when TLS was asked for.
    pub fn is_empty(&self) -> bool {
        self.certs.is_empty() && self.keys.is_empty()
    }

    /// The pairs, in order, or an error when the flags do not pair up.
    pub fn pairs(&self) -> Result<Vec<(PathBuf, PathBuf)>, String> {
        if self.certs.len() != self.keys.len() {
            return Err(format!(
                "--tls-cert and --tls-key come in pairs: {} certificate(s), {} key(s)",
                self.certs.len(),
                self.keys.len()
            ));
        }
        Ok(self
            .certs
            .iter()
            .cloned()
            .zip(self.keys.iter().cloned())
            .collect())
    }
}

/// Loads every pair, in order. An expired certificate is a warning (logged and printed
/// on stderr by `program`), not an error.
///
/// ```no_run
/// let pairs = vec![("cert.pem".into(), "key.pem".into())];
/// let keys = reactor_bins::tls::load_all("reactor-httpd", &pairs)?;
/// # Ok::<(), String>(())
/// ```
pub fn load_all(
    program: &str,
    pairs: &[(PathBuf, PathBuf)],
) -> Result<Vec<Arc<CertifiedKey>>, String> {
    let mut keys = Vec::with_capacity(pairs.len());
    for (cert, key) in pairs {
        let loaded = load_pair(cert, key).map_err(|e| e.to_string())?;
        if loaded.is_expired() {
            eprintln!(
                "{program}: warning: certificate {} has expired",
                cert.display()
            );
        }
        keys.push(loaded.key);
    }
    Ok(keys)
}

/// An acceptor for `pairs` whose certificates are read again on SIGHUP: new handshakes
/// get the new ones, connections in flight keep theirs; files that fail to load are
/// logged and the old certificates stay. `alpn`: the protocols offered, most preferred
/// first (see [`reactor::tls::http_alpn`]).
pub fn acceptor_reloading_on_sighup(
    program: &str,
    pairs: Vec<(PathBuf, PathBuf)>,
    alpn: Vec<Vec<u8>>,
) -> Result<Acceptor, String> {
    let store = Arc::new(CertStore::new(load_all(program, &pairs)?));
    let acceptor =
        Acceptor::with_alpn(store.clone(), alpn).map_err(|e| format!("TLS setup: {e}"))?;
    let mut signals = signal_hook::iterator::Signals::new([signal_hook::consts::SIGHUP])
        .map_err(|e| format!("cannot install the SIGHUP handler: {e}"))?;
    let program = program.to_string();
    std::thread::Builder::new()
        .name("sighup".into())
        .spawn(move || {
            for _ in signals.forever() {
                match load_all(&program, &pairs) {
                    Ok(keys) => {
                        store.replace(keys);
                        log::warn!("SIGHUP: certificates reloaded");
                    }
                    Err(e) => log::error!("SIGHUP: {e}; keeping the certificates in use"),
                }
            }
        })
        .map_err(|e| format!("cannot start the SIGHUP thread: {e}"))?;
    Ok(acceptor)
}

/// Answers every request with 308 to the same host, path and query on HTTPS at
/// `https_port` (the plaintext side of `--redirect-http`).
pub struct RedirectToHttps {
    /// The port of the HTTPS listener.
    pub https_port: u16,
}

impl Handler for RedirectToHttps {
    fn handle(&self, req: &mut Request, _: &mut Context<'_>) -> Reply {
        let Some(host) = req.header("host").and_then(host_without_port) else {
            return Reply::Response(Response::error_with(400, "A Host header is required."));
        };
        let port = match self.https_port {
            443 => String::new(),
            p => format!(":{p}"),
        };
        let query = req.query().map(|q| format!("?{q}")).unwrap_or_default();
        let location = format!("https://{host}{port}{}{query}", req.path());
        let body = format!("Moved to {location}\n");
        Reply::Response(
            Response::text(308, body)
                .with_header("Location", location)
                .with_header("Connection", "close"),
        )
    }
}

/// The host of a `Host` value without its port; `None` when it is not a plausible host
/// (so that no header can smuggle anything into `Location`).
///
/// ```
/// use reactor_bins::tls::host_without_port;
/// assert_eq!(host_without_port("example.org:8080"), Some("example.org"));
/// assert_eq!(host_without_port("[::1]:80"), Some("[::1]"));
/// assert_eq!(host_without_port("a/b"), None);
/// ```
pub fn host_without_port(host: &str) -> Option<&str> {
    let name = if host.starts_with('[') {
        &host[..=host.find(']')?]
    } else {
        host.split(':').next()?
    };
    let ok = !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-.[]:_".contains(&b));
    ok.then_some(name)
}

/// Adds `Strict-Transport-Security: max-age=SECONDS` to every response (`--hsts`).
pub struct Hsts {
    /// The header's value.
    value: String,
}

impl Hsts {
    /// HSTS with `max-age=seconds`.
    pub fn new(seconds: u64) -> Hsts {
        Hsts {
            value: format!("max-age={seconds}"),
        }
    }
}

impl Filter for Hsts {
    fn response(&self, req: &Request, resp: &mut Response, _: &mut Context<'_>) {
        if req.is_tls() && resp.header("strict-transport-security").is_none() {
            resp.headers.push((
                "Strict-Transport-Security".into(),
                self.value.clone().into(),
            ));
        }
    }
}
