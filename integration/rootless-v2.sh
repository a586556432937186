#!/usr/bin/env bash
# Rootless ward on cgroup v2 with systemd delegation, as a non-root user runs
# it on a current distribution (and as runc and podman rootless do): a user
# with lingering (`loginctl enable-linger`, so its user@UID.service manager
# runs) whose manager is delegated the cpu, cpuset, io, memory and pids
# controllers (a user@.service drop-in, as runc's docs/cgroup-v2.md says).
#
#   integration/rootless-v2.sh RUNTIME        (as root, on a systemd host with
#                                              cgroup v2; the guest lane)
#
# WARD_CGROUP_DRIVER=cgroupfs (default): the user runs ward inside a scope of
# its own manager with Delegate=yes (`systemd-run --user --scope`), with
# cgroupsPath a child of that scope; systemd: `ward --systemd-cgroup` with no
# cgroupsPath, so ward asks the user's manager over its D-Bus for
# user.slice/ward-ID.scope. Either way the limits must land in that cgroup,
# the container's processes must be in it, and after delete no cgroup, unit,
# state or process is left. Elsewhere (cgroup v1, no systemd) it prints why
# it does not apply and "0 passed, 0 failed".
#
# The user (ward-rl-v2), its linger and the drop-in are removed at the end.
# Prints `ok NAME` / `FAIL NAME` per scenario and `N passed, M failed`.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=lib.sh
source "$here/lib.sh"

[ "$(id -u)" = 0 ] || { echo "$0: must run as root" >&2; exit 2; }
RUNTIME=$(resolve_runtime "${1:-}")
DRIVER=${WARD_CGROUP_DRIVER:-cgroupfs}
if [ "$(stat -fc %T /sys/fs/cgroup)" != cgroup2fs ] || [ ! -d /run/systemd/system ]; then
  echo "skip: rootless with systemd delegation needs systemd as PID 1 on cgroup v2 (integration/guest/lane.sh)"
  summary
  exit 0
fi

U=ward-rl-v2
work=$(mktemp -d /tmp/ward-rootless.XXXXXX)
chmod 0755 "$work"
SCEN_OUT=$work/scenario.out
dropin=/etc/systemd/system/user@.service.d/ward-rootless-delegate.conf
made_user=0
cleanup() {
  set +e
  if [ -n "${uid:-}" ]; then
    as_user "$work/ward" delete --force "$ID" >/dev/null 2>&1
    loginctl disable-linger "$U" >/dev/null 2>&1
    systemctl stop "user@$uid.service" >/dev/null 2>&1
  fi
  [ "$made_user" = 0 ] || userdel -r "$U" >/dev/null 2>&1
  if [ -f "$dropin" ]; then
    rm -f "$dropin"
    rmdir "$(dirname "$dropin")" 2>/dev/null
    systemctl daemon-reload
  fi
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

if ! id -u "$U" >/dev/null 2>&1; then
  # useradd gives the user its /etc/subuid and /etc/subgid ranges
  useradd --create-home --shell /bin/sh "$U"
  made_user=1
fi
uid=$(id -u "$U")
gid=$(id -g "$U")
ID=rl-$$
xdg=/run/user/$uid
as_user() {
  runuser -u "$U" -- env -i PATH=/usr/local/bin:/usr/bin:/bin HOME="/home/$U" \
    XDG_RUNTIME_DIR="$xdg" DBUS_SESSION_BUS_ADDRESS="unix:path=$xdg/bus" "$@"
}

# All the controllers delegated to the user's manager (systemd 252 delegates
# memory, pids and cpu only); then the manager started through lingering.
mkdir -p "$(dirname "$dropin")"
printf '[Service]\nDelegate=cpu cpuset io memory pids\n' >"$dropin"
systemctl daemon-reload
loginctl enable-linger "$U"
for _ in $(seq 120); do
  [ -S "$xdg/bus" ] && systemctl is-active --quiet "user@$uid.service" && break
  sleep 0.5
done
ucg=/sys/fs/cgroup/user.slice/user-$uid.slice/user@$uid.service
echo "user $U ($uid): manager $(systemctl is-active "user@$uid.service"), delegated: $(cat "$ucg/cgroup.controllers" 2>&1)"

# The binary and the bundle where the user reaches them (the lane's stage is
# root's), the rootfs from busybox-static, the spec from `ward spec --rootless`.
cp "$RUNTIME" "$work/ward"
build_busybox_image "$work/image" >/dev/null
mkdir -p "$work/bundle" "$work/u"
mv "$work/image/rootfs" "$work/bundle/rootfs"
chown "$uid:$gid" "$work/bundle" "$work/u"
# the user's calls start where it may be (ward returns to its cwd)
cd "$work/bundle"
as_user sh -c "cd $work/bundle && $work/ward spec --rootless"

# config KEY=JSON...: sets spec fields (dotted paths) in the bundle's config
config() {
  python3 - "$work/bundle/config.json" "$@" <<'EOF'
import json, sys
p = sys.argv[1]
c = json.load(open(p))
for kv in sys.argv[2:]:
    k, v = kv.split("=", 1)
    o = c
    ks = k.split(".")
    for x in ks[:-1]:
        o = o.setdefault(x, {})
    if v == "null":
        o.pop(ks[-1], None)
    else:
        o[ks[-1]] = json.loads(v)
json.dump(c, open(p, "w"))
EOF
}
config 'process.terminal=false' 'process.args=["sleep","1000"]' \
  'linux.resources={"memory":{"limit":67108864},"pids":{"limit":64}}'

# checks CGDIR PID: the limits are in CGDIR and PID is in it
limits_in() {
  local d=$1 pid=$2 bad=0
  echo "container cgroup: $d"
  want_eq "memory.max" 67108864 "$(cat "$d/memory.max" 2>&1)" || bad=1
  want_eq "pids.max" 64 "$(cat "$d/pids.max" 2>&1)" || bad=1
  want_eq "the init's cgroup" "0::${d#/sys/fs/cgroup}" "$(cat "/proc/$pid/cgroup" 2>&1)" || bad=1
  want_eq "the init runs as the user on the host" "$uid" "$(awk '/^Uid:/ {print $2}' "/proc/$pid/status")" || bad=1
  [ "$bad" = 0 ]
}
state_pid() {
  as_user "$work/ward" state "$ID" | python3 -c 'import json,sys; print(json.load(sys.stdin)["pid"])'
}
nothing_left() {  # CGDIR
  local bad=0
  [ ! -e "$1" ] || fail "cgroup left: $1" || bad=1
  want_eq "state left" "" "$(find "$xdg/ward" -mindepth 1 -not -name @ward 2>/dev/null)" || bad=1
  want_eq "processes of the container left" "" "$(pgrep -u "$uid" -x sleep || true)" || bad=1
  [ "$bad" = 0 ]
}

# cgroupfs: ward runs in a delegated scope of the user's manager; the scope's
# own processes move to a leaf (no internal processes on v2) and the
# container's cgroup is a sibling of it, named by an absolute cgroupsPath.
s_cgroupfs_delegated() {
  cat >"$work/in-scope.sh" <<EOF
set -e
cg=\$(sed -n 's/^0:://p' /proc/self/cgroup)
mkdir /sys/fs/cgroup\$cg/leaf
echo \$\$ >/sys/fs/cgroup\$cg/leaf/cgroup.procs
echo '+memory +pids' >/sys/fs/cgroup\$cg/cgroup.subtree_control
echo "scope=\$cg"
cd $work/bundle
python3 - config.json "\$cg/ctr" <<'PY'
import json, sys
c = json.load(open(sys.argv[1])); c["linux"]["cgroupsPath"] = sys.argv[2]
json.dump(c, open(sys.argv[1], "w"))
PY
$work/ward run -d --bundle . $ID </dev/null >/dev/null 2>$work/u/ward.err || { cat $work/u/ward.err; exit 1; }
echo "pid=\$($work/ward state $ID | python3 -c 'import json,sys; print(json.load(sys.stdin)["pid"])')"
cat /sys/fs/cgroup\$cg/ctr/memory.max /sys/fs/cgroup\$cg/ctr/pids.max | tr '\n' ' ' | sed 's/^/limits=/'; echo
$work/ward delete --force $ID
[ ! -e /sys/fs/cgroup\$cg/ctr ] && echo deleted-cgroup-gone
EOF
  local out scope
  out=$(as_user timeout 120 systemd-run --user --scope --quiet -p Delegate=yes \
    --unit="ward-rl-$$" sh "$work/in-scope.sh" 2>&1) || { echo "$out"; return 1; }
  echo "$out"
  scope=$(sed -n 's/^scope=//p' <<<"$out")
  want_match "a scope of the user's manager" "^/user.slice/user-$uid.slice/user@$uid.service/.*ward-rl-$$.scope$" "$scope" || return 1
  want_match "the limits in the container's cgroup" '^limits=67108864 64 $' "$(grep '^limits=' <<<"$out")" || return 1
  want_match "delete removed the container's cgroup" deleted-cgroup-gone "$out" || return 1
  nothing_left "/sys/fs/cgroup$scope/ctr"
}

# systemd: ward asks the user's manager (its D-Bus) for user.slice:ward:ID.
s_systemd_user_manager() {
  local pid d out
  config 'linux.cgroupsPath=null'
  ( cd "$work/bundle" && as_user "$work/ward" --systemd-cgroup run -d --bundle . "$ID" \
      </dev/null >/dev/null 2>"$work/ward.err" ) || { cat "$work/ward.err"; return 1; }
  pid=$(state_pid) || return 1
  d=$ucg/user.slice/ward-$ID.scope
  limits_in "$d" "$pid" || return 1
  out=$(as_user systemctl --user show -p ActiveState -p Description -p Delegate "ward-$ID.scope")
  echo "$out"
  want_match "the scope is active in the user's manager" 'ActiveState=active' "$out" || return 1
  want_match "described as ward's" "Description=ward container $ID" "$out" || return 1
  as_user "$work/ward" exec "$ID" sh -c 'cat /proc/self/cgroup' || return 1
  as_user "$work/ward" delete --force "$ID" || return 1
  for _ in $(seq 20); do [ -e "$d" ] || break; sleep 0.2; done
  out=$(as_user systemctl --user list-units --all --no-legend --plain 'ward-*' 2>&1)
  want_eq "units left in the user's manager" "" "$out" || return 1
  nothing_left "$d"
}

case "$DRIVER" in
  cgroupfs) scenario rootless-cgroupfs-in-a-delegated-scope s_cgroupfs_delegated ;;
  systemd) scenario rootless-systemd-user-manager s_systemd_user_manager ;;
  *) echo "$0: WARD_CGROUP_DRIVER must be cgroupfs or systemd" >&2; exit 2 ;;
esac
summary
