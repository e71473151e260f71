#!/usr/bin/env bash
# How long tokend takes from a client's close to the connection's
# descriptor, threads and slot being released, with blocking
# C_WaitForSlotEvent calls queued (close_release.py). No card needed.
# Prints a markdown table; asserts nothing on timings.
#
#   bench/close_release.sh [BUILD_DIR]
set -euo pipefail
SRC=$(cd "$(dirname "$0")/.." && pwd)
BUILD=$(cd "${1:-${TOKEND_BUILD_DIR:-$SRC/build}}" && pwd)
TOKEND=${TOKEND:-$BUILD/daemon/tokend}
T=$(mktemp -d /tmp/tokend-bench-close.XXXXXX)
PID=
cleanup() {
	[ -n "$PID" ] && kill -TERM "$PID" 2>/dev/null && wait "$PID" 2>/dev/null
	rm -rf "$T"
}
trap cleanup EXIT
printf '[tokend]\nmax-connections-per-peer = 1024\n\n[export bench]\nsocket = %s/sock\nmode = 0600\n' "$T" >"$T/tokend.conf"
"$TOKEND" -f -c "$T/tokend.conf" 2>"$T/log" &
PID=$!
for _ in $(seq 100); do grep -q "tokend ready" "$T/log" && break; sleep 0.05; done
grep -q "tokend ready" "$T/log" || { cat "$T/log"; exit 1; }
/usr/bin/python3 "$SRC/bench/close_release.py" "$T/sock" "$PID" \
	"${BENCH_SINGLES:-50}" "${BENCH_BATCH:-100}"
