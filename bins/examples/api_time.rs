//! A router composed with the file handlers: `/api/time` is answered from code,
//! everything else from disk (static files, then directory listings).
//!
//! Run: `cargo run -p reactor-bins --example api_time -- www 127.0.0.1:8080`

use std::time::SystemTime;

use reactor::{Config, Context, Reply, Request, Response, Server};
use reactor_handlers::router::{Params, Router};
use reactor_handlers::{DirectoryListing, FsRoot, StaticFiles};

/// `GET /api/time`: the current time as JSON.
pub fn time(_req: &mut Request, _cx: &mut Context<'_>, _params: &Params<'_>) -> Reply {
    let now = SystemTime::now();
    let unix = now
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let body = format!(
        "{{\"unix\":{unix},\"http_date\":\"{}\"}}\n",
        reactor::date::format_http_date(now)
    );
    Reply::Response(
        Response::bytes(200, "application/json", body.into_bytes())
            .with_header("Cache-Control", "no-store"),
    )
}

/// The composed server: code first, then files, then listings.
pub fn server(root: FsRoot, config: Config) -> Server {
    Server::new(config)
        .handler(Router::new().get("/api/time", time)) // other methods: 405 with Allow
        .handler(StaticFiles::new(root.clone()))
        .handler(DirectoryListing::new(root))
}

#[allow(dead_code)]
fn main() {
    let mut args = std::env::args().skip(1);
    let root = args.next().unwrap_or_else(|| "www".into());
    let bind = args.next().unwrap_or_else(|| "127.0.0.1:8080".into());
    let fail = |msg: String| -> ! {
        eprintln!("api_time: {msg}");
        std::process::exit(2)
    };
    let root = FsRoot::new(&root).unwrap_or_else(|e| fail(e.to_string()));
    let bind = bind
        .parse()
        .unwrap_or_else(|_| fail(format!("not an address: {bind}")));
    match server(
        root,
        Config {
            bind,
            ..Config::default()
        },
    )
    .start()
    {
        Ok(running) => {
            eprintln!("api_time on http://{}/", running.local_addr());
            running.wait();
        }
        Err(e) => fail(e.to_string()),
    }
}
