//! The origin's response head: interim (`1xx`) heads relayed (never stored), the final one parsed, its
//! body framing decided, unsafe methods' invalidations done, a revalidation's 304 merged,
//! and the client answered (with plain bytes, or a stream the body is relayed into).

use std::sync::atomic::Ordering;
use std::sync::Arc;

use reactor::body::BodyDecoder;
use reactor::request::Framing;
use reactor::{Body, Context, Response, SocketId};

use super::{Decoder, Fetch, Phase, Stored, MAX_HEAD};
use crate::proxy::cache::{field, unix_now};
use crate::proxy::exchange::Mode;
use crate::proxy::head::Head;
use crate::proxy::headers::{connection_tokens, response_fields, strip_response_fields, VIA};
use crate::proxy::target::same_origin_url;
use crate::proxy::CacheState;

impl Fetch {
    /// Bytes from the origin. False: this connection is finished.
    pub(super) fn data(&mut self, bytes: &[u8], id: SocketId, cx: &mut Context<'_>) -> bool {
        if self.phase == Phase::Body {
            return self.body(bytes);
        }
        self.buf.extend_from_slice(bytes);
        loop {
            match self.scanner.next(&self.buf) {
                Some(Err(e)) => {
                    let what = self.ex.dest().authority();
                    self.ex
                        .fail(502, &format!("{what} sent an invalid response: {e}."));
                    return false;
                }
                Some(Ok((n, _))) if n > MAX_HEAD => {
                    let what = self.ex.dest().authority();
                    self.ex.fail(
                        502,
                        &format!("{what} sent a response head that is too large."),
                    );
                    return false;
                }
                None => {
                    if self.buf.len() > MAX_HEAD {
                        let what = self.ex.dest().authority();
                        self.ex.fail(
                            502,
                            &format!("{what} sent a response head that is too large."),
                        );
                        return false;
                    }
                    return true;
                }
                Some(Ok((n, head))) => {
                    self.buf.drain(..n);
                    self.scanner.reset();
                    if (100..200).contains(&head.status) {
                        if head.status == 101 {
                            self.ex.fail(
                                502,
                                "The origin switched protocols, which this proxy does not relay.",
                            );
                            return false;
                        }
                        self.ex.interim(head.status, head.headers);
                        continue;
                    }
                    if !self.head(head, id, cx) {
                        return false;
                    }
                    self.phase = Phase::Body;
                    let rest = std::mem::take(&mut self.buf);
                    return self.body(&rest);
                }
            }
        }
    }

    /// The final response head arrived: decide framing, cacheability, and answer.
    pub(super) fn head(&mut self, h: Head, id: SocketId, cx: &mut Context<'_>) -> bool {
        self.ex.origin_answered();
        let inner = self.ex.inner.clone();
        let tokens = connection_tokens(
            h.headers
                .iter()
                .filter(|(n, _)| n.eq_ignore_ascii_case("connection"))
                .map(|(_, v)| v.as_bytes()),
        );
        let has = |t: &str| tokens.iter().any(|x| x == t);
        self.reusable = if h.version == 1 {
            !has("close")
        } else {
            has("keep-alive")
        };
        let no_body = self.ex.upstream_head || h.status == 204 || h.status == 304;
        let mut length = None;
        self.decoder = if no_body {
            Decoder::Empty
        } else if let Some(te) = field(&h.headers, "transfer-encoding") {
            let last = te.rsplit(',').next().unwrap_or("").trim();
            if field(&h.headers, "content-length").is_some() {
                // Both: chunked wins, and the connection is not trusted afterwards.
                self.reusable = false;
            }
            if last.eq_ignore_ascii_case("chunked") {
                Decoder::Framed(BodyDecoder::new(Framing::Chunked, u64::MAX))
            } else {
                self.reusable = false;
                Decoder::Close
            }
        } else if field(&h.headers, "content-length").is_some() {
            let mut lens = h
                .headers
                .iter()
                .filter(|(n, _)| n.eq_ignore_ascii_case("content-length"))
                .flat_map(|(_, v)| v.split(','))
                .map(|v| {
                    let v = v.trim();
                    (!v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()))
                        .then(|| v.parse::<u64>().ok())
                        .flatten()
                });
            let first = lens.next().flatten();
            match first {
                Some(n) if lens.all(|l| l == Some(n)) => {
                    length = Some(n);
                    Decoder::Framed(BodyDecoder::new(Framing::Length(n), u64::MAX))
                }
                _ => {
                    let what = self.ex.dest().authority();
                    self.ex
                        .fail(502, &format!("{what} sent an invalid Content-Length."));
                    return false;
                }
            }
        } else {
            self.reusable = false;
            Decoder::Close
        };
        let body_len = match self.decoder {
            Decoder::Empty => Some(0),
            _ => length,
        };

        // An unsafe method that succeeded invalidates what it may have changed.
        let safe = matches!(
            self.ex.req.method.as_str(),
            "GET" | "HEAD" | "OPTIONS" | "TRACE"
        );
        if let (false, true, Some(cache)) = (safe, h.status < 400, &inner.cache) {
            cache.invalidate(&self.ex.url);
            for name in ["location", "content-location"] {
                if let Some(u) =
                    field(&h.headers, name).and_then(|l| same_origin_url(&self.ex.target, l))
                {
                    cache.invalidate(&u);
                }
            }
        }

        let now = unix_now();
        if let Mode::Revalidate(entry) = &self.ex.mode {
            if h.status == 304 {
                let updated = entry.updated(
                    &response_fields(&h.headers, false),
                    self.ex.request_time,
                    now,
                );
                if let Some(r) = self.ex.responder.take() {
                    r.send(inner.serve(&updated, &self.ex.req, CacheState::Revalidated));
                }
                if let Some(cache) = &inner.cache {
                    cache.insert(&self.ex.url, updated);
                }
                if let Some(s) = self.ex.slot.take() {
                    s.done();
                }
                return true;
            }
            if h.status >= 500 && entry.stale_if_error(now) {
                if let Some(r) = self.ex.responder.take() {
                    r.send(inner.serve(entry, &self.ex.req, CacheState::Stale));
                }
                if let Some(s) = self.ex.slot.take() {
                    s.done();
                }
                return false;
            }
        }

        let fields = strip_response_fields(h.headers, self.ex.upstream_head);
        let max = inner.cache.as_ref().map_or(0, |c| c.max_object());
        let storable = self.ex.storable_req
            && (inner.cache.as_ref())
                .is_some_and(|c| c.storable(&self.ex.req.headers, h.status, &fields))
            && body_len.unwrap_or(0) <= max as u64;
        if self.ex.storable_req && !self.ex.upstream_head {
            // Requests for a URL whose answers cannot be stored are not collapsed.
            if storable {
                inner.pass.unmark(&self.ex.url);
            } else {
                inner.pass.mark(&self.ex.url);
            }
        }
        if storable {
            let in_memory = inner.cache.as_ref().map_or(0, |c| c.max_in_memory());
            let capacity = body_len.filter(|&n| n <= in_memory as u64).unwrap_or(0);
            let (flag, handle) = (self.resume.clone(), cx.handle());
            self.store = Some(Stored {
                status: h.status,
                headers: fields.clone(),
                expected: body_len,
                body: Vec::with_capacity(capacity as usize),
                len: 0,
                spill: None,
                held: Vec::new(),
                wake: Arc::new(move || {
                    flag.store(true, Ordering::Release);
                    handle.run(move |cx| cx.poke(id));
                }),
            });
        } else {
            if let (Mode::Revalidate(_), Some(cache)) = (&self.ex.mode, &inner.cache) {
                // The origin replaced the stale entry with something we may not keep.
                cache.invalidate(&self.ex.url);
            }
            if let Some(s) = self.ex.slot.take() {
                s.done();
            }
        }
        if let Some(r) = self.ex.responder.take() {
            inner.log(&self.ex.req, h.status, body_len, CacheState::Miss.as_str());
            let mut resp = Response::new(h.status);
            resp.headers.reserve(fields.len() + 2);
            for (n, v) in fields {
                resp.headers.push((n.into(), v.into()));
            }
            resp = resp
                .with_header("Via", VIA)
                .with_header("X-Cache", CacheState::Miss.as_str());
            let whole_body_here = length.is_some_and(|n| self.buf.len() as u64 >= n);
            if body_len == Some(0) {
                r.send(resp);
            } else if whole_body_here {
                // Small responses arrive with their head: answer with plain bytes.
                self.pending = Some((r, resp));
            } else {
                let (body, tx) = Body::stream(body_len);
                let flag = self.resume.clone();
                let handle = cx.handle();
                self.backlog = inner
                    .cache
                    .as_ref()
                    .filter(|_| self.store.is_some())
                    .map(|c| Arc::new(c.fill_budget().backlog()));
                let backlog = self.backlog.clone();
                tx.on_resume(move || {
                    if let Some(b) = &backlog {
                        b.release();
                    }
                    flag.store(true, Ordering::Release);
                    handle.run(move |cx| cx.poke(id));
                });
                self.sender = Some(tx);
                r.send(resp.with_body(body));
            }
        }
        true
    }
}
