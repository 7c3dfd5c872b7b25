//! Library side of the command-line programs, usable from code.
pub mod cli;
pub mod client;
pub mod ping;
pub mod smtp;
