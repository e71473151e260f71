#!/usr/bin/env bash
# A module's tokens are there from tokend's READY on: the SoftHSMv2 token
# behind a module that takes 0.5 s to initialise (slow_module.so in front
# of libsofthsm2.so) is listed by the first client that comes once tokend
# logs "tokend ready", without a retry (a socket-activated tokend's first
# client, a script's next line). The start waits for it, within 3 s (the
# rest is room for a sanitizer build starting the helper).
#
# START_WAIT_MODULES=3: three modules that take 8 s each. The start waits
# 3 s for them all together, not 3 s for each in turn (9 s, past their
# 8 s): READY comes before any of their tokens, which arrive afterwards
# as hot inserts and are then all listed.
# shellcheck source=softhsm.sh
. "$(dirname "$0")/softhsm.sh"
: "${TOKEND:?}" "${SLOW_MODULE:?SLOW_MODULE must name slow_module.so}"
MODULES=${START_WAIT_MODULES:-1}
for f in "$DEBIAN_CLIENT_SO" "$SOFTHSM"; do
	if [ ! -f "$f" ]; then
		echo "SKIP: $f missing"
		exit 77
	fi
done
harness_init
trap bridge_cleanup EXIT
harness_require softhsm2-util pkcs11-tool
T=$HARNESS_TMP
LOG=$T/tokend.log
SOCK=$T/sock
HARNESS_LOGS=("$LOG")
{
	printf '[piv]\nenabled = no\n\n'
	for i in $(seq "$MODULES"); do
		if [ "$MODULES" -eq 1 ]; then
			name=softhsm label=$LABEL init_ms=500
		else
			name=softhsm$i label=$LABEL$i init_ms=8000
		fi
		bridge_softhsm_token "$name" "$label" "$PIN"
		printf '[module slow%s]\npath = %s\nenv = SLOW_MODULE_TARGET=%s\n' "$i" "$SLOW_MODULE" "$SOFTHSM"
		printf 'env = SLOW_MODULE_INIT_MS=%s\nenv = SOFTHSM2_CONF=%s\n\n' "$init_ms" "$T/$name.conf"
	done
	printf '[export s]\nsocket = %s\nmode = 0666\n' "$SOCK"
} >"$T/tokend.conf"
START=$(date +%s%3N)
"$TOKEND" -f -c "$T/tokend.conf" >>"$LOG" 2>&1 &
TOKEND_PID=$!
for _ in $(seq 1500); do
	grep -q "tokend ready" "$LOG" && break
	kill -0 "$TOKEND_PID" 2>/dev/null || fail "tokend exited at start"
	sleep 0.02
done
grep -q "tokend ready" "$LOG" || fail "tokend did not say READY"
harness_log "READY $(($(date +%s%3N) - START)) ms after the start"
export P11_KIT_SERVER_ADDRESS=unix:path=$SOCK
if [ "$MODULES" -eq 1 ]; then
	run_ok "the first client's token list" timeout 60 pkcs11-tool --module "$DEBIAN_CLIENT_SO" -T
	assert_contains "$OUT" "token label        : $LABEL" "the slow module's token is listed at once"
else
	check "READY before any of the $MODULES slow modules' tokens arrived (one 3 s wait for all)" \
		awk '/tokend ready/ { exit 0 } /module token arrived/ { exit 1 }' "$LOG"
	for _ in $(seq 300); do
		[ "$(grep -c "module token arrived" "$LOG")" -ge "$MODULES" ] && break
		sleep 0.1
	done
	run_ok "the token list once the modules are up" timeout 60 pkcs11-tool --module "$DEBIAN_CLIENT_SO" -T
	for i in $(seq "$MODULES"); do
		assert_contains "$OUT" "token label        : $LABEL$i" "module $i's token, a hot insert, is listed"
	done
fi
bridge_stop
finish
