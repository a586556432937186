#!/bin/bash
# An OCI runtime stand-in that records how a client calls the runtime, then
# execs the real one:
#
#   WARD_CALL_LOG=/tmp/calls.log REAL_RUNTIME=/usr/bin/runc \
#     integration/containerd.sh integration/log-wrapper.sh
#
# Appends one line per call to $WARD_CALL_LOG:
#   <parent process name><TAB><argv[1..], shell-quoted>
# (the parent is containerd-shim / conmon / podman, telling who called).
#
# podman runs some subcommands (delete, kill, pause, resume) with an almost
# empty environment, so for podman the two variables must be baked in: the
# scripts do that by passing a generated two-line wrapper that sets them and
# execs this file. /bin/bash is named absolutely: PATH may be unset.
log=${WARD_CALL_LOG:-}
real=${REAL_RUNTIME:-}
if [ -z "$real" ]; then
  echo "log-wrapper: REAL_RUNTIME is not set" >&2
  exit 127
fi
if [ -n "$log" ]; then
  parent=$(tr -d '\n' <"/proc/$PPID/comm" 2>/dev/null || echo '?')
  line=$(printf ' %q' "$@")
  # one write(2) per line, O_APPEND: concurrent calls don't interleave
  printf '%s\t%s\n' "$parent" "${line# }" >>"$log"
fi
exec "$real" "$@"
