//! Shared pieces of the command-line mains: logging setup, value parsing, and the
//! one-line-error exit.

use std::fmt::Display;
use std::str::FromStr;

/// Prints `reactor: MSG`-style one-line error for `program` and exits with `code`.
pub fn die(program: &str, msg: impl Display, code: i32) -> ! {
    eprintln!("{program}: {msg}");
    std::process::exit(code)
}

/// Parses a flag's value, naming the flag in the error.
pub fn parse_value<T: FromStr>(flag: &str, value: Option<std::ffi::OsString>) -> Result<T, String>
where
    T::Err: Display,
{
    let v = value.ok_or_else(|| format!("{flag} needs a value"))?;
    let s = v
        .to_str()
        .ok_or_else(|| format!("{flag}: value is not valid UTF-8"))?;
    s.parse()
        .map_err(|e| format!("{flag}: invalid value {s:?}: {e}"))
}

/// Parses an `on|off` flag's value (`--http2 on`), naming the flag in the error.
///
/// ```
/// use reactor_bins::cli::parse_on_off;
/// assert_eq!(parse_on_off("--http2", Some("off".into())), Ok(false));
/// assert!(parse_on_off("--http2", Some("yes".into())).is_err());
/// ```
pub fn parse_on_off(flag: &str, value: Option<std::ffi::OsString>) -> Result<bool, String> {
    let v: String = parse_value(flag, value)?;
    match v.as_str() {
        "on" => Ok(true),
        "off" => Ok(false),
        _ => Err(format!("{flag}: expected on or off, got {v:?}")),
    }
}

/// Starts the error log on stderr at `level` (`error`, `warn`, `info`, `debug`, `trace`, `off`).
pub fn init_logging(level: &str) -> Result<(), String> {
    let filter: log::LevelFilter = level.parse().map_err(|_| {
        format!("--log-level: unknown level {level:?} (error, warn, info, debug, trace, off)")
    })?;
    let config = simplelog::ConfigBuilder::new()
        .set_time_format_rfc3339()
        .set_thread_level(log::LevelFilter::Off)
        .set_target_level(log::LevelFilter::Off)
        .build();
    simplelog::WriteLogger::init(filter, config, std::io::stderr())
        .map_err(|e| format!("cannot start logging: {e}"))
}

/// A log sink for `--access-log`-style flags: `-` for stdout, else a file opened for
/// appending. The error names the flag and the file.
pub fn open_log(flag: &str, target: &str) -> Result<reactor::access_log::LogSink, String> {
    let sink: Box<dyn std::io::Write + Send> = if target == "-" {
        Box::new(std::io::stdout())
    } else {
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(target)
            .map_err(|e| format!("{flag} {target}: {e}"))?;
        Box::new(file)
    };
    Ok(std::sync::Arc::new(std::sync::Mutex::new(sink)))
}

/// Starts `server`, makes SIGINT/SIGTERM stop it gracefully, prints
/// `PROGRAM: WHAT on http://ADDR/` (`https://` when `tls`) on stderr (only once signals
/// are handled, so whoever waits for that line may signal at once), and waits until it
/// stops.
pub fn serve_until_stopped(program: &str, server: reactor::Server, what: &str, tls: bool) {
    if !start_announced(program, server, what, tls).wait() {
        die(program, "a reactor thread died; see the log above", 70);
    }
}

/// [`serve_until_stopped`] without the waiting: the running server.
pub fn start_announced(
    program: &str,
    server: reactor::Server,
    what: &str,
    tls: bool,
) -> reactor::Running {
    let running = server.start().unwrap_or_else(|e| die(program, e, 1));
    if let Err(e) = stop_on_signals(running.stop_handle()) {
        die(program, format!("cannot install signal handlers: {e}"), 1);
    }
    let scheme = if tls { "https" } else { "http" };
    eprintln!("{program}: {what} on {scheme}://{}/", running.local_addr());
    crate::systemd::notify("READY=1");
    running
}

/// Makes SIGINT and SIGTERM stop `running` gracefully; a second signal forces the stop.
pub fn stop_on_signals(stop: reactor::StopHandle) -> std::io::Result<()> {
    use signal_hook::consts::{SIGINT, SIGTERM};
    let mut signals = signal_hook::iterator::Signals::new([SIGINT, SIGTERM])?;
    std::thread::Builder::new()
        .name("signals".into())
        .spawn(move || {
            for (n, sig) in signals.forever().enumerate() {
                if n == 0 {
                    crate::systemd::notify("STOPPING=1");
                    log::info!("signal {sig}: finishing in-flight requests, then exiting");
                    stop.stop();
                } else {
                    log::warn!("signal {sig} again: exiting now");
                    stop.force();
                }
            }
        })?;
    Ok(())
}
