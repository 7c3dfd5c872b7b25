//! Connection read buffers: fixed-size, zeroed once, lent from a per-reactor pool while
//! a connection has unconsumed input and returned when it goes idle.

use std::io::{self, Read};

/// Free read buffers of one reactor.
pub(crate) struct BufPool {
    free: Vec<Vec<u8>>,
    size: usize,
    max_free: usize,
}

impl BufPool {
    /// Buffers of `size` bytes; at most `max_free` kept for reuse.
    pub fn new(size: usize, max_free: usize) -> Self {
        BufPool {
            free: Vec::new(),
            size,
            max_free,
        }
    }

    fn take(&mut self) -> Vec<u8> {
        self.free.pop().unwrap_or_else(|| vec![0; self.size])
    }

    fn give(&mut self, buf: Vec<u8>) {
        if self.free.len() < self.max_free && buf.len() == self.size {
            self.free.push(buf);
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

    /// Reads once from `r` into the free space (taking a buffer from `pool` if needed).
    /// `Ok(0)` is end of stream. An error of kind `OutOfMemory` means the buffer is full.
    pub fn read_from(&mut self, r: &mut impl Read, pool: &mut BufPool) -> io::Result<usize> {
        if self.buf.is_empty() {
            self.buf = pool.take();
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
        let n = r.read(&mut self.buf[self.end..])?;
        self.end += n;
        Ok(n)
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
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_consumes_compacts_and_recycles() {
        let mut pool = BufPool::new(8, 4);
        let mut b = InBuf::default();
        let mut src: &[u8] = b"abcdefghijkl";
        assert_eq!(b.read_from(&mut src, &mut pool).unwrap(), 8);
        assert_eq!(b.data(), b"abcdefgh");
        assert_eq!(
            b.read_from(&mut src, &mut pool).unwrap_err().kind(),
            io::ErrorKind::OutOfMemory
        );
        b.consume(6);
        assert_eq!(b.read_from(&mut src, &mut pool).unwrap(), 4);
        assert_eq!(b.data(), b"ghijkl");
        b.consume(6);
        b.release(&mut pool);
        assert_eq!(pool.free.len(), 1);
    }
}
