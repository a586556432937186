#!/usr/bin/env bash
# Benchmark ward against crun and runc (interleaved, same bundle, same host view).
#
# Usage:
#   integration/bench.sh [--quick] [--json FILE] [--strict] [--systemd]
#                        [--runtimes "ward=/path/to/ward crun=/usr/bin/crun runc=/usr/bin/runc"]
#
#   --quick     3 iterations per measurement, 5 idle containers, 10 sequential and
#               4 parallel runs; finishes in well under a minute (what CI runs).
#   --json F    also write all samples and statistics as JSON to F.
#   --strict    exit non-zero if any runtime or measurement failed (default: exit 0
#               as long as the benchmark itself worked for at least one runtime).
#   --systemd   every runtime with its systemd cgroup driver (--systemd-cgroup; a
#               cgroup v2 host with systemd as PID 1, e.g. integration/guest/).
#   --only L    run only the listed scenarios (comma separated: lifecycle, run,
#               running, delete_force, seq_par, rss, idle).
#   --idle-n N  idle containers per runtime in the density scenario (default 100).
#   --layers    also run ward with each defence lifted (w-userns, w-seccomp,
#               w-landlock, w-rootfs, w-paths) and with all lifted (w-all): the
#               difference to plain ward is what that layer costs.
#   --runtimes  space separated NAME=PATH list. Default: ward (the newer of the
#               static build of integration/build-static.sh and target/release/ward,
#               else target/debug/ward), crun, runc.
#
# Must run as root. Installs runc, crun, busybox-static and GNU time with apt-get
# if missing. The measurements run inside a private mount namespace in which
# /sys/fs/cgroup is rebuilt as a throw-away tmpfs holding only the v1 hierarchies
# (no cgroup2 unified/), so every runtime sees the same pure cgroup v1 host
# (crun 1.8 refuses the hybrid layout); the host's mounts are never touched.
# Every container, state dir, cgroup and temp file is removed on exit, also on
# failure or Ctrl-C. The measurements themselves are in bench.py; see
# bench-profile.sh for a per-syscall view of one runtime.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$HERE/.." && pwd)"

BENCH_PROG=bench
# shellcheck source=bench-lib.sh
. "$HERE/bench-lib.sh"
log() { bench_log "$@"; }

# ---------------------------------------------------------------------------
# Inner stage: runs inside `unshare -m --propagation private`.
#   bench.sh __inner WORKDIR RUNTIMES -- DRIVER-ARGS...
# ---------------------------------------------------------------------------
if [[ "${1:-}" == "__inner" ]]; then
    WORK="$2"; RUNTIMES="$3"; shift 3
    [[ "${1:-}" == "--" ]] && shift

    inner_cleanup() {
        local rc=$?
        trap - EXIT INT TERM
        # Belt and braces: the python driver deletes what it creates; this only
        # catches containers left behind if the driver itself was killed.
        local spec name path root id
        for spec in $RUNTIMES; do
            name="${spec%%=*}"; path="${spec#*=}"; root="$WORK/state/$name"
            [[ -d "$root" && -x "$path" ]] || continue
            for id in $(timeout 20 "$path" --root "$root" list -q 2>/dev/null || true); do
                timeout 20 "$path" --root "$root" delete -f "$id" >/dev/null 2>&1 || true
            done
        done
        exit "$rc"
    }
    trap inner_cleanup EXIT
    trap forward_signal INT TERM HUP

    bench_pure_cgroup_v1 "$WORK"
    # ward stages each container's id-mapped rootfs in /run/ward-rootfs/<slot>
    # (mkdir, rmdir, a private mount). On a normal host /run is a tmpfs;
    # where it is not (the development VM: a directory of the ext4 root),
    # every run paid journalled metadata writes there that no other runtime
    # pays (each rmdir 0.1 ms median, several ms at p90 on the loaded disk).
    # Give ward the tmpfs a host would give it, in this private mount
    # namespace only (the id-range pool in /run/ward-ranges stays the
    # host's, shared with every other ward). Said in the output.
    if [[ "$(stat -f -c %T /run 2>/dev/null)" != tmpfs ]]; then
        mkdir -p /run/ward-rootfs
        mount -t tmpfs -o mode=711,size=64m ward-bench-rootfs /run/ward-rootfs
        echo "bench: /run is not a tmpfs here; /run/ward-rootfs is one for this run, as on a normal host" >&2
    fi
    # The runtimes' --root dirs on a tmpfs, as /run is on a normal host: state
    # files then cost what they cost in production (shmem pages, no disk
    # inode allocation), and show in the density breakdown.
    mkdir -p "$WORK/state"
    mount -t tmpfs -o mode=700,size=256m ward-bench-state "$WORK/state"
    set +e
    run_forwarding python3 "$HERE/bench.py" --workdir "$WORK" --runtimes "$RUNTIMES" "$@"
    exit $?
fi

# ---------------------------------------------------------------------------
# Outer stage.
# ---------------------------------------------------------------------------
RUNTIMES=""
DRIVER_ARGS=()
while [[ $# -gt 0 ]]; do
    case "$1" in
        --quick) DRIVER_ARGS+=(--quick); shift ;;
        --runtimes) RUNTIMES="$2"; shift 2 ;;
        --runtimes=*) RUNTIMES="${1#*=}"; shift ;;
        --json) DRIVER_ARGS+=(--json "$(realpath -m "$2")"); shift 2 ;;
        --json=*) DRIVER_ARGS+=(--json "$(realpath -m "${1#*=}")"); shift ;;
        --strict) DRIVER_ARGS+=(--strict); shift ;;
        --systemd) DRIVER_ARGS+=(--systemd); shift ;;
        --iterations) DRIVER_ARGS+=(--iterations "$2"); shift 2 ;;
        --only) DRIVER_ARGS+=(--only "$2"); shift 2 ;;
        --idle-n) DRIVER_ARGS+=(--idle-n "$2"); shift 2 ;;
        --layers) DRIVER_ARGS+=(--layers); shift ;;
        -h|--help) sed -n '2,32p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) log "unknown argument: $1"; exit 2 ;;
    esac
done

if [[ $EUID -ne 0 ]]; then
    log "must run as root"; exit 2
fi

# --- dependencies (quiet, idempotent) --------------------------------------
bench_install_deps

RUNC_BIN="$(bench_runc_bin)"
CRUN_BIN="$(bench_crun_bin)"
if [[ -z "$RUNTIMES" ]]; then
    WARD_BIN="$(bench_default_ward "$REPO")"
    RUNTIMES="ward=$WARD_BIN crun=$CRUN_BIN runc=$RUNC_BIN"
fi
# Normalise to absolute paths (the inner stage and the driver change directory).
norm=""
for spec in $RUNTIMES; do
    if [[ "$spec" != *=* ]]; then log "bad --runtimes entry '$spec' (want NAME=PATH)"; exit 2; fi
    name="${spec%%=*}"; path="${spec#*=}"
    if [[ "$path" != /* ]]; then
        if [[ "$path" == */* ]]; then path="$(realpath -m "$path")"
        else path="$(command -v "$path" || echo "$path")"; fi
    fi
    norm+="${norm:+ }$name=$path"
done
RUNTIMES="$norm"

# --- work dir + cleanup ----------------------------------------------------
RUNID="wb$$"
# A short path: ward's id-range claims in /run/ward-ranges are symlinks
# naming the container's state dir. On a normal host /run is a tmpfs, which
# keeps a target of up to 128 bytes in the inode's own small allocation;
# where /run is ext4 (the development VM), a target over 59 bytes takes a
# 4 KiB block, a cost of this host and not of ward's. With this path the
# bench's targets stay under 60 bytes.
WORK="$(mktemp -d /tmp/wb.XXXXXX)"
cleanup() {
    local rc=$?
    trap - EXIT INT TERM HUP
    # Leftover cgroups of our containers (ids all start with $RUNID-), then the
    # work dir (never through a mount).
    bench_rm_cgroups "$RUNID"
    bench_rm_workdir "$WORK"
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM HUP

# --- bundle ----------------------------------------------------------------
# One busybox rootfs, bundle dirs for the config variants (see bench-lib.sh).
bench_build_bundle "$WORK"

log "work dir $WORK; runtimes: $RUNTIMES"
trap forward_signal INT TERM HUP
set +e
run_forwarding unshare -m --propagation private -- bash "$0" __inner "$WORK" "$RUNTIMES" -- \
    --run-id "$RUNID" "${DRIVER_ARGS[@]}"
rc=$?
set -e
exit "$rc"
