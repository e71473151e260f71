#!/usr/bin/env bash
# Key generation on a SoftHSMv2 token through tokend's socket with
# pkcs11-tool, as a user would check it: RSA-2048, EC P-256 and AES-256 keys
# appear with the label and CKA_ID asked for and the right size; the AES key
# (generated extractable, so openssl can check it with the value SoftHSMv2's
# own module reads) encrypts and decrypts through the socket (AES-CBC,
# AES-CBC-PAD) as openssl does with its value; tokend never reveals it. KEYGEN=pairs or aes: only the
# key pairs, only the AES key (default: both).
# shellcheck source=softhsm.sh
. "$(dirname "$0")/softhsm.sh"
bridge_init xxd
KEYGEN=${KEYGEN:-all}
# pkcs11-tool prints each object's header line, then its attributes.
obj() { # HEADER-REGEX: the object's block in $objs
	awk -v h="$1" '/Object;/ { on = ($0 ~ h) } on' <<<"$objs"
}

if [ "$KEYGEN" != aes ]; then
	bridge_keypair rsa:2048 02 rsa2048
	bridge_keypair EC:prime256v1 03 ecp256
	run_ok "list the key pairs" "${p11[@]}" --login --pin "$PIN" -O
	objs=$OUT
	check "the RSA private key carries its label" grep -q "label: *rsa2048" <(obj "Private Key Object; RSA")
	check "the RSA public key is 2048 bits with its label" \
		grep -q "label: *rsa2048" <(obj "Public Key Object; RSA 2048 bits")
	check "the EC private key carries its label" grep -q "label: *ecp256" <(obj "Private Key Object; EC")
	check "the EC public key carries its label" \
		grep -q "label: *ecp256" <(obj "Public Key Object; EC")
	check "and P-256's OID" grep -q "EC_PARAMS: *06082a8648ce3d030107" <(obj "Public Key Object; EC")
fi

if [ "$KEYGEN" != pairs ]; then
	run_ok "AES-256 key generated through the socket" "${p11[@]}" --login --pin "$PIN" \
		--keygen --key-type AES:32 --id 04 --label aes256 --extractable
	run_ok "list the objects" "${p11[@]}" --login --pin "$PIN" -O
	objs=$OUT
	check "the AES key is 32 bytes with its label" grep -q "label: *aes256" <(obj "Secret Key Object; AES length 32")
	check "and its CKA_ID" grep -q "ID: *04" <(obj "Secret Key Object; AES")

	# The AES key through the socket against openssl with the key's value,
	# which tokend does not reveal (a token's secret key never leaves it):
	# SoftHSMv2's own module reads it from the token directory.
	printf 'thirty-two bytes of plain text!!' >"$T/plain"
	iv=000102030405060708090a0b0c0d0e0f
	run_ok "AES-CBC encryption through the socket" "${p11[@]}" --login --pin "$PIN" --encrypt \
		--id 04 -m AES-CBC --iv $iv -i "$T/plain" -o "$T/cipher"
	check "the value stays on the token" bash -c '! "$@"' _ "${p11[@]}" --login --pin "$PIN" \
		--read-object --type secrkey --id 04 -o "$T/leak"
	run_ok "read the AES key's value with SoftHSMv2's module" env SOFTHSM2_CONF="$T/softhsm.conf" \
		pkcs11-tool --module "$SOFTHSM" --login --pin "$PIN" --read-object \
		--type secrkey --id 04 -o "$T/aes.key"
	check "the value is 32 bytes" test "$(stat -c %s "$T/aes.key")" -eq 32
	key=$(xxd -p -c 64 "$T/aes.key")
	run_ok "openssl decrypts it with the key's value" openssl enc -d -aes-256-cbc -nopad \
		-K "$key" -iv $iv -in "$T/cipher" -out "$T/decrypted"
	check "to the plain text" cmp "$T/plain" "$T/decrypted"

	# CBC-PAD both ways: openssl's ciphertext decrypts through the socket,
	# the socket's decrypts in openssl, for a length that needs padding.
	printf 'forty-one bytes, not a multiple of 16!!!!' >"$T/plain2"
	run_ok "AES-CBC-PAD encryption through the socket" "${p11[@]}" --login --pin "$PIN" \
		--encrypt --id 04 -m AES-CBC-PAD --iv $iv -i "$T/plain2" -o "$T/cipher2"
	check "is 48 bytes" test "$(stat -c %s "$T/cipher2")" -eq 48
	run_ok "openssl decrypts the padded ciphertext" openssl enc -d -aes-256-cbc \
		-K "$key" -iv $iv -in "$T/cipher2" -out "$T/decrypted2"
	check "to the plain text" cmp "$T/plain2" "$T/decrypted2"
	run_ok "openssl encrypts" openssl enc -aes-256-cbc -K "$key" -iv $iv \
		-in "$T/plain2" -out "$T/cipher3"
	run_ok "AES-CBC-PAD decryption through the socket" "${p11[@]}" --login --pin "$PIN" \
		--decrypt --id 04 -m AES-CBC-PAD --iv $iv -i "$T/cipher3" -o "$T/decrypted3"
	check "to the plain text" cmp "$T/plain2" "$T/decrypted3"

	# AES-GCM (IV, AAD, tag) with PyKCS11: pkcs11-tool 0.23 sends no GCM
	# parameters.
	export E2E_CLIENT=$CLIENT_SO
	run_check "PyKCS11: AES-GCM on the token as in software, and back" \
		"$PY" "$BRIDGE_DIR/aes_gcm.py" 04 "$PIN" "$T/aes.key"
fi
bridge_stop
finish
