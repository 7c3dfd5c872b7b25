//! The bottom of a connection: bytes in and out of one client socket, with its readiness.
//!
//! A transport hides whether the bytes are encrypted: the connection above it reads and
//! writes plaintext and never touches the socket itself (except to register it). It asks
//! [`Transport::can_sendfile`] before using the plain-TCP fast path, and
//! [`Transport::alpn`] tells which protocol codec the client chose.

use std::io::{self, IoSlice, Read, Write};
use std::net::Shutdown;
use std::os::fd::{AsRawFd, RawFd};

use mio::net::TcpStream;
use rustls::ServerConnection;

use crate::tls::session::Session;
use crate::tls::{sniff, Sniff, TlsInfo};

enum Mode {
    Plain,
    /// A TLS port: the first byte decides between `Tls` and `Plain` (answered with 400).
    Sniffing(Box<ServerConnection>),
    Tls(Box<Session>),
}

/// One client socket plus what readiness events said about it.
pub(crate) struct Transport {
    sock: TcpStream,
    mode: Mode,
    /// Plaintext arrived on a TLS port.
    pub plain_on_tls: bool,
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
        Transport::with_mode(sock, Mode::Plain)
    }

    /// A TLS transport over `sock` (plaintext clients get found out by their first byte).
    pub fn tls(sock: TcpStream, session: ServerConnection) -> Self {
        Transport::with_mode(sock, Mode::Sniffing(Box::new(session)))
    }

    fn with_mode(sock: TcpStream, mode: Mode) -> Self {
        Transport {
            sock,
            mode,
            plain_on_tls: false,
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

    /// Whether file regions may go straight to the socket with `sendfile(2)`.
    pub fn can_sendfile(&self) -> bool {
        matches!(self.mode, Mode::Plain)
    }

    /// True when reading is worth trying: the socket may have bytes, or TLS may hold
    /// decrypted ones.
    pub fn may_read(&self) -> bool {
        self.readable || matches!(self.mode, Mode::Tls(_))
    }

    /// Whether a read shorter than the buffer proves the socket is drained (so the next
    /// read would only say `WouldBlock`): true for plain TCP only.
    pub fn short_read_drains(&self) -> bool {
        matches!(self.mode, Mode::Plain)
    }

    /// The application protocol the client chose by ALPN (`None`: HTTP/1.1 by default).
    pub fn alpn(&self) -> Option<&[u8]> {
        match &self.mode {
            Mode::Tls(s) => s.alpn(),
            _ => None,
        }
    }

    /// The TLS session's facts for a request (`None` for plain TCP).
    pub fn tls_info(&mut self) -> Option<TlsInfo> {
        match &mut self.mode {
            Mode::Tls(s) => Some(s.info()),
            _ => None,
        }
    }

    /// Sends TLS records still waiting for the socket. Err: the connection is broken.
    pub fn flush(&mut self) -> io::Result<()> {
        match &mut self.mode {
            Mode::Tls(s) => s.flush(&mut self.sock, &mut self.writable),
            _ => Ok(()),
        }
    }

    /// True when nothing written is still waiting in the transport.
    pub fn drained(&self) -> bool {
        match &self.mode {
            Mode::Tls(s) => !s.wants_write(),
            _ => true,
        }
    }

    /// Reads plaintext.
    pub fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if let Mode::Sniffing(_) = self.mode {
            self.sniff()?;
        }
        match &mut self.mode {
            Mode::Tls(s) => s.read(&mut self.sock, &mut self.readable, &mut self.writable, buf),
            _ => self.sock.read(buf),
        }
    }

    /// Decides between TLS and plaintext from the first byte, without consuming it.
    fn sniff(&mut self) -> io::Result<()> {
        let mut first = [0u8; 1];
        let n = loop {
            match self.sock.peek(&mut first) {
                Ok(n) => break n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    if e.kind() == io::ErrorKind::WouldBlock {
                        self.readable = false;
                    }
                    return Err(e);
                }
            }
        };
        let tls = match sniff(&first[..n]) {
            Sniff::NeedMore => return Ok(()), // end of stream: the read says so
            Sniff::Tls => true,
            Sniff::Plain => false,
        };
        let mode = std::mem::replace(&mut self.mode, Mode::Plain);
        if let (true, Mode::Sniffing(conn)) = (tls, mode) {
            self.mode = Mode::Tls(Box::new(Session::new(*conn)));
        } else {
            self.plain_on_tls = true;
        }
        Ok(())
    }

    /// Reads and drops whatever arrives (lingering before a close). Ok: would block;
    /// Err: the peer closed, or an error.
    pub fn discard_input(&mut self) -> Result<(), ()> {
        let mut sink = [0u8; 4096];
        loop {
            match self.read(&mut sink) {
                Ok(0) => return Err(()),
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => return Err(()),
            }
        }
    }

    /// Writes plaintext from several buffers.
    pub fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        match &mut self.mode {
            Mode::Tls(s) => s.write_vectored(&mut self.sock, &mut self.writable, bufs),
            _ => self.sock.write_vectored(bufs),
        }
    }

    /// Ends our sending side (the peer reads end-of-stream after what was sent); over
    /// TLS a close_notify goes first.
    pub fn shutdown_write(&mut self) {
        self.close_notify();
        let _ = self.sock.shutdown(Shutdown::Write);
    }

    /// Over TLS, says goodbye with a close_notify alert (best effort); nothing for plain.
    pub fn close_notify(&mut self) {
        if let Mode::Tls(s) = &mut self.mode {
            s.close_notify();
            let _ = s.flush(&mut self.sock, &mut self.writable);
        }
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
