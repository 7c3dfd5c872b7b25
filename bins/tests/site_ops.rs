//! reactor-httpd's operations features over real sockets: Prometheus metrics checked with
//! the official Python client's parser, JSON access-log lines, systemd socket activation
//! (`LISTEN_FDS`) and `sd_notify` messages.

mod common;

use std::os::unix::net::UnixDatagram;
use std::os::unix::process::CommandExt;
use std::process::Command;
use std::time::Duration;

use common::{Httpd, TempDir, HTTPD};
use reactor::testing::Client;

fn site() -> TempDir {
    let tmp = TempDir::new("site-ops");
    std::fs::create_dir_all(tmp.join("www")).unwrap();
    std::fs::write(tmp.join("www/index.html"), "hello").unwrap();
    tmp
}

#[test]
fn metrics_parse_with_prometheus_client() {
    let tmp = site();
    let h = Httpd::start(&tmp.join("www"), &["--metrics", "/metrics"]);
    for _ in 0..3 {
        assert_eq!(h.get("/").status, 200);
    }
    assert_eq!(h.get("/missing").status, 404);
    let text = h.get("/metrics").text();
    let script = r#"
import sys
from prometheus_client.parser import text_string_to_metric_families
fams = {f.name: f for f in text_string_to_metric_families(sys.stdin.read())}
req = fams["reactor_http_requests"]
assert req.type == "counter", req.type
codes = {s.labels["code"]: s.value for s in req.samples if s.name.endswith("_total")}
assert codes["200"] == 3 and codes["404"] == 1, codes
dur = fams["reactor_http_request_duration_seconds"]
assert dur.type == "histogram"
count = [s.value for s in dur.samples if s.name.endswith("_count")][0]
assert count == 4, count
inf = [s.value for s in dur.samples if s.labels.get("le") == "+Inf"][0]
assert inf == 4, inf
sent = [s.value for s in fams["reactor_http_response_bytes"].samples][0]
assert sent >= 15, sent
active = fams["reactor_connections_active"]
assert active.type == "gauge" and active.samples[0].value >= 1, active
print("ok")
"#;
    let mut child = Command::new("python3")
        .args(["-c", script])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}\n{text}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn json_access_log_lines() {
    let tmp = site();
    let log = tmp.join("access.json");
    let h = Httpd::start(
        &tmp.join("www"),
        &[
            "--access-log",
            log.to_str().unwrap(),
            "--access-log-format",
            "json",
        ],
    );
    let mut c = Client::connect(h.addr);
    c.send(b"GET /?q=\"x\" HTTP/1.1\r\nHost: t\r\nUser-Agent: agent \"007\"\r\n\r\n");
    assert_eq!(c.response(false).unwrap().status, 200);
    let text = std::fs::read_to_string(&log).unwrap();
    let check = r#"
import json, sys
lines = [json.loads(l) for l in sys.argv[1].splitlines()]
assert len(lines) == 1, lines
e = lines[0]
assert e["remote_addr"] == "127.0.0.1", e
assert e["method"] == "GET" and e["target"] == '/?q="x"' and e["protocol"] == "HTTP/1.1", e
assert e["status"] == 200 and e["body_bytes"] == 5, e
assert e["user_agent"] == 'agent "007"' and e["referer"] is None, e
assert e["time"].endswith("Z"), e
assert e["tls"] is False and e["sni"] is None, e
"#;
    let out = Command::new("python3")
        .args(["-c", check, &text])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}\n{text}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn socket_activation_uses_the_inherited_listener() {
    let tmp = site();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let fd = std::os::fd::AsRawFd::as_raw_fd(&listener);
    let mut cmd = Command::new("sh");
    // LISTEN_PID must name the server: the shell's pid, which exec keeps.
    cmd.args(["-c", "LISTEN_PID=$$ LISTEN_FDS=1 exec \"$0\" \"$@\"", HTTPD]);
    // SAFETY: dup2 and fcntl are async-signal-safe; they give the child the listener as
    // fd 3, without close-on-exec (dup2 onto itself keeps the flag: clear it then).
    unsafe {
        cmd.pre_exec(move || {
            let rc = if fd == 3 {
                libc::fcntl(3, libc::F_SETFD, 0)
            } else {
                libc::dup2(fd, 3)
            };
            if rc < 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    // The helper passes --bind 127.0.0.1:0: the inherited socket wins over it.
    let h = Httpd::start_with(cmd, &tmp.join("www"), &[]);
    assert_eq!(h.addr, addr);
    drop(listener);
    assert_eq!(Client::connect(addr).get("/").text(), "hello");
}

#[test]
fn sd_notify_ready_reloading_stopping() {
    let tmp = site();
    let sock_path = tmp.join("notify.sock");
    let sock = UnixDatagram::bind(&sock_path).unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    std::fs::write(tmp.join("site.toml"), "root = \"www\"\n").unwrap();
    let mut cmd = Command::new(HTTPD);
    cmd.env("NOTIFY_SOCKET", &sock_path);
    let config = tmp.join("site.toml");
    let mut h = Httpd::start_with(
        cmd,
        &tmp.join("www"),
        &["--config", config.to_str().unwrap()],
    );
    let mut buf = [0u8; 256];
    let mut next = || {
        let n = sock.recv(&mut buf).expect("a notification");
        String::from_utf8_lossy(&buf[..n]).into_owned()
    };
    assert_eq!(next(), "READY=1");
    h.signal(libc::SIGHUP);
    assert_eq!(next(), "RELOADING=1");
    assert_eq!(next(), "READY=1");
    h.signal(libc::SIGTERM);
    assert_eq!(next(), "STOPPING=1");
    assert_eq!(h.wait_exit(Duration::from_secs(10)), Some(0));
}
