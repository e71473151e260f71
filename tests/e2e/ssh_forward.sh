#!/usr/bin/env bash
# Another host through SSH's Unix-socket forwarding (the README recipe):
#   ssh -N -L LOCAL.sock:/run/tokend/.../pkcs11 user@tokend-host
# sshd runs on a free loopback port with a config, host key and
# authorized_keys of its own (stopped on exit); the user that logs in is
# "nobody", so the connections tokend sees come from sshd's session process
# as uid 65534. Through the forwarded socket:
#  * a stock p11-kit client logs in and signs; openssl verifies;
#  * the export's peer checks apply to the forwarding sshd's user: an
#    export that allows uid 65534 serves it, one that allows only another
#    uid refuses it (and logs uid 65534);
#  * per-connection isolation is intact (isolation.py, strict: one
#    forwarded client's login never lets another sign, a client killed
#    mid-session leaves nothing behind).
# shellcheck source=common.sh
. "$(dirname "$0")/common.sh"
e2e_require_tokend "ssh forwarding"
e2e_init
harness_require ssh ssh-keygen
SSHD=/usr/sbin/sshd
[ -x "$SSHD" ] || fail "sshd not installed (openssh-server)"
SSH_USER=nobody
SSH_UID=$(id -u "$SSH_USER")
provision 9a:ECCP256
# isolation.py's private data object (Printed Information), as isolation.sh
printf '\x01\x05Alice' >"$T/printed.bin"
run_ok "write Printed Information (a private data object)" "${ypt[@]}" -a write-object \
	--id 0x5FC109 -f binary -i "$T/printed.bin"

e2e_export local # root's, for server_start's own look
e2e_export fwd "allow-users=$SSH_UID"
e2e_export other allow-users=4321
server_start local

# --- sshd of our own on a free loopback port
S=$T/ssh
mkdir -m 0755 "$S"
ssh-keygen -q -t ed25519 -N '' -f "$S/host_key"
ssh-keygen -q -t ed25519 -N '' -f "$S/id"
install -m 0644 "$S/id.pub" "$S/authorized_keys"
PORT=$("$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
cat >"$S/sshd_config" <<EOC
ListenAddress 127.0.0.1:$PORT
HostKey $S/host_key
PidFile $S/sshd.pid
AuthorizedKeysFile $S/authorized_keys
# the keys live under /tmp (world-writable): sshd's path checks would refuse
StrictModes no
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
AllowUsers $SSH_USER
AllowStreamLocalForwarding local
# OpenSSH (9.2) lets a direct-streamlocal channel through only when local
# TCP forwarding is allowed too ("request was denied" otherwise)
AllowTcpForwarding local
X11Forwarding no
PermitTTY no
LogLevel VERBOSE
EOC
# Debian's sshd wants its privilege separation directory (the package's
# tmpfiles.d makes it at boot; no systemd runs here).
[ -d /run/sshd ] || install -d -m 0755 /run/sshd
run_ok "sshd config is valid" "$SSHD" -t -f "$S/sshd_config"
"$SSHD" -D -e -f "$S/sshd_config" 2>"$S/sshd.log" &
SSHD_PID=$!
SSH_PIDS=()
ssh_cleanup() {
	local p
	for p in "${SSH_PIDS[@]}" "$SSHD_PID"; do kill "$p" 2>/dev/null || true; done
	for p in "${SSH_PIDS[@]}" "$SSHD_PID"; do wait "$p" 2>/dev/null || true; done
}
trap 'ssh_cleanup; e2e_cleanup' EXIT
for _ in $(seq 100); do
	"$PY" -c "import socket; socket.create_connection(('127.0.0.1', $PORT), 0.2)" 2>/dev/null && break
	sleep 0.05
done

# forward LOCAL REMOTE: ssh -N -L LOCAL:REMOTE, up once LOCAL exists.
forward() {
	rm -f "$1"
	ssh -N -F none -i "$S/id" -p "$PORT" \
		-o BatchMode=yes -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null \
		-o ExitOnForwardFailure=yes -o StreamLocalBindUnlink=yes -o LogLevel=ERROR \
		-L "$1:$2" "$SSH_USER@127.0.0.1" &
	SSH_PIDS+=($!)
	for _ in $(seq 100); do
		[ -S "$1" ] && return 0
		sleep 0.05
	done
	cat "$S/sshd.log" >&2
	fail "ssh -L $1:$2 did not come up"
}
F=$T/fwd
mkdir -m 0700 "$F"
forward "$F/fwd.sock" "$SOCKDIR/fwd"
forward "$F/other.sock" "$SOCKDIR/other"
harness_log "sshd on 127.0.0.1:$PORT as $SSH_USER (uid $SSH_UID); forwarded sockets in $F"

# --- sign through the forward, openssl verifies
use_socket fwd
export P11_KIT_SERVER_ADDRESS="unix:path=$F/fwd.sock"
p11=(pkcs11-tool --module "$C" --slot-index "$SLOT")
head -c 1000 /dev/urandom >"$T/data"
openssl dgst -sha256 -binary "$T/data" >"$T/data.sha256"
run_ok "sign through the forwarded socket" "${p11[@]}" --login --pin "$PIN" --sign --id 01 \
	-m ECDSA --signature-format openssl -i "$T/data.sha256" -o "$T/fwd.sig"
run_ok "the signature verifies (openssl)" openssl dgst -sha256 \
	-verify <(openssl x509 -in "$T/cert_9a.pem" -noout -pubkey) -signature "$T/fwd.sig" "$T/data"

# --- peer checks see sshd's user
export P11_KIT_SERVER_ADDRESS="unix:path=$F/other.sock"
HARNESS_CMD_TIMEOUT=30 run_fail "an export for another uid refuses the forwarded client" \
	"${P11C[@]}" run "init; slots; open"
case $OUT in
*"init: err CKR_DEVICE_ERROR"* | *"slots: ok 0"*) ;;
*) fail "expected C_Initialize CKR_DEVICE_ERROR or no slots:"$'\n'"$OUT" ;;
esac
grep -Ei 'refus|not allowed|denied' "$SERVER_LOG" | grep -q "$SSH_UID" ||
	fail "no refusal log line naming uid $SSH_UID (sshd's user)"

# --- isolation between forwarded clients
export P11_KIT_SERVER_ADDRESS="unix:path=$F/fwd.sock"
HARNESS_CMD_TIMEOUT=240 run_ok "isolation.py through the forward" env E2E_STRICT=1 \
	"$PY" "$E2E_DIR/isolation.py"
printf '%s\n' "$OUT" >&2

ssh_cleanup
server_stop
vcard_stop 0
harness_log "PASS"
