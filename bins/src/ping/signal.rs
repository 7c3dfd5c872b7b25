//! SIGINT/SIGTERM turned into a pollable event (the self-pipe trick), so the
//! event loop can stop cleanly and print its statistics.

use std::io::{self, Read};
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};

use mio::unix::pipe;
use mio::{Interest, Registry, Token};

static WAKE_FD: AtomicI32 = AtomicI32::new(-1);
static INTERRUPTED: AtomicBool = AtomicBool::new(false);

extern "C" fn on_signal(_: libc::c_int) {
    INTERRUPTED.store(true, Ordering::SeqCst);
    let fd = WAKE_FD.load(Ordering::SeqCst);
    if fd >= 0 {
        // SAFETY: write(2) and errno access are async-signal-safe; errno is
        // restored so the interrupted code sees its own value.
        unsafe {
            let errno = *libc::__errno_location();
            libc::write(fd, b"!".as_ptr().cast(), 1);
            *libc::__errno_location() = errno;
        }
    }
}

/// Delivery of SIGINT and SIGTERM through a pipe that a mio loop can poll.
///
/// Only one `Interrupt` should be alive per process; creating one installs the
/// handlers and points them at its pipe.
pub struct Interrupt {
    rx: pipe::Receiver,
    _tx: pipe::Sender,
}

impl Interrupt {
    /// Installs handlers for SIGINT and SIGTERM.
    pub fn install() -> io::Result<Interrupt> {
        let (tx, rx) = pipe::new()?;
        WAKE_FD.store(tx.as_raw_fd(), Ordering::SeqCst);
        for signal in [libc::SIGINT, libc::SIGTERM] {
            // SAFETY: a zeroed sigaction is valid; the handler only touches atomics
            // and calls write(2).
            let rc = unsafe {
                let mut action: libc::sigaction = std::mem::zeroed();
                action.sa_sigaction = on_signal as extern "C" fn(libc::c_int) as usize;
                action.sa_flags = libc::SA_RESTART;
                libc::sigemptyset(&mut action.sa_mask);
                libc::sigaction(signal, &action, std::ptr::null_mut())
            };
            if rc != 0 {
                return Err(io::Error::last_os_error());
            }
        }
        Ok(Interrupt { rx, _tx: tx })
    }

    /// Registers the pipe's read end for readability under `token`.
    pub fn register(&mut self, registry: &Registry, token: Token) -> io::Result<()> {
        registry.register(&mut self.rx, token, Interest::READABLE)
    }

    /// True once a signal has arrived; drains the pipe.
    pub fn fired(&mut self) -> bool {
        let mut buf = [0u8; 16];
        while matches!(self.rx.read(&mut buf), Ok(n) if n > 0) {}
        INTERRUPTED.load(Ordering::SeqCst)
    }
}

impl Drop for Interrupt {
    fn drop(&mut self) {
        WAKE_FD.store(-1, Ordering::SeqCst);
    }
}
