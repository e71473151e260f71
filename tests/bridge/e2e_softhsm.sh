#!/usr/bin/env bash
# A SoftHSMv2 token shared through tokend's socket: [module softhsm] in the
# config, Debian's p11-kit-client.so in the client. pkcs11-tool lists the
# token under SoftHSMv2's own identity, logs in, generates an EC P-256 key
# pair (access = full) and signs; openssl verifies the signature with the
# public key read back through the socket. A second client that does not log
# in cannot sign; a client's wrong PIN is refused and does not log the
# first one out. kill -9 of the module's helper after a key generation and a
# signature: the token goes, comes back in the same slot within seconds and
# signs again after a new login, while a second module's token keeps
# serving a client that signs throughout. (The first run of this path found
# tokend crashing at C_Login: the pin guard's counter query; the kill found
# the token never coming back.) A token made with softhsm2-util while
# tokend runs shows up (SoftHSMv2 shows it only to a fresh process).
# shellcheck source=softhsm.sh
. "$(dirname "$0")/softhsm.sh"
# A second module (its own helper) whose token must not notice the kill.
bridge_before_start() {
	bridge_softhsm_token other other 1111
}
bridge_init
for _ in $(seq 100); do
	out=$("${p11[@]}" -T 2>/dev/null) || true
	grep -q "label *: other" <<<"$out" && break
	sleep 0.1
done

out=$("${p11[@]}" -T 2>&1) || fail "pkcs11-tool -T: $out"
check "the token shows SoftHSMv2's own identity" grep -q "model *: SoftHSM v2" <<<"$out"
check "and its label" grep -q "token label *: gateway" <<<"$out"

run_ok "EC P-256 key pair generated through the socket" "${p11[@]}" --token-label gateway --login --pin 1234 \
	--keypairgen --key-type EC:prime256v1 --id 01 --label k1
printf 'signed through the module bridge\n' >"$T/data"
openssl dgst -sha256 -binary "$T/data" >"$T/hash"
run_ok "sign with the new key" "${p11[@]}" --token-label gateway --login --pin 1234 --sign --id 01 -m ECDSA \
	--signature-format openssl -i "$T/hash" -o "$T/sig"
run_ok "read the public key" "${p11[@]}" --token-label gateway --read-object --type pubkey --id 01 -o "$T/pub.der"
run_ok "openssl verifies the signature" openssl pkeyutl -verify -pubin -keyform DER \
	-inkey "$T/pub.der" -in "$T/hash" -sigfile "$T/sig"
check "the signature is audited" grep -q "AUDIT key-op export=s .* op=sign key-id=01 .*result=CKR_OK" "$LOG"

# The application's key-generation template reaches the module whole (its
# label: tokend's own template had none), and the key signs (openssl
# verifies).
run_ok "RSA-2048 key pair with a label" "${p11[@]}" --token-label gateway --login --pin 1234 \
	--keypairgen --key-type rsa:2048 --id 0b --label mylabel --usage-sign
run_ok "list it" "${p11[@]}" --token-label gateway --login --pin 1234 -O --id 0b
check "the key has the application's label" grep -q "label: *mylabel" <<<"$OUT"
check "  ... and 2048 bits" grep -q "RSA 2048 bits" <<<"$OUT"
run_ok "sign with it (SHA256-RSA-PKCS)" "${p11[@]}" --token-label gateway --login --pin 1234 \
	--sign --id 0b -m SHA256-RSA-PKCS -i "$T/data" -o "$T/rsig"
run_ok "its public key" "${p11[@]}" --token-label gateway --read-object --type pubkey \
	--id 0b -o "$T/rpub.der"
run_ok "openssl verifies the RSA signature" openssl dgst -sha256 -keyform DER \
	-verify "$T/rpub.der" -signature "$T/rsig" "$T/data"

out=$("${p11[@]}" --token-label gateway --sign --id 01 -m ECDSA -i "$T/hash" -o "$T/sig2" 2>&1) &&
	fail "a client that did not log in signed: $out"
check "a client that did not log in cannot sign" test ! -s "$T/sig2"
out=$("${p11[@]}" --token-label gateway --login --pin 9999 -O 2>&1) && fail "a wrong PIN was accepted: $out"
check "a wrong PIN is refused" grep -q "CKR_PIN_INCORRECT" <<<"$out"

check "the module runs in a helper process of tokend's" \
	test -n "$(pgrep -P "$TOKEND_PID" -f tokend-module-helper)"

# ---- kill -9 of the helper after the key generation and signatures ----
# The helper of [module softhsm]: the one whose environment has its conf
# (not a probe: SoftHSMv2 shows new tokens only to a fresh process, so the
# driver starts one every few seconds).
helper_of() { # conf
	local p e
	for p in $(pgrep -P "$TOKEND_PID" -f tokend-module-helper); do
		e=$( (tr '\0' '\n' <"/proc/$p/environ") 2>/dev/null) || continue
		grep -qx "SOFTHSM2_CONF=$1" <<<"$e" &&
			! grep -q "^TOKEND_MODULE_PROBE=" <<<"$e" && echo "$p"
	done
	return 0
}
slot_of() { # label: "Slot N (0xID)" of the token with that label, or nothing
	# (a listing taken while a token arrives may fail: then none)
	{ "${p11[@]}" -T 2>/dev/null || true; } | awk -v l="$1" \
		'/^Slot /{s=$3} /token label/{sub(/^[^:]*: /,""); if ($0==l) print s}'
}
slot=$(slot_of gateway)
check "the token has a slot before the kill" test -n "$slot"
other_slot=$(slot_of other)
check "the second module's token has a slot" test -n "$other_slot"
run_ok "EC P-256 key pair on the second module's token" "${p11[@]}" --token-label other --login --pin 1111 \
	--keypairgen --key-type EC:prime256v1 --id 07 --label o1
# A client of the other token signs throughout the kill and the restart.
(
	end=$((SECONDS + 8)) n=0
	while [ "$SECONDS" -lt "$end" ]; do
		"${p11[@]}" --token-label other --login --pin 1111 --sign --id 07 -m ECDSA -i "$T/hash" \
			-o "$T/osig" >/dev/null 2>&1 || { echo "fail after $n" >"$T/other.out"; exit 1; }
		n=$((n + 1))
	done
	echo "ok $n" >"$T/other.out"
) &
OTHER_PID=$!
hp=$(helper_of "$T/softhsm.conf")
check "the softhsm module's helper is found" test -n "$hp"
left=$(grep -c "token left 'module:softhsm:" "$LOG" || true)
kill -9 "$hp"
# The token is back within about a second: its departure is read in the
# log (a client's poll could miss it on a loaded machine).
gone=0
for _ in $(seq 100); do
	[ "$(grep -c "token left 'module:softhsm:" "$LOG" || true)" -gt "$left" ] && { gone=1; break; }
	sleep 0.05
done
check "the token is withdrawn when its helper dies" test "$gone" = 1
t0=$SECONDS back=
for _ in $(seq 100); do
	back=$(slot_of gateway)
	[ -n "$back" ] && break
	sleep 0.1
done
check "the token comes back within 10 s (after $((SECONDS - t0)) s)" test -n "$back"
check "in the same slot ($slot, now ${back:-none})" test "$back" = "$slot"
nhp=$(helper_of "$T/softhsm.conf")
check "a new helper serves it" test -n "$nhp" -a "$nhp" != "$hp"
rm -f "$T/sig"
run_ok "a new login signs after the restart" "${p11[@]}" --token-label gateway --login --pin 1234 --sign --id 01 \
	-m ECDSA --signature-format openssl -i "$T/hash" -o "$T/sig"
run_ok "openssl verifies the signature made after the restart" openssl pkeyutl -verify \
	-pubin -keyform DER -inkey "$T/pub.der" -in "$T/hash" -sigfile "$T/sig"
wait "$OTHER_PID" || true
check "the other module's token kept signing ($(cat "$T/other.out" 2>/dev/null))" \
	grep -q "^ok [1-9]" "$T/other.out"
check "its helper was not restarted" test "$(helper_of "$T/other.conf" | wc -l)" = 1

# A token made with softhsm2-util while tokend runs shows up within seconds.
SOFTHSM2_CONF=$T/softhsm.conf run_ok "softhsm2-util --init-token while tokend runs" \
	softhsm2-util --init-token --free --label later --pin 4321 --so-pin 5678
t0=$SECONDS later=
for _ in $(seq 100); do
	later=$(slot_of later)
	[ -n "$later" ] && break
	sleep 0.1
done
check "the new token shows up within 10 s (after $((SECONDS - t0)) s)" test -n "$later"
run_ok "the new token takes a key pair" "${p11[@]}" --token-label later --login --pin 4321 \
	--keypairgen --key-type EC:prime256v1 --id 09 --label l1
check "the first token is still there, in its slot" test "$(slot_of gateway)" = "$slot"
check "tokend is still running" kill -0 "$TOKEND_PID"
bridge_stop
finish
