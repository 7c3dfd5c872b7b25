//! The plugin examples in `bins/examples/`, served over real sockets (the chat page also in
//! headless Chromium).

#[path = "../examples/api_time.rs"]
mod api_time;
#[path = "../examples/chat.rs"]
mod chat;
#[path = "../examples/embedded_controller.rs"]
mod embedded_controller;
#[path = "../examples/form.rs"]
mod form;

mod common;

use common::python;

use reactor::testing::{serve, Client};
use reactor::{Config, Server};

#[test]
fn embedded_controller_counts_and_closes() {
    let s =
        serve(Server::new(Config::default()).handler(embedded_controller::Controller::default()));
    let fetch = |raw: &str| {
        let mut c = Client::connect(s.local_addr());
        c.send(raw.as_bytes());
        let r = c.response(false).unwrap();
        assert!(
            c.read_to_end().is_empty(),
            "connection closed after the response"
        );
        r
    };
    let r = fetch("GET / HTTP/1.1\r\nHost: c\r\n\r\n");
    assert_eq!(r.status, 200);
    assert_eq!(r.header("server"), Some("embedded-controller"));
    assert_eq!(r.header("content-type"), Some("text/html"));
    assert_eq!(r.header("connection"), Some("close"));
    assert_eq!(
        r.header("content-length").unwrap(),
        r.body.len().to_string()
    );
    assert!(r.text().contains("1 with 200, 0 with 400"), "{}", r.text());
    let r = fetch("POST /page2 HTTP/1.1\r\nHost: c\r\nContent-Length: 0\r\n\r\n");
    assert_eq!(r.status, 400);
    let r = fetch("GET /page3 HTTP/1.1\r\nHost: c\r\n\r\n");
    assert!(r.text().contains("2 with 200, 1 with 400"), "{}", r.text());
    let r = fetch("GET /elsewhere HTTP/1.1\r\nHost: c\r\n\r\n");
    assert_eq!(r.status, 404);
    assert!(r.text().contains("There is no such page here"));
    assert_eq!(fetch("GET /page2 HTTP/1.0\r\n\r\n").status, 200);
}

#[test]
fn form_echoes_posted_fields_escaped() {
    let s = serve(Server::new(Config::default()).handler(form::router()));
    let mut c = Client::connect(s.local_addr());
    assert!(c.get("/").text().contains("<form method=\"post\""));
    let body = "name=Ann+Lee&message=%3Cb%3Ehi%3C%2Fb%3E+%26+bye";
    c.send(
        format!(
            "POST / HTTP/1.1\r\nHost: f\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        )
        .as_bytes(),
    );
    let r = c.response(false).unwrap();
    assert_eq!(r.status, 200);
    let html = r.text();
    assert!(html.contains("<th>name</th><td>Ann Lee</td>"), "{html}");
    assert!(
        html.contains("<td>&lt;b&gt;hi&lt;/b&gt; &amp; bye</td>"),
        "{html}"
    );
    c.send(b"POST / HTTP/1.1\r\nHost: f\r\nContent-Type: text/plain\r\nContent-Length: 1\r\n\r\nx");
    assert_eq!(c.response(false).unwrap().status, 415);
    c.send(b"DELETE / HTTP/1.1\r\nHost: f\r\n\r\n");
    let r = c.response(false).unwrap();
    assert_eq!(r.status, 405);
    assert_eq!(r.header("allow"), Some("GET, HEAD, POST, OPTIONS"));
    c.send(b"OPTIONS / HTTP/1.1\r\nHost: f\r\n\r\n");
    let r = c.response(false).unwrap();
    assert_eq!(
        (r.status, r.header("allow")),
        (204, Some("GET, HEAD, POST, OPTIONS"))
    );
    assert_eq!(
        c.get("/other").status,
        404,
        "the router declines other paths"
    );
    assert_eq!(
        form::parse_urlencoded(b"a=%zz&b=%4"),
        vec![("a".into(), "%zz".into()), ("b".into(), "%4".into())]
    );
}

#[test]
fn api_time_composed_with_static_files() {
    let dir = std::env::temp_dir().join(format!("reactor-api-time-{}", std::process::id()));
    std::fs::create_dir_all(dir.join("d")).unwrap();
    std::fs::write(dir.join("page.txt"), "from disk").unwrap();
    let root = reactor_handlers::FsRoot::new(&dir).unwrap();
    let s = serve(api_time::server(root, Config::default()));
    let mut c = Client::connect(s.local_addr());
    let r = c.get("/api/time");
    assert_eq!(r.header("content-type"), Some("application/json"));
    assert!(r.text().starts_with("{\"unix\":"), "{}", r.text());
    assert_eq!(c.get("/page.txt").text(), "from disk");
    assert!(c.get("/d/").text().contains("Index of /d/"));
    c.send(b"POST /api/time HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\n\r\n");
    let r = c.response(false).unwrap();
    assert_eq!(
        (r.status, r.header("allow")),
        (405, Some("GET, HEAD, OPTIONS"))
    );
    c.send(b"HEAD /api/time HTTP/1.1\r\nHost: t\r\n\r\n");
    let r = c.response(true).unwrap();
    assert_eq!(
        (r.status, r.header("content-type")),
        (200, Some("application/json"))
    );
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn chat_echo_against_python_websockets() {
    let s = serve(Server::new(Config::default()).handler(chat::router(chat::Room::default())));
    let url = format!("ws://{}/echo", s.local_addr());
    let out = python("../../handlers/tests/ws_peer.py", &[&url]);
    for check in [
        "text",
        "binary-1MiB",
        "fragmented-text",
        "ping-pong",
        "close-code",
        "invalid-utf8-1007",
        "oversized-1009",
        "unmasked-1002",
    ] {
        assert!(
            out.lines().any(|l| l == format!("ok {check}")),
            "{check}: {out}"
        );
    }
    assert!(out.ends_with("done\n"), "{out}");
}

#[test]
fn chat_room_broadcasts_to_everyone() {
    let s = serve(Server::new(Config::default()).handler(chat::router(chat::Room::default())));
    let mut c = Client::connect(s.local_addr());
    let page = c.get("/");
    assert!(page.text().contains("new WebSocket("), "{}", page.text());
    c.send(b"GET /ws HTTP/1.1\r\nHost: c\r\n\r\n");
    let r = c.response(false).unwrap();
    assert_eq!(r.status, 400, "a plain GET of the chat is refused");
    let out = python("chat_peers.py", &[&format!("ws://{}/ws", s.local_addr())]);
    assert_eq!(out, "ok broadcast\nok binary-ignored\nok after-leave\n");
}

#[test]
fn chat_page_works_in_headless_chromium() {
    let s = serve(Server::new(Config::default()).handler(chat::router(chat::Room::default())));
    let out = python("chat_browser.py", &[&format!("http://{}/", s.local_addr())]);
    assert_eq!(out, "ok connected\nok received\n");
}
