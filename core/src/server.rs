//! Configuration, the server builder, and running N independent reactors.

use std::io;
use std::net::SocketAddr;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::thread::JoinHandle;

use mio::{Poll, Waker};
use socket2::{Domain, Protocol, Socket, Type};

use crate::body_budget::BodyBudget;
use crate::exchange::Chain;
use crate::filter::Filter;
use crate::handler::Handler;
use crate::notify::Notifier;
use crate::pool::Pool;
use crate::reactor::{Reactor, WAKER};
pub use crate::shared::{Config, Timeouts};
use crate::shared::{Shared, StopState, STOP_FORCE, STOP_GRACEFUL};
use crate::stats::Stats;

/// A server being assembled: configuration plus a chain of handlers.
///
/// ```no_run
/// use reactor::{Config, Server};
/// # struct Hello;
/// # impl reactor::Handler for Hello {
/// #     fn handle(&self, _: &mut reactor::Request, _: &mut reactor::Context<'_>) -> reactor::Reply {
/// #         reactor::Reply::Response(reactor::Response::text(200, "hi"))
/// #     }
/// # }
/// let running = Server::new(Config::default()).handler(Hello).start()?;
/// println!("listening on {}", running.local_addr());
/// running.wait();
/// # Ok::<(), std::io::Error>(())
/// ```
pub struct Server {
    config: Config,
    filters: Vec<Box<dyn Filter>>,
    handlers: Vec<Box<dyn Handler>>,
    stats: Arc<Stats>,
    inherited: Option<std::net::TcpListener>,
}

impl Server {
    /// A server with `config` and no handlers yet (every request would get 404).
    pub fn new(config: Config) -> Self {
        Server {
            config,
            filters: Vec::new(),
            handlers: Vec::new(),
            stats: Arc::new(Stats::default()),
            inherited: None,
        }
    }

    /// Sets the address to listen on.
    pub fn bind(mut self, addr: SocketAddr) -> Self {
        self.config.bind = addr;
        self
    }

    /// Serves on `listener`, already bound and listening (systemd socket activation),
    /// instead of binding `config.bind`; each worker gets a duplicate of it.
    pub fn listener(mut self, listener: std::net::TcpListener) -> Self {
        self.inherited = Some(listener);
        self
    }

    /// Appends a handler to the chain.
    pub fn handler(mut self, h: impl Handler) -> Self {
        self.handlers.push(Box::new(h));
        self
    }

    /// Appends a filter: its request side runs before every handler, its response side
    /// after them (see [`Filter`]).
    pub fn filter(mut self, f: impl Filter) -> Self {
        self.filters.push(Box::new(f));
        self
    }

    /// Appends filters and handlers already boxed (a site's, say), as [`Server::filter`]
    /// and [`Server::handler`] would one by one.
    pub fn plugins(
        mut self,
        filters: impl IntoIterator<Item = Box<dyn Filter>>,
        handlers: impl IntoIterator<Item = Box<dyn Handler>>,
    ) -> Self {
        self.filters.extend(filters);
        self.handlers.extend(handlers);
        self
    }

    /// The server's counters (give them to a status handler).
    pub fn stats(&self) -> Arc<Stats> {
        self.stats.clone()
    }

    /// Binds the listeners and starts the reactors and the blocking pool.
    pub fn start(self) -> io::Result<Running> {
        let workers = self.config.workers.max(1);
        let mut listeners = Vec::with_capacity(workers);
        let inherited = self.inherited.map(Socket::from);
        let first = match &inherited {
            Some(l) => {
                l.set_nonblocking(true)?;
                l.try_clone()?
            }
            None => bind(self.config.bind, workers > 1)?,
        };
        let addr = first.local_addr()?.as_socket().unwrap_or(self.config.bind);
        listeners.push(first);
        for _ in 1..workers {
            listeners.push(match &inherited {
                Some(l) => l.try_clone()?,
                None => bind(addr, true)?,
            });
        }
        let pool = Pool::new(self.config.threads, self.config.queue)?;
        let body_budget = Arc::new(BodyBudget::new(self.config.max_body_memory));
        let shared = Arc::new(Shared {
            chain: Chain {
                filters: self.filters,
                handlers: self.handlers,
            },
            config: self.config,
            pool: pool.clone(),
            stats: self.stats,
            body_budget,
        });
        let mut polls = Vec::with_capacity(workers);
        let mut notifiers = Vec::with_capacity(workers);
        for _ in 0..workers {
            let poll = Poll::new()?;
            let waker = Waker::new(poll.registry(), WAKER)?;
            notifiers.push(Notifier::new(waker));
            polls.push(poll);
        }
        let stop = Arc::new(StopState::new(notifiers.clone()));
        let mut threads = Vec::with_capacity(workers);
        for (i, ((poll, listener), notifier)) in
            polls.into_iter().zip(listeners).zip(notifiers).enumerate()
        {
            let listener = mio::net::TcpListener::from_std(listener.into());
            let mut reactor = Reactor::new(poll, listener, shared.clone(), notifier, stop.clone())?;
            threads.push(
                std::thread::Builder::new()
                    .name(format!("reactor-{i}"))
                    .spawn({
                        let stop = stop.clone();
                        move || {
                            let ran = catch_unwind(AssertUnwindSafe(|| reactor.run()));
                            let why = match ran {
                                Ok(Ok(())) => return,
                                Ok(Err(e)) => e.to_string(),
                                Err(_) => "it panicked".to_string(),
                            };
                            // A server with a dead reactor is not serving its share: stop
                            // it all, so that a supervisor sees the failure and restarts.
                            log::error!("reactor {i} died: {why}; stopping the server");
                            stop.failed.store(true, Ordering::Release);
                            stop.state.fetch_max(STOP_FORCE, Ordering::AcqRel);
                            stop.wake_all();
                        }
                    })?,
            );
        }
        Ok(Running {
            addr,
            threads,
            stop,
            pool,
        })
    }
}

fn bind(addr: SocketAddr, reuse_port: bool) -> io::Result<Socket> {
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    socket.set_reuse_address(true)?;
    if reuse_port {
        socket.set_reuse_port(true)?;
    }
    socket.set_nonblocking(true)?;
    socket
        .bind(&addr.into())
        .map_err(|e| io::Error::new(e.kind(), format!("cannot bind {addr}: {e}")))?;
    socket.listen(1024)?;
    Ok(socket)
}

/// A started server. Dropping it stops the server at once and waits for its threads.
pub struct Running {
    addr: SocketAddr,
    threads: Vec<JoinHandle<()>>,
    stop: Arc<StopState>,
    pool: Pool,
}

/// Stops a running server from another thread (a signal handler's thread, say).
#[derive(Clone)]
pub struct StopHandle {
    stop: Arc<StopState>,
}

impl StopHandle {
    /// Graceful stop: no new connections; in-flight responses finish (within the grace
    /// period). Calling it a second time forces the stop.
    pub fn stop(&self) {
        let next = match self.stop.state.load(Ordering::Acquire) {
            0 => STOP_GRACEFUL,
            _ => STOP_FORCE,
        };
        self.set(next);
    }

    /// Immediate stop: connections are dropped.
    pub fn force(&self) {
        self.set(STOP_FORCE);
    }

    fn set(&self, state: u8) {
        self.stop.state.fetch_max(state, Ordering::AcqRel);
        self.stop.wake_all();
    }
}

impl Running {
    /// The address the server listens on (useful after binding port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// A handle that stops the server.
    pub fn stop_handle(&self) -> StopHandle {
        StopHandle {
            stop: self.stop.clone(),
        }
    }

    /// Blocks until every reactor has stopped. False when one of them died (a panic
    /// that escaped the plugins' guards, or a failing poll), which stopped them all: the
    /// caller should exit with a failure status.
    pub fn wait(mut self) -> bool {
        self.join();
        !self.stop.failed.load(Ordering::Acquire)
    }

    fn join(&mut self) {
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
        self.pool.stop();
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if !self.threads.is_empty() {
            self.stop_handle().force();
            self.join();
        }
    }
}
