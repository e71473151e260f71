#!/usr/bin/env bash
# Sign and verify through a SoftHSMv2 token behind tokend, with one p11-kit
# client (Debian's, or a newer one: BRIDGE_CLIENT_VERSION, see softhsm.sh):
# pkcs11-tool generates an RSA-2048 and an EC P-256 key pair through the
# socket, signs a document with RSA-PKCS (SHA256-RSA-PKCS) and a digest with
# ECDSA; openssl verifies both with the public keys read back through the
# socket, and rejects the RSA signature over another document.
# shellcheck source=softhsm.sh
. "$(dirname "$0")/softhsm.sh"
bridge_init

bridge_keypair rsa:2048 02 rsa
bridge_keypair EC:prime256v1 03 ec
check "the RSA key is 2048 bits" grep -q "Public-Key: (2048 bit)" \
	<(openssl pkey -pubin -in "$T/pub_02.pem" -text -noout)
check "the EC key is on P-256" grep -q "NIST CURVE: P-256" \
	<(openssl pkey -pubin -in "$T/pub_03.pem" -text -noout)

printf 'a document signed through the module bridge\n' >"$T/doc"
run_ok "RSA-PKCS (SHA-256) signature of the document" "${p11[@]}" --login --pin "$PIN" \
	--sign --id 02 -m SHA256-RSA-PKCS -i "$T/doc" -o "$T/doc.sig"
run_ok "openssl verifies the RSA signature" openssl dgst -sha256 -verify "$T/pub_02.pem" \
	-signature "$T/doc.sig" "$T/doc"
printf 'another document\n' >"$T/doc2"
run_fail "openssl rejects it over another document" openssl dgst -sha256 \
	-verify "$T/pub_02.pem" -signature "$T/doc.sig" "$T/doc2"

openssl dgst -sha256 -binary "$T/doc" >"$T/hash"
run_ok "ECDSA signature of the document's digest" "${p11[@]}" --login --pin "$PIN" \
	--sign --id 03 -m ECDSA --signature-format openssl -i "$T/hash" -o "$T/ec.sig"
run_ok "openssl verifies the ECDSA signature" openssl dgst -sha256 -verify "$T/pub_03.pem" \
	-signature "$T/ec.sig" "$T/doc"
check "both signatures are audited" test "$(grep -c "AUDIT key-op export=s .* op=sign .*result=CKR_OK" "$LOG")" -eq 2
bridge_stop
finish
