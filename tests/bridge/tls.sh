#!/usr/bin/env bash
# Mutual TLS with the client's key on a SoftHSMv2 token behind tokend: the
# pkcs11 engine (libengine-pkcs11-openssl, MODULE_PATH = the p11-kit client)
# signs a CSR with the token's key, a test CA certifies it, and
# `openssl s_client` with that key and certificate talks to
# `openssl s_server -Verify 1` (on a free loopback port) over TLS 1.2 and
# 1.3 with an RSA-2048 key and TLS 1.3 with an EC P-256 key; s_server sees
# the client's certificate, verified against the CA, and answers. A client
# without a certificate gets nothing back; every handshake's signature is
# the token's (tokend audits it).
# shellcheck source=softhsm.sh
. "$(dirname "$0")/softhsm.sh"
bridge_init
ENGINE=/usr/lib/x86_64-linux-gnu/engines-3/pkcs11.so
[ -f "$ENGINE" ] || fail "no pkcs11 engine ($ENGINE): apt-get install libengine-pkcs11-openssl"

printf '%s\n' "openssl_conf = openssl_init" "[openssl_init]" "engines = engine_section" \
	"[engine_section]" "pkcs11 = pkcs11_section" "[pkcs11_section]" "engine_id = pkcs11" \
	"dynamic_path = $ENGINE" "MODULE_PATH = $CLIENT_SO" "init = 0" >"$T/engine.cnf"
eng=(env OPENSSL_CONF="$T/engine.cnf" openssl)

run_ok "test CA" openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
	-keyout "$T/ca.key" -out "$T/ca.pem" -subj "/CN=bridge test CA" -days 1
run_ok "server key and CSR" openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 \
	-nodes -keyout "$T/server.key" -out "$T/server.csr" -subj "/CN=localhost"
run_ok "server certificate" openssl x509 -req -in "$T/server.csr" -CA "$T/ca.pem" \
	-CAkey "$T/ca.key" -CAcreateserial -out "$T/server.pem" -days 1

key_uri() { # ID
	printf 'pkcs11:token=%s;id=%%%s;type=private;pin-value=%s' "$LABEL" "$1" "$PIN"
}

# client_cert TYPE ID NAME: a key pair on the token, a CSR signed on the
# token, a certificate from the CA for it in $T/NAME.pem.
client_cert() {
	local type=$1 id=$2 name=$3
	bridge_keypair "$type" "$id" "$name"
	run_ok "CSR for '$name' signed on the token (pkcs11 engine)" "${eng[@]}" req -new \
		-engine pkcs11 -keyform engine -key "$(key_uri "$id")" -subj "/CN=$name" \
		-out "$T/$name.csr"
	run_ok "openssl verifies the CSR's signature" openssl req -verify -noout -in "$T/$name.csr"
	run_ok "the CA certifies '$name'" openssl x509 -req -in "$T/$name.csr" -CA "$T/ca.pem" \
		-CAkey "$T/ca.key" -CAcreateserial -out "$T/$name.pem" -days 1
	check "the certificate holds the token's key" cmp "$T/pub_$id.pem" \
		<(openssl x509 -in "$T/$name.pem" -noout -pubkey)
}
client_cert rsa:2048 07 tls-rsa
client_cert EC:prime256v1 08 tls-ec

# s_server: the client must show a certificate from the CA (-Verify); -rev
# answers every line reversed, closes at CLOSE.
bridge_serve s_server "$T/s_server.log" openssl s_server -accept 127.0.0.1:@PORT@ \
	-cert "$T/server.pem" -key "$T/server.key" -CAfile "$T/ca.pem" -Verify 1 \
	-verify_return_error -rev
port=$PORT

# s_client sends one line, waits a second for the answer and asks the
# server to close (-rev's CLOSE).
one_line() {
	printf 'mutual tls\n'
	sleep 1
	printf 'CLOSE\n'
}
for run in tls1_2:tls-rsa:07 tls1_3:tls-rsa:07 tls1_3:tls-ec:08; do
	IFS=: read -r ver name id <<<"$run"
	: >"$T/s_server.log"
	before=$(grep -c "AUDIT key-op export=s .* op=sign key-id=$id .*result=CKR_OK" "$LOG" || true)
	# (its exit status is 1 when the server closes first: not a failure)
	OUT=$(timeout 30 "${eng[@]}" s_client -"$ver" -connect "127.0.0.1:$port" \
		-servername localhost -CAfile "$T/ca.pem" -verify_return_error -engine pkcs11 \
		-keyform engine -key "$(key_uri "$id")" -cert "$T/$name.pem" -ign_eof \
		< <(one_line) 2>&1) || true
	check "the server's answer came back ($ver, $name)" grep -q "slt lautum" <<<"$OUT"
	check "s_client verified the server" grep -q "Verify return code: 0 (ok)" <<<"$OUT"
	check "s_server verified the client's certificate ($ver, $name)" \
		grep -q "depth=0 CN = $name" "$T/s_server.log"
	check "over $ver" grep -q "Protocol version: ${ver/tls1_/TLSv1.}" "$T/s_server.log"
	after=$(grep -c "AUDIT key-op export=s .* op=sign key-id=$id .*result=CKR_OK" "$LOG" || true)
	check "the handshake's signature was the token's ($ver, $name)" test "$after" -gt "$before"
done
OUT=$(timeout 30 openssl s_client -tls1_3 -connect "127.0.0.1:$port" -servername localhost \
	-CAfile "$T/ca.pem" -ign_eof < <(one_line) 2>&1) || true
check "s_client without a certificate gets no answer" test "$(grep -c "slt lautum" <<<"$OUT")" -eq 0
bridge_servers_stop
bridge_stop
finish
