#!/usr/bin/env bash
# Another program (yubico-piv-tool: status, VERIFY, read a certificate) uses
# the card between two signatures of one PyKCS11 session, which does not log
# in again; both signatures verify (other_program.py).
# shellcheck source=common.sh
. "$(dirname "$0")/common.sh"
module_init --mgm-alg 3des
provision 9a:ECCP256
ypt_cmd="yubico-piv-tool -r '$R'"
run_ok "other_program.py" env TOKEND_READER="$R" "$PY" "$MODULE_DIR/other_program.py" "$T/pub_9a.pem" \
	"$ypt_cmd -a status" "$ypt_cmd -a verify-pin -P $PIN" "$ypt_cmd -a read-certificate -s 9a"
printf '%s\n' "$OUT" >&2
vcard_stop 0
harness_log "PASS"
