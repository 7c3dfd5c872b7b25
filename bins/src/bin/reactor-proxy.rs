//! reactor-proxy: a caching HTTP forward proxy (CONNECT included) on the reactor, or with
//! `--upstream` a caching reverse proxy in front of one origin. Clients may speak HTTP/1.1
//! or HTTP/2; origins are spoken to in HTTP/1.1.

use std::time::Duration;

use reactor::tls::http_alpn;
use reactor::{Config, Server};
use reactor_bins::cli::{
    die, init_logging, open_log, parse_on_off, parse_value, serve_until_stopped,
};
use reactor_bins::tls::{acceptor_reloading_on_sighup, CertFlags};
use reactor_handlers::proxy::access::Cidr;
use reactor_handlers::proxy::auth::ProxyAuth;
use reactor_handlers::proxy::disk::DiskTier;
use reactor_handlers::proxy::{parse_parent, parse_ports, parse_upstream, tls, Proxy, ProxyConfig};

const USAGE: &str = "\
Usage: reactor-proxy [OPTIONS]

A caching HTTP proxy: point `curl -x http://127.0.0.1:8888` or a browser at it. Clients
speak HTTP/1.1 or HTTP/2; origins are spoken to in HTTP/1.1.

Options:
  --bind ADDR:PORT         address to listen on [default: 127.0.0.1:8888]
  --workers N              independent reactors (threads), SO_REUSEPORT [default: 1]
  --threads N              blocking-pool threads (name lookups) [default: 4]
  --access-log FILE|-      access log in Combined Log Format (- for stdout)
  --cache-log FILE|-       one line per proxied request: Combined Log Format plus the
                           cache state (HIT, MISS, REVALIDATED, STALE)
  --log-level LEVEL        error log level: error, warn, info, debug, trace, off [default: warn]
                           (info logs one line per request with its cache state)
  --connect-ports LIST     ports CONNECT may reach, comma-separated [default: 443]
  --forwarded-for          append the client address to X-Forwarded-For
  --upstream-timeout SECS  origin connect / inactivity timeout, then 504 [default: 30]
  --cache-size BYTES       cache size, 0 disables caching [default: 268435456]
  --max-object-size BYTES  largest response body stored [default: 8388608]
  --allow CIDR             also admit clients from CIDR (repeatable; loopback always)
  --upstream http://HOST:PORT
                           reverse mode: send origin-form requests to this origin
                           (https://HOST:PORT: TLS to it, certificate verified);
                           repeatable: several origins of one site (the first names
                           it: Host and cache keys)
  --balance POLICY         round-robin, least-conn or uri-hash [default: round-robin]
  --max-fails N            failed connections in a row that take an origin out,
                           0 never [default: 1]
  --fail-timeout SECS      how long such an origin stays out [default: 10]
  --health-check PATH      also GET PATH of every origin every --health-interval:
                           2xx/3xx up, anything else down
  --health-interval SECS   time between health checks [default: 5]
  --parent HOST:PORT       send forward-proxy misses (and CONNECT) through this
                           parent proxy
  --proxy-auth FILE        forward-proxy clients must log in (Basic) as a user of this
                           htpasswd file (bcrypt, apr1, SHA-crypt); 407 otherwise
  --upstream-ca FILE       also trust the CA certificates of this PEM file for
                           https upstreams (besides the webpki roots)
  --max-body BYTES         largest request body forwarded [default: 1048576]
  --max-body-memory BYTES  request-body bytes all connections may hold together; past it
                           a body gets 503 [default: 268435456]
  --cache-dir DIR          keep a disk tier of the cache in DIR (survives restarts)
  --cache-disk-size BYTES  disk tier size [default: 1073741824]
  --cdn-cache-control NAME targeted cache-control field obeyed in reverse mode over
                           Cache-Control (RFC 9213), off for none [default: CDN-Cache-Control]
  --purge-allow CIDR       clients that may PURGE a URL from the cache (repeatable;
                           replaces the default, loopback only)
  --http2 on|off           HTTP/2 to clients: by ALPN h2 over TLS, with prior knowledge
                           on plaintext (origins stay HTTP/1.1) [default: on]
  --tls-cert FILE          PEM certificate chain: speak HTTPS to clients (repeatable, each
                           followed by its --tls-key; chosen by SNI; SIGHUP reloads)
  --tls-key FILE           PEM private key (PKCS#8, PKCS#1 or SEC1) of the --tls-cert before it
  -h, --help               show this help
";

struct Options {
    config: Config,
    proxy: ProxyConfig,
    log_level: String,
    access_log: Option<String>,
    cache_log: Option<String>,
    tls: CertFlags,
}

fn parse_args() -> Result<Options, String> {
    use lexopt::prelude::*;
    let mut config = Config {
        bind: ([127, 0, 0, 1], 8888).into(),
        ..Config::default()
    };
    let mut proxy = ProxyConfig::default();
    let mut log_level = "warn".to_string();
    let mut access_log = None;
    let mut cache_log = None;
    let mut purge_default = true;
    let mut tls = CertFlags::default();
    let mut cache_dir: Option<String> = None;
    let mut cache_disk_size: u64 = 1 << 30;
    let mut parser = lexopt::Parser::from_env();
    while let Some(arg) = parser.next().map_err(|e| e.to_string())? {
        match arg {
            Long("bind") => config.bind = parse_value("--bind", parser.value().ok())?,
            Long("workers") => config.workers = parse_value("--workers", parser.value().ok())?,
            Long("threads") => config.threads = parse_value("--threads", parser.value().ok())?,
            Long("access-log") => {
                access_log = Some(parse_value("--access-log", parser.value().ok())?)
            }
            Long("cache-log") => cache_log = Some(parse_value("--cache-log", parser.value().ok())?),
            Long("log-level") => log_level = parse_value("--log-level", parser.value().ok())?,
            Long("connect-ports") => {
                let s: String = parse_value("--connect-ports", parser.value().ok())?;
                proxy.connect_ports =
                    parse_ports(&s).map_err(|e| format!("--connect-ports: {e}"))?;
            }
            Long("forwarded-for") => proxy.forwarded_for = true,
            Long("upstream-timeout") => {
                let secs: u64 = parse_value("--upstream-timeout", parser.value().ok())?;
                if secs == 0 {
                    return Err("--upstream-timeout must be at least 1".into());
                }
                proxy.upstream_timeout = Duration::from_secs(secs);
            }
            Long("cache-size") => {
                proxy.cache_size = parse_value("--cache-size", parser.value().ok())?
            }
            Long("max-object-size") => {
                proxy.max_object_size = parse_value("--max-object-size", parser.value().ok())?
            }
            Long("allow") => {
                let c: Cidr = parse_value("--allow", parser.value().ok())?;
                proxy.access.allow.push(c);
            }
            Long("upstream") => {
                let s: String = parse_value("--upstream", parser.value().ok())?;
                let t = parse_upstream(&s).map_err(|e| format!("--upstream: {e}"))?;
                if proxy.upstream.is_none() {
                    proxy.upstream = Some(t);
                } else {
                    proxy.more_upstreams.push(t);
                }
            }
            Long("upstream-ca") => {
                let path: std::path::PathBuf = parse_value("--upstream-ca", parser.value().ok())?;
                let tls =
                    tls::client_config(Some(&path)).map_err(|e| format!("--upstream-ca {e}"))?;
                proxy.upstream_tls = Some(tls);
            }
            Long("balance") => proxy.balance = parse_value("--balance", parser.value().ok())?,
            Long("max-fails") => proxy.max_fails = parse_value("--max-fails", parser.value().ok())?,
            Long("fail-timeout") => {
                let secs: u64 = parse_value("--fail-timeout", parser.value().ok())?;
                proxy.fail_timeout = Duration::from_secs(secs);
            }
            Long("health-check") => {
                let path: String = parse_value("--health-check", parser.value().ok())?;
                if !path.starts_with('/') || path.bytes().any(|b| b <= b' ' || b == 0x7f) {
                    return Err("--health-check must be a path such as /health".into());
                }
                proxy.health_check = Some(path);
            }
            Long("health-interval") => {
                let secs: u64 = parse_value("--health-interval", parser.value().ok())?;
                if secs == 0 {
                    return Err("--health-interval must be at least 1".into());
                }
                proxy.health_interval = Duration::from_secs(secs);
            }
            Long("parent") => {
                let s: String = parse_value("--parent", parser.value().ok())?;
                proxy.parent = Some(parse_parent(&s).map_err(|e| format!("--parent: {e}"))?);
            }
            Long("cache-dir") => {
                cache_dir = Some(parse_value::<String>("--cache-dir", parser.value().ok())?)
            }
            Long("cache-disk-size") => {
                cache_disk_size = parse_value("--cache-disk-size", parser.value().ok())?
            }
            Long("cdn-cache-control") => {
                let name: String = parse_value("--cdn-cache-control", parser.value().ok())?;
                let valid = !name.is_empty()
                    && name
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b"-_".contains(&b));
                if !valid {
                    return Err(format!("--cdn-cache-control: invalid field name {name:?}"));
                }
                proxy.cdn_cache_control = (name != "off").then_some(name);
            }
            Long("purge-allow") => {
                let c: Cidr = parse_value("--purge-allow", parser.value().ok())?;
                if std::mem::take(&mut purge_default) {
                    proxy.purge_allow.loopback = false;
                }
                proxy.purge_allow.allow.push(c);
            }
            Long("proxy-auth") => {
                let path: std::path::PathBuf = parse_value("--proxy-auth", parser.value().ok())?;
                let auth = ProxyAuth::load(&path).map_err(|e| format!("--proxy-auth {e}"))?;
                proxy.proxy_auth = Some(std::sync::Arc::new(auth));
            }
            Long("max-body") => {
                config.limits.max_body = parse_value("--max-body", parser.value().ok())?
            }
            Long("http2") => config.http2 = parse_on_off("--http2", parser.value().ok())?,
            Long("max-body-memory") => {
                config.max_body_memory = parse_value("--max-body-memory", parser.value().ok())?
            }
            Long("tls-cert") => tls.cert(parse_value("--tls-cert", parser.value().ok())?),
            Long("tls-key") => tls.key(parse_value("--tls-key", parser.value().ok())?),
            Short('h') | Long("help") => {
                print!("{USAGE}");
                std::process::exit(0);
            }
            other => return Err(format!("{} (try --help)", other.unexpected())),
        }
    }
    if proxy.upstream.is_none() && proxy.health_check.is_some() {
        return Err("--health-check needs --upstream".into());
    }
    if let Some(dir) = cache_dir {
        let disk = DiskTier::open(std::path::Path::new(&dir), cache_disk_size)
            .map_err(|e| format!("--cache-dir {dir}: {e}"))?;
        proxy.disk = Some(disk);
    }
    if config.workers == 0 || config.threads == 0 {
        return Err("--workers and --threads must be at least 1".into());
    }
    tls.pairs()?;
    Ok(Options {
        config,
        proxy,
        log_level,
        access_log,
        cache_log,
        tls,
    })
}

fn main() {
    let opts = parse_args().unwrap_or_else(|e| die("reactor-proxy", e, 2));
    init_logging(&opts.log_level).unwrap_or_else(|e| die("reactor-proxy", e, 2));
    let mut config = opts.config;
    let mut proxy = opts.proxy;
    if let Some(target) = &opts.access_log {
        config.access_log =
            Some(open_log("--access-log", target).unwrap_or_else(|e| die("reactor-proxy", e, 2)));
    }
    if let Some(target) = &opts.cache_log {
        proxy.cache_log =
            Some(open_log("--cache-log", target).unwrap_or_else(|e| die("reactor-proxy", e, 2)));
    }
    let mode = match &proxy.upstream {
        Some(up) if !proxy.more_upstreams.is_empty() => format!(
            "reverse proxy for {} ({} origins, {:?})",
            up.url(),
            proxy.more_upstreams.len() + 1,
            proxy.balance
        ),
        Some(up) => format!("reverse proxy for {}", up.url()),
        None => "forward proxy".to_string(),
    };
    let tls = !opts.tls.is_empty();
    if tls {
        let pairs = opts
            .tls
            .pairs()
            .unwrap_or_else(|e| die("reactor-proxy", e, 2));
        let acceptor =
            acceptor_reloading_on_sighup("reactor-proxy", pairs, http_alpn(config.http2))
                .unwrap_or_else(|e| die("reactor-proxy", e, 2));
        config.tls = Some(acceptor);
    }
    let server = Server::new(config).handler(Proxy::new(proxy));
    serve_until_stopped("reactor-proxy", server, &mode, tls);
}
