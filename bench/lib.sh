# What the bench scripts share. Source it from the repository's root: `. bench/lib.sh`.
#
#   BIN                 where cargo puts the release binaries (absolute; honours
#                       CARGO_TARGET_DIR).
#   work_dir PREFIX     makes the work dir W=/tmp/PREFIX.XXXXXX (short: monitor sockets live
#                       under it, and a Unix socket path has 107 bytes) and runs cleanup when
#                       the script ends.
#   PIDS, RUNC_ROOTS, BRIDGES
#                       what cleanup stops or deletes besides what names $W: processes the
#                       script started, runc roots whose containers it force-deletes, CNI
#                       bridges it deletes.
#   wait_for PATH SECS  waits until PATH is a socket or a non-empty file; fails the script
#                       after SECS seconds.

BIN="${CARGO_TARGET_DIR:-target}/release"
case "$BIN" in
    /*) ;;
    *) BIN="$PWD/$BIN" ;;
esac
PIDS=""
RUNC_ROOTS=""
BRIDGES=""

# Stops and removes everything the run left: the PIDS (TERM, then KILL), every process whose
# command line names $W (berthd, monitors, containers' helpers), the containers in the
# RUNC_ROOTS, the mounts under $W, the BRIDGES; then $W itself.
cleanup() {
    set +e
    [ -n "${W:-}" ] || return 0
    if [ -n "$PIDS" ]; then
        for pid in $PIDS; do kill -TERM "$pid" 2>/dev/null; done
        sleep 2
        for pid in $PIDS; do kill -KILL "$pid" 2>/dev/null; done
    fi
    pkill -9 -f "$W" 2>/dev/null
    for root in $RUNC_ROOTS; do
        for id in $(runc --root "$root" list -q 2>/dev/null); do
            runc --root "$root" delete --force "$id" >/dev/null 2>&1
        done
    done
    grep " $W" /proc/mounts | cut -d' ' -f2 | sort -r | while read -r m; do umount -l "$m"; done
    for bridge in $BRIDGES; do ip link del "$bridge" 2>/dev/null; done
    rm -rf "$W"
}

work_dir() { # prefix
    W="$(mktemp -d "/tmp/$1.XXXXXX")"
    trap cleanup EXIT INT TERM
}

wait_for() { # path, seconds
    i=0
    while [ ! -S "$1" ] && [ ! -s "$1" ]; do
        i=$((i + 1))
        [ "$i" -gt $(($2 * 10)) ] && { echo "$(basename "$0" .sh): $1 did not appear" >&2; exit 1; }
        sleep 0.1
    done
}
