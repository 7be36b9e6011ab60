#!/bin/sh
# Pull benchmark: berthd against skopeo on a ~50 MB image from a loopback registry.
# Usage: bench/pull.sh   (as root; needs docker-registry and skopeo)
set -eu
cd "$(dirname "$0")/.."
command -v skopeo >/dev/null || apt-get install -y --no-install-recommends skopeo
cargo build --release --locked -p berthd -p berth-pause -p berth-monitor
BERTHD="$PWD/target/release/berthd" cargo run --release --locked -q -p berthd --example pull_bench
