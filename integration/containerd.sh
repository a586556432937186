#!/usr/bin/env bash
# Real-client scenarios through containerd 1.6 and its stock runc shim
# (io.containerd.runc.v2) with the OCI runtime given as the argument:
#
#   integration/containerd.sh /usr/bin/runc
#   integration/containerd.sh target/release/ward
#
# Runs a private containerd (own root, state, sockets and config; never the
# system's) inside a private mount namespace with throw-away tmpfs mounts over
# /run/containerd (containerd 1.6 keeps shim sockets under /run/containerd/s
# whatever its config says) and /sys/fs/cgroup/unified (crun 1.8 refuses the
# hybrid cgroup layout; with it hidden every runtime sees plain cgroup v1).
#
# Most scenarios use `ctr run --runc-binary RUNTIME`; one goes through a CRI
# runtime handler whose `BinaryName` comes from the private config.toml, built
# from the snippet in docs/kubernetes.md.
#
# Prints `ok NAME` / `FAIL NAME` per scenario and `N passed, M failed`.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/.." && pwd)
# shellcheck source=lib.sh
source "$here/lib.sh"

NS=""  # containerd namespace for ctr scenarios: unique per run (its cgroups are /NS/ID)
IMG=docker.io/library/ward-busybox:latest
PAUSE_IMG=docker.io/library/ward-pause:latest
USER_IMG=docker.io/library/ward-busybox-user:latest

# ---------------------------------------------------------------- outer part
if [ "${1:-}" != --inner ]; then
  [ "$(id -u)" = 0 ] || { echo "$0: must run as root" >&2; exit 2; }
  RUNTIME=$(resolve_runtime "${1:-}")
  need_setup=0
  for t in containerd ctr containerd-shim-runc-v2 unshare script busybox; do
    command -v "$t" >/dev/null || need_setup=1
  done
  /usr/bin/python3 -c 'import grpc' 2>/dev/null || need_setup=1
  if [ "$need_setup" = 1 ]; then bash "$here/setup.sh"; fi

  work=$(mktemp -d /tmp/ward-containerd.XXXXXX)
  made_run_dir=0
  cleanup() {
    local pid
    # The inner part cleans up after itself; this is for when it was killed.
    # (shims and containers' init processes by the pid files they wrote)
    for pid in $(cat "$work"/shim-pids "$work"/containerd.pid \
        "$work"/state/io.containerd.runtime.v2.task/*/*/shim.pid \
        "$work"/state/io.containerd.runtime.v2.task/*/*/init.pid 2>/dev/null); do
      kill -9 "$pid" 2>/dev/null || true
    done
    if [ "${WARD_KEEP_WORK:-}" = 1 ]; then
      echo "kept $work (WARD_KEEP_WORK=1)" >&2
    else
      rm -rf "$work" 2>/dev/null || { sleep 1; rm -rf "$work" || true; }
    fi
    if [ "$made_run_dir" = 1 ]; then rmdir /run/containerd 2>/dev/null || true; fi
  }
  trap cleanup EXIT
  trap 'exit 130' INT TERM
  # The mount point for the private tmpfs. An empty directory on the host,
  # removed again afterwards, when there was none.
  if [ ! -e /run/containerd ]; then mkdir -p /run/containerd; made_run_dir=1; fi
  rc=0
  unshare -m --propagation private "$BASH" "${BASH_SOURCE[0]}" --inner "$RUNTIME" "$work" || rc=$?
  exit "$rc"
fi

# ---------------------------------------------------------------- inner part
# Here: a private mount namespace; nothing mounted here is seen outside, and
# all of it goes when the last process in it exits.
RUNTIME=$2
work=$3
# The work dir comes from the outer part's mktemp: anything else (a relative or
# unexpanded path such as a literal '$work' from a hand-typed --inner call)
# would put the clients' storage into the current directory, the checkout.
case "$work" in
  /tmp/ward-*) [ -d "$work" ] || { echo "$0 --inner: $work is not a directory" >&2; exit 2; } ;;
  *) echo "$0 --inner: work dir must be the outer part's /tmp/ward-* dir, got '$work'" >&2; exit 2 ;;
esac
NS=$(basename "$work")
sock=$work/containerd.sock
SCEN_OUT=$work/scenario.out
CPID=""

mount -t tmpfs -o mode=0711 ward-test /run/containerd
if [ "$(stat -f -c %T /sys/fs/cgroup/unified 2>/dev/null)" = cgroup2fs ]; then
  # writable: crun still creates (empty) cgroup directories there
  mount -t tmpfs ward-test /sys/fs/cgroup/unified
fi

inner_cleanup() {
  set +e
  if [ -S "$sock" ] && [ -n "$CPID" ]; then
    local n id
    for n in "$NS" k8s.io; do
      for id in $(timeout 10 ctr -a "$sock" -n "$n" task ls -q 2>/dev/null); do
        timeout 10 ctr -a "$sock" -n "$n" task kill -s SIGKILL "$id" >/dev/null 2>&1
        timeout 10 ctr -a "$sock" -n "$n" task delete -f "$id" >/dev/null 2>&1
      done
    done
  fi
  # Shims (and with them containers) still alive: kill by the pid they wrote.
  cat "$work"/state/io.containerd.runtime.v2.task/*/*/shim.pid 2>/dev/null | tr ' ' '\n' >>"$work/shim-pids"
  local pid
  for pid in $(cat "$work/shim-pids" 2>/dev/null); do kill -9 "$pid" 2>/dev/null; done
  if [ -n "$CPID" ]; then
    kill "$CPID" 2>/dev/null
    for _ in $(seq 50); do kill -0 "$CPID" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$CPID" 2>/dev/null
    wait "$CPID" 2>/dev/null
  fi
  # Mounts made here vanish with the namespace; unmount the snapshot mounts
  # anyway so that `rm -rf` outside never meets a busy directory.
  grep -o " $work[^ ]*" /proc/self/mounts | sort -r | while read -r m; do umount -l "$m"; done
  # Container cgroups left behind by killed containers.
  local d
  for d in /sys/fs/cgroup/*/"$NS" /sys/fs/cgroup/*/k8s.io; do
    [ -d "$d" ] && find "$d" -depth -type d -exec rmdir {} + 2>/dev/null
  done
  return 0
}
trap inner_cleanup EXIT
trap 'exit 130' INT TERM

mkdir -p "$work"/{root,state,image,cni/bin,cni/conf,podlogs}

# WARD_CGROUP_DRIVER=systemd (on a host booted with systemd, cgroup v2): the
# runtime gets --systemd-cgroup, as on a kubeadm node: ctr scenarios name a
# scope (system.slice:NS:ID), the CRI pod gets a kubelet-style slice as its
# cgroup parent.
CGDRIVER=${WARD_CGROUP_DRIVER:-cgroupfs}
# The runtime handler from docs/kubernetes.md, with BinaryName = the runtime
# under test and, unless the systemd driver is asked for, no systemd (the
# development machine has none).
snippet=$(sed -n '/<!-- ward-runtime-handler:begin -->/,/<!-- ward-runtime-handler:end -->/p' "$repo/docs/kubernetes.md" |
  sed '/^<!--/d;/^```/d')
[ -n "$snippet" ] || { echo "no ward-runtime-handler snippet in docs/kubernetes.md" >&2; exit 2; }
snippet=$(printf '%s\n' "$snippet" |
  sed -e "s|^\([[:space:]]*BinaryName[[:space:]]*=\).*|\1 \"$RUNTIME\"|" \
      -e "s|^\([[:space:]]*SystemdCgroup[[:space:]]*=\).*|\1 $([ "$CGDRIVER" = systemd ] && echo true || echo false)|")

cat >"$work/config.toml" <<EOF
version = 2
root = "$work/root"
state = "$work/state"
# Plugins that would touch host paths (/opt/containerd) or aren't needed.
disabled_plugins = ["io.containerd.internal.v1.opt", "io.containerd.snapshotter.v1.aufs",
  "io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs",
  "io.containerd.snapshotter.v1.devmapper", "io.containerd.tracing.processor.v1.otlp",
  "io.containerd.internal.v1.tracing"]

[grpc]
  address = "$sock"
[ttrpc]
  address = "$sock.ttrpc"
[debug]
  address = "$work/debug.sock"
  level = "debug"
[metrics]
  address = ""

[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "$PAUSE_IMG"
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
  enable_selinux = false
  # The pod sandbox asks for oom_score_adj -998; lowering it needs
  # CAP_SYS_RESOURCE, which root lacks on the test machines.
  restrict_oom_score_adj = true
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "$work/cni/bin"
    conf_dir = "$work/cni/conf"
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
  # As in containerd's stock config: the default handler stays runc.
  [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
    runtime_type = "io.containerd.runc.v2"

$snippet
EOF

build_busybox_image "$work/image" >/dev/null

containerd --config "$work/config.toml" >"$work/containerd.log" 2>&1 &
CPID=$!
echo "$CPID" >"$work/containerd.pid"
for _ in $(seq 100); do
  ctr -a "$sock" version >/dev/null 2>&1 && break
  kill -0 "$CPID" 2>/dev/null || break
  sleep 0.2
done
if ! ctr -a "$sock" version >/dev/null 2>&1; then
  echo "containerd did not start:" >&2
  tail -n 40 "$work/containerd.log" >&2
  exit 1
fi

# ctr forwards SIGTERM to the task, so a timeout must be able to SIGKILL it.
C() {
  local a=("$@") i
  # systemd driver: ctr wants the scope spelled out (--cgroup slice:prefix:name)
  if [ "$CGDRIVER" = systemd ] && [ "${1:-}" = run ]; then
    for ((i = 1; i < ${#a[@]} - 1; i++)); do
      case "${a[i]}" in
        docker.io/*) a=("${a[@]:0:i}" --cgroup "system.slice:$NS:${a[i+1]}" "${a[@]:i}"); break ;;
      esac
    done
  fi
  timeout -k 5 60 ctr -a "$sock" -n "$NS" "${a[@]}"
}
K() { timeout -k 5 60 ctr -a "$sock" -n k8s.io "$@"; }
RUNC=(--runc-binary "$RUNTIME")
if [ "$CGDRIVER" = systemd ]; then
  RUNC+=(--runc-systemd-cgroup)
  export WARD_CRI_CGROUP_PARENT="kubepods-besteffort-pod$(echo "$NS" | tr -dc 'a-z0-9').slice"
fi
# the runtime's own view of a container created by the shim (its --root)
rt_state() { "$RUNTIME" --root "/run/containerd/runc/$1" state "$2"; }

C image import "$work/image/oci.tar" >/dev/null
K image import "$work/image/oci.tar" >/dev/null

# Runtime-side evidence for a failed scenario: the containerd log lines about
# the scenario's containers (shim and runtime errors end up there) and any
# runtime log.json still in a bundle.
CUR_IDS=""
on_failure() {
  local id f
  [ -n "$CUR_IDS" ] || grep -E 'level=error' "$work/containerd.log" | grep -v 'copy shim log' | tail -n 10
  for id in $CUR_IDS; do
    grep -F "$id" "$work/containerd.log" | grep -Ev 'level=debug' | tail -n 15
  done
  for f in "$work"/state/io.containerd.runtime.v2.task/*/*/log.json; do
    [ -s "$f" ] && { echo "$f:"; tail -n 15 "$f"; }
  done
  return 0
}
run_scenario() {  # NAME FN ID...
  local name=$1 fn=$2
  shift 2
  CUR_IDS="$*"
  scenario "$name" "$fn"
  local id
  for id in "$@"; do  # whatever the scenario left
    C task kill -s SIGKILL "$id" >/dev/null 2>&1 || true
    C task delete -f "$id" >/dev/null 2>&1 || true
    C container delete "$id" >/dev/null 2>&1 || true
  done
}
# wait_status ID STATUS: until `ctr task ls` shows it (RUNNING, STOPPED, PAUSED)
wait_status() {
  local s
  for _ in $(seq 50); do
    s=$(C task ls | awk -v id="$1" '$1 == id {print $3}')
    [ "$s" = "$2" ] && return 0
    sleep 0.2
  done
  echo "task $1: status [$s], wanted $2" >&2
  return 1
}

# ---------------------------------------------------------------- scenarios
s_run_output() {
  local out
  out=$(C run --rm "${RUNC[@]}" "$IMG" t-output echo hello from a container) || return 1
  want_eq output "hello from a container" "$out"
}

s_uid_map() {
  # Informational: which user namespace the runtime gave the container.
  local out
  out=$(C run --rm "${RUNC[@]}" "$IMG" t-uidmap cat /proc/self/uid_map) || return 1
  echo "   uid_map: $(echo $out)"
  [ -n "$out" ]
}

s_exit_code() {
  local rc=0
  C run --rm "${RUNC[@]}" "$IMG" t-exit sh -c 'exit 7' || rc=$?
  want_eq "exit status" 7 "$rc"
}

s_detached_exec_ps_kill() {
  local id=t-detached out
  C run -d "${RUNC[@]}" "$IMG" $id sh -c 'trap "exit 3" TERM; while :; do sleep 0.2; done' || return 1
  wait_status $id RUNNING || return 1
  # the task was made by the runtime under test (the shim's --root)
  out=$(rt_state "$NS" $id) || return 1
  want_match "runtime state" '"status": *"running"' "$out" || return 1
  out=$(C task exec --exec-id e1 $id sh -c 'echo exec says $((6*7)); exit 0') || return 1
  want_eq "exec output" "exec says 42" "$out" || return 1
  local rc=0
  C task exec --exec-id e2 $id sh -c 'exit 4' || rc=$?
  want_eq "exec exit status" 4 "$rc" || return 1
  out=$(C task ps $id) || return 1
  echo "$out"
  local pid
  pid=$(C task ls | awk -v id=$id '$1 == id {print $2}')
  want_match "task ps lists the init pid" "(^|[[:space:]])$pid([[:space:]]|$)" "$out" || return 1
  C task kill $id || return 1             # SIGTERM
  wait_status $id STOPPED || return 1
  out=$(C task delete $id) || return 1
  echo "$out"
  C container delete $id || return 1
  ! C task ls -q | grep -qx $id || fail "task still listed"
}

s_stdin() {
  local out
  # ctr closes the task's stdin on EOF only once the task exists (an EOF
  # before that is lost and the task waits forever): keep the pipe open until
  # the task runs (seconds under emulation), and a moment longer.
  out=$( { printf 'line one\nline two\n'
           for _ in $(seq 150); do C task ls -q 2>/dev/null | grep -qx t-stdin && break; sleep 0.2; done
           sleep 1; } | C run --rm "${RUNC[@]}" "$IMG" t-stdin sh -c 'wc -l; echo done') || return 1
  want_eq "stdin through cat" "2
done" "$out"
}

s_tty() {
  local out
  # The client must sit in the terminal's foreground process group to set the
  # pty's modes; plain `timeout` puts it in a background group (and whether the
  # shell that script(1) starts hides that depends on $SHELL), so --foreground.
  out=$(SHELL=/bin/sh script -qec "timeout --foreground -k 5 60 ctr -a $sock -n $NS run -t --rm --runc-binary $RUNTIME $IMG t-tty sh -c 'tty; [ -t 0 ] && [ -t 1 ] && echo tty-ok'" /dev/null </dev/null 2>&1; echo "(script exit $?)") || true
  out=$(printf '%s' "$out" | tr -d '\r\000')
  echo "$out"
  want_match "tty device" '/dev/pts/[0-9]+' "$out" || return 1
  want_match "terminal works" 'tty-ok' "$out"
}

s_pause_resume() {
  local id=t-pause out
  C run -d "${RUNC[@]}" "$IMG" $id sh -c 'i=0; while :; do i=$((i+1)); echo $i >/tmp/count; sleep 0.1; done' || return 1
  wait_status $id RUNNING || return 1
  C task pause $id || return 1
  wait_status $id PAUSED || return 1
  local a b
  a=$(C task exec --exec-id r1 $id cat /tmp/count 2>&1) && fail "exec into a paused task worked: $a"
  C task resume $id || return 1
  wait_status $id RUNNING || return 1
  a=$(C task exec --exec-id r2 $id cat /tmp/count) || return 1
  sleep 0.5
  b=$(C task exec --exec-id r3 $id cat /tmp/count) || return 1
  [ "$b" -gt "$a" ] || fail "counter did not advance after resume ($a -> $b)"
  C task kill -s SIGKILL $id || return 1
  wait_status $id STOPPED || return 1
  C task delete $id >/dev/null && C container delete $id
}

s_read_only() {
  local out
  out=$(C run --rm --read-only "${RUNC[@]}" "$IMG" t-ro sh -c 'if touch /probe 2>/dev/null; then echo writable; else echo read-only; fi') || return 1
  want_eq "rootfs" read-only "$out"
}

s_user() {
  # ctr 1.6 has no --user flag: the image's config says User 1000:1000.
  local out
  # /tmp, not the image's /home: ward's default rootfs is read-only.
  out=$(C run --rm "${RUNC[@]}" "$USER_IMG" t-user sh -c 'id -u; id -g; touch /tmp/f && echo tmp-writable') || return 1
  want_eq "uid/gid" "1000
1000
tmp-writable" "$out"
}

s_env_cwd() {
  local out
  out=$(C run --rm --env WARD_TEST=some-value --cwd /tmp "${RUNC[@]}" "$IMG" t-env sh -c 'echo $WARD_TEST; pwd') || return 1
  want_eq "env and cwd" "some-value
/tmp" "$out"
}

# the host-side file FILE of the memory cgroup that task ID's init is in
task_memcg_file() {
  local pid cg
  pid=$(C task ls | awk -v id="$1" '$1 == id {print $2}')
  cg=$(awk -F: '$2 ~ /(^|,)memory(,|$)/ {print $3}' "/proc/$pid/cgroup")
  if [ -n "$cg" ]; then
    cat "/sys/fs/cgroup/memory$cg/$2"
  else  # cgroup v2
    cg=$(awk -F: '$1 == "0" {print $3}' "/proc/$pid/cgroup")
    cat "/sys/fs/cgroup$cg/$3"
  fi
}

s_memory_limit() {
  local id=t-mem out
  C run -d --memory-limit 67108864 "${RUNC[@]}" "$IMG" $id sleep 1000 || return 1
  wait_status $id RUNNING || return 1
  out=$(task_memcg_file $id memory.limit_in_bytes memory.max) || return 1
  want_eq "memory limit of the container's cgroup" 67108864 "$out" || return 1
  C task kill -s SIGKILL $id && wait_status $id STOPPED && C task delete $id >/dev/null && C container delete $id
}

s_metrics() {
  local id=t-metrics out
  C run -d --memory-limit 33554432 "${RUNC[@]}" "$IMG" $id sh -c 'sleep 1000 & sleep 1000' || return 1
  wait_status $id RUNNING || return 1
  out=$(C task metrics $id) || return 1
  echo "$out"
  # v1: memory.limit_in_bytes; cgroup v2 (ctr's v2 metrics): memory.usage_limit
  want_match "metrics show the limit" 'memory\.(limit_in_bytes|max|usage_limit)[[:space:]]+33554432' "$out" || return 1
  want_match "metrics show pids" 'pids\.current[[:space:]]+[1-9]' "$out" || return 1
  C task kill -s SIGKILL $id && wait_status $id STOPPED && C task delete $id >/dev/null && C container delete $id
}

s_broken_bundle_error() {
  local rc=0 err
  err=$(C run --rm "${RUNC[@]}" "$IMG" t-broken /no/such/command 2>&1 >/dev/null) || rc=$?
  echo "$err"
  [ "$rc" -ne 0 ] || fail "ctr run of a missing command succeeded"
  want_match "the runtime's error reaches ctr's stderr" '/no/such/command' "$err" || return 1
  want_match "says why" '[Nn]o such file|not found' "$err"
}

s_cri_runtime_handler() {
  # The config-file path: CRI runtime handler "ward" from docs/kubernetes.md,
  # BinaryName = the runtime under test.
  local cri=("/usr/bin/python3" "$here/cri.py" "$sock") sid cid out rc=0
  sid=$("${cri[@]}" runp ward-pod ward "$work/podlogs" run.ward.seccomp=unconfined) || return 1
  echo "$sid" >"$work/cri-sandbox"
  cid=$("${cri[@]}" create "$sid" ward-pod "$work/podlogs" "$IMG" c1.log run.ward.seccomp=unconfined -- sh -c 'echo hello from cri; exec sleep 1000') || return 1
  echo "$cid" >"$work/cri-container"
  "${cri[@]}" start "$cid" || return 1
  out=$("${cri[@]}" status "$cid") || return 1
  want_eq "container status" "RUNNING 0" "$out" || return 1
  # made by the runtime under test, via BinaryName from config.toml
  out=$(rt_state k8s.io "$cid") || return 1
  want_match "runtime state" '"status": *"running"' "$out" || return 1
  out=$(rt_state k8s.io "$sid") || return 1
  want_match "sandbox runtime state" '"status": *"running"' "$out" || return 1
  # pod_annotations = ["run.ward.*"] let the annotation into the OCI spec
  local b
  for b in "$sid" "$cid"; do
    grep -q '"run.ward.seccomp": *"unconfined"' "$work/state/io.containerd.runtime.v2.task/k8s.io/$b/config.json" ||
      fail "run.ward.seccomp annotation missing from the spec of $b" || return 1
  done
  out=$("${cri[@]}" exec "$cid" 20 -- sh -c 'echo exec $((3+4)); exit 5') || rc=$?
  want_eq "ExecSync output" "exec 7" "$out" || return 1
  want_eq "ExecSync exit code" 5 "$rc" || return 1
  for _ in $(seq 20); do grep -q 'hello from cri' "$work/podlogs/c1.log" 2>/dev/null && break; sleep 0.2; done
  grep -q 'hello from cri' "$work/podlogs/c1.log" || fail "container log lacks its output"
  "${cri[@]}" stopc "$cid" || return 1
  out=$("${cri[@]}" status "$cid") || return 1
  # SIGTERM (143) or, after the 1s grace period, SIGKILL (137)
  want_match "stopped container status" '^EXITED (137|143)$' "$out" || return 1
  "${cri[@]}" rmc "$cid" || return 1
  "${cri[@]}" stopp "$sid" || return 1
  "${cri[@]}" rmp "$sid" || return 1
  rm -f "$work/cri-sandbox" "$work/cri-container"
}

run_scenario run-output s_run_output t-output
run_scenario uid-map s_uid_map t-uidmap
run_scenario exit-code s_exit_code t-exit
run_scenario detached-exec-ps-kill-delete s_detached_exec_ps_kill t-detached
run_scenario stdin s_stdin t-stdin
run_scenario tty s_tty t-tty
run_scenario pause-resume s_pause_resume t-pause
run_scenario read-only s_read_only t-ro
run_scenario user s_user t-user
run_scenario env-cwd s_env_cwd t-env
run_scenario memory-limit s_memory_limit t-mem
run_scenario metrics s_metrics t-metrics
run_scenario broken-bundle-error s_broken_bundle_error t-broken
CUR_IDS=""
scenario cri-runtime-handler-binaryname s_cri_runtime_handler
# whatever the CRI scenario left behind
for f in cri-container cri-sandbox; do
  if [ -s "$work/$f" ]; then
    id=$(cat "$work/$f")
    /usr/bin/python3 "$here/cri.py" "$sock" "$([ $f = cri-container ] && echo rmc || echo rmp)" "$id" >/dev/null 2>&1 || true
  fi
done

summary
