//! Handlers for the reactor.
pub mod path;
pub mod range;
