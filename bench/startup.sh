#!/usr/bin/env bash
# Start-up and footprint (startup.py): time from exec to READY=1 on
# systemd's notify socket, with one virtual YubiKey present and with none,
# the time until that card has been read, and tokend's RSS once idle, over
# BENCH_RUNS runs each. amd64 figures; qemu-user runs are no performance
# figures. Prints a markdown table.
#
#   tests/harness/private_pcscd.sh bench/startup.sh [BUILD_DIR]
#
# Environment:
#   TOKEND           tokend binary (BUILD_DIR's)
#   BENCH_RUNS       runs per case (default 20)
#   APDU_DELAY_MS / KEYOP_DELAY_MS   card latency (default 4 / 60: rough YubiKey 5)
#   BENCH_OUT        also write the table to this file
set -euo pipefail
SRC=$(cd "$(dirname "$0")/.." && pwd)
BUILD=$(cd "${1:-${TOKEND_BUILD_DIR:-$SRC/build}}" && pwd)
export TOKEND_BUILD_DIR=$BUILD TOKEND_SOURCE_DIR=$SRC
export TOKEND_VCARD=${TOKEND_VCARD:-$BUILD/tests/vcard/tokend-vcard}
export TOKEND_PCSC_WAIT=${TOKEND_PCSC_WAIT:-$BUILD/tests/tools/tokend-pcsc-wait}
TOKEND=${TOKEND:-$BUILD/daemon/tokend}
RUNS=${BENCH_RUNS:-20}
APDU_DELAY_MS=${APDU_DELAY_MS:-4}
KEYOP_DELAY_MS=${KEYOP_DELAY_MS:-60}

# shellcheck source=../tests/harness/lib.sh
. "$SRC/tests/harness/lib.sh"
harness_init
trap harness_cleanup EXIT
harness_require yubico-piv-tool openssl
[ -x "$TOKEND" ] || fail "tokend not built: $TOKEND"
pcscd_ensure
T=$HARNESS_TMP
VC=(--mgm-alg 3des --serial 7654321 --apdu-delay-ms "$APDU_DELAY_MS" --keyop-delay-ms "$KEYOP_DELAY_MS")
vcard_start 0 "${VC[@]}"
R=$(reader_name 0)
run_ok "generate P-256 in 9a" yubico-piv-tool -r "$R" -a generate -s 9a -A ECCP256 -o "$T/pub_9a.pem"
card_selfsign 0 9a "$T/pub_9a.pem" "bench 9a" "$T/cert_9a.pem"
run_ok "import certificate 9a" yubico-piv-tool -r "$R" -a import-certificate -s 9a -i "$T/cert_9a.pem"
printf '[tokend]\nlog-level = notice\n\n[export bench]\nsocket = %s/tokend.sock\nmode = 0666\n' "$T" >"$T/tokend.conf"

report=$T/report.md
S=(/usr/bin/python3 "$SRC/bench/startup.py" --tokend "$TOKEND" --config "$T/tokend.conf" --runs "$RUNS")
{
	echo "tokend start-up: exec to READY=1 (NOTIFY_SOCKET), $RUNS runs per case, $(uname -m), $(nproc) CPUs; card: tokend-vcard (YubiKey 5.7.2 PIV, P-256 key + certificate in 9A) in vpcd, $APDU_DELAY_MS ms per APDU."
	echo
	"${S[@]}" --case x --header
	"${S[@]}" --case "one card present" --card
} >"$report"
vcard_stop 0
"${S[@]}" --case "no card" >>"$report"
[ -z "${BENCH_OUT:-}" ] || cp "$report" "$BENCH_OUT"
cat "$report"
