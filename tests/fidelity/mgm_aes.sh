#!/usr/bin/env bash
# AES management keys through raw APDUs (pyscard): yubico-piv-tool 2.2 only
# knows 3DES. See mgm_aes.py.
# shellcheck source=../harness/lib.sh
. "$(dirname "$0")/../harness/lib.sh"
harness_init
[ -x /usr/bin/python3 ] || fail "/usr/bin/python3 missing"
/usr/bin/python3 -c 'import smartcard, cryptography' 2>/dev/null ||
	fail "python3-pyscard and python3-cryptography are needed"
pcscd_ensure
vcard_start 0 --firmware 5.7.2
run_ok "AES management keys" /usr/bin/python3 "$(dirname "$0")/mgm_aes.py"
printf '%s\n' "$OUT" >&2
vcard_stop 0
harness_log "PASS"
