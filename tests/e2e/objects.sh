#!/usr/bin/env bash
# The objects= export key (tokend only), through p11-kit-client.so, with the
# virtual YubiKey holding keys in 9A (ID 01) and 9C (ID 02) and a private
# data object (Printed Information):
#  * objects = pkcs11:id=%01 shows key 01 with its public key and
#    certificate and nothing else: no key 02, no data object, also not by
#    handle numbers an unfiltered connection got nor by any handle number
#    up to 64; key 01 signs (openssl verifies), key 02 cannot be used;
#  * a URI matching a certificate by label and type shows that key's
#    group; one whose token attributes do not match shows nothing;
#  * an export with objects= refuses key generation, even with access=full.
# shellcheck source=common.sh
. "$(dirname "$0")/common.sh"
e2e_require_tokend "objects= export key"
e2e_init
provision 9a:ECCP256 9c:ECCP256
printf '\x01\x05Alice' >"$T/printed.bin"
run_ok "write Printed Information (needs the PIN to read)" "${ypt[@]}" -a write-object \
	--id 0x5FC109 -f binary -i "$T/printed.bin"
e2e_export all
e2e_export one 'objects=pkcs11:id=%01'
e2e_export sigcert 'objects=pkcs11:object=Certificate%20for%20Digital%20Signature;type=cert'
e2e_export othertoken 'objects=pkcs11:serial=00000000;id=%01'
e2e_export onefull access=full 'objects=pkcs11:id=%01'
server_start all
OBJ=("$PY" "$E2E_DIR/p11objects.py")
openssl rand 64 >"$T/data"
openssl dgst -sha256 -binary "$T/data" >"$T/data.sha256"

# objs CMDS: p11objects.py runs CMDS; the reply of its `objects`/`scan`
# command (the last such line) in $LIST, one H:CLASS:ID:PRIV per line.
objs() {
	local desc=$1 cmds=$2
	run_ok "$desc" "${OBJ[@]}" run "$cmds"
	LIST=$(sed -n 's/^\(objects\|scan [0-9]*\): ok //p' <<<"$OUT" | tail -n 1 | tr ' ' '\n' | sed '/^$/d')
}

# ids_only ID: every entry of $LIST has CKA_ID ID.
ids_only() {
	local bad
	bad=$(awk -F: -v id="$1" '$3 != id' <<<"$LIST")
	[ -z "$bad" ] || fail "objects other than ID $1 visible:"$'\n'"$bad"
}

# classes: the sorted classes of $LIST on one line.
classes() { cut -d: -f2 <<<"$LIST" | sort | tr '\n' ' '; }

# --- the unfiltered export: both keys and the private data object
objs "unfiltered export lists everything" "init; open; login $PIN; datah; objects"
assert_contains "$LIST" ":priv:02:" "key 02 on the unfiltered export"
assert_contains "$LIST" ":data:" "data objects on the unfiltered export"
GUESS=$(awk -F: '$3 != "01" { print $1 }' <<<"$LIST" | tr '\n' ' ')
harness_log "  handles of objects other than ID 01 on 'all': $GUESS"
H02=$(awk -F: '$2 == "priv" && $3 == "02" { print $1 }' <<<"$LIST")
run_ok "pkcs11-tool -O on 'all'" "${p11[@]}" --login --pin "$PIN" -O
assert_contains "$OUT" "Data object" "pkcs11-tool lists data objects on 'all'"
assert_contains "$OUT" "ID:         02" "pkcs11-tool lists ID 02 on 'all'"

# --- objects = pkcs11:id=%01
use_socket one
objs "objects=id 01 before login" "init; open; objects"
ids_only 01
assert_eq "cert pub " "$(classes)" "before login: public key and certificate of 01"
objs "objects=id 01 after login" "init; open; login $PIN; objects"
ids_only 01
assert_eq "cert priv pub " "$(classes)" "after login: key 01 with its public key and certificate"
P01=$(awk -F: '$2 == "priv" { print $1 }' <<<"$LIST")
ONE=" $(cut -d: -f1 <<<"$LIST" | tr '\n' ' ')" # its handles, all of ID 01
objs "objects=id 01: every handle number up to 64" "init; open; login $PIN; objects; scan 64"
ids_only 01
run_ok "objects=id 01: only key 01's handle is usable" "${OBJ[@]}" run \
	"init; open; login $PIN; objects; usable 64"
grep -qx "usable 64: ok $P01" <<<"$OUT" || fail "C_SignInit must work with key 01's handle ($P01) only:"$'\n'"$OUT"
for h in $GUESS; do
	case $ONE in *" $h "*) continue ;; esac # an ID 01 object on 'one'
	run_fail "handle $h (not ID 01 on 'all') is refused on 'one'" "${OBJ[@]}" run \
		"init; open; login $PIN; objects; read $h"
	assert_contains "$OUT" "CKR_OBJECT_HANDLE_INVALID" "read of guessed handle $h"
done
p11c_fail "key 02's handle from 'all' does not sign on 'one'" "init; open; login $PIN; signh $H02"
run_fail "no private data object on 'one'" "${OBJ[@]}" run "init; open; login $PIN; datah"
assert_contains "$OUT" "nodata (0 private data objects)" "data objects hidden"
run_ok "pkcs11-tool signs with key 01 on 'one'" "${p11[@]}" --login --pin "$PIN" --sign --id 01 \
	-m ECDSA --signature-format openssl -i "$T/data.sha256" -o "$T/one.sig"
run_ok "openssl verifies key 01's signature" openssl dgst -sha256 -verify "$T/pub_9a.pem" \
	-signature "$T/one.sig" "$T/data"
run_fail "pkcs11-tool cannot sign with key 02 on 'one'" "${p11[@]}" --login --pin "$PIN" --sign \
	--id 02 -m ECDSA -i "$T/data.sha256" -o "$T/two.sig"
run_ok "pkcs11-tool -O on 'one'" "${p11[@]}" --login --pin "$PIN" -O
assert_not_contains "$OUT" "Data object" "pkcs11-tool lists no data object"
assert_not_contains "$OUT" "ID:         02" "pkcs11-tool lists nothing of ID 02"

# --- a certificate URI shows its key's group
use_socket sigcert
objs "objects=the 9C certificate by label" "init; open; login $PIN; objects; scan 64"
ids_only 02
run_ok "pkcs11-tool signs with key 02 on 'sigcert'" "${p11[@]}" --login --pin "$PIN" --sign \
	--id 02 -m ECDSA --signature-format openssl -i "$T/data.sha256" -o "$T/two.sig"
run_ok "openssl verifies key 02's signature" openssl dgst -sha256 -verify "$T/pub_9c.pem" \
	-signature "$T/two.sig" "$T/data"

# --- token attributes of the URI apply too
use_socket othertoken
objs "objects= URI of another token" "init; open; login $PIN; objects; scan 64"
assert_eq "" "$LIST" "nothing visible through a URI naming another token"

# --- no key generation through objects=
use_socket onefull
p11c_fail "objects= refuses C_GenerateKeyPair even with access=full" \
	"init; open rw; login $PIN; keygen"
assert_contains "$OUT" "CKR_TOKEN_WRITE_PROTECTED" "keygen on an objects= export"

server_stop
vcard_stop 0
harness_log "PASS"
