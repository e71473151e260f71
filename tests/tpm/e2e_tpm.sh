#!/usr/bin/env bash
# The TPM token through tokend's socket, on a private swtpm: Debian's
# p11-kit-client.so and pkcs11-tool initialise it (SO PIN, then the user
# PIN), generate EC P-256 and RSA-2048 keys in the TPM, sign (ECDSA, RSA
# PKCS#1 v1.5, PSS) and decrypt (OAEP) with checks by openssl; tokend
# restarted: the keys are still there and sign; C_InitPIN with a new PIN
# keeps the old keys usable; a corrupt file in the state directory is
# skipped with a log line; swtpm killed: the token leaves, swtpm restarted
# on the same state: it returns and signs; 50 wrong PINs from socket
# clients (50 uids, so the daemon's per-peer back-off stays out of the
# way): the right PIN still works, and with tokend stopped tpm2_getcap
# shows the TPM's lockout counter below its maximum.
. "$(dirname "$0")/../harness/lib.sh"
. "$(dirname "$0")/../harness/swtpm.sh"

CLIENT_SO=/usr/lib/x86_64-linux-gnu/pkcs11/p11-kit-client.so
: "${TOKEND:?TOKEND must name the tokend binary}"
if [ ! -f "$CLIENT_SO" ]; then
	echo "SKIP: $CLIENT_SO missing (apt-get install p11-kit-modules)"
	exit 77
fi

TOKEND_PID=
tpm_tokend_stop() {
	if [ -n "$TOKEND_PID" ]; then
		kill -TERM "$TOKEND_PID" 2>/dev/null
		wait "$TOKEND_PID" 2>/dev/null
		TOKEND_PID=
	fi
}
e2e_cleanup() {
	local rc=$?
	set +e
	tpm_tokend_stop
	swtpm_stop
	(exit "$rc")
	harness_cleanup
}
harness_init
trap e2e_cleanup EXIT
harness_require swtpm pkcs11-tool openssl tpm2_getcap setpriv
T=$HARNESS_TMP
LOG=$T/tokend.log
HARNESS_LOGS=("$LOG")
swtpm_start || fail "swtpm did not start"
STATE=$T/tpmstate

cat >"$T/tokend.conf" <<EOF2
[piv]
enabled = no

[tpm]
tcti = $TOKEND_TEST_TCTI
state = $STATE
label = gw-test

[export s]
socket = $T/sock
mode = 0666
access = admin
EOF2

export P11_KIT_SERVER_ADDRESS=unix:path=$T/sock
p11=(timeout 60 pkcs11-tool --module "$CLIENT_SO")

# Waits until the token is listed (or, with "absent", until it is not).
token_wait() {
	local want=${1:-present} i
	for i in $(seq 200); do
		# (pkcs11-tool shows no label before the first C_InitToken.)
		if "${p11[@]}" -L 2>/dev/null |
			grep -qE "token label *: gw-test|token state: *uninitialized"; then
			[ "$want" = present ] && return 0
		else
			[ "$want" = absent ] && return 0
		fi
		sleep 0.1
	done
	return 1
}

tokend_start() {
	# A short cap on the token-wide PIN delay keeps 50 tries quick.
	TOKEND_TPM_DELAY_CAP_MS=200 \
		"$TOKEND" -f -c "$T/tokend.conf" >>"$LOG" 2>&1 &
	TOKEND_PID=$!
	token_wait present || fail "the TPM token did not appear"
}

tokend_start
out=$("${p11[@]}" -T 2>&1) || fail "pkcs11-tool -T: $out"
# Before the first C_InitToken the token says it is blank (neither
# CKF_TOKEN_INITIALIZED nor CKF_USER_PIN_INITIALIZED): pkcs11-tool then
# prints only that, no label or flags.
check "before C_InitToken: pkcs11-tool -T says the token is uninitialized" \
	grep -q "token state: *uninitialized" <<<"$out"
# (pkcs11-tool hides the flags then: CKF_USER_PIN_INITIALIZED read here.)
flags=$(/usr/bin/python3 -c 'import PyKCS11, sys
l = PyKCS11.PyKCS11Lib(); l.load(sys.argv[1])
print(l.getTokenInfo(l.getSlotList(tokenPresent=True)[0]).flags2text())' "$CLIENT_SO" 2>&1)
harness_log "before C_InitToken: $flags"
check "before C_InitToken: no CKF_TOKEN_INITIALIZED" bash -c "! grep -q CKF_TOKEN_INITIALIZED <<<'$flags'"
check "nor CKF_USER_PIN_INITIALIZED" bash -c "! grep -q CKF_USER_PIN_INITIALIZED <<<'$flags'"
check "CKF_LOGIN_REQUIRED is read" grep -q CKF_LOGIN_REQUIRED <<<"$flags"

run_ok "C_InitToken sets the SO PIN" "${p11[@]}" --init-token --so-pin 87654321 --label ignored
out=$("${p11[@]}" -T 2>&1)
check "the token shows the configured label" grep -q "token label *: gw-test" <<<"$out"
check "and the model TPM 2.0" grep -q "model *: TPM 2.0" <<<"$out"
check "the label given to C_InitToken is ignored" grep -q "token label *: gw-test" <<<"$out"
# token_flags: the "token flags" line of pkcs11-tool -T.
token_flags() { "${p11[@]}" -T 2>&1 | grep "token flags"; }
flags=$(grep "token flags" <<<"$out")
harness_log "after C_InitToken: $flags"
check "after C_InitToken: CKF_TOKEN_INITIALIZED" grep -q "token initialized" <<<"$flags"
check "but no CKF_USER_PIN_INITIALIZED yet" bash -c "! grep -q 'PIN initialized' <<<'$flags'"
run_ok "C_InitPIN by the SO sets the user PIN" "${p11[@]}" --login --login-type so \
	--so-pin 87654321 --init-pin --pin 123456
flags=$(token_flags)
check "after C_InitPIN: CKF_USER_PIN_INITIALIZED" grep -q "PIN initialized" <<<"$flags"
check "and CKF_TOKEN_INITIALIZED" grep -q "token initialized" <<<"$flags"
run_fail "a second C_InitToken with a wrong SO PIN is refused" \
	"${p11[@]}" --init-token --so-pin 11111111 --label x

run_ok "EC P-256 key generated in the TPM" "${p11[@]}" --login --pin 123456 \
	--keypairgen --key-type EC:prime256v1 --id 01 --label gw-signing
run_ok "RSA-2048 key generated in the TPM" "${p11[@]}" --login --pin 123456 \
	--keypairgen --key-type rsa:2048 --id 02
run_ok "read the EC public key" "${p11[@]}" --read-object --type pubkey --id 01 -o "$T/ec.der"
run_ok "read the RSA public key" "${p11[@]}" --read-object --type pubkey --id 02 -o "$T/rsa.der"
printf 'signed by the TPM through tokend\n' >"$T/data"
openssl dgst -sha256 -binary "$T/data" >"$T/hash"

sign_checks() { # PIN TAG
	local pin=$1 tag=$2
	run_ok "$tag: ECDSA P-256" "${p11[@]}" --login --pin "$pin" --sign --id 01 \
		-m ECDSA --signature-format openssl -i "$T/hash" -o "$T/sig.ec"
	run_ok "$tag: openssl verifies the ECDSA signature" openssl pkeyutl -verify -pubin \
		-keyform DER -inkey "$T/ec.der" -in "$T/hash" -sigfile "$T/sig.ec"
	run_ok "$tag: RSA PKCS#1 v1.5 (SHA256-RSA-PKCS)" "${p11[@]}" --login --pin "$pin" \
		--sign --id 02 -m SHA256-RSA-PKCS -i "$T/data" -o "$T/sig.rsa"
	run_ok "$tag: openssl verifies the PKCS#1 signature" openssl dgst -sha256 \
		-keyform DER -verify "$T/rsa.der" -signature "$T/sig.rsa" "$T/data"
}
sign_checks 123456 "first PIN"
# (p11-kit 0.24's client drops SHA256-RSA-PKCS-PSS: hashed here.)
run_ok "RSA PSS (RSA-PKCS-PSS over SHA-256)" "${p11[@]}" --login --pin 123456 --sign --id 02 \
	-m RSA-PKCS-PSS --hash-algorithm SHA256 --mgf MGF1-SHA256 -i "$T/hash" -o "$T/sig.pss"
run_ok "openssl verifies the PSS signature" openssl dgst -sha256 -keyform DER \
	-verify "$T/rsa.der" -sigopt rsa_padding_mode:pss -sigopt rsa_pss_saltlen:32 \
	-sigopt rsa_mgf1_md:sha256 -signature "$T/sig.pss" "$T/data"
printf 'a secret for the TPM\n' >"$T/plain"
run_ok "openssl encrypts with OAEP" openssl pkeyutl -encrypt -pubin -keyform DER \
	-inkey "$T/rsa.der" -pkeyopt rsa_padding_mode:oaep -pkeyopt rsa_oaep_md:sha256 \
	-pkeyopt rsa_mgf1_md:sha256 -in "$T/plain" -out "$T/enc"
run_ok "the TPM decrypts it (RSA-PKCS-OAEP)" "${p11[@]}" --login --pin 123456 --decrypt \
	--id 02 -m RSA-PKCS-OAEP --hash-algorithm SHA256 --mgf MGF1-SHA256 \
	-i "$T/enc" -o "$T/dec"
check "the plaintext comes back" cmp -s "$T/plain" "$T/dec"

# C_GenerateRandom from the TPM (TPM2_GetRandom, in pieces)
run_ok "C_GenerateRandom: 3000 bytes from the TPM" "${p11[@]}" --generate-random 3000 \
	-o "$T/rnd1"
run_ok "C_GenerateRandom again" "${p11[@]}" --generate-random 3000 -o "$T/rnd2"
check "3000 bytes each" test "$(stat -c %s "$T/rnd1")" = 3000 -a "$(stat -c %s "$T/rnd2")" = 3000
check "that differ" bash -c "! cmp -s '$T/rnd1' '$T/rnd2'"

# ECDH with the EC key, against openssl's side of it (p11-kit 0.24's
# client has no serializer for CK_ECDH1_DERIVE_PARAMS: a newer one, built
# by scripts/p11kit-clients.sh, when there).
NEW_CLIENT=${TOKEND_P11KIT_NEW_CLIENT:-}
if [ -n "$NEW_CLIENT" ] && [ -f "$NEW_CLIENT" ]; then
	openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$T/peer.pem" 2>/dev/null
	openssl pkey -in "$T/peer.pem" -pubout -outform DER -out "$T/peer.der"
	run_ok "ECDH1-DERIVE in the TPM" timeout 60 pkcs11-tool --module "$NEW_CLIENT" \
		--login --pin 123456 --derive -m ECDH1-DERIVE --id 01 -i "$T/peer.der" -o "$T/z.tpm"
	run_ok "openssl's side" openssl pkeyutl -derive -inkey "$T/peer.pem" \
		-peerkey <(openssl pkey -pubin -inform DER -in "$T/ec.der") -out "$T/z.ossl"
	check "both derive the same secret" cmp -s "$T/z.tpm" "$T/z.ossl"
else
	harness_log "ECDH not checked: no newer p11-kit client ($NEW_CLIENT)"
fi

# P-384 and RSA-3072 where the TPM has them (swtpm does).
run_ok "P-384 key generated in the TPM" "${p11[@]}" --login --pin 123456 \
	--keypairgen --key-type EC:secp384r1 --id 05
# (pkcs11-tool 0.23 --read-object cannot make a P-384 EVP_PKEY: the
# point from -O, wrapped in a SubjectPublicKeyInfo here.)
pt=$("${p11[@]}" -O --type pubkey --id 05 2>/dev/null | sed -n 's/^ *EC_POINT: *0461\(04[0-9a-f]*\)$/\1/p')
[ ${#pt} -eq 194 ] || fail "no P-384 EC_POINT in pkcs11-tool -O: '$pt'"
xxd -r -p <<<"3076301006072a8648ce3d020106052b81040022036200$pt" >"$T/p384.der"
openssl dgst -sha384 -binary "$T/data" >"$T/hash384"
run_ok "ECDSA P-384 over SHA-384" "${p11[@]}" --login --pin 123456 --sign --id 05 \
	-m ECDSA --signature-format openssl -i "$T/hash384" -o "$T/sig.384"
run_ok "openssl verifies it" openssl pkeyutl -verify -pubin -keyform DER \
	-inkey "$T/p384.der" -in "$T/hash384" -sigfile "$T/sig.384"
run_ok "RSA-3072 key generated in the TPM" "${p11[@]}" --login --pin 123456 \
	--keypairgen --key-type rsa:3072 --id 06
run_ok "read its public key" "${p11[@]}" --read-object --type pubkey --id 06 -o "$T/rsa3k.der"
run_ok "RSA-3072 PKCS#1 v1.5" "${p11[@]}" --login --pin 123456 --sign --id 06 \
	-m SHA256-RSA-PKCS -i "$T/data" -o "$T/sig.3k"
run_ok "openssl verifies it" openssl dgst -sha256 -keyform DER -verify "$T/rsa3k.der" \
	-signature "$T/sig.3k" "$T/data"

# A certificate and a data object (C_CreateObject), a key destroyed.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj /CN=gw \
	-keyout "$T/cert.key" -outform DER -out "$T/cert.der" -days 2 2>/dev/null
run_ok "a certificate stored" "${p11[@]}" --login --pin 123456 --write-object "$T/cert.der" \
	--type cert --id 03
run_ok "a certificate stored for key 01" "${p11[@]}" --login --pin 123456 \
	--write-object "$T/cert.der" --type cert --id 01
printf 'gateway settings\n' >"$T/blob"
run_ok "a data object stored" "${p11[@]}" --login --pin 123456 --write-object "$T/blob" \
	--type data --label settings --application-label gw
run_ok "a third key generated" "${p11[@]}" --login --pin 123456 --keypairgen \
	--key-type EC:prime256v1 --id 04
nkeys=$(ls "$STATE" | grep -c '^key-')
run_ok "and destroyed" "${p11[@]}" --login --pin 123456 --delete-object --type privkey --id 04
assert_eq $((nkeys - 1)) "$(ls "$STATE" | grep -c '^key-')" "its file left the state directory"
check "state directory 0700" test "$(stat -c %a "$STATE")" = 700
check "state files 0600" test -z "$(find "$STATE" -type f ! -perm 0600)"

# Restart; plus a corrupt and a foreign file in the state directory.
tpm_tokend_stop
printf 'TKTPM\001\001\001\377\377\377\377' >"$STATE/key-00000000deadbeef"
printf 'not ours\n' >"$STATE/notes"
tokend_start
sign_checks 123456 "after a tokend restart"
check "the corrupt file is skipped with a log line" \
	grep -q "key-00000000deadbeef: skipped" "$LOG"
check "and the foreign one" grep -q "notes: skipped" "$LOG"
out=$("${p11[@]}" --login --pin 123456 -O 2>&1)
check "the certificate is still there" grep -q "label: *tpm-03" <<<"$out"
check "the key keeps the CKA_LABEL given to C_GenerateKeyPair" \
	grep -q "label: *gw-signing" <<<"$out"
check "a key generated without one is named after its CKA_ID" \
	grep -q "label: *tpm-02" <<<"$out"
check "a certificate written for key 01 takes its label" \
	test "$(grep -c "label: *gw-signing" <<<"$out")" -ge 3
check "and the data object" grep -q "label: *'settings'\|label: *settings" <<<"$out"
run_ok "the data object reads back" "${p11[@]}" --login --pin 123456 --read-object \
	--type data --label settings -o "$T/blob.back"
check "byte for byte" cmp -s "$T/blob" "$T/blob.back"

run_ok "C_InitPIN with a new user PIN" "${p11[@]}" --login --login-type so \
	--so-pin 87654321 --init-pin --pin 654321
sign_checks 654321 "new PIN, old keys"
run_fail "the old user PIN no longer logs in" "${p11[@]}" --login --pin 123456 -O
run_ok "C_SetPIN: the user changes the PIN" "${p11[@]}" --change-pin --pin 654321 \
	--new-pin 24681357
run_ok "the changed PIN signs with the old keys" "${p11[@]}" --login --pin 24681357 \
	--sign --id 01 -m ECDSA -i "$T/hash" -o "$T/sig.x"
run_ok "C_SetPIN back" "${p11[@]}" --change-pin --pin 24681357 --new-pin 654321
run_ok "C_SetPIN by the logged-in SO changes the SO PIN" "${p11[@]}" --login --login-type so \
	--so-pin 87654321 --change-pin --new-pin 13572468
run_fail "the old SO PIN no longer works (C_InitPIN)" "${p11[@]}" --login --login-type so \
	--so-pin 87654321 --init-pin --pin 654321
run_ok "the new SO PIN does" "${p11[@]}" --login --login-type so --so-pin 13572468 \
	--init-pin --pin 654321

# The TPM goes away and comes back on the same state.
kill "$TOKEND_TEST_SWTPM_PID"
token_wait absent || fail "the token did not leave when swtpm was killed"
pass "swtpm killed: the token left"
swtpm_restart || fail "swtpm did not restart"
token_wait present || fail "the token did not return after swtpm restarted"
pass "swtpm restarted: the token returned"
sign_checks 654321 "after swtpm's restart"
# tokend started while the TPM is away: the token comes when it answers.
tpm_tokend_stop
kill "$TOKEND_TEST_SWTPM_PID"
TOKEND_TPM_DELAY_CAP_MS=200 \
	"$TOKEND" -f -c "$T/tokend.conf" >>"$LOG" 2>&1 &
TOKEND_PID=$!
sleep 1
token_wait absent || fail "a token without a TPM"
swtpm_restart || fail "swtpm did not restart"
token_wait present || fail "the token did not come when the TPM did"
pass "tokend started before the TPM: the token came with it"
sign_checks 654321 "after swtpm's restart"

# 50 wrong PINs, each from a uid of its own (the daemon's per-peer
# back-off would otherwise stretch them over minutes).
chmod 0711 "$T" # the other uids reach the socket (mode 0666) through it
wrong=0
t0=$(date +%s%N)
for i in $(seq 50); do
	uid=$((40000 + i))
	if out=$(setpriv --reuid=$uid --regid=$uid --clear-groups \
		env P11_KIT_SERVER_ADDRESS="$P11_KIT_SERVER_ADDRESS" \
		timeout 60 pkcs11-tool --module "$CLIENT_SO" --login --pin 0000$i -O 2>&1); then
		fail "wrong PIN $i was accepted"
	fi
	if grep -q CKR_PIN_INCORRECT <<<"$out"; then
		wrong=$((wrong + 1))
	else
		harness_log "wrong PIN $i: $out"
	fi
done
ms=$((($(date +%s%N) - t0) / 1000000))
assert_eq 50 "$wrong" "50 wrong PINs answered CKR_PIN_INCORRECT (never locked)"
# From the third on, each waits the (test-lowered) 200 ms cap after the
# one before: 48 waits at least.
harness_log "50 wrong PINs took $ms ms"
check "tokend delayed the wrong PINs (>= 48 x 200 ms)" test "$ms" -ge 9600
check "the refusals are counted by tokend" grep -q "wrong user PIN refused (50 wrong" "$LOG"
sign_checks 654321 "right PIN after 50 wrong ones"
tpm_tokend_stop
caps=$(tpm2_getcap -T "$TOKEND_TEST_TCTI" properties-variable 2>&1) ||
	fail "tpm2_getcap: $caps"
counter=$(sed -n 's/^ *TPM2_PT_LOCKOUT_COUNTER: *\(0x[0-9a-fA-F]*\).*/\1/p' <<<"$caps")
max=$(sed -n 's/^ *TPM2_PT_MAX_AUTH_FAIL: *\(0x[0-9a-fA-F]*\).*/\1/p' <<<"$caps")
[ -n "$counter" ] && [ -n "$max" ] || fail "tpm2_getcap said no lockout counter: $caps"
harness_log "lockout counter $counter, max $max"
check "the TPM's lockout counter stayed below its maximum" test $((counter)) -lt $((max))
check "the TPM's lockout counter did not move" test $((counter)) -eq 0

# The in-process module leaves the TPM alone unless in-process = yes.
# (Not under TSan: the module cannot be loaded into pkcs11-tool there.)
if [ -n "${TOKEND_MODULE:-}" ] && [ "${TOKEND_TSAN:-0}" != 1 ]; then
	mod=(timeout 60 pkcs11-tool --module "$TOKEND_MODULE")
	case ${TOKEND_SANITIZE:-0} in
	1 | ON | on | TRUE | true | YES | yes)
		# pkcs11-tool is not instrumented: the runtimes preloaded,
		# its own leaks not ours.
		mod=(env "LD_PRELOAD=$(cc -print-file-name=libasan.so) $(cc -print-file-name=libubsan.so)"
			ASAN_OPTIONS=detect_leaks=0:abort_on_error=1 "${mod[@]}")
		;;
	esac
	# (a failing slot list must reach the check, not end the script)
	out=$(TOKEND_CONF=$T/tokend.conf "${mod[@]}" -L 2>&1) || true
	check "the in-process module does not serve the TPM by default" \
		bash -c "! grep -q gw-test <<<'$out'"
	printf '[piv]\nenabled = no\n[tpm]\ntcti = %s\nstate = %s\nlabel = gw-test\nin-process = yes\n' \
		"$TOKEND_TEST_TCTI" "$STATE" >"$T/inproc.conf"
	# (swtpm serves one client at a time: tpm2_getcap's connection may
	# still be closing, and the driver's first try then fails; its
	# thread retries, and a later slot list has the token.)
	for _ in $(seq 50); do
		out=$(TOKEND_CONF=$T/inproc.conf "${mod[@]}" -L 2>&1) || true
		grep -q "token label *: gw-test" <<<"$out" && break
		sleep 0.1
	done
	check "with in-process = yes it does" grep -q "token label *: gw-test" <<<"$out"
	run_ok "in-process: ECDSA with the same key" env TOKEND_CONF="$T/inproc.conf" \
		"${mod[@]}" --login --pin 654321 --sign --id 01 -m ECDSA \
		--signature-format openssl -i "$T/hash" -o "$T/sig.inproc"
	run_ok "in-process: openssl verifies it" openssl pkeyutl -verify -pubin \
		-keyform DER -inkey "$T/ec.der" -in "$T/hash" -sigfile "$T/sig.inproc"
fi
check "no sanitizer report from tokend" \
	bash -c "! grep -qE 'ERROR: (Address|Leak)Sanitizer|WARNING: ThreadSanitizer|runtime error:' '$LOG'"
finish
