//! UDP transport: a connected socket to a textbook pinger or RFC 862 echo server.

use std::io;
use std::mem::MaybeUninit;
use std::net::SocketAddr;
use std::os::fd::{AsRawFd, RawFd};
use std::time::SystemTime;

use socket2::{Domain, Protocol, SockAddr, Socket, Type};

use super::errqueue;
use super::transport::{Incoming, Transport};
use super::wire;

/// A non-blocking UDP socket connected to the server being pinged.
pub struct UdpTransport {
    socket: Socket,
    peer: SocketAddr,
    size: usize,
    detailed_errors: bool,
    buf: Vec<u8>,
}

impl UdpTransport {
    /// Opens a socket connected to `peer`; requests are padded to `size` bytes.
    pub fn connect(peer: SocketAddr, size: usize) -> io::Result<Self> {
        let socket = Socket::new(Domain::for_address(peer), Type::DGRAM, Some(Protocol::UDP))?;
        socket.set_nonblocking(true)?;
        let detailed_errors = errqueue::enable(socket.as_raw_fd(), peer.is_ipv6()).is_ok();
        socket.connect(&SockAddr::from(peer))?;
        Ok(UdpTransport {
            socket,
            peer,
            size,
            detailed_errors,
            buf: vec![0; 65536],
        })
    }

    /// Turns the next queued ICMP error into an event, if any.
    fn queued_error(&self) -> io::Result<Option<Incoming>> {
        if !self.detailed_errors {
            return Ok(None);
        }
        Ok(
            errqueue::pop(self.socket.as_raw_fd())?.map(|e| Incoming::Unreachable {
                seq: wire::parse(&e.payload).map(|m| m.seq),
                from: e.offender.unwrap_or(self.peer.ip()),
                reason: e.reason,
            }),
        )
    }
}

/// Receives into an initialised buffer through socket2's `MaybeUninit` API.
pub(crate) fn recv_into(socket: &Socket, buf: &mut [u8]) -> io::Result<(usize, SockAddr)> {
    // SAFETY: u8 and MaybeUninit<u8> share a layout, and recv only writes
    // initialised bytes, so the slice stays initialised.
    let uninit = unsafe { &mut *(buf as *mut [u8] as *mut [MaybeUninit<u8>]) };
    socket.recv_from(uninit)
}

impl Transport for UdpTransport {
    fn raw_fd(&self) -> RawFd {
        self.socket.as_raw_fd()
    }

    fn send(&mut self, seq: u64, sent: SystemTime) -> io::Result<()> {
        let msg = wire::encode(seq, sent, self.size);
        match self.socket.send(&msg) {
            // A pending ICMP error from an earlier ping fails this send without
            // sending; its details stay queued, so just send again.
            Err(e) if e.kind() == io::ErrorKind::ConnectionRefused => {
                self.socket.send(&msg).map(drop)
            }
            other => other.map(drop),
        }
    }

    fn recv(&mut self) -> io::Result<Option<Incoming>> {
        loop {
            if let Some(event) = self.queued_error()? {
                return Ok(Some(event));
            }
            match recv_into(&self.socket, &mut self.buf) {
                Ok((len, _)) => {
                    if let Some(msg) = wire::parse(&self.buf[..len]) {
                        return Ok(Some(Incoming::Reply {
                            seq: msg.seq,
                            len,
                            from: self.peer.ip(),
                        }));
                    }
                    log::debug!("ignoring {len}-byte datagram that is not a ping reply");
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(None),
                Err(e) if e.kind() == io::ErrorKind::ConnectionRefused => {
                    if let Some(event) = self.queued_error()? {
                        return Ok(Some(event));
                    }
                    return Ok(Some(Incoming::Unreachable {
                        seq: None,
                        from: self.peer.ip(),
                        reason: "Destination Port Unreachable".into(),
                    }));
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
    }

    fn header_detail(&self) -> String {
        format!("port {}: {} bytes of data.", self.peer.port(), self.size)
    }
}
