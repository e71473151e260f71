#!/usr/bin/env bash
# APDU budget benchmark: tokend-pkcs11.so and OpenSC's opensc-pkcs11.so on the
# same virtual YubiKey (reader 'Virtual PCD 00 00'), side by side per call.
#
#   bench/run.sh [BUILD_DIR]
#
# Environment:
#   TOKEND_MODULE       tokend's module (default: found in BUILD_DIR)
#   TOKEND_OPENSC_MODULE  (default /usr/lib/x86_64-linux-gnu/opensc-pkcs11.so)
#   APDU_DELAY_MS / KEYOP_DELAY_MS   the card's latency per APDU and per key
#                       operation (default 4 / 60: a YubiKey 5's rough figures)
#   BENCH_RUNS          fresh processes per module (default 3)
#   BENCH_OUT           also write the report to this file
# TOKEND_VCARD / TOKEND_PCSC_WAIT default to BUILD_DIR's binaries.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
if [ -z "${TOKEND_MODULE:-}" ]; then
	TOKEND_MODULE=$(find "$BUILD" -name tokend-pkcs11.so -not -path '*/CMakeFiles/*' 2>/dev/null | head -n 1)
	TOKEND_MODULE=${TOKEND_MODULE:-$BUILD/pkcs11/tokend-pkcs11.so}
fi
OPENSC=${TOKEND_OPENSC_MODULE:-/usr/lib/x86_64-linux-gnu/opensc-pkcs11.so}

harness_init
harness_require yubico-piv-tool openssl
pcscd_ensure
vcard_start 0 --mgm-alg 3des --serial 7654321
R=$(reader_name 0)
T=$HARNESS_TMP

# One P-256 key with its certificate in 9A (OpenSC needs the certificate),
# made while the card answers without delay.
bench_card_9a

# Again with the latency of a real device (the state file keeps the keys).
vcard_stop 0
vcard_start 0 --mgm-alg 3des --serial 7654321 --apdu-delay-ms "$APDU_DELAY_MS" --keyop-delay-ms "$KEYOP_DELAY_MS"

report=$T/report.md
HARNESS_CMD_TIMEOUT=900 run_ok "apdu_budget.py" /usr/bin/python3 "$SRC/bench/apdu_budget.py" \
	--apdu-log "$(vcard_dir 0)/apdu.log" --pub "$T/pub_9a.pem" --reader "$R" \
	--runs "${BENCH_RUNS:-3}" \
	--module "tokend=$TOKEND_MODULE" --module "OpenSC=$OPENSC" --budget tokend \
	--note "Card: tokend-vcard (YubiKey 5.7.2 PIV), P-256 key + certificate in 9A; simulated latency ${APDU_DELAY_MS} ms per APDU, ${KEYOP_DELAY_MS} ms per key operation (rough YubiKey 5 figures)." \
	--note "Modules: tokend $TOKEND_MODULE; OpenSC $OPENSC ($(dpkg-query -W -f '${Version}' opensc-pkcs11 2>/dev/null || echo '?'))." \
	--note ""
cp "$HARNESS_OUT" "$report"
[ -z "${BENCH_OUT:-}" ] || cp "$report" "$BENCH_OUT"
vcard_stop 0
cat "$report"
