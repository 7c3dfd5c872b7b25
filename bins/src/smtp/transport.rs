//! The byte stream under the state machine: a [`Transport`] is plain TCP
//! that can be upgraded to TLS in place.

use std::io::{self, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rustls::ClientConfig;

use super::deadline::DeadlineSocket;
use super::error::{Error, Stage};
use super::tls::{self, TlsStream};

/// What the state machine needs from a connection. Implemented by
/// [`SocketTransport`] and by scripted in-memory transports in tests.
pub trait Transport: Read + Write {
    /// Switches the connection to TLS (for STARTTLS or implicit TLS).
    fn start_tls(&mut self) -> Result<(), Error>;
    /// True once TLS is established.
    fn is_encrypted(&self) -> bool;
    /// Sets the instant by which every following read, write and TLS
    /// handshake must be done: the whole step, not each call.
    fn set_deadline(&mut self, deadline: Instant);
}

enum Conn {
    Plain(DeadlineSocket),
    Tls(Box<TlsStream>),
    Broken,
}

/// A TCP connection to an SMTP server, TLS-capable.
pub struct SocketTransport {
    conn: Conn,
    host: String,
    tls: Arc<ClientConfig>,
}

impl SocketTransport {
    /// Connects to `host:port`, trying each resolved address in turn.
    pub fn connect(
        host: &str,
        port: u16,
        timeout: Duration,
        tls: Arc<ClientConfig>,
    ) -> Result<SocketTransport, Error> {
        let addrs = (host, port)
            .to_socket_addrs()
            .map_err(|e| Error::other(Stage::Connect, format!("cannot resolve {host}: {e}")))?;
        let mut last = None;
        // The timeout bounds the whole step, however many addresses.
        let deadline = Instant::now() + timeout;
        for addr in addrs {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                last = Some("timed out".to_string());
                break;
            }
            match TcpStream::connect_timeout(&addr, left) {
                Ok(sock) => {
                    log::debug!("connected to {addr}");
                    return Ok(SocketTransport {
                        conn: Conn::Plain(DeadlineSocket::new(sock, timeout)),
                        host: host.to_string(),
                        tls,
                    });
                }
                Err(e) => {
                    log::debug!("connect {addr}: {e}");
                    last = Some(e.to_string());
                }
            }
        }
        let why = last.unwrap_or_else(|| "no addresses".into());
        Err(Error::other(
            Stage::Connect,
            format!("cannot connect to {host}:{port}: {why}"),
        ))
    }
}

fn broken() -> io::Error {
    io::Error::new(
        io::ErrorKind::NotConnected,
        "connection unusable after a TLS failure",
    )
}

impl Read for SocketTransport {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match &mut self.conn {
            Conn::Plain(s) => s.read(buf),
            Conn::Tls(t) => t.read(buf),
            Conn::Broken => Err(broken()),
        }
    }
}

impl Write for SocketTransport {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match &mut self.conn {
            Conn::Plain(s) => s.write(buf),
            Conn::Tls(t) => t.write(buf),
            Conn::Broken => Err(broken()),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match &mut self.conn {
            Conn::Plain(s) => s.flush(),
            Conn::Tls(t) => t.flush(),
            Conn::Broken => Err(broken()),
        }
    }
}

impl Transport for SocketTransport {
    fn start_tls(&mut self) -> Result<(), Error> {
        match std::mem::replace(&mut self.conn, Conn::Broken) {
            Conn::Plain(sock) => {
                let stream = tls::handshake(sock, &self.host, self.tls.clone())?;
                self.conn = Conn::Tls(Box::new(stream));
                Ok(())
            }
            other => {
                self.conn = other;
                Err(Error::other(Stage::Tls, "TLS already active"))
            }
        }
    }

    fn is_encrypted(&self) -> bool {
        matches!(self.conn, Conn::Tls(_))
    }

    fn set_deadline(&mut self, deadline: Instant) {
        match &mut self.conn {
            Conn::Plain(s) => s.set_deadline(deadline),
            Conn::Tls(t) => t.sock.set_deadline(deadline),
            Conn::Broken => {}
        }
    }
}
