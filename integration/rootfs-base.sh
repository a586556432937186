# Sourced by integration/test-all.sh and integration/demo.sh.
#
# ward makes /run/ward-rootfs a private mount point (bound on itself) at its
# first create and keeps it for later ones; a script that ran ward takes it
# down again when no container's staging dir is left in it (on failure too:
# call it from an EXIT trap).
release_rootfs_base() {
  local base=/run/ward-rootfs
  while mountpoint -q "$base" && [ -z "$(ls -A "$base" 2>/dev/null)" ]; do
    umount "$base" 2>/dev/null || return 0
  done
  rmdir "$base" 2>/dev/null || true
}
