//! Protocol upgrades: a handler answers `101 Switching Protocols` with an [`Upgraded`]
//! object ([`crate::Response::upgrade`]); once the 101 is written, the connection's bytes
//! belong to that object, which the reactor calls on readiness, on its deadline and when
//! woken from another thread ([`Waker`]).
//!
//! Part of the plugin API: imports nothing of the reactor.

use std::io::{self, Read, Write};
use std::sync::Arc;
use std::time::Instant;

use crate::handler::{ConnRef, Mailbox};

/// A connection taken over after `101 Switching Protocols` (a WebSocket, say).
///
/// ```
/// use reactor::upgrade::{UpgradeIo, Upgraded};
///
/// /// Echoes every byte back (and stops reading while a write is blocked).
/// struct Echo(Vec<u8>);
///
/// impl Upgraded for Echo {
///     fn ready(&mut self, io: &mut UpgradeIo<'_>) -> bool {
///         loop {
///             while !self.0.is_empty() {
///                 match io.write(&self.0) {
///                     Ok(0) => return false,
///                     Ok(n) => drop(self.0.drain(..n)),
///                     Err(e) => return e.kind() == std::io::ErrorKind::WouldBlock,
///                 }
///             }
///             let mut buf = [0u8; 4096];
///             match io.read(&mut buf) {
///                 Ok(0) => return false, // the client closed
///                 Ok(n) => self.0.extend_from_slice(&buf[..n]),
///                 Err(e) => return e.kind() == std::io::ErrorKind::WouldBlock,
///             }
///         }
///     }
/// }
/// ```
pub trait Upgraded: Send + 'static {
    /// Called once right after the 101 has been written, then whenever the connection may
    /// be readable or writable, when the deadline set with [`UpgradeIo::set_deadline`]
    /// passes, when a [`Waker`] fires, and when the server begins to stop. Readiness is
    /// edge-triggered: read (and write what is pending) until `WouldBlock`. Return false
    /// to close the connection.
    fn ready(&mut self, io: &mut UpgradeIo<'_>) -> bool;
}

/// A byte stream: the connection's transport, as an upgraded object sees it.
pub(crate) trait Stream: Read + Write {
    /// Ends the sending side; reading goes on.
    fn shutdown_write(&mut self);
}

impl Stream for crate::transport::Transport {
    fn shutdown_write(&mut self) {
        crate::transport::Transport::shutdown_write(self);
    }
}

/// The upgraded connection during one call of [`Upgraded::ready`].
pub struct UpgradeIo<'a> {
    pub(crate) stream: &'a mut dyn Stream,
    /// Bytes that arrived after the request head, read before the socket.
    pub(crate) pending: &'a mut Vec<u8>,
    pub(crate) deadline: &'a mut Option<Instant>,
    pub(crate) now: Instant,
    pub(crate) timed_out: bool,
    pub(crate) stopping: bool,
    pub(crate) waker: Waker,
}

impl UpgradeIo<'_> {
    /// Reads bytes from the client (`Ok(0)`: it closed; `WouldBlock`: nothing more now).
    pub fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if !self.pending.is_empty() {
            let n = buf.len().min(self.pending.len());
            buf[..n].copy_from_slice(&self.pending[..n]);
            self.pending.drain(..n);
            return Ok(n);
        }
        self.stream.read(buf)
    }

    /// Writes bytes to the client (`WouldBlock`: try again when called next).
    pub fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.stream.write(buf)
    }

    /// Ends our sending side: the peer reads end-of-stream after what was written (over
    /// TLS a close_notify first). Reading goes on, so a protocol can drain the peer
    /// before it closes, rather than reset a connection with unread bytes (which can
    /// destroy its last message to the peer).
    pub fn shutdown_write(&mut self) {
        self.stream.shutdown_write();
    }

    /// The reactor's notion of now.
    pub fn now(&self) -> Instant {
        self.now
    }

    /// True when this call is because the deadline passed.
    pub fn timed_out(&self) -> bool {
        self.timed_out
    }

    /// True once the server is stopping: say goodbye and close soon (the server waits
    /// for its shutdown grace at most).
    pub fn stopping(&self) -> bool {
        self.stopping
    }

    /// Sets (or clears) the time at which `ready` is called with [`UpgradeIo::timed_out`].
    pub fn set_deadline(&mut self, at: Option<Instant>) {
        *self.deadline = at;
    }

    /// A handle that makes the reactor call `ready` again, from any thread.
    pub fn waker(&self) -> Waker {
        self.waker.clone()
    }
}

/// Wakes one upgraded connection from any thread (e.g. after queueing a message for it).
/// Waking a connection that has closed does nothing.
#[derive(Clone)]
pub struct Waker {
    pub(crate) mailbox: Arc<dyn Mailbox>,
    pub(crate) conn: ConnRef,
}

impl Waker {
    /// Asks the reactor to call the connection's [`Upgraded::ready`] soon.
    pub fn wake(&self) {
        self.mailbox.wake(self.conn);
    }
}

impl std::fmt::Debug for Waker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Waker").field("conn", &self.conn).finish()
    }
}
