#!/usr/bin/env bash
# A socket-activated tokend: systemd-socket-activate holds the socket and
# starts tokend when the first client connects. That client — the one that
# started it — must find the card already in its slot list: tokend lists
# the readers and cards present at start before it serves anybody and reads
# the cards in the background; a C_GetSlotList that comes meanwhile waits
# for the read (without that wait it raced the read and showed "No slots").
. "$(dirname "$0")/../harness/lib.sh"

CLIENT_SO=/usr/lib/x86_64-linux-gnu/pkcs11/p11-kit-client.so
: "${TOKEND:?TOKEND must name the tokend binary}"
if [ ! -f "$CLIENT_SO" ]; then
	echo "SKIP: $CLIENT_SO missing (apt-get install p11-kit-modules)"
	exit 77
fi

SA_PID=
first_cleanup() {
	local rc=$?
	set +e
	if [ -n "$SA_PID" ]; then
		pkill -TERM -P "$SA_PID" 2>/dev/null
		kill -TERM "$SA_PID" 2>/dev/null
		wait "$SA_PID" 2>/dev/null
	fi
	(exit "$rc")
	harness_cleanup
}

harness_init
trap first_cleanup EXIT
harness_require systemd-socket-activate pkcs11-tool
T=$HARNESS_TMP
LOG=$T/tokend.log
HARNESS_LOGS=("$LOG")
pcscd_ensure
# A card as slow as a YubiKey (the read at start then takes ~0.3 s, after
# READY): the first client must wait for it, not race it.
vcard_start 0 --mgm-alg 3des --serial 4242424 --apdu-delay-ms 8

printf '[export default]\nsocket = %s/sock\nmode = 0666\n' "$T" >"$T/tokend.conf"
for round in 1 2 3; do
	rm -f "$T/sock"
	systemd-socket-activate -l "$T/sock" --fdname=default \
		"$TOKEND" -f -c "$T/tokend.conf" >>"$LOG" 2>&1 &
	SA_PID=$!
	for _ in $(seq 100); do
		[ -S "$T/sock" ] && break
		sleep 0.05
	done
	check "round $round: the socket is listening before tokend runs" test -S "$T/sock"
	out=$(P11_KIT_SERVER_ADDRESS=unix:path=$T/sock timeout 60 \
		pkcs11-tool --module "$CLIENT_SO" -L 2>&1) || fail "pkcs11-tool -L: $out"
	check "round $round: the client that started tokend sees the card" \
		grep -q "serial num *: *4242424" <<<"$out"
	# systemd-socket-activate runs tokend once; stop both for the next round.
	kill -TERM "$SA_PID" 2>/dev/null
	wait "$SA_PID" 2>/dev/null
	SA_PID=
done
finish
