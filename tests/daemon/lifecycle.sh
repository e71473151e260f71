#!/usr/bin/env bash
# The conversation with systemd and the end of the process: sd_notify
# READY/STATUS/RELOADING/STOPPING, SIGTERM exits 0 promptly and removes the
# sockets while clients are connected, socket activation by name and path.
. "$(dirname "$0")/lib.sh"

S="$T/s"
cat >"$T/tokend.conf" <<EOF
[export a]
socket = $S/a
mode = 0666
[export b]
socket = $S/b
mode = 0666
EOF

# ---- sd_notify over a datagram socket we read ----
$CLIENT notify "$T/notify" 20 >"$T/notify.out" &
NOTIFY_READER=$!
wait_for test -S "$T/notify"
export NOTIFY_SOCKET="$T/notify"
start_tokend "$T/tokend.conf"
check "READY=1 sent" wait_for grep -qx "READY=1" "$T/notify.out"
check "STATUS= names the exports" wait_for grep -q "^STATUS=2 export(s)" "$T/notify.out"

kill -HUP "$TOKEND_PID"
check "RELOADING=1 on SIGHUP" wait_for grep -qx "RELOADING=1" "$T/notify.out"
check "READY=1 again after the reload" \
	wait_for sh -c "[ \$(grep -cx READY=1 '$T/notify.out') -ge 2 ]"

# SIGTERM with connected clients: prompt exit 0, sockets gone.
rm -f "$T/go"
$CLIENT hold "$S/a" "$T/go" >"$T/held.out" &
HELD=$!
wait_for grep -qs connected "$T/held.out"
start=$(date +%s%N)
stop_tokend
elapsed_ms=$(( ($(date +%s%N) - start) / 1000000 ))
# Prompt: well before the 10 s grace for requests in flight.
check "SIGTERM exit took ${elapsed_ms} ms (< 8000)" test "$elapsed_ms" -lt 8000
check "STOPPING=1 sent" wait_for grep -qx "STOPPING=1" "$T/notify.out"
touch "$T/go"
wait "$HELD" || true
check "the client's connection was closed" grep -qx eof "$T/held.out"
check "sockets removed" test ! -e "$S/a" -a ! -e "$S/b"
check "exit logged" log_has "stopped$"
wait "$NOTIFY_READER" 2>/dev/null || true
unset NOTIFY_SOCKET

# SIGINT too.
start_tokend "$T/tokend.conf"
kill -INT "$TOKEND_PID"
rc=0
wait_for sh -c "! kill -0 $TOKEND_PID 2>/dev/null" || true
wait "$TOKEND_PID" || rc=$?
TOKEND_PID=
check "SIGINT exits 0" test "$rc" -eq 0

# ---- socket activation: export "a" by FileDescriptorName, "b" by path ----
if command -v systemd-socket-activate >/dev/null; then
	mkdir -p "$S"
	: >"$LOG"
	# It launches tokend on the first connection, which tokend then serves.
	systemd-socket-activate -l "$T/act-by-name" -l "$S/b" --fdname=a:other \
		"$TOKEND" -f -c "$T/tokend.conf" 2>>"$LOG" &
	TOKEND_PID=$!
	wait_for test -S "$S/b"
	check "first client served through the inherited socket" \
		test "$($CLIENT eof "$T/act-by-name" 1)" = "open"
	check "tokend took the socket named 'a' for export a" \
		log_has "export a: listening on $S/a \\(from systemd\\)"
	check "and the socket at b's path for export b" \
		log_has "export b: listening on $S/b \\(from systemd\\)"
	check "it did not bind a's configured path itself" test ! -e "$S/a"
	check "export b serves on the inherited socket" \
		test "$($CLIENT eof "$S/b" 0.5)" = "open"
	stop_tokend
	check "inherited socket files are left to systemd" test -S "$S/b"
else
	echo "skip: no systemd-socket-activate"
fi

finish
