//! The RFC 8555 conversation: directory, nonces, account, order, authorizations,
//! challenges, finalize, download. Blocking; run it off the reactor.

use std::thread;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use super::http::{HttpResponse, Https};
use super::jws::{b64u, AccountKey};
use super::AcmeError;

/// Content type of every signed ACME request.
const JOSE: &str = "application/jose+json";
/// How often a request refused with `badNonce` is retried with the fresh nonce.
const NONCE_RETRIES: usize = 5;
/// How long to wait for an authorization or an order to settle.
const SETTLE_TIMEOUT: Duration = Duration::from_secs(120);

/// The challenge types this client can answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChallengeKind {
    /// A token served over plain HTTP (RFC 8555 §8.3).
    Http01,
    /// A certificate presented for ALPN `acme-tls/1` (RFC 8737).
    TlsAlpn01,
}

impl ChallengeKind {
    /// The name the CA uses.
    pub fn as_str(self) -> &'static str {
        match self {
            ChallengeKind::Http01 => "http-01",
            ChallengeKind::TlsAlpn01 => "tls-alpn-01",
        }
    }
}

/// Publishes and withdraws challenge responses (the web server's side).
pub trait Solver {
    /// Makes the CA's check of `kind` for `domain` succeed; `key_auth` is the key
    /// authorization for `token`. Returns false when this kind cannot be served.
    fn present(&self, kind: ChallengeKind, domain: &str, token: &str, key_auth: &str) -> bool;
    /// Withdraws what `present` published.
    fn cleanup(&self, kind: ChallengeKind, domain: &str, token: &str);
}

/// A logged-in ACME account at one CA.
pub struct Account {
    https: Https,
    key: AccountKey,
    kid: String,
    new_nonce: String,
    new_order: String,
    renewal_info: Option<String>,
    nonce: Option<String>,
}

/// A certificate just issued: the chain as PEM and its private key as PKCS#8 PEM.
#[derive(Debug, Clone)]
pub struct Issued {
    /// Leaf first, then the intermediates.
    pub chain_pem: String,
    /// The certificate's private key.
    pub key_pem: String,
}

impl Account {
    /// Reads the directory at `directory` and finds or creates the account of `key`.
    pub fn open(
        https: Https,
        directory: &str,
        key: AccountKey,
        email: Option<&str>,
    ) -> Result<Self, AcmeError> {
        let dir = https.request("GET", directory, None)?;
        let dir = json_body(&dir, directory)?;
        let url = |name: &str| {
            dir.get(name)
                .and_then(Value::as_str)
                .map(str::to_string)
                .ok_or_else(|| AcmeError::Protocol(format!("the directory has no {name}")))
        };
        let mut acct = Account {
            https,
            key,
            kid: String::new(),
            new_nonce: url("newNonce")?,
            new_order: url("newOrder")?,
            renewal_info: url("renewalInfo").ok(),
            nonce: None,
        };
        let new_account = url("newAccount")?;
        let mut payload = json!({"termsOfServiceAgreed": true});
        if let Some(email) = email {
            payload["contact"] = json!([format!("mailto:{email}")]);
        }
        let resp = acct.post(&new_account, Some(&payload))?;
        acct.kid = resp
            .header("location")
            .ok_or_else(|| AcmeError::Protocol("newAccount answered without Location".into()))?
            .to_string();
        Ok(acct)
    }

    /// The account key (for key authorizations).
    pub fn key(&self) -> &AccountKey {
        &self.key
    }

    /// Whether the CA offers renewal information (RFC 9773).
    pub fn offers_renewal_info(&self) -> bool {
        self.renewal_info.is_some()
    }

    /// The CA's suggested renewal window for the certificate `cert_id` (see
    /// [`super::ari::cert_id`]) and when to ask again; None when the CA offers no ARI.
    pub fn renewal_window(
        &self,
        cert_id: &str,
    ) -> Result<Option<(super::ari::Window, Duration)>, AcmeError> {
        let Some(base) = &self.renewal_info else {
            return Ok(None);
        };
        let url = format!("{}/{cert_id}", base.trim_end_matches('/'));
        let resp = self.https.request("GET", &url, None)?;
        let body = json_body(&resp, &url)?;
        let window = super::ari::Window::from_json(&body).ok_or_else(|| {
            AcmeError::Protocol(format!("{url}: no readable suggestedWindow in {body}"))
        })?;
        let recheck = retry_after(&resp).unwrap_or(super::ari::DEFAULT_RECHECK);
        Ok(Some((window, recheck)))
    }

    /// Orders, validates and downloads a certificate for `names`, answering each
    /// authorization with the first kind in `kinds` that the CA offers and `solver` serves.
    /// `replaces` names (by ARI identifier) the certificate this one renews.
    pub fn issue(
        &mut self,
        names: &[String],
        kinds: &[ChallengeKind],
        solver: &dyn Solver,
        replaces: Option<&str>,
    ) -> Result<Issued, AcmeError> {
        let ids: Vec<Value> = names
            .iter()
            .map(|n| json!({"type": "dns", "value": n}))
            .collect();
        let mut payload = json!({ "identifiers": ids });
        if let (Some(id), true) = (replaces, self.renewal_info.is_some()) {
            payload["replaces"] = json!(id);
        }
        let new_order = self.new_order.clone();
        let resp = self.post(&new_order, Some(&payload))?;
        let order_url = resp
            .header("location")
            .ok_or_else(|| AcmeError::Protocol("newOrder answered without Location".into()))?
            .to_string();
        let order = json_body(&resp, &order_url)?;
        for authz in strings(&order, "authorizations") {
            self.authorize(&authz, kinds, solver)?;
        }
        let finalize = str_field(&order, "finalize")?;
        let cert_key = rcgen::KeyPair::generate()
            .map_err(|e| AcmeError::Local(format!("cannot generate a key: {e}")))?;
        let params = rcgen::CertificateParams::new(names.to_vec())
            .map_err(|e| AcmeError::Local(format!("bad name: {e}")))?;
        let csr = params
            .serialize_request(&cert_key)
            .map_err(|e| AcmeError::Local(format!("cannot make the CSR: {e}")))?;
        self.post(&finalize, Some(&json!({"csr": b64u(csr.der())})))?;
        let order = self.settle(&order_url, "order", &["valid"], &["invalid"])?;
        let cert_url = str_field(&order, "certificate")?;
        let resp = self.post(&cert_url, None)?;
        let chain_pem = String::from_utf8(resp.body)
            .map_err(|_| AcmeError::Protocol("the certificate is not PEM text".into()))?;
        Ok(Issued {
            chain_pem,
            key_pem: cert_key.serialize_pem(),
        })
    }

    /// Completes one authorization: picks a challenge, presents it, asks the CA to check,
    /// waits for the verdict, withdraws it.
    fn authorize(
        &mut self,
        url: &str,
        kinds: &[ChallengeKind],
        solver: &dyn Solver,
    ) -> Result<(), AcmeError> {
        let authz = json_body(&self.post(url, None)?, url)?;
        if authz["status"] == "valid" {
            return Ok(());
        }
        let domain = authz["identifier"]["value"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let challenges = authz["challenges"].as_array().cloned().unwrap_or_default();
        let mut last_error = None;
        for kind in kinds {
            let Some(ch) = challenges.iter().find(|c| c["type"] == kind.as_str()) else {
                continue;
            };
            let token = str_field(ch, "token")?;
            let ch_url = str_field(ch, "url")?;
            let key_auth = self.key.key_authorization(&token);
            if !solver.present(*kind, &domain, &token, &key_auth) {
                continue;
            }
            log::info!("acme: answering {} for {domain}", kind.as_str());
            let result = self
                .post(&ch_url, Some(&json!({})))
                .and_then(|_| self.settle(url, "authorization", &["valid"], &["invalid"]));
            solver.cleanup(*kind, &domain, &token);
            match result {
                Ok(_) => return Ok(()),
                Err(e) => {
                    log::warn!("acme: {} for {domain} failed: {e}", kind.as_str());
                    last_error = Some(e);
                    // An invalid authorization cannot be retried with another challenge.
                    break;
                }
            }
        }
        Err(last_error.unwrap_or_else(|| {
            AcmeError::Protocol(format!("no usable challenge offered for {domain}"))
        }))
    }

    /// Polls `url` until its status is one of `done` (returned) or `failed` (an error
    /// carrying the object's problem), honouring `Retry-After`.
    fn settle(
        &mut self,
        url: &str,
        what: &str,
        done: &[&str],
        failed: &[&str],
    ) -> Result<Value, AcmeError> {
        let start = Instant::now();
        loop {
            let resp = self.post(url, None)?;
            let wait = retry_after(&resp).unwrap_or(Duration::from_millis(500));
            let v = json_body(&resp, url)?;
            let status = v["status"].as_str().unwrap_or_default();
            if done.contains(&status) {
                return Ok(v);
            }
            if failed.contains(&status) {
                let problem = find_problem(&v);
                return Err(AcmeError::Refused(format!("{what} is {status}: {problem}")));
            }
            if start.elapsed() > SETTLE_TIMEOUT {
                return Err(AcmeError::Protocol(format!(
                    "{what} still {status} after {}s",
                    SETTLE_TIMEOUT.as_secs()
                )));
            }
            thread::sleep(wait.min(Duration::from_secs(10)));
        }
    }

    /// A signed POST (`None`: POST-as-GET), retried on `badNonce` with the fresh nonce.
    fn post(&mut self, url: &str, payload: Option<&Value>) -> Result<HttpResponse, AcmeError> {
        let mut tries = 0;
        loop {
            let nonce = match self.nonce.take() {
                Some(n) => n,
                None => self.fetch_nonce()?,
            };
            let kid = (!self.kid.is_empty()).then_some(self.kid.as_str());
            let body = self.key.sign(url, &nonce, kid, payload)?;
            let resp = self.https.request("POST", url, Some((JOSE, &body)))?;
            self.nonce = resp.header("replay-nonce").map(str::to_string);
            if resp.status < 400 {
                return Ok(resp);
            }
            let problem: Value = serde_json::from_slice(&resp.body).unwrap_or(Value::Null);
            let kind = problem["type"].as_str().unwrap_or_default();
            if kind.ends_with(":badNonce") && tries < NONCE_RETRIES {
                tries += 1;
                log::info!("acme: the CA refused a nonce; retrying ({tries})");
                continue;
            }
            return Err(AcmeError::Ca {
                status: resp.status,
                problem: describe_problem(&problem, &resp.body),
            });
        }
    }

    fn fetch_nonce(&self) -> Result<String, AcmeError> {
        let resp = self.https.request("HEAD", &self.new_nonce, None)?;
        resp.header("replay-nonce")
            .map(str::to_string)
            .ok_or_else(|| AcmeError::Protocol("newNonce answered without Replay-Nonce".into()))
    }
}

fn json_body(resp: &HttpResponse, url: &str) -> Result<Value, AcmeError> {
    if resp.status >= 400 {
        let problem: Value = serde_json::from_slice(&resp.body).unwrap_or(Value::Null);
        return Err(AcmeError::Ca {
            status: resp.status,
            problem: describe_problem(&problem, &resp.body),
        });
    }
    serde_json::from_slice(&resp.body)
        .map_err(|e| AcmeError::Protocol(format!("{url} answered invalid JSON: {e}")))
}

fn str_field(v: &Value, name: &str) -> Result<String, AcmeError> {
    v.get(name)
        .and_then(Value::as_str)
        .map(str::to_string)
        .ok_or_else(|| AcmeError::Protocol(format!("missing {name:?} in {v}")))
}

fn strings(v: &Value, name: &str) -> Vec<String> {
    v[name]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default()
}

fn retry_after(resp: &HttpResponse) -> Option<Duration> {
    let v = resp.header("retry-after")?;
    v.trim().parse::<u64>().ok().map(Duration::from_secs)
}

/// The problem document of a failed object: its own `error`, or its challenges' errors.
fn find_problem(v: &Value) -> String {
    if v.get("error").is_some() {
        return describe_problem(&v["error"], b"");
    }
    let mut out = Vec::new();
    for ch in v["challenges"].as_array().into_iter().flatten() {
        if ch.get("error").is_some() {
            out.push(format!(
                "{}: {}",
                ch["type"].as_str().unwrap_or("?"),
                describe_problem(&ch["error"], b"")
            ));
        }
    }
    if out.is_empty() {
        "no problem document".into()
    } else {
        out.join("; ")
    }
}

/// One line from an RFC 7807 problem document (type and detail).
fn describe_problem(problem: &Value, raw: &[u8]) -> String {
    match (problem["type"].as_str(), problem["detail"].as_str()) {
        (Some(t), Some(d)) => format!("{t}: {d}"),
        (Some(t), None) => t.to_string(),
        (None, Some(d)) => d.to_string(),
        (None, None) => String::from_utf8_lossy(&raw[..raw.len().min(200)]).into_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn problems_read_as_one_line() {
        let p = json!({"type": "urn:ietf:params:acme:error:badNonce", "detail": "stale"});
        assert_eq!(
            describe_problem(&p, b""),
            "urn:ietf:params:acme:error:badNonce: stale"
        );
        let authz = json!({"status": "invalid", "challenges": [
            {"type": "http-01", "error": {"type": "urn:ietf:params:acme:error:connection", "detail": "refused"}}
        ]});
        assert_eq!(
            find_problem(&authz),
            "http-01: urn:ietf:params:acme:error:connection: refused"
        );
        assert_eq!(describe_problem(&Value::Null, b"oops"), "oops");
    }
}
