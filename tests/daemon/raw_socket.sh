#!/usr/bin/env bash
# The p11-kit RPC wire by hand (tests/daemon/raw_client.py): handshake with
# versions 0, 1, 2, 200; valid and pipelined calls; malformed frames,
# oversized lengths, unknown call ids, truncated arguments and garbage each
# close only their own connection, with a log line, and tokend stays up.
# No card needed: an empty slot list is fine.
. "$(dirname "$0")/lib.sh"

cat >"$T/tokend.conf" <<EOF
[tokend]
max-message-size = 65536

[export raw]
socket = $T/raw
mode = 0666
EOF

start_tokend "$T/tokend.conf"
check "raw protocol checks" $PY "$HERE/raw_client.py" "$T/raw"
check "tokend still running" kill -0 "$TOKEND_PID"
check "an oversized frame is logged with export and peer" \
	log_has "export raw: connection [0-9]+ uid 0 pid [0-9]+: frame larger than max-message-size; closing it"
check "a bad request is logged" \
	log_has "export raw: connection [0-9]+ uid [0-9]+ pid [0-9]+: malformed or unknown request; closing it"
check "every connection was released" \
	wait_for sh -c "[ \$(grep -c 'connection [0-9]* closed' '$LOG') -eq \$(grep -c 'connection [0-9]* from' '$LOG') ]"
stop_tokend
finish
