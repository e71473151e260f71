#!/usr/bin/env bash
# GnuTLS's p11tool with the module under test: the token and its objects
# (public ones without login, private keys after login), certificate export,
# and a test signature GnuTLS verifies itself. Then the same token found by
# p11-kit through a module file, when TOKEND_P11KIT_MODULE_DIR names a
# directory holding it (the build's or the installed tokend .module file).
# shellcheck source=common.sh
. "$(dirname "$0")/common.sh"
if sanitize_on; then
	# With libasan preloaded, p11tool deadlocks at exit in libp11-kit's
	# destructor (freelocale waits for __libc_setlocale_lock), any module.
	harness_log "SKIP: p11tool cannot run with the ASan runtime preloaded"
	exit 77
fi
module_init --mgm-alg 3des
harness_require p11tool certtool
provision 9a:ECCP256 9c:RSA2048
export GNUTLS_PIN=$PIN

# find_token P11TOOL-ARGS...: prints the URLs of the tokens whose certificate
# with ID 01 is ours (another card may be in the other reader; through p11-kit
# OpenSC's system module shows the same card). Runs p11tool
# behind the command prefix in the array RUN (empty, or as another user).
RUN=()
find_token() {
	local url
	timeout 60 "${RUN[@]}" p11tool "$@" --list-token-urls >"$T/urls" 2>/dev/null || return 0
	while read -r url; do
		case $url in pkcs11:*) ;; *) continue ;; esac
		timeout 60 "${RUN[@]}" p11tool "$@" --export "$url;id=%01;type=cert" >"$T/exp.pem" 2>/dev/null || continue
		openssl x509 -in "$T/exp.pem" -outform DER 2>/dev/null | cmp -s - "$T/cert_9a.der" &&
			printf '%s\n' "$url"
	done <"$T/urls"
}

P=(p11tool --provider "$M")
run_ok "--list-tokens" "${P[@]}" --list-tokens
TOKEN=$(find_token --provider "$M" | head -n 1)
[ -n "$TOKEN" ] || fail "no token of $M holds our certificate:"$'\n'"$OUT"
harness_log "token $TOKEN"
if tokend_only "token label in the URL"; then
	assert_contains "$TOKEN" "token=YubiKey%20PIV" "token label"
fi

run_ok "--list-all (no login)" "${P[@]}" --list-all "$TOKEN"
assert_contains "$OUT" "Type: Public key (EC/ECDSA-SECP256R1)" "EC public key"
assert_contains "$OUT" "Type: Public key (RSA-2048)" "RSA public key"
assert_contains "$OUT" "Type: X.509 Certificate (EC/ECDSA-SECP256R1)" "EC certificate"
assert_contains "$OUT" "Type: X.509 Certificate (RSA-2048)" "RSA certificate"
assert_contains "$OUT" "id=%01;" "ID 01"
assert_contains "$OUT" "id=%02;" "ID 02"
# (OpenSC hides private keys until login, CKA_PRIVATE; tokend may show them.)

run_ok "--list-all --login" "${P[@]}" --login --list-all "$TOKEN"
assert_contains "$OUT" "Type: Private key (EC/ECDSA" "EC private key"
assert_contains "$OUT" "Type: Private key (RSA-2048)" "RSA private key"
grep -q "id=%01;.*type=private" "$HARNESS_OUT" || fail "no private key with ID 01"
grep -q "id=%02;.*type=private" "$HARNESS_OUT" || fail "no private key with ID 02"

run_ok "export certificate 02" "${P[@]}" --export "$TOKEN;id=%02;type=cert"
cmp -s <(openssl x509 -in "$HARNESS_OUT" -outform DER) "$T/cert_9c.der" ||
	fail "certificate 02 exported by p11tool differs"

# GnuTLS signs with the private key and verifies with the public key.
for id in 01 02; do
	run_ok "--test-sign with ID $id" "${P[@]}" --login --test-sign "$TOKEN;id=%$id;type=private"
	assert_contains "$OUT" "Verifying against public key in the token... ok" "test-sign $id"
done

# Through p11-kit's module configuration, as p11-kit-aware programs load it.
if [ -z "${TOKEND_P11KIT_MODULE_DIR:-}" ]; then
	harness_log "skip: TOKEND_P11KIT_MODULE_DIR not set (p11tool via the p11-kit module file)"
else
	# p11-kit reads ~/.config/pkcs11/modules, but not for root ("skipping
	# user config in program running as root"): then p11tool runs as nobody.
	home=$T/p11home
	d=$home/.config/pkcs11/modules
	mkdir -p "$d"
	n=0
	for f in "$TOKEND_P11KIT_MODULE_DIR"/*.module; do
		[ -f "$f" ] || continue
		mod=$(sed -n 's/^module:[[:space:]]*//p' "$f" | tail -n 1)
		# A relative module: lives in p11-kit's module directory once
		# installed; from the build tree, point it at the module under test.
		case $mod in
		/*) path=$mod ;;
		*) path="$(pkg-config --variable=p11_module_path p11-kit-1 2>/dev/null ||
			echo /usr/lib/x86_64-linux-gnu/pkcs11)/$mod" ;;
		esac
		if [ -n "$mod" ] && [ -e "$path" ]; then
			cp "$f" "$d/"
		else
			harness_log "$(basename "$f"): module '$mod' not installed, using $M"
			sed "s|^module:.*|module: $M|" "$f" >"$d/$(basename "$f")"
		fi
		n=$((n + 1))
	done
	[ "$n" -gt 0 ] || fail "no .module file in $TOKEND_P11KIT_MODULE_DIR"
	RUN=(env HOME="$home" GNUTLS_PIN="$PIN")
	if [ "$(id -u)" -eq 0 ]; then
		chmod 711 "$T"
		chmod -R a+rX "$home"
		RUN=(setpriv --reuid 65534 --regid 65534 --clear-groups "${RUN[@]}")
	fi
	run_ok "p11tool --list-tokens via p11-kit" "${RUN[@]}" p11tool --list-tokens
	LISTED=$OUT
	TOKENS=$(find_token)
	[ -n "$TOKENS" ] || fail "p11-kit's module list has no token with our certificate:"$'\n'"$OUT"
	TOKEN2=$(head -n 1 <<<"$TOKENS")
	if tokend_only "token through the module file is tokend's"; then
		TOKEN2=$(grep 'token=YubiKey%20PIV' <<<"$TOKENS" | head -n 1) ||
			fail "no tokend token (YubiKey PIV) via p11-kit among:"$'\n'"$TOKENS"
		# Its block in --list-tokens names tokend's module.
		mod=$(awk -v u="$TOKEN2" '$1 == "URL:" { cur = $2 } cur == u && $1 == "Module:" { print $2; exit }' <<<"$LISTED")
		assert_eq "$(basename "$M")" "$(basename "$mod")" "module of the token via p11-kit"
	fi
	run_ok "p11tool --list-all via p11-kit" "${RUN[@]}" p11tool --login --list-all "$TOKEN2"
	grep -q "id=%01;.*type=private" "$HARNESS_OUT" || fail "no private key with ID 01 via p11-kit"
	grep -q "id=%01;.*type=cert" "$HARNESS_OUT" || fail "no certificate with ID 01 via p11-kit"
fi

vcard_stop 0
harness_log "PASS"
