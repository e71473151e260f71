#!/usr/bin/env bash
# Wrong PINs through pkcs11-tool: the token flags follow the card's retry
# counter (count low, final try, locked), a blocked PIN gives
# CKR_PIN_LOCKED even with the right PIN, and after yubico-piv-tool unblocks
# it with the PUK the module logs in again. ("user PIN count low" is checked
# for tokend only: OpenSC 0.23 sets it not at 2 tries left, only final try and
# locked.)
# shellcheck source=common.sh
. "$(dirname "$0")/common.sh"
module_init --mgm-alg 3des
provision 9a:ECCP256
head -c 32 /dev/urandom >"$T/digest"

# flags_of: the "token flags" line of our slot in `pkcs11-tool -L`.
flags_of() {
	run_ok "-L" "${p11[@]}" -L
	FLAGS=$(awk -v s="$SLOT" '/^Slot [0-9]+/ { n++ } n - 1 == s && /token flags/ { sub(/^[^:]*: /, ""); print; exit }' "$HARNESS_OUT")
	harness_log "token flags: $FLAGS"
}

# check_flags WANT [UNWANTED...]: the token flags after a wrong PIN.
check_flags() {
	local want=$1 u
	shift
	flags_of
	if [ "$want" != "user PIN count low" ] || tokend_only "flag user PIN count low"; then
		[ -z "$want" ] || assert_contains "$FLAGS" "$want" "token flags"
	fi
	for u in "$@"; do
		assert_not_contains "$FLAGS" "$u" "token flags"
	done
}

check_flags "" "PIN count low" "final user PIN try" "locked"

sign=("${p11[@]}" --sign --id 01 -m ECDSA -i "$T/digest" -o "$T/sig" --login --pin)

run_fail "wrong PIN 1" "${sign[@]}" 111111
assert_contains "$OUT" "CKR_PIN_INCORRECT"
check_flags "user PIN count low" "final user PIN try" "locked" # 2 tries left

run_fail "wrong PIN 2" "${sign[@]}" 222222
assert_contains "$OUT" "CKR_PIN_INCORRECT"
check_flags "final user PIN try" "locked" # 1 try left
run_ok "yubico-piv-tool sees 1 try left" "${ypt[@]}" -a status
assert_contains "$OUT" "PIN tries left:	1"

run_fail "wrong PIN 3" "${sign[@]}" 333333
case $OUT in
*CKR_PIN_INCORRECT* | *CKR_PIN_LOCKED*) ;;
*) fail "third wrong PIN: expected CKR_PIN_INCORRECT or CKR_PIN_LOCKED:"$'\n'"$OUT" ;;
esac
check_flags "user PIN locked"

run_fail "right PIN on a blocked card" "${sign[@]}" "$PIN"
assert_contains "$OUT" "CKR_PIN_LOCKED" "login with the right PIN on a blocked card"

run_ok "unblock with the PUK (yubico-piv-tool)" "${ypt[@]}" -a unblock-pin -P 12345678 -N "$PIN"
check_flags "" "locked" "final user PIN try"
run_ok "sign after unblock" "${sign[@]}" "$PIN"

vcard_stop 0
harness_log "PASS"
