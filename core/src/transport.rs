//! The bottom of a connection: bytes in and out of one client socket, with its readiness.
//!
//! A transport hides whether the bytes are encrypted: the connection above it reads and
//! writes plaintext and never touches the socket itself (except to register it).

use std::io::{self, IoSlice, Read, Write};
use std::net::Shutdown;
use std::os::fd::{AsRawFd, RawFd};

use mio::net::TcpStream;

/// One client socket plus what readiness events said about it.
pub(crate) struct Transport {
    sock: TcpStream,
    /// The socket may have bytes to read (cleared when a read says `WouldBlock`).
    pub readable: bool,
    /// The peer has shut its writing side (EPOLLRDHUP seen).
    pub read_closed: bool,
    /// The socket may take more bytes (cleared when a write is short).
    pub writable: bool,
    /// Count of writable events, to tell whether one arrived while a pool job ran.
    pub writable_events: u32,
}

impl Transport {
    /// A plaintext transport over `sock`.
    pub fn plain(sock: TcpStream) -> Self {
        Transport {
            sock,
            // Nothing to read until the first readable event (registration reports data
            // that arrived before it).
            readable: false,
            read_closed: false,
            writable: true,
            writable_events: 0,
        }
    }

    /// Records a readiness event.
    pub fn ready(&mut self, readable: bool, read_closed: bool, writable: bool) {
        self.readable |= readable || read_closed;
        self.read_closed |= read_closed;
        if writable {
            self.writable = true;
            self.writable_events = self.writable_events.wrapping_add(1);
        }
    }

    /// The socket, for registering with the reactor.
    pub fn socket(&mut self) -> &mut TcpStream {
        &mut self.sock
    }

    /// Reads plaintext.
    pub fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.sock.read(buf)
    }

    /// Writes plaintext from several buffers.
    pub fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        self.sock.write_vectored(bufs)
    }

    /// Ends our sending side (the peer reads end-of-stream after what was sent).
    pub fn shutdown_write(&mut self) {
        let _ = self.sock.shutdown(Shutdown::Write);
    }
}

impl AsRawFd for Transport {
    /// The socket's descriptor (a sendfile job duplicates it).
    fn as_raw_fd(&self) -> RawFd {
        self.sock.as_raw_fd()
    }
}

impl Read for Transport {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        Transport::read(self, buf)
    }
}

impl Write for Transport {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.write_vectored(&[IoSlice::new(buf)])
    }

    fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        Transport::write_vectored(self, bufs)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}
