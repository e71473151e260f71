#!/usr/bin/env bash
# OpenSC's PKCS#11 module against the virtual YubiKey: token and objects are
# listed; ECDSA, RSA-PKCS and RSA-PSS signatures, RSA-OAEP decryption and ECDH
# derivation, every result checked with openssl against the public key.
# shellcheck source=../harness/lib.sh
. "$(dirname "$0")/../harness/lib.sh"
harness_init
harness_require yubico-piv-tool pkcs11-tool openssl cmp
MODULE=${TOKEND_OPENSC_MODULE:-/usr/lib/x86_64-linux-gnu/opensc-pkcs11.so}
[ -f "$MODULE" ] || fail "OpenSC PKCS#11 module not found: $MODULE"
pcscd_ensure
vcard_start 0 --mgm-alg 3des

R=$(reader_name 0)
ypt=(yubico-piv-tool -r "$R")
T=$HARNESS_TMP

# OpenSC numbers the PIV slots 9A..9E as IDs 01..04.
KEYS="9a:ECCP256:01 9c:RSA2048:02 9d:RSA2048:03 9e:ECCP256:04"
for k in $KEYS; do
	IFS=: read -r s a id <<<"$k"
	run_ok "generate $a in $s" "${ypt[@]}" -a generate -s "$s" -A "$a" -o "$T/pub_$s.pem"
	card_selfsign 0 "$s" "$T/pub_$s.pem" "p11 $s" "$T/cert_$s.pem"
	run_ok "import certificate $s" "${ypt[@]}" -a import-certificate -s "$s" -i "$T/cert_$s.pem"
done

# Another card may sit in 'Virtual PCD 00 01'; find our slot index.
run_ok "list slots" pkcs11-tool --module "$MODULE" -L
assert_contains "$OUT" "Virtual PCD 00 00" "reader listed"
assert_contains "$OUT" "PKCS#15 emulated" "OpenSC's PIV emulation"
assert_contains "$OUT" "piv_II" "manufacturer"
idx=$(pkcs11-tool --module "$MODULE" -L | awk '/^Slot [0-9]+/ { n++ } /Virtual PCD 00 00/ { print n - 1; exit }')
[ -n "$idx" ] || fail "no slot for '$R'"
p11=(pkcs11-tool --module "$MODULE" --slot-index "$idx")

run_ok "list objects" "${p11[@]}" --login --pin 123456 -O
for id in 01 02 03 04; do
	assert_contains "$OUT" "ID:         $id" "object $id listed"
done
assert_contains "$OUT" "Private Key Object; EC" "EC private key"
assert_contains "$OUT" "Private Key Object; RSA" "RSA private key"
assert_contains "$OUT" "Certificate Object" "certificates"

head -c 1000 /dev/urandom >"$T/data"
openssl dgst -sha256 -binary "$T/data" >"$T/data.sha256"

# ECDSA (9A), hashed by us.
run_ok "ECDSA sign" "${p11[@]}" --login --pin 123456 --sign --id 01 -m ECDSA \
	--signature-format openssl -i "$T/data.sha256" -o "$T/ecdsa.sig"
run_ok "ECDSA signature verifies" openssl pkeyutl -verify -pubin -inkey "$T/pub_9a.pem" \
	-in "$T/data.sha256" -sigfile "$T/ecdsa.sig"
assert_contains "$OUT" "Signature Verified Successfully"
run_ok "ECDSA signature verifies against the certificate" openssl dgst -sha256 \
	-verify <(openssl x509 -in "$T/cert_9a.pem" -noout -pubkey) -signature "$T/ecdsa.sig" "$T/data"

# RSA PKCS#1 v1.5 and PSS (9C: PIN always, pkcs11-tool logs in again).
run_ok "RSA-PKCS sign" "${p11[@]}" --login --pin 123456 --sign --id 02 -m SHA256-RSA-PKCS \
	-i "$T/data" -o "$T/pkcs.sig"
run_ok "RSA-PKCS signature verifies" openssl dgst -sha256 -verify "$T/pub_9c.pem" \
	-signature "$T/pkcs.sig" "$T/data"
run_ok "RSA-PSS sign" "${p11[@]}" --login --pin 123456 --sign --id 02 -m SHA256-RSA-PKCS-PSS \
	--mgf MGF1-SHA256 -i "$T/data" -o "$T/pss.sig"
run_ok "RSA-PSS signature verifies" openssl dgst -sha256 -verify "$T/pub_9c.pem" \
	-sigopt rsa_padding_mode:pss -sigopt rsa_pss_saltlen:32 -sigopt rsa_mgf1_md:sha256 \
	-signature "$T/pss.sig" "$T/data"

# RSA-OAEP decryption (9D).
head -c 32 /dev/urandom >"$T/plain"
run_ok "OAEP encrypt (openssl)" openssl pkeyutl -encrypt -pubin -inkey "$T/pub_9d.pem" \
	-pkeyopt rsa_padding_mode:oaep -pkeyopt rsa_oaep_md:sha256 -pkeyopt rsa_mgf1_md:sha256 \
	-in "$T/plain" -out "$T/ct"
run_ok "RSA-OAEP decrypt" "${p11[@]}" --login --pin 123456 --decrypt --id 03 -m RSA-PKCS-OAEP \
	--hash-algorithm SHA256 --mgf MGF1-SHA256 -i "$T/ct" -o "$T/plain.out"
cmp "$T/plain" "$T/plain.out" || fail "OAEP plaintext differs"

# ECDH against a peer key made by openssl. OpenSC allows derivation only
# with the key-management key (9D, ID 03), so 9D gets a P-256 key now.
run_ok "generate ECCP256 in 9d" "${ypt[@]}" -a generate -s 9d -A ECCP256 -o "$T/pub_9d_ec.pem"
card_selfsign 0 9d "$T/pub_9d_ec.pem" "p11 9d ec" "$T/cert_9d_ec.pem"
run_ok "import EC certificate 9d" "${ypt[@]}" -a import-certificate -s 9d -i "$T/cert_9d_ec.pem"
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$T/peer.pem" 2>/dev/null
openssl pkey -in "$T/peer.pem" -pubout -outform DER -out "$T/peer_pub.der"
run_ok "ECDH derive" "${p11[@]}" --login --pin 123456 --derive -m ECDH1-DERIVE --id 03 \
	-i "$T/peer_pub.der" -o "$T/secret.card"
run_ok "ECDH from the peer side" openssl pkeyutl -derive -inkey "$T/peer.pem" \
	-peerkey "$T/pub_9d_ec.pem" -out "$T/secret.peer"
cmp "$T/secret.card" "$T/secret.peer" || fail "ECDH secrets differ"
[ "$(stat -c %s "$T/secret.card")" -eq 32 ] || fail "ECDH secret is not 32 bytes"

# A wrong PIN is refused through PKCS#11 as well.
run_fail "wrong PIN" "${p11[@]}" --login --pin 999999 --sign --id 01 -m ECDSA -i "$T/data.sha256" -o "$T/x"

vcard_stop 0
harness_log "PASS"
