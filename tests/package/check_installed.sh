#!/usr/bin/env bash
# check_installed.sh: after "apt-get install ./tokend_*.deb
# ./tokend-pkcs11_*.deb": the files are in place and work, the user and
# group exist as sysusers.d says, the directories belong to them, the
# units pass systemd-analyze verify, the socket is enabled and the service
# is not, and nothing was started.
. "$(dirname "$0")/lib.sh"
VERSION=$(sed -n 's/^project(tokend VERSION \([0-9.]*\).*/\1/p' "$(dirname "$0")/../../CMakeLists.txt")

for f in /usr/sbin/tokend /usr/sbin/tokend-module-helper /lib/systemd/system/tokend.service /lib/systemd/system/tokend.socket \
	/usr/lib/sysusers.d/tokend.conf /usr/lib/tmpfiles.d/tokend.conf /lib/udev/rules.d/70-tokend.rules \
	/etc/tokend/tokend.conf.example /usr/share/p11-kit/modules/tokend.module "$PKG_MODULE_SO" \
	/usr/include/tokend-pkcs11.h; do
	check "$f is installed" test -e "$f"
done
check "no config is installed (the built-in default applies)" test ! -e /etc/tokend/tokend.conf
for page in "8 tokend" "5 tokend.conf" "8 tokend-pkcs11"; do
	# shellcheck disable=SC2086
	check "man $page is installed" sh -c "man -w $page >/dev/null"
done
check "man 5 tokend.conf renders" sh -c "man -l /usr/share/man/man5/tokend.conf.5.gz 2>/dev/null | grep -q 'pin-tries-reserved ='"

check "tokend --version says $VERSION" test "$(/usr/sbin/tokend --version)" = "tokend $VERSION"
check "the example config passes --check-config" sh -c \
	"/usr/sbin/tokend --check-config -c /etc/tokend/tokend.conf.example >/dev/null"

# The user and group (sysusers.d), and the TPM group.
IFS=: read -r _ _ uid gid _ home shell <<<"$(getent passwd tokend)"
check "user tokend exists" test -n "${uid:-}"
check "user tokend is a system user (uid $uid)" test "${uid:-1000}" -lt 1000
check "user tokend's group is tokend" test "$(getent group "${gid:-x}" | cut -d: -f1)" = tokend
check "user tokend's home is /var/lib/tokend" test "$home" = /var/lib/tokend
check "user tokend has no login shell" test "$shell" = /usr/sbin/nologin
check "user tokend is in group tss (TPM)" sh -c "id -nG tokend | tr ' ' '\n' | grep -qx tss"
check "user tokend is in group tokend-admin (the control socket's group)" \
	sh -c "id -nG tokend | tr ' ' '\n' | grep -qx tokend-admin"

# The directories (tmpfiles.d).
perm() { stat -c '%a %U:%G' "$1" 2>/dev/null; }
check "/var/lib/tokend is 700 tokend:tokend" test "$(perm /var/lib/tokend)" = "700 tokend:tokend"
check "/run/tokend is 755 tokend:tokend" test "$(perm /run/tokend)" = "755 tokend:tokend"
check "/etc/tokend is 755 root:root" test "$(perm /etc/tokend)" = "755 root:root"

# The units.
check "systemd-analyze verify accepts the units" \
	systemd-analyze verify /lib/systemd/system/tokend.socket /lib/systemd/system/tokend.service
check "tokend.socket is enabled" test -L /etc/systemd/system/sockets.target.wants/tokend.socket
check "tokend.service is not enabled" \
	test -z "$(find /etc/systemd/system -name tokend.service 2>/dev/null)"
check "the socket listens on /run/tokend/pkcs11" \
	grep -qx 'ListenStream=/run/tokend/pkcs11' /lib/systemd/system/tokend.socket

# Nothing started (on a systemd host the socket would listen; tokend
# itself starts only with its first client).
check "no installed tokend is running" test -z "$(pkg_installed_tokend_pids)"
if [ ! -d /run/systemd/system ]; then
	check "no socket at /run/tokend/pkcs11 (systemd is not PID 1)" test ! -e /run/tokend/pkcs11
fi

# p11-kit loads the module file; with no daemon it shows no token and
# does not fail. The in-process module loads by its path.
out=$(timeout 30 p11-kit list-modules 2>&1) || fail "p11-kit list-modules: $out"
check "p11-kit lists the module tokend" grep -q '^tokend:' <<<"$out"
# (pkcs11-tool -I exits 1 when there is no slot: no pcscd here.)
out=$(timeout 30 pkcs11-tool --module "$PKG_MODULE_SO" -I 2>&1) || true
check "tokend-pkcs11.so loads (pkcs11-tool -I)" grep -q 'Manufacturer *tokend' <<<"$out"
finish
