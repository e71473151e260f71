#!/usr/bin/env bash
# Hotplug latency and the first client after an insert (hotplug.py): how
# long after a virtual YubiKey is inserted or removed a client blocked in
# C_WaitForSlotEvent wakes, in-process (tokend-pkcs11.so) and through
# tokend's socket (Debian's p11-kit-client.so), next to pcscd's own notice
# (SCardGetStatusChange) in the same run; then the APDUs and time of the
# first client after the insert against a second one. Prints markdown
# tables; fails when a waiter is not woken within BENCH_WAKE_TIMEOUT.
#
#   tests/harness/private_pcscd.sh bench/hotplug.sh [BUILD_DIR]
#
# Environment:
#   TOKEND / TOKEND_MODULE   tokend binary / in-process module (BUILD_DIR's)
#   APDU_DELAY_MS / KEYOP_DELAY_MS   card latency (default 4 / 60: rough YubiKey 5)
#   BENCH_RUNS          rounds (default 5)
#   BENCH_LAYOUTS       waiter sets per round, each with pcscd's waiter
#                       (default "alone module socket all": in-process with
#                       no tokend daemon, in-process with tokend running,
#                       socket alone, both at once); tokend is started
#                       after the "alone" rounds
#   BENCH_WAKE_TIMEOUT  seconds a waiter may take before the run fails (30)
#   BENCH_SETTLE_S      quiet card log that counts as "settled" (default 1.0)
#   BENCH_OUT           also write the report to this file
set -euo pipefail
. "$(dirname "$0")/lib.sh"
MODULE=${TOKEND_MODULE:-$BUILD/pkcs11/tokend-pkcs11.so}
CLIENT=/usr/lib/x86_64-linux-gnu/pkcs11/p11-kit-client.so

harness_init
harness_require yubico-piv-tool openssl
[ -x "$TOKEND" ] || fail "tokend not built: $TOKEND"
[ -f "$MODULE" ] || fail "module not built: $MODULE"
[ -f "$CLIENT" ] || fail "p11-kit client not installed: $CLIENT"
BENCH_PID=''
bench_cleanup() {
	local rc=$? pid
	# hotplug.py stops its waiters and card itself; this covers a kill of it.
	if [ -n "$BENCH_PID" ]; then
		kill -TERM "$BENCH_PID" 2>/dev/null || true
		wait "$BENCH_PID" 2>/dev/null || true
	fi
	pid=$(cat "$HARNESS_TMP/vcard-hotplug.pid" 2>/dev/null || true)
	[ -z "$pid" ] || kill -TERM "$pid" 2>/dev/null || true
	pid=$(cat "$HARNESS_TMP/tokend.pid" 2>/dev/null || true)
	if [ -n "$pid" ]; then
		kill -TERM "$pid" 2>/dev/null || true
		for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
		kill -KILL "$pid" 2>/dev/null || true
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
# The card leaves; hotplug.py inserts it again (same state file) for each round.
vcard_stop 0

sock=$T/tokend.sock
printf '[tokend]\nlog-level = notice\n\n[export bench]\nsocket = %s\nmode = 0666\n' "$sock" >"$T/tokend.conf"
# hotplug.py starts tokend itself, after the rounds with the module alone.
harness_log "${BENCH_RUNS:-5} rounds per waiter set"

report=$T/report.md
rc=0
/usr/bin/python3 "$SRC/bench/hotplug.py" run --vcard "$TOKEND_VCARD" --vcard-dir "$(vcard_dir 0)" \
	--vcard-pidfile "$T/vcard-hotplug.pid" --reader "$R" --socket "$sock" --module "$MODULE" \
	--tokend "$TOKEND" --tokend-conf "$T/tokend.conf" --tokend-log "$T/tokend.log" \
	--tokend-pidfile "$T/tokend.pid" \
	--pub "$T/pub_9a.pem" --runs "${BENCH_RUNS:-5}" --wake-timeout "${BENCH_WAKE_TIMEOUT:-30}" \
	--vcard-arg=--mgm-alg --vcard-arg=3des --vcard-arg=--serial --vcard-arg=7654321 \
	--vcard-arg=--apdu-delay-ms --vcard-arg="$APDU_DELAY_MS" \
	--vcard-arg=--keyop-delay-ms --vcard-arg="$KEYOP_DELAY_MS" \
	--note "Card: tokend-vcard (YubiKey 5.7.2 PIV) in vpcd's reader '$R', P-256 key + certificate in 9A; ${APDU_DELAY_MS} ms per APDU, ${KEYOP_DELAY_MS} ms per key operation." \
	--note "Waiters: pyscard $(dpkg-query -W -f '${Version}' python3-pyscard 2>/dev/null || echo '?') on pcscd $(dpkg-query -W -f '${Version}' pcscd 2>/dev/null || echo '?'); PyKCS11 with $MODULE; PyKCS11 with $CLIENT ($(dpkg-query -W -f '${Version}' libp11-kit0 2>/dev/null || echo '?')) to tokend $TOKEND." \
	>"$report" 2>"$T/hotplug.err" &
BENCH_PID=$!
wait "$BENCH_PID" || rc=$?
BENCH_PID=
cat "$T/hotplug.err" >&2
[ "$rc" -eq 0 ] || { tail -n 30 "$T/tokend.log" >&2 2>/dev/null || true; fail "hotplug.py failed (status $rc)"; }
[ -z "${BENCH_OUT:-}" ] || cp "$report" "$BENCH_OUT"
cat "$report"
