//! TLS connections over real sockets, with a rustls client and certificates made by rcgen.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::time::Duration;

use reactor::testing::{serve, Client};
use reactor::tls::{Acceptor, CertStore};
use reactor::{Body, Config, Context, Handler, Reply, Request, Response, Server};
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::sign::CertifiedKey;

/// A self-signed ECDSA P-256 certificate for `names`, as rustls serves it, plus its DER.
fn cert(names: &[&str]) -> (Arc<CertifiedKey>, CertificateDer<'static>) {
    let key = rcgen::KeyPair::generate().unwrap();
    let names: Vec<String> = names.iter().map(|s| s.to_string()).collect();
    let cert = rcgen::CertificateParams::new(names)
        .unwrap()
        .self_signed(&key)
        .unwrap();
    let der = cert.der().clone();
    let signing = rustls::crypto::ring::default_provider()
        .key_provider
        .load_private_key(PrivateKeyDer::Pkcs8(key.serialize_der().into()))
        .unwrap();
    (Arc::new(CertifiedKey::new(vec![der.clone()], signing)), der)
}

/// Says what it knows of the connection; `/file` is a file body of `FILE_LEN` bytes.
struct Echo(Arc<std::fs::File>);

const FILE_LEN: usize = 3 * 1024 * 1024 + 17;

fn pattern(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i % 251) as u8).collect()
}

impl Handler for Echo {
    fn handle(&self, req: &mut Request, _: &mut Context<'_>) -> Reply {
        if req.path() == "/file" {
            let body = Body::file(self.0.clone(), 0, FILE_LEN as u64);
            return Reply::Response(Response::new(200).with_body(body));
        }
        Reply::Response(Response::text(
            200,
            format!("tls={} sni={}", req.is_tls(), req.sni().unwrap_or("-")),
        ))
    }
}

fn file() -> Arc<std::fs::File> {
    static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let path = std::env::temp_dir().join(format!("reactor-tls-{}-{n}", std::process::id()));
    std::fs::write(&path, pattern(FILE_LEN)).unwrap();
    let f = std::fs::File::open(&path).unwrap();
    let _ = std::fs::remove_file(&path);
    Arc::new(f)
}

fn tls_server(store: Arc<CertStore>) -> reactor::Running {
    let config = Config {
        tls: Some(Acceptor::new(store).unwrap()),
        ..Config::default()
    };
    serve(Server::new(config).handler(Echo(file())))
}

#[test]
fn https_requests_know_they_came_over_tls() {
    let (a, a_der) = cert(&["a.test"]);
    let s = tls_server(Arc::new(CertStore::new(vec![a])));
    let mut c = Client::connect_tls(s.local_addr(), "a.test", &a_der).unwrap();
    for _ in 0..3 {
        let r = c.get("/");
        assert_eq!((r.status, r.text().as_str()), (200, "tls=true sni=a.test"));
    }
    // A plain server says no.
    let plain = serve(Server::new(Config::default()).handler(Echo(file())));
    assert_eq!(
        Client::connect(plain.local_addr()).get("/").text(),
        "tls=false sni=-"
    );
}

#[test]
fn sni_chooses_the_certificate_and_wildcards_match_one_label() {
    let (a, a_der) = cert(&["a.test"]);
    let (b, b_der) = cert(&["*.b.test"]);
    let store = Arc::new(CertStore::new(vec![a.clone(), b.clone()]));
    let s = tls_server(store.clone());
    let c = Client::connect_tls(s.local_addr(), "x.b.test", &b_der).unwrap();
    assert_eq!(c.peer_certificates(), vec![b_der.clone()]);
    let c = Client::connect_tls(s.local_addr(), "a.test", &a_der).unwrap();
    assert_eq!(c.peer_certificates(), vec![a_der.clone()]);
    // No match (or no SNI): the first pair.
    let first = |k: Option<Arc<CertifiedKey>>| Arc::ptr_eq(&k.unwrap(), &a);
    assert!(first(store.choose(Some("y.x.b.test"), false)));
    assert!(first(store.choose(Some("b.test"), false)));
    assert!(first(store.choose(None, false)));
    assert!(Arc::ptr_eq(
        &store.choose(Some("Q.B.TEST"), false).unwrap(),
        &b
    ));
    // Challenge certificates only for acme-tls/1, and only those.
    assert!(store.choose(Some("a.test"), true).is_none());
    store.insert_challenge("a.test", b.clone());
    assert!(Arc::ptr_eq(
        &store.choose(Some("a.test"), true).unwrap(),
        &b
    ));
}

#[test]
fn swapping_certificates_leaves_connections_in_flight_alone() {
    let (a, a_der) = cert(&["a.test"]);
    let (a2, a2_der) = cert(&["a.test"]);
    let store = Arc::new(CertStore::new(vec![a]));
    let s = tls_server(store.clone());
    let mut old = Client::connect_tls(s.local_addr(), "a.test", &a_der).unwrap();
    assert_eq!(old.get("/").status, 200);
    store.replace(vec![a2]);
    let new = Client::connect_tls(s.local_addr(), "a.test", &a2_der).unwrap();
    assert_eq!(new.peer_certificates(), vec![a2_der]);
    assert!(Client::connect_tls(s.local_addr(), "a.test", &a_der).is_err());
    assert_eq!(old.get("/").status, 200, "the old session goes on");
}

#[test]
fn plain_http_on_the_tls_port_gets_a_readable_400() {
    let (a, _) = cert(&["a.test"]);
    let s = tls_server(Arc::new(CertStore::new(vec![a])));
    let mut c = Client::connect(s.local_addr());
    let r = c.get("/");
    assert_eq!(r.status, 400);
    assert!(r.text().contains("expects HTTPS"), "{}", r.text());
    assert_eq!(r.header("connection"), Some("close"));
    assert!(c.read_to_end().is_empty(), "then the connection closes");
}

#[test]
fn file_bodies_over_tls_arrive_whole() {
    let (a, a_der) = cert(&["a.test"]);
    let s = tls_server(Arc::new(CertStore::new(vec![a])));
    let addr = s.local_addr();
    let want = pattern(FILE_LEN);
    let threads: Vec<_> = (0..3)
        .map(|_| {
            let der = a_der.clone();
            std::thread::spawn(move || {
                let mut c = Client::connect_tls(addr, "a.test", &der).unwrap();
                let r = c.get("/file");
                let again = c.get("/");
                (r.status, r.body, again.status)
            })
        })
        .collect();
    for t in threads {
        let (status, body, again) = t.join().unwrap();
        assert_eq!((status, again), (200, 200));
        assert!(body == want, "body of {} bytes differs", body.len());
    }
}

/// Reads until the server closes (or 10 s pass): true when it closed.
fn closed(s: &mut TcpStream) -> bool {
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut buf = [0u8; 4096];
    loop {
        match s.read(&mut buf) {
            Ok(0) => return true,
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return true,
            Err(_) => return false,
        }
    }
}

#[test]
fn broken_handshakes_cost_only_themselves() {
    let (a, a_der) = cert(&["a.test"]);
    let s = tls_server(Arc::new(CertStore::new(vec![a])));
    let addr = s.local_addr();
    // Garbage that starts like a handshake record.
    let mut g = TcpStream::connect(addr).unwrap();
    g.write_all(b"\x16\x03\x01\x00\x05hello garbage that is no ClientHello")
        .unwrap();
    assert!(closed(&mut g), "garbage hello: closed");
    // A record header announcing more than any record may hold.
    let mut big = TcpStream::connect(addr).unwrap();
    big.write_all(b"\x16\x03\x01\xff\xff").unwrap();
    assert!(closed(&mut big), "oversized record: closed");
    // A truncated hello, then the client vanishes; one that says nothing at all.
    let mut t = TcpStream::connect(addr).unwrap();
    t.write_all(b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03")
        .unwrap();
    drop(t);
    let _silent = TcpStream::connect(addr).unwrap();
    // A client that says close_notify right after its handshake.
    let mut early = Client::connect_tls(addr, "a.test", &a_der).unwrap();
    early.close_notify().unwrap();
    assert!(closed(early.stream()), "early close_notify: closed");
    // Everyone else is served.
    let mut c = Client::connect_tls(addr, "a.test", &a_der).unwrap();
    assert_eq!(c.get("/").status, 200);
}
