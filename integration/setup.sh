#!/usr/bin/env bash
# Installs the real clients (containerd 1.6, podman 4.3 and helpers, Docker
# Engine 20.10) and the reference runtimes that integration/containerd.sh,
# integration/podman.sh and integration/docker.sh drive. Idempotent and quiet:
# does nothing when everything is installed.
# Installing the packages does not start anything the scripts rely on: they run
# private instances only (the containerd and docker.io packages may start
# system services; the scripts never talk to them).
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
pkgs=(
  containerd        # containerd 1.6, ctr, containerd-shim-runc-v2
  podman            # podman 4.3
  docker.io         # Docker Engine 20.10: dockerd, the docker CLI, docker-init
  procps            # ps: dockerd runs it on the host for `docker top`
  conmon            # podman's container monitor
  catatonit         # podman's init (--init), pulled by podman anyway
  uidmap            # newuidmap/newgidmap
  slirp4netns       # podman's rootless network helper (podman depends on it)
  fuse-overlayfs    # podman storage fallback
  busybox-static    # the test image's only binary
  python3-grpcio    # integration/cri.py, the CRI client (Debian has no crictl)
  runc crun         # reference runtimes
  util-linux        # unshare, script
  bsdutils          # script (older layouts)
  coreutils tar     # sha256sum, tar for the image layout
  bindfs            # a FUSE mount without allow_other (tests/runc_mounts.rs)
)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  log=$(mktemp /tmp/ward-setup.XXXXXX)
  trap 'rm -f "$log"' EXIT
  # --no-install-recommends keeps netavark/aardvark/buildah etc. out; the
  # scenarios use --network none.
  if ! { apt-get update -qq &&
         apt-get install -y -qq --no-install-recommends \
           -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold \
           "${missing[@]}"; } >"$log" 2>&1; then
    cat "$log" >&2
    echo "setup.sh: installing ${missing[*]} failed" >&2
    exit 1
  fi
fi
