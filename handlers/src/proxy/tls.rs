//! The origin connection's transport: plain TCP, or TLS (rustls, ring provider) for
//! `--upstream https://HOST:PORT`, both non-blocking on the reactor. The TLS side verifies
//! the origin's certificate against the webpki roots plus an optional private CA, sends
//! SNI, and resumes sessions (rustls' in-memory session cache, per client config).

use std::io::{self, Read, Write};
use std::path::Path;
use std::sync::Arc;

use mio::net::TcpStream;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use rustls::{ClientConfig, ClientConnection, RootCertStore};

/// The TLS client configuration for origins: the webpki roots, plus every certificate of
/// the PEM file `extra_ca` when given. Errors name the file and the cause.
///
/// ```
/// let config = reactor_handlers::proxy::tls::client_config(None).expect("webpki roots");
/// assert_eq!(config.alpn_protocols, vec![b"http/1.1".to_vec()]);
/// assert!(reactor_handlers::proxy::tls::client_config(Some("/nonexistent.pem".as_ref())).is_err());
/// ```
pub fn client_config(extra_ca: Option<&Path>) -> Result<Arc<ClientConfig>, String> {
    let mut roots = RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    if let Some(path) = extra_ca {
        let fail = |e: &dyn std::fmt::Display| format!("{}: {e}", path.display());
        let certs = CertificateDer::pem_file_iter(path).map_err(|e| fail(&e))?;
        let mut added = 0;
        for cert in certs {
            roots
                .add(cert.map_err(|e| fail(&e))?)
                .map_err(|e| fail(&e))?;
            added += 1;
        }
        if added == 0 {
            return Err(fail(&"no PEM certificate in the file"));
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// A connection to an origin (or a parent proxy): plain TCP or TLS over it.
pub(crate) enum OriginStream {
    Plain(TcpStream),
    Tls(TcpStream, Box<ClientConnection>),
}

/// A TLS failure as an I/O error whose text names the cause (a bad certificate, say).
fn tls_error(e: rustls::Error) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, e)
}

impl OriginStream {
    /// TLS over `tcp` for the server name `host` (a DNS name or an IP literal).
    pub(crate) fn tls(
        tcp: TcpStream,
        config: &Arc<ClientConfig>,
        host: &str,
    ) -> Result<OriginStream, String> {
        let name = ServerName::try_from(host.to_string())
            .map_err(|e| format!("{host} is not a valid TLS server name: {e}"))?;
        let conn = ClientConnection::new(config.clone(), name).map_err(|e| e.to_string())?;
        Ok(OriginStream::Tls(tcp, Box::new(conn)))
    }

    /// The socket the reactor polls.
    pub(crate) fn tcp(&mut self) -> &mut TcpStream {
        match self {
            OriginStream::Plain(s) | OriginStream::Tls(s, _) => s,
        }
    }

    /// Drives the TLS handshake as far as the socket allows: `Ok(true)` once it is done
    /// (at once for plain TCP), `Ok(false)` to wait for readiness.
    pub(crate) fn handshake(&mut self) -> io::Result<bool> {
        let OriginStream::Tls(tcp, tls) = self else {
            return Ok(true);
        };
        loop {
            if !flush_tls(tcp, tls)? {
                return Ok(false);
            }
            if !tls.is_handshaking() {
                return Ok(true);
            }
            match tls.read_tls(tcp) {
                Ok(0) => {
                    return Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "the origin closed the connection during the TLS handshake",
                    ))
                }
                Ok(_) => {
                    if let Err(e) = tls.process_new_packets() {
                        // Tell the origin why (the alert rustls queued), best effort.
                        let _ = flush_tls(tcp, tls);
                        return Err(tls_error(e));
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(false),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
    }

    /// Writes plaintext: the bytes taken (0 when TLS output is backed up: wait for
    /// writability), or `WouldBlock`.
    pub(crate) fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            OriginStream::Plain(s) => s.write(buf),
            OriginStream::Tls(tcp, tls) => {
                let mut n = tls.writer().write(buf)?;
                let flushed = flush_tls(tcp, tls)?;
                if n == 0 && flushed {
                    // The buffer was full and has drained: room now.
                    n = tls.writer().write(buf)?;
                    flush_tls(tcp, tls)?;
                }
                if n == 0 && !buf.is_empty() {
                    return Err(io::ErrorKind::WouldBlock.into());
                }
                Ok(n)
            }
        }
    }

    /// True when everything written has reached the socket.
    pub(crate) fn flushed(&mut self) -> io::Result<bool> {
        match self {
            OriginStream::Plain(_) => Ok(true),
            OriginStream::Tls(tcp, tls) => flush_tls(tcp, tls),
        }
    }

    /// Reads plaintext: `Ok(0)` at the end of the stream, `WouldBlock` when the socket is
    /// drained.
    pub(crate) fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let (tcp, tls) = match self {
            OriginStream::Plain(s) => return s.read(buf),
            OriginStream::Tls(tcp, tls) => (tcp, tls),
        };
        loop {
            match tls.reader().read(buf) {
                Ok(n) => return Ok(n),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                // The origin closed without close_notify: the end, as for plain TCP (a
                // framed body that stops short is still caught by its decoder).
                Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(0),
                Err(e) => return Err(e),
            }
            match tls.read_tls(tcp) {
                Ok(0) => {
                    // Let rustls see the end, then report it from the reader above.
                    tls.process_new_packets().map_err(tls_error)?;
                    return Ok(0);
                }
                Ok(_) => {
                    tls.process_new_packets().map_err(tls_error)?;
                    // Key updates and the like may need an answer.
                    flush_tls(tcp, tls)?;
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// For an idle pooled connection: false when the origin closed it or sent anything
    /// but TLS housekeeping (session tickets), which ends it.
    pub(crate) fn still_idle(&mut self) -> bool {
        match self {
            OriginStream::Plain(s) => {
                let mut b = [0u8; 1];
                matches!(s.peek(&mut b), Err(e) if e.kind() == io::ErrorKind::WouldBlock)
            }
            OriginStream::Tls(..) => {
                let mut b = [0u8; 1];
                matches!(self.read(&mut b), Err(e) if e.kind() == io::ErrorKind::WouldBlock)
            }
        }
    }
}

/// Sends queued TLS records: true when nothing is left to send.
fn flush_tls(tcp: &mut TcpStream, tls: &mut ClientConnection) -> io::Result<bool> {
    while tls.wants_write() {
        match tls.write_tls(tcp) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(false),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(true)
}
