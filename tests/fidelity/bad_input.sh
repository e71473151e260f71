#!/usr/bin/env bash
# Malformed commands get the right status word and the card keeps working:
# raw APDUs through pyscard (see bad_input.py) and through opensc-tool.
# shellcheck source=../harness/lib.sh
. "$(dirname "$0")/../harness/lib.sh"
harness_init
harness_require opensc-tool
/usr/bin/python3 -c 'import smartcard, cryptography' 2>/dev/null ||
	fail "python3-pyscard and python3-cryptography are needed"
pcscd_ensure
vcard_start 0
R=$(reader_name 0)
run_ok "bad input (pyscard)" /usr/bin/python3 "$(dirname "$0")/bad_input.py"
printf '%s\n' "$OUT" >&2

# opensc-tool as a user would send raw APDUs.
ost=(opensc-tool -r "$R" -s 00A404000BA00000030800001000010000)
run_ok "unknown INS" "${ost[@]}" -s 00420000
assert_contains "$OUT" "SW1=0x6D, SW2=0x00"
run_ok "unknown CLA" "${ost[@]}" -s 80CB3FFF055C035FC10200
assert_contains "$OUT" "SW1=0x6E, SW2=0x00"
run_ok "truncated TLV" "${ost[@]}" -s 00CB3FFF035C055F00
assert_contains "$OUT" "SW1=0x6A, SW2=0x80"
run_ok "card still answers" "${ost[@]}" -s 00200080
assert_contains "$OUT" "SW1=0x63, SW2=0xC3"

vcard_stop 0
harness_log "PASS"
