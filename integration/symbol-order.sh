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
# How: the static release build (integration/build-static.sh's flags, so the
# same symbol names as the binary that ships) with every function aligned to a
# page, and lld's map file; its pages dropped
# from the page cache and the disk's readahead set to 0 for the duration, so
# that every first touch of a page is a page fault that reads exactly that
# page; `perf` records the fault addresses of every ward process (main, and
# libcontainer's cloned processes) over the benchmark's commands; each touched
# page maps to the input sections (functions, named data) that overlap it.
# The ward process's own pages go first: its RSS is the peak of a create. A
# symbol that no longer exists after a code change is ignored by the linker,
# so a stale list only costs locality, never correctness. Rebuild afterwards
# (integration/build-static.sh) to link with the new list.
#
# Usage: integration/symbol-order.sh      (root; needs perf, python3; ~4 min)
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
WORK="$(mktemp -d /tmp/ward-symbol-order.XXXXXX)"
ra="" old_ra=""
cleanup() {
    local rc=$?
    [[ -n "$ra" ]] && echo "$old_ra" >"$ra"
    bench_rm_cgroups symbol-order
    bench_rm_workdir "$WORK"
    exit "$rc"
}
trap cleanup EXIT
# The static release build (build-static.sh's flags, so the symbol names are
# those of the binary that ships), with every function on a page of its own,
# so that a touched page names the function that was run rather than all of
# its neighbours, and with lld's map (mangled names). Its own target dir: the
# shipped build is not touched.
bench_log "building a page-aligned static release ward with a link map"
triple="$(rustc -vV | sed -n 's/^host: //p')"
(cd "$REPO" && CARGO_TARGET_DIR="$REPO/target/symbol-order" WARD_LINK_MAP="$WORK/ward.map" \
    RUSTFLAGS="-C target-feature=+crt-static -C relocation-model=static -C llvm-args=-align-all-functions=12" \
    cargo build --release --target "$triple" -q)
# A private copy: its page cache is ours to drop, and its comm is still "ward".
mkdir "$WORK/bin"
cp "$REPO/target/symbol-order/$triple/release/ward" "$WORK/bin/ward"
W="$WORK/bin/ward"
# The disk holding the binary: its readahead goes to 0 while tracing.
src="$(findmnt -no SOURCE --target "$W")"
sys="$(readlink -f "/sys/class/block/$(basename "$src")")"
ra="$sys/queue/read_ahead_kb"
[[ -f "$ra" ]] || ra="$sys/../queue/read_ahead_kb"
old_ra="$(cat "$ra")"
bench_build_bundle "$WORK" >/dev/null
echo 0 >"$ra"
python3 -c 'import os,sys; fd=os.open(sys.argv[1], os.O_RDONLY); os.fsync(fd); os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)' "$W"
perf record -q -a -e exceptions:page_fault_user -o "$WORK/pf.data" -- \
    unshare -m --propagation private -- bash "$0" __inner "$WORK" "$W" >/dev/null
echo "$old_ra" >"$ra"
[[ -n "${SYMBOL_ORDER_KEEP:-}" ]] && cp "$WORK/pf.data" "$SYMBOL_ORDER_KEEP/"
perf script -i "$WORK/pf.data" -F comm,event,trace 2>/dev/null >"$WORK/faults.txt"
[[ -n "${SYMBOL_ORDER_KEEP:-}" ]] && cp "$WORK/faults.txt" "$WORK/ward.map" "$W" "$SYMBOL_ORDER_KEEP/"
mkdir -p "$REPO/link"
python3 - "$WORK/faults.txt" "$WORK/ward.map" "$W" "$REPO/link/symbol-order.txt" <<'PY'
import bisect, re, subprocess, sys
faults, mapfile, binary, out = sys.argv[1:5]
# The binary's own file-backed ranges (static, non-PIE: fixed addresses).
segs = []
for line in subprocess.run(["readelf", "-lW", binary], capture_output=True, text=True).stdout.splitlines():
    f = line.split()
    if f and f[0] == "LOAD":
        vaddr, memsz = int(f[2], 16), int(f[5], 16)
        segs.append((vaddr, vaddr + memsz))
# Pages the ward process itself touches come first (its RSS is the peak of a
# create), then those only libcontainer's cloned processes touch; each part
# in first-touch order.
main_pages, child_pages = [], []
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
    if (comm, p) not in seen:
        seen.add((comm, p))
        (main_pages if comm == "ward" else child_pages).append(p)
in_main = set(main_pages)
pages = main_pages + [p for p in dict.fromkeys(child_pages) if p not in in_main]
# lld's map: "VMA LMA Size Align Out In Symbol"; an input section line names
# "file:(section)", the symbol lines after it are the symbols it holds.
secs = []  # [start, end, [symbols]]
for line in open(mapfile):
    f = line.split(None, 4)
    if len(f) < 5 or not re.fullmatch(r"[0-9a-f]+", f[0]):
        continue
    vma, size, rest = int(f[0], 16), int(f[2], 16), f[4].rstrip("\n")
    if ":(" in rest:
        secs.append([vma, vma + size, []])
    elif secs and rest and not rest.startswith(".") and secs[-1][0] <= vma <= secs[-1][1]:
        secs[-1][2].append(rest.strip())
secs = [s for s in secs if s[1] > s[0] and s[2]]
secs.sort()
starts = [s[0] for s in secs]
order, have = [], set()
for p in pages:
    i = max(bisect.bisect_right(starts, p) - 1, 0)
    while i < len(secs) and secs[i][0] < p + 4096:
        lo, hi, names = secs[i]
        if hi > p:
            for name in names:
                if name not in have:
                    have.add(name)
                    order.append(name)
        i += 1
with open(out, "w") as f:
    f.write("\n".join(order) + "\n")
print("symbol-order: %d pages touched, %d symbols -> %s" % (len(pages), len(order), out))
PY
