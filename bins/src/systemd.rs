//! systemd integration: `sd_notify` state messages (`READY=1`, `RELOADING=1`,
//! `STOPPING=1`) to `$NOTIFY_SOCKET`, and socket activation (`$LISTEN_FDS`).

use std::os::unix::net::UnixDatagram;

/// Sends `state` to the service manager when `$NOTIFY_SOCKET` is set; does nothing
/// otherwise. Failures are logged, never fatal.
pub fn notify(state: &str) {
    let Some(path) = std::env::var_os("NOTIFY_SOCKET") else {
        return;
    };
    let result = UnixDatagram::unbound().and_then(|sock| {
        let bytes = path.as_encoded_bytes();
        if let Some(name) = bytes.strip_prefix(b"@") {
            use std::os::linux::net::SocketAddrExt;
            let addr = std::os::unix::net::SocketAddr::from_abstract_name(name)?;
            sock.send_to_addr(state.as_bytes(), &addr)
        } else {
            sock.send_to(state.as_bytes(), &path)
        }
    });
    if let Err(e) = result {
        log::warn!("sd_notify {state:?}: {e}");
    }
}
