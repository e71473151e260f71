#!/usr/bin/env bash
# C_WaitForSlotEvent through tokend's socket (slot_events.py, raw p11-kit
# RPC frames): a blocked wait does not stall C_GetInfo / C_Sign on the same
# connection; pulling and re-inserting the card answer waits with the slot
# (the export filters on the card's serial, so the removal must still be
# reported); C_Finalize ends a blocked wait; closing a connection with a
# blocked wait is prompt; SIGTERM with a blocked wait exits at once, well
# under the 10 s grace. Then Debian's p11-kit-client.so (0.24) waits too. The
# card sits in reader 1.
. "$(dirname "$0")/../harness/card_export.sh"

PIN=123456
PY=/usr/bin/python3
HERE=$(cd "$(dirname "$0")" && pwd)

# start_blocker: a client blocked in C_WaitForSlotEvent ($BLOCKER, output
# in $T/blocker.out).
start_blocker() {
	: >"$T/blocker.out"
	"$PY" "$HERE/slot_events.py" block "$T/tokend.sock" >"$T/blocker.out" 2>&1 &
	BLOCKER=$!
	BG=("$BLOCKER")
	for _ in $(seq 100); do
		grep -q blocked "$T/blocker.out" && break
		sleep 0.05
	done
	grep -q blocked "$T/blocker.out" || fail "the blocking client did not start"
	sleep 0.3
}

ms() { date +%s%3N; }

card_export_start
run_ok "a wait beside other calls; pull, insert, C_Finalize" \
	"$PY" "$HERE/slot_events.py" serve "$T/tokend.sock" "$PIN" "$(vcard_pid 1)"
harness_log "$OUT"

# Closing a connection with a blocked wait: tokend closes it at once.
start_blocker
n_closed=$(grep -c "connection [0-9]* closed" "$T/tokend.log")
t0=$(ms)
kill -KILL "$BLOCKER"
wait "$BLOCKER" 2>/dev/null || true
BG=()
for _ in $(seq 400); do
	[ "$(grep -c "connection [0-9]* closed" "$T/tokend.log")" -gt "$n_closed" ] && break
	sleep 0.02
done
dt=$(($(ms) - t0))
[ "$(grep -c "connection [0-9]* closed" "$T/tokend.log")" -gt "$n_closed" ] ||
	fail "the connection with a blocked wait was not closed"
# Prompt: well before the 10 s tokend gives requests in flight (the
# margin is for sanitizer builds on a loaded machine).
[ "$dt" -lt 8000 ] || fail "closing a connection with a blocked wait took $dt ms"
harness_log "ok: a connection with a blocked wait closed in $dt ms"

# SIGTERM with a blocked wait: exits 0 at once.
start_blocker
t0=$(ms)
kill -TERM "$TOKEND_PID"
rc=0
wait "$TOKEND_PID" || rc=$?
TOKEND_PID=
dt=$(($(ms) - t0))
assert_eq 0 "$rc" "tokend exits 0 on SIGTERM with a blocked wait"
[ "$dt" -lt 8000 ] || fail "SIGTERM with a blocked wait took $dt ms"
harness_log "ok: SIGTERM with a blocked wait: exit in $dt ms"
wait "$BLOCKER" 2>/dev/null || true
BG=()
harness_log "the blocked client saw: $(tail -1 "$T/blocker.out")"

# Debian's p11-kit-client.so (0.24) forwards C_WaitForSlotEvent and lets
# other calls run beside it. (Its C_Finalize while another thread waits can
# abort the client itself, an assertion in its rpc-transport.c, so that is
# tested above with raw frames only.)
if [ -f "$CLIENT_SO" ]; then
	card_export_tokend
	run_ok "p11-kit-client.so: C_GetInfo beside a wait; pull and insert" \
		"$PY" "$HERE/slot_events_client.py" "$CLIENT_SO" "$(vcard_pid 1)"
	harness_log "$OUT"
	kill -TERM "$TOKEND_PID"
	wait "$TOKEND_PID" || fail "tokend exit status $?"
	TOKEND_PID=
else
	harness_log "skip: $CLIENT_SO missing"
fi
vcard_stop 1
harness_log "PASS"
