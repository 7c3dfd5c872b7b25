//! A TCP socket whose reads and writes share one deadline, so a peer that
//! trickles bytes cannot stretch a protocol step beyond its time budget.

use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

/// A blocking [`TcpStream`] with a deadline: each read or write waits at
/// most until the deadline, and fails with [`io::ErrorKind::TimedOut`] once
/// it has passed, however much progress the peer makes byte by byte.
#[derive(Debug)]
pub struct DeadlineSocket {
    sock: TcpStream,
    deadline: Instant,
}

impl DeadlineSocket {
    /// Wraps `sock`; the deadline is `timeout` from now until changed.
    pub fn new(sock: TcpStream, timeout: Duration) -> DeadlineSocket {
        DeadlineSocket {
            sock,
            deadline: Instant::now() + timeout,
        }
    }

    /// Sets the instant by which every following call must finish.
    pub fn set_deadline(&mut self, deadline: Instant) {
        self.deadline = deadline;
    }

    /// Arms the socket timeouts with what is left before the deadline.
    fn arm(&self) -> io::Result<()> {
        let left = self.deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(io::Error::new(io::ErrorKind::TimedOut, "deadline passed"));
        }
        self.sock.set_read_timeout(Some(left))?;
        self.sock.set_write_timeout(Some(left))
    }
}

impl Read for DeadlineSocket {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.arm()?;
        self.sock.read(buf)
    }
}

impl Write for DeadlineSocket {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.arm()?;
        self.sock.write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.sock.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;

    #[test]
    fn a_trickling_peer_cannot_outlast_the_deadline() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let peer = std::thread::spawn(move || {
            let (mut s, _) = listener.accept().unwrap();
            // One byte every 50 ms for up to 10 s, until the reader leaves.
            for _ in 0..200 {
                if s.write_all(b"x").is_err() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        });
        let sock = TcpStream::connect(addr).unwrap();
        let start = Instant::now();
        let mut d = DeadlineSocket::new(sock, Duration::from_millis(300));
        let mut buf = [0u8; 16];
        let err = loop {
            match d.read(&mut buf) {
                Ok(n) => assert!(n > 0),
                Err(e) => break e,
            }
        };
        assert!(
            matches!(
                err.kind(),
                io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock
            ),
            "{err}"
        );
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "{:?}",
            start.elapsed()
        );
        drop(d);
        peer.join().unwrap();
    }
}
