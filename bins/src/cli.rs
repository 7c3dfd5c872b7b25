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

/// Makes SIGINT and SIGTERM stop `running` gracefully; a second signal forces the stop.
pub fn stop_on_signals(stop: reactor::StopHandle) -> std::io::Result<()> {
    use signal_hook::consts::{SIGINT, SIGTERM};
    let mut signals = signal_hook::iterator::Signals::new([SIGINT, SIGTERM])?;
    std::thread::Builder::new()
        .name("signals".into())
        .spawn(move || {
            for (n, sig) in signals.forever().enumerate() {
                if n == 0 {
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
