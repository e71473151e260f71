#!/usr/bin/env bash
# run_installed.sh: the installed tokend serves a card. Run inside
# tests/harness/private_pcscd.sh (a pcscd and mount namespace of its own),
# with the packages installed, TOKEND_VCARD and TOKEND_PCSC_WAIT set.
#
# A virtual YubiKey with a P-256 key in 9A; /run/tokend is a private tmpfs
# here, so the packaged paths can be used without touching the host's.
# systemd-socket-activate holds /run/tokend/pkcs11 as tokend.socket would
# and starts /usr/sbin/tokend, as user tokend, when the first client
# connects; that client signs through Debian's p11-kit-client.so and
# openssl verifies the signature. Then p11-kit-aware programs find the
# token through the packaged module file (remote: unix:path=...), the
# audit trail has the signature, and SIGTERM stops tokend cleanly.
. "$(dirname "$0")/lib.sh"

[ "${TOKEND_PRIVATE_PCSCD:-}" = 1 ] || fail "run me under tests/harness/private_pcscd.sh"
PIN=123456
SA_PID=

run_cleanup() {
	local rc=$? pid
	set +e
	for pid in $(pkg_installed_tokend_pids); do kill -KILL "$pid"; done
	[ -z "$SA_PID" ] || { kill "$SA_PID" 2>/dev/null; wait "$SA_PID" 2>/dev/null; }
	umount /run/tokend 2>/dev/null
	(exit "$rc")
	harness_cleanup
}
harness_init
trap run_cleanup EXIT
harness_require systemd-socket-activate setpriv yubico-piv-tool pkcs11-tool openssl p11-kit
[ -f "$PKG_CLIENT_SO" ] || fail "$PKG_CLIENT_SO missing (apt-get install p11-kit-modules)"
T=$HARNESS_TMP
chmod 0755 "$T"
LOG=$T/tokend.log
HARNESS_LOGS=("$LOG")

pcscd_ensure
vcard_start 0 --mgm-alg 3des
run_ok "generate P-256 in 9a" yubico-piv-tool -r "$(reader_name 0)" -a generate -s 9a \
	-A ECCP256 -o "$T/pub.pem"

mount -t tmpfs -o mode=0755 tmpfs /run/tokend
chown tokend:tokend /run/tokend
cat >"$T/tokend.conf" <<EOF2
[export default]
socket = /run/tokend/pkcs11
EOF2
chmod 0644 "$T/tokend.conf"
systemd-socket-activate -l /run/tokend/pkcs11 --fdname=default \
	setpriv --reuid=tokend --regid=tokend --init-groups \
	/usr/sbin/tokend -f -c "$T/tokend.conf" >>"$LOG" 2>&1 &
SA_PID=$!
for _ in $(seq 100); do
	[ -S /run/tokend/pkcs11 ] && break
	sleep 0.05
done
check "the socket is listening" test -S /run/tokend/pkcs11
sleep 0.5
check "tokend does not start before its first client" test -z "$(pkg_installed_tokend_pids)"

export P11_KIT_SERVER_ADDRESS=unix:path=/run/tokend/pkcs11
p11=(timeout 60 pkcs11-tool --module "$PKG_CLIENT_SO")
out=$("${p11[@]}" -L 2>&1) || fail "pkcs11-tool -L through the socket: $out"
check "the first client starts tokend, which shows the card" grep -q "token initialized" <<<"$out"
pid=$(pkg_installed_tokend_pids)
check "one installed tokend runs" test "$(echo "$pid" | wc -w)" = 1
check "it runs as user tokend" test "$(ps -o user= -p "${pid:-0}" | tr -d ' ')" = tokend
check "tokend took the socket from systemd-socket-activate" grep -q "(from systemd)" "$LOG"

printf 'signed by the installed tokend\n' >"$T/data"
openssl dgst -sha256 -binary "$T/data" >"$T/hash"
run_ok "sign with 9a through p11-kit-client.so" "${p11[@]}" --login --pin "$PIN" \
	--sign --id 01 -m ECDSA --signature-format openssl -i "$T/hash" -o "$T/sig"
run_ok "openssl verifies the signature" openssl pkeyutl -verify -pubin \
	-inkey "$T/pub.pem" -in "$T/hash" -sigfile "$T/sig"
unset P11_KIT_SERVER_ADDRESS

# p11-kit-aware programs: the packaged module file leads them to tokend.
out=$(timeout 30 p11-kit list-modules 2>&1) || fail "p11-kit list-modules: $out"
tokend_part=$(awk '/^[^ ]/ { m = ($1 == "tokend:") } m' <<<"$out")
check "p11-kit finds tokend's token through the module file" grep -q "token:" <<<"$tokend_part"
harness_log "p11-kit list-modules, module tokend: $(tr -s ' \n' ' ' <<<"$tokend_part")"

check "the signature is audited" grep -Eq "AUDIT key-op export=default uid=0 .*op=sign key-id=01 .*result=CKR_OK" "$LOG"
check "the PIN is not in the log" sh -c "! grep -q '$PIN' '$LOG'"

kill -TERM "$pid"
rc=0
wait "$SA_PID" || rc=$?
SA_PID=
check "tokend exits 0 on SIGTERM" test "$rc" = 0
check "tokend logged its stop" grep -q "stopped" "$LOG"
finish
