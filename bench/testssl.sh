#!/usr/bin/env bash
# Runs testssl.sh once against reactor-httpd serving HTTPS with a fresh ECDSA P-256
# certificate, and prints its findings of severity MEDIUM and above plus the summary.
# Fails (exit 1) when testssl.sh reports anything HIGH or CRITICAL. Never run in CI.
#
# usage: bench/testssl.sh
set -euo pipefail
cd "$(dirname "$0")/.."
work=$(mktemp -d /tmp/reactor-testssl.XXXXXX)
trap 'if [ -n "${rpid:-}" ]; then kill "$rpid" 2>/dev/null || true; fi; rm -rf "$work"' EXIT
command -v testssl >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq testssl.sh >/dev/null; }
cargo build --release -q -p reactor-bins --bin reactor-httpd
mkdir -p "$work/www" && echo hello >"$work/www/index.html"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 30 \
  -subj /CN=localhost -addext subjectAltName=DNS:localhost \
  -keyout "$work/key.pem" -out "$work/cert.pem" 2>/dev/null
port=$((20000 + RANDOM % 20000))
target/release/reactor-httpd --root "$work/www" --bind "127.0.0.1:$port" --log-level error \
  --tls-cert "$work/cert.pem" --tls-key "$work/key.pem" --hsts 31536000 2>/dev/null &
rpid=$!
sleep 0.5
testssl --quiet --color 0 --warnings off --jsonfile "$work/out.json" "localhost:$port" >"$work/out.txt" 2>&1 || true
python3 - "$work/out.json" <<'EOF'
import json, sys
findings = json.load(open(sys.argv[1]))
order = ["CRITICAL", "HIGH", "MEDIUM", "LOW", "WARN", "INFO", "OK"]
count = {s: 0 for s in order}
for f in findings:
    sev = f.get("severity", "INFO")
    count[sev] = count.get(sev, 0) + 1
    if sev in ("CRITICAL", "HIGH", "MEDIUM", "LOW", "WARN"):
        print(f"{sev:8} {f['id']}: {f['finding']}")
print("summary: " + ", ".join(f"{s} {count.get(s, 0)}" for s in order))
sys.exit(1 if count["CRITICAL"] or count["HIGH"] else 0)
EOF
