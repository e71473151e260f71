#!/usr/bin/env bash
# RSA-OAEP through a SoftHSMv2 token behind tokend (SHA-1, MGF1-SHA1, no
# label: all SoftHSMv2 2.6 decrypts): PyKCS11 (oaep.py, through the p11-kit
# client) encrypts with the token's public key and decrypts on the token;
# what openssl encrypted with the public key read through the socket
# decrypts on the token to the same bytes, with PyKCS11 and with
# pkcs11-tool; a wrong PIN decrypts nothing.
# shellcheck source=softhsm.sh
. "$(dirname "$0")/softhsm.sh"
bridge_init
export E2E_CLIENT=$CLIENT_SO
oaep=("$PY" "$BRIDGE_DIR/oaep.py")

bridge_keypair rsa:2048 02 oaep
run_check "PyKCS11: OAEP encryption with the public key, decryption on the token" \
	"${oaep[@]}" 02 "$PIN"
run_fail "PyKCS11: a wrong PIN decrypts nothing" "${oaep[@]}" 02 9999
check "(CKR_PIN_INCORRECT)" grep -q "CKR_PIN_INCORRECT" <<<"$OUT"

head -c 100 /dev/urandom >"$T/secret"
run_ok "openssl encrypts with the public key" openssl pkeyutl -encrypt -pubin \
	-inkey "$T/pub_02.pem" -pkeyopt rsa_padding_mode:oaep -pkeyopt rsa_oaep_md:sha1 \
	-pkeyopt rsa_mgf1_md:sha1 -in "$T/secret" -out "$T/secret.enc"
run_check "PyKCS11 decrypts it on the token" "${oaep[@]}" 02 "$PIN" "$T/secret.enc" "$T/py.dec"
if [ -s "$T/py.dec" ]; then
	check "to the same bytes" cmp "$T/secret" "$T/py.dec"
fi
run_check "pkcs11-tool decrypts it on the token" "${p11[@]}" --login --pin "$PIN" --decrypt \
	--id 02 -m RSA-PKCS-OAEP --hash-algorithm SHA-1 --mgf MGF1-SHA1 \
	-i "$T/secret.enc" -o "$T/p11.dec"
if [ -s "$T/p11.dec" ]; then
	check "to the same bytes" cmp "$T/secret" "$T/p11.dec"
fi
check "the decryptions are audited" grep -q "AUDIT key-op export=s .* op=decrypt .*result=CKR_OK" "$LOG"
bridge_stop
finish
