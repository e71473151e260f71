# shellcheck shell=bash disable=SC2034 # (variables for the scripts that source this)
# Shared set-up for tests/e2e/*.sh: a server exports the virtual YubiKey in
# reader 0 over a Unix socket and stock programs use it through Debian's
# p11-kit-client.so, as a container would.
#
#   . "$(dirname "$0")/common.sh"
#   e2e_init [tokend-vcard args...]   # harness, pcscd, vcard 0
#   provision 9a:ECCP256 ...          # (tests/module/common.sh) before the server
#   e2e_export main                   # tokend: an [export main] section
#   server_start                      # $SOCK, $C (client module), $p11
#   ...
#
# Environment:
#   E2E_SERVER   tokend (default) or p11-kit: `p11-kit server --provider
#                $E2E_PROVIDER` (default OpenSC's module) serving the same card,
#                to validate the tests and compare; tokend-only checks skip.
#   TOKEND       the tokend binary (ctest sets it)
#   E2E_CLIENT   the client module (default Debian's p11-kit-client.so)
#   E2E_CLIENT_VERSION  set (ctest) when E2E_CLIENT is a newer p11-kit built
#                by scripts/p11kit-clients.sh into E2E_CLIENT_PREFIX: its
#                lib/ then goes first in the clients' LD_LIBRARY_PATH
#                (p11tool links libp11-kit), and E2E_SKIP_NEWER_CLIENTS=1
#                (deliberately not built) makes the test exit 77
# plus the harness's TOKEND_VCARD, TOKEND_PCSC_WAIT (see harness/lib.sh).
# shellcheck source=../module/common.sh
. "$(dirname "${BASH_SOURCE[0]}")/../module/common.sh"

E2E_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
E2E_SERVER=${E2E_SERVER:-tokend}
E2E_CLIENT=${E2E_CLIENT:-/usr/lib/x86_64-linux-gnu/pkcs11/p11-kit-client.so}
E2E_PROVIDER=${E2E_PROVIDER:-/usr/lib/x86_64-linux-gnu/opensc-pkcs11.so}
E2E_CLIENT_VERSION=${E2E_CLIENT_VERSION:-}
export E2E_CLIENT
C=$E2E_CLIENT
# The servers run with the library path we were given, clients (after
# use_socket) with the newer libp11-kit first.
E2E_SERVER_LD_PATH=${LD_LIBRARY_PATH:-}
SERVER_PID=""
CONF=""
SOCK=""
p11=()
P11C=("$PY" "$E2E_DIR/p11client.py")

# server_only tokend|p11-kit WHAT: true when the server is that one; else
# logs a skip.
server_is() {
	[ "$E2E_SERVER" = "$1" ] && return 0
	harness_log "skip ($1 only): $2"
	return 1
}

# e2e_require_tokend WHAT: a test only tokend can pass exits 77 otherwise.
e2e_require_tokend() {
	if [ "$E2E_SERVER" != tokend ]; then
		echo "SKIP (tokend only): $*"
		exit 77
	fi
}

e2e_cleanup() {
	local rc=$?
	set +e
	if [ -n "$SERVER_PID" ]; then
		server_kill
	fi
	if [ "$rc" -ne 0 ] || [ "$HARNESS_FAILED" -ne 0 ]; then
		e2e_dump_server_log
	fi
	(exit "$rc")
	harness_cleanup
}

e2e_init() {
	case $E2E_SERVER in
	tokend)
		: "${TOKEND:?TOKEND must name the tokend binary}"
		[ -x "$TOKEND" ] || fail "not executable: $TOKEND"
		;;
	p11-kit) [ -f "$E2E_PROVIDER" ] || fail "provider not found: $E2E_PROVIDER" ;;
	*) fail "E2E_SERVER must be tokend or p11-kit, not '$E2E_SERVER'" ;;
	esac
	if [ -n "$E2E_CLIENT_VERSION" ] && [ "${E2E_SKIP_NEWER_CLIENTS:-0}" = 1 ]; then
		echo "SKIP (E2E_SKIP_NEWER_CLIENTS=1): p11-kit $E2E_CLIENT_VERSION client"
		exit 77
	fi
	harness_init
	trap e2e_cleanup EXIT
	harness_require yubico-piv-tool pkcs11-tool openssl cmp setpriv
	if [ -n "$E2E_CLIENT_VERSION" ]; then
		[ -f "$C" ] || fail "p11-kit $E2E_CLIENT_VERSION client not built ($C): run scripts/p11kit-clients.sh BUILD_DIR (scripts/test.sh does), or set E2E_SKIP_NEWER_CLIENTS=1 to skip"
	fi
	[ -f "$C" ] || fail "client module not found: $C"
	harness_log "client: $C"
	# Clients may run as other uids (setpriv): they must reach the sockets.
	chmod 0755 "$HARNESS_TMP"
	pcscd_ensure
	vcard_start 0 --mgm-alg 3des --serial 7654321 "$@"
	R=$(reader_name 0)
	T=$HARNESS_TMP
	ypt=(yubico-piv-tool -r "$R")
	MODULE_KIND=$([ "$E2E_SERVER" = tokend ] && echo tokend || echo other)
	CONF=$T/tokend.conf
	SOCKDIR=$T/s
	mkdir -p "$SOCKDIR"
	chmod 0755 "$SOCKDIR"
	: >"$CONF"
	export E2E_PUBDIR=$T TOKEND_READER=$R
	harness_log "server: $E2E_SERVER"
}

# e2e_export NAME [KEY=VALUE...]: appends [export NAME] with its socket at
# $SOCKDIR/NAME (mode 0666 unless given) to tokend's config.
e2e_export() {
	local name=$1 kv mode=0666
	shift
	for kv in "$@"; do
		case $kv in mode=*) mode=${kv#mode=} ;; esac
	done
	{
		printf '[export %s]\nsocket = %s/%s\n' "$name" "$SOCKDIR" "$name"
		printf 'mode = %s\n' "$mode"
		for kv in "$@"; do
			case $kv in mode=*) ;; *) printf '%s = %s\n' "${kv%%=*}" "${kv#*=}" ;; esac
		done
		printf '\n'
	} >>"$CONF"
}

# use_socket NAME: clients talk to $SOCKDIR/NAME from now on.
use_socket() {
	SOCK=$SOCKDIR/$1
	export P11_KIT_SERVER_ADDRESS="unix:path=$SOCK"
	if [ -n "$E2E_CLIENT_VERSION" ]; then
		export LD_LIBRARY_PATH="${E2E_CLIENT_PREFIX:?}/lib${E2E_SERVER_LD_PATH:+:$E2E_SERVER_LD_PATH}"
	fi
	M=$C
	p11=(pkcs11-tool --module "$C")
}

# server_start [NAME]: starts the server (tokend with $CONF, or p11-kit
# server on $SOCKDIR/NAME), waits until it serves, points clients at the
# socket NAME (default: the first export, or "main").
server_start() {
	local name=${1:-} i
	if [ -z "$name" ]; then
		name=$(sed -n 's/^\[export \(.*\)\]$/\1/p' "$CONF" | head -n 1)
		name=${name:-main}
	fi
	SERVER_LOG=$T/server.log
	: >"$SERVER_LOG"
	case $E2E_SERVER in
	tokend)
		[ -s "$CONF" ] || e2e_export "$name"
		LD_LIBRARY_PATH=$E2E_SERVER_LD_PATH "$TOKEND" -f -c "$CONF" >>"$SERVER_LOG" 2>&1 &
		SERVER_PID=$!
		for i in $(seq 150); do
			grep -q "tokend ready" "$SERVER_LOG" && break
			kill -0 "$SERVER_PID" 2>/dev/null || break
			sleep 0.1
		done
		grep -q "tokend ready" "$SERVER_LOG" || {
			cat "$SERVER_LOG" >&2
			fail "tokend did not start"
		}
		;;
	p11-kit)
		LD_LIBRARY_PATH=$E2E_SERVER_LD_PATH \
			p11-kit server --provider "$E2E_PROVIDER" -f -n "$SOCKDIR/$name" 'pkcs11:' \
			>>"$SERVER_LOG" 2>&1 &
		SERVER_PID=$!
		for i in $(seq 150); do
			[ -S "$SOCKDIR/$name" ] && break
			sleep 0.1
		done
		[ -S "$SOCKDIR/$name" ] || {
			cat "$SERVER_LOG" >&2
			fail "p11-kit server did not start"
		}
		chmod 0666 "$SOCKDIR/$name"
		;;
	esac
	harness_log "$E2E_SERVER up (pid $SERVER_PID)"
	# Provisioning went to our card: else another virtual card (another
	# test run on this host, vpcd's port is machine-wide) answers in reader 0.
	[ -s "$(vcard_dir 0)/apdu.log" ] ||
		fail "our tokend-vcard saw no APDU: another virtual card answers in '$R' (a concurrent test run?)"
	use_socket "$name"
	# The token must show through the socket (tokend reads the card at
	# arrival: wait for it).
	for i in $(seq 100); do
		SLOT=$(slot_index)
		[ -n "$SLOT" ] && break
		sleep 0.1
	done
	[ -n "$SLOT" ] || {
		timeout 60 pkcs11-tool --module "$C" -L >&2 || true
		fail "no slot shows '$R' through $SOCK"
	}
	p11=(pkcs11-tool --module "$C" --slot-index "$SLOT")
}

# server_pids: the server and its descendants (p11-kit server forks a child
# per connection).
server_pids() {
	local p=$1 c
	printf '%s\n' "$p"
	for c in $(cat /proc/"$p"/task/*/children 2>/dev/null); do
		server_pids "$c"
	done
}

server_kill() {
	local pids
	pids=$(server_pids "$SERVER_PID")
	kill -TERM "$SERVER_PID" 2>/dev/null || true
	for _ in $(seq 50); do
		kill -0 "$SERVER_PID" 2>/dev/null || break
		sleep 0.1
	done
	# shellcheck disable=SC2086
	kill -KILL $pids 2>/dev/null || true
	wait "$SERVER_PID" 2>/dev/null || true
	SERVER_PID=""
}

# server_stop: SIGTERM; tokend must exit 0 within 5 s with no sanitizer
# report in its log.
server_stop() {
	[ -n "$SERVER_PID" ] || return 0
	if [ "$E2E_SERVER" != tokend ]; then
		server_kill
		return 0
	fi
	tokend_stop "$SERVER_PID" "$SERVER_LOG"
	SERVER_PID=""
	harness_log "tokend stopped (exit 0)"
}

# p11c CMDS: one p11client.py application running CMDS (';'-separated);
# its output in $OUT. p11c_ok / p11c_fail assert the outcome.
p11c_ok() { # DESC CMDS [prefix command...]
	local desc=$1 cmds=$2
	shift 2
	run_ok "$desc" "$@" "${P11C[@]}" run "$cmds"
}

p11c_fail() { # DESC CMDS [prefix...]: must fail
	local desc=$1 cmds=$2
	shift 2
	run_fail "$desc" "$@" "${P11C[@]}" run "$cmds"
}

# The server's log on failure too.
e2e_dump_server_log() {
	[ -s "${SERVER_LOG:-}" ] || return 0
	printf '=== %s server log (last 60 lines)\n' "$E2E_SERVER" >&2
	tail -n 60 "$SERVER_LOG" >&2
}
