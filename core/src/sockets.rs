//! Sockets the reactor watches on someone else's behalf: those handlers register through
//! their [`Context`] (an upstream connection, say), and the peer side of a tunnel. Here
//! the reactor lends itself to the plugin API as its `Host`.

use std::io;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;
use std::time::Instant;

use mio::{Interest, Registry, Token};
use slab::Slab;

use crate::handler::{Context, Host, Mailbox, Ready, SocketHandler, SocketId};
use crate::notify::Notifier;
use crate::pool::Pool;
use crate::shared::Shared;
use crate::stats::Stats;

/// Handler-owned socket tokens are slab keys plus this offset.
pub(crate) const SOCKET_BASE: usize = 1 << 40;

/// A socket the reactor watches on someone else's behalf.
pub(crate) enum SocketEntry {
    /// Owned by a handler; `handler` is out while its `ready` runs.
    Owned {
        handler: Option<Box<dyn SocketHandler>>,
        deadline: Option<Instant>,
    },
    /// The peer side of a connection turned into a tunnel.
    TunnelPeer { conn_key: usize, conn_id: u64 },
}

/// The reactor as a [`Context`] sees it.
pub(crate) struct Ops<'a> {
    pub registry: &'a Registry,
    pub sockets: &'a mut Slab<SocketEntry>,
    pub shared: &'a Shared,
    pub notifier: &'a Arc<Notifier>,
}

impl Ops<'_> {
    /// Calls the handler of socket `key` with `ready`; drops the socket if it says so.
    pub fn run_socket(&mut self, key: usize, ready: Ready, now: Instant) {
        let Some(SocketEntry::Owned { handler, .. }) = self.sockets.get_mut(key) else {
            return;
        };
        let Some(mut h) = handler.take() else {
            return;
        };
        let ran = {
            let mut cx = Context::new(self, None, now);
            catch_unwind(AssertUnwindSafe(|| h.ready(ready, &mut cx)))
        };
        // A panicking socket handler loses its socket, and nothing else.
        let keep = ran.unwrap_or_else(|_| {
            log::error!("socket handler {key} panicked; closing its socket");
            false
        });
        if keep {
            if let Some(SocketEntry::Owned { handler, .. }) = self.sockets.get_mut(key) {
                *handler = Some(h);
            }
        } else {
            let _ = self.registry.deregister(h.source());
            self.sockets.try_remove(key);
        }
    }
}

impl Host for Ops<'_> {
    fn mailbox(&self) -> Arc<dyn Mailbox> {
        self.notifier.clone()
    }

    fn pool(&self) -> &Pool {
        &self.shared.pool
    }

    fn stats(&self) -> &Arc<Stats> {
        &self.shared.stats
    }

    fn register(
        &mut self,
        mut handler: Box<dyn SocketHandler>,
        interest: Interest,
    ) -> io::Result<SocketId> {
        let entry = self.sockets.vacant_entry();
        let key = entry.key();
        self.registry
            .register(handler.source(), Token(SOCKET_BASE + key), interest)?;
        entry.insert(SocketEntry::Owned {
            handler: Some(handler),
            deadline: None,
        });
        Ok(SocketId(key))
    }

    fn reregister(
        &self,
        source: &mut dyn mio::event::Source,
        id: SocketId,
        interest: Interest,
    ) -> io::Result<()> {
        self.registry
            .reregister(source, Token(SOCKET_BASE + id.0), interest)
    }

    fn poke(&mut self, id: SocketId, now: Instant) {
        let ready = Ready {
            id,
            readable: true,
            writable: true,
            timed_out: false,
        };
        self.run_socket(id.0, ready, now);
    }

    fn set_deadline(&mut self, id: SocketId, deadline: Option<Instant>) {
        if let Some(SocketEntry::Owned { deadline: d, .. }) = self.sockets.get_mut(id.0) {
            *d = deadline;
        }
    }
}
