#!/usr/bin/env bash
# HTTP/2 over TLS: reactor-httpd against nginx `http2`, side by side with h2load
# (nghttp2-client), one worker each, the same ECDSA P-256 certificate (ALPN h2, TLS 1.3),
# the same corpus.
#
# usage: bench/h2.sh [SECONDS_PER_RUN]   (default 5; each case runs 3 times per server)
#   BENCH_RUNS  runs per case and server (default 3)
#   BENCH_PORT  first of the two ports used (default: a random one in 20000-39999)
#
# Cases (issue 11): a 1 KB file with 10 clients x 100 concurrent streams; a 64 MB file with
# 4 clients (one stream each); a page of 100 assets (h2load -i with 100 URIs), 10 clients x
# 100 streams. Servers pinned to CPU 0 and h2load to CPU 1 when there are several; servers
# alternate run by run; medians and the ratio reactor / nginx, and each server's CPU time
# (user + system) per request, the steadier figure on a shared machine; a run with failed
# requests is reported. Appends its table to $BENCH_RESULTS when set (bench/run does), else prints
# it. Never run in CI.
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-5}
runs=${BENCH_RUNS:-3}
. bench/lib.sh
need h2load nghttp2-client
tls_setup h2
# ---- corpus ----
mkdir -p "$root/page"
# A page with 100 assets of 1 to 30 KB (stylesheets, scripts, images of a typical page).
for i in $(seq -w 1 100); do
  head -c $((1024 * (1 + (10#$i * 7) % 30))) /dev/urandom >"$root/page/asset-$i.bin"
done

base_port=${BENCH_PORT:-$((20000 + RANDOM % 20000))}
nginx_port=$base_port reactor_port=$((base_port + 1))
for port in $nginx_port $reactor_port; do
  for i in $(seq -w 1 100); do echo "https://127.0.0.1:$port/page/asset-$i.bin"; done >"$work/page-$port.txt"
done

ulimit -n 65536 2>/dev/null || true

nginx_conf() {
  nginx_http_preamble
  cat <<EOF
  http2_max_concurrent_streams 128;
  types { application/octet-stream bin; }
  server {
    listen 127.0.0.1:$nginx_port ssl http2;
    ssl_certificate $work/cert.pem;
    ssl_certificate_key $work/key.pem;
    ssl_protocols TLSv1.2 TLSv1.3;
    ssl_session_cache shared:SSL:10m;
    root $root;
  }
}
EOF
}

# h2load_run CLIENTS STREAMS PORT PATH|@page: h2load's report, timing-based (-D).
h2load_run() {
  local target
  if [ "$4" = @page ]; then target=(-i "$work/page-$3.txt"); else target=("https://127.0.0.1:$3$4"); fi
  $cli_cpu h2load -t1 -c"$1" -m"$2" -D"$secs" "${target[@]}" 2>&1
}
# Requests per second, and bytes per second in GB/s, from an h2load report.
rps() { awk '/^finished in/ {print $4}'; }
gbps() {
  awk '/^finished in/ { t=$3; sub(/,$/, "", t); if (t ~ /ms$/) t=t/1000; else t=t+0 }
       /^traffic:/ { b=$3; gsub(/[()]/, "", b) }
       END { if (t > 0) printf "%.3f\n", b / t / 1e9; else print 0 }'
}
# "N failed, N errored, N not 2xx" when some requests did not succeed, else nothing.
failures() {
  awk '/^requests:/ { f=$10; e=$12 } /^status codes:/ { o=$5+$7+$9 }
       END { if (f + e + o > 0) print f, "failed,", e, "errored,", o, "not 2xx" }'
}

results=()
case_run() { # name clients streams path metric
  local name=$1 clients=$2 streams=$3 path=$4 metric=$5 rs=() ns=() rc=() nc=() out v bad=""
  local pids t0 cpu done_n us
  for _ in $(seq 1 "$runs"); do
    for server in reactor nginx; do
      if [ $server = reactor ]; then
        start_reactor; port=$reactor_port; pids=$rpid
      else
        start_nginx; port=$nginx_port; pids=$(nginx_workers)
      fi
      # shellcheck disable=SC2086
      t0=$(cpu_ticks $pids)
      out=$(h2load_run "$clients" "$streams" "$port" "$path")
      # shellcheck disable=SC2086
      cpu=$(($(cpu_ticks $pids) - t0))
      if [ $server = reactor ]; then stop_reactor; else stop_nginx; fi
      v=$(echo "$out" | $metric)
      done_n=$(echo "$out" | awk '/^requests:/ {print $6}')
      us=$(us_per_req "$cpu" "$done_n")
      f=$(echo "$out" | failures)
      [ -n "$f" ] && bad+=" $server: $f;"
      if [ $server = reactor ]; then rs+=("${v:-0}"); rc+=("$us"); else ns+=("${v:-0}"); nc+=("$us"); fi
    done
  done
  local r n ratio unit="req/s"
  [ "$metric" = gbps ] && unit="GB/s"
  r=$(printf '%s\n' "${rs[@]}" | median)
  n=$(printf '%s\n' "${ns[@]}" | median)
  ratio=$(awk -v a="$r" -v b="$n" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "n/a" }')
  local rcpu ncpu
  rcpu=$(printf '%s\n' "${rc[@]}" | median)
  ncpu=$(printf '%s\n' "${nc[@]}" | median)
  results+=("| HTTP/2 (TLS): $name | $r $unit | $n $unit | **$ratio** | $rcpu | $ncpu |")
  printf '%-56s reactor %10s  nginx %10s  ratio %s  CPU us/req %s vs %s  (runs: reactor %s; nginx %s)%s\n' \
    "HTTP/2 (TLS): $name" "$r" "$n" "$ratio" "$rcpu" "$ncpu" "${rs[*]}" "${ns[*]}" "${bad:+  FAILURES:$bad}"
}

echo "== HTTP/2 over TLS: h2load, $runs runs of ${secs}s per case and server; medians =="
case_run "1 KB file, 10 clients x 100 streams" 10 100 /1k.bin rps
case_run "64 MB file, 4 clients" 4 1 /64m.bin gbps
case_run "page of 100 assets (1-30 KB), 10 clients x 100 streams" 10 100 @page rps

if [ -n "${BENCH_RESULTS:-}" ]; then
  printf '%s\n' "${results[@]}" >>"$BENCH_RESULTS"
else
  echo "| case | reactor | nginx | reactor ÷ nginx | reactor CPU µs/req | nginx CPU µs/req |"
  echo "|---|---|---|---|---|---|"
  printf '%s\n' "${results[@]}"
fi
