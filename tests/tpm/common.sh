# Shared by the TPM end-to-end tests that need only one tokend with the
# TPM token of the test's swtpm (tests/harness/swtpm.sh) behind an
# access = admin export: tpm_tokend_start LABEL [MODE] starts it (TOKEND_PID;
# MODE the socket's, 0600 unless given),
# points the p11-kit client at its socket, sets p11=(pkcs11-tool ...) and
# waits until the token is listed.

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
