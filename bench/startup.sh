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
. "$(dirname "$0")/lib.sh"
RUNS=${BENCH_RUNS:-20}

harness_init
trap harness_cleanup EXIT
harness_require yubico-piv-tool openssl
[ -x "$TOKEND" ] || fail "tokend not built: $TOKEND"
pcscd_ensure
T=$HARNESS_TMP
VC=(--mgm-alg 3des --serial 7654321 --apdu-delay-ms "$APDU_DELAY_MS" --keyop-delay-ms "$KEYOP_DELAY_MS")
vcard_start 0 "${VC[@]}"
R=$(reader_name 0)
bench_card_9a
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
