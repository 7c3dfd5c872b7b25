//! File regions go to the socket with `sendfile(2)` on the blocking pool: no copy through
//! user space, and no disk read on the reactor. The job writes through a `dup` of the
//! socket, so even if the connection closes meanwhile and its descriptor number is reused,
//! the bytes can only ever reach the socket they were meant for.

use std::fs::File;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

/// Most bytes one job sends before it yields the pool thread to other connections.
pub(crate) const MAX_PER_JOB: u64 = 4 * 1024 * 1024;

/// What one job achieved.
#[derive(Debug)]
pub(crate) struct Sent {
    /// Bytes sent.
    pub bytes: u64,
    /// Stopped because the socket buffer was full (wait for writability).
    pub blocked: bool,
    /// Stopped on an error (the file shrank, the peer went away...).
    pub error: Option<io::Error>,
}

/// Duplicates the socket descriptor for a pool job.
pub(crate) fn dup_socket(sock: &impl AsRawFd) -> io::Result<OwnedFd> {
    // SAFETY: dup of a descriptor we own; the result is a new descriptor we then own.
    let fd = unsafe { libc::fcntl(sock.as_raw_fd(), libc::F_DUPFD_CLOEXEC, 0) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: fd is a freshly duplicated, valid descriptor owned by nobody else.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Blocking-pool job: sends up to `count` bytes of `file` from `offset` to the
/// (non-blocking) socket `sock`, stopping when the socket is full.
pub(crate) fn send(sock: &OwnedFd, file: &File, offset: u64, count: u64) -> Sent {
    let count = count.min(MAX_PER_JOB);
    let mut sent = 0u64;
    while sent < count {
        let Ok(mut off) = libc::off_t::try_from(offset + sent) else {
            return failed(
                sent,
                io::Error::new(io::ErrorKind::InvalidInput, "offset too large"),
            );
        };
        let chunk = (count - sent) as usize;
        // SAFETY: both descriptors are valid for the duration of the call; `off` is a
        // valid pointer to an off_t.
        let n = unsafe { libc::sendfile(sock.as_raw_fd(), file.as_raw_fd(), &mut off, chunk) };
        match n {
            n if n > 0 => sent += n as u64,
            0 => {
                let e = io::Error::new(io::ErrorKind::UnexpectedEof, "file shorter than expected");
                return failed(sent, e);
            }
            _ => {
                let e = io::Error::last_os_error();
                match e.kind() {
                    io::ErrorKind::WouldBlock => {
                        return Sent {
                            bytes: sent,
                            blocked: true,
                            error: None,
                        }
                    }
                    io::ErrorKind::Interrupted => {}
                    _ => return failed(sent, e),
                }
            }
        }
    }
    Sent {
        bytes: sent,
        blocked: false,
        error: None,
    }
}

/// Blocking-pool job: reads up to `len` bytes of `file` at `offset` (fewer only at the end
/// of the file) for a transport that cannot sendfile.
pub(crate) fn read_chunk(file: &File, offset: u64, len: usize) -> io::Result<Vec<u8>> {
    use std::os::unix::fs::FileExt;
    let mut buf = vec![0u8; len];
    let mut got = 0;
    while got < len {
        match file.read_at(&mut buf[got..], offset + got as u64) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    buf.truncate(got);
    Ok(buf)
}

fn failed(bytes: u64, e: io::Error) -> Sent {
    Sent {
        bytes,
        blocked: false,
        error: Some(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};

    #[test]
    fn sends_a_region_and_reports_short_files() {
        let path = std::env::temp_dir().join(format!("reactor-sendfile-{}", std::process::id()));
        std::fs::File::create(&path)
            .unwrap()
            .write_all(b"0123456789")
            .unwrap();
        let file = File::open(&path).unwrap();
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let client = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (server, _) = listener.accept().unwrap();
        let fd = dup_socket(&server).unwrap();
        let r = send(&fd, &file, 2, 5);
        assert_eq!((r.bytes, r.blocked, r.error.is_none()), (5, false, true));
        let r = send(&fd, &file, 8, 5);
        assert_eq!(r.bytes, 2);
        assert_eq!(r.error.unwrap().kind(), io::ErrorKind::UnexpectedEof);
        drop((server, fd));
        let mut got = String::new();
        (&client).read_to_string(&mut got).unwrap();
        assert_eq!(got, "2345689");
        let _ = std::fs::remove_file(path);
    }
}
