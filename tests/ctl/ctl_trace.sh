#!/usr/bin/env bash
# tokenctl watch and trace with the virtual card: watch sees the card
# leave and arrive, a connection open and close, a refused login and a key
# use (text and --json); trace of the export shows a pkcs11-tool signing
# session's calls with the mechanism and templates decoded, and the PIN
# nowhere; a client-group (non-admin) user may neither trace nor watch.
# Then TOKEND_TRACE=FILE with the in-process module: the same lines, the
# file 0600, no PIN.
. "$(dirname "$0")/../harness/card_export.sh"

PIN=123456
PINHEX=313233343536
PY=/usr/bin/python3
: "${TOKENCTL:?TOKENCTL must name the tokenctl binary}"
: "${TOKEND_MODULE_SO:?TOKEND_MODULE_SO must name tokend-pkcs11.so}"

card_export_start --client --control --export cards -- pkcs11-tool

tc() { "$TOKENCTL" -s "$T/control" "$@"; }
tc watch >"$T/watch.out" 2>&1 &
BG+=($!)
tc watch --json >"$T/watch.json" 2>&1 &
BG+=($!)
tc trace cards >"$T/trace.out" 2>&1 &
BG+=($!)
tc --json trace cards >"$T/trace.json" 2>&1 &
BG+=($!)
# All four are subscribed once the daemon logged them.
for _ in $(seq 100); do
	[ "$(grep -c 'control: \(watch\|trace\)' "$T/tokend.log")" -ge 4 ] && break
	sleep 0.05
done

wait_for() { # file pattern
	for _ in $(seq 200); do
		grep -q -- "$2" "$1" && return 0
		sleep 0.05
	done
	return 1
}

vcard_pull 1
wait_for "$T/watch.out" token-left || fail_later "watch: no token-left"
vcard_insert 1
wait_for "$T/watch.out" token-arrived || fail_later "watch: no token-arrived"

echo "tokenctl trace test data" | openssl dgst -sha256 -binary >"$T/data"
export P11_KIT_SERVER_ADDRESS="unix:path=$T/tokend.sock"
run_ok "pkcs11-tool signs through the export" pkcs11-tool --module "$CLIENT_SO" \
	--login --pin "$PIN" --sign --mechanism ECDSA --id 01 \
	-i "$T/data" -o "$T/sig"
run_fail "a wrong PIN is refused" pkcs11-tool --module "$CLIENT_SO" \
	--login --pin 999999 --list-objects
wait_for "$T/watch.out" login-refused || fail_later "watch: no login-refused"
# The second client's calls: its refused login, then its goodbye.
wait_for "$T/trace.out" "C_Login(.*CKR_PIN_INCORRECT" || true
wait_for "$T/trace.json" '"C_Login".*CKR_PIN_INCORRECT' || true
sleep 0.3

w=$(cat "$T/watch.out")
harness_log "watch:"$'\n'"$w"
assert_contains "$w" "token-left" "watch: the card left"
assert_contains "$(grep token-arrived "$T/watch.out")" "serial $SERIAL" "watch: it arrived again, with its serial"
assert_contains "$(grep conn-opened "$T/watch.out" | head -1)" "export cards conn" "watch: a connection opened on the export"
assert_contains "$w" "conn-closed" "watch: and closed"
assert_contains "$(grep key-used "$T/watch.out")" "op sign" "watch: the key used to sign"
assert_contains "$(grep key-used "$T/watch.out")" "key-id 01" "watch: with the key's id"
assert_contains "$(grep login-refused "$T/watch.out")" "result CKR_PIN_INCORRECT" "watch: the refused login and why"
facts=$($PY -c '
import json, sys
ev = [json.loads(l) for l in open(sys.argv[1])]
k = [e for e in ev if e["event"] == "key-used"][0]
print(sorted({e["event"] for e in ev}), k["op"], k["export"], type(k["conn"]).__name__)
' "$T/watch.json") || fail_later "watch --json is not one JSON object per line"
assert_eq "['conn-closed', 'conn-opened', 'key-used', 'login-refused', 'token-arrived', 'token-left'] sign cards int" \
	"$facts" "watch --json: the same events"

t=$(cat "$T/trace.out")
harness_log "trace:"$'\n'"$t"
assert_contains "$(grep 'C_SignInit(' "$T/trace.out")" "mechanism=CKM_ECDSA," "trace: the mechanism decoded"
assert_contains "$(grep 'C_FindObjectsInit(' "$T/trace.out")" "CKA_CLASS=CKO_PRIVATE_KEY" "trace: the template decoded"
assert_contains "$(grep 'C_FindObjectsInit(' "$T/trace.out")" "CKA_ID=01" "trace: with the key's id"
assert_contains "$(grep 'C_Sign(' "$T/trace.out")" "-> (signature=" "trace: the signature returned"
assert_contains "$(grep 'C_Sign(' "$T/trace.out")" "= CKR_OK" "trace: the result"
assert_contains "$(grep 'C_Login(' "$T/trace.out" | head -1)" "pin=<hidden, 6 bytes>" "trace: the PIN hidden"
assert_contains "$(grep 'C_Login(' "$T/trace.out")" "CKR_PIN_INCORRECT" "trace: the wrong PIN's result"
[ -n "$(grep -E ' [0-9]+\.[0-9]{3} ms$' "$T/trace.out")" ] && pass "trace: the time each call took" ||
	fail_later "trace: no durations"
# The clocks' microseconds are masked first: six digits may spell a PIN.
unclock() { sed -E 's/[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{6}/<time>/g' "$1"; }
for f in trace.out trace.json watch.out watch.json tokend.log; do
	if unclock "$T/$f" | grep -q -e "$PIN" -e "$PINHEX" -e 999999 -e 393939393939; then
		fail_later "a PIN appears in $f"
	else
		pass "no PIN in $f"
	fi
done
$PY -c '
import json, sys
calls = [json.loads(l) for l in open(sys.argv[1])]
s = [c for c in calls if c["call"] == "C_SignInit"][0]
print(s["args"]["mechanism"], s["rv"], isinstance(s["ms"], float), s["conn"] > 0)
' "$T/trace.json" >"$T/facts" 2>&1 || fail_later "trace --json is not one JSON object per line"
assert_eq "CKM_ECDSA CKR_OK True True" "$(cat "$T/facts")" "trace --json: the same call"

# One connection, by the id status shows: a client (nobody) logged in
# and waiting; its next call (C_Logout) is traced, another client's not.
HERE=$(cd "$(dirname "$0")" && pwd)
setpriv --reuid nobody --regid nogroup --clear-groups \
	$PY "$HERE/login_client.py" "$T/tokend.sock" "$PIN" "$T/go" >"$T/cl.out" 2>&1 &
CL=$!
BG+=($CL)
wait_for "$T/cl.out" logged-in || fail "the client did not log in: $(cat "$T/cl.out")"
CID=$($PY -c '
import json, sys
d = json.loads(sys.argv[1])
print([c["id"] for e in d["exports"] for c in e["connections"] if c["pid"] == int(sys.argv[2])][0])
' "$(tc --json status)" "$CL") || fail "no connection id for the client"
tc trace "$CID" >"$T/trace1.out" 2>&1 &
BG+=($!)
for _ in $(seq 100); do
	grep -q "control: trace of connection $CID" "$T/tokend.log" && break
	sleep 0.05
done
run_ok "another client meanwhile" pkcs11-tool --module "$CLIENT_SO" --list-slots
touch "$T/go"
wait_for "$T/trace1.out" C_Logout || fail_later "trace $CID: no C_Logout"
assert_contains "$(cat "$T/trace1.out")" "conn $CID pid $CL" "trace $CID: the connection's call"
assert_not_contains "$(cat "$T/trace1.out")" "C_GetSlotList" "trace $CID: no other connection's calls"

# A tracer that does not read: the daemon neither waits for it nor keeps
# everything; it drops lines and says how many once the tracer reads.
N=30000
res=$($PY "$HERE/slow_tracer.py" "$T/control" "$T/tokend.sock" $N) || fail "slow_tracer.py: $res"
harness_log "slow tracer: $res (seconds for $N calls, lines received, dropped line)"
read -r took got dropped <<<"$res"
assert_eq True "$dropped" "a slow tracer is told that events were dropped"
[ "$got" -lt "$N" ] && [ "$got" -gt 1000 ] && pass "it got $got of $N lines: bounded, not nothing" ||
	fail_later "a slow tracer got $got of $N lines"
awk -v t="$took" 'BEGIN { exit !(t < 60) }' && pass "$N traced calls took ${took}s: the tracer did not hold them up" ||
	fail_later "$N calls took ${took}s with a slow tracer"
run_ok "status with a slow tracer gone" "$TOKENCTL" -s "$T/control" status

# Clients (here: nobody, in a client group) may not trace or watch, even
# when the file mode lets them in.
chmod 0666 "$T/control"
for verb in "trace cards" watch "trace $CID"; do
	out=$(setpriv --reuid nobody --regid nogroup --groups "$(getent group users | cut -d: -f3)" \
		"$TOKENCTL" -s "$T/control" $verb 2>&1) && rc=0 || rc=$?
	assert_eq 1 "$rc" "a non-admin user is refused: $verb"
	assert_contains "$out" "permission denied" "tokenctl says why ($verb)"
done
out=$(tc trace nosuch 2>&1) && fail_later "trace of an unknown export succeeded"
assert_contains "$out" "no export or connection 'nosuch'" "trace of an unknown export says so"

# Watchers that go are cleaned up: the daemon goes on serving.
for p in "${BG[@]}"; do kill -TERM "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
BG=()
run_ok "status after the watchers left" "$TOKENCTL" -s "$T/control" status
run_ok "a client after the tracers left" pkcs11-tool --module "$CLIENT_SO" --list-slots
kill -TERM "$TOKEND_PID"
wait "$TOKEND_PID" || fail_later "tokend exited with $?"
TOKEND_PID=
unset P11_KIT_SERVER_ADDRESS

# The in-process module with TOKEND_TRACE. A sanitizer build's module
# loads into pkcs11-tool only with the runtimes preloaded (as
# tests/module/common.sh does); pkcs11-tool's own leaks are not ours. The
# TSan tree's module does not load into an uninstrumented program at all
# (the module tests are left out of that tree for the same reason): the
# plain and ASan trees check this part.
if [ "${TOKEND_TSAN:-0}" = 1 ] || [ "${TOKEND_TSAN:-0}" = ON ]; then
	harness_log "TSan tree: the module's TOKEND_TRACE part is left to the other trees"
	finish
	exit 0
fi
(
	case ${TOKEND_SANITIZE:-0} in
	1 | ON | on | TRUE | true)
		export LD_PRELOAD="$(cc -print-file-name=libasan.so) $(cc -print-file-name=libubsan.so)"
		export ASAN_OPTIONS=detect_leaks=0:abort_on_error=1:halt_on_error=1
		;;
	esac
	TOKEND_TRACE="$T/module.trace" run_ok "pkcs11-tool signs with the module, traced" \
		pkcs11-tool --module "$TOKEND_MODULE_SO" --login --pin "$PIN" --sign \
		--mechanism ECDSA-SHA256 --id 01 -i "$T/data" -o "$T/sig2"
) || fail "the module step failed"
assert_eq 600 "$(stat -c %a "$T/module.trace")" "the trace file is 0600"
m=$(cat "$T/module.trace")
harness_log "module trace:"$'\n'"$m"
assert_contains "$(grep 'C_SignInit(' "$T/module.trace")" "mechanism=CKM_ECDSA_SHA256," "module trace: the mechanism"
assert_contains "$(grep 'C_FindObjectsInit(' "$T/module.trace")" "CKA_CLASS=CKO_PRIVATE_KEY" "module trace: the template"
assert_contains "$(grep 'C_Login(' "$T/module.trace")" "pin=<hidden, 6 bytes>" "module trace: the PIN hidden"
assert_contains "$(grep 'C_Sign(' "$T/module.trace")" "= CKR_OK" "module trace: the result"
unclock "$T/module.trace" | grep -q -e "$PIN" -e "$PINHEX" && fail_later "the PIN appears in the module's trace" ||
	pass "no PIN in the module's trace"
finish
