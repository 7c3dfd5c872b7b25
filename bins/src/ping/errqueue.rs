//! Linux socket error queues (`IP_RECVERR`): which datagram an ICMP error
//! such as "port unreachable" refers to, and who sent it.

use std::io;
use std::mem::{size_of, zeroed};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::os::fd::RawFd;
use std::ptr::read_unaligned;

/// One ICMP error from the queue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueuedError {
    /// Leading bytes of the offending datagram's payload (for UDP the
    /// datagram we sent, for ICMP datagram sockets our echo request).
    pub payload: Vec<u8>,
    /// Router or host that reported the error, if known.
    pub offender: Option<IpAddr>,
    /// iputils-style description of the ICMP type and code.
    pub reason: String,
}

/// Asks the kernel to queue ICMP errors with details on `fd`.
pub fn enable(fd: RawFd, v6: bool) -> io::Result<()> {
    let (level, name) = if v6 {
        (libc::IPPROTO_IPV6, libc::IPV6_RECVERR)
    } else {
        (libc::IPPROTO_IP, libc::IP_RECVERR)
    };
    let on: libc::c_int = 1;
    // SAFETY: valid fd-independent pointer and length for an int option.
    let rc = unsafe {
        libc::setsockopt(
            fd,
            level,
            name,
            (&on as *const libc::c_int).cast(),
            size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Takes one entry off `fd`'s error queue without blocking; `Ok(None)` when empty.
pub fn pop(fd: RawFd) -> io::Result<Option<QueuedError>> {
    let mut payload = vec![0u8; 2048];
    let mut control = [0u64; 64];
    let mut iov = libc::iovec {
        iov_base: payload.as_mut_ptr().cast(),
        iov_len: payload.len(),
    };
    // SAFETY: msghdr is plain data; zero is a valid initial state.
    let mut msg: libc::msghdr = unsafe { zeroed() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.as_mut_ptr().cast();
    msg.msg_controllen = std::mem::size_of_val(&control) as _;
    // SAFETY: every pointer in msg refers to live buffers of the stated size.
    let n = unsafe { libc::recvmsg(fd, &mut msg, libc::MSG_ERRQUEUE | libc::MSG_DONTWAIT) };
    if n < 0 {
        let err = io::Error::last_os_error();
        return match err.kind() {
            io::ErrorKind::WouldBlock => Ok(None),
            _ => Err(err),
        };
    }
    payload.truncate(n as usize);
    // SAFETY: the CMSG macros walk the control buffer the kernel just filled.
    let mut cmsg = unsafe { libc::CMSG_FIRSTHDR(&msg) };
    while !cmsg.is_null() {
        // SAFETY: cmsg is non-null and inside the control buffer.
        let (level, kind, data) =
            unsafe { ((*cmsg).cmsg_level, (*cmsg).cmsg_type, libc::CMSG_DATA(cmsg)) };
        let v4 = level == libc::IPPROTO_IP && kind == libc::IP_RECVERR;
        let v6 = level == libc::IPPROTO_IPV6 && kind == libc::IPV6_RECVERR;
        if v4 || v6 {
            // SAFETY: for these cmsg types the data is a sock_extended_err
            // followed by the offender's sockaddr (SO_EE_OFFENDER).
            let (ee, offender) = unsafe {
                let ee: libc::sock_extended_err = read_unaligned(data.cast());
                let addr = data.add(size_of::<libc::sock_extended_err>());
                (ee, sockaddr_ip(addr))
            };
            let icmp =
                ee.ee_origin == libc::SO_EE_ORIGIN_ICMP || ee.ee_origin == libc::SO_EE_ORIGIN_ICMP6;
            let reason = if icmp {
                describe(
                    ee.ee_origin == libc::SO_EE_ORIGIN_ICMP6,
                    ee.ee_type,
                    ee.ee_code,
                )
            } else {
                io::Error::from_raw_os_error(ee.ee_errno as i32).to_string()
            };
            return Ok(Some(QueuedError {
                payload,
                offender,
                reason,
            }));
        }
        // SAFETY: as above.
        cmsg = unsafe { libc::CMSG_NXTHDR(&msg, cmsg) };
    }
    Ok(Some(QueuedError {
        payload,
        offender: None,
        reason: "Unknown error".into(),
    }))
}

/// Reads an IPv4 or IPv6 address from a raw sockaddr.
///
/// # Safety
/// `addr` must point to at least a `sockaddr_in6`'s worth of readable bytes.
unsafe fn sockaddr_ip(addr: *const u8) -> Option<IpAddr> {
    let family: libc::sa_family_t = read_unaligned(addr.cast());
    match i32::from(family) {
        libc::AF_INET => {
            let sin: libc::sockaddr_in = read_unaligned(addr.cast());
            Some(IpAddr::V4(Ipv4Addr::from(u32::from_be(
                sin.sin_addr.s_addr,
            ))))
        }
        libc::AF_INET6 => {
            let sin6: libc::sockaddr_in6 = read_unaligned(addr.cast());
            Some(IpAddr::V6(Ipv6Addr::from(sin6.sin6_addr.s6_addr)))
        }
        _ => None,
    }
}

/// Names an ICMP (or ICMPv6) error the way iputils prints it.
///
/// ```
/// use reactor_bins::ping::errqueue::describe;
/// assert_eq!(describe(false, 3, 3), "Destination Port Unreachable");
/// assert_eq!(describe(true, 1, 4), "Destination unreachable: Port unreachable");
/// ```
pub fn describe(v6: bool, kind: u8, code: u8) -> String {
    let text = match (v6, kind, code) {
        (false, 3, 0) => "Destination Net Unreachable",
        (false, 3, 1) => "Destination Host Unreachable",
        (false, 3, 2) => "Destination Protocol Unreachable",
        (false, 3, 3) => "Destination Port Unreachable",
        (false, 3, 4) => "Frag needed",
        (false, 3, 13) => "Packet filtered",
        (false, 3, _) => "Destination Unreachable",
        (false, 11, _) => "Time to live exceeded",
        (true, 1, 0) => "Destination unreachable: No route",
        (true, 1, 1) => "Destination unreachable: Administratively prohibited",
        (true, 1, 3) => "Destination unreachable: Address unreachable",
        (true, 1, 4) => "Destination unreachable: Port unreachable",
        (true, 1, _) => "Destination unreachable",
        (true, 3, _) => "Time exceeded",
        _ => return format!("ICMP error type {kind} code {code}"),
    };
    text.to_string()
}
