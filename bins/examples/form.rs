//! A form handler: `GET /` shows a form, `POST /` with an urlencoded body answers with
//! what was posted (HTML-escaped).
//!
//! Run: `cargo run -p reactor-bins --example form -- 127.0.0.1:8080`

use reactor::response::escape_html;
use reactor::{Config, Context, Reply, Request, Response, Server};
use reactor_handlers::router::{Params, Router};

const FORM: &str = "<!DOCTYPE html>\n<html><head><title>Form</title></head><body>\
<form method=\"post\" action=\"/\"><label>Name <input name=\"name\"></label> \
<label>Message <input name=\"message\"></label> <button>Send</button></form></body></html>\n";

/// `GET /` shows the form, `POST /` echoes it; other methods on `/` get 405 with `Allow`.
pub fn router() -> Router {
    Router::new()
        .get("/", |_req, _cx, _params| {
            Reply::Response(Response::html(200, FORM))
        })
        .post("/", posted)
}

/// `POST /`: the urlencoded fields as an HTML table.
fn posted(req: &mut Request, _cx: &mut Context<'_>, _params: &Params<'_>) -> Reply {
    let urlencoded = req.header("content-type").is_some_and(|t| {
        t.split(';').next().map(str::trim) == Some("application/x-www-form-urlencoded")
    });
    if !urlencoded {
        return Reply::Response(Response::error_with(
            415,
            "Send the form as application/x-www-form-urlencoded.",
        ));
    }
    let rows: String = parse_urlencoded(&req.body)
        .iter()
        .map(|(k, v)| {
            format!(
                "<tr><th>{}</th><td>{}</td></tr>",
                escape_html(k),
                escape_html(v)
            )
        })
        .collect();
    Reply::Response(Response::html(
        200,
        format!(
            "<!DOCTYPE html>\n<html><head><title>Posted</title></head><body>\
             <h1>You posted</h1><table>{rows}</table></body></html>\n"
        ),
    ))
}

/// Decodes `a=1&b=x+y%21` into pairs (`+` is a space; bad escapes are kept as written).
pub fn parse_urlencoded(body: &[u8]) -> Vec<(String, String)> {
    body.split(|&b| b == b'&')
        .filter(|p| !p.is_empty())
        .map(|pair| {
            let mut kv = pair.splitn(2, |&b| b == b'=');
            let k = decode(kv.next().unwrap_or_default());
            let v = decode(kv.next().unwrap_or_default());
            (k, v)
        })
        .collect()
}

fn decode(s: &[u8]) -> String {
    let mut out = Vec::with_capacity(s.len());
    let mut i = 0;
    while i < s.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        match s[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < s.len() => match (hex(s[i + 1]), hex(s[i + 2])) {
                (Some(h), Some(l)) => {
                    out.push((h * 16 + l) as u8);
                    i += 2;
                }
                _ => out.push(b'%'),
            },
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[allow(dead_code)]
fn main() {
    let bind = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:8080".into());
    let Ok(bind) = bind.parse() else {
        eprintln!("form: not an address: {bind}");
        std::process::exit(2);
    };
    match Server::new(Config {
        bind,
        ..Config::default()
    })
    .handler(router())
    .start()
    {
        Ok(running) => {
            eprintln!("form on http://{}/", running.local_addr());
            running.wait();
        }
        Err(e) => {
            eprintln!("form: {e}");
            std::process::exit(1);
        }
    }
}
