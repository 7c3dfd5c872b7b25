//! Helpers for testing handlers over real sockets: start a server on `127.0.0.1:0`, send
//! raw bytes, read responses back.
//!
//! ```
//! use reactor::testing::{serve, Client};
//! use reactor::{Context, Handler, Reply, Request, Response};
//!
//! struct Hi;
//! impl Handler for Hi {
//!     fn handle(&self, _: &mut Request, _: &mut Context<'_>) -> Reply {
//!         Reply::Response(Response::text(200, "hi"))
//!     }
//! }
//!
//! let server = serve(reactor::Server::new(Default::default()).handler(Hi));
//! let mut c = Client::connect(server.local_addr());
//! let r = c.get("/");
//! assert_eq!((r.status, r.body.as_slice()), (200, &b"hi"[..]));
//! ```

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::access_log::LogSink;

use crate::server::{Running, Server};

/// Starts `server` on `127.0.0.1:0` (whatever its configured address). Panics if it cannot
/// start: this is for tests.
pub fn serve(server: Server) -> Running {
    server
        .bind(SocketAddr::from(([127, 0, 0, 1], 0)))
        .start()
        .expect("server starts")
}

/// A log the test can read back: give [`MemoryLog::sink`] to the server (as its access
/// log, say) and read what was written with [`MemoryLog::text`].
#[derive(Clone, Default)]
pub struct MemoryLog(Arc<Mutex<Vec<u8>>>);

impl MemoryLog {
    /// A sink writing into this log.
    pub fn sink(&self) -> LogSink {
        Arc::new(Mutex::new(Box::new(self.clone())))
    }

    /// Everything written so far (lossy UTF-8).
    pub fn text(&self) -> String {
        self.0
            .lock()
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .unwrap_or_default()
    }
}

impl Write for MemoryLog {
    fn write(&mut self, b: &[u8]) -> io::Result<usize> {
        if let Ok(mut buf) = self.0.lock() {
            buf.extend_from_slice(b);
        }
        Ok(b.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// A parsed response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TestResponse {
    /// Status code.
    pub status: u16,
    /// Header fields, names lower-cased.
    pub headers: Vec<(String, String)>,
    /// The body, de-chunked.
    pub body: Vec<u8>,
}

impl TestResponse {
    /// The first value of header `name` (give it in lower case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// The body as text (lossy).
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// The client's connection: plain TCP or TLS over it.
enum Stream {
    Plain(TcpStream),
    Tls(Box<rustls::StreamOwned<rustls::ClientConnection, TcpStream>>),
}

/// A blocking test client on one connection.
pub struct Client {
    stream: Stream,
    buf: Vec<u8>,
}

fn connect(addr: SocketAddr) -> TcpStream {
    let stream = TcpStream::connect(addr).expect("connect");
    stream.set_read_timeout(Some(Duration::from_secs(10))).ok();
    stream.set_write_timeout(Some(Duration::from_secs(10))).ok();
    stream
}

impl Client {
    /// Connects to `addr` with 10 s read and write timeouts.
    pub fn connect(addr: SocketAddr) -> Client {
        Client {
            stream: Stream::Plain(connect(addr)),
            buf: Vec::new(),
        }
    }

    /// Connects to `addr` over TLS (rustls, ring), sending SNI `name` and trusting the
    /// certificate `root` (DER) alone.
    pub fn connect_tls(
        addr: SocketAddr,
        name: &str,
        root: &rustls::pki_types::CertificateDer<'static>,
    ) -> io::Result<Client> {
        let mut store = rustls::RootCertStore::empty();
        store
            .add(root.clone())
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?
            .with_root_certificates(store)
            .with_no_client_auth();
        let server_name = rustls::pki_types::ServerName::try_from(name.to_string())
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
        let conn = rustls::ClientConnection::new(Arc::new(config), server_name)
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
        let mut tls = rustls::StreamOwned::new(conn, connect(addr));
        while tls.conn.is_handshaking() {
            tls.conn.complete_io(&mut tls.sock)?;
        }
        Ok(Client {
            stream: Stream::Tls(Box::new(tls)),
            buf: Vec::new(),
        })
    }

    /// The certificate chain the server presented (TLS only).
    pub fn peer_certificates(&self) -> Vec<rustls::pki_types::CertificateDer<'static>> {
        match &self.stream {
            Stream::Tls(t) => t
                .conn
                .peer_certificates()
                .map(|c| c.iter().map(|c| c.clone().into_owned()).collect())
                .unwrap_or_default(),
            Stream::Plain(_) => Vec::new(),
        }
    }

    /// Ends the TLS session with a close_notify alert (nothing for plain TCP).
    pub fn close_notify(&mut self) -> io::Result<()> {
        if let Stream::Tls(t) = &mut self.stream {
            t.conn.send_close_notify();
            t.conn.complete_io(&mut t.sock)?;
        }
        Ok(())
    }

    /// Sends raw bytes.
    pub fn send(&mut self, bytes: &[u8]) {
        self.write_all(bytes).expect("send");
    }

    /// `GET path` with keep-alive; returns the response.
    pub fn get(&mut self, path: &str) -> TestResponse {
        self.send(format!("GET {path} HTTP/1.1\r\nHost: test\r\n\r\n").as_bytes());
        self.response(false).expect("response")
    }

    /// Reads one response (`head_only`: the request was HEAD, so no body follows).
    pub fn response(&mut self, head_only: bool) -> io::Result<TestResponse> {
        let (status, headers, used) = loop {
            let mut hs = [httparse::EMPTY_HEADER; 64];
            let mut r = httparse::Response::new(&mut hs);
            match r.parse(&self.buf) {
                Ok(httparse::Status::Complete(n)) => {
                    let headers: Vec<(String, String)> = r
                        .headers
                        .iter()
                        .map(|h| {
                            (
                                h.name.to_ascii_lowercase(),
                                String::from_utf8_lossy(h.value).into_owned(),
                            )
                        })
                        .collect();
                    break (r.code.unwrap_or(0), headers, n);
                }
                Ok(httparse::Status::Partial) => self.fill()?,
                Err(e) => return Err(io::Error::new(io::ErrorKind::InvalidData, e.to_string())),
            }
        };
        self.buf.drain(..used);
        // Interim responses (100 Continue, 103 Early Hints, …) precede the final one; a
        // 101 is final for this exchange.
        if (100..200).contains(&status) && status != 101 {
            return self.response(head_only);
        }
        let mut resp = TestResponse {
            status,
            headers,
            body: Vec::new(),
        };
        if head_only || status == 204 || status == 304 {
            return Ok(resp);
        }
        if let Some(len) = resp.header("content-length") {
            let len: usize = len
                .parse()
                .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "bad length"))?;
            while self.buf.len() < len {
                self.fill()?;
            }
            resp.body = self.buf.drain(..len).collect();
        } else if resp.header("transfer-encoding") == Some("chunked") {
            let mut decoder =
                crate::body::BodyDecoder::new(crate::request::Framing::Chunked, u64::MAX);
            loop {
                let n = decoder
                    .decode(&self.buf, &mut resp.body)
                    .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e.detail))?;
                self.buf.drain(..n);
                if decoder.is_done() {
                    break;
                }
                self.fill()?;
            }
        } else {
            loop {
                match self.fill() {
                    Ok(()) => {}
                    Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => break,
                    Err(e) => return Err(e),
                }
            }
            resp.body = std::mem::take(&mut self.buf);
        }
        Ok(resp)
    }

    /// Reads until the server closes the connection; returns everything unread.
    pub fn read_to_end(&mut self) -> Vec<u8> {
        let mut rest = Vec::new();
        let _ = Read::read_to_end(self, &mut rest);
        self.buf.extend_from_slice(&rest);
        std::mem::take(&mut self.buf)
    }

    fn fill(&mut self) -> io::Result<()> {
        let mut chunk = [0u8; 16 * 1024];
        let n = self.read(&mut chunk)?;
        if n == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "connection closed",
            ));
        }
        self.buf.extend_from_slice(&chunk[..n]);
        Ok(())
    }

    /// The underlying TCP stream (under TLS, if any).
    pub fn stream(&mut self) -> &mut TcpStream {
        match &mut self.stream {
            Stream::Plain(s) => s,
            Stream::Tls(t) => &mut t.sock,
        }
    }
}

impl Read for Client {
    /// Reads what the server sent (decrypted under TLS), bypassing the response buffer.
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match &mut self.stream {
            Stream::Plain(s) => s.read(buf),
            Stream::Tls(t) => t.read(buf),
        }
    }
}

impl Write for Client {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match &mut self.stream {
            Stream::Plain(s) => s.write(buf),
            Stream::Tls(t) => t.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match &mut self.stream {
            Stream::Plain(s) => s.flush(),
            Stream::Tls(t) => t.flush(),
        }
    }
}
