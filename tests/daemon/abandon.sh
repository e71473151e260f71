#!/usr/bin/env bash
# A request that outlives the close wait: a C_Sign on a card that takes
# 25 s (the close wait is 10 s), on an export a reload removes. tokend waits its 10 s for the
# request, then abandons the connection to its worker, and closes the
# connection's socket all the same: the client sees end-of-file before any
# reply, and tokend holds one descriptor less than before (the listening
# socket and the connection's are both gone). Then SIGTERM: exit 0.
. "$(dirname "$0")/../harness/card_export.sh"

PIN=123456
PY=/usr/bin/python3
HERE=$(cd "$(dirname "$0")" && pwd)

card_export_start --delay-ms 25000 --exports "keep gone"

"$PY" "$HERE/abandon_client.py" "$T/gone" "$PIN" >"$T/client.out" 2>&1 &
CL=$!
BG=("$CL")
for _ in $(seq 600); do
	grep -q signing "$T/client.out" && break
	sleep 0.1
done
grep -q signing "$T/client.out" || fail "the client did not get to C_Sign: $(cat "$T/client.out")"
sleep 0.5
before=$(ls "/proc/$TOKEND_PID/fd" | wc -l)
card_export_conf "keep:$T/keep"
kill -HUP "$TOKEND_PID"
wait "$CL" || true
BG=()
assert_eq "eof-before-reply" "$(tail -1 "$T/client.out")" \
	"the abandoned connection's socket is closed before its request ends"
grep -Eq "connection [0-9]+: 1 request\(s\) still running; abandoning it" "$T/tokend.log" ||
	fail "no abandonment logged"
after=$(ls "/proc/$TOKEND_PID/fd" | wc -l)
[ "$after" -le $((before - 2)) ] ||
	fail "tokend kept the abandoned connection's descriptor ($before fds before, $after after)"
harness_log "ok: abandoned: client saw end-of-file; tokend fds $before -> $after"
kill -TERM "$TOKEND_PID"
rc=0
wait "$TOKEND_PID" || rc=$?
TOKEND_PID=
assert_eq 0 "$rc" "tokend exits 0 with a request still running"
vcard_stop 1
harness_log "PASS"
