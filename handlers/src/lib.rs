//! Handlers for the reactor.
pub mod conditional;
pub mod path;
pub mod range;
