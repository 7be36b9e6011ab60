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
. bench/lib.sh
REQUESTS="${REQUESTS:-100000}"
SEED="${SEED:-$(date +%s)}"
CONCURRENCY="${CONCURRENCY:-4}"

cargo build --release --locked -p berthd -p berth-pause -p berth-monitor -p berth-bench -p berth-fuzz

work_dir bfuzz
RUNC_ROOTS="$W/bs/runtime/runc"
BRIDGE="bfuzz$(($$ % 10000))"
BRIDGES="$BRIDGE"

"$BIN/bench-registry" > "$W/registry.out" 2> "$W/registry.log" &
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
BERTHD="$BIN/berthd"
(cd "$W/cwd" && exec "$BERTHD" --config "$W/berth.toml" --root "$W/root" --state "$W/bs" \
    > "$W/berthd.log" 2>&1) &
BERTHD_PID=$!
PIDS="$PIDS $BERTHD_PID"
wait_for "$W/bs/berth.sock" 60
sleep 1

status=0
"$BIN/berth-fuzz" \
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
