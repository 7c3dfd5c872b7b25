//! Connection read buffers, lent from a per-reactor pool while a connection has input to
//! read and returned when it goes idle. A request head starts in a small buffer (most heads
//! are a few hundred bytes, and a slow client should cost little); a head that outgrows it,
//! or a body, moves to a large one (at least the largest head allowed). Buffers are zeroed
//! once, when first made.

use std::io::{self, Read};

use crate::transport::Transport;

/// Size of the buffer a request head starts in.
pub(crate) const SMALL: usize = 2 * 1024;

/// Free read buffers of one reactor, in two sizes.
pub(crate) struct BufPool {
    small: Vec<Vec<u8>>,
    large: Vec<Vec<u8>>,
    large_size: usize,
    max_free: usize,
}

impl BufPool {
    /// Large buffers of `large_size` bytes; at most `max_free` of each size kept for reuse.
    pub fn new(large_size: usize, max_free: usize) -> Self {
        BufPool {
            small: Vec::new(),
            large: Vec::new(),
            large_size: large_size.max(SMALL),
            max_free,
        }
    }

    fn take(&mut self, large: bool) -> Vec<u8> {
        if large {
            self.large.pop().unwrap_or_else(|| vec![0; self.large_size])
        } else {
            self.small.pop().unwrap_or_else(|| vec![0; SMALL])
        }
    }

    fn give(&mut self, buf: Vec<u8>) {
        let (list, size) = if buf.len() == SMALL {
            (&mut self.small, SMALL)
        } else {
            (&mut self.large, self.large_size)
        };
        if list.len() < self.max_free && buf.len() == size {
            list.push(buf);
        }
    }
}

/// Bytes received and not yet consumed: `buf[start..end]`.
#[derive(Default)]
pub(crate) struct InBuf {
    buf: Vec<u8>,
    start: usize,
    end: usize,
}

impl InBuf {
    /// The unconsumed bytes.
    pub fn data(&self) -> &[u8] {
        &self.buf[self.start..self.end]
    }

    /// True when nothing is left to consume.
    pub fn is_empty(&self) -> bool {
        self.start == self.end
    }

    /// Marks `n` bytes as consumed.
    pub fn consume(&mut self, n: usize) {
        self.start = self.start.saturating_add(n).min(self.end);
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
        }
    }

    /// Reads once from `r` into the free space, taking a buffer from `pool` if needed
    /// (a large one when `large`, or when a small one is full). Returns the bytes read
    /// (0: end of stream) and whether they filled the free space (if not, the socket had
    /// no more for now). An error of kind `OutOfMemory` means even a large buffer is full.
    pub fn read_from(
        &mut self,
        r: &mut impl Read,
        pool: &mut BufPool,
        large: bool,
    ) -> io::Result<(usize, bool)> {
        let small = self.buf.len() == SMALL;
        let full = !self.buf.is_empty() && self.end == self.buf.len() && self.start == 0;
        if self.buf.is_empty() || (small && (large || full)) {
            let mut next = pool.take(large || full);
            let len = self.end - self.start;
            next[..len].copy_from_slice(self.data());
            let old = std::mem::replace(&mut self.buf, next);
            if !old.is_empty() {
                pool.give(old);
            }
            self.start = 0;
            self.end = len;
        }
        if self.end == self.buf.len() && self.start > 0 {
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
        }
        if self.end == self.buf.len() {
            return Err(io::Error::new(
                io::ErrorKind::OutOfMemory,
                "read buffer full",
            ));
        }
        let space = self.buf.len() - self.end;
        let n = r.read(&mut self.buf[self.end..])?;
        self.end += n;
        Ok((n, n == space))
    }

    /// Reads more from transport `t` (a large buffer when `large`). Ok(true): got some;
    /// Ok(false): would block (then an emptied buffer goes back to `pool`); Err: end of
    /// stream or an error.
    pub fn fill(&mut self, t: &mut Transport, pool: &mut BufPool, large: bool) -> Result<bool, ()> {
        if !t.may_read() {
            return Ok(false);
        }
        match self.read_from(t, pool, large) {
            Ok((0, _)) => Err(()),
            Ok((_, filled)) => {
                // A read that did not fill the buffer took all the socket had: with
                // edge-triggered readiness, new data brings a new event, so skip the read
                // that would only say WouldBlock (as nginx does). Not once the peer has
                // shut its side: no event would announce that end of stream.
                if !filled && !t.read_closed && t.short_read_drains() {
                    t.readable = false;
                }
                Ok(true)
            }
            Err(e) => match e.kind() {
                io::ErrorKind::WouldBlock => {
                    t.readable = false;
                    // An idle connection holds no buffer.
                    self.release(pool);
                    Ok(false)
                }
                io::ErrorKind::Interrupted => Ok(true),
                _ => Err(()),
            },
        }
    }

    /// Returns the buffer to `pool` if nothing is left in it.
    pub fn release(&mut self, pool: &mut BufPool) {
        if self.is_empty() && !self.buf.is_empty() {
            pool.give(std::mem::take(&mut self.buf));
        }
    }

    /// Takes the unconsumed bytes out (the buffer itself goes back to `pool`).
    pub fn take_rest(&mut self, pool: &mut BufPool) -> Vec<u8> {
        let rest = self.data().to_vec();
        self.consume(rest.len());
        self.release(pool);
        rest
    }

    /// Bytes of buffer held (for tests).
    #[cfg(test)]
    fn capacity(&self) -> usize {
        self.buf.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn heads_start_small_and_grow_bodies_read_large() {
        let mut pool = BufPool::new(8 * 1024, 4);
        let mut b = InBuf::default();
        let data = vec![7u8; 5000];
        let mut src: &[u8] = &data;
        assert_eq!(
            b.read_from(&mut src, &mut pool, false).unwrap(),
            (SMALL, true)
        );
        assert_eq!(b.capacity(), SMALL);
        // Full and nothing consumed: moves to a large buffer, keeping the bytes.
        assert_eq!(
            b.read_from(&mut src, &mut pool, false).unwrap().0,
            5000 - SMALL
        );
        assert_eq!(b.capacity(), 8 * 1024);
        assert_eq!(b.data(), &data[..]);
        assert_eq!(pool.small.len(), 1, "the small buffer went back");
        b.consume(5000);
        b.release(&mut pool);
        assert_eq!(pool.large.len(), 1);
        let mut body: &[u8] = b"x";
        b.read_from(&mut body, &mut pool, true).unwrap();
        assert_eq!(b.capacity(), 8 * 1024, "bodies read into a large buffer");
    }

    #[test]
    fn compacts_and_reports_full() {
        let mut pool = BufPool::new(SMALL, 4);
        let mut b = InBuf::default();
        let data = vec![1u8; SMALL + 10];
        let mut src: &[u8] = &data;
        b.read_from(&mut src, &mut pool, true).unwrap();
        assert_eq!(
            b.read_from(&mut src, &mut pool, true).unwrap_err().kind(),
            io::ErrorKind::OutOfMemory
        );
        b.consume(SMALL - 4);
        assert_eq!(b.read_from(&mut src, &mut pool, true).unwrap(), (10, false));
        assert_eq!(b.data().len(), 14);
    }
}
