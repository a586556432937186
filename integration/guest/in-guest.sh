#!/usr/bin/env bash
# Runs inside the guest (lane.sh starts it through run.sh): ward's Rust
# integration test binaries and the real-client scenarios, once per cgroup
# driver, against the static ward staged by lane.sh.
#
#   in-guest.sh STAGE SRC DRIVERS...      (DRIVERS: cgroupfs systemd)
#
# STAGE (shared read-only) holds bin/ward, tests/<name> (cargo's test
# binaries), probe, and the scripts. The test binaries run the ward at the
# absolute path cargo built them with ($SRC/target/debug/ward); here that
# path is made to run the staged ward, with `--systemd-cgroup` for the
# systemd driver. Prints a line per suite and ends with "N passed, M failed".
set -uo pipefail
stage=$1
src=$2
shift 2
[ "$(stat -fc %T /sys/fs/cgroup)" = cgroup2fs ] || { echo "in-guest: not on cgroup v2" >&2; exit 2; }
echo "guest: $(uname -r), init $(cat /proc/1/comm), cgroup v2, $(nproc) vCPUs"

mkdir -p "$src/target/debug" "$src/target/tmp" "$src/tests/probe"
# The probe is prebuilt (no compiler here): same mtimes, so it is not rebuilt.
cp -p "$stage/probe" "$src/target/tmp/probe"
cp -p "$stage/probe.c" "$src/tests/probe/probe.c"

log=$(mktemp /tmp/ward-guest-lane.XXXXXX)
total_pass=0
total_fail=0
total_skip=0
add() {  # SUITE PASSED FAILED
  echo "== result: $1: $2 passed, $3 failed"
  echo "$1 $2 $3" >>"$log.summary"
  total_pass=$((total_pass + $2))
  total_fail=$((total_fail + $3))
}

for driver in "$@"; do
  case "$driver" in
    cgroupfs) printf '#!/bin/sh\nexec %q "$@"\n' "$stage/bin/ward" ;;
    # (a test that passes the flag itself gets it once)
    systemd) printf '#!/bin/sh\ncase " $* " in *" --systemd-cgroup "*) exec %q "$@" ;; esac\nexec %q --systemd-cgroup "$@"\n' "$stage/bin/ward" "$stage/bin/ward" ;;
    *) echo "in-guest: unknown driver $driver" >&2; exit 2 ;;
  esac >"$src/target/debug/ward"
  chmod 0755 "$src/target/debug/ward"
  for t in "$stage"/tests/*; do
    name=$(basename "$t")
    echo "== $driver: cargo test --test $name"
    start=$(date +%s)
    WARD_TEST_CGROUP_DRIVER=$driver timeout -k 10 2400 "$t" --test-threads=2 >"$log" 2>&1
    rc=$?
    cat "$log"
    p=$(grep -oE 'test result: [a-zA-Z]+\. [0-9]+ passed' "$log" | grep -oE '[0-9]+ passed' | awk '{s+=$1} END {print s+0}')
    f=$(grep -oE '[0-9]+ failed;' "$log" | awk '{s+=$1} END {print s+0}')
    [ "$rc" -eq 0 ] || [ "$f" -gt 0 ] || f=1
    # tests that do not apply here say so (tests/common skip()): not passes
    sk=$(grep -c '^SKIPPED ' "$log")
    p=$((p - sk))
    total_skip=$((total_skip + sk))
    if [ "$sk" -gt 0 ]; then echo "   ($(( $(date +%s) - start ))s, $sk skipped)"; else echo "   ($(( $(date +%s) - start ))s)"; fi
    add "$driver/$name" "$p" "$f"
  done
  # WARD_GUEST_CLIENTS: 1 (containerd, podman and the rootless step), all
  # (docker too), 0 (none), or the names to run. rootless-v2: ward run by a
  # user with systemd delegation, in a delegated scope (cgroupfs) or through
  # the user's manager (systemd).
  case "${WARD_GUEST_CLIENTS:-1}" in
    1) clients=(containerd podman rootless-v2) ;;
    all) clients=(containerd podman docker rootless-v2) ;;
    0) clients=() ;;
    # shellcheck disable=SC2206 # a word list by design
    *) clients=(${WARD_GUEST_CLIENTS}) ;;
  esac
  for s in "${clients[@]}"; do
    echo "== $driver: integration/$s.sh"
    start=$(date +%s)
    # docker.sh as the test command runs it: ward's documented deviations
    # checked as such, and the writable-rootfs runtime of docs/docker.md.
    WARD_CGROUP_DRIVER=$driver WARD_DOCKER_HARDENED=1 WARD_DOCKER_WRITABLE_ARGS="--relax rootfs=writable" \
      timeout -k 10 1800 bash "$stage/integration/$s.sh" "$stage/bin/ward" >"$log" 2>&1
    rc=$?
    cat "$log"
    line=$(grep -E '^[0-9]+ passed, [0-9]+ failed' "$log" | tail -1)
    p=$(echo "$line" | awk '{print $1+0}')
    f=$(echo "$line" | awk '{print $3+0}')
    [ "$rc" -eq 0 ] || [ "$f" -gt 0 ] || f=1
    echo "   ($(( $(date +%s) - start ))s)"
    add "$driver/$s.sh" "$p" "$f"
  done
done
echo "== per suite (passed failed):"
cat "$log.summary"
rm -f "$log" "$log.summary"
echo "$total_pass passed, $total_fail failed ($total_skip skipped, each with its reason above)"
[ "$total_fail" -eq 0 ]
