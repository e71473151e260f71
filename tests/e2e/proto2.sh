#!/usr/bin/env bash
# The calls whose wire form depends on the RPC protocol version the client
# negotiates (Debian's p11-kit 0.24 speaks 0, 0.25.5 speaks 1, 0.26.4 speaks
# 2 with the new mechanism encoding), each through the client under test
# (E2E_CLIENT, see CMakeLists.txt):
#   * C_DeriveKey (protocol 1) / C_DeriveKey2 (89, protocol 2: reply "uPu"
#     = CK_RV, parameter update, key): ECDH1-DERIVE with pkcs11-tool, the
#     secret equals openssl's; the server's audit line says CKR_OK once.
#     Newer clients only: 0.24's cannot send ECDH parameters.
#   * C_InitToken / C_InitToken2 (88, protocol 1: space-padded label): on a
#     read-only export the request decodes and is refused with
#     CKR_TOKEN_WRITE_PROTECTED (not a parse error), the card untouched.
#   * mechanisms with parameters in requests (protocol 2 encodes a presence
#     byte): RSA-PSS with its params, hash-and-sign CKM_ECDSA_SHA256 and
#     CKM_SHA256_RSA_PKCS_PSS, all verified with openssl. p11-kit 0.24's
#     client drops the hash-and-sign mechanisms (no serializer): skipped
#     there, demanded from the newer clients.
# shellcheck source=common.sh disable=SC2154 # (p11 is set by server_start)
. "$(dirname "$0")/common.sh"
e2e_init

# 9A P-256 (ID 01), 9C RSA-2048 (02, PIN always), 9D P-256 (03: the
# key-management key, which derives).
provision 9a:ECCP256 9c:RSA2048 9d:ECCP256
e2e_export main
e2e_export ro access=read-only
server_start main
harness_log "client ${E2E_CLIENT_VERSION:-Debian 0.24}: $C"

head -c 1000 /dev/urandom >"$T/data"
openssl dgst -sha256 -binary "$T/data" >"$T/data.sha256"

# --- ECDH: C_DeriveKey (protocols 0, 1) or C_DeriveKey2 (2)
# (p11-kit 0.24's client has no serializer for CK_ECDH1_DERIVE_PARAMS: it
# answers CKR_MECHANISM_INVALID itself.)
if [ -n "$E2E_CLIENT_VERSION" ]; then
	openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$T/peer.pem" 2>/dev/null
	openssl pkey -in "$T/peer.pem" -pubout -outform DER -out "$T/peer_pub.der"
	run_ok "ECDH1-DERIVE through the client" "${p11[@]}" --login --pin "$PIN" --derive \
		-m ECDH1-DERIVE --id 03 -i "$T/peer_pub.der" -o "$T/secret.card"
	run_ok "ECDH from the peer side (openssl)" openssl pkeyutl -derive -inkey "$T/peer.pem" \
		-peerkey "$T/pub_9d.pem" -out "$T/secret.peer"
	[ "$(stat -c %s "$T/secret.card")" -eq 32 ] || fail "ECDH secret is not 32 bytes"
	cmp -s "$T/secret.card" "$T/secret.peer" || fail "ECDH secrets differ"
	if server_is tokend "derive audit line"; then
		n=$(grep -c 'op=derive .*result=CKR_OK' "$SERVER_LOG" || true)
		[ "$n" -eq 1 ] || fail "expected one audited derive with CKR_OK, found $n:"$'\n'"$(grep derive "$SERVER_LOG")"
	fi
	# A derive that fails (a P-384 point for a P-256 key) comes back as
	# the server's error, not as a garbled reply.
	openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-384 -out "$T/peer384.pem" 2>/dev/null
	openssl pkey -in "$T/peer384.pem" -pubout -outform DER -out "$T/peer384_pub.der"
	run_fail "ECDH1-DERIVE with a point of another curve" "${p11[@]}" --login --pin "$PIN" \
		--derive -m ECDH1-DERIVE --id 03 -i "$T/peer384_pub.der" -o "$T/secret.x"
	harness_log "derive with a P-384 point: $(grep -o 'rv = CKR_[A-Z_]*' "$HARNESS_OUT" | head -n 1)"
	assert_contains "$OUT" "C_DeriveKey failed" "the derive reached the server"
	case $OUT in
	*CKR_HOST_MEMORY* | *CKR_DEVICE_ERROR* | *CKR_GENERAL_ERROR*)
		fail "derive with a bad point: a transport error instead of the server's answer:"$'\n'"$OUT"
		;;
	esac
else
	harness_log "skip (p11-kit 0.24 client cannot send ECDH params): ECDH1-DERIVE"
fi

# --- mechanism parameters in requests: RSA-PSS (CK_RSA_PKCS_PSS_PARAMS)
run_ok "RSA-PKCS-PSS sign (params)" "${p11[@]}" --login --pin "$PIN" --sign --id 02 \
	-m RSA-PKCS-PSS --hash-algorithm SHA256 --mgf MGF1-SHA256 \
	-i "$T/data.sha256" -o "$T/pss.sig"
run_ok "RSA-PSS signature verifies (openssl)" openssl dgst -sha256 -verify "$T/pub_9c.pem" \
	-sigopt rsa_padding_mode:pss -sigopt rsa_pss_saltlen:32 -sigopt rsa_mgf1_md:sha256 \
	-signature "$T/pss.sig" "$T/data"

# --- hash-and-sign: the server hashes
if [ -n "$E2E_CLIENT_VERSION" ]; then
	run_ok "ECDSA-SHA256 sign (hash-and-sign)" "${p11[@]}" --login --pin "$PIN" --sign --id 01 \
		-m ECDSA-SHA256 --signature-format openssl -i "$T/data" -o "$T/ecdsa256.sig"
	run_ok "ECDSA-SHA256 signature verifies (openssl)" openssl dgst -sha256 \
		-verify <(openssl x509 -in "$T/cert_9a.pem" -noout -pubkey) \
		-signature "$T/ecdsa256.sig" "$T/data"
	run_ok "SHA256-RSA-PKCS-PSS sign (hash-and-sign, params)" "${p11[@]}" --login --pin "$PIN" \
		--sign --id 02 -m SHA256-RSA-PKCS-PSS --mgf MGF1-SHA256 \
		-i "$T/data" -o "$T/sha256pss.sig"
	run_ok "SHA256-RSA-PKCS-PSS signature verifies (openssl)" openssl dgst -sha256 \
		-verify "$T/pub_9c.pem" -sigopt rsa_padding_mode:pss -sigopt rsa_pss_saltlen:32 \
		-sigopt rsa_mgf1_md:sha256 -signature "$T/sha256pss.sig" "$T/data"
else
	harness_log "skip (p11-kit 0.24 client drops them): ECDSA-SHA256, SHA256-RSA-PKCS-PSS"
fi

# --- C_InitToken / C_InitToken2 on a read-only export: decoded, refused,
# nothing reset (the key of ID 01 still signs afterwards).
if server_is tokend "read-only export"; then
	use_socket ro
	p11=(pkcs11-tool --module "$C" --slot-index "$SLOT")
	run_fail "C_InitToken on a read-only export" "${p11[@]}" --init-token --label e2e-proto \
		--so-pin "$MGM_HEX"
	assert_contains "$OUT" "CKR_TOKEN_WRITE_PROTECTED" "C_InitToken refusal"
	use_socket main
	p11=(pkcs11-tool --module "$C" --slot-index "$SLOT")
	run_ok "the card still signs after the refused C_InitToken" "${p11[@]}" --login --pin "$PIN" \
		--sign --id 01 -m ECDSA --signature-format openssl -i "$T/data.sha256" -o "$T/after.sig"
	run_ok "and the signature verifies" openssl dgst -sha256 \
		-verify <(openssl x509 -in "$T/cert_9a.pem" -noout -pubkey) -signature "$T/after.sig" "$T/data"
fi

server_stop
vcard_stop 0
harness_log "PASS"
