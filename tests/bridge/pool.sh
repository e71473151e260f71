#!/usr/bin/env bash
# The module sessions of one token's overlapping key operations (a module
# with CKF_OS_LOCKING_OK: SoftHSMv2 behind slow_module.so).
#
# POOL_CASE=fair: a slow device (every C_Sign takes SIGN_MS). Peer A
# (root), 8 connections, asks for 8 signatures at once; peer B (another
# uid) asks for one a moment later: B's signature comes back while A's
# are still running, not after them all (A holds at most half the
# sessions; before, A's 8 held every one and B waited for them).
#
# POOL_CASE=forget: a module that closes a session behind tokend's back
# (every 3rd C_SignInit answers CKR_SESSION_HANDLE_INVALID): a client's
# 12 signatures all succeed and verify, the token stays (before, the third
# one ended as CKR_DEVICE_REMOVED and the token was closed).
# shellcheck source=softhsm.sh
. "$(dirname "$0")/softhsm.sh"
: "${SLOW_MODULE:?SLOW_MODULE must name slow_module.so}" "${POOL_CASE:?}"
SIGN_MS=3000
bridge_before_start() {
	local env
	case $POOL_CASE in
	fair) env="SLOW_MODULE_SIGN_MS=$SIGN_MS" ;;
	forget) env="SLOW_MODULE_FORGET_EVERY=3" ;;
	*) fail "unknown POOL_CASE $POOL_CASE" ;;
	esac
	BRIDGE_MODULES=$(printf '[module slow]\npath = %s\nenv = SLOW_MODULE_TARGET=%s\nenv = %s\nenv = SOFTHSM2_CONF=%s\n' \
		"$SLOW_MODULE" "$SOFTHSM" "$env" "$T/softhsm.conf")
}
bridge_init setpriv
export E2E_CLIENT=$CLIENT_SO
bridge_keypair EC:prime256v1 01 ec

# shellcheck source=../harness/repl_apps.sh
. "$BRIDGE_DIR/../harness/repl_apps.sh"
login() {
	local c
	for c in init open "login $PIN"; do
		ask "$1" "$c"
		check "$1: $c" grep -q "^ok" <<<"$LINE"
	done
}

case $POOL_CASE in
fair)
	A=(A1 A2 A3 A4 A5 A6 A7 A8)
	for a in "${A[@]}"; do
		app "$a"
		login "$a"
	done
	# B: nobody, another peer (logged in before A's signatures: a login
	# waits for the key operations in flight); it reaches $SOCK in $T
	chmod o+x "$T"
	app B setpriv --reuid 65534 --regid 65534 --clear-groups
	login B
	for a in "${A[@]}"; do say "$a" "sign 01"; done
	sleep 1 # A's 8 signatures are in tokend
	say B "sign 01"
	hear B
	check "B signs while A's 8 slow signatures run" grep -q "^ok" <<<"$LINE"
	# which of A's replies are in when B's is (read -t 0: one waits)
	running=0
	for a in "${A[@]}"; do
		fd="OUT_$a"
		read -r -t 0 -u "${!fd}" || running=$((running + 1))
	done
	harness_log "A's signatures still running when B's came back: $running"
	check "B's signature came back while some of A's still ran (A holds no more than half the sessions)" \
		test "$running" -gt 0
	for a in "${A[@]}"; do
		hear "$a"
		check "$a signs" grep -q "^ok" <<<"$LINE"
	done
	;;
forget)
	app C
	login C
	ask C "sign 01 12"
	check "12 signatures, every 3rd C_SignInit on a session the module closed, all succeed" \
		grep -q "^ok 12" <<<"$LINE"
	ask C "sign 01 2"
	check "the token is still there after" grep -q "^ok 2" <<<"$LINE"
	;;
esac
for fd in $(compgen -v | grep -E '^IN_'); do say "${fd#IN_}" quit; done
wait "${APPS[@]}"
bridge_stop
finish
