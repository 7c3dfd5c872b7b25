//! Prometheus metrics: a filter that counts and times every request that reaches the
//! filters, and a handler that serves the text exposition format at a path.
//!
//! Exposed: `reactor_http_requests_total{code}` (counter), `reactor_http_request_duration_seconds`
//! (histogram, from the request filter to the response filter: the time the server took
//! to produce the answer, before it is written), `reactor_http_response_bytes_total`
//! (counter of body bytes written, from the core's counters) and
//! `reactor_connections_active` (gauge). Requests the core refuses while reading them
//! (400, 408, 413, 431) never reach the filters and are not counted here.

use std::cell::RefCell;
use std::collections::HashMap;
use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use reactor::{Context, Filter, Handler, Reply, Request, Response, Stats};

/// Upper bounds of the duration histogram's buckets, in seconds.
pub const BUCKETS: [f64; 14] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// The counters behind the exposition.
pub struct Metrics {
    by_code: Vec<AtomicU64>,
    buckets: [AtomicU64; BUCKETS.len()],
    count: AtomicU64,
    sum_micros: AtomicU64,
    stats: Arc<Stats>,
}

thread_local! {
    /// When each request in flight on this reactor thread reached the filters, by the
    /// request's address (stable while the core holds it).
    static STARTED: RefCell<HashMap<usize, Instant>> = RefCell::new(HashMap::new());
}

/// Most requests timed at once per thread; past it the table is cleared (requests whose
/// connection closed before an answer leave entries behind).
const MAX_IN_FLIGHT: usize = 100_000;

impl Metrics {
    /// Counters reading connection and byte totals from the server's `stats`.
    pub fn new(stats: Arc<Stats>) -> Arc<Metrics> {
        Arc::new(Metrics {
            by_code: (0..600).map(|_| AtomicU64::new(0)).collect(),
            buckets: Default::default(),
            count: AtomicU64::new(0),
            sum_micros: AtomicU64::new(0),
            stats,
        })
    }

    /// Counts one answer with `status` that took `seconds`.
    pub fn observe(&self, status: u16, seconds: f64) {
        if let Some(c) = self.by_code.get(usize::from(status)) {
            c.fetch_add(1, Ordering::Relaxed);
        }
        for (b, bound) in self.buckets.iter().zip(BUCKETS) {
            if seconds <= bound {
                b.fetch_add(1, Ordering::Relaxed);
            }
        }
        self.count.fetch_add(1, Ordering::Relaxed);
        self.sum_micros
            .fetch_add((seconds * 1e6) as u64, Ordering::Relaxed);
    }

    /// The text exposition format (version 0.0.4).
    pub fn render(&self) -> String {
        let mut out = String::with_capacity(2048);
        out.push_str(
            "# HELP reactor_http_requests_total HTTP requests answered, by status code.\n",
        );
        out.push_str("# TYPE reactor_http_requests_total counter\n");
        for (code, c) in self.by_code.iter().enumerate() {
            let n = c.load(Ordering::Relaxed);
            if n > 0 {
                let _ = writeln!(out, "reactor_http_requests_total{{code=\"{code}\"}} {n}");
            }
        }
        out.push_str("# HELP reactor_http_request_duration_seconds Time to produce an answer.\n");
        out.push_str("# TYPE reactor_http_request_duration_seconds histogram\n");
        for (b, bound) in self.buckets.iter().zip(BUCKETS) {
            let _ = writeln!(
                out,
                "reactor_http_request_duration_seconds_bucket{{le=\"{bound}\"}} {}",
                b.load(Ordering::Relaxed)
            );
        }
        let count = self.count.load(Ordering::Relaxed);
        let _ = writeln!(
            out,
            "reactor_http_request_duration_seconds_bucket{{le=\"+Inf\"}} {count}"
        );
        let sum = self.sum_micros.load(Ordering::Relaxed) as f64 / 1e6;
        let _ = writeln!(out, "reactor_http_request_duration_seconds_sum {sum}");
        let _ = writeln!(out, "reactor_http_request_duration_seconds_count {count}");
        let snap = self.stats.snapshot();
        out.push_str("# HELP reactor_http_response_bytes_total Response body bytes written.\n");
        out.push_str("# TYPE reactor_http_response_bytes_total counter\n");
        let _ = writeln!(out, "reactor_http_response_bytes_total {}", snap.bytes_sent);
        out.push_str("# HELP reactor_connections_active Open client connections.\n");
        out.push_str("# TYPE reactor_connections_active gauge\n");
        let _ = writeln!(
            out,
            "reactor_connections_active {}",
            snap.active_connections
        );
        out
    }
}

/// The filter that times and counts requests. Add it first, so that its response side
/// runs last and sees the final status.
pub struct MetricsFilter(pub Arc<Metrics>);

impl Filter for MetricsFilter {
    fn request(&self, req: &mut Request, _cx: &mut Context<'_>) -> Reply {
        let key = std::ptr::from_ref(req) as usize;
        STARTED.with(|s| {
            let mut s = s.borrow_mut();
            if s.len() >= MAX_IN_FLIGHT {
                s.clear();
            }
            s.insert(key, Instant::now());
        });
        Reply::Decline
    }

    fn response(&self, req: &Request, resp: &mut Response, _cx: &mut Context<'_>) {
        let key = std::ptr::from_ref(req) as usize;
        let started = STARTED.with(|s| s.borrow_mut().remove(&key));
        let seconds = started.map_or(0.0, |t| t.elapsed().as_secs_f64());
        self.0.observe(resp.status, seconds);
    }
}

/// Serves [`Metrics::render`] at a path.
pub struct MetricsPage {
    path: String,
    metrics: Arc<Metrics>,
}

impl MetricsPage {
    /// The exposition of `metrics` at `path` (e.g. `/metrics`).
    pub fn new(path: impl Into<String>, metrics: Arc<Metrics>) -> MetricsPage {
        MetricsPage {
            path: path.into(),
            metrics,
        }
    }
}

impl Handler for MetricsPage {
    fn handle(&self, req: &mut Request, _cx: &mut Context<'_>) -> Reply {
        if req.path() != self.path {
            return Reply::Decline;
        }
        if let Some(reply) = crate::read_only(req) {
            return reply;
        }
        Reply::Response(
            Response::bytes(
                200,
                "text/plain; version=0.0.4; charset=utf-8",
                self.metrics.render().into_bytes(),
            )
            .with_header("Cache-Control", "no-store"),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_cumulative() {
        let m = Metrics::new(Arc::new(Stats::default()));
        m.observe(200, 0.0001);
        m.observe(200, 0.03);
        m.observe(404, 20.0);
        let text = m.render();
        assert!(text.contains("reactor_http_requests_total{code=\"200\"} 2\n"));
        assert!(text.contains("reactor_http_requests_total{code=\"404\"} 1\n"));
        assert!(text.contains("_bucket{le=\"0.0005\"} 1\n"));
        assert!(text.contains("_bucket{le=\"0.05\"} 2\n"));
        assert!(text.contains("_bucket{le=\"10\"} 2\n"));
        assert!(text.contains("_bucket{le=\"+Inf\"} 3\n"));
        assert!(text.contains("_count 3\n"));
    }
}
