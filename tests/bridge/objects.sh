#!/usr/bin/env bash
# Object calls through tokend on a SoftHSMv2 token (objects.py, PyKCS11
# through Debian's p11-kit client): an RSA-2048 key and its certificate
# made by openssl imported with C_CreateObject, a signature with the key
# checked by openssl against the certificate; C_CopyObject and
# C_SetAttributeValue seen by another connection; CKA_MODIFIABLE and
# CKA_COPYABLE as the module keeps them; C_WrapKey / C_UnwrapKey
# of AES keys; a session object of connection A invisible and unusable to
# B and gone once A dropped; a read-only export refusing every write.
# shellcheck source=softhsm.sh
. "$(dirname "$0")/softhsm.sh"
bridge_before_start() {
	BRIDGE_EXPORTS=$(printf '[export ro]\nsocket = %s/ro.sock\nmode = 0666\naccess = read-only\n' "$T")
}
bridge_init
export E2E_CLIENT=$CLIENT_SO
obj=(timeout 120 "$PY" "$BRIDGE_DIR/objects.py")

run_ok "openssl makes an RSA-2048 key" openssl genpkey -algorithm RSA \
	-pkeyopt rsa_keygen_bits:2048 -out "$T/key.pem"
run_ok "and a certificate for it" openssl req -x509 -new -key "$T/key.pem" \
	-subj /CN=tokend-objects -days 2 -outform DER -out "$T/cert.der"
run_ok "the certificate's public key" openssl x509 -inform DER -in "$T/cert.der" \
	-pubkey -noout -out "$T/cert_pub.pem"
head -c 1000 /dev/urandom >"$T/data"

run_check "C_CreateObject: the key and its certificate, a signature with the key" \
	"${obj[@]}" import "$PIN" "$T/key.pem" "$T/cert.der" "$T/data" "$T/sig"
if [ -s "$T/sig" ]; then
	run_check "openssl verifies the signature against the certificate" \
		openssl dgst -sha256 -verify "$T/cert_pub.pem" -signature "$T/sig" "$T/data"
fi
run_check "pkcs11-tool lists the imported key and certificate" "${p11[@]}" --login \
	--pin "$PIN" -O
check "(the key)" grep -q "label: *imported$" <<<"$OUT"
check "(the certificate)" grep -q "label: *imported-cert" <<<"$OUT"

run_check "C_CopyObject and C_SetAttributeValue" "${obj[@]}" copyset "$PIN"
run_check "another connection sees the copy and the new label" \
	"${obj[@]}" labels "$PIN" aes-copy aes-renamed
run_check "CKA_MODIFIABLE and CKA_COPYABLE as SoftHSMv2 keeps them" \
	"${obj[@]}" flags "$PIN"

# Debian's p11-kit 0.24.1 client refuses to send CKM_AES_CBC's IV
# (CKR_MECHANISM_INVALID before tokend sees the call): the newest client
# wraps, and unwraps on the read-only export
new_client=${OBJECTS_CLIENT_PREFIX:?}/lib/pkcs11/p11-kit-client.so
[ -f "$new_client" ] || fail "p11-kit client not built ($new_client): run scripts/p11kit-clients.sh BUILD_DIR"
E2E_CLIENT=$new_client LD_LIBRARY_PATH=$OBJECTS_CLIENT_PREFIX/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH} \
	run_check "C_WrapKey and C_UnwrapKey" "${obj[@]}" wrap "$PIN"

# connection A holds a session key; B may not see nor touch it
rm -f "$T/a.handle" "$T/a.go"
"${obj[@]}" hold "$PIN" a-secret "$T/a.handle" "$T/a.go" >"$T/a.log" 2>&1 &
apid=$!
for _ in $(seq 300); do
	[ -s "$T/a.handle" ] && break
	sleep 0.1
done
[ -s "$T/a.handle" ] || fail "connection A made no session key ($(cat "$T/a.log"))"
run_check "B cannot find, read, use, copy nor change A's session key" \
	"${obj[@]}" intrude "$PIN" a-secret "$(cat "$T/a.handle")"
touch "$T/a.go"
wait "$apid" || fail "connection A failed ($(cat "$T/a.log"))"
run_check "after A dropped, a fresh connection finds no key a-secret" \
	"${obj[@]}" count "$PIN" a-secret 0

E2E_CLIENT=$new_client LD_LIBRARY_PATH=$OBJECTS_CLIENT_PREFIX/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH} \
	P11_KIT_SERVER_ADDRESS=unix:path=$T/ro.sock run_check \
	"a read-only export refuses each writing call" "${obj[@]}" readonly "$PIN"
check "the refusals are audited" grep -q "AUDIT refused export=ro .*call=C_CopyObject" "$LOG"
bridge_stop
finish
