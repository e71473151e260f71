# shellcheck shell=bash disable=SC2034 # (variables for the scripts that source this)
# Shared set-up for tests/bridge/*.sh: a SoftHSMv2 token initialised in the
# test's temporary directory, served by tokend through [module softhsm] and
# an export with access = full; clients use a p11-kit client module through
# the socket, as a container would.
#
#   . "$(dirname "$0")/softhsm.sh"
#   bridge_init [COMMAND...]     # harness, SoftHSM token, tokend; skips (77)
#                                # when SoftHSMv2 or the client is missing,
#                                # fails when a COMMAND is missing; runs the
#                                # script's bridge_before_start function, if
#                                # any, between the token and tokend
#   "${p11[@]}" -L               # pkcs11-tool through the socket
#   ...
#   bridge_stop                  # tokend must exit cleanly (also by trap)
#
# Afterwards: $T (temp dir), $CLIENT_SO (the client module), $SOCK,
# P11_KIT_SERVER_ADDRESS exported, $LABEL/$PIN/$SO_PIN of the token,
# $TOKEND_PID, $LOG (tokend's log), $PY (Debian's python3, for PyKCS11);
# a bridge_before_start may set BRIDGE_EXPORTS to more [export]s;
# bridge_serve starts a server (sshd, s_server) on a free loopback port,
# stopped at exit.
#
# Environment: TOKEND, TOKEND_SOFTHSM_MODULE (ctest sets them);
# BRIDGE_CLIENT_VERSION: a newer p11-kit client built into
# BRIDGE_CLIENT_PREFIX (lib/pkcs11/p11-kit-client.so; its lib/ goes first in
# the clients' LD_LIBRARY_PATH), else Debian's p11-kit-client.so.
# shellcheck source=../harness/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/../harness/lib.sh"

BRIDGE_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
SOFTHSM=${TOKEND_SOFTHSM_MODULE:-/usr/lib/softhsm/libsofthsm2.so}
DEBIAN_CLIENT_SO=/usr/lib/x86_64-linux-gnu/pkcs11/p11-kit-client.so
BRIDGE_CLIENT_VERSION=${BRIDGE_CLIENT_VERSION:-}
LABEL=gateway
PIN=1234
SO_PIN=5678
PY=/usr/bin/python3
TOKEND_PID=
BRIDGE_SERVERS=()
p11=()

bridge_cleanup() {
	local rc=$?
	set +e
	bridge_servers_stop
	if [ -n "$TOKEND_PID" ]; then
		kill -TERM "$TOKEND_PID" 2>/dev/null
		wait "$TOKEND_PID" 2>/dev/null
	fi
	(exit "$rc")
	harness_cleanup
}

# shellcheck disable=SC2120 # (COMMANDs are optional)
bridge_init() {
	: "${TOKEND:?TOKEND must name the tokend binary}"
	if [ -n "$BRIDGE_CLIENT_VERSION" ]; then
		CLIENT_SO=${BRIDGE_CLIENT_PREFIX:?}/lib/pkcs11/p11-kit-client.so
		# A newer client not built is a failure, as for tests/e2e.
		[ -f "$CLIENT_SO" ] || {
			echo "FAIL: p11-kit $BRIDGE_CLIENT_VERSION client not built ($CLIENT_SO): run scripts/p11kit-clients.sh BUILD_DIR" >&2
			exit 1
		}
	else
		CLIENT_SO=$DEBIAN_CLIENT_SO
	fi
	local f
	for f in "$CLIENT_SO" "$SOFTHSM"; do
		if [ ! -f "$f" ]; then
			echo "SKIP: $f missing (apt-get install p11-kit-modules softhsm2)"
			exit 77
		fi
	done
	harness_init
	trap bridge_cleanup EXIT
	harness_require softhsm2-util pkcs11-tool openssl "$@"
	T=$HARNESS_TMP
	LOG=$T/tokend.log
	SOCK=$T/sock
	HARNESS_LOGS=("$LOG")
	bridge_softhsm_token softhsm "$LABEL" "$PIN"
	if declare -F bridge_before_start >/dev/null; then
		bridge_before_start
	fi
	bridge_tokend_start
}

# bridge_softhsm_token NAME LABEL PIN: a fresh SoftHSMv2 token in
# $T/tokens-NAME, its SoftHSM config $T/NAME.conf, and a [module NAME] for
# tokend's config (bridge_init makes NAME softhsm; a bridge_before_start
# function may add more modules).
BRIDGE_MODULES=""
bridge_softhsm_token() {
	local name=$1 label=$2 pin=$3
	mkdir "$T/tokens-$name"
	printf 'directories.tokendir = %s/tokens-%s\nobjectstore.backend = file\nlog.level = ERROR\n' \
		"$T" "$name" >"$T/$name.conf"
	SOFTHSM2_CONF=$T/$name.conf run_ok "softhsm2-util --init-token ($name)" \
		softhsm2-util --init-token --free --label "$label" --pin "$pin" --so-pin "$SO_PIN"
	BRIDGE_MODULES+=$(printf '[module %s]\npath = %s\nenv = SOFTHSM2_CONF=%s\n\n' \
		"$name" "$SOFTHSM" "$T/$name.conf")$'\n'
}

# tokend with the [module NAME]s and [export s] (access = full) on $SOCK;
# returns when the token $LABEL shows through the socket.
bridge_tokend_start() {
	cat >"$T/tokend.conf" <<EOF
[piv]
enabled = no

$BRIDGE_MODULES
[export s]
socket = $SOCK
mode = 0666
access = full

${BRIDGE_EXPORTS:-}
EOF
	"$TOKEND" -f -c "$T/tokend.conf" >>"$LOG" 2>&1 &
	TOKEND_PID=$!
	export P11_KIT_SERVER_ADDRESS=unix:path=$SOCK
	# Only the clients get the newer libp11-kit first (p11tool links it).
	if [ -n "$BRIDGE_CLIENT_VERSION" ]; then
		export LD_LIBRARY_PATH=$BRIDGE_CLIENT_PREFIX/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
	fi
	p11=(timeout 60 pkcs11-tool --module "$CLIENT_SO")
	local _
	for _ in $(seq 300); do # 30 s: a sanitizer build starts slowly
		"${p11[@]}" -T 2>/dev/null | grep -q "token label *: $LABEL" && break
		kill -0 "$TOKEND_PID" 2>/dev/null || fail "tokend exited at start"
		sleep 0.1
	done
	"${p11[@]}" -T 2>/dev/null | grep -q "token label *: $LABEL" ||
		fail "the SoftHSM token '$LABEL' does not show through $SOCK"
	harness_log "tokend up (pid $TOKEND_PID), client $CLIENT_SO"
}

# bridge_stop: SIGTERM; tokend must exit 0 within 5 s with no sanitizer
# report in its log.
bridge_stop() {
	[ -n "$TOKEND_PID" ] || return 0
	tokend_stop "$TOKEND_PID" "$LOG"
	TOKEND_PID=
}

# bridge_keypair TYPE ID LABEL: a key pair generated on the token through
# the socket (pkcs11-tool --keypairgen --key-type TYPE, e.g. rsa:2048,
# EC:prime256v1); its public key in $T/pub_ID.pem.
bridge_keypair() {
	local type=$1 id=$2 label=$3
	run_ok "$type key pair '$label' generated through the socket" "${p11[@]}" --login \
		--pin "$PIN" --keypairgen --key-type "$type" --id "$id" --label "$label"
	run_ok "read the $type public key" "${p11[@]}" --read-object --type pubkey --id "$id" \
		-o "$T/pub_$id.der"
	run_ok "openssl reads the $type public key" openssl pkey -pubin -inform DER \
		-in "$T/pub_$id.der" -out "$T/pub_$id.pem"
}

# bridge_serve NAME LOG CMD...: CMD in the background, listening on a free
# loopback port: every @PORT@ in its arguments becomes the port, in $PORT
# afterwards (another is tried when one was taken meanwhile). Stopped by
# bridge_servers_stop, at exit at the latest.
bridge_serve() {
	local name=$1 log=$2 a pid args _
	shift 2
	HARNESS_LOGS+=("$log")
	for _ in 1 2 3; do
		PORT=$(free_port)
		args=()
		for a in "$@"; do
			args+=("${a//@PORT@/$PORT}")
		done
		"${args[@]}" </dev/null >>"$log" 2>&1 &
		pid=$!
		if wait_port "$PORT" 5 && kill -0 "$pid" 2>/dev/null; then
			BRIDGE_SERVERS+=("$pid")
			harness_log "$name on 127.0.0.1:$PORT (pid $pid)"
			return 0
		fi
		kill -TERM "$pid" 2>/dev/null || true
		wait "$pid" 2>/dev/null || true
	done
	fail "$name did not start (see $log)"
}

bridge_servers_stop() {
	local pid
	for pid in "${BRIDGE_SERVERS[@]}"; do
		kill -TERM "$pid" 2>/dev/null || true
		wait "$pid" 2>/dev/null || true # its status after SIGTERM
	done
	BRIDGE_SERVERS=()
}

# A free TCP port on 127.0.0.1 (the kernel's pick; a race with another
# process is possible but short).
free_port() {
	"$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# wait_port PORT [SECS]: until something listens on 127.0.0.1:PORT.
wait_port() {
	local _
	for _ in $(seq $((${2:-10} * 10))); do
		"$PY" -c 'import socket, sys; socket.create_connection(("127.0.0.1", int(sys.argv[1])), 1)' \
			"$1" 2>/dev/null && return 0
		sleep 0.1
	done
	return 1
}
