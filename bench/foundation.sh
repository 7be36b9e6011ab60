#!/bin/sh
# Figures for the foundation: a clean release build's wall time and berthd's idle RSS.
# Usage: bench/foundation.sh   (as root; builds into a scratch target dir, leaves nothing)
set -eu
cd "$(dirname "$0")/.."
scratch=$(mktemp -d)
trap 'kill -TERM "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; rm -rf "$scratch"' EXIT
pid=
start=$(date +%s.%N)
CARGO_TARGET_DIR="$scratch/target" cargo build --release --locked -p berthd >"$scratch/build.log" 2>&1
end=$(date +%s.%N)
echo "clean release build: $(awk "BEGIN{print $end - $start}") s"
"$scratch/target/release/berthd" --root "$scratch/root" --state "$scratch/state" 2>"$scratch/berthd.log" &
pid=$!
# Idle means: recovery done and nothing asked of it for a few seconds.
for _ in $(seq 100); do grep -q "berthd ready" "$scratch/berthd.log" && break; sleep 0.1; done
sleep 3
echo "berthd idle: $(grep -E 'VmRSS' /proc/$pid/status | tr -s ' \t' ' ')"
echo "berthd binary: $(stat -c %s "$scratch/target/release/berthd") bytes"
