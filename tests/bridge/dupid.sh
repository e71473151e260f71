#!/usr/bin/env bash
# Keys whose CKA_IDs repeat (PKCS#11 allows it), through tokend on a
# SoftHSMv2 token with Debian's p11-kit client: two RSA-2048 pairs with
# CKA_ID 01, two EC P-256 pairs with CKA_ID 02 and two with none, made in
# SoftHSMv2 directly before tokend starts, all show through the socket and
# each signs (openssl verifies against the public key SoftHSMv2 gave
# directly); each private key shows its own public value (dupid.py); pairs
# generated through tokend with a CKA_ID in use are named as the new keys
# and sign; certificates written with a key's CKA_ID are certificate
# objects, read back as written; a restarted tokend shows the same.
# shellcheck source=softhsm.sh
. "$(dirname "$0")/softhsm.sh"

KEYS=(rsa-a rsa-b ec-a ec-b noid-a noid-b)
type_of() { case $1 in rsa-*) echo rsa:2048 ;; *) echo EC:prime256v1 ;; esac; }
id_args() { case $1 in rsa-*) echo "--id 01" ;; ec-*) echo "--id 02" ;; esac; }

# Straight into SoftHSMv2, before tokend starts (as another tool would).
bridge_before_start() {
	local direct=(timeout 60 pkcs11-tool --module "$SOFTHSM") k
	for k in "${KEYS[@]}"; do
		# shellcheck disable=SC2046 # (no --id: an empty CKA_ID)
		SOFTHSM2_CONF=$T/softhsm.conf run_ok "SoftHSMv2 makes key pair $k" \
			"${direct[@]}" --login --pin "$PIN" --keypairgen \
			--key-type "$(type_of "$k")" $(id_args "$k") --label "$k"
		SOFTHSM2_CONF=$T/softhsm.conf run_ok "SoftHSMv2 gives $k's public key" \
			"${direct[@]}" --read-object --type pubkey --label "$k" -o "$T/$k.der"
		run_ok "openssl reads $k's public key" openssl pkey -pubin -inform DER \
			-in "$T/$k.der" -out "$T/$k.pem"
	done
	SOFTHSM2_CONF=$T/softhsm.conf run_ok "SoftHSMv2 lists its objects" \
		"${direct[@]}" --login --pin "$PIN" -O
	check "SoftHSMv2 holds 6 private keys" test "$(grep -c "^Private Key Object" <<<"$OUT")" -eq 6
}
bridge_init
export E2E_CLIENT=$CLIENT_SO

privs() { grep -c "^Private Key Object" <<<"$OUT"; }
run_ok "pkcs11-tool lists the objects through tokend" "${p11[@]}" --login --pin "$PIN" -O
check "all 6 private keys show through tokend" test "$(privs)" -eq 6
check "and all 6 public keys" test "$(grep -c "^Public Key Object" <<<"$OUT")" -eq 6

printf 'a document signed by one of two keys of one CKA_ID\n' >"$T/doc"
dupid=(timeout 60 "$PY" "$BRIDGE_DIR/dupid.py")
# sign_check KEY PUB.pem: KEY signs through tokend, openssl verifies
sign_check() {
	run_check "$1 signs through tokend" "${dupid[@]}" sign "$PIN" "$1" "$T/doc" "$T/$1.sig"
	run_check "openssl verifies $1's signature with its own public key" \
		openssl dgst -sha256 -verify "$2" -signature "$T/$1.sig" "$T/doc"
}
for k in "${KEYS[@]}"; do
	sign_check "$k" "$T/$k.pem"
done
run_check "each private key shows its own public key's value" \
	"${dupid[@]}" pairs "$PIN" "${KEYS[@]}"
run_check "the keys' handles stay theirs while keys of their CKA_ID come and go" \
	"${dupid[@]}" stable "$PIN" "${KEYS[@]}"

# Pairs generated through tokend with a CKA_ID in use: the new keys.
for k in rsa-c ec-c; do
	# shellcheck disable=SC2046
	run_check "a $k pair with a CKA_ID in use generated through tokend" "${p11[@]}" \
		--login --pin "$PIN" --keypairgen --key-type "$(type_of "$k")" \
		$(id_args "$k") --label "$k"
	check "(pkcs11-tool is handed the new keys)" test \
		"$(grep -c "label: *$k\$" <<<"$OUT")" -eq 2
	run_ok "read $k's public key through tokend" "${p11[@]}" --read-object \
		--type pubkey --label "$k" -o "$T/$k.der"
	run_ok "openssl reads it" openssl pkey -pubin -inform DER -in "$T/$k.der" \
		-out "$T/$k.pem"
	sign_check "$k" "$T/$k.pem"
done
run_ok "pkcs11-tool lists the objects again" "${p11[@]}" --login --pin "$PIN" -O
check "8 private keys show" test "$(privs)" -eq 8
run_check "each private key still shows its own public value" \
	"${dupid[@]}" pairs "$PIN" "${KEYS[@]}" rsa-c ec-c

# Certificates with the CKA_ID of two keys each.
run_ok "openssl makes a CA key" openssl genpkey -algorithm EC \
	-pkeyopt ec_paramgen_curve:P-256 -out "$T/ca.pem"
for k in rsa-b ec-a; do
	run_ok "openssl certifies $k's public key" openssl x509 -new -key "$T/ca.pem" \
		-force_pubkey "$T/$k.pem" -subj "/CN=$k" -days 2 -outform DER -out "$T/$k.crt"
	# shellcheck disable=SC2046
	run_check "the certificate of $k written through tokend with its CKA_ID" \
		"${p11[@]}" --login --pin "$PIN" --write-object "$T/$k.crt" --type cert \
		$(id_args "$k") --label "$k-cert"
done
run_ok "pkcs11-tool lists the objects" "${p11[@]}" --login --pin "$PIN" -O
check "8 private keys still show" test "$(privs)" -eq 8
objects=$OUT
for k in rsa-b ec-a; do
	check "$k's certificate is a certificate object" \
		grep -q "^Certificate Object" <<<"$(grep -B1 "label: *$k-cert\$" <<<"$objects")"
	run_check "$k's certificate reads back as written" "${p11[@]}" --read-object \
		--type cert --label "$k-cert" -o "$T/$k.back"
	check "(the same bytes)" cmp "$T/$k.crt" "$T/$k.back"
done

# What tokend added to and took from its cache object by object is what
# a fresh read of the whole token shows.
run_check "key pairs, a certificate and a data object made and destroyed in one connection" \
	"${dupid[@]}" batch "$PIN" "$T/rsa-b.crt"
run_ok "pkcs11-tool lists the objects" "${p11[@]}" --login --pin "$PIN" -O
objects=$OUT
bridge_stop
bridge_tokend_start
run_ok "pkcs11-tool lists the objects after tokend's restart" "${p11[@]}" --login \
	--pin "$PIN" -O
check "the same objects as before the restart" \
	diff <(sort <<<"$objects") <(sort <<<"$OUT")
bridge_stop
finish
