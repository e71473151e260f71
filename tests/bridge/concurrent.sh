#!/usr/bin/env bash
# Key operations overlapping on one bridged SoftHSMv2 token (SoftHSMv2 takes
# CKF_OS_LOCKING_OK, so tokend runs them at once, each on a module session
# of its own): 8 clients, each its own process and connection, sign at the
# same time with one EC and one RSA key, and openssl verifies every
# signature; then app A logs out while app B signs in a loop: B's signing
# goes on unharmed and A, no longer logged in, is refused.
# shellcheck source=softhsm.sh
. "$(dirname "$0")/softhsm.sh"
bridge_init
export E2E_CLIENT=$CLIENT_SO TOKEND_PIN=$PIN
CLIENTS=8
N=${CONCURRENT_SIGS:-20}

bridge_keypair EC:prime256v1 01 ec
bridge_keypair rsa:2048 02 rsa

# sign_all ID PEM: the clients at once, then openssl on every signature
sign_all() {
	local id=$1 pids=() bad=0 i p f
	mkdir -p "$T/sigs_$id"
	for i in $(seq "$CLIENTS"); do
		timeout 240 "$PY" "$BRIDGE_DIR/concurrent.py" "$T/sigs_$id" "c$i" "$id" "$N" \
			>"$T/client_${id}_$i.out" 2>&1 &
		pids+=($!)
	done
	for i in "${!pids[@]}"; do
		wait "${pids[$i]}" || bad=$((bad + 1))
	done
	for f in "$T"/client_"${id}"_*.out; do
		grep -q "^ok $N" "$f" || harness_log "$(basename "$f"): $(cat "$f")"
	done
	check "$CLIENTS clients signed $N times each with key $id at once" test "$bad" -eq 0
	bad=0
	for f in "$T/sigs_$id"/*.msg; do
		openssl dgst -sha256 -verify "$T/pub_$id.pem" -signature "${f%.msg}.sig" "$f" \
			>/dev/null 2>&1 || { bad=$((bad + 1)); harness_log "bad signature: $f"; }
	done
	p=$(find "$T/sigs_$id" -name '*.sig' | wc -l)
	check "openssl verifies all $p signatures with key $id ($bad bad)" \
		test "$p" -eq $((CLIENTS * N)) -a "$bad" -eq 0
}
sign_all 01
sign_all 02

# A's logout while B signs.
# shellcheck source=../harness/repl_apps.sh
. "$BRIDGE_DIR/../harness/repl_apps.sh"
app A
app B
for a in A B; do
	for c in init open "login $PIN"; do
		ask "$a" "$c"
		check "$a: $c" grep -q "^ok" <<<"$LINE"
	done
done
ask A "handle 01"
HA=${LINE#ok }
check "A finds its key while logged in" grep -q "^ok" <<<"$LINE"
say B "sign 01 300"
ask A "sign 01 20"
check "A signs beside B" grep -q "^ok" <<<"$LINE"
ask A logout
check "A logs out while B signs" grep -q "^ok" <<<"$LINE"
ask A "signh $HA"
check "A, logged out, cannot sign with its key's handle" grep -q "^err" <<<"$LINE"
ask A "sign 01"
check "A, logged out, cannot sign" grep -qE "^err (nokey|CKR_USER_NOT_LOGGED_IN)" <<<"$LINE"
hear B
check "B's 300 signatures, overlapping A's logout, all verify" grep -q "^ok" <<<"$LINE"
ask B "sign 01 5"
check "B still signs after A's logout" grep -q "^ok" <<<"$LINE"
for a in A B; do say "$a" quit; done
wait "${APPS[@]}"
bridge_stop
finish
