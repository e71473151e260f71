# shellcheck shell=bash
# Shared by the package tests (scripts/packages.sh runs them, as root, with
# the packages built or installed): the harness's checks (check, fail,
# fail_later, pass, finish) and what the packages may leave on a machine.
# shellcheck source=../harness/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/../harness/lib.sh"

PKG_MULTIARCH=$(dpkg-architecture -qDEB_HOST_MULTIARCH 2>/dev/null || gcc -dumpmachine 2>/dev/null || true)
PKG_CLIENT_SO=/usr/lib/$PKG_MULTIARCH/pkcs11/p11-kit-client.so
PKG_MODULE_SO=/usr/lib/$PKG_MULTIARCH/pkcs11/tokend-pkcs11.so

# Every path outside temp dirs that is named after tokend, and the state
# directory: a listing before installing must equal one after purging.
pkg_leftovers() {
	find /etc /lib /usr /var /run -xdev \( -name '*tokend*' -o -path /var/lib/tokend \) \
		-not -path '/var/cache/apt/*' -not -path '/var/log/*' 2>/dev/null | sort
}

# The processes running the installed daemon (tests elsewhere on the
# machine may run tokend from a build tree: those do not count).
pkg_installed_tokend_pids() {
	local pid
	for pid in $(pgrep -x tokend || true); do
		[ "$(readlink "/proc/$pid/exe" 2>/dev/null)" = /usr/sbin/tokend ] && echo "$pid"
	done
	return 0
}
