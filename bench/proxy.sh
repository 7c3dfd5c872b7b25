#!/usr/bin/env bash
# reactor-proxy next to nginx (proxy_cache / proxy_pass) and squid (accel mode), one worker
# each, in front of one local nginx origin. Prints req/s (wrk) and the proxy's CPU time per
# request (robust on a busy machine), then ratios against nginx.
#
# usage: bench/proxy.sh [SECONDS] [CONNECTIONS]      (needs wrk, nginx; squid optional:
#        apt-get install -y nginx squid wrk)         never run in CI
set -euo pipefail
secs=${1:-5} conns=${2:-50}
root=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d /tmp/proxy-bench.XXXXXX)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; sleep 0.3; rm -rf "$work"; }
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_port() { for _ in $(seq 100); do (echo >/dev/tcp/127.0.0.1/"$1") 2>/dev/null && return 0; sleep 0.1; done; echo "nothing on port $1" >&2; return 1; }

command -v wrk >/dev/null || { echo "wrk is needed" >&2; exit 1; }
command -v nginx >/dev/null || { echo "nginx is needed" >&2; exit 1; }
cargo build --release -q --bin reactor-proxy --manifest-path "$root/Cargo.toml"

origin=$(free_port); ngx=$(free_port); rp=$(free_port); sq=$(free_port)
rpf=$(free_port); sqf=$(free_port)
rpd=$(free_port)   # reactor-proxy whose memory holds nothing: every hit from its disk tier
mkdir -p "$work/www/hit" "$work/www/miss" "$work/ngx-cache"
chmod 755 "$work"; chmod 777 "$work/ngx-cache"   # nginx workers run as nobody
head -c 1024 /dev/urandom | base64 -w0 | head -c 1024 > "$work/www/hit/1k.txt"
cp "$work/www/hit/1k.txt" "$work/www/miss/1k.txt"

cat > "$work/origin.conf" <<CONF
worker_processes 1; daemon off; pid $work/origin.pid; error_log $work/origin.err;
events { worker_connections 4096; }
http { access_log off; keepalive_requests 100000;
  server { listen 127.0.0.1:$origin; root $work/www;
    location /hit/  { add_header Cache-Control "max-age=3600"; }
    location /miss/ { add_header Cache-Control "no-store"; } } }
CONF
cat > "$work/nginx.conf" <<CONF
worker_processes 1; daemon off; pid $work/nginx.pid; error_log $work/nginx.err;
events { worker_connections 4096; }
http { access_log off; keepalive_requests 100000;
  proxy_cache_path $work/ngx-cache keys_zone=c:10m max_size=256m;
  upstream origin { server 127.0.0.1:$origin; keepalive 32; }
  server { listen 127.0.0.1:$ngx;
    location / { proxy_pass http://origin; proxy_http_version 1.1;
      proxy_set_header Connection ""; proxy_cache c; add_header X-Cache \$upstream_cache_status; } } }
CONF

nginx -c "$work/origin.conf" 2>"$work/origin.out" & pids+=($!)
nginx -c "$work/nginx.conf" 2>"$work/nginx.out" & pids+=($!)
"$root/target/release/reactor-proxy" --bind "127.0.0.1:$rp" --workers 1 \
  --upstream "http://127.0.0.1:$origin" 2>"$work/rp.err" & pids+=($!)
rp_pid=$!
"$root/target/release/reactor-proxy" --bind "127.0.0.1:$rpf" --workers 1 2>"$work/rpf.err" & pids+=($!)
rpf_pid=$!
"$root/target/release/reactor-proxy" --bind "127.0.0.1:$rpd" --workers 1 --cache-size 512 \
  --cache-dir "$work/rp-disk" --upstream "http://127.0.0.1:$origin" 2>"$work/rpd.err" & pids+=($!)
rpd_pid=$!
have_squid=0
if command -v squid >/dev/null; then
  have_squid=1
  cat > "$work/squid.conf" <<CONF
http_port 127.0.0.1:$sq accel defaultsite=127.0.0.1:$origin
http_port 127.0.0.1:$sqf
cache_peer 127.0.0.1 parent $origin 0 no-query originserver name=origin
cache_peer_access origin allow all
http_access allow all
workers 1
cache_mem 256 MB
maximum_object_size_in_memory 8 MB
cache_dir null /tmp
access_log none
cache_log $work/squid.log
pid_filename $work/squid.pid
coredump_dir $work
shutdown_lifetime 0 seconds
CONF
  squid -N -f "$work/squid.conf" >"$work/squid.out" 2>&1 & pids+=($!)
fi
wait_port "$origin"; wait_port "$ngx"; wait_port "$rp"; wait_port "$rpf"; wait_port "$rpd"
[ "$have_squid" = 1 ] && wait_port "$sq"
# CPU is counted on the worker processes (nginx's master only supervises).
ngx_pid=$(pgrep -P "$(cat "$work/nginx.pid")" | head -1)

. "$root/bench/lib.sh"
# run NAME PID URL [PROXY] -> "req/s us/req"; with PROXY, URL is fetched through it in
# absolute form (forward-proxy mode)
run() {
  local pid=$2 url=$3 proxy=${4:-}
  local -a curl_proxy=() wrk_args=("$url")
  if [ -n "$proxy" ]; then
    curl_proxy=(-x "$proxy")
    printf 'wrk.path = "%s"\n' "$url" > "$work/forward.lua"
    wrk_args=(-s "$work/forward.lua" "$proxy")
  fi
  curl -s "${curl_proxy[@]}" -o /dev/null "$url"    # warm the cache, then show what a request gets
  local state code
  code=$(curl -s "${curl_proxy[@]}" -o /dev/null -w '%{http_code}' "$url")
  [ "$code" = 200 ] || { echo "$1: $url answers $code" >&2; exit 1; }
  state=$(curl -s "${curl_proxy[@]}" -D - -o /dev/null "$url" | tr -d '\r' | awk -F': ' 'tolower($1)=="x-cache" {print $2}')
  local t0 t1 out rps n
  t0=$(cpu_ticks "$pid")
  out=$(wrk -t1 -c"$conns" -d"${secs}s" "${wrk_args[@]}")
  t1=$(cpu_ticks "$pid")
  rps=$(echo "$out" | awk '/Requests\/sec/ {print $2}')
  n=$(echo "$out" | awk '/requests in/ {print $1}')
  printf '%-20s %-8s %10.0f req/s %8s us CPU/request\n' "$1" "${state:--}" "$rps" \
    "$(us_per_req $((t1 - t0)) "$n")"
}
squid_pid() { pgrep -f "squid.*$work/squid.conf" | sort -n | tail -1; }

echo "== cache hit (1 KiB, max-age=3600), $conns connections, ${secs}s =="
hit_ngx=$(run "nginx proxy_cache" "$ngx_pid" "http://127.0.0.1:$ngx/hit/1k.txt"); echo "$hit_ngx"
hit_rp=$(run "reactor-proxy" "$rp_pid" "http://127.0.0.1:$rp/hit/1k.txt"); echo "$hit_rp"
[ "$have_squid" = 1 ] && run "squid (accel)" "$(squid_pid)" "http://127.0.0.1:$sq/hit/1k.txt"
echo "== disk-tier hit (reactor-proxy --cache-size 512 --cache-dir: file kept open, read with RWF_NOWAIT, page cache warm) =="
curl -s -o /dev/null "http://127.0.0.1:$rpd/hit/1k.txt"; sleep 0.5   # let the write land
hit_rpd=$(run "reactor-proxy disk" "$rpd_pid" "http://127.0.0.1:$rpd/hit/1k.txt"); echo "$hit_rpd"
echo "== miss path (1 KiB, no-store: every request goes to the origin) =="
miss_ngx=$(run "nginx proxy_pass" "$ngx_pid" "http://127.0.0.1:$ngx/miss/1k.txt"); echo "$miss_ngx"
miss_rp=$(run "reactor-proxy" "$rp_pid" "http://127.0.0.1:$rp/miss/1k.txt"); echo "$miss_rp"
[ "$have_squid" = 1 ] && run "squid (accel)" "$(squid_pid)" "http://127.0.0.1:$sq/miss/1k.txt"
ratio() { awk -v a="$(echo "$1" | awk '{print $(NF-4)}')" -v b="$(echo "$2" | awk '{print $(NF-4)}')" \
  -v ca="$(echo "$1" | awk '{print $(NF-2)}')" -v cb="$(echo "$2" | awk '{print $(NF-2)}')" \
  'BEGIN { printf "req/s %.2fx, CPU/request %.2fx (lower is better)\n", a / b, ca / cb }'; }
echo "== forward-proxy mode (absolute-form requests), cache hit and miss =="
run "reactor-proxy hit" "$rpf_pid" "http://127.0.0.1:$origin/hit/1k.txt" "http://127.0.0.1:$rpf"
[ "$have_squid" = 1 ] && run "squid hit" "$(squid_pid)" "http://127.0.0.1:$origin/hit/1k.txt" "http://127.0.0.1:$sqf"
run "reactor-proxy miss" "$rpf_pid" "http://127.0.0.1:$origin/miss/1k.txt" "http://127.0.0.1:$rpf"
[ "$have_squid" = 1 ] && run "squid miss" "$(squid_pid)" "http://127.0.0.1:$origin/miss/1k.txt" "http://127.0.0.1:$sqf"
echo "== reactor-proxy / nginx =="
echo "cache hit: $(ratio "$hit_rp" "$hit_ngx")   (target req/s >= 1.8x, issue 14)"
echo "disk-tier hit vs nginx proxy_cache hit: $(ratio "$hit_rpd" "$hit_ngx")   (target req/s >= 1.0x)"
echo "miss path: $(ratio "$miss_rp" "$miss_ngx")   (target req/s >= 1.3x, issue 14)"
