# Shared by the benches (bench/run, bench/tls.sh, bench/h2.sh, bench/instructions.sh);
# sourced from the repository root. Defines functions only.

# need COMMAND PACKAGE: installs PACKAGE (Debian) when COMMAND is missing.
need() { command -v "$1" >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$2" >/dev/null; }; }

# The median of the numbers on standard input.
median() { sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

# CPU time (user + system, in clock ticks) of the given processes.
cpu_ticks() { local t=0 p; for p in "$@"; do t=$((t + $(awk '{print $14 + $15}' "/proc/$p/stat"))); done; echo "$t"; }

# µs of CPU per request: TICKS clock ticks over N requests, with DECIMALS (default 1)
# digits ("n/a" without requests).
us_per_req() {
  awk -v c="$1" -v n="${2:-0}" -v d="${3:-1}" -v hz="$(getconf CLK_TCK)" \
    'BEGIN { if (n > 0) printf "%." d "f", c / hz / n * 1e6; else print "n/a" }'
}

# The pids of nginx's worker processes, one per line.
nginx_workers() { pgrep -P "$(cat "$work/nginx.pid")"; }

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

# Starting and stopping the two servers, one worker each: nginx with the script's
# `nginx_conf`, reactor-httpd with TLS on $reactor_port; each start checks the server runs.
alive() { kill -0 "$1" 2>/dev/null || { echo "$0: $2 did not start (port in use?)" >&2; exit 1; }; }
start_nginx() {
  nginx_conf >"$work/nginx.conf"
  $srv_cpu nginx -c "$work/nginx.conf" &
  sleep 0.5
  alive "$(cat "$work/nginx.pid" 2>/dev/null)" nginx  # (no pid file: kill -0 "" fails)
}
stop_nginx() { pkill -F "$work/nginx.pid" 2>/dev/null || true; sleep 0.3; }
start_reactor() {
  $srv_cpu "$httpd" --root "$root" --bind 127.0.0.1:$reactor_port --workers 1 --log-level error \
    --tls-cert "$work/cert.pem" --tls-key "$work/key.pem" --max-connections 20000 2>/dev/null &
  rpid=$!
  sleep 0.5
  alive "$rpid" reactor-httpd
}
stop_reactor() { kill "$rpid" 2>/dev/null || true; wait "$rpid" 2>/dev/null || true; }
