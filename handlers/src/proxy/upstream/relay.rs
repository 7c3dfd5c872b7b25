//! Relaying the body: decoded bytes to the client's stream and, while storing, into the
//! cache entry being filled; the end of the body (stored, connection pooled) or its
//! breaking off (never a short 200, nothing stored).

use std::sync::Arc;

use reactor::{Body, Flow, Response};

use super::{Decoder, Fetch};
use crate::proxy::cache::{unix_now, Entry};

impl Fetch {
    /// Body bytes (still framed). False: this connection is finished.
    pub(super) fn body(&mut self, data: &[u8]) -> bool {
        let mut out = Vec::new();
        let finished = match &mut self.decoder {
            Decoder::Empty => {
                if !data.is_empty() {
                    self.reusable = false;
                }
                true
            }
            Decoder::Close => {
                out.extend_from_slice(data);
                false
            }
            Decoder::Framed(d) => match d.decode(data, &mut out) {
                Ok(used) => {
                    if used < data.len() {
                        self.reusable = false;
                    }
                    d.is_done()
                }
                Err(e) => {
                    let detail = format!("the origin sent a badly framed body: {}", e.detail);
                    self.abort(&detail);
                    return false;
                }
            },
        };
        if !out.is_empty() && !self.deliver(out) {
            return false;
        }
        if finished {
            self.complete();
            return false;
        }
        true
    }

    /// Passes decoded body bytes to the client and the cache. False: nobody wants them.
    pub(super) fn deliver(&mut self, out: Vec<u8>) -> bool {
        let max = self.ex.inner.cache.as_ref().map_or(0, |c| c.max_object());
        if let Some(st) = &mut self.store {
            if st.body.len() + out.len() > max {
                self.give_up_store();
            } else {
                st.body.extend_from_slice(&out);
            }
        }
        if let Some((r, resp)) = self.pending.take() {
            r.send(resp.with_body(Body::from(out)));
            return true;
        }
        if let Some(tx) = &self.sender {
            let len = out.len();
            match tx.send(out) {
                // While the body is being stored, a slow client does not hold back the
                // cache fill or the clients waiting for it, as long as its queue fits the
                // fill budget; past it, the fill gives up storing and pauses the origin.
                Ok(Flow::Pause) => {
                    let held = self.backlog.as_ref().is_some_and(|b| b.hold(len));
                    if self.store.is_some() && !held {
                        self.give_up_store();
                    }
                    self.paused = self.store.is_none();
                }
                Ok(Flow::Continue) => {}
                Err(_) => self.sender = None,
            }
        }
        self.sender.is_some() || self.store.is_some()
    }

    /// Stops storing this response; the clients waiting for it fetch for themselves.
    pub(super) fn give_up_store(&mut self) {
        self.store = None;
        self.backlog = None;
        if let Some(s) = self.ex.slot.take() {
            s.done();
        }
    }

    /// The body ended exactly: finish the client's stream, store, pool the connection.
    pub(super) fn complete(&mut self) {
        if let Some(tx) = self.sender.take() {
            tx.finish();
        }
        if let (Some(st), Some(cache)) = (self.store.take(), &self.ex.inner.cache) {
            let entry = Entry::new(
                st.status,
                st.headers,
                Arc::from(st.body),
                &self.ex.req.headers,
                self.ex.request_time,
                unix_now(),
            );
            cache.insert(&self.ex.url, entry);
        }
        if let Some(s) = self.ex.slot.take() {
            s.done();
        }
        self.park = self.reusable && self.buf.is_empty();
    }

    /// The body broke off: the client's connection is closed (never a short 200) and
    /// nothing is stored.
    pub(super) fn abort(&mut self, detail: &str) {
        log::warn!(
            "{} \"{} {}\": {detail}",
            self.ex.req.peer,
            self.ex.req.method,
            self.ex.url
        );
        if let Some(tx) = self.sender.take() {
            tx.abort();
        }
        if let Some((r, _)) = self.pending.take() {
            r.send(Response::error_with(502, detail));
        }
        self.store = None;
        if let Some(s) = self.ex.slot.take() {
            s.done();
        }
        let what = self.ex.dest().authority();
        self.ex.fail(502, &format!("{what}: {detail}."));
    }
}
