#!/bin/sh
# Pull benchmark: berthd against skopeo on a ~50 MB image from a loopback registry
# (`berth-bench pull`, on a berthd of its own).
# Usage: bench/pull.sh   (as root; needs docker-registry and skopeo)   ROUNDS=5 by default.
set -eu
cd "$(dirname "$0")/.."
. bench/lib.sh
ROUNDS="${ROUNDS:-5}"
command -v skopeo >/dev/null || apt-get install -y --no-install-recommends skopeo
cargo build --release --locked -p berthd -p berth-pause -p berth-monitor -p berth-bench
work_dir bpull
"$BIN/berth-bench" pull --berthd "$BIN/berthd" --work "$W" --rounds "$ROUNDS"
