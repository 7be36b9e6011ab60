#!/bin/sh
# Sandbox benchmark: Run/Stop/RemovePodSandbox medians over 20 pods and per-pod helper RSS.
# Usage: bench/sandbox.sh   (as root)
set -eu
cd "$(dirname "$0")/.."
cargo build --release --locked -p berthd -p berth-pause -p berth-monitor
BERTHD="$PWD/target/release/berthd" cargo run --release --locked -q -p berthd --example sandbox_bench
