#!/usr/bin/env bash
# Builds (once) a Debian 12 guest for testing ward on pure cgroup v2 with
# systemd as PID 1, and prints the directory holding it:
#
#   vmlinuz  initrd.img  rootfs.img (raw ext4)  packages.txt
#
# The image is cached outside the checkout, in $WARD_GUEST_CACHE
# (/var/cache/ward-guest by default), under a key hashed from this script, so
# an unchanged script reuses it (building takes a few minutes; the machine is
# kept between sessions). Runs are never written into the cached image:
# run.sh boots a throw-away qcow2 overlay on top of it.
#
# Packages come from the Debian mirror the host's apt already uses (its
# deb822 sources for Debian), through mmdebstrap. Needs root.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
cache=${WARD_GUEST_CACHE:-/var/cache/ward-guest}
export DEBIAN_FRONTEND=noninteractive

# What the guest needs: systemd as init (bookworm boots it on the unified
# cgroup v2 hierarchy), the kernel, the real clients and reference runtimes
# (the same set as integration/setup.sh: docker.io brings dockerd 20.10 and
# tini's docker-init; apparmor, which Debian's docker.io recommends: the
# distribution kernel enables AppArmor, and dockerd then refuses to start a
# container without apparmor_parser to load its docker-default profile), the tools the tests call, and for the rootless step a
# user's own systemd manager with its D-Bus (libpam-systemd,
# dbus-user-session: `systemd-run --user`, as runc's and podman's rootless
# systemd driver use).
pkgs=(
  systemd-sysv udev dbus kmod linux-image-amd64 initramfs-tools
  libpam-systemd dbus-user-session
  busybox-static containerd podman conmon catatonit runc crun uidmap
  docker.io tini apparmor
  slirp4netns fuse-overlayfs python3 python3-grpcio strace procps
  util-linux bsdutils coreutils tar e2fsprogs iproute2 ca-certificates
)

key=$( { cat "${BASH_SOURCE[0]}"; printf '%s\n' "${pkgs[@]}"; } | sha256sum | cut -c1-16)
dir="$cache/bookworm-$key"
if [ -s "$dir/rootfs.img" ] && [ -s "$dir/vmlinuz" ] && [ -s "$dir/initrd.img" ]; then
  echo "$dir"
  exit 0
fi

[ "$(id -u)" = 0 ] || { echo "image.sh: must run as root" >&2; exit 2; }
for t in mmdebstrap mkfs.ext4; do
  command -v "$t" >/dev/null || {
    apt-get update -qq >&2
    apt-get install -y -qq --no-install-recommends mmdebstrap e2fsprogs >&2
    break
  }
done

# The host's Debian mirror (deb822 .sources naming debian-archive-keyring),
# copied as it is so the guest resolves packages exactly as the host does.
sources=""
for f in /etc/apt/sources.list.d/*.sources; do
  [ -f "$f" ] && grep -q 'debian-archive-keyring' "$f" && { sources=$f; break; }
done
if [ -z "$sources" ]; then
  mirror=$(grep -hoE '^deb +(\[[^]]*\] +)?[a-z]+://[^ ]+/debian ' /etc/apt/sources.list 2>/dev/null |
    awk '{print $NF}' | head -1)
  [ -n "$mirror" ] || { echo "image.sh: no Debian mirror in the host's apt sources" >&2; exit 1; }
  sources=$(mktemp /tmp/ward-guest-sources.XXXXXX)
  printf 'deb %s bookworm main\n' "$mirror" >"$sources"
fi

mkdir -p "$cache"
work=$(mktemp -d "$cache/.build.XXXXXX")
cleanup() { rm -rf "$work"; }
trap cleanup EXIT
root="$work/root"

# The guest's own configuration, applied inside the new root:
# - a test unit that runs /mnt/io/cmd.sh from run.sh's shared directory when
#   the kernel command line says ward.run=1, records its exit code and powers
#   the guest off;
# - the 9p shares mounted by that unit (so a boot without them still works);
# - no system containerd or dockerd (the tests run private instances), no getty waiting
#   on the serial line, no root password, a fixed hostname.
customize=$(cat <<'EOF'
set -e
r="$1"
echo ward-guest >"$r/etc/hostname"
printf '127.0.0.1 localhost ward-guest\n' >"$r/etc/hosts"
printf '/dev/vda / ext4 rw,relatime 0 1\n' >"$r/etc/fstab"
chroot "$r" passwd -d root >/dev/null
chroot "$r" systemctl disable containerd.service >/dev/null 2>&1 || true
chroot "$r" systemctl mask docker.service docker.socket >/dev/null 2>&1 || true
chroot "$r" systemctl mask serial-getty@ttyS0.service getty@tty1.service \
  apt-daily.timer apt-daily-upgrade.timer man-db.timer e2scrub_all.timer \
  fstrim.timer podman-auto-update.timer podman-restart.service >/dev/null 2>&1 || true
printf '9p\n9pnet\n9pnet_virtio\n' >"$r/etc/modules-load.d/ward-9p.conf"
cat >"$r/usr/local/sbin/ward-guest-run" <<'EOS'
#!/bin/sh
# Mounts run.sh's shares, runs its command, records the exit code, powers off.
mkdir -p /mnt/io
mount -t 9p -o trans=virtio,version=9p2000.L,msize=262144 wardio /mnt/io
if [ -s /mnt/io/src-path ]; then
  src=$(cat /mnt/io/src-path)
  mkdir -p "$src"
  mount -t 9p -o trans=virtio,version=9p2000.L,msize=262144,ro,cache=loose wardsrc "$src"
fi
cd /
sh /mnt/io/cmd.sh >/mnt/io/output 2>&1 </dev/null
echo $? >/mnt/io/rc.tmp
sync
mv /mnt/io/rc.tmp /mnt/io/rc
sync
systemctl poweroff --no-block
EOS
chmod 0755 "$r/usr/local/sbin/ward-guest-run"
cat >"$r/etc/systemd/system/ward-guest-run.service" <<'EOS'
[Unit]
Description=run the command given by integration/guest/run.sh
ConditionKernelCommandLine=ward.run=1
After=multi-user.target
[Service]
Type=oneshot
ExecStart=/usr/local/sbin/ward-guest-run
TimeoutStartSec=infinity
[Install]
WantedBy=multi-user.target
EOS
chroot "$r" systemctl enable ward-guest-run.service >/dev/null 2>&1
chroot "$r" dpkg-query -W -f='${Package} ${Version}\n' >"$r/root/packages.txt"
EOF
)

echo "image.sh: building the guest in $dir (a few minutes)" >&2
nice -n 10 mmdebstrap --variant=apt --mode=root \
  --include="$(IFS=,; echo "${pkgs[*]}")" \
  --dpkgopt='path-exclude=/usr/share/doc/*' --dpkgopt='path-exclude=/usr/share/man/*' \
  --dpkgopt='path-exclude=/usr/share/locale/*' \
  --customize-hook="$customize" \
  bookworm "$root" "$sources" >"$work/mmdebstrap.log" 2>&1 || {
    tail -40 "$work/mmdebstrap.log" >&2
    echo "image.sh: mmdebstrap failed" >&2
    exit 1
  }

mkdir -p "$work/out"
kernel=$(ls "$root"/boot/vmlinuz-* | sort -V | tail -1)
cp "$kernel" "$work/out/vmlinuz"
cp "$root/boot/initrd.img-${kernel##*/vmlinuz-}" "$work/out/initrd.img"
mv "$root/root/packages.txt" "$work/out/packages.txt"
# Free room for images, containers and test temp dirs; the file is sparse.
size_mb=$(( $(du -sm "$root" | cut -f1) + 3072 ))
mkfs.ext4 -q -L ward-guest -d "$root" "$work/out/rootfs.img" "${size_mb}M"
rm -rf "$dir"
mv "$work/out" "$dir"
echo "$dir"
