#!/usr/bin/env bash
# max-connections-per-export: the client beyond the limit is not refused but
# waits in the listen backlog (tokend stops accepting), and is served once
# one of the others goes. No card needed.
. "$(dirname "$0")/lib.sh"

cat >"$T/tokend.conf" <<EOF2
[tokend]
max-connections-per-export = 2

[export lim]
socket = $T/lim
mode = 0666
EOF2

start_tokend "$T/tokend.conf"
check "two connections in, the third waits in the backlog, then is served" \
	$PY "$HERE/raw_client.py" limit "$T/lim" 2
check "the pause is logged" \
	log_has "export lim: max-connections-per-export reached; new connections wait"
check "and the resumption" log_has "export lim: accepting connections again"
check "tokend still running" kill -0 "$TOKEND_PID"
stop_tokend
finish
