#!/usr/bin/env bash
# CPU time the server spends per request (user+sys from /proc), robust to a busy machine.
# usage: bench/cpu-per-request.sh PID URL [SECONDS] [CONNECTIONS]
set -euo pipefail
pid=$1 url=$2 secs=${3:-5} conns=${4:-50}
ticks() { awk '{print $14+$15}' "/proc/$pid/stat"; }
hz=$(getconf CLK_TCK)
t0=$(ticks)
out=$(wrk -t1 -c"$conns" -d"${secs}s" ${WRK_HEADER:+-H "$WRK_HEADER"} "$url")
t1=$(ticks)
reqs=$(echo "$out" | awk '/requests in/ {print $1}')
echo "$out" | grep -E "Requests/sec|Latency" 
awk -v t=$((t1 - t0)) -v hz="$hz" -v n="$reqs" 'BEGIN { printf "server CPU: %.2f us/request (%d requests, %.2f s CPU)\n", t / hz / n * 1e6, n, t / hz }'
