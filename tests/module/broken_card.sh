#!/usr/bin/env bash
# tokend only (skipped, exit 77, for other modules): a card that answers
# garbled, truncated, overlong or unknown-status responses (tokend-vcard
# --fault-file, switched while the card is in use). C_Sign reports
# CKR_DEVICE_ERROR and the module keeps working once the card is sane
# again; opening a card with broken SELECT/FD/F8/F7/GET DATA/VERIFY answers
# ends in a clean error, never a crash (broken_card.py). Under
# TOKEND_SANITIZE=1 the module runs with ASan/UBSan preloaded.
# shellcheck source=common.sh
. "$(dirname "$0")/common.sh"
module_require_tokend "fault handling of tokend's PIV driver"
FAULT=$(mktemp -u "${TMPDIR:-/tmp}/tokend-fault.XXXXXX")
module_init --mgm-alg 3des --fault-file "$FAULT"
echo none >"$FAULT"
provision 9a:ECCP256
run_ok "broken_card.py sign" env TOKEND_READER="$R" "$PY" "$MODULE_DIR/broken_card.py" sign "$FAULT" "$T/pub_9a.pem"
printf '%s\n' "$OUT" >&2
HARNESS_CMD_TIMEOUT=240 run_ok "broken_card.py open" env TOKEND_READER="$R" \
	"$PY" "$MODULE_DIR/broken_card.py" open "$FAULT" "$T/pub_9a.pem"
printf '%s\n' "$OUT" >&2
grep -q ' 6F5A$' "$(vcard_dir 0)/apdu.log" || fail "the vcard never answered a fault"
rm -f "$FAULT"
vcard_stop 0
harness_log "PASS"
