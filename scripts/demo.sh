#!/usr/bin/env bash
# Installs what tokend needs, builds it, and uses the virtual YubiKey through
# tokend's PKCS#11 module with stock tools.
source "$(dirname "$0")/common.sh"
as_root "$@"

"$TOP/scripts/deps.sh"
build "$TOP/build"

export TOKEND_VCARD="$TOP/build/tests/vcard/tokend-vcard"
export TOKEND_PCSC_WAIT="$TOP/build/tests/tools/tokend-pcsc-wait"
source "$TOP/tests/harness/lib.sh"
harness_init
pcscd_ensure

IDX=${DEMO_READER:-0}
MODULE="$TOP/build/pkcs11/tokend-pkcs11.so"
T=$HARNESS_TMP
# The YubiKey factory management key; on firmware 5.7 it is an AES-192 key.
MGM=010203040506070801020304050607080102030405060708

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
p11() { pkcs11-tool --module "$MODULE" "$@"; }

step "Inserting a virtual YubiKey 5 (firmware 5.7.2) into '$(reader_name "$IDX")'"
vcard_start "$IDX" --serial 10000042

step "pkcs11-tool -L: the card as a PKCS#11 token"
p11 -L

step "Generating a P-256 key in PIV slot 9A (CKA_ID 01), logged in with the management key"
p11 --login --login-type so --so-pin "$MGM" --keypairgen --key-type EC:prime256v1 \
	--id 01
p11 --read-object --type pubkey --id 01 -o "$T/pub.der"
openssl pkey -pubin -inform DER -in "$T/pub.der" -out "$T/pub.pem"

step "pkcs11-tool -O"
p11 -O

step "Signing with the card; openssl verifies"
printf 'hello from tokend\n' >"$T/msg"
LOG="$(vcard_dir "$IDX")/apdu.log"
before=$(wc -l <"$LOG")
p11 --login --pin 123456 --sign --id 01 -m ECDSA-SHA256 --signature-format openssl \
	-i "$T/msg" -o "$T/sig"
openssl dgst -sha256 -verify "$T/pub.pem" -signature "$T/sig" "$T/msg"

echo "That program (load, find the key, log in, sign, finalize) cost the card" \
	"$(($(wc -l <"$LOG") - before)) APDUs."

step "Pulling the key"
vcard_stop "$IDX"
echo "done."
