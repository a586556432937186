# Shared helpers for integration/bench.sh and integration/bench-profile.sh.
# Source it; it defines functions only.

bench_log() { printf '%s: %s\n' "${BENCH_PROG:-bench}" "$*" >&2; }

# bench_install_deps [EXTRA-PKG...]: quiet, idempotent apt-get install of the
# tools the benchmark needs (plus any extra packages).
bench_install_deps() {
    local need=() pkg
    for pkg in runc crun busybox-static time "$@"; do
        dpkg -s "$pkg" >/dev/null 2>&1 || need+=("$pkg")
    done
    # A guest without a package mirror may have the tool without the package.
    [[ -x /usr/bin/time ]] && need=("${need[@]/#time/}")
    local n=() p; for p in "${need[@]}"; do [[ -n "$p" ]] && n+=("$p"); done; need=("${n[@]}")
    command -v unshare >/dev/null 2>&1 || need+=(util-linux)
    command -v python3 >/dev/null 2>&1 || need+=(python3)
    [[ ${#need[@]} -gt 0 ]] || return 0
    bench_log "installing: ${need[*]}"
    export DEBIAN_FRONTEND=noninteractive
    if ! apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null 2>&1; then
        apt-get update -qq >/dev/null 2>&1 || true
        apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
    fi
}

bench_runc_bin() { command -v runc || echo /usr/sbin/runc; }
# bench_default_ward REPO: the newest release build (static, from
# build-static.sh, or plain), else the debug build.
bench_default_ward() {
    local repo="$1" triple b best=""
    triple="$(rustc -vV 2>/dev/null | sed -n 's/^host: //p')"
    for b in "$repo/target/${triple:-none}/release/ward" "$repo/target/release/ward"; do
        [[ -x "$b" ]] || continue
        if [[ -z "$best" || "$b" -nt "$best" ]]; then best="$b"; fi
    done
    echo "${best:-$repo/target/debug/ward}"
}
bench_crun_bin() { command -v crun || echo /usr/bin/crun; }

# bench_build_bundle WORK: one busybox rootfs (WORK/rootfs) and three bundle
# dirs pointing at it by absolute path: bundle-true (rw rootfs, /bin/true),
# bundle-true-ro (root.readonly=true) and bundle-sleep (/bin/sleep 1000).
# config.json comes from `runc spec`, with terminal=false.
bench_build_bundle() {
    local work="$1" busybox app
    busybox="$(dpkg -L busybox-static 2>/dev/null | grep -E '/bin/busybox$' | head -n1 || true)"
    [[ -n "$busybox" ]] || busybox=/bin/busybox
    mkdir -p "$work"/rootfs/{bin,proc,sys,dev,tmp,etc,root} "$work/spec"
    install -m 0755 "$busybox" "$work/rootfs/bin/busybox"
    for app in sh true sleep cat; do ln -sf busybox "$work/rootfs/bin/$app"; done
    (cd "$work/spec" && rm -f config.json && "$(bench_runc_bin)" spec)
    python3 - "$work" <<'EOF'
import json, os, sys
work = sys.argv[1]
base = json.load(open(os.path.join(work, "spec", "config.json")))
variants = {
    "true":    (["/bin/true"], False),
    "true-ro": (["/bin/true"], True),
    "sleep":   (["/bin/sleep", "1000"], False),
}
for name, (args, ro) in variants.items():
    c = json.loads(json.dumps(base))
    c["process"]["args"] = args
    c["process"]["terminal"] = False
    c["root"] = {"path": os.path.join(work, "rootfs"), "readonly": ro}
    d = os.path.join(work, "bundle-" + name)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "config.json"), "w") as f:
        json.dump(c, f, indent=2)
EOF
}

# bench_pure_cgroup_v1 WORK: call ONLY inside a private mount namespace.
# Hides the cgroup2 mount of the hybrid layout. A tmpfs over
# /sys/fs/cgroup/unified is not enough: crun then treats the empty directory as
# a v1 hierarchy and writes (and leaks) files into it. So /sys/fs/cgroup is
# rebuilt as on a pure cgroup v1 host: a fresh tmpfs with bind mounts of the
# real v1 hierarchies, and no unified/.
bench_pure_cgroup_v1() {
    local work="$1" orig ent b
    [[ -d /sys/fs/cgroup/unified ]] || return 0
    [[ "$(stat -f -c %T /sys/fs/cgroup/unified)" == cgroup2fs ]] || return 0
    orig="$work/cgroup-orig"
    mkdir -p "$orig"
    mount --rbind /sys/fs/cgroup "$orig"
    mount -t tmpfs -o size=64k,mode=755 cgroup /sys/fs/cgroup
    for ent in "$orig"/*; do
        b="$(basename "$ent")"
        [[ "$b" == unified ]] && continue
        if [[ -L "$ent" ]]; then
            ln -s "$(readlink "$ent")" "/sys/fs/cgroup/$b"
        elif [[ -d "$ent" ]] && [[ "$(stat -f -c %T "$ent")" == cgroupfs ]]; then
            mkdir "/sys/fs/cgroup/$b"
            mount --bind "$ent" "/sys/fs/cgroup/$b"
        fi
    done
    mount -o remount,ro /sys/fs/cgroup
    umount -l "$orig"
}

# bench_rm_cgroups PREFIX: remove leftover (empty) cgroups named PREFIX-* in
# every v1 hierarchy (and the host's cgroup2 mount).
bench_rm_cgroups() {
    local prefix="$1" d
    for d in /sys/fs/cgroup/*/; do
        find "$d" -depth -mindepth 1 -maxdepth 3 -type d -name "$prefix-*" \
            -exec rmdir {} + 2>/dev/null || true
    done
}

# bench_rm_workdir WORK: never rm -rf through a mount.
bench_rm_workdir() {
    local work="$1" m
    [[ -n "$work" && -d "$work" ]] || return 0
    if grep -q " $work" /proc/self/mountinfo; then
        grep " $work" /proc/self/mountinfo | awk '{print $5}' | sort -r |
            while read -r m; do umount -l "$m" 2>/dev/null || true; done
    fi
    rm -rf --one-file-system "$work"
}

# run_forwarding CMD...: run CMD in the background and wait for it, forwarding
# INT/TERM/HUP to it as SIGTERM (install with `trap forward_signal INT TERM HUP`).
# bash would otherwise run its traps only after a foreground child finished by
# itself, and background children ignore SIGINT.
CHILD=""
GOT_SIGNAL=0
forward_signal() { [[ -n "$CHILD" ]] && kill -TERM "$CHILD" 2>/dev/null; GOT_SIGNAL=1; }
run_forwarding() {
    local rc
    GOT_SIGNAL=0
    "$@" &
    CHILD=$!
    while :; do
        wait "$CHILD"; rc=$?
        kill -0 "$CHILD" 2>/dev/null || break
    done
    CHILD=""
    [[ $GOT_SIGNAL -eq 1 && $rc -eq 0 ]] && rc=130
    return "$rc"
}
