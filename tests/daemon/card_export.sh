# shellcheck shell=bash disable=SC2034 # (variables for the scripts that source this)
# Shared by p11kit_client.sh and fastpath.sh: the virtual card in reader 1
# (2 s per key operation) with a P-256 key and a self-signed certificate in
# 9A, and tokend with one export showing only that card's token.
#
#   . "$(dirname "$0")/card_export.sh"
#   card_export_start "certificate subject" COMMAND...
#
# Afterwards: $T, $R (the reader), $T/pub.pem, $T/tokend.log, $T/tokend.sock
# (exported as P11_KIT_SERVER_ADDRESS), $TOKEND_PID, $CLIENT_SO (Debian's
# p11-kit-client.so). tokend is killed at exit if still running.
. "$(dirname "${BASH_SOURCE[0]}")/../harness/lib.sh"

CLIENT_SO=/usr/lib/x86_64-linux-gnu/pkcs11/p11-kit-client.so
: "${TOKEND:?TOKEND must name the tokend binary}"
if [ ! -f "$CLIENT_SO" ]; then
	echo "SKIP: $CLIENT_SO missing (apt-get install p11-kit-modules)"
	exit 77
fi

TOKEND_PID=
card_export_cleanup() {
	local rc=$?
	# (exit "$rc") below hands harness_cleanup the status; under set -e it
	# would end the trap instead.
	set +e
	if [ -n "$TOKEND_PID" ] && kill -0 "$TOKEND_PID" 2>/dev/null; then
		kill -KILL "$TOKEND_PID" 2>/dev/null
		wait "$TOKEND_PID" 2>/dev/null
	fi
	(exit "$rc")
	harness_cleanup
}

card_export_start() {
	local subject=$1 serial
	shift
	harness_init
	trap card_export_cleanup EXIT
	harness_require yubico-piv-tool openssl "$@"
	pcscd_ensure
	vcard_start 1 --mgm-alg 3des --keyop-delay-ms 2000
	R=$(reader_name 1)
	T=$HARNESS_TMP

	run_ok "generate P-256 in 9a" yubico-piv-tool -r "$R" -a generate -s 9a \
		-A ECCP256 -o "$T/pub.pem"
	card_selfsign 1 9a "$T/pub.pem" "$subject" "$T/cert.pem"
	run_ok "import the certificate" yubico-piv-tool -r "$R" -a import-certificate \
		-s 9a -i "$T/cert.pem"

	serial=$(yubico-piv-tool -r "$R" -a status | awk '/^Serial Number/ { print $NF }')
	[ -n "$serial" ] || fail "no serial number from yubico-piv-tool status"
	cat >"$T/tokend.conf" <<CONF
[export test]
socket = $T/tokend.sock
mode = 0666
tokens = pkcs11:serial=$serial
CONF
	"$TOKEND" -f -c "$T/tokend.conf" 2>"$T/tokend.log" &
	TOKEND_PID=$!
	local _
	for _ in $(seq 100); do
		grep -q "tokend ready" "$T/tokend.log" && break
		sleep 0.05
	done
	grep -q "tokend ready" "$T/tokend.log" || fail "tokend did not start"
	export P11_KIT_SERVER_ADDRESS="unix:path=$T/tokend.sock"
}
