//! The status page: live counters as an HTML page that refreshes itself, or as JSON.

use std::sync::Arc;

use reactor::response::escape_html;
use reactor::{Context, Handler, Reply, Request, Response, Stats};

use crate::json_log::push_json;

/// Rows a program adds to the status page (e.g. what its ACME client is doing), read
/// afresh on every request: (name, state) pairs.
pub type StatusRows = Arc<dyn Fn() -> Vec<(String, String)> + Send + Sync>;

/// Answers one path (e.g. `/server-status`) with the server's counters. JSON with
/// `?format=json` or `Accept: application/json`.
pub struct StatusPage {
    path: String,
    stats: Arc<Stats>,
    sections: Vec<(String, StatusRows)>,
}

impl StatusPage {
    /// Serves `stats` at `path`.
    pub fn new(path: impl Into<String>, stats: Arc<Stats>) -> Self {
        StatusPage {
            path: path.into(),
            stats,
            sections: Vec::new(),
        }
    }

    /// Adds a section titled `title` (a table in HTML, an object in JSON) with `rows`.
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use reactor_handlers::StatusPage;
    /// let stats = Arc::new(reactor::Stats::default());
    /// let page = StatusPage::new("/status", stats)
    ///     .with_section("Jobs", Arc::new(|| vec![("backup".into(), "idle".into())]));
    /// # let _ = page;
    /// ```
    pub fn with_section(mut self, title: impl Into<String>, rows: StatusRows) -> Self {
        self.sections.push((title.into(), rows));
        self
    }

    /// The sections as a JSON member list: `,"Title":{"name":"state",…}…`.
    fn json_sections(&self) -> String {
        let mut out = String::new();
        for (title, rows) in &self.sections {
            out.push(',');
            push_json(&mut out, title);
            out.push_str(":{");
            for (i, (name, state)) in rows().iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                push_json(&mut out, name);
                out.push(':');
                push_json(&mut out, state);
            }
            out.push('}');
        }
        out
    }

    /// The sections as HTML tables.
    fn html_sections(&self) -> String {
        let mut out = String::new();
        for (title, rows) in &self.sections {
            out.push_str(&format!("<h2>{}</h2><table>", escape_html(title)));
            for (name, state) in rows() {
                out.push_str(&format!(
                    "<tr><th>{}</th><td>{}</td></tr>",
                    escape_html(&name),
                    escape_html(&state)
                ));
            }
            out.push_str("</table>");
        }
        out
    }
}

impl Handler for StatusPage {
    fn handle(&self, req: &mut Request, _cx: &mut Context<'_>) -> Reply {
        if req.path() != self.path {
            return Reply::Decline;
        }
        if let Some(reply) = crate::read_only(req) {
            return reply;
        }
        let s = self.stats.snapshot();
        let json = req
            .query()
            .is_some_and(|q| q.split('&').any(|p| p == "format=json"))
            || req
                .header("accept")
                .is_some_and(|a| a.contains("application/json"));
        let [c1, c2, c3, c4, c5] = s.by_class;
        let response = if json {
            Response::bytes(
                200,
                "application/json",
                format!(
                    "{{\"uptime_seconds\":{},\"active_connections\":{},\"accepted_connections\":{},\
                     \"requests\":{},\"responses\":{{\"1xx\":{c1},\"2xx\":{c2},\"3xx\":{c3},\
                     \"4xx\":{c4},\"5xx\":{c5}}},\"bytes_sent\":{},\"http2_connections\":{},\
                     \"http2_streams\":{}{}}}\n",
                    s.uptime.as_secs(),
                    s.active_connections,
                    s.accepted,
                    s.requests,
                    s.bytes_sent,
                    s.http2_connections,
                    s.http2_streams,
                    self.json_sections()
                )
                .into_bytes(),
            )
        } else {
            let secs = s.uptime.as_secs();
            let uptime = format!(
                "{}d {:02}:{:02}:{:02}",
                secs / 86400,
                secs / 3600 % 24,
                secs / 60 % 60,
                secs % 60
            );
            Response::html(
                200,
                format!(
                    "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\">\
                     <meta http-equiv=\"refresh\" content=\"5\"><title>Server status</title>\
                     <style>body{{font-family:system-ui,sans-serif;margin:2em}}\
                     table{{border-collapse:collapse}}td,th{{padding:.3em 1em;border-bottom:1px solid #ddd;text-align:left}}\
                     td{{font-variant-numeric:tabular-nums}}</style></head><body>\
                     <h1>Server status</h1><table>\
                     <tr><th>Uptime</th><td>{uptime}</td></tr>\
                     <tr><th>Active connections</th><td>{}</td></tr>\
                     <tr><th>Accepted connections</th><td>{}</td></tr>\
                     <tr><th>Requests served</th><td>{}</td></tr>\
                     <tr><th>1xx</th><td>{c1}</td></tr><tr><th>2xx</th><td>{c2}</td></tr>\
                     <tr><th>3xx</th><td>{c3}</td></tr><tr><th>4xx</th><td>{c4}</td></tr>\
                     <tr><th>5xx</th><td>{c5}</td></tr>\
                     <tr><th>Body bytes sent</th><td>{}</td></tr>\
                     <tr><th>HTTP/2 connections</th><td>{}</td></tr>\
                     <tr><th>HTTP/2 streams</th><td>{}</td></tr></table>{}\
                     <p>Refreshes every 5 seconds. <a href=\"?format=json\">JSON</a></p></body></html>\n",
                    s.active_connections,
                    s.accepted,
                    s.requests,
                    s.bytes_sent,
                    s.http2_connections,
                    s.http2_streams,
                    self.html_sections()
                ),
            )
        };
        Reply::Response(response.with_header("Cache-Control", "no-store"))
    }
}
