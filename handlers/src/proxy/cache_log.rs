//! The proxy's own access log: the Combined Log Format fields the proxy knows plus the
//! cache state, one line per proxied request, e.g.
//! `127.0.0.1 - - [21/Nov/2026:06:21:16 +0000] "GET http://h/a HTTP/1.1" 200 6 "-" "curl/8" HIT`.
//! (The core's access log has no slot for the cache state; this one sits next to it.)

use std::io::Write;
use std::time::SystemTime;

use reactor::access_log::{self, Entry, LogSink};
use reactor::Request;

/// Formats one line: the core's Combined Log Format line plus the cache state.
/// `bytes`: the body length when known.
pub fn format_line(
    req: &Request,
    status: u16,
    bytes: Option<u64>,
    state: &str,
    now: SystemTime,
) -> Vec<u8> {
    let mut out = Vec::with_capacity(160);
    let entry = Entry {
        req: Some(req),
        peer: req.peer,
        status,
        body_bytes: bytes.unwrap_or(0),
    };
    access_log::format_line(&mut out, &entry, &reactor::date::http_date_bytes(now));
    out.pop(); // the newline: the state goes before it
    out.push(b' ');
    out.extend_from_slice(state.as_bytes());
    out.push(b'\n');
    out
}

/// Writes one line to `sink` (and to the error log at info level).
pub fn write(sink: Option<&LogSink>, req: &Request, status: u16, bytes: Option<u64>, state: &str) {
    log::info!(
        "{} \"{} {}\" {status} {state}",
        req.peer,
        req.method,
        req.target
    );
    let Some(sink) = sink else {
        return;
    };
    let line = format_line(req, status, bytes, state, SystemTime::now());
    if let Ok(mut w) = sink.lock() {
        if let Err(e) = w.write_all(&line).and_then(|()| w.flush()) {
            log::error!("cache log: {e}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use reactor::parse::{parse_head, Limits};
    use std::time::{Duration, UNIX_EPOCH};

    #[test]
    fn combined_format_plus_state() {
        let raw = b"GET http://h/a\"b HTTP/1.1\r\nHost: h\r\nUser-Agent: curl/8\r\n\r\n";
        let (req, _) = parse_head(raw, &Limits::default(), "10.0.0.1:5".parse().unwrap())
            .unwrap()
            .unwrap();
        let t = UNIX_EPOCH + Duration::from_secs(784111777);
        let line = format_line(&req, 200, Some(6), "HIT", t);
        assert_eq!(
            String::from_utf8(line).unwrap(),
            "10.0.0.1 - - [06/Nov/1994:08:49:37 +0000] \"GET http://h/a\\x22b HTTP/1.1\" 200 6 \"-\" \"curl/8\" HIT\n"
        );
        let line = format_line(&req, 304, Some(0), "REVALIDATED", t);
        assert!(String::from_utf8(line).unwrap().contains("\" 304 - \"-\""));
    }
}
