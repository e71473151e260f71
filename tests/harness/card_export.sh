# shellcheck shell=bash disable=SC2034 # (variables for the scripts that source this)
# The virtual card in reader 1 with a P-256 key in 9A, and tokend with one
# export showing only that card's token: the set-up of the daemon and ctl
# tests that watch one client through one export.
#
#   . "$(dirname "$0")/../harness/card_export.sh"
#   card_export_start [OPTION...] [-- COMMAND...]
#     --delay          the card takes 2 s per key operation
#     --delay-ms N     the card takes N ms per key operation
#     --cert SUBJECT   a self-signed certificate for 9A, imported
#     --export NAME    the export's name (default test)
#     --exports 'NAME...'  instead, one export NAME per name on the socket
#                      $T/NAME (no P11_KIT_SERVER_ADDRESS)
#     --control        [tokend] control-socket = $T/control
#     --client         skip (77) without Debian's p11-kit-client.so
#     COMMAND...       more commands the test needs
#
# Afterwards: $T (mode 0755), $R (the reader), $SERIAL, $T/pub.pem,
# $T/tokend.conf, $T/tokend.log, $T/tokend.sock (exported as
# P11_KIT_SERVER_ADDRESS), $TOKEND_PID, $CLIENT_SO. tokend and the pids a
# test adds to BG are killed at exit if still running.
#
#   card_export_conf NAME:SOCKET...  rewrites $T/tokend.conf with these
#                    exports of the card (and the control socket), for a
#                    test that reloads tokend (SIGHUP)
#   card_export_tokend  starts tokend again on $T/tokend.conf (after the
#                    test stopped it; the log starts afresh): $TOKEND_PID
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

CLIENT_SO=/usr/lib/$(gcc -dumpmachine 2>/dev/null || echo x86_64-linux-gnu)/pkcs11/p11-kit-client.so
: "${TOKEND:?TOKEND must name the tokend binary}"

TOKEND_PID=
BG=()
CARD_EXPORT_CONTROL=
card_export_cleanup() {
	local rc=$? p
	# (exit "$rc") below hands harness_cleanup the status; under set -e it
	# would end the trap instead.
	set +e
	for p in "${BG[@]}" "$TOKEND_PID"; do
		if [ -n "$p" ] && kill -0 "$p" 2>/dev/null; then
			kill -KILL "$p" 2>/dev/null
			wait "$p" 2>/dev/null
		fi
	done
	(exit "$rc")
	harness_cleanup
}

card_export_conf() {
	local e
	printf '%s' "${CARD_EXPORT_CONTROL//CTL/$T/control}" >"$T/tokend.conf"
	for e in "$@"; do
		printf '[export %s]\nsocket = %s\nmode = 0666\ntokens = pkcs11:serial=%s\n\n' \
			"${e%%:*}" "${e#*:}" "$SERIAL" >>"$T/tokend.conf"
	done
}

card_export_tokend() {
	local _
	"$TOKEND" -f -c "$T/tokend.conf" 2>"$T/tokend.log" &
	TOKEND_PID=$!
	for _ in $(seq 100); do
		grep -q "tokend ready" "$T/tokend.log" && return 0
		sleep 0.05
	done
	fail "tokend did not start"
}

card_export_start() {
	local subject="" name=test exports=() delay=() e
	while [ $# -gt 0 ]; do
		case $1 in
		--delay) delay=(--keyop-delay-ms 2000) ;;
		--delay-ms) delay=(--keyop-delay-ms "$2"); shift ;;
		--cert) subject=$2; shift ;;
		--export) name=$2; shift ;;
		--exports) read -ra exports <<<"$2"; shift ;;
		--control) CARD_EXPORT_CONTROL=$'[tokend]\ncontrol-socket = CTL\n\n' ;;
		--client)
			if [ ! -f "$CLIENT_SO" ]; then
				echo "SKIP: $CLIENT_SO missing (apt-get install p11-kit-modules)"
				exit 77
			fi
			;;
		--) shift; break ;;
		*) break ;;
		esac
		shift
	done
	harness_init
	trap card_export_cleanup EXIT
	harness_require yubico-piv-tool openssl "$@"
	pcscd_ensure
	vcard_start 1 --mgm-alg 3des "${delay[@]}"
	R=$(reader_name 1)
	T=$HARNESS_TMP
	chmod 0755 "$T"
	HARNESS_LOGS=("$T/tokend.log")

	run_ok "generate P-256 in 9a" yubico-piv-tool -r "$R" -a generate -s 9a \
		-A ECCP256 -o "$T/pub.pem"
	if [ -n "$subject" ]; then
		card_selfsign 1 9a "$T/pub.pem" "$subject" "$T/cert.pem"
		run_ok "import the certificate" yubico-piv-tool -r "$R" -a import-certificate \
			-s 9a -i "$T/cert.pem"
	fi
	SERIAL=$(yubico-piv-tool -r "$R" -a status | awk '/^Serial Number/ { print $NF }')
	[ -n "$SERIAL" ] || fail "no serial number from yubico-piv-tool status"
	if [ ${#exports[@]} -eq 0 ]; then
		card_export_conf "$name:$T/tokend.sock"
		card_export_tokend
		export P11_KIT_SERVER_ADDRESS="unix:path=$T/tokend.sock"
		return
	fi
	for e in "${!exports[@]}"; do
		exports[e]=${exports[e]}:$T/${exports[e]}
	done
	card_export_conf "${exports[@]}"
	card_export_tokend
}
