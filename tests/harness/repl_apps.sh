# p11client.py applications (tests/e2e) driven line by line, one process
# and connection each, for tests that interleave several clients' calls.
# Needs T (the test's directory) and PY; the caller waits for "${APPS[@]}"
# after saying quit to each.
#
#   app NAME [prefix command...]  start one (e.g. under setpriv)
#   say NAME CMD                  send one command line
#   hear NAME                     its reply line, in $LINE
#   ask NAME CMD                  say, then hear
APPS=()
declare -A APP_PID=()
REPL_APPS_CLIENT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../e2e" && pwd)/p11client.py
app() {
	local a=$1
	shift
	mkfifo "$T/$a.in" "$T/$a.out"
	"$@" "$PY" "$REPL_APPS_CLIENT" repl <"$T/$a.in" >"$T/$a.out" 2>>"$T/$a.err" &
	APPS+=($!)
	APP_PID[$a]=$!
	eval "exec {IN_$a}>\"\$T/$a.in\" {OUT_$a}<\"\$T/$a.out\""
}
say() {
	local fd="IN_$1"
	# (a write to a dead client's fifo would SIGPIPE this shell)
	kill -0 "${APP_PID[$1]}" 2>/dev/null || return 0
	printf '%s\n' "$2" >&"${!fd}"
}
hear() {
	local fd="OUT_$1"
	LINE="hang (no reply in 120 s)"
	read -r -t 120 -u "${!fd}" LINE || true
	harness_log "  $1 -> $LINE"
}
ask() {
	say "$1" "$2"
	hear "$1"
}
