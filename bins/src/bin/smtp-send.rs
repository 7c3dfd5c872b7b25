//! `smtp-send`: send a mail with attachments through an SMTP server.
//! See `smtp-send --help`; the work is done in `reactor_bins::smtp`.

fn main() -> std::process::ExitCode {
    reactor_bins::smtp::cli::main()
}
