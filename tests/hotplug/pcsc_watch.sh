#!/usr/bin/env bash
# The PC/SC watcher against a real pcscd, vpcd and tokend-vcard, in a
# private pcscd (tests/harness/private_pcscd.sh: this test stops and
# restarts "its" pcscd). Checks: the readers arrive (one pass without the
# thread, as the module lists slots) and are not repeated by the thread;
# an inserted card arrives; pull and re-insert; no busy loop while idle;
# pcscd killed -> one "lost"
# (one log line however often the reconnect fails); pcscd restarted ->
# "back" (one line) and the readers and the card again; a quick clean stop.
. "$(dirname "$0")/../harness/lib.sh"
if [ -z "${PRIVATE_PCSCD_PID:-}" ]; then
	echo "SKIP: run under tests/harness/private_pcscd.sh (it kills pcscd)" >&2
	exit 77
fi
: "${TOKEND_HOTPLUG_PCSC_WATCH:?TOKEND_HOTPLUG_PCSC_WATCH must point at hotplug_pcsc_watch}"
harness_init
pcscd_ensure

PCSCD2=""
watch_cleanup() {
	local rc=$?
	[ -z "${WATCH_PID:-}" ] || kill "$WATCH_PID" 2>/dev/null
	[ -z "$PCSCD2" ] || { kill "$PCSCD2" 2>/dev/null; wait "$PCSCD2" 2>/dev/null; }
	if [ "$rc" -ne 0 ] && [ -s "$LOG" ]; then
		echo "=== watcher output" >&2
		cat "$LOG" >&2
	fi
	(exit "$rc")
	harness_cleanup
}
trap watch_cleanup EXIT

LOG=$HARNESS_TMP/watch.log
: >"$LOG"
coproc W {
	ASAN_OPTIONS=${TOKEND_ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1} \
		exec "$TOKEND_HOTPLUG_PCSC_WATCH" 2>"$HARNESS_TMP/watch.err"
}
WATCH_PID=$W_PID # bash unsets W_PID when the coproc ends
exec {W_IN}>&"${W[1]}" {W_OUT}<&"${W[0]}"

# expect GLOB [TIMEOUT]: reads the watcher's lines until one matches.
expect() {
	local pat=$1 end=$((SECONDS + ${2:-15})) l
	while [ "$SECONDS" -lt "$end" ]; do
		IFS= read -r -t 1 l <&"$W_OUT" || continue
		printf '%s\n' "$l" >>"$LOG"
		# shellcheck disable=SC2053
		[[ $l == $pat ]] && { harness_log "seen: $l"; return 0; }
	done
	fail "no line like '$pat' from the watcher"
}

waits() { # the watcher's SCardGetStatusChange count so far
	echo stats >&"$W_IN"
	expect "STATS *" 5
	tail -n 1 "$LOG" | sed 's/.*waits=\([0-9]*\).*/\1/'
}

count() { grep -c -- "$1" "$LOG" || true; }

R0=$(reader_name 0)
expect "EV arrived reader $R0"
expect "EV arrived reader $(reader_name 1)"
expect "SCANNED" # found by the scan; the thread must not repeat them

# Idle: no busy loop (the wait sleeps on pcscd; re-checks every 10 s).
w0=$(waits)
sleep 2
w1=$(waits)
harness_log "idle 2 s: $((w1 - w0)) SCardGetStatusChange calls"
[ $((w1 - w0)) -le 3 ] || fail "busy loop: $((w1 - w0)) waits in 2 s idle"

vcard_start 0 --serial 41000001
expect "EV arrived card $R0 atr=3B*"
vcard_pull 0
expect "EV left card $R0"
vcard_insert 0
expect "EV arrived card $R0 atr=3B*"

# pcscd goes away: lost once, everything left; reconnects fail silently.
kill "$PRIVATE_PCSCD_PID"
expect "EV lost service pcscd"
expect "EV left card $R0 *lost"
expect "EV left reader $R0 lost"
sleep 3
echo stats >&"$W_IN"
expect "STATS *" 5
fails=$(tail -n 1 "$LOG" | sed 's/.*fails=\([0-9]*\).*/\1/')
harness_log "reconnect attempts while pcscd was away: $fails"
[ "$fails" -ge 2 ] || fail "only $fails reconnect attempts in 3 s"
assert_eq 1 "$(count 'LOG .*pcscd lost')" "log lines for the loss"

# pcscd comes back (same namespace): back once, readers and card again.
pcscd --foreground >"$HARNESS_TMP/pcscd2.log" 2>&1 &
PCSCD2=$!
expect "EV back service pcscd" 20
expect "EV arrived card $R0 atr=3B*" 20
assert_eq 1 "$(count 'LOG .*pcscd back after')" "log lines for the return"
assert_eq 1 "$(count 'EV lost service')" "lost events"
assert_eq 1 "$(count 'EV back service')" "back events"
assert_eq 2 "$(count "EV arrived reader $R0")" "arrivals of reader 0"

# A clean, quick stop out of a 10 s wait (SCardCancel).
echo quit >&"$W_IN"
expect "BYE *" 10
ms=$(tail -n 1 "$LOG" | sed 's/BYE //')
harness_log "stop took $ms ms"
[ "$ms" -lt 2000 ] || fail "stopping the watcher took $ms ms"
rc=0
wait "$WATCH_PID" || rc=$?
WATCH_PID=""
[ "$rc" -eq 0 ] || fail "the watcher exited with status $rc"
if grep -qE 'ERROR: (Address|Leak)Sanitizer|runtime error:' "$HARNESS_TMP/watch.err"; then
	cat "$HARNESS_TMP/watch.err" >&2
	fail "sanitizer report from the watcher"
fi
vcard_stop 0
harness_log "PASS"
