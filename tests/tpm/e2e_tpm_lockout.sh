#!/usr/bin/env bash
# A TPM another program put into dictionary-attack lockout (tpm2-tools: a
# key without noda, wrong auth values until the TPM locks): tokend says so
# in one log line at start, and its token still works (its objects are
# noDA, so other users' failures never lock it): initialised, a key
# generated, a signature openssl verifies.
. "$(dirname "$0")/../harness/lib.sh"
. "$(dirname "$0")/../harness/swtpm.sh"
. "$(dirname "$0")/common.sh"

tpm_test_init tpm2_createprimary tpm2_sign tpm2_getcap

(
	cd "$T" || exit 1
	export TPM2TOOLS_TCTI=$TOKEND_TEST_TCTI
	tpm2_createprimary -Q -C o -g sha256 -G ecc256:aes128cfb -a \
		'restricted|decrypt|fixedtpm|fixedparent|sensitivedataorigin|userwithauth|noda' \
		-c srk.ctx && tpm2_flushcontext -t &&
		tpm2_create -Q -C srk.ctx -G ecc256 -p right -u key.pub -r key.priv &&
		tpm2_flushcontext -t &&
		tpm2_load -Q -C srk.ctx -u key.pub -r key.priv -c key.ctx &&
		tpm2_flushcontext -t || exit 1 # (no resource manager on swtpm)
	echo data >data
	for _ in $(seq 10); do
		tpm2_sign -Q -c key.ctx -p wrong -g sha256 -o sig data 2>/dev/null
		tpm2_flushcontext -t
	done
) >"$T/tpm2.log" 2>&1 || fail "tpm2-tools could not set up the lockout: $(cat "$T/tpm2.log")"
caps=$(tpm2_getcap -T "$TOKEND_TEST_TCTI" properties-variable 2>&1)
check "the TPM is in lockout" grep -q "inLockout: *1" <<<"$caps"

tpm_tokend_start locked-tpm
check "one log line says the TPM is in lockout" \
	test "$(grep -c 'is in dictionary-attack lockout' "$LOG")" -eq 1
tpm_token_setup
run_fail "a wrong PIN is refused" "${p11[@]}" --login --pin 999999 -O
run_ok "read its public key" "${p11[@]}" --read-object --type pubkey --id 01 -o "$T/ec.der"
openssl dgst -sha256 -binary "$T/tokend.conf" >"$T/hash"
run_ok "it signs while the TPM is locked out" "${p11[@]}" --login --pin 123456 --sign \
	--id 01 -m ECDSA --signature-format openssl -i "$T/hash" -o "$T/sig"
run_ok "openssl verifies it" openssl pkeyutl -verify -pubin -keyform DER \
	-inkey "$T/ec.der" -in "$T/hash" -sigfile "$T/sig"
finish
