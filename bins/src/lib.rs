//! Library side of the command-line programs, usable from code.
pub mod acme;
pub mod cli;
pub mod client;
pub mod ping;
pub mod site_config;
pub mod sites;
pub mod smtp;
pub mod systemd;
pub mod tls;

/// The README's code examples, compiled as doc tests so they stay true.
#[doc = include_str!("../../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;
