#!/usr/bin/env bash
# Runs stress_conn (stress_conn.c) against a tokend of its own: storms,
# closes with queued waits, partial frames, floods; tokend's descriptors
# and threads come back to their baseline. No card needed.
. "$(dirname "$0")/lib.sh"
: "${STRESS_CONN:?STRESS_CONN must name the stress_conn binary}"

cat >"$T/tokend.conf" <<EOF2
[tokend]
max-workers = 8
max-connections-per-peer = 512
max-connections-per-export = 512

[export stress]
socket = $T/stress
mode = 0666
EOF2

start_tokend "$T/tokend.conf"
check "stress patterns leave no descriptor or thread behind" \
	"$STRESS_CONN" "$T/stress" "$TOKEND_PID" 8
check "tokend still running" kill -0 "$TOKEND_PID"
stop_tokend
finish
