//! Relaying the body: decoded bytes to the client's stream and, while storing, into the
//! cache entry being filled; the end of the body (stored, connection pooled) or its
//! breaking off (never a short 200, nothing stored).

use std::sync::Arc;

use reactor::{Body, Flow, Response};

use super::{Decoder, Fetch};
use crate::proxy::cache::{unix_now, Entry};
use crate::proxy::disk::Queued;

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
        if self.store.is_some() && !self.store_bytes(&out) {
            self.give_up_store("too big, or the disk tier refused it");
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
                // A fill going to disk (too big for memory, or moved there now that
                // memory cannot hold the client's queue) follows the client's pace
                // instead: better stored late than not at all.
                Ok(Flow::Pause) => {
                    let held = self.backlog.as_ref().is_some_and(|b| b.hold(len));
                    let spilling = self.store.is_some() && !held && self.move_to_disk();
                    if self.store.is_some() && !held && !spilling {
                        self.give_up_store("a slow client's queue is past the fill budget");
                    }
                    self.paused = self.paused || self.store.is_none() || !held;
                }
                Ok(Flow::Continue) => {}
                Err(_) => self.sender = None,
            }
        }
        self.sender.is_some() || self.store.is_some()
    }

    /// Adds body bytes to the response being stored: in memory while it fits there, else
    /// on the disk tier (a response that outgrows memory moves there, what it had with
    /// it). False: it cannot be stored after all.
    fn store_bytes(&mut self, out: &[u8]) -> bool {
        let (Some(st), Some(cache)) = (&mut self.store, &self.ex.inner.cache) else {
            return false;
        };
        let len = st.len + out.len();
        if len > cache.max_object() {
            return false;
        }
        st.len = len;
        let size = st.expected.unwrap_or(len as u64);
        if st.spill.is_none() && size > cache.max_in_memory() as u64 && !self.move_to_disk() {
            return false;
        }
        let Some(st) = &mut self.store else {
            return false;
        };
        if st.spill.is_none() {
            st.body.extend_from_slice(out);
            return true;
        }
        st.held.extend_from_slice(out);
        self.spill_held()
    }

    /// Moves the response being stored to the disk tier, with what it had in memory.
    /// False: no disk tier, or it takes no more spills now.
    fn move_to_disk(&mut self) -> bool {
        let (Some(st), Some(cache)) = (&mut self.store, &self.ex.inner.cache) else {
            return false;
        };
        if st.spill.is_some() {
            return true;
        }
        let head = Entry::new(
            st.status,
            st.headers.clone(),
            Arc::from(&[][..]),
            &self.ex.req.headers,
            self.ex.request_time,
            unix_now(),
        );
        let Some(spill) = cache.spill(&self.ex.url, head, st.wake.clone()) else {
            return false;
        };
        st.held = std::mem::take(&mut st.body);
        st.spill = Some(spill);
        true
    }

    /// Hands the held bytes to the spill; while its queue is full they stay held and the
    /// origin is paused (the spill's wake hook resumes it). False: storing is over.
    pub(super) fn spill_held(&mut self) -> bool {
        let Some(st) = &mut self.store else {
            return true;
        };
        let (Some(spill), false) = (&mut st.spill, st.held.is_empty()) else {
            return true;
        };
        match spill.write(std::mem::take(&mut st.held)) {
            Queued::Done => true,
            Queued::Full(back) => {
                st.held = back;
                self.paused = true;
                true
            }
            Queued::Failed => {
                self.give_up_store("the disk tier failed");
                false
            }
        }
    }

    /// Stops storing this response; the clients waiting for it fetch for themselves.
    pub(super) fn give_up_store(&mut self, why: &str) {
        if self.store.take().is_some() {
            log::info!(
                "\"{} {}\": not stored: {why}",
                self.ex.req.method,
                self.ex.url
            );
        }
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
            if let Some(spill) = st.spill {
                spill.finish(st.held);
            } else {
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
