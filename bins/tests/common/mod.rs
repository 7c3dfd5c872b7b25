//! Test support shared by the integration tests: scratch directories and the
//! `reactor-httpd` binary as a child process.
#![allow(dead_code)] // each test file uses a different part

use std::io::{BufRead, BufReader, Read};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use reactor::testing::{Client, TestResponse};

/// The reactor-httpd binary.
pub const HTTPD: &str = env!("CARGO_BIN_EXE_reactor-httpd");

/// A scratch directory removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    /// A fresh, empty directory named after `prefix`, the process and a counter.
    pub fn new(prefix: &str) -> TempDir {
        static N: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "{prefix}-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }

    /// A path inside the directory.
    pub fn join(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Raises this process's descriptor limit to its hard limit (children inherit it).
pub fn raise_nofile() -> libc::rlim_t {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    unsafe {
        libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim);
        lim.rlim_cur = lim.rlim_max;
        libc::setrlimit(libc::RLIMIT_NOFILE, &lim);
    }
    lim.rlim_cur
}

/// The binary as a child process, its stderr drained by a thread (so logging never blocks
/// it), killed on drop.
pub struct Httpd {
    pub child: Child,
    pub addr: SocketAddr,
    log: Arc<Mutex<Vec<u8>>>,
}

impl Httpd {
    pub fn start(root: &Path, args: &[&str]) -> Httpd {
        Httpd::start_with(Command::new(HTTPD), root, args)
    }

    pub fn start_with(mut cmd: Command, root: &Path, args: &[&str]) -> Httpd {
        cmd.arg("--root").arg(root);
        Httpd::spawn(cmd, args)
    }

    /// Any of our servers (reactor-proxy too) bound to a free port: `cmd` plus
    /// `--bind 127.0.0.1:0` and `args`; its first stderr line names the address.
    pub fn spawn(mut cmd: Command, args: &[&str]) -> Httpd {
        let mut child = cmd
            .args(["--bind", "127.0.0.1:0"])
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut stderr = BufReader::new(child.stderr.take().unwrap());
        let mut line = String::new();
        stderr.read_line(&mut line).unwrap();
        let addr = line
            .trim()
            .rsplit("://")
            .next()
            .unwrap()
            .trim_end_matches('/')
            .parse()
            .unwrap_or_else(|e| panic!("{line:?}: {e}"));
        let log = Arc::new(Mutex::new(Vec::new()));
        let kept = log.clone();
        std::thread::spawn(move || {
            let mut chunk = [0u8; 8192];
            while let Ok(n @ 1..) = stderr.read(&mut chunk) {
                let mut log = kept.lock().unwrap();
                // The first 4 MiB are kept for tests to read; the rest is drained.
                if log.len() < 4 << 20 {
                    log.extend_from_slice(&chunk[..n]);
                }
            }
        });
        Httpd { child, addr, log }
    }

    /// What the server wrote to stderr after its first line, so far.
    pub fn stderr(&self) -> String {
        String::from_utf8_lossy(&self.log.lock().unwrap()).into_owned()
    }

    pub fn pid(&self) -> i32 {
        self.child.id() as i32
    }

    /// Resident set size in KiB.
    pub fn rss_kib(&self) -> u64 {
        self.status_kib("VmRSS:")
    }

    /// Peak resident set size in KiB (`VmHWM`).
    pub fn peak_rss_kib(&self) -> u64 {
        self.status_kib("VmHWM:")
    }

    fn status_kib(&self, key: &str) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid())).unwrap();
        status
            .lines()
            .find_map(|l| l.strip_prefix(key))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("{key} in /proc/{}/status", self.pid()))
    }

    /// User plus system CPU time, in clock ticks.
    pub fn cpu_ticks(&self) -> u64 {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.pid())).unwrap();
        let after = &stat[stat.rfind(')').unwrap() + 2..];
        let fields: Vec<&str> = after.split_whitespace().collect();
        // Fields 14 and 15 of stat(5); `after` starts at field 3.
        fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap()
    }

    pub fn signal(&self, sig: i32) {
        unsafe { libc::kill(self.pid(), sig) };
    }

    /// Waits up to `limit` for the process to exit; its exit code.
    pub fn wait_exit(&mut self, limit: Duration) -> Option<i32> {
        let start = Instant::now();
        while start.elapsed() < limit {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status.code();
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }

    pub fn get(&self, path: &str) -> TestResponse {
        let mut c = Client::connect(self.addr);
        c.get(path)
    }
}

impl Drop for Httpd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Writes a self-signed ECDSA P-256 certificate for `names` (PKCS#8 key) into `dir` as
/// `NAME.crt` and `NAME.key`; returns both paths.
pub fn make_cert(dir: &TempDir, file: &str, names: &[&str], expired: bool) -> (PathBuf, PathBuf) {
    let key = rcgen::KeyPair::generate().unwrap();
    let mut params =
        rcgen::CertificateParams::new(names.iter().map(|s| s.to_string()).collect::<Vec<_>>())
            .unwrap();
    if expired {
        params.not_before = rcgen::date_time_ymd(2020, 1, 1);
        params.not_after = rcgen::date_time_ymd(2021, 1, 1);
    }
    let cert = params.self_signed(&key).unwrap();
    let (c, k) = (
        dir.join(&format!("{file}.crt")),
        dir.join(&format!("{file}.key")),
    );
    std::fs::write(&c, cert.pem()).unwrap();
    std::fs::write(&k, key.serialize_pem()).unwrap();
    (c, k)
}

/// Runs the Python script `tests/NAME` with `args`; its stdout (it must exit 0).
pub fn python(name: &str, args: &[&str]) -> String {
    let script = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests")
        .join(name);
    let out = Command::new("python3")
        .arg(script)
        .args(args)
        .output()
        .expect("python3 runs (its packages: see .ci/run)");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{name} {args:?}: {stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

/// Runs `tests/h2_continue.py` (the Python `h2` package): a POST of `len` bytes to `path`
/// over HTTP/2 with prior knowledge and `expect: EXPECT`, the body sent only after an
/// interim answer. Its observations, one per line ("interim 100", "status 200",
/// "body LEN SAME").
pub fn h2_continue(addr: SocketAddr, path: &str, expect: &str, len: usize) -> String {
    let (addr, len) = (addr.to_string(), len.to_string());
    python("h2_continue.py", &[&addr, path, expect, &len])
}
