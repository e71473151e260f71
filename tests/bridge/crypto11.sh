#!/usr/bin/env bash
# Go with crypto11 through a SoftHSMv2 token behind tokend: a Go program
# (crypto11/main.go, built here offline against Debian's Go packages in
# /usr/share/gocode) opens the token by its label through the p11-kit
# client, finds a key pair by its label and signs a self-signed X.509
# certificate; openssl verifies the certificate, and its public key is the
# token's (read through the socket with pkcs11-tool). RSA-2048 and EC P-256.
# The key pairs are made by pkcs11-tool through tokend's socket, or with
# CRYPTO11_KEYGEN=module by SoftHSMv2 before tokend starts (keys a token
# already holds).
# shellcheck source=softhsm.sh
. "$(dirname "$0")/softhsm.sh"
CRYPTO11_KEYGEN=${CRYPTO11_KEYGEN:-socket}
bridge_before_start() {
	[ "$CRYPTO11_KEYGEN" = module ] || return 0
	local k
	for k in rsa:2048:02:go-rsa EC:prime256v1:03:go-ec; do
		IFS=: read -r type size id label <<<"$k"
		SOFTHSM2_CONF=$T/softhsm.conf run_ok "$type key pair '$label' made by SoftHSMv2" \
			pkcs11-tool --module "$SOFTHSM" --login --pin "$PIN" --keypairgen \
			--key-type "$type:$size" --id "$id" --label "$label"
	done
}
bridge_init go gcc

# Debian's Go libraries are GOPATH sources (no module proxy, no network):
# GO111MODULE=off with GOPATH=/usr/share/gocode; cgo for miekg/pkcs11.
[ -d /usr/share/gocode/src/github.com/ThalesIgnite/crypto11 ] ||
	fail "crypto11 missing: apt-get install golang-github-thalesignite-crypto11-dev"
mkdir "$T/gocache"
HARNESS_CMD_TIMEOUT=300 run_ok "build the crypto11 program (offline)" \
	env -C "$BRIDGE_DIR/crypto11" GO111MODULE=off GOPATH=/usr/share/gocode GOFLAGS= \
	GOPROXY=off GOCACHE="$T/gocache" CGO_ENABLED=1 go build -o "$T/crypto11-cert" .

if [ "$CRYPTO11_KEYGEN" = socket ]; then
	bridge_keypair rsa:2048 02 go-rsa
	bridge_keypair EC:prime256v1 03 go-ec
else
	for id in 02 03; do
		run_ok "read public key $id through the socket" "${p11[@]}" --read-object \
			--type pubkey --id "$id" -o "$T/pub_$id.der"
		run_ok "openssl reads it" openssl pkey -pubin -inform DER -in "$T/pub_$id.der" \
			-out "$T/pub_$id.pem"
	done
fi
for k in 02:go-rsa 03:go-ec; do
	id=${k%%:*} label=${k#*:}
	run_check "crypto11 finds '$label' by its label and signs a certificate" \
		"$T/crypto11-cert" "$CLIENT_SO" "$LABEL" "$PIN" "$label" "$T/$label.pem"
	[ -s "$T/$label.pem" ] || continue
	run_check "openssl verifies the certificate ($label)" \
		openssl verify -CAfile "$T/$label.pem" "$T/$label.pem"
	check "its subject names the key" grep -q "CN = crypto11 $label" \
		<(openssl x509 -in "$T/$label.pem" -noout -subject)
	check "its public key is the token's ($label)" cmp <(openssl x509 -in "$T/$label.pem" \
		-noout -pubkey) "$T/pub_$id.pem"
done
run_fail "crypto11 finds no key pair by a label the token lacks" \
	"$T/crypto11-cert" "$CLIENT_SO" "$LABEL" "$PIN" no-such-key "$T/none.pem"
check "and says so" grep -q 'no key pair labelled "no-such-key"' <<<"$OUT"
bridge_stop
finish
