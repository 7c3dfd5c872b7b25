//! One server-side TLS session over a nonblocking socket: ciphertext in and out of the
//! socket, plaintext in and out of rustls. Edge-triggered: every socket read and write
//! goes on until `WouldBlock`, which clears the caller's readiness flag.

use std::io::{self, IoSlice, Read, Write};

use mio::net::TcpStream;
use rustls::ServerConnection;

use super::{TlsInfo, ACME_TLS_ALPN};

/// A rustls server connection plus what the connection above asks of it.
pub(crate) struct Session {
    conn: ServerConnection,
    info: Option<TlsInfo>,
}

impl Session {
    pub fn new(conn: ServerConnection) -> Self {
        Session { conn, info: None }
    }

    /// Reads plaintext, pulling ciphertext from `sock` as needed. `Ok(0)`: the client
    /// ended the session (close_notify), or it negotiated `acme-tls/1` (a challenge: the
    /// handshake was all it wanted).
    pub fn read(
        &mut self,
        sock: &mut TcpStream,
        readable: &mut bool,
        writable: &mut bool,
        buf: &mut [u8],
    ) -> io::Result<usize> {
        loop {
            match self.conn.reader().read(buf) {
                Ok(n) => return Ok(n),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) => return Err(e),
            }
            if !self.conn.is_handshaking() && self.conn.alpn_protocol() == Some(ACME_TLS_ALPN) {
                return Ok(0);
            }
            if !*readable {
                return Err(io::ErrorKind::WouldBlock.into());
            }
            match self.conn.read_tls(sock) {
                // The socket ended (no close_notify, or we would have returned 0 above).
                Ok(0) => return Ok(0),
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    *readable = false;
                    return Err(e);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
            let was_handshaking = self.conn.is_handshaking();
            if let Err(e) = self.conn.process_new_packets() {
                // Tell the client why (an alert), best effort, then give up.
                let _ = self.flush(sock, writable);
                return Err(io::Error::new(io::ErrorKind::InvalidData, e));
            }
            // Handshake flights go out at once: the client waits for them (TLS 1.2 ends with
            // ours). After TLS 1.3's last client flight only session tickets are left: they
            // wait for the answer's write, or the connection's next turn, and share its
            // packet instead of taking one of their own.
            let tls13 = self.conn.protocol_version() == Some(rustls::ProtocolVersion::TLSv1_3);
            if self.conn.is_handshaking() || (was_handshaking && !tls13) {
                self.flush(sock, writable)?;
            }
        }
    }

    /// Encrypts plaintext from `bufs` and sends what the socket takes. Returns the
    /// plaintext bytes accepted; `WouldBlock` when none could be (the socket is full).
    pub fn write_vectored(
        &mut self,
        sock: &mut TcpStream,
        writable: &mut bool,
        bufs: &[IoSlice<'_>],
    ) -> io::Result<usize> {
        let asked: usize = bufs.iter().map(|b| b.len()).sum();
        let mut total = 0;
        // Records already queued (tickets, say) go out with these, in the same write: the
        // session's buffer limit keeps what waits bounded.
        while total < asked && *writable {
            let n = self.conn.writer().write_vectored(&skip(bufs, total))?;
            total += n;
            self.flush(sock, writable)?;
            if n == 0 {
                break;
            }
        }
        if total == 0 && asked > 0 {
            return Err(io::ErrorKind::WouldBlock.into());
        }
        Ok(total)
    }

    /// Writes pending TLS records to `sock` until none is left or it is full.
    pub fn flush(&mut self, sock: &mut TcpStream, writable: &mut bool) -> io::Result<()> {
        while self.conn.wants_write() && *writable {
            match self.conn.write_tls(sock) {
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => *writable = false,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// True when TLS records wait for the socket.
    pub fn wants_write(&self) -> bool {
        self.conn.wants_write()
    }

    /// Queues a close_notify alert (sent by the next flush).
    pub fn close_notify(&mut self) {
        self.conn.send_close_notify();
    }

    /// The negotiated ALPN protocol.
    pub fn alpn(&self) -> Option<&[u8]> {
        self.conn.alpn_protocol()
    }

    /// What requests on this session are told about it.
    pub fn info(&mut self) -> TlsInfo {
        let conn = &self.conn;
        self.info
            .get_or_insert_with(|| TlsInfo {
                sni: conn.server_name().map(Into::into),
            })
            .clone()
    }
}

/// `bufs` without their first `n` bytes.
fn skip<'a>(bufs: &'a [IoSlice<'a>], mut n: usize) -> Vec<IoSlice<'a>> {
    let mut out = Vec::with_capacity(bufs.len());
    for b in bufs {
        if n >= b.len() {
            n -= b.len();
        } else {
            out.push(IoSlice::new(&b[n..]));
            n = 0;
        }
    }
    out
}
