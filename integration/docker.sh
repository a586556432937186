#!/usr/bin/env bash
# Real-client scenarios through Docker Engine 20.10 (Debian docker.io: dockerd,
# its supervised containerd and the stock runc shim) with the OCI runtime
# given as the argument:
#
#   integration/docker.sh /usr/bin/runc
#   integration/docker.sh target/debug/ward
#
# Runs a private dockerd only (never the system service or
# /var/run/docker.sock): own --data-root (ext4, overlay2), --exec-root,
# --pidfile, socket, daemon.json and cgroup parent; no networking (--bridge=none,
# no iptables); the runtime registered as "testrt" in the private daemon.json
# and chosen with `docker run --runtime testrt`. It all runs inside a private
# mount namespace with throw-away tmpfs mounts over /run/containerd (containerd
# 1.6 keeps shim sockets under /run/containerd/s whatever its config says, and
# dockerd would use a system containerd whose socket is there), /etc/docker
# (dockerd 20.10 writes key.json there), /run/docker (it makes
# /run/docker/plugins whatever its --exec-root) and /sys/fs/cgroup/unified (crun 1.8
# refuses the hybrid cgroup layout; with it hidden every runtime sees plain
# cgroup v1). The test image is imported offline (`docker import`).
#
# The Debian client (/usr/bin/docker, 20.10) is used, whatever `docker` is
# first on PATH.
#
# WARD_DOCKER_RUNTIME_ARGS="WORD..." registers the runtime with those
# runtimeArgs; WARD_DOCKER_RUNTIME_LOGS=1 keeps every call's log.json for the
# failure report (see below); WARD_KEEP_WORK=1 keeps the temp dir.
#
# The same binary is registered a second time as "testrt-writable" with the
# runtimeArgs in WARD_DOCKER_WRITABLE_ARGS (ward: "--relax rootfs=writable",
# as docs/docker.md tells Docker users; empty for runc and crun): the scenario
# that writes to the image's rootfs (docker cp, diff, restart) uses it.
# WARD_CGROUP_DRIVER=systemd (a host booted with systemd, cgroup v2): dockerd's
# systemd cgroup driver (`native.cgroupdriver=systemd`; the shim passes
# --systemd-cgroup to the runtime), with a private slice of this run as the
# cgroup parent (ward-docker.XXXX becomes wardDockerXXXX.slice: a dash
# would nest it), stopped at the end; scopes reached over the host's D-Bus.
# WARD_DOCKER_HARDENED=1 (ward with its defaults) checks ward's documented
# deviations instead of Docker's defaults where they differ: --privileged gets
# ward's capability ceiling, and a container's writes to / are refused.
#
# Prints `ok NAME` / `FAIL NAME` per scenario and `N passed, M failed`.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=lib.sh
source "$here/lib.sh"

IMG=ward-busybox:latest
DOCKER=/usr/bin/docker
DOCKERD=/usr/sbin/dockerd

# Host paths a private dockerd must not create (/etc/docker and /run/docker
# are covered by tmpfs mounts in the private namespace).
host_paths() {
  local p
  for p in /run/docker.sock /var/lib/docker; do
    [ -e "$p" ] && echo "$p"
  done
  return 0
}

# kill_ours WORK CGPARENT PID...: SIGKILL those of the PIDs (read from pid
# files, which can outlive their process) that are still this run's: dockerd,
# containerd and shims name WORK on their command line, containers' processes
# sit in cgroups under CGPARENT.
kill_ours() {
  local w=$1 cg=$2 pid
  shift 2
  for pid in "$@"; do
    [[ $pid =~ ^[0-9]+$ ]] || continue
    if tr '\0' ' ' 2>/dev/null <"/proc/$pid/cmdline" | grep -qF "$w" ||
       grep -qF ":$cg/" "/proc/$pid/cgroup" 2>/dev/null; then
      kill -9 "$pid" 2>/dev/null || true
    fi
  done
}

# ---------------------------------------------------------------- outer part
if [ "${1:-}" != --inner ]; then
  [ "$(id -u)" = 0 ] || { echo "$0: must run as root" >&2; exit 2; }
  RUNTIME=$(resolve_runtime "${1:-}")
  need_setup=0
  for t in "$DOCKER" "$DOCKERD" docker-init containerd containerd-shim-runc-v2 unshare script busybox ps; do
    command -v "$t" >/dev/null || need_setup=1
  done
  if [ "$need_setup" = 1 ]; then bash "$here/setup.sh"; fi
  "$DOCKER" --version | grep -q 'version 20\.10\.' ||
    echo "note: $DOCKER is not the 20.10 client: $("$DOCKER" --version)" >&2

  work=$(mktemp -d /tmp/ward-docker.XXXXXX)
  # the containers' cgroup parent as a path in the cgroup tree
  if [ "${WARD_CGROUP_DRIVER:-cgroupfs}" = systemd ]; then
    cgparent=/wardDocker$(basename "$work" | sed 's/^ward-docker\.//; s/[^A-Za-z0-9]//g').slice
  else
    cgparent=/$(basename "$work")
  fi
  made_dirs=()
  host_paths >"$work/host-paths-before"
  cleanup() {
    local d
    # The inner part cleans up after itself; this is for when it was killed:
    # dockerd, its containerd, the shims and the containers' init processes,
    # by the pid files they wrote.
    # shellcheck disable=SC2046
    kill_ours "$work" "$cgparent" $(cat "$work"/dockerd.pid "$work"/exec/containerd/containerd.pid \
        "$work"/exec/containerd/daemon/io.containerd.runtime.v2.task/*/*/shim.pid \
        "$work"/exec/containerd/daemon/io.containerd.runtime.v2.task/*/*/init.pid 2>/dev/null)
    # the containers' cgroups (cgroupfs, under our own parent; systemd: our slice)
    if [ "${cgparent%.slice}" != "$cgparent" ]; then
      systemctl stop "${cgparent#/}" 2>/dev/null || true
    fi
    for d in /sys/fs/cgroup/*"$cgparent"; do
      [ -d "$d" ] && { find "$d" -depth -type d -exec rmdir {} + 2>/dev/null || true; }
    done
    if [ "${WARD_KEEP_WORK:-}" = 1 ]; then
      echo "kept $work (WARD_KEEP_WORK=1)" >&2
    else
      rm -rf "$work" 2>/dev/null || { sleep 1; rm -rf "$work" || true; }
    fi
    for d in "${made_dirs[@]}"; do rmdir "$d" 2>/dev/null || true; done
  }
  trap cleanup EXIT
  trap 'exit 130' INT TERM
  # Mount points for the private tmpfs mounts: empty directories on the host,
  # removed again afterwards when there were none.
  for d in /run/containerd /run/docker /etc/docker; do
    if [ ! -e "$d" ]; then mkdir -p "$d"; made_dirs+=("$d"); fi
  done
  rc=0
  unshare -m --propagation private "$BASH" "${BASH_SOURCE[0]}" --inner "$RUNTIME" "$work" "$cgparent" || rc=$?
  exit "$rc"
fi

# ---------------------------------------------------------------- inner part
# Here: a private mount namespace; nothing mounted here is seen outside, and
# all of it goes when the last process in it exits.
RUNTIME=$2
work=$3
cgparent=$4
sock=$work/docker.sock
exec_root=$work/exec
data_root=$work/data
SCEN_OUT=$work/scenario.out
DPID=""

mount -t tmpfs -o mode=0711 ward-test /run/containerd
mount -t tmpfs -o mode=0755 ward-test /etc/docker
mount -t tmpfs -o mode=0700 ward-test /run/docker
if [ "$(stat -f -c %T /sys/fs/cgroup/unified 2>/dev/null)" = cgroup2fs ]; then
  # writable: crun still creates (empty) cgroup directories there
  mount -t tmpfs ward-test /sys/fs/cgroup/unified
fi
mkdir -p "$work"/{image,client,host,exec,data}
[ "$(stat -f -c %T "$work/data")" = ext2/ext3 ] ||
  echo "note: the data root is on $(stat -f -c %T "$work/data"), not ext4: overlay2 may refuse it" >&2

export DOCKER_CONFIG=$work/client   # the client writes no ~/.docker
unset DOCKER_HOST DOCKER_CONTEXT DOCKER_TLS_VERIFY DOCKER_CERT_PATH
# The client; `timeout` so that a hung call fails the scenario.
D() { timeout -k 5 60 "$DOCKER" -H "unix://$sock" "$@"; }
# options of every `docker run` / `docker create`
RUN=(--runtime testrt --network none)
RUNW=(--runtime testrt-writable --network none)

containerd_pid() { cat "$exec_root/containerd/containerd.pid" 2>/dev/null; }
shim_dirs() { ls -d "$exec_root"/containerd/daemon/io.containerd.runtime.v2.task/*/* 2>/dev/null; }

inner_cleanup() {
  set +e
  if [ -S "$sock" ] && [ -n "$DPID" ] && kill -0 "$DPID" 2>/dev/null; then
    local ids
    ids=$(timeout 20 "$DOCKER" -H "unix://$sock" ps -aq 2>/dev/null)
    # shellcheck disable=SC2086
    [ -z "$ids" ] || timeout 60 "$DOCKER" -H "unix://$sock" rm -f -v $ids >/dev/null 2>&1
  fi
  local cpid d
  cpid=$(containerd_pid)
  if [ -n "$DPID" ]; then
    # dockerd stops its containerd on the way out
    kill "$DPID" 2>/dev/null
    for _ in $(seq 150); do kill -0 "$DPID" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$DPID" 2>/dev/null
    wait "$DPID" 2>/dev/null
  fi
  # Shims, containers and containerd still alive: kill by the pid they wrote.
  for d in $(shim_dirs); do
    # shellcheck disable=SC2046
    kill_ours "$work" "$cgparent" $(cat "$d/shim.pid" "$d/init.pid" 2>/dev/null)
  done
  kill_ours "$work" "$cgparent" $cpid
  # Mounts made here vanish with the namespace; unmount them anyway so that
  # `rm -rf` outside never meets a busy directory.
  grep -o " $work[^ ]*" /proc/self/mounts | sort -r | while read -r m; do umount -l "$m"; done
  # Container cgroups left behind by killed containers.
  for d in /sys/fs/cgroup/*"$cgparent"; do
    [ -d "$d" ] && find "$d" -depth -type d -exec rmdir {} + 2>/dev/null
  done
  return 0
}
trap inner_cleanup EXIT
trap 'exit 130' INT TERM

# WARD_DOCKER_RUNTIME_LOGS=1: register a wrapper that runs the runtime (not
# exec: one more process between shim and runtime) and then keeps a copy of
# the call's log.json, which otherwise goes with the bundle when the container
# stops. Off by default, so that the shim calls the runtime itself.
rt_path=$RUNTIME
if [ "${WARD_DOCKER_RUNTIME_LOGS:-}" = 1 ]; then
  mkdir -p "$work/runtime-logs"
  rt_path=$work/runtime-wrapper
  cat >"$rt_path" <<WRAP
#!/bin/sh
log=""; prev=""
for a in "\$@"; do [ "\$prev" = --log ] && log=\$a; prev=\$a; done
$(printf %q "$RUNTIME") "\$@"
rc=\$?
if [ -n "\$log" ] && [ -s "\$log" ]; then
  cp "\$log" "$work/runtime-logs/\$(basename "\$(dirname "\$log")").json" 2>/dev/null
fi
exit \$rc
WRAP
  chmod +x "$rt_path"
fi

# WARD_DOCKER_RUNTIME_ARGS="--relax rootfs=writable": words passed as the
# runtime's daemon.json runtimeArgs (before the command, on every call).
json_words() {
  local out="" a
  for a in "$@"; do
    out+="${out:+, }\"$(printf '%s' "$a" | sed 's/["\\]/\\&/g')\""
  done
  printf '%s' "$out"
}
# shellcheck disable=SC2086 # word lists by design
rt_args=$(json_words ${WARD_DOCKER_RUNTIME_ARGS:-})
# shellcheck disable=SC2086
rt_args_w=$(json_words ${WARD_DOCKER_WRITABLE_ARGS:-})

# cgroupfs: the parent's path; systemd: the slice's name
cgdriver=cgroupfs
dparent=$cgparent
if [ "${cgparent%.slice}" != "$cgparent" ]; then cgdriver=systemd dparent=${cgparent#/}; fi
cat >"$work/daemon.json" <<EOF
{
  "runtimes": {
    "testrt": { "path": "$rt_path", "runtimeArgs": [$rt_args] },
    "testrt-writable": { "path": "$rt_path", "runtimeArgs": [$rt_args_w] }
  },
  "storage-driver": "overlay2",
  "cgroup-parent": "$dparent",
  "exec-opts": ["native.cgroupdriver=$cgdriver"],
  "log-level": "debug"
}
EOF

build_busybox_image "$work/image" >/dev/null

"$DOCKERD" --config-file "$work/daemon.json" --data-root "$data_root" --exec-root "$exec_root" \
  --pidfile "$work/dockerd.pid" -H "unix://$sock" \
  --bridge=none --iptables=false --ip6tables=false --ip-forward=false --ip-masq=false \
  --userland-proxy=false >"$work/dockerd.log" 2>&1 &
DPID=$!
for _ in $(seq 150); do   # at most ~30 s
  [ -S "$sock" ] && D version >/dev/null 2>&1 && break
  kill -0 "$DPID" 2>/dev/null || break
  sleep 0.2
done
if ! D version >/dev/null 2>&1; then
  echo "dockerd did not start:" >&2
  tail -n 40 "$work/dockerd.log" >&2
  exit 1
fi
driver=$(D info -f '{{.Driver}}')
[ "$driver" = overlay2 ] || { echo "dockerd uses storage driver [$driver], not overlay2" >&2; exit 1; }

D import --change 'CMD ["sh"]' "$work/image/rootfs.tar" "$IMG" >"$work/import.log" 2>&1 ||
  { cat "$work/import.log" >&2; exit 1; }

# The runtime's own --root, as dockerd passes it to every runtime.
rt_root=$exec_root/runtime-runc/moby
# Mounts under the work dir once dockerd is up: what the end must come back to.
mounts_now() { grep -o " $work[^ ]*" /proc/self/mounts | sort; }
mounts_start=$(mounts_now)

# The machine-wide count of overlayfs "in-use" warnings, or "" when the kernel
# log can't be read.
inuse_count() {
  local log
  log=$(dmesg 2>/dev/null) || return 0
  printf '%s\n' "$log" | grep -c 'in-use as upperdir' || true
}

# Runtime-side evidence for a failed scenario: the last lines of the runtime's
# log.json in the bundles still there (a bundle goes when its container stops;
# with WARD_DOCKER_RUNTIME_LOGS=1 every call's log.json is kept), and dockerd's
# error lines since the scenario started (they carry containerd's and the
# shim's, with the runtime's error), without the routine ones.
CUR_NAMES=""
on_failure() {
  local f
  [ "$1" != no-overlay-in-use-warnings ] || return 0
  for f in $(shim_dirs); do
    [ -s "$f/log.json" ] && { echo "$f/log.json:"; tail -n 10 "$f/log.json"; }
  done
  for f in $(find "$work/runtime-logs" -name '*.json' -newer "$work/scenario-start" 2>/dev/null); do
    echo "$f:"
    grep -v '"level":"debug"' "$f" | tail -n 10 || true
  done
  echo "dockerd log (errors and warnings since the scenario started):"
  tail -n +"$SCEN_LOG_LINE" "$work/dockerd.log" | grep -E 'level=(error|warning)' |
    grep -Ev 'copy shim log|stream copy error|cleaning up after shim disconnected|failed to delete container from containerd: no such container' |
    grep -Ev 'cleanup warnings' | tail -n 12 || true
  # The shim's own log lines (one dockerd line each, joined by "\n"), without
  # the routine ones: "failed to remove runc container" follows every exit
  # (dockerd deleted it first).
  tail -n +"$SCEN_LOG_LINE" "$work/dockerd.log" | grep 'cleanup warnings' | sed 's/\\n/\n/g' |
    grep -E 'level=\\?"?(warning|error)' | grep -Ev 'failed to remove runc container|starting signal loop' |
    tail -n 4 || true
  return 0
}
run_scenario() {  # NAME FN CONTAINER-NAME...
  local name=$1 fn=$2 before after
  shift 2
  CUR_NAMES="$*"
  before=$(inuse_count)
  touch "$work/scenario-start"
  SCEN_LOG_LINE=$(($(wc -l <"$work/dockerd.log") + 1))
  scenario "$name" "$fn"
  local n
  for n in "$@"; do D rm -f -v "$n" >/dev/null 2>&1 || true; done
  after=$(inuse_count)
  if [ -n "$before" ] && [ -n "$after" ] && [ "$after" -gt "$before" ]; then
    local n=$((after - before)) ours
    ours=$(inuse_ours "$n" "$SCEN_LOG_LINE")
    INUSE+=("$name: $ours of $n")
    [ "$ours" -eq 0 ] || INUSE_OURS=$((INUSE_OURS + ours))
  fi
}
# The kernel log is machine-wide and its overlayfs warnings name no mount or
# process: other sessions' containers log them too. A warning counts as ours
# when it came within 3 s after one of our shims started (the runtime's create
# runs then): `inuse_ours N FROM_LINE` for the last N warnings and the shim
# starts in dockerd.log from line FROM_LINE on. The kernel's timestamps are
# turned into wall-clock time with KMSG_OFFSET, measured once with a mark
# written to /dev/kmsg (dmesg's own conversion was 0.5 s off here).
KMSG_OFFSET=""
calibrate_kmsg() {
  local mark t raw
  mark="ward integration/docker.sh: clock mark $(basename "$work")"
  t=$(date +%s.%N)
  echo "$mark" >/dev/kmsg 2>/dev/null || return 0
  raw=$(dmesg 2>/dev/null | grep -F "$mark" | tail -n 1 | sed 's/^\[ *\([0-9.]*\)\].*/\1/')
  [ -z "$raw" ] || KMSG_OFFSET=$(awk -v a="$t" -v b="$raw" 'BEGIN { printf "%.6f", a - b }')
}
inuse_ours() {
  local w s
  [ -n "$KMSG_OFFSET" ] || { echo 0; return 0; }
  w=$(dmesg 2>/dev/null | grep 'in-use as upperdir' | tail -n "$1" | sed 's/^\[ *\([0-9.]*\)\].*/\1/' |
    awk -v o="$KMSG_OFFSET" '{ printf "%.6f\n", $1 + o }')
  s=$(tail -n +"$2" "$work/dockerd.log" | grep -E '^time="[^"]*" level=info msg="starting signal loop"' |
    sed 's/^time="\([^"]*\)".*/\1/' | while read -r t; do date -d "$t" +%s.%N; done)
  awk -v s="$s" 'BEGIN { n = split(s, st, "\n"); c = 0 }
    { for (i = 1; i <= n; i++) if ($1 - st[i] >= -0.2 && $1 - st[i] <= 3) { c++; break } }
    END { print c }' <<<"$w"
}
# Per scenario with new overlayfs "in-use" warnings (two mounts sharing an
# upper/work dir, or an upper dir used as a lower one): "NAME: OURS of ALL".
# `inuse_count` is empty when dmesg can't be read.
INUSE=()
INUSE_OURS=0
s_no_overlay_in_use() {
  if [ -z "$(inuse_count)" ]; then
    echo "   note: the kernel log is not readable here: overlayfs in-use warnings not checked"
    return 0
  fi
  [ ${#INUSE[@]} -eq 0 ] && return 0
  echo "new 'overlayfs: ... in-use' kernel warnings (ours, by time, of all), per scenario:"
  printf '  %s\n' "${INUSE[@]}"
  dmesg | grep 'in-use as upperdir' | tail -n 20 | sed 's/^\[[ 0-9.]*\] //' | sort | uniq -c
  [ -n "$KMSG_OFFSET" ] || { echo "(no clock mark in the kernel log: warnings not attributed, all counted)"; return 1; }
  if [ "$INUSE_OURS" -eq 0 ]; then
    echo "   note: overlayfs in-use warnings during the run, none within 3 s of our containers' starts (other sessions'): $(printf '%s; ' "${INUSE[@]}")"
    return 0
  fi
  return 1
}

# wait_state NAME STATUS
wait_state() {
  local s
  for _ in $(seq 50); do
    s=$(D inspect -f '{{.State.Status}}' "$1") || return 1
    [ "$s" = "$2" ] && return 0
    sleep 0.2
  done
  echo "container $1: status [$s], wanted $2" >&2
  return 1
}
# the runtime's own view of a container dockerd made (its --root)
rt_status() {
  local id
  id=$(D inspect -f '{{.Id}}' "$1") || return 1
  "$RUNTIME" --root "$rt_root" state "$id" | grep -o '"status": *"[a-z]*"' | grep -o '[a-z]*"$' | tr -d '"'
}

# ---------------------------------------------------------------- scenarios
s_run_exit() {
  local out rc=0
  out=$(D run --rm "${RUN[@]}" "$IMG" echo hello from docker) || return 1
  want_eq output "hello from docker" "$out" || return 1
  D run --rm "${RUN[@]}" "$IMG" sh -c 'exit 3' || rc=$?
  want_eq "exit status" 3 "$rc" || return 1
  [ -z "$(D ps -aq)" ] || fail "--rm left a container"
}

# The docker CLI (20.10) maps the runtime's error text to the exit status,
# case-sensitively: "no such file or directory" / "executable file not found"
# -> 127, "permission denied" -> 126, else 125. runc (and ward) say it in lower
# case; crun 1.8 prints strerror ("No such file or directory", "Permission
# denied"), so with crun the CLI says 125: runtime-specific, accepted for crun
# only, as long as the text says why.
s_exec_errors() {
  local rc=0 err want127=127 want126=126
  if "$RUNTIME" --version 2>/dev/null | grep -q '^crun version'; then
    want127='127|125' want126='126|125'
    echo "   note: crun's capitalised strerror text makes the docker CLI exit 125, not 127/126"
  fi
  err=$(D run --rm "${RUN[@]}" "$IMG" /no/such/binary 2>&1) || rc=$?
  echo "missing binary: exit $rc: $err"
  want_match "exit status of a missing binary" "^($want127)\$" "$rc" || return 1
  want_match "says which" '/no/such/binary' "$err" || return 1
  want_match "says why" '[Nn]o such file or directory|executable file not found' "$err" || return 1
  rc=0
  err=$(D run --rm "${RUN[@]}" "$IMG" /etc/passwd 2>&1) || rc=$?
  echo "non-executable: exit $rc: $err"
  want_match "exit status of a non-executable entrypoint" "^($want126)\$" "$rc" || return 1
  want_match "says why" '[Pp]ermission denied' "$err" || return 1
  [ -z "$(D ps -aq)" ] || fail "--rm left a container"
}

# Checks go on after a failed one (bad=1), so that one run reports them all.
s_bind_mount() {
  local h=$work/host/bind out bad=0
  mkdir -p "$h/user"
  echo "from the host" >"$h/host-file"
  chown 1000:1000 "$h/user"
  out=$(D run --rm "${RUN[@]}" -v "$h:/data" "$IMG" sh -c 'cat /data/host-file; echo written >/data/ctr-file && echo ok')
  want_eq "container reads the host's file and writes" "from the host
ok" "$out" || bad=1
  if [ -f "$h/ctr-file" ]; then
    want_eq "content on the host" written "$(cat "$h/ctr-file")" || bad=1
    want_eq "owner on the host of container root's file" 0:0 "$(stat -c %u:%g "$h/ctr-file")" || bad=1
  else
    fail "the container's file is not on the host" || bad=1
  fi
  out=$(D run --rm "${RUN[@]}" --user 1000:1000 -v "$h:/data" "$IMG" sh -c 'id -u; echo mine >/data/user/f && echo ok')
  want_eq "uid 1000 writes into its directory" "1000
ok" "$out" || bad=1
  if [ -f "$h/user/f" ]; then
    want_eq "owner on the host of uid 1000's file" 1000:1000 "$(stat -c %u:%g "$h/user/f")" || bad=1
  else
    fail "uid 1000's file is not on the host" || bad=1
  fi
  [ "$bad" = 0 ]
}

s_named_volume() {
  local out mp bad=0
  D volume create t-vol >/dev/null || return 1
  D run --rm "${RUN[@]}" -v t-vol:/vol "$IMG" sh -c 'echo kept >/vol/f' || bad=1
  out=$(D run --rm "${RUN[@]}" -v t-vol:/vol "$IMG" cat /vol/f) || bad=1
  want_eq "a second container reads the volume" kept "$out" || bad=1
  mp=$(D volume inspect -f '{{.Mountpoint}}' t-vol) || return 1
  want_eq "on the host, in the data root" kept "$(cat "$mp/f" 2>&1)" || bad=1
  D volume rm t-vol >/dev/null || bad=1
  [ "$bad" = 0 ]
}

s_devices() {
  local out
  out=$(D run --rm "${RUN[@]}" --device /dev/null:/dev/xnull --device /dev/fuse "$IMG" sh -c \
    'ls -l /dev/xnull /dev/fuse; echo data >/dev/xnull && echo xnull-writable; exec 3<>/dev/fuse && echo fuse-opened') || true
  echo "$out"
  want_match "/dev/xnull is char 1,3" '^c.* 1, +3 .*/dev/xnull' "$(printf '%s\n' "$out" | grep xnull)" || return 1
  want_match "/dev/fuse is char 10,229" '^c.* 10, +229 .*/dev/fuse' "$(printf '%s\n' "$out" | grep ' /dev/fuse')" || return 1
  want_match "/dev/xnull usable" 'xnull-writable' "$out" || return 1
  want_match "/dev/fuse usable" 'fuse-opened' "$out"
}

s_privileged() {
  # --privileged asks for every capability the kernel has (cap_last_cap).
  # Where root's bounding set lacks some (CAP_SYS_RESOURCE on the test VMs),
  # runc and crun refuse ("unable to apply caps" / "capset: Operation not
  # permitted"), as they must; a runtime that starts it anyway must give the
  # whole bounding set and the host's devices.
  local out bnd last full rc=0 bad=0
  bnd=$(awk '/^CapBnd:/ {print $2}' /proc/self/status)
  last=$(cat /proc/sys/kernel/cap_last_cap)
  full=$(printf '%016x' $(((1 << (last + 1)) - 1)))
  out=$(D run --rm "${RUN[@]}" --privileged "$IMG" sh -c \
    'grep CapEff /proc/self/status; ls -l /dev/loop-control /dev/kmsg; head -c 0 /dev/kmsg && echo kmsg-opened' 2>&1) || rc=$?
  echo "$out"
  if [ "$rc" -ne 0 ] && [ "$bnd" != "$full" ] && grep -q 'OCI runtime create failed' <<<"$out"; then
    want_match "privileged refused for the missing capabilities" 'caps|capset|capabilit' "$out" || return 1
    echo "   note: --privileged refused: root's CapBnd $bnd lacks capabilities of $full (this host); the runtime said: $(printf '%s' "$out" | grep -o 'OCI runtime create failed.*' | head -n 1)"
    return 0
  fi
  want_match "privileged: /dev/loop-control" '^c.* 10, +237 .*/dev/loop-control' "$out" || bad=1
  if [ "${WARD_DOCKER_HARDENED:-}" = 1 ]; then
    # ward's defaults: the capability ceiling holds (no CAP_SYS_ADMIN, bit
    # 21) and its user namespace keeps host-only devices such as /dev/kmsg
    # (CAP_SYSLOG of the host) closed; the devices are there.
    local eff
    eff=$(printf '%s\n' "$out" | awk '/^CapEff:/ {print $2}')
    [ -n "$eff" ] && [ $((0x$eff >> 21 & 1)) = 0 ] ||
      fail "privileged under ward's defaults: CapEff $eff has CAP_SYS_ADMIN" || bad=1
    grep -q '/dev/kmsg' <<<"$out" || fail "privileged: /dev/kmsg not bound" || bad=1
    echo "   note: --privileged under ward's defaults: CapEff $eff (ward's ceiling), devices bound"
  else
    want_match "privileged: full CapEff (the host's bounding set)" "CapEff:[[:space:]]+$bnd" "$out" || bad=1
    want_match "privileged: /dev/kmsg usable" 'kmsg-opened' "$out" || bad=1
    want_eq "privileged: exit status" 0 "$rc" || bad=1
  fi
  [ "$bad" = 0 ]
}

s_options() {
  local out
  out=$(D run --rm "${RUN[@]}" --read-only --tmpfs /scratch "$IMG" sh -c \
    'if touch /probe 2>/dev/null; then echo writable; else echo read-only; fi
     echo x >/scratch/f && echo scratch-writable; grep " /scratch " /proc/mounts | cut -d" " -f3') || return 1
  want_eq "--read-only and --tmpfs" "read-only
scratch-writable
tmpfs" "$out" || return 1
  out=$(D run --rm "${RUN[@]}" --init "$IMG" sh -c 'cat /proc/1/comm; [ $$ != 1 ] && echo sh-not-pid1') || return 1
  want_eq "--init: docker-init is pid 1" "docker-init
sh-not-pid1" "$out" || return 1
  out=$(D run --rm "${RUN[@]}" -e WARD_TEST=some-value -w /work/dir "$IMG" sh -c 'echo $WARD_TEST; pwd') || return 1
  want_eq "-e and -w" "some-value
/work/dir" "$out" || return 1
  out=$(D run --rm "${RUN[@]}" --user 1000:1000 "$IMG" sh -c 'id -u; id -g; touch /tmp/f && echo tmp-writable') || return 1
  want_eq "--user" "1000
1000
tmp-writable" "$out"
}

s_lifecycle() {
  local out rc=0 pid pid2 t0 t1
  D run -d --name t-life "${RUN[@]}" "$IMG" sh -c 'trap "exit 0" TERM; sleep 1000 & while :; do sleep 0.2; done' >/dev/null || return 1
  wait_state t-life running || return 1
  out=$(rt_status t-life) || return 1
  want_eq "the runtime under test made it (its state)" running "$out" || return 1
  out=$(D exec t-life sh -c 'echo exec says $((6*7))') || return 1
  want_eq "exec output" "exec says 42" "$out" || return 1
  D exec t-life sh -c 'exit 4' || rc=$?
  want_eq "exec exit status" 4 "$rc" || return 1
  out=$(D top t-life) || return 1
  echo "$out"
  want_match "top lists sleep 1000" 'sleep 1000' "$out" || return 1
  out=$(D stats --no-stream --format '{{.Name}} {{.MemUsage}} {{.PIDs}}' t-life) || return 1
  echo "stats: $out"
  want_match "stats reads memory and pids" '^t-life [1-9][0-9.]*[KMG]iB / .* [1-9][0-9]*$' "$out" || return 1
  D pause t-life >/dev/null || return 1
  wait_state t-life paused || return 1
  want_eq "runtime state when paused" paused "$(rt_status t-life)" || return 1
  out=$(D exec t-life true 2>&1) && fail "exec into a paused container worked: $out"
  D unpause t-life >/dev/null || return 1
  wait_state t-life running || return 1
  pid=$(D inspect -f '{{.State.Pid}}' t-life) || return 1
  D restart -t 10 t-life >/dev/null || return 1
  wait_state t-life running || return 1
  pid2=$(D inspect -f '{{.State.Pid}}' t-life) || return 1
  [ "$pid2" != "$pid" ] && kill -0 "$pid2" || fail "restart: pid $pid -> $pid2" || return 1
  t0=$(date +%s)
  D stop -t 20 t-life >/dev/null || return 1
  t1=$(date +%s)
  want_eq "stop: exit code after SIGTERM" 0 "$(D inspect -f '{{.State.ExitCode}}' t-life)" || return 1
  [ $((t1 - t0)) -lt 15 ] || fail "stop took $((t1 - t0)) s: SIGTERM not honoured" || return 1
  D start t-life >/dev/null || return 1
  wait_state t-life running || return 1
  D kill t-life >/dev/null || return 1
  wait_state t-life exited || return 1
  want_eq "kill: exit code" 137 "$(D inspect -f '{{.State.ExitCode}}' t-life)" || return 1
  D rm t-life >/dev/null || return 1
  D run -d --name t-life2 "${RUN[@]}" "$IMG" sleep 1000 >/dev/null || return 1
  wait_state t-life2 running || return 1
  pid=$(D inspect -f '{{.State.Pid}}' t-life2) || return 1
  D rm -f t-life2 >/dev/null || return 1
  ! D inspect t-life2 >/dev/null 2>&1 || fail "rm -f left the container" || return 1
  for _ in $(seq 20); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  ! kill -0 "$pid" 2>/dev/null || fail "rm -f left the process $pid"
}

# `docker cp` and `docker diff` work on the rootfs on the host (the overlay's
# merged directory and its upper layer): what the container writes there must
# be what dockerd sees, and stay over a restart.
s_cp_rootfs() {
  local out pid bad=0
  if [ "${WARD_DOCKER_HARDENED:-}" = 1 ]; then
    # ward's default read-only rootfs, and the writable runtime next.
    out=$(D run --rm "${RUN[@]}" "$IMG" sh -c 'echo x >/root/f 2>&1 || echo refused') || return 1
    want_match "ward's default rootfs is read-only" 'Read-only file system|refused' "$out" || return 1
  fi
  D run -d --name t-cp "${RUNW[@]}" "$IMG" sh -c 'echo made inside >/root/inside; exec sleep 1000' >/dev/null || return 1
  wait_state t-cp running || return 1
  for _ in $(seq 20); do D exec t-cp test -s /root/inside && break; sleep 0.1; done
  # evidence for a failure: the container's / as its init sees it, and the
  # overlay2 upper layer dockerd reads and writes
  pid=$(D inspect -f '{{.State.Pid}}' t-cp) || return 1
  echo "container's /: $(awk '$5 == "/" {print $9, $10, $11}' "/proc/$pid/mountinfo" | tail -n 1 | tr ',' '\n' | grep -E '^(overlay|/|upperdir|lowerdir)' | tr '\n' ' ')"
  echo "dockerd's upper: $(D inspect -f '{{.GraphDriver.Data.UpperDir}}' t-cp)"
  # out: the container's write, read by dockerd from the rootfs on the host
  if D cp t-cp:/root/inside "$work/host/cp-out"; then
    want_eq "copied out of the container" "made inside" "$(cat "$work/host/cp-out")" || bad=1
  else
    bad=1
  fi
  # in: written by dockerd into the rootfs on the host, read inside
  echo "copied in" >"$work/host/cp-in"
  D cp "$work/host/cp-in" t-cp:/root/cp-in || return 1
  out=$(D exec t-cp cat /root/cp-in) || bad=1
  want_eq "copied into the container" "copied in" "$out" || bad=1
  out=$(D diff t-cp) || bad=1
  want_match "docker diff shows the container's write" 'A /root/inside' "$out" || bad=1
  D exec t-cp sh -c 'echo kept >/root/kept' || bad=1
  D restart -t 1 t-cp >/dev/null || return 1
  wait_state t-cp running || return 1
  out=$(D exec t-cp cat /root/kept) || bad=1
  want_eq "the container's write survives a restart" kept "$out" || bad=1
  [ "$bad" = 0 ] && D rm -f t-cp >/dev/null
}

s_tty() {
  local out
  out=$(D run -t --rm "${RUN[@]}" "$IMG" sh -c 'tty; [ -t 1 ] && echo tty-ok') || return 1
  out=$(printf '%s' "$out" | tr -d '\r')
  echo "$out"
  want_match "tty device" '^/dev/pts/[0-9]+' "$out" || return 1
  want_match "terminal works" 'tty-ok' "$out"
}

s_nothing_left() {
  local out
  out=$(D ps -aq) || return 1
  want_eq "containers left" "" "$out" || return 1
  out=$(find "$rt_root" -mindepth 1 2>/dev/null | grep -vE '/@ward$' || true)
  want_eq "state left in the runtime's root ($rt_root)" "" "$out" || return 1
  out=$(shim_dirs)
  want_eq "bundles left" "" "$out" || return 1
  want_eq "host paths a private dockerd must not create" "$(cat "$work/host-paths-before")" "$(host_paths)" || return 1
  out=$(find /sys/fs/cgroup$cgparent -mindepth 1 -type d 2>/dev/null || true)
  want_eq "container cgroups left under $cgparent" "" "$out" || return 1
  if [ "$cgdriver" = systemd ]; then
    out=$(systemctl list-units --all --no-legend --plain 'docker-*.scope' 2>&1 | grep -v '^$' || true)
    want_eq "docker scopes left (systemctl list-units 'docker-*.scope')" "" "$out" || return 1
  fi
  out=$(mounts_now)
  want_eq "mounts under the work dir (against those when dockerd had started)" "$mounts_start" "$out"
}

calibrate_kmsg
run_scenario run-rm-exit-code s_run_exit
run_scenario exec-errors-127-126 s_exec_errors
run_scenario bind-mount-ownership s_bind_mount
run_scenario named-volume s_named_volume
run_scenario devices s_devices
run_scenario privileged s_privileged
run_scenario readonly-tmpfs-init-env-workdir-user s_options
run_scenario detached-lifecycle s_lifecycle t-life t-life2
run_scenario cp-diff-restart-keeps-writes s_cp_rootfs t-cp
run_scenario tty s_tty
run_scenario nothing-left s_nothing_left
CUR_NAMES=""
scenario no-overlay-in-use-warnings s_no_overlay_in_use

summary
