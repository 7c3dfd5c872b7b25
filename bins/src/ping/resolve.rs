//! Host name resolution with iputils-style `-4`/`-6` selection and messages.

use std::net::{SocketAddr, ToSocketAddrs};

use super::Error;

/// Which address family to use for a host name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Family {
    /// Whatever the resolver returns first.
    #[default]
    Any,
    /// IPv4 only (`-4`).
    V4,
    /// IPv6 only (`-6`).
    V6,
}

/// Resolves `host` (a name or an address, IPv6 optionally in brackets) to an
/// address of the wanted family with `port`.
///
/// ```
/// use reactor_bins::ping::resolve::{resolve, Family};
/// let addr = resolve("[::1]", 7, Family::Any).unwrap();
/// assert_eq!(addr.to_string(), "[::1]:7");
/// assert!(resolve("127.0.0.1", 7, Family::V6).is_err());
/// ```
pub fn resolve(host: &str, port: u16, family: Family) -> Result<SocketAddr, Error> {
    let name = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    let fail = |reason: &str| Error::Resolve {
        host: host.to_string(),
        reason: reason.to_string(),
    };
    let addrs = (name, port).to_socket_addrs().map_err(|e| {
        let text = e.to_string();
        let reason = text
            .strip_prefix("failed to lookup address information: ")
            .unwrap_or(&text);
        fail(reason)
    })?;
    let mut addrs = addrs.filter(|a| match family {
        Family::Any => true,
        Family::V4 => a.is_ipv4(),
        Family::V6 => a.is_ipv6(),
    });
    addrs
        .next()
        .ok_or_else(|| fail("Address family for hostname not supported"))
}
