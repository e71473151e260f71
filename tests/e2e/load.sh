#!/usr/bin/env bash
# Load: 64 clients at once (processes, each its own connection) log in and
# sign E2E_LOAD_SIGS (default 5) times each; every signature verifies
# (p11client.py checks each against the card's public key). Then, tokend
# only: E2E_LOAD_MANY (default 1000) clients at once, each a process with
# the stock p11-kit client as one of 8 uids, through one export with the
# default limits (128 per export, 32 per peer, 64 workers): every one signs
# and its signature verifies (load_clients.c); tokend's peak threads and
# RSS and the wall time are printed (no timing is asserted). Last, SIGTERM
# while 64 clients sign in a loop: tokend exits 0 within 5 s, and every
# client ends with an error within 30 s (none hangs).
# shellcheck source=common.sh
. "$(dirname "$0")/common.sh"
e2e_init
N=${E2E_LOAD_CLIENTS:-64}
SIGS=${E2E_LOAD_SIGS:-5}
provision 9a:ECCP256
# The 1,000 clients below start at once on two CPUs: under TSan one can
# wait longer than the default 10 s between its connect and its
# C_Initialize (that deadline is peer_limits.sh's to test).
if [ "$E2E_SERVER" = tokend ]; then
	e2e_export main
	printf '[tokend]\nhandshake-timeout = 60\n\n' >>"$CONF"
fi
server_start

# wait_clients TIMEOUT PIDS...: 0 when all ended in time, else kills the rest.
wait_clients() {
	local t=$1 p left
	shift
	for _ in $(seq $((t * 10))); do
		left=0
		for p in "$@"; do kill -0 "$p" 2>/dev/null && left=$((left + 1)); done
		[ "$left" -eq 0 ] && break
		sleep 0.1
	done
	[ "$left" -eq 0 ] && return 0
	harness_log "$left client(s) still running after $t s: killing them"
	kill -KILL "$@" 2>/dev/null || true
	return 1
}

mkdir -p "$T/load"
pids=()
start=$(date +%s.%N)
for i in $(seq "$N"); do
	"${P11C[@]}" run "init; open; login $PIN; sign 01 $SIGS; finalize" >"$T/load/$i.out" 2>&1 &
	pids+=($!)
done
wait_clients 240 "${pids[@]}" || fail "clients hang under load"
ok=0
for i in $(seq "$N"); do
	if grep -q "^sign 01 $SIGS: ok $SIGS" "$T/load/$i.out" && grep -q '^finalize: ok' "$T/load/$i.out"; then
		ok=$((ok + 1))
	else
		printf -- '--- client %s:\n%s\n' "$i" "$(cat "$T/load/$i.out")" >&2
	fi
done
secs=$(awk -v s="$start" -v e="$(date +%s.%N)" 'BEGIN { printf "%.1f", e - s }')
harness_log "$ok of $N clients signed $SIGS times each, all signatures verified ($secs s)"
[ "$ok" -eq "$N" ] || fail "$((N - ok)) of $N clients failed under load"

LOAD_CLIENTS=${TOKEND_BUILD_DIR:-}/tests/daemon/load_clients
if server_is tokend "1,000 concurrent clients" && [ -x "$LOAD_CLIENTS" ]; then
	MANY=${E2E_LOAD_MANY:-1000}
	ulimit -n 65536 2>/dev/null || true
	ulimit -u unlimited 2>/dev/null || true
	"$LOAD_CLIENTS" "$C" "$PIN" "$T/pub_9a.pem" "$MANY" "$SERVER_PID" 3000 8 \
		>"$T/load/many.out" 2>"$T/load/many.err" || fail "not every one of $MANY clients signed and verified:"$'\n'"$(sort "$T/load/many.err" | head -20)"
	harness_log "$(cat "$T/load/many.out")"
	kill -0 "$SERVER_PID" || fail "tokend died under the load of $MANY clients"
fi

if server_is tokend "SIGTERM during load"; then
	pids=()
	for i in $(seq "$N"); do
		"${P11C[@]}" run "init; open; login $PIN; signloop 01" >"$T/load/term$i.out" 2>&1 &
		pids+=($!)
	done
	# Until most clients sign.
	for _ in $(seq 300); do
		[ "$(grep -l '^login.*: ok' "$T"/load/term*.out 2>/dev/null | wc -l)" -ge $((N / 2)) ] && break
		sleep 0.1
	done
	sleep 1
	server_stop # SIGTERM; exit 0 within 5 s
	wait_clients 30 "${pids[@]}" || fail "clients hang after tokend's SIGTERM"
	errs=$(grep -h '^signloop' "$T"/load/term*.out | sed 's/ after [0-9]*$//' | sort | uniq -c || true)
	harness_log "client outcomes after SIGTERM:"$'\n'"$errs"
	for i in $(seq "$N"); do
		grep -q '^signloop 01: err' "$T/load/term$i.out" ||
			grep -q '^[a-z]*.*: err' "$T/load/term$i.out" ||
			fail "client $i did not end with an error:"$'\n'"$(cat "$T/load/term$i.out")"
		! grep -q 'badsig' "$T/load/term$i.out" || fail "client $i got a bad signature"
	done
else
	server_stop
fi
vcard_stop 0
harness_log "PASS"
