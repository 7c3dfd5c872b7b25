//! One request's way through the plugins, whatever protocol carried it: the request
//! filters, then the handler chain, and the response filters on whatever answer comes
//! back. A panic in a plugin costs that request a 500, nothing more.

use std::panic::{catch_unwind, AssertUnwindSafe};

use crate::filter::Filter;
use crate::handler::{Context, Handler, Reply};
use crate::request::Request;
use crate::response::Response;

/// The plugins of a server, in the order they were added.
#[derive(Default)]
pub(crate) struct Chain {
    pub filters: Vec<Box<dyn Filter>>,
    pub handlers: Vec<Box<dyn Handler>>,
}

/// What step `index` of the chain made of a request.
pub(crate) enum Step {
    /// The answer; `close` when the connection must not be reused (a plugin panicked).
    Answer { resp: Response, close: bool },
    /// Declined: offer it to step `index + 1`.
    Next(usize),
    /// Step `.0` took a responder: the answer comes later (a decline through it goes on
    /// at step `.0 + 1`).
    Later(usize),
}

impl Chain {
    /// Whether some handler takes `req`'s body as a stream ([`Handler::streams_body`]).
    pub fn streams_body(&self, req: &Request) -> bool {
        self.handlers.iter().any(|h| h.streams_body(req))
    }

    /// Offers `req` to step `index`: the request filters first, then the handlers. Steps
    /// that decline without leaving anything in `cx` (a responder taken, a body sink) are
    /// passed here, with the same context; `Step::Next` comes back after one that did.
    pub fn offer(&self, mut index: usize, req: &mut Request, cx: &mut Context<'_>) -> Step {
        let filters = &self.filters;
        let at = &mut index;
        let reply = catch_unwind(AssertUnwindSafe(|| loop {
            let reply = match filters.get(*at) {
                Some(f) => f.request(req, cx),
                None => match self.handlers.get(*at - filters.len()) {
                    Some(h) => h.handle(req, cx),
                    None => return None,
                },
            };
            match reply {
                Reply::Decline if cx.is_clean() => *at += 1,
                reply => return Some(reply),
            }
        }));
        let Ok(reply) = reply else {
            log::error!(
                "{}: \"{} {}\": plugin {index} panicked; answering 500",
                req.peer,
                req.method,
                req.target
            );
            return Step::Answer {
                resp: Response::error(500),
                close: true,
            };
        };
        let resp = match reply {
            None => Response::error(404),
            Some(Reply::Response(r)) => r,
            Some(Reply::Decline) => return Step::Next(index + 1),
            Some(Reply::Later) if cx.took_responder() => return Step::Later(index),
            Some(Reply::Later) => {
                log::error!("plugin {index} returned Later without taking a responder");
                Response::error(500)
            }
        };
        Step::Answer { resp, close: false }
    }

    /// Runs the response filters (in reverse order) over the answer to `req`, in place.
    /// True when the connection must close: a filter panicked, and `resp` became a 500.
    pub fn filter_response(
        &self,
        req: &Request,
        resp: &mut Response,
        cx: &mut Context<'_>,
    ) -> bool {
        if self.filters.is_empty() {
            return false;
        }
        let ran = catch_unwind(AssertUnwindSafe(|| {
            for f in self.filters.iter().rev() {
                f.response(req, resp, cx);
            }
        }));
        if ran.is_ok() {
            return false;
        }
        log::error!(
            "{}: \"{} {}\": a response filter panicked; answering 500",
            req.peer,
            req.method,
            req.target
        );
        *resp = Response::error(500);
        true
    }
}
