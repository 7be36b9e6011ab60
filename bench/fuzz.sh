#!/bin/sh
# Long CRI fuzz run: berth-fuzz against a release berthd with its own registry (busybox),
# CNI bridge, root, state and temp dirs. Prints requests sent, answers by code per RPC,
# crashes and violations (the JSON report goes to $W/report.json, copied to
# bench/results/fuzz.json). Everything it started is stopped and removed at the end.
#
# Usage: bench/fuzz.sh   (as root)
#   REQUESTS=100000 SEED=<time> CONCURRENCY=4 by default.
set -eu
cd "$(dirname "$0")/.."
REQUESTS="${REQUESTS:-100000}"
SEED="${SEED:-$(date +%s)}"
CONCURRENCY="${CONCURRENCY:-4}"

cargo build --release --locked -p berthd -p berth-pause -p berth-monitor -p berth-bench -p berth-fuzz

# Short: monitor sockets live under the state dir (a Unix socket path has 107 bytes).
W="$(mktemp -d /tmp/bfuzz.XXXXXX)"
BRIDGE="bfuzz$(($$ % 10000))"
PIDS=""
cleanup() {
    set +e
    for pid in $PIDS; do kill -TERM "$pid" 2>/dev/null; done
    sleep 2
    for pid in $PIDS; do kill -KILL "$pid" 2>/dev/null; done
    pkill -9 -f "$W" 2>/dev/null
    for id in $(runc --root "$W/bs/runtime/runc" list -q 2>/dev/null); do
        runc --root "$W/bs/runtime/runc" delete --force "$id" >/dev/null 2>&1
    done
    grep " $W" /proc/mounts | cut -d' ' -f2 | sort -r | while read -r m; do umount -l "$m"; done
    ip link del "$BRIDGE" 2>/dev/null
    rm -rf "$W"
}
trap cleanup EXIT INT TERM

wait_for() { # path, seconds
    i=0
    while [ ! -S "$1" ] && [ ! -s "$1" ]; do
        i=$((i + 1))
        [ "$i" -gt $(($2 * 10)) ] && { echo "fuzz: $1 did not appear" >&2; exit 1; }
        sleep 0.1
    done
}

target/release/bench-registry > "$W/registry.out" 2> "$W/registry.log" &
PIDS="$PIDS $!"
wait_for "$W/registry.out" 60
REG="$(head -n1 "$W/registry.out")"

mkdir -p "$W/cni" "$W/cwd"
cat > "$W/cni/10-fuzz.conflist" <<JSON
{"cniVersion": "1.0.0", "name": "fuzz", "plugins": [
  {"type": "bridge", "bridge": "$BRIDGE", "isGateway": true, "ipMasq": false,
   "ipam": {"type": "host-local", "dataDir": "$W/ipam", "ranges": [[{"subnet": "10.199.30.0/24"}]]}},
  {"type": "portmap", "capabilities": {"portMappings": true}}]}
JSON
cat > "$W/berth.toml" <<TOML
[network]
conf_dir = "$W/cni"
bin_dirs = ["/usr/lib/cni", "/opt/cni/bin"]
[registries."$REG"]
insecure = true
TOML
# berthd runs in a directory of its own, so a relative path that escapes lands where the
# fuzzer looks (and where the clean-up removes it).
BERTHD="$PWD/target/release/berthd"
(cd "$W/cwd" && exec "$BERTHD" --config "$W/berth.toml" --root "$W/root" --state "$W/bs" \
    > "$W/berthd.log" 2>&1) &
BERTHD_PID=$!
PIDS="$PIDS $BERTHD_PID"
wait_for "$W/bs/berth.sock" 60
sleep 1

status=0
target/release/berth-fuzz \
    --socket "$W/bs/berth.sock" --image "$REG/busybox:latest" \
    --requests "$REQUESTS" --seed "$SEED" --concurrency "$CONCURRENCY" \
    --pid "$BERTHD_PID" --root "$W/root" --state "$W/bs" --work "$W/work" \
    --allowed-dir "$W/root" --allowed-dir "$W/bs" --allowed-dir "$W/work" \
    --pod-network --cni-leases "$W/ipam" \
    --json "$W/report.json" || status=$?
mkdir -p bench/results
cp "$W/report.json" bench/results/fuzz.json 2>/dev/null || true
if kill -0 "$BERTHD_PID" 2>/dev/null; then
    echo "fuzz: berthd (PID $BERTHD_PID) still runs; seed $SEED"
else
    echo "fuzz: berthd (PID $BERTHD_PID) is gone: CRASH; seed $SEED; log tail:" >&2
    tail -n 30 "$W/berthd.log" >&2
fi
panics=$(grep -c "panicked at" "$W/berthd.log" || true)
echo "fuzz: panics caught inside berthd: $panics"
if [ "$panics" -gt 0 ]; then
    grep -A2 "panicked at" "$W/berthd.log" | head -n 20 >&2
    status=1
fi
internal=$(grep -c 'code=Internal' "$W/berthd.log" || true)
echo "fuzz: Internal answers in berthd's log: $internal"
[ "$status" -eq 0 ] || echo "fuzz: berth-fuzz exited $status (1: violations, crashes or panics; see above)" >&2
exit "$status"
