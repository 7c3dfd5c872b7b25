//! HTTP/2 (RFC 9113) as a sans-I/O protocol module: [`hpack`] header compression,
//! [`frame`] parsing and writing, and a server-side [`Session`] state machine that turns
//! bytes into request events and answers into bytes. The connection owns the socket and
//! moves bytes between it and the session; [`convert`] maps request heads onto the core's
//! [`crate::Request`] and [`crate::Response`] onto response fields.

pub mod convert;
pub mod error;
pub mod frame;
pub mod hpack;
mod request_head;
pub mod session;
mod stream;
#[cfg(test)]
mod test_client;

pub use error::{ErrorCode, H2Error};
pub use request_head::RequestHead;
pub use session::{Config, Event, SendError, Session};
