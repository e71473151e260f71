#!/usr/bin/env bash
# tokend's driver sections, with two virtual YubiKeys (readers 0 and 1):
#  - a bad value in [piv] is refused by --check-config at its FILE:LINE;
#  - [piv] readers = Virtual PCD 00 01: through the socket only card 1 is
#    a token; card 0 gets not one APDU from tokend, also when it is pulled
#    and inserted again while tokend runs.
. "$(dirname "$0")/common.sh"
e2e_require_tokend "tokend.conf's driver sections"
e2e_init
R0=$R
R1=$(reader_name 1)
vcard_start 1 --mgm-alg 3des --serial 7654322
run_ok "card 0 answers yubico-piv-tool" "${ypt[@]}" -a status
apdus() { wc -l <"$(vcard_dir "$1")/apdu.log"; }

printf '[export main]\nsocket = %s/main\n\n[piv]\nreaders = %s,,%s\n' \
	"$SOCKDIR" "$R0" "$R1" >"$CONF"
run_fail "--check-config with an empty reader glob" "$TOKEND" -c "$CONF" --check-config
assert_contains "$OUT" "$CONF:5: empty reader glob" "the error"

: >"$CONF"
e2e_export main
printf '[piv]\nreaders = %s\n' "$R1" >>"$CONF"
R=$R1 # server_start waits for this reader's token
server_start main
token_readers() {
	local out
	out=$(timeout 60 pkcs11-tool --module "$C" -T 2>/dev/null |
		sed -n 's/^Slot [0-9]* ([0-9a-fx]*): //p' | sed 's/ *$//' | sort)
	harness_log "tokens in: ${out//$'\n'/, }" >&2
	printf '%s\n' "$out"
}
a0=$(apdus 0)
assert_eq "$R1" "$(token_readers)" "tokens through the socket"
vcard_pull 0
vcard_insert 0
sleep 1 # tokend saw the insert (pcscd polls vpcd every 0.4 s)
assert_eq "$R1" "$(token_readers)" "tokens after card 0 came back"
assert_eq "$a0" "$(apdus 0)" "APDUs tokend sent to card 0"
server_stop
vcard_stop 1
harness_log "PASS"
