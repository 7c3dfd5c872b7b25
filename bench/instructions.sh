#!/usr/bin/env bash
# Instructions per pipelined 1 KB GET in reactor-httpd's user space, counted by callgrind:
# deterministic where req/s and CPU time move with the machine, so a change to the hot path
# can be compared before and after on a busy machine. Not a rate: see bench/run for those.
#
# usage: [KEEP_PROFILE=FILE] bench/instructions.sh [extra reactor-httpd flags, e.g.
#        --config site.toml whose sites answer for 127.0.0.1]
# (installs valgrind if missing; builds the release binary)
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh
need valgrind valgrind
need curl curl
cargo build --release -q --bin reactor-httpd
work=$(mktemp -d /tmp/reactor-instr.XXXXXX)
# (Only a pid that is set: `kill 0` would signal this whole process group.)
trap 'if [ -n "${vpid:-}" ]; then kill "$vpid" 2>/dev/null || true; fi; rm -rf "$work"' EXIT
head -c 1024 /dev/urandom >"$work/1k.bin"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
valgrind --tool=callgrind --instr-atstart=no --callgrind-out-file="$work/cg.%p" \
  target/release/reactor-httpd --root "$work" --bind "127.0.0.1:$port" --workers 1 \
  --log-level error "$@" 2>"$work/valgrind.log" &
vpid=$!
for _ in $(seq 100); do curl -s -o /dev/null "http://127.0.0.1:$port/1k.bin" && break; sleep 0.2; done
python3 bench/pipelined-client.py "$port" /1k.bin 20 >/dev/null # warm-up, not counted
callgrind_control -i on "$vpid" >/dev/null 2>&1
n=$(python3 bench/pipelined-client.py "$port" /1k.bin 100)
callgrind_control -d "$vpid" >/dev/null 2>&1
callgrind_control -i off "$vpid" >/dev/null 2>&1
ir=$(awk '/^totals:/ {print $2}' "$work"/cg.*.1)
echo "instructions per request: $((ir / n)) ($ir for $n requests)"
if [ -n "${KEEP_PROFILE:-}" ]; then cp "$work"/cg.*.1 "$KEEP_PROFILE"; echo "profile: callgrind_annotate $KEEP_PROFILE"; fi
