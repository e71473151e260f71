#!/usr/bin/env bash
# OpenSSH's ssh-keygen -D lists the card's public keys through the module
# under test, exactly as the keys are (compared with ssh-keygen -i of the
# keys yubico-piv-tool reported at generation). tokend only: a key without a
# certificate (retired slot 86) is listed too.
# shellcheck source=common.sh
. "$(dirname "$0")/common.sh"
module_init --mgm-alg 3des
harness_require ssh-keygen
provision 9a:RSA2048 9c:ECCP256 9d:ECCP384 9e:RSA2048 86:ECCP256:nocert

run_ok "ssh-keygen -D" ssh-keygen -D "$M"
cut -d' ' -f1,2 "$HARNESS_OUT" | sort >"$T/listed"
for s in 9a 9c 9d 9e 86; do
	ssh-keygen -i -m PKCS8 -f "$T/pub_$s.pem" | cut -d' ' -f1,2 >"$T/ssh_$s"
	[ -s "$T/ssh_$s" ] || fail "ssh-keygen -i could not convert the key of $s"
	if [ "$s" = 86 ] && ! tokend_only "key without certificate in ssh-keygen -D"; then
		continue
	fi
	grep -qxF -f "$T/ssh_$s" "$T/listed" ||
		fail "key of $s ($(cut -c1-40 "$T/ssh_$s")...) not listed by ssh-keygen -D:"$'\n'"$OUT"
done
# Every key is listed once (ssh-keygen lists certificate and key as one).
dups=$(uniq -d "$T/listed")
[ -z "$dups" ] || fail "keys listed twice: $dups"

vcard_stop 0
harness_log "PASS"
