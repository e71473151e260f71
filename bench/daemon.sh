#!/usr/bin/env bash
# Socket servers side by side on one virtual YubiKey, both reached through
# Debian's p11-kit-client.so: tokend vs `p11-kit server --provider
# opensc-pkcs11.so`. New-client cost (APDUs, wall time), steady-state round
# trips per second, server memory with 1/10/100 idle connections
# (daemon_bench.py). Prints markdown tables; asserts nothing on timings.
#
#   bench/daemon.sh [BUILD_DIR]
#
# Environment:
#   TOKEND              tokend binary (default BUILD_DIR/daemon/tokend)
#   TOKEND_OPENSC_MODULE  p11-kit server's provider (default OpenSC's)
#   APDU_DELAY_MS / KEYOP_DELAY_MS   card latency (default 4 / 60: rough YubiKey 5)
#   BENCH_RUNS          fresh clients per server for the median (default 5)
#   BENCH_SIGS          signatures for the steady-state rate (default 20)
#   BENCH_SERVERS       which to run (default "p11-kit tokend")
#   BENCH_PARTS         what to measure (default "newclient,steady,memory,attr";
#                       "steady" alone gives the round-trip tables, among
#                       them C_GetAttributeValue/s on one connection for
#                       tokend and p11-kit server side by side; "attr" runs
#                       tokend, p11-kit server and cache_proxy.c at once and
#                       measures C_GetAttributeValue against each in turn,
#                       with the client's and the server's CPU time per call)
#   BENCH_ATTR_ROUNDS   rounds of the "attr" part (default 7, 1 s each)
#   BENCH_OUT           also write the report to this file
set -euo pipefail
. "$(dirname "$0")/lib.sh"
OPENSC=${TOKEND_OPENSC_MODULE:-/usr/lib/x86_64-linux-gnu/opensc-pkcs11.so}
SERVERS=${BENCH_SERVERS:-p11-kit tokend}
PARTS=${BENCH_PARTS:-newclient,steady,memory,attr}

harness_init
harness_require yubico-piv-tool openssl p11-kit
SERVER_PID=
ATTR_PIDS=
bench_cleanup() {
	local rc=$?
	for p in $ATTR_PIDS; do kill -TERM "$p" 2>/dev/null || true; done
	if [ -n "$SERVER_PID" ]; then
		kill -TERM "$SERVER_PID" 2>/dev/null || true
		sleep 1
		pkill -KILL -P "$SERVER_PID" 2>/dev/null || true
		kill -KILL "$SERVER_PID" 2>/dev/null || true
	fi
	(exit "$rc")
	harness_cleanup
}
trap bench_cleanup EXIT
pcscd_ensure
vcard_start 0 --mgm-alg 3des --serial 7654321
R=$(reader_name 0)
T=$HARNESS_TMP
chmod 0755 "$T"
bench_card_9a
# Again with the latency of a real device (the state file keeps the keys).
vcard_stop 0
vcard_start 0 --mgm-alg 3des --serial 7654321 --apdu-delay-ms "$APDU_DELAY_MS" --keyop-delay-ms "$KEYOP_DELAY_MS"

# start_server NAME SOCKET LOG: starts it in the background (SERVER_PID).
start_server() {
	rm -f "$2" # a stale one would look ready
	case $1 in
	p11-kit)
		p11-kit server --provider "$OPENSC" -f -n "$2" 'pkcs11:' >"$3" 2>&1 &
		SERVER_PID=$!
		;;
	tokend)
		[ -x "$TOKEND" ] || fail "tokend not built: $TOKEND"
		printf '[tokend]\nlog-level = notice\n# 100 idle clients of one uid\nmax-connections-per-peer = 256\n\n[export bench]\nsocket = %s\nmode = 0666\n' "$2" >"$T/tokend.conf"
		"$TOKEND" -f -c "$T/tokend.conf" >"$3" 2>&1 &
		SERVER_PID=$!
		;;
	zero)
		cc -O2 -Wall -Wextra -o "$T/cache_proxy" "$SRC/bench/cache_proxy.c" || fail "cannot build cache_proxy"
		"$T/cache_proxy" "$2" "$T/tokend.sock" >"$3" 2>&1 &
		SERVER_PID=$!
		;;
	*) fail "unknown server $1" ;;
	esac
	for _ in $(seq 100); do [ -S "$2" ] && break; sleep 0.1; done
	[ -S "$2" ] || { cat "$3" >&2; fail "$1 did not start"; }
}

files=()
for srv in $SERVERS; do
	sock=$T/$srv.sock
	log=$T/$srv.log
	start_server "$srv" "$sock" "$log"
	harness_log "benchmarking $srv (pid $SERVER_PID)"
	HARNESS_CMD_TIMEOUT=1800 run_ok "measure $srv" /usr/bin/python3 "$SRC/bench/daemon_bench.py" measure \
		--name "$srv" --socket "$sock" --pid "$SERVER_PID" --apdu-log "$(vcard_dir 0)/apdu.log" \
		--pub "$T/pub_9a.pem" --runs "${BENCH_RUNS:-5}" --sigs "${BENCH_SIGS:-20}" --parts "$PARTS" \
		--out "$T/$srv.json"
	files+=("$T/$srv.json")
	kill -TERM "$SERVER_PID"
	for _ in $(seq 50); do kill -0 "$SERVER_PID" 2>/dev/null || break; sleep 0.1; done
	pkill -KILL -P "$SERVER_PID" 2>/dev/null || true
	kill -KILL "$SERVER_PID" 2>/dev/null || true
	wait "$SERVER_PID" 2>/dev/null || true
	SERVER_PID=
done

# C_GetAttributeValue with every server up at once, measured in turns.
attr_json=
case ",$PARTS," in
*,attr,*)
	attr_args=()
	for srv in tokend p11-kit zero; do
		start_server "$srv" "$T/$srv.sock" "$T/$srv-attr.log"
		ATTR_PIDS="$ATTR_PIDS $SERVER_PID"
		attr_args+=(--server "$srv=$T/$srv.sock:$SERVER_PID")
		SERVER_PID=
	done
	attr_json=$T/attr.json
	HARNESS_CMD_TIMEOUT=1800 run_ok "C_GetAttributeValue, servers in turn" /usr/bin/python3 "$SRC/bench/daemon_bench.py" attr \
		"${attr_args[@]}" --rounds "${BENCH_ATTR_ROUNDS:-7}" --secs 1 --out "$attr_json"
	for p in $ATTR_PIDS; do kill -TERM "$p" 2>/dev/null || true; done
	ATTR_PIDS=
	;;
esac

report=$T/report.md
run_ok "report" /usr/bin/python3 "$SRC/bench/daemon_bench.py" report "${files[@]}" ${attr_json:+--attr "$attr_json"} \
	--note "Card: tokend-vcard (YubiKey 5.7.2 PIV), P-256 key + certificate in 9A; simulated latency ${APDU_DELAY_MS} ms per APDU, ${KEYOP_DELAY_MS} ms per key operation (rough YubiKey 5 figures) in all runs." \
	--note "Clients: Debian's p11-kit-client.so $(dpkg-query -W -f '${Version}' libp11-kit0 2>/dev/null || echo '?') over a Unix socket. Servers: tokend $TOKEND; p11-kit server $(dpkg-query -W -f '${Version}' p11-kit 2>/dev/null || echo '?') --provider $OPENSC (OpenSC $(dpkg-query -W -f '${Version}' opensc-pkcs11 2>/dev/null || echo '?'))."
cp "$HARNESS_OUT" "$report"
[ -z "${BENCH_OUT:-}" ] || cp "$report" "$BENCH_OUT"
vcard_stop 0
cat "$report"
