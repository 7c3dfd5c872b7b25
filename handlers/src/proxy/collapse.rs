//! Request collapsing: concurrent misses for one URL wait for the first one's fetch (its
//! [`Slot`]), then look in the cache again; a stale entry is revalidated once, in the
//! background.

use std::sync::Arc;

use reactor::{Context, ReactorHandle, Request, Responder, Response};

use super::cache::Entry;
use super::exchange::{self, Exchange, Mode};
use super::target::Target;
use super::Inner;

/// A client waiting for another request's fetch of the same URL (request collapsing).
pub(crate) struct Waiter {
    req: Request,
    target: Target,
    responder: Responder,
    handle: ReactorHandle,
}

impl Inner {
    /// Joins an in-flight fetch of `url` (`None`: queued as a waiter) or becomes its
    /// leader (everything handed back, with the leadership).
    #[allow(clippy::type_complexity)]
    pub(super) fn join_or_lead(
        self: &Arc<Self>,
        url: &str,
        req: Request,
        target: Target,
        cx: &mut Context<'_>,
        responder: Option<Responder>,
    ) -> Option<(Request, Target, Option<Responder>, Slot)> {
        let Ok(mut inflight) = self.inflight.lock() else {
            return Some((req, target, responder, Slot::detached(self.clone())));
        };
        if let Some(waiters) = inflight.get_mut(url) {
            let responder = responder.unwrap_or_else(|| cx.responder());
            waiters.push(Waiter {
                req,
                target,
                responder,
                handle: cx.handle(),
            });
            return None;
        }
        inflight.insert(url.to_string(), Vec::new());
        Some((
            req,
            target,
            responder,
            Slot {
                inner: self.clone(),
                key: Some(url.to_string()),
            },
        ))
    }

    /// Starts a revalidation nobody waits for, unless one is already running.
    pub(super) fn background_revalidate(
        self: &Arc<Self>,
        req: &Request,
        target: &Target,
        url: &str,
        entry: Arc<Entry>,
        cx: &mut Context<'_>,
    ) {
        let slot = {
            let Ok(mut inflight) = self.inflight.lock() else {
                return;
            };
            if inflight.contains_key(url) {
                return;
            }
            inflight.insert(url.to_string(), Vec::new());
            Slot {
                inner: self.clone(),
                key: Some(url.to_string()),
            }
        };
        let mut req = req.clone();
        req.method = "GET".into();
        let ex = Exchange::new(
            self.clone(),
            req,
            target.clone(),
            Mode::Revalidate(entry),
            None,
            Some(slot),
            true,
        );
        exchange::start(ex, cx);
    }
}

/// Leadership of an in-flight fetch: when it ends, the waiters are answered. Dropped
/// without an outcome, they get 502.
pub(crate) struct Slot {
    inner: Arc<Inner>,
    key: Option<String>,
}

impl Slot {
    fn detached(inner: Arc<Inner>) -> Slot {
        Slot { inner, key: None }
    }

    fn take_waiters(&mut self) -> Vec<Waiter> {
        let Some(key) = self.key.take() else {
            return Vec::new();
        };
        self.inner
            .inflight
            .lock()
            .ok()
            .and_then(|mut m| m.remove(&key))
            .unwrap_or_default()
    }

    /// The fetch is over (stored or not): each waiter looks in the cache again, on its own
    /// reactor, and fetches for itself if there is nothing usable.
    pub(crate) fn done(mut self) {
        for w in self.take_waiters() {
            let inner = self.inner.clone();
            let Waiter {
                req,
                target,
                responder,
                handle,
            } = w;
            handle.run(move |cx| {
                let mut req = req;
                inner.dispatch(&mut req, target, cx, Some(responder), false);
            });
        }
    }

    /// The fetch failed: every waiter gets the same error.
    pub(crate) fn fail(mut self, status: u16, detail: &str) {
        for w in self.take_waiters() {
            w.responder.send(Response::error_with(status, detail));
        }
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        for w in self.take_waiters() {
            w.responder
                .send(Response::error_with(502, "The origin fetch was abandoned."));
        }
    }
}
