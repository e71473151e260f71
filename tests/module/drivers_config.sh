#!/usr/bin/env bash
# tokend only (skipped, exit 77, for other modules): the module reads the
# driver sections of $TOKEND_CONF (default /etc/tokend/tokend.conf), with
# two virtual YubiKeys (readers 0 and 1):
#  - no file: both cards are tokens;
#  - [piv] enabled = no: no token at all;
#  - [piv] readers = Virtual PCD 00 01: only card 1 is a token; card 0
#    sees not one APDU from the module;
#  - a [module NAME] that claims reader 0: the PIV driver leaves it alone;
#  - a daemon's [tokend] and [export] sections the module cannot use (a
#    pin-file it cannot read, an unknown user, keys it does not know) do
#    not matter to it;
#  - a malformed file: C_Initialize fails (CKR_FUNCTION_FAILED) and one
#    line on stderr names FILE:LINE and the fault.
# shellcheck source=common.sh
. "$(dirname "$0")/common.sh"
module_require_tokend "tokend.conf's driver sections"
T0=$(mktemp -d)
export TOKEND_CONF=$T0/absent.conf # not the machine's file
module_init
vcard_start 1 --serial 7654322
R1=$(reader_name 1)
CONF=$T/tokend.conf

# The readers whose slot holds a token, one per line.
token_readers() {
	local out
	out=$(TOKEND_CONF=$1 timeout 60 pkcs11-tool --module "$M" -T 2>"$T/stderr" |
		sed -n 's/^Slot [0-9]* ([0-9a-fx]*): //p' | sed 's/ *$//' | sort)
	harness_log "tokens in: ${out//$'\n'/, }" >&2
	printf '%s\n' "$out"
}
apdus() { wc -l <"$(vcard_dir "$1")/apdu.log"; }
both=$(printf '%s\n%s' "$R" "$R1")

assert_eq "$both" "$(token_readers "$T0/absent.conf")" "tokens without a config file"

printf '[piv]\nenabled = no\n' >"$CONF"
assert_eq "" "$(token_readers "$CONF")" "tokens with [piv] enabled = no"

printf '[piv]\nreaders = %s\n' "$R1" >"$CONF"
a0=$(apdus 0)
assert_eq "$R1" "$(token_readers "$CONF")" "tokens with [piv] readers = $R1"
assert_eq "$a0" "$(apdus 0)" "APDUs to card 0, which the PIV driver does not serve"

printf '[module other]\npath = /nonexistent/other-pkcs11.so\nreaders = %s\n' "$R" >"$CONF"
assert_eq "$R1" "$(token_readers "$CONF")" "tokens with reader 0 claimed by a module"

cat >"$CONF" <<EOC
[tokend]
log-level = debug
no-such-key = 1
[export main]
socket = /run/nonexistent/s
owner = no-such-user-anywhere
pin-file = /nonexistent/pin-file
[piv]
readers = Virtual PCD 00 0*
EOC
assert_eq "$both" "$(token_readers "$CONF")" "tokens with a daemon's export the module cannot use"

printf '[export main]\nsocket = /s\n\n[piv]\nenabled = perhaps\n' >"$CONF"
run_fail "pkcs11-tool -L with a malformed file" env TOKEND_CONF="$CONF" \
	pkcs11-tool --module "$M" -L
assert_contains "$OUT" "CKR_FUNCTION_FAILED" "C_Initialize's answer"
assert_contains "$OUT" "tokend-pkcs11: $CONF:5: bad enabled 'perhaps'" "the module's line on stderr"

rm -rf "$T0"
vcard_stop 1
vcard_stop 0
harness_log "PASS"
