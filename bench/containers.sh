#!/bin/sh
# Container benchmark: Create/Start/Stop/RemoveContainer medians over 20 rounds and the
# monitor's memory per container.
# Usage: bench/containers.sh   (as root)
set -eu
cd "$(dirname "$0")/.."
cargo build --release --locked -p berthd -p berth-pause -p berth-monitor
BERTHD="$PWD/target/release/berthd" cargo run --release --locked -q -p berthd --example container_bench
