# shellcheck shell=bash disable=SC2034 # (variables for the scripts that source this)
# Shared set-up for tests/module/*.sh: tests of a PKCS#11 module (tokend's,
# or OpenSC's for comparison) against the virtual YubiKey in reader 0.
#
#   . "$(dirname "$0")/common.sh"
#   module_init [tokend-vcard args...]   # harness, pcscd, vcard 0, $M, $SLOT
#
# Environment:
#   TOKEND_MODULE       the PKCS#11 module under test (ctest: tokend-pkcs11.so;
#                       by hand e.g. /usr/lib/x86_64-linux-gnu/opensc-pkcs11.so)
#   TOKEND_MODULE_KIND  tokend|other: overrides the detection (C_GetInfo's
#                       manufacturer "tokend") that decides whether the
#                       tokend-only checks run
# plus the harness's TOKEND_VCARD, TOKEND_PCSC_WAIT (see harness/lib.sh).
# shellcheck source=../harness/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/../harness/lib.sh"

MODULE_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
PIN=123456
# The YubiKey's default 3DES management key, as hex for --so-pin.
MGM_HEX=010203040506070801020304050607080102030405060708
PY=/usr/bin/python3

# Is the module under test tokend's? Decides whether tokend_only parts run.
module_kind() {
	if [ -n "${TOKEND_MODULE_KIND:-}" ]; then
		printf '%s\n' "$TOKEND_MODULE_KIND"
		return
	fi
	if timeout 30 pkcs11-tool --module "$M" -I 2>/dev/null | grep -q '^Manufacturer *tokend'; then
		echo tokend
	else
		case $(basename "$M") in
		*tokend*) echo tokend ;;
		*) echo other ;;
		esac
	fi
}

# tokend_only WHAT: true when the module is tokend's; otherwise logs a skip.
#   if tokend_only "key generation"; then ...; fi
tokend_only() {
	if [ "$MODULE_KIND" = tokend ]; then
		return 0
	fi
	harness_log "skip (tokend only): $*"
	return 1
}

# slot_index: pkcs11-tool's --slot-index of the token in reader 0 (another
# card may sit in 'Virtual PCD 00 01'). Matches the reader name anywhere in
# a slot's block of `pkcs11-tool -L`.
slot_index() {
	{ timeout 60 pkcs11-tool --module "$M" -L 2>/dev/null || true; } | awk -v r="$R" '
		/^Slot [0-9]+/ { n++; cur = n - 1 }
		index($0, r) && cur != "" && !done { print cur; done = 1 }'
}

# module_require_tokend WHAT: before module_init; a test that only tokend
# can pass exits 77 (ctest: SKIP_RETURN_CODE) for other modules.
module_require_tokend() {
	: "${TOKEND_MODULE:?TOKEND_MODULE must name the PKCS#11 module under test}"
	M=$TOKEND_MODULE
	[ "$(module_kind)" = tokend ] && return 0
	harness_log "SKIP (tokend only): $*"
	exit 77
}

# A module built with ASan/UBSan (TOKEND_SANITIZE) loads into stock
# programs only with the runtimes preloaded; those programs' own leaks are
# not ours.
sanitize_on() {
	case ${TOKEND_SANITIZE:-0} in
	1 | ON | on | TRUE | true | YES | yes) return 0 ;;
	*) return 1 ;;
	esac
}

module_sanitize() {
	sanitize_on || return 0
	local cc=${CC:-cc} asan ubsan
	asan=$("$cc" -print-file-name=libasan.so)
	ubsan=$("$cc" -print-file-name=libubsan.so)
	[ -e "$asan" ] || fail "TOKEND_SANITIZE set but libasan.so not found ($cc)"
	export LD_PRELOAD="$asan${ubsan:+ $ubsan}${LD_PRELOAD:+ $LD_PRELOAD}"
	export ASAN_OPTIONS=${TOKEND_MODULE_ASAN_OPTIONS:-detect_leaks=0:abort_on_error=1:halt_on_error=1}
	export UBSAN_OPTIONS=${TOKEND_UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
}

module_init() {
	harness_init
	harness_require yubico-piv-tool pkcs11-tool openssl cmp
	[ -x "$PY" ] || fail "$PY missing"
	: "${TOKEND_MODULE:?TOKEND_MODULE must name the PKCS#11 module under test}"
	M=$TOKEND_MODULE
	[ -f "$M" ] || fail "module not found: $M"
	export TOKEND_MODULE
	pcscd_ensure
	vcard_start 0 "$@"
	module_sanitize # after pcscd and the vcard: only the module's users
	R=$(reader_name 0)
	T=$HARNESS_TMP
	ypt=(yubico-piv-tool -r "$R")
	MODULE_KIND=$(module_kind)
	harness_log "module $M ($MODULE_KIND)"
	SLOT=$(slot_index)
	[ -n "$SLOT" ] || {
		timeout 60 pkcs11-tool --module "$M" -L >&2 || true
		fail "no slot of $M shows '$R' (a sanitizer build needs TOKEND_SANITIZE=1)"
	}
	p11=(pkcs11-tool --module "$M" --slot-index "$SLOT")
}

# provision SLOT:ALG[:nocert] ...: generates keys with yubico-piv-tool and,
# unless :nocert, a certificate self-signed on the card. Leaves
# $T/pub_SLOT.pem, $T/cert_SLOT.pem and $T/cert_SLOT.der.
provision() {
	local k s a opt
	for k in "$@"; do
		IFS=: read -r s a opt <<<"$k"
		run_ok "generate $a in $s" "${ypt[@]}" -a generate -s "$s" -A "$a" -o "$T/pub_$s.pem"
		[ "$opt" = nocert ] && continue
		card_selfsign 0 "$s" "$T/pub_$s.pem" "module test $s" "$T/cert_$s.pem"
		run_ok "import certificate $s" "${ypt[@]}" -a import-certificate -s "$s" -i "$T/cert_$s.pem"
		openssl x509 -in "$T/cert_$s.pem" -outform DER -out "$T/cert_$s.der"
	done
}

# The PKCS#11 CKA_ID of a PIV slot, as OpenSC and tokend number them.
slot_id() {
	case $1 in
	9a) echo 01 ;; 9c) echo 02 ;; 9d) echo 03 ;; 9e) echo 04 ;;
	f9) echo 19 ;;
	*) printf '%02x\n' $((0x$1 - 0x82 + 5)) ;;
	esac
}
