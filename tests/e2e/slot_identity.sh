#!/usr/bin/env bash
# Slot identity follows the token (its serial), not only the reader: two
# virtual YubiKeys of different serials in vpcd's two readers are pulled
# and put back swapped (card 0 in reader 1, card 1 in reader 0); each gets
# its old slot id back, in the daemon (long-lived and fresh clients through
# the socket) and in the in-process module (one long-lived application).
# Twice: once with the second card inserted after the first was read
# (the other reader empty meanwhile), once with both moved at the same
# time (the module sees both changes in one pass).
. "$(dirname "$0")/common.sh"
e2e_require_tokend "slot identity"
e2e_init # card 0 (serial 7654321) in reader 0
R0=$(reader_name 0)
R1=$(reader_name 1)
MODULE=$TOKEND_BUILD_DIR/pkcs11/tokend-pkcs11.so
[ -f "$MODULE" ] || fail "module not built: $MODULE"
vcard_start 1 --mgm-alg 3des --serial 7654322
e2e_export main
server_start main

# A long-lived client of the daemon and one of the module, each on a pair
# of FIFOs (fds 3/4 and 5/6).
mkfifo "$T/d.in" "$T/d.out" "$T/m.in" "$T/m.out"
"$PY" "$E2E_DIR/slot_identity.py" <"$T/d.in" >"$T/d.out" &
APPS=($!)
# An ASan build's module loads into Python only with the runtimes
# preloaded (as tests/module/common.sh does); Python's leaks are not ours.
MOD_ENV=()
if ldd "$MODULE" | grep -q libasan; then
	MOD_ENV=(env "LD_PRELOAD=$(cc -print-file-name=libasan.so) $(cc -print-file-name=libubsan.so)"
		ASAN_OPTIONS=detect_leaks=0:abort_on_error=1:halt_on_error=1)
fi
"${MOD_ENV[@]}" "$PY" "$E2E_DIR/slot_identity.py" "$MODULE" <"$T/m.in" >"$T/m.out" &
APPS+=($!)
exec 3>"$T/d.in" 4<"$T/d.out" 5>"$T/m.in" 6<"$T/m.out"
ask() { # DAEMON|MODULE_APP: one "slots" answer
	local w=3 r=4 line
	[ "$1" = MODULE_APP ] && w=5 r=6
	printf 'slots\n' >&"$w"
	IFS= read -r -t 30 line <&"$r" || fail "$1: no answer"
	printf '%s\n' "$line"
}
fresh() { "$PY" "$E2E_DIR/slot_identity.py" <<<slots; }
# settled NAME EXPECTED: NAME's answer becomes EXPECTED within 10 s.
settled() {
	local got
	for _ in $(seq 100); do
		got=$(ask "$1")
		[ "$got" = "$2" ] && return 0
		sleep 0.1
	done
	fail "$1: expected '$2', got '$got'"
}

D0=$(ask DAEMON)
M0=$(ask MODULE_APP)
harness_log "before: daemon $D0; module $M0"
case $D0 in "ok "*:7654321" "*:7654322) ;; *) fail "daemon: not both cards: $D0" ;; esac
case $M0 in "ok "*:7654321" "*:7654322) ;; *) fail "module: not both cards: $M0" ;; esac

# swapped VC0_PORT VC1_PORT: card 0 (its state, serial 7654321) goes to
# the port given first, card 1 to the second.
VC_PIDS=()
slot_cleanup() {
	local rc=$?
	set +e
	kill "${VC_PIDS[@]}" "${APPS[@]}" 2>/dev/null
	(exit "$rc")
	e2e_cleanup
}
trap slot_cleanup EXIT
start_card() { # idx-of-card port
	"$TOKEND_VCARD" --port "$2" --state "$(vcard_dir "$1")/state" --mgm-alg 3des \
		--serial $((7654321 + $1)) >>"$(vcard_dir "$1")/stderr.log" 2>&1 &
	VC_PIDS+=($!)
}
stop_cards() {
	if [ "${#VC_PIDS[@]}" -gt 0 ]; then
		kill "${VC_PIDS[@]}" 2>/dev/null || true
		wait "${VC_PIDS[@]}" 2>/dev/null || true
	fi
	VC_PIDS=()
	"$TOKEND_PCSC_WAIT" --reader "$R0" --absent --timeout 10 || fail "$R0 still has a card"
	"$TOKEND_PCSC_WAIT" --reader "$R1" --absent --timeout 10 || fail "$R1 still has a card"
}

# 1. Both pulled (every client sees them go), then card 0 into reader 1;
# once it is read, card 1 into reader 0.
vcard_stop 0
vcard_stop 1
"$TOKEND_PCSC_WAIT" --reader "$R0" --absent --timeout 10
"$TOKEND_PCSC_WAIT" --reader "$R1" --absent --timeout 10
settled DAEMON "ok "
settled MODULE_APP "ok "
start_card 0 35964
"$TOKEND_PCSC_WAIT" --reader "$R1" --present --timeout 10 || fail "card 0 not in $R1"
settled DAEMON "$(sed 's/ [0-9]*:7654322$//' <<<"$D0")"
settled MODULE_APP "$(sed 's/ [0-9]*:7654322$//' <<<"$M0")"
start_card 1 35963
"$TOKEND_PCSC_WAIT" --reader "$R0" --present --timeout 10 || fail "card 1 not in $R0"
settled DAEMON "$D0"
harness_log "ok: daemon, one at a time: each card has its old slot ($D0)"
settled MODULE_APP "$M0"
harness_log "ok: module, one at a time: each card has its old slot ($M0)"
assert_eq "$D0" "$(fresh)" "a fresh client of the daemon after the swap"
grep -Eq "token arrived in '$R1' \(slot $(sed -E 's/^ok ([0-9]+):.*/\1/' <<<"$D0")\)" "$SERVER_LOG" ||
	fail "the log does not give card 0's old slot for its arrival in '$R1'"

# 2. Both moved back at once: the module sees both changes in one pass
# (it lists only now).
stop_cards
start_card 0 35963
start_card 1 35964
"$TOKEND_PCSC_WAIT" --reader "$R0" --present --timeout 10 || fail "card 0 not back in $R0"
"$TOKEND_PCSC_WAIT" --reader "$R1" --present --timeout 10 || fail "card 1 not back in $R1"
settled DAEMON "$D0"
harness_log "ok: daemon, both at once: each card has its old slot"
settled MODULE_APP "$M0"
harness_log "ok: module, both at once: each card has its old slot"

printf 'quit\n' >&3
printf 'quit\n' >&5
exec 3>&- 4<&- 5>&- 6<&-
wait "${APPS[@]}" || fail "a client exited with an error"
stop_cards
server_stop
harness_log "PASS"
