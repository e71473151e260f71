#!/usr/bin/env bash
# The fallback export (prefer=, issue 10 items 5 and 7) through tokend's
# socket with Debian's p11-kit-client.so: the virtual YubiKey in reader 0
# is the preferred token, the fallback (PREFER_FALLBACK) a SoftHSMv2 token
# served by [module softhsm] (softhsm, the default) or the TPM token on a
# private swtpm (tpm).
#  - card in: the export lists exactly the YubiKey's token, in its one slot
#    0 (another export without prefer= lists both);
#  - card pulled under a session held on it: a client blocked in
#    C_WaitForSlotEvent (one that never listed the slots) wakes with slot
#    0; the held session answers CKR_DEVICE_REMOVED, then
#    CKR_SESSION_HANDLE_INVALID; the export lists exactly the fallback
#    token, in slot 0, where the same application logs in and signs; a
#    signature with the fallback's key verifies with openssl;
#  - card re-inserted while a client holds a logged-in session on the
#    fallback: a blocked wait wakes, the export lists exactly the YubiKey
#    again, the held session answers CKR_DEVICE_REMOVED and then
#    CKR_SESSION_HANDLE_INVALID, and the same application opens a session
#    in the same slot 0, logs in on the YubiKey and signs; a signature
#    verifies against the YubiKey's certificate;
#  - an export none of whose preferred tokens is present lists its slot 0,
#    empty.
# Needs its own pcscd (tests/harness/private_pcscd.sh).
. "$(dirname "$0")/common.sh"

e2e_require_tokend "the prefer= export"
FALLBACK=${PREFER_FALLBACK:-softhsm}
SOFTHSM=${TOKEND_SOFTHSM_MODULE:-/usr/lib/softhsm/libsofthsm2.so}
case $FALLBACK in
softhsm)
	if [ ! -f "$SOFTHSM" ]; then
		echo "SKIP: $SOFTHSM missing (apt-get install softhsm2)"
		exit 77
	fi
	FB_URI="pkcs11:model=SoftHSM%20v2;token=gateway"
	;;
tpm)
	# shellcheck source=../harness/swtpm.sh
	. "$(dirname "$0")/../harness/swtpm.sh"
	FB_URI="pkcs11:model=TPM%202.0;token=gateway"
	;;
*)
	echo "PREFER_FALLBACK must be softhsm or tpm, not '$FALLBACK'" >&2
	exit 2
	;;
esac
e2e_init
PIN=123456
PF=("$PY" "$E2E_DIR/prefer.py")
provision 9a:ECCP256

if [ "$FALLBACK" = softhsm ]; then
	harness_require softhsm2-util
	# The fallback: a SoftHSM token with the same user PIN (one pin-file
	# could then serve both) and an EC P-256 key made before tokend starts.
	mkdir "$T/tokens"
	printf 'directories.tokendir = %s/tokens\nobjectstore.backend = file\nlog.level = ERROR\n' \
		"$T" >"$T/softhsm2.conf"
	export SOFTHSM2_CONF=$T/softhsm2.conf
	run_ok "softhsm2-util --init-token" softhsm2-util --init-token --free \
		--label gateway --pin "$PIN" --so-pin 5678
	run_ok "the fallback's key pair" pkcs11-tool --module "$SOFTHSM" \
		--token-label gateway --login --pin "$PIN" --keypairgen \
		--key-type EC:prime256v1 --id 01 --label fallback
	cat >>"$CONF" <<EOF
[module softhsm]
path = $SOFTHSM
env = SOFTHSM2_CONF=$T/softhsm2.conf

EOF
else
	# The fallback: the TPM token of a private swtpm, initialised (same
	# user PIN) and given its EC P-256 key through the export all, once
	# tokend runs. swtpm goes after tokend, also on failure.
	harness_require swtpm
	prefer_cleanup() {
		local rc=$?
		set +e
		[ -n "$SERVER_PID" ] && server_kill
		swtpm_stop
		(exit "$rc")
		e2e_cleanup
	}
	trap prefer_cleanup EXIT
	swtpm_start || fail "swtpm did not start"
	printf '[tpm]\ntcti = %s\nstate = %s/tpmstate\nlabel = gateway\n\n' \
		"$TOKEND_TEST_TCTI" "$T" >>"$CONF"
fi
e2e_export gw "prefer=pkcs11:manufacturer=Yubico $FB_URI"
e2e_export all access=admin
e2e_export none "prefer=pkcs11:token=absent pkcs11:serial=0000"
server_start gw
VPID=$(vcard_pid 0)
WAITER=

# tokens SOCKET: the prefer.py tokens answer through export SOCKET.
tokens() {
	use_socket "$1"
	run_ok "tokens through $1" "${PF[@]}" "${2:-tokens}"
	use_socket gw
}
# start_waiter: a client blocks in C_WaitForSlotEvent on gw.
start_waiter() {
	"${PF[@]}" wait >"$T/wait.out" 2>&1 &
	WAITER=$!
	for _ in $(seq 100); do grep -q blocked "$T/wait.out" && break; sleep 0.05; done
	sleep 0.3
	kill -0 "$WAITER" || fail "the wait ended early: $(cat "$T/wait.out")"
}
# end_waiter WHAT: the waiter answered with slot 0 within 10 s.
end_waiter() {
	for _ in $(seq 100); do kill -0 "$WAITER" 2>/dev/null || break; sleep 0.1; done
	kill -0 "$WAITER" 2>/dev/null && fail "the blocked wait did not wake at $1"
	wait "$WAITER" || true
	WAITER=
	assert_eq "ok 0" "$(tail -n 1 "$T/wait.out")" "the blocked wait's answer at $1"
}
# sign_verify PUB.pem WHAT: pkcs11-tool signs with key 01 of the one token
# gw shows; openssl verifies with PUB.pem.
sign_verify() {
	printf 'prefer %s\n' "$2" >"$T/data"
	openssl dgst -sha256 -binary "$T/data" >"$T/hash"
	rm -f "$T/sig"
	run_ok "sign with $2's key" timeout 60 pkcs11-tool --module "$C" --login \
		--pin "$PIN" --sign --id 01 -m ECDSA --signature-format openssl \
		-i "$T/hash" -o "$T/sig"
	run_ok "openssl verifies $2's signature" openssl pkeyutl -verify -pubin \
		-inkey "$1" -in "$T/hash" -sigfile "$T/sig"
}

# ntokens OUT: how many tokens a prefer.py answer lists.
ntokens() { grep -o ' [0-9]*:' <<<"$1" | wc -l; }

# Both tokens are there (the module's helper may come after the card).
use_socket all
for _ in $(seq 100); do
	[ "$(ntokens "$("${PF[@]}" present 2>/dev/null)")" -ge 2 ] && break
	sleep 0.1
done
use_socket gw
tokens all present
assert_contains "$OUT" ":Yubico:" "export all"
# FB: ":MANUFACTURER:gateway" of the fallback as the export lists it.
FB=$(grep -o ':[^:]*:gateway' <<<"$OUT") || fail "no fallback token in export all: $OUT"
FB_MANUF=${FB#:}
FB_MANUF=${FB_MANUF%:gateway}
if [ "$FALLBACK" = tpm ]; then
	use_socket all
	run_ok "C_InitToken on the TPM token" timeout 60 pkcs11-tool --module "$C" \
		--token-label gateway --init-token --so-pin 87654321 --label gateway
	run_ok "C_InitPIN on the TPM token" timeout 60 pkcs11-tool --module "$C" \
		--token-label gateway --login --login-type so --so-pin 87654321 \
		--init-pin --pin "$PIN"
	run_ok "the fallback's key pair in the TPM" timeout 60 pkcs11-tool --module "$C" \
		--token-label gateway --login --pin "$PIN" --keypairgen \
		--key-type EC:prime256v1 --id 01 --label fallback
	use_socket gw
fi

# 1. The card is in: gw shows the YubiKey only.
tokens gw
assert_eq 1 "$(ntokens "$OUT")" "tokens gw lists: $OUT"
assert_contains "$OUT" ":Yubico:" "gw with the card in"
assert_contains "$OUT" "ok 0:" "gw's one slot"
sign_verify "$T/pub_9a.pem" "the YubiKey"

# 2. Pulled under a session: a blocked client wakes; gw shows the fallback
# token only; its key signs.
start_waiter
run_ok "a session on the YubiKey across the pull" "${PF[@]}" hold "$PIN" "$FB_MANUF" \
	"kill -USR1 $VPID && $TOKEND_PCSC_WAIT --reader '$R' --absent --timeout 10"
assert_eq "ok 0" "$OUT" "the held session's slot"
end_waiter "the pull"
tokens gw
assert_eq 1 "$(ntokens "$OUT")" "tokens gw lists: $OUT"
assert_contains "$OUT" "$FB" "gw with the card out"
assert_contains "$OUT" "ok 0:" "the fallback's slot"
run_ok "the fallback's public key" timeout 60 pkcs11-tool --module "$C" \
	--read-object --type pubkey --id 01 -o "$T/soft_pub.der"
openssl pkey -pubin -inform DER -in "$T/soft_pub.der" -out "$T/soft_pub.pem" ||
	fail "openssl cannot read the fallback's public key"
sign_verify "$T/soft_pub.pem" "the fallback"

# 3. Re-inserted under a session held on the fallback: the wait wakes,
# the session is over, gw shows the YubiKey again.
start_waiter
run_ok "a session on the fallback across the re-insert" "${PF[@]}" hold "$PIN" Yubico \
	"kill -USR2 $VPID && $TOKEND_PCSC_WAIT --reader '$R' --present --timeout 10"
assert_eq "ok 0" "$OUT" "the held session's slot"
end_waiter "the re-insert"
tokens gw
assert_eq "ok 0:Yubico:" "$(cut -d: -f1,2 <<<"$OUT"):" "gw after the re-insert"
sign_verify "$T/pub_9a.pem" "the re-inserted YubiKey"
tokens all present
assert_contains "$OUT" "$FB" "export all after the re-insert"

tokens none empty

server_stop
harness_log "PASS"
