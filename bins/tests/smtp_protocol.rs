//! More of the protocol (issue 15 §4) against aiosmtpd: PIPELINING (the
//! commands arrive batched, seen through a proxy on 127.0.0.1 that adds
//! 25 ms each way), DSN, SMTPUTF8 and IDNA, and `Client::send_all`.

mod common;
#[path = "smtp/support.rs"]
mod support;

use std::fs;
use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use reactor_bins::smtp::{Client, Config, Credentials, Mail, Message, Payload, Stage, TlsMode};
use support::*;

/// What the client sent, one entry per read on the proxy.
type Flights = Arc<Mutex<Vec<Vec<u8>>>>;

/// A TCP proxy to `target` for one connection, delaying every chunk by
/// `delay` in each direction. Returns its address and the client's flights.
fn latency_proxy(target: String, delay: Duration) -> (String, Flights) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let flights: Flights = Arc::default();
    let record = flights.clone();
    thread::spawn(move || {
        let Ok((client, _)) = listener.accept() else {
            return;
        };
        let server = TcpStream::connect(target).unwrap();
        let pipe = |mut from: TcpStream, mut to: TcpStream, log: Option<Flights>| {
            thread::spawn(move || {
                let mut buf = [0u8; 65536];
                while let Ok(n @ 1..) = from.read(&mut buf) {
                    if let Some(log) = &log {
                        log.lock().unwrap().push(buf[..n].to_vec());
                    }
                    thread::sleep(delay);
                    if to.write_all(&buf[..n]).is_err() {
                        break;
                    }
                }
                let _ = to.shutdown(Shutdown::Write);
            })
        };
        let up = pipe(
            client.try_clone().unwrap(),
            server.try_clone().unwrap(),
            Some(record),
        );
        let down = pipe(server, client, None);
        let _ = up.join();
        let _ = down.join();
    });
    (addr, flights)
}

/// smtp-send flags for a plain-text login to `server`, sending to `to`.
fn plain_args<'a>(server: &'a str, to: &[&'a str], extra: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec![
        "--server",
        server,
        "--tls",
        "none",
        "--allow-plaintext-auth",
    ];
    args.extend([
        "--user",
        "tester",
        "--from",
        "me@example.com",
        "--subject",
        "s",
    ]);
    args.extend(["--text", "t"]);
    for addr in to {
        args.extend(["--to", addr]);
    }
    args.extend_from_slice(extra);
    args
}

const THREE: [&str; 3] = ["a@x.org", "b@x.org", "c@x.org"];

fn send_args<'a>(server: &'a str, extra: &[&'a str]) -> Vec<&'a str> {
    plain_args(server, &THREE, extra)
}

/// Sends a 3-recipient message through the latency proxy; returns the
/// client's flights and the wall time.
fn through_proxy(server: &Server, extra: &[&str]) -> (Vec<String>, Duration) {
    let (proxy, flights) = latency_proxy(server.addr(), Duration::from_millis(25));
    let start = Instant::now();
    let out = smtp_send(&send_args(&proxy, extra), Some(PASSWORD));
    let elapsed = start.elapsed();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let flights = flights.lock().unwrap();
    let text = flights
        .iter()
        .map(|f| String::from_utf8_lossy(f).into_owned())
        .collect();
    (text, elapsed)
}

#[test]
fn pipelining_batches_mail_rcpt_and_data() {
    let dir = scratch();
    let (cert, key) = self_signed(&dir, "s", "DNS:localhost");
    let server = Server::start_with("plain", &dir, &cert, &key, &["--caps", "PIPELINING"]);

    let (flights, batched_time) = through_proxy(&server, &[]);
    let envelope: Vec<&String> = flights.iter().filter(|f| f.contains("MAIL FROM")).collect();
    assert_eq!(envelope.len(), 1);
    let batch = envelope[0];
    assert_eq!(batch.matches("RCPT TO:").count(), 3, "{batch:?}");
    assert!(batch.starts_with("MAIL FROM:<me@example.com>") && batch.ends_with("DATA\r\n"));

    let (single, single_time) = through_proxy(&server, &["--no-pipelining"]);
    assert!(single
        .iter()
        .all(|f| f.matches("\r\n").count() == 1 || f.contains("Subject")));
    // Round trips: a flight of commands, then waiting for their replies.
    eprintln!(
        "3 recipients, 25 ms each way: pipelined {} flights in {batched_time:?}, \
         one at a time {} flights in {single_time:?}",
        flights.len(),
        single.len()
    );
    assert!(single.len() >= flights.len() + 3);
    assert_eq!(fs::read_dir(dir.join("out")).unwrap().count(), 2 * 3 + 1);
}

#[test]
fn dsn_parameters_when_offered_and_only_then() {
    let dir = scratch();
    let (cert, key) = self_signed(&dir, "s", "DNS:localhost");
    let server = Server::start_with("plain", &dir, &cert, &key, &["--caps", "PIPELINING,DSN"]);
    let addr = server.addr();
    let dsn = ["--dsn-notify", "success,failure", "--dsn-return", "headers"];
    let out = smtp_send(&send_args(&addr, &dsn), Some(PASSWORD));
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let log = fs::read_to_string(dir.join("out/dsn.log")).unwrap();
    assert_eq!(
        log,
        "MAIL RET=HDRS\nRCPT NOTIFY=SUCCESS,FAILURE\nRCPT NOTIFY=SUCCESS,FAILURE\n\
         RCPT NOTIFY=SUCCESS,FAILURE\n"
    );
    let out = smtp_send(
        &send_args(&addr, &["--dsn-notify", "sometimes"]),
        Some(PASSWORD),
    );
    assert_fails(&out, 2, "DSN notify wants never or success,failure,delay");

    // A server without DSN gets the mail without the parameters.
    let dir = scratch();
    let server = Server::start_with("plain", &dir, &cert, &key, &[]);
    let out = smtp_send(&send_args(&server.addr(), &dsn), Some(PASSWORD));
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(dir.join("out/msg1.eml").exists() && !dir.join("out/dsn.log").exists());
}

fn utf8_args<'a>(server: &'a str, to: &'a str) -> Vec<&'a str> {
    plain_args(server, &[to], &[])
}

#[test]
fn smtputf8_and_idna() {
    let dir = scratch();
    let (cert, key) = self_signed(&dir, "s", "DNS:localhost");
    let server = Server::start_with("plain", &dir, &cert, &key, &["--smtputf8"]);
    let out = smtp_send(
        &utf8_args(&server.addr(), "zoë@bücher.example"),
        Some(PASSWORD),
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let env = fs::read_to_string(dir.join("out/msg1.env")).unwrap();
    assert_eq!(env, "me@example.com\nzoë@bücher.example\n");
    let opts = fs::read_to_string(dir.join("out/msg1.opts")).unwrap();
    assert!(opts.starts_with("MAIL SMTPUTF8"), "{opts}");

    let dir = scratch();
    let server = Server::start_with("plain", &dir, &cert, &key, &[]);
    let out = smtp_send(&utf8_args(&server.addr(), "zoë@x.org"), Some(PASSWORD));
    assert_fails(&out, 7, "needs SMTPUTF8");
    assert!(!dir.join("out/msg1.env").exists());
    // An ASCII local part at a non-ASCII domain goes as an A-label.
    let out = smtp_send(
        &utf8_args(&server.addr(), "a@Bücher.example"),
        Some(PASSWORD),
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let env = fs::read_to_string(dir.join("out/msg1.env")).unwrap();
    assert_eq!(env, "me@example.com\na@xn--bcher-kva.example\n");
}

fn mail(to: &str, subject: &str) -> Mail {
    Mail {
        from: "me@example.com".into(),
        to: vec![to.into()],
        subject: subject.into(),
        text: Some("t".into()),
        ..Mail::default()
    }
}

#[test]
fn send_all_over_one_connection_with_a_result_each() {
    let dir = scratch();
    let (cert, key) = self_signed(&dir, "s", "DNS:localhost");
    let server = Server::start_with("plain", &dir, &cert, &key, &["--caps", "PIPELINING"]);
    // The proxy serves one connection only: a second would time out.
    let (proxy, flights) = latency_proxy(server.addr(), Duration::ZERO);
    let port = proxy.rsplit(':').next().unwrap().parse().unwrap();
    let mut config = Config::new("127.0.0.1", port);
    config.tls = TlsMode::None;
    config.allow_plaintext_auth = true;
    config.timeout = Duration::from_secs(10);
    config.credentials = Some(Credentials::new("tester", PASSWORD));
    let mails = [
        mail("a@x.org", "one"),
        mail("reject@x.org", "two"),
        mail("c@x.org", "three"),
    ];
    let built: Vec<Message> = mails.iter().map(|m| Message::new(m).unwrap()).collect();
    let refs: Vec<&dyn Payload> = built.iter().map(|m| m as &dyn Payload).collect();
    let results = Client::new(config).unwrap().send_all(&refs);
    assert_eq!(results.len(), 3);
    assert!(results[0].is_ok() && results[2].is_ok(), "{results:?}");
    let err = results[1].as_ref().unwrap_err();
    assert_eq!(err.stage, Stage::Rcpt);
    assert_eq!(err.reply().map(|r| r.code), Some(550));
    let sent: String = flights
        .lock()
        .unwrap()
        .iter()
        .map(|f| String::from_utf8_lossy(f))
        .collect();
    assert_eq!(sent.matches("RSET\r\n").count(), 2, "{sent}");
    assert_eq!(sent.matches("AUTH ").count(), 1, "{sent}");
    let subject = |n: usize| fs::read_to_string(dir.join(&format!("out/msg{n}.eml"))).unwrap();
    assert!(subject(1).contains("Subject: one") && subject(2).contains("Subject: three"));
    assert!(!Path::new(&dir.join("out/msg3.eml")).exists());
}
