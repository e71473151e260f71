#!/usr/bin/env bash
# OpenSSL through libp11's pkcs11 engine (libengine-pkcs11-openssl) with the
# module under test: `openssl req` makes CSRs signed on the card (RSA-2048 in
# 9A, EC P-256 in 9E), addressed by a PKCS#11 URI with token, object and id;
# each CSR verifies and holds the card's key. (Not 9C: libp11 0.4.12's engine
# cannot answer the context-specific PIN prompt of a PIN-always key from
# `openssl req`, "UI_process:processing error", whatever the module.)
# shellcheck source=common.sh
. "$(dirname "$0")/common.sh"
module_init --mgm-alg 3des
ENGINE_DIR=$(openssl version -e | sed -n 's/^ENGINESDIR: "\(.*\)"/\1/p')
[ -f "$ENGINE_DIR/pkcs11.so" ] || fail "pkcs11 engine not found in '$ENGINE_DIR' (libengine-pkcs11-openssl)"
provision 9a:RSA2048 9e:ECCP256

pct() { /usr/bin/python3 -c 'import sys, urllib.parse; print(urllib.parse.quote(sys.argv[1], safe=""))' "$1"; }

# Token label of our slot, private-key labels as the module names them.
run_ok "-L" "${p11[@]}" -L
label=$(awk -v s="$SLOT" '/^Slot [0-9]+/ { n++ } n - 1 == s && /token label/ { sub(/^[^:]*: /, ""); print; exit }' "$HARNESS_OUT")
[ -n "$label" ] || fail "no token label for slot index $SLOT"

# The engine finds the module through PKCS11_MODULE_PATH.
export PKCS11_MODULE_PATH=$M
for k in 9a:01 9e:04; do
	s=${k%%:*}
	id=${k#*:}
	run_ok "objects listed" "${p11[@]}" --login --pin "$PIN" -O
	obj=$(awk -v id="$id" '
		/^[A-Z]/ { priv = /^Private Key Object/; label = "" }
		priv && /^  label:/ { sub(/^  label: */, ""); label = $0 }
		priv && $1 == "ID:" && $2 == id { print label; exit }' "$HARNESS_OUT")
	[ -n "$obj" ] || fail "private key $id has no label"
	uri="pkcs11:token=$(pct "$label");object=$(pct "$obj");id=%$id;type=private"
	harness_log "key URI $uri"
	run_ok "CSR signed with $id through the engine" openssl req -new -engine pkcs11 -keyform engine \
		-key "$uri;pin-value=$PIN" -subj "/CN=engine $s" -out "$T/csr_$s.pem"
	run_ok "CSR $s verifies" openssl req -in "$T/csr_$s.pem" -verify -noout
	assert_contains "$OUT" "verify OK" "CSR self-signature"
	openssl req -in "$T/csr_$s.pem" -noout -pubkey >"$T/csrpub_$s.pem"
	cmp -s <(openssl pkey -pubin -in "$T/csrpub_$s.pem" -outform DER) \
		<(openssl pkey -pubin -in "$T/pub_$s.pem" -outform DER) ||
		fail "CSR $s does not hold the card's public key"
	run_ok "CSR $s subject" openssl req -in "$T/csr_$s.pem" -noout -subject
	assert_contains "$OUT" "CN = engine $s"
done

# The same through an openssl.cnf naming the module (MODULE_PATH), PIN on
# -passin, key by id only.
cat >"$T/openssl.cnf" <<CNF
openssl_conf = conf
[conf]
engines = engines
[engines]
pkcs11 = pkcs11_section
[pkcs11_section]
engine_id = pkcs11
dynamic_path = $ENGINE_DIR/pkcs11.so
MODULE_PATH = $M
init = 0
[req]
distinguished_name = dn
[dn]
CNF
run_ok "CSR via openssl.cnf" env -u PKCS11_MODULE_PATH OPENSSL_CONF="$T/openssl.cnf" \
	openssl req -new -engine pkcs11 -keyform engine -passin "pass:$PIN" \
	-key "pkcs11:token=$(pct "$label");id=%04;type=private" -subj /CN=x -out "$T/csr_cnf.pem"
run_ok "CSR via openssl.cnf verifies" openssl req -in "$T/csr_cnf.pem" -verify -noout
cmp -s <(openssl req -in "$T/csr_cnf.pem" -noout -pubkey | openssl pkey -pubin -outform DER) \
	<(openssl pkey -pubin -in "$T/pub_9e.pem" -outform DER) || fail "CSR via openssl.cnf: wrong key"

vcard_stop 0
harness_log "PASS"
