#!/usr/bin/env bash
# The whole test suite on a fresh Debian 12 machine, as root: installs what the
# tests need, builds, runs the Rust integration tests (real containers), then the
# real-client scenarios and a short benchmark run.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"
export DEBIAN_FRONTEND=noninteractive
pkgs=(busybox-static runc crun strace uidmap procps)
missing=()
for p in "${pkgs[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if [ ${#missing[@]} -gt 0 ]; then
  apt-get update -qq
  apt-get install -y -qq "${missing[@]}" >/dev/null
fi
cargo build --all-targets --quiet
# Each test uses its own state root and container IDs; two at a time keeps
# container start-up from starving on 2 cores.
cargo test -- --test-threads=2
status=0
for s in integration/containerd.sh integration/podman.sh; do
  if [ -x "$s" ] && [ "${WARD_SKIP_CLIENTS:-}" != 1 ]; then
    echo "== $s"
    bash "$s" "$here/target/debug/ward" || status=1
  fi
done
if [ -x integration/bench.sh ] && [ "${WARD_SKIP_BENCH:-}" != 1 ]; then
  echo "== integration/bench.sh --quick (checks the benchmark works; not a speed test)"
  bash integration/bench.sh --quick --runtimes "ward=$here/target/debug/ward crun=/usr/bin/crun runc=/usr/bin/runc" || status=1
fi
exit $status
