//! The blocking HTTPS requests the ACME client makes: one request per connection, over
//! rustls, verified against the webpki roots plus any extra CA the user trusts.

use std::io::{BufReader, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::ServerName;
use rustls::{ClientConfig, ClientConnection, StreamOwned};

use super::AcmeError;
use crate::client::read_response;

/// How long one request may take to connect, and each read or write to progress.
const IO_TIMEOUT: Duration = Duration::from_secs(30);

/// A response: status, header fields, body.
#[derive(Debug)]
pub struct HttpResponse {
    /// Status code.
    pub status: u16,
    /// Header fields as received (names as sent).
    pub headers: Vec<(String, String)>,
    /// The body, de-framed.
    pub body: Vec<u8>,
}

impl HttpResponse {
    /// The first value of header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// Makes HTTPS requests with one TLS configuration.
#[derive(Clone)]
pub struct Https {
    config: Arc<ClientConfig>,
}

impl Https {
    /// Trusts the webpki roots and the PEM certificates of the file `extra_ca` (e.g. a
    /// test CA): the same client setup as the proxy's towards `https://` origins.
    pub fn new(extra_ca: Option<&Path>) -> Result<Self, AcmeError> {
        let config =
            reactor_handlers::proxy::tls::client_config(extra_ca).map_err(AcmeError::Local)?;
        Ok(Https { config })
    }

    /// Sends `method url` with an optional `(content type, body)` and reads the answer.
    pub fn request(
        &self,
        method: &str,
        url: &str,
        body: Option<(&str, &[u8])>,
    ) -> Result<HttpResponse, AcmeError> {
        let (host, port, path) = split_url(url)?;
        let host = host.as_str();
        let addr = (host, port)
            .to_socket_addrs()
            .map_err(|e| AcmeError::Io(format!("cannot resolve {host}: {e}")))?
            .next()
            .ok_or_else(|| AcmeError::Io(format!("{host} has no address")))?;
        let tcp = TcpStream::connect_timeout(&addr, IO_TIMEOUT)
            .map_err(|e| AcmeError::Io(format!("connect to {host}:{port}: {e}")))?;
        tcp.set_read_timeout(Some(IO_TIMEOUT)).ok();
        tcp.set_write_timeout(Some(IO_TIMEOUT)).ok();
        let name = ServerName::try_from(host.to_string())
            .map_err(|_| AcmeError::Local(format!("bad host name {host:?}")))?;
        let tls = ClientConnection::new(self.config.clone(), name)
            .map_err(|e| AcmeError::Io(e.to_string()))?;
        let mut stream = StreamOwned::new(tls, tcp);
        let mut head = format!(
            "{method} {path} HTTP/1.1\r\nHost: {host}:{port}\r\nUser-Agent: reactor-acme\r\n\
             Accept: */*\r\nConnection: close\r\n"
        );
        if let Some((ctype, bytes)) = body {
            head.push_str(&format!(
                "Content-Type: {ctype}\r\nContent-Length: {}\r\n",
                bytes.len()
            ));
        }
        head.push_str("\r\n");
        let io = |e: std::io::Error| AcmeError::Io(format!("{method} {url}: {e}"));
        stream.write_all(head.as_bytes()).map_err(io)?;
        if let Some((_, bytes)) = body {
            stream.write_all(bytes).map_err(io)?;
        }
        stream.flush().map_err(io)?;
        let mut raw = Vec::new();
        read_response(&mut BufReader::new(stream), method == "HEAD", &mut raw)
            .map_err(|e| AcmeError::Io(format!("{method} {url}: {e}")))?;
        parse(&raw)
    }
}

/// Splits `https://host[:port]/path` (only https: ACME requires it).
fn split_url(url: &str) -> Result<(String, u16, String), AcmeError> {
    let bad = || AcmeError::Local(format!("not an https URL: {url:?}"));
    match reactor_handlers::proxy::target::parse_origin_url(url) {
        Ok(t) if t.tls => Ok((t.host, t.port, t.path)),
        _ => Err(bad()),
    }
}

/// Splits what `read_response` copied out (the last head, then the de-framed body).
fn parse(raw: &[u8]) -> Result<HttpResponse, AcmeError> {
    // Interim 1xx heads come first; the final head is the last one before the body.
    let mut rest = raw;
    loop {
        let mut headers = [httparse::EMPTY_HEADER; 64];
        let mut resp = httparse::Response::new(&mut headers);
        let n = match resp.parse(rest) {
            Ok(httparse::Status::Complete(n)) => n,
            _ => return Err(AcmeError::Io("invalid response head".into())),
        };
        let status = resp.code.unwrap_or(0);
        if (100..200).contains(&status) {
            rest = &rest[n..];
            continue;
        }
        let headers = resp
            .headers
            .iter()
            .map(|h| {
                (
                    h.name.to_string(),
                    String::from_utf8_lossy(h.value).into_owned(),
                )
            })
            .collect();
        return Ok(HttpResponse {
            status,
            headers,
            body: rest[n..].to_vec(),
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        assert_eq!(
            split_url("https://ca.test:14000/dir").unwrap(),
            ("ca.test".into(), 14000, "/dir".into())
        );
        assert_eq!(
            split_url("https://ca.test").unwrap(),
            ("ca.test".into(), 443, "/".into())
        );
        assert_eq!(
            split_url("https://[::1]:9/x").unwrap(),
            ("::1".into(), 9, "/x".into())
        );
        assert!(split_url("http://ca.test/").is_err());
        assert!(split_url("https://:1/").is_err());
    }

    #[test]
    fn parses_final_head() {
        let r = parse(b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created\r\nReplay-Nonce: abc\r\nLocation: https://x/1\r\n\r\n{}")
            .unwrap();
        assert_eq!(r.status, 201);
        assert_eq!(r.header("replay-nonce"), Some("abc"));
        assert_eq!(r.body, b"{}");
    }
}
