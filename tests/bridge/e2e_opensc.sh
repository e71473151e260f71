#!/usr/bin/env bash
# The virtual YubiKey in reader 0 served through OpenSC's opensc-pkcs11.so
# behind the module bridge ([module opensc] readers claims reader 0), a
# second one in reader 1 served by tokend's own PIV driver. Through tokend's
# socket with Debian's p11-kit-client.so:
#  - the card in reader 0 is one token only, OpenSC's (model "PKCS#15
#    emulated", manufacturer "piv_II"), and the export filtered by the URI
#    users already have for it shows it alone;
#  - the card in reader 1 is one token only, the PIV driver's (OpenSC kept
#    off it by the ignored_readers tokend wrote into the helper's
#    OPENSC_CONF: a private 0600 file);
#  - a signature with card 0's key made through the socket verifies with
#    openssl.
. "$(dirname "$0")/../e2e/common.sh"
e2e_require_tokend "the module bridge"
OPENSC=${TOKEND_OPENSC_MODULE:-/usr/lib/x86_64-linux-gnu/opensc-pkcs11.so}
if [ ! -f "$OPENSC" ]; then
	echo "SKIP: $OPENSC missing (apt-get install opensc-pkcs11)"
	exit 77
fi
e2e_init
R0=$R
R1=$(reader_name 1)
provision 9a:ECCP256
vcard_start 1 --mgm-alg 3des --serial 7654322

URI='pkcs11:model=PKCS%2315%20emulated;manufacturer=piv_II'
e2e_export main
e2e_export osc "tokens=$URI"
cat >>"$CONF" <<EOF
[module opensc]
path = $OPENSC
readers = $R0
EOF
R=$R1 # server_start waits for the PIV driver's token in reader 1
server_start main

tokens() { # the token blocks of pkcs11-tool -T, one line each
	timeout 60 pkcs11-tool --module "$C" -T 2>/dev/null | awk '
		/^Slot [0-9]+/ { if (b != "") print b; b = $0; next }
		b != "" { gsub(/^ +/, ""); b = b " | " $0 }
		END { if (b != "") print b }'
}
# OpenSC's helper reads the card after tokend is up: wait for its token.
for _ in $(seq 150); do
	out=$(tokens)
	grep -q "piv_II" <<<"$out" && break
	sleep 0.2
done
harness_log "tokens: $out"
check "OpenSC's token shows (model PKCS#15 emulated)" grep -q "model *: PKCS#15 emulated" <<<"$out"
assert_eq 1 "$(grep -c "manufacturer *: piv_II" <<<"$out")" "OpenSC tokens (reader 0 only)"
assert_eq 2 "$(grep -c . <<<"$out")" "tokens in all (one per card)"
assert_eq 1 "$(grep -c "$R1" <<<"$out")" "tokens of reader 1"
check "reader 1's token is the PIV driver's" grep -q "$R1.*serial num *: 7654322" <<<"$out"
check "the PIV driver left reader 0 alone" bash -c "! grep -q '$R0.*serial num *: 7654321' <<<'$out'"

helper=$(pgrep -P "$SERVER_PID" -f tokend-module-helper | head -n 1)
[ -n "$helper" ] || fail "no tokend-module-helper under tokend"
oconf=$(tr '\0' '\n' <"/proc/$helper/environ" | sed -n 's/^OPENSC_CONF=//p')
[ -n "$oconf" ] || fail "the helper has no OPENSC_CONF"
harness_log "OPENSC_CONF=$oconf: $(tr '\n' ' ' <"$oconf")"
assert_eq 600 "$(stat -c %a "$oconf")" "OPENSC_CONF's mode"
assert_eq 700 "$(stat -c %a "$(dirname "$oconf")")" "its directory's mode"
check "it ignores reader 1" grep -q "ignored_readers = \"$R1\"" "$oconf"

# The URI users have for OpenSC's PIV token selects it alone.
use_socket osc
out=$(tokens)
assert_eq 1 "$(grep -c . <<<"$out")" "tokens through the export filtered by $URI"
check "and it is OpenSC's" grep -q "manufacturer *: piv_II" <<<"$out"
p11=(timeout 60 pkcs11-tool --module "$C" --slot-index 0)

printf 'signed by OpenSC behind tokend\n' >"$T/data"
openssl dgst -sha256 -binary "$T/data" >"$T/hash"
run_ok "ECDSA signature with card 0's 9a key through the socket" "${p11[@]}" \
	--login --pin "$PIN" --sign --id 01 -m ECDSA --signature-format openssl \
	-i "$T/hash" -o "$T/sig"
run_ok "openssl verifies it with the key yubico-piv-tool generated" \
	openssl pkeyutl -verify -pubin -inkey "$T/pub_9a.pem" -in "$T/hash" -sigfile "$T/sig"
check "tokend is still running" kill -0 "$SERVER_PID"
server_stop
check "the OPENSC_CONF directory is gone with tokend" test ! -e "$(dirname "$oconf")"
vcard_stop 1
finish
