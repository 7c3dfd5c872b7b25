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

/// The first listening socket passed by the service manager (`$LISTEN_FDS` with
/// `$LISTEN_PID` naming this process), or `None` when not socket-activated. The
/// variables are removed so child processes do not take the socket too.
pub fn listener() -> Result<Option<std::net::TcpListener>, String> {
    use std::os::fd::FromRawFd;
    let pid = std::env::var("LISTEN_PID").ok();
    let fds = std::env::var("LISTEN_FDS").ok();
    let (Some(pid), Some(fds)) = (pid, fds) else {
        return Ok(None);
    };
    if pid.parse::<u32>().ok() != Some(std::process::id()) {
        return Ok(None);
    }
    std::env::remove_var("LISTEN_PID");
    std::env::remove_var("LISTEN_FDS");
    std::env::remove_var("LISTEN_FDNAMES");
    let n: i32 = fds
        .parse()
        .map_err(|_| format!("LISTEN_FDS: not a number: {fds:?}"))?;
    if n < 1 {
        return Ok(None);
    }
    const FIRST: i32 = 3; // SD_LISTEN_FDS_START
                          // SAFETY: fcntl(F_GETFD) only queries the descriptor.
    if unsafe { libc::fcntl(FIRST, libc::F_GETFD) } < 0 {
        return Err("LISTEN_FDS: descriptor 3 is not open".into());
    }
    let mut ty: libc::c_int = 0;
    let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
    // SAFETY: getsockopt writes at most `len` bytes into `ty`.
    let rc = unsafe {
        libc::getsockopt(
            FIRST,
            libc::SOL_SOCKET,
            libc::SO_TYPE,
            std::ptr::from_mut(&mut ty).cast(),
            &mut len,
        )
    };
    if rc != 0 || ty != libc::SOCK_STREAM {
        return Err("LISTEN_FDS: descriptor 3 is not a stream socket".into());
    }
    if n > 1 {
        log::warn!("LISTEN_FDS={n}: serving on the first socket only");
    }
    // SAFETY: descriptor 3 is open, a stream socket, and handed to us by the service
    // manager; nothing else in this process owns it.
    Ok(Some(unsafe { std::net::TcpListener::from_raw_fd(FIRST) }))
}
