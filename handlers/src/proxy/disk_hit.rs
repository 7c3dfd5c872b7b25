//! Hits from the disk tier: the file is read on the blocking pool and put in memory when
//! it fits, and the request answered again on its reactor; a body too big for memory is
//! checked in place and served from the file (a file region, never whole in memory). A
//! small body that memory does not take keeps its file open, and its next hits are read
//! here on the reactor when the page cache holds it (never waiting on the disk: see
//! `disk::hot`), skipping the round trip through the pool.

use std::sync::Arc;

use reactor::{Context, Reply, Request, Responder, Response};

use super::cache::{unix_now, CacheControl, Use};
use super::disk::Loaded;
use super::serve::Payload;
use super::target::Target;
use super::{answer, disk, CacheState, Inner};

/// Disk copies up to this size are read whole on a hit.
const READ_WHOLE: usize = 256 * 1024;

impl Inner {
    /// Reads `url` from the disk tier on the pool, puts it in memory, then answers the
    /// request again on this reactor (a hit now, or a miss if the file was bad).
    #[allow(clippy::too_many_arguments)]
    pub(super) fn from_disk(
        self: &Arc<Self>,
        disk: Arc<disk::DiskTier>,
        req: &mut Request,
        target: Target,
        url: String,
        cx: &mut Context<'_>,
        responder: Option<Responder>,
        collapse: bool,
    ) -> Reply {
        if let Some((entry, body)) = disk.read_open(&url) {
            let req_cc = CacheControl::of_request(&req.headers);
            if entry.matches(&req.headers) && entry.usable(&req_cc, unix_now()) == Use::Fresh {
                let resp = self.serve_from(&entry, &Payload::Shared(body), req, CacheState::Hit);
                return answer(resp, responder);
            }
        }
        let responder = responder.unwrap_or_else(|| cx.responder());
        let mut owned = req.clone();
        owned.body = std::mem::take(&mut req.body);
        let (inner, handle) = (self.clone(), cx.handle());
        let job = move || {
            let in_memory = inner.cache.as_ref().map_or(0, |c| c.max_in_memory());
            // Small bodies are read whole even when memory will not keep them: one read
            // and bytes to send cost less than a check in place and a file region.
            let in_memory = in_memory.max(READ_WHOLE);
            // Kept on disk only (too big for memory): served from the file while fresh.
            let disk_only = match (disk.load(&url, in_memory), &inner.cache) {
                (Some(Loaded::Memory(entry, opened)), Some(cache)) => {
                    cache.promote(&url, entry).err().map(|e| {
                        disk.keep_open(&url, opened, &e);
                        let payload = Payload::Shared(e.body.clone());
                        (e, payload)
                    })
                }
                (Some(Loaded::File(f)), Some(_)) => {
                    let payload = Payload::File(Arc::new(f.file), f.offset, f.len);
                    Some((Arc::new(f.entry), payload))
                }
                _ => None,
            };
            handle.run(move |cx| {
                let mut req = owned;
                if let Some((entry, payload)) = disk_only {
                    let req_cc = CacheControl::of_request(&req.headers);
                    if entry.matches(&req.headers)
                        && entry.usable(&req_cc, unix_now()) == Use::Fresh
                    {
                        let resp = inner.serve_from(&entry, &payload, &req, CacheState::Hit);
                        return responder.send(resp);
                    }
                    // Not usable as it is: a plain miss (no disk copy to find again).
                    disk.remove(&url);
                }
                inner.dispatch(&mut req, target, cx, Some(responder), collapse);
            });
        };
        match cx.spawn_blocking(job) {
            Ok(()) => Reply::Later,
            Err(_) => Reply::Response(Response::error_with(
                503,
                "The proxy is busy; try again shortly.",
            )),
        }
    }
}
