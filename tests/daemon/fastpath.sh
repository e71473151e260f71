#!/usr/bin/env bash
# Faster round trips: on ONE connection through Debian's p11-kit-client.so,
# a signature that takes the virtual card 2 s does not hold up attribute
# reads, searches and info calls of another session (fastpath.py asserts
# the order); the signature verifies with openssl. The card sits in reader
# 1 and the export shows only its token.
. "$(dirname "$0")/../harness/lib.sh"

CLIENT_SO=/usr/lib/x86_64-linux-gnu/pkcs11/p11-kit-client.so
: "${TOKEND:?TOKEND must name the tokend binary}"
if [ ! -f "$CLIENT_SO" ]; then
	echo "SKIP: $CLIENT_SO missing (apt-get install p11-kit-modules)"
	exit 77
fi

TOKEND_PID=
fastpath_cleanup() {
	local rc=$?
	set +e
	if [ -n "$TOKEND_PID" ] && kill -0 "$TOKEND_PID" 2>/dev/null; then
		kill -KILL "$TOKEND_PID" 2>/dev/null
		wait "$TOKEND_PID" 2>/dev/null
	fi
	(exit "$rc")
	harness_cleanup
}

harness_init
trap fastpath_cleanup EXIT
harness_require yubico-piv-tool openssl
pcscd_ensure
vcard_start 1 --mgm-alg 3des --keyop-delay-ms 2000
R=$(reader_name 1)
T=$HARNESS_TMP

run_ok "generate P-256 in 9a" yubico-piv-tool -r "$R" -a generate -s 9a \
	-A ECCP256 -o "$T/pub.pem"
card_selfsign 1 9a "$T/pub.pem" "tokend fast path" "$T/cert.pem"
run_ok "import the certificate" yubico-piv-tool -r "$R" -a import-certificate \
	-s 9a -i "$T/cert.pem"

SERIAL=$(yubico-piv-tool -r "$R" -a status | awk '/^Serial Number/ { print $NF }')
[ -n "$SERIAL" ] || fail "no serial number from yubico-piv-tool status"
cat >"$T/tokend.conf" <<CONF
[export test]
socket = $T/tokend.sock
mode = 0666
tokens = pkcs11:serial=$SERIAL
CONF
"$TOKEND" -f -c "$T/tokend.conf" 2>"$T/tokend.log" &
TOKEND_PID=$!
for _ in $(seq 100); do
	grep -q "tokend ready" "$T/tokend.log" && break
	sleep 0.05
done
grep -q "tokend ready" "$T/tokend.log" || fail "tokend did not start"

export P11_KIT_SERVER_ADDRESS="unix:path=$T/tokend.sock"
run_ok "another session's reads overtake a slow signature" timeout 120 \
	/usr/bin/python3 "$(dirname "$0")/fastpath.py" "$CLIENT_SO" "$T"
harness_log "$OUT"
run_ok "the signature verifies with the card's public key" openssl pkeyutl \
	-verify -pubin -inkey "$T/pub.pem" -in "$T/fast.hash" \
	-sigfile "$T/fast.sig"
harness_log "fastpath: all passed"
