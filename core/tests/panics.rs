//! Plugins are third-party code: a panic in any of them costs its own request, socket or
//! stream; a reactor that dies anyway stops the server with a failure status.

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use reactor::testing::{serve, Client};
use reactor::{Body, Config, Context, Handler, Ready, Reply, Request, Response, Server};
use reactor::{SocketHandler, StopHandle};

/// `/socket`: registers a socket whose handler panics; `/task`: runs a panicking closure
/// on the reactor; `/stream`: a stream whose resume hook panics; anything else: 200.
struct Faulty;

struct Bomb(mio::net::TcpStream, Option<reactor::Responder>);

impl SocketHandler for Bomb {
    fn source(&mut self) -> &mut dyn mio::event::Source {
        &mut self.0
    }
    fn ready(&mut self, _: Ready, _: &mut Context<'_>) -> bool {
        if let Some(r) = self.1.take() {
            r.send(Response::text(200, "about to panic"));
        }
        panic!("socket handler bug");
    }
}

impl Handler for Faulty {
    fn handle(&self, req: &mut Request, cx: &mut Context<'_>) -> Reply {
        match req.path() {
            "/socket" => {
                let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
                let s = mio::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
                let bomb = Bomb(s, Some(cx.responder()));
                cx.register(Box::new(bomb), mio::Interest::WRITABLE)
                    .unwrap();
                std::mem::forget(listener);
                Reply::Later
            }
            "/task" => {
                cx.handle().run(|_| panic!("task bug"));
                Reply::Response(Response::text(200, "task queued"))
            }
            "/stream" => {
                let (body, tx) = Body::stream(None);
                tx.on_resume(|| panic!("resume hook bug"));
                std::thread::spawn(move || {
                    // Over the high-water mark, so the hook is armed and then called.
                    // A burst over the high-water mark: paused, then resumed as it drains.
                    for _ in 0..100 {
                        if tx.send(vec![b'x'; 64 * 1024]).is_err() {
                            return;
                        }
                    }
                    tx.finish();
                });
                Reply::Response(Response::new(200).with_body(body))
            }
            _ => Reply::Response(Response::text(200, "ok")),
        }
    }
}

#[test]
fn panicking_socket_handlers_tasks_and_stream_hooks_cost_only_themselves() {
    let s = serve(Server::new(Config::default()).handler(Faulty));
    let mut c = Client::connect(s.local_addr());
    assert_eq!(c.get("/socket").status, 200);
    assert_eq!(c.get("/task").status, 200);
    assert_eq!(c.get("/").status, 200, "the same connection goes on");
    let start = std::time::Instant::now();
    let mut streamed = Client::connect(s.local_addr());
    streamed.send(b"GET /stream HTTP/1.1\r\nHost: t\r\n\r\n");
    // The stream is aborted at the panic: the connection closes before the body ends.
    let got = streamed.read_to_end();
    let text = String::from_utf8_lossy(&got[..got.len().min(200)]).into_owned();
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
    assert!(
        !got.ends_with(b"0\r\n\r\n"),
        "no clean end of the chunked body"
    );
    println!(
        "stream aborted after {} bytes, {:?}",
        got.len(),
        start.elapsed()
    );
    for _ in 0..3 {
        assert_eq!(Client::connect(s.local_addr()).get("/").status, 200);
    }
}

/// An access-log sink that panics: user code on the reactor outside every plugin guard.
struct PanickingLog;

impl Write for PanickingLog {
    fn write(&mut self, _: &[u8]) -> std::io::Result<usize> {
        panic!("log sink bug")
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[test]
fn a_dead_reactor_stops_the_server_with_a_failure() {
    let sink: reactor::access_log::LogSink = Arc::new(Mutex::new(Box::new(PanickingLog)));
    let config = Config {
        workers: 2,
        access_log: Some(sink),
        ..Config::default()
    };
    let s = serve(Server::new(config).handler(Faulty));
    let stop: StopHandle = s.stop_handle();
    let mut c = Client::connect(s.local_addr());
    c.send(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n");
    let waiter = std::thread::spawn(move || s.wait());
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || tx.send(waiter.join().unwrap()));
    let ok = rx.recv_timeout(Duration::from_secs(10));
    if ok.is_err() {
        stop.force();
    }
    assert_eq!(ok, Ok(false), "wait() reports the dead reactor");
}
