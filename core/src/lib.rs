//! # reactor
//!
//! A single-threaded [`mio`] reactor that speaks HTTP/1.1 and hands requests to a chain of
//! [`Handler`] plugins. Several independent reactors (one per thread, each with its own
//! `SO_REUSEPORT` listener) scale a [`Server`] across cores.
//!
//! Data flows one way: bytes in → the connection state machine parses a request head
//! ([`parse`]) and reads its body ([`body`]) → the handler chain picks a handler → the
//! handler answers with a [`Response`], declines, or answers later through a
//! [`Responder`] → the connection writes the bytes out. Handlers never touch the client
//! socket, and the core never knows what a file or a proxy is.
//!
//! Blocking work (open, stat, read, readdir, DNS) runs on a small [`pool::Pool`] and its
//! results come back through the reactor's waker.
//!
//! See [`Handler`] for a complete plugin.

pub mod access_log;
pub mod ascii;
pub mod body;
mod body_budget;
mod body_stream;
mod conn;
mod conn_h2;
pub mod date;
mod exchange;
pub mod filter;
mod h1;
pub mod h2;
pub mod handler;
mod header_value;
mod inbuf;
pub mod notify;
mod outbuf;
pub mod parse;
pub mod pool;
mod reactor;
mod recycle;
pub mod request;
pub mod request_body;
pub mod response;
mod sendfile;
pub mod server;
mod shared;
mod sockets;
mod spare;
pub mod stats;
mod stream_in;
pub mod testing;
pub mod tls;
mod transport;
mod tunnel;
pub mod upgrade;

pub use filter::Filter;
pub use handler::{
    Context, Handler, ReactorHandle, Ready, Reply, Responder, SocketHandler, SocketId,
};
pub use parse::{HttpError, Limits};
pub use request::{Headers, Request, Version};
pub use response::{Body, BodySender, Flow, Part, Response};
pub use server::{Config, Running, Server, StopHandle, Timeouts};
pub use stats::{Snapshot, Stats};
