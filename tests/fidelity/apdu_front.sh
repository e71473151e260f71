#!/usr/bin/env bash
# The APDU layer through pcscd with raw APDUs (pyscard). See apdu_front.py.
# shellcheck source=../harness/lib.sh
. "$(dirname "$0")/../harness/lib.sh"
harness_init
/usr/bin/python3 -c 'import smartcard, cryptography' 2>/dev/null ||
	fail "python3-pyscard and python3-cryptography are needed"
pcscd_ensure
vcard_start 0
run_ok "APDU layer" env TOKEND_APDU_LOG="$(vcard_dir 0)/apdu.log" \
	/usr/bin/python3 "$(dirname "$0")/apdu_front.py"
printf '%s\n' "$OUT" >&2
vcard_stop 0
harness_log "PASS"
