//! The access log as JSON lines (`--access-log-format json`): the fields of the Combined
//! Log Format plus whether the request came over TLS and its SNI name, one object per
//! response, written by a response filter.

use std::fmt::Write as _;
use std::io::Write as _;
use std::time::SystemTime;

use reactor::access_log::LogSink;
use reactor::{Context, Filter, Request, Response};

/// Writes one JSON line per response to its sink. Add it first, so that its response side
/// runs last and logs the final status. Requests the core refuses while reading them
/// (400, 408, 413, 431) never reach the filters and are not logged here.
pub struct JsonAccessLog(pub LogSink);

/// Appends `s` as a JSON string literal (quoted, escaped).
pub fn push_json(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 || c == '\u{7f}' => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// The JSON line (with its newline) for `req` answered by `resp`.
pub fn json_line(req: &Request, resp: &Response, now: SystemTime) -> String {
    let c = reactor::date::civil(now);
    let bytes = if req.method == "HEAD" || resp.is_bodiless() {
        0
    } else {
        resp.body.len().unwrap_or(0)
    };
    let mut out = String::with_capacity(256);
    out.push_str("{\"remote_addr\":");
    push_json(&mut out, &req.peer.ip().to_string());
    let _ = write!(
        out,
        ",\"time\":\"{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z\",\"method\":",
        c.year, c.month, c.day, c.hour, c.minute, c.second
    );
    push_json(&mut out, &req.method);
    out.push_str(",\"target\":");
    push_json(&mut out, &req.target);
    out.push_str(",\"protocol\":");
    push_json(&mut out, req.version.as_str());
    let _ = write!(out, ",\"tls\":{},\"sni\":", req.is_tls());
    match req.sni() {
        Some(name) => push_json(&mut out, name),
        None => out.push_str("null"),
    }
    let _ = write!(out, ",\"status\":{},\"body_bytes\":{bytes}", resp.status);
    for (key, header) in [("referer", "referer"), ("user_agent", "user-agent")] {
        let _ = write!(out, ",\"{key}\":");
        match req.headers.get_bytes(header) {
            Some(v) => push_json(&mut out, &String::from_utf8_lossy(v)),
            None => out.push_str("null"),
        }
    }
    out.push_str("}\n");
    out
}

impl Filter for JsonAccessLog {
    fn response(&self, req: &Request, resp: &mut Response, _cx: &mut Context<'_>) {
        let line = json_line(req, resp, SystemTime::now());
        if let Ok(mut sink) = self.0.lock() {
            let _ = sink.write_all(line.as_bytes());
        }
    }
}
