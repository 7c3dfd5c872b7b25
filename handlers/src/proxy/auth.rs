//! Forward-proxy authentication (`--proxy-auth FILE`): clients send
//! `Proxy-Authorization: Basic …` checked against an htpasswd file (bcrypt, apr1,
//! SHA-crypt; [`crate::htpasswd`]); anything else gets 407 with `Proxy-Authenticate`.
//! Hashes are slow on purpose, so verification runs on the blocking pool, and credentials
//! that verified are remembered for a while (bounded) so that the next requests pass at
//! once. The credentials are for this proxy only: `Proxy-Authorization` is hop-by-hop
//! (never forwarded, [`super::headers`]), never logged, and not echoed by TRACE.

use std::collections::HashMap;
use std::io;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine;
use reactor::{Context, Reply, Request, Response};

use super::Inner;
use crate::htpasswd::Htpasswd;

/// Verified credentials remembered at most.
const MAX_REMEMBERED: usize = 4096;
/// How long verified credentials are remembered.
const REMEMBER_FOR: Duration = Duration::from_secs(300);

/// The users who may use the proxy, and the credentials recently verified.
///
/// ```
/// use reactor_handlers::htpasswd::Htpasswd;
/// use reactor_handlers::proxy::auth::ProxyAuth;
///
/// let auth = ProxyAuth::new(Htpasswd::parse("alice:$apr1$salt$hash\n"));
/// assert_eq!(auth.remembered(), 0);
/// ```
pub struct ProxyAuth {
    users: Htpasswd,
    verified: Mutex<HashMap<String, Instant>>,
}

impl ProxyAuth {
    /// Checks against `users`.
    pub fn new(users: Htpasswd) -> ProxyAuth {
        ProxyAuth {
            users,
            verified: Mutex::new(HashMap::new()),
        }
    }

    /// Reads the htpasswd file at `path`.
    pub fn load(path: &Path) -> io::Result<ProxyAuth> {
        Ok(ProxyAuth::new(Htpasswd::load(path)?))
    }

    /// How many verified credentials are remembered.
    pub fn remembered(&self) -> usize {
        self.verified.lock().map_or(0, |m| m.len())
    }

    fn is_remembered(&self, value: &str) -> bool {
        let Ok(m) = self.verified.lock() else {
            return false;
        };
        m.get(value).is_some_and(|at| at.elapsed() < REMEMBER_FOR)
    }

    fn remember(&self, value: String) {
        let Ok(mut m) = self.verified.lock() else {
            return;
        };
        if m.len() >= MAX_REMEMBERED {
            m.retain(|_, at| at.elapsed() < REMEMBER_FOR);
            if m.len() >= MAX_REMEMBERED {
                m.clear();
            }
        }
        m.insert(value, Instant::now());
    }
}

/// True when `req` must authenticate: everything but a reverse proxy's own requests
/// (origin-form, for the upstream).
pub(crate) fn required(inner: &Inner, req: &Request) -> bool {
    !(inner.config.upstream.is_some() && req.target.starts_with('/'))
}

/// Lets `req` through (at once, or after verification on the pool) or answers 407.
pub(crate) fn gate(
    inner: &Arc<Inner>,
    auth: &Arc<ProxyAuth>,
    req: &mut Request,
    cx: &mut Context<'_>,
) -> Reply {
    let Some(value) = req.header("proxy-authorization").map(str::to_string) else {
        return Reply::Response(challenge("This proxy needs a user name and password."));
    };
    if auth.is_remembered(&value) {
        return inner.route(req, cx, None);
    }
    let Some((user, password)) = basic_credentials(&value) else {
        return Reply::Response(challenge("Only Basic proxy authentication is supported."));
    };
    let responder = cx.responder();
    let handle = cx.handle();
    let mut owned = req.clone();
    owned.body = std::mem::take(&mut req.body);
    let (inner, auth2) = (inner.clone(), auth.clone());
    let job = move || {
        let ok = auth2.users.verify(&user, &password);
        if !ok {
            log::info!("{}: proxy authentication failed for {user:?}", owned.peer);
        }
        handle.run(move |cx| {
            if ok {
                auth2.remember(value);
                inner.route(&mut owned, cx, Some(responder));
            } else {
                responder.send(challenge("The user name or password is wrong."));
            }
        });
    };
    match cx.spawn_blocking(job) {
        Ok(()) => Reply::Later,
        Err(_) => Reply::Response(
            Response::error_with(503, "The proxy is busy; try again shortly.")
                .with_header("Retry-After", "1"),
        ),
    }
}

/// 407 asking for Basic credentials.
fn challenge(detail: &str) -> Response {
    Response::error_with(407, detail).with_header(
        "Proxy-Authenticate",
        "Basic realm=\"reactor-proxy\", charset=\"UTF-8\"",
    )
}

/// `Basic base64(user:password)` → `(user, password)`.
fn basic_credentials(value: &str) -> Option<(String, String)> {
    let (scheme, token) = value.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let raw = base64::engine::general_purpose::STANDARD
        .decode(token.trim())
        .ok()?;
    let text = String::from_utf8(raw).ok()?;
    let (user, password) = text.split_once(':')?;
    Some((user.to_string(), password.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basic_credentials_parsed_strictly() {
        // "alice:open:sesame" (a colon in the password is allowed).
        assert_eq!(
            basic_credentials("Basic YWxpY2U6b3BlbjpzZXNhbWU="),
            Some(("alice".into(), "open:sesame".into()))
        );
        assert_eq!(
            basic_credentials("basic  YWxpY2U6eA== "),
            Some(("alice".into(), "x".into()))
        );
        for bad in [
            "Bearer abc",
            "Basic",
            "Basic !!!",
            "Basic YWxpY2U=",
            "Digest x",
        ] {
            assert_eq!(basic_credentials(bad), None, "{bad}");
        }
    }

    #[test]
    fn remembered_credentials_are_bounded() {
        let auth = ProxyAuth::new(Htpasswd::parse(""));
        for i in 0..MAX_REMEMBERED + 10 {
            auth.remember(format!("Basic {i}"));
        }
        assert!(auth.remembered() <= MAX_REMEMBERED);
        assert!(auth.is_remembered(&format!("Basic {}", MAX_REMEMBERED + 9)));
        assert!(!auth.is_remembered("Basic never"));
    }
}
