#!/usr/bin/env bash
# Stock tools through the socket, as a container uses it: Debian's
# p11-kit-client.so with P11_KIT_SERVER_ADDRESS. pkcs11-tool lists the token
# and its objects, signs with ECDSA P-256 and RSA-PSS (verified by openssl);
# GnuTLS's p11tool lists everything; OpenSSL's pkcs11 engine makes CSRs that
# verify and hold the card's keys; ssh-keygen -D lists exactly the card's
# keys; PyKCS11 decrypts RSA-OAEP.
# (p11-kit 0.24's client drops ECDSA-SHA256 and SHA256-RSA-PKCS-PSS: the
# tools hash on their side and use CKM_ECDSA / CKM_RSA_PKCS_PSS.)
# shellcheck source=common.sh disable=SC2154 # (p11 is set by server_start)
. "$(dirname "$0")/common.sh"
e2e_init
harness_require p11tool ssh-keygen
ENGINE_DIR=$(openssl version -e | sed -n 's/^ENGINESDIR: "\(.*\)"/\1/p')
[ -f "$ENGINE_DIR/pkcs11.so" ] || fail "pkcs11 engine not found in '$ENGINE_DIR' (libengine-pkcs11-openssl)"

# 9A P-256 (ID 01), 9C RSA-2048 (02, PIN always), 9D RSA-2048 (03),
# 9E RSA-2048 (04).
provision 9a:ECCP256 9c:RSA2048 9d:RSA2048 9e:RSA2048
server_start

# --- pkcs11-tool -L -O
run_ok "pkcs11-tool -L through the socket" pkcs11-tool --module "$C" -L
assert_contains "$OUT" "$R" "reader in the slot description"
assert_contains "$OUT" "login required" "token flags"
if server_is tokend "token label and serial"; then
	assert_contains "$OUT" "YubiKey PIV #7654321" "token label"
fi
run_ok "pkcs11-tool -O (login)" "${p11[@]}" --login --pin "$PIN" -O
for id in 01 02 03 04; do
	assert_contains "$OUT" "ID:         $id" "objects of ID $id"
done
assert_contains "$OUT" "Private Key Object; EC" "EC private key"
assert_contains "$OUT" "Private Key Object; RSA" "RSA private key"
assert_contains "$OUT" "Certificate Object; type = X.509 cert" "certificates"
assert_contains "$OUT" "CN=module test 9a" "certificate subject"

# --- login + sign, verified with openssl
head -c 1000 /dev/urandom >"$T/data"
openssl dgst -sha256 -binary "$T/data" >"$T/data.sha256"
run_ok "ECDSA P-256 sign" "${p11[@]}" --login --pin "$PIN" --sign --id 01 -m ECDSA \
	--signature-format openssl -i "$T/data.sha256" -o "$T/p256.sig"
run_ok "ECDSA P-256 signature verifies (openssl, certificate's key)" openssl dgst -sha256 \
	-verify <(openssl x509 -in "$T/cert_9a.pem" -noout -pubkey) -signature "$T/p256.sig" "$T/data"
run_ok "RSA-PSS sign (PIN-always key, context login)" "${p11[@]}" --login --pin "$PIN" --sign \
	--id 02 -m RSA-PKCS-PSS --hash-algorithm SHA256 --mgf MGF1-SHA256 \
	-i "$T/data.sha256" -o "$T/pss.sig"
run_ok "RSA-PSS signature verifies (openssl)" openssl dgst -sha256 -verify "$T/pub_9c.pem" \
	-sigopt rsa_padding_mode:pss -sigopt rsa_pss_saltlen:32 -sigopt rsa_mgf1_md:sha256 \
	-signature "$T/pss.sig" "$T/data"
run_fail "wrong PIN refused" "${p11[@]}" --login --pin 999999 --sign --id 01 -m ECDSA \
	-i "$T/data.sha256" -o "$T/x.sig"
assert_contains "$OUT" "CKR_PIN_INCORRECT" "wrong PIN error"

# --- p11tool
export GNUTLS_PIN=$PIN
run_ok "p11tool --list-all" p11tool --provider "$C" --list-all
assert_contains "$OUT" "Type: X.509 Certificate (EC/ECDSA-SECP256R1)" "EC certificate"
assert_contains "$OUT" "Type: X.509 Certificate (RSA-2048)" "RSA certificate"
assert_contains "$OUT" "Type: Public key (EC/ECDSA-SECP256R1)" "EC public key"
assert_contains "$OUT" "id=%01;" "ID 01"
assert_contains "$OUT" "id=%04;" "ID 04"
run_ok "p11tool --login --list-all" p11tool --provider "$C" --login --list-all
grep -q "id=%01;.*type=private" "$HARNESS_OUT" || fail "p11tool: no private key with ID 01:"$'\n'"$OUT"
TOKEN=$(grep -o 'pkcs11:[^ ]*type=cert' "$HARNESS_OUT" | grep 'id=%01;' | head -n 1 | sed 's/;id=.*//; s/;object=.*//')
[ -n "$TOKEN" ] || fail "no token URL in p11tool's listing"
run_ok "p11tool --test-sign with ID 01" p11tool --provider "$C" --login --test-sign "$TOKEN;id=%01;type=private"
assert_contains "$OUT" "Verifying against public key in the token... ok" "p11tool test-sign"

# --- OpenSSL pkcs11 engine: CSRs signed on the card
pct() { "$PY" -c 'import sys, urllib.parse; print(urllib.parse.quote(sys.argv[1], safe=""))' "$1"; }
run_ok "-L" "${p11[@]}" -L
label=$(awk '/token label/ { sub(/^[^:]*: /, ""); print; exit }' "$HARNESS_OUT")
[ -n "$label" ] || fail "no token label"
export PKCS11_MODULE_PATH=$C
for k in 9a:01 9e:04; do
	s=${k%%:*}
	id=${k#*:}
	run_ok "CSR signed with $id through the engine" openssl req -new -engine pkcs11 -keyform engine \
		-key "pkcs11:token=$(pct "$label");id=%$id;type=private;pin-value=$PIN" \
		-subj "/CN=e2e $s" -out "$T/csr_$s.pem"
	run_ok "CSR $s verifies" openssl req -in "$T/csr_$s.pem" -verify -noout
	assert_contains "$OUT" "verify OK" "CSR self-signature"
	cmp -s <(openssl req -in "$T/csr_$s.pem" -noout -pubkey | openssl pkey -pubin -outform DER) \
		<(openssl pkey -pubin -in "$T/pub_$s.pem" -outform DER) ||
		fail "CSR $s does not hold the card's public key"
done
unset PKCS11_MODULE_PATH

# --- ssh-keygen -D: exactly the card's keys (tokend also shows the
# attestation certificate of slot F9, ID 19: its key is not ours)
run_ok "ssh-keygen -D" ssh-keygen -D "$C"
grep -v 'PIV Attestation' "$HARNESS_OUT" | cut -d' ' -f1,2 | sort >"$T/listed"
: >"$T/expected"
for s in 9a 9c 9d 9e; do
	ssh-keygen -i -m PKCS8 -f "$T/pub_$s.pem" | cut -d' ' -f1,2 >>"$T/expected"
done
sort -o "$T/expected" "$T/expected"
cmp -s "$T/listed" "$T/expected" || fail "ssh-keygen -D lists other keys than the card's:"$'\n'"$(diff "$T/expected" "$T/listed")"

# --- PyKCS11: RSA-OAEP decryption with 9D, with a label (tokend; OpenSC
# behind p11-kit server answers CKR_ENCRYPTED_DATA_INVALID) and without
p11c_ok "PyKCS11 RSA-OAEP decrypt" "init; open; login $PIN; oaep 03; sign 01 3"
if server_is tokend "RSA-OAEP with a label"; then
	p11c_ok "PyKCS11 RSA-OAEP decrypt with a label" "init; open; login $PIN; oaep 03 e2e-label"
fi

server_stop
vcard_stop 0
harness_log "PASS"
