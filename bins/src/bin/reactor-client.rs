//! reactor-client: a tiny curl. `reactor-client GET localhost 8080 /index.html`

use std::io::{BufReader, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::path::PathBuf;
use std::time::Duration;

use reactor_bins::cli::die;
use reactor_bins::client::read_response;
use reactor_bins::smtp::deadline::DeadlineSocket;
use reactor_bins::smtp::tls::{client_config, handshake, Trust};

const USAGE: &str = "\
Usage: reactor-client METHOD HOST PORT PATH [-H 'Name: value']... [-d BODY] [--http1.0] [--tls]

Sends one request and prints the status line, the headers and the body.

Options:
  -H 'Name: value'   add a request header (repeatable)
  -d BODY            send BODY as the request body (adds Content-Length)
  --http1.0          send an HTTP/1.0 request
  --tls              speak HTTPS (certificate verified against the webpki roots and --ca)
  --ca FILE          also trust the CA certificates in this PEM file (implies --tls)
  -h, --help         show this help
Exit status: 0 for any complete response, 1 on connection or protocol errors, 2 on usage errors.
";

struct Args {
    method: String,
    host: String,
    port: u16,
    path: String,
    headers: Vec<String>,
    body: Option<String>,
    http10: bool,
    tls: bool,
    ca: Option<PathBuf>,
}

fn parse_args() -> Result<Args, String> {
    use lexopt::prelude::*;
    let mut positional = Vec::new();
    let mut headers = Vec::new();
    let mut body = None;
    let mut http10 = false;
    let mut tls = false;
    let mut ca = None;
    let mut parser = lexopt::Parser::from_env();
    while let Some(arg) = parser.next().map_err(|e| e.to_string())? {
        match arg {
            Short('H') => {
                let h = parser
                    .value()
                    .map_err(|e| e.to_string())?
                    .string()
                    .map_err(|_| "-H: not UTF-8")?;
                if !h.contains(':') || h.contains(['\r', '\n']) {
                    return Err(format!("-H: expected 'Name: value', got {h:?}"));
                }
                headers.push(h);
            }
            Short('d') => {
                body = Some(
                    parser
                        .value()
                        .map_err(|e| e.to_string())?
                        .string()
                        .map_err(|_| "-d: not UTF-8")?,
                )
            }
            Long("http1.0") => http10 = true,
            Long("tls") => tls = true,
            Long("ca") => {
                ca = Some(PathBuf::from(parser.value().map_err(|e| e.to_string())?));
                tls = true;
            }
            Short('h') | Long("help") => {
                print!("{USAGE}");
                std::process::exit(0);
            }
            Value(v) => positional.push(v.string().map_err(|_| "arguments must be UTF-8")?),
            other => return Err(other.unexpected().to_string()),
        }
    }
    let [method, host, port, path]: [String; 4] = positional
        .try_into()
        .map_err(|_| "expected METHOD HOST PORT PATH (try --help)".to_string())?;
    let port = port.parse().map_err(|_| format!("invalid port {port:?}"))?;
    if !path.starts_with('/') || path.contains(['\r', '\n', ' ']) {
        return Err(format!(
            "PATH must start with '/' and contain no spaces: {path:?}"
        ));
    }
    if method.is_empty()
        || !method
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-')
    {
        return Err(format!("invalid method {method:?}"));
    }
    Ok(Args {
        method,
        host,
        port,
        path,
        headers,
        body,
        http10,
        tls,
        ca,
    })
}

fn main() {
    let args = parse_args().unwrap_or_else(|e| die("reactor-client", e, 2));
    let target = format!("{}:{}", args.host, args.port);
    let fail = |msg: String| -> ! { die("reactor-client", msg, 1) };
    let addrs: Vec<_> = target
        .to_socket_addrs()
        .unwrap_or_else(|e| fail(format!("cannot resolve {}: {e}", args.host)))
        .collect();
    let mut last_err = None;
    let stream = addrs
        .iter()
        .find_map(
            |a| match TcpStream::connect_timeout(a, Duration::from_secs(10)) {
                Ok(s) => Some(s),
                Err(e) => {
                    last_err = Some(e);
                    None
                }
            },
        )
        .unwrap_or_else(|| {
            let why = last_err.map_or("no address".to_string(), |e| e.to_string());
            fail(format!("cannot connect to {target}: {why}"))
        });
    let _ = stream.set_read_timeout(Some(Duration::from_secs(30)));
    let mut stream: Box<dyn ReadWrite> = if args.tls {
        let trust = Trust {
            ca_file: args.ca.as_deref(),
            ..Trust::default()
        };
        let config = client_config(&trust).unwrap_or_else(|e| die("reactor-client", e, 2));
        let sock = DeadlineSocket::new(stream, Duration::from_secs(30));
        let tls =
            handshake(sock, &args.host, config).unwrap_or_else(|e| fail(format!("{target}: {e}")));
        Box::new(tls)
    } else {
        Box::new(stream)
    };
    let version = if args.http10 { "HTTP/1.0" } else { "HTTP/1.1" };
    let default_port = if args.tls { 443 } else { 80 };
    let host_header = if args.port == default_port {
        args.host.clone()
    } else {
        target.clone()
    };
    let mut request = format!(
        "{} {} {version}\r\nHost: {host_header}\r\nUser-Agent: reactor-client/0.1\r\nConnection: close\r\n",
        args.method, args.path
    );
    for h in &args.headers {
        request.push_str(h);
        request.push_str("\r\n");
    }
    if let Some(body) = &args.body {
        request.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    request.push_str("\r\n");
    if let Some(body) = &args.body {
        request.push_str(body);
    }
    stream
        .write_all(request.as_bytes())
        .unwrap_or_else(|e| fail(format!("sending to {target}: {e}")));
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    let head_only = args.method.eq_ignore_ascii_case("HEAD");
    if let Err(e) = read_response(&mut BufReader::new(stream), head_only, &mut out) {
        let _ = out.flush();
        fail(format!("{target}: {e}"));
    }
}

/// A connection, plain or TLS.
trait ReadWrite: Read + Write {}
impl<T: Read + Write> ReadWrite for T {}
