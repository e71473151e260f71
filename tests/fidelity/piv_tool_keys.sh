#!/usr/bin/env bash
# yubico-piv-tool 2.2: generate keys in 9A, 9C, 9D, 9E and a retired slot,
# self-sign (on the card, see card_selfsign) and import certificates, test-signature / test-decipher, and
# attestation checked with openssl against the F9 certificate.
# shellcheck source=../harness/lib.sh
. "$(dirname "$0")/../harness/lib.sh"
harness_init
harness_require yubico-piv-tool openssl cmp
[ -x /usr/bin/python3 ] || fail "/usr/bin/python3 missing"
pcscd_ensure
vcard_start 0 --mgm-alg 3des --serial 7654321

R=$(reader_name 0)
ypt=(yubico-piv-tool -r "$R")
T=$HARNESS_TMP

# slot algorithm
KEYS="9a:RSA2048 9c:ECCP384 9d:RSA2048 9e:ECCP256 82:ECCP256"

for k in $KEYS; do
	s=${k%%:*}
	a=${k#*:}
	run_ok "generate $a in $s" "${ypt[@]}" -a generate -s "$s" -A "$a" -o "$T/pub_$s.pem"
	run_ok "public key of $s parses" openssl pkey -pubin -in "$T/pub_$s.pem" -noout -text
	case $a in
	RSA2048) assert_contains "$OUT" "2048 bit" ;;
	ECCP256) assert_contains "$OUT" "P-256" ;;
	ECCP384) assert_contains "$OUT" "P-384" ;;
	esac
	card_selfsign 0 "$s" "$T/pub_$s.pem" "tokend test $s" "$T/cert_$s.pem"
	# The card's signature over the certificate checks out.
	run_ok "self-signed $s verifies" openssl verify -CAfile "$T/cert_$s.pem" "$T/cert_$s.pem"
	openssl x509 -in "$T/cert_$s.pem" -noout -pubkey >"$T/certpub_$s.pem"
	cmp -s <(openssl pkey -pubin -in "$T/certpub_$s.pem") <(openssl pkey -pubin -in "$T/pub_$s.pem") ||
		fail "certificate of $s does not hold the generated key"
	run_ok "import certificate $s" "${ypt[@]}" -a import-certificate -s "$s" -i "$T/cert_$s.pem"
	run_ok "read certificate $s" "${ypt[@]}" -a read-certificate -s "$s" -o "$T/read_$s.pem"
	cmp -s <(openssl x509 -in "$T/read_$s.pem" -outform DER) \
		<(openssl x509 -in "$T/cert_$s.pem" -outform DER) || fail "certificate $s read back differs"
	run_ok "test-signature $s" "${ypt[@]}" -a verify-pin -P 123456 -a test-signature -s "$s" \
		-i "$T/cert_$s.pem"
done

run_ok "test-decipher 9d (RSA)" "${ypt[@]}" -a verify-pin -P 123456 -a test-decipher -s 9d -i "$T/cert_9d.pem"
run_ok "test-decipher 9e (ECDH)" "${ypt[@]}" -a verify-pin -P 123456 -a test-decipher -s 9e -i "$T/cert_9e.pem"

run_ok "status lists the slots" "${ypt[@]}" -a status
for s in 9a 9c 9d 9e 82; do
	assert_contains "$OUT" "Slot $s:" "slot $s in status"
done

# 9C signs only with the PIN verified in the same session (PIN always).
run_fail "9c without PIN" "${ypt[@]}" -a test-signature -s 9c -i "$T/cert_9c.pem"

# Attestation: F9 certificate and attestation certificate of 9A and 82.
run_ok "read F9 certificate" "${ypt[@]}" -a read-certificate -s f9 -o "$T/f9.pem"
for s in 9a 82; do
	run_ok "attest $s" "${ypt[@]}" -a attest -s "$s" -o "$T/attest_$s.pem"
	run_ok "attestation of $s verifies against F9" \
		openssl verify -CAfile "$T/f9.pem" "$T/attest_$s.pem"
	openssl x509 -in "$T/attest_$s.pem" -noout -pubkey >"$T/attpub_$s.pem"
	cmp -s <(openssl pkey -pubin -in "$T/attpub_$s.pem") <(openssl pkey -pubin -in "$T/pub_$s.pem") ||
		fail "attestation of $s is not for the generated key"
	run_ok "attestation of $s as text" openssl x509 -in "$T/attest_$s.pem" -noout -text
	assert_contains "$OUT" "1.3.6.1.4.1.41482.3.3" "firmware extension"
	assert_contains "$OUT" "1.3.6.1.4.1.41482.3.7" "serial extension"
	assert_contains "$OUT" "1.3.6.1.4.1.41482.3.8" "policy extension"
done

# Deleting a certificate.
run_ok "delete certificate 82" "${ypt[@]}" -a delete-certificate -s 82
run_fail "certificate 82 is gone" "${ypt[@]}" -a read-certificate -s 82

vcard_stop 0
harness_log "PASS"
