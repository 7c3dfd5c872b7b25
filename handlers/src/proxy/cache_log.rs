//! The proxy's own access log: the Combined Log Format fields the proxy knows plus the
//! cache state, one line per proxied request, e.g.
//! `127.0.0.1 - - [21/Nov/2026:06:21:16 +0000] "GET http://h/a HTTP/1.1" 200 6 "-" "curl/8" HIT`.
//! (The core's access log has no slot for the cache state; this one sits next to it.)

use std::io::Write;
use std::time::SystemTime;

use reactor::access_log::LogSink;
use reactor::Request;

/// Formats one line. `bytes`: the body length when known.
pub fn format_line(
    req: &Request,
    status: u16,
    bytes: Option<u64>,
    state: &str,
    now: SystemTime,
) -> Vec<u8> {
    let date = reactor::date::http_date_bytes(now);
    let mut out = Vec::with_capacity(160);
    let _ = write!(out, "{} - - [", req.peer.ip());
    out.extend_from_slice(&date[5..7]);
    out.push(b'/');
    out.extend_from_slice(&date[8..11]);
    out.push(b'/');
    out.extend_from_slice(&date[12..16]);
    out.push(b':');
    out.extend_from_slice(&date[17..25]);
    out.extend_from_slice(b" +0000] \"");
    escaped(&mut out, req.method.as_bytes());
    out.push(b' ');
    escaped(&mut out, req.target.as_bytes());
    let _ = write!(out, " {}\" {status} ", req.version.as_str());
    match bytes {
        Some(n) if n > 0 => {
            let _ = write!(out, "{n}");
        }
        _ => out.push(b'-'),
    }
    for name in ["referer", "user-agent"] {
        out.extend_from_slice(b" \"");
        match req.headers.get_bytes(name) {
            Some(v) => escaped(&mut out, v),
            None => out.push(b'-'),
        }
        out.push(b'"');
    }
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

fn escaped(out: &mut Vec<u8>, s: &[u8]) {
    for &b in s {
        if b == b'"' || b == b'\\' || !(0x20..0x7f).contains(&b) {
            let _ = write!(out, "\\x{b:02X}");
        } else {
            out.push(b);
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
