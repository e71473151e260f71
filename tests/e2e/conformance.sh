#!/usr/bin/env bash
# Conformance through the socket (p11-kit-client.so), after a login:
# `pkcs11-tool --test` reports no error, and every key pair's usage
# attributes agree as OpenSC's p11test usage_test demands
# (tests/module/usage_pairs.py; p11test is not packaged by Debian). The
# same as tests/module/conformance.sh in-process. Keys: 9A P-256, 9C
# RSA-2048 (PIN always), 9D P-384, 9E RSA-2048.
# shellcheck source=common.sh
. "$(dirname "$0")/common.sh"
e2e_init
provision 9a:ECCP256 9c:RSA2048 9d:ECCP384 9e:RSA2048
server_start

run_ok "pkcs11-tool --test --login through the socket" "${p11[@]}" --test --login --pin "$PIN"
bad=$(grep -E 'ERR|FAIL|[0-9]+ errors' "$HARNESS_OUT" || true)
[ -z "$bad" ] || fail "pkcs11-tool --test reports errors:"$'\n'"$OUT"
assert_contains "$OUT" "No errors" "pkcs11-tool --test verdict"
assert_contains "$OUT" "all 4 signature functions seem to work" "--test signatures"
assert_contains "$OUT" "RSA-PKCS-OAEP" "--test decryption with OAEP"
run_ok "usage_pairs.py through the socket" env TOKEND_MODULE="$C" TOKEND_MODULE_KIND=other \
	"$PY" "$E2E_DIR/../module/usage_pairs.py" 4
printf '%s\n' "$OUT" >&2
server_stop
vcard_stop 0
harness_log "PASS"
