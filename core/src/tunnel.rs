//! A connection turned into a two-way byte tunnel (CONNECT): bytes relayed between the
//! client's transport and a peer socket the reactor watches on the connection's behalf.

use std::io::{self, Read, Write};
use std::net::Shutdown;

use mio::net::TcpStream;
use mio::{Interest, Registry, Token};
use slab::Slab;

use crate::sockets::{SocketEntry, SOCKET_BASE};
use crate::transport::Transport;

/// Per-direction buffer of a tunnel.
const TUNNEL_BUF: usize = 64 * 1024;

/// The peer side of a tunnel and the bytes in flight each way.
pub(crate) struct Tunnel {
    peer: TcpStream,
    peer_key: usize,
    up: Vec<u8>,
    down: Vec<u8>,
    peer_readable: bool,
    peer_writable: bool,
    client_eof: bool,
    peer_eof: bool,
}

/// A byte stream whose sending side can be shut.
trait HalfClose: Read + Write {
    fn close_write(&mut self);
}

impl HalfClose for TcpStream {
    fn close_write(&mut self) {
        let _ = self.shutdown(Shutdown::Write);
    }
}

impl HalfClose for Transport {
    fn close_write(&mut self) {
        self.shutdown_write();
    }
}

impl Tunnel {
    /// Registers `peer` for connection (`conn_key`, `conn_id`); `up` holds client bytes
    /// already read.
    pub fn open(
        mut peer: TcpStream,
        up: Vec<u8>,
        registry: &Registry,
        sockets: &mut Slab<SocketEntry>,
        conn_key: usize,
        conn_id: u64,
    ) -> io::Result<Tunnel> {
        let entry = sockets.vacant_entry();
        let peer_key = entry.key();
        registry.register(
            &mut peer,
            Token(SOCKET_BASE + peer_key),
            Interest::READABLE | Interest::WRITABLE,
        )?;
        entry.insert(SocketEntry::TunnelPeer { conn_key, conn_id });
        Ok(Tunnel {
            peer,
            peer_key,
            up,
            down: Vec::new(),
            peer_readable: true,
            peer_writable: true,
            client_eof: false,
            peer_eof: false,
        })
    }

    /// Readiness of the peer socket.
    pub fn peer_ready(&mut self, readable: bool, writable: bool) {
        self.peer_readable |= readable;
        self.peer_writable |= writable;
    }

    /// Relays what can be relayed. Ok(moved): whether any byte moved; Ok(None) when both
    /// sides are done; Err on an error.
    pub fn pump(&mut self, client: &mut Transport) -> Result<Option<bool>, ()> {
        let mut moved = false;
        loop {
            let mut readable = client.may_read();
            let mut writable = client.writable;
            let up = relay(
                client,
                &mut readable,
                &mut self.client_eof,
                &mut self.up,
                &mut self.peer,
                &mut self.peer_writable,
            )?;
            client.readable = readable;
            let down = relay(
                &mut self.peer,
                &mut self.peer_readable,
                &mut self.peer_eof,
                &mut self.down,
                client,
                &mut writable,
            )?;
            client.writable = writable;
            moved |= up || down;
            if self.client_eof && self.peer_eof && self.up.is_empty() && self.down.is_empty() {
                return Ok(None);
            }
            if !(up || down) {
                return Ok(Some(moved));
            }
        }
    }

    /// Releases the peer socket.
    pub fn close(mut self, registry: &Registry, sockets: &mut Slab<SocketEntry>) {
        let _ = registry.deregister(&mut self.peer);
        sockets.try_remove(self.peer_key);
    }
}

/// Moves bytes from `src` to `dst` through `buf`; shuts `dst`'s write side when `src`
/// ends. Ok(true) when anything moved.
fn relay(
    src: &mut impl HalfClose,
    src_readable: &mut bool,
    src_eof: &mut bool,
    buf: &mut Vec<u8>,
    dst: &mut impl HalfClose,
    dst_writable: &mut bool,
) -> Result<bool, ()> {
    let mut progress = false;
    if !*src_eof && *src_readable && buf.len() < TUNNEL_BUF {
        let len = buf.len();
        buf.resize(TUNNEL_BUF, 0);
        match src.read(&mut buf[len..]) {
            Ok(0) => {
                buf.truncate(len);
                *src_eof = true;
                progress = true;
            }
            Ok(n) => {
                buf.truncate(len + n);
                progress = true;
            }
            Err(e) => {
                buf.truncate(len);
                match e.kind() {
                    io::ErrorKind::WouldBlock => *src_readable = false,
                    io::ErrorKind::Interrupted => {}
                    _ => return Err(()),
                }
            }
        }
    }
    if !buf.is_empty() && *dst_writable {
        match dst.write(buf) {
            Ok(n) => {
                buf.drain(..n);
                progress |= n > 0;
            }
            Err(e) => match e.kind() {
                io::ErrorKind::WouldBlock | io::ErrorKind::NotConnected => *dst_writable = false,
                io::ErrorKind::Interrupted => {}
                _ => return Err(()),
            },
        }
    }
    if *src_eof && buf.is_empty() {
        dst.close_write();
    }
    Ok(progress)
}
