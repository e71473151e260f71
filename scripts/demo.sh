#!/usr/bin/env bash
# Installs what tokend needs, builds it, and shows the virtual YubiKey to
# stock tools: Yubico's yubico-piv-tool and OpenSC's pkcs11-tool.
source "$(dirname "$0")/common.sh"
as_root "$@"

"$TOP/scripts/deps.sh"
build "$TOP/build"

export TOKEND_VCARD="$TOP/build/tests/vcard/tokend-vcard"
export TOKEND_PCSC_WAIT="$TOP/build/tests/tools/tokend-pcsc-wait"
source "$TOP/tests/harness/lib.sh"
harness_init
pcscd_ensure

READER='Virtual PCD 00 00'
OPENSC=$(find /usr/lib -name opensc-pkcs11.so -path '*/pkcs11/*' | head -n 1)

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

step "Inserting a virtual YubiKey 5 (firmware 5.7.2) into '$READER'"
# yubico-piv-tool 2.2 only speaks 3DES management keys, so the demo card
# keeps that key type (a 5.7 key ships with AES-192).
vcard_start 0 --mgm-alg 3des --serial 10000042

step "yubico-piv-tool: generate a P-256 key in 9A; import a certificate for it"
yubico-piv-tool -r "$READER" -a generate -s 9a -A ECCP256 -o "$HARNESS_TMP/pub.pem"
# yubico-piv-tool 2.2's selfsign-certificate fails with OpenSSL 3, so a
# throwaway demo CA issues the certificate for the card's public key.
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$HARNESS_TMP/ca.key"
openssl x509 -new -key "$HARNESS_TMP/ca.key" -force_pubkey "$HARNESS_TMP/pub.pem" \
	-subj '/CN=tokend demo/' -days 365 -out "$HARNESS_TMP/cert.pem"
yubico-piv-tool -r "$READER" -a import-certificate -s 9a -i "$HARNESS_TMP/cert.pem"

step "yubico-piv-tool -a status"
yubico-piv-tool -r "$READER" -a status

step "OpenSC pkcs11-tool -L -O"
pkcs11-tool --module "$OPENSC" -L
pkcs11-tool --module "$OPENSC" -O

step "OpenSC pkcs11-tool: sign with the card, verify with openssl"
printf 'hello from tokend\n' >"$HARNESS_TMP/msg"
openssl dgst -sha256 -binary "$HARNESS_TMP/msg" >"$HARNESS_TMP/msg.sha256"
pkcs11-tool --module "$OPENSC" --login --pin 123456 --sign --id 01 -m ECDSA \
	--signature-format openssl -i "$HARNESS_TMP/msg.sha256" -o "$HARNESS_TMP/sig"
openssl dgst -sha256 -verify "$HARNESS_TMP/pub.pem" -signature "$HARNESS_TMP/sig" "$HARNESS_TMP/msg"

step "Pulling the key"
vcard_stop 0
echo "done."
