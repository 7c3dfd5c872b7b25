//! UDP ping client and echo server that behave like iputils `ping`.
//!
//! * [`client`]: the pinger (UDP by default, ICMP with `--icmp`) and the
//!   heartbeat sender, driven by one mio loop.
//! * [`server`]: a UDP echo server with reproducible loss and delay, which can
//!   instead monitor heartbeats.
//! * [`cli`]: flag parsing; [`run`] executes a parsed command.
//!
//! ```no_run
//! use reactor_bins::ping::{cli, run};
//! let invocation = cli::parse(["-c", "3", "localhost"]).unwrap();
//! let code = run(invocation.command, &mut std::io::stdout()).unwrap();
//! std::process::exit(code.into());
//! ```

#![warn(missing_docs)]

pub mod cli;
pub mod client;
pub mod errqueue;
pub mod heartbeat;
pub mod icmp;
pub mod resolve;
pub mod server;
pub mod signal;
pub mod sim;
pub mod stats;
pub mod transport;
pub mod udp;
pub mod wire;

use std::fmt;
use std::io::{self, Write};
use std::time::Instant;

use mio::{Events, Poll};

use cli::Command;
use signal::Interrupt;

/// Why a run could not proceed; all map to exit status 2.
#[derive(Debug)]
pub enum Error {
    /// Bad command line.
    Usage(String),
    /// The host name could not be resolved.
    Resolve {
        /// The name as given.
        host: String,
        /// Resolver message, e.g. "Name or service not known".
        reason: String,
    },
    /// A system call failed.
    Io {
        /// What was being done.
        context: String,
        /// The underlying error.
        source: io::Error,
    },
}

impl Error {
    /// Wraps an I/O error with what was being attempted.
    pub fn io(context: impl Into<String>) -> impl FnOnce(io::Error) -> Error {
        let context = context.into();
        move |source| Error::Io { context, source }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Usage(msg) => f.write_str(msg),
            Error::Resolve { host, reason } => write!(f, "{host}: {reason}"),
            Error::Io { context, source } => write!(f, "{context}: {source}"),
        }
    }
}

impl std::error::Error for Error {}

impl From<lexopt::Error> for Error {
    fn from(e: lexopt::Error) -> Self {
        Error::Usage(e.to_string())
    }
}

/// Runs a parsed command, writing its report to `out`, and returns the exit
/// status: 0 when a ping was answered (or a server/heartbeat ended normally),
/// 1 when no reply came. SIGINT and SIGTERM end the run with statistics.
pub fn run(command: Command, out: &mut dyn Write) -> Result<u8, Error> {
    if let Command::Help = command {
        out.write_all(cli::USAGE.as_bytes())
            .map_err(Error::io("write"))?;
        return Ok(0);
    }
    let mut interrupt = Interrupt::install().map_err(Error::io("signal handler"))?;
    match command {
        Command::Help => Ok(0),
        Command::Ping(config) => {
            let stats = client::run(&config, out, Some(&mut interrupt))?;
            Ok(if stats.received > 0 || config.heartbeat {
                0
            } else {
                1
            })
        }
        Command::Serve(config) => {
            server::run(&config, out, Some(&mut interrupt))?;
            Ok(0)
        }
    }
}

/// Polls until an event arrives or the earliest of `wakeups` passes (forever
/// when there is none). A signal interrupting the wait is not an error.
pub(crate) fn poll_until(
    poll: &mut Poll,
    events: &mut Events,
    wakeups: impl IntoIterator<Item = Option<Instant>>,
) -> Result<(), Error> {
    let wake = wakeups.into_iter().flatten().min();
    let timeout = wake.map(|w| w.saturating_duration_since(Instant::now()));
    match poll.poll(events, timeout) {
        Err(e) if e.kind() != io::ErrorKind::Interrupted => Err(Error::io("poll")(e)),
        _ => Ok(()),
    }
}
