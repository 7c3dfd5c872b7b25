//! UDP echo server (RFC 862 by default, textbook-style uppercasing on request)
//! with seeded loss and delay; with `heartbeat` it monitors heartbeats instead
//! of echoing.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::io::{self, Write};
use std::net::SocketAddr;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use mio::net::UdpSocket;
use mio::{Events, Interest, Poll, Token};

use super::heartbeat::Monitor;
use super::signal::Interrupt;
use super::sim::{Fate, Impairment};
use super::{poll_until, Error};

/// Server settings, as given on the command line.
#[derive(Debug, Clone, PartialEq)]
pub struct ServerConfig {
    /// Address to listen on (`--bind`, default 0.0.0.0:12000).
    pub bind: SocketAddr,
    /// Percentage of datagrams to drop (`--loss`).
    pub loss_percent: f64,
    /// Shortest added delay (`--delay MS[-MS]`).
    pub delay_min: Duration,
    /// Longest added delay.
    pub delay_max: Duration,
    /// Seed for loss and delay (`--seed`); random when absent.
    pub seed: Option<u64>,
    /// Echo in upper case like the textbook server (`--uppercase`).
    pub uppercase: bool,
    /// Monitor heartbeats instead of echoing (`--heartbeat`).
    pub heartbeat: bool,
    /// Silence after which a heartbeat client is declared gone (`--silence`).
    pub silence: Duration,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            bind: SocketAddr::from(([0, 0, 0, 0], 12000)),
            loss_percent: 0.0,
            delay_min: Duration::ZERO,
            delay_max: Duration::ZERO,
            seed: None,
            uppercase: false,
            heartbeat: false,
            silence: Duration::from_secs(5),
        }
    }
}

/// Packet counts of a server run.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct ServerStats {
    /// Datagrams received.
    pub received: u64,
    /// Datagrams dropped by the simulated loss.
    pub dropped: u64,
    /// Datagrams echoed (or, in heartbeat mode, processed).
    pub delivered: u64,
    /// Datagrams discarded because the delay queue was full
    /// ([`MAX_QUEUED_DATAGRAMS`] or [`MAX_QUEUED_BYTES`]).
    pub overflow: u64,
}

/// Most datagrams waiting out their delay at once.
pub const MAX_QUEUED_DATAGRAMS: usize = 1024;
/// Most payload bytes waiting out their delay at once.
pub const MAX_QUEUED_BYTES: usize = 8 << 20;

/// A datagram waiting out its simulated delay.
#[derive(Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Delayed {
    due: Instant,
    order: u64,
    peer: SocketAddr,
    data: Vec<u8>,
}

const SOCKET: Token = Token(0);
const SIGNAL: Token = Token(1);

/// Serves until SIGINT/SIGTERM. The first line written to `out` is
/// `listening on ADDR` (the bound address, useful with port 0); the last is
/// the packet count summary.
pub fn run(
    config: &ServerConfig,
    out: &mut dyn Write,
    mut interrupt: Option<&mut Interrupt>,
) -> Result<ServerStats, Error> {
    let mut socket =
        UdpSocket::bind(config.bind).map_err(Error::io(format!("bind {}", config.bind)))?;
    let mut poll = Poll::new().map_err(Error::io("poll"))?;
    poll.registry()
        .register(&mut socket, SOCKET, Interest::READABLE)
        .map_err(Error::io("poll"))?;
    if let Some(interrupt) = interrupt.as_deref_mut() {
        interrupt
            .register(poll.registry(), SIGNAL)
            .map_err(Error::io("poll"))?;
    }
    let local = socket.local_addr().map_err(Error::io("getsockname"))?;
    writeln!(out, "listening on {local}").map_err(Error::io("write"))?;
    out.flush().map_err(Error::io("write"))?;

    let seed = config.seed.unwrap_or_else(random_seed);
    log::info!(
        "loss {}%, delay {}-{} ms, seed {seed}",
        config.loss_percent,
        config.delay_min.as_secs_f64() * 1000.0,
        config.delay_max.as_secs_f64() * 1000.0
    );
    let mut server = Server {
        socket,
        impairment: Impairment::new(
            config.loss_percent,
            config.delay_min,
            config.delay_max,
            seed,
        ),
        uppercase: config.uppercase,
        monitor: config.heartbeat.then(|| Monitor::new(config.silence)),
        queue: BinaryHeap::new(),
        queued_bytes: 0,
        order: 0,
        stats: ServerStats::default(),
        buf: vec![0; 65536],
    };
    let mut events = Events::with_capacity(16);
    loop {
        let now = Instant::now();
        server.deliver_due(now, out).map_err(Error::io("send"))?;
        if let Some(monitor) = server.monitor.as_mut() {
            monitor.expire(now, out).map_err(Error::io("write"))?;
        }
        let next_due = server.queue.peek().map(|Reverse(d)| d.due);
        let next_silence = server.monitor.as_ref().and_then(Monitor::next_expiry);
        poll_until(&mut poll, &mut events, [next_due, next_silence])?;
        let mut stop = false;
        for event in events.iter() {
            match event.token() {
                SOCKET => server.receive(out).map_err(Error::io("recvfrom"))?,
                _ => stop |= interrupt.as_deref_mut().is_some_and(Interrupt::fired),
            }
        }
        if stop {
            break;
        }
    }
    let s = server.stats;
    let overflow = if s.overflow > 0 {
        format!(", {} discarded (delay queue full)", s.overflow)
    } else {
        String::new()
    };
    writeln!(
        out,
        "{} packets received, {} dropped, {} delivered{overflow}",
        s.received, s.dropped, s.delivered
    )
    .and_then(|()| out.flush())
    .map_err(Error::io("write"))?;
    Ok(s)
}

/// A seed from the clock and process id, for runs without `--seed`.
fn random_seed() -> u64 {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_nanos() as u64;
    nanos ^ u64::from(std::process::id()).rotate_left(32)
}

struct Server {
    socket: UdpSocket,
    impairment: Impairment,
    uppercase: bool,
    monitor: Option<Monitor>,
    queue: BinaryHeap<Reverse<Delayed>>,
    queued_bytes: usize,
    order: u64,
    stats: ServerStats,
    buf: Vec<u8>,
}

impl Server {
    /// Reads every queued datagram and decides its fate.
    fn receive(&mut self, out: &mut dyn Write) -> io::Result<()> {
        loop {
            let (len, peer) = match self.socket.recv_from(&mut self.buf) {
                Ok(received) => received,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                // An ICMP error about an earlier echo: nothing to do.
                Err(e) if e.kind() == io::ErrorKind::ConnectionRefused => continue,
                Err(e) => return Err(e),
            };
            self.stats.received += 1;
            let now = Instant::now();
            match self.impairment.next_fate() {
                Fate::Drop => {
                    self.stats.dropped += 1;
                    log::debug!("{len} bytes from {peer}: dropped");
                }
                Fate::Deliver(delay) if delay.is_zero() => {
                    log::debug!("{len} bytes from {peer}: delivering");
                    self.deliver(peer, self.buf[..len].to_vec(), out)?;
                }
                Fate::Deliver(_)
                    if self.queue.len() >= MAX_QUEUED_DATAGRAMS
                        || self.queued_bytes + len > MAX_QUEUED_BYTES =>
                {
                    self.stats.overflow += 1;
                    log::debug!("{len} bytes from {peer}: delay queue full, discarded");
                }
                Fate::Deliver(delay) => {
                    log::debug!("{len} bytes from {peer}: delivering after {delay:?}");
                    self.queued_bytes += len;
                    self.order += 1;
                    self.queue.push(Reverse(Delayed {
                        due: now + delay,
                        order: self.order,
                        peer,
                        data: self.buf[..len].to_vec(),
                    }));
                }
            }
        }
    }

    /// Delivers every datagram whose delay has passed.
    fn deliver_due(&mut self, now: Instant, out: &mut dyn Write) -> io::Result<()> {
        while self.queue.peek().is_some_and(|Reverse(d)| d.due <= now) {
            if let Some(Reverse(d)) = self.queue.pop() {
                self.queued_bytes -= d.data.len();
                self.deliver(d.peer, d.data, out)?;
            }
        }
        Ok(())
    }

    /// Echoes a datagram, or hands it to the heartbeat monitor.
    fn deliver(
        &mut self,
        peer: SocketAddr,
        mut data: Vec<u8>,
        out: &mut dyn Write,
    ) -> io::Result<()> {
        self.stats.delivered += 1;
        if let Some(monitor) = self.monitor.as_mut() {
            return monitor.observe(peer, &data, Instant::now(), SystemTime::now(), out);
        }
        if self.uppercase {
            data.make_ascii_uppercase();
        }
        match self.socket.send_to(&data, peer) {
            Ok(_) => {}
            // The reply is lost like any datagram; the server keeps serving.
            Err(e) => log::warn!("echo to {peer} failed: {e}"),
        }
        Ok(())
    }
}
