# shellcheck shell=bash disable=SC2034 # (variables for the scripts that source this)
# Shared by the card benchmarks: where the build is (the script's first
# argument, else TOKEND_BUILD_DIR, else build/), the programs in it, a
# YubiKey-like latency for the virtual card, and the test harness.
SRC=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD=$(cd "${1:-${TOKEND_BUILD_DIR:-$SRC/build}}" && pwd)
export TOKEND_BUILD_DIR=$BUILD TOKEND_SOURCE_DIR=$SRC
export TOKEND_VCARD=${TOKEND_VCARD:-$BUILD/tests/vcard/tokend-vcard}
export TOKEND_PCSC_WAIT=${TOKEND_PCSC_WAIT:-$BUILD/tests/tools/tokend-pcsc-wait}
TOKEND=${TOKEND:-$BUILD/daemon/tokend}
APDU_DELAY_MS=${APDU_DELAY_MS:-4}
KEYOP_DELAY_MS=${KEYOP_DELAY_MS:-60}

# shellcheck source=../tests/harness/lib.sh
. "$SRC/tests/harness/lib.sh"

# bench_card_9a: a P-256 key and a self-signed certificate in 9A of the
# card in reader 0 ($R), the public key in $T/pub_9a.pem.
bench_card_9a() {
	run_ok "generate P-256 in 9a" yubico-piv-tool -r "$R" -a generate -s 9a -A ECCP256 -o "$T/pub_9a.pem"
	card_selfsign 0 9a "$T/pub_9a.pem" "bench 9a" "$T/cert_9a.pem"
	run_ok "import certificate 9a" yubico-piv-tool -r "$R" -a import-certificate -s 9a -i "$T/cert_9a.pem"
}
