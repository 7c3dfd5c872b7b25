//! Command-line parsing (lexopt) into a client or server configuration.

use std::ffi::OsString;
use std::str::FromStr;
use std::time::Duration;

use super::client::ClientConfig;
use super::resolve::Family;
use super::server::ServerConfig;
use super::Error;

/// Help text for `-h`/`--help`.
pub const USAGE: &str = "\
Usage:
  ping [options] HOST                 ping a UDP pinger/echo server (or ICMP)
  ping --heartbeat [options] HOST     send heartbeats, expect no replies
  ping --serve [server options]       run a UDP echo server

Options:
  -p PORT       server UDP port (default 12000)
  -c COUNT      stop after COUNT pings (with -w: after COUNT replies)
  -i INTERVAL   seconds between pings (default 1)
  -W TIMEOUT    seconds to wait for each reply (default 1)
  -w DEADLINE   stop after DEADLINE seconds
  -s SIZE       payload bytes (default 56; UDP pads the message to SIZE)
  -q            quiet: header and statistics only
  -O            report pings that time out
  -4, -6        use IPv4 or IPv6 only
  --icmp        send ICMP echo requests instead of UDP
  -v            debug logging to stderr (-vv: trace)
  -h, --help    this help

Server options:
  --bind ADDR:PORT   listen address (default 0.0.0.0:12000)
  --loss PCT         drop PCT percent of datagrams
  --delay MS[-MS]    delay each echo by MS (or uniformly MS-MS) milliseconds,
                     at most 60000; delayed datagrams wait in a queue of at
                     most 1024 datagrams and 8 MiB (the excess is discarded
                     and counted)
  --seed N           seed for loss and delay (reproducible runs)
  --uppercase        echo in upper case, like the textbook server
  --heartbeat        monitor heartbeats instead of echoing
  --silence SECS     declare a heartbeat client gone after SECS (default 5)
";

/// What to run.
#[derive(Debug, Clone, PartialEq)]
pub enum Command {
    /// Print [`USAGE`].
    Help,
    /// Ping (or send heartbeats to) a host.
    Ping(ClientConfig),
    /// Run the echo or heartbeat server.
    Serve(ServerConfig),
}

/// A parsed command line.
#[derive(Debug, Clone, PartialEq)]
pub struct Invocation {
    /// What to run.
    pub command: Command,
    /// Number of `-v` flags.
    pub verbosity: u8,
}

/// Parses arguments (without the program name).
///
/// ```
/// use reactor_bins::ping::cli::{parse, Command};
/// let inv = parse(["-c", "3", "-i", "0.2", "example.org"]).unwrap();
/// let Command::Ping(config) = inv.command else { panic!() };
/// assert_eq!((config.count, config.host.as_str()), (Some(3), "example.org"));
/// assert!(parse(["-c", "zero", "host"]).is_err());
/// ```
pub fn parse<I>(args: I) -> Result<Invocation, Error>
where
    I: IntoIterator,
    I::Item: Into<OsString>,
{
    use lexopt::prelude::*;

    let mut parser = lexopt::Parser::from_args(args);
    let mut client = ClientConfig::default();
    let mut server = ServerConfig::default();
    let (mut serve, mut heartbeat, mut verbosity) = (false, false, 0u8);
    let mut hosts: Vec<String> = Vec::new();
    let mut client_flags: Vec<String> = Vec::new();
    let mut server_flags: Vec<String> = Vec::new();
    while let Some(arg) = parser.next()? {
        let flag = match &arg {
            Short(c) => format!("-{c}"),
            Long(l) => format!("--{l}"),
            Value(_) => String::new(),
        };
        match arg {
            Short('h') | Long("help") => {
                return Ok(Invocation {
                    command: Command::Help,
                    verbosity,
                });
            }
            Short('v') => verbosity = verbosity.saturating_add(1),
            Long("serve") => serve = true,
            Long("heartbeat") => heartbeat = true,
            Short('p') => client.port = value_in(&mut parser, &flag, 1..=u16::MAX)?,
            Short('c') => client.count = Some(value_in(&mut parser, &flag, 1..=u64::MAX)?),
            Short('i') => client.interval = seconds(&mut parser, &flag, true)?,
            Short('W') => client.timeout = seconds(&mut parser, &flag, false)?,
            Short('w') => client.deadline = Some(seconds(&mut parser, &flag, false)?),
            Short('s') => client.size = value_in(&mut parser, &flag, 0..=65507)?,
            Short('q') => client.quiet = true,
            Short('O') => client.report_outstanding = true,
            Short('4') => client.family = Family::V4,
            Short('6') => client.family = Family::V6,
            Long("icmp") => client.icmp = true,
            Long("bind") => server.bind = value(&mut parser, &flag)?,
            Long("loss") => server.loss_percent = value_in(&mut parser, &flag, 0.0..=100.0)?,
            Long("delay") => {
                (server.delay_min, server.delay_max) = delay_range(&mut parser, &flag)?
            }
            Long("seed") => server.seed = Some(value(&mut parser, &flag)?),
            Long("uppercase") => server.uppercase = true,
            Long("silence") => server.silence = seconds(&mut parser, &flag, false)?,
            Value(host) => hosts.push(host.string()?),
            _ => return Err(arg.unexpected().into()),
        }
        if flag.starts_with("--") && !matches!(flag.as_str(), "--serve" | "--heartbeat" | "--icmp")
        {
            server_flags.push(flag);
        } else if !flag.is_empty() && flag != "-v" && flag != "--serve" && flag != "--heartbeat" {
            client_flags.push(flag);
        }
    }
    if serve {
        if let Some(flag) = client_flags.first() {
            return Err(Error::Usage(format!("{flag} cannot be used with --serve")));
        }
        if let Some(host) = hosts.first() {
            return Err(Error::Usage(format!(
                "unexpected argument '{host}' with --serve"
            )));
        }
        server.heartbeat = heartbeat;
        return Ok(Invocation {
            command: Command::Serve(server),
            verbosity,
        });
    }
    if let Some(flag) = server_flags.first() {
        return Err(Error::Usage(format!("{flag} requires --serve")));
    }
    if heartbeat && client.icmp {
        return Err(Error::Usage(
            "--heartbeat cannot be used with --icmp".into(),
        ));
    }
    client.heartbeat = heartbeat;
    client.host = match <[String; 1]>::try_from(hosts) {
        Ok([host]) => host,
        Err(hosts) if hosts.is_empty() => {
            return Err(Error::Usage(
                "usage error: Destination address required".into(),
            ))
        }
        Err(hosts) => {
            return Err(Error::Usage(format!(
                "unexpected extra argument '{}'",
                hosts[1]
            )))
        }
    };
    Ok(Invocation {
        command: Command::Ping(client),
        verbosity,
    })
}

/// The flag's value parsed as `T`.
fn value<T: FromStr>(parser: &mut lexopt::Parser, flag: &str) -> Result<T, Error> {
    let raw = parser.value()?;
    let text = raw.to_string_lossy();
    text.trim()
        .parse()
        .map_err(|_| Error::Usage(format!("invalid argument for {flag}: '{text}'")))
}

/// The flag's value parsed as `T` and checked against a range.
fn value_in<T, R>(parser: &mut lexopt::Parser, flag: &str, range: R) -> Result<T, Error>
where
    T: FromStr + PartialOrd + std::fmt::Display,
    R: std::ops::RangeBounds<T> + std::fmt::Debug,
{
    let v: T = value(parser, flag)?;
    if range.contains(&v) {
        Ok(v)
    } else {
        Err(Error::Usage(format!(
            "invalid argument for {flag}: '{v}': out of range {range:?}"
        )))
    }
}

/// Longest accepted time value (as iputils: about `INT_MAX` milliseconds).
const MAX_DURATION: Duration = Duration::from_millis(i32::MAX as u64);

/// A duration in (fractional) seconds up to [`MAX_DURATION`]; zero only when `zero_ok`.
fn seconds(parser: &mut lexopt::Parser, flag: &str, zero_ok: bool) -> Result<Duration, Error> {
    let secs: f64 = value(parser, flag)?;
    match Duration::try_from_secs_f64(secs) {
        Ok(d) if (zero_ok || !d.is_zero()) && d <= MAX_DURATION => Ok(d),
        _ => Err(Error::Usage(format!(
            "invalid argument for {flag}: '{secs}'"
        ))),
    }
}

/// Longest `--delay`: delayed datagrams are held in memory meanwhile.
pub const MAX_DELAY: Duration = Duration::from_secs(60);

/// `MS` or `MS-MS` in milliseconds, at most [`MAX_DELAY`].
fn delay_range(parser: &mut lexopt::Parser, flag: &str) -> Result<(Duration, Duration), Error> {
    let text: String = value(parser, flag)?;
    let bad = || {
        Error::Usage(format!(
            "invalid argument for {flag}: '{text}' (want MS or MS-MS)"
        ))
    };
    let millis = |s: &str| {
        s.trim()
            .parse::<f64>()
            .ok()
            .and_then(|ms| Duration::try_from_secs_f64(ms / 1000.0).ok())
            .filter(|d| *d <= MAX_DELAY)
    };
    let (low, high) = text.split_once('-').unwrap_or((&text, &text));
    match (millis(low), millis(high)) {
        (Some(low), Some(high)) if low <= high => Ok((low, high)),
        _ => Err(bad()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn client(args: &[&str]) -> ClientConfig {
        match parse(args.iter().copied()).map(|i| i.command) {
            Ok(Command::Ping(c)) => c,
            other => panic!("{other:?}"),
        }
    }

    fn server(args: &[&str]) -> ServerConfig {
        match parse(args.iter().copied()).map(|i| i.command) {
            Ok(Command::Serve(s)) => s,
            other => panic!("{other:?}"),
        }
    }

    fn error(args: &[&str]) -> String {
        match parse(args.iter().copied()) {
            Err(Error::Usage(msg)) => msg,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn client_defaults_and_flags() {
        assert_eq!(
            client(&["h"]),
            ClientConfig {
                host: "h".into(),
                ..ClientConfig::default()
            }
        );
        let c = client(&[
            "-p", "7", "-c", "5", "-i", "0.2", "-W", "2", "-w", "9", "-s", "100", "-q", "-6", "::1",
        ]);
        assert_eq!(c.port, 7);
        assert_eq!(c.count, Some(5));
        assert_eq!(c.interval, Duration::from_millis(200));
        assert_eq!(c.timeout, Duration::from_secs(2));
        assert_eq!(c.deadline, Some(Duration::from_secs(9)));
        assert_eq!((c.size, c.quiet, c.family), (100, true, Family::V6));
        assert!(client(&["--heartbeat", "h"]).heartbeat);
        assert!(client(&["--icmp", "-c1", "h"]).icmp);
    }

    #[test]
    fn server_flags() {
        let s = server(&[
            "--serve",
            "--bind",
            "127.0.0.1:0",
            "--loss",
            "20",
            "--delay",
            "5-10",
            "--seed",
            "1",
            "--uppercase",
        ]);
        assert_eq!(s.bind, "127.0.0.1:0".parse().unwrap());
        assert_eq!(s.loss_percent, 20.0);
        assert_eq!(
            (s.delay_min, s.delay_max),
            (Duration::from_millis(5), Duration::from_millis(10))
        );
        assert_eq!((s.seed, s.uppercase, s.heartbeat), (Some(1), true, false));
        let s = server(&["--serve", "--heartbeat", "--silence", "2", "--delay", "7"]);
        assert_eq!((s.heartbeat, s.silence), (true, Duration::from_secs(2)));
        assert_eq!(
            (s.delay_min, s.delay_max),
            (Duration::from_millis(7), Duration::from_millis(7))
        );
    }

    #[test]
    fn bad_input_is_a_usage_error() {
        for args in [
            &["-c", "0", "h"][..],
            &["-c", "-1", "h"],
            &["-p", "70000", "h"],
            &["-i", "-1", "h"],
            &["-i", "nan", "h"],
            &["-W", "0", "h"],
            &["-w", "1e12", "h"],
            &["-i", "inf", "h"],
            &["-s", "70000", "h"],
            &["-x", "h"],
            &["--bogus", "h"],
            &[],
            &["a", "b"],
            &["-c"],
            &["--loss", "5", "h"],
            &["--serve", "-c", "3"],
            &["--serve", "host"],
            &["--serve", "--loss", "101"],
            &["--serve", "--delay", "10-5"],
            &["--serve", "--delay", "x"],
            &["--serve", "--delay", "1e15"],
            &["--serve", "--delay", "60001"],
            &["--serve", "--bind", "nowhere"],
            &["--heartbeat", "--icmp", "h"],
        ] {
            let msg = error(args);
            assert!(!msg.is_empty() && !msg.contains('\n'), "{args:?}: {msg}");
        }
    }

    #[test]
    fn help_wins() {
        assert_eq!(parse(["-x", "-h"]).map(|i| i.command).ok(), None);
        assert_eq!(
            parse(["-h", "-x"]).map(|i| i.command).ok(),
            Some(Command::Help)
        );
    }
}
