//! WebSocket (RFC 6455) without I/O: the opening handshake ([`handshake`]), frames
//! ([`frame`]) and a [`Codec`] that turns bytes from the peer into [`Event`]s and
//! messages to send into bytes, enforcing every rule of the protocol on the way (masking,
//! fragmentation, control frames, the close handshake, UTF-8 of text, size limits).
//!
//! The codec never touches a socket: whoever owns the connection feeds it what it read
//! ([`Codec::feed`]), takes the events ([`Codec::next_event`]), and writes out
//! [`Codec::output`]. That keeps it testable byte by byte and usable over any transport.
//!
//! ```
//! use reactor_handlers::websocket::{Codec, Event, Limits, Message, Role};
//!
//! let mut client = Codec::new(Role::Client, Limits::default());
//! let mut server = Codec::new(Role::Server, Limits::default());
//! client.send(&Message::Text("hello".into())).unwrap();
//! server.feed(client.output());
//! assert_eq!(server.next_event(), Some(Event::Message(Message::Text("hello".into()))));
//! ```

mod codec;
pub mod frame;
pub mod handshake;
#[cfg(test)]
mod tests;

pub use codec::{Close, Codec, Event, Limits, Message, Role, SendError};

use std::fmt;

/// Close status codes (RFC 6455 §7.4.1).
pub mod close {
    /// Normal closure.
    pub const NORMAL: u16 = 1000;
    /// The endpoint is going away (server shutdown, page navigated away).
    pub const GOING_AWAY: u16 = 1001;
    /// A protocol error.
    pub const PROTOCOL_ERROR: u16 = 1002;
    /// A data type the endpoint cannot accept.
    pub const UNSUPPORTED_DATA: u16 = 1003;
    /// No status code was present (never sent on the wire).
    pub const NO_STATUS: u16 = 1005;
    /// The connection dropped without a close frame (never sent on the wire).
    pub const ABNORMAL: u16 = 1006;
    /// Message data not consistent with its type (e.g. text that is not UTF-8).
    pub const INVALID_DATA: u16 = 1007;
    /// A message violates the endpoint's policy.
    pub const POLICY: u16 = 1008;
    /// A message too big to process.
    pub const TOO_BIG: u16 = 1009;
    /// The client expected an extension the server did not negotiate.
    pub const MISSING_EXTENSION: u16 = 1010;
    /// An unexpected condition on the server.
    pub const INTERNAL_ERROR: u16 = 1011;

    /// Whether `code` may appear in a close frame: the defined codes 1000-1003 and
    /// 1007-1014, or 3000-4999 (registered and private use). 1005, 1006 and 1015 are
    /// only ever reported locally.
    ///
    /// ```
    /// use reactor_handlers::websocket::close::valid_on_wire;
    /// assert!(valid_on_wire(1000) && valid_on_wire(4000));
    /// assert!(!valid_on_wire(1005) && !valid_on_wire(999) && !valid_on_wire(5000));
    /// ```
    pub fn valid_on_wire(code: u16) -> bool {
        matches!(code, 1000..=1003 | 1007..=1014 | 3000..=4999)
    }
}

/// A violation of the protocol by the peer: the connection is failed with `code`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Error {
    /// The close code sent to the peer (1002, 1007 or 1009).
    pub code: u16,
    /// What was wrong, for logs and the close frame's reason.
    pub reason: &'static str,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "websocket error {}: {}", self.code, self.reason)
    }
}

impl std::error::Error for Error {}
