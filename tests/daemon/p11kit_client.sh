#!/usr/bin/env bash
# The whole path once: Debian's stock p11-kit-client.so -> tokend's socket ->
# front end -> PIV driver -> pcscd -> the virtual YubiKey. pkcs11-tool lists
# the token and its objects, logs in and signs with the P-256 key in 9A; the
# signature verifies with openssl; the audit log has the login and the
# signature. SIGTERM while a signature is being made (the virtual card
# takes 2 s per key operation): the request finishes and its reply goes
# out before tokend closes the connection and exits with status 0.
# (tests/e2e has the broad suite; this one proves the path.) The card sits
# in reader 1 and the export shows only that reader's token, so a card in
# reader 0 does not get in the way.
. "$(dirname "$0")/../harness/lib.sh"

CLIENT_SO=/usr/lib/x86_64-linux-gnu/pkcs11/p11-kit-client.so
PIN=123456
: "${TOKEND:?TOKEND must name the tokend binary}"
if [ ! -f "$CLIENT_SO" ]; then
	echo "SKIP: $CLIENT_SO missing (apt-get install p11-kit-modules)"
	exit 77
fi

TOKEND_PID=
p11kit_cleanup() {
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

harness_init
trap p11kit_cleanup EXIT
harness_require yubico-piv-tool pkcs11-tool openssl
pcscd_ensure
vcard_start 1 --mgm-alg 3des --keyop-delay-ms 2000
R=$(reader_name 1)
T=$HARNESS_TMP

# A P-256 key in 9A with a certificate made on the card.
run_ok "generate P-256 in 9a" yubico-piv-tool -r "$R" -a generate -s 9a \
	-A ECCP256 -o "$T/pub.pem"
card_selfsign 1 9a "$T/pub.pem" "tokend p11-kit client" "$T/cert.pem"
run_ok "import the certificate" yubico-piv-tool -r "$R" -a import-certificate \
	-s 9a -i "$T/cert.pem"

SERIAL=$(yubico-piv-tool -r "$R" -a status | awk '/^Serial Number/ { print $NF }')
[ -n "$SERIAL" ] || fail "no serial number from yubico-piv-tool status"
cat >"$T/tokend.conf" <<EOF
[export test]
socket = $T/tokend.sock
mode = 0666
tokens = pkcs11:serial=$SERIAL
EOF
"$TOKEND" -f -c "$T/tokend.conf" 2>"$T/tokend.log" &
TOKEND_PID=$!
for _ in $(seq 100); do
	grep -q "tokend ready" "$T/tokend.log" && break
	sleep 0.05
done
grep -q "tokend ready" "$T/tokend.log" || fail "tokend did not start"

export P11_KIT_SERVER_ADDRESS="unix:path=$T/tokend.sock"
p11=(timeout 60 pkcs11-tool --module "$CLIENT_SO")

out=$("${p11[@]}" -L 2>&1) || fail "pkcs11-tool -L: $out"
assert_contains "$out" "token initialized" "-L shows the token"
harness_log "slots: $(printf '%s' "$out" | grep -c '^Slot') slot(s)"

out=$("${p11[@]}" -O 2>&1) || fail "pkcs11-tool -O: $out"
assert_contains "$out" "Certificate Object" "-O lists the certificate"
assert_contains "$out" "Public Key Object; EC" "-O lists the public key"

printf 'signed through tokend\n' >"$T/data"
openssl dgst -sha256 -binary "$T/data" >"$T/hash"
run_ok "sign with 9a (CKM_ECDSA) through the socket" "${p11[@]}" --login \
	--pin "$PIN" --sign --id 01 -m ECDSA --signature-format openssl \
	-i "$T/hash" -o "$T/sig"
run_ok "the signature verifies with the card's public key" openssl pkeyutl \
	-verify -pubin -inkey "$T/pub.pem" -in "$T/hash" -sigfile "$T/sig"

assert_contains "$(cat "$T/tokend.log")" "AUDIT login export=test uid=0" \
	"the login is audited"
grep -Eq "AUDIT key-op export=test uid=0 gid=0 pid=[0-9]+ token=.* op=sign key-id=01 .*mech=CKM_ECDSA result=CKR_OK" \
	"$T/tokend.log" || fail "the signature is audited with key id and mechanism"
! grep -q "$PIN" "$T/tokend.log" || fail "the PIN appears in tokend's log"

# Replies in completion order: C_GetInfo overtakes a slow C_Sign on the
# same connection.
run_ok "replies go out in completion order" /usr/bin/python3 \
	"$(dirname "$0")/raw_client.py" order "$T/tokend.sock" "$PIN"
harness_log "$OUT"

# SIGTERM in the middle of C_Sign.
"${p11[@]}" --login --pin "$PIN" --sign --id 01 -m ECDSA \
	--signature-format openssl -i "$T/hash" -o "$T/sig2" >"$T/sign2.out" 2>&1 &
SIGNER=$!
for _ in $(seq 200); do
	[ "$(grep -c 'AUDIT login' "$T/tokend.log")" -ge 3 ] && break
	sleep 0.05
done
sleep 0.5
kill -TERM "$TOKEND_PID"
rc=0
wait "$TOKEND_PID" || rc=$?
TOKEND_PID=
src=0
wait "$SIGNER" || src=$?
harness_log "signer exit status $src (after the signature, its connection was closed)"
assert_eq 0 "$rc" "tokend exits 0 on SIGTERM"
assert_contains "$(cat "$T/tokend.log")" "stopped" "tokend logged its stop"
run_ok "the signature in flight at SIGTERM was delivered and verifies" \
	openssl pkeyutl -verify -pubin -inkey "$T/pub.pem" -in "$T/hash" \
	-sigfile "$T/sig2"
stop_line=$(grep -n "stopping" "$T/tokend.log" | head -1 | cut -d: -f1)
sign_line=$(grep -n "AUDIT key-op" "$T/tokend.log" | tail -1 | cut -d: -f1)
[ "$sign_line" -gt "$stop_line" ] ||
	fail "the second signature was not in flight at SIGTERM (timing)"
harness_log "p11kit_client: all passed"
