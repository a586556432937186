#!/usr/bin/env bash
# Where one `ward create` spends its time, step by step, without a tracer's
# overhead: ward and its libcontainer child processes print CLOCK_MONOTONIC
# timestamps at each step when WARD_PROFILE is set (src/profile.rs,
# vendor/libcontainer/src/ward_profile.rs). Runs N creates (default 15) of the
# benchmark's /bin/true bundle in the benchmark's pure cgroup v1 view and
# prints, per step, the median time since the caller spawned ward.
#
# Usage: integration/profile-create.sh [run|create] [N] [WARD]   (root; WARD defaults to
# the newest release build, as in bench.sh). For syscall detail see bench-profile.sh.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$HERE/.." && pwd)"
BENCH_PROG=profile-create
# shellcheck source=bench-lib.sh
. "$HERE/bench-lib.sh"

if [[ "${1:-}" == "__inner" ]]; then
    WORK="$2" N="$3" WARD="$4" WHAT="$5"
    bench_pure_cgroup_v1 "$WORK"
    exec python3 - "$WORK" "$N" "$WARD" "$WHAT" <<'PY'
import os, re, statistics, subprocess, sys, time
work, n, ward, what = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
root = os.path.join(work, "state")
bundle = os.path.join(work, "bundle-true")
env = dict(os.environ, WARD_PROFILE="1")
steps = {}
order = []
for i in range(n + 2):
    cid = "wprof-%d-%d" % (os.getpid(), i)
    err = os.path.join(work, "err")
    t0 = time.clock_gettime(time.CLOCK_MONOTONIC) * 1e3
    with open(err, "w") as ef:
        rc = subprocess.call([ward, "--root", root, what, "--bundle", bundle, cid],
                             stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=ef, env=env)
    t1 = time.clock_gettime(time.CLOCK_MONOTONIC) * 1e3
    lines = open(err).read().splitlines()
    subprocess.call([ward, "--root", root, "delete", "-f", cid],
                    stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    if rc != 0:
        sys.exit("create failed: %s" % "\n".join(lines[-3:]))
    if i < 2:
        continue  # warm-up
    marks = []
    for l in lines:
        m = re.match(r"ward-profile ([\d.]+) (\d+) (.*)$", l)
        if m:
            marks.append((float(m.group(1)), m.group(3)))
    marks.sort()
    marks.append((t1, "caller: ward %s exited" % what))
    for t, step in marks:
        if step not in steps:
            order.append(step)
        steps.setdefault(step, []).append(t - t0)
print("ward %s of /bin/true, %d runs: median ms since the caller spawned ward (and the step's own share)" % (what, n))
prev = 0.0
for step in order:
    med = statistics.median(steps[step])
    print("  %7.2f  (+%6.2f)  %s" % (med, med - prev, step))
    prev = med
PY
fi

[[ $EUID -eq 0 ]] || { bench_log "must run as root"; exit 2; }
WHAT=create
if [[ "${1:-}" == run || "${1:-}" == create ]]; then WHAT="$1"; shift; fi
N="${1:-15}"
WARD="${2:-$(bench_default_ward "$REPO")}"
[[ -x "$WARD" ]] || { bench_log "no ward at $WARD (cargo build --release)"; exit 1; }
bench_install_deps
WORK="$(mktemp -d /tmp/ward-profile.XXXXXX)"
cleanup() { local rc=$?; bench_rm_cgroups wprof; bench_rm_workdir "$WORK"; exit "$rc"; }
trap cleanup EXIT
bench_build_bundle "$WORK" >/dev/null
unshare -m --propagation private -- bash "$0" __inner "$WORK" "$N" "$(realpath "$WARD")" "$WHAT"
