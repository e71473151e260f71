#!/usr/bin/env bash
# 8 threads sign concurrently through the module under test (threads.py,
# through ctypes so that the calls really overlap).
# shellcheck source=common.sh
. "$(dirname "$0")/common.sh"
module_init --mgm-alg 3des
provision 9a:ECCP256
HARNESS_CMD_TIMEOUT=180 run_ok "threads.py" env TOKEND_READER="$R" "$PY" "$MODULE_DIR/threads.py" "$T/pub_9a.pem"
printf '%s\n' "$OUT" >&2
vcard_stop 0
harness_log "PASS"
