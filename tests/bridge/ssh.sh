#!/usr/bin/env bash
# SSH login with a key on a SoftHSMv2 token behind tokend: ssh-keygen -D
# lists the token's key through the p11-kit client (the same key openssl
# reads); a local sshd of the test's own (its config, host key and
# authorized_keys in the temp dir, a free loopback port) lets ssh in with
# PKCS11Provider = the p11-kit client and the PIN from SSH_ASKPASS, and the
# login is the token's signature (tokend audits it); without the token, or
# with a wrong PIN, ssh is refused. (No IdentitiesOnly=yes: OpenSSH 9.2
# then offers no PKCS#11 key at all, whatever the module.)
# shellcheck source=softhsm.sh
. "$(dirname "$0")/softhsm.sh"
bridge_init ssh ssh-keygen /usr/sbin/sshd

bridge_keypair rsa:2048 05 ssh-key
run_ok "ssh-keygen -D lists the token's keys" ssh-keygen -D "$CLIENT_SO"
printf '%s\n' "$OUT" | grep '^ssh-' >"$T/authorized_keys"
run_ok "the token's public key in OpenSSH's form" ssh-keygen -i -m PKCS8 -f "$T/pub_05.pem"
want=$(cut -d' ' -f1,2 <<<"$OUT")
check "ssh-keygen -D's key is the token's RSA key" grep -qF "$want" "$T/authorized_keys"

# sshd: its own host key, config and port; only the token's key gets in.
run_ok "sshd host key" ssh-keygen -q -t ed25519 -N '' -f "$T/host_key"
cat >"$T/sshd_config" <<EOF2
HostKey $T/host_key
PidFile $T/sshd.pid
AuthorizedKeysFile $T/authorized_keys
StrictModes no
UsePAM no
PermitRootLogin prohibit-password
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
AllowUsers $(id -un)
LogLevel VERBOSE
EOF2
# sshd's privilege separation directory is compiled in; systemd-tmpfiles
# makes it at boot, so a machine that installed openssh-server and then
# rebooted without starting ssh.service has none.
[ -d /run/sshd ] || mkdir -m 0755 /run/sshd
bridge_serve sshd "$T/sshd.log" /usr/sbin/sshd -D -e -f "$T/sshd_config" \
	-o ListenAddress=127.0.0.1:@PORT@
port=$PORT

printf '127.0.0.1 %s\n' "$(cut -d' ' -f1,2 "$T/host_key.pub")" >"$T/known_hosts"
# shellcheck disable=SC2016 # (askpass expands it)
printf '#!/bin/sh\necho "$SSH_TEST_PIN"\n' >"$T/askpass"
chmod +x "$T/askpass"
# ssh_cmd PIN [ssh options...]: the ssh command line in $SSHC, logging in
# and running one command, the PIN answered by askpass.
ssh_cmd() {
	local pin=$1
	shift
	SSHC=(env -u SSH_AUTH_SOCK SSH_TEST_PIN="$pin" SSH_ASKPASS="$T/askpass"
		SSH_ASKPASS_REQUIRE=force setsid ssh -F /dev/null -p "$port"
		-o UserKnownHostsFile="$T/known_hosts" -o StrictHostKeyChecking=yes
		-o PasswordAuthentication=no
		-o KbdInteractiveAuthentication=no -o ConnectTimeout=20 "$@"
		"$(id -un)@127.0.0.1" echo logged-in-with-the-token)
}
ssh_cmd "$PIN" -o PKCS11Provider="$CLIENT_SO"
run_ok "ssh logs in with the token's key (PKCS11Provider)" "${SSHC[@]}" </dev/null
check "and runs the command" grep -q "^logged-in-with-the-token$" <<<"$OUT"
check "sshd accepted the token's RSA key" grep -q "Accepted publickey for $(id -un) .* RSA" "$T/sshd.log"
check "the login's signature is the token's (tokend's audit)" \
	grep -q "AUDIT key-op export=s .* op=sign key-id=05 .*result=CKR_OK" "$LOG"
ssh_cmd "$PIN" -I "$CLIENT_SO"
run_ok "ssh -I (the same through the command line)" "${SSHC[@]}" </dev/null
ssh_cmd "$PIN"
run_fail "without the token, ssh is refused" "${SSHC[@]}" </dev/null
check "(publickey)" grep -q "Permission denied (publickey)" <<<"$OUT"
ssh_cmd 9999 -o PKCS11Provider="$CLIENT_SO"
run_fail "with a wrong PIN, ssh is refused" "${SSHC[@]}" </dev/null
check "the wrong PIN reached the token and was refused" \
	grep -q "AUDIT login export=s .*result=CKR_PIN_INCORRECT" "$LOG"
bridge_servers_stop
bridge_stop
finish
