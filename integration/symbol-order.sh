#!/usr/bin/env bash
# Regenerates link/symbol-order.txt: the functions and data ward touches on its
# hot paths, in first-touch order, for lld's --symbol-ordering-file (build.rs).
#
# Why: ward is one static binary, and the kernel maps its file pages into each
# process 64 KiB at a time around every page fault ("fault-around"). With hot
# code scattered over the whole binary, one create mapped 4.6 MB of it in the
# ward process alone: that was the peak RSS, and the page faults and the unmap
# at exit were a fifth of ward's CPU. Packing what create/start/run/exec/state/
# delete touch at the front of .text/.rodata makes those mappings dense.
#
# How: an unstripped build of the same code (same layout), its pages dropped
# from the page cache and the disk's readahead set to 0 for the duration, so
# that every first touch of a page is a separate page fault that reads exactly
# that page; `perf` records the fault addresses of every ward process (main,
# libcontainer's intermediate and init) over the benchmark's commands; each
# touched page maps to the symbols that overlap it (nm). A symbol that no
# longer exists after a code change is ignored by the linker, so a stale list
# only costs locality, never correctness.
#
# Usage: integration/symbol-order.sh      (root; needs perf, python3; ~3 min)
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$HERE/.." && pwd)"
BENCH_PROG=symbol-order
# shellcheck source=bench-lib.sh
. "$HERE/bench-lib.sh"

if [[ "${1:-}" == "__inner" ]]; then
    WORK="$2" W="$3"
    bench_pure_cgroup_v1 "$WORK"
    st="$WORK/state" b="$WORK/bundle-true" s="$WORK/bundle-sleep" id="so$$"
    # The commands whose paths should be dense, most important first.
    "$W" --root "$st" run --bundle "$b" "$id-run" </dev/null
    "$W" --root "$st" create --bundle "$s" "$id" </dev/null
    "$W" --root "$st" start "$id"
    "$W" --root "$st" exec "$id" /bin/true </dev/null
    "$W" --root "$st" state "$id" >/dev/null
    "$W" --root "$st" list >/dev/null
    "$W" --root "$st" ps "$id" >/dev/null || true
    "$W" --root "$st" kill "$id" KILL
    sleep 0.2
    "$W" --root "$st" delete "$id" || "$W" --root "$st" delete -f "$id"
    "$W" --root "$st" create --bundle "$b" "$id-2" </dev/null
    "$W" --root "$st" delete -f "$id-2"
    "$W" --root "$st" --help >/dev/null
    "$W" --version >/dev/null
    exit 0
fi

command -v perf >/dev/null || { bench_log "needs perf (linux-perf)"; exit 1; }
triple="$(rustc -vV | sed -n 's/^host: //p')"
target="$REPO/target/symbol-order"
bench_log "building an unstripped static release ward in $target"
(cd "$REPO" && CARGO_TARGET_DIR="$target" CARGO_PROFILE_RELEASE_STRIP=false \
    RUSTFLAGS="-C target-feature=+crt-static -C relocation-model=static" \
    cargo build --release --target "$triple" >/dev/null)
W="$target/$triple/release/ward"

WORK="$(mktemp -d /tmp/ward-symbol-order.XXXXXX)"
# The disk holding the binary: its readahead goes to 0 while tracing.
src="$(findmnt -no SOURCE --target "$W")"
sys="$(readlink -f "/sys/class/block/$(basename "$src")")"
ra="$sys/queue/read_ahead_kb"
[[ -f "$ra" ]] || ra="$sys/../queue/read_ahead_kb"
old_ra="$(cat "$ra")"
cleanup() {
    local rc=$?
    echo "$old_ra" >"$ra" || true
    bench_rm_cgroups symbol-order
    bench_rm_workdir "$WORK"
    exit "$rc"
}
trap cleanup EXIT
bench_build_bundle "$WORK" >/dev/null
echo 0 >"$ra"
python3 -c 'import os,sys; fd=os.open(sys.argv[1], os.O_RDONLY); os.fsync(fd); os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)' "$W"
perf record -q -a -e exceptions:page_fault_user -o "$WORK/pf.data" -- \
    unshare -m --propagation private -- bash "$0" __inner "$WORK" "$W" >/dev/null
echo "$old_ra" >"$ra"
[[ -n "${SYMBOL_ORDER_KEEP:-}" ]] && cp "$WORK/pf.data" "$SYMBOL_ORDER_KEEP/"
perf script -i "$WORK/pf.data" -F comm,event,trace 2>/dev/null >"$WORK/faults.txt"
nm -n -S --defined-only "$W" >"$WORK/syms.txt"
[[ -n "${SYMBOL_ORDER_KEEP:-}" ]] && cp "$WORK/faults.txt" "$WORK/syms.txt" "$W" "$SYMBOL_ORDER_KEEP/"
mkdir -p "$REPO/link"
python3 - "$WORK/faults.txt" "$WORK/syms.txt" "$W" "$REPO/link/symbol-order.txt" <<'PY'
import bisect, re, subprocess, sys
faults, symfile, binary, out = sys.argv[1:5]
# The binary's own file-backed ranges (static, non-PIE: fixed addresses).
segs = []
for line in subprocess.run(["readelf", "-lW", binary], capture_output=True, text=True).stdout.splitlines():
    f = line.split()
    if f and f[0] == "LOAD":
        vaddr, memsz = int(f[2], 16), int(f[5], 16)
        segs.append((vaddr, vaddr + memsz))
pages = []
seen = set()
for line in open(faults):
    # "COMM exceptions:page_fault_user: address=... ip=..."
    comm = line.split(None, 1)[0] if line.strip() else ""
    if not (comm == "ward" or comm.startswith("youki")):
        continue
    m = re.search(r"address=0x([0-9a-f]+)", line)
    if not m:
        continue
    a = int(m.group(1), 16)
    if not any(lo <= a < hi for lo, hi in segs):
        continue
    p = a & ~0xfff
    if p not in seen:
        seen.add(p)
        pages.append(p)
syms = []
for line in open(symfile):
    f = line.split()
    if len(f) < 4 or f[2] not in "tTrRdDbB" or len(f[2]) != 1:
        continue
    start, size = int(f[0], 16), int(f[1], 16)
    if size:
        syms.append((start, start + size, f[3]))
syms.sort()
starts = [s[0] for s in syms]
order, have = [], set()
for p in pages:
    i = max(bisect.bisect_right(starts, p) - 1, 0)
    while i < len(syms) and syms[i][0] < p + 4096:
        lo, hi, name = syms[i]
        if hi > p and name not in have:
            have.add(name)
            order.append(name)
        i += 1
with open(out, "w") as f:
    f.write("\n".join(order) + "\n")
print("symbol-order: %d pages touched, %d symbols -> %s" % (len(pages), len(order), out))
PY
