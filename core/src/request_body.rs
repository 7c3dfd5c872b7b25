//! Streamed request bodies: a handler that opts in ([`crate::Handler::streams_body`]) is
//! asked before the body is read, and hands a [`BodySink`] to
//! [`crate::Context::stream_body`]; the body then arrives chunk by chunk as it is read
//! (Content-Length or chunked, de-framed), with backpressure: while the sink says it
//! wants no data ([`BodySink::wants_data`]), the connection is not read; the sink wakes
//! it again with the [`Waker`] from [`crate::Context::waker`].
//!
//! Part of the plugin API: imports nothing of the reactor.

use std::fmt;

pub use crate::upgrade::Waker;

/// Where a streamed request body goes. Runs on the reactor thread: hand slow work (disk
/// writes) to the pool and pause until it catches up.
///
/// ```
/// use reactor::request_body::{BodyError, BodySink};
///
/// /// Counts the bytes of a body.
/// struct Count(u64);
///
/// impl BodySink for Count {
///     fn data(&mut self, chunk: &[u8]) {
///         self.0 += chunk.len() as u64;
///     }
///     fn end(&mut self, result: Result<(), BodyError>) {
///         match result {
///             Ok(()) => println!("{} bytes", self.0),
///             Err(e) => println!("cut after {} bytes: {e}", self.0),
///         }
///     }
/// }
/// ```
pub trait BodySink: Send + 'static {
    /// The next piece of the body (at most one read's worth).
    fn data(&mut self, chunk: &[u8]);

    /// Asked before each piece: false pauses reading the connection (the client's bytes
    /// wait in the kernel; no buffer grows) until the sink, ready again, wakes the
    /// connection with its [`Waker`]. Default: always ready.
    fn wants_data(&mut self) -> bool {
        true
    }

    /// The body is over: `Ok` when it arrived whole, `Err` when it did not (the client
    /// went away, stalled past the body timeout, broke the framing, or the handler
    /// answered first). Called exactly once; never after an `Err` does more data come.
    fn end(&mut self, result: Result<(), BodyError>);
}

/// Why a streamed body did not arrive whole.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BodyError {
    /// The status the server answers with when it still can (400, 408), or 0 when the
    /// client is gone.
    pub status: u16,
    /// What happened.
    pub detail: &'static str,
}

impl fmt::Display for BodyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.detail)
    }
}

impl std::error::Error for BodyError {}
