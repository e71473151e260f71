#!/usr/bin/env bash
# tokenctl status with a SoftHSMv2 module (no card): the module's helper
# process (pid, up, 0 restarts), a prefer= export naming the token it shows
# now, and after kill -9 of the helper: 1 restart, its last exit "killed by
# signal 9" and a recent-error line saying so, with its time. --json parses
# and has the same facts.
. "$(dirname "$0")/../harness/lib.sh"

SOFTHSM=${TOKEND_SOFTHSM_MODULE:-/usr/lib/softhsm/libsofthsm2.so}
PY=/usr/bin/python3
: "${TOKEND:?TOKEND must name the tokend binary}"
: "${TOKENCTL:?TOKENCTL must name the tokenctl binary}"
if [ ! -f "$SOFTHSM" ]; then
	echo "SKIP: $SOFTHSM missing (apt-get install softhsm2)"
	exit 77
fi

TOKEND_PID=
helpers_cleanup() {
	local rc=$?
	set +e
	if [ -n "$TOKEND_PID" ] && kill -0 "$TOKEND_PID" 2>/dev/null; then
		kill -TERM "$TOKEND_PID" 2>/dev/null
		wait "$TOKEND_PID" 2>/dev/null
	fi
	(exit "$rc")
	harness_cleanup
}
harness_init
trap helpers_cleanup EXIT
harness_require softhsm2-util
T=$HARNESS_TMP
LOG=$T/tokend.log
HARNESS_LOGS=("$LOG")

mkdir "$T/tokens"
printf 'directories.tokendir = %s/tokens\nobjectstore.backend = file\nlog.level = ERROR\n' "$T" >"$T/softhsm2.conf"
SOFTHSM2_CONF=$T/softhsm2.conf run_ok "softhsm2-util --init-token" \
	softhsm2-util --init-token --free --label gateway --pin 1234 --so-pin 5678
cat >"$T/tokend.conf" <<EOF
[tokend]
control-socket = $T/control

[piv]
enabled = no

[module softhsm]
path = $SOFTHSM
env = SOFTHSM2_CONF=$T/softhsm2.conf

[export s]
socket = $T/sock
mode = 0666

[export fb]
socket = $T/fb.sock
mode = 0666
prefer = pkcs11:token=absent pkcs11:token=gateway
EOF
"$TOKEND" -f -c "$T/tokend.conf" >>"$LOG" 2>&1 &
TOKEND_PID=$!

status() {
	"$TOKENCTL" -s "$T/control" "$@" status
}
# The helper of [module softhsm] that serves (not a probe: SoftHSMv2 shows
# new tokens only to a fresh process, so the driver starts one now and then).
helper_pid() {
	local p e
	for p in $(pgrep -P "$TOKEND_PID" -f tokend-module-helper); do
		e=$( (tr '\0' '\n' <"/proc/$p/environ") 2>/dev/null) || continue
		grep -q "^TOKEND_MODULE_PROBE=" <<<"$e" || echo "$p"
	done
	return 0
}
# The HELPERS row of module softhsm: "module softhsm PID STATE RESTARTS ...".
helper_row() {
	status 2>/dev/null | awk '/^HELPERS/ { h = 1; next } /^$/ { h = 0 }
		h && $1 == "module" && $2 == "softhsm"'
}
# Waits until the row has the given state and restarts.
wait_row() { # state restarts
	local row
	for _ in $(seq 200); do
		row=$(helper_row)
		[ "$(awk '{ print $4, $5 }' <<<"$row")" = "$1 $2" ] && break
		sleep 0.05
	done
	printf '%s' "$row"
}
# The token's slot and serial (the model has a blank: from --json), once
# it is served and no call holds it (a busy slot hides its driver).
module_token() {
	$PY -c '
import json, sys
t = [t for t in json.loads(sys.argv[1])["tokens"]
     if t["reader"].startswith("module:softhsm:") and t["present"]
     and not t["busy"]]
print(t[0]["slot"], t[0]["serial"]) if t else print()
' "$(status --json 2>/dev/null || echo '{"tokens":[]}')"
}
for _ in $(seq 200); do
	read -r SLOT SERIAL < <(module_token)
	[ -n "$SLOT" ] && break
	sleep 0.05
done
[ -n "$SLOT" ] && [ -n "$SERIAL" ] || fail "the module's token was not served"

out=$(status) || fail "tokenctl status: $out"
harness_log "status:"$'\n'"$out"
row=$(wait_row up 0)
PID=$(helper_pid)
[ -n "$PID" ] || fail "no helper process under tokend"
assert_eq "module softhsm $PID up 0 -" "$(awk '{ print $1, $2, $3, $4, $5, $6 }' <<<"$row")" \
	"the helper: its pid, up, no restarts, no exit yet"
assert_contains "$(printf '%s\n' "$out" | grep -F -- "$SERIAL")" "module:softhsm:" \
	"the token row names its device"
fb=$(printf '%s\n' "$out" | awk '$1 == "fb"')
assert_contains "$fb" "prefer: slot $SLOT ($SERIAL)" \
	"the prefer= export names the token it shows"
assert_contains "$(printf '%s\n' "$out" | awk '$1 == "s"')" " all " \
	"an export without prefer= shows all tokens"
# Columns line up: the header's RESTARTS starts where the row's count does.
hdr=$(printf '%s\n' "$out" | grep '^DRIVER ')
col=$(awk -v h="$hdr" 'BEGIN { print index(h, "RESTARTS") }')
[ "${row:$((col - 1)):1}" = "0" ] && pass "the RESTARTS column is aligned" ||
	fail_later "RESTARTS column not aligned:"$'\n'"$hdr"$'\n'"$row"

json=$(status --json) || fail "status --json: $json"
facts=$($PY -c '
import json, sys
d = json.loads(sys.argv[1])
h = [h for h in d["helpers"] if h["name"] == "softhsm"][0]
fb = [e for e in d["exports"] if e["name"] == "fb"][0]
print(h["driver"], h["pid"], h["up"], h["restarts"], repr(h["last_exit"]),
      fb["shows_slot"], len(fb["prefer"]))
' "$json") || fail "status --json lacks the facts: $json"
assert_eq "module $PID True 0 '' $SLOT 2" "$facts" "--json has the same facts"

# ---- kill -9 of the helper ----
kill -KILL "$PID"
row=$(wait_row up 1)
out=$(status)
harness_log "status after the kill:"$'\n'"$out"
NEW=$(awk '{ print $3 }' <<<"$row")
[ -n "$NEW" ] && [ "$NEW" != "$PID" ] && [ "$NEW" != "-" ] &&
	pass "a new helper is up ($NEW)" || fail_later "no new helper: $row"
assert_eq "up 1" "$(awk '{ print $4, $5 }' <<<"$row")" "status counts one restart"
assert_contains "$row" "killed by signal 9" "and says how the last helper ended"
err=$(printf '%s\n' "$out" | awk '/^RECENT ERRORS/ { r = 1 } r' |
	grep -F "helper $PID killed by signal 9" || true)
[ -n "$err" ] && pass "a recent error says the helper was killed" ||
	fail_later "no recent error about the kill:"$'\n'"$out"
[[ "$err" =~ ^[0-9]{4}-[0-9]{2}-[0-9]{2}\ [0-9:]{8}\ +warning\  ]] &&
	pass "with its time and level" || fail_later "recent error line: $err"

json=$(status --json) || fail "status --json: $json"
facts=$($PY -c '
import json, sys, time
d = json.loads(sys.argv[1])
h = [h for h in d["helpers"] if h["name"] == "softhsm"][0]
e = [e for e in d["recent_errors"]
     if "helper %s killed by signal 9" % sys.argv[2] in e["message"]]
print(h["pid"], h["restarts"], h["last_exit"], len(e),
      e and e[0]["level"], e and abs(time.time() - e[0]["time"]) < 120)
' "$json" "$PID") || fail "status --json after the kill: $json"
assert_eq "$NEW 1 killed by signal 9 1 warning True" "$facts" \
	"--json has the restart and the recent error"

kill -TERM "$TOKEND_PID"
wait "$TOKEND_PID" || fail_later "tokend exited with $?"
TOKEND_PID=
finish
