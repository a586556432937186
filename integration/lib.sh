# Shared helpers for integration/containerd.sh and integration/podman.sh.
# Sourced, not run.

# Counting scenarios. A scenario is a shell function; `scenario NAME FN` runs
# it with `set -e` off inside a subshell, prints `ok NAME` or `FAIL NAME` and,
# on failure, the captured output (client errors) and whatever the script's
# `on_failure NAME` hook prints (runtime logs).
PASSED=0
FAILED=0
FAILED_NAMES=()
SCEN_OUT=""      # set by the caller to a file that holds a scenario's output

scenario() {
  local name=$1 fn=$2 rc=0
  : >"$SCEN_OUT"
  # Subshell: a scenario can't change the caller's state or abort it.
  ( set +e; "$fn" ) >"$SCEN_OUT" 2>&1 </dev/null || rc=$?
  if [ "$rc" -eq 0 ]; then
    echo "ok $name"
    # lines a scenario marks as informational ("   note: ...") are shown
    grep '^   [a-z_]*: ' "$SCEN_OUT" || true
    PASSED=$((PASSED + 1))
  else
    echo "FAIL $name"
    FAILED=$((FAILED + 1))
    FAILED_NAMES+=("$name")
    {
      echo "---- $name: client output (exit $rc)"
      sed 's/^/    /' "$SCEN_OUT"
      if declare -F on_failure >/dev/null; then
        echo "---- $name: runtime log"
        on_failure "$name" 2>&1 | sed 's/^/    /'
      fi
      echo "----"
    } | tail -n 200
  fi
}

# `expect DESCRIPTION CONDITION...`: fails the scenario with a message.
fail() { echo "check failed: $*" >&2; return 1; }

# `want_eq WHAT EXPECTED ACTUAL`
want_eq() {
  if [ "$2" != "$3" ]; then
    echo "check failed: $1: expected [$2], got [$3]" >&2
    return 1
  fi
}

# `want_match WHAT REGEX TEXT`
want_match() {
  # A here-string, not a pipe: grep -q exits at the first match, and under
  # pipefail a writer still writing then fails the check with SIGPIPE.
  if ! grep -Eq -- "$2" <<<"$3"; then
    echo "check failed: $1: [$3] does not match /$2/" >&2
    return 1
  fi
}

summary() {
  echo "$PASSED passed, $FAILED failed"
  [ "$FAILED" -eq 0 ]
}

# Resolve the runtime argument to an absolute, executable path.
resolve_runtime() {
  local r=${1:-}
  if [ -z "$r" ]; then
    echo "usage: $0 RUNTIME_PATH" >&2
    return 2
  fi
  if [[ $r != */* ]]; then r=$(type -P "$r" || true); fi
  [ -n "$r" ] && [ -x "$r" ] || { echo "$0: runtime '${1}' is not an executable" >&2; return 2; }
  r=$(cd "$(dirname "$r")" && pwd)/$(basename "$r")
  printf '%s\n' "$r"
}

# Builds, in DIR, an offline busybox image from busybox-static:
#   DIR/rootfs.tar  the single layer (a plain rootfs tar: podman import takes it)
#   DIR/oci.tar     an OCI image layout tarball (ctr image import takes it) with
#                   two images over that one layer:
#                     docker.io/library/ward-busybox:latest  (Cmd sh)
#                     docker.io/library/ward-pause:latest    (Cmd sleep forever;
#                       the CRI pod sandbox image)
build_busybox_image() {
  local dir=$1 bb
  bb=$(command -v busybox || true)
  [ -n "$bb" ] || { echo "busybox not found (run integration/setup.sh)" >&2; return 1; }
  local r=$dir/rootfs
  mkdir -p "$r"/{bin,sbin,usr/bin,usr/sbin,etc,proc,sys,dev,tmp,root,home/user,var/tmp,run}
  chmod 1777 "$r/tmp" "$r/var/tmp"
  cp "$bb" "$r/bin/busybox"
  local a
  for a in $("$r/bin/busybox" --list); do
    [ "$a" = busybox ] || ln -sf busybox "$r/bin/$a"
  done
  cat >"$r/etc/passwd" <<'EOF'
root:x:0:0:root:/root:/bin/sh
user:x:1000:1000:user:/home/user:/bin/sh
nobody:x:65534:65534:nobody:/nonexistent:/bin/false
EOF
  cat >"$r/etc/group" <<'EOF'
root:x:0:
user:x:1000:
nogroup:x:65534:
EOF
  chown 1000:1000 "$r/home/user"
  tar --numeric-owner --sort=name --mtime='2024-01-01 00:00:00Z' -C "$r" -cf "$dir/rootfs.tar" .

  local oci=$dir/oci
  mkdir -p "$oci/blobs/sha256"
  local ldig lsize
  ldig=$(sha256sum "$dir/rootfs.tar" | cut -d' ' -f1)
  lsize=$(stat -c %s "$dir/rootfs.tar")
  cp "$dir/rootfs.tar" "$oci/blobs/sha256/$ldig"
  printf '{"imageLayoutVersion":"1.0.0"}' >"$oci/oci-layout"

  # blob FILE -> prints "digest size" after storing FILE as a blob
  _blob() {
    local d s
    d=$(sha256sum "$1" | cut -d' ' -f1)
    s=$(stat -c %s "$1")
    mv "$1" "$oci/blobs/sha256/$d"
    echo "$d $s"
  }
  local entries="" name cmd user cdig csize mdig msize
  for spec in 'ward-busybox|["sh"]|' 'ward-pause|["sleep","2147483647"]|' 'ward-busybox-user|["sh"]|1000:1000'; do
    IFS='|' read -r name cmd user <<<"$spec"
    printf '{"created":"2024-01-01T00:00:00Z","architecture":"amd64","os":"linux","config":{"User":"%s","Env":["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],"Cmd":%s,"WorkingDir":"/"},"rootfs":{"type":"layers","diff_ids":["sha256:%s"]},"history":[{"created":"2024-01-01T00:00:00Z","created_by":"ward integration: busybox-static"}]}' \
      "$user" "$cmd" "$ldig" >"$dir/config.json"
    read -r cdig csize < <(_blob "$dir/config.json")
    printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:%s","size":%s},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"sha256:%s","size":%s}]}' \
      "$cdig" "$csize" "$ldig" "$lsize" >"$dir/manifest.json"
    read -r mdig msize < <(_blob "$dir/manifest.json")
    entries+="${entries:+,}$(printf '{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:%s","size":%s,"platform":{"architecture":"amd64","os":"linux"},"annotations":{"io.containerd.image.name":"docker.io/library/%s:latest","org.opencontainers.image.ref.name":"latest"}}' "$mdig" "$msize" "$name")"
  done
  printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[%s]}' "$entries" >"$oci/index.json"
  tar --numeric-owner -C "$oci" -cf "$dir/oci.tar" oci-layout index.json blobs
}
