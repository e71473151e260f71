#!/usr/bin/env bash
# SIGHUP through p11-kit-client.so (tokend only): an export added by a
# reload serves the token at once; a client connected to an export that
# stays keeps its connection and login across reloads; a removed export's
# socket goes away: a new client there sees no slot.

# shellcheck source=common.sh
. "$(dirname "$0")/common.sh"
e2e_require_tokend "SIGHUP reload"
e2e_init
provision 9a:ECCP256

write_conf() { # export names
	local n
	: >"$CONF"
	for n in "$@"; do e2e_export "$n"; done
}
reloads=0
hup() {
	reloads=$((reloads + 1))
	kill -HUP "$SERVER_PID"
	for _ in $(seq 100); do
		[ "$(grep -c 'reloaded' "$SERVER_LOG")" -ge "$reloads" ] && return 0
		sleep 0.1
	done
	fail "no 'reloaded' log line after SIGHUP #$reloads"
}

write_conf keep gone
server_start keep

# A long-lived client on "keep", logged in, and one on "gone".
coproc KEEP { "${P11C[@]}" repl 2>&1; }
say() { # CMD: to the long-lived client; its reply in $REPLY_LINE
	printf '%s\n' "$1" >&"${KEEP[1]}"
	REPLY_LINE=
	read -r -t 60 REPLY_LINE <&"${KEEP[0]}" || REPLY_LINE="no reply"
	harness_log "  keep client: $1 -> $REPLY_LINE"
}
for c in init open "login $PIN" "sign 01"; do
	say "$c"
	assert_contains "$REPLY_LINE" "ok" "long-lived client: $c"
done

# Reload 1: "fresh" added.
write_conf keep gone fresh
hup
for _ in $(seq 50); do [ -S "$SOCKDIR/fresh" ] && break; sleep 0.1; done
[ -S "$SOCKDIR/fresh" ] || fail "socket of the added export missing"
use_socket fresh
p11c_ok "added export serves the token" "init; open; login $PIN; sign 01 2; finalize"
say "sign 01 2"
assert_contains "$REPLY_LINE" "ok 2" "long-lived client on an unchanged export signs after a reload"

# Reload 2: "gone" removed.
write_conf keep fresh
hup
for _ in $(seq 50); do [ -e "$SOCKDIR/gone" ] || break; sleep 0.1; done
[ ! -e "$SOCKDIR/gone" ] || fail "socket of the removed export still there"
use_socket gone
p11c_ok "removed export: C_Initialize succeeds without slots" "init; slots"
assert_contains "$OUT" "slots: ok 0" "no slots on the removed export"
use_socket keep
p11c_ok "kept export still serves new clients" "init; open; login $PIN; sign 01; finalize"
use_socket fresh
p11c_ok "added export still serves" "init; open; login $PIN; sign 01; finalize"
say "sign 01"
assert_contains "$REPLY_LINE" "ok 1" "long-lived client still logged in after two reloads"
say "finalize"
say "quit"

server_stop
vcard_stop 0
harness_log "PASS"
