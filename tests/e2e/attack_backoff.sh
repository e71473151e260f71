#!/usr/bin/env bash
# Per-peer back-off (tokend only): a peer (uid 1234) whose logins keep
# failing has its next login delayed (daemon/backoff.h: growing, at most
# 10 s) -- and meanwhile another peer (uid 4321) logs in with the right PIN
# and signs. Observed as ordering: the second peer's signature is done
# while the first peer's login has not been answered yet; then the first
# peer's login is answered (a wrong PIN: refused). No timing is asserted.
# shellcheck source=common.sh
. "$(dirname "$0")/common.sh"
e2e_require_tokend "per-peer login back-off"
e2e_init
provision 9a:ECCP256
e2e_export ro access=read-only
server_start ro

AS_A=(setpriv --reuid 1234 --regid 1234 --clear-groups)
AS_B=(setpriv --reuid 4321 --regid 4321 --clear-groups)

# The owner's PIN is the one the card last accepted through tokend.
p11c_ok "the owner signs" "init; open; login $PIN; sign 01; finalize"

coproc PEER_A { "${AS_A[@]}" "${P11C[@]}" repl 2>&1; }
a_say() { printf '%s\n' "$1" >&"${PEER_A[1]}"; }
a_reply() { # [timeout]: one reply line of peer A into $A_OUT
	A_OUT=""
	IFS= read -r -t "${1:-60}" A_OUT <&"${PEER_A[0]}" || fail "peer A did not answer '$2'"
}
a_say init
a_reply 60 init
a_say open
a_reply 60 open
# Six wrong PINs: the first two reach the card, the rest are held back
# (pin-tries-reserved 1); every one counts as a failure of uid 1234.
for p in 000001 000002 000003 000004 000005 000006; do
	a_say "login $p"
	a_reply 60 "login $p"
	case $A_OUT in
	"err CKR_PIN_INCORRECT" | "err CKR_PIN_LOCKED") ;;
	*) fail "peer A login $p: $A_OUT" ;;
	esac
done
# A's next login now waits; B is not slowed.
a_say "login 000007"
p11c_ok "peer B (uid 4321) logs in and signs meanwhile" \
	"init; open; login $PIN; sign 01 2; finalize" "${AS_B[@]}"
if IFS= read -r -t 0 _ <&"${PEER_A[0]}"; then
	fail "peer A's login was answered before peer B finished: not delayed"
fi
harness_log "peer A's login still waits after peer B signed"
a_reply 30 "login 000007"
case $A_OUT in
"err CKR_PIN_INCORRECT" | "err CKR_PIN_LOCKED") harness_log "peer A answered: $A_OUT" ;;
*) fail "peer A's delayed login: $A_OUT" ;;
esac
a_say quit
wait "$PEER_A_PID" 2>/dev/null || true

server_stop
vcard_stop 0
harness_log "PASS"
