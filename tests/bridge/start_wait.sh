#!/usr/bin/env bash
# A module's tokens are there from tokend's READY on: the SoftHSMv2 token
# behind a module that takes 1.5 s to initialise (slow_module.so in front
# of libsofthsm2.so) is listed by the first client that comes once tokend
# logs "tokend ready", without a retry (a socket-activated tokend's first
# client, a script's next line). The start waits for it, within 3 s.
# shellcheck source=softhsm.sh
. "$(dirname "$0")/softhsm.sh"
: "${TOKEND:?}" "${SLOW_MODULE:?SLOW_MODULE must name slow_module.so}"
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
bridge_softhsm_token softhsm "$LABEL" "$PIN"
cat >"$T/tokend.conf" <<CONF
[piv]
enabled = no

[module slow]
path = $SLOW_MODULE
env = SLOW_MODULE_TARGET=$SOFTHSM
env = SLOW_MODULE_INIT_MS=1500
env = SOFTHSM2_CONF=$T/softhsm.conf

[export s]
socket = $SOCK
mode = 0666
CONF
"$TOKEND" -f -c "$T/tokend.conf" >>"$LOG" 2>&1 &
TOKEND_PID=$!
for _ in $(seq 300); do
	grep -q "tokend ready" "$LOG" && break
	kill -0 "$TOKEND_PID" 2>/dev/null || fail "tokend exited at start"
	sleep 0.02
done
grep -q "tokend ready" "$LOG" || fail "tokend did not say READY"
export P11_KIT_SERVER_ADDRESS=unix:path=$SOCK
run_ok "the first client's token list" timeout 60 pkcs11-tool --module "$DEBIAN_CLIENT_SO" -T
assert_contains "$OUT" "token label        : $LABEL" "the slow module's token is listed at once"
bridge_stop
finish
