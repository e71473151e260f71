# shellcheck shell=bash
# Shared by the TPM end-to-end tests that need only one tokend with the
# TPM token of the test's swtpm (tests/harness/swtpm.sh) behind an
# access = admin export: tpm_tokend_start LABEL [MODE] starts it (TOKEND_PID;
# MODE the socket's, 0600 unless given),
# points the p11-kit client at its socket, sets p11=(pkcs11-tool ...) and
# waits until the token is listed. tpm_token_setup initialises the token
# with a key; tpm_cleanup is the tests' EXIT trap.

TOKEND_PID=''
TPM_STOP_PIDS=() # what the test started besides tokend (clients, servers)

# The EXIT trap (trap tpm_cleanup EXIT, after harness_init): stops tokend
# and TPM_STOP_PIDS, then swtpm and the harness, keeping the status.
tpm_cleanup() {
	local rc=$? p
	set +e
	for p in $TOKEND_PID "${TPM_STOP_PIDS[@]}"; do
		kill -TERM "$p" 2>/dev/null
		wait "$p" 2>/dev/null
	done
	swtpm_stop
	(exit "$rc")
	harness_cleanup
}

# tpm_test_init COMMAND...: skips (77) without Debian's p11-kit client,
# then the harness, the EXIT trap, the commands the test needs besides
# swtpm, pkcs11-tool and openssl, $T, $LOG (tokend's) and a started swtpm.
tpm_test_init() {
	CLIENT_SO=/usr/lib/x86_64-linux-gnu/pkcs11/p11-kit-client.so
	: "${TOKEND:?TOKEND must name the tokend binary}"
	if [ ! -f "$CLIENT_SO" ]; then
		echo "SKIP: $CLIENT_SO missing (apt-get install p11-kit-modules)"
		exit 77
	fi
	harness_init
	trap tpm_cleanup EXIT
	harness_require swtpm pkcs11-tool openssl "$@"
	T=$HARNESS_TMP
	LOG=$T/tokend.log
	HARNESS_LOGS=("$LOG")
	swtpm_start || fail "swtpm did not start"
}

# C_InitToken (SO PIN 87654321), C_InitPIN (user PIN 123456) and an EC
# P-256 key pair with CKA_ID 01, through "${p11[@]}".
tpm_token_setup() {
	run_ok "C_InitToken" "${p11[@]}" --init-token --so-pin 87654321 --label x
	run_ok "C_InitPIN" "${p11[@]}" --login --login-type so --so-pin 87654321 \
		--init-pin --pin 123456
	run_ok "a P-256 key generated in the TPM" "${p11[@]}" --login --pin 123456 \
		--keypairgen --key-type EC:prime256v1 --id 01
}

tpm_tokend_start() {
	local label=$1 mode=${2:-0600} _
	cat >"$T/tokend.conf" <<EOF2
[piv]
enabled = no

[tpm]
tcti = $TOKEND_TEST_TCTI
state = $T/tpmstate
label = $label

[export s]
socket = $T/sock
mode = $mode
access = admin
EOF2
	"$TOKEND" -f -c "$T/tokend.conf" >>"$LOG" 2>&1 &
	TOKEND_PID=$!
	export P11_KIT_SERVER_ADDRESS=unix:path=$T/sock
	p11=(timeout 60 pkcs11-tool --module "$CLIENT_SO")
	for _ in $(seq 200); do
		# (pkcs11-tool shows no label before the first C_InitToken.)
		"${p11[@]}" -L 2>/dev/null |
			grep -qE "token label *: $label|token state: *uninitialized" && return 0
		sleep 0.1
	done
}
