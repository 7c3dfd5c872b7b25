//! HTTP Basic authentication (RFC 7617) over path prefixes, against htpasswd files.
//!
//! Password checks run on the blocking pool (bcrypt takes milliseconds by design); a
//! credential that verified is remembered as a salted digest, never as the password, so
//! the next request with it costs one hash. Nothing here logs a password or the
//! `Authorization` header.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use base64::Engine;
use md5::{Digest, Md5};
use reactor::{Context, Filter, Reply, Request, Response};

use crate::htpasswd::Htpasswd;
use crate::path::decoded;

/// Most remembered credentials; past it the memory is cleared.
const MAX_REMEMBERED: usize = 4096;

/// One protected area.
#[derive(Debug, Clone)]
pub struct AuthArea {
    /// The path prefix it covers (`/private/` covers `/private` too).
    pub prefix: String,
    /// Who may enter.
    pub users: Arc<Htpasswd>,
    /// The realm named in `WWW-Authenticate`.
    pub realm: String,
}

/// Basic authentication for the request paths under each area's prefix (the first area
/// that covers a path applies). Paths are compared after percent-decoding and dot-segment
/// removal, so `/%70rivate/` is `/private/`.
pub struct BasicAuth {
    areas: Vec<AuthArea>,
    verified: Arc<Mutex<HashSet<[u8; 16]>>>,
    salt: [u8; 16],
}

impl BasicAuth {
    /// Protects `areas`.
    pub fn new(areas: Vec<AuthArea>) -> BasicAuth {
        // The salt only keeps remembered digests unlike any other; it need not be secret
        // from the process itself.
        let seed = format!(
            "{:?}{}{:p}",
            std::time::SystemTime::now(),
            std::process::id(),
            &areas
        );
        BasicAuth {
            areas,
            verified: Arc::default(),
            salt: Md5::digest(seed.as_bytes()).into(),
        }
    }

    fn area(&self, req: &Request) -> Option<&AuthArea> {
        if self.areas.is_empty() {
            return None;
        }
        let decoded = decoded(req.path(), true)?;
        self.areas.iter().find(|a| {
            decoded.starts_with(&a.prefix)
                || a.prefix.strip_suffix('/').is_some_and(|p| p == decoded)
        })
    }

    fn digest(&self, realm: &str, credentials: &str) -> [u8; 16] {
        Md5::new()
            .chain_update(self.salt)
            .chain_update(realm)
            .chain_update([0])
            .chain_update(credentials)
            .finalize()
            .into()
    }
}

/// `user` and `password` from an `Authorization: Basic …` value.
pub fn basic_credentials(value: &str) -> Option<(String, String)> {
    let (scheme, token) = value.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(token.trim())
        .ok()?;
    let text = String::from_utf8(bytes).ok()?;
    let (user, password) = text.split_once(':')?;
    Some((user.to_string(), password.to_string()))
}

/// The 401 answer for `realm`.
fn challenge(realm: &str) -> Response {
    let realm = realm.replace(['"', '\\'], "");
    Response::error(401).with_header(
        "WWW-Authenticate",
        format!("Basic realm=\"{realm}\", charset=\"UTF-8\""),
    )
}

impl Filter for BasicAuth {
    fn request(&self, req: &mut Request, cx: &mut Context<'_>) -> Reply {
        let Some(area) = self.area(req) else {
            return Reply::Decline;
        };
        let Some((user, password)) = req.header("authorization").and_then(basic_credentials) else {
            return Reply::Response(challenge(&area.realm));
        };
        let key = self.digest(&area.realm, &format!("{user}:{password}"));
        if self.verified.lock().is_ok_and(|v| v.contains(&key)) {
            return Reply::Decline;
        }
        let users = area.users.clone();
        let realm = area.realm.clone();
        let verified = self.verified.clone();
        cx.blocking(move || {
            if !users.verify(&user, &password) {
                log::info!("basic auth: wrong credentials for user {user:?}");
                return Some(challenge(&realm));
            }
            if let Ok(mut v) = verified.lock() {
                if v.len() >= MAX_REMEMBERED {
                    v.clear();
                }
                v.insert(key);
            }
            None // verified: on to the handlers
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_parse() {
        // "alice:s3cret pass" and "bob:pw:with:colons".
        assert_eq!(
            basic_credentials("Basic YWxpY2U6czNjcmV0IHBhc3M="),
            Some(("alice".into(), "s3cret pass".into()))
        );
        assert_eq!(
            basic_credentials("basic Ym9iOnB3OndpdGg6Y29sb25z"),
            Some(("bob".into(), "pw:with:colons".into()))
        );
        assert_eq!(basic_credentials("Bearer abc"), None);
        assert_eq!(basic_credentials("Basic !!!"), None);
        assert_eq!(basic_credentials("Basic bm9jb2xvbg=="), None, "no colon");
    }
}
