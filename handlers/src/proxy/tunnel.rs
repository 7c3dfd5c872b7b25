//! CONNECT tunnels: check the port, resolve (pool, cached), connect without blocking,
//! then turn the client connection into a two-way tunnel with the origin socket.

use std::io;
use std::os::fd::AsFd;
use std::sync::Arc;
use std::time::Duration;

use mio::net::TcpStream;
use mio::Interest;
use reactor::{Context, Ready, Reply, Request, Responder, Response, SocketHandler};

use super::exchange::resolve_then;
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
    let state = (
        format!("{host}:{port}"),
        cx.responder(),
        inner.config.upstream_timeout,
    );
    resolve_then(
        inner,
        host,
        port,
        cx,
        state,
        |(what, responder, timeout), r, cx| {
            let addr = match r {
                Ok(a) => a,
                Err(e) => return responder.send(Response::error_with(502, &e)),
            };
            match TcpStream::connect(addr) {
                Ok(stream) => {
                    let t = Tunnel {
                        what,
                        responder: Some(responder),
                        stream,
                        timeout,
                    };
                    match cx.register(Box::new(t), Interest::WRITABLE) {
                        Ok(id) => {
                            let at = cx.now() + timeout;
                            cx.set_deadline(id, Some(at));
                        }
                        Err(e) => log::error!("cannot register a tunnel socket: {e}"),
                    }
                }
                Err(e) => {
                    let detail = format!("Cannot connect to {what}: {e}.");
                    responder.send(Response::error_with(502, &detail));
                }
            }
        },
    );
    Reply::Later
}

/// A CONNECT target being connected to.
struct Tunnel {
    what: String,
    responder: Option<Responder>,
    stream: TcpStream,
    timeout: Duration,
}

impl Tunnel {
    fn answer(&mut self, r: Response) {
        if let Some(responder) = self.responder.take() {
            responder.send(r);
        }
    }
}

impl SocketHandler for Tunnel {
    fn source(&mut self) -> &mut dyn mio::event::Source {
        &mut self.stream
    }

    fn ready(&mut self, ready: Ready, _cx: &mut Context<'_>) -> bool {
        let stream = &self.stream;
        if ready.timed_out {
            let detail = format!(
                "{} did not accept the connection within {} s.",
                self.what,
                self.timeout.as_secs_f64()
            );
            self.answer(Response::error_with(504, &detail));
            return false;
        }
        let err = match stream.take_error() {
            Ok(None) => match stream.peer_addr() {
                Ok(_) => None,
                Err(e) if e.kind() == io::ErrorKind::NotConnected => return true,
                Err(e) => Some(e),
            },
            Ok(Some(e)) | Err(e) => Some(e),
        };
        let resp = match err {
            Some(e) => Response::error_with(502, &format!("Cannot connect to {}: {e}.", self.what)),
            None => match dup(stream).and_then(Response::tunnel) {
                Ok(r) => r,
                Err(e) => Response::error_with(502, &format!("Cannot open the tunnel: {e}.")),
            },
        };
        self.answer(resp);
        false
    }
}

/// A second descriptor for the same socket (to tunnel it once the reactor deregisters
/// and closes the first).
fn dup(s: &TcpStream) -> io::Result<std::net::TcpStream> {
    Ok(std::net::TcpStream::from(s.as_fd().try_clone_to_owned()?))
}
