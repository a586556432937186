#!/usr/bin/env bash
# Runs ward's cargo-fuzz (libFuzzer) targets in fuzz/ for SECONDS each.
#
#   integration/fuzz.sh [SECONDS]        default 20 per target
#   FUZZ_TARGETS="ids_signals config_parse" integration/fuzz.sh 60
#
# Installs cargo-fuzz if missing. cargo-fuzz passes -Z flags (sanitizer,
# coverage) to rustc, so on a stable toolchain RUSTC_BOOTSTRAP=1 is set unless
# the caller set it. Builds into fuzz/target (its own workspace). New findings
# go to fuzz/artifacts/<target>/. Seeds are read from fuzz/corpus/<target>/, which
# only grows with FUZZ_KEEP_CORPUS=1. fuzz/dict/<target>.dict, if present, is
# passed as a libFuzzer -dict.
# Exits non-zero if any target crashed (or failed to build/run).
set -uo pipefail

SECS="${1:-20}"
case "$SECS" in
    ''|*[!0-9]*) echo "usage: $0 [SECONDS]" >&2; exit 2 ;;
esac

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
FUZZ="$ROOT/fuzz"
cd "$FUZZ" || exit 2

if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "== installing cargo-fuzz"
    cargo install cargo-fuzz --locked || { echo "cargo-fuzz install failed" >&2; exit 2; }
fi
echo "== $(cargo fuzz --version)"

if ! rustc --version | grep -q nightly; then
    export RUSTC_BOOTSTRAP="${RUSTC_BOOTSTRAP:-1}"
fi

# The run must leave the checkout as it was: fuzz/Cargo.lock is committed and
# must already match fuzz/Cargo.toml and ward's dependencies (--locked), or the
# build below would rewrite it.
if ! lockerr=$(cargo metadata --locked --format-version 1 2>&1 >/dev/null); then
    printf '%s\n' "$lockerr" | grep -m3 error >&2
    echo "fuzz/Cargo.lock is out of date: run 'cargo update -w' in fuzz/ and commit it" >&2
    exit 2
fi

TARGETS="${FUZZ_TARGETS:-$(cargo fuzz list)}"
LOGDIR="$(mktemp -d)"
trap 'rm -rf "$LOGDIR"' EXIT

echo "== building: $(echo $TARGETS)"
if [ -z "${FUZZ_TARGETS:-}" ]; then
    build_cmds=("cargo fuzz build")
else
    build_cmds=(); for t in $TARGETS; do build_cmds+=("cargo fuzz build $t"); done
fi
for c in "${build_cmds[@]}"; do
    if ! $c >>"$LOGDIR/build.log" 2>&1; then
        tail -40 "$LOGDIR/build.log" >&2
        echo "build failed: $c" >&2
        exit 2
    fi
done

fail=0
summary=()
for t in $TARGETS; do
    mkdir -p "corpus/$t"
    echo "== $t: ${SECS}s"
    mkdir -p "$FUZZ/artifacts/logs"
    log="$FUZZ/artifacts/logs/$t.log"   # kept after the run
    # -rss_limit_mb: the ASan build of ward with a large JSON can be hungry.
    # New inputs go to a scratch dir (first corpus dir); the checked-in seeds in
    # corpus/<target> are read but not added to, unless FUZZ_KEEP_CORPUS=1.
    if [ "${FUZZ_KEEP_CORPUS:-0}" = 1 ]; then dirs=("corpus/$t"); else
        mkdir -p "$LOGDIR/corpus-$t"; dirs=("$LOGDIR/corpus-$t" "corpus/$t"); fi
    extra=()
    [ -f "dict/$t.dict" ] && extra+=("-dict=dict/$t.dict")
    cargo fuzz run "$t" "${dirs[@]}" -- "${extra[@]}" \
        -max_total_time="$SECS" -rss_limit_mb=4096 -print_final_stats=1 >"$log" 2>&1
    rc=$?
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
    rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
    cov=$(grep -Eo 'cov: [0-9]+' "$log" | tail -1)
    if [ "$rc" -eq 0 ]; then
        res="ok"
    else
        res="CRASH (rc=$rc)"
        fail=1
        grep -E -A1 "panicked at" "$log" | head -4
        grep -E "ERROR: (libFuzzer|AddressSanitizer)|^SUMMARY|Test unit written to" "$log" | head -5
        echo "   full log: $log"
    fi
    line=$(printf '%-22s %-14s execs=%-10s exec/s=%-8s %s' "$t" "$res" "${execs:-?}" "${rate:-?}" "${cov:-}")
    echo "$line"
    summary+=("$line")
done

echo "== summary (${SECS}s per target)"
printf '%s\n' "${summary[@]}"
if [ "$fail" -ne 0 ]; then
    echo "crash inputs: $FUZZ/artifacts/<target>/ ; reproduce: cd fuzz && RUSTC_BOOTSTRAP=1 cargo fuzz run <target> <file>"
fi
exit "$fail"
