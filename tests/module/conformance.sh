#!/usr/bin/env bash
# Conformance of the module under test as stock checkers see it, after a
# login: `pkcs11-tool --test` reports no error, and every key pair's usage
# attributes agree as OpenSC's p11test usage_test demands (usage_pairs.py;
# p11test itself is not packaged by Debian). Keys: 9A P-256, 9C RSA-2048
# (PIN always), 9D P-384, 9E RSA-2048. tests/e2e/conformance.sh does the
# same through the socket.
# shellcheck source=common.sh
. "$(dirname "$0")/common.sh"
module_init --mgm-alg 3des --serial 7654321
provision 9a:ECCP256 9c:RSA2048 9d:ECCP384 9e:RSA2048

run_ok "pkcs11-tool --test --login" "${p11[@]}" --test --login --pin "$PIN"
bad=$(grep -E 'ERR|FAIL|[0-9]+ errors' "$HARNESS_OUT" || true)
[ -z "$bad" ] || fail "pkcs11-tool --test reports errors:"$'\n'"$OUT"
assert_contains "$OUT" "No errors" "pkcs11-tool --test verdict"
assert_contains "$OUT" "all 4 signature functions seem to work" "--test signatures"
assert_contains "$OUT" "RSA-PKCS-OAEP" "--test decryption with OAEP"
run_ok "usage_pairs.py" env TOKEND_READER="$R" "$PY" "$MODULE_DIR/usage_pairs.py" 4
printf '%s\n' "$OUT" >&2
vcard_stop 0
harness_log "PASS"
