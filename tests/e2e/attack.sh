#!/usr/bin/env bash
# The card is safe from its clients (tokend only), through p11-kit-client.so
# with the virtual YubiKey. The card's own counters are read from
# tokend-vcard's state file ("pin|puk VALUE TRIES LEFT"), its commands from
# its APDU log.
#  * wipe attempt on read-only and full exports: wrong PINs stop one try
#    above a locked card (pin-tries-reserved, default 1) without reaching
#    the card, PUK changes / unblock / C_InitToken / SO login are refused
#    below their access level (CKR_TOKEN_WRITE_PROTECTED, audited); the
#    card is not reset and the owner's right PIN -- the one the card last
#    accepted through tokend -- still logs in and signs;
#  * a new client's first signature still costs VERIFY + GENERAL
#    AUTHENTICATE;
#  * admin export: wrong PUKs stop above the reserve too (the owner
#    recovers with yubico-piv-tool), C_InitToken with a wrong SO PIN resets
#    nothing, with the right one (PIN and PUK blocked by the owner) resets;
#  * pin-file export: a client's non-NULL PIN, wrong or right, is refused
#    with no APDU, the card's counter unchanged.
# shellcheck source=common.sh
. "$(dirname "$0")/common.sh"
e2e_require_tokend "tries kept back, access levels"
e2e_init
provision 9a:ECCP256
printf '%s\n' "$PIN" >"$T/user.pin"
chmod 0600 "$T/user.pin"
e2e_export ro access=read-only
e2e_export full access=full
e2e_export admin access=admin
e2e_export pin "pin-file=$T/user.pin"
server_start ro

STATE=$(vcard_dir 0)/state
ALOG=$(vcard_dir 0)/apdu.log
ATT=("$PY" "$E2E_DIR/attack.py")
PUK=12345678

att_ok() { # DESC CMDS [prefix...]
	local desc=$1 cmds=$2
	shift 2
	run_ok "$desc" "$@" "${ATT[@]}" run "$cmds"
}
# left pin|puk: the card's tries left.
left() { awk -v w="$1" '$1 == w { print $4 }' "$STATE"; }
assert_left() { # pin|puk N DESC
	assert_eq "$2" "$(left "$1")" "$3: the card's $1 tries left"
}
mark() { wc -l <"$ALOG"; }
# ins_since MARK INS: commands with that INS (hex) since MARK.
ins_since() {
	tail -n "+$(($1 + 1))" "$ALOG" | awk -v ins="$2" 'toupper(substr($1, 3, 2)) == ins' | wc -l
}
# verifies_since MARK: VERIFY commands carrying a PIN (not status or logout).
verifies_since() {
	tail -n "+$(($1 + 1))" "$ALOG" |
		awk 'toupper(substr($1, 1, 6)) ~ /^(00|10)2000/ && length($1) > 10' | wc -l
}
signs_ok() { # DESC SOCKET
	use_socket "$2"
	p11c_ok "$1" "init; open; login $PIN; sign 01 2; finalize"
}

assert_left pin 3 "start"
assert_left puk 3 "start"

# --- the owner signs: tokend now knows the PIN the card accepts
signs_ok "the owner signs through the read-only export" ro
m=$(mark)
p11c_ok "a second client signs" "init; open; login $PIN; sign 01 1; finalize"
assert_eq 1 "$(verifies_since "$m")" "a new client's login: one VERIFY"
assert_eq 1 "$(ins_since "$m" 87)" "its signature: one GENERAL AUTHENTICATE"

# --- lock attempt: stops at pin-tries-reserved (1), no APDU beyond it
m=$(mark)
att_ok "read-only: wrong PINs, then held back" "init; open; \
expect CKR_PIN_INCORRECT login 000000; expect CKR_PIN_INCORRECT login 111111; \
expect CKR_PIN_LOCKED login 222222; expect CKR_PIN_LOCKED login 333333; \
expect CKR_PIN_LOCKED login 444444"
assert_eq 2 "$(verifies_since "$m")" "wrong PINs that reached the card"
assert_left pin 1 "after the lock attempt"
grep -q "AUDIT login export=ro .*result=CKR_PIN_LOCKED" "$SERVER_LOG" ||
	fail "no audit line for the PIN held back"
signs_ok "the owner's right PIN still logs in and signs" ro
assert_left pin 3 "after the owner's login"

# --- wipe attempt on a full export (no login needed for PUK / reset)
use_socket full
att_ok "full: wrong PINs stop above the reserve" "init; open; \
expect CKR_PIN_INCORRECT login 000000; expect CKR_PIN_INCORRECT login 111111; \
expect CKR_PIN_LOCKED login 222222"
assert_left pin 1 "full: after wrong PINs"
m=$(mark)
att_ok "full: PUK, unblock, PIN change refused (admin only)" "init; open rw; \
expect CKR_TOKEN_WRITE_PROTECTED setpin puk:00000000 11111111; \
expect CKR_TOKEN_WRITE_PROTECTED setpin puk:00000001 11111111; \
expect CKR_TOKEN_WRITE_PROTECTED setpin puk:00000002 11111111; \
expect CKR_TOKEN_WRITE_PROTECTED setpin unblock:00000003 111111; \
expect CKR_TOKEN_WRITE_PROTECTED setpin $PIN 654321"
att_ok "full: C_InitToken refused" "init; expect CKR_TOKEN_WRITE_PROTECTED inittoken $MGM_HEX"
assert_eq 0 "$(tail -n "+$((m + 1))" "$ALOG" | wc -l)" "APDUs for refused calls"
assert_left puk 3 "full: after the PUK attempts"
grep -q "AUDIT refused export=full .*call=C_SetPIN needs=admin result=CKR_TOKEN_WRITE_PROTECTED" \
	"$SERVER_LOG" || fail "no audit line for the refused C_SetPIN"
grep -q "AUDIT refused export=full .*call=C_InitToken needs=admin" "$SERVER_LOG" ||
	fail "no audit line for the refused C_InitToken"
att_ok "full: SO login allowed" "init; open rw; loginso $MGM_HEX; finalize"

# --- the same on read-only, plus the SO login
use_socket ro
att_ok "read-only: SO login, PUK and C_InitToken refused" "init; open rw; \
expect CKR_TOKEN_WRITE_PROTECTED loginso $MGM_HEX; \
expect CKR_TOKEN_WRITE_PROTECTED setpin puk:00000000 11111111; finalize; \
init; expect CKR_TOKEN_WRITE_PROTECTED inittoken $MGM_HEX"
grep -q "AUDIT refused export=ro .*call=C_Login needs=full" "$SERVER_LOG" ||
	fail "no audit line for the refused SO login"
assert_left puk 3 "read-only: after the PUK attempt"
signs_ok "not reset: the key still signs" ro
assert_left pin 3 "after the wipe attempts"

# --- admin: PUK tries kept back too; the owner recovers with the card's tool
use_socket admin
att_ok "admin: wrong PUKs stop above the reserve" "init; open rw; \
expect CKR_PIN_INCORRECT setpin puk:00000000 11111111; \
expect CKR_PIN_INCORRECT setpin puk:00000001 11111111; \
expect CKR_PIN_LOCKED setpin puk:00000002 11111111; \
expect CKR_PIN_LOCKED setpin unblock:00000003 111111; \
expect CKR_PIN_LOCKED setpin puk:$PUK 11111111"
assert_left puk 1 "admin: after the PUK attempts"
grep -q "AUDIT set-pin export=admin .*result=CKR_PIN_LOCKED" "$SERVER_LOG" ||
	fail "no audit line for the PUK held back"
run_ok "the owner resets the PUK's counter with yubico-piv-tool" \
	"${ypt[@]}" -a change-puk -P "$PUK" -N "$PUK"
assert_left puk 3 "after yubico-piv-tool"
m=$(mark)
att_ok "admin: C_InitToken with a wrong SO PIN" "init; \
expect CKR_PIN_INCORRECT inittoken 000000000000000000000000000000000000000000000000; \
expect CKR_PIN_INCORRECT inittoken nothex"
assert_eq 0 "$(ins_since "$m" FB)" "reset commands after a wrong SO PIN"
att_ok "admin: the right SO PIN, PIN and PUK not blocked: the card refuses" \
	"init; expect CKR_FUNCTION_REJECTED inittoken $MGM_HEX"
signs_ok "not reset: the key still signs" ro
grep -q '^key 9a ' "$STATE" || fail "the key in 9a is gone"

# --- pin-file: a client's own PIN never reaches the card
use_socket pin
m=$(mark)
att_ok "pin-file: non-NULL PINs refused, the right one too" "init; open; \
expect CKR_PIN_INCORRECT login 000000; expect CKR_PIN_INCORRECT login 111111; \
expect CKR_PIN_INCORRECT login 222222; expect CKR_PIN_INCORRECT login 333333; \
expect CKR_PIN_INCORRECT login $PIN"
assert_eq 0 "$(ins_since "$m" 20)" "VERIFY commands for the clients' PINs"
assert_left pin 3 "pin-file: after the guesses"
p11c_ok "pin-file: a NULL PIN logs in and signs" "init; open; login -; sign 01; finalize"

# --- admin: the owner blocked PIN and PUK; the right SO PIN resets
for p in 000001 000002 000003; do
	"${ypt[@]}" -a verify-pin -P "$p" >/dev/null 2>&1 || true
done
for p in 00000001 00000002 00000003; do
	"${ypt[@]}" -a unblock-pin -P "$p" -N 111111 >/dev/null 2>&1 || true
done
assert_left pin 0 "blocked by the owner"
assert_left puk 0 "blocked by the owner"
use_socket admin
att_ok "admin: a wrong SO PIN still resets nothing" \
	"init; expect CKR_PIN_INCORRECT inittoken 0f0e0d0c0b0a09080f0e0d0c0b0a09080f0e0d0c0b0a0908"
assert_left pin 0 "after the wrong SO PIN"
grep -q '^key 9a ' "$STATE" || fail "the key in 9a is gone after a wrong SO PIN"
att_ok "admin: the right SO PIN resets the card" "init; inittoken $MGM_HEX"
assert_left pin 3 "after the reset"
assert_left puk 3 "after the reset"
grep -q '^key 9a ' "$STATE" && fail "the key in 9a survived the reset"

server_stop
vcard_stop 0
harness_log "PASS"
