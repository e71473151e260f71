#!/usr/bin/env bash
# Faster round trips: on ONE connection through Debian's p11-kit-client.so,
# a signature that takes the virtual card 2 s does not hold up attribute
# reads, searches and info calls of another session (fastpath.py asserts
# the order); the signature verifies with openssl. The card sits in reader
# 1 and the export shows only its token.
. "$(dirname "$0")/../harness/card_export.sh"
card_export_start --client --delay --cert "tokend fast path"
run_ok "another session's reads overtake a slow signature" timeout 120 \
	/usr/bin/python3 "$(dirname "$0")/fastpath.py" "$CLIENT_SO" "$T"
harness_log "$OUT"
run_ok "the signature verifies with the card's public key" openssl pkeyutl \
	-verify -pubin -inkey "$T/pub.pem" -in "$T/fast.hash" \
	-sigfile "$T/fast.sig"
harness_log "fastpath: all passed"
