#!/usr/bin/env bash
# Boots the Debian 12 guest (image.sh; systemd as PID 1, pure cgroup v2) and
# runs one shell command in it, as root, after the guest reached
# multi-user.target; prints its output and exits with its exit code.
#
#   integration/guest/run.sh [--src DIR] [--timeout SECS] [--mem MB] -- COMMAND...
#
# --src DIR is shared read-only (9p) at the same path inside the guest, so
#   binaries built there (cargo's test binaries record the absolute path of
#   the ward they run) work unchanged. Default: this checkout.
# --timeout bounds the whole boot+run+poweroff (default 3600 s); on expiry
#   qemu is killed (by the pid this script started) and the exit code is 124.
#
# The guest writes into a shared temp directory (io/): cmd.sh is the command,
# output its stdout+stderr (followed live here), rc its exit code; the serial
# console (kernel and systemd messages) goes to io/serial.log, printed on a
# failure to boot. The cached image is never written: each run boots a
# throw-away qcow2 overlay.
#
# Acceleration: KVM when a probe boot under it works, else TCG with 2 vCPUs
# (`-accel tcg,thread=multi`); WARD_GUEST_ACCEL=kvm|tcg forces one. The probe
# result is cached per host boot. The chosen one is printed on stderr.
# qemu runs under `nice -n 10`: the host's cores are shared.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
src=$(cd "$here/../.." && pwd)
timeout=3600
mem=3072
while [ $# -gt 0 ]; do
  case "$1" in
    --src) src=$(cd "$2" && pwd); shift 2 ;;
    --timeout) timeout=$2; shift 2 ;;
    --mem) mem=$2; shift 2 ;;
    --) shift; break ;;
    *) break ;;
  esac
done
[ $# -gt 0 ] || { echo "usage: $0 [--src DIR] [--timeout SECS] [--mem MB] -- COMMAND..." >&2; exit 2; }
[ "$(id -u)" = 0 ] || { echo "run.sh: must run as root" >&2; exit 2; }
command -v qemu-system-x86_64 >/dev/null && command -v qemu-img >/dev/null || {
  apt-get update -qq >&2
  apt-get install -y -qq --no-install-recommends qemu-system-x86 qemu-utils >&2 || {
    # A machine whose qemu-utils came from bookworm-backports (no backports
    # source configured) cannot take bookworm's qemu-system: the newer
    # qemu-utils Breaks it. Take qemu-utils from qemu-system's own version.
    v=$(apt-cache policy qemu-system-x86 | sed -n 's/^ *Candidate: //p')
    echo "run.sh: installing qemu-system-x86 and qemu-utils $v together" >&2
    apt-get install -y -qq --no-install-recommends --allow-downgrades \
      "qemu-system-x86=$v" "qemu-utils=$v" >&2
  }
}

img=$(bash "$here/image.sh")
cache=$(dirname "$img")

# Does KVM really run a guest? (/dev/kvm may exist and still fail: on a host
# whose KVM is paravirtualised, qemu hangs or aborts on full-virtualization
# guests.) A kernel with no root panics within seconds; if its panic shows on
# the serial line under KVM in time, KVM works.
probe_kvm() {
  [ -w /dev/kvm ] || return 1
  local log pid i
  log=$(mktemp /tmp/ward-guest-kvm.XXXXXX)
  qemu-system-x86_64 -accel kvm -m 256 -smp 1 -kernel "$img/vmlinuz" \
    -append 'console=ttyS0 panic=-1 loglevel=4' -display none -monitor none \
    -serial "file:$log" -no-reboot >/dev/null 2>&1 &
  pid=$!
  for i in $(seq 1 30); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.5
  done
  kill -9 "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  grep -q 'Kernel panic' "$log" && { rm -f "$log"; return 0; }
  rm -f "$log"
  return 1
}
accel=${WARD_GUEST_ACCEL:-}
if [ -z "$accel" ]; then
  verdict="$cache/accel.$(cat /proc/sys/kernel/random/boot_id)"
  if [ -s "$verdict" ]; then
    accel=$(cat "$verdict")
  else
    if probe_kvm; then accel=kvm; else accel=tcg; fi
    rm -f "$cache"/accel.*
    echo "$accel" >"$verdict"
  fi
fi
case "$accel" in
  kvm) accel_args=(-accel kvm -cpu host -smp 2) ;;
  tcg) accel_args=(-accel tcg,thread=multi -cpu max -smp 2) ;;
  *) echo "run.sh: WARD_GUEST_ACCEL must be kvm or tcg" >&2; exit 2 ;;
esac
echo "run.sh: guest $(basename "$img"), accel $accel" >&2

work=$(mktemp -d /tmp/ward-guest.XXXXXX)
io="$work/io"
mkdir -p "$io"
qpid=""
tailpid=""
cleanup() {
  [ -n "$tailpid" ] && kill "$tailpid" 2>/dev/null
  if [ -n "$qpid" ] && kill -0 "$qpid" 2>/dev/null; then
    kill -9 "$qpid" 2>/dev/null || true
    wait "$qpid" 2>/dev/null || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

printf '%s\n' "$src" >"$io/src-path"
{
  echo 'export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME=/root'
  printf 'cd %q\n' "$src"
  printf '%q ' "$@"
  echo
} >"$io/cmd.sh"
: >"$io/output"
qemu-img create -q -f qcow2 -b "$img/rootfs.img" -F raw "$work/disk.qcow2"

start=$(date +%s)
nice -n 10 qemu-system-x86_64 "${accel_args[@]}" -m "$mem" \
  -kernel "$img/vmlinuz" -initrd "$img/initrd.img" \
  -append "root=/dev/vda rw console=ttyS0 panic=-1 quiet loglevel=3 systemd.show_status=0 ward.run=1" \
  -drive "file=$work/disk.qcow2,if=virtio,format=qcow2,cache=unsafe" \
  -virtfs "local,path=$io,mount_tag=wardio,security_model=none" \
  -virtfs "local,path=$src,mount_tag=wardsrc,security_model=none,readonly=on" \
  -nic none -display none -monitor none -serial "file:$io/serial.log" \
  -no-reboot >"$work/qemu.log" 2>&1 &
qpid=$!
tail -n +1 -f "$io/output" --pid="$qpid" &
tailpid=$!

deadline=$((start + timeout))
while kill -0 "$qpid" 2>/dev/null; do
  if [ "$(date +%s)" -ge "$deadline" ]; then
    echo "run.sh: guest still running after ${timeout}s; killing qemu ($qpid)" >&2
    kill -9 "$qpid" 2>/dev/null || true
    break
  fi
  sleep 1
done
wait "$qpid" 2>/dev/null || true
qpid=""
sleep 0.3
kill "$tailpid" 2>/dev/null || true
wait "$tailpid" 2>/dev/null || true
tailpid=""
echo "run.sh: guest ran $(( $(date +%s) - start ))s ($accel)" >&2
if [ ! -s "$io/rc" ]; then
  echo "run.sh: the command did not finish in the guest; qemu said:" >&2
  cat "$work/qemu.log" >&2
  echo "run.sh: last serial console lines:" >&2
  tail -40 "$io/serial.log" >&2
  exit 124
fi
exit "$(cat "$io/rc")"
