//! `ping`: UDP ping client and echo server (see `ping --help`).

use std::process::ExitCode;

use reactor_bins::ping::{self, cli};
use simplelog::{ColorChoice, Config, LevelFilter, TermLogger, TerminalMode};

fn main() -> ExitCode {
    let invocation = match cli::parse(std::env::args_os().skip(1)) {
        Ok(invocation) => invocation,
        Err(e) => {
            eprintln!("ping: {e}");
            return ExitCode::from(2);
        }
    };
    let quiet_level = match invocation.command {
        cli::Command::Serve(_) => LevelFilter::Info,
        _ => LevelFilter::Warn,
    };
    let level = match invocation.verbosity {
        0 => quiet_level,
        1 => LevelFilter::Debug,
        _ => LevelFilter::Trace,
    };
    // Logging is a convenience; a second logger or a closed stderr is no reason to stop.
    let _ = TermLogger::init(
        level,
        Config::default(),
        TerminalMode::Stderr,
        ColorChoice::Auto,
    );
    match ping::run(invocation.command, &mut std::io::stdout().lock()) {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("ping: {e}");
            ExitCode::from(2)
        }
    }
}
