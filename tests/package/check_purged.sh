#!/usr/bin/env bash
# check_purged.sh BEFORE.list PURGE.log DEB...: after "apt-get purge
# tokend tokend-pkcs11" with a stand-in for a TPM key blob in
# /var/lib/tokend: no file of the packages is left, nor the config, the
# runtime directory or systemd's enablement state; the state directory and
# its blob are kept and the purge said why; the user and group are kept
# (Debian practice, the blob belongs to them). BEFORE.list is
# pkg_leftovers before the installation.
. "$(dirname "$0")/lib.sh"
BEFORE=$1
PURGE_LOG=$2
shift 2

for p in tokend tokend-pkcs11; do
	check "$p is purged (no config-files state)" \
		test "$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null || echo not-installed)" = not-installed
done
left=
for deb in "$@"; do
	while read -r f; do
		[ -e "$f" ] || [ -L "$f" ] || continue
		[ -d "$f" ] && continue # shared directories (/usr/share/man, ...)
		left="$left $f"
	done < <(dpkg-deb -c "$deb" | awk '{ print substr($6, 2) }')
done
check "no file of the packages is left${left:+:$left}" test -z "$left"
check "/etc/tokend is removed" test ! -e /etc/tokend
check "/run/tokend is removed" test ! -e /run/tokend
check "the purge says it keeps /var/lib/tokend for the TPM key blobs" \
	grep -q "/var/lib/tokend is kept: it may hold TPM-wrapped keys" "$PURGE_LOG"
check "the key blob is kept" test -f /var/lib/tokend/tpm-key.test
check "nothing else is in /var/lib/tokend" test "$(ls -A /var/lib/tokend 2>/dev/null)" = tpm-key.test
diff=$(diff <(sort "$BEFORE" /dev/null) <(pkg_leftovers) | grep '^[<>]' || true)
check "nothing else named tokend is left${diff:+: $diff}" test "$diff" = "> /var/lib/tokend"
check "the user tokend is kept" sh -c "getent passwd tokend >/dev/null"
finish
