#!/usr/bin/env bash
# Installs what tokend needs, builds it, and shows the virtual YubiKey
# through tokend: first locally through its PKCS#11 module, then to an
# unprivileged "container" client over a p11-kit socket.
source "$(dirname "$0")/common.sh"
as_root "$@"

"$TOP/scripts/deps.sh"
build "$TOP/build"

export TOKEND_VCARD="$TOP/build/tests/vcard/tokend-vcard"
export TOKEND_PCSC_WAIT="$TOP/build/tests/tools/tokend-pcsc-wait"
source "$TOP/tests/harness/lib.sh"
harness_init

IDX=${DEMO_READER:-0}
MODULE="$TOP/build/pkcs11/tokend-pkcs11.so"
TOKEND="$TOP/build/daemon/tokend"
CLIENT=$(find /usr/lib -name p11-kit-client.so -path '*/pkcs11/*' | head -n 1)
T=$HARNESS_TMP
# The YubiKey factory management key; on firmware 5.7 it is an AES-192 key.
MGM=010203040506070801020304050607080102030405060708
TOKEND_PID=""

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
p11() { pkcs11-tool --module "$MODULE" "$@"; }
demo_cleanup() {
	local rc=$?
	set +e
	if [ -n "$TOKEND_PID" ]; then
		kill -TERM "$TOKEND_PID" 2>/dev/null
		wait "$TOKEND_PID" 2>/dev/null
	fi
	(exit "$rc")
	harness_cleanup
}
trap demo_cleanup EXIT

pcscd_ensure
step "Inserting a virtual YubiKey 5 (firmware 5.7.2) into '$(reader_name "$IDX")'"
vcard_start "$IDX" --serial 10000042

step "On the host, through tokend-pkcs11.so: the card as a PKCS#11 token"
p11 -L

step "Generating a P-256 key in PIV slot 9A (CKA_ID 01), logged in with the management key"
p11 --login --login-type so --so-pin "$MGM" --keypairgen --key-type EC:prime256v1 --id 01
p11 --read-object --type pubkey --id 01 -o "$T/pub.der"
openssl pkey -pubin -inform DER -in "$T/pub.der" -out "$T/pub.pem"

step "Signing on the host; openssl verifies"
printf 'hello from tokend\n' >"$T/msg"
LOG="$(vcard_dir "$IDX")/apdu.log"
before=$(wc -l <"$LOG")
p11 --login --pin 123456 --sign --id 01 -m ECDSA-SHA256 --signature-format openssl \
	-i "$T/msg" -o "$T/sig"
openssl dgst -sha256 -verify "$T/pub.pem" -signature "$T/sig" "$T/msg"
echo "That program (load, find the key, log in, sign, finalize) cost the card" \
	"$(($(wc -l <"$LOG") - before)) APDUs."

step "Starting tokend with an export for a container: read-only, user nobody, PIN held by tokend"
chmod 0755 "$T"
mkdir -p "$T/run" "$T/container"
chown nobody "$T/container"
printf '123456\n' >"$T/container.pin"
chmod 0600 "$T/container.pin"
cat >"$T/tokend.conf" <<CONF
[export container]
socket = $T/run/pkcs11
mode = 0666
allow-users = nobody
tokens = pkcs11:serial=10000042
access = read-only
pin-file = $T/container.pin
CONF
cat "$T/tokend.conf"
"$TOKEND" -f -c "$T/tokend.conf" >"$T/tokend.log" 2>&1 &
TOKEND_PID=$!
for _ in $(seq 100); do
	grep -q "tokend ready" "$T/tokend.log" && break
	sleep 0.1
done
grep -q "tokend ready" "$T/tokend.log" || fail "tokend did not start"

# What a container runs: Debian's stock p11-kit client, as an unprivileged
# user, with nothing but the socket's address (and no PIN).
container() {
	(cd "$T/container" && setpriv --reuid nobody --regid nogroup --clear-groups \
		env P11_KIT_SERVER_ADDRESS="unix:path=$T/run/pkcs11" \
		pkcs11-tool --module "$CLIENT" "$@")
}

step "In the container: the token over the socket (note 'PIN pad present': tokend holds the PIN)"
container -L

step "In the container: log in without a PIN and sign; openssl verifies"
# p11-kit 0.24's client cannot pass CKM_ECDSA_SHA256, so it hashes itself.
openssl dgst -sha256 -binary "$T/msg" >"$T/container/msg.sha256"
container --login --sign --id 01 -m ECDSA --signature-format openssl \
	-i "$T/container/msg.sha256" -o "$T/container/sig"
openssl dgst -sha256 -verify "$T/pub.pem" -signature "$T/container/sig" "$T/msg"

step "In the container: key generation is refused on a read-only export"
if container --login --keypairgen --key-type EC:prime256v1 --id 05 2>&1 | tee "$T/gen.out"; then
	fail "a read-only export generated a key"
fi
grep -q CKR_TOKEN_WRITE_PROTECTED "$T/gen.out" || fail "expected CKR_TOKEN_WRITE_PROTECTED"

step "tokend's audit trail"
grep AUDIT "$T/tokend.log" || true

step "Stopping tokend and pulling the key"
kill -TERM "$TOKEND_PID"
wait "$TOKEND_PID"
TOKEND_PID=""
vcard_stop "$IDX"
echo "done."
