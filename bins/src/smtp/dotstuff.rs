//! The DATA wire writer: dot-stuffing (RFC 5321 4.5.2) and the final
//! `.` line.

use std::io::{self, Write};

/// Wraps a writer, doubling every `.` that starts a line. The message must
/// already use CRLF line endings; call [`DotStuffer::finish`] to end DATA.
pub struct DotStuffer<W: Write> {
    inner: W,
    at_line_start: bool,
}

impl<W: Write> DotStuffer<W> {
    /// Starts at the beginning of a line.
    pub fn new(inner: W) -> DotStuffer<W> {
        DotStuffer {
            inner,
            at_line_start: true,
        }
    }

    /// Ends the current line if needed, writes the terminating `.` line,
    /// flushes, and returns the inner writer.
    pub fn finish(mut self) -> io::Result<W> {
        if !self.at_line_start {
            self.inner.write_all(b"\r\n")?;
        }
        self.inner.write_all(b".\r\n")?;
        self.inner.flush()?;
        Ok(self.inner)
    }
}

impl<W: Write> Write for DotStuffer<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let mut start = 0;
        for (i, &b) in buf.iter().enumerate() {
            if self.at_line_start && b == b'.' {
                self.inner.write_all(&buf[start..i])?;
                self.inner.write_all(b".")?;
                start = i;
            }
            self.at_line_start = b == b'\n';
        }
        self.inner.write_all(&buf[start..])?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stuff(chunks: &[&[u8]]) -> Vec<u8> {
        let mut w = DotStuffer::new(Vec::new());
        for c in chunks {
            w.write_all(c).unwrap();
        }
        w.finish().unwrap()
    }

    #[test]
    fn doubles_leading_dots_across_writes() {
        assert_eq!(
            stuff(&[b".a\r\n..b\r\nc.d"]),
            b"..a\r\n...b\r\nc.d\r\n.\r\n"
        );
        assert_eq!(stuff(&[b"x\r\n", b".", b"\r\n"]), b"x\r\n..\r\n.\r\n");
        assert_eq!(stuff(&[b"x\r\n"]), b"x\r\n.\r\n");
    }
}
