//! Filters: plugins that run around the handler chain for every request (nginx's filter
//! chain in miniature). Request filters come before the handlers (auth, rewrites,
//! redirects); response filters come after them (headers, compression).

use crate::handler::{Context, Reply};
use crate::request::Request;
use crate::response::Response;

/// A plugin that sees every request before the handlers and every response after them.
///
/// Both methods have defaults that do nothing, so a filter implements only the side it
/// needs.
///
/// ```
/// use reactor::{Context, Filter, Reply, Request, Response};
///
/// /// Refuses `/admin/…` and marks every response.
/// struct Guard;
///
/// impl Filter for Guard {
///     fn request(&self, req: &mut Request, _cx: &mut Context<'_>) -> Reply {
///         if req.path().starts_with("/admin/") {
///             return Reply::Response(Response::error(403));
///         }
///         Reply::Decline // go on to the next filter, then the handlers
///     }
///
///     fn response(&self, _req: &Request, resp: &mut Response, _cx: &mut Context<'_>) {
///         resp.headers.push(("X-Guarded".into(), "1".into()));
///     }
/// }
/// ```
pub trait Filter: Send + Sync + 'static {
    /// Runs before the handlers, in the order the filters were added.
    ///
    /// [`Reply::Decline`] passes the request (possibly changed) on to the next filter and
    /// then the handlers; [`Reply::Response`] answers it now, and no handler sees it;
    /// [`Reply::Later`] answers through a [`crate::Responder`], whose `decline()` passes
    /// the request on.
    fn request(&self, _req: &mut Request, _cx: &mut Context<'_>) -> Reply {
        Reply::Decline
    }

    /// Runs on every response to a request that reached the filters (from a filter, a
    /// handler, or the 404 when nobody took it), in the reverse order of addition, before
    /// the core frames it. Errors the core answers itself while reading a request (400,
    /// 408, 413, 431, …) do not pass here.
    fn response(&self, _req: &Request, _resp: &mut Response, _cx: &mut Context<'_>) {}
}
