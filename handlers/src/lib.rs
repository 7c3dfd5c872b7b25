//! Handlers for the reactor.
