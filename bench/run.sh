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
SRC=$(cd "$(dirname "$0")/.." && pwd)
BUILD=$(cd "${1:-${TOKEND_BUILD_DIR:-$SRC/build}}" && pwd)
export TOKEND_BUILD_DIR=$BUILD TOKEND_SOURCE_DIR=$SRC
export TOKEND_VCARD=${TOKEND_VCARD:-$BUILD/tests/vcard/tokend-vcard}
export TOKEND_PCSC_WAIT=${TOKEND_PCSC_WAIT:-$BUILD/tests/tools/tokend-pcsc-wait}
if [ -z "${TOKEND_MODULE:-}" ]; then
	TOKEND_MODULE=$(find "$BUILD" -name tokend-pkcs11.so -not -path '*/CMakeFiles/*' 2>/dev/null | head -n 1)
	TOKEND_MODULE=${TOKEND_MODULE:-$BUILD/pkcs11/tokend-pkcs11.so}
fi
OPENSC=${TOKEND_OPENSC_MODULE:-/usr/lib/x86_64-linux-gnu/opensc-pkcs11.so}
APDU_DELAY_MS=${APDU_DELAY_MS:-4}
KEYOP_DELAY_MS=${KEYOP_DELAY_MS:-60}

# shellcheck source=../tests/harness/lib.sh
. "$SRC/tests/harness/lib.sh"
harness_init
harness_require yubico-piv-tool openssl
pcscd_ensure
vcard_start 0 --mgm-alg 3des --serial 7654321
R=$(reader_name 0)
T=$HARNESS_TMP

# One P-256 key with its certificate in 9A (OpenSC needs the certificate),
# made while the card answers without delay.
run_ok "generate P-256 in 9a" yubico-piv-tool -r "$R" -a generate -s 9a -A ECCP256 -o "$T/pub_9a.pem"
card_selfsign 0 9a "$T/pub_9a.pem" "bench 9a" "$T/cert_9a.pem"
run_ok "import certificate 9a" yubico-piv-tool -r "$R" -a import-certificate -s 9a -i "$T/cert_9a.pem"

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
