#!/usr/bin/env bash
# tokend only (skipped, exit 77, for other modules): Ed25519 and X25519 keys
# generated through PKCS#11, EdDSA and X25519 derivation (curve25519.py);
# yubico-piv-tool's status agrees that 83 and 84 hold keys.
# shellcheck source=common.sh
. "$(dirname "$0")/common.sh"
module_require_tokend "Ed25519/X25519 through PKCS#11"
module_init --mgm-alg 3des
run_ok "curve25519.py" env TOKEND_READER="$R" "$PY" "$MODULE_DIR/curve25519.py" "$MGM_HEX"
printf '%s\n' "$OUT" >&2
vcard_stop 0
harness_log "PASS"
