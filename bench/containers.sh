#!/bin/sh
# Container benchmark: Create/Start/Stop/RemoveContainer medians over 20 rounds and the
# monitor's memory per container (`berth-bench containers`, on a berthd of its own).
# Usage: bench/containers.sh   (as root)   ROUNDS=20 by default.
set -eu
cd "$(dirname "$0")/.."
. bench/lib.sh
ROUNDS="${ROUNDS:-20}"
cargo build --release --locked -p berthd -p berth-pause -p berth-monitor -p berth-bench
work_dir bctr
RUNC_ROOTS="$W/state/runtime/runc"
"$BIN/berth-bench" containers --berthd "$BIN/berthd" --work "$W" --rounds "$ROUNDS"
