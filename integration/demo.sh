#!/usr/bin/env bash
# ward's main job on a built-in example: a busybox container with ward's
# defaults, showing its security posture from outside (ward inspect) and
# from inside (/proc/self/status, a write to /, a denied syscall).
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
export DEBIAN_FRONTEND=noninteractive
need=()
command -v busybox >/dev/null || need+=(busybox-static)
command -v cargo >/dev/null || { echo "demo: cargo (Rust toolchain) is required" >&2; exit 1; }
if [ ${#need[@]} -gt 0 ]; then
  apt-get update -qq && apt-get install -y -qq "${need[@]}" >/dev/null
fi
cargo build --release --quiet --manifest-path "$here/Cargo.toml"
ward="$here/target/release/ward"

work=$(mktemp -d /tmp/ward-demo.XXXXXX)
id="ward-demo-$$"
# shellcheck source=rootfs-base.sh
. "$here/integration/rootfs-base.sh"
cleanup() {
  "$ward" --root "$work/state" delete --force "$id" >/dev/null 2>&1 || true
  rm -rf "$work"
  release_rootfs_base
}
trap cleanup EXIT
mkdir -p "$work/bundle/rootfs"/{bin,proc,sys,dev,tmp,etc,run}
cp "$(command -v busybox)" "$work/bundle/rootfs/bin/busybox"
for a in $(busybox --list); do [ "$a" = busybox ] || ln -sf busybox "$work/bundle/rootfs/bin/$a"; done
cd "$work/bundle"
"$ward" spec
# The unmodified default spec: ward hardens it on its own.
python3 - <<'PY'
import json
c = json.load(open("config.json"))
c["process"]["terminal"] = False
c["process"]["args"] = ["sleep", "600"]
json.dump(c, open("config.json", "w"), indent=2)
PY
"$ward" --root "$work/state" run -d --bundle . "$id"
echo "== ward inspect $id (what is in force) =="
"$ward" --root "$work/state" inspect "$id"
echo
echo "== seen from inside the container =="
"$ward" --root "$work/state" exec "$id" sh -c '
  grep -E "^(Uid|Seccomp|Seccomp_filters|NoNewPrivs|CapEff|CapBnd):" /proc/self/status
  echo "uid_map: $(cat /proc/self/uid_map)"
  echo hi 2>/dev/null > /probe && echo "write to /: allowed" || echo "write to /: denied (read-only rootfs)"
  echo hi > /tmp/probe && echo "write to /tmp: allowed (scratch tmpfs)"
  cp /bin/busybox /tmp/true && (/tmp/true 2>/dev/null && echo "exec from /tmp: allowed" || echo "exec from /tmp: denied (Landlock)")
  unshare -U true 2>/dev/null && echo "unshare user namespace: allowed" || echo "unshare user namespace: denied (seccomp)"
  echo "bytes readable from /proc/keys (masked): $(wc -c < /proc/keys)"
'
