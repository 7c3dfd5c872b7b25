//! `PURGE URL`: drops every stored variant of a URL (from each tier of the cache). 200
//! when something was there, 404 otherwise; only clients in the purge list (`--purge-allow`,
//! loopback by default) may purge, the others get 403. In reverse mode an origin-form
//! target names a URL of the upstream, as for GET.

use reactor::{Request, Response};

use super::target::{parse_proxy_target, Target};
use super::Inner;

/// Answers a `PURGE` request.
pub(crate) fn purge(inner: &Inner, req: &Request) -> Response {
    if !inner.config.purge_allow.allows(req.peer.ip()) {
        log::info!("{}: PURGE refused by the purge list", req.peer);
        return Response::error_with(403, "Your address may not purge this cache.");
    }
    let target = match &inner.config.upstream {
        Some(up) if req.target.starts_with('/') => Target {
            path: req.target.clone(),
            ..up.clone()
        },
        _ => match parse_proxy_target(&req.target) {
            Ok(t) => t,
            Err(e) => return Response::error_with(400, &format!("Bad PURGE target: {e}.")),
        },
    };
    let url = target.url();
    let found = inner.cache.as_ref().is_some_and(|c| c.invalidate(&url));
    inner.log(req, if found { 200 } else { 404 }, None, "PURGE");
    if found {
        Response::text(200, format!("Purged {url}\n"))
    } else {
        Response::error_with(404, &format!("{url} is not in the cache."))
    }
}
