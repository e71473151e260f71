#!/usr/bin/env bash
# tokend only (exit 77 for other modules): C_WaitForSlotEvent through the
# module (slot_events.py): a blocked wait does not stall the other calls,
# pulling and re-inserting the card each end it with the slot, CKF_DONT_BLOCK
# answers CKR_NO_EVENT, C_Finalize ends a blocked wait. The card sits in
# reader 1.
# shellcheck source=common.sh
. "$(dirname "$0")/common.sh"
module_require_tokend "C_WaitForSlotEvent"
harness_init
harness_require yubico-piv-tool
[ -f "$M" ] || fail "module not found: $M"
pcscd_ensure
vcard_start 1 --mgm-alg 3des
module_sanitize
R=$(reader_name 1)
T=$HARNESS_TMP
run_ok "generate P-256 in 9a" yubico-piv-tool -r "$R" -a generate -s 9a -A ECCP256 \
	-o "$T/pub_9a.pem"
HARNESS_CMD_TIMEOUT=120 run_ok "slot_events.py" env TOKEND_READER="$R" \
	"$PY" "$MODULE_DIR/slot_events.py" "$T/pub_9a.pem" "$(vcard_pid 1)"
printf '%s\n' "$OUT" >&2
vcard_stop 1
harness_log "PASS"
