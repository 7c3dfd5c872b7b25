//! A chat room over WebSocket. `/` serves a page with a little JavaScript, `/ws` is the
//! chat (every text message goes to every connected client, the sender included) and
//! `/echo` echoes each message back unchanged (text as text, binary as binary).
//!
//! Run: `cargo run --release --example chat -- 127.0.0.1:8080`, then open
//! <http://127.0.0.1:8080/> in two browser windows.

use std::sync::{Arc, Mutex};

use reactor::{Config, Reply, Response, Server};
use reactor_handlers::router::Router;
use reactor_handlers::websocket::{self, Message, Outbox, Session, WsHandler};

/// Everyone connected to `/ws`, as outboxes any connection can send through.
#[derive(Clone, Default)]
pub struct Room(Arc<Mutex<Vec<Outbox>>>);

impl Room {
    /// Sends `message` to every member, forgetting those that have gone.
    fn broadcast(&self, message: &Message) {
        if let Ok(mut members) = self.0.lock() {
            members.retain(|m| m.send(message.clone()));
        }
    }
}

/// One chat connection.
struct Member(Room);

impl WsHandler for Member {
    fn open(&mut self, ws: &mut Session<'_>) {
        if let Ok(mut members) = self.0 .0.lock() {
            members.push(ws.outbox());
        }
    }

    fn message(&mut self, message: Message, _ws: &mut Session<'_>) {
        if let Message::Text(_) = message {
            self.0.broadcast(&message);
        }
    }
}

/// One echo connection.
struct Echo;

impl WsHandler for Echo {
    fn message(&mut self, message: Message, ws: &mut Session<'_>) {
        let _ = ws.send(&message);
    }
}

const PAGE: &str = r#"<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>Chat</title>
<style>body{font:16px sans-serif;max-width:40em;margin:2em auto}#log{border:1px solid #ccc;height:20em;overflow-y:auto;padding:.5em}</style>
</head><body><h1>Chat</h1><div id="log"></div>
<form id="f"><input id="msg" autocomplete="off" autofocus size="50"> <button>Send</button></form>
<p id="state">connecting…</p>
<script>
const log = document.getElementById("log"), state = document.getElementById("state");
const ws = new WebSocket((location.protocol === "https:" ? "wss://" : "ws://") + location.host + "/ws");
ws.onopen = () => state.textContent = "connected";
ws.onclose = e => state.textContent = "closed (" + e.code + ")";
ws.onmessage = e => {
  const p = document.createElement("p");
  p.textContent = e.data;
  log.appendChild(p);
  log.scrollTop = log.scrollHeight;
};
document.getElementById("f").onsubmit = e => {
  e.preventDefault();
  const input = document.getElementById("msg");
  if (input.value) { ws.send(input.value); input.value = ""; }
};
</script></body></html>
"#;

/// `/` the page, `/ws` the chat room, `/echo` the echo.
pub fn router(room: Room) -> Router {
    let settings = websocket::Config::default();
    Router::new()
        .get("/", |_req, _cx, _params| {
            Reply::Response(Response::html(200, PAGE))
        })
        .get("/ws", move |req, _cx, _params| {
            let member = Member(room.clone());
            Reply::Response(websocket::upgrade(req, &[], settings, member))
        })
        .get("/echo", move |req, _cx, _params| {
            Reply::Response(websocket::upgrade(req, &[], settings, Echo))
        })
}

#[allow(dead_code)]
fn main() {
    let bind = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:8080".into());
    let Ok(bind) = bind.parse() else {
        eprintln!("chat: not an address: {bind}");
        std::process::exit(2);
    };
    let config = Config {
        bind,
        ..Config::default()
    };
    match Server::new(config).handler(router(Room::default())).start() {
        Ok(running) => {
            eprintln!("chat on http://{}/", running.local_addr());
            running.wait();
        }
        Err(e) => {
            eprintln!("chat: {e}");
            std::process::exit(1);
        }
    }
}
