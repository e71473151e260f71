#!/usr/bin/env bash
# Hotplug through tokend's socket, with two virtual YubiKeys (readers 0 and
# 1) and Debian's p11-kit-client.so:
#  - one key pulled while the other signs: the other is untouched; the
#    pulled key's session answers CKR_DEVICE_REMOVED, then
#    CKR_SESSION_HANDLE_INVALID; its slot stays listed, empty;
#  - a blocked C_WaitForSlotEvent is told of the re-insert; the key comes
#    back in the same slot and needs a new login;
#  - a pull during a signature loop ends the loop with CKR_DEVICE_REMOVED
#    (also when the card goes mid-APDU), and the log still says the token
#    left;
#  - tokend reads a card as it arrives: the first client after an insert
#    costs the card as many APDUs as a later one, also when it asks while
#    the read is under way (no second read);
#  - pcscd stopped and started again while tokend runs: a waiting client is
#    told, the tokens come back in their slots;
#  - the log says each token's arrival and departure once, pcscd's loss and
#    return once, and nothing for what came back with pcscd;
#  - 50 real pull/insert cycles (HOTPLUG_CYCLES): each read and logged
#    once, no growth of tokend's memory (plain build).
# Needs its own pcscd (tests/harness/private_pcscd.sh): it restarts it.
. "$(dirname "$0")/common.sh"

# It restarts pcscd: under a pcscd of its own (private_pcscd.sh), entered
# here so that ctest, CI and a developer run it the same way.
if [ -z "${PRIVATE_PCSCD_PID:-}" ]; then
	exec "$(dirname "$0")/../harness/private_pcscd.sh" bash "$0" "$@"
fi
e2e_require_tokend "tokend's hotplug"
e2e_init
PIN=123456
HP=("$PY" "$E2E_DIR/hotplug.py")
R0=$(reader_name 0)
R1=$(reader_name 1)
provision 9a:ECCP256
vcard_start 1 --mgm-alg 3des --serial 7654322
run_ok "generate P-256 in 9a (card 1)" yubico-piv-tool -r "$R1" -a generate \
	-s 9a -A ECCP256 -o "$T/pub1.pem"
card_selfsign 1 9a "$T/pub1.pem" "hotplug card 1" "$T/cert1.pem"
run_ok "import certificate (card 1)" yubico-piv-tool -r "$R1" \
	-a import-certificate -s 9a -i "$T/cert1.pem"
e2e_export main
server_start main
WAITER=
SIGNER=

apdus() { wc -l <"$(vcard_dir "$1")/apdu.log"; }
logged() { grep -c -- "$1" "$SERVER_LOG" || true; }
# wait_logged N PATTERN: the log has N lines matching PATTERN (10 s).
wait_logged() {
	for _ in $(seq 200); do
		[ "$(logged "$2")" -ge "$1" ] && return 0
		sleep 0.05
	done
	fail "expected $1 log line(s) '$2', got $(logged "$2")"
}
pull_cmd() { echo "kill -USR1 $(vcard_pid "$1") && $TOKEND_PCSC_WAIT --reader '$(reader_name "$1")' --absent --timeout 10"; }

run_ok "client on card 1" "${HP[@]}" client "$R1" "$PIN"
run_ok "slot of card 0" "${HP[@]}" slot "$R0"
SLOT0=$(echo "$OUT" | awk '{ print $2 }')
assert_contains "$OUT" present
wait_logged 1 "token arrived in '$R0'"
wait_logged 1 "token arrived in '$R1'"

# 1. Card 0 pulled while card 1 signs in another application; its session
# fails; re-inserted (a blocked wait is told), it is back in the same slot
# and needs a new login.
mkdir -p "$T/pub1"
TOKEND_READER=$R1 E2E_PUBDIR=$T/pub1 \
	"$PY" "$E2E_DIR/p11client.py" run "init; open; login $PIN; sign 01 30" \
	>"$T/signer.out" 2>&1 &
SIGNER=$!
# $T/insert.sh: a client blocks in C_WaitForSlotEvent, then card 0 goes
# in; the client's answer is left in $T/wait.out.
cat >"$T/insert.sh" <<EOS
"$PY" "$E2E_DIR/hotplug.py" wait >"$T/wait.out" 2>&1 &
w=\$!
for _ in \$(seq 100); do grep -q blocked "$T/wait.out" && break; sleep 0.05; done
sleep 0.3
kill -0 \$w || { echo "the wait ended early" >>"$T/wait.out"; exit 1; }
kill -USR2 $(vcard_pid 0)
"$TOKEND_PCSC_WAIT" --reader "$R0" --present --timeout 10
wait \$w
EOS
run_ok "card 0 pulled under its session, then re-inserted" "${HP[@]}" removed \
	"$R0" "$PIN" "$(pull_cmd 0)" "bash $T/insert.sh"
wait "$SIGNER" || { cat "$T/signer.out" >&2; fail "card 1's signatures failed while card 0 left"; }
SIGNER=
harness_log "ok: card 1 signed 30 times while card 0 left"
assert_contains "$(cat "$T/wait.out")" "ok $SLOT0" "the blocked wait's answer to the re-insert"
wait_logged 1 "token left '$R0'"
wait_logged 2 "token arrived in '$R0'"
run_ok "the re-inserted card 0" "${HP[@]}" slot "$R0"
assert_eq "ok $SLOT0 present" "$OUT" "the re-inserted card's slot"

# 3. Pulled during a signature loop: the loop ends with CKR_DEVICE_REMOVED,
# whether the pull hits an APDU or falls between two.
"$PY" "$E2E_DIR/p11client.py" run "init; open; login $PIN; signloop 01" \
	>"$T/loop.out" 2>&1 &
SIGNER=$!
sleep 1
vcard_pull 0
wait "$SIGNER" || true
SIGNER=
harness_log "signature loop: $(tail -n 1 "$T/loop.out")"
assert_contains "$(cat "$T/loop.out")" "err CKR_DEVICE_REMOVED" "the loop's end"
run_ok "card 1 unaffected" "${HP[@]}" client "$R1" "$PIN"

# 4. The card is read as it arrives: the first client costs what a later
# one costs.
before=$(apdus 0)
vcard_insert 0
wait_logged 3 "token arrived in '$R0'"
sleep 0.2
read_cost=$(($(apdus 0) - before))
a0=$(apdus 0)
run_ok "first client after the insert" "${HP[@]}" client "$R0" "$PIN"
first=$(($(apdus 0) - a0))
a0=$(apdus 0)
run_ok "a later client" "${HP[@]}" client "$R0" "$PIN"
later=$(($(apdus 0) - a0))
harness_log "APDUs: read at insert $read_cost, first client $first, later client $later"
[ "$read_cost" -gt 0 ] || fail "nothing was read at the insert"
assert_eq "$later" "$first" "APDUs of the first client after an insert"
# A client that comes while the read runs waits for it: no second read.
vcard_pull 0
wait_logged 3 "token left '$R0'"
a0=$(apdus 0)
vcard_insert 0
run_ok "a client during the read" "${HP[@]}" client "$R0" "$PIN"
wait_logged 4 "token arrived in '$R0'"
during=$(($(apdus 0) - a0))
harness_log "APDUs: insert + client during the read: $during"
assert_eq "$((read_cost + later))" "$during" "APDUs of a client that came during the read"

# 5. pcscd goes and comes back: a waiting client is told; tokens return
# to their slots; the log says it once, quietly for the tokens.
arrived_before=$(logged "token arrived in")
"${HP[@]}" wait >"$T/wait.out" 2>&1 &
WAITER=$!
for _ in $(seq 100); do grep -q blocked "$T/wait.out" && break; sleep 0.05; done
sleep 0.3
# (the pcscd of this namespace now: an earlier test may have replaced
# private_pcscd.sh's)
kill "$(tr -d '\0' </run/pcscd/pcscd.pid)"
for _ in $(seq 100); do kill -0 "$WAITER" 2>/dev/null || break; sleep 0.1; done
wait "$WAITER" || true
WAITER=
assert_contains "$(cat "$T/wait.out")" "ok " "the wait's answer when pcscd left"
wait_logged 1 "pcscd lost"
pcscd --foreground >"$T/pcscd2.log" 2>&1 &
HARNESS_PCSCD_PID=$! # the harness stops it
wait_logged 1 "pcscd back"
run_ok "card 0 back in its slot" "${HP[@]}" client "$R0" "$PIN"
assert_eq "ok $SLOT0" "$OUT" "card 0's slot after pcscd's return"
run_ok "card 1 back" "${HP[@]}" client "$R1" "$PIN"
sleep 1
assert_eq 1 "$(logged 'pcscd lost')" "'pcscd lost' lines"
assert_eq 1 "$(logged 'pcscd back')" "'pcscd back' lines"
assert_eq "$arrived_before" "$(logged 'token arrived in')" "token lines for tokens back with pcscd"
assert_eq 0 "$(logged "token left '$R1'")" "token lines for card 1 leaving with pcscd"

# 6. 50 real pull/insert cycles (each ~0.4 s of pcscd polling both ways):
# every one read once and logged once; tokend's memory does not grow.
rss() { awk '/^VmRSS/ { print $2 }' "/proc/$SERVER_PID/status"; }
CYCLES=${HOTPLUG_CYCLES:-50}
n0=$(logged "token arrived in '$R0'")
for i in $(seq "$CYCLES"); do
	vcard_pull 0
	vcard_insert 0
	wait_logged $((n0 + i)) "token arrived in '$R0'"
	[ "$i" -eq 10 ] && rss10=$(rss)
done
run_ok "a client after $CYCLES cycles" "${HP[@]}" client "$R0" "$PIN"
assert_eq "ok $SLOT0" "$OUT" "card 0's slot after $CYCLES cycles"
rss_end=$(rss)
harness_log "tokend RSS: ${rss10:-?} kB after 10 cycles, $rss_end kB after $CYCLES"
assert_eq $((n0 + CYCLES)) "$(logged "token arrived in '$R0'")" "token lines over $CYCLES cycles"
if ! ldd "$TOKEND" | grep -Eq "libasan|libtsan"; then # their shadow and quarantine hold memory
	[ $((rss_end - rss10)) -lt 1024 ] ||
		fail "tokend grew by $((rss_end - rss10)) kB over $((CYCLES - 10)) cycles"
fi

server_stop
harness_log "PASS"
