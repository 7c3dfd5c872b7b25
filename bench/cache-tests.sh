#!/usr/bin/env bash
# Runs the public HTTP cache test suite (http-tests/cache-tests) against reactor-proxy in
# reverse mode, as the suite's README says: its origin server (`npm run server`) on a free
# port, reactor-proxy --upstream in front of it, the CLI client (`npm run cli`) against
# the proxy. Prints the required and optimal scores; the suite's JSON results and a list
# of the failures are left in $OUT (default /tmp/cache-tests-results).
#
#   bench/cache-tests.sh SUITE_DIR [extra reactor-proxy flags...]
#
# SUITE_DIR is a clone of the suite (git clone of http-tests/cache-tests); the script runs
# `npm install --omit=dev` there when node_modules is missing. Needs node >= 18 and npm.
set -euo pipefail

suite=${1:?usage: bench/cache-tests.sh SUITE_DIR [reactor-proxy flags...]}
shift
suite=$(cd "$suite" && pwd)
root=$(cd "$(dirname "$0")/.." && pwd)
out=${OUT:-/tmp/cache-tests-results}
mkdir -p "$out"
command -v node >/dev/null || { echo "cache-tests: node is not installed" >&2; exit 1; }
[ -f "$suite/tests/index.mjs" ] || { echo "cache-tests: $suite is not a cache-tests clone" >&2; exit 1; }
[ -d "$suite/node_modules" ] || (cd "$suite" && npm install --omit=dev --no-audit --no-fund >&2)

(cd "$root" && cargo build --release -q -p reactor-bins --bin reactor-proxy)
proxy_bin="$root/target/release/reactor-proxy"

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_port() {
  for _ in $(seq 100); do
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
    sleep 0.1
  done
  echo "cache-tests: nothing listening on $1" >&2; return 1
}

origin_port=$(free_port)
proxy_port=$(free_port)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; }
trap cleanup EXIT

(cd "$suite" && exec npm run --silent server --port="$origin_port" \
  --pidfile="$out/origin.pid") >"$out/origin.log" 2>&1 &
pids+=($!)
wait_port "$origin_port"
pids+=("$(cat "$out/origin.pid")")
"$proxy_bin" --bind "127.0.0.1:$proxy_port" --upstream "http://127.0.0.1:$origin_port" \
  --cache-log "$out/cache.log" "$@" 2>"$out/proxy.log" &
pids+=($!)
wait_port "$proxy_port"

(cd "$suite" && npm run --silent cli --base="http://127.0.0.1:$proxy_port") >"$out/results.json"

cd "$suite"
RESULTS="$out/results.json" node --input-type=module -e '
import fs from "node:fs";
import tests from "./tests/index.mjs";
import { determineTestResult, resultTypes } from "./test-engine/lib/results.mjs";
const results = JSON.parse(fs.readFileSync(process.env.RESULTS, "utf8"));
const count = { required: [0, 0], optimal: [0, 0] };
const failed = [];
for (const suite of tests) for (const t of suite.tests) {
  if (results[t.id] === undefined) continue;
  const kind = t.kind ?? "required";
  if (!(kind in count)) continue;
  const r = determineTestResult(tests, t.id, results);
  count[kind][1]++;
  if (r === resultTypes.pass) count[kind][0]++;
  else failed.push(`${kind}\t${t.id}\t${r[2]}\t${JSON.stringify(results[t.id])}`);
}
fs.writeFileSync(process.env.RESULTS.replace(/results.json$/, "failures.txt"), failed.join("\n") + "\n");
for (const k of ["required", "optimal"]) console.log(`${k}: ${count[k][0]}/${count[k][1]} passed`);
'
echo "details: $out/results.json, $out/failures.txt"
