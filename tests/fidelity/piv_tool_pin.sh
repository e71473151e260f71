#!/usr/bin/env bash
# yubico-piv-tool 2.2 against the virtual YubiKey: version and status, PIN and
# PUK changes, retry counters and blocking, PUK unblock, a new 3DES management
# key, long objects (chaining in, GET RESPONSE out), reset after blocking.
# Firmware 5.4.3: its default management key is 3DES, which is all
# yubico-piv-tool 2.2 speaks, also after the reset.
# shellcheck source=../harness/lib.sh
. "$(dirname "$0")/../harness/lib.sh"
harness_init
harness_require yubico-piv-tool cmp head
pcscd_ensure
vcard_start 0 --firmware 5.4.3 --serial 12345678

R=$(reader_name 0)
ypt=(yubico-piv-tool -r "$R")
DEFAULT_KEY=010203040506070801020304050607080102030405060708
NEW_KEY=0f1e2d3c4b5a69788796a5b4c3d2e1f00112233445566778
T=$HARNESS_TMP

run_ok "version" "${ypt[@]}" -a version
assert_contains "$OUT" "5.4.3" "firmware version"
run_ok "status" "${ypt[@]}" -a status
assert_contains "$OUT" "12345678" "serial number in status"
assert_contains "$OUT" "PIN tries left:	3" "fresh PIN counter"

# PIN and PUK changes.
run_ok "verify default PIN" "${ypt[@]}" -a verify-pin -P 123456
run_ok "change PIN" "${ypt[@]}" -a change-pin -P 123456 -N 24681357
run_fail "old PIN refused" "${ypt[@]}" -a verify-pin -P 123456
assert_contains "$OUT" "2 tries left" "counter after one wrong PIN"
run_ok "new PIN accepted" "${ypt[@]}" -a verify-pin -P 24681357
run_ok "status after good PIN" "${ypt[@]}" -a status
assert_contains "$OUT" "PIN tries left:	3" "a good PIN restores the counter"
run_ok "change PUK" "${ypt[@]}" -a change-puk -P 12345678 -N 87654321

# Wrong PINs count down and block.
run_fail "wrong PIN 1" "${ypt[@]}" -a verify-pin -P 000000
assert_contains "$OUT" "2 tries left"
run_fail "wrong PIN 2" "${ypt[@]}" -a verify-pin -P 000000
assert_contains "$OUT" "1 tries left"
run_fail "wrong PIN 3" "${ypt[@]}" -a verify-pin -P 000000
run_fail "right PIN while blocked" "${ypt[@]}" -a verify-pin -P 24681357
assert_contains "$OUT" "blocked" "blocked PIN reported"
run_ok "status while blocked" "${ypt[@]}" -a status
assert_contains "$OUT" "PIN tries left:	0"

# PUK unblock: the old PUK no longer works, the new one does.
run_fail "unblock with the old PUK" "${ypt[@]}" -a unblock-pin -P 12345678 -N 11223344
run_ok "unblock with the new PUK" "${ypt[@]}" -a unblock-pin -P 87654321 -N 11223344
run_ok "PIN set by unblock" "${ypt[@]}" -a verify-pin -P 11223344

# Retry limits (YubiKey FA): needs the management key and the PIN.
run_ok "set retries 5/4" "${ypt[@]}" -k"$DEFAULT_KEY" -a verify-pin -P 11223344 -a pin-retries \
	--pin-retries 5 --puk-retries 4
run_ok "status after pin-retries" "${ypt[@]}" -a status
assert_contains "$OUT" "PIN tries left:	5" "new PIN retry limit"

# A new 3DES management key: it works and the old one does not.
run_ok "set management key" "${ypt[@]}" -k"$DEFAULT_KEY" -a set-mgm-key -n "$NEW_KEY"
run_fail "old management key refused" "${ypt[@]}" -k"$DEFAULT_KEY" -a set-chuid
run_ok "new management key works" "${ypt[@]}" -k"$NEW_KEY" -a set-chuid
run_ok "status shows the CHUID" "${ypt[@]}" -a status
assert_contains "$OUT" "CHUID:" "CHUID in status"

# A long object (chained PUT DATA, GET RESPONSE on the way back).
head -c 3000 /dev/urandom >"$T/obj.bin"
run_ok "write a 3000-byte object" "${ypt[@]}" -k"$NEW_KEY" -a write-object --id 0x5fc10d \
	-f binary -i "$T/obj.bin"
run_ok "read it back" "${ypt[@]}" -a read-object --id 0x5fc10d -f binary -o "$T/obj.out"
cmp "$T/obj.bin" "$T/obj.out" || fail "object read back differs"
grep -q '^10DB3FFF' "$(vcard_dir 0)/apdu.log" || fail "no chained PUT DATA in the APDU log"
grep -qE ' [0-9A-F]*61[0-9A-F]{2}$' "$(vcard_dir 0)/apdu.log" || fail "no 61xx in the APDU log"

# The APDU log never holds a PIN.
if grep -qE '^0020008008(3131323233333434|3234363831333537)' "$(vcard_dir 0)/apdu.log"; then
	fail "PIN in clear in the APDU log"
fi
grep -q '^002000800[0-9A-F]\*\*' "$(vcard_dir 0)/apdu.log" || fail "VERIFY not masked in the APDU log"

# Reset needs PIN and PUK blocked.
run_fail "reset refused while PIN and PUK work" "${ypt[@]}" -a reset
for i in 1 2 3 4 5; do
	run_fail "wrong PIN $i/5" "${ypt[@]}" -a verify-pin -P 000000
done
for i in 1 2 3 4; do
	run_fail "wrong PUK $i/4" "${ypt[@]}" -a unblock-pin -P 00000000 -N 11111111
done
run_ok "reset" "${ypt[@]}" -a reset
run_ok "default PIN after reset" "${ypt[@]}" -a verify-pin -P 123456
run_ok "status after reset" "${ypt[@]}" -a status
assert_contains "$OUT" "PIN tries left:	3" "retry limit back to 3"
run_ok "default management key after reset" "${ypt[@]}" -k"$DEFAULT_KEY" -a set-chuid
run_ok "default PUK after reset" "${ypt[@]}" -a change-puk -P 12345678 -N 12345678
run_fail "object gone after reset" "${ypt[@]}" -a read-object --id 0x5fc10d -f binary -o "$T/obj2.out"

vcard_stop 0
harness_log "PASS"
