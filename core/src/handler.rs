//! The plugin API: [`Handler`], what it returns ([`Reply`]) and what it can ask of the
//! reactor through its [`Context`].

//!
//! This module, [`crate::filter`], [`crate::request`] and [`crate::response`] form the
//! bottom layer: they import nothing of the reactor. The reactor reaches handlers through
//! them, and they reach the reactor only through the two small traits declared here
//! (`Host` for what a handler may do on the reactor thread, `Mailbox` for messages from
//! other threads), which the reactor implements.

use std::io;
use std::sync::Arc;
use std::time::Instant;

use crate::pool::{Busy, Pool};
use crate::request::Request;
use crate::request_body::BodySink;
use crate::response::Response;
use crate::stats::Stats;
use crate::upgrade::Waker;

/// Names one connection of one reactor: its slab key plus a unique id, so a message for a
/// connection that has since closed (and whose slot was reused) is recognised and dropped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnRef {
    pub(crate) key: usize,
    pub(crate) id: u64,
    /// The HTTP/2 stream the message is for (0 on an HTTP/1.1 connection).
    pub(crate) stream: u32,
}

/// A closure to run on the reactor thread.
pub type Task = Box<dyn FnOnce(&mut Context<'_>) + Send>;

/// The queue into one reactor, as the plugin API sees it (the reactor's notifier).
pub(crate) trait Mailbox: Send + Sync {
    /// A deferred reply: a response, or `None` to try the next handler.
    fn reply(&self, conn: ConnRef, reply: Option<Response>);
    /// An interim (`1xx`) response ahead of the deferred reply.
    fn interim(&self, conn: ConnRef, response: Response);
    /// Runs `task` on the reactor thread.
    fn run(&self, task: Task);
    /// Drives connection `conn` again (an upgraded connection's [`crate::upgrade::Waker`]).
    fn wake(&self, conn: ConnRef);
}

/// What the reactor lends a [`Context`]: its sockets, pool, counters and mailbox.
pub(crate) trait Host {
    fn mailbox(&self) -> Arc<dyn Mailbox>;
    fn pool(&self) -> &Pool;
    fn stats(&self) -> &Arc<Stats>;
    fn register(
        &mut self,
        handler: Box<dyn SocketHandler>,
        interest: mio::Interest,
    ) -> io::Result<SocketId>;
    fn reregister(
        &self,
        source: &mut dyn mio::event::Source,
        id: SocketId,
        interest: mio::Interest,
    ) -> io::Result<()>;
    fn poke(&mut self, id: SocketId, now: Instant);
    fn set_deadline(&mut self, id: SocketId, deadline: Option<Instant>);
}

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

    /// Whether this handler wants `req`'s body as a stream rather than buffered (default:
    /// no). When some handler says yes, the chain runs as soon as the head has arrived,
    /// with an empty `req.body`; the handler that takes the request calls
    /// [`Context::stream_body`] and answers once its sink has the whole body. Buffered
    /// bodies (the default) are limited by `max_body`; streamed ones only by the handler.
    fn streams_body(&self, _req: &Request) -> bool {
        false
    }
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
    mailbox: Arc<dyn Mailbox>,
    conn: ConnRef,
    done: bool,
}

impl Responder {
    /// Sends the response.
    pub fn send(mut self, response: Response) {
        self.done = true;
        self.mailbox.reply(self.conn, Some(response));
    }

    /// Sends an interim (`1xx`) response ahead of the final one, e.g. a `103 Early Hints`
    /// an origin sent. HTTP/1.0 clients never see it; `100` and `101` are not sent this
    /// way (the core answers `Expect` itself, and upgrades are final responses).
    pub fn interim(&self, response: Response) {
        if matches!(response.status, 102..=199) {
            self.mailbox.interim(self.conn, response);
        }
    }

    /// Passes the request on to the next handler after all.
    pub fn decline(mut self) {
        self.done = true;
        self.mailbox.reply(self.conn, None);
    }
}

impl Drop for Responder {
    fn drop(&mut self) {
        if !self.done {
            log::error!("a handler dropped its responder without answering");
            let r = Response::error_with(500, "The handler did not answer.");
            self.mailbox.reply(self.conn, Some(r));
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
    host: &'a mut dyn Host,
    conn: Option<ConnRef>,
    sink: Option<Box<dyn BodySink>>,
    responders: usize,
    now: Instant,
}

impl<'a> Context<'a> {
    /// A context for the request of `conn` (or for no request at all).
    pub(crate) fn new(host: &'a mut dyn Host, conn: Option<ConnRef>, now: Instant) -> Self {
        Context {
            host,
            conn,
            sink: None,
            responders: 0,
            now,
        }
    }

    /// True once a responder was taken (the answer [`Reply::Later`] is then legitimate).
    pub(crate) fn took_responder(&self) -> bool {
        self.responders > 0
    }

    /// True while no plugin took a responder or gave a body sink: the context is as good as
    /// a new one for the next plugin.
    pub(crate) fn is_clean(&self) -> bool {
        self.responders == 0 && self.sink.is_none()
    }

    /// The sink a handler gave [`Context::stream_body`], if any.
    pub(crate) fn take_sink(&mut self) -> Option<Box<dyn BodySink>> {
        self.sink.take()
    }
}

impl Context<'_> {
    /// Takes the body of the request being handled as a stream into `sink` (only for a
    /// request some handler's [`Handler::streams_body`] said yes to; otherwise the body
    /// has been read already and `sink` just gets `end(Ok)`). Answer with
    /// [`Reply::Later`] and send the response once the sink has ended.
    pub fn stream_body(&mut self, sink: impl BodySink) {
        self.sink = Some(Box::new(sink));
    }

    /// A waker for the connection of the request being handled: wakes a paused
    /// [`BodySink`] (reading resumes). `None` outside a request.
    pub fn waker(&self) -> Option<Waker> {
        self.conn.map(|conn| Waker {
            mailbox: self.host.mailbox(),
            conn,
        })
    }

    /// A responder for the request being handled; return [`Reply::Later`] after taking it.
    /// (Outside `Handler::handle` there is no request, and the responder goes nowhere.)
    pub fn responder(&mut self) -> Responder {
        self.responders += 1;
        Responder {
            mailbox: self.host.mailbox(),
            conn: self.conn.unwrap_or(ConnRef {
                key: usize::MAX,
                id: u64::MAX,
                stream: 0,
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
        match self.host.pool().try_execute(job) {
            Ok(()) => Reply::Later,
            Err(Busy) => Reply::Response(busy()),
        }
    }

    /// The blocking pool itself, for work that must keep going after the handler returned
    /// (a streamed body's disk writes, queued in order from a [`BodySink`]). Admit new work
    /// with [`Pool::try_execute`] (`Busy`: answer 503); continue admitted work with
    /// [`Pool::execute`].
    pub fn pool(&self) -> Pool {
        self.host.pool().clone()
    }

    /// Runs `job` on the blocking pool; `Err(Busy)` when its queue is full.
    pub fn spawn_blocking(&mut self, job: impl FnOnce() + Send + 'static) -> Result<(), Busy> {
        self.host.pool().try_execute(job)
    }

    /// A handle to run closures on this reactor from other threads.
    pub fn handle(&self) -> ReactorHandle {
        ReactorHandle {
            mailbox: self.host.mailbox(),
        }
    }

    /// Registers a socket with the reactor; its readiness goes to `handler.ready`.
    pub fn register(
        &mut self,
        handler: Box<dyn SocketHandler>,
        interest: mio::Interest,
    ) -> io::Result<SocketId> {
        self.host.register(handler, interest)
    }

    /// Changes the interest of a registered socket (pass the handler's own source).
    pub fn reregister(
        &self,
        source: &mut dyn mio::event::Source,
        id: SocketId,
        interest: mio::Interest,
    ) -> io::Result<()> {
        self.host.reregister(source, id, interest)
    }

    /// Calls the handler of socket `id` now, as if it were readable and writable. For a
    /// producer that stopped reading (edge-triggered readiness already consumed) and must be
    /// re-driven, e.g. from a stream's resume hook through [`ReactorHandle::run`]. Does
    /// nothing if the socket is gone or its handler is running.
    pub fn poke(&mut self, id: SocketId) {
        self.host.poke(id, self.now);
    }

    /// Sets (or clears) the time at which the socket's handler is called with `timed_out`.
    pub fn set_deadline(&mut self, id: SocketId, deadline: Option<Instant>) {
        self.host.set_deadline(id, deadline);
    }

    /// The server-wide counters.
    pub fn stats(&self) -> &Arc<Stats> {
        self.host.stats()
    }

    /// The reactor's notion of now (updated once per event-loop turn).
    pub fn now(&self) -> Instant {
        self.now
    }
}

/// A handle that runs closures on one reactor's thread, from any thread.
#[derive(Clone)]
pub struct ReactorHandle {
    mailbox: Arc<dyn Mailbox>,
}

impl ReactorHandle {
    /// Runs `f` on the reactor thread with a [`Context`], soon.
    pub fn run(&self, f: impl FnOnce(&mut Context<'_>) + Send + 'static) {
        self.mailbox.run(Box::new(f));
    }
}

/// The 503 answer when the blocking pool is saturated (for handlers that admit work with
/// [`Pool::try_execute`] themselves).
pub fn busy() -> Response {
    Response::error_with(503, "The server is busy; try again shortly.")
        .with_header("Retry-After", "1")
}
