//! Handlers for the reactor.
pub mod path;
