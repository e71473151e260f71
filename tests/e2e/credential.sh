#!/usr/bin/env bash
# An export's PIN from a systemd credential (pin-credential = NAME), with
# $CREDENTIALS_DIRECTORY prepared as systemd lays it out (no systemd runs
# as PID 1 here):
#  * the export's token has a protected authentication path; a client that
#    gives no PIN (C_Login with NULL) signs, and the signature verifies;
#  * the PIN never reaches the client or the log;
#  * a credential that is missing stops the start-up with one line naming
#    it, and so does a world-readable one (pin-file's checks).
# shellcheck source=common.sh
. "$(dirname "$0")/common.sh"
e2e_require_tokend "pin-credential"
e2e_init
provision 9a:ECCP256
CRED=$T/credentials
mkdir -m 0700 "$CRED"
printf '%s\n' "$PIN" >"$CRED/user.pin"
chmod 0400 "$CRED/user.pin"

e2e_export cred "pin-credential=user.pin"
export CREDENTIALS_DIRECTORY=$CRED
server_start cred
unset CREDENTIALS_DIRECTORY
use_socket cred
p11c_ok "pin-credential export: protected authentication path" "init; flags"
assert_contains "$OUT" "CKF_PROTECTED_AUTHENTICATION_PATH" "token flags"
p11c_ok "a client without the PIN signs (C_Login NULL)" \
	"init; open; login -; sign 01 3; finalize" env -u TOKEND_PIN
p11c_fail "a client's own PIN is refused on a pin-credential export" \
	"init; open; login $PIN"
assert_contains "$OUT" "CKR_PIN_INCORRECT" "client PIN refused"
grep -q "$PIN" "$SERVER_LOG" && fail "the PIN appears in tokend's log"
server_stop

# start-up errors: tokend exits at once with a line that says what is wrong
start_refused() { # DESC EXPECTED-TEXT
	local rc=0 out
	out=$(CREDENTIALS_DIRECTORY=$CRED timeout 10 "$TOKEND" -f -c "$CONF" 2>&1) || rc=$?
	[ "$rc" -ne 0 ] && [ "$rc" -ne 124 ] || fail "$1: tokend did not refuse to start (exit $rc)"
	assert_contains "$out" "$2" "$1"
	harness_log "ok: $1 ($(head -n 1 <<<"$out"))"
}
rm -f "$CRED/user.pin"
start_refused "a missing credential stops the start" \
	"pin-credential $CRED/user.pin: No such file or directory"
printf '%s\n' "$PIN" >"$CRED/user.pin"
chmod 0644 "$CRED/user.pin"
start_refused "a world-readable credential is refused" \
	"pin-credential $CRED/user.pin must be a regular file that group and others cannot access"
rc=0
out=$(env -u CREDENTIALS_DIRECTORY timeout 10 "$TOKEND" -f -c "$CONF" 2>&1) || rc=$?
[ "$rc" -ne 0 ] || fail "tokend started without \$CREDENTIALS_DIRECTORY"
assert_contains "$out" 'pin-credential user.pin: $CREDENTIALS_DIRECTORY is not set' "no credentials directory"

vcard_stop 0
harness_log "PASS"
