//! CONNECT tunnels: check the port, resolve (pool, cached), connect without blocking,
//! then turn the client connection into a two-way tunnel with the origin socket. With a
//! parent proxy (`--parent`), the connection goes to the parent, which is asked for the
//! tunnel with a CONNECT of its own.

use std::io::{self, Read, Write};
use std::os::fd::AsFd;
use std::sync::Arc;
use std::time::Duration;

use mio::net::TcpStream;
use mio::Interest;
use reactor::{Context, Ready, Reply, Request, Responder, Response, SocketHandler};

use super::exchange::resolve_then;
use super::head::HeadScanner;
use super::target::parse_authority;
use super::Inner;

/// CONNECT: check the port, resolve, connect without blocking, then turn the client
/// connection into a tunnel.
pub(crate) fn connect(inner: &Arc<Inner>, req: &Request, cx: &mut Context<'_>) -> Reply {
    let (host, port) = match parse_authority(&req.target) {
        Ok(x) => x,
        Err(e) => {
            return Reply::Response(
                Response::error_with(400, &format!("Bad CONNECT target: {e}."))
                    .with_header("Connection", "close"),
            )
        }
    };
    if !inner.config.connect_ports.contains(&port) {
        log::info!("{}: CONNECT to port {port} refused", req.peer);
        return Reply::Response(Response::error_with(
            403,
            &format!("CONNECT to port {port} is not allowed."),
        ));
    }
    let what = format!("{host}:{port}");
    // Through a parent proxy: connect to it and ask it for the tunnel.
    let (host, port, ask) = match &inner.config.parent {
        Some(parent) => {
            let ask = format!("CONNECT {what} HTTP/1.1\r\nHost: {what}\r\n\r\n");
            (parent.host.clone(), parent.port, Some(ask.into_bytes()))
        }
        None => (host, port, None),
    };
    let state = (what, ask, cx.responder(), inner.config.upstream_timeout);
    resolve_then(
        inner,
        host,
        port,
        cx,
        state,
        |(what, ask, responder, timeout), r, cx| {
            let addr = match r {
                Ok(a) => a,
                Err(e) => return responder.send(Response::error_with(502, &e)),
            };
            let via = if ask.is_some() {
                " through the parent proxy"
            } else {
                ""
            };
            match TcpStream::connect(addr) {
                Ok(stream) => {
                    let t = Tunnel {
                        what,
                        via,
                        responder: Some(responder),
                        stream,
                        timeout,
                        ask: ask.unwrap_or_default(),
                        written: 0,
                        connected: false,
                    };
                    let interest = Interest::READABLE | Interest::WRITABLE;
                    match cx.register(Box::new(t), interest) {
                        Ok(id) => {
                            let at = cx.now() + timeout;
                            cx.set_deadline(id, Some(at));
                        }
                        Err(e) => log::error!("cannot register a tunnel socket: {e}"),
                    }
                }
                Err(e) => {
                    let detail = format!("Cannot connect to {what}{via}: {e}.");
                    responder.send(Response::error_with(502, &detail));
                }
            }
        },
    );
    Reply::Later
}

/// Largest answer head accepted from a parent proxy to CONNECT.
const MAX_PARENT_HEAD: usize = 8192;

/// A CONNECT target (or the parent proxy asked for it) being connected to.
struct Tunnel {
    what: String,
    /// `" through the parent proxy"` or empty, for error pages.
    via: &'static str,
    responder: Option<Responder>,
    stream: TcpStream,
    timeout: Duration,
    /// The CONNECT request for the parent (empty without one), and how much is written.
    ask: Vec<u8>,
    written: usize,
    connected: bool,
}

impl Tunnel {
    fn answer(&mut self, r: Response) {
        if let Some(responder) = self.responder.take() {
            responder.send(r);
        }
    }

    /// The connection is up: false while waiting for it.
    fn check_connected(&mut self) -> io::Result<bool> {
        if let Some(e) = self.stream.take_error()? {
            return Err(e);
        }
        match self.stream.peer_addr() {
            Ok(_) => Ok(true),
            Err(e) if e.kind() == io::ErrorKind::NotConnected => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Sends the CONNECT to the parent and reads its answer head (exactly: what follows
    /// it belongs to the tunnel). `Ok(None)`: waiting; `Ok(Some(status))`: answered.
    fn ask_parent(&mut self) -> io::Result<Option<u16>> {
        while self.written < self.ask.len() {
            match self.stream.write(&self.ask[self.written..]) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => self.written += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(None),
                Err(e) => return Err(e),
            }
        }
        let mut buf = [0u8; MAX_PARENT_HEAD];
        let n = match self.stream.peek(&mut buf) {
            Ok(0) => return Err(io::ErrorKind::UnexpectedEof.into()),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(None),
            Err(e) => return Err(e),
        };
        match HeadScanner::default().next(&buf[..n]) {
            None if n == buf.len() => Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "its answer head is too large",
            )),
            None => Ok(None),
            Some(Err(e)) => Err(io::Error::new(io::ErrorKind::InvalidData, e)),
            Some(Ok((len, head))) => {
                // Take exactly the head off the socket.
                self.stream.read_exact(&mut buf[..len])?;
                Ok(Some(head.status))
            }
        }
    }

    fn step(&mut self) -> Result<Option<Response>, String> {
        let (what, via) = (self.what.clone(), self.via);
        if !self.connected {
            match self.check_connected() {
                Ok(true) => self.connected = true,
                Ok(false) => return Ok(None),
                Err(e) => return Err(format!("Cannot connect to {what}{via}: {e}.")),
            }
        }
        if !self.ask.is_empty() {
            match self.ask_parent() {
                Ok(None) => return Ok(None),
                Ok(Some(status)) if (200..300).contains(&status) => {}
                Ok(Some(status)) => {
                    return Err(format!(
                        "The parent proxy refused the tunnel to {what}: status {status}."
                    ))
                }
                Err(e) => return Err(format!("The parent proxy failed: {e}.")),
            }
        }
        dup(&self.stream)
            .and_then(Response::tunnel)
            .map(Some)
            .map_err(|e| format!("Cannot open the tunnel: {e}."))
    }
}

impl SocketHandler for Tunnel {
    fn source(&mut self) -> &mut dyn mio::event::Source {
        &mut self.stream
    }

    fn ready(&mut self, ready: Ready, _cx: &mut Context<'_>) -> bool {
        if ready.timed_out {
            let detail = format!(
                "{}{} did not answer within {} s.",
                self.what,
                self.via,
                self.timeout.as_secs_f64()
            );
            self.answer(Response::error_with(504, &detail));
            return false;
        }
        match self.step() {
            Ok(None) => true,
            Ok(Some(r)) => {
                self.answer(r);
                false
            }
            Err(detail) => {
                self.answer(Response::error_with(502, &detail));
                false
            }
        }
    }
}

/// A second descriptor for the same socket (to tunnel it once the reactor deregisters
/// and closes the first).
fn dup(s: &TcpStream) -> io::Result<std::net::TcpStream> {
    Ok(std::net::TcpStream::from(s.as_fd().try_clone_to_owned()?))
}
