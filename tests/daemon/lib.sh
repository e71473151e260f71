# Shared by the daemon tests: a temp dir every test uid can reach, tokend
# started in the foreground with a config of ours, always stopped on exit.
# Needs TOKEND (the binary) and runs as root (setpriv).
set -euo pipefail
# The checks (check, fail, fail_later, pass, finish) are the harness's.
# shellcheck source=../harness/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/../harness/lib.sh"

PY=/usr/bin/python3
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
CLIENT="$PY $HERE/client.py"
: "${TOKEND:?TOKEND must name the tokend binary}"

if [ "$(id -u)" -ne 0 ]; then
	echo "SKIP: needs root (setpriv, chown)"
	exit 77
fi

T=$(mktemp -d /tmp/tokend-daemon-test.XXXXXX)
chmod 0755 "$T"
TOKEND_PID=
LOG="$T/tokend.log"
HARNESS_TMP=$T
HARNESS_LOGS=("$LOG")

cleanup() {
	local rc=$?
	if [ -n "$TOKEND_PID" ] && kill -0 "$TOKEND_PID" 2>/dev/null; then
		kill -TERM "$TOKEND_PID" 2>/dev/null || true
		sleep 0.5
		kill -KILL "$TOKEND_PID" 2>/dev/null || true
	fi
	if [ "${KEEP:-0}" = 1 ]; then echo "kept $T"; else rm -rf "$T"; fi
	# Checks recorded but the script ended before finish: still a failure.
	if [ "$rc" -eq 0 ] && [ "$HARNESS_CHECK_FAILS" -ne 0 ]; then
		echo "FAIL: $HARNESS_CHECK_FAILS check(s) failed" >&2
		rc=1
	fi
	exit "$rc"
}
trap cleanup EXIT

# wait_for COND_COMMAND...: up to 20 s (sanitizer builds are slow).
wait_for() {
	for _ in $(seq 400); do
		if "$@"; then return 0; fi
		sleep 0.05
	done
	return 1
}

# start_tokend CONFIG [extra args]: starts it and waits for the log line
# "tokend ready".
start_tokend() {
	: >"$LOG"
	"$TOKEND" -f -c "$@" 2>>"$LOG" &
	TOKEND_PID=$!
	if ! wait_for grep -q "tokend ready" "$LOG"; then
		echo "tokend did not start:"
		cat "$LOG"
		exit 1
	fi
}

# stop_tokend: SIGTERM, expects exit 0 within 5 s.
stop_tokend() {
	local rc=0
	kill -TERM "$TOKEND_PID"
	if ! wait_for sh -c "! kill -0 $TOKEND_PID 2>/dev/null"; then
		fail_later "tokend did not exit within 5 s of SIGTERM"
	fi
	wait "$TOKEND_PID" || rc=$?
	TOKEND_PID=
	[ "$rc" -eq 0 ] || fail_later "tokend exited with $rc after SIGTERM"
}

# log_has REGEX: the log has a line matching REGEX (within 5 s).
log_has() { wait_for grep -Eq -- "$1" "$LOG"; }

