//! reactor-httpd: serves a directory over HTTP/1.1 (and HTTPS) on the reactor.

use std::ffi::OsString;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use reactor::tls::http_alpn;
use reactor::{Config, Server};
use reactor_bins::acme::serve::AcmeFlags;
use reactor_bins::acme::Http01Handler;
use reactor_bins::cli::{die, init_logging, open_log, parse_on_off, parse_value, start_announced};
use reactor_bins::site_config::{invocation, Invocation};
use reactor_bins::sites::{build_all, reload_on_sighup, Layout, SiteDefaults};
use reactor_bins::systemd;
use reactor_bins::tls::{acceptor_reloading_on_sighup, CertFlags, Hsts, RedirectToHttps};
use reactor_handlers::json_log::JsonAccessLog;
use reactor_handlers::metrics::{Metrics, MetricsFilter, MetricsPage};
use reactor_handlers::vhost::{Site, VirtualHosts};
use reactor_handlers::StatusPage;

const USAGE: &str = "\
Usage: reactor-httpd [OPTIONS]

Serves the files under --root over HTTP/1.1, or HTTPS with --tls-cert/--tls-key.

Options:
  --config FILE            read settings and [[site]] virtual hosts from a TOML file
                           (each flag is a key, _ for -; flags given here win)
  --check-config           check the --config file and exit (0 good, 2 errors)
  --root DIR               directory to serve (required)
  --bind ADDR:PORT         address to listen on [default: 127.0.0.1:8080, with TLS 127.0.0.1:8443]
  --port N                 shortcut for --bind 127.0.0.1:N (keeps --bind's address)
  --workers N              independent reactors (threads), SO_REUSEPORT [default: 1]
  --threads N              blocking-pool threads for disk I/O [default: 4]
  --queue N                jobs the pool may queue before requests get 503 [default: 4096]
  --access-log FILE|-      access log in Combined Log Format (- for stdout)
  --access-log-format FMT  access log lines: combined or json [default: combined]
  --metrics PATH           serve Prometheus metrics at PATH (e.g. /metrics)
  --log-level LEVEL        error log level: error, warn, info, debug, trace, off [default: warn]
  --no-listing             do not list directories without index.html (404 instead)
  --status PATH            serve the status page at PATH (e.g. /server-status)
  --dotfiles               serve and list names starting with '.'
  --follow-symlinks        follow symlinks that lead outside the root
  --no-compress            do not compress responses on the fly (br, zstd, gzip)
  --no-precompressed       do not serve precompressed siblings (app.js.br, .zst, .gz)
  --upload                 take uploads: PUT /dir/name, and POST /dir/ with a multipart
                           form (the listing shows one); streamed to disk, never buffered
  --overwrite              uploads replace existing files [default: 409 Conflict]
  --max-upload BYTES       largest upload body (413 beyond) [default: no limit]
  --max-connections N      open connections per worker [default: 10000]
  --max-body BYTES         largest request body [default: 1048576]
  --max-body-memory BYTES  request-body bytes all connections may hold together; past it
                           a body gets 503 [default: 268435456]
  --header-timeout SECS    time to receive a request head [default: 20]
  --keepalive-timeout SECS idle keep-alive connection lifetime [default: 60]
  --body-timeout SECS      longest pause between reads of a request body [default: 60]
  --send-timeout SECS      longest stall while sending a response [default: 60]
  --shutdown-grace SECS    on SIGTERM/SIGINT, time in-flight responses get [default: 30]
  --http2 on|off           HTTP/2: by ALPN h2 over TLS, with prior knowledge on
                           plaintext [default: on]
  --tls-cert FILE          PEM certificate chain (leaf first); serve HTTPS. Repeatable, each
                           followed by its --tls-key; chosen by SNI, the first by default
  --tls-key FILE           PEM private key (PKCS#8, PKCS#1 RSA or SEC1 EC) of the --tls-cert
                           before it. SIGHUP reads the pairs again
  --redirect-http ADDR:PORT
                           also listen in plain HTTP there, answering 308 to https://
  --hsts SECONDS           add Strict-Transport-Security: max-age=SECONDS to HTTPS responses
  --acme NAME              get (and renew) a certificate for NAME from an ACME CA; repeatable,
                           one certificate per name; serves HTTPS
  --acme-email ADDR        contact address for the ACME account
  --acme-directory URL     the CA's directory [default: Let's Encrypt production]
  --acme-staging           use Let's Encrypt's staging directory
  --acme-ca FILE           also trust this PEM root when talking to the CA (tests)
  --acme-state DIR         account key and certificates [default: $STATE_DIRECTORY, or
                           ~/.local/share/reactor/acme]
  --acme-challenge KIND    http-01 or tls-alpn-01 [default: tls-alpn-01, then http-01]
  --acme-renew-before SECS renew when this much validity is left [default: a third]
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
    compress: bool,
    precompressed: bool,
    upload: bool,
    overwrite: bool,
    max_upload: u64,
    json_log: bool,
    metrics: Option<String>,
    tls: CertFlags,
    redirect_http: Option<SocketAddr>,
    hsts: Option<u64>,
    acme: AcmeFlags,
}

/// Parses the flags; `file_tls` says whether the config file's sites bring certificates
/// (`tls_cert` or `acme = true`), which also makes the listener TLS.
fn parse_args(args: Vec<OsString>, file_tls: bool) -> Result<Options, String> {
    use lexopt::prelude::*;
    let mut root = None;
    let mut config = Config::default();
    let mut port: Option<u16> = None;
    let mut bind_given = false;
    let mut opts = Options {
        root: String::new(),
        config: Config::default(),
        listing: true,
        status: None,
        log_level: "warn".into(),
        access_log: None,
        dotfiles: false,
        follow_symlinks: false,
        compress: true,
        precompressed: true,
        upload: false,
        overwrite: false,
        max_upload: u64::MAX,
        json_log: false,
        metrics: None,
        tls: CertFlags::default(),
        redirect_http: None,
        hsts: None,
        acme: AcmeFlags::default(),
    };
    let secs = |flag: &str, v| parse_value::<u64>(flag, v).map(Duration::from_secs);
    let mut parser = lexopt::Parser::from_args(args);
    while let Some(arg) = parser.next().map_err(|e| e.to_string())? {
        match arg {
            Long("root") => root = Some(parse_value::<String>("--root", parser.value().ok())?),
            Long("bind") => {
                config.bind = parse_value("--bind", parser.value().ok())?;
                bind_given = true;
            }
            Long("tls-cert") => opts
                .tls
                .cert(parse_value("--tls-cert", parser.value().ok())?),
            Long("tls-key") => opts.tls.key(parse_value("--tls-key", parser.value().ok())?),
            Long("redirect-http") => {
                opts.redirect_http = Some(parse_value("--redirect-http", parser.value().ok())?)
            }
            Long("hsts") => opts.hsts = Some(parse_value("--hsts", parser.value().ok())?),
            Long("acme") => opts
                .acme
                .names
                .push(parse_value("--acme", parser.value().ok())?),
            Long("acme-email") => {
                opts.acme.email = Some(parse_value("--acme-email", parser.value().ok())?)
            }
            Long("acme-directory") => {
                opts.acme.directory = Some(parse_value("--acme-directory", parser.value().ok())?)
            }
            Long("acme-staging") => {
                opts.acme.directory = Some(reactor_bins::acme::manager::LETS_ENCRYPT_STAGING.into())
            }
            Long("acme-ca") => opts.acme.ca = Some(parse_value("--acme-ca", parser.value().ok())?),
            Long("acme-state") => {
                opts.acme.state = Some(parse_value("--acme-state", parser.value().ok())?)
            }
            Long("acme-challenge") => {
                let v: String = parse_value("--acme-challenge", parser.value().ok())?;
                opts.acme.challenge = Some(AcmeFlags::parse_challenge(&v)?);
            }
            Long("acme-renew-before") => {
                opts.acme.renew_before = Some(secs("--acme-renew-before", parser.value().ok())?)
            }
            Long("port") => port = Some(parse_value("--port", parser.value().ok())?),
            Long("workers") => config.workers = parse_value("--workers", parser.value().ok())?,
            Long("threads") => config.threads = parse_value("--threads", parser.value().ok())?,
            Long("queue") => config.queue = parse_value("--queue", parser.value().ok())?,
            Long("access-log") => {
                opts.access_log = Some(parse_value("--access-log", parser.value().ok())?)
            }
            Long("log-level") => opts.log_level = parse_value("--log-level", parser.value().ok())?,
            Long("no-listing") => opts.listing = false,
            Long("http2") => config.http2 = parse_on_off("--http2", parser.value().ok())?,
            Long("status") => {
                let p: String = parse_value("--status", parser.value().ok())?;
                if !p.starts_with('/') {
                    return Err(format!("--status: path must start with '/': {p:?}"));
                }
                opts.status = Some(p);
            }
            Long("dotfiles") => opts.dotfiles = true,
            Long("follow-symlinks") => opts.follow_symlinks = true,
            Long("access-log-format") => {
                let f: String = parse_value("--access-log-format", parser.value().ok())?;
                opts.json_log = match f.as_str() {
                    "combined" => false,
                    "json" => true,
                    _ => {
                        return Err(format!(
                            "--access-log-format: {f:?} is not combined or json"
                        ))
                    }
                };
            }
            Long("metrics") => {
                let p: String = parse_value("--metrics", parser.value().ok())?;
                if !p.starts_with('/') {
                    return Err(format!("--metrics: path must start with '/': {p:?}"));
                }
                opts.metrics = Some(p);
            }
            Long("no-compress") => opts.compress = false,
            Long("no-precompressed") => opts.precompressed = false,
            Long("upload") => opts.upload = true,
            Long("overwrite") => opts.overwrite = true,
            Long("max-upload") => {
                opts.max_upload = parse_value("--max-upload", parser.value().ok())?
            }
            Long("max-connections") => {
                config.max_connections = parse_value("--max-connections", parser.value().ok())?
            }
            Long("max-body") => {
                config.limits.max_body = parse_value("--max-body", parser.value().ok())?
            }
            Long("max-body-memory") => {
                config.max_body_memory = parse_value("--max-body-memory", parser.value().ok())?
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
    opts.tls.pairs()?;
    let tls = !opts.tls.is_empty() || opts.acme.any() || file_tls;
    if !tls && (opts.redirect_http.is_some() || opts.hsts.is_some()) {
        return Err("--redirect-http and --hsts need --tls-cert/--tls-key or --acme".into());
    }
    if tls && !bind_given {
        config.bind.set_port(8443);
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

/// The settings a SIGHUP cannot change in a running server (sockets, threads, limits,
/// logging, certificates), each with its value, to tell the operator which changes wait
/// for a restart.
fn restart_only(o: &Options) -> Vec<(&'static str, String)> {
    let c = &o.config;
    vec![
        ("bind", c.bind.to_string()),
        (
            "workers/threads/queue",
            format!("{} {} {}", c.workers, c.threads, c.queue),
        ),
        ("max_connections", c.max_connections.to_string()),
        ("limits", format!("{:?}", c.limits)),
        ("timeouts", format!("{:?}", c.timeouts)),
        ("http2", c.http2.to_string()),
        ("access_log", format!("{:?} {}", o.access_log, o.json_log)),
        ("log_level", o.log_level.clone()),
        ("status/metrics", format!("{:?} {:?}", o.status, o.metrics)),
        ("tls_cert/tls_key", format!("{:?}", o.tls)),
        (
            "redirect_http/hsts",
            format!("{:?} {:?}", o.redirect_http, o.hsts),
        ),
        ("acme", format!("{:?}", o.acme)),
    ]
}

/// The options and sites an invocation asks for.
fn configure(inv: &Invocation) -> Result<(Options, Vec<Site>), String> {
    let specs = inv.file.as_ref().map_or(&[][..], |f| &f.sites[..]);
    let file_tls = specs.iter().any(|s| s.tls.is_some() || s.acme);
    let mut opts = parse_args(inv.args.clone(), file_tls).map_err(|e| inv.locate(&e))?;
    let defaults = SiteDefaults {
        listing: opts.listing,
        dotfiles: opts.dotfiles,
        follow_symlinks: opts.follow_symlinks,
        compress: opts.compress,
        precompressed: opts.precompressed,
        upload: opts.upload,
        overwrite: opts.overwrite,
        max_upload: opts.max_upload,
    };
    // Without a file nothing is reloaded: the site goes on the server itself (see main).
    let layout = match inv.file {
        Some(_) => Layout::Fixed,
        None => Layout::Used,
    };
    let sites = build_all(specs, &opts.root, &defaults, layout)?;
    let acme_sites = specs.iter().filter(|s| s.acme).map(|s| s.names.clone());
    opts.acme.sites.extend(acme_sites);
    Ok((opts, sites))
}

fn main() {
    let cli: Vec<OsString> = std::env::args_os().skip(1).collect();
    let inv = invocation(&cli, USAGE).unwrap_or_else(|errors| {
        for e in &errors {
            eprintln!("reactor-httpd: {e}");
        }
        std::process::exit(2)
    });
    let (opts, sites) = configure(&inv).unwrap_or_else(|e| die("reactor-httpd", e, 2));
    if inv.check {
        eprintln!("reactor-httpd: configuration OK");
        return;
    }
    init_logging(&opts.log_level).unwrap_or_else(|e| die("reactor-httpd", e, 2));
    let running_settings = restart_only(&opts);
    let mut config = opts.config;
    let mut json_log = None;
    if let Some(target) = &opts.access_log {
        let sink = open_log("--access-log", target).unwrap_or_else(|e| die("reactor-httpd", e, 2));
        match opts.json_log {
            true => json_log = Some(sink),
            false => config.access_log = Some(sink),
        }
    }
    let acme = opts.acme.any();
    let mut pairs = opts
        .tls
        .pairs()
        .unwrap_or_else(|e| die("reactor-httpd", e, 2));
    // Per-site certificates of the config file, chosen by SNI like the others.
    let site_pairs = inv.file.iter().flat_map(|f| &f.sites);
    pairs.extend(site_pairs.filter_map(|site| site.tls.clone()));
    let tls = !pairs.is_empty() || acme;
    let mut challenges = None;
    let mut acme_status = None;
    if tls {
        let mut alpn = http_alpn(config.http2);
        if acme {
            alpn.push(reactor::tls::ACME_TLS_ALPN.to_vec());
        }
        let acceptor = acceptor_reloading_on_sighup("reactor-httpd", pairs, alpn)
            .unwrap_or_else(|e| die("reactor-httpd", e, 2));
        if acme {
            let started = opts.acme.start(acceptor.store());
            let (c, status) = started.unwrap_or_else(|e| die("reactor-httpd", e, 2));
            challenges = Some(c);
            acme_status = Some(status);
        }
        config.tls = Some(acceptor);
    }
    let mut server = Server::new(config);
    match systemd::listener() {
        Ok(Some(listener)) => server = server.listener(listener),
        Ok(None) => {}
        Err(e) => die("reactor-httpd", e, 2),
    }
    if let Some(sink) = json_log {
        server = server.filter(JsonAccessLog(sink));
    }
    if let Some(path) = &opts.metrics {
        let metrics = Metrics::new(server.stats());
        server = server
            .filter(MetricsFilter(metrics.clone()))
            .handler(MetricsPage::new(path.clone(), metrics));
    }
    if let Some(seconds) = opts.hsts {
        server = server.filter(Hsts::new(seconds));
    }
    if let Some(path) = &opts.status {
        let stats = server.stats();
        let mut page = StatusPage::new(path.clone(), stats);
        if let Some(status) = acme_status {
            page = page.with_section("ACME", Arc::new(move || status.snapshot()));
        }
        server = server.handler(page);
    }
    if inv.file.is_none() {
        // One site, never reloaded: its plugins go on the server itself, without the
        // virtual hosts' slots (14 per request).
        for site in sites {
            server = server.plugins(site.filters, site.handlers);
        }
    } else {
        let hosts = VirtualHosts::new(sites).unwrap_or_else(|e| die("reactor-httpd", e, 2));
        server = hosts.install(server);
        let rebuild = move || {
            let inv = invocation(&cli, USAGE).map_err(|e| e.join("; "))?;
            let (opts, sites) = configure(&inv)?;
            let changed: Vec<_> = restart_only(&opts)
                .into_iter()
                .zip(&running_settings)
                .filter(|(new, old)| new.1 != old.1)
                .map(|(new, _)| new.0)
                .collect();
            if !changed.is_empty() {
                log::warn!(
                    "reload: the sites are reloaded; {} changed and take effect on restart",
                    changed.join(", ")
                );
            }
            Ok(sites)
        };
        reload_on_sighup(hosts, rebuild, systemd::notify)
            .unwrap_or_else(|e| die("reactor-httpd", format!("cannot handle SIGHUP: {e}"), 1));
    }
    let what = match &inv.file {
        Some(f) => format!("serving {}", f.path.display()),
        None => format!("serving {}", opts.root),
    };
    let running = start_announced("reactor-httpd", server, &what, tls);
    // Started second: the HTTPS port (maybe chosen by the system) is known now.
    let _redirect = opts.redirect_http.map(|addr| {
        let config = Config {
            bind: addr,
            ..Config::default()
        };
        let https_port = running.local_addr().port();
        let mut redirect = Server::new(config);
        if let Some(c) = &challenges {
            // Challenge tokens are answered before anything is redirected.
            redirect = redirect.handler(Http01Handler(c.clone()));
        }
        let redirect = redirect
            .handler(RedirectToHttps { https_port })
            .start()
            .unwrap_or_else(|e| die("reactor-httpd", format!("--redirect-http: {e}"), 1));
        eprintln!(
            "reactor-httpd: redirecting http://{}/ to HTTPS",
            redirect.local_addr()
        );
        redirect
    });
    if !running.wait() {
        die(
            "reactor-httpd",
            "a reactor thread died; see the log above",
            70,
        );
    }
}
