#!/usr/bin/env bash
# tokend only (skipped, exit 77, for other modules): a standard PIV card
# that is no YubiKey (tokend-vcard --plain-piv: YubiKey instructions answer
# 6D00, CHUID with GUID and FASC-N, 3DES management key). The token's
# identity comes from the CHUID; keys generated with the standard GENERATE
# and given a certificate are found from the certificate alone by a fresh
# process, with the slot's default PIN policy, and sign (plain_piv.py).
# shellcheck source=common.sh
. "$(dirname "$0")/common.sh"
module_require_tokend "plain PIV card through PKCS#11"
module_init --plain-piv
run_ok "plain_piv.py card (raw APDUs)" env TOKEND_READER="$R" "$PY" "$MODULE_DIR/plain_piv.py" card
GUID=$(grep -E '^[0-9a-f]{32}$' "$HARNESS_OUT") || fail "no GUID from the CHUID:"$'\n'"$OUT"
harness_log "CHUID GUID $GUID"
run_ok "-L shows the CHUID identity" "${p11[@]}" -L
G16=${GUID:0:16}
assert_contains "$OUT" "PIV card ${G16^^}" "token label"
run_ok "plain_piv.py gen" env TOKEND_READER="$R" "$PY" "$MODULE_DIR/plain_piv.py" gen "$MGM_HEX" "$GUID"
printf '%s\n' "$OUT" >&2
run_ok "plain_piv.py use (fresh process)" env TOKEND_READER="$R" "$PY" "$MODULE_DIR/plain_piv.py" use
printf '%s\n' "$OUT" >&2
# The card saw only standard instructions after the raw check.
if grep -E '^..(F[6-9A-F])' "$(vcard_dir 0)/apdu.log" | grep -qv ' 6D00$'; then
	fail "a YubiKey instruction got an answer other than 6D00"
fi
vcard_stop 0
harness_log "PASS"
