#!/usr/bin/env bash
# tokend only (skipped, exit 77, for other modules): all 24 key slots and F9
# through PKCS#11 (all_slots.py). One process generates RSA-1024..4096,
# P-256, P-384, Ed25519 and X25519 keys as SO; a fresh one finds them, signs
# and derives with each, checks 9C's PIN-always rule and every key's
# attestation against the F9 certificate. C_GetTokenInfo after a wrong PIN
# and after login reports the PIN flags without sending an APDU.
# shellcheck source=common.sh
. "$(dirname "$0")/common.sh"
module_require_tokend "key generation in all slots through PKCS#11"
module_init --mgm-alg 3des
HARNESS_CMD_TIMEOUT=120 run_ok "all_slots.py gen" env TOKEND_READER="$R" \
	"$PY" "$MODULE_DIR/all_slots.py" gen "$MGM_HEX" "$T/keys.json"
printf '%s\n' "$OUT" >&2
run_ok "all_slots.py use (fresh process)" env TOKEND_READER="$R" \
	TOKEND_APDU_LOG="$(vcard_dir 0)/apdu.log" \
	"$PY" "$MODULE_DIR/all_slots.py" use "$T/keys.json" "$T"
printf '%s\n' "$OUT" | grep -v '^ok:' >&2 || true
harness_log "$(grep -c '^ok:' "$HARNESS_OUT") checks passed"
vcard_stop 0
harness_log "PASS"
