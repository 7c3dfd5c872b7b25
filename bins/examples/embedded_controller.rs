//! The "embedded controller" site as a custom handler: three pages that show how many
//! requests were answered with 200 and with 400 since start, a 404 page for anything
//! else, and 400 for any method but GET. Every response closes the connection.
//!
//! Run: `cargo run -p reactor-bins --example embedded_controller -- 127.0.0.1:8080`

use std::sync::atomic::{AtomicU64, Ordering};

use reactor::{Config, Context, Handler, Reply, Request, Response, Server};

/// Counts answers by status and renders the controller's pages.
#[derive(Default)]
pub struct Controller {
    ok: AtomicU64,
    bad: AtomicU64,
}

impl Controller {
    fn page(&self, status: u16, title: &str, text: &str) -> Response {
        match status {
            200 => self.ok.fetch_add(1, Ordering::Relaxed),
            400 => self.bad.fetch_add(1, Ordering::Relaxed),
            _ => 0,
        };
        let html = format!(
            "<!DOCTYPE html>\n<html><head><title>{title}</title></head><body>\
             <h1>{title}</h1><p>{text}</p>\
             <p>Requests answered since start: {} with 200, {} with 400.</p>\
             <p><a href=\"/\">home</a> <a href=\"/page2\">page 2</a> <a href=\"/page3\">page 3</a></p>\
             </body></html>\n",
            self.ok.load(Ordering::Relaxed),
            self.bad.load(Ordering::Relaxed),
        );
        Response::bytes(status, "text/html", html.into_bytes())
            .with_header("Server", "embedded-controller")
            .with_header("Connection", "close")
    }
}

impl Handler for Controller {
    fn handle(&self, req: &mut Request, _cx: &mut Context<'_>) -> Reply {
        let r = if req.method != "GET" {
            self.page(
                400,
                "400 Bad Request",
                "This controller only understands GET.",
            )
        } else {
            match req.path() {
                "/" => self.page(200, "Controller", "Welcome to the controller."),
                "/page2" => self.page(200, "Page 2", "The second page."),
                "/page3" => self.page(200, "Page 3", "The third page."),
                _ => self.page(
                    404,
                    "404 Not Found",
                    "There is no such page here: try /, /page2 or /page3.",
                ),
            }
        };
        Reply::Response(r)
    }
}

#[allow(dead_code)]
fn main() {
    let bind = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:8080".into());
    let Ok(bind) = bind.parse() else {
        eprintln!("embedded_controller: not an address: {bind}");
        std::process::exit(2);
    };
    let config = Config {
        bind,
        ..Config::default()
    };
    match Server::new(config).handler(Controller::default()).start() {
        Ok(running) => {
            eprintln!("embedded controller on http://{}/", running.local_addr());
            running.wait();
        }
        Err(e) => {
            eprintln!("embedded_controller: {e}");
            std::process::exit(1);
        }
    }
}
