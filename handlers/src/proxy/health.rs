//! Active health checks (`--health-check PATH`): one background thread per proxy asks
//! every origin for `PATH` every `--health-interval` (blocking sockets with timeouts, TLS
//! for `https` origins) and marks it up (2xx, 3xx) or down ([`Origins::checked`]). The
//! thread holds the origins weakly and ends with the proxy.

use std::io::{self, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::sync::{Arc, Weak};
use std::time::Duration;

use rustls::pki_types::ServerName;
use rustls::{ClientConfig, ClientConnection, StreamOwned};

use super::balance::Origins;
use super::target::Target;
use super::ProxyConfig;

/// Starts the checker for `origins`.
pub(crate) fn spawn(
    origins: &Arc<Origins>,
    path: String,
    config: &ProxyConfig,
    tls: Option<Arc<ClientConfig>>,
) {
    let weak: Weak<Origins> = Arc::downgrade(origins);
    let (interval, timeout) = (config.health_interval, config.upstream_timeout);
    let spawned = std::thread::Builder::new()
        .name("health-check".into())
        .spawn(move || loop {
            let Some(origins) = weak.upgrade() else {
                return;
            };
            for i in 0..origins.len() {
                let t = origins.target(i);
                let ok = match check(t, &path, timeout.min(interval), tls.as_ref()) {
                    Ok(status) => (200..400).contains(&status),
                    Err(e) => {
                        log::info!("health check of {}: {e}", t.authority());
                        false
                    }
                };
                origins.checked(i, ok);
            }
            drop(origins);
            std::thread::sleep(interval);
        });
    if let Err(e) = spawned {
        log::error!("cannot start the health checker: {e}");
    }
}

/// `GET path` of `t`: the status code.
fn check(
    t: &Target,
    path: &str,
    timeout: Duration,
    tls: Option<&Arc<ClientConfig>>,
) -> io::Result<u16> {
    let addr = (t.host.as_str(), t.port)
        .to_socket_addrs()?
        .next()
        .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, "no address"))?;
    let tcp = TcpStream::connect_timeout(&addr, timeout)?;
    tcp.set_read_timeout(Some(timeout))?;
    tcp.set_write_timeout(Some(timeout))?;
    let req = format!(
        "GET {path} HTTP/1.1\r\nHost: {}\r\nUser-Agent: reactor-proxy health check\r\n\
         Connection: close\r\n\r\n",
        t.authority()
    );
    let mut head = [0u8; 12];
    match (t.tls, tls) {
        (false, _) => exchange(tcp, req.as_bytes(), &mut head)?,
        (true, Some(config)) => {
            let name = ServerName::try_from(t.host.clone())
                .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
            let conn = ClientConnection::new(config.clone(), name).map_err(io::Error::other)?;
            exchange(StreamOwned::new(conn, tcp), req.as_bytes(), &mut head)?
        }
        (true, None) => return Err(io::Error::other("TLS is not configured")),
    };
    // "HTTP/1.1 200 ..."
    std::str::from_utf8(&head[..12])
        .ok()
        .filter(|s| s.starts_with("HTTP/1."))
        .and_then(|s| s[9..12].parse().ok())
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "not an HTTP response"))
}

/// Writes `req` and reads the start of the answer into `head`.
fn exchange(mut s: impl Read + Write, req: &[u8], head: &mut [u8]) -> io::Result<()> {
    s.write_all(req)?;
    s.flush()?;
    s.read_exact(head)
}
