#!/usr/bin/env bash
# Where does a runtime spend its time? Runs one create+start+(wait)+delete and
# one `run` of /bin/true under `strace -f -tt -T` and prints, per step: wall
# time, first->last syscall span, syscall/task/execve/clone counts, the
# executed binaries and the top syscalls by total time.
#
# Usage:
#   integration/bench-profile.sh RUNTIME [--json FILE] [--keep-traces DIR]
#
#   RUNTIME   ward | crun | runc | NAME=PATH | /path/to/binary
#             (ward = as in bench.sh: newest release build, else debug)
#   --json F          also write the summary as JSON
#   --keep-traces D   copy the raw strace files to D
#
# Same environment as integration/bench.sh: root, a private mount namespace with
# a pure cgroup v1 /sys/fs/cgroup, a throw-away busybox bundle; everything is
# cleaned up on exit. Numbers are inflated by strace; compare runtimes by shape
# (counts, which syscalls dominate), and use bench.sh for real timings.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$HERE/.." && pwd)"
BENCH_PROG=bench-profile
# shellcheck source=bench-lib.sh
. "$HERE/bench-lib.sh"

if [[ "${1:-}" == "__inner" ]]; then
    WORK="$2"; shift 2
    [[ "${1:-}" == "--" ]] && shift
    trap forward_signal INT TERM HUP
    bench_pure_cgroup_v1 "$WORK"
    set +e
    run_forwarding python3 "$HERE/bench-profile.py" --workdir "$WORK" "$@"
    exit $?
fi

RT=""
ARGS=()
while [[ $# -gt 0 ]]; do
    case "$1" in
        --json) ARGS+=(--json "$(realpath -m "$2")"); shift 2 ;;
        --keep-traces) ARGS+=(--keep-traces "$(realpath -m "$2")"); shift 2 ;;
        -h|--help) sed -n '2,19p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        -*) bench_log "unknown option $1"; exit 2 ;;
        *) [[ -z "$RT" ]] || { bench_log "only one RUNTIME"; exit 2; }; RT="$1"; shift ;;
    esac
done
[[ -n "$RT" ]] || { sed -n '2,19p' "$0" | sed 's/^# \{0,1\}//'; exit 2; }
[[ $EUID -eq 0 ]] || { bench_log "must run as root"; exit 2; }

bench_install_deps strace

case "$RT" in
    *=*) name="${RT%%=*}"; path="${RT#*=}" ;;
    ward) name=ward; path="$(bench_default_ward "$REPO")" ;;
    crun) name=crun; path="$(bench_crun_bin)" ;;
    runc) name=runc; path="$(bench_runc_bin)" ;;
    */*) name="$(basename "$RT")"; path="$RT" ;;
    *) name="$RT"; path="$(command -v "$RT" || true)" ;;
esac
[[ "$path" == /* ]] || path="$(realpath -m "$path")"
[[ -x "$path" ]] || { bench_log "runtime $name: $path is not an executable"; exit 1; }

RUNID="wp$$"
WORK="$(mktemp -d /tmp/ward-bench-profile.XXXXXX)"
cleanup() {
    local rc=$?
    trap - EXIT INT TERM HUP
    bench_rm_cgroups "$RUNID"
    bench_rm_workdir "$WORK"
    exit "$rc"
}
trap cleanup EXIT
bench_build_bundle "$WORK"

trap forward_signal INT TERM HUP
set +e
run_forwarding unshare -m --propagation private -- bash "$0" __inner "$WORK" -- \
    --runtime "$name=$path" --run-id "$RUNID" "${ARGS[@]}"
exit $?
