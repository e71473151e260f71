#!/usr/bin/env bash
# GnuTLS's p11tool through the p11-kit client sees a SoftHSMv2 token behind
# tokend under the module's own PKCS#11 URI (model, manufacturer, serial,
# label), and URI filters select it: 'pkcs11:token=LABEL' and the URI
# --list-tokens printed list the key pair's public key with its CKA_ID and
# label (its private key after login), a URI naming another token lists
# nothing.
# shellcheck source=softhsm.sh
. "$(dirname "$0")/softhsm.sh"
bridge_init p11tool
pt=(timeout 60 p11tool --provider "$CLIENT_SO")

bridge_keypair rsa:2048 02 rsa
run_ok "p11tool --list-tokens" "${pt[@]}" --list-tokens
check "shows the token's label" grep -q "Label: $LABEL\$" <<<"$OUT"
check "and SoftHSMv2's model and manufacturer" grep -q "model=SoftHSM%20v2;manufacturer=SoftHSM%20project;serial=[0-9a-f]*;token=$LABEL\$" <<<"$OUT"
uri=$(sed -n "s/^[[:space:]]*URL: \(pkcs11:.*token=$LABEL\)\$/\1/p" <<<"$OUT" | head -n 1)
serial=$(SOFTHSM2_CONF=$T/softhsm.conf softhsm2-util --show-slots |
	sed -n 's/^[[:space:]]*Serial number:[[:space:]]*\([0-9a-f]*\)$/\1/p' | head -n 1)
check "with the serial SoftHSMv2 itself reports" grep -q "serial=$serial;" <<<"$uri"

for filter in "pkcs11:token=$LABEL" "$uri"; do
	run_ok "p11tool --list-all '$filter'" "${pt[@]}" --list-all "$filter"
	check "lists the public key" grep -q "token=$LABEL;id=%02;object=rsa;type=public" <<<"$OUT"
	check "and no private key before login" test "$(grep -c "type=private" <<<"$OUT")" -eq 0
done
run_ok "p11tool --login --list-privkeys 'pkcs11:token=$LABEL'" env GNUTLS_PIN="$PIN" \
	"${pt[@]}" --login --list-privkeys "pkcs11:token=$LABEL"
check "lists the private key after login" grep -q "token=$LABEL;id=%02;object=rsa;type=private" <<<"$OUT"
run_fail "a URI naming another token lists nothing" "${pt[@]}" --list-all "pkcs11:token=other"
check "p11tool says so" grep -q "No matching objects found" <<<"$OUT"
run_ok "p11tool --list-all 'pkcs11:model=SoftHSM%20v2'" "${pt[@]}" --list-all "pkcs11:model=SoftHSM%20v2"
check "selects the token by the module's model" grep -q "id=%02;object=rsa;type=public" <<<"$OUT"
bridge_stop
finish
