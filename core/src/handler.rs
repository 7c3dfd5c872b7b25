//! The plugin API: [`Handler`], what it returns ([`Reply`]) and what it can ask of the
//! reactor through its [`Context`].

use std::io;
use std::sync::Arc;
use std::time::Instant;

use slab::Slab;

use crate::notify::{ConnRef, Msg, Notifier, ReactorHandle};
use crate::pool::Busy;
use crate::reactor::{SocketEntry, SOCKET_BASE};
use crate::request::Request;
use crate::response::Response;
use crate::server::Shared;
use crate::stats::Stats;

/// A request handler: a plugin the server consults, in the order they were added, until
/// one answers.
///
/// `handle` runs on the reactor thread, so it must not block: anything that touches the
/// disk or the network by blocking calls goes to the pool with [`Context::blocking`].
///
/// ```
/// use reactor::{Context, Handler, Reply, Request, Response};
///
/// /// Answers `/hello`; leaves every other path to the next handler.
/// struct Hello;
///
/// impl Handler for Hello {
///     fn handle(&self, req: &mut Request, _cx: &mut Context<'_>) -> Reply {
///         if req.path() != "/hello" {
///             return Reply::Decline;
///         }
///         if !req.is_get_or_head() {
///             return Reply::Response(Response::method_not_allowed("GET, HEAD"));
///         }
///         Reply::Response(Response::text(200, "hello\n"))
///     }
/// }
/// ```
pub trait Handler: Send + Sync + 'static {
    /// Answers `req` now, declines it, or promises to answer later.
    fn handle(&self, req: &mut Request, cx: &mut Context<'_>) -> Reply;
}

/// What a handler does with a request.
pub enum Reply {
    /// Here is the response.
    Response(Response),
    /// Not mine: try the next handler (nginx's `DECLINED`). If none takes it: 404.
    Decline,
    /// I will answer through the [`Responder`] I took with [`Context::responder`].
    Later,
}

/// Completes a deferred reply from any thread. Dropping it unused answers 500.
pub struct Responder {
    notifier: Arc<Notifier>,
    conn: ConnRef,
    done: bool,
}

impl Responder {
    /// Sends the response.
    pub fn send(mut self, response: Response) {
        self.done = true;
        self.notifier.send(Msg::Reply(self.conn, Some(response)));
    }

    /// Passes the request on to the next handler after all.
    pub fn decline(mut self) {
        self.done = true;
        self.notifier.send(Msg::Reply(self.conn, None));
    }
}

impl Drop for Responder {
    fn drop(&mut self) {
        if !self.done {
            log::error!("a handler dropped its responder without answering");
            let r = Response::error_with(500, "The handler did not answer.");
            self.notifier.send(Msg::Reply(self.conn, Some(r)));
        }
    }
}

/// Identifies a socket a handler registered with [`Context::register`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SocketId(pub(crate) usize);

/// Why a [`SocketHandler`] is being called.
#[derive(Debug, Clone, Copy)]
pub struct Ready {
    /// The socket this is about.
    pub id: SocketId,
    /// Readable (or the peer closed its side: a read will tell).
    pub readable: bool,
    /// Writable.
    pub writable: bool,
    /// The deadline set with [`Context::set_deadline`] has passed.
    pub timed_out: bool,
}

/// A socket owned by a handler (an upstream connection, say) and driven by the reactor.
/// The reactor uses edge-triggered readiness: read and write until `WouldBlock`.
pub trait SocketHandler: Send + 'static {
    /// The socket to watch.
    fn source(&mut self) -> &mut dyn mio::event::Source;
    /// Called on readiness or timeout. Return false to close and drop the socket.
    fn ready(&mut self, ready: Ready, cx: &mut Context<'_>) -> bool;
}

/// What a handler may ask of the reactor while it runs on the reactor thread.
pub struct Context<'a> {
    pub(crate) registry: &'a mio::Registry,
    pub(crate) sockets: &'a mut Slab<SocketEntry>,
    pub(crate) shared: &'a Shared,
    pub(crate) notifier: &'a Arc<Notifier>,
    pub(crate) conn: Option<ConnRef>,
    pub(crate) responders: usize,
    pub(crate) now: Instant,
}

impl Context<'_> {
    /// A responder for the request being handled; return [`Reply::Later`] after taking it.
    /// (Outside `Handler::handle` there is no request, and the responder goes nowhere.)
    pub fn responder(&mut self) -> Responder {
        self.responders += 1;
        Responder {
            notifier: self.notifier.clone(),
            conn: self.conn.unwrap_or(ConnRef {
                key: usize::MAX,
                id: u64::MAX,
            }),
            done: false,
        }
    }

    /// Runs `f` on the blocking pool and answers with what it returns (`None`: decline to
    /// the next handler). When the pool is saturated the answer is 503 with `Retry-After`.
    pub fn blocking(&mut self, f: impl FnOnce() -> Option<Response> + Send + 'static) -> Reply {
        let responder = self.responder();
        let job = move || match f() {
            Some(r) => responder.send(r),
            None => responder.decline(),
        };
        match self.shared.pool.try_execute(job) {
            Ok(()) => Reply::Later,
            Err(Busy) => Reply::Response(busy()),
        }
    }

    /// Runs `job` on the blocking pool; `Err(Busy)` when its queue is full.
    pub fn spawn_blocking(&mut self, job: impl FnOnce() + Send + 'static) -> Result<(), Busy> {
        self.shared.pool.try_execute(job)
    }

    /// A handle to run closures on this reactor from other threads.
    pub fn handle(&self) -> ReactorHandle {
        ReactorHandle {
            notifier: self.notifier.clone(),
        }
    }

    /// Registers a socket with the reactor; its readiness goes to `handler.ready`.
    pub fn register(
        &mut self,
        mut handler: Box<dyn SocketHandler>,
        interest: mio::Interest,
    ) -> io::Result<SocketId> {
        let entry = self.sockets.vacant_entry();
        let key = entry.key();
        self.registry
            .register(handler.source(), mio::Token(SOCKET_BASE + key), interest)?;
        entry.insert(SocketEntry::Owned {
            handler: Some(handler),
            deadline: None,
        });
        Ok(SocketId(key))
    }

    /// Changes the interest of a registered socket (pass the handler's own source).
    pub fn reregister(
        &self,
        source: &mut dyn mio::event::Source,
        id: SocketId,
        interest: mio::Interest,
    ) -> io::Result<()> {
        self.registry
            .reregister(source, mio::Token(SOCKET_BASE + id.0), interest)
    }

    /// Calls the handler of socket `id` now, as if it were readable and writable. For a
    /// producer that stopped reading (edge-triggered readiness already consumed) and must be
    /// re-driven, e.g. from a stream's resume hook through [`ReactorHandle::run`]. Does
    /// nothing if the socket is gone or its handler is running.
    pub fn poke(&mut self, id: SocketId) {
        let Some(SocketEntry::Owned { handler, .. }) = self.sockets.get_mut(id.0) else {
            return;
        };
        let Some(mut h) = handler.take() else {
            return;
        };
        let ready = Ready {
            id,
            readable: true,
            writable: true,
            timed_out: false,
        };
        let keep = {
            let mut cx = Context {
                registry: self.registry,
                sockets: &mut *self.sockets,
                shared: self.shared,
                notifier: self.notifier,
                conn: None,
                responders: 0,
                now: self.now,
            };
            h.ready(ready, &mut cx)
        };
        if keep {
            if let Some(SocketEntry::Owned { handler, .. }) = self.sockets.get_mut(id.0) {
                *handler = Some(h);
            }
        } else {
            let _ = self.registry.deregister(h.source());
            self.sockets.try_remove(id.0);
        }
    }

    /// Sets (or clears) the time at which the socket's handler is called with `timed_out`.
    pub fn set_deadline(&mut self, id: SocketId, deadline: Option<Instant>) {
        if let Some(SocketEntry::Owned { deadline: d, .. }) = self.sockets.get_mut(id.0) {
            *d = deadline;
        }
    }

    /// The server-wide counters.
    pub fn stats(&self) -> &Arc<Stats> {
        &self.shared.stats
    }

    /// The reactor's notion of now (updated once per event-loop turn).
    pub fn now(&self) -> Instant {
        self.now
    }
}

/// The 503 answer when the blocking pool is saturated.
pub(crate) fn busy() -> Response {
    Response::error_with(503, "The server is busy; try again shortly.")
        .with_header("Retry-After", "1")
}
