#!/bin/sh
# Sandbox benchmark: Run/Stop/RemovePodSandbox medians over 20 pods and per-pod helper RSS
# (`berth-bench sandbox`, on a berthd and a CNI bridge of its own).
# Usage: bench/sandbox.sh   (as root)   PODS=20 by default.
set -eu
cd "$(dirname "$0")/.."
. bench/lib.sh
PODS="${PODS:-20}"
cargo build --release --locked -p berthd -p berth-pause -p berth-monitor -p berth-bench
work_dir bsbx
RUNC_ROOTS="$W/state/runtime/runc"
BRIDGE="bbench$(($$ % 1000))"
BRIDGES="$BRIDGE"
"$BIN/berth-bench" sandbox --berthd "$BIN/berthd" --work "$W" --pods "$PODS" --bridge "$BRIDGE"
