//! Server-wide counters, shared by every reactor and read by the status page.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::{Duration, Instant};

/// Live counters. All updates are atomic, so the figures are right under concurrency.
#[derive(Debug)]
pub struct Stats {
    start: Instant,
    active: AtomicU64,
    accepted: AtomicU64,
    requests: AtomicU64,
    by_class: [AtomicU64; 5],
    bytes_sent: AtomicU64,
    h2_connections: AtomicU64,
    h2_streams: AtomicU64,
}

/// The responses a reactor counted during one turn of its loop, added to the shared
/// [`Stats`] at the end of the turn: three shared atomic additions per turn instead of
/// per response (and no cache line passed between the workers' cores per response).
#[derive(Debug, Default)]
pub(crate) struct Tally {
    requests: u64,
    by_class: [u64; 5],
    bytes_sent: u64,
}

impl Tally {
    pub(crate) fn responded(&mut self, status: u16, body_bytes: u64) {
        self.requests += 1;
        self.by_class[usize::from(status / 100).clamp(1, 5) - 1] += 1;
        self.bytes_sent += body_bytes;
    }
}

/// A copy of the counters at one moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Snapshot {
    /// Time since the server started.
    pub uptime: Duration,
    /// Open client connections.
    pub active_connections: u64,
    /// Connections accepted since start.
    pub accepted: u64,
    /// Responses sent since start.
    pub requests: u64,
    /// Responses by status class: index 0 is 1xx, ..., 4 is 5xx.
    pub by_class: [u64; 5],
    /// Body bytes sent since start.
    pub bytes_sent: u64,
    /// Connections that spoke HTTP/2, since start.
    pub http2_connections: u64,
    /// HTTP/2 streams (requests) received since start.
    pub http2_streams: u64,
}

impl Default for Stats {
    fn default() -> Self {
        Stats {
            start: Instant::now(),
            active: AtomicU64::new(0),
            accepted: AtomicU64::new(0),
            requests: AtomicU64::new(0),
            by_class: Default::default(),
            bytes_sent: AtomicU64::new(0),
            h2_connections: AtomicU64::new(0),
            h2_streams: AtomicU64::new(0),
        }
    }
}

impl Stats {
    pub(crate) fn opened(&self) {
        self.accepted.fetch_add(1, Relaxed);
        self.active.fetch_add(1, Relaxed);
    }

    pub(crate) fn closed(&self) {
        self.active.fetch_sub(1, Relaxed);
    }

    /// Adds what a reactor counted since the last call, and zeroes its tally.
    pub(crate) fn add(&self, tally: &mut Tally) {
        if tally.requests == 0 {
            return;
        }
        self.requests.fetch_add(tally.requests, Relaxed);
        for (shared, n) in self.by_class.iter().zip(tally.by_class) {
            if n != 0 {
                shared.fetch_add(n, Relaxed);
            }
        }
        self.bytes_sent.fetch_add(tally.bytes_sent, Relaxed);
        *tally = Tally::default();
    }

    pub(crate) fn h2_connection(&self) {
        self.h2_connections.fetch_add(1, Relaxed);
    }

    pub(crate) fn h2_stream(&self) {
        self.h2_streams.fetch_add(1, Relaxed);
    }

    /// Reads every counter.
    pub fn snapshot(&self) -> Snapshot {
        Snapshot {
            uptime: self.start.elapsed(),
            active_connections: self.active.load(Relaxed),
            accepted: self.accepted.load(Relaxed),
            requests: self.requests.load(Relaxed),
            by_class: std::array::from_fn(|i| self.by_class[i].load(Relaxed)),
            bytes_sent: self.bytes_sent.load(Relaxed),
            http2_connections: self.h2_connections.load(Relaxed),
            http2_streams: self.h2_streams.load(Relaxed),
        }
    }
}
