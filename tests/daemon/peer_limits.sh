#!/usr/bin/env bash
# Limits a peer cannot use against another (no card needed):
# * slowloris: one peer's silent sockets (never a handshake) are closed
#   after handshake-timeout, logged, while another peer is served;
# * a peer beyond max-connections-per-peer over two exports: its extra
#   connections are held unread, not refused; another peer is served
#   meanwhile; a held one whose client hangs up is closed; one of its
#   served connections ending serves its oldest held one.
. "$(dirname "$0")/lib.sh"

cat >"$T/tokend.conf" <<EOF2
[tokend]
handshake-timeout = 2
max-connections-per-peer = 4
max-connections-per-export = 16

[export a]
socket = $T/a
mode = 0666

[export b]
socket = $T/b
mode = 0666
EOF2

as() { local u=$1; shift; setpriv --reuid "$u" --regid "$u" --clear-groups "$@"; }

start_tokend "$T/tokend.conf"

# Slowloris: 12 silent sockets of uid 1234 (4 served at a time, the rest
# held and timed once served): all closed, 3 rounds of 2 s.
as 1234 $PY "$HERE/raw_client.py" silent "$T/a" 12 30 >"$T/silent.out" 2>&1 &
SILENT=$!
wait_for grep -q silent "$T/silent.out" || true
check "another peer served during the slowloris" \
	as 1235 $PY "$HERE/raw_client.py" served "$T/a"
check "the slowloris sockets are all closed" wait "$SILENT"
cat "$T/silent.out"
check "the timeout is logged" \
	log_has "connection [0-9]+ uid 1234 pid [0-9]+: no handshake and C_Initialize within 2 s; closing it"
check "a client that initialises in time is not closed later" sh -c "
	$PY - '$T/b' <<'PYEOF'
import socket, struct, sys, time
sys.path.insert(0, '$HERE')
import raw_client as rc
s, v = rc.connect(sys.argv[1], 2)
rc.initialize(s, 0x10)
time.sleep(3)
code, cid, _ = rc.get_info(s, 0x11)
sys.exit(0 if cid == rc.C_GETINFO else 1)
PYEOF"

# One peer floods 10 connections (cap 4) while another is served.
rm -f "$T/go"
as 1234 $PY "$HERE/raw_client.py" flood "$T/b" 10 4 "$T/go" >"$T/flood.out" 2>&1 &
FLOOD=$!
wait_for grep -q flooding "$T/flood.out" || sleep 3
check "the flood stands (4 served, 6 held)" grep -q flooding "$T/flood.out"
check "the held connections are logged" \
	log_has "from uid 1234 .* held: the peer is at max-connections-per-peer"
last_held=$(grep -E "export b: connection [0-9]+ from uid 1234 .* held" "$LOG" |
	tail -1 | sed -E 's/.*connection ([0-9]+) .*/\1/')
check "a held connection whose client gives up is closed while held" \
	log_has "export b: connection $last_held closed"
check "another peer is served on the same export during the flood" \
	as 1235 $PY "$HERE/raw_client.py" served "$T/b"
check "and on the other export" \
	as 1236 $PY "$HERE/raw_client.py" served "$T/a"
touch "$T/go"
check "the flooding peer's held connection is served when one ends" wait "$FLOOD"
cat "$T/flood.out"
check "tokend still running" kill -0 "$TOKEND_PID"
stop_tokend
finish
