#!/usr/bin/env bash
# Wrong PINs to the TPM token hold back only whoever sends them: client A
# sends wrong PINs through tokend's socket while client B, logged in
# before, signs (PyKCS11 through Debian's p11-kit-client.so). Once A's
# tries meet tokend's token-wide wrong-PIN delay (the fifth waits 4 s),
# B's signatures all complete while A's login is still pending, and
# openssl verifies them; then A's login ends refused (CKR_PIN_INCORRECT,
# never locked), counted by tokend, and B's PIN still works.
#
# An ordering check, not a timing one: B signs after A's fifth login
# started and must be done before that login answers. Each of A's tries
# comes from a uid of its own, so the daemon's per-peer back-off (which
# parks a peer's logins before they reach the token) stays out of the
# way and the token's own delay is what A meets. Before the delay was
# moved out of the token lock, B's signatures waited for A's login.
. "$(dirname "$0")/../harness/lib.sh"
. "$(dirname "$0")/../harness/swtpm.sh"
. "$(dirname "$0")/common.sh"

tpm_test_init setpriv
HARNESS_LOGS+=("$T/a.log" "$T/b.err")

# (the default delay cap, 5 s: the tries A makes meet 1, 2 and 4 s)
tpm_tokend_start pin-dos 0666
chmod 0711 "$T" # A's uids reach the socket (mode 0666) through it
tpm_token_setup
run_ok "read its public key" "${p11[@]}" --read-object --type pubkey --id 01 -o "$T/ec.der"
openssl dgst -sha256 -binary "$T/tokend.conf" >"$T/hash"

# B: logged in, signs on request.
coproc B { exec /usr/bin/python3 "$(dirname "$0")/pin_dos_signer.py" \
	"$CLIENT_SO" 123456 2>"$T/b.err"; }
TPM_STOP_PIDS+=("$B_PID") # (set by coproc)
read -r -t 60 line <&"${B[0]}" || line=
assert_eq ready "$line" "client B logged in"

# A: five wrong PINs, one after the other, each from its own uid; marks
# each try's start and end in a.marks.
: >"$T/a.marks"
(
	for i in 1 2 3 4 5; do
		echo "begin $i" >>"$T/a.marks"
		rc=0
		setpriv --reuid=$((41000 + i)) --regid=$((41000 + i)) --clear-groups \
			env P11_KIT_SERVER_ADDRESS="$P11_KIT_SERVER_ADDRESS" \
			timeout 60 pkcs11-tool --module "$CLIENT_SO" --login \
			--pin 0000$i -O >"$T/a.$i" 2>&1 || rc=$?
		echo "end $i $rc" >>"$T/a.marks"
	done
) >"$T/a.log" 2>&1 &
A_PID=$!
TPM_STOP_PIDS+=("$A_PID")

for _ in $(seq 600); do
	grep -q "^begin 5" "$T/a.marks" && break
	sleep 0.1
done
grep -q "^begin 5" "$T/a.marks" || fail "client A's fifth try did not start"
# (A's request needs a moment to reach tokend; its wait there is 4 s)
sleep 0.3
mkdir "$T/sigs"
echo "sign 5 $T/sigs $T/hash" >&"${B[1]}"
read -r -t 60 line <&"${B[0]}" || line=
marks=$(cat "$T/a.marks")
harness_log "B answered '$line'; A's marks then: $(tr '\n' ' ' <<<"$marks")"
assert_eq "done 5" "$line" "client B signed 5 times"
check "B's signatures completed while A's fifth login was pending" \
	bash -c "! grep -q '^end 5' <<<'$marks'"

wait "$A_PID"
for i in 1 2 3 4 5; do
	check "A's wrong PIN $i answered CKR_PIN_INCORRECT" grep -q CKR_PIN_INCORRECT "$T/a.$i"
done
check "tokend counted the five" grep -q "wrong user PIN refused (5 wrong" "$LOG"
for i in 0 1 2 3 4; do
	run_check "openssl verifies B's signature $i" openssl pkeyutl -verify -pubin \
		-keyform DER -inkey "$T/ec.der" -in "$T/hash" -sigfile "$T/sigs/sig.$i"
done
eval "exec ${B[1]}>&-" # end of B's input: it logs out
wait "$B_PID" || fail_later "client B ended with an error: $(cat "$T/b.err")"
TPM_STOP_PIDS=() # both ended
run_ok "the right PIN still works (after the delay)" "${p11[@]}" --login --pin 123456 -O
check "no sanitizer report from tokend" \
	bash -c "! grep -qE 'ERROR: (Address|Leak)Sanitizer|WARNING: ThreadSanitizer|runtime error:' '$LOG'"
finish
