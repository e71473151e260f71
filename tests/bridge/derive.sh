#!/usr/bin/env bash
# ECDH (CKM_ECDH1_DERIVE) with a bridged SoftHSMv2 EC key, several clients
# at once (each derivation on a module session of its own): every client's
# shared secret is the one openssl derives from the other side. Needs a
# p11-kit client newer than Debian's 0.24, which cannot marshal
# CK_ECDH1_DERIVE_PARAMS (BRIDGE_CLIENT_VERSION).
# shellcheck source=softhsm.sh
. "$(dirname "$0")/softhsm.sh"
bridge_init
CLIENTS=6
bridge_keypair EC:prime256v1 01 ec
pids=()
for i in $(seq "$CLIENTS"); do
	openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$T/peer$i.pem" 2>/dev/null
	openssl pkey -in "$T/peer$i.pem" -pubout -outform DER -out "$T/peer$i.der"
done
for i in $(seq "$CLIENTS"); do
	"${p11[@]}" --login --pin "$PIN" --derive -m ECDH1-DERIVE --id 01 \
		-i "$T/peer$i.der" -o "$T/z$i.tokend" >"$T/derive$i.out" 2>&1 &
	pids+=($!)
done
bad=0
for i in "${!pids[@]}"; do
	wait "${pids[$i]}" || { bad=$((bad + 1)); harness_log "client $((i + 1)): $(cat "$T/derive$((i + 1)).out")"; }
done
check "$CLIENTS clients derive at once" test "$bad" -eq 0
for i in $(seq "$CLIENTS"); do
	run_ok "openssl's side ($i)" openssl pkeyutl -derive -inkey "$T/peer$i.pem" \
		-peerkey "$T/pub_01.pem" -out "$T/z$i.ossl"
	check "client $i's secret is openssl's" cmp -s "$T/z$i.tokend" "$T/z$i.ossl"
done
bridge_stop
finish
