#!/usr/bin/env bash
# The PIV driver (drivers/) against a virtual YubiKey in 'Virtual PCD 00 01'
# (port 35964): scan, open, generate, sign, decrypt, derive, PIN rules,
# certificates, another program resetting the card, the card pulled.
. "$(dirname "$0")/../harness/lib.sh"
harness_init
: "${TOKEND_TEST_PIV_DRIVER:?TOKEND_TEST_PIV_DRIVER must point at test_piv_driver}"
pcscd_ensure
vcard_start 1 --serial 10000001

R=$(reader_name 1)
D=$(vcard_dir 1)
rc=0
ASAN_OPTIONS=${TOKEND_ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1} \
	timeout 240 "$TOKEND_TEST_PIV_DRIVER" "$R" "$D/apdu.log" "$(vcard_pid 1)" || rc=$?
[ "$rc" -eq 0 ] || fail "test_piv_driver failed (status $rc)"

# The card was pulled at the end; put it back and stop it cleanly.
vcard_insert 1
vcard_stop 1

# Firmware 5.2 (no metadata): a key known only by its certificate.
harness_require yubico-piv-tool
vcard_start 1 --serial 20000002 --firmware 5.2.7 --state "$HARNESS_TMP/legacy.state"
T=$HARNESS_TMP

openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=legacy 9c" \
	-days 2 -keyout "$T/key9c.pem" -out "$T/cert9c.pem" 2>/dev/null || fail "openssl req"
run_ok "import key 9c" yubico-piv-tool -r "$R" -a import-key -s 9c -i "$T/key9c.pem"
run_ok "import certificate 9c" yubico-piv-tool -r "$R" -a import-certificate -s 9c -i "$T/cert9c.pem"
rc=0
TEST_PIV_LEGACY=1 ASAN_OPTIONS=${TOKEND_ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1} \
	timeout 60 "$TOKEND_TEST_PIV_DRIVER" "$R" "$D/apdu.log" "$(vcard_pid 1)" || rc=$?
[ "$rc" -eq 0 ] || fail "test_piv_driver (firmware 5.2) failed (status $rc)"
vcard_stop 1

# The front end in a fresh process (issue 3 §5): pkcs11-tool's login + sign
# with the key of ID 01 reads only what it needs. Budget: open 4 (SELECT, FD,
# F8, F7 of the PIN), find 1 (F7 of 9A), VERIFY, GENERAL AUTHENTICATE, and
# the logout at C_Finalize.
M=${TOKEND_BUILD_DIR:-}/pkcs11/tokend-pkcs11.so
if [ "${TOKEND_SANITIZE:-0}" = 1 ] || [ "${TOKEND_SANITIZE:-}" = ON ] ||
	! command -v pkcs11-tool >/dev/null || [ ! -f "$M" ]; then
	harness_log "skipping the pkcs11-tool APDU budget (sanitizer build or no module)"
else
	vcard_start 1 --serial 30000003 --mgm-alg 3des --state "$T/p11.state"
	run_ok "generate P-256 in 9a" yubico-piv-tool -r "$R" -a generate -s 9a -A ECCP256 -o "$T/pub9a.pem"
	echo "tokend" >"$T/msg"
	n0=$(wc -l <"$D/apdu.log")
	run_ok "pkcs11-tool sign with ID 01" pkcs11-tool --module "$M" \
		--token-label "YubiKey PIV #30000003" --login --pin 123456 \
		--sign --id 01 -m ECDSA -i "$T/msg" -o "$T/sig"
	n=$(( $(wc -l <"$D/apdu.log") - n0 ))
	harness_log "pkcs11-tool login + sign in a fresh process: $n APDUs"
	[ "$n" -le 8 ] || fail "pkcs11-tool login + sign cost $n APDUs (budget 8)"
	vcard_stop 1
fi
harness_log "PASS"
