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
#    openssl;
#  - under tests/harness/private_pcscd.sh also: tokend started with a
#    pcscd that has no readers ignores none (and restarts nothing while
#    nothing changes); when vpcd's readers come, tokend writes the file
#    again and restarts the helper, and OpenSC still serves card 0 only.
# shellcheck source=../e2e/common.sh
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
# tokend puts OpenSC's config in the runtime directory: ours.
export XDG_RUNTIME_DIR=$T/rt
mkdir -m 0700 "$XDG_RUNTIME_DIR"
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

helper=$(pgrep -P "$SERVER_PID" -f tokend-module-helper | head -n 1 || true)
[ -n "$helper" ] || fail "no tokend-module-helper under tokend"
oconf=$(tr '\0' '\n' <"/proc/$helper/environ" | sed -n 's/^OPENSC_CONF=//p')
[ -n "$oconf" ] || fail "the helper has no OPENSC_CONF"
harness_log "OPENSC_CONF=$oconf: $(tr '\n' ' ' <"$oconf")"
check "it is in the runtime directory" test "$(dirname "$(dirname "$oconf")")" = "$XDG_RUNTIME_DIR"
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
if [ -z "${PRIVATE_PCSCD_PID:-}" ]; then
	harness_log "skip (private pcscd only): the readers arriving after tokend"
	finish
	exit 0
fi

# Readers that arrive while the helper runs: a pcscd without readers
# first (OpenSC's C_Initialize needs a pcscd), then one with vpcd's.
vcard_stop 0
kill "$PRIVATE_PCSCD_PID"
for _ in $(seq 50); do pcscd_alive || break; sleep 0.1; done
mkdir "$T/no-readers.d"
pcscd --foreground -c "$T/no-readers.d" >"$T/pcscd2.log" 2>&1 &
HARNESS_PCSCD_PID=$!
for _ in $(seq 50); do pcscd_alive && break; sleep 0.1; done
LD_LIBRARY_PATH=$E2E_SERVER_LD_PATH "$TOKEND" -f -c "$CONF" >>"$SERVER_LOG" 2>&1 &
SERVER_PID=$!
for _ in $(seq 100); do
	helper=$(pgrep -P "$SERVER_PID" -f tokend-module-helper | head -n 1 || true)
	[ -n "$helper" ] && grep -q "tokend ready" "$SERVER_LOG" && break
	sleep 0.1
done
[ -n "$helper" ] || fail "no helper with a pcscd without readers"
oconf=$(echo "$XDG_RUNTIME_DIR"/tokend-opensc.*/opensc.conf)
[ -f "$oconf" ] || fail "no OPENSC_CONF in $XDG_RUNTIME_DIR"
harness_log "no readers: $(tr '\n' ' ' <"$oconf")"
check "no reader known, none ignored" bash -c "! grep -q ignored_readers '$oconf'"
sleep 2.5 # a slot-list pass of the module driver: no restart without news
check "the helper keeps running while nothing changes" test "$(pgrep -P "$SERVER_PID" -f tokend-module-helper | head -n 1 || true)" = "$helper"
kill "$HARNESS_PCSCD_PID"
wait "$HARNESS_PCSCD_PID" 2>/dev/null || true
pcscd --foreground >"$T/pcscd3.log" 2>&1 &
HARNESS_PCSCD_PID=$!
pcsc_wait "$R0" --listed 15 || fail "the new pcscd lists no '$R0'"
vcard_start 0 --mgm-alg 3des --serial 7654321
vcard_start 1 --mgm-alg 3des --serial 7654322
use_socket main
for _ in $(seq 150); do
	out=$(tokens)
	[ "$(grep -c . <<<"$out")" = 2 ] && grep -q piv_II <<<"$out" && break
	sleep 0.2
done
harness_log "tokens: $out"
helper2=$(pgrep -P "$SERVER_PID" -f tokend-module-helper | head -n 1 || true)
check "the helper was restarted for the new readers" test "$helper2" != "$helper"
check "by tokend (SIGKILL), not by a crash" grep -q "helper $helper killed by signal 9" "$SERVER_LOG"
check "its ignored_readers has reader 1 now" grep -q "ignored_readers = \"$R1\"" "$oconf"
assert_eq 1 "$(grep -c "manufacturer *: piv_II" <<<"$out")" "OpenSC tokens after the readers came"
assert_eq 2 "$(grep -c . <<<"$out")" "tokens in all after the readers came"
use_socket osc
p11=(timeout 60 pkcs11-tool --module "$C" --slot-index 0)
run_ok "a signature through OpenSC after the restart" "${p11[@]}" \
	--login --pin "$PIN" --sign --id 01 -m ECDSA --signature-format openssl \
	-i "$T/hash" -o "$T/sig2"
run_ok "openssl verifies it" \
	openssl pkeyutl -verify -pubin -inkey "$T/pub_9a.pem" -in "$T/hash" -sigfile "$T/sig2"
server_stop
finish
