#!/usr/bin/env bash
# Secret-key crypto, random and multi-part operations through tokend's
# module bridge (crypto.py with PyKCS11 through Debian's p11-kit client):
# an HMAC key and an AES-256 key with known values are put on the SoftHSMv2
# token with SoftHSM's own module before tokend starts; then through the
# socket C_GenerateRandom, HMAC sign/verify (single- and multi-part, a
# flipped byte refused), AES multi-part against Python's `cryptography`,
# the 1 MiB cap of a multi-part operation; the same on a read-only export
# (none of it writes); RSA-OAEP with a label (a known key: the label
# reaches the encryption, and the module's answer to a labelled decryption
# comes back); AES-CBC(-PAD), whose IV Debian's 0.24 client does not send,
# with the newer client; C_DigestKey (SoftHSM digests the keys' values
# between the parts; refusals) with both clients and on the read-only
# export (it changes nothing).
# shellcheck source=softhsm.sh
. "$(dirname "$0")/softhsm.sh"

bridge_before_start() {
	run_ok "HMAC, AES and RSA keys with known values put on the token by SoftHSM itself" \
		env SOFTHSM2_CONF="$T/softhsm.conf" SOFTHSM_MODULE="$SOFTHSM" \
		CRYPTO_RSA_PEM="$T/rsa.pem" "$PY" "$BRIDGE_DIR/crypto.py" setup "$PIN"
	# a second, read-only export of the same token
	BRIDGE_MODULES+=$(printf '[export ro]\nsocket = %s\nmode = 0666\naccess = read-only\n' \
		"$T/sock-ro")$'\n\n'
}
bridge_init
crypto=("$PY" "$BRIDGE_DIR/crypto.py")

run_check "random, HMAC, multi-part, the cap, OAEP with a label (access = full)" \
	env E2E_CLIENT="$CLIENT_SO" CRYPTO_RSA_PEM="$T/rsa.pem" "${crypto[@]}" basic "$PIN"
run_check "the same through a read-only export" \
	env E2E_CLIENT="$CLIENT_SO" P11_KIT_SERVER_ADDRESS="unix:path=$T/sock-ro" \
	CRYPTO_RSA_PEM="$T/rsa.pem" "${crypto[@]}" basic "$PIN"
grep "^info:" <<<"$OUT" >&2 || true # timings
run_check "C_DigestKey: the module digests the known keys between the parts (Debian's client)" \
	env E2E_CLIENT="$CLIENT_SO" "${crypto[@]}" digestkey "$PIN"
run_check "C_DigestKey through the read-only export" \
	env E2E_CLIENT="$CLIENT_SO" P11_KIT_SERVER_ADDRESS="unix:path=$T/sock-ro" \
	"${crypto[@]}" digestkey "$PIN"

# BRIDGE_NEWER_CLIENT (ctest sets it): the 0.26.4 client's prefix
newer=${BRIDGE_NEWER_CLIENT:-}
if [ -f "$newer/lib/pkcs11/p11-kit-client.so" ]; then
	run_check "AES-CBC and AES-CBC-PAD multi-part (p11-kit 0.26.4 client)" \
		env E2E_CLIENT="$newer/lib/pkcs11/p11-kit-client.so" \
		LD_LIBRARY_PATH="$newer/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" \
		"${crypto[@]}" cbc "$PIN"
	run_check "C_DigestKey (p11-kit 0.26.4 client)" \
		env E2E_CLIENT="$newer/lib/pkcs11/p11-kit-client.so" \
		LD_LIBRARY_PATH="$newer/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" \
		"${crypto[@]}" digestkey "$PIN"
else
	fail_later "no p11-kit 0.26.4 client in '$newer' (scripts/p11kit-clients.sh BUILD_DIR)"
fi
bridge_stop
finish
