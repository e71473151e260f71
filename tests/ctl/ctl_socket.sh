#!/usr/bin/env bash
# tokenctl and the control socket without a card: the socket is root's
# (mode 0600 without a control group), a peer that is neither root nor in
# control-group is refused by its credentials (logged) even when the file
# mode would let it in, a member of control-group is served; reload
# through tokenctl applies a changed config like SIGHUP and reports why a
# bad one is refused; check-config gives tokend's verdict; malformed,
# oversized and silent control requests close only that control
# connection, and tokend keeps serving its exports and the control socket.
. "$(dirname "$0")/../daemon/lib.sh"
: "${TOKENCTL:?TOKENCTL must name the tokenctl binary}"

CONF="$T/tokend.conf"
CTL="$T/control"
tc() { "$TOKENCTL" -s "$CTL" "$@"; }

write_conf() { # write_conf [EXTRA-EXPORT]
	{
		printf '[tokend]\ncontrol-socket = %s\n' "$CTL"
		if [ -n "${CONTROL_GROUP:-}" ]; then printf 'control-group = %s\n' "$CONTROL_GROUP"; fi
		printf '\n[export one]\nsocket = %s/one.sock\nmode = 0666\n' "$T"
		if [ -n "${1:-}" ]; then printf '\n[export %s]\nsocket = %s/%s.sock\nmode = 0666\n' "$1" "$T" "$1"; fi
	} >"$CONF"
}

# A raw control request; prints the reply (empty when closed silently).
raw() { # raw PYTHON-BYTES-EXPR [SECS]
	$PY - "$CTL" "$1" "${2:-3}" <<'EOF'
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.connect(sys.argv[1])
s.settimeout(float(sys.argv[3]) + 5)
try:
    s.sendall(eval(sys.argv[2]))
except BrokenPipeError:
    pass
out = b""
while True:
    try:
        d = s.recv(4096)
    except ConnectionResetError:
        break
    if not d:
        break
    out += d
sys.stdout.write(out.decode(errors="replace"))
EOF
}

write_conf
start_tokend "$CONF"
log_has "control: listening on $CTL" || fail "no control socket in the log"

# ---- ownership, peers ----
if getent group tokend-admin >/dev/null; then
	# The default control group exists on this machine (the package made it).
	mode=$(stat -c '%a %U %G' "$CTL")
	assert_eq "660 root tokend-admin" "$mode" "control socket is root's, mode 0660, group tokend-admin (the default)"
else
	mode=$(stat -c '%a %U' "$CTL")
	assert_eq "600 root" "$mode" "control socket is root's, mode 0600 (no control group)"
fi
out=$(setpriv --reuid nobody --regid nogroup --clear-groups "$TOKENCTL" -s "$CTL" status 2>&1) && rc=0 || rc=$?
assert_eq 3 "$rc" "nobody cannot reach a 0600 control socket"
# Let the file mode in: the peer check must still refuse.
chmod 0666 "$CTL"
out=$(setpriv --reuid nobody --regid nogroup --clear-groups "$TOKENCTL" -s "$CTL" status 2>&1) && rc=0 || rc=$?
assert_eq 1 "$rc" "a non-admin peer is refused by its credentials"
assert_contains "$out" "permission denied" "tokenctl says why"
assert_not_contains "$out" "EXPORTS" "no status for a non-admin peer"
log_has "control: refused peer uid $(id -u nobody) gid $(getent group nogroup | cut -d: -f3)" ||
	fail_later "the refusal is not logged with the peer's ids"

out=$(tc status) || fail "tokenctl status as root: $out"
assert_contains "$out" "EXPORTS" "status has an exports section"
assert_contains "$out" "$T/one.sock" "status lists the export's socket"

# A held export connection is listed with its uid and pid.
setpriv --reuid nobody --regid nogroup --clear-groups $CLIENT hold "$T/one.sock" "$T/go" >"$T/hold.out" &
HOLD=$!
wait_for grep -q connected "$T/hold.out" || fail "holding client did not connect"
out=$(tc status)
row=$(printf '%s\n' "$out" | awk -v pid="$HOLD" '$5 == pid')
assert_contains "$row" "one" "status lists the connection (pid $HOLD) on export one"
assert_eq "$(id -u nobody)" "$(printf '%s' "$row" | awk '{print $3}')" "with the peer's uid"
json=$(tc status --json)
facts=$($PY -c '
import json, sys
d = json.loads(sys.argv[1])
ex = {e["name"]: e for e in d["exports"]}["one"]
c = [c for c in ex["connections"] if c["pid"] == int(sys.argv[2])][0]
print(ex["socket"], c["uid"], c["pid"], isinstance(d["tokens"], list))
' "$json" "$HOLD") || fail "status --json does not parse or lacks the connection: $json"
assert_eq "$T/one.sock $(id -u nobody) $HOLD True" "$facts" "--json has the same facts"
touch "$T/go"
wait "$HOLD" || true

# A member of the control group is served. 
CONTROL_GROUP=users write_conf
out=$(tc reload) || fail "reload: $out"
out=$(setpriv --reuid nobody --regid nogroup --groups "$(getent group users | cut -d: -f3)" "$TOKENCTL" -s "$CTL" status 2>&1) ||
	fail_later "a member of control-group is refused: $out"
assert_contains "$out" "EXPORTS" "a control-group member gets the status"
CONTROL_GROUP= write_conf

# ---- reload ----
write_conf two
out=$(tc reload) || fail "tokenctl reload: $out"
assert_contains "$out" "reloaded" "reload reports success"
[ -S "$T/two.sock" ] && pass "reload opened the new export's socket" ||
	fail_later "reload did not open $T/two.sock"
assert_contains "$(tc status)" "$T/two.sock" "status shows the new export"
assert_eq '{"reloaded":true}' "$(tc --json reload)" "reload --json"
printf '[export bad]\nsocket = relative\n' >>"$CONF"
out=$(tc reload 2>&1) && rc=0 || rc=$?
assert_eq 1 "$rc" "a bad config: tokenctl reload fails"
assert_contains "$out" "reload refused" "and says it was refused"
assert_contains "$out" "$CONF:" "with the file and line of the problem"
assert_contains "$(tc status)" "$T/two.sock" "the running config stays"

# ---- check-config ----
out=$(tc check-config "$CONF" 2>&1) && rc=0 || rc=$?
assert_eq 1 "$rc" "check-config of a bad file fails"
assert_contains "$out" "$CONF:" "naming the line"
ok=$( (tc check-config --json "$CONF" || true) | $PY -c 'import json,sys; d=json.load(sys.stdin); print(d["ok"], "error" in d)')
assert_eq "False True" "$ok" "check-config --json reports the error"
write_conf two
out=$(tc check-config "$CONF") || fail "check-config of a good file: $out"
assert_eq "$CONF: OK, 2 export(s)" "$out" "check-config of a good file"

# ---- bad requests ----
out=$(raw 'b"bogus\n"')
assert_eq "error malformed request" "$out" "an unknown request is answered with an error"
out=$(raw 'b"A" * 100000' 2)
assert_contains "$out" "error request too long" "an oversized request closes the connection"
out=$(raw 'b"status\x01\n"')
assert_eq "error malformed request" "$out" "a non-printable request is refused"
out=$(raw 'b"status json extra\n"')
assert_eq "error malformed request" "$out" "extra words are refused"
start=$(date +%s)
out=$(raw 'b"stat"' 10)
assert_eq "error no request in time" "$out" "a silent control client is dropped"
[ $(($(date +%s) - start)) -le 8 ] || fail_later "the silent client was held too long"
log_has "control: connection .*: request too long; closed" || fail_later "oversized request not logged"
out=$($CLIENT eof "$T/one.sock" 1)
assert_eq open "$out" "the export still accepts clients"
out=$(tc status) || fail "tokenctl status after bad requests: $out"
assert_contains "$out" "$T/one.sock" "the control socket still serves"
kill -0 "$TOKEND_PID" || fail "tokend died"

stop_tokend
[ ! -e "$CTL" ] && pass "the control socket is removed at stop" ||
	fail_later "the control socket is left behind"
finish
