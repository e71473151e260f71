#!/usr/bin/env bash
# Key generation on a SoftHSMv2 token through tokend's socket with
# pkcs11-tool, as a user would check it: RSA-2048, EC P-256 and AES-256 keys
# appear with the label and CKA_ID asked for and the right size; the AES key
# (generated extractable, so openssl can check it) encrypts through the
# socket what openssl decrypts with its value. KEYGEN=pairs or aes: only the
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

	# The AES key through the socket against openssl with the key's value.
	printf 'thirty-two bytes of plain text!!' >"$T/plain"
	run_ok "AES-CBC encryption through the socket" "${p11[@]}" --login --pin "$PIN" --encrypt \
		--id 04 -m AES-CBC --iv 000102030405060708090a0b0c0d0e0f -i "$T/plain" -o "$T/cipher"
	run_ok "read the AES key's value" "${p11[@]}" --login --pin "$PIN" --read-object \
		--type secrkey --id 04 -o "$T/aes.key"
	check "the value is 32 bytes" test "$(stat -c %s "$T/aes.key")" -eq 32
	run_ok "openssl decrypts it with the key's value" openssl enc -d -aes-256-cbc -nopad \
		-K "$(xxd -p -c 64 "$T/aes.key")" -iv 000102030405060708090a0b0c0d0e0f \
		-in "$T/cipher" -out "$T/decrypted"
	check "to the plain text" cmp "$T/plain" "$T/decrypted"
fi
bridge_stop
finish
