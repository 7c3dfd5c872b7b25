//! reactor-httpd: serves a directory over HTTP/1.1 on the reactor.

use std::time::Duration;

use reactor::{Config, Server};
use reactor_bins::cli::{die, init_logging, open_log, parse_value, serve_until_stopped};
use reactor_handlers::{DirectoryListing, FsRoot, StaticFiles, StatusPage};

const USAGE: &str = "\
Usage: reactor-httpd [OPTIONS]

Serves the files under --root over HTTP/1.1.

Options:
  --root DIR               directory to serve (required)
  --bind ADDR:PORT         address to listen on [default: 127.0.0.1:8080]
  --port N                 shortcut for --bind 127.0.0.1:N (keeps --bind's address)
  --workers N              independent reactors (threads), SO_REUSEPORT [default: 1]
  --threads N              blocking-pool threads for disk I/O [default: 4]
  --queue N                jobs the pool may queue before requests get 503 [default: 4096]
  --access-log FILE|-      access log in Combined Log Format (- for stdout)
  --log-level LEVEL        error log level: error, warn, info, debug, trace, off [default: warn]
  --no-listing             do not list directories without index.html (404 instead)
  --status PATH            serve the status page at PATH (e.g. /server-status)
  --dotfiles               serve and list names starting with '.'
  --follow-symlinks        follow symlinks that lead outside the root
  --max-connections N      open connections per worker [default: 10000]
  --max-body BYTES         largest request body [default: 1048576]
  --header-timeout SECS    time to receive a request head [default: 20]
  --keepalive-timeout SECS idle keep-alive connection lifetime [default: 60]
  --body-timeout SECS      longest pause between reads of a request body [default: 60]
  --send-timeout SECS      longest stall while sending a response [default: 60]
  --shutdown-grace SECS    on SIGTERM/SIGINT, time in-flight responses get [default: 30]
  --http2 on|off           HTTP/2 with prior knowledge on plaintext [default: on]
  -h, --help               show this help
";

struct Options {
    root: String,
    config: Config,
    listing: bool,
    status: Option<String>,
    log_level: String,
    access_log: Option<String>,
    dotfiles: bool,
    follow_symlinks: bool,
}

fn parse_args() -> Result<Options, String> {
    use lexopt::prelude::*;
    let mut root = None;
    let mut config = Config::default();
    let mut port: Option<u16> = None;
    let mut opts = Options {
        root: String::new(),
        config: Config::default(),
        listing: true,
        status: None,
        log_level: "warn".into(),
        access_log: None,
        dotfiles: false,
        follow_symlinks: false,
    };
    let secs = |flag: &str, v| parse_value::<u64>(flag, v).map(Duration::from_secs);
    let mut parser = lexopt::Parser::from_env();
    while let Some(arg) = parser.next().map_err(|e| e.to_string())? {
        match arg {
            Long("root") => root = Some(parse_value::<String>("--root", parser.value().ok())?),
            Long("bind") => config.bind = parse_value("--bind", parser.value().ok())?,
            Long("port") => port = Some(parse_value("--port", parser.value().ok())?),
            Long("workers") => config.workers = parse_value("--workers", parser.value().ok())?,
            Long("threads") => config.threads = parse_value("--threads", parser.value().ok())?,
            Long("queue") => config.queue = parse_value("--queue", parser.value().ok())?,
            Long("access-log") => {
                opts.access_log = Some(parse_value("--access-log", parser.value().ok())?)
            }
            Long("log-level") => opts.log_level = parse_value("--log-level", parser.value().ok())?,
            Long("no-listing") => opts.listing = false,
            Long("http2") => {
                let v: String = parse_value("--http2", parser.value().ok())?;
                config.http2 = match v.as_str() {
                    "on" => true,
                    "off" => false,
                    _ => return Err(format!("--http2: expected on or off, got {v:?}")),
                };
            }
            Long("status") => {
                let p: String = parse_value("--status", parser.value().ok())?;
                if !p.starts_with('/') {
                    return Err(format!("--status: path must start with '/': {p:?}"));
                }
                opts.status = Some(p);
            }
            Long("dotfiles") => opts.dotfiles = true,
            Long("follow-symlinks") => opts.follow_symlinks = true,
            Long("max-connections") => {
                config.max_connections = parse_value("--max-connections", parser.value().ok())?
            }
            Long("max-body") => {
                config.limits.max_body = parse_value("--max-body", parser.value().ok())?
            }
            Long("header-timeout") => {
                config.timeouts.header = secs("--header-timeout", parser.value().ok())?
            }
            Long("keepalive-timeout") => {
                config.timeouts.keep_alive = secs("--keepalive-timeout", parser.value().ok())?
            }
            Long("body-timeout") => {
                config.timeouts.body = secs("--body-timeout", parser.value().ok())?
            }
            Long("send-timeout") => {
                config.timeouts.send = secs("--send-timeout", parser.value().ok())?
            }
            Long("shutdown-grace") => {
                config.timeouts.shutdown_grace = secs("--shutdown-grace", parser.value().ok())?
            }
            Short('h') | Long("help") => {
                print!("{USAGE}");
                std::process::exit(0);
            }
            other => return Err(format!("{} (try --help)", other.unexpected())),
        }
    }
    if let Some(p) = port {
        config.bind.set_port(p);
    }
    if config.workers == 0 || config.threads == 0 {
        return Err("--workers and --threads must be at least 1".into());
    }
    opts.root = root.ok_or("--root DIR is required (try --help)")?;
    opts.config = config;
    Ok(opts)
}

fn main() {
    let opts = parse_args().unwrap_or_else(|e| die("reactor-httpd", e, 2));
    init_logging(&opts.log_level).unwrap_or_else(|e| die("reactor-httpd", e, 2));
    let mut root =
        FsRoot::new(&opts.root).unwrap_or_else(|e| die("reactor-httpd", format!("--root: {e}"), 2));
    root.dotfiles = opts.dotfiles;
    root.follow_symlinks = opts.follow_symlinks;
    let mut config = opts.config;
    if let Some(target) = &opts.access_log {
        config.access_log =
            Some(open_log("--access-log", target).unwrap_or_else(|e| die("reactor-httpd", e, 2)));
    }
    let mut server = Server::new(config);
    if let Some(path) = &opts.status {
        let stats = server.stats();
        server = server.handler(StatusPage::new(path.clone(), stats));
    }
    server = server.handler(StaticFiles::new(root.clone()));
    if opts.listing {
        server = server.handler(DirectoryListing::new(root.clone()));
    }
    let what = format!("serving {}", root.dir().display());
    serve_until_stopped("reactor-httpd", server, &what);
}
