#!/usr/bin/env bash
# max-connections-per-export: the connection beyond the limit is closed with
# a log line naming the peer; the ones inside it keep working, and once one
# goes a new client gets in. No card needed.
. "$(dirname "$0")/lib.sh"

cat >"$T/tokend.conf" <<EOF
[tokend]
max-connections-per-export = 2

[export lim]
socket = $T/lim
mode = 0666
EOF

start_tokend "$T/tokend.conf"
check "two connections in, the third refused, a freed place reused" \
	$PY "$HERE/raw_client.py" limit "$T/lim" 2
check "the refusal is logged with the peer" \
	log_has "export lim: connection limit 2 reached, refusing uid 0 pid [0-9]+"
check "tokend still running" kill -0 "$TOKEND_PID"
stop_tokend
finish
