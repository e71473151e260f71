#!/usr/bin/env bash
# RSA-OAEP (SHA-256, MGF1-SHA256) through a SoftHSMv2 token behind tokend:
# PyKCS11 (tests/e2e/p11client.py, one application through the p11-kit
# client) encrypts with the token's public key, with and without an OAEP
# label, decrypts on the token and compares; a message openssl encrypted
# with the public key read through the socket decrypts on the token
# (pkcs11-tool) to the same bytes.
# shellcheck source=softhsm.sh
. "$(dirname "$0")/softhsm.sh"
bridge_init
P11C=(env E2E_CLIENT="$CLIENT_SO" "$PY" "$BRIDGE_DIR/../e2e/p11client.py" run)

bridge_keypair rsa:2048 02 oaep
run_check "PyKCS11: OAEP round trip, no label" "${P11C[@]}" "init; open; login $PIN; oaep 02"
run_check "PyKCS11: OAEP round trip with a label" "${P11C[@]}" "init; open; login $PIN; oaep 02 tokend"
run_fail "PyKCS11: no decryption without login" "${P11C[@]}" "init; open; oaep 02"

head -c 100 /dev/urandom >"$T/secret"
run_ok "openssl encrypts with the public key" openssl pkeyutl -encrypt -pubin \
	-inkey "$T/pub_02.pem" -pkeyopt rsa_padding_mode:oaep -pkeyopt rsa_oaep_md:sha256 \
	-pkeyopt rsa_mgf1_md:sha256 -in "$T/secret" -out "$T/secret.enc"
run_check "the token decrypts it (pkcs11-tool)" "${p11[@]}" --login --pin "$PIN" --decrypt --id 02 \
	-m RSA-PKCS-OAEP --hash-algorithm SHA256 --mgf MGF1-SHA256 \
	-i "$T/secret.enc" -o "$T/secret.dec"
if [ -s "$T/secret.dec" ]; then
	check "to the same bytes" cmp "$T/secret" "$T/secret.dec"
fi
check "the decryptions are audited" grep -q "AUDIT key-op export=s .* op=decrypt .*result=CKR_OK" "$LOG"
bridge_stop
finish
