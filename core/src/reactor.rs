//! One reactor: a `mio::Poll`, a listener, a slab of connections and a slab of
//! handler-owned sockets, all on one thread.

use std::io;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use mio::net::TcpListener;
use mio::{Events, Interest, Poll, Token};
use slab::Slab;

use crate::conn::{Conn, Env, Next};
use crate::handler::{ConnRef, Context, Ready, SocketId};
use crate::inbuf::BufPool;
use crate::notify::{Msg, Notifier};
use crate::recycle::Recycler;
use crate::shared::{Shared, StopState, STOP_FORCE, STOP_GRACEFUL};
use crate::sockets::{Ops, SocketEntry, SOCKET_BASE};
use crate::stats::Tally;
use crate::transport::Transport;

const LISTENER: Token = Token(0);
/// The token of the reactor's `mio::Waker`.
pub(crate) const WAKER: Token = Token(1);
/// Connection tokens are slab keys plus this offset.
const CONN_BASE: usize = 2;
/// How often deadlines are checked.
const TICK: Duration = Duration::from_millis(250);
/// Smallest read buffer (it is at least the largest request head).
const MIN_READ_BUF: usize = 16 * 1024;
/// Read buffers kept for reuse per reactor.
const MAX_FREE_BUFS: usize = 1024;
/// How long accepting pauses after running out of file descriptors.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

/// Most connections the slabs are sized for up front (more grow on demand).
const MAX_PRESIZED: usize = 65_536;

/// One reactor thread's state.
pub(crate) struct Reactor {
    poll: Poll,
    listener: Option<TcpListener>,
    conns: Slab<Conn>,
    sockets: Slab<SocketEntry>,
    shared: Arc<Shared>,
    notifier: Arc<Notifier>,
    stop: Arc<StopState>,
    next_id: u64,
    date: [u8; 29],
    date_secs: u64,
    log: Vec<u8>,
    accept_paused_until: Option<Instant>,
    last_tick: Instant,
    bufs: BufPool,
    spares: Recycler,
    tally: Tally,
}

impl Reactor {
    pub fn new(
        poll: Poll,
        mut listener: TcpListener,
        shared: Arc<Shared>,
        notifier: Arc<Notifier>,
        stop: Arc<StopState>,
    ) -> io::Result<Self> {
        poll.registry()
            .register(&mut listener, LISTENER, Interest::READABLE)?;
        let presized = shared.config.max_connections.min(MAX_PRESIZED);
        let mut r = Reactor {
            poll,
            listener: Some(listener),
            // Sized once for the connection limit: the pages are touched only as
            // connections arrive, and no doubling leaves old copies in the heap.
            conns: Slab::with_capacity(presized),
            sockets: Slab::with_capacity(presized),
            shared: shared.clone(),
            notifier,
            stop,
            next_id: 0,
            date: [b' '; 29],
            date_secs: u64::MAX,
            log: Vec::new(),
            accept_paused_until: None,
            last_tick: Instant::now(),
            bufs: BufPool::new(
                shared.config.limits.max_head.max(MIN_READ_BUF),
                MAX_FREE_BUFS,
            ),
            spares: Recycler::default(),
            tally: Tally::default(),
        };
        r.refresh_date();
        Ok(r)
    }

    /// Runs until stopped: gracefully (in-flight responses finish) or by force.
    pub fn run(&mut self) -> io::Result<()> {
        let mut events = Events::with_capacity(1024);
        let mut msgs = Vec::new();
        let mut grace_deadline: Option<Instant> = None;
        loop {
            match self.poll.poll(&mut events, Some(TICK)) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
            self.refresh_date();
            let now = Instant::now();
            for ev in events.iter() {
                match ev.token() {
                    LISTENER => self.accept(now),
                    WAKER => {}
                    Token(t) if t >= SOCKET_BASE => self.socket_event(t - SOCKET_BASE, ev, now),
                    Token(t) => {
                        let key = t - CONN_BASE;
                        if let Some(c) = self.conns.get_mut(key) {
                            c.transport.ready(
                                ev.is_readable(),
                                ev.is_read_closed() || ev.is_error(),
                                ev.is_writable() || ev.is_write_closed() || ev.is_error(),
                            );
                            self.drive(key, now);
                        }
                    }
                }
            }
            self.notifier.drain(&mut msgs);
            for msg in msgs.drain(..) {
                self.message(msg, now);
            }
            if let Some(until) = self.accept_paused_until {
                if now >= until {
                    self.accept_paused_until = None;
                    self.accept(now);
                }
            }
            if now.duration_since(self.last_tick) >= TICK {
                self.last_tick = now;
                self.expire(now);
            }
            self.flush_log();
            self.shared.stats.add(&mut self.tally);
            match self.stop.state.load(Ordering::Acquire) {
                STOP_FORCE => return Ok(()),
                STOP_GRACEFUL => {
                    let deadline = *grace_deadline
                        .get_or_insert(now + self.shared.config.timeouts.shutdown_grace);
                    if self.begin_stop(now) || now >= deadline {
                        return Ok(());
                    }
                }
                _ => {}
            }
        }
    }

    fn refresh_date(&mut self) {
        let now = SystemTime::now();
        let secs = now
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        if secs != self.date_secs {
            self.date_secs = secs;
            self.date = crate::date::http_date_bytes(now);
        }
    }

    /// Stops accepting and closes idle connections. True when nothing is left to do.
    fn begin_stop(&mut self, now: Instant) -> bool {
        if let Some(mut l) = self.listener.take() {
            let _ = self.poll.registry().deregister(&mut l);
        }
        let idle: Vec<usize> = self
            .conns
            .iter()
            .filter(|(_, c)| c.is_idle())
            .map(|(k, _)| k)
            .collect();
        for key in idle {
            self.close(key);
        }
        // Wake the others so they notice the stop (close after their response).
        let keys: Vec<usize> = self.conns.iter().map(|(k, _)| k).collect();
        for key in keys {
            self.drive(key, now);
        }
        self.conns.is_empty()
    }

    fn env(&mut self, key: usize, now: Instant) -> (Option<&mut Conn>, Env<'_>) {
        let stopping = self.stop.state.load(Ordering::Relaxed) != 0;
        (
            self.conns.get_mut(key),
            Env {
                registry: self.poll.registry(),
                sockets: &mut self.sockets,
                shared: &self.shared,
                notifier: &self.notifier,
                date: &self.date,
                log: &mut self.log,
                now,
                stopping,
                key,
                bufs: &mut self.bufs,
                spares: &mut self.spares,
                tally: &mut self.tally,
            },
        )
    }

    fn drive(&mut self, key: usize, now: Instant) {
        let (Some(conn), mut env) = self.env(key, now) else {
            return;
        };
        if conn.drive(&mut env) == Next::Close {
            self.close(key);
        }
    }

    fn close(&mut self, key: usize) {
        if let Some(mut conn) = self.conns.try_remove(key) {
            conn.close(self.poll.registry(), &mut self.sockets, &mut self.bufs);
            self.shared.stats.closed();
        }
    }

    fn accept(&mut self, now: Instant) {
        if self.accept_paused_until.is_some() {
            return;
        }
        let Some(listener) = self.listener.as_ref() else {
            return;
        };
        loop {
            let (mut stream, peer) = match listener.accept() {
                Ok(s) => s,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) if is_fd_exhaustion(&e) => {
                    log::error!("accept: {e}; pausing accepts for {ACCEPT_BACKOFF:?}");
                    self.accept_paused_until = Some(now + ACCEPT_BACKOFF);
                    return;
                }
                Err(e) => {
                    log::warn!("accept: {e}");
                    continue;
                }
            };
            if self.conns.len() >= self.shared.config.max_connections {
                log::warn!("{peer}: connection limit reached; closing");
                continue;
            }
            let _ = stream.set_nodelay(true);
            let entry = self.conns.vacant_entry();
            let key = entry.key();
            if let Err(e) = self.poll.registry().register(
                &mut stream,
                Token(CONN_BASE + key),
                Interest::READABLE | Interest::WRITABLE,
            ) {
                log::error!("{peer}: cannot register: {e}");
                continue;
            }
            self.next_id += 1;
            let deadline = now + self.shared.config.timeouts.header;
            let transport = match &self.shared.config.tls {
                None => Transport::plain(stream),
                Some(tls) => match tls.session() {
                    Ok(session) => Transport::tls(stream, session),
                    Err(e) => {
                        log::error!("{peer}: cannot start a TLS session: {e}");
                        let _ = self.poll.registry().deregister(&mut stream);
                        continue;
                    }
                },
            };
            entry.insert(Conn::new(self.next_id, transport, peer, deadline));
            self.shared.stats.opened();
        }
    }

    fn socket_event(&mut self, key: usize, ev: &mio::event::Event, now: Instant) {
        match self.sockets.get_mut(key) {
            Some(SocketEntry::TunnelPeer { conn_key, conn_id }) => {
                let (conn_key, conn_id) = (*conn_key, *conn_id);
                if let Some(c) = self.conns.get_mut(conn_key).filter(|c| c.id == conn_id) {
                    c.peer_ready(
                        ev.is_readable() || ev.is_read_closed() || ev.is_error(),
                        ev.is_writable() || ev.is_write_closed() || ev.is_error(),
                    );
                    self.drive(conn_key, now);
                }
            }
            Some(SocketEntry::Owned { .. }) => {
                let ready = Ready {
                    id: SocketId(key),
                    readable: ev.is_readable() || ev.is_read_closed() || ev.is_error(),
                    writable: ev.is_writable() || ev.is_write_closed() || ev.is_error(),
                    timed_out: false,
                };
                self.run_socket(key, ready, now);
            }
            None => {}
        }
    }

    fn ops(&mut self) -> Ops<'_> {
        Ops {
            registry: self.poll.registry(),
            sockets: &mut self.sockets,
            shared: &self.shared,
            notifier: &self.notifier,
        }
    }

    fn run_socket(&mut self, key: usize, ready: Ready, now: Instant) {
        self.ops().run_socket(key, ready, now);
    }

    fn conn_for(&mut self, r: ConnRef) -> bool {
        self.conns.get(r.key).is_some_and(|c| c.id == r.id)
    }

    fn message(&mut self, msg: Msg, now: Instant) {
        match msg {
            Msg::Reply(r, reply) if self.conn_for(r) => {
                let (Some(conn), mut env) = self.env(r.key, now) else {
                    return;
                };
                conn.deliver(&mut env, r.stream, reply);
                self.drive(r.key, now);
            }
            Msg::Interim(r, response) if self.conn_for(r) => {
                let (Some(conn), _) = self.env(r.key, now) else {
                    return;
                };
                conn.interim(r.stream, &response);
                self.drive(r.key, now);
            }
            Msg::Sent(r, sent) if self.conn_for(r) => {
                let (Some(conn), env) = self.env(r.key, now) else {
                    return;
                };
                match conn.file_sent(&env, sent) {
                    Ok(()) => self.drive(r.key, now),
                    Err(()) => self.close(r.key),
                }
            }
            Msg::FileChunk(r, chunk) if self.conn_for(r) => {
                let ok = self
                    .conns
                    .get_mut(r.key)
                    .is_some_and(|c| c.file_read(chunk).is_ok());
                if ok {
                    self.drive(r.key, now);
                } else {
                    self.close(r.key);
                }
            }
            Msg::Stream(r) if self.conn_for(r) => self.drive(r.key, now),
            Msg::Read(r, read) if self.conn_for(r) => {
                let (Some(conn), mut env) = self.env(r.key, now) else {
                    return;
                };
                conn.h2_file_read(&mut env, r.stream, read);
                self.drive(r.key, now);
            }
            Msg::Run(f) => {
                let mut ops = self.ops();
                let mut cx = Context::new(&mut ops, None, now);
                if catch_unwind(AssertUnwindSafe(|| f(&mut cx))).is_err() {
                    log::error!("a task run on the reactor panicked");
                }
            }
            _ => {}
        }
    }

    /// Acts on every deadline that has passed.
    fn expire(&mut self, now: Instant) {
        let due: Vec<usize> = self
            .conns
            .iter()
            .filter(|(_, c)| c.deadline.is_some_and(|d| d <= now))
            .map(|(k, _)| k)
            .collect();
        for key in due {
            let (Some(conn), mut env) = self.env(key, now) else {
                continue;
            };
            if conn.timed_out(&mut env) == Next::Close {
                self.close(key);
            }
        }
        let due: Vec<usize> = self
            .sockets
            .iter_mut()
            .filter_map(|(k, s)| match s {
                SocketEntry::Owned { deadline, .. } if deadline.is_some_and(|d| d <= now) => {
                    *deadline = None;
                    Some(k)
                }
                _ => None,
            })
            .collect();
        for key in due {
            let ready = Ready {
                id: SocketId(key),
                readable: false,
                writable: false,
                timed_out: true,
            };
            self.run_socket(key, ready, now);
        }
    }

    fn flush_log(&mut self) {
        if self.log.is_empty() {
            return;
        }
        if let Some(sink) = &self.shared.config.access_log {
            if let Ok(mut w) = sink.lock() {
                if let Err(e) = w.write_all(&self.log).and_then(|()| w.flush()) {
                    log::error!("access log: {e}");
                }
            }
        }
        self.log.clear();
    }
}

fn is_fd_exhaustion(e: &io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(libc::EMFILE | libc::ENFILE | libc::ENOBUFS | libc::ENOMEM)
    )
}

#[cfg(test)]
mod footprint {
    /// An idle keep-alive connection costs its `Conn` in the slab plus its socket entry
    /// (buffers are lent only while input is pending): keep it small. Rarely used parts
    /// (a streamed request body, an upgrade) are boxed.
    #[test]
    #[cfg_attr(
        debug_assertions,
        ignore = "mio adds a debug-only selector id to each socket; measured in release"
    )]
    fn an_idle_connection_stays_small() {
        let conn = std::mem::size_of::<crate::conn::Conn>();
        let socket = std::mem::size_of::<crate::sockets::SocketEntry>();
        assert!(
            conn + socket <= 416,
            "Conn {conn} + SocketEntry {socket} bytes"
        );
    }
}
