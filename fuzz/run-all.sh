#!/usr/bin/env bash
# Runs every fuzz target in turn, each for SECONDS (default 600), with the nightly
# `cargo fuzz` build: AddressSanitizer, plus debug assertions (`-a`), then prints a table
# target / runs / runs per second / result. Exits non-zero if any target failed.
#
#   fuzz/run-all.sh            # 10 minutes each
#   fuzz/run-all.sh 60         # one minute each
#   FUZZ_CPU=1 fuzz/run-all.sh # pinned to CPU 1 (taskset), to leave the others free
#
# Corpora grow in fuzz/corpus/TARGET, crashes land in fuzz/artifacts/TARGET, and each
# run's libFuzzer output in fuzz/artifacts/run-all/TARGET.log (all out of git).
set -euo pipefail

secs=${1:-600}
case $secs in
'' | *[!0-9]*)
    echo "usage: $0 [SECONDS-PER-TARGET]" >&2
    exit 2
    ;;
esac
cd "$(dirname "$0")"

if ! rustup toolchain list | grep -q '^nightly'; then
    echo "run-all.sh: needs the nightly toolchain (rustup toolchain install nightly)" >&2
    exit 1
fi
if ! command -v cargo-fuzz >/dev/null; then
    cargo install cargo-fuzz
fi

# Targets that need a larger input than libFuzzer's default guess.
max_len() {
    case $1 in
    h2_session) echo 8192 ;;
    websocket | multipart | hpack) echo 4096 ;;
    *) echo "" ;;
    esac
}

pin=()
if [ -n "${FUZZ_CPU:-}" ]; then
    pin=(taskset -c "$FUZZ_CPU")
fi

mapfile -t targets < <(cargo +nightly fuzz list)
# One build for all, so that the time of each run is spent fuzzing.
cargo +nightly fuzz build -a

mkdir -p artifacts/run-all
failed=0
rows=()
for t in "${targets[@]}"; do
    log=artifacts/run-all/$t.log
    args=(-max_total_time="$secs")
    len=$(max_len "$t")
    if [ -n "$len" ]; then
        args+=(-max_len="$len")
    fi
    echo "== $t: ${secs}s" >&2
    if "${pin[@]}" cargo +nightly fuzz run -a "$t" -- "${args[@]}" >"$log" 2>&1; then
        result=ok
    else
        result="FAILED (see $log)"
        failed=1
    fi
    # libFuzzer's last word: "Done N runs in S second(s)"; on a crash, the last status line.
    runs=$(sed -n 's/^Done \([0-9]*\) runs in.*/\1/p' "$log" | tail -n 1)
    if [ -z "$runs" ]; then
        runs=$(sed -n 's/^#\([0-9]*\).*/\1/p' "$log" | tail -n 1)
    fi
    runs=${runs:-0}
    rows+=("$(printf '%-20s %12s %10s  %s' "$t" "$runs" "$((runs / (secs > 0 ? secs : 1)))" "$result")")
done

printf '%-20s %12s %10s  %s\n' target runs runs/s result
for r in "${rows[@]}"; do
    echo "$r"
done
exit $failed
