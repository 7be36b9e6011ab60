#!/bin/sh
# berth against Debian's containerd 1.6 (CRI plugin, runc), side by side, in one run.
#
# Installs what is missing (containerd too), starts a registry on loopback with berth's
# busybox test images, starts containerd and berthd on their own sockets, state dirs and CNI
# bridges, runs berth-bench against both, and writes the table to bench/results/latest.md
# (every sample in latest.json), with the machine's load average. Everything it started is
# stopped and removed at the end.
#
# Usage: bench/compare.sh   (as root)   ROUNDS=10 CONCURRENCY=20 by default.
set -eu
cd "$(dirname "$0")/.."
. bench/lib.sh
ROUNDS="${ROUNDS:-10}"
CONCURRENCY="${CONCURRENCY:-20}"

./scripts/install-deps
if ! command -v containerd >/dev/null 2>&1; then
    # RUNLEVEL=1: the package must not start its own containerd.
    DEBIAN_FRONTEND=noninteractive RUNLEVEL=1 apt-get install -y --no-install-recommends containerd
fi
cargo build --release --locked -p berthd -p berth-pause -p berth-monitor -p berth-bench

work_dir bcmp
RUNC_ROOTS="$W/runc-root/k8s.io $W/bs/runtime/runc"
BRIDGES="bcmp-berth bcmp-ctrd"

"$BIN/bench-registry" > "$W/registry.out" 2> "$W/registry.log" &
PIDS="$PIDS $!"
wait_for "$W/registry.out" 60
REG="$(head -n1 "$W/registry.out")"

conflist() { # name bridge subnet
    cat <<JSON
{"cniVersion": "1.0.0", "name": "$1", "plugins": [
  {"type": "bridge", "bridge": "$2", "isGateway": true, "ipMasq": false,
   "ipam": {"type": "host-local", "dataDir": "$W/ipam-$1", "ranges": [[{"subnet": "$3"}]]}},
  {"type": "portmap", "capabilities": {"portMappings": true}}]}
JSON
}
mkdir -p "$W/cni-berth" "$W/cni-ctrd" "$W/certs.d/$REG"
conflist bench-berth bcmp-berth 10.199.10.0/24 > "$W/cni-berth/10-bench.conflist"
conflist bench-ctrd bcmp-ctrd 10.199.20.0/24 > "$W/cni-ctrd/10-bench.conflist"

cat > "$W/certs.d/$REG/hosts.toml" <<TOML
server = "http://$REG"
[host."http://$REG"]
  capabilities = ["pull", "resolve"]
TOML
cat > "$W/containerd.toml" <<TOML
version = 2
root = "$W/ctrd-root"
state = "$W/ctrd-state"
[grpc]
  address = "$W/containerd.sock"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "$REG/pause:bench"
  # root here lacks CAP_SYS_RESOURCE: containerd must not lower oom_score_adj below its own.
  restrict_oom_score_adj = true
  [plugins."io.containerd.grpc.v1.cri".containerd]
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        BinaryName = "/usr/sbin/runc"
        Root = "$W/runc-root"
        SystemdCgroup = false
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "$W/cni-ctrd"
  [plugins."io.containerd.grpc.v1.cri".registry]
    config_path = "$W/certs.d"
TOML
containerd --config "$W/containerd.toml" > "$W/containerd.log" 2>&1 &
PIDS="$PIDS $!"

cat > "$W/berth.toml" <<TOML
[network]
conf_dir = "$W/cni-berth"
bin_dirs = ["/usr/lib/cni", "/opt/cni/bin"]
[registries."$REG"]
insecure = true
TOML
"$BIN/berthd" --config "$W/berth.toml" --root "$W/berth-root" --state "$W/bs" \
    > "$W/berthd.log" 2>&1 &
PIDS="$PIDS $!"
wait_for "$W/containerd.sock" 60
wait_for "$W/bs/berth.sock" 60
sleep 1

LOAD_BEFORE="$(cut -d' ' -f1-3 /proc/loadavg)"
status=0
"$BIN/berth-bench" \
    --socket "$W/bs/berth.sock" --socket "$W/containerd.sock" \
    --image "$REG/busybox:latest" --rounds "$ROUNDS" --concurrency "$CONCURRENCY" \
    --json bench/results/latest.json > "$W/table.md" || status=$?
LOAD_AFTER="$(cut -d' ' -f1-3 /proc/loadavg)"

{
    echo "# berth against containerd: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
    echo
    echo "Machine: $(nproc) CPUs, $(uname -r), $(awk '/MemTotal/ {print int($2/1024)" MiB"}' /proc/meminfo)."
    echo "Load average before: $LOAD_BEFORE; after: $LOAD_AFTER."
    echo "containerd: $(containerd --version | cut -d' ' -f3); runc: $(runc --version | head -n1 | cut -d' ' -f3)."
    echo "Re-run: \`bench/compare.sh\` (ROUNDS=$ROUNDS CONCURRENCY=$CONCURRENCY)."
    echo
    cat "$W/table.md"
} > bench/results/latest.md
cat bench/results/latest.md
[ "$status" -eq 0 ] || { echo "compare: berth-bench failed ($status); logs in $W were:" >&2; tail -n 20 "$W/berthd.log" "$W/containerd.log" >&2; }
exit "$status"
