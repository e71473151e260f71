#!/usr/bin/env bash
# Two (and more) clients behind one socket, each its own process and
# connection: one's login never lets another sign, one's C_Finalize never
# disturbs another, a client killed mid-session leaves a clean token
# (isolation.py); one that is not logged in sees no private object, by
# search or by handle, whatever another is logged in. With tokend the exact
# codes are demanded (CKR_USER_NOT_LOGGED_IN, CKR_*_HANDLE_INVALID).
# shellcheck source=common.sh
. "$(dirname "$0")/common.sh"
e2e_init
provision 9a:ECCP256
printf '\x01\x05Alice' >"$T/printed.bin"
run_ok "write Printed Information (a private data object)" "${ypt[@]}" -a write-object \
	--id 0x5FC109 -f binary -i "$T/printed.bin"
server_start
strict=0
[ "$E2E_SERVER" = tokend ] && strict=1
HARNESS_CMD_TIMEOUT=240 run_ok "isolation.py" env E2E_STRICT=$strict "$PY" "$E2E_DIR/isolation.py"
printf '%s\n' "$OUT" >&2
server_stop
vcard_stop 0
harness_log "PASS"
