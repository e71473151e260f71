#!/usr/bin/env bash
# Isolation of applications over a bridged SoftHSMv2 token, whose own login
# is global to tokend's helper: the PIV tests' isolation.py (tests/e2e: A's
# login never lets B sign, A's C_Finalize leaves B working, a SIGKILLed
# client leaves no login behind, no private object seen or used by a client
# not logged in; tokend's exact CKR codes) against the SoftHSM token, then,
# step by step with p11client.py applications (one process and connection
# each): A's C_Logout does not log B out, B's wrong PIN does not log A out
# and is refused, and after A's exit a new client must log in to sign.
# shellcheck source=softhsm.sh
. "$(dirname "$0")/softhsm.sh"
bridge_before_start() {
	# isolation.py wants a private data object; C_CreateObject through
	# the bridge is a gap of its own, so SoftHSMv2 writes it.
	printf '\x01\x05Alice' >"$T/printed.bin"
	SOFTHSM2_CONF=$T/softhsm.conf run_ok "a private data object, written in SoftHSMv2" \
		pkcs11-tool --module "$SOFTHSM" --login --pin "$PIN" --write-object "$T/printed.bin" \
		--type data --label printed --private
}
bridge_init
E2E_DIR=$BRIDGE_DIR/../e2e
export E2E_CLIENT=$CLIENT_SO TOKEND_PIN=$PIN

# isolation.py signs with the EC key of CKA_ID 01.
bridge_keypair EC:prime256v1 01 iso
HARNESS_CMD_TIMEOUT=240 run_check "isolation.py over the bridged token" env E2E_STRICT=1 \
	"$PY" "$E2E_DIR/isolation.py"
printf '%s\n' "$OUT" >&2

# app_start NAME: a p11client.py application driven through two fifos;
# app NAME CMD: its one-line reply in $REPLY_LINE.
declare -A APP_IN=() APP_OUT=() APP_PID=()
app_start() {
	local name=$1 fin fout
	mkfifo "$T/$name.in" "$T/$name.out"
	"$PY" "$E2E_DIR/p11client.py" repl <"$T/$name.in" >"$T/$name.out" 2>>"$T/$name.err" &
	APP_PID[$name]=$!
	exec {fin}>"$T/$name.in" {fout}<"$T/$name.out"
	APP_IN[$name]=$fin
	APP_OUT[$name]=$fout
}
app() {
	REPLY_LINE="eof (the client died)"
	# (a write to a dead client's fifo would SIGPIPE this shell)
	if kill -0 "${APP_PID[$1]}" 2>/dev/null; then
		printf '%s\n' "$2" >&"${APP_IN[$1]}"
		REPLY_LINE="hang (no reply in 60 s)"
		read -r -t 60 -u "${APP_OUT[$1]}" REPLY_LINE || true
	fi
	harness_log "  $1: $2 -> $REPLY_LINE"
}
app_ok() { # NAME CMD [DESC]
	app "$1" "$2"
	check "$1: ${3:-$2}" grep -q "^ok" <<<"$REPLY_LINE"
}
app_is() { # NAME CMD EXPECTED DESC
	app "$1" "$2"
	check "$4 ($REPLY_LINE)" test "$REPLY_LINE" = "$3"
}
app_stop() { # NAME [kill]: quit (or SIGKILL) and reap
	local name=$1 fd
	if [ "${2:-}" = kill ]; then
		kill -KILL "${APP_PID[$name]}" 2>/dev/null || true
	else
		app "$name" quit
	fi
	fd=${APP_IN[$name]}
	exec {fd}>&-
	fd=${APP_OUT[$name]}
	exec {fd}<&-
	wait "${APP_PID[$name]}" 2>/dev/null || true
	unset "APP_PID[$name]"
}
# refused NAME WHO OTHER: NAME cannot sign with key 01, whether it looks
# for the key (hidden before login) or uses the handle OTHER (logged in)
# found: CKR_USER_NOT_LOGGED_IN or an invalid handle.
refused() {
	local h
	app "$1" "sign 01"
	check "$2 cannot sign ($REPLY_LINE)" grep -qE "^err (nokey|CKR_USER_NOT_LOGGED_IN)" <<<"$REPLY_LINE"
	app "$3" "handle 01"
	h=${REPLY_LINE##* }
	app "$1" "signh $h"
	check "nor with $3's key handle ($REPLY_LINE)" \
		grep -qE "^err CKR_(USER_NOT_LOGGED_IN|KEY_HANDLE_INVALID|OBJECT_HANDLE_INVALID)" <<<"$REPLY_LINE"
}
apps_stop() {
	local name
	for name in "${!APP_PID[@]}"; do
		kill -KILL "${APP_PID[$name]}" 2>/dev/null || true
	done
}
trap 'apps_stop; bridge_cleanup' EXIT

harness_log "== A's C_Logout does not log B out"
for c in A B; do
	app_start "$c"
	app_ok "$c" init
	app_ok "$c" open
	app_ok "$c" "login $PIN"
done
app_ok A "sign 01" "A signs"
app_ok B "sign 01" "B signs"
app_ok A logout "A logs out"
app_is A state "ok CKS_RO_PUBLIC_SESSION" "A's session is public after its logout"
app_is B state "ok CKS_RO_USER_FUNCTIONS" "B is still logged in"
app_ok B "sign 01 2" "B still signs after A's logout"

harness_log "== B's wrong PIN does not log A out"
app_ok A "login $PIN" "A logs in again"
app_ok B logout "B logs out"
app_is B "login 99999" "err CKR_PIN_INCORRECT" "B's wrong PIN is refused"
app_is A state "ok CKS_RO_USER_FUNCTIONS" "A is still logged in after B's wrong PIN"
app_ok A "sign 01 2" "A still signs after B's wrong PIN"
refused B "B (wrong PIN)" A
app_ok B "login $PIN" "B's right PIN after its wrong one"
app_ok B "sign 01" "B signs"

harness_log "== after A exits (SIGKILL, logged in), B stays logged in and C must log in"
app_stop A kill
sleep 0.5
app_ok B "sign 01" "B still signs after A was killed"
app_start C
app_ok C init
app_ok C open
app_is C state "ok CKS_RO_PUBLIC_SESSION" "C's new session is public"
refused C "C (not logged in)" B
app_ok C "login $PIN" "C logs in"
app_ok C "sign 01" "C signs"
app_stop B
app_stop C
check "tokend's helper still runs" test -n "$(pgrep -P "$TOKEND_PID" -f tokend-module-helper)"
bridge_stop
finish
