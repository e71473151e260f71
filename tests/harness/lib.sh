# shellcheck shell=bash
# Test harness: sourced by every shell test. Its checks (below) serve all of
# them; the rest is for card tests (tests/fidelity, module, e2e, ...):
#
#   . "$TOKEND_SOURCE_DIR/tests/harness/lib.sh"
#   harness_init
#   pcscd_ensure
#   vcard_start 0 --mgm-alg 3des
#   ...
#
# It starts pcscd only when none runs (and stops it again only then), starts
# virtual YubiKeys on vpcd's two readers, waits until pcscd sees them, and
# always cleans up, also when a test fails or is interrupted. On failure it
# prints the logs of everything it started.
#
# Environment (set by ctest; see tests/fidelity/CMakeLists.txt):
#   TOKEND_VCARD       path of tokend-vcard
#   TOKEND_PCSC_WAIT   path of tokend-pcsc-wait
#   TOKEND_BUILD_DIR   the build directory (optional)
#   TOKEND_SOURCE_DIR  the source directory (optional)
#   TOKEND_KEEP_TMP=1  keep the temporary directory even on success

set -euo pipefail

HARNESS_TMP=""
HARNESS_PCSCD_PID=""
HARNESS_FAILED=0
declare -A HARNESS_VCARD_PID=()
declare -A HARNESS_VCARD_DIR=()

harness_log() {
	printf '[%s] %s\n' "$(date +%H:%M:%S)" "$*" >&2
}

# ---- Checks: the one set of pass/fail helpers every shell test uses ----
#
#   fail DESC             the test fails and stops here (exit 1)
#   check DESC CMD...     runs CMD; "ok: DESC" when it succeeds, otherwise
#                         "FAIL: DESC" is recorded and the test goes on
#   fail_later DESC       records "FAIL: DESC" and goes on (check's failure
#                         half, for a condition worked out by hand)
#   pass DESC             prints "ok: DESC"
#   run_check DESC CMD... check with CMD's output shown when it fails
#   finish                exits 1 when anything was recorded, else prints
#                         "all passed"; a recorded failure also fails the
#                         test when it ends without finish (harness_cleanup)
# The log files named in HARNESS_LOGS (an array) are printed on failure.
HARNESS_CHECK_FAILS=0
HARNESS_LOGS=()

fail() {
	HARNESS_FAILED=1
	printf 'FAIL: %s\n' "$*" >&2
	exit 1
}

pass() {
	printf 'ok: %s\n' "$*" >&2
}

fail_later() {
	HARNESS_CHECK_FAILS=$((HARNESS_CHECK_FAILS + 1))
	printf 'FAIL: %s\n' "$*" >&2
}

check() { # DESC CMD...
	local what=$1
	shift
	if "$@"; then pass "$what"; else fail_later "$what"; fi
}

harness_print_logs() {
	local f
	for f in "${HARNESS_LOGS[@]}"; do
		[ -s "$f" ] || continue
		printf '=== %s (last 200 lines)\n' "$f" >&2
		tail -n 200 "$f" >&2
	done
}

finish() {
	if [ "$HARNESS_CHECK_FAILS" -ne 0 ]; then
		HARNESS_FAILED=1
		harness_print_logs
		printf '%d check(s) failed\n' "$HARNESS_CHECK_FAILS" >&2
		exit 1
	fi
	printf 'all passed\n' >&2
}

assert_eq() { # expected actual [message]
	[ "$1" = "$2" ] || fail "${3:-values differ}: expected '$1', got '$2'"
}

assert_ne() { # unexpected actual [message]
	[ "$1" != "$2" ] || fail "${3:-values equal}: did not expect '$1'"
}

assert_contains() { # haystack needle [message]
	case "$1" in
	*"$2"*) ;;
	*) fail "${3:-missing text}: '$2' not in output:"$'\n'"$1" ;;
	esac
}

assert_not_contains() { # haystack needle [message]
	case "$1" in
	*"$2"*) fail "${3:-unexpected text}: '$2' in output:"$'\n'"$1" ;;
	*) ;;
	esac
}

assert_file() { # path [message]
	[ -s "$1" ] || fail "${2:-file missing or empty}: $1"
}

# harness_run CMD...: runs CMD (HARNESS_CMD_TIMEOUT, 60 s at most); its
# output in $HARNESS_OUT (a file) and $OUT, its status in $HARNESS_RC.
harness_run() {
	HARNESS_RC=0
	HARNESS_OUT="$HARNESS_TMP/last.out"
	timeout "${HARNESS_CMD_TIMEOUT:-60}" "$@" >"$HARNESS_OUT" 2>&1 || HARNESS_RC=$?
	OUT=$(cat "$HARNESS_OUT")
}

harness_show_out() { # CMD...: the command and its output, after a failure
	printf '%s\n' "--- $* (exit $HARNESS_RC):" "$OUT" >&2
}

# run_ok DESC CMD...: runs CMD (harness_run); fails the test with its output
# when it fails. The output is left in $HARNESS_OUT (a file) and $OUT.
run_ok() {
	local desc=$1
	shift
	harness_run "$@"
	if [ "$HARNESS_RC" -ne 0 ]; then
		harness_show_out "$@"
		fail "$desc"
	fi
	harness_log "ok: $desc"
}

# run_check DESC CMD...: like run_ok, but a failure is recorded (with CMD's
# output) and the test goes on, as with check (status 0 either way).
run_check() {
	local desc=$1
	shift
	harness_run "$@"
	if [ "$HARNESS_RC" -ne 0 ]; then
		harness_show_out "$@"
		fail_later "$desc"
	else
		pass "$desc"
	fi
}

# run_fail DESC CMD...: like run_ok, but CMD must fail (and not time out).
run_fail() {
	local desc=$1
	shift
	harness_run "$@"
	if [ "$HARNESS_RC" -eq 0 ] || [ "$HARNESS_RC" -eq 124 ]; then
		harness_show_out "$@"
		fail "$desc (expected a failure)"
	fi
	harness_log "ok: $desc (failed as expected)"
}

# tokend_gone PID LOG: SIGTERM; tokend must be gone within 15 s (it gives
# requests in flight 10, EXPORT_CLOSE_WAIT_S), with no sanitizer report in
# its log LOG (also for a tokend not this shell's child, whose status
# nobody can wait for).
tokend_gone() {
	local pid=$1 log=$2 _
	kill -TERM "$pid"
	for _ in $(seq 150); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	kill -0 "$pid" 2>/dev/null && fail "tokend still runs 15 s after SIGTERM"
	if grep -qE 'ERROR: (Address|Leak)Sanitizer|WARNING: ThreadSanitizer|runtime error:' "$log"; then
		fail "sanitizer report in tokend's log"
	fi
}

# tokend_stop PID LOG: tokend_gone, and it exited with status 0.
tokend_stop() {
	local rc=0
	tokend_gone "$1" "$2"
	wait "$1" || rc=$?
	[ "$rc" -eq 0 ] || fail "tokend exited with status $rc after SIGTERM"
}

harness_require() { # command...
	local c
	for c in "$@"; do
		command -v "$c" >/dev/null 2>&1 || fail "required command not found: $c"
	done
}

harness_init() {
	: "${TOKEND_VCARD:?TOKEND_VCARD must point at tokend-vcard}"
	: "${TOKEND_PCSC_WAIT:?TOKEND_PCSC_WAIT must point at tokend-pcsc-wait}"
	[ -x "$TOKEND_VCARD" ] || fail "not executable: $TOKEND_VCARD"
	[ -x "$TOKEND_PCSC_WAIT" ] || fail "not executable: $TOKEND_PCSC_WAIT"
	HARNESS_TMP=$(mktemp -d "${TMPDIR:-/tmp}/tokend-test.XXXXXX")
	export HARNESS_TMP
	trap harness_cleanup EXIT
	trap 'HARNESS_FAILED=1; exit 130' INT
	trap 'HARNESS_FAILED=1; exit 143' TERM
	# pcscd lives in /usr/sbin, which a non-login PATH may lack.
	case ":$PATH:" in
	*:/usr/sbin:*) ;;
	*) PATH="$PATH:/usr/sbin:/sbin" ;;
	esac
	harness_log "temp dir $HARNESS_TMP"
}

reader_name() { # idx
	printf 'Virtual PCD 00 %02d' "$1"
}

pcsc_wait() { # reader --present|--absent|--listed [timeout]
	"$TOKEND_PCSC_WAIT" --reader "$1" "$2" --timeout "${3:-15}"
}

# A pcscd serves this mount namespace when its pid file names a live process
# (pidof would also see the pcscd of another namespace: private_pcscd.sh).
pcscd_alive() {
	local pid
	[ -S /run/pcscd/pcscd.comm ] || return 1
	pid=$(tr -d '\0' </run/pcscd/pcscd.pid 2>/dev/null) || return 1
	[ -n "$pid" ] && kill -0 "$pid" 2>/dev/null
}

pcscd_ensure() {
	if ! pcscd_alive; then
		harness_require pcscd
		harness_log "starting pcscd"
		pcscd --foreground >"$HARNESS_TMP/pcscd.log" 2>&1 &
		HARNESS_PCSCD_PID=$!
	fi
	pcsc_wait "$(reader_name 0)" --listed 15 ||
		fail "pcscd does not list '$(reader_name 0)' (is vsmartcard-vpcd installed?)"
}

# vcard_start IDX [tokend-vcard args...]: inserts a virtual YubiKey into
# 'Virtual PCD 00 0IDX'. Its state file, APDU log and stderr live in
# $HARNESS_TMP/vcardIDX (vcard_dir IDX); later arguments override ours.
vcard_start() {
	local idx=$1 reader dir pid
	shift
	[ -z "${HARNESS_VCARD_PID[$idx]:-}" ] || fail "vcard $idx already running"
	reader=$(reader_name "$idx")
	dir="$HARNESS_TMP/vcard$idx"
	mkdir -p "$dir"
	HARNESS_VCARD_DIR[$idx]=$dir
	pcsc_wait "$reader" --absent 5 ||
		fail "'$reader' already has a card (another virtual card on port $((35963 + idx))?)"
	ASAN_OPTIONS=${TOKEND_ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1:halt_on_error=1} \
	UBSAN_OPTIONS=${TOKEND_UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1} \
		"$TOKEND_VCARD" --port $((35963 + idx)) --state "$dir/state" \
		--apdu-log "$dir/apdu.log" "$@" >>"$dir/stderr.log" 2>&1 &
	pid=$!
	HARNESS_VCARD_PID[$idx]=$pid
	if ! pcsc_wait "$reader" --present 15; then
		kill -0 "$pid" 2>/dev/null || fail "tokend-vcard $idx exited at start"
		fail "'$reader' shows no card after starting tokend-vcard $idx"
	fi
	harness_log "vcard $idx up (pid $pid) in '$reader'"
}

vcard_dir() { # idx
	printf '%s\n' "$HARNESS_TMP/vcard$1"
}

vcard_pid() { # idx
	printf '%s\n' "${HARNESS_VCARD_PID[$1]:-}"
}

# Checks the vcard's stderr for sanitizer reports.
vcard_check_log() { # idx
	local log="${HARNESS_VCARD_DIR[$1]:-}/stderr.log"
	[ -f "$log" ] || return 0
	if grep -qE 'ERROR: (Address|Leak)Sanitizer|runtime error:' "$log"; then
		return 1
	fi
}

# vcard_stop IDX: SIGTERM, waits for a clean exit (0; a sanitizer report is
# a failure) and for pcscd to see the reader empty.
vcard_stop() {
	local idx=$1 pid rc=0
	pid=${HARNESS_VCARD_PID[$idx]:-}
	[ -n "$pid" ] || fail "vcard $idx is not running"
	kill -TERM "$pid" 2>/dev/null || true
	wait "$pid" || rc=$?
	unset "HARNESS_VCARD_PID[$idx]"
	[ "$rc" -eq 0 ] || fail "tokend-vcard $idx exited with status $rc"
	vcard_check_log "$idx" || fail "sanitizer report from tokend-vcard $idx"
	pcsc_wait "$(reader_name "$idx")" --absent 10 || fail "reader $idx still shows a card"
	harness_log "vcard $idx stopped"
}

# Pull and re-insert, as a user would with a real key.
vcard_pull() { # idx
	kill -USR1 "${HARNESS_VCARD_PID[$1]}"
	pcsc_wait "$(reader_name "$1")" --absent 10 || fail "vcard $1 still present after pull"
}

vcard_insert() { # idx
	kill -USR2 "${HARNESS_VCARD_PID[$1]}"
	pcsc_wait "$(reader_name "$1")" --present 10 || fail "vcard $1 absent after re-insert"
}

harness_dump_logs() {
	local d f
	for d in "$HARNESS_TMP"/vcard*; do
		[ -d "$d" ] || continue
		f="$d/stderr.log"
		if [ -s "$f" ]; then
			printf '=== %s (last 60 lines)\n' "$f" >&2
			tail -n 60 "$f" >&2
		fi
		f="$d/apdu.log"
		if [ -s "$f" ]; then
			printf '=== %s (last 20 exchanges)\n' "$f" >&2
			tail -n 20 "$f" | cut -c1-300 >&2
		fi
	done
	harness_print_logs
	if [ -s "$HARNESS_TMP/pcscd.log" ]; then
		printf '=== pcscd log (last 30 lines)\n' >&2
		tail -n 30 "$HARNESS_TMP/pcscd.log" >&2
	fi
}

harness_cleanup() {
	local rc=$? idx pid vrc
	trap - EXIT INT TERM
	set +e
	[ "$rc" -eq 0 ] || HARNESS_FAILED=1
	if [ "$HARNESS_CHECK_FAILS" -ne 0 ]; then
		printf 'FAIL: %d check(s) failed\n' "$HARNESS_CHECK_FAILS" >&2
		HARNESS_FAILED=1
	fi
	for idx in "${!HARNESS_VCARD_PID[@]}"; do
		pid=${HARNESS_VCARD_PID[$idx]}
		kill -TERM "$pid" 2>/dev/null
		# Give it 10 s to save its state and exit, then kill it.
		for _ in $(seq 100); do
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.1
		done
		kill -KILL "$pid" 2>/dev/null
		vrc=0
		wait "$pid" 2>/dev/null || vrc=$?
		if [ "$vrc" -ne 0 ] || ! vcard_check_log "$idx"; then
			printf 'FAIL: tokend-vcard %s ended badly (status %s)\n' "$idx" "$vrc" >&2
			HARNESS_FAILED=1
		fi
	done
	HARNESS_VCARD_PID=()
	if [ -n "$HARNESS_PCSCD_PID" ]; then
		kill -TERM "$HARNESS_PCSCD_PID" 2>/dev/null
		wait "$HARNESS_PCSCD_PID" 2>/dev/null
		HARNESS_PCSCD_PID=""
	fi
	if [ "$HARNESS_FAILED" -ne 0 ]; then
		[ -n "$HARNESS_TMP" ] && harness_dump_logs
		[ -n "$HARNESS_TMP" ] && printf 'logs kept in %s\n' "$HARNESS_TMP" >&2
		[ "$rc" -ne 0 ] || rc=1
	elif [ -n "$HARNESS_TMP" ] && [ -z "${TOKEND_KEEP_TMP:-}" ]; then
		rm -rf "$HARNESS_TMP"
	fi
	exit "$rc"
}

# card_selfsign IDX SLOT PUB.pem CN OUT.pem [PIN]: a self-signed certificate
# for the key in SLOT, signed on the card. yubico-piv-tool 2.2's own
# selfsign-certificate fails with OpenSSL 3 before it talks to the card
# (Yubico/yubico-piv-tool#388), so harness/selfsign.py does it.
card_selfsign() {
	local idx=$1
	shift
	run_ok "self-sign slot $1" env TOKEND_READER="$(reader_name "$idx")" \
		/usr/bin/python3 "$(dirname "${BASH_SOURCE[0]}")/selfsign.py" "$@"
}
