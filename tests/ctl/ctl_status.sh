#!/usr/bin/env bash
# tokenctl status with the virtual card: the token (reader, driver,
# model, serial, keys) and a client logged in to it through an export,
# listed with its peer uid and pid, its session and its login; --json
# parses and has the same facts. The client runs as nobody.
. "$(dirname "$0")/../harness/lib.sh"

PIN=123456
PY=/usr/bin/python3
HERE=$(cd "$(dirname "$0")" && pwd)
: "${TOKEND:?TOKEND must name the tokend binary}"
: "${TOKENCTL:?TOKENCTL must name the tokenctl binary}"

TOKEND_PID=
CL=
status_cleanup() {
	local rc=$? p
	set +e
	for p in "$TOKEND_PID" "$CL"; do
		if [ -n "$p" ] && kill -0 "$p" 2>/dev/null; then
			kill -KILL "$p" 2>/dev/null
			wait "$p" 2>/dev/null
		fi
	done
	(exit "$rc")
	harness_cleanup
}

harness_init
trap status_cleanup EXIT
harness_require yubico-piv-tool
pcscd_ensure
vcard_start 1 --mgm-alg 3des
R=$(reader_name 1)
T=$HARNESS_TMP
chmod 0755 "$T"
run_ok "generate P-256 in 9a" yubico-piv-tool -r "$R" -a generate -s 9a \
	-A ECCP256 -o "$T/pub.pem"
SERIAL=$(yubico-piv-tool -r "$R" -a status | awk '/^Serial Number/ { print $NF }')
[ -n "$SERIAL" ] || fail "no serial number from yubico-piv-tool status"

cat >"$T/tokend.conf" <<EOF
[tokend]
control-socket = $T/control

[export cards]
socket = $T/tokend.sock
mode = 0666
tokens = pkcs11:serial=$SERIAL
EOF
"$TOKEND" -f -c "$T/tokend.conf" 2>"$T/tokend.log" &
TOKEND_PID=$!
HARNESS_LOGS=("$T/tokend.log")
for _ in $(seq 100); do
	grep -q "tokend ready" "$T/tokend.log" && break
	sleep 0.05
done
grep -q "tokend ready" "$T/tokend.log" || fail "tokend did not start"

setpriv --reuid nobody --regid nogroup --clear-groups \
	$PY "$HERE/login_client.py" "$T/tokend.sock" "$PIN" "$T/go" >"$T/cl.out" 2>&1 &
CL=$!
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
CL=
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
