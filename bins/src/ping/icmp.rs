//! ICMP echo transport (`--icmp`): an unprivileged ICMP datagram socket where
//! the kernel allows it (`net.ipv4.ping_group_range`), otherwise a raw socket
//! (root or CAP_NET_RAW).

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::os::fd::{AsRawFd, RawFd};
use std::time::SystemTime;

use socket2::{Domain, Protocol, SockAddr, Socket, Type};

use super::errqueue;
use super::transport::{Incoming, Transport};
use super::udp::recv_into;
use super::wire;

const ECHO_REQUEST_V4: u8 = 8;
const ECHO_REPLY_V4: u8 = 0;
const ECHO_REQUEST_V6: u8 = 128;
const ECHO_REPLY_V6: u8 = 129;
const HEADER: usize = 8;

/// An ICMP socket pinging one address.
pub struct IcmpTransport {
    socket: Socket,
    peer: IpAddr,
    raw: bool,
    ident: u16,
    size: usize,
    last_seq: u64,
    buf: Vec<u8>,
}

impl IcmpTransport {
    /// Opens a datagram ICMP socket, falling back to a raw one.
    pub fn open(peer: IpAddr, size: usize) -> io::Result<Self> {
        let (domain, protocol) = match peer {
            IpAddr::V4(_) => (Domain::IPV4, Protocol::ICMPV4),
            IpAddr::V6(_) => (Domain::IPV6, Protocol::ICMPV6),
        };
        let (socket, raw) = match Socket::new(domain, Type::DGRAM, Some(protocol)) {
            Ok(socket) => (socket, false),
            Err(dgram) => match Socket::new(domain, Type::RAW, Some(protocol)) {
                Ok(socket) => (socket, true),
                Err(raw) => {
                    return Err(io::Error::new(
                        raw.kind(),
                        format!("datagram socket: {dgram}; raw socket: {raw} (need root or net.ipv4.ping_group_range)"),
                    ))
                }
            },
        };
        socket.set_nonblocking(true)?;
        if !raw {
            errqueue::enable(socket.as_raw_fd(), peer.is_ipv6())?;
        }
        log::debug!("using {} ICMP socket", if raw { "raw" } else { "datagram" });
        Ok(IcmpTransport {
            socket,
            peer,
            raw,
            ident: (std::process::id() & 0xffff) as u16,
            size,
            last_seq: 0,
            buf: vec![0; 65536 + 60],
        })
    }

    /// Whether the kernel gave us a raw socket (false: ICMP datagram socket).
    pub fn is_raw(&self) -> bool {
        self.raw
    }

    /// Maps a 16-bit ICMP sequence number back to the latest matching ping.
    fn widen(&self, seq16: u16) -> Option<u64> {
        let back = u64::from((self.last_seq as u16).wrapping_sub(seq16));
        self.last_seq.checked_sub(back).filter(|&s| s > 0)
    }

    /// Interprets one ICMP message (header first) from `from`.
    fn classify(&self, icmp: &[u8], from: IpAddr) -> Option<Incoming> {
        let v6 = self.peer.is_ipv6();
        let (request, reply) = if v6 {
            (ECHO_REQUEST_V6, ECHO_REPLY_V6)
        } else {
            (ECHO_REQUEST_V4, ECHO_REPLY_V4)
        };
        let (kind, code) = (*icmp.first()?, *icmp.get(1)?);
        if kind == reply {
            let (ident, seq) = echo_ids(icmp)?;
            if from != self.peer || (self.raw && ident != self.ident) {
                return None;
            }
            return Some(Incoming::Reply {
                seq: self.widen(seq)?,
                len: icmp.len(),
                from,
            });
        }
        let is_error = if v6 {
            kind < 128
        } else {
            matches!(kind, 3 | 11)
        };
        if !self.raw || !is_error {
            return None;
        }
        // The error quotes our request's IP header and ICMP header.
        let quoted = icmp.get(HEADER..)?;
        let inner = if v6 {
            quoted.get(40..)?
        } else {
            quoted.get(usize::from(quoted.first()? & 0x0f) * 4..)?
        };
        let (ident, seq) = echo_ids(inner)?;
        if *inner.first()? != request || ident != self.ident {
            return None;
        }
        Some(Incoming::Unreachable {
            seq: self.widen(seq),
            from,
            reason: errqueue::describe(v6, kind, code),
        })
    }
}

/// The identifier and sequence fields of an echo header.
fn echo_ids(icmp: &[u8]) -> Option<(u16, u16)> {
    let field = |at: usize| Some(u16::from_be_bytes([*icmp.get(at)?, *icmp.get(at + 1)?]));
    Some((field(4)?, field(6)?))
}

/// The Internet checksum (RFC 1071).
///
/// ```
/// use reactor_bins::ping::icmp::checksum;
/// // An echo request with id 1, seq 1 and no data.
/// assert_eq!(checksum(&[8, 0, 0, 0, 0, 1, 0, 1]), 0xf7fd);
/// ```
pub fn checksum(data: &[u8]) -> u16 {
    let mut sum: u32 = data
        .chunks(2)
        .map(|pair| u32::from(u16::from_be_bytes([pair[0], *pair.get(1).unwrap_or(&0)])))
        .sum();
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

impl Transport for IcmpTransport {
    fn raw_fd(&self) -> RawFd {
        self.socket.as_raw_fd()
    }

    fn send(&mut self, seq: u64, sent: SystemTime) -> io::Result<()> {
        self.last_seq = seq;
        let kind = if self.peer.is_ipv6() {
            ECHO_REQUEST_V6
        } else {
            ECHO_REQUEST_V4
        };
        let mut packet = vec![kind, 0, 0, 0];
        packet.extend_from_slice(&self.ident.to_be_bytes());
        packet.extend_from_slice(&(seq as u16).to_be_bytes());
        let mut data = wire::encode(seq, sent, self.size);
        data.truncate(self.size);
        packet.extend_from_slice(&data);
        if !self.peer.is_ipv6() {
            // ICMPv6 checksums cover a pseudo-header; the kernel fills them in.
            let sum = checksum(&packet);
            packet[2..4].copy_from_slice(&sum.to_be_bytes());
        }
        self.socket
            .send_to(&packet, &SockAddr::from(SocketAddr::new(self.peer, 0)))?;
        Ok(())
    }

    fn recv(&mut self) -> io::Result<Option<Incoming>> {
        loop {
            if !self.raw {
                if let Some(e) = errqueue::pop(self.socket.as_raw_fd())? {
                    let seq = echo_ids(&e.payload).and_then(|(_, seq)| self.widen(seq));
                    let from = e.offender.unwrap_or(self.peer);
                    return Ok(Some(Incoming::Unreachable {
                        seq,
                        from,
                        reason: e.reason,
                    }));
                }
            }
            let (len, addr) = match recv_into(&self.socket, &mut self.buf) {
                Ok(received) => received,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(None),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            let Some(from) = addr.as_socket().map(|a| a.ip()) else {
                continue;
            };
            let packet = &self.buf[..len];
            // Raw IPv4 sockets deliver the IP header too.
            let icmp = if self.raw && !self.peer.is_ipv6() {
                let ihl = usize::from(packet.first().map_or(0, |b| b & 0x0f)) * 4;
                packet.get(ihl..).unwrap_or_default()
            } else {
                packet
            };
            if let Some(incoming) = self.classify(icmp, from) {
                return Ok(Some(incoming));
            }
        }
    }

    fn header_detail(&self) -> String {
        let ip_header = if self.peer.is_ipv6() { 40 } else { 20 };
        format!(
            "{}({}) bytes of data.",
            self.size,
            self.size + HEADER + ip_header
        )
    }
}
