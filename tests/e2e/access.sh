#!/usr/bin/env bash
# Per-export policy through p11-kit-client.so (tokend only):
#  * allow-users/allow-groups: a uid not allowed is refused before any
#    PKCS#11 call (p11-kit-client's C_Initialize then fails with
#    CKR_DEVICE_ERROR, or shows no slot); an allowed uid, a supplementary
#    or primary group that is allowed, get the token; a client in a user
#    namespace is judged by its ids outside;
#  * access = read-only: C_GenerateKeyPair refused (CKR_TOKEN_WRITE_PROTECTED)
#    where a full export allows it, signing works;
#  * tokens = URI: a filter that matches another serial hides the token, one
#    that matches its label shows it;
#  * pin-file: the token has a protected authentication path, C_Login with
#    a NULL PIN works and signs; the PIN never reaches the client or the log;
#    a stale pin-file costs the card one try, then is no longer used.
# shellcheck source=common.sh
. "$(dirname "$0")/common.sh"
e2e_require_tokend "export policy"
e2e_init
provision 9a:ECCP256
printf '%s\n' "$PIN" >"$T/user.pin"
chmod 0600 "$T/user.pin"

e2e_export open
e2e_export users allow-users=4321 allow-groups=777
e2e_export ro access=read-only
e2e_export full access=full
e2e_export hidden tokens=pkcs11:serial=00000000
e2e_export shown 'tokens=pkcs11:token=YubiKey%20PIV%20%237654321'
e2e_export pin "pin-file=$T/user.pin"
printf '654321\n' >"$T/stale.pin" # not the card's PIN
chmod 0600 "$T/stale.pin"
e2e_export stale "pin-file=$T/stale.pin"
server_start open

as() { # as UID [setpriv group options]: command prefix
	local u=$1
	shift
	printf '%s\n' setpriv --reuid "$u" --regid "$u" "${@:---clear-groups}"
}
mapfile -t AS1234 < <(as 1234)
mapfile -t AS4321 < <(as 4321)
mapfile -t AS1234G < <(as 1234 --groups 777)
AS1234P=(setpriv --reuid 1234 --regid 777 --clear-groups)

# refused_client DESC PREFIX...: the client must not see the token.
refused_client() {
	local desc=$1
	shift
	HARNESS_CMD_TIMEOUT=30 run_fail "$desc" "$@" "${P11C[@]}" run "init; slots; open"
	case $OUT in
	*"init: err CKR_DEVICE_ERROR"* | *"slots: ok 0"*) ;;
	*) fail "$desc: expected C_Initialize CKR_DEVICE_ERROR or no slots:"$'\n'"$OUT" ;;
	esac
	harness_log "  ($(head -n 2 <<<"$OUT" | tr '\n' ' '))"
}

# --- who may connect
use_socket users
refused_client "uid 1234 refused on 'users'" "${AS1234[@]}"
grep -Eqi 'refus|not allowed|denied' "$SERVER_LOG" || fail "no log line for the refused peer"
grep -Ei 'refus|not allowed|denied' "$SERVER_LOG" | grep -q 1234 || fail "the refusal log line does not name uid 1234"
p11c_ok "uid 4321 (allowed user) signs on 'users'" "init; open; login $PIN; sign 01 2; finalize" "${AS4321[@]}"
p11c_ok "uid 1234 with supplementary group 777 signs" "init; open; login $PIN; sign 01 2; finalize" "${AS1234G[@]}"
p11c_ok "uid 1234 with primary group 777 signs" "init; open; login $PIN; sign 01; finalize" "${AS1234P[@]}"
if "${AS1234[@]}" unshare --user --map-root-user true 2>/dev/null; then
	refused_client "uid 1234 as root in a user namespace refused" "${AS1234[@]}" unshare --user --map-root-user
	p11c_ok "uid 4321 as root in a user namespace signs" "init; open; login $PIN; sign 01; finalize" \
		"${AS4321[@]}" unshare --user --map-root-user
else
	harness_log "skip: unshare --user not permitted here"
fi
use_socket open
p11c_ok "uid 1234 signs on the export without allow lists" "init; open; login $PIN; sign 01; finalize" "${AS1234[@]}"

# --- read-only
use_socket ro
p11c_ok "read-only export signs" "init; open; login $PIN; sign 01 2; flags"
assert_contains "$OUT" "CKF_WRITE_PROTECTED" "read-only token flags"
run_fail "read-only export refuses --keypairgen" pkcs11-tool --module "$C" --keypairgen \
	--key-type EC:prime256v1 --id 05 --label ro --login --login-type so --so-pin "$MGM_HEX"
assert_contains "$OUT" "CKR_TOKEN_WRITE_PROTECTED" "keypairgen on read-only"
p11c_fail "read-only export refuses C_GenerateKeyPair (PyKCS11)" "init; open rw; login $PIN; keygen"
assert_contains "$OUT" "CKR_TOKEN_WRITE_PROTECTED" "C_GenerateKeyPair on read-only"
use_socket open
run_fail "an export without access= is read-only too" pkcs11-tool --module "$C" --keypairgen \
	--key-type EC:prime256v1 --id 05 --label ro --login --login-type so --so-pin "$MGM_HEX"
assert_contains "$OUT" "CKR_TOKEN_WRITE_PROTECTED" "keypairgen on the default access"
use_socket full
run_ok "full export: --keypairgen works" pkcs11-tool --module "$C" --keypairgen \
	--key-type EC:prime256v1 --id 05 --label full --login --login-type so --so-pin "$MGM_HEX"
use_socket ro
run_ok "read-only export lists the new key" pkcs11-tool --module "$C" -O
assert_contains "$OUT" "ID:         05" "key generated through the full export"

# --- token filter
use_socket hidden
p11c_ok "filter on another serial: no token" "init; slots"
assert_contains "$OUT" "slots: ok 0" "hidden token"
HARNESS_CMD_TIMEOUT=30 run_fail "pkcs11-tool -L on the filtered export: no slots" pkcs11-tool --module "$C" -L
assert_contains "$OUT" "No slots" "filtered token listed"
use_socket shown
p11c_ok "filter on the token's label: the token" "init; slots; open; login $PIN; sign 01"
assert_contains "$OUT" "slots: ok 1" "token shown"

# --- server-side PIN
use_socket pin
p11c_ok "pin-file export: protected authentication path" "init; flags"
assert_contains "$OUT" "CKF_PROTECTED_AUTHENTICATION_PATH" "token flags"
p11c_ok "pin-file export: C_Login with a NULL PIN signs" "init; open; login -; sign 01 3; finalize" \
	env -u TOKEND_PIN "${AS1234[@]}"
use_socket open
p11c_fail "without pin-file a NULL PIN does not log in" "init; open; login -"
grep -q "$PIN" "$SERVER_LOG" && fail "the PIN appears in tokend's log"

# A stale pin-file (the PIN was changed on the card) costs the card one
# try, not one per client: after the card refuses it, tokend stops using it
# until a reload.
use_socket stale
p11c_fail "stale pin-file: the card refuses the first NULL-PIN login" "init; open; login -"
assert_contains "$OUT" "CKR_PIN_INCORRECT" "first stale login"
p11c_fail "stale pin-file: the next is refused without the card" "init; open; login -"
assert_contains "$OUT" "CKR_PIN_INCORRECT" "second stale login"
use_socket open
p11c_ok "the card saw one wrong PIN, not two" "init; flags"
assert_contains "$OUT" "CKF_USER_PIN_COUNT_LOW" "one try used"
assert_not_contains "$OUT" "CKF_USER_PIN_FINAL_TRY" "a second try used"
grep -q "export stale: the card refused the PIN from" "$SERVER_LOG" ||
	fail "no log line about the stale pin-file"
p11c_ok "the right PIN still logs in (and resets the counter)" "init; open; login $PIN; finalize"

server_stop
vcard_stop 0
harness_log "PASS"
