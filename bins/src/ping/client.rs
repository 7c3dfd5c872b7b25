//! The ping client: one socket, one mio loop, pings sent on schedule while
//! replies are outstanding, per-ping timeouts, iputils-style output.

use std::collections::VecDeque;
use std::io::{self, Write};
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant, SystemTime};

use mio::unix::SourceFd;
use mio::{Events, Interest, Poll, Token};

use super::icmp::IcmpTransport;
use super::resolve::{resolve, Family};
use super::signal::Interrupt;
use super::stats::{format_rtt, Stats};
use super::transport::{Incoming, Transport};
use super::udp::UdpTransport;
use super::{poll_until, Error};

/// Client settings, as given on the command line.
#[derive(Debug, Clone, PartialEq)]
pub struct ClientConfig {
    /// Host name or address to ping.
    pub host: String,
    /// UDP port of the server (`-p`, default 12000); unused with ICMP.
    pub port: u16,
    /// Stop after this many pings (`-c`); with a deadline, after this many replies.
    pub count: Option<u64>,
    /// Time between pings (`-i`, default 1 s).
    pub interval: Duration,
    /// How long each ping waits for its reply (`-W`, default 1 s).
    pub timeout: Duration,
    /// Stop after this long regardless (`-w`).
    pub deadline: Option<Duration>,
    /// Request payload size in bytes (`-s`, default 56).
    pub size: usize,
    /// Only print the header and the statistics (`-q`).
    pub quiet: bool,
    /// Address family (`-4`/`-6`).
    pub family: Family,
    /// Report pings that time out (`-O`).
    pub report_outstanding: bool,
    /// Use ICMP echo instead of UDP (`--icmp`).
    pub icmp: bool,
    /// Send heartbeats without expecting replies (`--heartbeat`).
    pub heartbeat: bool,
}

impl Default for ClientConfig {
    fn default() -> Self {
        ClientConfig {
            host: String::new(),
            port: 12000,
            count: None,
            interval: Duration::from_secs(1),
            timeout: Duration::from_secs(1),
            deadline: None,
            size: 56,
            quiet: false,
            family: Family::Any,
            report_outstanding: false,
            icmp: false,
            heartbeat: false,
        }
    }
}

/// Resolves the host, pings it as configured and prints iputils-style output
/// to `out`. Returns the final statistics (already printed).
pub fn run(
    config: &ClientConfig,
    out: &mut dyn Write,
    interrupt: Option<&mut Interrupt>,
) -> Result<Stats, Error> {
    let target = resolve(&config.host, config.port, config.family)?;
    let transport: Box<dyn Transport> = if config.icmp {
        Box::new(IcmpTransport::open(target.ip(), config.size).map_err(Error::io("icmp socket"))?)
    } else {
        Box::new(UdpTransport::connect(target, config.size).map_err(Error::io("socket"))?)
    };
    Pinger::new(config, transport, target).run(out, interrupt)
}

/// Where one ping stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Outstanding,
    Answered,
    TimedOut,
    Failed,
}

#[derive(Debug, Clone, Copy)]
struct Probe {
    sent: Instant,
    state: State,
}

const SOCKET: Token = Token(0);
const SIGNAL: Token = Token(1);

/// The event loop's state.
struct Pinger<'a> {
    config: &'a ClientConfig,
    transport: Box<dyn Transport>,
    target: SocketAddr,
    probes: Vec<Probe>,
    outstanding: VecDeque<u64>,
    stats: Stats,
    start: Instant,
    last_send: Instant,
}

impl<'a> Pinger<'a> {
    fn new(config: &'a ClientConfig, transport: Box<dyn Transport>, target: SocketAddr) -> Self {
        let now = Instant::now();
        Pinger {
            config,
            transport,
            target,
            probes: Vec::new(),
            outstanding: VecDeque::new(),
            stats: Stats::default(),
            start: now,
            last_send: now,
        }
    }

    fn run(
        mut self,
        out: &mut dyn Write,
        mut interrupt: Option<&mut Interrupt>,
    ) -> Result<Stats, Error> {
        let mut poll = Poll::new().map_err(Error::io("poll"))?;
        let fd = self.transport.raw_fd();
        poll.registry()
            .register(&mut SourceFd(&fd), SOCKET, Interest::READABLE)
            .map_err(Error::io("poll"))?;
        if let Some(interrupt) = interrupt.as_deref_mut() {
            interrupt
                .register(poll.registry(), SIGNAL)
                .map_err(Error::io("poll"))?;
        }
        self.write_header(out).map_err(Error::io("write"))?;

        let mut events = Events::with_capacity(16);
        self.start = Instant::now();
        self.last_send = self.start;
        let deadline = self.config.deadline.map(|d| self.start + d);
        let mut next_send = self.start;
        loop {
            let now = Instant::now();
            if deadline.is_some_and(|d| now >= d) {
                break;
            }
            self.expire(now, out).map_err(Error::io("write"))?;
            if self.may_send() && now >= next_send {
                self.send(now);
                // Stay on schedule; after a stall send once more, never a burst.
                next_send = (next_send + self.config.interval).max(now);
            }
            if self.finished() {
                break;
            }
            poll_until(
                &mut poll,
                &mut events,
                [
                    self.may_send().then_some(next_send),
                    self.next_expiry(),
                    deadline,
                ],
            )?;
            let mut stop = false;
            for event in events.iter() {
                match event.token() {
                    SOCKET => self.drain(out)?,
                    _ => stop |= interrupt.as_deref_mut().is_some_and(Interrupt::fired),
                }
            }
            if stop {
                break;
            }
        }
        self.write_summary(out).map_err(Error::io("write"))?;
        Ok(self.stats)
    }

    fn write_header(&self, out: &mut dyn Write) -> io::Result<()> {
        let verb = if self.config.heartbeat {
            "HEARTBEAT"
        } else {
            "PING"
        };
        writeln!(
            out,
            "{verb} {} ({}) {}",
            self.config.host,
            self.target.ip(),
            self.transport.header_detail()
        )?;
        out.flush()
    }

    fn write_summary(&self, out: &mut dyn Write) -> io::Result<()> {
        let elapsed = self.last_send - self.start;
        if !self.config.heartbeat {
            return self.stats.write_summary(out, &self.config.host, elapsed);
        }
        writeln!(out)?;
        writeln!(out, "--- {} heartbeat statistics ---", self.config.host)?;
        write!(out, "{} heartbeats sent", self.stats.transmitted)?;
        if self.stats.errors > 0 {
            write!(out, ", +{} errors", self.stats.errors)?;
        }
        writeln!(out, ", time {}ms", (elapsed.as_micros() + 500) / 1000)?;
        out.flush()
    }

    /// Whether another ping may go out (iputils: with `-w`, `-c` counts replies).
    fn may_send(&self) -> bool {
        self.config.deadline.is_some()
            || !matches!(self.config.count, Some(c) if self.stats.transmitted >= c)
    }

    fn finished(&self) -> bool {
        let Some(count) = self.config.count else {
            return false;
        };
        if self.config.deadline.is_some() && !self.config.heartbeat {
            self.stats.received + self.stats.errors >= count
        } else {
            self.stats.transmitted >= count && self.outstanding.is_empty()
        }
    }

    fn send(&mut self, now: Instant) {
        let seq = self.stats.transmitted + 1;
        self.stats.transmitted = seq;
        self.last_send = now;
        let state = match self.transport.send(seq, SystemTime::now()) {
            Ok(()) => State::Outstanding,
            Err(e) => {
                if e.kind() != io::ErrorKind::WouldBlock {
                    eprintln!("ping: sendmsg: {e}");
                }
                State::Failed
            }
        };
        // A heartbeat expects no reply: it is done as soon as it is sent.
        let state = if self.config.heartbeat && state == State::Outstanding {
            State::Answered
        } else {
            state
        };
        self.probes.push(Probe { sent: now, state });
        if state == State::Outstanding {
            self.outstanding.push_back(seq);
        }
    }

    fn probe_mut(&mut self, seq: u64) -> Option<&mut Probe> {
        let index = usize::try_from(seq.checked_sub(1)?).ok()?;
        self.probes.get_mut(index)
    }

    /// The moment the oldest outstanding ping times out.
    fn next_expiry(&self) -> Option<Instant> {
        let seq = *self.outstanding.front()?;
        let probe = self.probes.get(usize::try_from(seq - 1).ok()?)?;
        Some(probe.sent + self.config.timeout)
    }

    /// Marks pings whose timeout has passed; pings are sent in order, so
    /// the queue is in expiry order.
    fn expire(&mut self, now: Instant, out: &mut dyn Write) -> io::Result<()> {
        while let Some(&seq) = self.outstanding.front() {
            let timeout = self.config.timeout;
            let Some(probe) = self.probe_mut(seq) else {
                break;
            };
            if probe.state == State::Outstanding {
                if now < probe.sent + timeout {
                    break;
                }
                probe.state = State::TimedOut;
                if self.config.report_outstanding && !self.config.quiet {
                    writeln!(out, "no answer yet for seq={seq}")?;
                }
            }
            self.outstanding.pop_front();
        }
        Ok(())
    }

    /// Handles everything queued on the socket.
    fn drain(&mut self, out: &mut dyn Write) -> Result<(), Error> {
        while let Some(incoming) = self.transport.recv().map_err(Error::io("recvmsg"))? {
            let now = Instant::now();
            match incoming {
                Incoming::Reply { seq, len, from } => self.on_reply(now, seq, len, from, out),
                Incoming::Unreachable { seq, from, reason } => {
                    self.on_error(seq, from, &reason, out)
                }
            }
            .map_err(Error::io("write"))?;
        }
        Ok(())
    }

    fn on_reply(
        &mut self,
        now: Instant,
        seq: u64,
        len: usize,
        from: IpAddr,
        out: &mut dyn Write,
    ) -> io::Result<()> {
        if self.config.heartbeat {
            return Ok(());
        }
        let timeout = self.config.timeout;
        let Some(probe) = self.probe_mut(seq) else {
            log::debug!("ignoring reply for unsent seq={seq}");
            return Ok(());
        };
        let rtt = now - probe.sent;
        let mark = match probe.state {
            State::Outstanding if rtt <= timeout => {
                probe.state = State::Answered;
                self.stats.received += 1;
                self.stats.record_rtt(rtt);
                ""
            }
            State::Answered => {
                self.stats.duplicates += 1;
                self.stats.record_rtt(rtt);
                " (DUP!)"
            }
            State::Outstanding | State::TimedOut => {
                probe.state = State::TimedOut;
                self.stats.late += 1;
                " (LATE!)"
            }
            State::Failed => return Ok(()),
        };
        if !self.config.quiet {
            writeln!(
                out,
                "{len} bytes from {from}: seq={seq} time={} ms{mark}",
                format_rtt(rtt)
            )?;
        }
        Ok(())
    }

    fn on_error(
        &mut self,
        seq: Option<u64>,
        from: IpAddr,
        reason: &str,
        out: &mut dyn Write,
    ) -> io::Result<()> {
        // Without details from the OS, blame the newest ping still waiting.
        let seq = seq
            .or_else(|| self.outstanding.back().copied())
            .or(Some(self.stats.transmitted));
        let Some(seq) = seq.filter(|&s| s > 0) else {
            return Ok(());
        };
        let Some(probe) = self.probe_mut(seq) else {
            return Ok(());
        };
        if probe.state == State::Outstanding {
            probe.state = State::Failed;
        }
        self.stats.errors += 1;
        if !self.config.quiet {
            writeln!(out, "From {from} seq={seq} {reason}")?;
        }
        Ok(())
    }
}
