#!/usr/bin/env bash
# tokenctl status with the virtual card: the token (reader, driver,
# model, serial, keys) and a client logged in to it through an export,
# listed with its peer uid and pid, its session and its login; --json
# parses and has the same facts. The client runs as nobody.
. "$(dirname "$0")/../harness/card_export.sh"

PIN=123456
PY=/usr/bin/python3
HERE=$(cd "$(dirname "$0")" && pwd)
: "${TOKENCTL:?TOKENCTL must name the tokenctl binary}"

card_export_start --control --export cards

setpriv --reuid nobody --regid nogroup --clear-groups \
	$PY "$HERE/login_client.py" "$T/tokend.sock" "$PIN" "$T/go" >"$T/cl.out" 2>&1 &
CL=$!
BG+=("$CL")
for _ in $(seq 200); do
	grep -q logged-in "$T/cl.out" && break
	sleep 0.05
done
grep -q logged-in "$T/cl.out" || fail "the client did not log in: $(cat "$T/cl.out")"
NOBODY=$(id -u nobody)

out=$("$TOKENCTL" -s "$T/control" status) || fail "tokenctl status: $out"
harness_log "status:"$'\n'"$out"
tok=$(printf '%s\n' "$out" | grep -F -- "$SERIAL" || true)
assert_contains "$tok" "$R" "the token row names its reader"
assert_contains "$tok" "piv" "and its driver"
# As many keys as the arrival log line counted (9a and the attestation key).
KEYS=$(grep -o "serial $SERIAL, .* \([0-9]*\) keys" "$T/tokend.log" | grep -o '[0-9]* keys$' | cut -d' ' -f1)
[ -n "$KEYS" ] || fail "no token arrival line in the log"
[ "$(printf '%s' "$tok" | awk '{print $(NF-3)}')" = "$KEYS" ] &&
	pass "the token's $KEYS keys" || fail_later "keys column: $tok"
conn=$(printf '%s\n' "$out" | awk -v pid="$CL" '$5 == pid')
[ -n "$conn" ] || fail "no connection row with the client's pid $CL"
CID=$(printf '%s' "$conn" | awk '{print $1}')
assert_eq "cards $NOBODY active 1" \
	"$(printf '%s' "$conn" | awk '{print $2, $3, $6, $7}')" \
	"the connection: export, peer uid, state, one session"
assert_contains "$conn" "user" "the connection is logged in as the user"
assert_contains "$tok" "conn $CID (user)" "the token says who is logged in"
# Columns line up: every header starts where its cells start.
hdr=$(printf '%s\n' "$out" | grep '^ID ')
col=$(awk -v h="$hdr" 'BEGIN { print index(h, "PID") }')
[ "${conn:$((col - 1)):${#CL}}" = "$CL" ] && pass "the PID column is aligned" ||
	fail_later "PID column not aligned:"$'\n'"$hdr"$'\n'"$conn"

json=$("$TOKENCTL" -s "$T/control" --json status) || fail "status --json: $json"
facts=$($PY -c '
import json, sys
d = json.loads(sys.argv[1])
tok = [t for t in d["tokens"] if t.get("serial") == sys.argv[2]][0]
ex = [e for e in d["exports"] if e["name"] == "cards"][0]
c = [c for c in ex["connections"] if c["pid"] == int(sys.argv[3])][0]
print(tok["reader"] == sys.argv[4], tok["driver"], tok["keys"],
      tok["logged_in_user"], c["id"], c["uid"], c["sessions"],
      [(l["slot"] == tok["slot"], l["user"]) for l in c["logins"]])
' "$json" "$SERIAL" "$CL" "$R") || fail "status --json lacks the facts: $json"
assert_eq "True piv $KEYS 1 $CID $NOBODY 1 [(True, 'user')]" "$facts" \
	"--json has the same facts"

touch "$T/go"
wait "$CL" || true
for _ in $(seq 100); do
	"$TOKENCTL" -s "$T/control" status | awk -v pid="$CL" '$5 == pid' | grep -q . || break
	sleep 0.05
done
out=$("$TOKENCTL" -s "$T/control" --json status)
n=$($PY -c 'import json,sys; print(sum(len(e["connections"]) for e in json.loads(sys.argv[1])["exports"]))' "$out")
assert_eq 0 "$n" "the connection is gone from status after the client left"
kill -TERM "$TOKEND_PID"
wait "$TOKEND_PID" || fail_later "tokend exited with $?"
TOKEND_PID=
finish
