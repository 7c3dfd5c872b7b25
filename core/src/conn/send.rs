//! Sending the response to the current request: the head and body through the write
//! queue (bytes, files by sendfile or pool reads, streams), then what follows it:
//! keep-alive, a tunnel, an upgrade, lingering, or the close.

use std::io;

use crate::access_log::{self, Entry};
use crate::h1;
use crate::outbuf::Refill;
use crate::request::Version;
use crate::response::Response;
use crate::sendfile::Sent;

use super::{Conn, Env, Next, Phase, Takeover, PIPELINE_BATCH};

impl Conn {
    /// Starts sending `resp` for the current request.
    pub(super) fn respond(&mut self, env: &mut Env<'_>, mut resp: Response) {
        let req = self.current.as_deref();
        if resp.tunnel.is_some() && resp.status / 100 == 2 {
            self.tunnel_peer = resp.tunnel.take();
        }
        if resp.status == 101 && req.is_some_and(|r| r.version == Version::Http11) {
            self.upgraded = resp.upgrade.take().map(|object| {
                Box::new(Takeover {
                    object,
                    input: Vec::new(),
                })
            });
        }
        if resp.status == 101 && self.upgraded.is_none() {
            // A 101 nobody takes the connection over for: refuse instead.
            resp = Response::error_with(500, "The handler switched protocols without a taker.");
            self.keep_alive = false;
        }
        let x = h1::Exchange {
            version: req.map_or(Version::Http11, |r| r.version),
            head_only: req.is_some_and(|r| r.method == "HEAD"),
            keep_alive: self.keep_alive && !env.stopping,
            tunnel: self.tunnel_peer.is_some() || self.upgraded.is_some(),
            date: env.date,
        };
        let mut head = self.out.head_buffer(|| env.spares.head());
        let plan = h1::encode_head(&resp, &x, &mut head);
        self.keep_alive = plan.keep_alive;
        self.status = resp.status;
        let body = std::mem::take(&mut resp.body);
        self.out.start(head, body, plan, &self.jobs(env));
        self.phase = Phase::Writing;
        self.deadline = Some(env.now + env.shared.config.timeouts.send);
    }

    pub(super) fn write(&mut self, env: &mut Env<'_>) -> Result<bool, ()> {
        loop {
            // Pipelined requests: an answer queued whole waits for the answers to the
            // requests already received, so that they go out together in one write.
            if self.keep_alive
                && self.tunnel_peer.is_none()
                && !self.input.is_empty()
                && self.out.is_whole()
                && self.out.queued() < PIPELINE_BATCH
            {
                self.finish(env);
                return Ok(true);
            }
            let before = self.out.queued();
            let flushed = self.out.flush(&mut self.transport)?;
            if self.out.queued() < before {
                self.deadline = Some(env.now + env.shared.config.timeouts.send);
            }
            match self.out.refill(&self.transport, &self.jobs(env))? {
                Refill::More => continue,
                Refill::Done if flushed && self.transport.drained() => {
                    self.finish(env);
                    return Ok(true);
                }
                Refill::Done | Refill::Wait => return Ok(false),
            }
        }
    }

    /// A sendfile job finished. Err: the connection must close.
    pub fn file_sent(&mut self, env: &Env<'_>, sent: Sent) -> Result<(), ()> {
        let bytes = self.out.file_sent(&mut self.transport, sent, self.peer)?;
        if bytes > 0 {
            self.deadline = Some(env.now + env.shared.config.timeouts.send);
        }
        Ok(())
    }

    /// A pool job read the next chunk of a file body. Err: the connection must close.
    pub fn file_read(&mut self, chunk: io::Result<Vec<u8>>) -> Result<(), ()> {
        self.out.file_read(chunk, self.peer)
    }

    /// The response has been written completely.
    pub(super) fn finish(&mut self, env: &mut Env<'_>) {
        let entry = Entry {
            req: self.current.as_deref(),
            peer: self.peer,
            status: self.status,
            body_bytes: self.out.body_sent,
        };
        if env.shared.config.access_log.is_some() {
            access_log::format_line(env.log, &entry, env.date);
        }
        env.tally.responded(self.status, self.out.body_sent);
        if let Some(req) = self.current.take() {
            env.spares.give_request(req);
        }
        self.body_held = None;
        if let Some(buf) = self.out.take_spare() {
            env.spares.give_head(buf);
        }
        if let Some(peer) = self.tunnel_peer.take() {
            self.start_tunnel(env, peer);
        } else if let Some(takeover) = self.upgraded.as_mut() {
            takeover.input = self.input.take_rest(env.bufs);
            self.phase = Phase::Upgraded;
            self.deadline = None;
        } else if self.keep_alive {
            self.phase = Phase::Head { started: false };
            self.deadline = Some(env.now + env.shared.config.timeouts.keep_alive);
            self.input.release(env.bufs);
        } else if self.unread_request || !self.input.is_empty() {
            // Closing with unread input would reset the connection and could destroy the
            // response before the client reads it: shut our side and drain theirs first.
            self.transport.shutdown_write();
            self.phase = Phase::Linger;
            self.deadline = Some(env.now + env.shared.config.timeouts.linger);
        } else {
            self.transport.close_notify();
            self.phase = Phase::Done;
        }
    }

    pub(super) fn linger(&mut self) -> Next {
        match self.transport.discard_input() {
            Ok(()) => Next::Keep,
            Err(()) => Next::Close,
        }
    }
}
