#!/usr/bin/env bash
# SIGHUP: exports added and removed; an unchanged export keeps its socket
# and its connections; a changed one keeps the connections of peers it
# still allows, closes (and logs) those of peers it no longer allows, and
# applies the new settings to new ones; a bad config is refused and the
# old one stays.
. "$(dirname "$0")/lib.sh"

S="$T/s"
CONF="$T/tokend.conf"

write_conf() { # write_conf EXPORT-SECTIONS...
	# The holding clients never handshake: give them time.
	printf '[tokend]\nhandshake-timeout = 120\n\n' >"$CONF"
	for sec in "$@"; do
		case $sec in
		keep) printf '[export keep]\nsocket = %s/keep\nmode = 0666\n\n' "$S" ;;
		old) printf '[export old]\nsocket = %s/old\nmode = 0666\n\n' "$S" ;;
		new) printf '[export new]\nsocket = %s/new\nmode = 0666\n\n' "$S" ;;
		policy) printf '[export policy]\nsocket = %s/policy\nmode = %s\nallow-users = %s\n\n' "$S" "${POLICY_MODE:-0666}" "${POLICY_USERS:-1234}" ;;
		esac
	done >>"$CONF"
}

hup_and_wait() { # hup_and_wait LOG-REGEX: SIGHUP, wait for the outcome line
	local n
	n=$(grep -Ec -- "$1" "$LOG" || true)
	kill -HUP "$TOKEND_PID"
	wait_for sh -c "[ \$(grep -Ec -- '$1' '$LOG') -gt $n ]"
}

POLICY_USERS="1234, 1235" write_conf keep old policy
start_tokend "$CONF"
keep_ino=$(stat -c %i "$S/keep")

# Long-lived clients on the export that stays, on the one that goes away
# and on the one whose policy changes.
rm -f "$T/go"
$CLIENT hold "$S/keep" "$T/go" >"$T/keep.out" &
KEEP_CLIENT=$!
$CLIENT hold "$S/old" "$T/go" >"$T/old.out" &
OLD_CLIENT=$!
setpriv --reuid 1234 --regid 1234 --clear-groups $CLIENT hold "$S/policy" "$T/go" >"$T/policy.out" &
POLICY_CLIENT=$!
setpriv --reuid 1235 --regid 1235 --clear-groups $CLIENT hold "$S/policy" "$T/go" >"$T/policy2.out" &
POLICY2_CLIENT=$!
check "clients connected" wait_for sh -c "grep -q connected '$T/keep.out' && grep -q connected '$T/old.out' && grep -q connected '$T/policy.out' && grep -q connected '$T/policy2.out'"
check "policy export admits 1234 before the reload" \
	test "$(setpriv --reuid 1234 --regid 1234 --clear-groups $CLIENT eof "$S/policy" 0.5)" = "open"

# Reload: "old" removed, "new" added, "policy" now allows 1235 only.
POLICY_USERS=1235 write_conf keep new policy
check "SIGHUP reload succeeds" hup_and_wait "reloaded: 3 export"
check "new export's socket appears" wait_for test -S "$S/new"
check "new export serves" test "$($CLIENT eof "$S/new" 0.5)" = "open"
check "removed export's socket disappears" wait_for test ! -e "$S/old"
check "unchanged export kept its very socket" test "$(stat -c %i "$S/keep")" = "$keep_ino"
check "changed export logged" log_has "export policy: settings changed"
check "the revoked peer's connection closed at the reload, logged" \
	log_has "export policy: uid 1234 pid [0-9]+ is no longer allowed; closing its connection"
check "the still allowed peer's connection stays" \
	sh -c "! grep -Eq 'uid 1235 pid [0-9]+ is no longer allowed' '$LOG'"
check "changed export refuses 1234 for new connections" \
	test "$(setpriv --reuid 1234 --regid 1234 --clear-groups $CLIENT eof "$S/policy" 1)" = "eof"
check "changed export admits 1235 now" \
	test "$(setpriv --reuid 1235 --regid 1235 --clear-groups $CLIENT eof "$S/policy" 0.5)" = "open"

# A bad config at reload: refused with file:line, old exports keep working.
cp "$CONF" "$T/good.conf"
printf '[export broken]\nsocket = relative/path\n' >>"$CONF"
check "bad config at reload is refused with file:line: reason" \
	hup_and_wait "reload refused, keeping the running config: $CONF:[0-9]+: socket path must be absolute"
check "exports still serve after a refused reload" \
	test "$($CLIENT eof "$S/keep" 0.5)" = "open" -a "$($CLIENT eof "$S/new" 0.5)" = "open"
check "no export of the refused config appeared" test ! -e "$T/relative"

# An export whose socket cannot be made rolls the whole reload back.
cp "$T/good.conf" "$CONF"
mkdir -p "$T/notasocket"
# extra is opened first, then blocked fails: extra must be closed again.
printf '[export extra]\nsocket = %s/extra\nmode = 0666\n' "$S" >>"$CONF"
printf '[export blocked]\nsocket = %s/notasocket\nmode = 0666\n' "$T" >>"$CONF"
check "reload with an unbindable socket is refused" \
	hup_and_wait "reload refused, keeping the running config"
check "its other new export was rolled back" test ! -e "$S/extra"
check "old exports still serve" test "$($CLIENT eof "$S/new" 0.5)" = "open"

# The socket's mode cannot be applied (its file is gone; a hard link still
# reaches it): the reload still applies the export's new peer policy.
cp "$T/good.conf" "$CONF"
ln "$S/policy" "$T/policy-link"
rm "$S/policy"
POLICY_MODE=0660 POLICY_USERS=1236 write_conf keep new policy
check "reload whose chmod fails is logged" \
	hup_and_wait "export policy: could not apply owner/mode"
check "its new allow-users applies all the same (1235 refused)" \
	test "$(setpriv --reuid 1235 --regid 1235 --clear-groups $CLIENT eof "$T/policy-link" 1)" = "eof"
check "and 1236 admitted" \
	test "$(setpriv --reuid 1236 --regid 1236 --clear-groups $CLIENT eof "$T/policy-link" 0.5)" = "open"

touch "$T/go"
wait "$KEEP_CLIENT" "$OLD_CLIENT" "$POLICY_CLIENT" "$POLICY2_CLIENT" || true
check "connection to the unchanged export survived the reloads" \
	grep -qx open "$T/keep.out"
check "the revoked peer's connection to the changed export was closed" \
	grep -qx eof "$T/policy.out"
check "and the peer revoked by the last reload's connection too" \
	grep -qx eof "$T/policy2.out"
check "connection to the removed export was closed" grep -qx eof "$T/old.out"

stop_tokend
check "every socket removed at exit" \
	test ! -e "$S/keep" -a ! -e "$S/new" -a ! -e "$S/policy"
finish
