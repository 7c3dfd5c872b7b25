//! The socket a ping client talks through: UDP to a pinger/echo server, or
//! ICMP echo. The event loop only sees sequence numbers and events.

use std::io;
use std::net::IpAddr;
use std::os::fd::RawFd;
use std::time::SystemTime;

/// Something read from a transport's socket that concerns our pings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Incoming {
    /// A reply to request `seq`, `len` bytes long (as iputils counts them).
    Reply {
        /// Sequence number of the request answered.
        seq: u64,
        /// Reply size in bytes.
        len: usize,
        /// Who answered.
        from: IpAddr,
    },
    /// An ICMP error about request `seq` (`None` when the OS did not say which).
    Unreachable {
        /// Sequence number of the failed request, when known.
        seq: Option<u64>,
        /// Who reported the error.
        from: IpAddr,
        /// iputils-style description, e.g. "Destination Port Unreachable".
        reason: String,
    },
}

/// A connected, non-blocking socket that sends numbered pings and reads answers.
pub trait Transport {
    /// File descriptor to poll for readability.
    fn raw_fd(&self) -> RawFd;
    /// Sends request `seq` stamped with wall-clock `sent`.
    fn send(&mut self, seq: u64, sent: SystemTime) -> io::Result<()>;
    /// Reads the next event of interest, skipping foreign datagrams;
    /// `Ok(None)` once nothing more is queued.
    fn recv(&mut self) -> io::Result<Option<Incoming>>;
    /// The part of the `PING host (addr) ...` header after the address.
    fn header_detail(&self) -> String;
}
