#!/usr/bin/env bash
# The state file: keys, certificates, PIN and management key survive stopping
# and restarting tokend-vcard, and the keys still sign (checked with openssl).
# Pulling and re-inserting keeps the content but drops the verified PIN.
# shellcheck source=../harness/lib.sh
. "$(dirname "$0")/../harness/lib.sh"
harness_init
harness_require yubico-piv-tool pkcs11-tool openssl cmp
MODULE=${TOKEND_OPENSC_MODULE:-/usr/lib/x86_64-linux-gnu/opensc-pkcs11.so}
pcscd_ensure
vcard_start 0 --mgm-alg 3des --serial 424242

R=$(reader_name 0)
ypt=(yubico-piv-tool -r "$R")
T=$HARNESS_TMP
NEW_KEY=0f1e2d3c4b5a69788796a5b4c3d2e1f00112233445566778

run_ok "generate 9a" "${ypt[@]}" -a generate -s 9a -A ECCP256 -o "$T/pub_9a.pem"
run_ok "generate 9d" "${ypt[@]}" -a generate -s 9d -A RSA2048 -o "$T/pub_9d.pem"
for s in 9a 9d; do
	card_selfsign 0 "$s" "$T/pub_$s.pem" "state $s" "$T/cert_$s.pem"
	run_ok "import $s" "${ypt[@]}" -a import-certificate -s "$s" -i "$T/cert_$s.pem"
done
run_ok "change PIN" "${ypt[@]}" -a change-pin -P 123456 -N 13572468
run_ok "new management key" "${ypt[@]}" -a set-mgm-key -n "$NEW_KEY"
run_ok "status before" "${ypt[@]}" -a status
before=$OUT

vcard_stop 0
assert_file "$(vcard_dir 0)/state" "state file written"
vcard_start 0 --mgm-alg 3des --serial 424242

run_ok "status after restart" "${ypt[@]}" -a status
assert_eq "$before" "$OUT" "status after restart"
for s in 9a 9d; do
	run_ok "certificate $s still there" "${ypt[@]}" -a read-certificate -s "$s" -o "$T/read_$s.pem"
	cmp -s <(openssl x509 -in "$T/read_$s.pem" -outform DER) \
		<(openssl x509 -in "$T/cert_$s.pem" -outform DER) || fail "certificate $s changed"
done
run_fail "old PIN refused after restart" "${ypt[@]}" -a verify-pin -P 123456
run_ok "changed PIN kept" "${ypt[@]}" -a verify-pin -P 13572468
run_ok "management key kept" "${ypt[@]}" -k"$NEW_KEY" -a set-chuid

# The key still signs, verified with openssl.
idx=$(pkcs11-tool --module "$MODULE" -L | awk '/^Slot [0-9]+/ { n++ } /Virtual PCD 00 00/ { print n - 1; exit }')
[ -n "$idx" ] || fail "no PKCS#11 slot for '$R'"
head -c 100 /dev/urandom >"$T/data"
openssl dgst -sha256 -binary "$T/data" >"$T/data.sha256"
run_ok "sign after restart" pkcs11-tool --module "$MODULE" --slot-index "$idx" --login \
	--pin 13572468 --sign --id 01 -m ECDSA --signature-format openssl \
	-i "$T/data.sha256" -o "$T/sig"
run_ok "signature verifies" openssl pkeyutl -verify -pubin -inkey "$T/pub_9a.pem" \
	-in "$T/data.sha256" -sigfile "$T/sig"
run_ok "test-signature after restart" "${ypt[@]}" -a verify-pin -P 13572468 -a test-signature -s 9a -i "$T/cert_9a.pem"
run_ok "test-decipher after restart" "${ypt[@]}" -a verify-pin -P 13572468 -a test-decipher -s 9d -i "$T/cert_9d.pem"

# Pull and re-insert: content kept.
run_ok "status before pull" "${ypt[@]}" -a status
before=$OUT
vcard_pull 0
run_fail "no card while pulled" "${ypt[@]}" -a status
vcard_insert 0
run_ok "status after re-insert" "${ypt[@]}" -a status
assert_eq "$before" "$OUT" "status after re-insert"
run_ok "signs after re-insert" "${ypt[@]}" -a verify-pin -P 13572468 -a test-signature -s 9a -i "$T/cert_9a.pem"

vcard_stop 0
harness_log "PASS"
