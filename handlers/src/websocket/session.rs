//! WebSocket connections on the reactor: the [`Codec`] driven over an upgraded connection
//! ([`reactor::upgrade`]), with keepalive pings, a read timeout, backpressure, and an
//! [`Outbox`] through which any thread sends messages.

use std::collections::VecDeque;
use std::io;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use reactor::upgrade::{UpgradeIo, Upgraded, Waker};
use reactor::{Request, Response};

use super::{close, handshake, Close, Codec, Event, Limits, Message, Role, SendError};

/// What a WebSocket application implements. Every method runs on the reactor thread:
/// never block in one.
pub trait WsHandler: Send + 'static {
    /// The connection is open (the 101 has been sent).
    fn open(&mut self, _ws: &mut Session<'_>) {}
    /// A complete message arrived.
    fn message(&mut self, message: Message, ws: &mut Session<'_>);
    /// The connection is over: with the peer's close frame, or `None` when it ended
    /// without one (it dropped, broke the protocol, timed out, or the server stopped).
    /// Called exactly once.
    fn closed(&mut self, _close: Option<&Close>) {}
}

/// Settings of a WebSocket connection.
#[derive(Debug, Clone, Copy)]
pub struct Config {
    /// Frame and message size limits (1009 beyond them).
    pub limits: Limits,
    /// Quiet this long, the server pings (default 30 s).
    pub ping_interval: Duration,
    /// After a ping, the peer must send something within this (default 30 s), and after a
    /// close frame, close within it; else the connection is dropped.
    pub timeout: Duration,
    /// Most bytes queued for the peer (outbox plus unsent frames) before the connection is
    /// closed with 1008 as too slow (default 8 MiB).
    pub max_queued: usize,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            limits: Limits::default(),
            ping_interval: Duration::from_secs(30),
            timeout: Duration::from_secs(30),
            max_queued: 8 << 20,
        }
    }
}

/// Answers a WebSocket handshake: the 101 that hands the connection to `handler`, or the
/// refusal ([`handshake::accept`]). `protocols` are the subprotocols the server speaks, in
/// order of preference.
pub fn upgrade(
    req: &Request,
    protocols: &[&str],
    config: Config,
    handler: impl WsHandler,
) -> Response {
    match handshake::accept(req, protocols) {
        Ok(accepted) => {
            let conn = Conn {
                codec: Codec::new(Role::Server, config.limits),
                config,
                protocol: accepted.protocol.clone(),
                handler,
                outbox: None,
                awaiting_pong: false,
                peer_close: None,
                closing: false,
                draining: false,
                ended: false,
            };
            accepted.response().upgrade(conn)
        }
        Err(refusal) => refusal,
    }
}

/// The connection as a handler sees it during a call.
pub struct Session<'a> {
    codec: &'a mut Codec,
    outbox: &'a Outbox,
    protocol: Option<&'a str>,
}

impl Session<'_> {
    /// Queues a message for the peer.
    pub fn send(&mut self, message: &Message) -> Result<(), SendError> {
        self.codec.send(message)
    }

    /// Starts the close handshake.
    pub fn close(&mut self, code: u16, reason: &str) -> Result<(), SendError> {
        self.codec.close(code, reason)
    }

    /// A handle for sending to this connection from anywhere (other connections, threads).
    pub fn outbox(&self) -> Outbox {
        self.outbox.clone()
    }

    /// The subprotocol chosen in the handshake.
    pub fn protocol(&self) -> Option<&str> {
        self.protocol
    }
}

#[derive(Default)]
struct Queue {
    messages: VecDeque<Message>,
    bytes: usize,
    close: Option<(u16, String)>,
    overflow: bool,
    gone: bool,
}

/// Sends to one connection from any thread: messages are queued and the reactor woken.
#[derive(Clone)]
pub struct Outbox {
    queue: Arc<Mutex<Queue>>,
    waker: Waker,
    max: usize,
}

impl Outbox {
    /// Queues `message`. False when the connection is gone or closing; when the queue is
    /// over its bound the connection is closed with 1008 (a client too slow to keep up).
    pub fn send(&self, message: Message) -> bool {
        let Ok(mut q) = self.queue.lock() else {
            return false;
        };
        if q.gone || q.close.is_some() || q.overflow {
            return false;
        }
        q.bytes += match &message {
            Message::Text(t) => t.len(),
            Message::Binary(b) => b.len(),
        };
        if q.bytes > self.max {
            q.overflow = true;
            q.messages.clear();
        } else {
            q.messages.push_back(message);
        }
        drop(q);
        self.waker.wake();
        true
    }

    /// Starts the close handshake from any thread.
    pub fn close(&self, code: u16, reason: &str) {
        if let Ok(mut q) = self.queue.lock() {
            q.close.get_or_insert((code, reason.to_string()));
        }
        self.waker.wake();
    }

    /// True once the connection has ended.
    pub fn is_gone(&self) -> bool {
        self.queue.lock().map_or(true, |q| q.gone)
    }
}

/// The upgraded object: codec + handler + timers.
struct Conn<H: WsHandler> {
    codec: Codec,
    config: Config,
    protocol: Option<String>,
    handler: H,
    outbox: Option<Outbox>,
    awaiting_pong: bool,
    peer_close: Option<Close>,
    closing: bool,
    /// Our close frame is out and our side shut: reading the peer out until it closes.
    draining: bool,
    ended: bool,
}

impl<H: WsHandler> Conn<H> {
    fn session<'a>(codec: &'a mut Codec, outbox: &'a Outbox, p: &'a Option<String>) -> Session<'a> {
        Session {
            codec,
            outbox,
            protocol: p.as_deref(),
        }
    }

    /// Moves what other threads queued into the codec.
    fn take_outbox(&mut self, outbox: &Outbox) {
        let Ok(mut q) = outbox.queue.lock() else {
            return;
        };
        for m in q.messages.drain(..) {
            let _ = self.codec.send(&m);
        }
        q.bytes = 0;
        if q.overflow {
            let _ = self.codec.close(close::POLICY, "too slow to keep up");
        } else if let Some((code, reason)) = q.close.take() {
            let _ = self.codec.close(code, &reason);
        }
    }

    /// Passes the codec's events to the handler.
    fn dispatch(&mut self, outbox: &Outbox) {
        while let Some(event) = self.codec.next_event() {
            match event {
                Event::Message(m) => {
                    let mut ws = Self::session(&mut self.codec, outbox, &self.protocol);
                    self.handler.message(m, &mut ws);
                }
                Event::Closed(c) => self.peer_close = Some(c),
                Event::Failed(e) => log::info!("websocket: {e}"),
                Event::Ping(_) | Event::Pong(_) => {}
            }
        }
    }

    /// Writes what the codec has. Ok(true): all written.
    fn flush(&mut self, io: &mut UpgradeIo<'_>) -> io::Result<bool> {
        while !self.codec.output().is_empty() {
            match io.write(self.codec.output()) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => self.codec.consume(n),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(false),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(true)
    }

    fn step(&mut self, io: &mut UpgradeIo<'_>, outbox: &Outbox) -> io::Result<bool> {
        if io.stopping() && !self.codec.close_sent() {
            let _ = self.codec.close(close::GOING_AWAY, "server stopping");
        }
        if io.timed_out() {
            if self.awaiting_pong || self.codec.close_sent() {
                return Ok(false);
            }
            let _ = self.codec.ping(b"");
            self.awaiting_pong = true;
            io.set_deadline(Some(io.now() + self.config.timeout));
        }
        let mut buf = [0u8; 16 * 1024];
        loop {
            self.take_outbox(outbox);
            let flushed = self.flush(io)?;
            if self.codec.is_done() {
                if !flushed {
                    return Ok(true); // done once our last frame is out
                }
                if self.peer_close.is_some() {
                    return Ok(false); // the close handshake is over: the server closes first
                }
                // We closed (a protocol error, a limit) while the peer may still be
                // sending: end our side and drain it until it closes, so that unread bytes
                // do not reset the connection and destroy our close frame in flight.
                if !self.draining {
                    self.draining = true;
                    io.shutdown_write();
                }
                return match io.read(&mut buf) {
                    Ok(0) => Ok(false),
                    Ok(_) => continue,
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(true),
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    Err(_) => Ok(false),
                };
            }
            if self.codec.output().len() > self.config.max_queued {
                return Ok(false);
            }
            if !flushed && self.codec.output().len() >= buf.len() {
                return Ok(true); // backpressure: no reading while the peer is not reading
            }
            match io.read(&mut buf) {
                Ok(0) => return Ok(false),
                Ok(n) => {
                    self.awaiting_pong = false;
                    if !self.closing {
                        io.set_deadline(Some(io.now() + self.config.ping_interval));
                    }
                    self.codec.feed(&buf[..n]);
                    self.dispatch(outbox);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    self.flush(io)?;
                    return Ok(true);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
    }

    fn end(&mut self) {
        if !self.ended {
            self.ended = true;
            if let Some(o) = &self.outbox {
                if let Ok(mut q) = o.queue.lock() {
                    q.gone = true;
                    q.messages.clear();
                }
            }
            self.handler.closed(self.peer_close.as_ref());
        }
    }
}

impl<H: WsHandler> Upgraded for Conn<H> {
    fn ready(&mut self, io: &mut UpgradeIo<'_>) -> bool {
        let outbox = match &self.outbox {
            Some(o) => o.clone(),
            None => {
                let o = Outbox {
                    queue: Arc::default(),
                    waker: io.waker(),
                    max: self.config.max_queued,
                };
                self.outbox = Some(o.clone());
                io.set_deadline(Some(io.now() + self.config.ping_interval));
                let mut ws = Self::session(&mut self.codec, &o, &self.protocol);
                self.handler.open(&mut ws);
                o
            }
        };
        let keep = matches!(self.step(io, &outbox), Ok(true));
        if keep && self.codec.close_sent() && !self.closing {
            self.closing = true; // the peer has this long to answer our close
            io.set_deadline(Some(io.now() + self.config.timeout));
        }
        if !keep {
            self.end();
        }
        keep
    }
}

impl<H: WsHandler> Drop for Conn<H> {
    fn drop(&mut self) {
        self.end();
    }
}
