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
. "$(dirname "$0")/../harness/card_export.sh"
PIN=123456
card_export_start --client --delay --cert "tokend p11-kit client" -- pkcs11-tool
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

# SIGTERM in the middle of C_Sign: once the card says the key operation
# has begun.
ops() { grep -c '^key operation' "${HARNESS_VCARD_DIR[1]}/stderr.log" || true; }
n_ops=$(ops)
"${p11[@]}" --login --pin "$PIN" --sign --id 01 -m ECDSA \
	--signature-format openssl -i "$T/hash" -o "$T/sig2" >"$T/sign2.out" 2>&1 &
SIGNER=$!
for _ in $(seq 400); do
	[ "$(ops)" -gt "$n_ops" ] && break
	sleep 0.05
done
[ "$(ops)" -gt "$n_ops" ] || fail "the card did not begin the second signature"
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
