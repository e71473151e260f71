#!/usr/bin/env bash
# PyKCS11 RSA-OAEP round trip and C_Sign buffer semantics (pykcs11_oaep.py).
# shellcheck source=common.sh
. "$(dirname "$0")/common.sh"
module_init --mgm-alg 3des
provision 9a:RSA2048 9d:RSA2048 9e:ECCP256
run_ok "pykcs11_oaep.py" env TOKEND_READER="$R" TOKEND_APDU_LOG="$(vcard_dir 0)/apdu.log" \
	"$PY" "$MODULE_DIR/pykcs11_oaep.py" "$T/pub_9a.pem" "$T/pub_9d.pem" "$T/pub_9e.pem"
printf '%s\n' "$OUT" >&2
vcard_stop 0
harness_log "PASS"
