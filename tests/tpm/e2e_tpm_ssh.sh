#!/usr/bin/env bash
# The TPM token as an SSH key: a P-256 key generated in the TPM through
# tokend's socket, `ssh-keygen -D` lists exactly it, and ssh logs in to an
# sshd on loopback (free port, started and stopped by the test) with it,
# the PIN given through SSH_ASKPASS.
. "$(dirname "$0")/../harness/lib.sh"
. "$(dirname "$0")/../harness/swtpm.sh"
. "$(dirname "$0")/common.sh"

CLIENT_SO=/usr/lib/x86_64-linux-gnu/pkcs11/p11-kit-client.so
SSHD=/usr/sbin/sshd
: "${TOKEND:?TOKEND must name the tokend binary}"
for f in "$CLIENT_SO" "$SSHD"; do
	if [ ! -f "$f" ]; then
		echo "SKIP: $f missing (apt-get install p11-kit-modules openssh-server)"
		exit 77
	fi
done

harness_init
trap tpm_cleanup EXIT
harness_require swtpm pkcs11-tool ssh ssh-keygen
T=$HARNESS_TMP
LOG=$T/tokend.log
HARNESS_LOGS=("$LOG" "$T/sshd.log")
swtpm_start || fail "swtpm did not start"

tpm_tokend_start ssh-test
tpm_token_setup

keys=$(timeout 60 ssh-keygen -D "$CLIENT_SO" 2>/dev/null) || fail "ssh-keygen -D failed"
assert_eq 1 "$(grep -c '^ecdsa-sha2-nistp256 ' <<<"$keys")" "ssh-keygen -D lists the one key"

# sshd on a free loopback port, this user's key authorised.
mkdir -m 0700 "$T/ssh"
ssh-keygen -q -t ed25519 -N '' -f "$T/ssh/host" </dev/null
printf '%s\n' "$keys" >"$T/ssh/authorized_keys"
port=$((20000 + (RANDOM * 32768 + RANDOM) % 40000))
while ss -Htan "( sport = :$port )" | grep -q .; do port=$((port + 1)); done
cat >"$T/ssh/sshd_config" <<EOF2
Port $port
ListenAddress 127.0.0.1
HostKey $T/ssh/host
PidFile none
AuthorizedKeysFile $T/ssh/authorized_keys
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
PermitRootLogin prohibit-password
StrictModes no
UsePAM no
EOF2
mkdir -p /run/sshd
"$SSHD" -D -e -f "$T/ssh/sshd_config" >"$T/sshd.log" 2>&1 &
TPM_STOP_PIDS+=($!)
for _ in $(seq 50); do
	ss -Htln "( sport = :$port )" | grep -q . && break
	sleep 0.1
done
printf '#!/bin/sh\necho 123456\n' >"$T/askpass"
chmod 0700 "$T/askpass"
out=$(SSH_ASKPASS=$T/askpass SSH_ASKPASS_REQUIRE=force DISPLAY=:0 \
	timeout 60 ssh -F none -p "$port" -I "$CLIENT_SO" \
	-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null \
	-o BatchMode=no -o PasswordAuthentication=no \
	"$(id -un)@127.0.0.1" 'echo logged-in-with-the-tpm' </dev/null 2>&1) || true
check "ssh logs in with the TPM's key" grep -q "logged-in-with-the-tpm" <<<"$out"
check "the signature is audited" grep -q "AUDIT key-op export=s .* op=sign key-id=01 .*result=CKR_OK" "$LOG"
[ "$HARNESS_CHECK_FAILS" -eq 0 ] || harness_log "ssh said: $out"
finish
