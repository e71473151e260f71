#!/usr/bin/env bash
# OpenSC's pkcs11-tool driving the module under test ($TOKEND_MODULE):
# token list, objects, mechanisms, --test, ECDSA P-256/P-384, RSA PKCS#1 and
# PSS signatures, RSA-PKCS and OAEP decryption, ECDH, PIN change, wrong PIN;
# tokend only: keys without certificates, key generation and certificate
# import through PKCS#11. Every result is checked with openssl.
# shellcheck source=common.sh
. "$(dirname "$0")/common.sh"
module_init --mgm-alg 3des --serial 7654321

# 9A P-256, 9C RSA-2048 (PIN always), 9D RSA-2048, 9E P-384; 85 P-256
# without a certificate (OpenSC cannot see it).
provision 9a:ECCP256 9c:RSA2048 9d:RSA2048 9e:ECCP384 85:ECCP256:nocert

run_ok "-L lists the token" pkcs11-tool --module "$M" -L
assert_contains "$OUT" "$R" "reader listed"
assert_contains "$OUT" "token initialized" "token flags"
assert_contains "$OUT" "PIN initialized" "token flags"
assert_contains "$OUT" "login required" "token flags"
assert_contains "$OUT" "pin min/max        : " "PIN length limits"
if tokend_only "token label and serial from the YubiKey"; then
	assert_contains "$OUT" "YubiKey PIV #7654321" "token label"
	assert_contains "$OUT" "7654321" "token serial"
fi

run_ok "-O lists objects" "${p11[@]}" --login --pin "$PIN" -O
for id in 01 02 03 04; do
	assert_contains "$OUT" "ID:         $id" "objects of ID $id"
done
assert_contains "$OUT" "Private Key Object; EC" "EC private key"
assert_contains "$OUT" "Private Key Object; RSA" "RSA private key"
assert_contains "$OUT" "Public Key Object; EC" "EC public key"
assert_contains "$OUT" "Certificate Object; type = X.509 cert" "certificates"
assert_contains "$OUT" "CN=module test 9a" "certificate subject"
if tokend_only "retired key without certificate (85 = ID 08)"; then
	assert_contains "$OUT" "ID:         08" "key in 85 without a certificate"
fi

# Certificates and public keys as the module reads them equal the ones we
# wrote. (pkcs11-tool 0.23's EC public-key export reads freed memory, found
# by ASan, "cannot create EVP_PKEY" for P-384: EC public keys are compared as
# CKA_EC_POINT in -O.)
OBJS=$OUT
for k in 9a:65 9c:rsa 9d:rsa 9e:97; do
	s=${k%%:*}
	id=$(slot_id "$s")
	run_ok "read certificate $id" "${p11[@]}" --read-object --type cert --id "$id" -o "$T/rd_$s.der"
	cmp -s "$T/rd_$s.der" "$T/cert_$s.der" || fail "certificate $id read through the module differs"
	if [ "${k#*:}" = rsa ]; then
		run_ok "read public key $id" "${p11[@]}" --read-object --type pubkey --id "$id" -o "$T/rdpub_$s.der"
		cmp -s <(openssl pkey -pubin -inform DER -in "$T/rdpub_$s.der" -outform DER) \
			<(openssl pkey -pubin -in "$T/pub_$s.pem" -outform DER) ||
			fail "public key $id read through the module differs"
	else
		point=$(openssl pkey -pubin -in "$T/pub_$s.pem" -outform DER | tail -c "${k#*:}" | od -An -tx1 -v | tr -d ' \n')
		assert_contains "$OBJS" "$point" "EC point of ID $id"
	fi
done

run_ok "-M lists mechanisms" "${p11[@]}" -M
for mech in ECDSA ECDSA-SHA256 ECDSA-SHA384 ECDH1-DERIVE RSA-PKCS RSA-X-509 \
	SHA256-RSA-PKCS RSA-PKCS-PSS SHA256-RSA-PKCS-PSS RSA-PKCS-OAEP; do
	grep -qE "^  ${mech}[ ,]" "$HARNESS_OUT" || fail "mechanism $mech not listed:"$'\n'"$OUT"
done
if tokend_only "key-pair generation mechanisms"; then
	for mech in ECDSA-KEY-PAIR-GEN RSA-PKCS-KEY-PAIR-GEN EC-EDWARDS-KEY-PAIR-GEN \
		EC-MONTGOMERY-KEY-PAIR-GEN EDDSA SHA384-RSA-PKCS-PSS ECDSA-SHA512; do
		grep -qE "^  ${mech}[ ,]" "$HARNESS_OUT" || fail "mechanism $mech not listed:"$'\n'"$OUT"
	done
fi

# pkcs11-tool 0.23's --test calls C_GenerateRandom whatever CKF_RNG says.
# A module without CKF_RNG may refuse it; OpenSC's PIV driver refuses it
# though it sets CKF_RNG.
run_ok "-L for CKF_RNG" pkcs11-tool --module "$M" -L
rng=$(awk -v s="$SLOT" '/^Slot [0-9]+/ { n++ } n - 1 == s && /token flags/ && /rng/ { print "yes"; exit }' "$HARNESS_OUT")
run_ok "--test --login" "${p11[@]}" --test --login --pin "$PIN"
bad=$(grep -E 'ERR:|FAIL' "$HARNESS_OUT" || true)
if [ "$MODULE_KIND" != tokend ] || [ -z "$rng" ]; then
	bad=$(grep -vE 'C_GenerateRandom failed: CKR_(FUNCTION_NOT_SUPPORTED|RANDOM_NO_RNG)' <<<"$bad" || true)
fi
[ -z "$bad" ] || fail "pkcs11-tool --test reports errors:"$'\n'"$OUT"
assert_contains "$OUT" "all 4 digest functions seem to work" "--test digests"
grep -qE 'Signatures|Verify' "$HARNESS_OUT" || fail "--test tested no signatures:"$'\n'"$OUT"

head -c 1000 /dev/urandom >"$T/data"
openssl dgst -sha256 -binary "$T/data" >"$T/data.sha256"
openssl dgst -sha384 -binary "$T/data" >"$T/data.sha384"

# ECDSA P-256 (9A, raw ECDSA on our hash) and P-384 (9E, ECDSA-SHA384).
run_ok "ECDSA P-256 sign" "${p11[@]}" --login --pin "$PIN" --sign --id 01 -m ECDSA \
	--signature-format openssl -i "$T/data.sha256" -o "$T/p256.sig"
run_ok "ECDSA P-256 verifies against the certificate" openssl dgst -sha256 \
	-verify <(openssl x509 -in "$T/cert_9a.pem" -noout -pubkey) -signature "$T/p256.sig" "$T/data"
run_ok "ECDSA-SHA256 P-256 sign" "${p11[@]}" --login --pin "$PIN" --sign --id 01 -m ECDSA-SHA256 \
	--signature-format openssl -i "$T/data" -o "$T/p256b.sig"
run_ok "ECDSA-SHA256 P-256 verifies" openssl dgst -sha256 -verify "$T/pub_9a.pem" \
	-signature "$T/p256b.sig" "$T/data"
run_ok "ECDSA P-384 sign" "${p11[@]}" --login --pin "$PIN" --sign --id 04 -m ECDSA-SHA384 \
	--signature-format openssl -i "$T/data" -o "$T/p384.sig"
run_ok "ECDSA P-384 verifies against the certificate" openssl dgst -sha384 \
	-verify <(openssl x509 -in "$T/cert_9e.pem" -noout -pubkey) -signature "$T/p384.sig" "$T/data"

# RSA PKCS#1 v1.5 and PSS with 9C (PIN always: pkcs11-tool logs in again
# with CKU_CONTEXT_SPECIFIC).
run_ok "SHA256-RSA-PKCS sign" "${p11[@]}" --login --pin "$PIN" --sign --id 02 -m SHA256-RSA-PKCS \
	-i "$T/data" -o "$T/pkcs.sig"
run_ok "SHA256-RSA-PKCS verifies against the certificate" openssl dgst -sha256 \
	-verify <(openssl x509 -in "$T/cert_9c.pem" -noout -pubkey) -signature "$T/pkcs.sig" "$T/data"
run_ok "SHA256-RSA-PKCS-PSS sign" "${p11[@]}" --login --pin "$PIN" --sign --id 02 \
	-m SHA256-RSA-PKCS-PSS --mgf MGF1-SHA256 -i "$T/data" -o "$T/pss.sig"
run_ok "SHA256-RSA-PKCS-PSS verifies" openssl dgst -sha256 -verify "$T/pub_9c.pem" \
	-sigopt rsa_padding_mode:pss -sigopt rsa_pss_saltlen:32 -sigopt rsa_mgf1_md:sha256 \
	-signature "$T/pss.sig" "$T/data"

# Decryption with 9D: PKCS#1 v1.5 and OAEP (SHA-256), encrypted by openssl.
head -c 32 /dev/urandom >"$T/plain"
run_ok "RSA-PKCS encrypt (openssl)" openssl pkeyutl -encrypt -pubin -inkey "$T/pub_9d.pem" \
	-in "$T/plain" -out "$T/ct_pkcs"
run_ok "RSA-PKCS decrypt" "${p11[@]}" --login --pin "$PIN" --decrypt --id 03 -m RSA-PKCS \
	-i "$T/ct_pkcs" -o "$T/plain_pkcs"
cmp "$T/plain" "$T/plain_pkcs" || fail "RSA-PKCS plaintext differs"
run_ok "RSA-OAEP encrypt (openssl)" openssl pkeyutl -encrypt -pubin -inkey "$T/pub_9d.pem" \
	-pkeyopt rsa_padding_mode:oaep -pkeyopt rsa_oaep_md:sha256 -pkeyopt rsa_mgf1_md:sha256 \
	-in "$T/plain" -out "$T/ct_oaep"
run_ok "RSA-PKCS-OAEP decrypt" "${p11[@]}" --login --pin "$PIN" --decrypt --id 03 -m RSA-PKCS-OAEP \
	--hash-algorithm SHA256 --mgf MGF1-SHA256 -i "$T/ct_oaep" -o "$T/plain_oaep"
cmp "$T/plain" "$T/plain_oaep" || fail "RSA-OAEP plaintext differs"

# ECDH: OpenSC derives only with the key-management key, so 9D gets a P-256
# key now (a fresh process of the module sees the new key and certificate).
provision 9d:ECCP256
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$T/peer.pem" 2>/dev/null
openssl pkey -in "$T/peer.pem" -pubout -outform DER -out "$T/peer_pub.der"
run_ok "ECDH1-DERIVE" "${p11[@]}" --login --pin "$PIN" --derive -m ECDH1-DERIVE --id 03 \
	-i "$T/peer_pub.der" -o "$T/secret.card"
run_ok "ECDH from the peer side (openssl)" openssl pkeyutl -derive -inkey "$T/peer.pem" \
	-peerkey "$T/pub_9d.pem" -out "$T/secret.peer"
cmp "$T/secret.card" "$T/secret.peer" || fail "ECDH secrets differ"
[ "$(stat -c %s "$T/secret.card")" -eq 32 ] || fail "ECDH secret is not 32 bytes"

# Wrong PIN, then PIN change and login with the new PIN.
run_fail "wrong PIN refused" "${p11[@]}" --login --pin 999999 --sign --id 01 -m ECDSA \
	-i "$T/data.sha256" -o "$T/x"
assert_contains "$OUT" "CKR_PIN_INCORRECT" "wrong PIN error"
run_ok "--change-pin" "${p11[@]}" --login --pin "$PIN" --change-pin --new-pin 654321
run_fail "old PIN refused" "${p11[@]}" --login --pin "$PIN" --sign --id 01 -m ECDSA \
	-i "$T/data.sha256" -o "$T/x"
run_ok "sign with the new PIN" "${p11[@]}" --login --pin 654321 --sign --id 01 -m ECDSA \
	--signature-format openssl -i "$T/data.sha256" -o "$T/newpin.sig"
run_ok "signature after PIN change verifies" openssl dgst -sha256 -verify "$T/pub_9a.pem" \
	-signature "$T/newpin.sig" "$T/data"
run_ok "yubico-piv-tool agrees on the new PIN" "${ypt[@]}" -a verify-pin -P 654321
run_ok "--change-pin back" "${p11[@]}" --login --pin 654321 --change-pin --new-pin "$PIN"

# Administration through PKCS#11: SO login with the management key, key
# generation into retired slot 82 (ID 05), certificate import.
if tokend_only "key generation and certificate import through PKCS#11"; then
	run_ok "keypairgen EC P-256 as ID 05" "${p11[@]}" --keypairgen --key-type EC:prime256v1 \
		--id 05 --label "gen 05" --login --login-type so --so-pin "$MGM_HEX"
	# The new public key from CKA_EC_POINT (pkcs11-tool 0.23's EC export
	# reads freed memory, see above).
	run_ok "-O shows the generated key" "${p11[@]}" -O
	point=$(awk '/^[A-Z]/ { pub = /^Public Key Object; EC/; pt = "" }
		pub && $1 == "EC_POINT:" { pt = $2 }
		pub && $1 == "ID:" && $2 == "05" { print pt; exit }' "$HARNESS_OUT")
	case $point in
	044104*) point=${point#0441} ;; # DER OCTET STRING around the point
	04*) ;;
	*) fail "no P-256 EC_POINT for ID 05:"$'\n'"$OUT" ;;
	esac
	[ ${#point} -eq 130 ] || fail "EC_POINT of ID 05 is not an uncompressed P-256 point: $point"
	"$PY" -c 'import sys; sys.stdout.buffer.write(bytes.fromhex(sys.argv[1]))' \
		"3059301306072a8648ce3d020106082a8648ce3d030107034200$point" | openssl pkey -pubin -inform DER -out "$T/pub_82.pem" || fail "EC_POINT of ID 05 is no P-256 key"
	run_ok "yubico-piv-tool sees the key in 82" "${ypt[@]}" -a status
	card_selfsign 0 82 "$T/pub_82.pem" "generated 82" "$T/cert_82.pem"
	openssl x509 -in "$T/cert_82.pem" -outform DER -out "$T/cert_82.der"
	run_ok "import certificate as ID 05" "${p11[@]}" --write-object "$T/cert_82.der" --type cert \
		--id 05 --label "cert 05" --login --login-type so --so-pin "$MGM_HEX"
	run_ok "yubico-piv-tool reads the certificate in 82" "${ypt[@]}" -a read-certificate -s 82 \
		-o "$T/read_82.pem"
	cmp -s <(openssl x509 -in "$T/read_82.pem" -outform DER) "$T/cert_82.der" ||
		fail "certificate in 82 differs from the one imported"
	run_ok "-O shows ID 05 with its certificate" "${p11[@]}" --login --pin "$PIN" -O
	assert_contains "$OUT" "CN=generated 82" "imported certificate listed"
	run_ok "sign with the generated key" "${p11[@]}" --login --pin "$PIN" --sign --id 05 -m ECDSA \
		--signature-format openssl -i "$T/data.sha256" -o "$T/gen.sig"
	run_ok "signature of the generated key verifies" openssl dgst -sha256 \
		-verify "$T/pub_82.pem" -signature "$T/gen.sig" "$T/data"
fi

vcard_stop 0
harness_log "PASS"
