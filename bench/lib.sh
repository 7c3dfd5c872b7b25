# Shared by the TLS benches (bench/tls.sh, bench/h2.sh); sourced from the repository root.

# need COMMAND PACKAGE: installs PACKAGE (Debian) when COMMAND is missing.
need() { command -v "$1" >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$2" >/dev/null; }; }

# The median of the numbers on standard input.
median() { sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

# CPU time (user + system, in clock ticks) of the given processes.
cpu_ticks() { local t=0 p; for p in "$@"; do t=$((t + $(awk '{print $14 + $15}' "/proc/$p/stat"))); done; echo "$t"; }

# tls_setup NAME: a work directory $work (removed on exit, with nginx stopped by its pid
# file and reactor-httpd by $rpid), reactor-httpd built ($httpd), a corpus in $root
# (1k.bin, 64m.bin), an ECDSA P-256 certificate for localhost ($work/cert.pem, key.pem),
# and CPU pinning: servers on CPU 0 ($srv_cpu), the load generator on CPU 1 ($cli_cpu).
tls_setup() {
  work=$(mktemp -d "/tmp/reactor-$1-bench.XXXXXX")
  chmod 755 "$work" # nginx's workers run as www-data: they must be able to read the corpus
  # (Only a pid that is set: `kill 0` would signal this whole process group.)
  trap 'pkill -F "$work/nginx.pid" 2>/dev/null || true; if [ -n "${rpid:-}" ]; then kill "$rpid" 2>/dev/null || true; fi; rm -rf "$work"' EXIT
  need nginx nginx-light
  need openssl openssl
  cargo build --release -q -p reactor-bins --bin reactor-httpd
  httpd=$PWD/target/release/reactor-httpd
  root=$work/www
  mkdir -p "$root"
  head -c 1024 /dev/urandom >"$root/1k.bin"
  head -c 67108864 /dev/urandom >"$root/64m.bin"
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
    -subj /CN=localhost -addext subjectAltName=DNS:localhost \
    -keyout "$work/key.pem" -out "$work/cert.pem" 2>/dev/null
  chmod 644 "$work/key.pem"
  if (($(nproc) > 1)); then srv_cpu="taskset -c 0"; cli_cpu="taskset -c 1"; else srv_cpu="" cli_cpu=""; fi
}

# The start of the nginx configuration both TLS benches use (one worker, sendfile, an
# open-file cache, long keep-alive), up to inside its `http {` block.
nginx_http_preamble() {
  cat <<EOF
worker_processes 1;
daemon off;
error_log $work/nginx-error.log;
pid $work/nginx.pid;
events { worker_connections 20000; }
http {
  access_log off;
  sendfile on;
  open_file_cache max=1000 inactive=20s;
  keepalive_requests 1000000;
  keepalive_timeout 60s;
EOF
}
