#!/usr/bin/env bash
# Keys of which a SoftHSMv2 token holds only some parts, through tokend
# with Debian's p11-kit client (parts.py): a public key imported alone
# (a peer's: its private key is openssl's) shows as exactly one public key
# object, before and after login, and C_Verify with it accepts openssl's
# signature; an RSA pair whose public key object SoftHSMv2 deleted shows
# as exactly one private key object after login (tokend read the token
# before), which signs (openssl verifies with the public key saved
# before); C_DestroyObject of a private key through tokend leaves its
# public key listed, through tokend and in SoftHSMv2 itself.
# shellcheck source=softhsm.sh
. "$(dirname "$0")/softhsm.sh"

# Straight into SoftHSMv2, before tokend starts (as another tool would).
bridge_before_start() {
	direct=(env "SOFTHSM2_CONF=$T/softhsm.conf" timeout 60 pkcs11-tool --module "$SOFTHSM")
	run_ok "openssl makes a peer's RSA key" openssl genpkey -algorithm RSA \
		-pkeyopt rsa_keygen_bits:2048 -out "$T/peer.pem"
	run_ok "openssl gives its public key as DER" openssl pkey -in "$T/peer.pem" \
		-pubout -outform DER -out "$T/peer.der"
	run_ok "SoftHSMv2 imports the peer's public key alone (CKA_ID 0a)" \
		"${direct[@]}" --login --pin "$PIN" --write-object "$T/peer.der" --type pubkey \
		--id 0a --label peer
	run_ok "SoftHSMv2 makes an RSA pair (CKA_ID 0b)" "${direct[@]}" --login --pin "$PIN" \
		--keypairgen --key-type rsa:2048 --id 0b --label lone-priv
	run_ok "SoftHSMv2 gives its public key" "${direct[@]}" --read-object --type pubkey \
		--id 0b -o "$T/0b.der"
	run_ok "openssl reads it" openssl pkey -pubin -inform DER -in "$T/0b.der" \
		-out "$T/0b.pem"
	run_ok "SoftHSMv2 deletes that public key object" "${direct[@]}" --login --pin "$PIN" \
		--delete-object --type pubkey --id 0b
	run_ok "SoftHSMv2 makes an RSA pair (CKA_ID 0c)" "${direct[@]}" --login --pin "$PIN" \
		--keypairgen --key-type rsa:2048 --id 0c --label pair
	run_ok "SoftHSMv2 lists its objects" "${direct[@]}" --login --pin "$PIN" -O
	check "(SoftHSMv2 holds 2 private keys and 2 public keys)" test \
		"$(grep -c "^Private Key Object" <<<"$OUT")$(grep -c "^Public Key Object" <<<"$OUT")" = 22
}
bridge_init
export E2E_CLIENT=$CLIENT_SO
parts=(timeout 60 "$PY" "$BRIDGE_DIR/parts.py")

printf 'a document a peer signed\n' >"$T/doc"
run_ok "openssl signs as the peer" openssl dgst -sha256 -sign "$T/peer.pem" \
	-out "$T/peer.sig" "$T/doc"
run_check "a public key alone: one public key object, which verifies the peer's signature" \
	"${parts[@]}" lone "$PIN" 0a "$T/doc" "$T/peer.sig"

run_check "a private key alone: one private key object after login, which signs" \
	"${parts[@]}" privonly "$PIN" 0b "$T/doc" "$T/0b.sig"
run_check "openssl verifies its signature with the public key saved before" \
	openssl dgst -sha256 -verify "$T/0b.pem" -signature "$T/0b.sig" "$T/doc"

run_check "C_DestroyObject of a private key leaves its public key object" \
	"${parts[@]}" destroy "$PIN" 0c
run_ok "SoftHSMv2 lists its objects" "${direct[@]}" --login --pin "$PIN" -O
objects=$OUT
check "SoftHSMv2 still holds the public key of CKA_ID 0c" \
	grep -q "^Public Key Object" <<<"$(grep -B3 "ID: *0c\$" <<<"$objects")"
check "but no private key of CKA_ID 0c" \
	test "$(grep -B3 "ID: *0c\$" <<<"$objects" | grep -c "^Private Key Object")" -eq 0
check "SoftHSMv2 still holds the private key of CKA_ID 0b" \
	grep -q "^Private Key Object" <<<"$(grep -B3 "ID: *0b\$" <<<"$objects")"
bridge_stop
finish
