#!/bin/sh
# Recovery benchmark: restart-to-ready time of berthd with 50 and 200 running containers
# (`berth-bench recovery`, on a berthd of its own; two containers per pod).
# Usage: bench/recovery.sh   (as root)   PODS="25 100" (pods at each restart) by default.
set -eu
cd "$(dirname "$0")/.."
. bench/lib.sh
PODS="${PODS:-25 100}"
cargo build --release --locked -p berthd -p berth-pause -p berth-monitor -p berth-bench
work_dir brec
RUNC_ROOTS="$W/state/runtime/runc"
set --
for n in $PODS; do set -- "$@" --pods "$n"; done
"$BIN/berth-bench" recovery --berthd "$BIN/berthd" --work "$W" "$@"
