#!/usr/bin/env bash
# The cgroup v2 + systemd lane: ward tested in a Debian 12 guest booted with
# systemd as PID 1 on the unified cgroup hierarchy (this host and CI are
# cgroup v1 without systemd). As root:
#
#   integration/guest/lane.sh          # subset: lifecycle + hardening tests,
#                                      # containerd.sh, podman.sh; cgroupfs and
#                                      # systemd drivers
#   integration/guest/lane.sh --full   # every Rust integration test binary,
#                                      # and docker.sh too
#
# Builds the static ward (integration/build-static.sh) and the test binaries
# on the host, stages them (with the scripts and the prebuilt probe) in a temp
# dir shared read-only with the guest, builds or reuses the cached guest image
# (image.sh) and runs integration/guest/in-guest.sh there (run.sh).
# Ends with "N passed, M failed"; exits non-zero on any failure.
# WARD_GUEST_DRIVERS="cgroupfs systemd" (default) picks the drivers,
# WARD_GUEST_TESTS="lifecycle hardening" (default) the test binaries,
# WARD_GUEST_CLIENTS=0 skips containerd.sh, podman.sh and rootless-v2.sh (or names the ones to
# run, e.g. "containerd"; "all" adds docker.sh, the default of --full);
# WARD_GUEST_TIMEOUT (s, default 5400) bounds the guest;
# WARD_GUEST_WARD=PATH stages that ward binary instead of building the static
# release one (the test command passes its debug build: the guest is Debian 12
# like the host, so a dynamically linked binary runs there too).
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
cd "$repo"
# shellcheck disable=SC2206
tests=(${WARD_GUEST_TESTS:-lifecycle hardening})
clients=${WARD_GUEST_CLIENTS:-1}
if [ "${1:-}" = --full ]; then
  tests=()
  for f in tests/*.rs; do tests+=("$(basename "$f" .rs)"); done
  clients=${WARD_GUEST_CLIENTS:-all}
fi
start=$(date +%s)

# The image first: its build needs no cargo, and is cached for the next run.
bash "$here/image.sh" >/dev/null

if [ -n "${WARD_GUEST_WARD:-}" ]; then
  bin=$WARD_GUEST_WARD
else
  bin=$(bash integration/build-static.sh --quiet | sed -n 's/: .*//p')
fi
args=()
for t in "${tests[@]}"; do args+=(--test "$t"); done
exes=$(cargo test --no-run "${args[@]}" 2>&1 | sed -n 's/.*Executable .*(\(.*\))$/\1/p')
[ -n "$exes" ] || { echo "lane.sh: no test binaries built" >&2; exit 1; }

stage=$(mktemp -d /tmp/ward-lane.XXXXXX)
# readable by all: the rootless tests run the staged ward as a non-root user
chmod 0755 "$stage"
trap 'rm -rf "$stage"' EXIT
mkdir -p "$stage/bin" "$stage/tests" "$stage/integration/guest" "$stage/docs"
cp "$bin" "$stage/bin/ward"
for e in $exes; do
  n=$(basename "$e")
  cp "$e" "$stage/tests/${n%-*}"
done
# The probe the hardening and escape tests copy into containers, built here
# (the guest has no compiler) and staged with its source's mtime order kept.
probe=target/tmp/probe
if [ ! -x "$probe" ] || [ tests/probe/probe.c -nt "$probe" ]; then
  mkdir -p target/tmp
  cc -static -O1 -o "$probe.tmp" tests/probe/probe.c && mv "$probe.tmp" "$probe"
fi
cp -p "$probe" "$stage/probe"
cp -p tests/probe/probe.c "$stage/probe.c"
cp integration/*.sh integration/*.py "$stage/integration/"
cp integration/guest/in-guest.sh "$stage/integration/guest/"
cp docs/kubernetes.md "$stage/docs/"
echo "lane.sh: built and staged in $(( $(date +%s) - start ))s"

rc=0
bash "$here/run.sh" --src "$stage" --timeout "${WARD_GUEST_TIMEOUT:-5400}" -- \
  env WARD_GUEST_CLIENTS="$clients" bash "$stage/integration/guest/in-guest.sh" "$stage" "$repo" \
  ${WARD_GUEST_DRIVERS:-cgroupfs systemd} || rc=$?
echo "lane.sh: wall time $(( $(date +%s) - start ))s"
if [ "$rc" -ne 0 ]; then
  # in-guest.sh printed the counts; a guest that never got there did not.
  [ "$rc" -ne 124 ] || echo "0 passed, 1 failed"
  exit "$rc"
fi
