#!/usr/bin/env bash
# HTTPS: reactor-httpd against nginx `ssl`, side by side, one worker each, the same ECDSA
# P-256 certificate (TLS 1.3 negotiated by wrk's OpenSSL), the same corpus.
#
# usage: bench/tls.sh [SECONDS_PER_RUN]   (default 5; each case runs BENCH_RUNS (3) times per
#        server; BENCH_PORT: first of the two ports, default a random one in 20000-39999)
#
# Servers pinned to CPU 0 and wrk to CPU 1 when there are several; servers alternate run by
# run; medians and the ratio reactor / nginx. Appends its table to bench/RESULTS.md when
# BENCH_RESULTS is set (bench/run does), else prints it. Never run in CI.
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-5}
runs=${BENCH_RUNS:-${RUNS:-3}}
. bench/lib.sh
need wrk wrk
tls_setup tls
# Random ports (BENCH_PORT to choose), so runs in other work trees do not collide.
base_port=${BENCH_PORT:-$((20000 + RANDOM % 20000))}
nginx_port=$base_port reactor_port=$((base_port + 1))
ulimit -n 65536 2>/dev/null || true

nginx_conf() {
  nginx_http_preamble
  cat <<EOF
  types { application/octet-stream bin; }
  server {
    listen 127.0.0.1:$nginx_port ssl;
    ssl_certificate $work/cert.pem;
    ssl_certificate_key $work/key.pem;
    ssl_protocols TLSv1.2 TLSv1.3;
    ssl_session_cache shared:SSL:10m;
    ssl_session_tickets on;
    root $root;
  }
}
EOF
}

wrk_run() { # conns url [header]
  if [ -n "${3:-}" ]; then $cli_cpu wrk -t1 -c"$1" -d"${secs}s" -H "$3" "$2"; else $cli_cpu wrk -t1 -c"$1" -d"${secs}s" "$2"; fi
}
rps() { awk '/Requests\/sec/ {print $2}'; }
gbps() { awk '/Transfer\/sec/ { v=$2; u=substr(v, length(v)-1); n=v+0; if (u=="GB") print n; else if (u=="MB") print n/1024; else print n/1048576 }'; }

# Server CPU per request of a wrk run: the figure that compares the servers when wrk,
# doing the client's half of every handshake, is the limit.
requests() { awk '/requests in/ {print $1}'; }

results=()
case_run() { # name conns path metric [header]
  local name=$1 conns=$2 path=$3 metric=$4 header=${5:-} rs=() ns=() rc=() nc=() out v c0 p
  for _ in $(seq 1 "$runs"); do
    start_reactor; c0=$(cpu_ticks "$rpid")
    out=$(wrk_run "$conns" "https://localhost:$reactor_port$path" "$header")
    rc+=("$(us_per_req $(($(cpu_ticks "$rpid") - c0)) "$(echo "$out" | requests)")"); stop_reactor
    v=$(echo "$out" | $metric); rs+=("${v:-0}")
    start_nginx; p=$(nginx_workers); c0=$(cpu_ticks $p)
    out=$(wrk_run "$conns" "https://localhost:$nginx_port$path" "$header")
    nc+=("$(us_per_req $(($(cpu_ticks $p) - c0)) "$(echo "$out" | requests)")"); stop_nginx
    v=$(echo "$out" | $metric); ns+=("${v:-0}")
  done
  local rcpu ncpu
  rcpu=$(printf '%s\n' "${rc[@]}" | median); ncpu=$(printf '%s\n' "${nc[@]}" | median)
  local r n ratio unit="req/s"
  [ "$metric" = gbps ] && unit="GB/s"
  r=$(printf '%s\n' "${rs[@]}" | median); n=$(printf '%s\n' "${ns[@]}" | median)
  ratio=$(awk -v a="$r" -v b="$n" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "n/a" }')
  results+=("| TLS: $name | $r $unit | $n $unit | **$ratio** | $rcpu | $ncpu |")
  printf '%-52s reactor %10s  nginx %10s  ratio %s  CPU us/req %s vs %s  (runs: reactor %s; nginx %s)\n' \
    "TLS: $name" "$r" "$n" "$ratio" "$rcpu" "$ncpu" "${rs[*]}" "${ns[*]}"
}

case_run "1 KB file, keep-alive, 50 conns" 50 /1k.bin rps
case_run "new TLS connection per request, 50 conns" 50 /1k.bin rps "Connection: close"
case_run "64 MB file, 10 conns (throughput)" 10 /64m.bin gbps

# Idle TLS keep-alive connections: extra RSS per connection after one request each.
idle_probe() { # port pid -> bytes per connection
  python3 - "$1" "$2" <<'EOF'
import resource, socket, ssl, sys, time
port, pid = int(sys.argv[1]), sys.argv[2]
n = 2000
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
ctx = ssl.create_default_context(); ctx.check_hostname = False; ctx.verify_mode = ssl.CERT_NONE
def rss():
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
def get(s):
    s.sendall(b"GET /1k.bin HTTP/1.1\r\nHost: b\r\n\r\n")
    got = b""
    while b"\r\n\r\n" not in got or len(got) < 1024:
        chunk = s.recv(65536)
        if not chunk: break
        got += chunk
for _ in range(50):
    s = ctx.wrap_socket(socket.create_connection(("127.0.0.1", port)), server_hostname="localhost"); get(s); s.close()
time.sleep(0.5)
before = rss()
socks = []
for i in range(n):
    s = ctx.wrap_socket(socket.create_connection(("127.0.0.1", port)), server_hostname="localhost")
    get(s)
    socks.append(s)
time.sleep(1)
print((rss() - before) / n)
EOF
}
start_reactor; r_idle=$(idle_probe $reactor_port "$rpid"); stop_reactor
start_nginx; n_idle=$(idle_probe $nginx_port "$(nginx_workers)"); stop_nginx
results+=("| TLS: 2,000 idle keep-alive conns: extra RSS per connection | $(printf '%.0f' "$r_idle") B | $(printf '%.0f' "$n_idle") B | **$(awk -v a="$r_idle" -v b="$n_idle" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "n/a" }')** | | |")
printf '%-52s reactor %8.0f B  nginx %8.0f B\n' "TLS: idle keep-alive, RSS per connection" "$r_idle" "$n_idle"

if [ -n "${BENCH_RESULTS:-}" ]; then
  printf '%s\n' "${results[@]}" >>"$BENCH_RESULTS"
else
  echo "| case | reactor | nginx | reactor ÷ nginx | | |"
  echo "|---|---|---|---|---|---|"
  printf '%s\n' "${results[@]}"
fi
