#!/usr/bin/env bash
# Tries kept back on a standard PIV card (tokend only; tokend-vcard
# --plain-piv: no YubiKey metadata, so the PUK's counter cannot be read
# without spending a try):
#  * the PIN's counter comes from VERIFY answers; after a success it stays
#    known (the most tries seen), so a new client's login is one VERIFY,
#    no status query;
#  * with pin-tries-reserved = 2, wrong PINs stop two tries above a locked
#    card, the owner's PIN passes;
#  * PUK changes and unblock on an admin export: the counter is unknown,
#    so tokend does not risk it -- CKR_PIN_LOCKED, nothing sent.
# shellcheck source=common.sh
. "$(dirname "$0")/common.sh"
e2e_require_tokend "tries kept back on a plain PIV card"
e2e_init --plain-piv
printf '[tokend]\npin-tries-reserved = 2\n\n' >"$CONF"
e2e_export ro access=read-only
e2e_export admin access=admin
# A first exchange with the card (server_start checks that ours answers).
run_ok "the card answers" env TOKEND_READER="$R" "$PY" "$E2E_DIR/../module/plain_piv.py" card
server_start ro

STATE=$(vcard_dir 0)/state
ALOG=$(vcard_dir 0)/apdu.log
ATT=("$PY" "$E2E_DIR/attack.py")

left() { awk -v w="$1" '$1 == w { print $4 }' "$STATE"; }
assert_left() { assert_eq "$2" "$(left "$1")" "$3: the card's $1 tries left"; }
mark() { wc -l <"$ALOG"; }
# VERIFY commands with P1 00 (a PIN, or an empty status query) since MARK.
verify_p1_00() {
	tail -n "+$(($1 + 1))" "$ALOG" | awk 'toupper(substr($1, 1, 6)) ~ /^(00|10)2000/' | wc -l
}
since() { tail -n "+$(($1 + 1))" "$ALOG" | wc -l; }

assert_left pin 3 "start"
p11c_ok "the owner logs in" "init; open; login $PIN; finalize"
m=$(mark)
p11c_ok "a second client logs in" "init; open; login $PIN; finalize"
assert_eq 1 "$(verify_p1_00 "$m")" "VERIFY (P1 00) commands of a new client's login"

m=$(mark)
run_ok "wrong PINs, then held back" "${ATT[@]}" run "init; open; \
expect CKR_PIN_INCORRECT login 000000; expect CKR_PIN_LOCKED login 111111; \
expect CKR_PIN_LOCKED login 222222; expect CKR_PIN_LOCKED login 333333"
assert_eq 1 "$(verify_p1_00 "$m")" "wrong PINs that reached the card"
assert_left pin 2 "after the lock attempt"
p11c_ok "the owner's PIN still logs in" "init; open; login $PIN; finalize"
assert_left pin 3 "after the owner's login"

use_socket admin
m=$(mark)
run_ok "admin: PUK and unblock held back (counter unknown)" "${ATT[@]}" run "init; open rw; \
expect CKR_PIN_LOCKED setpin puk:00000000 11111111; \
expect CKR_PIN_LOCKED setpin unblock:00000000 111111; \
expect CKR_PIN_LOCKED setpin puk:12345678 11111111; finalize"
assert_eq 0 "$(since "$m")" "APDUs for the held-back PUKs"
assert_left puk 3 "after the PUK attempts"

server_stop
vcard_stop 0
harness_log "PASS"
