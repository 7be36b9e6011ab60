#!/bin/sh
# Recovery benchmark: restart-to-ready time of berthd with 50 and 200 running containers.
# Usage: bench/recovery.sh   (as root)
set -eu
cd "$(dirname "$0")/.."
cargo build --release --locked -p berthd -p berth-pause -p berth-monitor
BERTHD="$PWD/target/release/berthd" cargo run --release --locked -q -p berthd --example recovery_bench
