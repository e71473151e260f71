#!/usr/bin/env bash
# The arm64 tokend end to end: the cross-built (aarch64) tokend runs under
# qemu-user and serves the host's virtual YubiKey through the host's pcscd
# (PC/SC's client protocol over /run/pcscd/pcscd.comm, an arm64 client
# library talking to an amd64 pcscd) to amd64 clients: Debian's
# p11-kit-client.so in pkcs11-tool logs in and signs with a P-256 key (9A)
# and an RSA-2048 key (9C); both signatures verify with openssl against the
# public keys the card gave at generation.
#
# The export admits one group (allow-groups), so the peer check reads
# SO_PEERCRED and SO_PEERGROUPS through qemu: a client in that group signs,
# one outside it is refused, and the audit trail names the client's uid.
# Clients are in one group only: qemu 7.2 hands SO_PEERGROUPS a 4-byte
# buffer, so a peer with two or more groups gets ERANGE under qemu (not on
# arm64 hardware).
#
# Environment (tests/arm64/CMakeLists.txt sets it):
#   TOKEND           the arm64 tokend
#   TOKEND_EMULATOR  qemu-aarch64
#   TOKEND_VCARD, TOKEND_PCSC_WAIT  the host's (amd64) virtual card and
#                    waiter, from the host build
# Run it inside a private pcscd (scripts/arm64.sh does).
# shellcheck source=../harness/lib.sh
. "$(dirname "$0")/../harness/lib.sh"

CLIENT_SO=/usr/lib/x86_64-linux-gnu/pkcs11/p11-kit-client.so
PIN=123456
NOBODY=65534
OTHER_GID=65533
: "${TOKEND:?TOKEND must name the arm64 tokend}"
: "${TOKEND_EMULATOR:?TOKEND_EMULATOR must name qemu-aarch64}"

TOKEND_PID=
arm64_cleanup() {
	local rc=$?
	set +e
	if [ -n "$TOKEND_PID" ] && kill -0 "$TOKEND_PID" 2>/dev/null; then
		kill -KILL "$TOKEND_PID" 2>/dev/null
		wait "$TOKEND_PID" 2>/dev/null
	fi
	(exit "$rc")
	harness_cleanup
}

harness_init
trap arm64_cleanup EXIT
harness_require yubico-piv-tool pkcs11-tool openssl setpriv file
[ -f "$CLIENT_SO" ] || fail "$CLIENT_SO missing (apt-get install p11-kit-modules)"
T=$HARNESS_TMP
HARNESS_LOGS=("$T/tokend.log")

# The binary under test really is arm64, and the host cannot run it itself.
arch=$(file -b "$TOKEND")
assert_contains "$arch" "ARM aarch64" "file says $TOKEND is aarch64"
pass "tokend is an aarch64 executable"

pcscd_ensure
vcard_start 0 --mgm-alg 3des
R=$(reader_name 0)

run_ok "generate P-256 in 9a" yubico-piv-tool -r "$R" -a generate -s 9a \
	-A ECCP256 -o "$T/pub9a.pem"
card_selfsign 0 9a "$T/pub9a.pem" "tokend arm64 9a" "$T/cert9a.pem"
run_ok "import the 9a certificate" yubico-piv-tool -r "$R" \
	-a import-certificate -s 9a -i "$T/cert9a.pem"
run_ok "generate RSA-2048 in 9c" yubico-piv-tool -r "$R" -a generate -s 9c \
	-A RSA2048 -o "$T/pub9c.pem"
card_selfsign 0 9c "$T/pub9c.pem" "tokend arm64 9c" "$T/cert9c.pem"
run_ok "import the 9c certificate" yubico-piv-tool -r "$R" \
	-a import-certificate -s 9c -i "$T/cert9c.pem"

# Clients run as nobody: the socket's directory and their files must be
# theirs to reach.
chmod 0755 "$T"
mkdir -m 0777 "$T/c"
cat >"$T/tokend.conf" <<EOF
[export arm]
socket = $T/s/arm
mode = 0666
allow-groups = $NOBODY
EOF
"$TOKEND_EMULATOR" "$TOKEND" -f -c "$T/tokend.conf" 2>"$T/tokend.log" &
TOKEND_PID=$!
for _ in $(seq 300); do
	grep -q "tokend ready" "$T/tokend.log" && break
	kill -0 "$TOKEND_PID" 2>/dev/null || break
	sleep 0.1
done
grep -q "tokend ready" "$T/tokend.log" || fail "the arm64 tokend did not start"
exe=$(readlink "/proc/$TOKEND_PID/exe")
assert_contains "$exe" qemu-aarch64 "tokend's process runs qemu-aarch64"
pass "the arm64 tokend runs under $exe (pid $TOKEND_PID)"

export P11_KIT_SERVER_ADDRESS="unix:path=$T/s/arm"
as_member=(setpriv --reuid="$NOBODY" --regid="$NOBODY" --groups="$NOBODY")
as_other=(setpriv --reuid="$NOBODY" --regid="$OTHER_GID" --groups="$OTHER_GID")
p11=(pkcs11-tool --module "$CLIENT_SO")

# The token shows once tokend has read the card (through pcscd).
for _ in $(seq 100); do
	out=$("${as_member[@]}" "${p11[@]}" -L 2>&1) || true
	case $out in *"token initialized"*) break ;; esac
	sleep 0.2
done
assert_contains "$out" "token initialized" "the token shows through the socket"
assert_contains "$out" "$R" "the slot is the virtual card's reader"
pass "the token of '$R' shows through the arm64 tokend"

run_ok "list objects" "${as_member[@]}" "${p11[@]}" -O
assert_contains "$OUT" "Certificate Object" "-O lists the certificates"
assert_contains "$OUT" "Public Key Object; EC" "-O lists the P-256 public key"
assert_contains "$OUT" "Public Key Object; RSA 2048 bits" \
	"-O lists the RSA public key"

printf 'signed by an arm64 tokend\n' >"$T/c/data"
openssl dgst -sha256 -binary "$T/c/data" >"$T/c/hash"
run_ok "sign with 9a (CKM_ECDSA)" "${as_member[@]}" "${p11[@]}" --login \
	--pin "$PIN" --sign --id 01 -m ECDSA --signature-format openssl \
	-i "$T/c/hash" -o "$T/c/sig9a"
run_ok "the 9a signature verifies with the card's public key" openssl pkeyutl \
	-verify -pubin -inkey "$T/pub9a.pem" -in "$T/c/hash" -sigfile "$T/c/sig9a"

run_ok "sign with 9c (CKM_SHA256_RSA_PKCS)" "${as_member[@]}" "${p11[@]}" \
	--login --pin "$PIN" --sign --id 02 -m SHA256-RSA-PKCS \
	-i "$T/c/data" -o "$T/c/sig9c"
run_ok "the 9c signature verifies with the card's public key" openssl dgst \
	-sha256 -verify "$T/pub9c.pem" -signature "$T/c/sig9c" "$T/c/data"

# Outside the allowed group: refused before anything is read.
run_fail "a client outside allow-groups is refused" "${as_other[@]}" \
	"${p11[@]}" -L

log=$(cat "$T/tokend.log")
assert_contains "$log" "refused peer uid $NOBODY gid $OTHER_GID" \
	"tokend logs the refused peer"
grep -Eq "AUDIT key-op export=arm uid=$NOBODY gid=$NOBODY pid=[0-9]+ .*op=sign key-id=01 .*mech=CKM_ECDSA result=CKR_OK" \
	<<<"$log" || fail "the 9a signature is audited with the client's uid"
grep -Eq "AUDIT key-op export=arm uid=$NOBODY .*op=sign key-id=02 .*result=CKR_OK" \
	<<<"$log" || fail "the 9c signature is audited"
assert_not_contains "$log" "SO_PEERGROUPS" "no SO_PEERGROUPS error for one-group clients"
pass "the audit trail names uid $NOBODY for both signatures"

kill -TERM "$TOKEND_PID"
rc=0
wait "$TOKEND_PID" || rc=$?
TOKEND_PID=
assert_eq 0 "$rc" "the arm64 tokend exits 0 on SIGTERM"
pass "the arm64 tokend stopped cleanly"
finish
