//! Server side of the heartbeat exercise: per-client one-way delay, lost
//! sequence numbers, and "client gone" after a configurable silence.
//!
//! The client side is [`client`](super::client) with `heartbeat` set: it
//! sends `Ping <seq> <time>` at the interval and expects no replies.

use std::collections::HashMap;
use std::io::{self, Write};
use std::net::SocketAddr;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use super::stats::format_rtt;
use super::wire;

#[derive(Debug, Clone, Copy)]
struct Client {
    next_seq: u64,
    last_seen: Instant,
}

/// Tracks the heartbeat streams of all clients.
///
/// ```
/// use reactor_bins::ping::heartbeat::Monitor;
/// use std::time::{Duration, Instant, SystemTime};
/// let mut monitor = Monitor::new(Duration::from_secs(5));
/// let peer = "127.0.0.1:5000".parse().unwrap();
/// let (now, wall) = (Instant::now(), SystemTime::now());
/// let mut out = Vec::new();
/// monitor.observe(peer, &reactor_bins::ping::wire::encode(1, wall, 0), now, wall, &mut out).unwrap();
/// monitor.observe(peer, &reactor_bins::ping::wire::encode(4, wall, 0), now, wall, &mut out).unwrap();
/// assert!(String::from_utf8(out).unwrap().contains("lost from 127.0.0.1:5000: seq=2-3"));
/// ```
#[derive(Debug)]
pub struct Monitor {
    silence: Duration,
    clients: HashMap<SocketAddr, Client>,
}

impl Monitor {
    /// A monitor that declares a client gone after `silence` without heartbeats.
    pub fn new(silence: Duration) -> Self {
        Monitor {
            silence,
            clients: HashMap::new(),
        }
    }

    /// Records a datagram from `peer` received at `now` (wall clock `wall`)
    /// and reports the heartbeat, any gap before it, or a late arrival.
    pub fn observe(
        &mut self,
        peer: SocketAddr,
        datagram: &[u8],
        now: Instant,
        wall: SystemTime,
        out: &mut dyn Write,
    ) -> io::Result<()> {
        let Some(msg) = wire::parse(datagram) else {
            log::debug!("ignoring non-heartbeat datagram from {peer}");
            return Ok(());
        };
        let delay = msg
            .sent
            .map_or_else(|| "?".to_string(), |sent| one_way(wall, sent));
        let client = self.clients.entry(peer).or_insert_with(|| Client {
            next_seq: msg.seq,
            last_seen: now,
        });
        client.last_seen = now;
        if msg.seq < client.next_seq {
            writeln!(
                out,
                "late heartbeat from {peer}: seq={} delay={delay} ms",
                msg.seq
            )?;
            return out.flush();
        }
        let missing = msg.seq - client.next_seq;
        if missing == 1 {
            writeln!(out, "lost from {peer}: seq={}", client.next_seq)?;
        } else if missing > 1 {
            writeln!(
                out,
                "lost from {peer}: seq={}-{}",
                client.next_seq,
                msg.seq - 1
            )?;
        }
        client.next_seq = msg.seq.saturating_add(1);
        writeln!(
            out,
            "heartbeat from {peer}: seq={} delay={delay} ms",
            msg.seq
        )?;
        out.flush()
    }

    /// Reports and forgets clients silent for longer than the limit.
    pub fn expire(&mut self, now: Instant, out: &mut dyn Write) -> io::Result<()> {
        let silence = self.silence;
        let mut gone: Vec<_> = self
            .clients
            .iter()
            .filter(|(_, c)| now.saturating_duration_since(c.last_seen) >= silence)
            .map(|(peer, c)| (*peer, c.next_seq.saturating_sub(1)))
            .collect();
        gone.sort();
        for (peer, last) in gone {
            self.clients.remove(&peer);
            writeln!(
                out,
                "client {peer} gone: no heartbeat for {:.1} s after seq={last}",
                silence.as_secs_f64()
            )?;
        }
        out.flush()
    }

    /// When the next client would be declared gone, if any.
    pub fn next_expiry(&self) -> Option<Instant> {
        self.clients
            .values()
            .map(|c| c.last_seen + self.silence)
            .min()
    }
}

/// One-way delay from the sender's wall-clock stamp; negative means the
/// clocks disagree.
fn one_way(wall: SystemTime, sent: Duration) -> String {
    let now = wall.duration_since(UNIX_EPOCH).unwrap_or_default();
    match now.checked_sub(sent) {
        Some(delay) => format_rtt(delay),
        None => format!("-{}", format_rtt(sent - now)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(out: Vec<u8>) -> String {
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn reports_delay_gaps_late_and_gone() {
        let peer: SocketAddr = "[::1]:9".parse().unwrap();
        let mut monitor = Monitor::new(Duration::from_secs(2));
        let t0 = Instant::now();
        let wall = UNIX_EPOCH + Duration::from_secs(1000);
        let sent = wall - Duration::from_micros(2500);
        let mut out = Vec::new();
        for seq in [1, 2, 5, 3, 6] {
            monitor
                .observe(peer, &wire::encode(seq, sent, 0), t0, wall, &mut out)
                .unwrap();
        }
        monitor.observe(peer, b"hello", t0, wall, &mut out).unwrap();
        monitor
            .expire(t0 + Duration::from_secs(1), &mut out)
            .unwrap();
        assert_eq!(monitor.next_expiry(), Some(t0 + Duration::from_secs(2)));
        monitor
            .expire(t0 + Duration::from_secs(2), &mut out)
            .unwrap();
        assert_eq!(monitor.next_expiry(), None);
        assert_eq!(
            text(out),
            "heartbeat from [::1]:9: seq=1 delay=2.50 ms\n\
             heartbeat from [::1]:9: seq=2 delay=2.50 ms\n\
             lost from [::1]:9: seq=3-4\n\
             heartbeat from [::1]:9: seq=5 delay=2.50 ms\n\
             late heartbeat from [::1]:9: seq=3 delay=2.50 ms\n\
             heartbeat from [::1]:9: seq=6 delay=2.50 ms\n\
             client [::1]:9 gone: no heartbeat for 2.0 s after seq=6\n"
        );
    }

    #[test]
    fn extreme_sequence_numbers_do_not_overflow() {
        let peer: SocketAddr = "127.0.0.1:9".parse().unwrap();
        let mut monitor = Monitor::new(Duration::from_secs(1));
        let (now, wall) = (Instant::now(), SystemTime::now());
        let mut out = Vec::new();
        for datagram in [
            &b"Ping 0"[..],
            b"Ping 18446744073709551615",
            b"Ping 18446744073709551615",
        ] {
            monitor
                .observe(peer, datagram, now, wall, &mut out)
                .unwrap();
        }
        monitor
            .expire(now + Duration::from_secs(1), &mut out)
            .unwrap();
        assert!(text(out).contains("lost from 127.0.0.1:9: seq=1-18446744073709551614"));
    }

    #[test]
    fn clock_skew_shows_negative_delay() {
        let wall = UNIX_EPOCH + Duration::from_secs(10);
        assert_eq!(one_way(wall, Duration::from_micros(10_000_500)), "-0.500");
    }
}
