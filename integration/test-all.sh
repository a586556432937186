#!/usr/bin/env bash
# The whole test suite on a fresh Debian 12 machine, as root: installs what the
# tests need, builds, runs the Rust tests (real containers), the real-client
# scenarios (containerd, podman, Docker) against ward, and checks the benchmark runs.
# Ends with one line: "N passed, M failed".
set -uo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"
export DEBIAN_FRONTEND=noninteractive
bash integration/setup.sh || { echo "setup failed"; exit 1; }
for p in strace procps gcc libc6-dev; do
  dpkg -s "$p" >/dev/null 2>&1 || { apt-get update -qq && apt-get install -y -qq strace procps gcc libc6-dev >/dev/null; break; }
done
cargo build --all-targets --quiet || { echo "build failed"; exit 1; }
log=$(mktemp /tmp/ward-test-all.XXXXXX)
# shellcheck source=rootfs-base.sh
. integration/rootfs-base.sh
trap 'rm -f "$log"; release_rootfs_base' EXIT
status=0
# Each test uses its own state root and container IDs; two at a time keeps
# container start-up from starving on 2 cores.
cargo test --no-fail-fast -- --test-threads=2 2>&1 | tee -a "$log" || status=1
ward="$here/target/debug/ward"
if [ "${WARD_SKIP_CLIENTS:-}" != 1 ]; then
  for s in integration/containerd.sh integration/podman.sh; do
    echo "== $s $ward"
    bash "$s" "$ward" 2>&1 | tee -a "$log" || status=1
  done
  # Docker with ward's defaults (its documented deviations checked as such),
  # and a second runtime with the writable rootfs, as docs/docker.md sets up.
  echo "== integration/docker.sh $ward"
  WARD_DOCKER_HARDENED=1 WARD_DOCKER_WRITABLE_ARGS="--relax rootfs=writable" \
    bash integration/docker.sh "$ward" 2>&1 | tee -a "$log" || status=1
fi
if [ "${WARD_SKIP_GUEST:-}" != 1 ]; then
  # cgroup v2 with systemd as PID 1, in a Debian 12 guest (qemu; TCG where KVM
  # cannot run a guest): the systemd driver, the lifecycle and hardening tests
  # and containerd (a CRI pod under a kubelet-style slice, the Kubernetes
  # case). The whole lane (both drivers, podman too, --full for every test
  # binary): integration/guest/lane.sh.
  echo "== integration/guest/lane.sh (systemd driver; debug ward)"
  glog=$(mktemp /tmp/ward-lane.XXXXXX)
  WARD_GUEST_DRIVERS="${WARD_GUEST_DRIVERS:-systemd}" WARD_GUEST_WARD="$ward" \
    WARD_GUEST_CLIENTS="${WARD_GUEST_CLIENTS:-containerd}" \
    bash integration/guest/lane.sh 2>&1 | tee "$glog" || status=1
  # Only the lane's total counts (it repeats each suite's own lines).
  grep -E '^[0-9]+ passed, [0-9]+ failed' "$glog" | tail -n 1 >>"$log"
  rm -f "$glog"
fi
if [ "${WARD_SKIP_BENCH:-}" != 1 ]; then
  echo "== integration/bench.sh --quick (checks the benchmark works; not a speed test)"
  bash integration/bench.sh --quick --strict \
    --runtimes "ward=$ward crun=/usr/bin/crun runc=$(command -v runc)" || status=1
fi
if [ "${WARD_SKIP_FUZZ:-}" != 1 ]; then
  # Short libFuzzer runs of the input-handling targets (config, seccomp
  # profiles, ids/signals, Landlock annotation); longer: integration/fuzz.sh 300.
  echo "== integration/fuzz.sh ${WARD_FUZZ_SECONDS:-5}"
  bash integration/fuzz.sh "${WARD_FUZZ_SECONDS:-5}" || status=1
fi
passed=$(grep -hoE '(test result: [a-zA-Z]+\. )?[0-9]+ passed' "$log" | grep -oE '[0-9]+ passed' | awk '{s+=$1} END {print s+0}')
failed=$(grep -hoE '[0-9]+ failed' "$log" | awk '{s+=$1} END {print s+0}')
[ "$status" -eq 0 ] || [ "$failed" -gt 0 ] || failed=1
echo "$passed passed, $failed failed"
[ "$status" -eq 0 ] && [ "$failed" -eq 0 ]
